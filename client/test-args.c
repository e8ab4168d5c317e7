/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of command-line value parsing (args.c). */
#include <errno.h>
#include <string.h>

#include "args.h"
#include "shadowpt.pb-c.h"
#include "test-common.h"

static void test_u64(void)
{
	uint64_t v;

	CHECK(sctl_parse_u64("0", &v) == 0 && v == 0, "0");
	CHECK(sctl_parse_u64("4096", &v) == 0 && v == 4096, "decimal");
	CHECK(sctl_parse_u64("0x1000", &v) == 0 && v == 4096, "hex");
	CHECK(sctl_parse_u64("0XfFfF", &v) == 0 && v == 0xffff, "hex mixed case");
	CHECK(sctl_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX, "u64 max");
	CHECK(sctl_parse_u64("18446744073709551616", &v) == -ERANGE, "u64 overflow");
	CHECK(sctl_parse_u64("0x10000000000000000", &v) == -ERANGE, "hex overflow");
	CHECK(sctl_parse_u64("", &v) == -EINVAL, "empty");
	CHECK(sctl_parse_u64("0x", &v) == -EINVAL, "bare 0x");
	CHECK(sctl_parse_u64("-1", &v) == -EINVAL, "negative");
	CHECK(sctl_parse_u64("+1", &v) == -EINVAL, "plus sign");
	CHECK(sctl_parse_u64(" 1", &v) == -EINVAL, "leading space");
	CHECK(sctl_parse_u64("12a", &v) == -EINVAL, "trailing junk");
	CHECK(sctl_parse_u64("0x12g", &v) == -EINVAL, "bad hex digit");
}

static void test_range(void)
{
	struct spt_range r;
	const char *why = NULL;

	CHECK(sctl_parse_range("0x1000:0x3000", &r, &why) == 0 && r.start == 0x1000 &&
		  r.end == 0x3000,
	      "hex range");
	CHECK(sctl_parse_range("4096:8192", &r, &why) == 0 && r.start == 4096 && r.end == 8192,
	      "decimal range");
	CHECK(sctl_parse_range("0x0:0x800000000000", &r, &why) == 0, "whole user space");
	CHECK(sctl_parse_range("0x1000:0x800000001000", &r, &why) == -ERANGE, "end too high");
	CHECK(sctl_parse_range("0x1001:0x3000", &r, &why) == -EINVAL && strstr(why, "aligned"),
	      "unaligned start: %s", why);
	CHECK(sctl_parse_range("0x1000:0x3001", &r, &why) == -EINVAL, "unaligned end");
	CHECK(sctl_parse_range("0x3000:0x1000", &r, &why) == -EINVAL && strstr(why, "below"),
	      "start > end: %s", why);
	CHECK(sctl_parse_range("0x1000:0x1000", &r, &why) == -EINVAL, "empty range");
	CHECK(sctl_parse_range("0x1000", &r, &why) == -EINVAL, "no colon");
	CHECK(sctl_parse_range("0x1000:0x2000:0x3000", &r, &why) == -EINVAL, "two colons");
	CHECK(sctl_parse_range(":0x2000", &r, &why) == -EINVAL, "missing start");
	CHECK(sctl_parse_range("0x1000:", &r, &why) == -EINVAL, "missing end");
	CHECK(sctl_parse_range("x:y", &r, &why) == -EINVAL, "junk");
	CHECK(sctl_parse_range("000000000000000000000000000000000000000001:2", &r, &why) == -EINVAL,
	      "overlong start");
}

static void test_pid_addr(void)
{
	const char *why;
	int32_t pid;
	uint64_t a;

	CHECK(sctl_parse_pid("1", &pid, &why) == 0 && pid == 1, "pid 1");
	CHECK(sctl_parse_pid("4194304", &pid, &why) == 0 && pid == 4194304, "pid_max");
	CHECK(sctl_parse_pid("0", &pid, &why) < 0, "pid 0");
	CHECK(sctl_parse_pid("-5", &pid, &why) < 0, "negative pid");
	CHECK(sctl_parse_pid("2147483648", &pid, &why) < 0, "pid over INT32_MAX");
	CHECK(sctl_parse_pid("0x10", &pid, &why) < 0, "hex pid refused");
	CHECK(sctl_parse_pid("12abc", &pid, &why) < 0, "junk pid");
	CHECK(sctl_parse_addr("0x7ffffffff000", &a, &why) == 0, "top page");
	CHECK(sctl_parse_addr("0x800000000000", &a, &why) == -ERANGE, "kernel address");
	CHECK(sctl_parse_addr("140737488351232", &a, &why) == 0 && a == 0x7ffffffff000,
	      "decimal address");
}

static void test_interval_backend_count(void)
{
	const char *why;
	uint32_t lo, hi;
	int b;
	uint64_t n;

	CHECK(sctl_parse_interval("20", &lo, &hi, &why) == 0 && lo == 20 && hi == 0, "min only");
	CHECK(sctl_parse_interval("20:500", &lo, &hi, &why) == 0 && lo == 20 && hi == 500,
	      "min:max");
	CHECK(sctl_parse_interval("4", &lo, &hi, &why) == -ERANGE, "below floor");
	CHECK(sctl_parse_interval("20:10001", &lo, &hi, &why) == -ERANGE, "above ceiling");
	CHECK(sctl_parse_interval("500:20", &lo, &hi, &why) == -EINVAL, "min > max");
	CHECK(sctl_parse_interval("a:b", &lo, &hi, &why) == -EINVAL, "junk");
	CHECK(sctl_parse_backend("auto", &b, &why) == 0 && b == SHADOWPT__BACKEND__BACKEND_AUTO,
	      "auto");
	CHECK(sctl_parse_backend("kernel", &b, &why) == 0 && b == SHADOWPT__BACKEND__BACKEND_KERNEL,
	      "kernel");
	CHECK(sctl_parse_backend("procfs", &b, &why) == 0 && b == SHADOWPT__BACKEND__BACKEND_PROCFS,
	      "procfs");
	CHECK(sctl_parse_backend("proc", &b, &why) == -EINVAL, "unknown backend");
	CHECK(sctl_parse_count("3", &n, &why) == 0 && n == 3, "count");
	CHECK(sctl_parse_count("0", &n, &why) < 0, "zero count");
}

static void test_socket_path(void)
{
	CHECK(!strcmp(sctl_socket_path(NULL, NULL), "/run/shadowptd/shadowptd.sock"), "default");
	CHECK(!strcmp(sctl_socket_path(NULL, ""), "/run/shadowptd/shadowptd.sock"),
	      "empty env ignored");
	CHECK(!strcmp(sctl_socket_path(NULL, "/env.sock"), "/env.sock"), "env beats default");
	CHECK(!strcmp(sctl_socket_path("/opt.sock", "/env.sock"), "/opt.sock"), "option beats env");
}

static void test_duration_speed_seek(void)
{
	const char *why;
	uint64_t ns;
	double sp;
	int64_t to;

	CHECK(sctl_parse_decimal("2.5", 1000, &ns) == 0 && ns == 2500, "2.5 s in ms");
	CHECK(sctl_parse_decimal(".25", 1000, &ns) == 0 && ns == 250, ".25");
	CHECK(sctl_parse_decimal("3.", 1000, &ns) == 0 && ns == 3000, "3.");
	CHECK(sctl_parse_decimal("1.23456789", 1000, &ns) == 0 && ns == 1234, "extra digits");
	CHECK(sctl_parse_decimal(".", 1000, &ns) == -EINVAL, "a lone dot");
	CHECK(sctl_parse_decimal("1e3", 1000, &ns) == -EINVAL, "no exponents");
	CHECK(sctl_parse_decimal("-1", 1000, &ns) == -EINVAL, "no sign");
	CHECK(sctl_parse_decimal("99999999999999999999", 1, &ns) == -ERANGE, "overflow");
	CHECK(sctl_parse_duration("10", &ns, &why) == 0 && ns == 10000000000ull, "10 s");
	CHECK(sctl_parse_duration("0", &ns, &why) < 0, "0 s refused");
	CHECK(sctl_parse_duration("700000", &ns, &why) == -ERANGE, "over a week refused");
	CHECK(sctl_parse_duration("ten", &ns, &why) == -EINVAL, "words refused");
	CHECK(sctl_parse_speed("4", &sp, &why) == 0 && sp == 4, "speed 4");
	CHECK(sctl_parse_speed("0.5", &sp, &why) == 0 && sp == 0.5, "speed 0.5");
	CHECK(sctl_parse_speed("max", &sp, &why) == 0 && sp == 0, "speed max");
	CHECK(sctl_parse_speed("0", &sp, &why) < 0, "speed 0 refused");
	CHECK(sctl_parse_speed("2000", &sp, &why) < 0, "speed 2000 refused");
	CHECK(sctl_parse_speed("0.001", &sp, &why) < 0, "speed 1/1000 refused");
	CHECK(sctl_parse_seek("12.5", 0, &to) == 0 && to == 12500000000ll, "seek absolute");
	CHECK(sctl_parse_seek("+2", 1000000000ll, &to) == 0 && to == 3000000000ll, "seek +2");
	CHECK(sctl_parse_seek("-5", 1000000000ll, &to) == 0 && to == 0, "seek before 0 -> 0");
	CHECK(sctl_parse_seek("x", 0, &to) < 0, "seek junk");
}

int main(void)
{
	test_duration_speed_seek();
	test_u64();
	test_range();
	test_pid_addr();
	test_interval_backend_count();
	test_socket_path();
	return spt_test_done();
}
