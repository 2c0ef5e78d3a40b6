/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: kill -9 of a random client every second (scenario 3). Beside one checker that
 * must see everything, NCLI throwaway clients (checkers with no report) hold the same routes;
 * each second one of them, picked at random, is killed and replaced. After each kill the
 * router's descriptors and memfds must drop by one client's share (timed: that is the
 * recovery), and after the last replacement they, and the router's memory, must be back at
 * the baseline taken with the same clients.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sc.h"
#include "t_helpers.h"
#include "t_proc.h"

#define NCLI 4
#define NS   1000000000ull

struct res {
	pid_t router;
	int fds, memfds;
};

struct want {
	struct res *r;
	int fds, memfds;
};

static void res_read(struct res *r)
{
	r->fds = t_proc_nfds(r->router, &r->memfds);
}

static bool res_is(void *ud)
{
	struct want *w = ud;

	res_read(w->r);
	return w->r->fds == w->fds && w->r->memfds == w->memfds;
}

static bool exists(void *path)
{
	return access(path, F_OK) == 0;
}

/* Start throwaway client <i> (number <n> overall); returns once its routes are in. */
static pid_t throwaway(struct sc_env *e, int n)
{
	char ready[64], out[64], *rp, *op, *log = sc_path(e, "throwaway.log");
	pid_t pid;

	snprintf(ready, sizeof(ready), "throwaway-%d.ready", n);
	snprintf(out, sizeof(out), "throwaway-%d.json", n);
	rp = sc_path(e, ready);
	op = sc_path(e, out);
	pid = sc_spawn(e,
		       (const char *[]){ MM_LOADGEN_PATH, "check", "-d", e->run, "-n", "2", "-R",
					 rp, "-o", op, NULL },
		       log);
	if (pid > 0 && !sc_wait(exists, rp, SC_WAIT_MS)) {
		sc_fail(e, "throwaway client %d never registered", n);
		sc_kill(&pid);
	}
	free(rp);
	free(op);
	free(log);
	return pid;
}

/* One kill and replacement; returns the seconds until the router let the client go, or -1. */
static double kill_one(struct sc_env *e, pid_t *cl, int n, struct res *r, const struct res *per)
{
	struct want gone, back;
	uint64_t t0;
	double took;

	res_read(r);
	gone = (struct want){ r, r->fds - per->fds, r->memfds - per->memfds };
	back = (struct want){ r, r->fds, r->memfds };
	t0 = sc_now_ns();
	sc_kill(cl);
	if (!sc_wait(res_is, &gone, SC_WAIT_MS)) {
		sc_fail(e, "router kept %d fds / %d memfds after a client died (want %d / %d)",
			r->fds, r->memfds, gone.fds, gone.memfds);
		return -1;
	}
	took = (double)(sc_now_ns() - t0) / 1e9;
	*cl = throwaway(e, n);
	if (*cl <= 0 || !sc_wait(res_is, &back, SC_WAIT_MS)) {
		sc_fail(e, "the replacement client did not register");
		return -1;
	}
	return took;
}

struct settle {
	struct res *r;
	int from, last, same;
};

/* The router's descriptors grew past <from> and kept still over five looks (~50 ms). */
static bool settled(void *ud)
{
	struct settle *s = ud;

	res_read(s->r);
	s->same = s->r->fds == s->last ? s->same + 1 : 0;
	s->last = s->r->fds;
	if (s->same < 5 || s->r->fds <= s->from)
		return false;
	usleep(10000);
	return true;
}

/* The router's share of one client: start client 0 and look at the difference. */
static int first_client(struct sc_env *e, pid_t *cl, struct res *r, struct res *per)
{
	struct settle st = { r, 0, -1, 0 };
	struct res r0;

	res_read(r);
	r0 = *r;
	st.from = r0.fds;
	cl[0] = throwaway(e, 0);
	if (cl[0] <= 0 || !sc_wait(settled, &st, SC_WAIT_MS))
		return -1;
	res_read(r);
	*per = (struct res){ .fds = r->fds - r0.fds, .memfds = r->memfds - r0.memfds };
	return per->fds > 0 ? 0 : -1;
}

int sc_kill_client(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = 2, .extra = "clients = { ring_size = 1048576; };" };
	struct sc_load l = { .streams = 2, .qos = 1, .rate = 200, .secs = e->long_form ? 120 : 10 };
	struct res r = { 0 }, per = { 0 }, base;
	pid_t cl[NCLI] = { 0 };
	uint64_t seed = 0x5eed15, t0;
	double worst = 0;
	long rss0 = 0, rss1 = 0;
	int kills = 0, n = NCLI;

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0)
		goto out;
	r.router = t_proc_child(e->daemon, NULL);
	if (first_client(e, cl, &r, &per) < 0) {
		sc_fail(e, "cannot see a client's descriptors in the router");
		goto out;
	}
	for (int i = 1; i < NCLI; i++)
		if ((cl[i] = throwaway(e, i)) <= 0)
			goto out;
	if (sc_load_pub_start(e, &l) < 0)
		goto out;
	/* Baseline once the publisher's traffic flows and the router's descriptors are still. */
	if (!sc_wait(settled, &(struct settle){ &r, 0, -1, 0 }, SC_WAIT_MS))
		goto out;
	base = r;
	rss0 = t_proc_status_kb(r.router, "RssAnon");
	t0 = sc_now_ns();
	for (uint64_t t = t0 + NS; t < t0 + (uint64_t)((l.secs - 1) * NS); t += NS) {
		double took;

		sc_sleep_until(t);
		took = kill_one(e, &cl[t_rand(&seed) % NCLI], n++, &r, &per);
		if (took < 0)
			break;
		kills++;
		worst = took > worst ? took : worst;
	}
	/* The same clients as at the baseline: the same descriptors, and no more heap. */
	res_read(&r);
	rss1 = t_proc_status_kb(r.router, "RssAnon");
	sc_fig(e, "router_fds_vs_baseline", abs(r.fds - base.fds), SC_LE, 0, "");
	sc_fig(e, "router_memfds_vs_baseline", abs(r.memfds - base.memfds), SC_LE, 0, "");
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
out:
	sc_fig(e, "client_kills", kills, SC_GE, l.secs - 3, "");
	sc_fig(e, "worst_release_time", worst, e->long_form ? SC_LE : SC_INFO, 1.0, "s");
	sc_fig(e, "router_heap_growth", (double)(rss1 - rss0), SC_LE, 256, "KiB");
	sc_fig(e, "client_share_fds", per.fds, SC_INFO, 0, "");
	sc_fig(e, "client_share_memfds", per.memfds, SC_INFO, 0, "");
	sc_fig(e, "gap_lost_stable_client", (double)sc_load_top(&l, "gap_lost"), SC_LE, 0, "msgs");
	for (int i = 0; i < NCLI; i++)
		sc_kill(&cl[i]);
	sc_load_free(&l);
	return 0;
}
