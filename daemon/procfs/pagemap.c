// SPDX-License-Identifier: GPL-2.0-or-later
/* Page entries from pagemap: PAGEMAP_SCAN fast path, smaps-guided fallback. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagemap-scan-compat.h"
#include "pagemap.h"
#include "spt-assert.h"

#define PAGES_PER_PMD 512u
#define PMD_SIZE_BYTES (PAGES_PER_PMD * SPT_PAGE_SIZE)

void spt_pagemap_init(struct spt_pagemap *pm, enum spt_pagemap_mode mode)
{
	*pm = (struct spt_pagemap){ .mode = mode, .kpageflags_fd = -1 };
}

void spt_pagemap_free(struct spt_pagemap *pm)
{
	if (pm->kpageflags_fd >= 0)
		close(pm->kpageflags_fd);
	free(pm->regions);
	free(pm->pme);
	free(pm->svmas);
	spt_procfs_buf_free(&pm->smaps);
	spt_pagemap_init(pm, pm->mode);
}

/* Reads exactly len bytes at off; a short read means the mm is gone. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == ESRCH ? -EAGAIN : -errno;
		}
		if (n == 0)
			return -EAGAIN;
		done += (size_t)n;
	}
	return 0;
}

int spt_pagemap_read_entry(int pagemap_fd, uint64_t vaddr, uint64_t *pme)
{
	return pread_full(pagemap_fd, pme, sizeof(*pme), (vaddr / SPT_PAGE_SIZE) * 8);
}

/*
 * VMAs whose present PTEs PAGEMAP_SCAN (VM_PFNMAP) or smaps Rss may not
 * see; they are small in practice, so read them entry by entry.
 */
static bool vma_read_directly(const struct spt_vma *v)
{
	if (v->kind == SPT_VMA_SPECIAL)
		return true;
	if (v->kind != SPT_VMA_FILE || v->end - v->start > SPT_PROCFS_ZERO_PAGE_PROBE_MAX)
		return false;
	if (!strncmp(v->name, "anon_inode:", 11))
		return true;
	return !strncmp(v->name, "/dev/", 5) && strncmp(v->name, "/dev/shm/", 9) &&
	       strncmp(v->name, "/dev/hugepages/", 15) && strncmp(v->name, "/dev/zero", 9);
}

/* Fallback THP test for one 2 MiB block of pagemap entries. */
static bool block_is_thp(struct spt_pagemap *pm, const uint64_t *pme)
{
	uint64_t pfn0 = pme[0] & SPT_PM_PFRAME_MASK, kpf;

	if (!pm->kpageflags_tried) {
		pm->kpageflags_tried = true;
		pm->kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	}
	if (pm->kpageflags_fd < 0 || !pfn0 || pfn0 % PAGES_PER_PMD)
		return false;
	for (unsigned i = 0; i < PAGES_PER_PMD; i++)
		if (!(pme[i] & SPT_PM_PRESENT) || (pme[i] & SPT_PM_PFRAME_MASK) != pfn0 + i)
			return false;
	if (pread(pm->kpageflags_fd, &kpf, sizeof(kpf), (off_t)(pfn0 * 8)) != sizeof(kpf))
		return false;
	return kpf & (1ull << SPT_KPF_THP);
}

/*
 * Reads pagemap for [a, b) of v and appends an entry per page with
 * page-level state. huge: the scan said PMD-mapped; detect_thp: fallback
 * mode, find THP blocks through kpageflags.
 */
static int read_run(struct spt_pagemap *pm, int fd, const struct spt_vma *v, uint64_t a,
		    uint64_t b, bool huge, bool detect_thp, uint64_t *budget, struct spt_state *st)
{
	const uint32_t vflags = spt_vma_flags(v);

	if (!pm->pme) {
		pm->pme = malloc(SPT_PROCFS_PAGEMAP_CHUNK * sizeof(*pm->pme));
		if (!pm->pme)
			return -ENOMEM;
	}
	while (a < b && (!budget || *budget)) {
		uint64_t n = (b - a) / SPT_PAGE_SIZE;
		bool thp = huge;
		int ret;

		if (n > SPT_PROCFS_PAGEMAP_CHUNK) {
			/* End full chunks on a 2 MiB boundary so THP blocks are read whole. */
			uint64_t cut = (a + SPT_PROCFS_PAGEMAP_CHUNK * SPT_PAGE_SIZE) &
				       ~(uint64_t)(PMD_SIZE_BYTES - 1);

			n = cut > a ? (cut - a) / SPT_PAGE_SIZE : SPT_PROCFS_PAGEMAP_CHUNK;
		}
		ret = pread_full(fd, pm->pme, n * 8, (a / SPT_PAGE_SIZE) * 8);
		if (ret)
			return ret;
		pm->stats.entries_read += n;

		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = pm->pme[i];
			struct spt_page pg = { .vaddr = a + i * SPT_PAGE_SIZE, .flags = vflags };

			if (detect_thp && !(pg.vaddr & (PMD_SIZE_BYTES - 1)))
				thp = i + PAGES_PER_PMD <= n && block_is_thp(pm, &pm->pme[i]);
			if (e & SPT_PM_GUARD_REGION)
				continue;
			if (e & SPT_PM_PRESENT) {
				pg.flags |= SPT_F_MAPPED;
				pg.pfn = e & SPT_PM_PFRAME_MASK;
				if (thp)
					pg.flags |= SPT_F_THP;
				if (e & SPT_PM_MMAP_EXCLUSIVE)
					pg.flags |= SPT_F_EXCLUSIVE;
			} else if (e & SPT_PM_SWAP) {
				pg.flags |= SPT_F_SWAPPED;
			} else {
				continue;
			}
			if (e & SPT_PM_SOFT_DIRTY)
				pg.flags |= SPT_F_SOFT_DIRTY;
			if (e & SPT_PM_FILE)
				pg.flags |= SPT_F_FILE;
			ret = spt_state_append_page(st, &pg);
			if (ret)
				return ret;
			/* Count what smaps counts; the zero page is not in Rss. */
			if (budget && *budget &&
			    (pg.flags & (SPT_F_SWAPPED | SPT_F_EXCLUSIVE | SPT_F_FILE)))
				--*budget;
		}
		a += n * SPT_PAGE_SIZE;
	}
	return 0;
}

/*
 * Collects the runs of present or swapped pages in [start, end) into
 * pm->regions, at most about max_regions (0: no limit). Returns 0,
 * -EOPNOTSUPP when the kernel lacks PAGEMAP_SCAN, -EAGAIN when the mm is
 * gone, -E2BIG past max_regions, or -errno.
 */
static int scan_regions(struct spt_pagemap *pm, int fd, uint64_t start, uint64_t end,
			size_t max_regions)
{
	uint64_t cur = start;

	pm->nregions = 0;
	while (cur < end) {
		struct pm_scan_arg arg;
		long r;

		/* Each region becomes a run of the state at least: its cap bounds them too. */
		if (max_regions && pm->nregions > max_regions)
			return -E2BIG;
		if (pm->regions_cap - pm->nregions < SPT_PROCFS_SCAN_VEC) {
			size_t ncap = pm->regions_cap ? pm->regions_cap * 2 : SPT_PROCFS_SCAN_VEC;
			void *n = realloc(pm->regions, ncap * sizeof(*pm->regions));

			if (!n)
				return -ENOMEM;
			pm->regions = n;
			pm->regions_cap = ncap;
		}
		arg = (struct pm_scan_arg){
			.size = sizeof(arg),
			.start = cur,
			.end = end,
			.vec = (uintptr_t)(pm->regions + pm->nregions),
			.vec_len = pm->regions_cap - pm->nregions,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_HUGE |
				       PAGE_IS_PFNZERO,
		};
		r = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == ENOTTY || errno == EINVAL) && !pm->stats.scan_calls)
				return -EOPNOTSUPP;
			return errno == ESRCH ? -EAGAIN : -errno;
		}
		pm->stats.scan_calls++;
		pm->nregions += (size_t)r;
		if (arg.walk_end >= end)
			break;
		if (arg.walk_end <= cur)
			return -EIO; /* no progress: never loop forever */
		cur = arg.walk_end;
	}
	pm->stats.regions = pm->nregions;
	return 0;
}

/*
 * [a, b) of v maps the huge zero page (PAGEMAP_SCAN said HUGE | PFNZERO):
 * every 2 MiB block maps the same 512 frames, so one pagemap entry gives
 * them all: a run per block, without reading the other 511 of each. (A
 * user can map 1 TiB of it with 9 MB of RSS.) Flags come from that entry:
 * the shared zero page is never exclusive, and one PMD has one soft-dirty
 * bit.
 */
static int read_zero_huge(struct spt_pagemap *pm, int fd, const struct spt_vma *v, uint64_t a,
			  uint64_t b, struct spt_state *st)
{
	struct spt_run run = {.flags = spt_vma_flags(v) | SPT_F_MAPPED | SPT_F_THP, .stride = 1};
	uint64_t e, base;
	int ret = pread_full(fd, &e, sizeof(e), (a / SPT_PAGE_SIZE) * 8);

	if (ret)
		return ret;
	pm->stats.entries_read++;
	if (!(e & SPT_PM_PRESENT)) /* it changed since the scan: read it the long way */
		return read_run(pm, fd, v, a, b, true, false, NULL, st);
	if (e & SPT_PM_SOFT_DIRTY)
		run.flags |= SPT_F_SOFT_DIRTY;
	if (e & SPT_PM_FILE)
		run.flags |= SPT_F_FILE;
	/* The folio's first frame (0 without CAP_SYS_ADMIN: pfns are hidden). */
	base = e & SPT_PM_PFRAME_MASK;
	if (base)
		base -= (a / SPT_PAGE_SIZE) % PAGES_PER_PMD;
	while (a < b) {
		uint64_t end = (a | (PMD_SIZE_BYTES - 1)) + 1;

		if (end > b)
			end = b;
		run.vaddr = a;
		run.npages = (end - a) / SPT_PAGE_SIZE;
		run.pfn = base ? base + (a / SPT_PAGE_SIZE) % PAGES_PER_PMD : 0;
		run.stride = base ? 1 : 0;
		ret = spt_state_append_run(st, &run);
		if (ret)
			return ret;
		a = end;
	}
	return 0;
}

/* Pages of a range this small are read directly: one pread beats a scan. */
#define DIRECT_READ_MAX_PAGES 16u

/* Could a PMD-mapped THP cover part of [a, b) of v? Only if an aligned 2 MiB block fits. */
static bool thp_possible(const struct spt_vma *v, uint64_t a, uint64_t b)
{
	uint64_t lo = (a & ~(PMD_SIZE_BYTES - 1)), hi = (b + PMD_SIZE_BYTES - 1) & ~(PMD_SIZE_BYTES - 1);

	for (uint64_t blk = lo; blk < hi; blk += PMD_SIZE_BYTES)
		if (blk >= v->start && blk + PMD_SIZE_BYTES <= v->end)
			return true;
	return false;
}

/* A small range where no THP can be: pagemap alone says all. */
static bool read_small_directly(const struct spt_vma *v, uint64_t a, uint64_t b)
{
	return b - a <= DIRECT_READ_MAX_PAGES * SPT_PAGE_SIZE && !thp_possible(v, a, b);
}

/*
 * Appends the page entries of vmas' VMAs inside [a, b) to out, finding
 * them with PAGEMAP_SCAN. *huge (if given) is set when a PMD-mapped run
 * reaches beyond [a, b): the caller may want the rest of that THP.
 */
static int fill_scan_range(struct spt_pagemap *pm, int fd, const struct spt_state *vmas,
			   uint64_t a, uint64_t b, struct spt_state *out, bool *huge)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t r = 0;
	int ret;

	for (size_t i = 0; i < vmas->nvmas; i++) {
		const struct spt_vma *v = &vmas->vmas[i];
		uint64_t x = v->start > a ? v->start : a, y = v->end < b ? v->end : b;

		if (x >= y || vma_read_directly(v) || read_small_directly(v, x, y))
			continue;
		if (lo == UINT64_MAX)
			lo = x;
		hi = y;
	}
	pm->nregions = 0;
	if (lo < hi) {
		ret = scan_regions(pm, fd, lo, hi, out->max_runs ? 2 * out->max_runs : 0);
		if (ret)
			return ret;
	}

	for (size_t i = 0; i < vmas->nvmas; i++) {
		const struct spt_vma *v = &vmas->vmas[i];
		uint64_t x = v->start > a ? v->start : a, y = v->end < b ? v->end : b;

		if (x >= y)
			continue;
		if (vma_read_directly(v) || read_small_directly(v, x, y)) {
			ret = read_run(pm, fd, v, x, y, false, false, NULL, out);
			if (ret)
				return ret;
			continue;
		}
		while (r < pm->nregions && pm->regions[r].end <= x)
			r++;
		/* A region may span VMAs: clip, and keep r for the next VMA. */
		for (size_t k = r; k < pm->nregions && pm->regions[k].start < y; k++) {
			const struct page_region *pr = &pm->regions[k];
			uint64_t ra = pr->start > x ? pr->start : x;
			uint64_t rb = pr->end < y ? pr->end : y;
			bool is_huge = pr->categories & PAGE_IS_HUGE;

			if (ra >= rb)
				continue;
			if (huge && is_huge && ((ra & ~(PMD_SIZE_BYTES - 1)) < x ||
						((rb + PMD_SIZE_BYTES - 1) & ~(PMD_SIZE_BYTES - 1)) > y))
				*huge = true;
			if (is_huge && (pr->categories & PAGE_IS_PFNZERO))
				ret = read_zero_huge(pm, fd, v, ra, rb, out);
			else
				ret = read_run(pm, fd, v, ra, rb, is_huge, false, NULL, out);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int fill_scan(struct spt_pagemap *pm, int fd, struct spt_state *st)
{
	return fill_scan_range(pm, fd, st, 0, UINT64_MAX, st, NULL);
}

static int parse_kb(const char *p, const char *e, uint64_t *out)
{
	uint64_t v = 0;
	bool any = false;

	while (p < e && *p == ' ')
		p++;
	while (p < e && *p >= '0' && *p <= '9') {
		if (v > UINT64_MAX / 10 - 9)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p++ - '0');
		any = true;
	}
	if (!any)
		return -EINVAL;
	*out = v;
	return 0;
}

/* True if the space-separated VmFlags list [p, e) holds token tok. */
static bool has_token(const char *p, const char *e, const char *tok)
{
	size_t n = strlen(tok);

	while (p < e) {
		const char *s;

		while (p < e && *p == ' ')
			p++;
		s = p;
		while (p < e && *p != ' ')
			p++;
		if ((size_t)(p - s) == n && !memcmp(s, tok, n))
			return true;
	}
	return false;
}

/* One line of smaps: a VMA header, or a field of the VMA before it. */
static int smaps_line(void *arg, const char *p, size_t len)
{
	struct spt_pagemap *pm = arg;
	const char *le = p + len;
	struct spt_smaps_vma *cur = pm->nsvmas ? &pm->svmas[pm->nsvmas - 1] : NULL;

	if (len && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
		struct spt_maps_line l;

		if (spt_maps_parse_line(p, len, &l))
			return -EINVAL;
		if (pm->nsvmas == pm->svmas_cap) {
			size_t ncap = pm->svmas_cap ? pm->svmas_cap * 2 : 256;
			void *n;

			/* The whole process's VMAs, not only the window's: bounded the same. */
			if (pm->nsvmas >= SPT_MAX_VMAS_PER_SESSION)
				return -E2BIG;
			n = realloc(pm->svmas, ncap * sizeof(*pm->svmas));
			if (!n)
				return -ENOMEM;
			pm->svmas = n;
			pm->svmas_cap = ncap;
		}
		pm->svmas[pm->nsvmas++] = (struct spt_smaps_vma){ .start = l.start, .end = l.end };
	} else if (cur && le - p > 4 && !memcmp(p, "Rss:", 4)) {
		if (parse_kb(p + 4, le, &cur->rss_kb))
			return -EINVAL;
	} else if (cur && le - p > 5 && !memcmp(p, "Swap:", 5)) {
		if (parse_kb(p + 5, le, &cur->swap_kb))
			return -EINVAL;
	} else if (cur && le - p > 8 && !memcmp(p, "VmFlags:", 8)) {
		cur->pfnmap = has_token(p + 8, le, "pf") || has_token(p + 8, le, "mm") ||
			      has_token(p + 8, le, "ht");
	}
	return 0;
}

int spt_pagemap_parse_smaps(struct spt_pagemap *pm, const char *buf, size_t len)
{
	const char *p = buf, *e = buf + len;

	pm->nsvmas = 0;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e;
		int ret = smaps_line(pm, p, (size_t)(le - p));

		if (ret)
			return ret;
		p = nl ? nl + 1 : e;
	}
	return 0;
}

static int fill_fallback(struct spt_pagemap *pm, int procdirfd, int fd, struct spt_state *st)
{
	size_t s = 0;
	int ret;

	if (!st->nvmas)
		return 0;
	pm->nsvmas = 0;
	ret = spt_procfs_read_lines(procdirfd, "smaps", &pm->smaps, smaps_line, pm);
	if (ret)
		return ret == -EINVAL ? -EAGAIN : ret;

	for (size_t i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];
		uint64_t size = v->end - v->start;
		bool known, read;

		while (s < pm->nsvmas && pm->svmas[s].end <= v->start)
			s++;
		known = s < pm->nsvmas && pm->svmas[s].start <= v->start;
		if (vma_read_directly(v))
			read = true;
		else if (known && (pm->svmas[s].rss_kb || pm->svmas[s].swap_kb ||
				   pm->svmas[s].pfnmap))
			read = true;
		else if (known && !(v->kind == SPT_VMA_ANON && (v->prot & PROT_READ)))
			read = false;
		else /* zero-page candidate, or smaps raced with maps */
			read = size <= SPT_PROCFS_ZERO_PAGE_PROBE_MAX;
		if (!read) {
			pm->stats.vmas_skipped++;
			continue;
		}
		if (size > SPT_PROCFS_ZERO_PAGE_PROBE_MAX && known && !pm->svmas[s].pfnmap) {
			/*
			 * Large VMA: stop once smaps' Rss + Swap pages are found,
			 * and read at most SPT_PROCFS_FALLBACK_VMA_MAX of it.
			 */
			uint64_t budget = (pm->svmas[s].rss_kb + pm->svmas[s].swap_kb) /
					  (SPT_PAGE_SIZE / 1024);
			uint64_t end = v->end;

			if (size > SPT_PROCFS_FALLBACK_VMA_MAX)
				end = v->start + SPT_PROCFS_FALLBACK_VMA_MAX;
			ret = read_run(pm, fd, v, v->start, end, false, true, &budget, st);
			if (ret)
				return ret;
			if (budget && end < v->end)
				pm->stats.vmas_truncated++;
			continue;
		}
		ret = read_run(pm, fd, v, v->start, v->end, false, true, NULL, st);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Fallback for a range: whole 2 MiB blocks of anonymous VMAs, so that the
 * kpageflags THP test sees every block it decides on.
 */
static int fill_fallback_range(struct spt_pagemap *pm, int fd, const struct spt_state *vmas,
			       uint64_t a, uint64_t b, struct spt_state *out)
{
	for (size_t i = 0; i < vmas->nvmas; i++) {
		const struct spt_vma *v = &vmas->vmas[i];
		uint64_t x = v->start > a ? v->start : a, y = v->end < b ? v->end : b;
		int ret;

		if (x >= y)
			continue;
		if (v->kind == SPT_VMA_ANON) {
			x &= ~(PMD_SIZE_BYTES - 1);
			y = (y + PMD_SIZE_BYTES - 1) & ~(PMD_SIZE_BYTES - 1);
			x = x < v->start ? v->start : x;
			y = y > v->end ? v->end : y;
		}
		ret = read_run(pm, fd, v, x, y, false, v->kind == SPT_VMA_ANON, NULL, out);
		if (ret)
			return ret;
	}
	return 0;
}

int spt_pagemap_fill_range(struct spt_pagemap *pm, int pagemap_fd, const struct spt_state *vmas,
			   uint64_t start, uint64_t end, struct spt_state *out, bool *huge)
{
	int ret = -EOPNOTSUPP;

	if (pm->mode == SPT_PAGEMAP_AUTO && !pm->scan_unsupported) {
		size_t nruns0 = spt_state_nruns(out);

		ret = fill_scan_range(pm, pagemap_fd, vmas, start, end, out, huge);
		if (ret == -EOPNOTSUPP) {
			/* Only the first PAGEMAP_SCAN call says so, before any append. */
			spt_assert(spt_state_nruns(out) == nruns0);
			pm->scan_unsupported = true;
		}
	}
	if (ret == -EOPNOTSUPP)
		ret = fill_fallback_range(pm, pagemap_fd, vmas, start, end, out);
	return ret;
}

bool spt_pagemap_live(int pagemap_fd)
{
	uint64_t pme;

	return spt_pagemap_read_entry(pagemap_fd, 0, &pme) == 0;
}

int spt_pagemap_fill(struct spt_pagemap *pm, int procdirfd, int pagemap_fd,
		     struct spt_state *st)
{
	int ret;

	pm->stats = (struct spt_pagemap_stats){ 0 };
	if (pm->mode == SPT_PAGEMAP_AUTO && !pm->scan_unsupported) {
		size_t nruns0 = spt_state_nruns(st);

		pm->stats.used_scan = true;
		ret = fill_scan(pm, pagemap_fd, st);
		if (ret == -EOPNOTSUPP) {
			/* Only the first PAGEMAP_SCAN call says so, before any append. */
			spt_assert(spt_state_nruns(st) == nruns0);
			pm->scan_unsupported = true;
			pm->stats.used_scan = false;
			ret = fill_fallback(pm, procdirfd, pagemap_fd, st);
		}
	} else {
		ret = fill_fallback(pm, procdirfd, pagemap_fd, st);
	}
	/*
	 * PAGEMAP_SCAN walks an mm whose users are gone (exec, exit) without
	 * complaint and finds nothing, and maps text read across that moment
	 * is cut short: the mm must have outlived the fill.
	 */
	if (!ret && !spt_pagemap_live(pagemap_fd))
		ret = -EAGAIN;
	return ret;
}
