/* SPDX-License-Identifier: MIT */
/*
 * The commands of the control socket and their JSON replies (json-c; nothing is printed by
 * hand): status, wait, ping, restart, reload, events (its stream comes from sup_events.c); and
 * `metrics`, the one reply that is not JSON: the Prometheus text followed by a line "# EOF".
 * The protocol, the replies and the state mapping are documented in docs/operations.md
 * ("Control socket").
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "mm_time.h"
#include "mqttmux_version.h"
#include "stats.h"
#include "sup.h"

#define MAX_ARGS 4

static const struct mm_sup_child *find_child(const struct mm_sup *s, const char *name)
{
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name && !s->children[i].remove &&
		    !strcmp(s->children[i].name, name))
			return &s->children[i];
	return NULL;
}

/* READY (connected and subscribed) in the stats block of its current worker. */
static bool child_ready(const struct mm_sup_child *c, const struct mm_stats_block *st)
{
	return mm_sup_stats_current(c, st) &&
	       atomic_load_explicit(&st->state, memory_order_relaxed) == MM_SESS_READY;
}

/*
 * The stats block of <c>, through the supervisor's one mapping of it (sup_metrics.c): `status`
 * and every 10 ms re-check of a pending `wait` read 1,000 of them, and a map and unmap each
 * time was most of the cost.
 */
static const struct mm_stats_block *stats_of(struct mm_sup_child *c)
{
	return mm_sup_child_stats(c);
}

static struct json_object *u64(const struct mm_stats_block *st, size_t off)
{
	const _Atomic uint64_t *p = st ? (const _Atomic uint64_t *)((const char *)st + off) : NULL;

	return json_object_new_uint64(p ? atomic_load_explicit(p, memory_order_relaxed) : 0);
}

static struct json_object *last_error(const struct mm_stats_block *st)
{
	int32_t code = st ? atomic_load_explicit(&st->last_err_code, memory_order_relaxed) : 0;
	char buf[160];

	if (!code)
		return NULL;
	if (code < 0)
		snprintf(buf, sizeof(buf), "%s", strerror(-code));
	else
		snprintf(buf, sizeof(buf), "MQTT reason code %d", code);
	return json_object_new_string(buf);
}

/*
 * The broker the worker of session <name> is connected to, or trying (the first one before any
 * attempt). <name> is the <i>th of the running set: its place in the config when nothing was
 * added or removed since, so no search then.
 */
static struct json_object *broker_of(const struct mm_sup *s, size_t idx, const char *name,
				     const struct mm_stats_block *st)
{
	const struct mm_cfg_session *sess =
		idx < s->cfg->n_sessions && !strcmp(s->cfg->sessions[idx].name, name)
			? &s->cfg->sessions[idx]
			: mm_cfg_session_find(s->cfg, name);
	uint32_t i = st ? atomic_load_explicit(&st->broker, memory_order_relaxed) : 0;
	char buf[512];
	int n;

	if (!sess || !sess->n_brokers)
		return NULL;
	n = mm_cfg_broker_format(&sess->brokers[i < sess->n_brokers ? i : 0], buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return json_object_new_string(buf);
}

/*
 * Seconds since the current worker of <c> last beat (its stats block's beat_ns), or null when no
 * worker is up. A worker beats at least every MM_CHAN_HEARTBEAT_NS, whatever it is busy with.
 */
static struct json_object *beat_age(const struct mm_sup_child *c, const struct mm_stats_block *st)
{
	uint64_t beat, now = mm_time_mono_ns();

	if (!mm_sup_stats_current(c, st))
		return NULL;
	beat = atomic_load_explicit(&st->beat_ns, memory_order_relaxed);
	return json_object_new_double(beat && beat <= now ? (double)(now - beat) / 1e9 : 0.0);
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))
#define OFF(f)	     offsetof(struct mm_stats_block, f)

/*
 * Why the router is not up, or NULL (up, or nothing known yet: a first start): what the last
 * router said before it exited (MM_CHAN_FAILED), else how it ended. In <buf>.
 */
static const char *router_down_why(const struct mm_sup *s, char *buf, size_t size)
{
	const struct mm_sup_child *c = &s->router;

	if (c->fsm.state == MM_CHILD_UP)
		return NULL;
	if (s->router_why[0])
		snprintf(buf, size, "%s", s->router_why);
	else if (c->fsm.restarts && WIFEXITED(c->wstatus))
		snprintf(buf, size, "the last one exited with status %d", WEXITSTATUS(c->wstatus));
	else if (c->fsm.restarts && WIFSIGNALED(c->wstatus))
		snprintf(buf, size, "the last one was killed by signal %d", WTERMSIG(c->wstatus));
	else
		return NULL;
	return buf;
}

/*
 * The router, in every row: clients reach a session only through it, so a session whose
 * worker is connected is of no use while the router is down. "router": its state ("up",
 * "backoff", ...), "router_error": why it is not up (what it said before it exited), or null.
 */
static void router_json(const struct mm_sup *s, struct json_object *o)
{
	char buf[MM_CHAN_BODY_MAX + 64];
	const char *why = router_down_why(s, buf, sizeof(buf));

	ADD(o, "router", json_object_new_string(mm_child_state_to_string(s->router.fsm.state)));
	ADD(o, "router_error", why ? json_object_new_string(why) : NULL);
}

static struct json_object *session_json(const struct mm_sup *s, size_t i, struct mm_sup_child *c)
{
	const struct mm_stats_block *st = stats_of(c);
	enum mm_ctl_state state = mm_sup_session_state(c, st);
	struct json_object *o = json_object_new_object();

	if (o) {
		ADD(o, "name", json_object_new_string(c->name));
		ADD(o, "state", json_object_new_string(mm_ctl_state_to_string(state)));
		ADD(o, "state_code", json_object_new_int(state));
		ADD(o, "broker", broker_of(s, i, c->name, st));
		ADD(o, "pid", json_object_new_int64(c->pid > 0 ? c->pid : 0));
		ADD(o, "restarts", json_object_new_uint64(c->fsm.restarts));
		ADD(o, "messages_received", u64(st, OFF(msgs_in)));
		ADD(o, "messages_sent", u64(st, OFF(msgs_out)));
		ADD(o, "bytes_received", u64(st, OFF(bytes_in)));
		ADD(o, "bytes_sent", u64(st, OFF(bytes_out)));
		ADD(o, "reconnects", u64(st, OFF(reconnects)));
		ADD(o, "last_error", last_error(st));
		ADD(o, "heartbeat_age", beat_age(c, st));
		router_json(s, o);
	}
	return o;
}

/* The `status` reply: one object per session (or only <name>'s, if not NULL), in config order. */
struct json_object *mm_sup_ctl_status(struct mm_sup *s, const char *name)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < s->n_children; i++)
		if (s->children[i].name && (!name || !strcmp(s->children[i].name, name)))
			json_object_array_add(a, session_json(s, i, &s->children[i]));
	return a;
}

static void reply_ok(struct mm_ctl_conn *c, const char *key, struct json_object *v)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		ADD(o, "ok", json_object_new_boolean(1));
		if (key)
			ADD(o, key, v);
	}
	mm_sup_ctl_reply(c, o);
}

/*
 * Sessions not ready, "name (state)" each, for the timeout message; "" if all are. The router
 * comes first when it is not up: a session is of no use to clients before the router listens
 * on router.sock and holds the session's rings, and `mqttmux wait && mqttmux pub` must work.
 */
static bool not_ready(struct mm_sup *s, const struct mm_ctl_conn *c, char *buf, size_t size,
		      bool *permanent)
{
	size_t len = 0;

	buf[0] = '\0';
	if (s->router.fsm.state != MM_CHILD_UP) {
		char why[MM_CHAN_BODY_MAX + 64];

		const char *r = router_down_why(s, why, sizeof(why));

		len = (size_t)snprintf(buf, size, "router (%s%s%s)",
				       mm_child_state_to_string(s->router.fsm.state), r ? ": " : "",
				       r ? r : "");
		len = len < size ? len : size;
		*permanent |= s->router.fsm.state == MM_CHILD_FAILED;
	}
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *ch = &s->children[i];
		const struct mm_stats_block *st;

		if (!ch->name || ch->remove || (!c->wait_all && strcmp(ch->name, c->wait_name)))
			continue;
		st = stats_of(ch);
		if (!child_ready(ch, st) && len < size)
			len += (size_t)snprintf(
				buf + len, size - len, "%s%s (%s)", len ? ", " : "", ch->name,
				mm_ctl_state_to_string(mm_sup_session_state(ch, st)));
		*permanent |= ch->fsm.state == MM_CHILD_FAILED;
	}
	return buf[0] != '\0';
}

/* Re-check a pending `wait`: reply once every awaited session is ready or time is up. */
void mm_sup_ctl_wait_check(struct mm_sup *s, struct mm_ctl_conn *c)
{
	bool permanent = false;
	char buf[1024];

	if (!c->waiting)
		return;
	c->active_ns = mm_time_mono_ns(); /* a wait is not idle: its idle time starts after */
	if (!c->wait_all && !find_child(s, c->wait_name)) {
		c->waiting = false;
		mm_sup_ctl_error(c, "session '%s' was removed", c->wait_name);
	} else if (!not_ready(s, c, buf, sizeof(buf), &permanent)) {
		c->waiting = false;
		reply_ok(c, "ready", json_object_new_boolean(1));
	} else if (permanent) {
		c->waiting = false;
		mm_sup_ctl_error(c, "failed, not restarted (exit 64/78; see the log): %s", buf);
	} else if (mm_time_mono_ns() >= c->wait_deadline_ns) {
		c->waiting = false;
		mm_sup_ctl_error(c, "timeout after %g s: not ready: %s", c->wait_s, buf);
	}
}

/* wait [SESSION|*] [SECONDS] */
static void cmd_wait(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	const char *name = argc > 1 ? argv[1] : "*";
	double secs = MM_CTL_WAIT_DEFAULT;
	char *end = NULL;

	if (argc > 2) {
		errno = 0;
		secs = strtod(argv[2], &end);
		if (errno || end == argv[2] || *end || !isfinite(secs) || secs < 0 ||
		    secs > MM_CTL_WAIT_MAX) {
			mm_sup_ctl_error(c, "wait: bad timeout '%s' (0..%g seconds)", argv[2],
					 MM_CTL_WAIT_MAX);
			return;
		}
	}
	c->wait_all = !strcmp(name, "*");
	if (!c->wait_all && !find_child(s, name)) {
		mm_sup_ctl_error(c, "unknown session '%s'", name);
		return;
	}
	snprintf(c->wait_name, sizeof(c->wait_name), "%s", c->wait_all ? "" : name);
	c->wait_s = secs;
	c->wait_deadline_ns = mm_time_mono_ns() + (uint64_t)(secs * 1e9);
	c->waiting = true;
	mm_sup_ctl_wait_check(s, c);
}

/* restart NAME: a graceful stop, then a new worker (its rings and stats are kept). */
static void cmd_restart(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	const struct mm_sup_child *found;
	struct mm_sup_child *ch;

	found = argc == 2 ? find_child(s, argv[1]) : NULL;
	if (argc != 2)
		mm_sup_ctl_error(c, "usage: restart NAME");
	else if (!found)
		mm_sup_ctl_error(c, "unknown session '%s'", argv[1]);
	if (!found)
		return;
	ch = &s->children[found - s->children];
	mm_log(MM_LOG_INFO,
	       "session '%s': restart requested on the control socket by uid %u (pid %ld)",
	       ch->name, (unsigned)c->uid, (long)c->pid);
	ch->respawn = true;
	mm_sup_apply(s, ch, MM_CHILD_EV_STOP_REQ);
	reply_ok(c, NULL, NULL);
}

/* {"ok":false,"error":<error>,"problems":[...]} from <diag>. */
static void reply_problems(struct mm_ctl_conn *c, const char *error, const struct mm_cfg_diag *diag)
{
	struct json_object *o = json_object_new_object(), *problems = json_object_new_array();

	for (size_t i = 0; problems && i < mm_cfg_diag_count(diag); i++)
		json_object_array_add(problems, json_object_new_string(mm_cfg_diag_line(diag, i)));
	if (o) {
		ADD(o, "ok", json_object_new_boolean(0));
		ADD(o, "error", json_object_new_string(error));
		ADD(o, "problems", problems);
	} else {
		json_object_put(problems);
	}
	mm_sup_ctl_reply(c, o);
}

/* reload: like SIGHUP, but the problems of a broken file come back in the reply too. */
static void cmd_reload(struct mm_sup *s, struct mm_ctl_conn *c)
{
	struct mm_cfg_diag diag;
	struct mm_cfg *cfg = NULL;
	int r;

	mm_cfg_diag_init(&diag);
	r = mm_cfg_load(s->config_path, &cfg, &diag);
	mm_cfg_free(cfg);
	/* Applies a good file; logs every problem of a bad one and keeps the running config. */
	mm_sup_reload(s);
	if (r == 0)
		reply_ok(c, NULL, NULL);
	else
		reply_problems(c, "reload failed: keeping the running config", &diag);
	mm_cfg_diag_done(&diag);
}

static bool is_add(const char *cmd)
{
	return !strcmp(cmd, MM_CTL_CMD_ADD);
}

/* The reply to a failed add or remove: problems of a file, or one message. */
static void state_error(struct mm_ctl_conn *c, const char *cmd, const char *arg, int r,
			const struct mm_cfg_diag *diag)
{
	char msg[512];

	if (r == -EEXIST)
		snprintf(msg, sizeof(msg),
			 "%s: the config file has a session of that name (if it was removed at "
			 "run time, change its block there and reload to bring it back)",
			 cmd);
	else if (r == -ENOENT && !strcmp(cmd, MM_CTL_CMD_REMOVE))
		snprintf(msg, sizeof(msg), "unknown session '%.64s'", arg);
	else if (r == -EPERM)
		snprintf(msg, sizeof(msg),
			 "%s '%.200s': permission denied: the daemon opens no file for this user; "
			 "send the session file open (mqttmux session add does) and name no file "
			 "in it",
			 cmd, arg);
	else if (r == -EINVAL && mm_cfg_diag_count(diag))
		snprintf(msg, sizeof(msg), "%s failed: nothing changed", cmd);
	else
		snprintf(msg, sizeof(msg), "%s '%.200s': %s", cmd, arg, strerror(-r));
	/* A system error (state_dir full or unwritable, ...) is the admin's business too. */
	if (r != -EEXIST && r != -ENOENT && r != -EINVAL && r != -EPERM)
		mm_log(MM_LOG_ERROR, "control: %s", msg);
	if ((r == -EINVAL || r == -EPERM) && mm_cfg_diag_count(diag))
		reply_problems(c, msg, diag);
	else
		mm_sup_ctl_error(c, "%s", msg);
}

/*
 * add FILE: the session file comes as the descriptor the client opened and sent with the line
 * (SCM_RIGHTS), FILE naming it. Only root and our own uid, who can read what we can, may have
 * us open FILE ourselves, or a file the block names (docs/security.md).
 */
static int state_add(struct mm_sup *s, struct mm_ctl_conn *c, const char *file, const char *who,
		     struct mm_cfg_diag *diag)
{
	const struct mm_cfg_session_src src = { .path = file,
						.fd = c->passed_fd,
						.no_files = !c->owner };
	int r;

	if (src.fd < 0 && !c->owner)
		return -EPERM;
	r = mm_sup_state_add(s, &src, who, diag);
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	c->passed_fd = -1;
	return r;
}

/* add FILE | remove NAME: change the running set. */
static void cmd_state(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	struct mm_cfg_diag diag;
	char who[64];
	int r;

	if (argc != 2) {
		mm_sup_ctl_error(c, "usage: %s", is_add(argv[0]) ? "add FILE" : "remove NAME");
		return;
	}
	snprintf(who, sizeof(who), "uid %u (pid %ld)", (unsigned)c->uid, (long)c->pid);
	mm_cfg_diag_init(&diag);
	if (is_add(argv[0]))
		r = state_add(s, c, argv[1], who, &diag);
	else
		r = mm_sup_state_remove(s, argv[1], who, &diag);
	if (r == 0 && is_add(argv[0])) {
		mm_sup_start_new(s);
	} else if (r == 0) {
		mm_sup_stop_removed(s, argv[1]);
		mm_sup_state_drop(s, argv[1]);
	}
	if (r == 0)
		reply_ok(c, NULL, NULL);
	else
		state_error(c, argv[0], argv[1], r, &diag);
	mm_cfg_diag_done(&diag);
}

static bool printable(const char *line)
{
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p >= 0x7f)
			return false;
	return true;
}

static int split(char *line, char **argv)
{
	int argc = 0;

	for (char *save = NULL, *t = strtok_r(line, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save)) {
		if (argc == MAX_ARGS)
			return -E2BIG;
		argv[argc++] = t;
	}
	return argc;
}

static bool is(const char *a, const char *b)
{
	return !strcmp(a, b);
}

/*
 * events [SESSION]: {"ok":true}, then one JSON line per event (of SESSION, or of every
 * session) until the client hangs up; sup_events.c writes them (docs/events.md).
 */
static void cmd_events(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	if (argc > 2) {
		mm_sup_ctl_error(c, "usage: events [SESSION]");
		return;
	}
	if (argc == 2 && !find_child(s, argv[1])) {
		mm_sup_ctl_error(c, "unknown session '%s'", argv[1]);
		return;
	}
	reply_ok(c, NULL, NULL);
	c->events = true;
	snprintf(c->events_name, sizeof(c->events_name), "%s", argc == 2 ? argv[1] : "");
}

/* metrics: the Prometheus text, then "# EOF" alone on a line; an error is one JSON line. */
static void cmd_metrics(struct mm_sup *s, struct mm_ctl_conn *c, int argc)
{
	struct mm_metrics_buf b;
	int r;

	if (argc != 1) {
		mm_sup_ctl_error(c, "usage: metrics");
		return;
	}
	mm_metrics_buf_init_dyn(&b);
	r = mm_sup_metrics_text(s, &b);
	mm_metrics_put(&b, MM_CTL_METRICS_END, strlen(MM_CTL_METRICS_END));
	if (r == 0)
		r = mm_metrics_buf_err(&b);
	if (r < 0)
		mm_sup_ctl_error(c, "metrics: %s", strerror(-r));
	else
		mm_sup_ctl_reply_raw(c, b.data, b.len);
	mm_metrics_buf_done(&b);
}

/* status [SESSION]: the array of every session, or of SESSION alone. */
static void cmd_status(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	if (argc > 2)
		mm_sup_ctl_error(c, "usage: status [SESSION]");
	else if (argc == 2 && !find_child(s, argv[1]))
		mm_sup_ctl_error(c, "unknown session '%.64s'", argv[1]);
	else
		mm_sup_ctl_reply(c, mm_sup_ctl_status(s, argc == 2 ? argv[1] : NULL));
}

/* help: every command with its arguments, as docs/operations.md lists them. */
static void cmd_help(struct mm_ctl_conn *c)
{
	static const char *const usage[] = {
		MM_CTL_CMD_PING,
		MM_CTL_CMD_STATUS " [SESSION]",
		MM_CTL_CMD_WAIT " [SESSION|*] [SECONDS]",
		MM_CTL_CMD_RESTART " NAME",
		MM_CTL_CMD_RELOAD,
		MM_CTL_CMD_METRICS,
		MM_CTL_CMD_ADD " FILE",
		MM_CTL_CMD_REMOVE " NAME",
		MM_CTL_CMD_EVENTS " [SESSION]",
		MM_CTL_CMD_VERSION,
		MM_CTL_CMD_HELP,
	};
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < sizeof(usage) / sizeof(usage[0]); i++)
		json_object_array_add(a, json_object_new_string(usage[i]));
	reply_ok(c, "commands", a);
}

static bool is_admin_cmd(const char *cmd)
{
	return is(cmd, MM_CTL_CMD_RESTART) || is(cmd, MM_CTL_CMD_RELOAD) ||
	       is(cmd, MM_CTL_CMD_ADD) || is(cmd, MM_CTL_CMD_REMOVE);
}

/*
 * Administration is for root, our uid and clients.admin_uids/admin_gids; being allowed to
 * connect (allow_uids) gives data access and status only. Every attempt is logged with who.
 */
static bool admin_gate(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	const char *arg = argc > 1 ? argv[1] : "";

	if (c->admin) {
		mm_log(MM_LOG_INFO, "control: uid %u (pid %ld) asks: %s%s%.200s", (unsigned)c->uid,
		       (long)c->pid, argv[0], argc > 1 ? " " : "", arg);
		return true;
	}
	s->ctl_refused.not_admin++;
	mm_log(MM_LOG_WARNING,
	       "control: uid %u (pid %ld) refused: %s%s%.200s (not in clients.admin_uids or "
	       "admin_gids)",
	       (unsigned)c->uid, (long)c->pid, argv[0], argc > 1 ? " " : "", arg);
	mm_sup_ctl_error(c,
			 "%s: permission denied: uid %u is not an administrator "
			 "(clients.admin_uids, admin_gids)",
			 argv[0], (unsigned)c->uid);
	return false;
}

static void dispatch(struct mm_sup *s, struct mm_ctl_conn *c, char **argv, int argc)
{
	const char *cmd = argv[0];

	if (is_admin_cmd(cmd) && !admin_gate(s, c, argv, argc))
		return;
	if (is(cmd, MM_CTL_CMD_PING))
		reply_ok(c, "reply", json_object_new_string("pong"));
	else if (is(cmd, MM_CTL_CMD_STATUS))
		cmd_status(s, c, argv, argc);
	else if (is(cmd, MM_CTL_CMD_HELP))
		cmd_help(c);
	else if (is(cmd, MM_CTL_CMD_VERSION))
		reply_ok(c, "version", json_object_new_string(MQTTMUX_VERSION));
	else if (is(cmd, MM_CTL_CMD_METRICS))
		cmd_metrics(s, c, argc);
	else if (s->stopping && (is(cmd, MM_CTL_CMD_WAIT) || is(cmd, MM_CTL_CMD_RESTART) ||
				 is(cmd, MM_CTL_CMD_RELOAD) || is(cmd, MM_CTL_CMD_ADD) ||
				 is(cmd, MM_CTL_CMD_REMOVE)))
		mm_sup_ctl_error(c, "%s: mqttmuxd is stopping", cmd);
	else if (is(cmd, MM_CTL_CMD_WAIT))
		cmd_wait(s, c, argv, argc);
	else if (is(cmd, MM_CTL_CMD_RESTART))
		cmd_restart(s, c, argv, argc);
	else if (is(cmd, MM_CTL_CMD_RELOAD) && argc == 1)
		cmd_reload(s, c);
	else if (is(cmd, MM_CTL_CMD_RELOAD))
		mm_sup_ctl_error(c, "usage: reload");
	else if (is(cmd, MM_CTL_CMD_ADD) || is(cmd, MM_CTL_CMD_REMOVE))
		cmd_state(s, c, argv, argc);
	else if (is(cmd, MM_CTL_CMD_EVENTS))
		cmd_events(s, c, argv, argc);
	else
		mm_sup_ctl_error(c, "unknown command '%.64s'", cmd);
}

/* Run one command line (NUL-terminated, without its newline); the reply goes to <c>. */
void mm_sup_ctl_command(struct mm_sup *s, struct mm_ctl_conn *c, char *line)
{
	char *argv[MAX_ARGS];
	int argc;

	if (!printable(line)) {
		mm_sup_ctl_error(c, "invalid characters in command");
		return;
	}
	argc = split(line, argv);
	if (argc < 0)
		mm_sup_ctl_error(c, "too many arguments");
	else if (argc > 0) /* an empty line gets no answer */
		dispatch(s, c, argv, argc);
}
