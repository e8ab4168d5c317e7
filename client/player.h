/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Plays a recording into a view (view.h) by recording time: apply the
 * frames up to a time, step one delta, seek anywhere. The clock (speed,
 * pause, wall time) belongs to the caller. Seeking back rewinds to the
 * last snapshot before the target, found by one scan of the file.
 * Damage (recfile.h, or a frame the table refuses) ends the playback
 * where it is, reported once with SCTL_EXIT_RECORDING.
 */
#ifndef SHADOWCTL_PLAYER_H
#define SHADOWCTL_PLAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "recfile.h"
#include "view.h"

struct sctl_player_mark {
	struct sctl_rec_mark at; /* the record to read next */
	uint64_t t_ns;		 /* its receive time */
};

struct sctl_player {
	const char *path;
	struct sctl_rec_reader rd;
	struct sctl_view *view;

	/* the next frame, read ahead (valid while has_next) */
	bool has_next;
	const SptFrame *next;
	uint64_t next_ns;
	struct sctl_rec_mark next_at; /* where that frame's record starts */

	bool read_failed; /* reading ahead hit damage, reported when playback gets there */
	uint64_t pos_ns;  /* recording time reached */
	bool damaged;	  /* the file or a frame in it is damaged */
	int status;	  /* SCTL_EXIT_RECORDING once damaged, else 0 */
	char damage[384]; /* what was wrong, for the live view */

	/* After sctl_player_scan: where each snapshot starts, and the end. */
	struct sctl_player_mark *marks;
	size_t nmarks;
	uint64_t duration_ns;
	bool scanned;
};

/*
 * Reads the header from fd (the caller's) and readies the first frame.
 * Returns 0, or an exit code after reporting what is wrong with the file.
 */
int sctl_player_open(struct sctl_player *p, const char *path, int fd, struct sctl_view *view);
void sctl_player_close(struct sctl_player *p);

/* The header: the daemon's Welcome and WatchStarted are never NULL after open. */
const SctlRecHeader *sctl_player_header(const struct sctl_player *p);

/*
 * Reads the whole file once for seeking: snapshot positions and the
 * duration (up to any damage, which is reported when playback gets there).
 */
int sctl_player_scan(struct sctl_player *p);

/* Applies every frame received at or before t_ns, at most max (0: no limit). */
uint64_t sctl_player_play_until(struct sctl_player *p, uint64_t t_ns, uint64_t max);
/* Applies frames until one more delta or snapshot is complete. */
void sctl_player_step(struct sctl_player *p);
/* Shows the state at t_ns (needs sctl_player_scan to go back). */
void sctl_player_seek(struct sctl_player *p, uint64_t t_ns);

#endif
