/* SPDX-License-Identifier: MIT */
/*
 * The config writer, next to its reader (cfg.c, cfg_read.c, cfg_session.c): a config back out
 * in libconfig syntax, either one session block (the state files of sessions added at run
 * time, and tombstones) or a whole config (the running config of mqttmuxd). File names are
 * written absolute, as the loader resolved them; passwords are never written, only
 * password_file. Reading the text back with the loader gives an equal config
 * (mm_cfg_equal()); tests/unit/common/test_cfg_write.c checks that for every key of
 * docs/configuration.md. A key added to the reader must be added here.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

/* A libconfig string literal: quotes and backslashes escaped, control bytes as \xNN. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void put_key_str(FILE *f, const char *ind, const char *key, const char *v)
{
	if (!v)
		return;
	fprintf(f, "%s%s = ", ind, key);
	put_str(f, v);
	fputs(";\n", f);
}

static void put_bool(FILE *f, const char *ind, const char *key, bool v)
{
	fprintf(f, "%s%s = %s;\n", ind, key, v ? "true" : "false");
}

/* Integers above INT_MAX need libconfig's 64-bit suffix. */
static void put_u64(FILE *f, const char *ind, const char *key, unsigned long long v)
{
	fprintf(f, "%s%s = %llu%s;\n", ind, key, v, v > INT_MAX ? "L" : "");
}

static void put_double(FILE *f, const char *ind, const char *key, double v)
{
	fprintf(f, "%s%s = %.17g;\n", ind, key, v);
}

static void put_brokers(FILE *f, const struct mm_cfg_session *s)
{
	char url[MM_CFG_HOST_MAX + MM_CFG_UNIX_PATH_MAX + 32];

	fputs("\t\tbrokers = [ ", f);
	for (size_t i = 0; i < s->n_brokers; i++) {
		if (mm_cfg_broker_format(&s->brokers[i], url, sizeof(url)) < 0)
			url[0] = '\0';
		fputs(i ? ", " : "", f);
		put_str(f, url);
	}
	fputs(" ];\n", f);
}

static void put_subs(FILE *f, const struct mm_cfg_session *s)
{
	fputs("\t\tsubscriptions = (", f);
	for (size_t i = 0; i < s->n_subs; i++) {
		fputs(i ? ",\n\t\t\t{ topic = " : "\n\t\t\t{ topic = ", f);
		put_str(f, s->subs[i].topic);
		fprintf(f, "; qos = %d; }", s->subs[i].qos);
	}
	fputs(" );\n", f);
}

static void put_will_tls(FILE *f, const struct mm_cfg_session *s)
{
	if (s->will.set) {
		fputs("\t\twill = {\n", f);
		put_key_str(f, "\t\t\t", "topic", s->will.topic);
		put_key_str(f, "\t\t\t", "payload", s->will.payload);
		fprintf(f, "\t\t\tqos = %d;\n", s->will.qos);
		put_bool(f, "\t\t\t", "retain", s->will.retain);
		fputs("\t\t};\n", f);
	}
	fputs("\t\ttls = {\n", f);
	put_key_str(f, "\t\t\t", "ca_file", s->tls.ca_file);
	put_key_str(f, "\t\t\t", "cert_file", s->tls.cert_file);
	put_key_str(f, "\t\t\t", "key_file", s->tls.key_file);
	put_key_str(f, "\t\t\t", "server_name", s->tls.server_name);
	put_bool(f, "\t\t\t", "skip_verify", s->tls.skip_verify);
	fputs("\t\t};\n", f);
}

static void put_tuning(FILE *f, const struct mm_cfg_session *s)
{
	fputs("\t\treconnect = {\n", f);
	put_double(f, "\t\t\t", "initial", s->reconnect.initial);
	put_double(f, "\t\t\t", "max", s->reconnect.max);
	put_double(f, "\t\t\t", "factor", s->reconnect.factor);
	put_double(f, "\t\t\t", "jitter", s->reconnect.jitter);
	fputs("\t\t};\n\t\tperformance = {\n", f);
	put_u64(f, "\t\t\t", "ring_size", s->perf.ring_size);
	put_u64(f, "\t\t\t", "max_message_size", s->perf.max_message_size);
	put_u64(f, "\t\t\t", "max_pending", (unsigned long long)s->perf.max_pending);
	put_u64(f, "\t\t\t", "latency_budget_us", s->perf.latency_budget_us);
	fputs("\t\t};\n", f);
}

static void put_ids(FILE *f, const char *key, const unsigned int *ids, size_t n);

/* The session's own clients block, if it has one. */
static void put_access(FILE *f, const struct mm_cfg_access *a)
{
	if (!a->set)
		return;
	fputs("\t\tclients = {\n", f);
	put_ids(f, "\t\t\tallow_uids", a->allow_uids, a->n_allow_uids);
	put_ids(f, "\t\t\tallow_gids", a->allow_gids, a->n_allow_gids);
	fputs("\t\t};\n", f);
}

/* The members of session <s>, indented two tabs, without the braces around them. */
static void put_session_body(FILE *f, const struct mm_cfg_session *s)
{
	put_key_str(f, "\t\t", "name", s->name);
	put_brokers(f, s);
	put_key_str(f, "\t\t", "client_id", s->client_id);
	put_key_str(f, "\t\t", "username", s->username);
	put_key_str(f, "\t\t", "password_file", s->password_file);
	put_key_str(f, "\t\t", "protocol", mm_cfg_protocol_to_string(s->protocol));
	put_u64(f, "\t\t", "keepalive", (unsigned long long)s->keepalive);
	put_bool(f, "\t\t", "clean_session", s->clean_session);
	put_bool(f, "\t\t", "auto_reconnect", s->auto_reconnect);
	put_bool(f, "\t\t", "persistent", s->persistent);
	put_bool(f, "\t\t", "resume_subs", s->resume_subs);
	put_double(f, "\t\t", "connect_timeout", s->connect_timeout);
	put_tuning(f, s);
	put_subs(f, s);
	put_will_tls(f, s);
	put_access(f, &s->access);
}

/* Write "session = { ... };", the format of mm_cfg_load_session(). */
void mm_cfg_write_session(FILE *f, const struct mm_cfg_session *s)
{
	fputs("session = {\n", f);
	put_session_body(f, s);
	fputs("};\n", f);
}

static void put_ids(FILE *f, const char *key, const unsigned int *ids, size_t n)
{
	/* A list, not an array: ids above INT_MAX are 64-bit, and arrays take one type only. */
	fprintf(f, "%s = ( ", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%u%s", i ? ", " : "", ids[i], ids[i] > INT_MAX ? "L" : "");
	fputs(" );\n", f);
}

static void put_top(FILE *f, const struct mm_cfg *cfg)
{
	char http[MM_CFG_HOST_MAX + 16];

	put_key_str(f, "", "runtime_dir", cfg->runtime_dir);
	put_key_str(f, "", "state_dir", cfg->state_dir);
	put_key_str(f, "", "log_level", mm_cfg_log_level_to_string(cfg->log_level));
	put_key_str(f, "", "log_format", mm_cfg_log_format_to_string(cfg->log_format));
	put_key_str(f, "", "user", cfg->user);
	put_key_str(f, "", "group", cfg->group);
	fprintf(f, "seccomp = %s;\n", cfg->seccomp ? "true" : "false");
	fputs("metrics = {\n", f);
	put_key_str(f, "\t", "textfile", cfg->metrics.textfile);
	if (cfg->metrics.textfile_interval > 0)
		put_double(f, "\t", "textfile_interval", cfg->metrics.textfile_interval);
	if (cfg->metrics.http_host) {
		snprintf(http, sizeof(http),
			 strchr(cfg->metrics.http_host, ':') ? "[%s]:%u" : "%s:%u",
			 cfg->metrics.http_host, cfg->metrics.http_port);
		put_key_str(f, "\t", "http", http);
	}
	put_u64(f, "\t", "http_max_connections",
		(unsigned long long)cfg->metrics.http_max_connections);
	put_double(f, "\t", "http_timeout", cfg->metrics.http_timeout);
	fputs("};\nclients = {\n", f);
	put_ids(f, "\tallow_uids", cfg->clients.allow_uids, cfg->clients.n_allow_uids);
	put_ids(f, "\tallow_gids", cfg->clients.allow_gids, cfg->clients.n_allow_gids);
	put_ids(f, "\tadmin_uids", cfg->clients.admin_uids, cfg->clients.n_admin_uids);
	put_ids(f, "\tadmin_gids", cfg->clients.admin_gids, cfg->clients.n_admin_gids);
	put_u64(f, "\t", "ring_size", cfg->clients.ring_size);
	put_key_str(f, "\t", "on_full", mm_cfg_on_full_to_string(cfg->clients.on_full));
	put_double(f, "\t", "rejoin_grace", cfg->clients.rejoin_grace);
	put_double(f, "\t", "block_timeout", cfg->clients.block_timeout);
	put_u64(f, "\t", "control_per_uid", (unsigned long long)cfg->clients.control_per_uid);
	put_double(f, "\t", "control_timeout", cfg->clients.control_timeout);
	put_u64(f, "\t", "max_clients", (unsigned long long)cfg->clients.max_clients);
	put_u64(f, "\t", "max_clients_per_uid",
		(unsigned long long)cfg->clients.max_clients_per_uid);
	put_u64(f, "\t", "max_routes", (unsigned long long)cfg->clients.max_routes);
	put_u64(f, "\t", "max_filter_length", (unsigned long long)cfg->clients.max_filter_length);
	put_u64(f, "\t", "max_pending", (unsigned long long)cfg->clients.max_pending);
	put_u64(f, "\t", "max_queued_bytes", cfg->clients.max_queued_bytes);
	fputs("};\nrestart = {\n", f);
	put_double(f, "\t", "initial", cfg->restart.initial);
	put_double(f, "\t", "max", cfg->restart.max);
	put_u64(f, "\t", "burst", (unsigned long long)cfg->restart.burst);
	put_double(f, "\t", "window", cfg->restart.window);
	fputs("};\nworkers = {\n", f);
	put_u64(f, "\t", "group_size", (unsigned long long)cfg->workers.group_size);
	put_u64(f, "\t", "connect_rate", (unsigned long long)cfg->workers.connect_rate);
	put_u64(f, "\t", "connect_burst", (unsigned long long)cfg->workers.connect_burst);
	fputs("};\n", f);
}

/* Write the whole of <cfg>, a file mm_cfg_load() reads back to an equal config. */
void mm_cfg_write(FILE *f, const struct mm_cfg *cfg)
{
	fputs("# Written by mqttmuxd: the running config (config file + state_dir). Do not edit.\n",
	      f);
	put_top(f, cfg);
	fputs("sessions = (", f);
	for (size_t i = 0; i < cfg->n_sessions; i++) {
		fputs(i ? ",\n\t{\n" : "\n\t{\n", f);
		put_session_body(f, &cfg->sessions[i]);
		fputs("\t}", f);
	}
	fputs("\n);\n", f);
}
