/* SPDX-License-Identifier: MIT */
/*
 * The mqttmuxd configuration file (libconfig syntax): load it, validate it completely, and hand
 * the supervisor and the workers plain structs. Every key, its type, default and constraints are
 * documented in docs/configuration.md; keep the two in step.
 *
 * Loading never stops at the first problem: every problem found is appended to a struct
 * mm_cfg_diag as one "file:line: message" string, so that `mqttmuxd --check` can print them all.
 * Messages name the offending key ('tls.ca_file' in session 'plant') and never contain secrets.
 *
 * Library code: no logging, no globals; -errno returns.
 */
#ifndef MM_CFG_H
#define MM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define MM_CFG_NAME_MAX	     64	   /* session name: 1..64 of [A-Za-z0-9._-] */
#define MM_CFG_STR_MAX	     65535 /* MQTT strings (client id, username, topics) */
#define MM_CFG_HOST_MAX	     253   /* DNS name length limit */
#define MM_CFG_UNIX_PATH_MAX 107   /* sizeof(sun_path) - 1 */
#define MM_CFG_PORT_MQTT     1883
#define MM_CFG_PORT_MQTTS    8883

/* Ring sizes (clients.ring_size, performance.ring_size): powers of two in this range. */
#define MM_CFG_RING_MIN		  (64u * 1024)
#define MM_CFG_RING_MAX		  (1024u * 1024 * 1024)
/* A message must fit in half a ring minus this much room for the record and its metadata. */
#define MM_CFG_RING_RESERVE	  64u
/* Largest MQTT packet (the Remaining Length limit). */
#define MM_CFG_MESSAGE_MAX	  268435455u
/* performance.latency_budget_us: at most 100 ms of coalescing (docs/configuration.md). */
#define MM_CFG_LATENCY_BUDGET_MAX 100000u
/* Upper bound of every duration (seconds) and of reconnect.factor. */
#define MM_CFG_SECONDS_MAX	  86400

/* Room for the reason mm_cfg_broker_parse() refused a URL. */
#define MM_CFG_WHY_MAX 160

/* The problems found by mm_cfg_load(): "file:line: message", in the order they were found. */
struct mm_cfg_diag {
	char **lines;
	size_t n;
	size_t cap;
};

enum mm_cfg_log_level {
	MM_CFG_LOG_ERROR = 0,
	MM_CFG_LOG_WARNING,
	MM_CFG_LOG_INFO,
	MM_CFG_LOG_DEBUG,
	_MM_CFG_LOG_LEVEL_MAX
};

/* How processes write their log on stderr when it is not the journal (common/log.h). */
enum mm_cfg_log_format {
	MM_CFG_LOG_TEXT = 0, /* "ident[pid]: level: message" */
	MM_CFG_LOG_JSON,     /* one JSON object per line */
	_MM_CFG_LOG_FORMAT_MAX
};

/* What the router does when a client's delivery ring is full (DESIGN.md §4). */
enum mm_cfg_on_full {
	MM_CFG_ON_FULL_DROP = 0, /* skip that client, count the loss, deliver a GAP record */
	MM_CFG_ON_FULL_BLOCK,	 /* stop draining the session: backpressure to the broker */
	_MM_CFG_ON_FULL_MAX
};

enum mm_cfg_protocol {
	MM_CFG_PROTOCOL_311 = 0, /* "3.1.1" */
	MM_CFG_PROTOCOL_5,	 /* "5" */
	_MM_CFG_PROTOCOL_MAX
};

/* URL scheme as written; several schemes mean the same transport (see the tls flag). */
enum mm_cfg_scheme {
	MM_CFG_SCHEME_TCP = 0,
	MM_CFG_SCHEME_MQTT,
	MM_CFG_SCHEME_SSL,
	MM_CFG_SCHEME_MQTTS,
	MM_CFG_SCHEME_TLS,
	MM_CFG_SCHEME_UNIX,
	_MM_CFG_SCHEME_MAX
};

/* One parsed broker URL. Fixed buffers: no memory to free. */
struct mm_cfg_broker {
	enum mm_cfg_scheme scheme;
	bool tls;			/* ssl://, mqtts://, tls:// */
	char host[MM_CFG_HOST_MAX + 1]; /* name or IP literal, IPv6 without brackets; "" for unix */
	uint16_t port;			/* 1..65535; 0 for unix */
	char path[MM_CFG_UNIX_PATH_MAX + 1]; /* absolute socket path for unix, else "" */
};

struct mm_cfg_sub {
	char *topic; /* a valid topic filter (mm_cfg_topic_filter_valid) */
	int qos;     /* 0..2 */
};

struct mm_cfg_will {
	bool set;      /* a will block was given */
	char *topic;   /* a valid topic name, no wildcards */
	char *payload; /* "" when omitted; at most 65535 bytes */
	int qos;
	bool retain;
};

/* File names are absolute (resolved against the config file's directory) or NULL. */
struct mm_cfg_tls {
	char *ca_file;	   /* NULL: the system trust store */
	char *cert_file;   /* with key_file, or neither */
	char *key_file;	   /* not accessible by others */
	char *server_name; /* NULL: the broker URL's host */
	bool skip_verify;
};

/* Reconnect timing of the worker (seconds; delay *= factor, +- jitter, capped at max). */
struct mm_cfg_reconnect {
	double initial; /* > 0 */
	double max;	/* >= initial */
	double factor;	/* >= 1 */
	double jitter;	/* 0 <= jitter < 1, a fraction of the delay */
};

struct mm_cfg_perf {
	uint64_t ring_size;	    /* in-ring bytes: power of two, MM_CFG_RING_MIN..MAX */
	uint32_t max_message_size;  /* < ring_size / 2 - MM_CFG_RING_RESERVE */
	int max_pending;	    /* 1..65535 publishes in flight */
	uint32_t latency_budget_us; /* 0 (off)..MM_CFG_LATENCY_BUDGET_MAX: worker coalescing */
};

/*
 * A session's own `clients` block: who may route from it and publish to it (docs/security.md,
 * "Roles"). Without the block (set false) everybody allowed on the sockets may; with it only
 * root, the daemon's uid and the members of these lists (primary or supplementary group).
 */
#define MM_CFG_ACCESS_MAX 256 /* ids in each list */
struct mm_cfg_access {
	bool set;
	uid_t *allow_uids;
	size_t n_allow_uids;
	gid_t *allow_gids;
	size_t n_allow_gids;
};

struct mm_cfg_session {
	char *name; /* [A-Za-z0-9._-]{1,64}, unique in the file */
	struct mm_cfg_broker *brokers;
	size_t n_brokers; /* >= 1, tried in order */
	char *client_id;  /* non-empty UTF-8 */
	char *username;	  /* NULL if not set */
	char *password_file;
	/*
	 * The contents of password_file minus one trailing newline, NUL-terminated; NULL if no
	 * password_file. A secret: never print it. Wiped by mm_cfg_free().
	 */
	char *password;
	size_t password_len;
	enum mm_cfg_protocol protocol;
	int keepalive; /* seconds, 0..65535; 0 disables pings */
	bool clean_session;
	bool auto_reconnect;
	bool persistent;
	bool resume_subs;
	double connect_timeout; /* s, > 0: TCP + TLS + CONNACK of one attempt, per broker */
	struct mm_cfg_reconnect reconnect;
	struct mm_cfg_sub *subs;
	size_t n_subs;
	struct mm_cfg_will will;
	struct mm_cfg_tls tls;
	struct mm_cfg_perf perf;
	struct mm_cfg_access access; /* the session's `clients` block */
};

struct mm_cfg_metrics {
	char *textfile;		  /* absolute path, or NULL: no textfile dump on SIGUSR1 */
	double textfile_interval; /* seconds between periodic dumps; 0: only on SIGUSR1 */
	char *http_host;	  /* NULL: no HTTP listener */
	uint16_t http_port;
	int http_max_connections; /* 1..MM_CFG_HTTP_CONNS_MAX served at once */
	double http_timeout;	  /* s, > 0: accept to close of one connection, at most */
};

#define MM_CFG_HTTP_CONNS_MAX 64 /* metrics.http_max_connections, at most */

struct mm_cfg_clients {
	uid_t *allow_uids;
	size_t n_allow_uids;
	gid_t *allow_gids;
	size_t n_allow_gids;
	uid_t *admin_uids; /* who may add, remove, restart, reload (root and ours always may) */
	size_t n_admin_uids;
	gid_t *admin_gids;
	size_t n_admin_gids;
	uint64_t ring_size; /* per-client delivery ring: power of two, MM_CFG_RING_MIN..MAX */
	enum mm_cfg_on_full on_full; /* the policy of a client that does not choose its own */
	double rejoin_grace;	     /* s, 0..: how long in-rings wait for clients to come back */
	double block_timeout;	     /* s, > 0: longest one blocking client may hold a session */
	int control_per_uid;	     /* control.sock connections one uid may hold (not root's) */
	double control_timeout;	     /* s, > 0: a control connection idle this long is closed */
	/* router bounds (docs/security.md, "Bounds"): past one the client gets an error */
	int max_clients;	   /* router.sock clients at once, everybody */
	int max_clients_per_uid;   /* ... of one uid (root's and the daemon's: max_clients only) */
	int max_routes;		   /* routes of one client */
	int max_filter_length;	   /* bytes of one route's filter */
	int max_pending;	   /* publishes of one client in flight in the router */
	uint64_t max_queued_bytes; /* bytes of those publishes */
};

/* Restart policy of the supervisor for every child (seconds). */
struct mm_cfg_restart {
	double initial; /* first backoff delay, > 0 */
	double max;	/* backoff cap, >= initial */
	int burst;	/* more than burst starts in window seconds: failed */
	double window;	/* > 0 */
};

/*
 * How the daemon runs its workers (docs/configuration.md, `workers`; docs/scaling.md): up to
 * group_size sessions in one worker process (1: one process each, the default), and the
 * host's connect pacer every worker shares (shm/pace.h).
 */
struct mm_cfg_workers {
	int group_size;	   /* 1..MM_CFG_GROUP_MAX sessions per worker process */
	int connect_rate;  /* connection attempts a second, all workers together */
	int connect_burst; /* attempts let through at once before the rate applies */
};

#define MM_CFG_GROUP_MAX	1000
#define MM_CFG_CONNECT_RATE_MAX 1000000

struct mm_cfg {
	char *path;	   /* the file as given to mm_cfg_load() */
	char *runtime_dir; /* absolute */
	char *state_dir;   /* absolute */
	enum mm_cfg_log_level log_level;
	enum mm_cfg_log_format log_format;
	char *user;   /* NULL: keep running as started; else drop to this user (docs/security.md) */
	char *group;  /* NULL: the user's primary group */
	bool seccomp; /* the children's system call filter (common/sandbox.h); false: debugging */
	struct mm_cfg_metrics metrics;
	struct mm_cfg_clients clients;
	struct mm_cfg_restart restart;
	struct mm_cfg_workers workers;
	struct mm_cfg_session *sessions;
	size_t n_sessions;
};

int mm_cfg_load(const char *path, struct mm_cfg **ret, struct mm_cfg_diag *diag);
/* The top-level user and group (names or numeric ids) in the system's databases: 0 or -errno. */
int mm_cfg_user_lookup(const char *name, uid_t *uid, gid_t *gid);
int mm_cfg_group_lookup(const char *name, gid_t *gid);
void mm_cfg_free(struct mm_cfg *cfg);
int mm_cfg_load_session(const char *path, const struct mm_cfg *base, struct mm_cfg_session **ret,
			struct mm_cfg_diag *diag);

/*
 * A session file a client opened itself and passed over control.sock (SCM_RIGHTS): the daemon
 * reads it from the descriptor, never by its name. <path> is the name the client gave, for
 * messages and to resolve relative file names. With <no_files> the block may name no file
 * (@include, password_file, tls.*_file): the daemon would open them with its own rights on
 * behalf of a client who may not read them (docs/security.md).
 */
struct mm_cfg_session_src {
	const char *path;
	int fd; /* < 0: open <path> as mm_cfg_load_session() does */
	bool no_files;
};

int mm_cfg_load_session_src(const struct mm_cfg_session_src *src, const struct mm_cfg *base,
			    struct mm_cfg_session **ret, struct mm_cfg_diag *diag);
void mm_cfg_session_free(struct mm_cfg_session *s);
const struct mm_cfg_session *mm_cfg_session_find(const struct mm_cfg *cfg, const char *name);
bool mm_cfg_session_equal(const struct mm_cfg_session *a, const struct mm_cfg_session *b);
bool mm_cfg_clients_equal(const struct mm_cfg_clients *a, const struct mm_cfg_clients *b);
bool mm_cfg_equal(const struct mm_cfg *a, const struct mm_cfg *b);

/* cfg_write.c: the writer; mm_cfg_load() and mm_cfg_load_session() read its text back equal. */
void mm_cfg_write(FILE *f, const struct mm_cfg *cfg);
void mm_cfg_write_session(FILE *f, const struct mm_cfg_session *s);

void mm_cfg_diag_init(struct mm_cfg_diag *d);
void mm_cfg_diag_done(struct mm_cfg_diag *d);
int mm_cfg_diag_add(struct mm_cfg_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t mm_cfg_diag_count(const struct mm_cfg_diag *d);
const char *mm_cfg_diag_line(const struct mm_cfg_diag *d, size_t i);
int mm_cfg_diag_print(const struct mm_cfg_diag *d, FILE *f);

int mm_cfg_broker_parse(const char *url, struct mm_cfg_broker *ret, char *why, size_t why_size);
int mm_cfg_broker_format(const struct mm_cfg_broker *b, char *buf, size_t size);
bool mm_cfg_topic_filter_valid(const char *filter);
bool mm_cfg_topic_name_valid(const char *topic);
/* NULL if <topic> is a valid topic name (no wildcard, 1..65535 bytes of UTF-8), else why not. */
const char *mm_cfg_topic_name_why(const char *topic);
bool mm_cfg_session_name_valid(const char *name);

const char *mm_cfg_log_level_to_string(enum mm_cfg_log_level l);
const char *mm_cfg_log_format_to_string(enum mm_cfg_log_format f);
const char *mm_cfg_on_full_to_string(enum mm_cfg_on_full f);
const char *mm_cfg_protocol_to_string(enum mm_cfg_protocol p);
const char *mm_cfg_scheme_to_string(enum mm_cfg_scheme s);

#endif /* MM_CFG_H */
