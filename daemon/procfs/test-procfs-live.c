// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The procfs backend on real processes: a forked child creates every VMA
 * kind and touches pages in known ways; the parent samples it through
 * spt_backend_procfs (PAGEMAP_SCAN path and forced fallback) and checks
 * the flags page by page, the pfns (nonzero as root, 0 otherwise), the
 * 32 GiB reservation costing one entry, peek, clipping, exec detection
 * and -ESRCH once the child is gone.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../backend.h"
#include "backend-procfs.h"
#include "test-common.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

#define PG 4096ul
#define THP_SIZE (2ul << 20)
#define RESERVATION (32ul << 30)

/* What the child set up, sent to the parent through a pipe. */
struct layout {
	uint64_t anon_untouched, anon_read, anon_write; /* 4 pages each */
	uint64_t shared_anon; /* 4 pages, 0 and 1 written */
	uint64_t file_private; /* 4 pages, 0 and 1 read */
	uint64_t file_cow; /* private RW file mapping, page 0 written (COW) */
	uint64_t file_shared; /* 4 pages, page 0 written */
	uint64_t heap_page; /* one sbrk page, written */
	uint64_t devzero_ro; /* MAP_SHARED of a read-only /dev/zero fd, read */
	uint64_t named; /* [anon:...], 0 if PR_SET_VMA is unsupported */
	uint64_t thp; /* 2 MiB aligned, written; 0 when THP is off */
	uint64_t reservation, reservation_page; /* 32 GiB PROT_NONE, one RW page */
	int prctl_errno;
};

/* Peek authorization stand-ins: count the calls (ctx may be NULL). */
static int peek_allow(void *ctx)
{
	if (ctx)
		++*(int *)ctx;
	return 0;
}

static int peek_deny(void *ctx)
{
	++*(int *)ctx;
	return -EPERM;
}

static bool is_root;

static bool thp_enabled(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

static void *map(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED) {
		perror("mmap");
		_exit(3);
	}
	return p;
}

static void child_main(int wfd, int rfd, const char *tmpfile)
{
	struct layout l = { 0 };
	volatile char sink;
	char *p;
	int fd;

	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	l.anon_untouched = (uintptr_t)p;
	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 4; i++)
		sink = p[i * PG];
	l.anon_read = (uintptr_t)p;
	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 4; i++)
		memset(p + i * PG, 0xa5 + i, PG);
	l.anon_write = (uintptr_t)p;
	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p[0] = 1;
	p[PG] = 1;
	l.shared_anon = (uintptr_t)p;

	fd = open(tmpfile, O_RDWR);
	if (fd < 0)
		_exit(3);
	p = map(4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	sink = p[0];
	sink = p[PG];
	l.file_private = (uintptr_t)p;
	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	p[0] = 7;
	l.file_cow = (uintptr_t)p;
	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	p[0] = 9;
	l.file_shared = (uintptr_t)p;
	close(fd);

	fd = open("/dev/zero", O_RDONLY);
	if (fd >= 0) {
		p = map(2 * PG, PROT_READ, MAP_SHARED, fd, 0);
		sink = p[0];
		l.devzero_ro = (uintptr_t)p;
		close(fd);
	}

	p = sbrk(0);
	if (p != (void *)-1 && sbrk(2 * PG) != (void *)-1) {
		char *pg = (char *)(((uintptr_t)p + PG - 1) & ~(PG - 1));

		pg[0] = 1;
		l.heap_page = (uintptr_t)pg;
	}

	p = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, 4 * PG, "shadowpt test") == 0) {
		p[0] = 1;
		l.named = (uintptr_t)p;
	} else {
		l.prctl_errno = errno;
	}

	if (thp_enabled()) {
		p = map(2 * THP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		p = (char *)(((uintptr_t)p + THP_SIZE - 1) & ~(THP_SIZE - 1));
		madvise(p, THP_SIZE, MADV_HUGEPAGE);
		p[0] = 1;
		l.thp = (uintptr_t)p;
	}

	p = map(RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	l.reservation = (uintptr_t)p;
	l.reservation_page = (uintptr_t)p + RESERVATION / 2;
	if (mprotect((void *)l.reservation_page, PG, PROT_READ | PROT_WRITE))
		_exit(3);
	*(char *)l.reservation_page = 1;
	(void)sink;

	if (write(wfd, &l, sizeof(l)) != sizeof(l))
		_exit(3);
	/* Wait: a byte means exec, EOF means exit. */
	if (read(rfd, &l.prctl_errno, 1) == 1)
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
	_exit(0);
}

struct child {
	pid_t pid;
	int pidfd;
	int ctl; /* write end: a byte execs, close exits */
	struct layout l;
};

static int spawn(struct child *c, const char *tmpfile)
{
	int up[2], down[2];

	if (pipe(up) || pipe(down))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(up[0]);
		close(down[1]);
		child_main(up[1], down[0], tmpfile);
	}
	close(up[1]);
	close(down[0]);
	c->ctl = down[1];
	if (read(up[0], &c->l, sizeof(c->l)) != sizeof(c->l))
		return -1;
	close(up[0]);
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	return c->pidfd < 0 ? -1 : 0;
}

static uint32_t flags_at(const struct spt_state *st, uint64_t va)
{
	return spt_state_flags_at(st, va);
}

static uint64_t pfn_at(const struct spt_state *st, uint64_t va)
{
	struct spt_page p;

	return spt_state_get_page(st, va, &p) ? p.pfn : 0;
}

static bool has_entry(const struct spt_state *st, uint64_t va)
{
	struct spt_page p;

	return spt_state_get_page(st, va, &p);
}

/* Every page entry of st, one per page (tests only: O(pages)); free() it. */
static struct spt_page *state_pages(const struct spt_state *st, size_t *n)
{
	struct spt_page *pg = malloc((spt_state_npages(st) + 1) * sizeof(*pg));
	struct spt_run_iter it;
	struct spt_run r;

	*n = 0;
	if (!pg)
		abort();
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r))
		for (uint64_t k = 0; k < r.npages; k++)
			pg[(*n)++] = (struct spt_page){.vaddr = r.vaddr + k * PG,
						       .pfn = r.pfn + k * r.stride,
						       .flags = r.flags};
	return pg;
}

#define SPEC(f) ((f) & SPT_F_SPEC_MASK)
#define AAM (SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED)
#define AM (SPT_F_ALLOCATED | SPT_F_MAPPED)

/* Invariants over the whole state: entries inside VMAs, VMA flags ORed in, pfn rule. */
static void check_invariants(const struct spt_state *st, const char *mode)
{
	int bad = 0, badpfn = 0;
	size_t n;
	struct spt_page *pages = state_pages(st, &n);

	for (size_t i = 0; i < n; i++) {
		const struct spt_page *p = &pages[i];
		const struct spt_vma *v = spt_state_find_vma(st, p->vaddr);

		if (!v || (p->flags & spt_vma_flags(v)) != spt_vma_flags(v) ||
		    !(p->flags & (SPT_F_MAPPED | SPT_F_SWAPPED)) ||
		    (p->flags & SPT_F_ANONYMOUS) != (spt_vma_flags(v) & SPT_F_ANONYMOUS) ||
		    (p->flags & ~SPT_F_KNOWN_MASK))
			bad++;
		if ((p->flags & SPT_F_MAPPED) && is_root ? p->pfn == 0 : p->pfn != 0)
			badpfn++;
	}
	free(pages);
	CHECK(!bad, "%s: every entry lies in a VMA and carries exactly its VMA flags (%d bad)",
	      mode, bad);
	CHECK(!badpfn, "%s: pfn %s for every mapped page (%d bad)", mode,
	      is_root ? "nonzero" : "0 (no CAP_SYS_ADMIN)", badpfn);
}

static void check_layout(const struct spt_state *st, const struct layout *l, const char *mode,
			 const struct spt_pagemap_stats *stats)
{
	const struct spt_vma *v;
	int bad;

	check_invariants(st, mode);

	/* Private anon: untouched, read (zero page), written. */
	v = spt_state_find_vma(st, l->anon_untouched);
	CHECK(v && v->kind == SPT_VMA_ANON, "%s: private anon VMA is kind anon", mode);
	bad = 0;
	for (int i = 0; i < 4; i++)
		bad += has_entry(st, l->anon_untouched + i * PG) ||
		       flags_at(st, l->anon_untouched + i * PG) !=
			       (SPT_F_ALLOCATED | SPT_F_ANONYMOUS);
	CHECK(!bad, "%s: untouched anon pages: ALLOCATED|ANONYMOUS, no entry", mode);
	bad = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t va = l->anon_read + i * PG;

		bad += SPEC(flags_at(st, va)) != AAM || pfn_at(st, va) != pfn_at(st, l->anon_read);
	}
	CHECK(!bad, "%s: read-touched anon pages map the shared zero page (pfn %#llx)", mode,
	      (unsigned long long)pfn_at(st, l->anon_read));
	bad = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t va = l->anon_write + i * PG;
		uint32_t f = flags_at(st, va);

		bad += SPEC(f) != AAM || !(f & SPT_F_EXCLUSIVE) || (f & SPT_F_FILE);
		if (is_root)
			bad += pfn_at(st, va) == pfn_at(st, l->anon_read);
		for (int j = 0; j < i && is_root; j++)
			bad += pfn_at(st, va) == pfn_at(st, l->anon_write + j * PG);
	}
	CHECK(!bad, "%s: written anon pages: ALLOCATED|ANONYMOUS|MAPPED, exclusive, own frames",
	      mode);

	/* Shared anon: not anonymous in the kernel's sense. */
	v = spt_state_find_vma(st, l->shared_anon);
	CHECK(v && v->kind == SPT_VMA_SHARED_ANON && v->shared, "%s: MAP_SHARED|MAP_ANONYMOUS is shared-anon (%s)",
	      mode, v ? v->name : "none");
	CHECK(SPEC(flags_at(st, l->shared_anon)) == AM && SPEC(flags_at(st, l->shared_anon + PG)) == AM &&
		      (flags_at(st, l->shared_anon) & SPT_F_FILE),
	      "%s: written shared-anon pages: ALLOCATED|MAPPED|FILE, not ANONYMOUS", mode);
	CHECK(!has_entry(st, l->shared_anon + 2 * PG) && !has_entry(st, l->shared_anon + 3 * PG) &&
		      flags_at(st, l->shared_anon + 3 * PG) == SPT_F_ALLOCATED,
	      "%s: untouched shared-anon pages: ALLOCATED only", mode);

	/* Files. */
	v = spt_state_find_vma(st, l->file_private);
	CHECK(v && v->kind == SPT_VMA_FILE && !v->shared, "%s: private file mapping is kind file", mode);
	CHECK(SPEC(flags_at(st, l->file_private)) == AM && SPEC(flags_at(st, l->file_private + PG)) == AM &&
		      (flags_at(st, l->file_private) & SPT_F_FILE),
	      "%s: read file pages: ALLOCATED|MAPPED|FILE", mode);
	CHECK(SPEC(flags_at(st, l->file_cow)) == AM && !(flags_at(st, l->file_cow) & SPT_F_FILE),
	      "%s: COWed page of a private file mapping: mapped anon folio, still not ANONYMOUS",
	      mode);
	v = spt_state_find_vma(st, l->file_shared);
	CHECK(v && v->kind == SPT_VMA_FILE && v->shared &&
		      SPEC(flags_at(st, l->file_shared)) == AM &&
		      (flags_at(st, l->file_shared) & SPT_F_FILE),
	      "%s: shared file mapping: kind file, written page ALLOCATED|MAPPED|FILE", mode);
	if (is_root)
		CHECK(pfn_at(st, l->file_private) == pfn_at(st, l->file_shared) &&
			      pfn_at(st, l->file_cow) != pfn_at(st, l->file_shared),
		      "%s: page cache frame shared by both file mappings, COW copy has its own",
		      mode);

	if (l->devzero_ro) {
		v = spt_state_find_vma(st, l->devzero_ro);
		CHECK(v && v->kind == SPT_VMA_ANON && v->shared && !strcmp(v->name, "/dev/zero") &&
			      SPEC(flags_at(st, l->devzero_ro)) == AAM,
		      "%s: MAP_SHARED of read-only /dev/zero: 's' but anonymous (%s)", mode,
		      v ? v->name : "none");
	}

	/* [heap], [stack], [vdso]. */
	if (l->heap_page) {
		v = spt_state_find_vma(st, l->heap_page);
		CHECK(v && !strcmp(v->name, "[heap]") && v->kind == SPT_VMA_ANON &&
			      SPEC(flags_at(st, l->heap_page)) == AAM,
		      "%s: sbrk page in [heap]: ALLOCATED|ANONYMOUS|MAPPED", mode);
	}
	{
		int stack = 0, vdso = 0, vdso_bad = 0;

		for (size_t i = 0; i < st->nvmas; i++) {
			v = &st->vmas[i];
			if (!strcmp(v->name, "[stack]"))
				stack += v->kind == SPT_VMA_ANON;
			if (!strcmp(v->name, "[vdso]") || !strncmp(v->name, "[vvar", 5)) {
				vdso += v->kind == SPT_VMA_SPECIAL;
				for (uint64_t a = v->start; a < v->end; a += PG)
					vdso_bad += !!(flags_at(st, a) & SPT_F_ANONYMOUS);
			}
		}
		CHECK(stack == 1, "%s: [stack] is kind anon", mode);
		CHECK(vdso >= 2 && !vdso_bad, "%s: [vdso]/[vvar] are special, never ANONYMOUS", mode);
	}

	if (l->named) {
		v = spt_state_find_vma(st, l->named);
		CHECK(v && !strcmp(v->name, "[anon:shadowpt test]") && v->kind == SPT_VMA_ANON &&
			      SPEC(flags_at(st, l->named)) == AAM,
		      "%s: [anon:name] VMA is kind anon", mode);
	} else {
		printf("# PR_SET_VMA_ANON_NAME unsupported here (%s): [anon:name] covered by "
		       "the recorded fixture only\n",
		       strerror(l->prctl_errno));
	}

	if (l->thp) {
		struct spt_page pg0, *p0 = spt_state_get_page(st, l->thp, &pg0) ? &pg0 : NULL;

		if (p0 && (p0->flags & SPT_F_THP)) {
			bad = 0;
			for (unsigned i = 0; i < THP_SIZE / PG; i++) {
				struct spt_page pg, *p = spt_state_get_page(st, l->thp + i * PG, &pg)
								 ? &pg
								 : NULL;

				bad += !p || SPEC(p->flags) != AAM || !(p->flags & SPT_F_THP) ||
				       (is_root && p->pfn != p0->pfn + i);
			}
			CHECK(!bad, "%s: PMD-mapped THP: 512 subpages mapped, THP, contiguous pfns",
			      mode);
		} else {
			CHECK(p0 && SPEC(p0->flags) == AAM, "%s: THP region page 0 mapped", mode);
			printf("# THP region without THP flag (%s): not checked\n",
			       !p0 ? "no entry"
			       : access("/proc/kpageflags", R_OK) ? "fallback without kpageflags"
								  : "small pages");
		}
	}

	/* 32 GiB reservation with one touched page: one entry, cheap. */
	{
		size_t n = 0, nv = 0;
		struct spt_run_iter it;
		struct spt_run r;

		spt_run_iter_init(&it, st, l->reservation, l->reservation + RESERVATION);
		while (spt_run_iter_next(&it, &r))
			n += r.npages;
		for (size_t i = 0; i < st->nvmas; i++)
			nv += st->vmas[i].start >= l->reservation &&
			      st->vmas[i].end <= l->reservation + RESERVATION;
		CHECK(n == 1 && SPEC(flags_at(st, l->reservation_page)) == AAM && nv == 3,
		      "%s: 32 GiB reservation: 3 VMAs, exactly one page entry (%zu)", mode, n);
		/*
		 * Scan: proportional to populated pages. Fallback: to the size of
		 * VMAs holding pages (ASan's shadow counts here), never to the
		 * empty PROT_NONE parts of the reservation.
		 */
		CHECK(stats->entries_read < (stats->used_scan ? 200000 : RESERVATION / PG / 4),
		      "%s: pagemap entries read: %llu (not proportional to 32 GiB = 8M pages)",
		      mode, (unsigned long long)stats->entries_read);
	}
}

/*
 * Equality of two samples; when the fallback had to cut large VMAs short
 * (ASan's shadow: terabytes of NORESERVE anon with scattered pages), pages
 * of VMAs above SPT_PROCFS_ZERO_PAGE_PROBE_MAX are left out.
 */
static bool states_agree(const struct spt_state *a, const struct spt_state *b, bool small_only,
			 uint32_t ignore)
{
	struct spt_state x, y;
	const struct spt_state *in[2] = { a, b };
	struct spt_state *out[2] = { &x, &y };
	bool eq;

	if (!small_only && !ignore)
		return spt_state_equal(a, b);
	for (int k = 0; k < 2; k++) {
		size_t n;
		struct spt_page *pages = state_pages(in[k], &n);

		spt_state_init(out[k]);
		for (size_t i = 0; i < n; i++) {
			const struct spt_vma *v = spt_state_find_vma(in[k], pages[i].vaddr);
			struct spt_page pg = pages[i];

			pg.flags &= ~ignore;
			if (v && (!small_only || v->end - v->start <= SPT_PROCFS_ZERO_PAGE_PROBE_MAX))
				spt_state_append_page(out[k], &pg);
		}
		free(pages);
	}
	eq = a->nvmas == b->nvmas && spt_state_equal(&x, &y);
	for (size_t i = 0; eq && i < a->nvmas; i++)
		eq = a->vmas[i].start == b->vmas[i].start && a->vmas[i].end == b->vmas[i].end;
	spt_state_free(&x);
	spt_state_free(&y);
	return eq;
}

static int sample_stable(void *h, struct spt_state *st)
{
	spt_state_clear(st);
	return spt_backend_procfs.sample(h, st);
}

/*
 * Soft-dirty: clear_refs 4 clears it; a write through process_vm_writev
 * (a real write fault in the target) sets it again on that page only.
 */
static void test_soft_dirty(void *h, struct child *c, struct spt_state *st)
{
	char path[64], byte = 0x5a;
	struct iovec local = { .iov_base = &byte, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)(c->l.anon_write + 2 * PG),
				.iov_len = 1 };
	int fd;

	sample_stable(h, st);
	if (!(flags_at(st, c->l.anon_write) & SPT_F_SOFT_DIRTY)) {
		printf("# no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off?): not checked\n");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)c->pid);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "4", 1) != 1) {
		printf("# cannot write %s: soft-dirty not checked\n", path);
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	sample_stable(h, st);
	CHECK(!(flags_at(st, c->l.anon_write) & SPT_F_SOFT_DIRTY) &&
		      !(flags_at(st, c->l.anon_write + 2 * PG) & SPT_F_SOFT_DIRTY) &&
		      SPEC(flags_at(st, c->l.anon_write)) == AAM,
	      "soft-dirty cleared by clear_refs, pages still mapped");
	if (process_vm_writev(c->pid, &local, 1, &remote, 1, 0) != 1) {
		CHECK(0, "process_vm_writev: %s", strerror(errno));
		return;
	}
	sample_stable(h, st);
	CHECK((flags_at(st, c->l.anon_write + 2 * PG) & SPT_F_SOFT_DIRTY) &&
		      !(flags_at(st, c->l.anon_write) & SPT_F_SOFT_DIRTY),
	      "a write sets soft-dirty on that page only");
}

static void test_layout(struct child *c)
{
	struct spt_state scan, fb;
	char why[256] = "";
	void *h = NULL, *hf = NULL;
	int ret;

	spt_state_init(&scan);
	spt_state_init(&fb);
	ret = spt_backend_procfs.open(c->pid, c->pidfd, 0, SPT_USER_ADDR_MAX, &h, why, sizeof(why));
	CHECK(ret == 0, "open whole address space (%d %s)", ret, why);
	if (ret)
		return;
	ret = spt_procfs_open(c->pid, -1, 0, SPT_USER_ADDR_MAX, SPT_PAGEMAP_FORCE_FALLBACK, &hf, why,
			      sizeof(why));
	CHECK(ret == 0, "open with forced fallback and own pidfd (%d %s)", ret, why);

	ret = sample_stable(h, &scan);
	CHECK(ret == 0, "sample (%d)", ret);
	printf("# scan path: used_scan=%d scan_calls=%llu regions=%llu entries_read=%llu "
	       "vmas=%zu pages=%llu\n",
	       spt_procfs_last_stats(h)->used_scan,
	       (unsigned long long)spt_procfs_last_stats(h)->scan_calls,
	       (unsigned long long)spt_procfs_last_stats(h)->regions,
	       (unsigned long long)spt_procfs_last_stats(h)->entries_read, scan.nvmas,
	       (unsigned long long)spt_state_npages(&scan));
	check_layout(&scan, &c->l, "scan", spt_procfs_last_stats(h));

	if (hf) {
		ret = sample_stable(hf, &fb);
		CHECK(ret == 0 && !spt_procfs_last_stats(hf)->used_scan, "fallback sample (%d)",
		      ret);
		printf("# fallback: entries_read=%llu vmas_skipped=%llu vmas_truncated=%llu "
		       "pages=%llu\n",
		       (unsigned long long)spt_procfs_last_stats(hf)->entries_read,
		       (unsigned long long)spt_procfs_last_stats(hf)->vmas_skipped,
		       (unsigned long long)spt_procfs_last_stats(hf)->vmas_truncated,
		       (unsigned long long)spt_state_npages(&fb));
		check_layout(&fb, &c->l, "fallback", spt_procfs_last_stats(hf));
		/*
		 * Same target, nothing running: both paths must agree exactly
		 * (THP aside when /proc/kpageflags is unreadable: see pagemap.h).
		 */
		bool cut = spt_procfs_last_stats(hf)->vmas_truncated > 0;
		uint32_t ignore = access("/proc/kpageflags", R_OK) ? SPT_F_THP : 0;
		int shown = 0;

		for (int i = 0; i < 3 && !states_agree(&scan, &fb, cut, ignore); i++) {
			sample_stable(h, &scan);
			sample_stable(hf, &fb);
		}
		if (!states_agree(&scan, &fb, cut, ignore)) {
			size_t na, nb;
			struct spt_page *pa = state_pages(&scan, &na), *pb = state_pages(&fb, &nb);

			for (size_t i = 0, j = 0; (i < na || j < nb) && shown < 20;) {
				const struct spt_page *a = i < na ? &pa[i] : NULL;
				const struct spt_page *b = j < nb ? &pb[j] : NULL;

				if (a && b && a->vaddr == b->vaddr) {
					if ((a->flags ^ b->flags) & ~ignore || a->pfn != b->pfn)
						shown += printf("# %#llx scan %#x/%llx fallback %#x/%llx\n",
						       (unsigned long long)a->vaddr, a->flags,
						       (unsigned long long)a->pfn, b->flags,
						       (unsigned long long)b->pfn) > 0;
					i++, j++;
				} else if (a && (!b || a->vaddr < b->vaddr)) {
					shown += printf("# %#llx only in scan\n",
							(unsigned long long)a->vaddr) > 0;
					i++;
				} else {
					shown += printf("# %#llx only in fallback\n",
							(unsigned long long)b->vaddr) > 0;
					j++;
				}
			}
			free(pa);
			free(pb);
		}
		if (cut)
			printf("# fallback cut %llu huge VMAs short: comparing VMAs <= %llu MiB\n",
			       (unsigned long long)spt_procfs_last_stats(hf)->vmas_truncated,
			       SPT_PROCFS_ZERO_PAGE_PROBE_MAX >> 20);
		if (ignore)
			printf("# /proc/kpageflags unreadable: fallback has no THP flags\n");
		CHECK(states_agree(&scan, &fb, cut, ignore),
		      "PAGEMAP_SCAN path and fallback produce identical states");
	}

	/* Peek: resident page content; a non-resident page stays untouched. */
	{
		uint8_t page[4096];
		bool ok = true;

		int calls = 0;

		ret = spt_backend_procfs.peek(h, c->l.anon_write + PG, page, peek_allow, &calls);
		for (int i = 0; i < 4096; i++)
			ok &= page[i] == 0xa6;
		CHECK(ret == 0 && ok && calls == 1, "peek returns the page's bytes (%d)", ret);
		memset(page, 0, sizeof(page));
		ret = spt_backend_procfs.peek(h, c->l.anon_write + PG, page, peek_deny, &calls);
		CHECK(ret == -EPERM && calls == 2 && page[0] == 0,
		      "peek refused by authorize reads nothing (%d)", ret);
		ret = spt_backend_procfs.peek(h, c->l.anon_untouched, page, peek_allow, &calls);
		CHECK(ret == -ENXIO, "peek of a non-resident page: -ENXIO (%d)", ret);
		sample_stable(h, &scan);
		CHECK(!has_entry(&scan, c->l.anon_untouched), "peek did not fault the page in");
	}
	CHECK(!spt_backend_procfs.exec_seen(h), "no exec seen");
	test_soft_dirty(h, c, &scan);

	spt_state_free(&scan);
	spt_state_free(&fb);
	spt_backend_procfs.close(h);
	spt_backend_procfs.close(hf);
}

static void test_clip(struct child *c)
{
	struct spt_state st;
	char why[256];
	void *h;
	int ret;
	uint64_t a = c->l.anon_write + PG, b = c->l.anon_write + 3 * PG;

	spt_state_init(&st);
	ret = spt_backend_procfs.open(c->pid, c->pidfd, a, b, &h, why, sizeof(why));
	CHECK(ret == 0, "open a 2-page range (%d)", ret);
	if (ret)
		return;
	ret = sample_stable(h, &st);
	CHECK(ret == 0 && st.nvmas == 1 && st.vmas[0].start == a && st.vmas[0].end == b &&
		      spt_state_npages(&st) == 2 && has_entry(&st, a) && has_entry(&st, a + PG),
	      "clip: one VMA clipped to the range, two entries");
	spt_backend_procfs.close(h);

	/* A range straddling the written region and the untouched one before it. */
	ret = spt_backend_procfs.open(c->pid, c->pidfd, c->l.reservation_page - PG,
				      c->l.reservation_page + 2 * PG, &h, why, sizeof(why));
	CHECK(ret == 0, "open a range across three VMAs (%d)", ret);
	if (ret)
		return;
	ret = sample_stable(h, &st);
	CHECK(ret == 0 && st.nvmas == 3 && spt_state_npages(&st) == 1 &&
		      st.vmas[0].start == c->l.reservation_page - PG &&
		      st.vmas[2].end == c->l.reservation_page + 2 * PG,
	      "clip: reservation split in three, clipped at both ends, one entry");
	spt_backend_procfs.close(h);

	CHECK(spt_backend_procfs.open(c->pid, c->pidfd, 0x1000, 0x1800, &h, why, sizeof(why)) ==
		      -ERANGE,
	      "unaligned range refused: %s", why);
	spt_state_free(&st);
}

static void test_exec_and_exit(const char *tmpfile)
{
	struct child c;
	struct spt_state st;
	char why[256];
	uint8_t page[4096];
	void *h;
	int ret, tries;
	siginfo_t si;

	if (spawn(&c, tmpfile)) {
		CHECK(0, "spawn");
		return;
	}
	spt_state_init(&st);
	ret = spt_backend_procfs.open(c.pid, c.pidfd, 0, SPT_USER_ADDR_MAX, &h, why, sizeof(why));
	CHECK(ret == 0, "open for exec test (%d)", ret);
	if (ret)
		return;
	ret = sample_stable(h, &st);
	CHECK(ret == 0 && !spt_backend_procfs.exec_seen(h), "sample before exec");
	if (write(c.ctl, "x", 1) != 1)
		CHECK(0, "trigger exec");
	/* Wait for the new image: [reservation] disappears. */
	for (tries = 0; tries < 500; tries++) {
		ret = sample_stable(h, &st);
		if (ret == 0 && !spt_state_find_vma(&st, c.l.reservation_page))
			break;
		usleep(10000);
	}
	CHECK(ret == 0 && spt_backend_procfs.exec_seen(h), "exec seen by the sample after execve");
	ret = sample_stable(h, &st);
	CHECK(ret == 0 && !spt_backend_procfs.exec_seen(h), "exec reported once");

	/* Zombie: the mm is gone, the pid still exists. */
	kill(c.pid, SIGKILL);
	waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOWAIT);
	ret = sample_stable(h, &st);
	CHECK(ret == -ESRCH, "zombie target: sample -ESRCH (%d)", ret);
	ret = spt_backend_procfs.peek(h, 0x400000, page, peek_allow, NULL);
	CHECK(ret == -ESRCH || ret == -EINVAL, "zombie target: peek fails (%d)", ret);
	waitpid(c.pid, NULL, 0);
	ret = sample_stable(h, &st);
	CHECK(ret == -ESRCH, "reaped target: sample -ESRCH (%d)", ret);
	spt_backend_procfs.close(h);
	ret = spt_backend_procfs.open(c.pid, c.pidfd, 0, SPT_USER_ADDR_MAX, &h, why, sizeof(why));
	CHECK(ret == -ESRCH, "open of a gone target: -ESRCH (%s)", why);
	close(c.pidfd);
	close(c.ctl);
	spt_state_free(&st);
}

static void *thread_wait(void *arg)
{
	char c;

	while (read(*(int *)arg, &c, 1) > 0)
		;
	_exit(0);
}

/* /proc/PID/stat state letter, or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* The leader calls pthread_exit(): a zombie without mm, the thread runs on. */
static void test_leader_exited(void)
{
	int up[2], down[2], ret;
	struct spt_state st;
	uint64_t a = 0;
	char why[256];
	void *h;
	pid_t pid;

	if (pipe(up) || pipe(down))
		return;
	pid = fork();
	if (pid == 0) {
		char *p = map(PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		pthread_t t;

		close(up[0]);
		close(down[1]);
		p[0] = 1;
		a = (uintptr_t)p;
		if (pthread_create(&t, NULL, thread_wait, &down[0]) ||
		    write(up[1], &a, sizeof(a)) != sizeof(a))
			_exit(3);
		pthread_exit(NULL);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &a, sizeof(a)) != sizeof(a)) {
		CHECK(0, "leader-exit child started");
		return;
	}
	close(up[0]);
	for (int i = 0; i < 500 && proc_state(pid) != 'Z'; i++)
		usleep(10000);
	spt_state_init(&st);
	ret = spt_backend_procfs.open(pid, -1, 0, SPT_USER_ADDR_MAX, &h, why, sizeof(why));
	CHECK(ret == 0, "open a process whose leader exited (state %c): %s", proc_state(pid), why);
	if (ret)
		goto out;
	ret = sample_stable(h, &st);
	CHECK(ret == 0 && st.nvmas > 5 && SPEC(flags_at(&st, a)) == AAM &&
		      !spt_backend_procfs.exec_seen(h),
	      "leader exited, thread alive: mm read through the thread (%d, %zu VMAs)", ret,
	      st.nvmas);
	close(down[1]);
	down[1] = -1;
	waitpid(pid, NULL, 0);
	ret = sample_stable(h, &st);
	CHECK(ret == -ESRCH, "last thread gone: -ESRCH (%d)", ret);
	spt_backend_procfs.close(h);
out:
	if (down[1] >= 0) {
		close(down[1]);
		waitpid(pid, NULL, 0);
	}
	spt_state_free(&st);
}

/*
 * A big process exiting: between exit_mm() and the moment its pidfd turns
 * readable it has no address space while exit_mmap() frees it, which takes
 * a while for 1 GiB. Sampling then must say "gone", not "try again".
 */
static void test_exiting_big_process(void)
{
	const size_t size = 1ul << 30;
	unsigned int ok = 0, gone = 0, other = 0;
	int pfd[2], pidfd, ret = 0, last = 0;
	struct spt_state st;
	char why[256], c;
	void *h;
	pid_t pid;

	if (pipe(pfd))
		return;
	pid = fork();
	if (pid == 0) {
		char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		for (size_t off = 0; off < size; off += 4096)
			p[off] = 1;
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &c, 1) != 1) {
		CHECK(0, "big child did not start");
		close(pfd[0]);
		return;
	}
	close(pfd[0]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	spt_state_init(&st);
	ret = spt_backend_procfs.open(pid, pidfd, 0, SPT_USER_ADDR_MAX, &h, why, sizeof(why));
	CHECK(ret == 0, "open a 1 GiB process (%s)", ret ? why : "ok");
	if (ret == 0) {
		kill(pid, SIGKILL);
		/* Until the pidfd says so, and a few more. */
		for (int extra = 0; extra < 3;) {
			ret = sample_stable(h, &st);
			if (ret == 0)
				ok++;
			else if (ret == -ESRCH)
				gone++;
			else
				other++, last = ret;
			if (spt_pidfd_exited(pidfd))
				extra++;
		}
		printf("# exiting 1 GiB process: %u samples ok, %u gone, %u other\n", ok, gone,
		       other);
		CHECK(other == 0,
		      "every sample of an exiting process is ok or -ESRCH (%u others, last %d)",
		      other, last);
		CHECK(gone > 0, "the exit is seen as -ESRCH");
		spt_backend_procfs.close(h);
	}
	waitpid(pid, NULL, 0);
	close(pidfd);
	spt_state_free(&st);
}

/*
 * The huge zero page: 64 MiB of MADV_HUGEPAGE anon memory read one byte per
 * 2 MiB maps 32 PMDs of it. The state is a run per block (the same 512
 * frames each), read with one pagemap entry per region rather than
 * 16384, and it equals what the fallback reads page by page.
 */
static void test_huge_zero_page(void)
{
	const size_t len = 64u << 20;
	struct spt_state scan, fb;
	int up[2], down[2], ret;
	void *hs = NULL, *hf = NULL;
	uint64_t a = 0;
	char why[256], c;
	pid_t pid;

	if (pipe(up) || pipe(down))
		return;
	pid = fork();
	if (pid == 0) {
		char *raw = mmap(NULL, len + (2u << 20), PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		char *p = (char *)(((uintptr_t)raw + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
		volatile char sink = 0;

		close(up[0]);
		close(down[1]);
		madvise(p, len, MADV_HUGEPAGE);
		for (size_t off = 0; off < len; off += 2u << 20)
			sink += p[off];
		a = (uintptr_t)p;
		if (write(up[1], &a, sizeof(a)) != sizeof(a) || read(down[0], &c, 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	spt_state_init(&scan);
	spt_state_init(&fb);
	if (read(up[0], &a, sizeof(a)) != sizeof(a))
		goto out;
	ret = spt_procfs_open(pid, -1, a, a + len, SPT_PAGEMAP_AUTO, &hs, why, sizeof(why));
	if (!ret)
		ret = spt_procfs_open(pid, -1, a, a + len, SPT_PAGEMAP_FORCE_FALLBACK, &hf, why,
				      sizeof(why));
	CHECK(ret == 0, "open the huge-zero-page child: %s", why);
	if (ret)
		goto out;
	ret = sample_stable(hs, &scan);
	if (ret || spt_state_npages(&scan) != len / PG) {
		printf("# skip: no huge zero page here (THP off or use_zero_page 0): %llu pages\n",
		       (unsigned long long)spt_state_npages(&scan));
		goto out;
	}
	CHECK(spt_state_nruns(&scan) == len / (2u << 20),
	      "huge zero page: a run per 2 MiB block (%zu runs)", spt_state_nruns(&scan));
	if (spt_procfs_last_stats(hs)->used_scan)
		CHECK(spt_procfs_last_stats(hs)->entries_read < 64,
		      "huge zero page: %llu pagemap entries read, not one per page",
		      (unsigned long long)spt_procfs_last_stats(hs)->entries_read);
	ret = sample_stable(hf, &fb);
	CHECK(ret == 0 && states_agree(&scan, &fb, false, !is_root),
	      "huge zero page: the scan's runs equal the fallback's page-by-page read");
out:
	if (hs)
		spt_backend_procfs.close(hs);
	if (hf)
		spt_backend_procfs.close(hf);
	close(down[1]);
	close(up[0]);
	waitpid(pid, NULL, 0);
	spt_state_free(&scan);
	spt_state_free(&fb);
}

int main(void)
{
	char tmpfile[] = "/tmp/shadowpt-procfs-test-XXXXXX";
	char buf[4 * 4096];
	struct child c;
	int fd;

	is_root = geteuid() == 0;
	signal(SIGPIPE, SIG_IGN);
	fd = mkstemp(tmpfile);
	memset(buf, 'f', sizeof(buf));
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf)) {
		perror("tmpfile");
		return 1;
	}
	close(fd);

	if (spawn(&c, tmpfile)) {
		perror("spawn");
		unlink(tmpfile);
		return 1;
	}
	test_layout(&c);
	test_clip(&c);
	close(c.ctl); /* child exits */
	waitpid(c.pid, NULL, 0);
	close(c.pidfd);

	test_exec_and_exit(tmpfile);
	test_leader_exited();
	test_exiting_big_process();
	test_huge_zero_page();
	unlink(tmpfile);
	return spt_test_done();
}
