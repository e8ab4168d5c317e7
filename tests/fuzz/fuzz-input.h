/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a fuzz input as a stream of numbers, for targets that build
 * structured operations from it: zeros once the input runs out, so that
 * every prefix of an input is an input too.
 */
#ifndef SHADOWPT_FUZZ_INPUT_H
#define SHADOWPT_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

#endif
