/* SPDX-License-Identifier: MIT */
/*
 * Durable writes of state_dir files (docs/operations.md, "Persistence"): a file replaced
 * atomically (temporary file, fsync, rename, fsync of the directory), one at a time with
 * mm_sup_state_write(), or a loop turn's worth together with the journal.
 *
 * Why a journal: each fsync is a commit of the file system's journal, about 13 ms on a shared
 * disk, and writing each `add` and `remove` on its own cost two of them: 100 adds took 2.6 s
 * of fsyncs. The commands of one loop turn instead write their temporary files (and note the
 * deletions they need) in the journal; at the end of the turn mm_sup_journal_commit() makes
 * the temporary files durable with one syncfs(2), renames them and deletes in command order,
 * then fsyncs the directory once: two commits for the whole turn. The control socket holds
 * the replies of those commands until then (sup_ctl.c), so an answered `add` or `remove` is
 * on disk, as before; a kill -9 or a power loss before the answer may lose it, never leaves
 * a half-written state file (a temporary file is not a state file: ignored at start).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"

static int path_in(char *buf, const char *dir, const char *file)
{
	return (size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/*
 * Write <text> to a new temporary file beside <dir>/<file>, mode 0600, fsync'd if <sync>.
 * Its name goes to <tmp>, <dir>/<file> to <dst> (PATH_MAX bytes each). Returns 0 or -errno
 * (no temporary file left).
 */
static int write_temp(const char *dir, const char *file, const char *text, size_t len, bool sync,
		      char *tmp, char *dst)
{
	int fd, r;

	r = path_in(dst, dir, file);
	if (r == 0 && (size_t)snprintf(tmp, PATH_MAX, "%s.XXXXXX", dst) >= PATH_MAX)
		r = -ENAMETOOLONG;
	if (r < 0)
		return r;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, len);
	if (r == 0 && (fchmod(fd, 0600) < 0 || (sync && fsync(fd) < 0)))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static void sync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* Replace <dir>/<file> by <text> atomically and durably, mode 0600. Returns 0 or -errno. */
int mm_sup_state_write(const char *dir, const char *file, const char *text, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int r = write_temp(dir, file, text, len, true, tmp, dst);

	if (r == 0 && rename(tmp, dst) < 0) {
		r = -errno;
		(void)unlink(tmp);
	}
	if (r == 0)
		sync_dir(dir);
	return r;
}

static int push(struct mm_sup_journal *j, const char *dir, char *tmp, char *dst)
{
	struct mm_sup_journal_op *ops = j->ops;

	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 16;

		ops = realloc(j->ops, cap * sizeof(*ops));
		if (!ops)
			return -ENOMEM;
		j->ops = ops;
		j->cap = cap;
	}
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	ops[j->n++] = (struct mm_sup_journal_op){ .tmp = tmp, .dst = dst };
	return 0;
}

static int push_copies(struct mm_sup_journal *j, const char *dir, const char *tmp, const char *dst)
{
	char *t = tmp ? strdup(tmp) : NULL, *d = strdup(dst);
	int r = (tmp && !t) || !d ? -ENOMEM : push(j, dir, t, d);

	if (r < 0) {
		free(t);
		free(d);
	}
	return r;
}

/*
 * Journal: <dir>/<file> becomes <text> at the next commit; its temporary file is written now.
 * Returns 0 or -errno (then nothing is journaled).
 */
int mm_sup_journal_write(struct mm_sup_journal *j, const char *dir, const char *file,
			 const char *text, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int r = write_temp(dir, file, text, len, false, tmp, dst);

	if (r == 0 && (r = push_copies(j, dir, tmp, dst)) < 0)
		(void)unlink(tmp);
	return r;
}

/* Journal: <dir>/<file> is deleted at the next commit (a missing file is fine). */
int mm_sup_journal_unlink(struct mm_sup_journal *j, const char *dir, const char *file)
{
	char dst[PATH_MAX];
	int r = path_in(dst, dir, file);

	return r < 0 ? r : push_copies(j, dir, NULL, dst);
}

bool mm_sup_journal_pending(const struct mm_sup_journal *j)
{
	return j->n > 0;
}

/* Rename or delete as op <op> says; errors are logged (the command was answered "ok"). */
static void apply(const struct mm_sup_journal_op *op)
{
	if (op->tmp && rename(op->tmp, op->dst) < 0) {
		mm_log_errno(-errno, "state_dir: cannot rename '%s' to '%s'", op->tmp, op->dst);
		(void)unlink(op->tmp);
	} else if (!op->tmp && unlink(op->dst) < 0 && errno != ENOENT) {
		mm_log_errno(-errno, "state_dir: cannot delete '%s'", op->dst);
	}
}

/*
 * Make what the journal holds durable, in the order it was journaled: one syncfs(2) for every
 * temporary file (one journal commit of the file system instead of one per file), the renames
 * and deletions, one fsync of the directory. Then the journal is empty.
 */
void mm_sup_journal_commit(struct mm_sup_journal *j)
{
	int dfd;

	if (!j->n)
		return;
	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || syncfs(dfd) < 0)
		mm_log_errno(-errno, "state_dir '%s': cannot sync", j->dir);
	for (size_t i = 0; i < j->n; i++)
		apply(&j->ops[i]);
	if (dfd >= 0 && fsync(dfd) < 0)
		mm_log_errno(-errno, "state_dir '%s': cannot sync", j->dir);
	if (dfd >= 0)
		close(dfd);
	mm_sup_journal_free(j);
}

/* Drop what the journal holds, without doing it (the temporary files stay: harmless). */
void mm_sup_journal_free(struct mm_sup_journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->ops[i].tmp);
		free(j->ops[i].dst);
	}
	free(j->ops);
	j->ops = NULL;
	j->n = j->cap = 0;
}
