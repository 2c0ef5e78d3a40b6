/* SPDX-License-Identifier: MIT */
/*
 * One run of bench-paced: one subject on the shared broker, one paced publisher, counters of
 * every process of the subject (and of the broker) read just before the first message is
 * published and just after the last one arrived. mqttmuxd runs only during mqttmux runs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b_paced.h"

#define IDLE_NS	 3000000000ull /* a run ends when nothing arrived for this long */
#define READY_MS 10000
#define PAYLOAD	 64

/* The subject's processes and how to count what they received. */
struct subj_state {
	struct b_rxs *page; /* plain and mqttmux */
	struct b_msub msub;
	pid_t rx;
	struct b_sysc sc[_B_P_MAX];
};

static uint64_t received(const struct b_run *r, const struct subj_state *st)
{
	if (r->subj == B_SUBJ_MSUB)
		return b_msub_count(&st->msub);
	return atomic_load(&st->page->rx[0].n);
}

/* Until every message is in, or nothing came for IDLE_NS after the publisher. */
static void wait_all(const struct b_run *r, const struct subj_state *st)
{
	uint64_t seen = 0, at = mm_time_mono_ns();

	for (;;) {
		uint64_t n = received(r, st), now = mm_time_mono_ns();

		if (n >= r->sent)
			return;
		if (n != seen)
			seen = n, at = now;
		else if (now - at > IDLE_NS)
			return;
		usleep(20000);
	}
}

static int wait_ready(struct b_rxs *page)
{
	uint64_t deadline = mm_time_mono_ns() + READY_MS * 1000000ull;

	while (!b_rx_all_ready(page, 1)) {
		if (atomic_load(&page->rx[0].ready) < 0 || mm_time_mono_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

/* Start the subject <r->subj>: its processes' pids go to r->pid. */
static int start_subject(struct b_stack *s, struct b_run *r, struct subj_state *st)
{
	int rc;

	r->pid[B_P_BROKER] = s->broker;
	if (r->subj == B_SUBJ_MSUB) {
		rc = b_msub_start(&st->msub, s);
		r->pid[B_P_SUB] = st->msub.pid;
		return rc;
	}
	if (r->subj == B_SUBJ_MQTTMUX) {
		if ((rc = b_daemon_start(s)) < 0)
			return rc;
		r->pid[B_P_WORKER] = s->worker;
		r->pid[B_P_ROUTER] = s->router;
	}
	st->rx = b_rx_spawn(r->subj == B_SUBJ_PLAIN ? B_RX_PLAIN : B_RX_MQTTMUX, s, st->page, 0);
	if (st->rx < 0)
		return (int)st->rx;
	r->pid[B_P_SUB] = st->rx;
	return wait_ready(st->page);
}

static void stop_subject(struct b_stack *s, struct b_run *r, struct subj_state *st)
{
	atomic_store(&st->page->stop, 1);
	if (st->rx > 0)
		(void)b_reap(st->rx, 10000, NULL, NULL, NULL);
	if (r->subj == B_SUBJ_MSUB)
		b_msub_stop(&st->msub);
	if (r->subj == B_SUBJ_MQTTMUX)
		b_daemon_stop(s);
	for (int p = 0; p < _B_P_MAX; p++)
		b_sysc_close(&st->sc[p]);
}

static void meters(struct b_run *r, struct subj_state *st, struct b_meter *m)
{
	for (int p = 0; p < _B_P_MAX; p++)
		if (r->pid[p] > 0)
			(void)b_meter_read(r->pid[p], &st->sc[p], &m[p]);
}

/* Copy the latency samples out of the receiver's page (or mosquitto_sub's output). */
static int collect(struct b_run *r, struct subj_state *st)
{
	size_t max = r->sent + 1;

	r->p2c = calloc(max, sizeof(*r->p2c));
	r->w2c = calloc(max, sizeof(*r->w2c));
	if (!r->p2c || !r->w2c)
		return -ENOMEM;
	if (r->subj == B_SUBJ_MSUB)
		return b_msub_latency(&st->msub, r->p2c, max, &r->nlat);
	r->nlat = st->page->rx[0].nlat < max ? st->page->rx[0].nlat : max;
	memcpy(r->p2c, st->page->rx[0].p2c, r->nlat * sizeof(*r->p2c));
	memcpy(r->w2c, st->page->rx[0].w2c, r->nlat * sizeof(*r->w2c));
	return 0;
}

/* Forget what the receiver got so far: the measured stream starts now. */
static void rebase(struct b_run *r, struct subj_state *st)
{
	struct b_rx *x = &st->page->rx[0];

	if (r->subj == B_SUBJ_MSUB) {
		b_msub_rebase(&st->msub);
		return;
	}
	x->nlat = 0;
	atomic_store(&x->n, 0);
}

/* <n> messages as fast as the broker takes them, before the measured stream. */
static int warm_up(struct b_stack *s, struct b_run *r, struct subj_state *st, uint32_t n)
{
	struct b_pub_cfg pc = {
		.count = n, .payload = PAYLOAD, .text = true, .seq0 = B_SEQ_UNMEASURED
	};
	uint64_t sent = r->sent;
	pid_t pub;

	if (n == 0)
		return 0;
	if ((pub = b_pub_spawn(s->port, &pc)) < 0)
		return (int)pub;
	r->sent = n;
	wait_all(r, st);
	r->sent = sent;
	(void)b_reap(pub, 10000, NULL, NULL, NULL);
	rebase(r, st);
	return 0;
}

/* The measured part: publish, wait, take the counters. */
static int measure(struct b_stack *s, struct b_run *r, struct subj_state *st)
{
	struct b_pub_cfg pc = {
		.count = r->sent, .rate = r->rate, .payload = PAYLOAD, .text = true
	};
	struct b_meter m0[_B_P_MAX] = { 0 };
	pid_t pub;
	int rc;

	if (r->counted)
		for (int p = 0; p < _B_P_MAX; p++)
			if (r->pid[p] > 0 && (rc = b_sysc_open(&st->sc[p], r->pid[p])) < 0)
				return rc;
	r->load1 = b_load1();
	meters(r, st, m0);
	pub = b_pub_spawn(s->port, &pc);
	if (pub < 0)
		return (int)pub;
	wait_all(r, st);
	meters(r, st, r->d);
	for (int p = 0; p < _B_P_MAX; p++)
		b_meter_sub(&r->d[p], &m0[p]);
	r->got = received(r, st);
	rc = b_reap(pub, 10000, NULL, NULL, NULL);
	return rc == -ETIMEDOUT ? rc : 0;
}

/*
 * Run <subj> at <rate> msg/s for <secs> s, after <warmup> unpaced messages; with <count_sc>,
 * syscall counters are attached (the CPU figures of such a run include their cost). Fills <r> (free
 * it with b_run_free).
 */
int b_run_one(struct b_stack *s, enum b_subj subj, uint32_t rate, uint32_t secs, bool count_sc,
	      uint32_t warmup, struct b_run *r)
{
	struct subj_state st = { 0 };
	int rc;

	memset(r, 0, sizeof(*r));
	r->subj = subj;
	r->rate = rate;
	r->sent = (uint64_t)rate * secs;
	r->counted = count_sc;
	for (int p = 0; p < _B_P_MAX; p++)
		b_sysc_init(&st.sc[p]);
	st.page = b_shared_new(sizeof(*st.page));
	if (!st.page)
		return -ENOMEM;
	st.page->wait_ms = 1000; /* as mosquitto_loop_forever and mosquitto_sub wait */
	st.page->text = true;
	rc = start_subject(s, r, &st);
	if (rc == 0)
		rc = warm_up(s, r, &st, warmup);
	if (rc == 0)
		rc = measure(s, r, &st);
	if (rc == 0)
		rc = collect(r, &st);
	stop_subject(s, r, &st);
	b_shared_free(st.page, sizeof(*st.page));
	return rc;
}

void b_run_free(struct b_run *r)
{
	free(r->p2c);
	free(r->w2c);
	r->p2c = r->w2c = NULL;
}
