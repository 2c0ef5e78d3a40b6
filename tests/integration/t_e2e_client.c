/* SPDX-License-Identifier: MIT */
/*
 * Client processes of the end-to-end suite and the parser of their logs: see t_e2e.h. A log
 * line is "m ROUTE SESSION SEQ TOPIC" for a message, "g SESSION|* LOST" for a GAP, and at the
 * end "lost N" and "dropped N". Probe messages (T_E2E_PROBE) are the test's own
 * synchronisation, not data: they are not logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_time.h"
#include "mqttmux.h"
#include "t_e2e.h"

#define RUN_MS 60000

const char *const T_E2E_SESSION[T_E2E_NSESS] = { "s1", "s2" };

struct cl;

struct cl_route {
	struct cl *cl;
	int idx;
	const struct t_e2e_route *spec;
	struct mqttmux_route *r;
};

struct cl {
	struct mqttmux *c;
	FILE *f;
	int ends;
	struct cl_route rt[T_E2E_ROUTES];
};

static void log_msg(struct cl_route *rt, const struct mqttmux_msg *m)
{
	char seq[16];
	size_t n = m->payload_len < sizeof(seq) - 1 ? m->payload_len : sizeof(seq) - 1;

	if (!strcmp(m->topic, T_E2E_PROBE))
		return;
	memcpy(seq, m->payload ? m->payload : "", n);
	seq[n] = '\0';
	fprintf(rt->cl->f, "m %d %s %s %s\n", rt->idx, m->session, n ? seq : "-", m->topic);
	if (!strcmp(rt->spec->filter, T_E2E_END) && !strcmp(m->topic, T_E2E_END))
		rt->cl->ends++;
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	log_msg(ud, m);
}

static void on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	(void)c;
	fprintf(((struct cl *)ud)->f, "g %s %llu\n", session ? session : "*",
		(unsigned long long)lost);
}

static struct mqttmux_route *add_route(struct cl *cl, struct cl_route *rt)
{
	const struct t_e2e_route *s = rt->spec;

	if (s->kind == T_E2E_LISTEN)
		return s->session ? mqttmux_listen_to(cl->c, s->session, s->filter, 1u << 16)
				  : mqttmux_listen(cl->c, s->filter, 1u << 16);
	return s->session ? mqttmux_handle_to(cl->c, s->session, s->filter, on_msg, rt)
			  : mqttmux_handle(cl->c, s->filter, on_msg, rt);
}

/* mqttmux_open, retried while router.sock is not there yet. */
static struct mqttmux *open_retry(const char *run)
{
	int64_t deadline = mm_time_mono_ms() + 10000;
	struct mqttmux *c;
	int err = 0;

	while (!(c = mqttmux_open(run, &err)) && mm_time_mono_ms() < deadline)
		usleep(20000);
	if (!c)
		fprintf(stderr, "e2e client: mqttmux_open('%s'): %s\n", run, strerror(-err));
	return c;
}

static int setup(struct cl *cl, const struct t_e2e_client *spec, const char *run, const char *path)
{
	cl->f = fopen(path, "we");
	if (!cl->f) {
		fprintf(stderr, "e2e client: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!(cl->c = open_retry(run)))
		return -1;
	(void)mqttmux_on_gap(cl->c, on_gap, cl);
	for (int i = 0; i < spec->nroutes; i++) {
		cl->rt[i] = (struct cl_route){ .cl = cl, .idx = i, .spec = &spec->routes[i] };
		cl->rt[i].r = add_route(cl, &cl->rt[i]);
		if (!cl->rt[i].r) {
			fprintf(stderr, "e2e client: route '%s': %s\n", spec->routes[i].filter,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int drain_listen(struct cl *cl, int n)
{
	for (int i = 0; i < n; i++) {
		const struct mqttmux_msg *m;
		int rc;

		if (cl->rt[i].spec->kind != T_E2E_LISTEN)
			continue;
		while ((rc = mqttmux_next(cl->rt[i].r, &m, 0)) == 1)
			log_msg(&cl->rt[i], m);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int receive(struct cl *cl, int n)
{
	int64_t deadline = mm_time_mono_ms() + RUN_MS;
	uint64_t dropped = 0;
	int rc = 0;

	while (cl->ends < T_E2E_NSESS && mm_time_mono_ms() < deadline && rc >= 0) {
		rc = mqttmux_dispatch(cl->c, 100);
		if (rc >= 0)
			rc = drain_listen(cl, n);
	}
	if (rc >= 0)
		rc = drain_listen(cl, n);
	for (int i = 0; i < n; i++)
		if (cl->rt[i].spec->kind == T_E2E_LISTEN)
			dropped += mqttmux_route_dropped(cl->rt[i].r);
	fprintf(cl->f, "lost %llu\ndropped %llu\n", (unsigned long long)mqttmux_lost(cl->c),
		(unsigned long long)dropped);
	if (rc < 0)
		fprintf(stderr, "e2e client: dispatch: %s\n", strerror(-rc));
	else if (cl->ends < T_E2E_NSESS)
		fprintf(stderr, "e2e client: %d of %d end markers in %d ms\n", cl->ends,
			T_E2E_NSESS, RUN_MS);
	return rc < 0 || cl->ends < T_E2E_NSESS ? -1 : 0;
}

int t_e2e_client_run(const struct t_e2e_client *spec, const char *run, const char *path,
		     int ready_fd)
{
	struct cl cl = { 0 };
	int rc = setup(&cl, spec, run, path);

	if (rc == 0 && write(ready_fd, "r", 1) != 1)
		rc = -1;
	close(ready_fd);
	if (rc == 0)
		rc = receive(&cl, spec->nroutes);
	mqttmux_close(cl.c);
	if (cl.f && fclose(cl.f) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}

/* ---- the parser ---- */

static int session_index(const char *name)
{
	for (int i = 0; i < T_E2E_NSESS; i++)
		if (!strcmp(name, T_E2E_SESSION[i]))
			return i;
	return -1;
}

static int parse_line(struct t_e2e_log *l, const char *line)
{
	struct t_e2e_rec r = { 0 };
	unsigned long long v;
	char sess[64];

	if (sscanf(line, "m %d %63s %d %31s", &r.route, sess, &r.seq, r.topic) == 4) {
		if ((r.session = session_index(sess)) < 0)
			return -1;
		l->rec[l->n++] = r;
	} else if (sscanf(line, "g %63s %llu", sess, &v) == 2) {
		l->gaps++;
		l->gap_sum += v;
	} else if (sscanf(line, "lost %llu", &v) == 1) {
		l->lost = v;
	} else if (sscanf(line, "dropped %llu", &v) == 1) {
		l->dropped = v;
	} else {
		return -1;
	}
	return 0;
}

struct t_e2e_log *t_e2e_log_load(const char *path)
{
	struct t_e2e_log *l = calloc(1, sizeof(*l));
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	char line[256];

	if (!l || !f)
		goto fail;
	while (fgets(line, sizeof(line), f)) {
		if ((size_t)l->n == cap) {
			struct t_e2e_rec *p =
				realloc(l->rec, (cap = cap ? 2 * cap : 1024) * sizeof(*p));
			if (!p)
				goto fail;
			l->rec = p;
		}
		if (parse_line(l, line) < 0) {
			fprintf(stderr, "%s: bad line: %s", path, line);
			goto fail;
		}
	}
	fclose(f);
	return l;
fail:
	if (f)
		fclose(f);
	t_e2e_log_free(l);
	return NULL;
}

void t_e2e_log_free(struct t_e2e_log *l)
{
	if (l)
		free(l->rec);
	free(l);
}
