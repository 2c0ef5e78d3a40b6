/* SPDX-License-Identifier: MIT */
/*
 * Persistence in state_dir (docs/operations.md, "Persistence"). A session added at run time is
 * kept as "session-<hex of its name>.cfg", holding its block as mm_cfg_load_session() reads it;
 * a session of the config file removed at run time leaves "removed-<hex of its name>.cfg",
 * holding its block as it was then: while the config file still has that very block, the
 * session stays removed. Files are written atomically (temporary file, fsync, rename), 0600,
 * those of one loop turn's commands together (sup_journal.c).
 *
 * A session with persistent and resume_subs also has "subs-<hex of its name>.txt", written by
 * its worker (--subs-file, worker/wrk_subs_state.c); the supervisor names it and deletes it
 * when the session leaves the running set or stops keeping its subscriptions.
 *
 * The running set is the config file, minus tombstoned sessions, plus the state files:
 * mm_sup_state_merge() builds it at start and on every reload. `add` and `remove` change the
 * running set in place and write their state file: they never read the config file again, so
 * an edit on disk takes effect only through a reload, after it is validated. No child reads a
 * config file either: each gets what it needs from the running set (shm/handoff.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"

#define SUBS_SUFFIX ".txt"
#define IDS_SUFFIX  ".bin"

/* "<prefix><hex of name><suffix>"; prefix and suffix as long as those of MM_SUP_STATE_NAME_MAX. */
static void hex_name(char *buf, const char *prefix, const char *name, const char *suffix)
{
	size_t n = (size_t)sprintf(buf, "%s", prefix);

	for (const unsigned char *p = (const unsigned char *)name; *p && n < 8 + 128; p++)
		n += (size_t)sprintf(buf + n, "%02x", *p);
	strcpy(buf + n, suffix);
}

/* "<prefix><hex of name>.cfg" into <buf> (at least MM_SUP_STATE_NAME_MAX bytes). */
static void file_name(char *buf, const char *prefix, const char *name)
{
	hex_name(buf, prefix, name, ".cfg");
}

/* The session name a "<prefix><hex>.<4 chars>" file name stands for, or -EINVAL. */
static int name_of_prefixed(const char *file, const char *prefix, char *name)
{
	const char *hex = file + strlen(prefix);
	size_t len = strlen(file), n;
	unsigned int byte;

	if (len <= strlen(prefix) + 4 || strncmp(file, prefix, strlen(prefix)))
		return -EINVAL;
	n = (len - strlen(prefix) - 4) / 2;
	if (n > MM_CFG_NAME_MAX || n * 2 != len - strlen(prefix) - 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -EINVAL;
		name[i] = (char)byte;
	}
	name[n] = '\0';
	return mm_cfg_session_name_valid(name) ? 0 : -EINVAL;
}

/* The session name a "session-<hex>.cfg" file name stands for, or -EINVAL. */
static int name_of(const char *file, char *name)
{
	size_t len = strlen(file);

	if (len < 4 || strcmp(file + len - 4, ".cfg"))
		return -EINVAL;
	return name_of_prefixed(file, MM_SUP_STATE_PREFIX, name);
}

static int path_in(char *buf, const char *dir, const char *file)
{
	return (size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Session <sess> as text (malloc'd, *len bytes), or NULL. */
static char *session_text(const struct mm_cfg_session *sess, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	mm_cfg_write_session(f, sess);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Save <sess> as <prefix><hex>.cfg in state_dir (created 0700 if missing), durably at the end
 * of the loop turn (sup_journal.c).
 */
int mm_sup_state_save(struct mm_sup *s, const char *prefix, const struct mm_cfg_session *sess)
{
	char file[MM_SUP_STATE_NAME_MAX], *text;
	size_t len;
	int r;

	r = mm_sup_mkdir_p(s->cfg->state_dir, 0700);
	if (r < 0)
		return r;
	text = session_text(sess, &len);
	if (!text)
		return -ENOMEM;
	file_name(file, prefix, sess->name);
	r = mm_sup_journal_write(&s->journal, s->cfg->state_dir, file, text, len);
	free(text);
	return r;
}

/* Delete <prefix><hex of name>.cfg from state_dir at the end of the loop turn, if it is there. */
int mm_sup_state_unlink(struct mm_sup *s, const char *prefix, const char *name)
{
	char file[MM_SUP_STATE_NAME_MAX];

	file_name(file, prefix, name);
	return mm_sup_journal_unlink(&s->journal, s->cfg->state_dir, file);
}

/* Read all of <path> (malloc'd, NUL-terminated, *len bytes), or NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	FILE *m;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &cap);
	for (int ch; m && (ch = fgetc(f)) != EOF;)
		fputc(ch, m);
	fclose(f);
	if (!m || fclose(m) != 0) {
		free(m ? buf : NULL);
		errno = ENOMEM;
		return NULL;
	}
	*len = cap;
	return buf;
}

/* Does a tombstone in <dir> hold exactly the block <sess>? A differing one is deleted. */
static bool tombstoned(const char *dir, const struct mm_cfg_session *sess)
{
	char file[MM_SUP_STATE_NAME_MAX], path[PATH_MAX], *old, *now;
	size_t old_len, now_len;
	bool same;

	file_name(file, MM_SUP_TOMB_PREFIX, sess->name);
	if (path_in(path, dir, file) < 0)
		return false;
	old = read_file(path, &old_len);
	if (!old)
		return false;
	now = session_text(sess, &now_len);
	same = now && now_len == old_len && !memcmp(old, now, now_len);
	if (now && !same) {
		mm_log(MM_LOG_INFO,
		       "session '%s' was removed at run time but its block in the "
		       "config file changed since: it is back",
		       sess->name);
		(void)unlink(path);
	}
	free(old);
	free(now);
	return same;
}

/* Free what <sess> owns (mm_cfg_session_free() wants a session of its own). */
static void drop(struct mm_cfg_session *sess)
{
	struct mm_cfg_session *own = malloc(sizeof(*own));

	if (!own)
		return; /* leaks the strings of one session: better than a crash */
	*own = *sess;
	mm_cfg_session_free(own);
}

/* Drop the sessions of <cfg> that a tombstone keeps removed; returns how many. */
static size_t apply_tombstones(const char *dir, struct mm_cfg *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_sessions;) {
		if (!tombstoned(dir, &cfg->sessions[i])) {
			i++;
			continue;
		}
		mm_log(MM_LOG_INFO, "session '%s' stays removed (tombstone in state_dir)",
		       cfg->sessions[i].name);
		drop(&cfg->sessions[i]);
		memmove(&cfg->sessions[i], &cfg->sessions[i + 1],
			(cfg->n_sessions - i - 1) * sizeof(*cfg->sessions));
		cfg->n_sessions--;
		n++;
	}
	return n;
}

/* Append <sess> (moved: its fields now belong to <cfg>) to cfg's sessions. */
static int append(struct mm_cfg *cfg, struct mm_cfg_session *sess)
{
	struct mm_cfg_session *n =
		reallocarray(cfg->sessions, cfg->n_sessions + 1, sizeof(*cfg->sessions));

	if (!n)
		return -ENOMEM;
	cfg->sessions = n;
	cfg->sessions[cfg->n_sessions++] = *sess;
	free(sess);
	return 0;
}

static void log_diag(const struct mm_cfg_diag *d, const char *what)
{
	for (size_t i = 0; i < mm_cfg_diag_count(d); i++)
		mm_log(MM_LOG_ERROR, "%s: %s", what, mm_cfg_diag_line(d, i));
}

/* Load the state file <file> of <dir> into <cfg>: true if a session was added. */
static bool restore_one(const char *dir, const char *file, struct mm_cfg *cfg)
{
	char name[MM_CFG_NAME_MAX + 1], path[PATH_MAX];
	struct mm_cfg_session *sess = NULL;
	struct mm_cfg_diag diag;
	int r;

	if (name_of(file, name) < 0 || path_in(path, dir, file) < 0)
		return mm_log(MM_LOG_WARNING, "state_dir: ignoring '%s'", file), false;
	if (mm_cfg_session_find(cfg, name)) {
		mm_log(MM_LOG_WARNING,
		       "state file '%s': session '%s' is in the config file too: "
		       "the config file wins",
		       path, name);
		return false;
	}
	mm_cfg_diag_init(&diag);
	r = mm_cfg_load_session(path, cfg, &sess, &diag);
	if (r == 0 && strcmp(sess->name, name))
		r = mm_cfg_diag_add(&diag, "%s: holds session '%s', not '%s'", path, sess->name,
				    name) < 0
			    ? -ENOMEM
			    : -EINVAL;
	if (r == 0)
		r = append(cfg, sess);
	else
		mm_cfg_session_free(sess);
	if (r < 0) {
		log_diag(&diag, "state file skipped");
		if (!mm_cfg_diag_count(&diag))
			mm_log_errno(r, "state file '%s' skipped", path);
	}
	mm_cfg_diag_done(&diag);
	return r == 0;
}

static int is_state_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return !strncmp(d->d_name, MM_SUP_STATE_PREFIX, strlen(MM_SUP_STATE_PREFIX)) && len > 4 &&
	       !strcmp(d->d_name + len - 4, ".cfg");
}

/* Add the sessions of the state files (in file name order) to <cfg>; returns how many. */
static size_t restore(const char *dir, struct mm_cfg *cfg)
{
	struct dirent **list;
	size_t added = 0;
	int n = scandir(dir, &list, is_state_file, alphasort);

	if (n < 0) {
		if (errno != ENOENT)
			mm_log_errno(-errno, "cannot read state_dir '%s'", dir);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		added += restore_one(dir, list[i]->d_name, cfg);
		free(list[i]);
	}
	free(list);
	return added;
}

static void names_free(struct mm_sup *s)
{
	for (size_t i = 0; i < s->n_file_names; i++)
		free(s->file_names[i]);
	free(s->file_names);
	s->file_names = NULL;
	s->n_file_names = 0;
}

/* Remember the session names of the config file (<cfg> as loaded), for add and remove. */
static void names_keep(struct mm_sup *s, const struct mm_cfg *cfg)
{
	names_free(s);
	s->file_names = calloc(cfg->n_sessions ? cfg->n_sessions : 1, sizeof(*s->file_names));
	for (size_t i = 0; s->file_names && i < cfg->n_sessions; i++)
		if ((s->file_names[s->n_file_names] = strdup(cfg->sessions[i].name)))
			s->n_file_names++;
}

/* Is <name> a session of the config file (at its last load)? */
static bool in_file(const struct mm_sup *s, const char *name)
{
	for (size_t i = 0; i < s->n_file_names; i++)
		if (!strcmp(s->file_names[i], name))
			return true;
	return false;
}

void mm_sup_state_done(struct mm_sup *s)
{
	mm_sup_journal_commit(&s->journal);
	names_free(s);
}

/*
 * Turn <cfg>, just loaded from the config file, into the running set: tombstoned sessions out,
 * the sessions of the state files in. Problems with a state file are logged, the file skipped.
 */
void mm_sup_state_merge(struct mm_sup *s, struct mm_cfg *cfg)
{
	size_t added;

	mm_sup_journal_commit(&s->journal); /* what this turn's commands wrote comes first */
	names_keep(s, cfg);
	(void)apply_tombstones(cfg->state_dir, cfg);
	added = restore(cfg->state_dir, cfg);
	if (added)
		mm_log(MM_LOG_INFO, "restored %zu session(s) added at run time", added);
}

static bool keeps_subs(const struct mm_cfg_session *sess)
{
	return sess && sess->persistent && sess->resume_subs;
}

/*
 * Where the worker of session <name> keeps its subscriptions: 1 with the path in <buf>
 * (PATH_MAX bytes; state_dir is created 0700 if missing), 0 if the session does not keep them
 * (not persistent with resume_subs, or no running config yet), or -errno (logged).
 */
int mm_sup_state_subs_file(const struct mm_sup *s, const char *name, char *buf)
{
	char file[MM_SUP_STATE_NAME_MAX];
	const char *dir;
	int r;

	if (!keeps_subs(mm_cfg_session_find(s->cfg, name)))
		return 0;
	dir = s->cfg->state_dir;
	hex_name(file, MM_SUP_SUBS_PREFIX, name, SUBS_SUFFIX);
	r = mm_sup_mkdir_p(dir, 0700);
	if (r == 0)
		r = path_in(buf, dir, file);
	if (r < 0)
		return mm_log_errno(r, "session '%s': cannot keep its subscriptions in '%s'", name,
				    dir);
	return 1;
}

/*
 * Where the worker of session <name> keeps its unacked packet ids (worker/wrk_ids.c): 1 with
 * the path in <buf> (PATH_MAX bytes) for a persistent session, whose broker redelivers across
 * a daemon restart; 0 if not persistent (or no running config yet); -errno (logged).
 */
int mm_sup_state_ids_file(const struct mm_sup *s, const char *name, char *buf)
{
	const struct mm_cfg_session *sess = mm_cfg_session_find(s->cfg, name);
	char file[MM_SUP_STATE_NAME_MAX];
	int r;

	if (!sess || !sess->persistent)
		return 0;
	hex_name(file, MM_SUP_IDS_PREFIX, name, IDS_SUFFIX);
	r = mm_sup_mkdir_p(s->cfg->state_dir, 0700);
	if (r == 0)
		r = path_in(buf, s->cfg->state_dir, file);
	if (r < 0)
		return mm_log_errno(r, "session '%s': cannot keep its unacked ids in '%s'", name,
				    s->cfg->state_dir);
	return 1;
}

static int is_ids_file(const struct dirent *d)
{
	return !strncmp(d->d_name, MM_SUP_IDS_PREFIX, strlen(MM_SUP_IDS_PREFIX));
}

/* Delete the ids files of sessions that are gone or no longer persistent. */
static void prune_ids(const struct mm_cfg *cfg)
{
	char path[PATH_MAX], name[MM_CFG_NAME_MAX + 1];
	struct dirent **list;
	int n = scandir(cfg->state_dir, &list, is_ids_file, alphasort);

	for (int i = 0; i < n; i++) {
		const char *file = list[i]->d_name;
		const struct mm_cfg_session *sess = NULL;

		if (name_of_prefixed(file, MM_SUP_IDS_PREFIX, name) == 0)
			sess = mm_cfg_session_find(cfg, name);
		if (!(sess && sess->persistent) && path_in(path, cfg->state_dir, file) == 0 &&
		    unlink(path) == 0)
			mm_log(MM_LOG_INFO,
			       "deleted '%s': its session is gone or no longer persistent", path);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

static int is_subs_file(const struct dirent *d)
{
	return !strncmp(d->d_name, MM_SUP_SUBS_PREFIX, strlen(MM_SUP_SUBS_PREFIX));
}

/*
 * Does "subs-<hex>.txt" belong to <cfg>? A worker's temporary "subs-<hex>.txt.XXXXXX" does
 * too, unless <starting>: then no worker runs, and it was left by one killed while writing.
 */
static bool subs_file_kept(const char *file, const struct mm_cfg *cfg, bool starting)
{
	char stem[MM_SUP_STATE_NAME_MAX], name[MM_CFG_NAME_MAX + 1];
	size_t n = strcspn(file, ".");

	if (n + sizeof(SUBS_SUFFIX) > sizeof(stem) || (starting && strcmp(file + n, SUBS_SUFFIX)))
		return false;
	memcpy(stem, file, n);
	strcpy(stem + n, SUBS_SUFFIX);
	return name_of_prefixed(stem, MM_SUP_SUBS_PREFIX, name) == 0 &&
	       keeps_subs(mm_cfg_session_find(cfg, name));
}

/* Delete the subscriptions files of sessions that are gone or no longer keep them. */
static void prune_subs(const struct mm_cfg *cfg, bool starting)
{
	char path[PATH_MAX];
	struct dirent **list;
	int n = scandir(cfg->state_dir, &list, is_subs_file, alphasort);

	for (int i = 0; i < n; i++) {
		const char *file = list[i]->d_name;

		if (!subs_file_kept(file, cfg, starting) &&
		    path_in(path, cfg->state_dir, file) == 0 && unlink(path) == 0)
			mm_log(MM_LOG_INFO,
			       "deleted '%s': its session is gone, no longer has "
			       "persistent and resume_subs, or it is a leftover temporary file",
			       path);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

/* The running set changed (or the daemon starts): delete stale subscriptions files. */
void mm_sup_state_sync(struct mm_sup *s)
{
	prune_subs(s->cfg, s->n_children == 0);
	prune_ids(s->cfg);
}

/* Append <sess> (moved: the running config owns it from now on) to the running set. */
static int run_added(struct mm_sup *s, struct mm_cfg_session *sess)
{
	int r = append(s->cfg, sess);

	if (r < 0)
		return r;
	mm_sup_state_sync(s);
	return 0;
}

/*
 * add: load and check the session file <path> against the running set, save it in state_dir
 * and append it to the running set; the caller starts it (mm_sup_start_new()). The config file
 * is not read: a session of that name there (even one removed at run time) makes it -EEXIST.
 * Returns 0, -EINVAL with the problems in <diag>, -EEXIST, or -errno.
 */
int mm_sup_state_add(struct mm_sup *s, const struct mm_cfg_session_src *src, const char *who,
		     struct mm_cfg_diag *diag)
{
	struct mm_cfg_session *sess = NULL;
	int r;

	r = mm_cfg_load_session_src(src, s->cfg, &sess, diag);
	if (r < 0)
		return r;
	if (in_file(s, sess->name))
		r = -EEXIST;
	if (r == 0)
		r = mm_sup_state_save(s, MM_SUP_STATE_PREFIX, sess);
	if (r == 0)
		r = mm_sup_state_unlink(s, MM_SUP_TOMB_PREFIX, sess->name);
	if (r == 0)
		mm_log(MM_LOG_INFO, "session '%s' added from '%s'%s by %s", sess->name, src->path,
		       src->fd >= 0 ? " (sent open)" : "", who);
	if (r == 0)
		r = run_added(s, sess);
	if (r < 0)
		mm_cfg_session_free(sess);
	return r;
}

/* Take session <name> out of the running config (freed). */
static void drop_running(struct mm_cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sessions; i++) {
		if (strcmp(cfg->sessions[i].name, name))
			continue;
		drop(&cfg->sessions[i]);
		memmove(&cfg->sessions[i], &cfg->sessions[i + 1],
			(cfg->n_sessions - i - 1) * sizeof(*cfg->sessions));
		cfg->n_sessions--;
		return;
	}
}

/*
 * remove NAME: delete its state file; if the config file has it, leave a tombstone holding its
 * running block. The caller then stops it (mm_sup_stop_removed()) and takes it out of the
 * running set (mm_sup_state_drop()). The config file is not read. Returns 0, -ENOENT for an
 * unknown session, or -errno.
 */
int mm_sup_state_remove(struct mm_sup *s, const char *name, const char *who,
			struct mm_cfg_diag *diag)
{
	const struct mm_cfg_session *sess = mm_cfg_session_find(s->cfg, name);
	bool file = sess && in_file(s, name);
	int r = 0;

	(void)diag;
	if (!sess)
		return -ENOENT;
	if (file)
		r = mm_sup_state_save(s, MM_SUP_TOMB_PREFIX, sess);
	if (r == 0)
		r = mm_sup_state_unlink(s, MM_SUP_STATE_PREFIX, name);
	if (r < 0)
		return r;
	mm_log(MM_LOG_INFO, "session '%s' removed on the control socket by %s%s", name, who,
	       file ? " (it stays removed while the config file keeps its block)" : "");
	return 0;
}

/* Take session <name>, removed and stopped, out of the running set. */
void mm_sup_state_drop(struct mm_sup *s, const char *name)
{
	drop_running(s->cfg, name);
	mm_sup_state_sync(s);
}
