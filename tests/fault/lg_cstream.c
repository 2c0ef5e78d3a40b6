/* SPDX-License-Identifier: MIT */
/*
 * mm-loadgen check: the tally of one stream (first copies, duplicates with and without DUP,
 * reordering, per-second counts, latency), what the publisher says it should have got, and
 * the JSON report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_check.h"

static void count_second(struct lg_cstream *s, uint64_t now_ns)
{
	size_t sec;

	if (!*s->t0_ns)
		*s->t0_ns = now_ns;
	sec = now_ns > *s->t0_ns ? (size_t)((now_ns - *s->t0_ns) / 1000000000ull) : 0;

	if (sec >= LG_MAX_SECS)
		return;
	if (sec >= s->nsec) {
		size_t n = s->nsec ? s->nsec : 64;
		uint64_t *p;

		while (n <= sec)
			n *= 2;
		p = realloc(s->per_sec, n * sizeof(*p));
		if (!p)
			return;
		memset(p + s->nsec, 0, (n - s->nsec) * sizeof(*p));
		s->per_sec = p;
		s->nsec = n;
	}
	s->per_sec[sec]++;
}

static void count_latency(struct lg_cstream *s, const struct lg_msg *m, uint64_t now_ns)
{
	uint64_t ns = now_ns > m->sent_ns ? now_ns - m->sent_ns : 0, us = ns / 1000;
	int b = 0;

	while (us > 1 && b < LG_LAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	s->lat_hist[b]++;
	if (ns > s->lat_max_ns)
		s->lat_max_ns = ns;
}

static bool is_acked(const struct lg_cstream *s, uint64_t seq)
{
	return s->expect && seq < s->sent && !lg_bits_get(&s->unacked, seq);
}

void lg_cstream_add(struct lg_cstream *s, const struct lg_msg *m, bool dup, uint64_t now_ns)
{
	int was = lg_bits_set(&s->got, m->seq);

	if (was < 0) {
		s->corrupt++; /* out of memory: cannot track it */
		return;
	}
	if (was) {
		if (dup)
			s->dup_flag++;
		else
			(void)lg_bits_set(&s->dup_nf, m->seq);
		s->dup_noflag += !dup;
		return;
	}
	s->received++;
	if (s->any && m->seq < s->max_seq)
		s->reordered++;
	if (!s->any || m->seq > s->max_seq)
		s->max_seq = m->seq;
	s->any = true;
	s->acked_received += is_acked(s, m->seq);
	count_second(s, now_ns);
	count_latency(s, m, now_ns);
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

static void load_set(struct lg_bits *b, json_object *stream, const char *key)
{
	json_object *a;

	if (json_object_object_get_ex(stream, key, &a))
		for (size_t i = 0; i < json_object_array_length(a); i++)
			(void)lg_bits_set(b, (uint64_t)json_object_get_int64(
						     json_object_array_get_idx(a, i)));
}

/* Take this stream's line of the publisher's report: what was sent, what was not acked. */
void lg_cstream_expect(struct lg_cstream *s, json_object *stream)
{
	s->expect = true;
	s->qos = (int)get_u64(stream, "qos");
	s->sent = get_u64(stream, "sent");
	s->acked = get_u64(stream, "acked");
	load_set(&s->unacked, stream, "unacked");
	load_set(&s->resent, stream, "resent");
	s->acked_received = 0;
	for (uint64_t q = 0; q < s->sent; q++)
		s->acked_received += lg_bits_get(&s->got, q) && is_acked(s, q);
}

/*
 * Has every acknowledged message come? A QoS 0 stream counts as complete: nothing promised it
 * anything, and it gets what arrived while the others were awaited.
 */
bool lg_cstream_complete(const struct lg_cstream *s)
{
	return s->expect && (s->qos == 0 || s->acked_received >= s->acked);
}

void lg_cstream_free(struct lg_cstream *s)
{
	lg_bits_free(&s->got);
	lg_bits_free(&s->unacked);
	lg_bits_free(&s->resent);
	lg_bits_free(&s->dup_nf);
	free(s->per_sec);
}

/* The latency below which <pct> % of the first copies arrived, in microseconds (bucket top). */
static uint64_t lat_pct(const struct lg_cstream *s, double pct)
{
	uint64_t want = (uint64_t)((double)s->received * pct / 100.0), seen = 0;

	for (int b = 0; b < LG_LAT_BUCKETS; b++) {
		seen += s->lat_hist[b];
		if (seen >= want && seen)
			return 2ull << b;
	}
	return 0;
}

static void report_lost(FILE *f, const struct lg_cstream *s)
{
	uint64_t lost = 0, unacked_missing = 0, listed = 0;

	fprintf(f, "\"lost_first\":[");
	for (uint64_t q = 0; q < s->sent; q++) {
		if (lg_bits_get(&s->got, q))
			continue;
		if (!is_acked(s, q)) {
			unacked_missing++;
			continue;
		}
		if (listed++ < 20)
			fprintf(f, "%s%llu", listed > 1 ? "," : "", (unsigned long long)q);
		lost++;
	}
	fprintf(f, "],\"lost\":%llu,\"unacked_missing\":%llu,", (unsigned long long)lost,
		(unsigned long long)unacked_missing);
}

/*
 * Sequence numbers that came again without DUP but that the publisher itself sent twice (the
 * broker forwards a resent QoS 1 message as a new one): not mqttmux's duplicates.
 */
static uint64_t dups_resent(const struct lg_cstream *s)
{
	uint64_t n = 0;

	for (size_t w = 0; w < s->dup_nf.nwords; w++)
		for (int b = 0; b < 64; b++)
			n += (s->dup_nf.w[w] >> b & 1) &&
			     lg_bits_get(&s->resent, w * 64 + (size_t)b);
	return n;
}

/* The first sequence numbers that came again without DUP and are not the publisher's. */
static void report_unexplained(FILE *f, const struct lg_cstream *s)
{
	int listed = 0;

	fprintf(f, "\"dup_noflag_first\":[");
	for (uint64_t q = 0; q < (uint64_t)s->dup_nf.nwords * 64 && listed < 20; q++)
		if (lg_bits_get(&s->dup_nf, q) && !lg_bits_get(&s->resent, q))
			fprintf(f, "%s%llu", listed++ ? "," : "", (unsigned long long)q);
	fprintf(f, "],");
}

static void report_stream(FILE *f, const struct lg_cstream *s)
{
	size_t n = s->nsec;

	fprintf(f, "{\"stream\":%u,\"qos\":%d,\"sent\":%llu,\"acked\":%llu,\"received\":%llu,",
		s->idx, s->qos, (unsigned long long)s->sent, (unsigned long long)s->acked,
		(unsigned long long)s->received);
	if (s->expect)
		report_lost(f, s);
	fprintf(f, "\"dup_noflag_resent\":%llu,", (unsigned long long)dups_resent(s));
	report_unexplained(f, s);
	fprintf(f,
		"\"dup_flag\":%llu,\"dup_noflag\":%llu,\"reordered\":%llu,\"corrupt\":%llu,"
		"\"lat_p50_us\":%llu,\"lat_p99_us\":%llu,\"lat_max_us\":%llu,\"per_second\":[",
		(unsigned long long)s->dup_flag, (unsigned long long)s->dup_noflag,
		(unsigned long long)s->reordered, (unsigned long long)s->corrupt,
		(unsigned long long)lat_pct(s, 50), (unsigned long long)lat_pct(s, 99),
		(unsigned long long)(s->lat_max_ns / 1000));
	while (n && !s->per_sec[n - 1])
		n--;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)s->per_sec[i]);
	fprintf(f, "]}");
}

/* Write the report to <out>.tmp, then rename it into place. Returns 0 or -errno. */
int lg_check_report(const struct lg_check *k)
{
	char tmp[4096];
	bool complete = k->pub != NULL;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", k->out);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (uint32_t i = 0; i < k->n; i++)
		complete &= lg_cstream_complete(&k->s[i]);
	fprintf(f, "{\"complete\":%s,\"gap_lost\":%llu,\"router_reconnects\":%llu,\"streams\":[",
		complete ? "true" : "false", (unsigned long long)k->gap_lost,
		(unsigned long long)k->router_reconnects);
	for (uint32_t i = 0; i < k->n; i++) {
		fputs(i ? "," : "", f);
		report_stream(f, &k->s[i]);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, k->out) == -1)
		return -errno;
	return 0;
}
