/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names and short strings for protocol values; see format.h. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "format.h"

const char *sctl_backend_name(int backend)
{
	switch (backend) {
	case SHADOWPT__BACKEND__BACKEND_AUTO:
		return "auto";
	case SHADOWPT__BACKEND__BACKEND_PROCFS:
		return "procfs";
	case SHADOWPT__BACKEND__BACKEND_KERNEL:
		return "kernel";
	default:
		return "unknown";
	}
}

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
