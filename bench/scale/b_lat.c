/* SPDX-License-Identifier: MIT */
/*
 * bench-scale's latency run (issue 13: the router at 1,000 sessions and 10 clients, p99 <= 100
 * us from worker to client at 10,000 msg/s spread over the sessions): the publisher of b_load.c
 * sends to every session's topic in turn; each libmqttmux client (the sessions spread over
 * them) records, per message, worker receive stamp -> callback and publisher stamp ->
 * callback; the baseline process records publisher stamp -> on_message for the same stream
 * (its clients hold the same filters). The first second is not recorded (warm-up). The
 * router's CPU over the run and the machine's load are reported with the figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "b_restart.h"
#include "b_scale.h"

#define WARMUP_S     1.0
#define DRAIN_IDLE_S 2
#define DRAIN_MAX_S  60
#define PUB_GRACE_S  60.0 /* the publisher's run may take this much longer on a loaded machine */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* p50, p99, max in us of <n> samples (sorted in place); zeros when none. */
static void pcts(uint32_t *v, size_t n, double out[3])
{
	if (!n) {
		out[0] = out[1] = out[2] = 0;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	out[0] = v[n / 2] / 1e3;
	out[1] = v[(size_t)((double)n * 0.99)] / 1e3;
	out[2] = v[n - 1] / 1e3;
}

/* Every client's samples of one kind (w2c or p2c) in one array. */
static uint32_t *merge(const struct b_rxpage *page, unsigned nclients, bool w2c, size_t *ret_n)
{
	size_t n = 0, k = 0;
	uint32_t *v;

	for (unsigned j = 0; j < nclients; j++)
		n += page->rx[j].nlat;
	v = malloc((n ? n : 1) * sizeof(*v));
	for (unsigned j = 0; v && j < nclients; j++) {
		memcpy(v + k, w2c ? page->rx[j].w2c : page->rx[j].p2c,
		       page->rx[j].nlat * sizeof(*v));
		k += page->rx[j].nlat;
	}
	*ret_n = n;
	return v;
}

static void reset(struct b_rxpage *page, unsigned nclients)
{
	for (unsigned j = 0; j < nclients; j++)
		page->rx[j].nlat = 0;
	page->rx[B_PLAIN_RX].nlat = 0;
}

static uint64_t received(const struct b_rxpage *page, unsigned nclients)
{
	uint64_t n = 0;

	for (unsigned j = 0; j < nclients; j++)
		n += atomic_load(&page->rx[j].n);
	return n;
}

static int summarise(const struct b_lat_cfg *cfg, struct b_rxpage *page, struct b_lat_result *r)
{
	uint32_t *w = merge(page, cfg->nclients, true, &r->n_mqttmux);
	uint32_t *p = merge(page, cfg->nclients, false, &r->n_mqttmux);

	if (!w || !p) {
		free(w);
		free(p);
		return -ENOMEM;
	}
	pcts(w, r->n_mqttmux, r->w2c);
	pcts(p, r->n_mqttmux, r->p2c);
	r->n_plain = page->rx[B_PLAIN_RX].nlat;
	pcts(page->rx[B_PLAIN_RX].p2c, r->n_plain, r->plain);
	free(w);
	free(p);
	return 0;
}

/*
 * After the publisher's end: until the clients and the baseline have every message, or nothing
 * came for DRAIN_IDLE_S, or DRAIN_MAX_S. On a loaded machine the broker lags by seconds, and what
 * is still on its way is late, not lost.
 */
static void drain(const struct b_lat_cfg *cfg, const struct b_rxpage *page, uint64_t sent,
		  uint64_t got0, uint64_t plain0)
{
	uint64_t start = mm_time_mono_ns(), last = start, seen = 0;

	while (mm_time_mono_ns() - start < DRAIN_MAX_S * 1000000000ull &&
	       mm_time_mono_ns() - last < DRAIN_IDLE_S * 1000000000ull) {
		uint64_t got = received(page, cfg->nclients) - got0;
		uint64_t plain = atomic_load(&page->rx[B_PLAIN_RX].n) - plain0;

		if (got >= sent && plain >= sent)
			return;
		if (got + plain != seen) {
			seen = got + plain;
			last = mm_time_mono_ns();
		}
		b_sleep_ns(50 * 1000000ull);
	}
}

/* Run the publisher and collect the latencies. 0 or -errno. */
int b_lat_run(const struct b_lat_cfg *cfg, struct b_rxpage *page, struct b_lat_result *r)
{
	struct b_sample a, b;
	uint64_t got0 = received(page, cfg->nclients), t0;
	uint64_t plain0 = atomic_load(&page->rx[B_PLAIN_RX].n);
	pid_t pub;
	int st;

	memset(r, 0, sizeof(*r));
	reset(page, cfg->nclients);
	pub = b_pub_spawn(cfg->port, cfg->nsessions, cfg->rate, cfg->secs + WARMUP_S);
	if (pub < 0)
		return pub;
	b_sleep_ns((uint64_t)(WARMUP_S * 1e9));
	(void)b_machine_busy();
	(void)b_sample_read(cfg->router, &a);
	t0 = mm_time_mono_ns();
	atomic_store(&page->record, 1);
	if (b_wait_exit(pub, (uint64_t)((cfg->secs + PUB_GRACE_S) * 1e9), &st, NULL) < 0)
		return -ETIMEDOUT;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return -EIO;
	r->busy_pct = b_machine_busy();
	(void)b_sample_read(cfg->router, &b);
	r->router_cpu_pct =
		100.0 * (double)(b.cpu_ns - a.cpu_ns) / (double)(mm_time_mono_ns() - t0);
	r->sent = (uint64_t)((cfg->secs + WARMUP_S) * cfg->rate);
	drain(cfg, page, r->sent, got0, plain0);
	atomic_store(&page->record, 0);
	r->got = received(page, cfg->nclients) - got0;
	r->plain_got = atomic_load(&page->rx[B_PLAIN_RX].n) - plain0;
	return summarise(cfg, page, r);
}

void b_lat_print(const struct b_lat_cfg *cfg, const struct b_lat_result *r)
{
	printf("\nlatency: %u msg/s for %.0f s over %u sessions (QoS 0), %u clients; machine %.1f %%"
	       " busy; router %.1f %% of a core\n",
	       cfg->rate, cfg->secs, cfg->nsessions, cfg->nclients, r->busy_pct, r->router_cpu_pct);
	printf("  %-36s %8s %9s %9s %9s\n", "us", "samples", "p50", "p99", "max");
	printf("  %-36s %8zu %9.1f %9.1f %9.1f\n", "worker -> client (mqttmux)", r->n_mqttmux,
	       r->w2c[0], r->w2c[1], r->w2c[2]);
	printf("  %-36s %8zu %9.1f %9.1f %9.1f\n", "publisher -> client (mqttmux)", r->n_mqttmux,
	       r->p2c[0], r->p2c[1], r->p2c[2]);
	printf("  %-36s %8zu %9.1f %9.1f %9.1f\n", "publisher -> plain (baseline)", r->n_plain,
	       r->plain[0], r->plain[1], r->plain[2]);
	printf("  messages to clients: %llu of %llu sent (baseline: %llu)\n",
	       (unsigned long long)r->got, (unsigned long long)r->sent,
	       (unsigned long long)r->plain_got);
	printf("target: worker -> client p99 <= 100 us at %u msg/s: %s\n", cfg->rate,
	       r->w2c[1] <= 100.0 ? "MET" : "MISSED");
}
