// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/PID/maps: strict line parser, VMA classification, reads line by line. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"

/* Parses 1..maxdigits hex digits; advances *p. */
static int parse_hex(const char **p, const char *e, unsigned maxdigits, uint64_t *out)
{
	uint64_t v = 0;
	unsigned n = 0;

	while (*p < e) {
		char c = **p;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		if (++n > maxdigits)
			return -EINVAL;
		v = (v << 4) | d;
		(*p)++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_dec(const char **p, const char *e, uint64_t *out)
{
	uint64_t v = 0;
	unsigned n = 0;

	while (*p < e && **p >= '0' && **p <= '9') {
		unsigned d = (unsigned)(**p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		n++;
		(*p)++;
	}
	if (!n)
		return -EINVAL;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *e, char c)
{
	if (*p >= e || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int spt_maps_parse_line(const char *line, size_t len, struct spt_maps_line *out)
{
	const char *p = line, *e = line + len;
	uint64_t v;

	memset(out, 0, sizeof(*out));
	if (parse_hex(&p, e, 16, &out->start) || expect(&p, e, '-') ||
	    parse_hex(&p, e, 16, &out->end) || expect(&p, e, ' '))
		return -EINVAL;
	if (out->start >= out->end || (out->start & (SPT_PAGE_SIZE - 1)) ||
	    (out->end & (SPT_PAGE_SIZE - 1)))
		return -EINVAL;

	if (e - p < 4)
		return -EINVAL;
	if (p[0] == 'r')
		out->prot |= PROT_READ;
	else if (p[0] != '-')
		return -EINVAL;
	if (p[1] == 'w')
		out->prot |= PROT_WRITE;
	else if (p[1] != '-')
		return -EINVAL;
	if (p[2] == 'x')
		out->prot |= PROT_EXEC;
	else if (p[2] != '-')
		return -EINVAL;
	if (p[3] == 's')
		out->shared = true;
	else if (p[3] != 'p')
		return -EINVAL;
	p += 4;

	if (expect(&p, e, ' ') || parse_hex(&p, e, 16, &out->offset) || expect(&p, e, ' '))
		return -EINVAL;
	if (parse_hex(&p, e, 8, &v))
		return -EINVAL;
	out->dev_major = (uint32_t)v;
	if (expect(&p, e, ':') || parse_hex(&p, e, 8, &v))
		return -EINVAL;
	out->dev_minor = (uint32_t)v;
	if (expect(&p, e, ' ') || parse_dec(&p, e, &out->inode))
		return -EINVAL;

	/* "inode" then either end of line, or a space, padding and the name. */
	if (p < e && expect(&p, e, ' '))
		return -EINVAL;
	while (p < e && *p == ' ')
		p++;
	if (memchr(p, '\0', (size_t)(e - p)))
		return -EINVAL;
	out->name = p;
	out->name_len = (size_t)(e - p);
	return 0;
}

static bool name_is(const struct spt_maps_line *l, const char *s)
{
	size_t n = strlen(s);

	return l->name_len == n && !memcmp(l->name, s, n);
}

static bool name_starts(const struct spt_maps_line *l, const char *s)
{
	size_t n = strlen(s);

	return l->name_len >= n && !memcmp(l->name, s, n);
}

static bool name_ends(const struct spt_maps_line *l, const char *s)
{
	size_t n = strlen(s);

	return l->name_len >= n && !memcmp(l->name + l->name_len - n, s, n);
}

/* "/SYSV" + 8 hex digits + " (deleted)": shmget() segments. */
static bool name_is_sysv(const struct spt_maps_line *l)
{
	static const char pre[] = "/SYSV", post[] = " (deleted)";
	const size_t npre = sizeof(pre) - 1, npost = sizeof(post) - 1;

	if (l->name_len != npre + 8 + npost || !name_starts(l, pre) || !name_ends(l, post))
		return false;
	for (size_t i = npre; i < npre + 8; i++) {
		char c = l->name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

enum spt_vma_kind spt_maps_classify(const struct spt_maps_line *l)
{
	if (l->name_len == 0)
		return l->inode ? SPT_VMA_FILE : SPT_VMA_ANON;

	if (l->inode == 0 && l->name[0] == '[' && l->name[l->name_len - 1] == ']') {
		if (name_is(l, "[heap]") || name_is(l, "[stack]") || name_starts(l, "[stack:") ||
		    name_starts(l, "[anon:"))
			return SPT_VMA_ANON;
		/* Named by vm_ops->name() or arch_vma_name(): has ops. */
		return SPT_VMA_SPECIAL;
	}

	/* From here on the VMA has a vm_file. */
	if (name_starts(l, "[anon_shmem:") && name_ends(l, "]"))
		return SPT_VMA_SHARED_ANON;
	if (l->shared && (name_is(l, "/dev/zero (deleted)") || name_is_sysv(l) ||
			  name_is(l, "/anon_hugepage (deleted)")))
		return SPT_VMA_SHARED_ANON;
	/*
	 * mmap_zero() makes every /dev/zero mapping that is not VM_SHARED
	 * anonymous, keeping vm_file: private ones, and MAP_SHARED of a
	 * read-only fd (VM_MAYSHARE, shown 's', but not VM_SHARED). Writable
	 * shared ones became shmem above ("/dev/zero (deleted)").
	 */
	if (name_is(l, "/dev/zero"))
		return SPT_VMA_ANON;
	return SPT_VMA_FILE;
}

int spt_maps_append_line(const struct spt_maps_line *l, uint64_t start, uint64_t end,
			 struct spt_state *st)
{
	char stackname[512], *name = stackname;
	struct spt_vma v;
	int ret;

	if (l->end <= start || l->start >= end)
		return 0;
	if (l->name_len >= sizeof(stackname)) {
		name = malloc(l->name_len + 1);
		if (!name)
			return -ENOMEM;
	}
	memcpy(name, l->name, l->name_len);
	name[l->name_len] = '\0';
	v = (struct spt_vma){
		.start = l->start < start ? start : l->start,
		.end = l->end > end ? end : l->end,
		.offset = l->offset,
		.prot = l->prot,
		.shared = l->shared,
		.kind = spt_maps_classify(l),
		.name = name,
	};
	/* A clipped start moves the file offset along with it. */
	if (l->inode && v.start > l->start)
		v.offset += v.start - l->start;
	ret = spt_state_append_vma(st, &v);
	if (name != stackname)
		free(name);
	return ret;
}

/* One line of a maps text; the kernel prints VMAs sorted and disjoint. */
struct maps_ctx {
	uint64_t start, end, prev_end;
	struct spt_state *st;
	size_t lines;
};

static int maps_line(void *arg, const char *line, size_t len)
{
	struct maps_ctx *m = arg;
	struct spt_maps_line l;
	int ret = spt_maps_parse_line(line, len, &l);

	if (ret)
		return ret;
	m->lines++;
	/* Anything out of order is corrupt, or the text was read across a change. */
	if (l.start < m->prev_end)
		return -EINVAL;
	m->prev_end = l.end;
	return spt_maps_append_line(&l, m->start, m->end, m->st);
}

int spt_maps_parse(const char *buf, size_t len, uint64_t start, uint64_t end,
		   struct spt_state *st)
{
	struct maps_ctx m = {.start = start, .end = end, .st = st};
	const char *p = buf, *e = buf + len;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t linelen = nl ? (size_t)(nl - p) : (size_t)(e - p);
		int ret = maps_line(&m, p, linelen);

		if (ret)
			return ret;
		p += linelen + (nl ? 1 : 0);
	}
	return 0;
}

int spt_maps_read(int dirfd, uint64_t start, uint64_t end, struct spt_procfs_buf *b,
		  struct spt_state *st, size_t *lines)
{
	struct maps_ctx m = {.start = start, .end = end, .st = st};
	int ret = spt_procfs_read_lines(dirfd, "maps", b, maps_line, &m);

	if (lines)
		*lines = m.lines;
	return ret;
}

void spt_procfs_buf_free(struct spt_procfs_buf *b)
{
	free(b->data);
	*b = (struct spt_procfs_buf){ 0 };
}

static int procfs_errno(int e)
{
	return (e == ESRCH || e == ENOENT) ? -ESRCH : -e;
}

int spt_procfs_read_lines(int dirfd, const char *name, struct spt_procfs_buf *b,
			  int (*line)(void *ctx, const char *text, size_t len), void *ctx)
{
	int fd, ret = 0;

	if (!b->data) {
		b->data = malloc(SPT_PROCFS_LINE_MAX);
		if (!b->data)
			return -ENOMEM;
		b->cap = SPT_PROCFS_LINE_MAX;
	}
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return procfs_errno(errno);
	b->len = 0; /* the start of a line not complete yet */
	for (;;) {
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
		char *p, *e, *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = procfs_errno(errno);
			break;
		}
		if (n == 0) {
			if (b->len) /* a last line without its newline */
				ret = line(ctx, b->data, b->len);
			break;
		}
		p = b->data;
		e = b->data + b->len + n;
		while (!ret && (nl = memchr(p, '\n', (size_t)(e - p)))) {
			ret = line(ctx, p, (size_t)(nl - p));
			p = nl + 1;
		}
		if (ret)
			break;
		b->len = (size_t)(e - p);
		memmove(b->data, p, b->len);
		if (b->len == b->cap) {
			ret = -E2BIG; /* one line fills the whole buffer */
			break;
		}
	}
	b->len = 0;
	close(fd);
	return ret;
}

int spt_procfs_has_text(int dirfd, const char *name)
{
	char c;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return procfs_errno(errno);
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	n = n < 0 ? procfs_errno(errno) : n;
	close(fd);
	return (int)n;
}
