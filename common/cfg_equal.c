/* SPDX-License-Identifier: MIT */
/*
 * Field-by-field comparison of two session blocks, for reload: the supervisor restarts a
 * session's worker only when mm_cfg_session_equal() says its block changed. Every field of
 * struct mm_cfg_session takes part; a field added there must be added here. mm_cfg_equal()
 * compares whole configs, for the writer's round trip (cfg_write.c).
 */
#include <string.h>

#include "cfg.h"

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool broker_eq(const struct mm_cfg_broker *a, const struct mm_cfg_broker *b)
{
	return a->scheme == b->scheme && a->tls == b->tls && a->port == b->port &&
	       strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
}

static bool brokers_eq(const struct mm_cfg_session *a, const struct mm_cfg_session *b)
{
	if (a->n_brokers != b->n_brokers)
		return false;
	for (size_t i = 0; i < a->n_brokers; i++) {
		if (!broker_eq(&a->brokers[i], &b->brokers[i]))
			return false;
	}
	return true;
}

/* Same filters with the same QoS in the same order (the order is the subscribe order). */
static bool subs_eq(const struct mm_cfg_session *a, const struct mm_cfg_session *b)
{
	if (a->n_subs != b->n_subs)
		return false;
	for (size_t i = 0; i < a->n_subs; i++) {
		if (!str_eq(a->subs[i].topic, b->subs[i].topic) || a->subs[i].qos != b->subs[i].qos)
			return false;
	}
	return true;
}

static bool will_eq(const struct mm_cfg_will *a, const struct mm_cfg_will *b)
{
	return a->set == b->set && str_eq(a->topic, b->topic) && str_eq(a->payload, b->payload) &&
	       a->qos == b->qos && a->retain == b->retain;
}

static bool tls_eq(const struct mm_cfg_tls *a, const struct mm_cfg_tls *b)
{
	return str_eq(a->ca_file, b->ca_file) && str_eq(a->cert_file, b->cert_file) &&
	       str_eq(a->key_file, b->key_file) && str_eq(a->server_name, b->server_name) &&
	       a->skip_verify == b->skip_verify;
}

/* Exact comparison of the doubles is intended: both sides were parsed from text the same way. */
static bool reconnect_eq(const struct mm_cfg_reconnect *a, const struct mm_cfg_reconnect *b)
{
	return a->initial == b->initial && a->max == b->max && a->factor == b->factor &&
	       a->jitter == b->jitter;
}

static bool perf_eq(const struct mm_cfg_perf *a, const struct mm_cfg_perf *b)
{
	return a->ring_size == b->ring_size && a->max_message_size == b->max_message_size &&
	       a->max_pending == b->max_pending && a->latency_budget_us == b->latency_budget_us;
}

static bool auth_eq(const struct mm_cfg_session *a, const struct mm_cfg_session *b)
{
	if (!str_eq(a->username, b->username) || !str_eq(a->password_file, b->password_file))
		return false;
	if (a->password_len != b->password_len || !a->password != !b->password)
		return false;
	return !a->password || memcmp(a->password, b->password, a->password_len) == 0;
}

/*
 * True if sessions <a> and <b> would behave the same: every field equal, lists in the same
 * order, the password compared by content (so a changed password file counts as a change).
 * Contents of the TLS files are not compared, only their names. Two NULLs are equal.
 */
static bool ids_eq(const unsigned int *a, size_t na, const unsigned int *b, size_t nb);

static bool access_eq(const struct mm_cfg_access *a, const struct mm_cfg_access *b)
{
	return a->set == b->set &&
	       ids_eq(a->allow_uids, a->n_allow_uids, b->allow_uids, b->n_allow_uids) &&
	       ids_eq(a->allow_gids, a->n_allow_gids, b->allow_gids, b->n_allow_gids);
}

bool mm_cfg_session_equal(const struct mm_cfg_session *a, const struct mm_cfg_session *b)
{
	if (!a || !b)
		return a == b;
	return str_eq(a->name, b->name) && brokers_eq(a, b) && str_eq(a->client_id, b->client_id) &&
	       auth_eq(a, b) && a->protocol == b->protocol && a->keepalive == b->keepalive &&
	       a->clean_session == b->clean_session && a->auto_reconnect == b->auto_reconnect &&
	       a->persistent == b->persistent && a->resume_subs == b->resume_subs &&
	       a->connect_timeout == b->connect_timeout &&
	       reconnect_eq(&a->reconnect, &b->reconnect) && subs_eq(a, b) &&
	       will_eq(&a->will, &b->will) && tls_eq(&a->tls, &b->tls) &&
	       perf_eq(&a->perf, &b->perf) && access_eq(&a->access, &b->access);
}

static bool ids_eq(const unsigned int *a, size_t na, const unsigned int *b, size_t nb)
{
	return na == nb && (!na || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* True if the client options <a> and <b> are the same (the lists in the same order). */
bool mm_cfg_clients_equal(const struct mm_cfg_clients *a, const struct mm_cfg_clients *b)
{
	return ids_eq(a->allow_uids, a->n_allow_uids, b->allow_uids, b->n_allow_uids) &&
	       ids_eq(a->allow_gids, a->n_allow_gids, b->allow_gids, b->n_allow_gids) &&
	       ids_eq(a->admin_uids, a->n_admin_uids, b->admin_uids, b->n_admin_uids) &&
	       ids_eq(a->admin_gids, a->n_admin_gids, b->admin_gids, b->n_admin_gids) &&
	       a->ring_size == b->ring_size && a->on_full == b->on_full &&
	       a->rejoin_grace == b->rejoin_grace && a->block_timeout == b->block_timeout &&
	       a->control_per_uid == b->control_per_uid &&
	       a->control_timeout == b->control_timeout && a->max_clients == b->max_clients &&
	       a->max_clients_per_uid == b->max_clients_per_uid && a->max_routes == b->max_routes &&
	       a->max_filter_length == b->max_filter_length && a->max_pending == b->max_pending &&
	       a->max_queued_bytes == b->max_queued_bytes;
}

static bool top_eq(const struct mm_cfg *a, const struct mm_cfg *b)
{
	return str_eq(a->runtime_dir, b->runtime_dir) && str_eq(a->state_dir, b->state_dir) &&
	       a->log_level == b->log_level && a->log_format == b->log_format &&
	       str_eq(a->user, b->user) && str_eq(a->group, b->group) && a->seccomp == b->seccomp &&
	       str_eq(a->metrics.textfile, b->metrics.textfile) &&
	       a->metrics.textfile_interval == b->metrics.textfile_interval &&
	       str_eq(a->metrics.http_host, b->metrics.http_host) &&
	       a->metrics.http_port == b->metrics.http_port &&
	       a->metrics.http_max_connections == b->metrics.http_max_connections &&
	       a->metrics.http_timeout == b->metrics.http_timeout &&
	       mm_cfg_clients_equal(&a->clients, &b->clients) &&
	       a->restart.initial == b->restart.initial && a->restart.max == b->restart.max &&
	       a->restart.burst == b->restart.burst && a->restart.window == b->restart.window &&
	       a->workers.group_size == b->workers.group_size &&
	       a->workers.connect_rate == b->workers.connect_rate &&
	       a->workers.connect_burst == b->workers.connect_burst;
}

/*
 * True if configs <a> and <b> are the same in every key: the top level, and every session in
 * the same order (mm_cfg_session_equal()). The file they came from (path) does not count.
 */
bool mm_cfg_equal(const struct mm_cfg *a, const struct mm_cfg *b)
{
	if (!a || !b)
		return a == b;
	if (!top_eq(a, b) || a->n_sessions != b->n_sessions)
		return false;
	for (size_t i = 0; i < a->n_sessions; i++) {
		if (!mm_cfg_session_equal(&a->sessions[i], &b->sessions[i]))
			return false;
	}
	return true;
}
