/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Axis ticks and labels; see plot-scale.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "plot-scale.h"

double plot_nice_step(double range, unsigned n)
{
	static const double nice[] = {1, 2, 5, 10};
	double mag;

	if (!(range > 0) || n == 0)
		return 1;
	mag = pow(10, floor(log10(range / n)));
	/* the smallest nice step that needs no more than n ticks */
	for (size_t i = 0; i < sizeof(nice) / sizeof(nice[0]); i++)
		if (range / (nice[i] * mag) <= n + 1e-9)
			return nice[i] * mag;
	return 10 * mag;
}

void plot_seconds_label(char *out, size_t size, double t, double step)
{
	int decimals = 0;

	while (decimals < 6 && step * pow(10, decimals) < 0.999)
		decimals++;
	/* 2.5 at a step of 0.5 needs one decimal, as 0.5 itself does */
	if (decimals == 0 && fabs(t - round(t)) > 1e-9)
		decimals = 1;
	snprintf(out, size, "%.*f", decimals, fabs(t) < 1e-12 ? 0.0 : t);
}

void plot_count_label(char *out, size_t size, double v)
{
	if (v >= 1e6)
		snprintf(out, size, "%gM", round(v / 1e5) / 10);
	else if (v >= 1e4)
		snprintf(out, size, "%gk", round(v / 1e2) / 10);
	else
		snprintf(out, size, "%g", round(v));
}

void plot_size_label(char *out, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (v >= 100 || v == floor(v))
		snprintf(out, size, "%.0f %s", v, units[u]);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}
