/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A leader that called pthread_exit() is a zombie without an mm while its
 * threads run on: /proc/PID/maps reads empty and pagemap refuses to open.
 * The mm is still there, readable through any thread that has it. Both
 * backends read it that way.
 */
#ifndef SHADOWPTD_PROCFS_MM_THREAD_H
#define SHADOWPTD_PROCFS_MM_THREAD_H

/*
 * An fd of /proc/PID/task/TID (O_DIRECTORY) for the first thread of the
 * process whose directory procdir is that still has an mm (its maps are
 * not empty), or -ENOENT when none has, or -errno.
 */
int spt_procfs_mm_thread_dir(int procdir);

#endif
