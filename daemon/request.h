/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request layer: a viewer is a connection (conn.h) plus its watches
 * (watch.h); its requests are answered here, authorized against their
 * target, and served by sessions (session.h).
 */
#ifndef SHADOWPTD_REQUEST_H
#define SHADOWPTD_REQUEST_H

#include <stdint.h>
#include <sys/types.h>

#include "auth.h"

/*
 * A new viewer on fd (connected, non-blocking), identified by SO_PEERCRED
 * (peer) and its groups (ngroups < 0: unknown). Refused with one Error
 * when over its uid's limits or shutting down.
 */
void client_accept(int fd, const struct spt_peer *peer, const gid_t *groups, int ngroups);
/*
 * The reply to a peek a session's reader finished (err 0: page is
 * valid), to viewer viewer_id if it is still connected: session_hooks.peek_done.
 */
void client_peek_reply(uint64_t viewer_id, uint32_t request_id, uint32_t watch_id, uint64_t vaddr,
		       int err, const char *why, const uint8_t *page);

#endif
