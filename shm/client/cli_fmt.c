/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux sub` output: mosquitto_sub's default and -v lines, and its -F language, written
 * from mosquitto 2.0.11's documented and observed behaviour (client/sub_client_output.c) so
 * that a mosquitto_sub user's format prints the same bytes:
 *
 *   %[-][0][WIDTH][.PRECISION]TOKEN   tokens t p x X l m q r j J I U %, plus S (session name),
 *                                     and the MQTT 5 properties A C D E F P R (cli_props.c)
 *   @X                                strftime's %X of the time; @N nanoseconds; @@ an @
 *   \n \t \r \v \a \e \0 \\          escapes
 *
 * Where mqttmux differs, on purpose (docs/client.md, "mqttmux sub"):
 *   - the times (%I %U %j/%J "tst", @X) are when the session's worker received the message, not
 *     when it is printed;
 *   - %S is the session's name (mosquitto_sub: the MQTT 5 subscription identifier, which has no
 *     meaning here: the router, not this command, subscribes);
 *   - %j escapes a payload that holds a NUL byte in full (mosquitto_sub stops at the NUL).
 */
#include "cli_fmt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli_props.h"

#define TOKENS "%jJxXIUlmpqrtSACDEFPR"

/* A conversion's flags: mosquitto_sub's "%-05.3t". */
struct spec {
	char align; /* '-' or 0 */
	char pad;   /* ' ' or '0' */
	int width;  /* 0: none */
	int prec;   /* -1: none */
};

static int check_percent(const char **pp, char *err, size_t errlen)
{
	const char *p = *pp + 1;

	if (*p == '-' || *p == '0')
		p++;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!*p) {
		snprintf(err, errlen, "incomplete format specifier at the end");
		return -EINVAL;
	}
	if (!strchr(TOKENS, *p)) {
		snprintf(err, errlen, "invalid format specifier '%c'", *p);
		return -EINVAL;
	}
	*pp = p;
	return 0;
}

int mm_cli_fmt_check(const char *fmt, char *err, size_t errlen)
{
	for (const char *p = fmt; *p; p++) {
		if (*p == '%') {
			if (check_percent(&p, err, errlen) < 0)
				return -EINVAL;
		} else if (*p == '@') {
			if (!*++p) {
				snprintf(err, errlen, "incomplete format specifier at the end");
				return -EINVAL;
			}
		} else if (*p == '\\') {
			if (!p[1] || !strchr("\\0aenrtv", p[1])) {
				snprintf(err, errlen,
					 p[1] ? "invalid escape specifier '%c'"
					      : "incomplete escape specifier at the end",
					 p[1]);
				return -EINVAL;
			}
			p++;
		}
	}
	return 0;
}

static void put_pad(char pad, int n)
{
	for (int i = 0; i < n; i++)
		putchar(pad);
}

static void put_int(long long v, const struct spec *s)
{
	if (s->width == 0)
		printf("%lld", v);
	else if (s->align == '-')
		printf("%-*lld", s->width, v);
	else if (s->pad == '0')
		printf("%0*lld", s->width, v);
	else
		printf("%*lld", s->width, v);
}

static void put_strn(const char *v, size_t len, const struct spec *s)
{
	int prec = s->prec < 0 || (size_t)s->prec > len ? (int)len : s->prec;

	printf(s->align == '-' ? "%-*.*s" : "%*.*s", s->width, prec, v);
}

static void put_str(const char *v, const struct spec *s)
{
	put_strn(v, strlen(v), s);
}

/*
 * %A %E %F (integers), %C %R (strings), %D (raw bytes), %P (user properties): as mosquitto_sub,
 * a missing integer or content type prints the width's padding, a missing response topic or
 * correlation data nothing.
 */
static void put_prop(char t, const struct spec *s, const struct mqttmux_msg *m)
{
	static const char tok[] = "AEFCRD";
	static const int id[] = { MQTTMUX_PROP_TOPIC_ALIAS,    MQTTMUX_PROP_MESSAGE_EXPIRY,
				  MQTTMUX_PROP_PAYLOAD_FORMAT, MQTTMUX_PROP_CONTENT_TYPE,
				  MQTTMUX_PROP_RESPONSE_TOPIC, MQTTMUX_PROP_CORRELATION_DATA };
	const char *k = strchr(tok, t), *b;
	long long v;
	size_t n;

	if (t == 'P') {
		mm_cli_put_user_props(m);
	} else if (k - tok < 3) {
		if (mm_cli_prop_num(m, id[k - tok], &v))
			put_int(v, s);
		else
			put_pad(s->pad, s->width);
	} else if (mm_cli_prop_bytes(m, id[k - tok], &b, &n)) {
		if (t == 'D')
			fwrite(b, 1, n, stdout);
		else
			put_strn(b, n, s);
	} else if (t == 'C') {
		put_pad(' ', s->width);
	}
}

/*
 * %p %x %X: a width both pads and truncates (to width bytes, or width/2 bytes in hex); the
 * precision is ignored. hex: 0 raw, 1 lower, 2 upper.
 */
static void put_payload(const struct mqttmux_msg *m, int hex, const struct spec *s)
{
	const unsigned char *b = m->payload;
	size_t n = m->payload_len;
	long pad = 0;

	if (s->width > 0) {
		if (n > (size_t)s->width)
			n = (size_t)s->width;
		if (hex)
			n /= 2;
		pad = (long)s->width - (long)(hex ? n * 2 : n);
	}
	if (s->align != '-')
		put_pad(s->pad, (int)pad);
	if (!hex)
		fwrite(b ? (const void *)b : "", 1, n, stdout);
	for (size_t i = 0; hex && i < n; i++)
		printf(hex == 1 ? "%02x" : "%02X", b[i]);
	if (s->align == '-')
		put_pad(' ', (int)pad);
}

static struct tm *msg_time(const struct mqttmux_msg *m, struct tm *tm)
{
	time_t t = (time_t)(m->recv_ns / 1000000000u);

	return localtime_r(&t, tm);
}

static void put_iso_time(const struct mqttmux_msg *m, const struct spec *s)
{
	char buf[64];
	struct tm tm;

	if (msg_time(m, &tm) && strftime(buf, sizeof(buf), "%FT%T%z", &tm))
		put_str(buf, s);
	else
		put_pad(' ', s->width);
}

static void put_json(const struct mqttmux_msg *m, bool raw, const struct mm_cli_out *o)
{
	if (mm_cli_json(stdout, m, raw, o->pretty) < 0 && !o->quiet)
		fprintf(stderr, "mqttmux: the payload is not valid JSON on topic %s\n", m->topic);
}

static void put_token(char t, const struct spec *s, const struct mqttmux_msg *m,
		      const struct mm_cli_out *o)
{
	switch (t) {
	case '%':
		putchar('%');
		break;
	case 'I':
		put_iso_time(m, s);
		break;
	case 'j':
	case 'J':
		put_json(m, t == 'J', o);
		break;
	case 'l':
		put_int((long long)m->payload_len, s);
		break;
	case 'm':
		put_int(m->mid, s);
		break;
	case 'p':
	case 'x':
	case 'X':
		put_payload(m, t == 'p' ? 0 : t == 'x' ? 1 : 2, s);
		break;
	case 'q':
		putchar('0' + m->qos);
		break;
	case 'r':
		putchar(m->retain ? '1' : '0');
		break;
	case 'S':
		put_str(m->session, s);
		break;
	case 't':
		put_str(m->topic, s);
		break;
	case 'U':
		printf("%llu.%09llu", (unsigned long long)(m->recv_ns / 1000000000u),
		       (unsigned long long)(m->recv_ns % 1000000000u));
		break;
	default:
		put_prop(t, s, m);
	}
}

/* Read "%[-][0][W][.P]T" at *pp (on the '%'); leaves *pp on T. */
static struct spec read_spec(const char **pp)
{
	struct spec s = { .pad = ' ', .prec = -1 };
	const char *p = *pp + 1;

	if (*p == '-')
		s.align = *p++;
	if (*p == '0') {
		s.pad = '0';
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		s.width = s.width < 100000 ? s.width * 10 + (*p - '0') : s.width;
	if (*p == '.')
		for (s.prec = 0, p++; *p >= '0' && *p <= '9'; p++)
			s.prec = s.prec < 100000 ? s.prec * 10 + (*p - '0') : s.prec;
	*pp = p;
	return s;
}

/* strftime with a conversion chosen by the user (@X): any letter strftime knows is fine. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static size_t strftime_any(char *buf, size_t len, const char *f, const struct tm *tm)
{
	return strftime(buf, len, f, tm);
}
#pragma GCC diagnostic pop

/* @X: strftime's %X of the message's time; @N its nanoseconds; @@ an @. */
static void put_at(char c, const struct mqttmux_msg *m)
{
	char f[3] = { '%', c, 0 }, buf[128];
	struct tm tm;

	if (c == '@')
		putchar('@');
	else if (c == 'N')
		printf("%09llu", (unsigned long long)(m->recv_ns % 1000000000u));
	else if (msg_time(m, &tm) && strftime_any(buf, sizeof(buf), f, &tm))
		fputs(buf, stdout);
}

static void put_escape(char e)
{
	static const char from[] = "\\0aenrtv", to[] = "\\\0\a\033\n\r\t\v";
	const char *i = strchr(from, e);

	if (i && e)
		putchar(to[i - from]);
}

static void print_fmt(const struct mm_cli_out *o, const struct mqttmux_msg *m)
{
	for (const char *p = o->fmt; *p; p++) {
		struct spec s;

		if (*p == '%' && p[1]) {
			s = read_spec(&p);
			if (!*p)
				break;
			put_token(*p, &s, m, o);
		} else if ((*p == '@' || *p == '\\') && p[1]) {
			if (*p++ == '@')
				put_at(*p, m);
			else
				put_escape(*p);
		} else {
			putchar(*p);
		}
	}
	if (o->eol)
		putchar('\n');
}

/*
 * No -F: the payload (an empty one prints nothing, not even the newline), or with -v
 * "topic payload" ("topic (null)" when empty, and nothing at all with -N), as mosquitto_sub.
 */
static void print_plain(const struct mm_cli_out *o, const struct mqttmux_msg *m)
{
	if (m->payload_len == 0) {
		if (o->verbose && o->eol)
			printf("%s (null)\n", m->topic);
		return;
	}
	if (o->verbose)
		printf("%s ", m->topic);
	fwrite(m->payload, 1, m->payload_len, stdout);
	if (o->eol)
		putchar('\n');
}

void mm_cli_print(const struct mm_cli_out *o, const struct mqttmux_msg *m)
{
	if (o->fmt)
		print_fmt(o, m);
	else
		print_plain(o, m);
	fflush(stdout);
}
