/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one translation from a daemon-side -errno to the ErrorCode a viewer
 * is sent (and from which shadowctl picks its exit status). Callers that
 * know more than the errno (a thread instead of a process, a frame over
 * the limit) send their own code; everything else goes through here, so
 * the same failure reads the same on every request.
 */
#ifndef SHADOWPTD_ERRCODE_H
#define SHADOWPTD_ERRCODE_H

/* err is a negative errno; the result a Shadowpt__ErrorCode. */
int spt_error_code_of(int err);

#endif
