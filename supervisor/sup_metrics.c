/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's metrics: the input of mm_metrics_render() (common/metrics.h) built from each
 * session's stats block (relaxed atomic loads), its in-ring header (fill = prod_pos - cons_pos)
 * and the supervisor's own state (restarts, failed mark, configured flags). Rates and the
 * in-ring high-water mark are sampled once a second by the loop and again on every read. The
 * totals of sessions whose stats block is gone are kept, so the manager sums never go down.
 * The router families, its connected clients and the delivery latency histogram come from the
 * router stats block (shm/rstats.h), which the supervisor creates once and keeps for its life:
 * plain relaxed loads, and each client slot copied under its seqlock.
 *
 * The text goes out on the control socket (`metrics`, sup_ctl_cmd.c) and, on SIGUSR1, to
 * metrics.textfile, written atomically (temp file in the same directory, fsync, rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "mm_time.h"
#include "mqttmux_version.h"
#include "sup.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/*
 * Seconds to the millisecond, and rates to a thousandth: exact enough for any dashboard, and
 * printed by mm_metrics_fmt_f64()'s fast path instead of its snprintf/strtod loop, which
 * would be most of a 1,000-session dump (bench/metrics.c).
 */
static double secs_ms(uint64_t ns)
{
	return (double)(ns / 1000000) / 1e3;
}

static double milli(double v)
{
	return v >= 0 && v < 4e12 ? (double)(uint64_t)(v * 1e3 + 0.5) / 1e3 : v;
}

/* Unmap what mstate_map() and router_map() mapped. Idempotent. */
void mm_sup_mstate_done(struct mm_sup_mstate *m)
{
	if (m->st)
		mm_shm_stats_detach(m->st);
	mm_shm_rstats_detach(m->rst);
	if (m->ring_hdr)
		(void)munmap(m->ring_hdr, MM_RING_DATA_OFF);
	memset(m, 0, sizeof(*m));
}

/* Map the stats block and the in-ring header once (read-only for the ring). */
static void mstate_map(struct mm_sup_child *c)
{
	void *p;

	if (!c->m.st && c->fds[MM_FD_WRK_STATS] >= 0 &&
	    mm_shm_stats_attach(c->fds[MM_FD_WRK_STATS], &c->m.st) < 0)
		c->m.st = NULL;
	if (!c->m.ring_hdr && c->fds[MM_FD_WRK_IN_RING] >= 0) {
		p = mmap(NULL, MM_RING_DATA_OFF, PROT_READ, MAP_SHARED, c->fds[MM_FD_WRK_IN_RING],
			 0);
		c->m.ring_hdr = p == MAP_FAILED ? NULL : p;
	}
}

/* Bytes in the in-ring, published and not yet released by the router; updates the mark. */
static uint64_t ring_fill(struct mm_sup_child *c)
{
	const struct mm_ring_hdr *h = c->m.ring_hdr;
	uint64_t cons, prod, fill;

	if (!h)
		return 0;
	cons = atomic_load_explicit(&h->cons_pos, memory_order_acquire);
	prod = atomic_load_explicit(&h->prod_pos, memory_order_acquire);
	fill = prod > cons ? prod - cons : 0;
	if (fill > c->m.hwm)
		c->m.hwm = fill;
	return fill;
}

/* The stats block of session <c>, mapped once; NULL if it cannot be mapped. */
const struct mm_stats_block *mm_sup_child_stats(struct mm_sup_child *c)
{
	mstate_map(c);
	return c->m.st;
}

/* Feed the rates and the mark of <c>; true if its messages moved in the last window. */
static bool sample_one(struct mm_sup_child *c, double t)
{
	const struct mm_stats_block *st;
	uint64_t msgs, bytes, fill;

	mstate_map(c);
	fill = ring_fill(c);
	st = c->m.st;
	if (!st)
		return fill > 0;
	msgs = LOAD(st->msgs_in) + LOAD(st->msgs_out);
	bytes = LOAD(st->bytes_in) + LOAD(st->bytes_out);
	if (!c->m.rates) {
		mm_metrics_rate_init(&c->m.msgs, MM_SUP_RATE_WINDOW_S, t, msgs);
		mm_metrics_rate_init(&c->m.bytes, MM_SUP_RATE_WINDOW_S, t, bytes);
		c->m.rates = true;
		return fill > 0;
	}
	(void)mm_metrics_rate_push(&c->m.msgs, t, msgs);
	(void)mm_metrics_rate_push(&c->m.bytes, t, bytes);
	return fill > 0 || mm_metrics_rate_current(&c->m.msgs) > 0;
}

/*
 * Feed the rates and the high-water marks of every session: on every read of the metrics, and
 * from the loop once a second while any session's messages moved in the last rate window (or
 * an in-ring holds data), else every MM_SUP_SAMPLE_IDLE_NS: an idle daemon does not wake for
 * rates that stay 0. Returns whether anything moved.
 */
bool mm_sup_metrics_sample(struct mm_sup *s, uint64_t now_ns)
{
	bool moved = false;

	s->sample_ns = now_ns;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name)
			moved |= sample_one(&s->children[i], secs(now_ns));
	return moved;
}

struct totals {
	uint64_t msgs, bytes, errors, reconnects;
};

static void add_totals(struct mm_sup_child *c, struct totals *t)
{
	const struct mm_stats_block *st;

	mstate_map(c);
	st = c->m.st;
	if (!st)
		return;
	t->msgs += LOAD(st->msgs_in) + LOAD(st->msgs_out);
	t->bytes += LOAD(st->bytes_in) + LOAD(st->bytes_out);
	t->errors += LOAD(st->errors);
	t->reconnects += LOAD(st->reconnects);
}

/* <c>'s stats block is about to go (session removed, or new rings): keep its totals. */
void mm_sup_metrics_retire(struct mm_sup *s, struct mm_sup_child *c)
{
	struct totals t = { 0 };

	add_totals(c, &t);
	s->retired_msgs += t.msgs;
	s->retired_bytes += t.bytes;
	s->retired_errors += t.errors;
	s->retired_reconnects += t.reconnects;
}

/* Is the stats block written by the current, READY process of <c>? */
static bool current(const struct mm_sup_child *c, const struct mm_stats_block *st)
{
	return c->pid > 0 && c->fsm.state == MM_CHILD_UP &&
	       LOAD(st->worker_pid) == (uint32_t)c->pid;
}

static const char *backend_name(uint32_t v)
{
	/* enum mm_wrk_backend (worker/wrk_loop.h): 1 io_uring, 2 epoll */
	return v == 1 ? "io_uring" : v == 2 ? "epoll" : NULL;
}

static void fill_counters(const struct mm_sup_child *c, struct mm_metrics_session *o)
{
	const struct mm_stats_block *st = c->m.st;
	bool cur = current(c, st);

	o->msgs_in = LOAD(st->msgs_in);
	o->bytes_in = LOAD(st->bytes_in);
	o->msgs_out = LOAD(st->msgs_out);
	o->bytes_out = LOAD(st->bytes_out);
	o->errors = LOAD(st->errors);
	o->reconnects = LOAD(st->reconnects);
	o->pub_ok = LOAD(st->pub_ok);
	o->pub_failed = LOAD(st->pub_failed);
	o->dropped_oversize = LOAD(st->dropped_oversize);
	o->dropped_invalid = LOAD(st->dropped_invalid);
	o->refused_packets = LOAD(st->refused_packets);
	o->quarantined = LOAD(st->quarantined);
	o->last_msg_s = secs_ms(LOAD(st->last_msg_ns));
	o->last_err_s = secs_ms(LOAD(st->last_err_ns));
	o->state = mm_sup_session_state(c, st);
	o->connected = cur && LOAD(st->connected);
	o->subscriptions = cur ? LOAD(st->subscriptions) : 0;
	o->backend = cur ? backend_name(LOAD(st->backend)) : NULL;
}

/* <c>'s config: children are in config order unless sessions came and went (then search). */
static const struct mm_cfg_session *session_cfg(const struct mm_sup *s, size_t i)
{
	const char *name = s->children[i].name;

	if (i < s->cfg->n_sessions && !strcmp(s->cfg->sessions[i].name, name))
		return &s->cfg->sessions[i];
	return mm_cfg_session_find(s->cfg, name);
}

static void fill_session(const struct mm_sup *s, size_t i, struct mm_metrics_session *o)
{
	const struct mm_cfg_session *cs = session_cfg(s, i);
	struct mm_sup_child *c = &s->children[i];

	memset(o, 0, sizeof(*o));
	mstate_map(c);
	o->name = c->name;
	o->restarts = c->fsm.restarts;
	o->failed = c->fsm.failed || c->fsm.state == MM_CHILD_FAILED;
	o->ring_size = c->ring_size;
	o->ring_fill = ring_fill(c);
	o->ring_hwm = c->m.hwm;
	o->unrouted = c->m.unrouted;
	o->state = mm_sup_session_state(c, NULL);
	if (cs) {
		o->persistent = cs->persistent;
		o->clean_session = cs->clean_session;
		o->auto_reconnect = cs->auto_reconnect;
	}
	if (c->m.rates) {
		o->msg_rate = milli(mm_metrics_rate_current(&c->m.msgs));
		o->avg_msg_rate = milli(mm_metrics_rate_average(&c->m.msgs));
		o->bytes_rate = milli(mm_metrics_rate_current(&c->m.bytes));
	}
	if (c->m.st)
		fill_counters(c, o);
}

/* The router stats block, mapped once from s->router.fds[MM_FD_WRK_STATS]; or NULL. */
static const struct mm_rstats_block *router_map(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;

	if (!c->m.rst && c->fds[MM_FD_WRK_STATS] >= 0 &&
	    mm_shm_rstats_attach(c->fds[MM_FD_WRK_STATS], &c->m.rst) < 0)
		c->m.rst = NULL;
	return c->m.rst;
}

static void fill_router(const struct mm_sup *s, const struct mm_rstats_block *rb,
			struct mm_metrics_router *o)
{
	o->msgs_in = LOAD(rb->msgs_in);
	o->fanout = LOAD(rb->deliveries);
	o->unrouted = LOAD(rb->unrouted);
	o->block_timeouts = LOAD(rb->block_timeouts);
	o->restarts = s->router.fsm.restarts;
	o->dropped = LOAD(rb->drops);
	o->gaps = LOAD(rb->gaps);
	o->events = LOAD(rb->events_fwd);
	o->clients_registered = LOAD(rb->clients_registered);
	o->clients_refused = LOAD(rb->clients_refused);
	o->clients_malformed = LOAD(rb->clients_malformed);
	o->pub_requests = LOAD(rb->pub_requests);
	o->pub_results[MM_METRICS_PUB_OK] = LOAD(rb->pub_ok);
	o->pub_results[MM_METRICS_PUB_ENOTCONN] = LOAD(rb->pub_enotconn);
	o->pub_results[MM_METRICS_PUB_ECONNRESET] = LOAD(rb->pub_econnreset);
	o->pub_results[MM_METRICS_PUB_ENOENT] = LOAD(rb->pub_enoent);
	o->pub_results[MM_METRICS_PUB_EMSGSIZE] = LOAD(rb->pub_emsgsize);
	o->pub_results[MM_METRICS_PUB_OTHER] = LOAD(rb->pub_other);
	_Static_assert(MM_METRICS_LIMITS == MM_RSTATS_LIMITS, "one reason per router bound");
	for (unsigned i = 0; i < MM_METRICS_LIMITS; i++)
		o->limited[i] = LOAD(rb->limited[i]);
}

/* Latency buckets in seconds: 1 us << k, k = 0 .. MM_RSTATS_LAT_BUCKETS - 1. */
static const double *lat_bounds(void)
{
	static double bounds[MM_RSTATS_LAT_BUCKETS];

	if (bounds[0] == 0.0)
		for (unsigned k = 0; k < MM_RSTATS_LAT_BUCKETS; k++)
			bounds[k] = (double)(MM_RSTATS_LAT_MIN_NS << k) / 1e9;
	return bounds;
}

/* What the router block gives the metrics input; the arrays live as long as the input. */
struct router_view {
	struct mm_metrics_router router;
	struct mm_metrics_hist lat;
	uint64_t lat_counts[MM_RSTATS_LAT_BUCKETS + 1];
	struct mm_rstats_client_snap snap[MM_RSTATS_MAX_CLIENTS];
	struct mm_metrics_client clients[MM_RSTATS_MAX_CLIENTS];
};

/* Connected clients only; a slot the router keeps busy (-EAGAIN) is left out of this read. */
static size_t fill_clients(const struct mm_rstats_block *rb, struct router_view *v)
{
	size_t n = 0;

	for (unsigned i = 0; i < MM_RSTATS_MAX_CLIENTS; i++) {
		struct mm_rstats_client_snap *sn = &v->snap[n];

		if (LOAD(rb->clients[i].state) != MM_RSTATS_CONNECTED ||
		    mm_rstats_client_read(rb, i, sn) < 0 || sn->state != MM_RSTATS_CONNECTED)
			continue;
		v->clients[n++] = (struct mm_metrics_client){
			.name = sn->name,
			.matched = sn->matched,
			.delivered = sn->delivered,
			.dropped = sn->dropped,
			.gaps = sn->gaps,
			.queued = sn->queued,
			.pid = sn->pid,
			.slot = i,
			.routes = sn->routes,
			.ring_fill = sn->ring_fill,
			.ring_size = sn->ring_size,
		};
	}
	return n;
}

static void fill_latency(const struct mm_rstats_block *rb, struct router_view *v)
{
	for (unsigned k = 0; k < MM_RSTATS_LAT_BUCKETS; k++)
		v->lat_counts[k] = LOAD(rb->lat[k]);
	v->lat_counts[MM_RSTATS_LAT_BUCKETS] = LOAD(rb->lat_overflow);
	v->lat = (struct mm_metrics_hist){ .bounds = lat_bounds(),
					   .counts = v->lat_counts,
					   .nbounds = MM_RSTATS_LAT_BUCKETS,
					   .sum = secs(LOAD(rb->lat_sum_ns)) };
}

/* The router, client and latency part of <in>, if the router block is there. */
static void fill_router_view(struct mm_sup *s, struct router_view *v, struct mm_metrics_input *in)
{
	const struct mm_rstats_block *rb = router_map(s);

	if (!rb)
		return;
	fill_router(s, rb, &v->router);
	fill_latency(rb, v);
	in->router = &v->router;
	in->latency = &v->lat;
	in->clients = v->clients;
	in->nclients = fill_clients(rb, v);
}

/* Append the whole metrics text to <b>. Returns 0 or -errno (-ENOMEM). */
int mm_sup_metrics_text(struct mm_sup *s, struct mm_metrics_buf *b)
{
	struct mm_metrics_session *v = calloc(s->n_children + 1, sizeof(*v));
	struct totals gone = { s->retired_msgs, s->retired_bytes, s->retired_errors,
			       s->retired_reconnects };
	struct router_view *rv = malloc(sizeof(*rv));
	struct mm_metrics_process *procs = calloc(s->n_children + 2, sizeof(*procs));
	struct mm_metrics_input in = { 0 };
	int r = -ENOMEM;

	if (!v || !rv || !procs)
		goto out_free;
	/* rates and marks as of this read, not of the last loop sample (up to 1 s old) */
	mm_sup_metrics_sample(s, mm_time_mono_ns());
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		/* A session being removed counts with the retired ones already. */
		if (c->name && c->remove)
			add_totals(c, &gone);
		else if (c->name)
			fill_session(s, i, &v[in.nsessions++]);
	}
	in.sessions = v;
	in.retired_msgs = gone.msgs;
	in.retired_bytes = gone.bytes;
	in.retired_errors = gone.errors;
	in.retired_reconnects = gone.reconnects;
	in.uptime_s = secs_ms(mm_time_mono_ns() - s->start_ns);
	in.version = MQTTMUX_VERSION;
	fill_router_view(s, rv, &in);
	in.procs = procs;
	in.nprocs = mm_sup_procs_fill(s, procs, s->n_children + 2);
	in.reload = &s->reloads;
	in.control = &s->ctl_refused;
	in.http = s->http ? &s->http_refused : NULL;
	r = mm_metrics_render(b, &in);
out_free:
	free(procs);
	free(rv);
	free(v);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write <text> to <path> atomically: "<path>.<pid>.tmp", fsync, rename. Returns 0 or -errno. */
static int write_atomic(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = fchmod(fd, 0644) < 0 ? -errno : write_all(fd, text, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

/*
 * Write the metrics text to metrics.textfile, if one is configured: on SIGUSR1 (logged each
 * time), or every metrics.textfile_interval (<periodic>: logged only when the result changes,
 * so a full disk is one line, not one per interval).
 */
void mm_sup_metrics_dump(struct mm_sup *s, bool periodic)
{
	const char *path = s->cfg->metrics.textfile;
	struct mm_metrics_buf b;
	int r;

	if (!path) {
		if (!periodic)
			mm_log(MM_LOG_INFO,
			       "SIGUSR1: no metrics.textfile configured, nothing written");
		return;
	}
	mm_metrics_buf_init_dyn(&b);
	r = mm_sup_metrics_text(s, &b);
	if (r == 0)
		r = write_atomic(path, b.data ? b.data : "", b.len);
	mm_metrics_buf_done(&b);
	if (periodic && r == s->textfile_err)
		return;
	if (r < 0)
		mm_log_errno(r, "%s: writing metrics to '%s' failed",
			     periodic ? "metrics" : "SIGUSR1", path);
	else
		mm_log(MM_LOG_INFO, "%s: metrics written to '%s'%s",
		       periodic ? "metrics" : "SIGUSR1", path,
		       periodic ? " (and every textfile_interval from now on)" : "");
	if (periodic)
		s->textfile_err = r;
}

/* The periodic textfile, from the loop: due now? Keeps s->textfile_next (0: none configured). */
void mm_sup_metrics_tick(struct mm_sup *s, uint64_t now_ns)
{
	double every = s->cfg->metrics.textfile_interval;

	if (every <= 0 || !s->cfg->metrics.textfile) {
		s->textfile_next = 0;
		return;
	}
	if (!s->textfile_next)
		s->textfile_err = 1; /* the first write is logged, whatever its result */
	else if (now_ns < s->textfile_next)
		return;
	mm_sup_metrics_dump(s, true);
	s->textfile_next = now_ns + (uint64_t)(every * 1e9);
}
