// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the maps parser on recorded /proc text (testdata/):
 * every VMA kind, field values, malformed lines, ordering, clipping,
 * the smaps parser of the pagemap fallback, and reads that stay within
 * SPT_PROCFS_LINE_MAX however long the file (issue 10: maps text was
 * read whole, without a limit).
 * Usage: test-procfs-maps TESTDATA_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"
#include "pagemap.h"
#include "test-common.h"

static const char *testdata;

static char *slurp(const char *name, size_t *len)
{
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", testdata, name);
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct expect_kind {
	const char *name;
	int shared; /* -1: either */
	enum spt_vma_kind kind;
};

static const struct expect_kind kinds[] = {
	{ "", -1, SPT_VMA_ANON },
	{ "[heap]", -1, SPT_VMA_ANON },
	{ "[stack]", -1, SPT_VMA_ANON },
	{ "[stack:1234]", -1, SPT_VMA_ANON },
	{ "[anon:my name]", -1, SPT_VMA_ANON },
	{ "/dev/zero", -1, SPT_VMA_ANON },
	{ "/dev/zero (deleted)", 1, SPT_VMA_SHARED_ANON },
	{ "[anon_shmem:shm name]", 1, SPT_VMA_SHARED_ANON },
	{ "/SYSV00000000 (deleted)", 1, SPT_VMA_SHARED_ANON },
	{ "/SYSV0000abcd (deleted)", 1, SPT_VMA_SHARED_ANON },
	{ "/SYSV0000abcd (deleted)", 0, SPT_VMA_FILE },
	{ "/anon_hugepage (deleted)", 1, SPT_VMA_SHARED_ANON },
	{ "/anon_hugepage (deleted)", 0, SPT_VMA_FILE },
	{ "/memfd:my memfd (deleted)", -1, SPT_VMA_FILE },
	{ "[vdso]", -1, SPT_VMA_SPECIAL },
	{ "[vvar]", -1, SPT_VMA_SPECIAL },
	{ "[vvar_vclock]", -1, SPT_VMA_SPECIAL },
	{ "[vsyscall]", -1, SPT_VMA_SPECIAL },
	{ "[uprobes]", -1, SPT_VMA_SPECIAL },
	{ "anon_inode:[perf_event]", -1, SPT_VMA_FILE },
	{ "/dev/dri/renderD128", -1, SPT_VMA_FILE },
	{ "/tmp/name]with[brackets", -1, SPT_VMA_FILE },
	{ "/tmp/[heap]", -1, SPT_VMA_FILE },
	{ "/tmp/trailing space ", -1, SPT_VMA_FILE },
	{ "/tmp/gen/deleted.bin (deleted)", -1, SPT_VMA_FILE },
	{ "/tmp/gen/file with spaces.bin", -1, SPT_VMA_FILE },
};

static int expected_kind(const struct spt_vma *v)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, v->name) &&
		    (kinds[i].shared < 0 || kinds[i].shared == v->shared))
			return (int)kinds[i].kind;
	return strncmp(v->name, "/usr/", 5) && strncmp(v->name, "/tmp/", 5) ? -1 : SPT_VMA_FILE;
}

static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n;
}

static void test_kinds(void)
{
	size_t len;
	char *buf = slurp("maps-kinds.txt", &len);
	struct spt_state st;
	bool seen[5] = { false };
	int bad = 0, ret;

	spt_state_init(&st);
	ret = spt_maps_parse(buf, len, 0, UINT64_MAX, &st);
	CHECK(ret == 0, "maps-kinds.txt parses (%d)", ret);
	CHECK(st.nvmas == count_lines(buf, len), "one VMA per line (%zu)", st.nvmas);
	for (size_t i = 0; i < st.nvmas; i++) {
		const struct spt_vma *v = &st.vmas[i];
		int want = expected_kind(v);

		if (want != (int)v->kind) {
			bad++;
			printf("# %s (%s): kind %d, expected %d\n", v->name,
			       v->shared ? "shared" : "private", v->kind, want);
		}
		seen[v->kind] = true;
		if (v->kind == SPT_VMA_ANON)
			bad += spt_vma_flags(v) != (SPT_F_ALLOCATED | SPT_F_ANONYMOUS);
		else
			bad += spt_vma_flags(v) != SPT_F_ALLOCATED;
	}
	CHECK(!bad, "every VMA classified as the kernel's vma_is_anonymous() would");
	CHECK(seen[SPT_VMA_ANON] && seen[SPT_VMA_SHARED_ANON] && seen[SPT_VMA_FILE] &&
		      seen[SPT_VMA_SPECIAL],
	      "fixture covers all four kinds");

	/* Field values of a few lines. */
	{
		const struct spt_vma *v = spt_state_find_vma(&st, 0x600000401000ull);

		CHECK(v && v->offset == 0x100000000ull && v->shared &&
			      v->prot == (PROT_READ | PROT_WRITE) && v->end == 0x600000402000ull,
		      "9-digit offset, rw-s parsed");
		v = spt_state_find_vma(&st, 0x600000406000ull);
		CHECK(v && !strcmp(v->name, "/tmp/trailing space "), "trailing space kept in name");
		v = spt_state_find_vma(&st, 0x600000408000ull);
		CHECK(v && strlen(v->name) == 5005, "5005-byte name parsed whole");
		v = spt_state_find_vma(&st, 0x600000407000ull);
		CHECK(v && !strcmp(v->name, "") && v->kind == SPT_VMA_ANON,
		      "line without trailing space after inode");
		v = spt_state_find_vma(&st, 0xffffffffff600000ull);
		CHECK(v && v->prot == PROT_EXEC && v->kind == SPT_VMA_SPECIAL, "[vsyscall] --xp");
	}
	spt_state_free(&st);

	/* The user range excludes [vsyscall]. */
	spt_state_init(&st);
	ret = spt_maps_parse(buf, len, 0, SPT_USER_ADDR_MAX, &st);
	CHECK(ret == 0 && st.nvmas == count_lines(buf, len) - 1 &&
		      strcmp(st.vmas[st.nvmas - 1].name, "[vsyscall]"),
	      "[vsyscall] ignored outside the range");
	spt_state_free(&st);
	free(buf);
}

static void test_malformed(void)
{
	size_t len;
	char *buf = slurp("maps-malformed.txt", &len);
	const char *p = buf, *e = buf + len;
	int n = 0, rejected = 0;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
		struct spt_maps_line ml;
		struct spt_state st;

		n++;
		if (spt_maps_parse_line(p, l, &ml) == -EINVAL)
			rejected++;
		else
			printf("# accepted malformed line %d: %.*s\n", n, (int)l, p);
		/* The whole-buffer parser rejects it too. */
		spt_state_init(&st);
		if (spt_maps_parse(p, l + (nl ? 1 : 0), 0, UINT64_MAX, &st) != -EINVAL) {
			rejected--;
			printf("# spt_maps_parse accepted line %d\n", n);
		}
		spt_state_free(&st);
		p += l + (nl ? 1 : 0);
	}
	CHECK(n > 20 && rejected == n, "all %d malformed lines rejected with -EINVAL", n);
	free(buf);

	{
		static const char nul[] = "1000-2000 r--p 00000000 00:00 0   [he\0ap]";
		struct spt_maps_line ml;

		CHECK(spt_maps_parse_line(nul, sizeof(nul) - 1, &ml) == -EINVAL,
		      "NUL byte in a name rejected");
	}
}

static void test_order_and_clip(void)
{
	static const char unordered[] = "2000-3000 r--p 00000000 00:00 0\n"
					"1000-2000 r--p 00000000 00:00 0\n";
	static const char overlap[] = "1000-3000 r--p 00000000 00:00 0\n"
				      "2000-4000 r--p 00000000 00:00 0\n";
	static const char text[] = "1000-5000 r--p 00002000 fe:00 7   /lib/x.so\n"
				   "5000-6000 rw-p 00000000 00:00 0 \n"
				   "8000-a000 rw-p 00000000 00:00 0   [heap]";
	struct spt_state st;
	int ret;

	spt_state_init(&st);
	CHECK(spt_maps_parse(unordered, sizeof(unordered) - 1, 0, UINT64_MAX, &st) == -EINVAL,
	      "out-of-order lines rejected");
	spt_state_clear(&st);
	CHECK(spt_maps_parse(overlap, sizeof(overlap) - 1, 0, UINT64_MAX, &st) == -EINVAL,
	      "overlapping lines rejected");
	spt_state_clear(&st);

	ret = spt_maps_parse(text, sizeof(text) - 1, 0x3000, 0x9000, &st);
	CHECK(ret == 0 && st.nvmas == 3, "clip: three VMAs overlap [0x3000,0x9000)");
	CHECK(st.nvmas == 3 && st.vmas[0].start == 0x3000 && st.vmas[0].end == 0x5000 &&
		      st.vmas[0].offset == 0x4000 && !strcmp(st.vmas[0].name, "/lib/x.so"),
	      "clip: file VMA start clipped, offset moved along");
	CHECK(st.nvmas == 3 && st.vmas[2].start == 0x8000 && st.vmas[2].end == 0x9000 &&
		      st.vmas[2].kind == SPT_VMA_ANON,
	      "clip: [heap] end clipped, last line without newline");
	spt_state_clear(&st);

	ret = spt_maps_parse(text, sizeof(text) - 1, 0x6000, 0x8000, &st);
	CHECK(ret == 0 && st.nvmas == 0, "clip: range in a hole has no VMAs");
	spt_state_clear(&st);
	ret = spt_maps_parse(text, sizeof(text) - 1, 0x5000, 0x6000, &st);
	CHECK(ret == 0 && st.nvmas == 1 && st.vmas[0].start == 0x5000 &&
		      st.vmas[0].end == 0x6000,
	      "clip: range equal to one VMA");
	spt_state_clear(&st);
	CHECK(spt_maps_parse("", 0, 0, UINT64_MAX, &st) == 0 && st.nvmas == 0,
	      "empty text (kernel thread, zombie) parses to nothing");
	spt_state_free(&st);
}

static void test_smaps(void)
{
	size_t len;
	char *buf = slurp("smaps-sample.txt", &len);
	struct spt_pagemap pm;
	struct spt_maps_line heap = { 0 }, vvar = { 0 };
	int ret, ok_heap = 0, ok_vvar = 0, ok_res = 0;
	size_t headers = 0;

	/* Where [heap] and [vvar] are, from their header lines. */
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		const char *nl = strchr(p, '\n');
		struct spt_maps_line l;

		if (spt_maps_parse_line(p, nl ? (size_t)(nl - p) : strlen(p), &l))
			continue;
		headers++;
		if (l.name_len == 6 && !memcmp(l.name, "[heap]", 6))
			heap = l;
		if (l.name_len == 6 && !memcmp(l.name, "[vvar]", 6))
			vvar = l;
	}
	spt_pagemap_init(&pm, SPT_PAGEMAP_FORCE_FALLBACK);
	ret = spt_pagemap_parse_smaps(&pm, buf, len);
	CHECK(ret == 0 && pm.nsvmas == headers && headers > 20,
	      "smaps sample parses (%d, %zu VMAs)", ret, pm.nsvmas);
	for (size_t i = 0; i < pm.nsvmas; i++) {
		const struct spt_smaps_vma *s = &pm.svmas[i];

		if (s->start == heap.start)
			ok_heap = s->rss_kb > 0 && !s->pfnmap;
		if (s->start == vvar.start)
			ok_vvar = s->rss_kb == 0 && s->pfnmap;
		if (s->end - s->start == 1ull << 35)
			ok_res = s->rss_kb == 0 && s->swap_kb == 0 && !s->pfnmap;
	}
	CHECK(ok_heap, "smaps: [heap] has Rss");
	CHECK(ok_vvar, "smaps: [vvar] has no Rss but VmFlags pf");
	CHECK(ok_res, "smaps: 32 GiB reservation has no Rss, no Swap");
	CHECK(spt_pagemap_parse_smaps(&pm, "1000-2000 r--p 0 00:00 0\nRss: x kB\n", 37) ==
		      -EINVAL,
	      "smaps: bad Rss value rejected");
	spt_pagemap_free(&pm);
	free(buf);
}

static int count_line(void *ctx, const char *text, size_t len)
{
	(*(size_t *)ctx)++;
	return 0;
}

/* A directory holding one file "maps" with nlines lines of name_len-byte names. */
static int make_maps_dir(char *dir, size_t nlines, size_t name_len, bool last_newline)
{
	char path[4200], *name = malloc(name_len + 1);
	FILE *f;
	int dfd;

	snprintf(dir, 64, "/tmp/spt-maps-XXXXXX");
	if (!name || !mkdtemp(dir))
		exit(2);
	memset(name, 'n', name_len);
	name[0] = '/';
	name[name_len] = '\0';
	snprintf(path, sizeof(path), "%s/maps", dir);
	f = fopen(path, "w");
	if (!f)
		exit(2);
	for (size_t i = 0; i < nlines; i++)
		fprintf(f, "%llx-%llx r--p 00000000 08:01 1234 %s%s",
			(unsigned long long)(0x10000 + i * 0x2000),
			(unsigned long long)(0x11000 + i * 0x2000), name,
			i + 1 < nlines || last_newline ? "\n" : "");
	fclose(f);
	free(name);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		exit(2);
	return dfd;
}

static void remove_maps_dir(const char *dir, int dfd)
{
	char path[128];

	close(dfd);
	snprintf(path, sizeof(path), "%s/maps", dir);
	unlink(path);
	rmdir(dir);
}

static void test_bounded_reads(void)
{
	struct spt_procfs_buf b = {0};
	struct spt_state st;
	char dir[64];
	size_t lines = 0;
	int dfd, ret;

	/* 32 MiB of maps text goes through a buffer of SPT_PROCFS_LINE_MAX. */
	dfd = make_maps_dir(dir, 120000, 240, true);
	ret = spt_procfs_read_lines(dfd, "maps", &b, count_line, &lines);
	CHECK(ret == 0 && lines == 120000, "a 30 MB maps text reads line by line (%d, %zu lines)",
	      ret, lines);
	CHECK(b.cap <= SPT_PROCFS_LINE_MAX, "its buffer stays at %zu bytes (limit %u)", b.cap,
	      SPT_PROCFS_LINE_MAX);
	spt_state_init(&st);
	spt_state_set_limits(&st, 0, 1000);
	ret = spt_maps_read(dfd, 0, SPT_USER_ADDR_MAX, &b, &st, &lines);
	CHECK(ret == -E2BIG && st.nvmas == 1000,
	      "a state capped at 1000 VMAs stops there with -E2BIG (%d, %zu)", ret, st.nvmas);
	spt_state_free(&st);
	remove_maps_dir(dir, dfd);

	/* The same VMAs as spt_maps_parse of the whole text, the last line without '\n'. */
	dfd = make_maps_dir(dir, 50, 30, false);
	spt_state_init(&st);
	ret = spt_maps_read(dfd, 0x20000, 0x40000, &b, &st, &lines);
	CHECK(ret == 0 && lines == 50 && st.nvmas == 16 && st.vmas[0].start == 0x20000 &&
		  !strcmp(st.vmas[15].name, st.vmas[0].name),
	      "read line by line, clipped: %d, %zu lines, %zu VMAs", ret, lines, st.nvmas);
	spt_state_free(&st);
	remove_maps_dir(dir, dfd);

	/* One line longer than the buffer is refused, not grown for. */
	dfd = make_maps_dir(dir, 2, SPT_PROCFS_LINE_MAX + 100, true);
	spt_state_init(&st);
	ret = spt_maps_read(dfd, 0, SPT_USER_ADDR_MAX, &b, &st, &lines);
	CHECK(ret == -E2BIG, "a line of more than %u bytes: -E2BIG (%d)", SPT_PROCFS_LINE_MAX,
	      ret);
	spt_state_free(&st);
	remove_maps_dir(dir, dfd);
	CHECK(spt_procfs_read_lines(AT_FDCWD, "/nonexistent/maps", &b, count_line, &lines) ==
		  -ESRCH,
	      "a file that is gone reads as -ESRCH");
	spt_procfs_buf_free(&b);
}

int main(int argc, char **argv)
{
	testdata = argc > 1 ? argv[1] : "testdata";
	test_kinds();
	test_malformed();
	test_order_and_clip();
	test_smaps();
	test_bounded_reads();
	return spt_test_done();
}
