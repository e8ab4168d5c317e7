/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Recording file writer and reader; see recfile.h and doc/recording-format.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "recfile.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* CRC-32 (zlib's, the one of gzip and PNG) over several pieces. */
static uint32_t crc_of(const struct iovec *iov, int n)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	for (int i = 0; i < n; i++)
		crc = crc32(crc, iov[i].iov_base, (uInt)iov[i].iov_len);
	return (uint32_t)crc;
}

/* Writes all of iov, retrying short writes; 0 or -errno. */
static int write_all(struct sctl_rec_writer *w, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t done = writev(w->fd, iov, n);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		if (done == 0)
			return -EIO;
		w->bytes += (uint64_t)done;
		while (n > 0 && (size_t)done >= iov->iov_len) {
			done -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= (size_t)done;
		}
	}
	return 0;
}

/* One record: length, CRC, then the body pieces; one writev. */
static int write_record(struct sctl_rec_writer *w, struct iovec *body, int nbody)
{
	struct iovec iov[4];
	uint8_t head[SCTL_REC_RECORD_HEAD];
	size_t len = 0;

	for (int i = 0; i < nbody; i++)
		len += body[i].iov_len;
	if (len > SCTL_REC_MAX_BODY || nbody > 3)
		return -EMSGSIZE;
	put_be32(head, (uint32_t)len);
	put_be32(head + 4, crc_of(body, nbody));
	iov[0] = (struct iovec){head, sizeof(head)};
	memcpy(iov + 1, body, (size_t)nbody * sizeof(*body));
	return write_all(w, iov, nbody + 1);
}

/* A record whose body is a type byte and a packed message. */
static int write_message(struct sctl_rec_writer *w, uint8_t type, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *packed;
	struct iovec body[2];
	int r;

	if (len > SCTL_REC_MAX_BODY - 1)
		return -EMSGSIZE;
	packed = malloc(len ? len : 1);
	if (!packed)
		return -ENOMEM;
	protobuf_c_message_pack(m, packed);
	body[0] = (struct iovec){&type, 1};
	body[1] = (struct iovec){packed, len};
	r = write_record(w, body, 2);
	free(packed);
	return r;
}

int sctl_rec_write_start(struct sctl_rec_writer *w, int fd, const SctlRecHeader *h)
{
	uint8_t pre[SCTL_REC_PREAMBLE_LEN];
	struct iovec iov = {pre, sizeof(pre)};
	int r;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->start_ns = h->start_monotonic_ns;
	memcpy(pre, SCTL_REC_MAGIC, SCTL_REC_MAGIC_LEN);
	put_be32(pre + SCTL_REC_MAGIC_LEN, SCTL_REC_VERSION);
	r = write_all(w, &iov, 1);
	return r ? r : write_message(w, SCTL_REC_T_HEADER, &h->base);
}

int sctl_rec_write_frame(struct sctl_rec_writer *w, uint64_t recv_mono_ns, const uint8_t *payload,
			 size_t len)
{
	uint8_t head[SCTL_REC_FRAME_HEAD];
	uint64_t t = recv_mono_ns > w->start_ns ? recv_mono_ns - w->start_ns : 0;
	struct iovec body[2];
	int r;

	/* Receive times never go backwards in a file (readers rely on it). */
	if (t < w->last_ns)
		t = w->last_ns;
	head[0] = SCTL_REC_T_FRAME;
	put_be64(head + 1, t);
	body[0] = (struct iovec){head, sizeof(head)};
	body[1] = (struct iovec){(void *)payload, len};
	r = write_record(w, body, 2);
	if (!r) {
		w->last_ns = t;
		w->frames++;
	}
	return r;
}

int sctl_rec_write_end(struct sctl_rec_writer *w, const SctlRecEnd *e)
{
	return write_message(w, SCTL_REC_T_END, &e->base);
}

/* --- reading ------------------------------------------------------------ */

static int fail(struct sctl_rec_reader *r, enum sctl_rec_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct sctl_rec_reader *r, enum sctl_rec_status s, const char *fmt, ...)
{
	va_list ap;

	r->status = s;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return -1;
}

static uint64_t cur_off(const struct sctl_rec_reader *r)
{
	return r->buf_off + r->pos;
}

/*
 * Makes n bytes available from pos (n <= the buffer's room). Returns how
 * many are there (less than n only at the end of the file), or -1 on a
 * read error.
 */
static ssize_t ensure(struct sctl_rec_reader *r, size_t n)
{
	if (r->len - r->pos >= n || r->fd < 0)
		return (ssize_t)(r->len - r->pos < n ? r->len - r->pos : n);
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->buf_off += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	while (r->len < n && !r->eof) {
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return fail(r, SCTL_REC_IO, "read error at offset %" PRIu64 ": %s",
				    r->buf_off + r->len, strerror(errno));
		if (got == 0)
			r->eof = true;
		r->len += (size_t)got;
	}
	return (ssize_t)(r->len - r->pos < n ? r->len - r->pos : n);
}

/*
 * Reads the next record's body into place: returns 1 with *type, *body,
 * *len (valid until the next read), 0 at the end of the file exactly at
 * a record boundary, or -1.
 */
static int read_record(struct sctl_rec_reader *r, uint8_t *type, const uint8_t **body,
		       size_t *len)
{
	uint64_t off = cur_off(r);
	ssize_t got = ensure(r, SCTL_REC_RECORD_HEAD);
	struct iovec iov;
	uint32_t blen, crc;

	if (got < 0)
		return -1;
	if (got == 0)
		return 0;
	if (got < (ssize_t)SCTL_REC_RECORD_HEAD)
		return fail(r, SCTL_REC_TRUNCATED,
			    "cut short at offset %" PRIu64 ", inside a record header", off);
	blen = get_be32(r->buf + r->pos);
	crc = get_be32(r->buf + r->pos + 4);
	if (blen == 0 || blen > SCTL_REC_MAX_BODY)
		return fail(r, SCTL_REC_CORRUPT,
			    "record at offset %" PRIu64 " claims %" PRIu32
			    " bytes (1 to %u allowed)",
			    off, blen, SCTL_REC_MAX_BODY);
	got = ensure(r, SCTL_REC_RECORD_HEAD + blen);
	if (got < 0)
		return -1;
	if (got < (ssize_t)(SCTL_REC_RECORD_HEAD + blen))
		return fail(r, SCTL_REC_TRUNCATED,
			    "cut short at offset %" PRIu64 ": the record there has %zd of its %" PRIu32
			    " bytes",
			    off, got - (ssize_t)SCTL_REC_RECORD_HEAD, blen);
	iov = (struct iovec){r->buf + r->pos + SCTL_REC_RECORD_HEAD, blen};
	if (crc_of(&iov, 1) != crc)
		return fail(r, SCTL_REC_CORRUPT,
			    "record at offset %" PRIu64 " is damaged (CRC mismatch)", off);
	*type = r->buf[r->pos + SCTL_REC_RECORD_HEAD];
	*body = r->buf + r->pos + SCTL_REC_RECORD_HEAD + 1;
	*len = blen - 1;
	r->pos += SCTL_REC_RECORD_HEAD + blen;
	return 1;
}

static int open_common(struct sctl_rec_reader *r)
{
	const uint8_t *body;
	ssize_t got = ensure(r, SCTL_REC_PREAMBLE_LEN);
	size_t len;
	uint8_t type;
	int k;

	if (got < 0)
		return -1;
	if (got == 0)
		return fail(r, SCTL_REC_NOT_RECORDING, "empty file, not a shadowctl recording");
	if (memcmp(r->buf, SCTL_REC_MAGIC, (size_t)got < SCTL_REC_MAGIC_LEN ? (size_t)got
									    : SCTL_REC_MAGIC_LEN))
		return fail(r, SCTL_REC_NOT_RECORDING,
			    "not a shadowctl recording (no recording magic at the start)");
	if (got < (ssize_t)SCTL_REC_PREAMBLE_LEN)
		return fail(r, SCTL_REC_TRUNCATED, "cut short inside the %u-byte preamble",
			    SCTL_REC_PREAMBLE_LEN);
	r->version = get_be32(r->buf + SCTL_REC_MAGIC_LEN);
	if (r->version == 0)
		return fail(r, SCTL_REC_CORRUPT, "format version 0 does not exist");
	if (r->version > SCTL_REC_VERSION)
		return fail(r, SCTL_REC_FUTURE_VERSION,
			    "format version %" PRIu32 " is newer than this shadowctl reads (%u): "
			    "replay it with a newer shadowctl",
			    r->version, SCTL_REC_VERSION);
	r->pos = SCTL_REC_PREAMBLE_LEN;
	k = read_record(r, &type, &body, &len);
	if (k < 0)
		return -1;
	if (k == 0)
		return fail(r, SCTL_REC_TRUNCATED, "cut short before the header record");
	if (type != SCTL_REC_T_HEADER)
		return fail(r, SCTL_REC_CORRUPT, "the first record is not the header (type %u)",
			    type);
	r->header = shadowpt__rec__header__unpack(NULL, len, body);
	if (!r->header)
		return fail(r, SCTL_REC_CORRUPT, "the header record does not decode");
	if (!r->header->started || !r->header->started->has_pid || !r->header->welcome)
		return fail(r, SCTL_REC_CORRUPT,
			    "the header record lacks the daemon's Welcome or WatchStarted");
	r->data_off = cur_off(r);
	return 0;
}

static void reader_init(struct sctl_rec_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

int sctl_rec_open_fd(struct sctl_rec_reader *r, int fd)
{
	reader_init(r);
	r->cap = SCTL_REC_RECORD_HEAD + SCTL_REC_MAX_BODY;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return fail(r, SCTL_REC_IO, "out of memory");
	r->fd = fd;
	return open_common(r);
}

int sctl_rec_open_mem(struct sctl_rec_reader *r, const uint8_t *data, size_t len)
{
	reader_init(r);
	r->buf = (uint8_t *)data;
	r->len = r->cap = len;
	r->eof = true;
	return open_common(r);
}

void sctl_rec_close(struct sctl_rec_reader *r)
{
	if (r->fd >= 0)
		free(r->buf);
	spt_frame_free(r->frame);
	if (r->header)
		shadowpt__rec__header__free_unpacked(r->header, NULL);
	if (r->end)
		shadowpt__rec__end__free_unpacked(r->end, NULL);
	reader_init(r);
}

/* After the end record nothing may follow. */
static int after_end(struct sctl_rec_reader *r)
{
	uint64_t off = cur_off(r);
	ssize_t got = ensure(r, 1);

	if (got < 0)
		return -1;
	if (got > 0)
		return fail(r, SCTL_REC_CORRUPT, "data after the end record at offset %" PRIu64,
			    off);
	return 0;
}

int sctl_rec_next(struct sctl_rec_reader *r, uint64_t *recv_ns, const SptFrame **frame)
{
	spt_frame_free(r->frame);
	r->frame = NULL;
	if (r->status != SCTL_REC_OK)
		return -1;
	if (r->end)
		return 0;
	for (;;) {
		uint64_t off = cur_off(r), t;
		const uint8_t *body;
		size_t len;
		uint8_t type;
		int k = read_record(r, &type, &body, &len);

		if (k < 0)
			return -1;
		if (k == 0)
			return fail(r, SCTL_REC_TRUNCATED,
				    "ends after %" PRIu64 " frames without an end record "
				    "(the recorder was killed or the disk was full)",
				    r->frames);
		switch (type) {
		case SCTL_REC_T_FRAME:
			if (len < SCTL_REC_FRAME_HEAD - 1)
				return fail(r, SCTL_REC_CORRUPT,
					    "frame record at offset %" PRIu64 " is too short", off);
			t = get_be64(body);
			if (t < r->last_ns)
				return fail(r, SCTL_REC_CORRUPT,
					    "frame record at offset %" PRIu64
					    " goes back in time (%" PRIu64 " ns after %" PRIu64 ")",
					    off, t, r->last_ns);
			r->frame = spt_frame_decode(body + 8, len - 8);
			if (!r->frame || r->frame->msg_case == SHADOWPT__FRAME__MSG__NOT_SET) {
				spt_frame_free(r->frame);
				r->frame = NULL;
				return fail(r, SCTL_REC_CORRUPT,
					    "frame record at offset %" PRIu64
					    " holds no decodable daemon frame",
					    off);
			}
			r->last_ns = t;
			r->frames++;
			*recv_ns = t;
			*frame = r->frame;
			return 1;
		case SCTL_REC_T_END:
			r->end = shadowpt__rec__end__unpack(NULL, len, body);
			if (!r->end)
				return fail(r, SCTL_REC_CORRUPT,
					    "end record at offset %" PRIu64 " does not decode", off);
			return after_end(r) < 0 ? -1 : 0;
		case SCTL_REC_T_HEADER:
			return fail(r, SCTL_REC_CORRUPT, "a second header at offset %" PRIu64, off);
		default:
			/* A record type from a later minor addition: skipped. */
			continue;
		}
	}
}

void sctl_rec_tell(const struct sctl_rec_reader *r, struct sctl_rec_mark *m)
{
	m->off = cur_off(r);
	m->frames = r->frames;
	m->last_ns = r->last_ns;
}

int sctl_rec_rewind(struct sctl_rec_reader *r, const struct sctl_rec_mark *m)
{
	spt_frame_free(r->frame);
	r->frame = NULL;
	if (r->end) {
		shadowpt__rec__end__free_unpacked(r->end, NULL);
		r->end = NULL;
	}
	r->status = SCTL_REC_OK;
	r->why[0] = '\0';
	r->frames = m->frames;
	r->last_ns = m->last_ns;
	if (r->fd < 0) {
		if (m->off > r->len)
			return fail(r, SCTL_REC_IO, "rewind beyond the end");
		r->pos = (size_t)m->off;
		return 0;
	}
	if (m->off >= r->buf_off && m->off <= r->buf_off + r->len) {
		r->pos = (size_t)(m->off - r->buf_off);
		return 0;
	}
	if (lseek(r->fd, (off_t)m->off, SEEK_SET) < 0)
		return fail(r, SCTL_REC_IO, "cannot seek: %s", strerror(errno));
	r->buf_off = m->off;
	r->pos = r->len = 0;
	r->eof = false;
	return 0;
}

const char *sctl_rec_status_name(enum sctl_rec_status s)
{
	switch (s) {
	case SCTL_REC_OK:
		return "ok";
	case SCTL_REC_NOT_RECORDING:
		return "not a recording";
	case SCTL_REC_FUTURE_VERSION:
		return "future format version";
	case SCTL_REC_CORRUPT:
		return "damaged";
	case SCTL_REC_TRUNCATED:
		return "cut short";
	case SCTL_REC_IO:
		return "read error";
	}
	return "unknown";
}
