/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the JSON renderer: string escaping and event shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "render-json.h"
#include "test-common.h"

static char *escape(const char *s, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	sctl_json_string_n(f, s, n);
	fclose(f);
	return out;
}

#define CHECK_ESC(in, expect)                                                                      \
	do {                                                                                       \
		char *got = escape(in, sizeof(in) - 1);                                            \
		CHECK(!strcmp(got, expect), "escape %s -> %s (got %s)", #in, expect, got);         \
		free(got);                                                                         \
	} while (0)

static void test_escaping(void)
{
	CHECK_ESC("", "\"\"");
	CHECK_ESC("[heap]", "\"[heap]\"");
	CHECK_ESC("a\"b", "\"a\\\"b\"");
	CHECK_ESC("a\\b", "\"a\\\\b\"");
	CHECK_ESC("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
	CHECK_ESC("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	CHECK_ESC("/usr/lib/x (deleted)", "\"/usr/lib/x (deleted)\"");
	/* valid UTF-8 passes through: é, €, U+1F600 */
	CHECK_ESC("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* invalid: lone continuation, truncated sequences, overlongs, surrogates */
	CHECK_ESC("\x80", "\"\\ufffd\"");
	CHECK_ESC("a\xc3", "\"a\\ufffd\"");
	CHECK_ESC("\xe2\x82", "\"\\ufffd\\ufffd\"");
	CHECK_ESC("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	CHECK_ESC("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_ESC("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	CHECK_ESC("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	CHECK_ESC("\xff\xfe", "\"\\ufffd\\ufffd\"");
	CHECK_ESC("ok\xffok", "\"ok\\ufffdok\"");
	/* embedded NUL with an explicit length */
	CHECK_ESC("a\0b", "\"a\\u0000b\"");
}

/* Applies d to a table at seq 6 holding one VMA [0x1000, 0x2000), renders it. */
static char *render_delta(const Shadowpt__WatchStarted *ws, const Shadowpt__Delta *d)
{
	struct spt_vma v = {.start = 0x1000, .end = 0x2000, .kind = SPT_VMA_ANON, .name = ""};
	struct sctl_table t;
	const char *why = "";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int r;

	sctl_table_init(&t);
	t.valid = true;
	t.seq = 6;
	spt_state_append_vma(&t.st, &v);
	r = sctl_table_delta(&t, d, 0, &why);
	if (r == SCTL_TABLE_COMPLETE)
		sctl_json_delta(f, ws, &t);
	else
		fprintf(f, "table: %d %s", r, why);
	fclose(f);
	sctl_table_free(&t);
	return out;
}

static void test_delta_event(void)
{
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	Shadowpt__Delta d = SHADOWPT__DELTA__INIT;
	Shadowpt__Range rm = SHADOWPT__RANGE__INIT;
	Shadowpt__Vma add = SHADOWPT__VMA__INIT;
	Shadowpt__Page p1 = SHADOWPT__PAGE__INIT, p2 = SHADOWPT__PAGE__INIT;
	Shadowpt__Range *rms[] = {&rm};
	Shadowpt__Vma *adds[] = {&add};
	Shadowpt__Page *pages[] = {&p1, &p2};
	char *s;

	ws.pid = 42;
	ws.has_pfn_visibility = 1;
	ws.pfn_visibility = SHADOWPT__PFN_VISIBILITY__PFN_RAW;
	d.seq = 7;
	d.base_seq = 6;
	d.has_base_seq = 1;
	rm.has_start = rm.has_end = 1;
	rm.start = 0x1000;
	rm.end = 0x2000;
	add.has_start = add.has_end = add.has_kind = 1;
	add.start = 0x10000;
	add.end = 0x12000;
	add.prot = 3;
	add.kind = SHADOWPT__VMA_KIND__VMA_ANON;
	add.name = (char *)"[anon:\"q\"]";
	p1.has_vaddr = p2.has_vaddr = p1.has_pfn = 1;
	p1.vaddr = 0x10000;
	p1.flags = 7;
	p1.pfn = 1234;
	p2.vaddr = 0x11000;
	p2.flags = 0;
	d.n_vmas_removed = 1;
	d.vmas_removed = rms;
	d.n_vmas_added = 1;
	d.vmas_added = adds;
	d.n_pages = 2;
	d.pages = pages;
	s = render_delta(&ws, &d);
	CHECK(!strcmp(s, "{\"event\":\"delta\",\"pid\":42,\"seq\":7,\"base_seq\":6,"
			 "\"timestamp_ns\":0,\"exec\":false,\"chunks\":1,\"cause\":null,"
			 "\"cause_vaddr\":null,\"event_time_ns\":null,\"cause_tid\":null,"
			 "\"events\":null,\"received_ns\":null,"
			 "\"vmas_removed\":[{\"start\":\"0x1000\",\"end\":\"0x2000\"}],"
			 "\"vmas_added\":[{\"start\":\"0x10000\",\"end\":\"0x12000\","
			 "\"perms\":\"rw-p\",\"kind\":\"anon\",\"name\":\"[anon:\\\"q\\\"]\","
			 "\"offset\":\"0x0\"}],\"page_count\":2,"
			 "\"pages\":[{\"vaddr\":\"0x10000\",\"flags\":[\"allocated\","
			 "\"anonymous\",\"mapped\"],\"pfn\":1234,\"count\":1,\"pfn_stride\":0,"
			 "\"cause\":null},{\"vaddr\":\"0x11000\",\"flags\":[],\"pfn\":null,"
			 "\"count\":1,\"pfn_stride\":0,\"cause\":null}]}\n"),
	      "delta event: %s", s);
	free(s);

	ws.pfn_visibility = SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
	s = render_delta(&ws, &d);
	CHECK(strstr(s, "\"mapped\"],\"pfn\":null,\"count\":1,\"pfn_stride\":0,") != NULL,
	      "hidden pfn is null");
	free(s);
}

/* Protocol 2: a chunked delta of runs is one event, its runs compact. */
static void test_delta_runs(void)
{
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	Shadowpt__Delta d = SHADOWPT__DELTA__INIT;
	Shadowpt__PageRun r1 = SHADOWPT__PAGE_RUN__INIT, r2 = SHADOWPT__PAGE_RUN__INIT;
	Shadowpt__PageRun *runs[] = {&r1, &r2};
	char *s;

	ws.pid = 42;
	ws.has_pfn_visibility = 1;
	ws.pfn_visibility = SHADOWPT__PFN_VISIBILITY__PFN_RAW;
	d.seq = 7, d.base_seq = 6, d.has_base_seq = 1;
	d.has_chunk = d.has_last_chunk = 1;
	d.chunk = 0, d.last_chunk = 1;
	r1.has_vaddr = r1.has_flags = r1.has_count = r1.has_pfn = r1.has_pfn_stride = 1;
	r1.vaddr = 0x200000, r1.flags = 7 | SPT_F_THP, r1.count = 512, r1.pfn = 512 * 9;
	r1.pfn_stride = 1;
	r2.has_vaddr = r2.has_count = 1;
	r2.vaddr = 0x400000, r2.count = 3; /* removal */
	r2.has_cause = 1, r2.cause = SHADOWPT__CAUSE__CAUSE_MUNMAP; /* its own cause */
	d.has_cause = 1, d.cause = SHADOWPT__CAUSE__CAUSE_WRITE_FAULT;
	d.n_runs = 2, d.runs = runs;
	s = render_delta(&ws, &d);
	CHECK(strstr(s, "\"page_count\":515,\"pages\":[{\"vaddr\":\"0x200000\",\"flags\":"
			"[\"allocated\",\"anonymous\",\"mapped\",\"thp\"],\"pfn\":4608,"
			"\"count\":512,\"pfn_stride\":1,\"cause\":\"write-fault\"},{\"vaddr\":"
			"\"0x400000\",\"flags\":[],\"pfn\":null,\"count\":3,\"pfn_stride\":0,"
			"\"cause\":\"munmap\"}]}") != NULL,
	      "runs: %s", s);
	CHECK(strstr(s, "\"cause\":\"write-fault\",\"cause_vaddr\":null,") != NULL,
	      "the delta's cause");
	free(s);
}

static void test_printable(void)
{
	char out[16];

	sctl_printable(out, sizeof(out), "a\tb\x1b[2J");
	CHECK(!strcmp(out, "a?b?[2J"), "control characters replaced: %s", out);
	sctl_printable(out, sizeof(out), "\xc3\xa9\xff");
	CHECK(!strcmp(out, "\xc3\xa9?"), "valid UTF-8 kept, invalid byte replaced");
	sctl_printable(out, 4, "ab\xc3\xa9");
	CHECK(!strcmp(out, "ab"), "truncation keeps whole characters: %s", out);
	sctl_printable(out, sizeof(out), NULL);
	CHECK(!strcmp(out, ""), "NULL is empty");
}

int main(void)
{
	test_printable();
	test_escaping();
	test_delta_event();
	test_delta_runs();
	return spt_test_done();
}
