/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The recording file of `shadowctl record` (doc/recording-format.md): a
 * 12-byte preamble (magic, format version), then records. A record is a
 * big-endian u32 body length, the CRC-32 of the body, and the body: one
 * type byte and its content. The first record is the header
 * (recording.proto), then come frame records (receive time + a daemon
 * frame exactly as received), and a clean end writes an end record.
 *
 * Each record goes out in one write, so a recorder killed at any moment
 * leaves a file whose complete records all read back; the reader stops
 * at the first record that is cut short or damaged and says where.
 * Memory is one record, however long the recording.
 */
#ifndef SHADOWCTL_RECFILE_H
#define SHADOWCTL_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recording.pb-c.h"
#include "wire.h"

#define SCTL_REC_MAGIC	       "\x89SPTREC\n"
#define SCTL_REC_MAGIC_LEN     8u
#define SCTL_REC_VERSION       1u
#define SCTL_REC_PREAMBLE_LEN  12u /* magic + u32 version */
#define SCTL_REC_RECORD_HEAD   8u  /* u32 body length + u32 CRC-32 */
#define SCTL_REC_FRAME_HEAD    9u  /* type + u64 receive time */
/* The largest body: a maximal daemon frame behind its frame head. */
#define SCTL_REC_MAX_BODY      (SCTL_REC_FRAME_HEAD + SPT_MAX_SERVER_FRAME)

enum sctl_rec_type {
	SCTL_REC_T_HEADER = 1,
	SCTL_REC_T_FRAME = 2,
	SCTL_REC_T_END = 3,
};

typedef Shadowpt__Rec__Header SctlRecHeader;
typedef Shadowpt__Rec__End SctlRecEnd;

/* --- writing ------------------------------------------------------------ */

struct sctl_rec_writer {
	int fd;
	uint64_t start_ns; /* CLOCK_MONOTONIC of the header */
	uint64_t last_ns;  /* receive time of the last frame, since start_ns */
	uint64_t frames;
	uint64_t bytes;
};

/*
 * Writes the preamble and the header record to fd (h->start_monotonic_ns
 * is the start). Returns 0 or -errno; after a failure the file holds
 * whatever records were complete before it.
 */
int sctl_rec_write_start(struct sctl_rec_writer *w, int fd, const SctlRecHeader *h);
/* One daemon frame payload (no length prefix) received at recv_mono_ns. */
int sctl_rec_write_frame(struct sctl_rec_writer *w, uint64_t recv_mono_ns, const uint8_t *payload,
			 size_t len);
int sctl_rec_write_end(struct sctl_rec_writer *w, const SctlRecEnd *e);

/* --- reading ------------------------------------------------------------ */

enum sctl_rec_status {
	SCTL_REC_OK = 0,
	SCTL_REC_NOT_RECORDING, /* no magic: not a recording at all */
	SCTL_REC_FUTURE_VERSION,
	SCTL_REC_CORRUPT,   /* bad length, CRC, content or order */
	SCTL_REC_TRUNCATED, /* cut inside a record, or no end record */
	SCTL_REC_IO,	    /* read error */
};

struct sctl_rec_reader {
	int fd;	      /* -1: reading from memory */
	uint8_t *buf; /* the file's bytes from buf_off; owned unless memory */
	size_t cap, pos, len;
	uint64_t buf_off;
	bool eof;

	uint32_t version;
	SctlRecHeader *header;
	SctlRecEnd *end; /* set once the end record was read */
	uint64_t data_off; /* offset of the first record after the header */
	uint64_t frames;   /* frame records read */
	uint64_t last_ns;
	SptFrame *frame; /* the frame last returned, freed by the next call */

	enum sctl_rec_status status;
	char why[256];
};

/* A point in the file to come back to (sctl_rec_rewind). */
struct sctl_rec_mark {
	uint64_t off, frames, last_ns;
};

/*
 * Reads the preamble and the header from fd (which stays the caller's)
 * or from memory (data must outlive the reader). Returns 0, or -1 with
 * r->status and r->why saying what is wrong; close the reader either way.
 */
int sctl_rec_open_fd(struct sctl_rec_reader *r, int fd);
int sctl_rec_open_mem(struct sctl_rec_reader *r, const uint8_t *data, size_t len);
void sctl_rec_close(struct sctl_rec_reader *r);

/*
 * The next frame record: returns 1 with *recv_ns (since the start) and
 * *frame (owned by the reader until the next call), 0 after a clean end
 * record, -1 when the file is cut short or damaged (r->status, r->why;
 * everything returned before stays valid).
 */
int sctl_rec_next(struct sctl_rec_reader *r, uint64_t *recv_ns, const SptFrame **frame);

/* Where the next sctl_rec_next() reads; rewind goes back there. */
void sctl_rec_tell(const struct sctl_rec_reader *r, struct sctl_rec_mark *m);
int sctl_rec_rewind(struct sctl_rec_reader *r, const struct sctl_rec_mark *m);

/* Human name of a status, for messages ("damaged", "cut short", ...). */
const char *sctl_rec_status_name(enum sctl_rec_status s);

#endif
