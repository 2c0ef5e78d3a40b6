/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux sub`: mosquitto_sub on top of libmqttmux. Routes instead of a broker connection:
 * each -t FILTER is a route on -s SESSION (or on every session), delivered through the router.
 * The options and exit codes are mosquitto_sub's where they mean something here
 * (docs/client.md, "mqttmux sub"):
 *
 *   -t FILTER  -q QOS  -C COUNT  -W SECONDS  -v  -F FORMAT  -N  -R  -T FILTER  -E  -U FILTER
 *   --retained-only  --remove-retained  --random-filter PERCENT  --pretty  --quiet
 *
 * plus -s SESSION. Exit codes: 0 (COUNT reached, -E, --retained-only done), 27 when -W expires
 * first (mosquitto_sub's MOSQ_ERR_TIMEOUT), 1 on failure, 64 on bad usage. While a session it
 * listens to is down (or the router is), it says so on stderr, once per outage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "cli_fmt.h"
#include "mm_time.h"
#include "mqttmux.h"

#define MAX_FILTERS 64
#define MAX_DOWN    256 /* sessions remembered as down, for the "is back" line */

enum {
	OPT_PRETTY = 0x200,
	OPT_QUIET,
	OPT_RETAINED_ONLY,
	OPT_REMOVE_RETAINED,
	OPT_RANDOM,
	OPT_ON_FULL
};

struct sub {
	struct mm_cli_out out;
	const char *session;
	const char *filters[MAX_FILTERS], *unsubs[MAX_FILTERS], *outs[MAX_FILTERS];
	int nf, nu, nt;
	long qos, count, seen;
	double secs; /* -W, or -1 */
	long chance; /* --random-filter in 1/10000, 10000: print all */
	bool no_retain, retained_only, remove_retained, exit_after_sub;
	bool done; /* stop dispatching; rc holds the exit code */
	int rc;
	/* the last record printed: a record reaching several of our routes is printed once */
	const void *last_payload;
	uint64_t last_ns;
	uint32_t last_idx;
	char *down[MAX_DOWN];	       /* sessions we said are down */
	struct mqttmux_open_opts open; /* --on-full */
	struct mqttmux *c;
};

static int sub_usage(void)
{
	fprintf(stderr,
		"usage: mqttmux sub -t FILTER [-t FILTER ...] [-s SESSION] [-q QOS] [-C COUNT]\n"
		"                   [-W SECONDS] [-v] [-F FORMAT] [-N] [-R] [-T FILTER ...] [-E]\n"
		"                   [-U FILTER ...] [--retained-only] [--remove-retained]\n"
		"                   [--random-filter PERCENT] [--pretty] [--quiet]\n"
		"                   [--on-full drop|block]\n");
	return EX_USAGE;
}

/* mosquitto_topic_matches_sub's rules: + one level, # the rest (and the parent), no $ by wildcard.
 */
static bool topic_matches(const char *f, const char *t)
{
	if ((*f == '+' || *f == '#') && *t == '$')
		return false;
	for (;;) {
		const char *fe = strchrnul(f, '/'), *te = strchrnul(t, '/');
		bool plus = fe - f == 1 && *f == '+';

		if (fe - f == 1 && *f == '#')
			return true;
		if (!plus && (fe - f != te - t || memcmp(f, t, (size_t)(fe - f))))
			return false;
		if (!*te)
			return !*fe || !strcmp(fe, "/#");
		if (!*fe)
			return false;
		f = fe + 1;
		t = te + 1;
	}
}

static bool filtered_out(const struct sub *s, const char *topic)
{
	for (int i = 0; i < s->nt; i++)
		if (topic_matches(s->outs[i], topic))
			return true;
	return false;
}

/* Is this record the one we just printed (it matched several of our routes)? */
static bool seen_before(struct sub *s, const struct mqttmux_msg *m)
{
	if (s->seen && m->payload == s->last_payload && m->recv_ns == s->last_ns &&
	    m->session_idx == s->last_idx)
		return true;
	s->last_payload = m->payload;
	s->last_ns = m->recv_ns;
	s->last_idx = m->session_idx;
	return false;
}

static void finish(struct sub *s, int rc)
{
	s->done = true;
	s->rc = rc;
}

/* The order of mosquitto_sub's on_message: --retained-only, -R, -T, --remove-retained, print, -C.
 */
static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct sub *s = ud;

	(void)r;
	if (s->done || seen_before(s, m))
		return;
	if (s->retained_only && !m->retain) {
		finish(s, 0);
		return;
	}
	if ((m->retain && s->no_retain) || filtered_out(s, m->topic))
		return;
	if (s->remove_retained && m->retain)
		(void)mqttmux_publish_async(s->c, m->session, m->topic, NULL, 0, 1, true, NULL,
					    NULL);
	if (s->chance >= 10000 || random() % 10000 < s->chance)
		mm_cli_print(&s->out, m);
	if (ferror(stdout)) {
		finish(s, 1);
		return;
	}
	s->seen++;
	if (s->count && s->seen >= s->count)
		finish(s, 0);
}

static void on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	struct sub *s = ud;

	(void)c;
	if (!s->out.quiet)
		fprintf(stderr, "mqttmux: gap: %llu message(s) lost on %s%s%s\n",
			(unsigned long long)lost, session ? "session '" : "several sessions",
			session ? session : "", session ? "'" : "");
}

/* Remember <name> as down. Returns false if it already was (nothing to say). */
static bool mark_down(struct sub *s, const char *name)
{
	int free_slot = -1;

	for (int i = 0; i < MAX_DOWN; i++) {
		if (s->down[i] && !strcmp(s->down[i], name))
			return false;
		if (!s->down[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		s->down[free_slot] = strdup(name);
	return true;
}

/* Forget <name> as down. Returns true if it was (say it is back). */
static bool mark_up(struct sub *s, const char *name)
{
	for (int i = 0; i < MAX_DOWN; i++) {
		if (s->down[i] && !strcmp(s->down[i], name)) {
			free(s->down[i]);
			s->down[i] = NULL;
			return true;
		}
	}
	return false;
}

static void say_down(struct sub *s, const char *name, const char *why)
{
	if (mark_down(s, name) && !s->out.quiet)
		fprintf(stderr,
			"mqttmux: session '%s' is down%s%s: messages will come when it is back\n",
			name, why && *why ? ": " : "", why ? why : "");
}

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct sub *s = ud;
	const char *name = ev->session ? ev->session : "?";

	(void)c;
	if (s->session && ev->session && strcmp(s->session, ev->session))
		return;
	switch (ev->type) {
	case MQTTMUX_EV_SESSION_DISCONNECTED:
	case MQTTMUX_EV_SESSION_RECONNECTING:
		say_down(s, name, ev->text);
		break;
	case MQTTMUX_EV_SESSION_FAILED:
		say_down(s, name, "its worker keeps failing (still retried)");
		break;
	case MQTTMUX_EV_SESSION_READY:
		if (mark_up(s, name) && !s->out.quiet)
			fprintf(stderr, "mqttmux: session '%s' is back\n", name);
		break;
	case MQTTMUX_EV_ROUTER_DISCONNECTED:
		say_down(s, "(router)", NULL);
		break;
	case MQTTMUX_EV_ROUTER_RECONNECTED:
		if (mark_up(s, "(router)") && !s->out.quiet)
			fprintf(stderr, "mqttmux: the router is back\n");
		break;
	case MQTTMUX_EV_BLOCK_TIMEOUT:
		fprintf(stderr,
			"mqttmux: held session '%s' for %d s (clients.block_timeout): messages "
			"are now dropped when we fall behind\n",
			name, ev->code);
		break;
	}
}

/* At start: say which of our sessions are not connected now (best effort: control socket). */
static void say_initial_state(struct sub *s, const char *dir)
{
	struct mqttmux_session_status *st = NULL;
	size_t n = 0;
	char why[300];

	if (mqttmux_session_status(dir, &st, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (st[i].state_code == MQTTMUX_STATE_CONNECTED ||
		    (s->session && strcmp(s->session, st[i].name)))
			continue;
		snprintf(why, sizeof(why), "%s%s%s", st[i].state,
			 st[i].last_error ? ", last error: " : "",
			 st[i].last_error ? st[i].last_error : "");
		say_down(s, st[i].name, why);
	}
	mqttmux_session_status_free(st, n);
}

static int add_route(struct sub *s, const char *filter, struct mqttmux_route **ret)
{
	struct mqttmux_route *r = s->session
					  ? mqttmux_handle_to(s->c, s->session, filter, on_msg, s)
					  : mqttmux_handle(s->c, filter, on_msg, s);

	if (!r) {
		fprintf(stderr, "mqttmux: cannot subscribe to '%s'%s%s: %s\n", filter,
			s->session ? " on " : "", s->session ? s->session : "",
			errno == ENOENT	  ? "no such session"
			: errno == EINVAL ? "not a valid topic filter"
					  : strerror(errno));
		return -1;
	}
	if (ret)
		*ret = r;
	return 0;
}

/*
 * -U FILTER: mqttmuxd unsubscribes a session's filter when the last route that needs it ends.
 * A filter saved for a persistent session (resume_subs) that no client asks for any more stays
 * subscribed until a route with that filter comes and goes: so add one and stop it.
 */
static int unsubscribe(struct sub *s, const char *filter)
{
	struct mqttmux_route *r;

	if (add_route(s, filter, &r) < 0)
		return -1;
	return mqttmux_route_stop(r) < 0 ? -1 : 0;
}

/* Dispatch until done or the -W deadline (-1: none). Returns the exit code. */
static int sub_loop(struct sub *s, int64_t deadline)
{
	for (;;) {
		int64_t now = mm_time_mono_ms();
		int rc;

		if (s->done)
			return s->rc;
		if (deadline >= 0 && now >= deadline) {
			if (!s->out.quiet)
				fprintf(stderr, "mqttmux: timed out (-W) after %ld message(s)\n",
					s->seen);
			return MM_CLI_EXIT_TIMEOUT;
		}
		rc = mqttmux_dispatch(s->c, deadline < 0 ? -1 : (int)(deadline - now));
		if (rc < 0) {
			fprintf(stderr, "mqttmux: %s\n", strerror(-rc));
			return 1;
		}
	}
}

static int add_filter(const char **list, int *n, const char *f)
{
	if (*n >= MAX_FILTERS || !f[0])
		return -1;
	list[(*n)++] = f;
	return 0;
}

/*
 * --random-filter PERCENT (0.1 to 100): print about that share of the messages; the others
 * still count for -C. mosquitto_sub 2.0 documents the same but prints ten times fewer (it
 * scales the percentage by 10 out of 10000); this is what its documentation says.
 */
static int random_filter(struct sub *s, const char *arg)
{
	double pct;

	if (mm_cli_parse_secs(arg, 100, &pct) < 0 || pct < 0.1)
		return -1;
	s->chance = (long)(pct * 100 + 0.5);
	return 0;
}

/* --on-full: what the router does when our ring is full (default: the daemon's on_full). */
static int on_full_policy(struct sub *s, const char *arg)
{
	if (!strcmp(arg, "drop"))
		s->open.on_full = MQTTMUX_ON_FULL_DROP;
	else if (!strcmp(arg, "block"))
		s->open.on_full = MQTTMUX_ON_FULL_BLOCK;
	else
		return -1;
	return 0;
}

static int sub_opt(struct sub *s, int opt, const char *arg)
{
	switch (opt) {
	case 't':
		return add_filter(s->filters, &s->nf, arg);
	case 'T':
		return add_filter(s->outs, &s->nt, arg);
	case 'U':
		return add_filter(s->unsubs, &s->nu, arg);
	case 's':
		s->session = arg;
		return arg[0] ? 0 : -1;
	case 'q':
		return mm_cli_parse_long(arg, 0, 2, &s->qos);
	case 'C':
		return mm_cli_parse_long(arg, 1, 1L << 40, &s->count);
	case 'W':
		return mm_cli_parse_secs(arg, 86400.0 * 365, &s->secs) < 0 || s->secs <= 0 ? -1 : 0;
	case 'F':
		s->out.fmt = arg;
		return 0;
	case OPT_RANDOM:
		return random_filter(s, arg);
	case OPT_ON_FULL:
		return on_full_policy(s, arg);
	}
	return -1;
}

/* Flags without an argument. Returns 0, or -1 if <opt> is none of them. */
static int sub_flag(struct sub *s, int opt)
{
	switch (opt) {
	case 'v':
		s->out.verbose = true;
		break;
	case 'N':
		s->out.eol = false;
		break;
	case 'R':
		s->no_retain = true;
		break;
	case 'E':
		s->exit_after_sub = true;
		break;
	case OPT_PRETTY:
		s->out.pretty = true;
		break;
	case OPT_QUIET:
		s->out.quiet = true;
		break;
	case OPT_RETAINED_ONLY:
		s->retained_only = true;
		break;
	case OPT_REMOVE_RETAINED:
		s->remove_retained = true;
		break;
	default:
		return -1;
	}
	return 0;
}

static int sub_args(struct sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "session", required_argument, NULL, 's' },
		{ "qos", required_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "filter-out", required_argument, NULL, 'T' },
		{ "unsubscribe", required_argument, NULL, 'U' },
		{ "pretty", no_argument, NULL, OPT_PRETTY },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "retained-only", no_argument, NULL, OPT_RETAINED_ONLY },
		{ "remove-retained", no_argument, NULL, OPT_REMOVE_RETAINED },
		{ "random-filter", required_argument, NULL, OPT_RANDOM },
		{ "on-full", required_argument, NULL, OPT_ON_FULL },
		MM_CLI_FOREIGN_LONG,
		{ NULL, 0, NULL, 0 },
	};
	char err[200];
	int opt, li = -1;

	while ((opt = getopt_long(argc, argv, "+t:s:q:C:W:vF:NRT:EU:" MM_CLI_FOREIGN_SHORT, opts,
				  &li)) != -1) {
		if (mm_cli_foreign("sub", opt, li >= 0 ? opts[li].name : NULL))
			return -1;
		if (sub_flag(s, opt) < 0 && (!optarg || sub_opt(s, opt, optarg) < 0)) {
			if (optarg)
				fprintf(stderr, "mqttmux sub: -%c: bad value '%s'\n",
					opt < 0x100 ? opt : '-', optarg);
			sub_usage();
			return -1;
		}
		li = -1;
	}
	if (optind != argc || s->nf == 0) {
		if (s->nf == 0)
			fprintf(stderr, "mqttmux sub: give at least one topic filter with -t\n");
		sub_usage();
		return -1;
	}
	if (s->out.fmt && mm_cli_fmt_check(s->out.fmt, err, sizeof(err)) < 0) {
		fprintf(stderr, "mqttmux sub: -F: %s\n", err);
		return -1;
	}
	if (s->no_retain && s->retained_only) {
		fprintf(stderr, "mqttmux sub: -R and --retained-only together make no sense\n");
		return -1;
	}
	return 0;
}

static int sub_run(struct sub *s, const char *dir)
{
	for (int i = 0; i < s->nf; i++)
		if (add_route(s, s->filters[i], NULL) < 0)
			return 1;
	for (int i = 0; i < s->nu; i++)
		if (unsubscribe(s, s->unsubs[i]) < 0)
			return 1;
	if (s->exit_after_sub)
		return 0;
	say_initial_state(s, dir);
	return sub_loop(s, s->secs < 0 ? -1 : mm_time_mono_ms() + (int64_t)(s->secs * 1000));
}

int mm_cli_sub(const char *dir, int argc, char **argv)
{
	static struct sub s;
	int rc;

	s.out.eol = true;
	s.secs = -1;
	s.chance = 10000;
	if (sub_args(&s, argc, argv) < 0)
		return EX_USAGE;
	srandom((unsigned)mm_time_mono_ms());
	if (!(s.c = mm_cli_open(dir, &s.open)))
		return 1;
	mqttmux_on_gap(s.c, on_gap, &s);
	(void)mqttmux_on_event(s.c,
			       MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_DISCONNECTED) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_RECONNECTING) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_FAILED) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_READY) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_ROUTER_DISCONNECTED) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_ROUTER_RECONNECTED) |
				       MQTTMUX_EV_MASK(MQTTMUX_EV_BLOCK_TIMEOUT),
			       NULL, on_event, &s);
	mqttmux_set_route_qos(s.c, (int)s.qos);
	rc = sub_run(&s, dir);
	mqttmux_close(s.c);
	for (int i = 0; i < MAX_DOWN; i++)
		free(s.down[i]);
	return rc;
}
