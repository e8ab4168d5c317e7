/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fuzz target interface, and the hooks of the replay driver. */
#ifndef SHADOWPT_FUZZ_REPLAY_H
#define SHADOWPT_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* Every target defines this (the libFuzzer entry point). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional: a seed built in code (malloc'd); 0 when one was made. */
int spt_fuzz_builtin_seed(uint8_t **data, size_t *len);

/* Optional: bytes that matter to the target's grammar, for mutations. */
const char *spt_fuzz_alphabet(size_t *len);

#endif
