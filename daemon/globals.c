// SPDX-License-Identifier: GPL-2.0-or-later
/* The daemon-wide state of globals.h, in a file of its own: no loop module links upward for it. */
#include "globals.h"

struct event_base *spt_base;
struct spt_stats spt_stats;
struct spt_server_opts spt_opts;
struct spt_bounds spt_bounds;
char spt_kernel_why[160];
bool spt_pfns_readable;
bool spt_shutting_down;
uint64_t spt_start_ms;
