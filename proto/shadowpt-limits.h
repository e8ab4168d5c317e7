/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every fixed limit of shadowpt, in one place. The daemon advertises
 * the protocol-relevant ones in Welcome.limits; doc/protocol.md lists
 * them for users.
 */
#ifndef SHADOWPT_SHADOWPT_LIMITS_H
#define SHADOWPT_SHADOWPT_LIMITS_H

#define SPT_PROTOCOL_VERSION 2u
/* The oldest protocol the daemon still speaks (Hello negotiates down). */
#define SPT_PROTOCOL_VERSION_MIN 1u

#define SPT_PAGE_SIZE 4096ull
#define SPT_PAGE_SHIFT 12

/* Frame payload limits, checked on the length prefix before allocating. */
#define SPT_FRAME_HEADER_SIZE 4u
#define SPT_MAX_CLIENT_FRAME (64u * 1024u)
#define SPT_MAX_SERVER_FRAME (1024u * 1024u)
/* Snapshots are split so that one chunk stays well under the frame limit. */
#define SPT_SNAPSHOT_CHUNK_BYTES (512u * 1024u)
/*
 * Protocol 1 has no runs: each page is sent on its own. Beyond these
 * many pages (8 GiB, about 25 MB of frames; one 1 MiB frame) the encoder
 * refuses, so that a 1 TiB zero-page mapping cannot make the daemon
 * produce gigabytes for an old viewer.
 */
#define SPT_V1_MAX_SNAPSHOT_PAGES (1u << 21)
#define SPT_V1_MAX_DELTA_PAGES (1u << 17)

/* Userspace addresses on x86_64 (47-bit); ranges beyond are refused. */
#define SPT_USER_ADDR_MAX 0x00007ffffffff000ull

/* Per-peer limits, enforced by the daemon. */
#define SPT_MAX_CONNECTIONS_PER_UID 256u
#define SPT_MAX_WATCHES_PER_UID 256u
#define SPT_MAX_WATCHES_PER_CONNECTION 16u

/* Slow viewers: bytes queued to one connection before deltas are dropped. */
#define SPT_OUTPUT_BUDGET (4u * 1024u * 1024u)
/* A viewer whose socket stays full this long is disconnected. */
#define SPT_STUCK_DEADLINE_MS 10000u

/* Adaptive sampling bounds (procfs backend and kernel table polling). */
#define SPT_SAMPLE_MIN_MS_DEFAULT 20u
#define SPT_SAMPLE_MAX_MS_DEFAULT 500u
#define SPT_SAMPLE_MIN_MS_FLOOR 5u
#define SPT_SAMPLE_MAX_MS_CEIL 10000u

/* Client-supplied strings. */
#define SPT_MAX_CLIENT_NAME 64u

#endif
