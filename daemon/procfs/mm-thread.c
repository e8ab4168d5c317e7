// SPDX-License-Identifier: GPL-2.0-or-later
/* The thread a process's mm is read through when its leader exited; see mm-thread.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "maps.h"
#include "mm-thread.h"

int spt_procfs_mm_thread_dir(int procdir)
{
	int taskfd = openat(procdir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (taskfd < 0)
		return -errno;
	d = fdopendir(taskfd);
	if (!d) {
		close(taskfd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		int tfd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		tfd = openat(taskfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0)
			continue;
		if (spt_procfs_has_text(tfd, "maps") > 0) {
			closedir(d);
			return tfd;
		}
		close(tfd);
	}
	closedir(d);
	return -ENOENT;
}
