/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition 0.0.4 (see metrics.h), the primitives: the buffer, escaping,
 * number formatting, families, samples and histograms. mm_metrics_render() (metrics.c) and the
 * per-process families (metrics_ops.c) write with them. Numbers are formatted with snprintf,
 * so the process must stay in the "C" locale (the daemon never calls setlocale).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const type_names[_MM_METRICS_TYPE_MAX] = {
	[MM_METRICS_COUNTER] = "counter",
	[MM_METRICS_GAUGE] = "gauge",
	[MM_METRICS_HISTOGRAM] = "histogram",
	[MM_METRICS_UNTYPED] = "untyped",
};

void mm_metrics_buf_init(struct mm_metrics_buf *b, char *mem, size_t cap)
{
	*b = (struct mm_metrics_buf){ .data = mem, .cap = mem ? cap : 0 };
	if (b->cap)
		b->data[0] = '\0';
}

void mm_metrics_buf_init_dyn(struct mm_metrics_buf *b)
{
	*b = (struct mm_metrics_buf){ .growable = true };
}

/* Frees a growable buffer's memory; a caller buffer is left alone. Safe to call twice. */
void mm_metrics_buf_done(struct mm_metrics_buf *b)
{
	if (b->growable) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
	b->len = 0;
}

int mm_metrics_buf_err(const struct mm_metrics_buf *b)
{
	return b->err;
}

static void buf_fail(struct mm_metrics_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

/* Make room for <n> more bytes plus the NUL. */
static bool buf_reserve(struct mm_metrics_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return false;
	if (b->cap - b->len > n)
		return true;
	if (!b->growable) {
		buf_fail(b, -ENOSPC);
		return false;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len <= n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		buf_fail(b, -ENOMEM);
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void mm_metrics_put(struct mm_metrics_buf *b, const char *s, size_t len)
{
	if (!buf_reserve(b, len))
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void put_str(struct mm_metrics_buf *b, const char *s)
{
	mm_metrics_put(b, s, strlen(s));
}

void mm_metrics_escape(struct mm_metrics_buf *b, const char *s, char mode)
{
	const char *run = s;

	for (; *s; s++) {
		if (*s != '\\' && *s != '\n' && (*s != '"' || mode != 'l'))
			continue;
		mm_metrics_put(b, run, (size_t)(s - run));
		mm_metrics_put(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		run = s + 1;
	}
	mm_metrics_put(b, run, (size_t)(s - run));
}

static bool is_name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

/*
 * Metric names allow ':'; label names do not, and "__" is reserved for Prometheus. Checked and
 * measured in one pass: this runs for every sample line.
 */
static void put_name(struct mm_metrics_buf *b, const char *name, bool metric)
{
	const char *p = name;

	if (!name || !*name || (!metric && name[0] == '_' && name[1] == '_')) {
		buf_fail(b, -EINVAL);
		return;
	}
	for (; *p; p++)
		if (!is_name_char(*p, p == name, metric)) {
			buf_fail(b, -EINVAL);
			return;
		}
	mm_metrics_put(b, name, (size_t)(p - name));
}

/* <v> in decimal and a newline into buf (at least 22 bytes); returns the length. */
static size_t fmt_u64_nl(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, len;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (len = 0; len < n; len++)
		buf[len] = tmp[n - 1 - len];
	buf[len++] = '\n';
	return len;
}

void mm_metrics_family(struct mm_metrics_buf *b, const char *name, enum mm_metrics_type type,
		       const char *help)
{
	if ((unsigned)type >= _MM_METRICS_TYPE_MAX) {
		buf_fail(b, -EINVAL);
		return;
	}
	put_str(b, "# HELP ");
	put_name(b, name, true);
	put_str(b, " ");
	mm_metrics_escape(b, help ? help : "", 'h');
	put_str(b, "\n# TYPE ");
	put_str(b, name);
	put_str(b, " ");
	put_str(b, type_names[type]);
	put_str(b, "\n");
}

static void put_label(struct mm_metrics_buf *b, const struct mm_metrics_label *l, bool first)
{
	if (!first)
		put_str(b, ",");
	put_name(b, l->name, false);
	put_str(b, "=\"");
	mm_metrics_escape(b, l->value ? l->value : "", 'l');
	put_str(b, "\"");
}

/* "<name><suffix>{labels,extra} ", or without braces when there is no label at all. */
static void put_head(struct mm_metrics_buf *b, const char *name, const char *suffix,
		     const struct mm_metrics_label *labels, size_t n,
		     const struct mm_metrics_label *extra)
{
	put_name(b, name, true);
	put_str(b, suffix);
	if (n || extra) {
		put_str(b, "{");
		for (size_t i = 0; i < n; i++)
			put_label(b, &labels[i], i == 0);
		if (extra)
			put_label(b, extra, n == 0);
		put_str(b, "}");
	}
	put_str(b, " ");
}

/*
 * <v> when it is the double nearest to some n / 1000 with |n| < 2^52, as "[-]i.fff" without
 * trailing zeros; 0 otherwise. That is exactly what the %.Ng loop below would print: the
 * string reads back as v ((double)n / 1000 is correctly rounded, as strtod is), and any
 * shorter decimal is at least 0.001 away, more than half an ulp of v (below 2^42, an ulp is at
 * most 2^-10), so it reads back as another double. At a fraction of the cost: the supervisor
 * rounds rates and timestamps to milliseconds, so most values take this path.
 */
static size_t fmt_milli(char *buf, size_t cap, double v)
{
	double m = v * 1000.0;
	uint64_t n, ip;
	char frac[4];
	int len, fl = 3;

	if (!(fabs(m) < 4503599627370496.0)) /* 2^52 */
		return 0;
	n = (uint64_t)(fabs(m) + 0.5); /* rounded; checked just below */
	if ((double)n / 1000.0 != fabs(v))
		return 0;
	ip = n / 1000;
	snprintf(frac, sizeof(frac), "%03u", (unsigned)(n % 1000));
	while (fl > 0 && frac[fl - 1] == '0')
		fl--;
	len = snprintf(buf, cap, "%s%" PRIu64 "%s%.*s", v < 0 ? "-" : "", ip, fl ? "." : "", fl,
		       frac);
	return len < 0 || (size_t)len >= cap ? 0 : (size_t)len;
}

size_t mm_metrics_fmt_f64(char *buf, size_t cap, double v)
{
	int n = 0;
	size_t len;

	if (isnan(v))
		n = snprintf(buf, cap, "NaN");
	else if (isinf(v))
		n = snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	else if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v) /* exact below 2^53 */
		n = snprintf(buf, cap, "%" PRId64, (int64_t)v);
	else if ((len = fmt_milli(buf, cap, v)) > 0)
		return len;
	else
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(buf, cap, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	return n < 0 ? 0 : (size_t)n;
}

void mm_metrics_sample_u64(struct mm_metrics_buf *b, const char *name,
			   const struct mm_metrics_label *labels, size_t nlabels, uint64_t v)
{
	char num[32];

	put_head(b, name, "", labels, nlabels, NULL);
	mm_metrics_put(b, num, fmt_u64_nl(num, v));
}

void mm_metrics_sample_f64(struct mm_metrics_buf *b, const char *name,
			   const struct mm_metrics_label *labels, size_t nlabels, double v)
{
	char num[40];

	put_head(b, name, "", labels, nlabels, NULL);
	mm_metrics_put(b, num, mm_metrics_fmt_f64(num, sizeof(num), v));
	put_str(b, "\n");
}

static void put_bucket(struct mm_metrics_buf *b, const char *name,
		       const struct mm_metrics_label *labels, size_t nlabels, const char *le,
		       uint64_t cum)
{
	struct mm_metrics_label l = { "le", le };
	char num[32];

	put_head(b, name, "_bucket", labels, nlabels, &l);
	mm_metrics_put(b, num, fmt_u64_nl(num, cum));
}

void mm_metrics_histogram(struct mm_metrics_buf *b, const char *name,
			  const struct mm_metrics_label *labels, size_t nlabels,
			  const struct mm_metrics_hist *h)
{
	uint64_t cum = 0;
	char le[40];

	for (size_t i = 0; i < h->nbounds; i++) {
		if (!isfinite(h->bounds[i]) || (i && h->bounds[i] <= h->bounds[i - 1])) {
			buf_fail(b, -EINVAL);
			return;
		}
		cum += h->counts[i];
		mm_metrics_fmt_f64(le, sizeof(le), h->bounds[i]);
		put_bucket(b, name, labels, nlabels, le, cum);
	}
	cum += h->counts[h->nbounds];
	put_bucket(b, name, labels, nlabels, "+Inf", cum);
	put_head(b, name, "_sum", labels, nlabels, NULL);
	mm_metrics_put(b, le, mm_metrics_fmt_f64(le, sizeof(le), h->sum));
	put_str(b, "\n");
	put_head(b, name, "_count", labels, nlabels, NULL);
	mm_metrics_put(b, le, fmt_u64_nl(le, cum));
}
