// SPDX-License-Identifier: GPL-2.0-or-later
/* VMAs of a range through PROCMAP_QUERY (maps-query.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "maps-query.h"
#include "maps.h"

/* The ABI of linux/fs.h (6.11), which Debian 12's 6.1 headers predate. */
struct spt_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define SPT_PROCMAP_QUERY		       _IOWR('f', 17, struct spt_procmap_query)
#define SPT_PROCMAP_QUERY_VMA_READABLE	       0x01
#define SPT_PROCMAP_QUERY_VMA_WRITABLE	       0x02
#define SPT_PROCMAP_QUERY_VMA_EXECUTABLE       0x04
#define SPT_PROCMAP_QUERY_VMA_SHARED	       0x08
#define SPT_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* Longest name asked for (PATH_MAX), plus room to escape newlines. */
#define QUERY_NAME_MAX 4096u

/* '\n' in a path as the maps text prints it (seq_path's escape). */
static size_t escape_name(const char *in, size_t len, char *out, size_t cap)
{
	size_t w = 0;

	for (size_t i = 0; i < len && w + 4 < cap; i++) {
		if (in[i] == '\n') {
			memcpy(out + w, "\\012", 4);
			w += 4;
		} else {
			out[w++] = in[i];
		}
	}
	return w;
}

int spt_maps_query(int maps_fd, uint64_t a, uint64_t b, uint64_t wstart, uint64_t wend,
		   struct spt_state *st)
{
	char *raw = malloc(QUERY_NAME_MAX), *esc = malloc(QUERY_NAME_MAX * 4);
	uint64_t addr = a;
	int ret = 0;

	if (!raw || !esc) {
		ret = -ENOMEM;
		goto out;
	}
	while (addr < b) {
		struct spt_procmap_query q = {
		    .size = sizeof(q),
		    .query_flags = SPT_PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		    .query_addr = addr,
		    .vma_name_size = QUERY_NAME_MAX,
		    .vma_name_addr = (uintptr_t)raw,
		};
		struct spt_maps_line l;

		if (ioctl(maps_fd, SPT_PROCMAP_QUERY, &q) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOENT)
				break; /* no VMA at or above addr */
			ret = errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP
			      : errno == ESRCH			 ? -ESRCH
								 : -errno;
			goto out;
		}
		if (q.vma_start >= b || q.vma_end <= q.vma_start)
			break;
		l = (struct spt_maps_line){
		    .start = q.vma_start,
		    .end = q.vma_end,
		    .offset = q.vma_offset,
		    .dev_major = q.dev_major,
		    .dev_minor = q.dev_minor,
		    .inode = q.inode,
		    .prot = (q.vma_flags & SPT_PROCMAP_QUERY_VMA_READABLE ? PROT_READ : 0) |
			    (q.vma_flags & SPT_PROCMAP_QUERY_VMA_WRITABLE ? PROT_WRITE : 0) |
			    (q.vma_flags & SPT_PROCMAP_QUERY_VMA_EXECUTABLE ? PROT_EXEC : 0),
		    .shared = q.vma_flags & SPT_PROCMAP_QUERY_VMA_SHARED,
		    .name = esc,
		};
		/* vma_name_size counts the NUL; 0 when the VMA has no name. */
		if (q.vma_name_size > 1)
			l.name_len = escape_name(raw, strnlen(raw, q.vma_name_size - 1), esc,
						 QUERY_NAME_MAX * 4);
		ret = spt_maps_append_line(&l, wstart, wend, st);
		if (ret)
			goto out;
		addr = q.vma_end;
	}
out:
	free(raw);
	free(esc);
	return ret;
}

int spt_maps_read_range(int dirfd, int maps_fd, bool *no_query, struct spt_procfs_buf *buf,
			uint64_t a, uint64_t b, uint64_t wstart, uint64_t wend,
			struct spt_state *out)
{
	struct spt_state keep;
	int ret;

	if (maps_fd >= 0 && !*no_query) {
		ret = spt_maps_query(maps_fd, a, b, wstart, wend, out);
		if (ret != -EOPNOTSUPP)
			return ret;
		*no_query = true;
		spt_state_clear(out);
	}
	/* Before 6.11: the whole text, keeping what overlaps [a, b). */
	ret = spt_maps_read(dirfd, wstart, wend, buf, out, NULL);
	if (ret == -EINVAL)
		return -EAGAIN; /* changed while read */
	if (ret)
		return ret;
	spt_state_init(&keep);
	for (size_t i = 0; i < out->nvmas && !ret; i++)
		if (out->vmas[i].end > a && out->vmas[i].start < b)
			ret = spt_state_append_vma(&keep, &out->vmas[i]);
	if (!ret)
		spt_state_move(out, &keep);
	spt_state_free(&keep);
	return ret;
}
