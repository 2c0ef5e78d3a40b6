/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux top`: the numbers it takes from the metrics text (docs/metrics.md names them) and
 * the screen it draws from two reads. Rates are (now - before) / seconds between the reads; a
 * counter that went down (a client slot taken by a new client) counts as 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_top.h"

/* The value of label <name> in <labels> ('{a="x",b="y"}'), unescaped into out; or false. */
static bool label(const char *labels, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name), o = 0;
	const char *p = labels;

	while ((p = strstr(p, name))) {
		if ((p == labels + 1 || p[-1] == ',') && p[n] == '=' && p[n + 1] == '"')
			break;
		p += n;
	}
	if (!p)
		return false;
	for (p += n + 2; *p && *p != '"' && o + 1 < cap; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[o++] = *p == 'n' ? '\n' : *p;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return true;
}

static struct mm_top_smet *smet(struct mm_top_snap *s, const char *labels)
{
	char name[MM_TOP_NAME_MAX];
	void *p;

	if (!label(labels, "session", name, sizeof(name)))
		return NULL;
	for (size_t i = 0; i < s->nsm; i++)
		if (!strcmp(s->sm[i].name, name))
			return &s->sm[i];
	p = realloc(s->sm, (s->nsm + 1) * sizeof(*s->sm));
	if (!p)
		return NULL;
	s->sm = p;
	memset(&s->sm[s->nsm], 0, sizeof(*s->sm));
	strcpy(s->sm[s->nsm].name, name);
	return &s->sm[s->nsm++];
}

static struct mm_top_client *client(struct mm_top_snap *s, const char *labels)
{
	char name[MM_TOP_NAME_MAX], slot[16];
	unsigned n;
	void *p;

	if (!label(labels, "client", name, sizeof(name)) || !label(labels, "slot", slot, 16))
		return NULL;
	n = (unsigned)strtoul(slot, NULL, 10);
	for (size_t i = 0; i < s->ncl; i++)
		if (s->cl[i].slot == n && !strcmp(s->cl[i].name, name))
			return &s->cl[i];
	p = realloc(s->cl, (s->ncl + 1) * sizeof(*s->cl));
	if (!p)
		return NULL;
	s->cl = p;
	memset(&s->cl[s->ncl], 0, sizeof(*s->cl));
	strcpy(s->cl[s->ncl].name, name);
	s->cl[s->ncl].slot = n;
	return &s->cl[s->ncl++];
}

#define CLIENT_FIELD(f) offsetof(struct mm_top_client, f)

static const struct {
	const char *family;
	size_t off;
} client_fields[] = {
	{ "mqttmux_client_pid", CLIENT_FIELD(pid) },
	{ "mqttmux_client_routes", CLIENT_FIELD(routes) },
	{ "mqttmux_client_ring_fill_bytes", CLIENT_FIELD(fill) },
	{ "mqttmux_client_ring_size_bytes", CLIENT_FIELD(size) },
	{ "mqttmux_client_messages_delivered_total", CLIENT_FIELD(delivered) },
	{ "mqttmux_client_messages_dropped_total", CLIENT_FIELD(dropped) },
	{ "mqttmux_client_gaps_total", CLIENT_FIELD(gaps) },
	{ "mqttmux_client_messages_queued", CLIENT_FIELD(queued) },
};

static void sample(struct mm_top_snap *s, const char *fam, const char *labels, double v)
{
	struct mm_top_smet *m;
	struct mm_top_client *c;

	for (size_t i = 0; i < sizeof(client_fields) / sizeof(client_fields[0]); i++)
		if (!strcmp(fam, client_fields[i].family) && (c = client(s, labels)))
			*(uint64_t *)((char *)c + client_fields[i].off) = (uint64_t)v;
	if (!strncmp(fam, "mqttmux_session_", 16) && (m = smet(s, labels))) {
		if (!strcmp(fam, "mqttmux_session_oversize_dropped_total"))
			m->drops = (uint64_t)v;
		else if (!strcmp(fam, "mqttmux_session_in_ring_fill_bytes"))
			m->fill = (uint64_t)v;
		else if (!strcmp(fam, "mqttmux_session_in_ring_size_bytes"))
			m->size = (uint64_t)v;
		else if (!strcmp(fam, "mqttmux_session_failed"))
			m->failed = v != 0;
	}
	if (!strcmp(fam, "mqttmux_router_messages_total"))
		s->rtr_in = (uint64_t)v;
	else if (!strcmp(fam, "mqttmux_router_fanout_total"))
		s->rtr_out = (uint64_t)v;
	else if (!strcmp(fam, "mqttmux_uptime_seconds"))
		s->uptime = v;
}

void mm_top_parse(struct mm_top_snap *s, const char *text)
{
	char *copy = strdup(text ? text : ""), *save, *line;

	for (line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *brace = strchr(line, '{'), *sp = strrchr(line, ' '), fam[160];
		const char *labels = "";
		size_t fl;

		if (line[0] == '#' || !sp)
			continue;
		*sp = '\0';
		if (brace && brace > sp)
			brace = NULL;
		fl = brace ? (size_t)(brace - line) : strlen(line);
		if (fl >= sizeof(fam))
			continue;
		memcpy(fam, line, fl);
		fam[fl] = '\0';
		if (brace)
			labels = brace;
		sample(s, fam, labels, strtod(sp + 1, NULL));
	}
	free(copy);
}

void mm_top_snap_done(struct mm_top_snap *s)
{
	mqttmux_session_status_free(s->st, s->nst);
	free(s->sm);
	free(s->cl);
	memset(s, 0, sizeof(*s));
}

/* ---- the view ---- */

static const struct mm_top_smet *smet_of(const struct mm_top_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nsm; i++)
		if (!strcmp(s->sm[i].name, name))
			return &s->sm[i];
	return NULL;
}

static const struct mqttmux_session_status *status_of(const struct mm_top_snap *s, const char *name)
{
	for (size_t i = 0; i < s->nst; i++)
		if (!strcmp(s->st[i].name, name))
			return &s->st[i];
	return NULL;
}

static const struct mm_top_client *client_of(const struct mm_top_snap *s,
					     const struct mm_top_client *c)
{
	for (size_t i = 0; i < s->ncl; i++)
		if (s->cl[i].slot == c->slot && !strcmp(s->cl[i].name, c->name))
			return &s->cl[i];
	return NULL;
}

/* Per second between the two reads; 0 when there is no earlier value or it went down. */
static double rate(uint64_t now, const uint64_t *before, double secs)
{
	return before && now >= *before && secs > 0 ? (double)(now - *before) / secs : 0;
}

static double pct(uint64_t fill, uint64_t size)
{
	return size ? 100.0 * (double)fill / (double)size : 0;
}

/* One line into <f>, cut at <width> (0: whole). */
__attribute__((format(printf, 3, 4))) static void put(FILE *f, int width, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (width > 0 && (size_t)width < strlen(line))
		line[width] = '\0';
	fprintf(f, "%s\n", line);
}

static void header(FILE *f, const struct mm_top_snap *p, const struct mm_top_snap *c, double secs,
		   int width)
{
	unsigned up = (unsigned)c->uptime, ok = 0, failed = 0;
	char now[16] = "";
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(now, sizeof(now), "%H:%M:%S", &tm);
	for (size_t i = 0; i < c->nst; i++) {
		ok += c->st[i].state_code == MQTTMUX_STATE_CONNECTED;
		failed += c->st[i].state_code == MQTTMUX_STATE_FAILED;
	}
	put(f, width,
	    "mqttmux top - %s  up %u:%02u:%02u  sessions %zu: %u connected, %zu down, %u failed  "
	    "clients %zu  router %.0f msg/s in, %.0f out",
	    now, up / 3600, up / 60 % 60, up % 60, c->nst, ok, c->nst - ok - failed, failed, c->ncl,
	    rate(c->rtr_in, p->mono_ms ? &p->rtr_in : NULL, secs),
	    rate(c->rtr_out, p->mono_ms ? &p->rtr_out : NULL, secs));
}

static void sessions(FILE *f, const struct mm_top_snap *p, const struct mm_top_snap *c,
		     const char *only, double secs, int width)
{
	put(f, width, "%-16s %-12s %-28s %9s %9s %7s %8s %6s  %s", "SESSION", "STATE", "BROKER",
	    "IN/s", "OUT/s", "DROPS", "RESTARTS", "RING%", "LAST ERROR");
	for (size_t i = 0; i < c->nst; i++) {
		const struct mqttmux_session_status *s = &c->st[i], *b = status_of(p, s->name);
		const struct mm_top_smet *m = smet_of(c, s->name);

		if (only && strcmp(only, s->name))
			continue;
		put(f, width, "%-16s %-12s %-28s %9.0f %9.0f %7llu %8llu %6.1f  %s", s->name,
		    s->state, s->broker ? s->broker : "-",
		    rate(s->messages_received, b ? &b->messages_received : NULL, secs),
		    rate(s->messages_sent, b ? &b->messages_sent : NULL, secs),
		    (unsigned long long)(m ? m->drops : 0), (unsigned long long)s->restarts,
		    m ? pct(m->fill, m->size) : 0.0, s->last_error ? s->last_error : "-");
	}
}

static void clients(FILE *f, const struct mm_top_snap *p, const struct mm_top_snap *c, double secs,
		    int width)
{
	put(f, width, "%-16s %4s %8s %6s %6s %9s %9s %7s %7s", "CLIENT", "SLOT", "PID", "ROUTES",
	    "RING%", "DELIV/s", "DROPS", "GAPS", "QUEUED");
	for (size_t i = 0; i < c->ncl; i++) {
		const struct mm_top_client *k = &c->cl[i], *b = client_of(p, k);

		put(f, width, "%-16s %4u %8llu %6llu %6.1f %9.0f %9llu %7llu %7llu", k->name,
		    k->slot, (unsigned long long)k->pid, (unsigned long long)k->routes,
		    pct(k->fill, k->size), rate(k->delivered, b ? &b->delivered : NULL, secs),
		    (unsigned long long)k->dropped, (unsigned long long)k->gaps,
		    (unsigned long long)k->queued);
	}
}

void mm_top_print(FILE *f, const struct mm_top_snap *prev, const struct mm_top_snap *cur,
		  const char *session, bool tty, int width)
{
	double secs = prev->mono_ms ? (double)(cur->mono_ms - prev->mono_ms) / 1000.0 : 0;

	if (tty)
		fputs("\033[H\033[2J", f); /* home, clear: redraw in place */
	header(f, prev, cur, secs, width);
	fputc('\n', f);
	sessions(f, prev, cur, session, secs, width);
	fputc('\n', f);
	clients(f, prev, cur, secs, width);
	if (!tty)
		fputc('\n', f);
}
