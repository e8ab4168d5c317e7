/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names of the protocol's Cause values (shadowpt.proto), as --json, the
 * text output and the docs spell them (doc/protocol.md lists what reports
 * each). One table for daemon logs and every client renderer.
 */
#ifndef SHADOWPT_CAUSE_H
#define SHADOWPT_CAUSE_H

/* "read-fault", "munmap", ...; "unknown" for values this build does not know. */
const char *spt_cause_name(unsigned cause);

#endif
