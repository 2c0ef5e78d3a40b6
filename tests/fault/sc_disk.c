/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: state_dir on a full disk (scenario 9). state_dir is a 256 KiB tmpfs (mounting
 * one needs CAP_SYS_ADMIN: without it the scenario is skipped). With a QoS 1 load running
 * and one session added at run time (so state_dir holds something), the tmpfs is filled;
 * then another `add` must fail with an error naming the cause, a new route on a persistent
 * session (whose subscriptions its worker saves) must fail loudly in the log, every file
 * saved before must be unchanged, and delivery must go on. Once space is freed, `add` works
 * again, and a restarted daemon restores both added sessions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqttmux.h"
#include "sc.h"

#define MAX_SAVED 32

struct saved {
	char name[256];
	char *data;
	long len;
};

static char *slurp(const char *path, long *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	FILE *m = f ? open_memstream(&buf, &cap) : NULL;
	char chunk[4096];
	size_t n;

	while (m && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	if (m)
		fclose(m);
	if (f)
		fclose(f);
	*len = (long)cap;
	return buf;
}

/*
 * Read every regular file of <dir> (but <skip>, and the workers' ids files: live bitmaps,
 * mapped shared and written with every message, not state saved once) into <s>. Returns how
 * many.
 */
static int snapshot(const char *dir, const char *skip, struct saved *s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && n < MAX_SAVED && (de = readdir(d))) {
		char path[4096];

		if (de->d_name[0] == '.' || !strcmp(de->d_name, skip) ||
		    !strncmp(de->d_name, "ids-", 4))
			continue;
		snprintf(path, sizeof(path), "%.3800s/%.255s", dir, de->d_name);
		snprintf(s[n].name, sizeof(s[n].name), "%s", de->d_name);
		s[n].data = slurp(path, &s[n].len);
		n += s[n].data != NULL;
	}
	if (d)
		closedir(d);
	return n;
}

/* How many of the <n> saved files differ now (or are gone). */
static int changed(const char *dir, const struct saved *s, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		char path[4400], *now;
		long len;

		snprintf(path, sizeof(path), "%.4000s/%.255s", dir, s[i].name);
		now = slurp(path, &len);
		bad += !now || len != s[i].len || memcmp(now, s[i].data, (size_t)len);
		free(now);
	}
	return bad;
}

/* Fill <dir>'s file system with <dir>/filler until it refuses. */
static void fill(const char *dir)
{
	char path[4096], block[4096] = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%.4000s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
		;
	while (fd >= 0 && write(fd, block, 1) > 0)
		;
	if (fd >= 0)
		close(fd);
}

/* Write a session file for session <name> and `add` it. Returns the reply (malloc'd). */
static char *add_session(struct sc_env *e, const char *name)
{
	char file[64], *path, line[4200];
	FILE *f;

	snprintf(file, sizeof(file), "%s.session", name);
	path = sc_path(e, file);
	f = path ? fopen(path, "we") : NULL;
	if (!f) {
		free(path);
		return NULL;
	}
	fprintf(f,
		"session = { name = \"%s\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
		" client_id = \"sc-disk-%s\"; persistent = true; };\n",
		name, e->broker.port, name);
	fclose(f);
	snprintf(line, sizeof(line), "add %s", path);
	free(path);
	return sc_ctl(e, line);
}

static bool reply_ok(const char *r)
{
	return r && strstr(r, "\"ok\":true");
}

static int count_in(const char *path, const char *mark)
{
	long len;
	char *text = slurp(path, &len), *p = text;
	int n = 0;

	while (p && (p = strstr(p, mark))) {
		n++;
		p += strlen(mark);
	}
	free(text);
	return n;
}

static void ignore(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	(void)m;
	(void)ud;
}

static bool opened(void *ud)
{
	void **a = ud;

	a[1] = mqttmux_open(a[0], NULL);
	return a[1] != NULL;
}

/* A new route on s0 (persistent): its worker saves the session's subscriptions. */
static void new_route(struct sc_env *e)
{
	void *a[2] = { e->run, NULL };
	struct mqttmux *c;

	if (!sc_wait(opened, a, SC_WAIT_MS)) {
		sc_fail(e, "cannot open a client for the new route");
		return;
	}
	c = a[1];
	if (!mqttmux_handle_to(c, "s0", "disk/full/#", ignore, NULL))
		sc_note(e, "the new route was refused: %s", strerror(errno));
	(void)mqttmux_dispatch(c, 500);
	mqttmux_close(c);
}

/* The daemon's log holds more than <base> ENOSPC lines (the worker's, written when it can). */
struct enospc_wait {
	const char *log;
	int base;
};

static bool more_enospc(void *ud)
{
	const struct enospc_wait *w = ud;

	return count_in(w->log, "No space left on device") > w->base;
}

static int restored(struct sc_env *e)
{
	char **names = NULL;
	size_t n = 0;
	int found = 0;

	if (mqttmux_session_list(e->run, &names, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		found += !strcmp(names[i], "x0") || !strcmp(names[i], "x1");
	mqttmux_session_list_free(names, n);
	return found;
}

static int disk_full(struct sc_env *e, const char *fs)
{
	struct sc_cfg c = { .sessions = 2, .persistent = true, .state_dir = fs };
	struct sc_load l = { .streams = 2, .qos = 1, .rate = 200, .secs = e->long_form ? 30 : 8 };
	struct saved saved[MAX_SAVED] = { 0 };
	int nsaved = 0, enospc;
	char *r = NULL, filler[4096];

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	r = add_session(e, "x0");
	sc_fig(e, "add_before_full", reply_ok(r), SC_GE, 1, "");
	free(r);
	nsaved = snapshot(fs, "filler", saved);
	fill(fs);
	enospc = count_in(e->log, "No space left on device");
	r = add_session(e, "x1");
	sc_fig(e, "add_refused_when_full", r && strstr(r, "\"ok\":false"), SC_GE, 1, "");
	sc_fig(e, "refusal_names_the_cause", r && strstr(r, "No space left"), SC_GE, 1, "");
	free(r);
	sc_fig(e, "add_error_logged", count_in(e->log, "No space left on device") - enospc, SC_GE,
	       1, "");
	enospc = count_in(e->log, "No space left on device");
	new_route(e);
	/* the worker saves the subscriptions after its SUBSCRIBE: wait for its log line */
	(void)sc_wait(more_enospc, &(struct enospc_wait){ e->log, enospc }, SC_WAIT_MS);
	sc_fig(e, "subs_error_logged", count_in(e->log, "No space left on device") - enospc, SC_GE,
	       1, "");
	sc_fig(e, "saved_files", nsaved, SC_GE, 1, "");
	sc_fig(e, "saved_files_changed", changed(fs, saved, nsaved), SC_LE, 0, "");
	snprintf(filler, sizeof(filler), "%.4000s/filler", fs);
	unlink(filler);
	r = add_session(e, "x1");
	sc_fig(e, "add_after_space_freed", reply_ok(r), SC_GE, 1, "");
	free(r);
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
	sc_daemon_stop(e);
	if (sc_daemon_start(e, NULL) == 0 && sc_daemon_wait_ready(e, SC_WAIT_MS) == 0)
		sc_fig(e, "added_sessions_restored", restored(e), SC_GE, 2, "");
	else
		sc_fail(e, "mqttmuxd did not start again on the state it saved");
out:
	for (int i = 0; i < nsaved; i++)
		free(saved[i].data);
	sc_load_free(&l);
	sc_daemon_stop(e);
	return 0;
}

int sc_disk_full(struct sc_env *e)
{
	char *fs = sc_path(e, "statefs");
	int rc;

	if (!fs || mkdir(fs, 0700) == -1)
		return -1;
	if (mount("tmpfs", fs, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") == -1) {
		sc_note(e, "cannot mount a tmpfs for state_dir (%s): skipped", strerror(errno));
		free(fs);
		return SC_SKIP;
	}
	rc = disk_full(e, fs);
	if (umount2(fs, MNT_DETACH) == -1)
		sc_note(e, "umount %s: %s", fs, strerror(errno));
	free(fs);
	return rc;
}
