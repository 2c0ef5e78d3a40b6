/* SPDX-License-Identifier: MIT */
/*
 * The session block of the config: its schema and defaults, the readers that need more than a
 * table entry (broker list, subscriptions, the password file), the checks across keys, and the
 * comparison the supervisor's reload uses to restart only sessions whose block changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_read.h"

/* Defaults, with the reasons in docs/configuration.md. */
#define SESSION_KEEPALIVE	 60
#define SESSION_RING_SIZE	 (1024u * 1024)
#define SESSION_MAX_MESSAGE_SIZE (256u * 1024)
#define SESSION_MAX_PENDING	 1000
#define SESSION_CONNECT_TIMEOUT	 30.0 /* s, the seed's ConnectTimeout */

static const char *const protocol_names[] = { "3.1.1", "5", NULL };

/* Name of protocol <p> as written in the config, or "?" when out of range. */
const char *mm_cfg_protocol_to_string(enum mm_cfg_protocol p)
{
	if ((unsigned int)p >= _MM_CFG_PROTOCOL_MAX)
		return "?";
	return protocol_names[p];
}

static void session_defaults(struct mm_cfg_session *s)
{
	*s = (struct mm_cfg_session){
		.protocol = MM_CFG_PROTOCOL_311,
		.keepalive = SESSION_KEEPALIVE,
		.clean_session = true,
		.auto_reconnect = true,
		.resume_subs = true,
		.connect_timeout = SESSION_CONNECT_TIMEOUT,
		.reconnect = { .initial = 1.0, .max = 120.0, .factor = 2.0, .jitter = 0.25 },
		.perf = { .ring_size = SESSION_RING_SIZE,
			  .max_message_size = SESSION_MAX_MESSAGE_SIZE,
			  .max_pending = SESSION_MAX_PENDING },
	};
}

static void reconnect_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const struct mm_cfg_reconnect *r = obj;

	mm_cfg_check_range(c, g, "initial", r->initial > 0, "greater than 0", r->initial);
	mm_cfg_check_range(c, g, "max", r->max >= r->initial, "at least reconnect.initial", r->max);
	mm_cfg_check_range(c, g, "factor", r->factor >= 1, "at least 1", r->factor);
	mm_cfg_check_range(c, g, "jitter", r->jitter < 1, "below 1", r->jitter);
}

static void will_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	struct mm_cfg_will *w = obj;

	(void)g;
	w->set = true;
	if (!w->payload) {
		w->payload = strdup("");
		if (!w->payload)
			mm_cfg_oom(c);
	}
}

static void tls_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const config_setting_t *cert = config_setting_get_member(g, "cert_file");
	const config_setting_t *key = config_setting_get_member(g, "key_file");

	(void)obj;
	if (cert && !key)
		mm_cfg_bad(c, cert, "cert_file", "needs key_file as well");
	else if (key && !cert)
		mm_cfg_bad(c, key, "key_file", "needs cert_file as well");
}

static void perf_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	const struct mm_cfg_perf *p = obj;
	uint64_t limit = p->ring_size / 2 - MM_CFG_RING_RESERVE;
	const config_setting_t *s = config_setting_get_member(g, "max_message_size");

	if (p->max_message_size >= limit)
		mm_cfg_bad(c, s ? s : g, "max_message_size",
			   "must be below performance.ring_size / 2 - %u = %llu (got %s%u)",
			   MM_CFG_RING_RESERVE, (unsigned long long)limit, s ? "" : "the default ",
			   p->max_message_size);
}

static const char *server_name_why(const char *v)
{
	return mm_cfg_host_why(v) ? "is not a valid host name" : NULL;
}

static const struct mm_cfg_key reconnect_keys[] = {
#define R(f) .off = offsetof(struct mm_cfg_reconnect, f)
	{ .name = "initial", .kind = MM_CFG_K_DOUBLE, R(initial), .max = MM_CFG_SECONDS_MAX },
	{ .name = "max", .kind = MM_CFG_K_DOUBLE, R(max), .max = MM_CFG_SECONDS_MAX },
	{ .name = "factor", .kind = MM_CFG_K_DOUBLE, R(factor), .max = 100 },
	{ .name = "jitter", .kind = MM_CFG_K_DOUBLE, R(jitter), .max = 1 },
	{ .name = NULL },
#undef R
};

static const struct mm_cfg_key sub_keys[] = {
	{ .name = "topic",
	  .kind = MM_CFG_K_STR,
	  .off = offsetof(struct mm_cfg_sub, topic),
	  .required = true,
	  .check = mm_cfg_topic_filter_why },
	{ .name = "qos", .kind = MM_CFG_K_INT, .off = offsetof(struct mm_cfg_sub, qos), .max = 2 },
	{ .name = NULL },
};

static const struct mm_cfg_key will_keys[] = {
#define W(f) .off = offsetof(struct mm_cfg_will, f)
	{ .name = "topic",
	  .kind = MM_CFG_K_STR,
	  W(topic),
	  .required = true,
	  .check = mm_cfg_topic_name_why },
	{ .name = "payload", .kind = MM_CFG_K_STR, W(payload) },
	{ .name = "qos", .kind = MM_CFG_K_INT, W(qos), .max = 2 },
	{ .name = "retain", .kind = MM_CFG_K_BOOL, W(retain) },
	{ .name = NULL },
#undef W
};

static const struct mm_cfg_key tls_keys[] = {
#define T(f) .off = offsetof(struct mm_cfg_tls, f)
	{ .name = "ca_file", .kind = MM_CFG_K_PATH, T(ca_file), .file = MM_CFG_FILE_READ },
	{ .name = "cert_file", .kind = MM_CFG_K_PATH, T(cert_file), .file = MM_CFG_FILE_READ },
	{ .name = "key_file", .kind = MM_CFG_K_PATH, T(key_file), .file = MM_CFG_FILE_SECRET },
	{ .name = "server_name", .kind = MM_CFG_K_STR, T(server_name), .check = server_name_why },
	{ .name = "skip_verify", .kind = MM_CFG_K_BOOL, T(skip_verify) },
	{ .name = NULL },
#undef T
};

static const struct mm_cfg_key perf_keys[] = {
#define P(f) .off = offsetof(struct mm_cfg_perf, f)
	{ .name = "ring_size",
	  .kind = MM_CFG_K_U64,
	  P(ring_size),
	  .pow2 = true,
	  .min = MM_CFG_RING_MIN,
	  .max = MM_CFG_RING_MAX },
	{ .name = "max_message_size",
	  .kind = MM_CFG_K_U32,
	  P(max_message_size),
	  .min = 1,
	  .max = MM_CFG_MESSAGE_MAX },
	{ .name = "max_pending", .kind = MM_CFG_K_INT, P(max_pending), .min = 1, .max = 65535 },
	{ .name = "latency_budget_us",
	  .kind = MM_CFG_K_U32,
	  P(latency_budget_us),
	  .min = 0,
	  .max = MM_CFG_LATENCY_BUDGET_MAX },
	{ .name = NULL },
#undef P
};

static void access_uids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_access *a = obj;

	mm_cfg_ids_read(c, s, "allow_uids", &a->allow_uids, &a->n_allow_uids);
}

static void access_gids_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_access *a = obj;

	mm_cfg_ids_read(c, s, "allow_gids", &a->allow_gids, &a->n_allow_gids);
}

/* The block is there (even empty: root and the daemon's user only); lists are bounded. */
static void access_check(struct mm_cfg_ctx *c, const config_setting_t *g, void *obj)
{
	struct mm_cfg_access *a = obj;

	a->set = true;
	if (a->n_allow_uids > MM_CFG_ACCESS_MAX || a->n_allow_gids > MM_CFG_ACCESS_MAX)
		mm_cfg_bad(c, g, "clients", "at most %d ids in allow_uids and in allow_gids",
			   MM_CFG_ACCESS_MAX);
}

static const struct mm_cfg_key access_keys[] = {
	{ .name = "allow_uids", .kind = MM_CFG_K_CUSTOM, .read = access_uids_read },
	{ .name = "allow_gids", .kind = MM_CFG_K_CUSTOM, .read = access_gids_read },
	{ .name = NULL },
};

static mm_cfg_read_fn brokers_read, subs_read, password_read;

static const struct mm_cfg_key session_keys[] = {
#define S(f) .off = offsetof(struct mm_cfg_session, f)
	{ .name = "name",
	  .kind = MM_CFG_K_STR,
	  S(name),
	  .required = true,
	  .check = mm_cfg_session_name_why },
	{ .name = "brokers", .kind = MM_CFG_K_CUSTOM, .required = true, .read = brokers_read },
	{ .name = "client_id",
	  .kind = MM_CFG_K_STR,
	  S(client_id),
	  .required = true,
	  .check = mm_cfg_client_id_why },
	{ .name = "username", .kind = MM_CFG_K_STR, S(username), .check = mm_cfg_utf8_why },
	{ .name = "password_file", .kind = MM_CFG_K_CUSTOM, .read = password_read },
	{ .name = "protocol", .kind = MM_CFG_K_ENUM, S(protocol), .names = protocol_names },
	{ .name = "keepalive", .kind = MM_CFG_K_INT, S(keepalive), .max = 65535 },
	{ .name = "clean_session", .kind = MM_CFG_K_BOOL, S(clean_session) },
	{ .name = "auto_reconnect", .kind = MM_CFG_K_BOOL, S(auto_reconnect) },
	{ .name = "persistent", .kind = MM_CFG_K_BOOL, S(persistent) },
	{ .name = "resume_subs", .kind = MM_CFG_K_BOOL, S(resume_subs) },
	{ .name = "connect_timeout",
	  .kind = MM_CFG_K_DOUBLE,
	  S(connect_timeout),
	  .max = MM_CFG_SECONDS_MAX },
	{ .name = "reconnect",
	  .kind = MM_CFG_K_GROUP,
	  S(reconnect),
	  .sub = reconnect_keys,
	  .read = reconnect_check },
	{ .name = "subscriptions", .kind = MM_CFG_K_CUSTOM, .read = subs_read },
	{ .name = "will", .kind = MM_CFG_K_GROUP, S(will), .sub = will_keys, .read = will_check },
	{ .name = "tls", .kind = MM_CFG_K_GROUP, S(tls), .sub = tls_keys, .read = tls_check },
	{ .name = "performance",
	  .kind = MM_CFG_K_GROUP,
	  S(perf),
	  .sub = perf_keys,
	  .read = perf_check },
	{ .name = "clients",
	  .kind = MM_CFG_K_GROUP,
	  S(access),
	  .sub = access_keys,
	  .read = access_check },
	{ .name = NULL },
#undef S
};

static void brokers_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_session *ss = obj;
	char why[MM_CFG_WHY_MAX], key[32];
	const config_setting_t *e;
	unsigned int n;

	if (!mm_cfg_is_seq(s)) {
		mm_cfg_bad(c, s, "brokers",
			   "expected an array of URLs [ \"tcp://host:1883\" ], got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	n = (unsigned int)config_setting_length(s);
	if (n == 0) {
		mm_cfg_bad(c, s, "brokers", "must list at least one broker URL");
		return;
	}
	ss->brokers = calloc(n, sizeof(*ss->brokers));
	if (!ss->brokers) {
		mm_cfg_oom(c);
		return;
	}
	ss->n_brokers = n;
	for (unsigned int i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		(void)snprintf(key, sizeof(key), "brokers[%u]", i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			mm_cfg_bad(c, e, key, "expected a URL string, got %s",
				   mm_cfg_type_name(config_setting_type(e)));
		else if (mm_cfg_broker_parse(config_setting_get_string(e), &ss->brokers[i], why,
					     sizeof(why)) < 0)
			mm_cfg_bad(c, e, key, "'%.200s' %s", config_setting_get_string(e), why);
	}
}

/* Report the second of two subscriptions with the same filter: the broker keeps only one. */
static void subs_dups(struct mm_cfg_ctx *c, const config_setting_t *s, struct mm_cfg_session *ss)
{
	char key[64];

	for (size_t i = 1; i < ss->n_subs; i++) {
		for (size_t j = 0; j < i && ss->subs[i].topic; j++) {
			if (!ss->subs[j].topic || strcmp(ss->subs[i].topic, ss->subs[j].topic))
				continue;
			(void)snprintf(key, sizeof(key), "subscriptions[%zu].topic", i);
			mm_cfg_bad(c, config_setting_get_elem(s, (unsigned int)i), key,
				   "'%.80s' is already subscribed by subscriptions[%zu]",
				   ss->subs[i].topic, j);
			break;
		}
	}
}

static void subs_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_session *ss = obj;
	const config_setting_t *e;
	size_t len = strlen(c->group);
	unsigned int n;

	if (!mm_cfg_is_seq(s)) {
		mm_cfg_bad(c, s, "subscriptions",
			   "expected a list ( { topic = \"a/#\"; }, ... ), "
			   "got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	n = (unsigned int)config_setting_length(s);
	ss->subs = calloc(n ? n : 1, sizeof(*ss->subs));
	if (!ss->subs) {
		mm_cfg_oom(c);
		return;
	}
	ss->n_subs = n;
	for (unsigned int i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		(void)snprintf(c->group + len, sizeof(c->group) - len, "subscriptions[%u]", i);
		if (config_setting_is_group(e)) {
			strcat(c->group, ".");
			mm_cfg_read_group(c, e, sub_keys, &ss->subs[i]);
		} else {
			mm_cfg_bad(c, e, "", "expected a group { topic = ...; qos = ...; }, got %s",
				   mm_cfg_type_name(config_setting_type(e)));
		}
		c->group[len] = '\0';
	}
	subs_dups(c, s, ss);
}

/* Read all of <fd> into <buf> (<size> bytes). Returns the byte count or -errno. */
static ssize_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

/* Why <buf> of <len> bytes, one trailing newline already stripped, is no password; or NULL. */
static const char *secret_why(const char *buf, size_t len)
{
	if (len > MM_CFG_STR_MAX)
		return "is larger than 65535 bytes";
	if (memchr(buf, '\0', len))
		return "contains a NUL byte";
	return NULL;
}

static void secret_keep(struct mm_cfg_ctx *c, struct mm_cfg_session *ss, const char *buf,
			size_t len)
{
	ss->password = malloc(len + 1);
	if (!ss->password) {
		mm_cfg_oom(c);
		return;
	}
	memcpy(ss->password, buf, len);
	ss->password[len] = '\0';
	ss->password_len = len;
}

/*
 * Read the password from <fd> (already checked as a secret file) into the session: at most
 * 65535 bytes once one trailing newline ("\n" or "\r\n") is stripped, no NUL byte. The bytes
 * never reach a message, and the scratch buffer is wiped.
 */
static void secret_read(struct mm_cfg_ctx *c, const config_setting_t *s, int fd,
			struct mm_cfg_session *ss)
{
	const size_t size = MM_CFG_STR_MAX + 3; /* one byte more than the longest valid file */
	const char *why;
	char *buf;
	ssize_t n;
	size_t len;

	buf = malloc(size);
	if (!buf) {
		mm_cfg_oom(c);
		return;
	}
	n = read_all(fd, buf, size);
	len = n > 0 ? (size_t)n : 0;
	if (len && buf[len - 1] == '\n') {
		len--;
		if (len && buf[len - 1] == '\r')
			len--;
	}
	why = n < 0 ? strerror((int)-n) : secret_why(buf, len);
	if (why)
		mm_cfg_bad(c, s, "password_file", "'%s' %s%s", ss->password_file,
			   n < 0 ? "cannot be read: " : "", why);
	else
		secret_keep(c, ss, buf, len);
	explicit_bzero(buf, size);
	free(buf);
}

static void password_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg_session *ss = obj;
	char *path;
	int fd;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		mm_cfg_bad(c, s, "password_file", "expected a string, got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	if (!*config_setting_get_string(s)) {
		mm_cfg_bad(c, s, "password_file", "must not be empty");
		return;
	}
	path = mm_cfg_resolve(c, config_setting_get_string(s));
	if (!path)
		return;
	free(ss->password_file);
	ss->password_file = path;
	fd = mm_cfg_open_checked(c, s, "password_file", path, MM_CFG_FILE_SECRET);
	if (fd < 0)
		return;
	secret_read(c, s, fd, ss);
	close(fd);
}

/* Checks across the keys of one session, once its block has been read. */
static void session_check(struct mm_cfg_ctx *c, const config_setting_t *g,
			  struct mm_cfg_session *ss)
{
	const config_setting_t *pw = config_setting_get_member(g, "password_file");

	/* A persistent session is useless if the broker drops it at every connect. */
	if (ss->persistent && !config_setting_get_member(g, "clean_session"))
		ss->clean_session = false;
	/* MQTT 3.1.1 §3.1.2.9: no password without a user name (5.0 allows it). */
	if (pw && !ss->username && ss->protocol == MM_CFG_PROTOCOL_311)
		mm_cfg_bad(c, pw, "password_file", "needs a username with protocol \"3.1.1\"");
	mm_cfg_check_range(c, g, "connect_timeout", ss->connect_timeout > 0, "greater than 0",
			   ss->connect_timeout);
}

/* " in session 'plant'", or " in session #2" while the name is missing or invalid. */
static void session_where(struct mm_cfg_ctx *c, const config_setting_t *g, unsigned int i)
{
	const config_setting_t *n = config_setting_get_member(g, "name");
	const char *name = NULL;

	if (n && config_setting_type(n) == CONFIG_TYPE_STRING)
		name = config_setting_get_string(n);
	if (mm_cfg_session_name_valid(name))
		(void)snprintf(c->where, sizeof(c->where), " in session '%s'", name);
	else
		(void)snprintf(c->where, sizeof(c->where), " in session #%u", i + 1);
}

/* Report every session whose name an earlier session already uses. */
static void sessions_dups(struct mm_cfg_ctx *c, const config_setting_t *list,
			  const struct mm_cfg *cfg)
{
	const config_setting_t *a, *b;

	for (size_t i = 1; i < cfg->n_sessions; i++) {
		for (size_t j = 0; j < i && cfg->sessions[i].name; j++) {
			if (!cfg->sessions[j].name ||
			    strcmp(cfg->sessions[i].name, cfg->sessions[j].name))
				continue;
			a = config_setting_get_elem(list, (unsigned int)j);
			b = config_setting_get_elem(list, (unsigned int)i);
			session_where(c, b, (unsigned int)i);
			mm_cfg_bad(c, config_setting_get_member(b, "name"), "name",
				   "is already used by the session at line %u",
				   config_setting_source_line(a));
			break;
		}
	}
	c->where[0] = '\0';
}

/*
 * Read the top-level "sessions" list into <obj> (a struct mm_cfg): every element a session
 * group, each checked on its own, then the names checked for duplicates.
 */
void mm_cfg_sessions_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj)
{
	struct mm_cfg *cfg = obj;
	const config_setting_t *g;
	unsigned int n;
	char key[32];

	if (!mm_cfg_is_seq(s)) {
		mm_cfg_bad(c, s, "sessions", "expected a list ( { name = ...; }, ... ), got %s",
			   mm_cfg_type_name(config_setting_type(s)));
		return;
	}
	n = (unsigned int)config_setting_length(s);
	cfg->sessions = calloc(n ? n : 1, sizeof(*cfg->sessions));
	if (!cfg->sessions) {
		mm_cfg_oom(c);
		return;
	}
	cfg->n_sessions = n;
	for (unsigned int i = 0; i < n; i++) {
		g = config_setting_get_elem(s, i);
		session_defaults(&cfg->sessions[i]);
		if (!config_setting_is_group(g)) {
			(void)snprintf(key, sizeof(key), "sessions[%u]", i);
			mm_cfg_bad(c, g, key, "expected a group { name = ...; }, got %s",
				   mm_cfg_type_name(config_setting_type(g)));
			continue;
		}
		mm_cfg_session_read(c, g, i, &cfg->sessions[i]);
	}
	sessions_dups(c, s, cfg);
}

/* Read and check session group <g> (element <i> of a list, for messages) into <ss>. */
void mm_cfg_session_read(struct mm_cfg_ctx *c, const config_setting_t *g, unsigned int i,
			 struct mm_cfg_session *ss)
{
	session_defaults(ss);
	session_where(c, g, i);
	mm_cfg_read_group(c, g, session_keys, ss);
	session_check(c, g, ss);
	c->where[0] = '\0';
}

/* Free what session <s> owns (wiping the password) and leave it zeroed; NULL is fine. */
void mm_cfg_session_done(struct mm_cfg_session *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->brokers);
	free(s->client_id);
	free(s->username);
	free(s->password_file);
	if (s->password)
		explicit_bzero(s->password, s->password_len);
	free(s->password);
	for (size_t i = 0; i < s->n_subs; i++)
		free(s->subs[i].topic);
	free(s->subs);
	free(s->will.topic);
	free(s->will.payload);
	free(s->tls.ca_file);
	free(s->tls.cert_file);
	free(s->tls.key_file);
	free(s->tls.server_name);
	free(s->access.allow_uids);
	free(s->access.allow_gids);
	*s = (struct mm_cfg_session){ 0 };
}
