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

/*
 * Per-peer limits, enforced by the daemon. Admins (root and group
 * shadowpt) are exempt from the per-uid counts and the per-uid memory,
 * not from the daemon-wide bounds below.
 */
#define SPT_MAX_CONNECTIONS_PER_UID 256u
#define SPT_MAX_WATCHES_PER_UID 256u
#define SPT_MAX_WATCHES_PER_CONNECTION 16u

/*
 * One session's page-state model (spt_state_set_limits), in the reader's
 * copies and the daemon's: 2^20 runs hold 1 TiB of the huge zero page
 * (one run per 2 MiB) or 4 GiB of scattered 4 KiB frames; vm.max_map_count
 * is 65530 by default. A target beyond either makes its session fail with
 * ERROR_LIMIT_EXCEEDED; the last good state stands.
 */
#define SPT_MAX_RUNS_PER_SESSION (1u << 20)
#define SPT_MAX_VMAS_PER_SESSION (1u << 16)

/*
 * Memory (session state, snapshot copies, queued output, connections) is
 * charged to the uid that caused it. One uid may hold SPT_MEMORY_PER_UID;
 * all together SPT_MEMORY_TOTAL, shared fairly: a uid's next charge may
 * take at most 1/(n+1) of what is left, n being the uids holding some.
 */
#define SPT_MEMORY_PER_UID (256ull << 20)
#define SPT_MEMORY_TOTAL (1024ull << 20)
/*
 * A session reserves its state before its reader may hold it: room for
 * these many runs and VMAs to begin with, doubled each time the target
 * outgrows it, up to the per-session caps; each run and VMA is charged
 * SPT_STATE_*_COST bytes for each of SPT_SESSION_STATE_COPIES copies (the
 * daemon's, the reader's, the read in progress, the deltas on their way
 * from the reader to the daemon), plus SPT_SESSION_BASE_COST
 * for the reader thread, its buffers and the session itself.
 */
#define SPT_SESSION_INITIAL_RUNS 4096u
#define SPT_SESSION_INITIAL_VMAS 512u
#define SPT_STATE_RUN_COST 32u
#define SPT_STATE_VMA_COST 128u
#define SPT_SESSION_STATE_COPIES 4u
#define SPT_SESSION_BASE_COST (1024u * 1024u)
/* What one connection may hold besides its queued output (input frames, structures). */
#define SPT_CONNECTION_COST (160u * 1024u)
/* Snapshot chunks kept for viewers who share a snapshot (one per class). */
#define SPT_SNAPSHOT_CACHE_BYTES (2u * 1024u * 1024u)

/*
 * File descriptors: the daemon takes at most its RLIMIT_NOFILE (raised to
 * the hard limit, at most SPT_MAX_FDS) less SPT_FD_RESERVE. A session
 * holds SPT_SESSION_FDS, a connection one; the procfs event source's perf
 * rings (SPT_PERF_FDS_PER_RING each, and RLIMIT_MEMLOCK) come from a
 * separate daemon-wide budget of at most SPT_MAX_PERF_RINGS.
 */
#define SPT_MAX_FDS 65536u
#define SPT_FD_RESERVE 64u
#define SPT_SESSION_FDS 12u
#define SPT_MAX_PERF_RINGS 1024u

/*
 * /proc/PID/maps and smaps are parsed as they are read, through a buffer
 * of this size: a line longer than it is refused.
 */
#define SPT_PROCFS_LINE_MAX (16u * 1024u)

/* Per-request log lines: at most this many per interval, then one summary. */
#define SPT_LOG_BURST 20u
#define SPT_LOG_INTERVAL_MS 10000u

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
