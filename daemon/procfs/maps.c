// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/PID/maps: strict line parser, VMA classification, whole-file read. */
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

int spt_maps_parse(const char *buf, size_t len, uint64_t start, uint64_t end,
		   struct spt_state *st)
{
	const char *p = buf, *e = buf + len;
	uint64_t prev_end = 0;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t linelen = nl ? (size_t)(nl - p) : (size_t)(e - p);
		struct spt_maps_line l;
		int ret = spt_maps_parse_line(p, linelen, &l);

		if (ret)
			return ret;
		p += linelen + (nl ? 1 : 0);
		/* The kernel prints VMAs sorted and disjoint; anything else is corrupt. */
		if (l.start < prev_end)
			return -EINVAL;
		prev_end = l.end;
		ret = spt_maps_append_line(&l, start, end, st);
		if (ret)
			return ret;
	}
	return 0;
}

void spt_procfs_buf_free(struct spt_procfs_buf *b)
{
	free(b->data);
	*b = (struct spt_procfs_buf){ 0 };
}

int spt_procfs_read_file(int dirfd, const char *name, struct spt_procfs_buf *b)
{
	int fd, ret = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (errno == ENOENT || errno == ESRCH) ? -ESRCH : -errno;
	b->len = 0;
	for (;;) {
		ssize_t n;

		if (b->cap - b->len < 4096) {
			size_t ncap = b->cap ? b->cap * 2 : 65536;
			char *nd = realloc(b->data, ncap);

			if (!nd) {
				ret = -ENOMEM;
				break;
			}
			b->data = nd;
			b->cap = ncap;
		}
		n = read(fd, b->data + b->len, b->cap - b->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = (errno == ESRCH || errno == ENOENT) ? -ESRCH : -errno;
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	close(fd);
	return ret;
}
