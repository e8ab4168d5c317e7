/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names and short strings for protocol values; see format.h. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <wchar.h>

#include "format.h"

const char *sctl_visibility_name(int visibility)
{
	switch (visibility) {
	case SHADOWPT__PFN_VISIBILITY__PFN_RAW:
		return "raw";
	case SHADOWPT__PFN_VISIBILITY__PFN_TOKEN:
		return "token";
	case SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN:
		return "hidden";
	default:
		return "unknown";
	}
}

const char *sctl_kind_name(int kind)
{
	switch (kind) {
	case SPT_VMA_ANON:
	case SPT_VMA_SHARED_ANON:
	case SPT_VMA_FILE:
	case SPT_VMA_SPECIAL:
		return spt_vma_kind_name((enum spt_vma_kind)kind);
	default:
		return "unknown";
	}
}

const char *sctl_mode_name(int mode)
{
	switch (mode) {
	case SHADOWPT__WATCH_MODE__WATCH_MODE_EVENTS:
		return "events";
	case SHADOWPT__WATCH_MODE__WATCH_MODE_POLLING:
		return "polling";
	default:
		return NULL;
	}
}

const char *sctl_watch_state_name(int state)
{
	switch (state) {
	case SHADOWPT__WATCH_STATE__WATCH_STATE_LIVE:
		return "live";
	case SHADOWPT__WATCH_STATE__WATCH_STATE_STALLED:
		return "stalled";
	case SHADOWPT__WATCH_STATE__WATCH_STATE_FAILING:
		return "failing";
	default:
		return NULL;
	}
}

void sctl_perms(char out[5], uint32_t prot, bool shared)
{
	out[0] = (prot & PROT_READ) ? 'r' : '-';
	out[1] = (prot & PROT_WRITE) ? 'w' : '-';
	out[2] = (prot & PROT_EXEC) ? 'x' : '-';
	out[3] = shared ? 's' : 'p';
	out[4] = '\0';
}

const char *sctl_flag_bit_name(uint32_t bit)
{
	if (!(bit & SPT_F_KNOWN_MASK))
		return NULL;
	return spt_flag_name(bit);
}

void sctl_flags_str(char *out, size_t size, uint32_t flags)
{
	size_t len = 0;
	uint32_t bit;

	if (!size)
		return;
	out[0] = '\0';
	if (!flags) {
		snprintf(out, size, "-");
		return;
	}
	for (bit = 1; bit; bit <<= 1) {
		const char *name;
		char hex[16];
		int n;

		if (!(flags & bit))
			continue;
		name = sctl_flag_bit_name(bit);
		if (!name) {
			snprintf(hex, sizeof(hex), "0x%x", bit);
			name = hex;
		}
		n = snprintf(out + len, size - len, "%s%s", len ? "," : "", name);
		if (n < 0 || (size_t)n >= size - len)
			return; /* truncated */
		len += (size_t)n;
	}
}

bool sctl_pfn_shown(int visibility, uint32_t flags)
{
	return (flags & SPT_F_MAPPED) && visibility != SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
}

size_t sctl_utf8_valid_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0; /* continuation byte, overlong lead, or > U+10FFFF */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return len;
}

void sctl_printable(char *out, size_t size, const char *in)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t n = strlen((const char *)s), i = 0, o = 0;

	if (!size)
		return;
	while (i < n && o + 1 < size) {
		size_t len = s[i] < 0x20 || s[i] == 0x7f ? 0 : sctl_utf8_valid_len(s + i, n - i);

		if (!len) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= size)
			break;
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
}

size_t sctl_name_unit(const unsigned char *s, size_t n, bool *escape)
{
	size_t len = sctl_utf8_valid_len(s, n);
	bool c1 = len == 2 && s[0] == 0xc2 && s[1] < 0xa0;

	*escape = !len || c1 || s[0] < 0x20 || s[0] == 0x7f || s[0] == '\\';
	return *escape ? 1 : len;
}

/* Terminal columns of one valid UTF-8 character (wide ones take two). */
static size_t unit_width(const unsigned char *s, size_t len)
{
	wchar_t wc;
	mbstate_t ps;
	int w;

	if (len == 1)
		return 1;
	memset(&ps, 0, sizeof(ps));
	if (mbrtowc(&wc, (const char *)s, len, &ps) != len)
		return 1;
	w = wcwidth(wc);
	return w < 0 ? 1 : (size_t)w;
}

size_t sctl_name_escape(char *out, size_t size, const char *str, size_t width)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s), i = 0, o = 0, cols = 0;

	if (!size)
		return 0;
	while (i < n) {
		bool esc;
		size_t len = sctl_name_unit(s + i, n - i, &esc), bytes = esc ? 4 : len;
		size_t w = esc ? 4 : unit_width(s + i, len);

		if (o + bytes >= size || (width && cols + w > width))
			break;
		if (esc)
			snprintf(out + o, size - o, "\\x%02x", s[i]);
		else
			memcpy(out + o, s + i, len);
		o += bytes;
		cols += w;
		i += len;
	}
	out[o] = '\0';
	return cols;
}
