/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition, format 0.0.4: a small writer (families, samples, histograms) into
 * a caller buffer or a growable heap buffer, the sliding-window rate helper, and
 * mm_metrics_render(), which turns plain input structs (filled by the supervisor from the shm
 * stats blocks) into the full, deterministic metrics text. docs/metrics.md lists every name.
 *
 * Not for reading shared memory: callers copy the counters into the structs below first, so
 * this file is testable without a daemon.
 *
 * Library code: no logging; -errno returns. The writer keeps the first error (-ENOSPC, -ENOMEM
 * or -EINVAL for a bad metric or label name) and ignores later writes; check it once at the
 * end with mm_metrics_buf_err().
 */
#ifndef MM_METRICS_H
#define MM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum mm_metrics_type {
	MM_METRICS_COUNTER = 0,
	MM_METRICS_GAUGE,
	MM_METRICS_HISTOGRAM,
	MM_METRICS_UNTYPED, /* for names promtool would refuse as gauges (docs/metrics.md) */
	_MM_METRICS_TYPE_MAX
};

/* Output buffer. With a caller buffer, text that does not fit (NUL included) is -ENOSPC. */
struct mm_metrics_buf {
	char *data; /* NUL-terminated text so far (unless data is NULL) */
	size_t len; /* bytes of text, NUL excluded */
	size_t cap; /* bytes of data */
	bool growable;
	int err; /* first error, 0 if none */
};

struct mm_metrics_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
	const char *value; /* any bytes but NUL; escaped on output */
};

/*
 * Histogram input. bounds[] are the finite upper bounds, strictly ascending; counts[] has
 * nbounds + 1 entries, NOT cumulative: counts[i] observations fell in (bounds[i-1], bounds[i]],
 * counts[nbounds] above the last bound. The writer emits the cumulative _bucket series
 * (le="..." and le="+Inf"), _sum and _count.
 */
struct mm_metrics_hist {
	const double *bounds;
	const uint64_t *counts;
	size_t nbounds;
	double sum;
};

void mm_metrics_buf_init(struct mm_metrics_buf *b, char *mem, size_t cap);
void mm_metrics_buf_init_dyn(struct mm_metrics_buf *b);
void mm_metrics_buf_done(struct mm_metrics_buf *b);
int mm_metrics_buf_err(const struct mm_metrics_buf *b);

/*
 * Append raw text, already in exposition format. Everything else below goes through this.
 */
void mm_metrics_put(struct mm_metrics_buf *b, const char *s, size_t len);

/*
 * Start a family: "# HELP <name> <help escaped>" and "# TYPE <name> <type>". Call it once per
 * family, then write all of the family's samples before the next family.
 */
void mm_metrics_family(struct mm_metrics_buf *b, const char *name, enum mm_metrics_type type,
		       const char *help);

/* One sample line "<name>{labels} <value>"; labels may be NULL when nlabels is 0. */
void mm_metrics_sample_u64(struct mm_metrics_buf *b, const char *name,
			   const struct mm_metrics_label *labels, size_t nlabels, uint64_t v);
void mm_metrics_sample_f64(struct mm_metrics_buf *b, const char *name,
			   const struct mm_metrics_label *labels, size_t nlabels, double v);

/* The _bucket, _sum and _count lines of histogram <name>, each with <labels> (plus le). */
void mm_metrics_histogram(struct mm_metrics_buf *b, const char *name,
			  const struct mm_metrics_label *labels, size_t nlabels,
			  const struct mm_metrics_hist *h);

/*
 * Format <v> as a Prometheus sample value into buf (NUL-terminated): "+Inf", "-Inf", "NaN";
 * integral values below 2^53 in plain digits ("3", "-2", "0" for -0.0); anything else with the
 * fewest significant digits (15 to 17) that parse back to the same double. cap must be at
 * least 32. Returns the length written.
 */
size_t mm_metrics_fmt_f64(char *buf, size_t cap, double v);

/*
 * Escape <s> into b: mode 'l' for a label value (backslash, double quote, newline), 'h' for
 * HELP text (backslash, newline).
 */
void mm_metrics_escape(struct mm_metrics_buf *b, const char *s, char mode);

/*
 * Sliding-window rate of a monotonic counter. Feed (time, counter) samples with
 * mm_metrics_rate_push() (time in seconds from a monotonic clock, e.g. once a second or on
 * each scrape). mm_metrics_rate_current() is the increase over the last <window> seconds (from
 * the newest sample at or before now - window, or the oldest kept) divided by the time it
 * spans; mm_metrics_rate_average() is the increase since the first sample (the start, given to
 * init) divided by the time since then. Both are 0 until time has passed. Samples closer
 * together than window / (MM_METRICS_RATE_SLOTS - 2) replace the newest one, so the ring always
 * covers the whole window.
 */
#define MM_METRICS_RATE_SLOTS 16

struct mm_metrics_rate {
	double t[MM_METRICS_RATE_SLOTS];
	uint64_t v[MM_METRICS_RATE_SLOTS];
	unsigned head; /* index of the newest sample */
	unsigned n;    /* samples kept, >= 1 */
	double window;
	double t0; /* first sample */
	uint64_t v0;
};

void mm_metrics_rate_init(struct mm_metrics_rate *r, double window_s, double now_s,
			  uint64_t counter);
int mm_metrics_rate_push(struct mm_metrics_rate *r, double now_s, uint64_t counter);
double mm_metrics_rate_current(const struct mm_metrics_rate *r);
double mm_metrics_rate_average(const struct mm_metrics_rate *r);

/* One session, as the supervisor reads it from the session's stats block and its config. */
struct mm_metrics_session {
	const char *name;
	uint64_t msgs_in, bytes_in;   /* received from the broker */
	uint64_t msgs_out, bytes_out; /* published to the broker */
	uint64_t errors, reconnects;
	uint64_t restarts; /* worker processes started after the first */
	uint64_t pub_ok, pub_failed;
	uint64_t dropped_oversize;
	uint64_t unrouted;	  /* messages that matched no client route (the router's count) */
	uint64_t dropped_invalid; /* a broker's messages with an invalid topic */
	uint64_t refused_packets; /* a broker's packets over the size bound */
	uint64_t quarantined;	  /* poison messages acked, kept in state_dir, not delivered */
	uint64_t ring_size, ring_fill, ring_hwm; /* in-ring, bytes */
	double last_msg_s, last_err_s;		 /* Unix seconds, 0 = never */
	double msg_rate, avg_msg_rate, bytes_rate;
	unsigned state; /* enum mm_ctl_state (common/ctl.h): the seed's codes, as `status` */
	unsigned subscriptions;
	bool connected, persistent, clean_session, auto_reconnect, failed;
	const char *backend; /* event loop of the running worker ("io_uring", "epoll"), or NULL */
};

/* One router client. matched = delivered + dropped + queued at every read. */
struct mm_metrics_client {
	const char *name; /* labels client="<name>", slot="<slot>"; pid is a gauge of its own */
	uint64_t matched, delivered, dropped, gaps, queued;
	unsigned pid;
	unsigned slot; /* its router stats slot: tells apart two clients of one process */
	uint64_t routes, ring_fill, ring_size; /* gauges: routes now; delivery ring, bytes */
};

/* Publish completions by result, in the order of the result="..." label values. */
enum mm_metrics_pub_result {
	MM_METRICS_PUB_OK = 0,
	MM_METRICS_PUB_ENOTCONN,
	MM_METRICS_PUB_ECONNRESET,
	MM_METRICS_PUB_ENOENT,
	MM_METRICS_PUB_EMSGSIZE,
	MM_METRICS_PUB_OTHER,
	_MM_METRICS_PUB_MAX
};

/* mqttmux_router_limited_total{reason}: the order of enum mm_rstats_limit (shm/rstats.h). */
#define MM_METRICS_LIMITS 6

struct mm_metrics_router {
	uint64_t msgs_in;  /* records read from the sessions' in-rings */
	uint64_t fanout;   /* copies written to client rings */
	uint64_t unrouted; /* records that matched no client */
	uint64_t restarts; /* router processes started after the first */
	uint64_t dropped;  /* copies not written (client ring full) */
	uint64_t gaps;	   /* GAP records written */
	uint64_t events;   /* EVENT records forwarded */
	uint64_t clients_registered, clients_refused, clients_malformed;
	uint64_t pub_requests;			   /* PUBLISH requests from clients */
	uint64_t pub_results[_MM_METRICS_PUB_MAX]; /* their completions by result */
	uint64_t block_timeouts; /* blocking clients switched to drop (clients.block_timeout) */
	uint64_t limited[MM_METRICS_LIMITS]; /* the router's bounds hit, by reason */
};

/*
 * One process of the daemon, read from /proc by the supervisor: the process_* families that
 * Prometheus client libraries export for themselves, labelled kind="supervisor" | "router" |
 * "worker" and, for workers, session="<name>", so no series changes when a process restarts.
 */
struct mm_metrics_process {
	const char *kind;
	const char *session; /* workers only, else NULL */
	unsigned pid;
	double cpu_s;	/* user + system CPU seconds */
	double start_s; /* Unix time the process started */
	uint64_t rss_bytes, vsize_bytes;
	uint64_t open_fds, max_fds;
};

/* Config reloads (SIGHUP, `reload`), as Prometheus reports its own. */
struct mm_metrics_reload {
	uint64_t ok, failed; /* reloads by result */
	bool last_ok;	     /* the last reload succeeded (true before any) */
	double last_ok_s;    /* Unix time of the last successful load, start included */
};

/* control.sock connections the supervisor refused or closed, by reason (docs/security.md). */
struct mm_metrics_control {
	uint64_t per_uid;   /* refused: the uid holds clients.control_per_uid already */
	uint64_t full;	    /* refused: every connection slot taken */
	uint64_t idle;	    /* closed: idle for clients.control_timeout */
	uint64_t not_admin; /* commands refused: not an administrator */
};

/* metrics.http connections the supervisor refused or closed, by reason (docs/security.md). */
struct mm_metrics_http {
	uint64_t full;	  /* refused: every connection is being answered */
	uint64_t evicted; /* closed before its request was read: a new connection needed the slot */
	uint64_t timeout; /* closed: metrics.http_timeout after accept */
};

/* Daemon-wide input. The retired_* counts are the totals of removed sessions. */
struct mm_metrics_input {
	const struct mm_metrics_session *sessions;
	size_t nsessions;
	const struct mm_metrics_client *clients;
	size_t nclients;
	const struct mm_metrics_router *router; /* NULL: no router families */
	const struct mm_metrics_hist *latency;	/* NULL: no latency histogram */
	uint64_t retired_msgs, retired_bytes, retired_errors, retired_reconnects;
	double uptime_s;
	const char *version;
	const struct mm_metrics_process *procs; /* supervisor, router, workers; may be empty */
	size_t nprocs;
	const struct mm_metrics_reload *reload;	  /* NULL: no reload families */
	const struct mm_metrics_control *control; /* NULL: no control family */
	const struct mm_metrics_http *http;	  /* NULL: no HTTP family */
};

/*
 * Append the whole metrics text for <in> to b: families in the fixed order of docs/metrics.md,
 * sessions and clients sorted by name (byte order). Returns 0, -ENOMEM, or b's first error
 * (-ENOSPC with a fixed buffer that is too small).
 */
int mm_metrics_render(struct mm_metrics_buf *b, const struct mm_metrics_input *in);

/* metrics_ops.c: the process_* and reload families, last in the text (mm_metrics_render). */
void mm_metrics_render_ops(struct mm_metrics_buf *b, const struct mm_metrics_input *in);

#endif /* MM_METRICS_H */
