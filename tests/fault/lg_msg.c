/* SPDX-License-Identifier: MIT */
/* mm-loadgen: the message format (see loadgen.h), clocks and a growable bit set. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loadgen.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint8_t body_byte(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 31u + i * 7u);
}

/* Write <m> into <buf> (at least LG_HDR + body_len + 8 bytes). Returns the length. */
size_t lg_msg_pack(uint8_t *buf, const struct lg_msg *m)
{
	memcpy(buf, LG_MAGIC, 4);
	put32(buf + 4, m->stream);
	put64(buf + 8, m->seq);
	put64(buf + 16, m->sent_ns);
	put32(buf + 24, m->body_len);
	for (size_t i = 0; i < m->body_len; i++)
		buf[LG_HDR + i] = body_byte(m->seq, i);
	put64(buf + LG_HDR + m->body_len, fnv1a(buf, LG_HDR + m->body_len));
	return LG_HDR + m->body_len + 8;
}

/* Check and read a message. Returns 0, or -EBADMSG (wrong size, magic, body or checksum). */
int lg_msg_unpack(const uint8_t *buf, size_t len, struct lg_msg *ret)
{
	struct lg_msg m;

	if (len < LG_HDR + 8 || memcmp(buf, LG_MAGIC, 4))
		return -EBADMSG;
	m.stream = get32(buf + 4);
	m.seq = get64(buf + 8);
	m.sent_ns = get64(buf + 16);
	m.body_len = get32(buf + 24);
	if (len != LG_HDR + (size_t)m.body_len + 8 ||
	    get64(buf + LG_HDR + m.body_len) != fnv1a(buf, LG_HDR + m.body_len))
		return -EBADMSG;
	for (size_t i = 0; i < m.body_len; i++)
		if (buf[LG_HDR + i] != body_byte(m.seq, i))
			return -EBADMSG;
	*ret = m;
	return 0;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t lg_realtime_ns(void)
{
	return now_ns(CLOCK_REALTIME);
}

uint64_t lg_mono_ns(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

int lg_bits_set(struct lg_bits *b, uint64_t i)
{
	size_t w = (size_t)(i / 64);
	int was;

	if (w >= b->nwords) {
		size_t n = b->nwords ? b->nwords : 1024;
		uint64_t *nw;

		while (n <= w)
			n *= 2;
		nw = realloc(b->w, n * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		memset(nw + b->nwords, 0, (n - b->nwords) * sizeof(*nw));
		b->w = nw;
		b->nwords = n;
	}
	was = (int)(b->w[w] >> (i % 64) & 1);
	b->w[w] |= 1ull << (i % 64);
	return was;
}

bool lg_bits_get(const struct lg_bits *b, uint64_t i)
{
	size_t w = (size_t)(i / 64);

	return w < b->nwords && (b->w[w] >> (i % 64) & 1);
}

void lg_bits_free(struct lg_bits *b)
{
	free(b->w);
	b->w = NULL;
	b->nwords = 0;
}
