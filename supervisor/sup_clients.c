/* SPDX-License-Identifier: MIT */
/*
 * The clients a stopped daemon had, for the next one (docs/operations.md, "Persistence").
 *
 * After a router restart the new router holds the in-rings until the clients of its
 * predecessor are back (shm/router/rtr_rejoin.c): it finds them in the router stats block,
 * slots left "connected". A new daemon has a new, empty block, so on a daemon restart the
 * router would fan the broker's queued messages out to a route table with nobody in it (and
 * count them unrouted) before the clients had reconnected. So the daemon that stops writes the
 * clients its router left connected (their HELLO tokens and pids) to
 * state_dir/clients.txt once the router is gone, and the next daemon puts them back into its
 * new block as connected slots before it starts its router, and deletes the file: the router
 * then waits for them, at most clients.rejoin_grace, exactly as after a router restart.
 *
 * A daemon killed with SIGKILL writes nothing when it dies, so the running daemon keeps the
 * file in step with its router's connected clients too (mm_sup_clients_keep, once a second
 * while anything moves): its successor then waits for the clients it had a second before.
 *
 * Format: "mqttmux-clients 1\n", then one "<token, 16 hex digits> <pid>\n" per client. Read
 * strictly: anything else ignores the whole file (logged).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rstats.h"
#include "sup.h"

#define CLIENTS_FILE   "clients.txt"
#define CLIENTS_HEADER "mqttmux-clients 1\n"
#define LINE_MAX_LEN   40 /* 16 hex digits, a space, a pid, a newline */

static int clients_path(const struct mm_sup *s, char *buf)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", s->cfg->state_dir, CLIENTS_FILE) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The block's "connected" slots as the file's text (malloc'd, *len bytes); NULL if none. */
static char *connected_text(const struct mm_rstats_block *rb, size_t *len, unsigned *count)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	*count = 0;
	if (!f)
		return NULL;
	fputs(CLIENTS_HEADER, f);
	for (unsigned i = 0; i < MM_RSTATS_MAX_CLIENTS; i++) {
		struct mm_rstats_client_snap sn;

		if (mm_rstats_client_read(rb, i, &sn) < 0 || sn.state != MM_RSTATS_CONNECTED ||
		    !sn.token)
			continue;
		fprintf(f, "%016" PRIx64 " %" PRIu32 "\n", sn.token, sn.pid);
		(*count)++;
	}
	if (fclose(f) != 0 || !*count) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The router has stopped for good (the daemon stops): keep the clients it left connected for
 * the next daemon. Failures are logged and otherwise ignored.
 */
void mm_sup_clients_save(struct mm_sup *s)
{
	struct mm_rstats_block *rb = NULL;
	char path[PATH_MAX], *text;
	unsigned count;
	size_t len;
	int r;

	if (clients_path(s, path) < 0 ||
	    mm_shm_rstats_attach(s->router.fds[MM_FD_WRK_STATS], &rb) < 0)
		return;
	text = connected_text(rb, &len, &count);
	mm_shm_rstats_detach(rb);
	if (!text) {
		(void)unlink(path);
		return;
	}
	r = mm_sup_state_write(s->cfg->state_dir, CLIENTS_FILE, text, len);
	free(text);
	if (r < 0)
		mm_log_errno(r,
			     "cannot write '%s', ignoring: the next start will not wait for the "
			     "%u client(s)",
			     path, count);
	else
		mm_log(MM_LOG_INFO, "%u client(s) kept in '%s' for the next start", count, path);
}

/* FNV-1a of <len> bytes at <p>, never 0 (0 stands for "no file"). */
static uint64_t text_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/*
 * While the daemon runs (each metrics sample): write clients.txt when the router's connected
 * clients changed, delete it when there are none. Failures are logged once per change.
 */
void mm_sup_clients_keep(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;
	char path[PATH_MAX], *text;
	uint64_t h = 0;
	unsigned count;
	size_t len;
	int r = 0;

	if (s->stopping || clients_path(s, path) < 0)
		return;
	if (!c->m.rst && (c->fds[MM_FD_WRK_STATS] < 0 ||
			  mm_shm_rstats_attach(c->fds[MM_FD_WRK_STATS], &c->m.rst) < 0)) {
		c->m.rst = NULL;
		return;
	}
	text = connected_text(c->m.rst, &len, &count);
	if (text)
		h = text_hash(text, len);
	if (h != s->clients_kept) {
		if (text)
			r = mm_sup_state_write(s->cfg->state_dir, CLIENTS_FILE, text, len);
		else if (unlink(path) < 0 && errno != ENOENT)
			r = -errno;
		if (r < 0)
			mm_log_errno(r, "cannot keep '%s' up to date, ignoring", path);
		s->clients_kept = h;
	}
	free(text);
}

/* One "<token> <pid>" line into *token and *pid. Returns 0 or -EINVAL. */
static int parse_line(const char *line, uint64_t *token, uint32_t *pid)
{
	char *end;
	unsigned long long t, p;

	errno = 0;
	t = strtoull(line, &end, 16);
	if (errno || end != line + 16 || *end != ' ' || !t)
		return -EINVAL;
	p = strtoull(end + 1, &end, 10);
	if (errno || *end != '\n' || !p || p > INT_MAX)
		return -EINVAL;
	*token = t;
	*pid = (uint32_t)p;
	return 0;
}

/* Slot <i> of the new block: a client the router must wait for. */
static void seed_slot(struct mm_rstats_block *rb, unsigned i, uint64_t token, uint32_t pid)
{
	struct mm_rstats_client *c = &rb->clients[i];

	mm_rstats_client_begin(c);
	atomic_store_explicit(&c->token, token, memory_order_relaxed);
	atomic_store_explicit(&c->pid, pid, memory_order_relaxed);
	atomic_store_explicit(&c->state, MM_RSTATS_CONNECTED, memory_order_relaxed);
	mm_rstats_client_set_name(c, "(before restart)");
	mm_rstats_client_end(c);
}

/* Read <f> into the block's slots. Returns the clients seeded, or -EINVAL (nothing seeded). */
static int seed_from(FILE *f, struct mm_rstats_block *rb, unsigned *line_no)
{
	char line[LINE_MAX_LEN + 2];
	uint64_t tokens[MM_RSTATS_MAX_CLIENTS];
	uint32_t pids[MM_RSTATS_MAX_CLIENTS];
	unsigned n = 0;

	*line_no = 1;
	if (!fgets(line, sizeof(line), f) || strcmp(line, CLIENTS_HEADER))
		return -EINVAL;
	while (fgets(line, sizeof(line), f)) {
		(*line_no)++;
		if (n == MM_RSTATS_MAX_CLIENTS || parse_line(line, &tokens[n], &pids[n]) < 0)
			return -EINVAL;
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		seed_slot(rb, i, tokens[i], pids[i]);
	return (int)n;
}

/*
 * Before the first router starts: put the clients the previous daemon kept back into the
 * (new, empty) router stats block, and delete the file. A missing file means none.
 */
void mm_sup_clients_restore(struct mm_sup *s)
{
	struct mm_rstats_block *rb = NULL;
	char path[PATH_MAX];
	unsigned line_no = 0;
	FILE *f;
	int r;

	if (clients_path(s, path) < 0)
		return;
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			mm_log_errno(-errno, "cannot read '%s', ignoring", path);
		return;
	}
	r = mm_shm_rstats_attach(s->router.fds[MM_FD_WRK_STATS], &rb);
	if (r == 0) {
		r = seed_from(f, rb, &line_no);
		mm_shm_rstats_detach(rb);
	}
	fclose(f);
	(void)unlink(path);
	if (r == -EINVAL)
		mm_log(MM_LOG_WARNING, "%s:%u: not a clients file line, ignoring the file", path,
		       line_no);
	else if (r < 0)
		mm_log_errno(r, "cannot restore the clients of '%s', ignoring", path);
	else if (r > 0)
		mm_log(MM_LOG_INFO, "%d client(s) of the previous start expected back (%s)", r,
		       path);
}
