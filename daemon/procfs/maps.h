/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parser of /proc/PID/maps text. Works on a buffer (recorded text in unit
 * tests, fuzz input, or a live read), validates every field, and turns
 * the lines overlapping a range into clipped spt_vma entries.
 *
 * VMA kinds follow the kernel's vma_is_anonymous() for the ANONYMOUS flag
 * (only SPT_VMA_ANON pages get it):
 *   ANON        no file and no special ops: private anon (no name),
 *               [heap], [stack], [stack:TID], [anon:name], and "/dev/zero"
 *               mappings that are not VM_SHARED (private ones, or shared
 *               ones of a read-only fd: mmap_zero() calls
 *               vma_set_anonymous() but keeps vm_file, so the line shows
 *               "/dev/zero").
 *   SHARED_ANON shmem with no file a user could open by name: shared
 *               anonymous memory ("/dev/zero (deleted)", the name
 *               MAP_SHARED|MAP_ANONYMOUS gets), "[anon_shmem:name]",
 *               SysV segments ("/SYSV%08x (deleted)") and shared
 *               "/anon_hugepage (deleted)" (MAP_SHARED|MAP_HUGETLB anon).
 *   FILE        everything with a real file, including private file
 *               mappings (COWed pages stay in a file VMA, which is not
 *               anonymous in the kernel's sense), deleted files, memfd
 *               ("/memfd:name (deleted)": a real file object with an fd,
 *               size and seals, even though it lives on shmem), device
 *               and anon_inode mappings, and private MAP_HUGETLB anon
 *               ("/anon_hugepage (deleted)" private: hugetlbfs-backed,
 *               has vm_ops, so not anonymous).
 *   SPECIAL     bracketed names of special mappings without a file:
 *               [vdso], [vvar], [vvar_vclock], [vsyscall], [uprobes],
 *               [sigpage], [vectors], ... (they have vm_ops).
 */
#ifndef SHADOWPTD_PROCFS_MAPS_H
#define SHADOWPTD_PROCFS_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shadowpt-limits.h"
#include "state.h"

/* One parsed maps line. name points into the parsed buffer. */
struct spt_maps_line {
	uint64_t start, end; /* [start, end), page aligned, start < end */
	uint64_t offset; /* file offset in bytes */
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared; /* 's' (VM_MAYSHARE) */
	const char *name; /* not NUL terminated; may be empty */
	size_t name_len;
};

/*
 * Parses one line (without its '\n'). Returns 0 or -EINVAL when any field
 * is malformed (bad hex, unaligned or empty range, bad permission
 * characters, overflow, NUL byte in the name, trailing garbage).
 */
int spt_maps_parse_line(const char *line, size_t len, struct spt_maps_line *out);

/* The kind of the VMA a line describes (see the table above). */
enum spt_vma_kind spt_maps_classify(const struct spt_maps_line *l);

/*
 * Appends the VMA of l to st if it overlaps [start, end), clipped to it.
 * 0, -EINVAL (out of order, see spt_state_append_vma), -ENOMEM.
 */
int spt_maps_append_line(const struct spt_maps_line *l, uint64_t start, uint64_t end,
			 struct spt_state *st);

/*
 * Parses a whole maps text and appends every VMA overlapping
 * [start, end) to st, clipped to the range, in file order. The last line
 * may lack its '\n'. Returns 0, -EINVAL on a malformed line or on lines
 * out of order / overlapping, -ENOMEM.
 */
int spt_maps_parse(const char *buf, size_t len, uint64_t start, uint64_t end,
		   struct spt_state *st);

/* A read buffer (at most SPT_PROCFS_LINE_MAX bytes), reused across reads. */
struct spt_procfs_buf {
	char *data;
	size_t len, cap;
};

void spt_procfs_buf_free(struct spt_procfs_buf *b);

/*
 * Reads the file name (relative to dirfd) through b and calls line() on
 * each line (without its '\n') as it arrives, so that memory stays at
 * SPT_PROCFS_LINE_MAX however long the file is. Returns 0, what line()
 * returned if not 0, -E2BIG for a line that does not fit the buffer,
 * -ESRCH when the process is gone (ENOENT/ESRCH), or another -errno.
 */
int spt_procfs_read_lines(int dirfd, const char *name, struct spt_procfs_buf *b,
			  int (*line)(void *ctx, const char *text, size_t len), void *ctx);

/*
 * spt_maps_parse, read from dirfd's "maps" as it arrives. *lines (if not
 * NULL) gets how many lines the text had: 0 for a process without an mm.
 */
int spt_maps_read(int dirfd, uint64_t start, uint64_t end, struct spt_procfs_buf *b,
		  struct spt_state *st, size_t *lines);

/* 1 if the file has any text, 0 if empty, or -errno (-ESRCH: gone). */
int spt_procfs_has_text(int dirfd, const char *name);

#endif
