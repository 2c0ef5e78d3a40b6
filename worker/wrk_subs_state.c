/* SPDX-License-Identifier: MIT */
/*
 * Saved subscriptions (--subs-file, docs/worker.md "Saved subscriptions"): the filters that
 * SUB commands added, written atomically whenever that set changes and read back at start, so
 * that a restarted worker subscribes them before it reports ready, before any client has
 * registered its routes again. The file is read strictly: anything unexpected (no header, a
 * bad line, too big, too many filters, not a regular file) makes the whole file ignored with
 * file:line in the log. Filters from the config file are never written: the config has them.
 */
#include "wrk_subs_state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wrk.h"

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t why_size, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Control characters (a newline among them) cannot be written on one line: never saved. */
static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* Append <topic> (taken: freed on failure) at <qos> to <l>. Returns 0 or -ENOMEM. */
static int list_push(struct mm_wrk_subs_list *l, char *topic, int qos)
{
	struct mm_wrk_subs_entry *v = l->v;

	if (topic && (l->n & (l->n - 1)) == 0) /* 0, 1, 2, 4, ...: double the room */
		v = reallocarray(l->v, l->n ? 2 * l->n : 1, sizeof(*v));
	if (!topic || !v) {
		free(topic);
		return -ENOMEM;
	}
	l->v = v;
	l->v[l->n++] = (struct mm_wrk_subs_entry){ .topic = topic, .qos = qos };
	return 0;
}

/* Free what <l> holds and leave it empty. */
void mm_wrk_subs_list_done(struct mm_wrk_subs_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].topic);
	free(l->v);
	*l = (struct mm_wrk_subs_list){ 0 };
}

/* One "<qos> <filter>" line of <len> bytes (newline excluded) into <l>. */
static int parse_line(const char *p, size_t len, struct mm_wrk_subs_list *l, char *why,
		      size_t why_size)
{
	char *topic;

	if (len < 3 || p[0] < '0' || p[0] > '2' || p[1] != ' ')
		return fail(why, why_size, "expected '<qos 0..2> <filter>'");
	if (memchr(p, '\0', len) || has_control(p + 2, len - 2))
		return fail(why, why_size, "the filter holds a control character");
	if (l->n == MM_WRK_SUBS_MAX)
		return fail(why, why_size, "more than %d filters", MM_WRK_SUBS_MAX);
	topic = strndup(p + 2, len - 2);
	if (!topic)
		return -ENOMEM;
	if (!mm_cfg_topic_filter_valid(topic)) {
		free(topic);
		return fail(why, why_size, "not a valid MQTT topic filter");
	}
	return list_push(l, topic, p[0] - '0');
}

/*
 * Parse the <len> bytes of <text> (a subscriptions file; need not be NUL-terminated) into
 * *ret (the caller frees it with mm_wrk_subs_list_done). Returns 0, -ENOMEM, or -EINVAL with
 * the 1-based line at fault in *ret_line and what is wrong in <why>; *ret is then untouched.
 */
int mm_wrk_subs_parse(const char *text, size_t len, struct mm_wrk_subs_list *ret, size_t *ret_line,
		      char *why, size_t why_size)
{
	struct mm_wrk_subs_list l = { 0 };
	const char *p = text, *end = text + len, *nl;
	size_t line = 0;
	int r = 0;

	while (r == 0 && p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			r = fail(why, why_size, "the last line has no newline (truncated?)");
		else if (line == 1 && ((size_t)(nl - p) != strlen(MM_WRK_SUBS_HEADER) ||
				       memcmp(p, MM_WRK_SUBS_HEADER, (size_t)(nl - p))))
			r = fail(why, why_size, "the first line is not '%s'", MM_WRK_SUBS_HEADER);
		else if (line > 1)
			r = parse_line(p, (size_t)(nl - p), &l, why, why_size);
		p = nl ? nl + 1 : end;
	}
	if (r == 0 && line == 0)
		r = fail(why, why_size, "empty: no '%s' line", MM_WRK_SUBS_HEADER);
	if (r < 0) {
		*ret_line = line;
		mm_wrk_subs_list_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}

/* All <size> bytes of <fd> into a new buffer. Returns it, or NULL with errno set. */
static char *read_all(int fd, size_t size, size_t *ret_len)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	while (buf && got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR) {
			free(buf);
			return NULL;
		}
	}
	*ret_len = got;
	return buf;
}

/*
 * Read and parse the file <path>: as mm_wrk_subs_parse(), plus -errno of open/read (-ENOENT:
 * no file), -EINVAL for a file that is not a regular file and -EFBIG for one larger than
 * MM_WRK_SUBS_FILE_MAX (*ret_line is 0 for these).
 */
int mm_wrk_subs_read(const char *path, struct mm_wrk_subs_list *ret, size_t *ret_line, char *why,
		     size_t why_size)
{
	struct stat st;
	size_t len = 0;
	char *text;
	int fd, r;

	*ret_line = 0;
	/* O_NONBLOCK: a FIFO planted there must not hang the worker before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = fail(why, why_size, "not a regular file");
		goto out_close;
	}
	if (st.st_size > (off_t)MM_WRK_SUBS_FILE_MAX) {
		snprintf(why, why_size, "larger than %u bytes", MM_WRK_SUBS_FILE_MAX);
		r = -EFBIG;
		goto out_close;
	}
	text = read_all(fd, (size_t)st.st_size, &len);
	r = text ? mm_wrk_subs_parse(text, len, ret, ret_line, why, why_size) : -errno;
	free(text);
out_close:
	close(fd);
	return r;
}

/* fsync the directory of <path>, so that the rename itself is durable. */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * Replace <path> by the file for <l>, atomically: a temporary file in the same directory,
 * mode 0600, fsync, rename. Returns 0 or -errno (the temporary file is removed then).
 */
int mm_wrk_subs_write(const char *path, const struct mm_wrk_subs_list *l)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		goto out_unlink;
	}
	fprintf(f, "%s\n", MM_WRK_SUBS_HEADER);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%d %s\n", l->v[i].qos, l->v[i].topic);
	if (fflush(f) == EOF || fchmod(fd, 0600) == -1 || fsync(fd) == -1)
		r = -errno;
	if (fclose(f) == EOF && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) == -1)
		r = -errno;
	if (r == 0) {
		sync_dir(path);
		return 0;
	}
out_unlink:
	(void)unlink(tmp);
	return r;
}

/* A filter of the worker's set that belongs in the file. */
static bool is_kept(const struct mm_wrk_filter *f)
{
	return !f->from_cfg && !has_control(f->topic, strlen(f->topic));
}

/* The filters of <w> that belong in the file, in the order of w->filters. */
static int snapshot(const struct mm_wrk *w, struct mm_wrk_subs_list *ret)
{
	struct mm_wrk_subs_list l = { 0 };

	for (size_t i = 0; i < w->n_filters; i++)
		if (is_kept(&w->filters[i]) &&
		    list_push(&l, strdup(w->filters[i].topic), w->filters[i].qos) < 0) {
			mm_wrk_subs_list_done(&l);
			return -ENOMEM;
		}
	*ret = l;
	return 0;
}

/* Does the set of <w> still match what was last written? (In order: cheap, may say no.) */
static bool unchanged(const struct mm_wrk_subs_state *st, const struct mm_wrk *w)
{
	size_t k = 0;

	for (size_t i = 0; i < w->n_filters; i++) {
		const struct mm_wrk_filter *f = &w->filters[i];

		if (!is_kept(f))
			continue;
		if (k == st->saved.n || f->qos != st->saved.v[k].qos ||
		    strcmp(f->topic, st->saved.v[k].topic))
			return false;
		k++;
	}
	return k == st->saved.n;
}

static void log_refused(const char *path, int r, size_t line, const char *why)
{
	if (!why[0])
		mm_log_errno(r, "cannot read the saved subscriptions '%s', ignoring", path);
	else if (line)
		mm_log(MM_LOG_WARNING, "%s:%zu: %s, ignoring the saved subscriptions", path, line,
		       why);
	else
		mm_log(MM_LOG_WARNING, "%s: %s, ignoring the saved subscriptions", path, why);
}

/*
 * At start, after the config's filters are in: add the filters of st->path (if set and the
 * file exists) to <w>, so that the first connection subscribes them before READY. A file that
 * cannot be used is logged and ignored. Returns 0, or -ENOMEM (the worker cannot go on).
 */
int mm_wrk_subs_restore(struct mm_wrk_subs_state *st, struct mm_wrk *w)
{
	struct mm_wrk_subs_list l = { 0 };
	char why[MM_WRK_SUBS_WHY_MAX] = "";
	size_t line = 0;
	int r;

	st->cmd_pos = w->cmd.pos;
	if (!st->path)
		return 0;
	r = mm_wrk_subs_read(st->path, &l, &line, why, sizeof(why));
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT)
		log_refused(st->path, r, line, why);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		if (mm_wrk_filter_add(w, l.v[i].topic, strlen(l.v[i].topic), l.v[i].qos, false) < 0)
			r = -ENOMEM;
	if (r == 0 && l.n)
		mm_log(MM_LOG_INFO, "restored %zu subscription(s) from '%s'", l.n, st->path);
	mm_wrk_subs_list_done(&l);
	if (r == -ENOMEM)
		return r;
	return snapshot(w, &st->saved);
}

/*
 * After each loop iteration: if commands were consumed since the last call and the kept set
 * changed, write the file again. Does nothing without a path or once the worker is stopping
 * (a removed session's file is being deleted by the supervisor). A failed write is logged
 * once per error and tried again after the next command.
 */
void mm_wrk_subs_sync(struct mm_wrk_subs_state *st, struct mm_wrk *w)
{
	struct mm_wrk_subs_list now = { 0 };
	int r;

	if (!st->path || mm_wrk_conn_is_stopping(w->conn) || w->cmd.pos == st->cmd_pos)
		return;
	st->cmd_pos = w->cmd.pos;
	if (unchanged(st, w))
		return;
	r = snapshot(w, &now);
	if (r == 0)
		r = mm_wrk_subs_write(st->path, &now);
	if (r < 0) {
		if (r != st->last_err)
			mm_log_errno(r, "cannot save the subscriptions in '%s', ignoring",
				     st->path);
		st->last_err = r;
		mm_wrk_subs_list_done(&now);
		return;
	}
	if (st->last_err)
		mm_log(MM_LOG_INFO, "saved the subscriptions in '%s' again", st->path);
	st->last_err = 0;
	mm_wrk_subs_list_done(&st->saved);
	st->saved = now;
}

void mm_wrk_subs_state_done(struct mm_wrk_subs_state *st)
{
	mm_wrk_subs_list_done(&st->saved);
}
