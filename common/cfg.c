/* SPDX-License-Identifier: MIT */
/*
 * Loading the config file: libconfig parses it, then the top-level schema (runtime_dir,
 * state_dir, log_level, metrics, clients, restart, sessions) is checked completely, and the
 * checks that span groups run last. The session block lives in cfg_session.c, the schema
 * walker in cfg_read.c, value syntax in cfg_check.c. See docs/configuration.md for the keys.
 */
#include "cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfg_read.h"
#include "mqttmux.h" /* MQTTMUX_DEFAULT_DIR: the runtime_dir clients look in too */

/* Defaults, with the reasons in docs/configuration.md. */
#define DEFAULT_STATE_DIR	 "/var/lib/mqttmux"
#define DEFAULT_CLIENT_RING_SIZE (4u * 1024 * 1024)
#define DEFAULT_REJOIN_GRACE	 10.0 /* s: see docs/configuration.md, "Why these defaults" */
#define DEFAULT_BLOCK_TIMEOUT	 30.0 /* s: idem */
#define DEFAULT_CONTROL_PER_UID	 8    /* of MM_CTL_MAX_CONNS (64): 8 users fill it */
#define DEFAULT_CONTROL_TIMEOUT	 30.0 /* s: long enough to type a command by hand */
#define DEFAULT_MAX_CLIENTS	 1024 /* router.sock: see docs/security.md, "Bounds" */
#define DEFAULT_MAX_CLIENTS_UID	 256
#define DEFAULT_MAX_ROUTES	 4096
#define DEFAULT_MAX_FILTER_LEN	 1024
#define DEFAULT_MAX_PENDING	 1000
#define DEFAULT_MAX_QUEUED	 (16u * 1024 * 1024)
#define DEFAULT_HTTP_CONNS	 8
#define DEFAULT_HTTP_TIMEOUT	 5.0 /* s: a scrape that takes longer is not a scrape */
#define DEFAULT_CONNECT_RATE	 500 /* attempts/s, all workers: idem */
#define DEFAULT_CONNECT_BURST	 100 /* attempts at once: idem */

static const char *const log_level_names[] = { "error", "warning", "info", "debug", NULL };
static const char *const on_full_names[] = { "drop", "block", NULL };
static const char *const log_format_names[] = { "text", "json", NULL };

/* Name of format <f> as written in the config, or "?" when out of range. */
const char *mm_cfg_log_format_to_string(enum mm_cfg_log_format f)
{
	if ((unsigned int)f >= _MM_CFG_LOG_FORMAT_MAX)
		return "?";
	return log_format_names[f];
}

/* Name of level <l> as written in the config, or "?" when out of range. */
const char *mm_cfg_log_level_to_string(enum mm_cfg_log_level l)
{
	if ((unsigned int)l >= _MM_CFG_LOG_LEVEL_MAX)
		return "?";
	return log_level_names[l];
}

/* Name of policy <f> as written in the config, or "?" when out of range. */
const char *mm_cfg_on_full_to_string(enum mm_cfg_on_full f)
{
	if ((unsigned int)f >= _MM_CFG_ON_FULL_MAX)
		return "?";
	return on_full_names[f];
}

/* A user (<group> false) or group name to its id: 0, or -ENOENT / -errno. */
static int id_of_name(const char *name, bool group, unsigned int *ret)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int r = group ? getgrnam_r(name, &gr, buf, sizeof(buf), &grp)
		      : getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);

	if (r)
		return -r;
	if (grp)
		*ret = grp->gr_gid;
	else if (pwp)
		*ret = pwp->pw_uid;
	return grp || pwp ? 0 : -ENOENT;
}

/* "1000" as a number, or -1 when <s> is not all digits (or too large). */
static long long numeric(const char *s)
{
	char *end;
	unsigned long long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	v = strtoull(s, &end, 10);
	return v > UINT_MAX - 1 ? -1 : (long long)v;
}

/*
 * The top-level `user`: a user name or a numeric id the user database knows, to its uid and
 * primary gid (either pointer may be NULL). 0, or -ENOENT / -errno.
 */
int mm_cfg_user_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;
	long long n = numeric(name);
	int r = n >= 0 ? getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &pwp)
		       : getpwnam_r(name, &pw, buf, sizeof(buf), &pwp);

	if (r)
		return -r;
	if (!pwp)
		return -ENOENT;
	if (uid)
		*uid = pwp->pw_uid;
	if (gid)
		*gid = pwp->pw_gid;
	return 0;
}

/* The top-level `group`: a group name or a numeric id the group database knows. */
int mm_cfg_group_lookup(const char *name, gid_t *gid)
{
	char buf[16384];
	struct group gr, *grp = NULL;
	long long n = numeric(name);
	int r = n >= 0 ? getgrgid_r((gid_t)n, &gr, buf, sizeof(buf), &grp)
		       : getgrnam_r(name, &gr, buf, sizeof(buf), &grp);

	if (r)
		return -r;
	if (!grp)
		return -ENOENT;
	if (gid)
		*gid = grp->gr_gid;
	return 0;
}

/* One element of a *_uids / *_gids list: an id (0 .. 2^32 - 2) or a user or group name. */
static void id_read(struct mm_cfg_ctx *c, const config_setting_t *e, const char *key,
		    unsigned int i, unsigned int *ret)
{
	bool group = strstr(key, "_gids") != NULL;
	long long v = mm_cfg_is_int(e) ? config_setting_get_int64(e) : -1;
	const char *name = config_setting_get_string(e);
	int r;

	if (name) {
		r = id_of_name(name, group, ret);
		if (r < 0)
			mm_cfg_bad(c, e, key, "element %u: %s %s '%.64s'%s%s", i,
				   r == -ENOENT ? "no such" : "cannot look up",
				   group ? "group" : "user", name, r == -ENOENT ? "" : ": ",
				   r == -ENOENT ? "" : strerror(-r));
	} else if (v < 0 || v > (long long)UINT_MAX - 1) {
		mm_cfg_bad(c, e, key, "element %u must be an id from 0 to %u, or a %s name", i,
			   UINT_MAX - 1, group ? "group" : "user");
	} else {
		*ret = (unsigned int)v;
	}
}

/*
 * Read a list of user or group ids or names (resolved now, with the system's user and group
 * databases) into a new array of unsigned int.
 */
void mm_cfg_ids_read(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key,
		     unsigned int **ret, size_t *ret_n)
{
	unsigned int n = (unsigned int)config_setting_length(s), *ids;

	if (!mm_cfg_is_seq(s)) {
		mm_cfg_bad(c, s, key,
			   "expected a list of ids or names [ 0, 1000 ] or "
			   "[ \"alice\" ], got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids) {
		mm_cfg_oom(c);
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		id_read(c, config_setting_get_elem(s, i), key, i, &ids[i]);
	free(*ret);
	*ret = ids;
	*ret_n = n;
}

static void uids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_clients *cl = obj;

	_Static_assert(sizeof(uid_t) == sizeof(unsigned int), "uid_t is an unsigned int");
	mm_cfg_ids_read(c, s, "allow_uids", &cl->allow_uids, &cl->n_allow_uids);
}

static void gids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_clients *cl = obj;

	_Static_assert(sizeof(gid_t) == sizeof(unsigned int), "gid_t is an unsigned int");
	mm_cfg_ids_read(c, s, "allow_gids", &cl->allow_gids, &cl->n_allow_gids);
}

static void admin_uids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_clients *cl = obj;

	mm_cfg_ids_read(c, s, "admin_uids", &cl->admin_uids, &cl->n_admin_uids);
}

static void admin_gids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_clients *cl = obj;

	mm_cfg_ids_read(c, s, "admin_gids", &cl->admin_gids, &cl->n_admin_gids);
}

/*
 * metrics.http = "host:port": the port is required, a bracketed IPv6 host is fine. ":port"
 * (host "") is every interface, as Prometheus exporters read ":9100".
 */
static void http_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_metrics *m = obj;
	char host[MM_CFG_HOST_MAX + 1], why[MM_CFG_WHY_MAX], buf[32];
	const char *v = config_setting_get_string(s);
	uint16_t port;
	bool any;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		mm_cfg_bad(c, s, "http", "expected a string \"host:port\", got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	/* ":PORT": the port is checked as for a named host, then the host is left empty */
	any = v[0] == ':';
	snprintf(buf, sizeof(buf), "any%.24s", v);
	if (mm_cfg_hostport_parse(any ? buf : v, -1, host, &port, why, sizeof(why)) < 0) {
		mm_cfg_bad(c, s, "http", "'%.200s' %s", v, why);
		return;
	}
	if (any)
		host[0] = '\0';
	free(m->http_host);
	m->http_host = strdup(host);
	if (!m->http_host)
		mm_cfg_oom(c);
	m->http_port = port;
}

static void restart_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const struct mm_cfg_restart *r = obj;

	mm_cfg_check_range(c, g, "initial", r->initial > 0, "greater than 0", r->initial);
	mm_cfg_check_range(c, g, "max", r->max >= r->initial, "at least restart.initial", r->max);
	mm_cfg_check_range(c, g, "window", r->window > 0, "greater than 0", r->window);
}

/* A periodic textfile needs a textfile, and a pace that does not keep the daemon busy. */
static void metrics_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const struct mm_cfg_metrics *m = obj;

	mm_cfg_check_range(c, g, "textfile_interval",
			   m->textfile_interval == 0 || m->textfile_interval >= 1,
			   "0 (off) or at least 1 second", m->textfile_interval);
	if (m->textfile_interval > 0 && !m->textfile)
		mm_cfg_bad(c, config_setting_get_member(g, "textfile_interval"),
			   "textfile_interval", "needs metrics.textfile (where to write)");
	mm_cfg_check_range(c, g, "http_timeout", m->http_timeout > 0, "greater than 0",
			   m->http_timeout);
}

static const struct mm_cfg_key metrics_keys[] = {
	{ .name = "textfile",
	  .kind = MM_CFG_K_PATH,
	  .off = offsetof(struct mm_cfg_metrics, textfile) },
	{ .name = "textfile_interval",
	  .kind = MM_CFG_K_DOUBLE,
	  .off = offsetof(struct mm_cfg_metrics, textfile_interval),
	  .max = 86400 },
	{ .name = "http", .kind = MM_CFG_K_CUSTOM, .read = http_read },
	{ .name = "http_max_connections",
	  .kind = MM_CFG_K_INT,
	  .off = offsetof(struct mm_cfg_metrics, http_max_connections),
	  .min = 1,
	  .max = MM_CFG_HTTP_CONNS_MAX },
	{ .name = "http_timeout",
	  .kind = MM_CFG_K_DOUBLE,
	  .off = offsetof(struct mm_cfg_metrics, http_timeout),
	  .max = 3600 },
	{ .name = NULL },
};

static const struct mm_cfg_key clients_keys[] = {
	{ .name = "allow_uids", .kind = MM_CFG_K_CUSTOM, .read = uids_read },
	{ .name = "allow_gids", .kind = MM_CFG_K_CUSTOM, .read = gids_read },
	{ .name = "admin_uids", .kind = MM_CFG_K_CUSTOM, .read = admin_uids_read },
	{ .name = "admin_gids", .kind = MM_CFG_K_CUSTOM, .read = admin_gids_read },
	{ .name = "ring_size",
	  .kind = MM_CFG_K_U64,
	  .off = offsetof(struct mm_cfg_clients, ring_size),
	  .pow2 = true,
	  .min = MM_CFG_RING_MIN,
	  .max = MM_CFG_RING_MAX },
	{ .name = "on_full",
	  .kind = MM_CFG_K_ENUM,
	  .off = offsetof(struct mm_cfg_clients, on_full),
	  .names = on_full_names },
	{ .name = "rejoin_grace",
	  .kind = MM_CFG_K_DOUBLE,
	  .off = offsetof(struct mm_cfg_clients, rejoin_grace),
	  .max = MM_CFG_SECONDS_MAX },
	{ .name = "block_timeout",
	  .kind = MM_CFG_K_DOUBLE,
	  .off = offsetof(struct mm_cfg_clients, block_timeout),
	  .max = MM_CFG_SECONDS_MAX },
	{ .name = "control_per_uid",
	  .kind = MM_CFG_K_INT,
	  .off = offsetof(struct mm_cfg_clients, control_per_uid),
	  .min = 1,
	  .max = 64 },
	{ .name = "control_timeout",
	  .kind = MM_CFG_K_DOUBLE,
	  .off = offsetof(struct mm_cfg_clients, control_timeout),
	  .max = MM_CFG_SECONDS_MAX },
#define L(f, lo, hi) \
	.kind = MM_CFG_K_INT, .off = offsetof(struct mm_cfg_clients, f), .min = lo, .max = hi
	{ .name = "max_clients", L(max_clients, 1, 65536) },
	{ .name = "max_clients_per_uid", L(max_clients_per_uid, 1, 65536) },
	{ .name = "max_routes", L(max_routes, 1, 1000000) },
	{ .name = "max_filter_length", L(max_filter_length, 1, 65535) },
	{ .name = "max_pending", L(max_pending, 1, 1000000) },
#undef L
	{ .name = "max_queued_bytes",
	  .kind = MM_CFG_K_U64,
	  .off = offsetof(struct mm_cfg_clients, max_queued_bytes),
	  .min = 65536,
	  .max = MM_CFG_RING_MAX },
	{ .name = NULL },
};

static void clients_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const struct mm_cfg_clients *cl = obj;

	mm_cfg_check_range(c, g, "block_timeout", cl->block_timeout > 0, "greater than 0",
			   cl->block_timeout);
	mm_cfg_check_range(c, g, "control_timeout", cl->control_timeout > 0, "greater than 0",
			   cl->control_timeout);
}

static const struct mm_cfg_key restart_keys[] = {
#define R(f) .off = offsetof(struct mm_cfg_restart, f)
	{ .name = "initial", .kind = MM_CFG_K_DOUBLE, R(initial), .max = MM_CFG_SECONDS_MAX },
	{ .name = "max", .kind = MM_CFG_K_DOUBLE, R(max), .max = MM_CFG_SECONDS_MAX },
	{ .name = "burst", .kind = MM_CFG_K_INT, R(burst), .min = 1, .max = 1000 },
	{ .name = "window", .kind = MM_CFG_K_DOUBLE, R(window), .max = MM_CFG_SECONDS_MAX },
	{ .name = NULL },
#undef R
};

static const struct mm_cfg_key workers_keys[] = {
#define W(f) .off = offsetof(struct mm_cfg_workers, f)
	{ .name = "group_size",
	  .kind = MM_CFG_K_INT,
	  W(group_size),
	  .min = 1,
	  .max = MM_CFG_GROUP_MAX },
	{ .name = "connect_rate",
	  .kind = MM_CFG_K_INT,
	  W(connect_rate),
	  .min = 1,
	  .max = MM_CFG_CONNECT_RATE_MAX },
	{ .name = "connect_burst",
	  .kind = MM_CFG_K_INT,
	  W(connect_burst),
	  .min = 1,
	  .max = MM_CFG_CONNECT_RATE_MAX },
	{ .name = NULL },
#undef W
};

/* user: a user name or id the system knows (the daemon drops to it after start-up). */
static const char *user_why(const char *v)
{
	return mm_cfg_user_lookup(v, NULL, NULL) < 0 ? "no such user" : NULL;
}

static const char *group_why(const char *v)
{
	return mm_cfg_group_lookup(v, NULL) < 0 ? "no such group" : NULL;
}

static const struct mm_cfg_key top_keys[] = {
#define C(f) .off = offsetof(struct mm_cfg, f)
	{ .name = "runtime_dir", .kind = MM_CFG_K_PATH, C(runtime_dir) },
	{ .name = "state_dir", .kind = MM_CFG_K_PATH, C(state_dir) },
	{ .name = "log_level", .kind = MM_CFG_K_ENUM, C(log_level), .names = log_level_names },
	{ .name = "log_format", .kind = MM_CFG_K_ENUM, C(log_format), .names = log_format_names },
	{ .name = "user", .kind = MM_CFG_K_STR, C(user), .check = user_why },
	{ .name = "group", .kind = MM_CFG_K_STR, C(group), .check = group_why },
	{ .name = "seccomp", .kind = MM_CFG_K_BOOL, C(seccomp) },
	{ .name = "metrics",
	  .kind = MM_CFG_K_GROUP,
	  C(metrics),
	  .sub = metrics_keys,
	  .read = metrics_check },
	{ .name = "clients",
	  .kind = MM_CFG_K_GROUP,
	  C(clients),
	  .sub = clients_keys,
	  .read = clients_check },
	{ .name = "restart",
	  .kind = MM_CFG_K_GROUP,
	  C(restart),
	  .sub = restart_keys,
	  .read = restart_check },
	{ .name = "workers", .kind = MM_CFG_K_GROUP, C(workers), .sub = workers_keys },
	{ .name = "sessions", .kind = MM_CFG_K_CUSTOM, .read = mm_cfg_sessions_read },
	{ .name = NULL },
#undef C
};

/* A config holding only the defaults, or NULL. */
static struct mm_cfg *cfg_new(const char *path)
{
	struct mm_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->path = strdup(path);
	cfg->runtime_dir = strdup(MQTTMUX_DEFAULT_DIR);
	cfg->state_dir = strdup(DEFAULT_STATE_DIR);
	cfg->log_level = MM_CFG_LOG_INFO;
	cfg->seccomp = true;
	cfg->clients.ring_size = DEFAULT_CLIENT_RING_SIZE;
	cfg->clients.on_full = MM_CFG_ON_FULL_DROP;
	cfg->clients.rejoin_grace = DEFAULT_REJOIN_GRACE;
	cfg->clients.block_timeout = DEFAULT_BLOCK_TIMEOUT;
	cfg->clients.control_per_uid = DEFAULT_CONTROL_PER_UID;
	cfg->clients.control_timeout = DEFAULT_CONTROL_TIMEOUT;
	cfg->clients.max_clients = DEFAULT_MAX_CLIENTS;
	cfg->clients.max_clients_per_uid = DEFAULT_MAX_CLIENTS_UID;
	cfg->clients.max_routes = DEFAULT_MAX_ROUTES;
	cfg->clients.max_filter_length = DEFAULT_MAX_FILTER_LEN;
	cfg->clients.max_pending = DEFAULT_MAX_PENDING;
	cfg->clients.max_queued_bytes = DEFAULT_MAX_QUEUED;
	cfg->metrics.http_max_connections = DEFAULT_HTTP_CONNS;
	cfg->metrics.http_timeout = DEFAULT_HTTP_TIMEOUT;
	cfg->restart =
		(struct mm_cfg_restart){ .initial = 0.1, .max = 30.0, .burst = 5, .window = 10.0 };
	cfg->workers = (struct mm_cfg_workers){ .group_size = 1,
						.connect_rate = DEFAULT_CONNECT_RATE,
						.connect_burst = DEFAULT_CONNECT_BURST };
	if (!cfg->path || !cfg->runtime_dir || !cfg->state_dir) {
		mm_cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

/*
 * The router copies every message of every session into client rings, so the largest
 * message of each session must also fit in half a client ring.
 */
static void clients_ring_check(struct mm_cfg_ctx *c, const config_setting_t *root,
			       const struct mm_cfg *cfg)
{
	const config_setting_t *list = config_setting_get_member(root, "sessions"), *g, *s;
	uint64_t limit = cfg->clients.ring_size / 2 - MM_CFG_RING_RESERVE;

	for (size_t i = 0; i < cfg->n_sessions; i++) {
		if (cfg->sessions[i].perf.max_message_size < limit || !cfg->sessions[i].name)
			continue;
		g = config_setting_get_elem(list, (unsigned int)i);
		s = config_setting_get_member(g, "performance");
		s = s ? config_setting_get_member(s, "max_message_size") : NULL;
		(void)snprintf(c->where, sizeof(c->where), " in session '%s'",
			       cfg->sessions[i].name);
		mm_cfg_bad(c, s ? s : g, "performance.max_message_size",
			   "must be below clients.ring_size / 2 - %u = %llu (got %s%u)",
			   MM_CFG_RING_RESERVE, (unsigned long long)limit, s ? "" : "the default ",
			   cfg->sessions[i].perf.max_message_size);
	}
	c->where[0] = '\0';
}

/* The absolute directory of <path> into *ret (malloc'd). Returns 0 or -errno. */
static int config_dir(const char *path, char **ret)
{
	char *copy = strdup(path), *dir;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	dir = realpath(dirname(copy), NULL);
	if (!dir)
		r = -errno;
	free(copy);
	if (r == 0)
		*ret = dir;
	return r;
}

/*
 * Read <path> (mm_cfg_text_read: not a symlink, ours, not writable by others) and parse it into
 * <lc>: 0, -EINVAL with the problem in the diag, or -errno.
 */
static int parse(struct mm_cfg_ctx *c, config_t *lc, const char *path)
{
	const char *file;
	char *text = NULL;
	int r;

	r = c->src_fd > 0 ? mm_cfg_text_read_fd(c, c->src_fd, &text)
			  : mm_cfg_text_read(c, path, &text);
	if (r < 0)
		return r;
	/* libconfig would open the file with our rights: refused wherever the word is. */
	if (c->no_files && strstr(text, "@include")) {
		free(text);
		(void)mm_cfg_text_bad(c, path, "may not use @include when added over control.sock");
		return -EPERM;
	}
	/* @include "x" names a file relative to the config file's directory, like every path. */
	config_set_include_dir(lc, c->dir);
	if (config_read_string(lc, text) == CONFIG_TRUE) {
		mm_cfg_lex_text(c, path, text, strlen(text));
		free(text);
		return 0;
	}
	free(text);
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
		return -EIO;
	file = config_error_file(lc) ? config_error_file(lc) : path;
	r = mm_cfg_diag_add(c->diag, "%s:%d: %s", file, config_error_line(lc),
			    config_error_text(lc));
	return r < 0 ? r : -EINVAL;
}

/* Parse and check the whole file into cfg. Returns 0, -EINVAL or another -errno. */
static int load(struct mm_cfg_ctx *c, const char *path, struct mm_cfg *cfg)
{
	config_t lc;
	int r;

	config_init(&lc);
	r = parse(c, &lc, path);
	if (r == 0) {
		const char *user = NULL;

		/* before the sessions: the secrets may belong to the user we drop to */
		c->has_user = config_lookup_string(&lc, "user", &user) &&
			      mm_cfg_user_lookup(user, &c->user_uid, NULL) == 0;
		mm_cfg_read_group(c, config_root_setting(&lc), top_keys, cfg);
		clients_ring_check(c, config_root_setting(&lc), cfg);
		r = c->err ? c->err : c->problems ? -EINVAL : 0;
	}
	config_destroy(&lc);
	return r;
}

/*
 * Load and check the config file <path>. Every problem found (syntax error, unknown key, wrong
 * type, bad value, missing or unsafe file) is appended to <diag> (initialised by the caller with
 * mm_cfg_diag_init(); may be NULL) as "file:line: message", and checking goes on after each
 * one. Relative file names in the config are resolved against the directory of <path>.
 * Returns 0 with *ret set (free it with mm_cfg_free()), -EINVAL if problems were found (*ret
 * untouched), -ENOMEM, or the -errno of opening <path> (nothing is added to <diag> then).
 * Reads the password files, so call it with the privileges the daemon will use.
 */
int mm_cfg_load(const char *path, struct mm_cfg **ret, struct mm_cfg_diag *diag)
{
	struct mm_cfg_ctx c = { .path = path };
	struct mm_cfg_diag scratch;
	struct mm_cfg *cfg;
	char *dir = NULL;
	int r;

	r = config_dir(path, &dir);
	if (r < 0)
		return r;
	mm_cfg_diag_init(&scratch);
	c.diag = diag ? diag : &scratch;
	c.dir = dir;
	cfg = cfg_new(path);
	r = cfg ? load(&c, path, cfg) : -ENOMEM;
	if (r == 0)
		*ret = cfg;
	else
		mm_cfg_free(cfg);
	mm_cfg_diag_done(&scratch);
	free(dir);
	return r;
}

/* Free <cfg> and everything it owns, wiping passwords; NULL is fine. */
void mm_cfg_free(struct mm_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_sessions; i++)
		mm_cfg_session_done(&cfg->sessions[i]);
	free(cfg->sessions);
	free(cfg->clients.allow_uids);
	free(cfg->clients.allow_gids);
	free(cfg->clients.admin_uids);
	free(cfg->clients.admin_gids);
	free(cfg->metrics.textfile);
	free(cfg->metrics.http_host);
	free(cfg->runtime_dir);
	free(cfg->user);
	free(cfg->group);
	free(cfg->state_dir);
	free(cfg->path);
	free(cfg);
}

/* The session called <name> in <cfg>, or NULL. The result lives as long as <cfg>. */
const struct mm_cfg_session *mm_cfg_session_find(const struct mm_cfg *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_sessions; i++) {
		if (cfg->sessions[i].name && strcmp(cfg->sessions[i].name, name) == 0)
			return &cfg->sessions[i];
	}
	return NULL;
}

/* The file of mm_cfg_load_session(): its one "session" group, and the config it joins. */
struct one_session {
	struct mm_cfg_session *sess;
	const config_setting_t *group;
};

static void one_session_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct one_session *o = obj;

	if (!config_setting_is_group(s)) {
		mm_cfg_bad(c, s, "session", "expected a group { name = ...; }, got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	o->group = s;
	mm_cfg_session_read(c, s, 0, o->sess);
}

static const struct mm_cfg_key one_session_keys[] = {
	{ .name = "session", .kind = MM_CFG_K_CUSTOM, .required = true, .read = one_session_read },
	{ .name = NULL },
};

/* The checks against the config the session joins: a free name, a message size that fits. */
static void one_session_check(struct mm_cfg_ctx *c, const struct one_session *o,
			      const struct mm_cfg *base)
{
	const struct mm_cfg_session *ss = o->sess;
	const config_setting_t *s;
	uint64_t limit = base->clients.ring_size / 2 - MM_CFG_RING_RESERVE;

	if (!o->group || !ss->name)
		return;
	(void)snprintf(c->where, sizeof(c->where), " in session '%s'", ss->name);
	if (mm_cfg_session_find(base, ss->name))
		mm_cfg_bad(c, config_setting_get_member(o->group, "name"), "name",
			   "is already used by a running session");
	s = config_setting_get_member(o->group, "performance");
	s = s ? config_setting_get_member(s, "max_message_size") : NULL;
	if (ss->perf.max_message_size >= limit)
		mm_cfg_bad(c, s ? s : o->group, "performance.max_message_size",
			   "must be below clients.ring_size / 2 - %u = %llu (got %s%u)",
			   MM_CFG_RING_RESERVE, (unsigned long long)limit, s ? "" : "the default ",
			   ss->perf.max_message_size);
	c->where[0] = '\0';
}

/* Parse and check the session file into <o>. Returns 0, -EINVAL or another -errno. */
static int load_one(struct mm_cfg_ctx *c, const char *path, struct one_session *o,
		    const struct mm_cfg *base)
{
	config_t lc;
	int r;

	config_init(&lc);
	r = parse(c, &lc, path);
	if (r == 0) {
		mm_cfg_read_group(c, config_root_setting(&lc), one_session_keys, o);
		one_session_check(c, o, base);
		r = c->err ? c->err : c->problems ? -EINVAL : 0;
	}
	config_destroy(&lc);
	return r;
}

/*
 * Load a file holding one session block, "session = { name = ...; ... };", checked with every
 * rule of a session in mm_cfg_load() plus those against <base>, the config it is to join: its
 * name must not be used there and its messages must fit in base's client rings. Relative file
 * names resolve against the directory of <path>. Returns 0 with *ret set (free it with
 * mm_cfg_session_free()), -EINVAL with the problems in <diag> (may be NULL), or -errno.
 */
int mm_cfg_load_session(const char *path, const struct mm_cfg *base, struct mm_cfg_session **ret,
			struct mm_cfg_diag *diag)
{
	const struct mm_cfg_session_src src = { .path = path, .fd = -1 };

	return mm_cfg_load_session_src(&src, base, ret, diag);
}

/* mm_cfg_load_session() from <src> (cfg.h). A passed file whose directory we cannot see
 * resolves relative names against "/". */
int mm_cfg_load_session_src(const struct mm_cfg_session_src *src, const struct mm_cfg *base,
			    struct mm_cfg_session **ret, struct mm_cfg_diag *diag)
{
	const char *path = src->path;
	struct mm_cfg_ctx c = { .path = path, .src_fd = src->fd, .no_files = src->no_files };
	struct one_session o = { .sess = calloc(1, sizeof(*o.sess)) };
	struct mm_cfg_diag scratch;
	char *dir = NULL;
	int r;

	r = o.sess ? config_dir(path, &dir) : -ENOMEM;
	if (r < 0 && r != -ENOMEM && src->fd >= 0)
		r = (dir = strdup("/")) ? 0 : -ENOMEM;
	mm_cfg_diag_init(&scratch);
	c.diag = diag ? diag : &scratch;
	c.dir = dir;
	c.has_user = base && base->user && mm_cfg_user_lookup(base->user, &c.user_uid, NULL) == 0;
	if (r == 0)
		r = load_one(&c, path, &o, base);
	if (r == 0)
		*ret = o.sess;
	else
		mm_cfg_session_free(o.sess);
	mm_cfg_diag_done(&scratch);
	free(dir);
	return r;
}

/* Free a session from mm_cfg_load_session() (wiping its password); NULL is fine. */
void mm_cfg_session_free(struct mm_cfg_session *s)
{
	mm_cfg_session_done(s);
	free(s);
}
