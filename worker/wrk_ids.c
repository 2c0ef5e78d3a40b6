/* SPDX-License-Identifier: MIT */
/*
 * The unacked bitmap of wrk_unacked.c in a file of state_dir (--ids-file, given for
 * persistent sessions), so that it outlives the daemon as well as the worker. In the stats
 * block it died with a kill -9 of mqttmuxd, and the next daemon's worker flagged nothing of the
 * broker's redeliveries as DUP (docs/reliability.md, scenario 4 and the soak).
 *
 * The file is exactly one bitmap (8 KiB), mapped shared: the kernel keeps what we write in its
 * page cache when we are killed, and the next worker of the session maps the same pages. Its
 * blocks are allocated up front (posix_fallocate): a full state_dir then fails here, with a
 * warning and the stats block's bitmap instead, never later as a SIGBUS on a page the file
 * system cannot back. Anything but a regular file of 0 or 8 KiB is not ours to use: refused the
 * same way. Nothing else reads it; the supervisor deletes it with its session.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wrk.h"

#define IDS_SIZE (sizeof(uint64_t) * MM_WRK_MIDS_WORDS)

static int map_file(int fd, _Atomic uint64_t **ret)
{
	struct stat st;
	void *p;
	int rc;

	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_size != 0 && st.st_size != (off_t)IDS_SIZE))
		return -EINVAL;
	rc = posix_fallocate(fd, 0, (off_t)IDS_SIZE);
	if (rc != 0)
		return -rc;
	p = mmap(NULL, IDS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

/*
 * Keep the bitmap in <path> from now on, with what the session's earlier workers left there.
 * Returns 0, or -errno (logged: the stats block's bitmap stays in use).
 */
int mm_wrk_ids_open(struct mm_wrk *w, const char *path)
{
	_Atomic uint64_t *map = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = fd < 0 ? -errno : map_file(fd, &map);

	if (fd >= 0)
		(void)close(fd);
	if (rc < 0) {
		mm_log(MM_LOG_WARNING,
		       "ids file '%s': %s (a daemon restart may deliver redeliveries without DUP)",
		       path, rc == -EINVAL ? "not a regular file of 8 KiB" : strerror(-rc));
		return rc;
	}
	w->ids = map;
	w->ids_mapped = true;
	return 0;
}

void mm_wrk_ids_close(struct mm_wrk *w)
{
	if (w->ids_mapped)
		(void)munmap((void *)w->ids, IDS_SIZE);
	w->ids = NULL;
	w->ids_mapped = false;
}
