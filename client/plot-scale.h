/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Axis ticks and labels of the plots: pure functions, unit tested. */
#ifndef SHADOWCTL_PLOT_SCALE_H
#define SHADOWCTL_PLOT_SCALE_H

#include <stddef.h>
#include <stdint.h>

/* The smallest step of 1, 2 or 5 times a power of ten with at most n ticks over range. */
double plot_nice_step(double range, unsigned n);
/* "0", "2.5", "10": seconds at a step (as many decimals as the step needs). */
void plot_seconds_label(char *out, size_t size, double t, double step);
/* "0", "512", "12k", "1.5M": a count in little room. */
void plot_count_label(char *out, size_t size, double v);
/* "4 KiB", "132 KiB", "2 MiB", "16 GiB": a size in bytes. */
void plot_size_label(char *out, size_t size, uint64_t bytes);

#endif
