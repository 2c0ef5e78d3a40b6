/* SPDX-License-Identifier: MIT */
/*
 * The mqttmux CLI's message commands, shaped like mosquitto_sub and mosquitto_pub and built on
 * libmqttmux (through the router, not mqttmuxd's control socket):
 *
 *   sub -t FILTER [-t FILTER ...] [-s SESSION] [-q QOS] [-C COUNT] [-W SECONDS] [-v] [-F FMT]
 *   pub (-s SESSION | --all) -t TOPIC (-m MSG | -f FILE | -l) [-q QOS] [-r]
 *
 * sub prints each message once even when several of its filters match it; GAPs (messages the
 * router had to drop for us) go to stderr. Exit codes: 0 ok (sub: COUNT reached, or -W
 * expired without -C), 1 failure (pub: any publish failed; sub: -W expired before COUNT, router
 * gone), 64 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "mm_time.h"
#include "mqttmux.h"

#define MAX_FILTERS 64
#define PUB_TIMEOUT 10000 /* ms, per message */

struct sub {
	const char *fmt;
	bool verbose;
	long count, seen;
	/* the last record printed: a record reaching several of our routes is printed once */
	const void *last_payload;
	uint64_t last_ns;
	uint32_t last_idx;
};

static int sub_usage(void)
{
	fprintf(stderr, "usage: mqttmux sub -t FILTER [-t FILTER ...] [-s SESSION] [-q QOS]\n"
			"                   [-C COUNT] [-W SECONDS] [-v] [-F FORMAT]\n"
			"       mqttmux pub (-s SESSION | --all) -t TOPIC (-m MSG | -f FILE | -l)\n"
			"                   [-q QOS] [-r]\n");
	return EX_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *ret)
{
	char *end;

	errno = 0;
	*ret = strtol(s, &end, 10);
	return errno || end == s || *end || *ret < lo || *ret > hi ? -EINVAL : 0;
}

static void put_escape(char e)
{
	switch (e) {
	case 'n':
		putchar('\n');
		break;
	case 't':
		putchar('\t');
		break;
	case '\\':
		putchar('\\');
		break;
	default:
		putchar('\\');
		putchar(e);
	}
}

static void put_token(char t, const struct mqttmux_msg *m)
{
	switch (t) {
	case 't':
		fputs(m->topic, stdout);
		break;
	case 'p':
		fwrite(m->payload ? m->payload : "", 1, m->payload_len, stdout);
		break;
	case 'q':
		printf("%d", m->qos);
		break;
	case 'r':
		putchar(m->retain ? '1' : '0');
		break;
	case 'm':
		printf("%u", m->mid);
		break;
	case 'U':
		printf("%llu.%09llu", (unsigned long long)(m->recv_ns / 1000000000u),
		       (unsigned long long)(m->recv_ns % 1000000000u));
		break;
	case 'S':
		fputs(m->session, stdout);
		break;
	case '%':
		putchar('%');
		break;
	default:
		putchar('%');
		putchar(t);
	}
}

/* -F: mosquitto_sub's tokens plus %S, and \n \t \\ escapes; a newline ends each message. */
static void print_fmt(const char *f, const struct mqttmux_msg *m)
{
	for (; *f; f++) {
		if ((*f == '%' || *f == '\\') && f[1]) {
			if (*f == '%')
				put_token(f[1], m);
			else
				put_escape(f[1]);
			f++;
		} else {
			putchar(*f);
		}
	}
	putchar('\n');
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct sub *s = ud;

	(void)r;
	if (s->seen && m->payload == s->last_payload && m->recv_ns == s->last_ns &&
	    m->session_idx == s->last_idx)
		return;
	if (s->count && s->seen >= s->count)
		return;
	s->last_payload = m->payload;
	s->last_ns = m->recv_ns;
	s->last_idx = m->session_idx;
	s->seen++;
	if (s->fmt) {
		print_fmt(s->fmt, m);
	} else {
		if (s->verbose)
			printf("%s ", m->topic);
		fwrite(m->payload ? m->payload : "", 1, m->payload_len, stdout);
		putchar('\n');
	}
	fflush(stdout);
}

static void on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	(void)c;
	(void)ud;
	fprintf(stderr, "mqttmux: gap: %llu message(s) lost on %s%s%s\n", (unsigned long long)lost,
		session ? "session '" : "several sessions", session ? session : "",
		session ? "'" : "");
}

static struct mqttmux *client_open(const char *dir)
{
	int err = 0;
	struct mqttmux *c = mqttmux_open(dir, &err);

	if (!c)
		fprintf(stderr, "mqttmux: cannot connect to the router in %s: %s%s\n", dir,
			strerror(-err),
			err == -ENOENT || err == -ECONNREFUSED ? " (is mqttmuxd running? see -d)"
							       : "");
	return c;
}

static int add_routes(struct mqttmux *c, const char *session, const char **filters, int n,
		      struct sub *s)
{
	for (int i = 0; i < n; i++) {
		if (mqttmux_handle_to(c, session, filters[i], on_msg, s))
			continue;
		fprintf(stderr, "mqttmux: cannot subscribe to '%s'%s%s: %s\n", filters[i],
			session ? " on " : "", session ? session : "",
			errno == ENOENT ? "no such session" : strerror(errno));
		return -1;
	}
	return 0;
}

/* Dispatch until COUNT messages or the deadline (-1: none). Returns the exit code. */
static int sub_loop(struct mqttmux *c, struct sub *s, int64_t deadline)
{
	int rc, ms;

	for (;;) {
		if (s->count && s->seen >= s->count)
			return 0;
		ms = deadline < 0
			     ? -1
			     : (int)(deadline > mm_time_mono_ms() ? deadline - mm_time_mono_ms()
								  : 0);
		if (ms == 0)
			return s->count ? 1 : 0;
		rc = mqttmux_dispatch(c, ms);
		if (rc < 0) {
			fprintf(stderr, "mqttmux: %s\n", strerror(-rc));
			return 1;
		}
	}
}

int mm_cli_sub(const char *dir, int argc, char **argv)
{
	const char *filters[MAX_FILTERS], *session = NULL;
	struct sub s = { 0 };
	long qos = 0, secs = -1;
	struct mqttmux *c;
	int nf = 0, opt, rc;

	while ((opt = getopt(argc, argv, "+t:s:q:C:W:vF:")) != -1) {
		if (opt == 't' && nf < MAX_FILTERS && optarg[0])
			filters[nf++] = optarg;
		else if (opt == 's' && optarg[0])
			session = optarg;
		else if (opt == 'v')
			s.verbose = true;
		else if (opt == 'F')
			s.fmt = optarg;
		else if (!((opt == 'q' && parse_long(optarg, 0, 2, &qos) == 0) ||
			   (opt == 'C' && parse_long(optarg, 1, 1L << 40, &s.count) == 0) ||
			   (opt == 'W' && parse_long(optarg, 1, 86400 * 365, &secs) == 0)))
			return sub_usage();
	}
	if (optind != argc || nf == 0)
		return sub_usage();
	if (!(c = client_open(dir)))
		return 1;
	mqttmux_on_gap(c, on_gap, NULL);
	mqttmux_set_route_qos(c, (int)qos);
	rc = add_routes(c, session, filters, nf, &s) < 0
		     ? 1
		     : sub_loop(c, &s, secs < 0 ? -1 : mm_time_mono_ms() + secs * 1000);
	if (rc && secs >= 0 && s.count && s.seen < s.count)
		fprintf(stderr, "mqttmux: timed out after %ld of %ld message(s)\n", s.seen,
			s.count);
	mqttmux_close(c);
	return rc;
}

/* ---- pub ---- */

struct pub {
	const char *session, *topic, *msg, *file;
	int qos;
	bool retain, all, lines;
	long failed;
};

static void pub_one(struct mqttmux *c, struct pub *p, const void *data, size_t len)
{
	int rc = p->session ? mqttmux_publish_to(c, p->session, p->topic, data, len, p->qos,
						 p->retain, PUB_TIMEOUT)
			    : mqttmux_publish_all(c, p->topic, data, len, p->qos, p->retain,
						  PUB_TIMEOUT);

	if (rc == 0)
		return;
	p->failed++;
	fprintf(stderr, "mqttmux: publish to %s%s%s failed: %s\n", p->session ? "session '" : "",
		p->session ? p->session : "all sessions", p->session ? "'" : "",
		rc == -ENOENT	    ? "no such session"
		: rc == -EOPNOTSUPP ? "the router does not support publishing to all sessions"
				    : strerror(-rc));
}

static int read_file(const char *path, char **ret, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0;
	FILE *m = open_memstream(ret, &cap);
	char buf[65536];
	size_t n;

	if (!f || !m) {
		fprintf(stderr, "mqttmux: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		if (m)
			fclose(m);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(f);
	fclose(m);
	*len = cap;
	return 0;
}

/* -l: one message per stdin line, without its newline. */
static void pub_lines(struct mqttmux *c, struct pub *p)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		pub_one(c, p, line, (size_t)n);
	}
	free(line);
}

static int pub_args(int argc, char **argv, struct pub *p)
{
	static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	long qos = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "+s:at:m:f:lq:r", opts, NULL)) != -1) {
		if (opt == 's' && optarg[0])
			p->session = optarg;
		else if (opt == 'a')
			p->all = true;
		else if (opt == 't' && optarg[0])
			p->topic = optarg;
		else if (opt == 'm')
			p->msg = optarg;
		else if (opt == 'f')
			p->file = optarg;
		else if (opt == 'l')
			p->lines = true;
		else if (opt == 'r')
			p->retain = true;
		else if (opt != 'q' || parse_long(optarg, 0, 2, &qos) < 0)
			return -1;
	}
	p->qos = (int)qos;
	if (optind != argc || !p->topic || !p->session == !p->all ||
	    !!p->msg + !!p->file + p->lines != 1)
		return -1;
	return 0;
}

int mm_cli_pub(const char *dir, int argc, char **argv)
{
	struct pub p = { 0 };
	struct mqttmux *c;
	char *data = NULL;
	size_t len = 0;

	if (pub_args(argc, argv, &p) < 0)
		return sub_usage();
	if (p.file && read_file(p.file, &data, &len) < 0)
		return 1;
	if (!(c = client_open(dir))) {
		free(data);
		return 1;
	}
	if (p.lines)
		pub_lines(c, &p);
	else
		pub_one(c, &p, p.msg ? p.msg : data, p.msg ? strlen(p.msg) : len);
	mqttmux_close(c);
	free(data);
	return p.failed ? 1 : 0;
}
