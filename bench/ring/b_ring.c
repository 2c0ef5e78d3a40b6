/* SPDX-License-Identifier: MIT */
/*
 * The mqttmux ring between two processes: a forked producer (reserve, copy the payload in,
 * commit every cfg->batch records and always before it waits) and the parent as consumer
 * (peek, check the sequence in place, pop, release every cfg->batch records and always before
 * it sleeps). Both sides block on the ring's eventfd doorbells, never spin. Throughput mode
 * streams as fast as the slower side goes. Latency mode is a ping-pong: the producer sends one
 * stamped record per pace period and blocks on a plain eventfd until the consumer has read it,
 * so the consumer is asleep on the doorbell when each record arrives.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "b_util.h"
#include "ring.h"

/*
 * The consumer waits without a timeout, as a router would (a timeout arms an hrtimer per wait,
 * which costs about a microsecond here); the watchdog in bench_ring.c catches a dead producer.
 * The producer's waits are bounded: the consumer is the parent and cannot vanish silently.
 */
#define B_WAIT_DATA_MS	-1
#define B_WAIT_SPACE_MS 10000

struct ring_ctx {
	const struct b_cfg *cfg;
	struct b_peer_stats *peer; /* shared page: the producer's counts, written at its end */
	uint64_t n;		   /* messages to send */
	uint64_t warmup;	   /* latency: first messages not sampled */
	uint32_t len;		   /* payload bytes per record */
	bool paced;		   /* latency mode: one stamped record per pace period */
	double secs;		   /* consumer wall time from the start signal to the last */
	uint64_t *s;		   /* latency: where the consumer stores n - warmup samples */
	uint64_t hot;		   /* latency: samples found without sleeping first */
	int fd, efd_data, efd_space;
	int ack; /* latency: blocking eventfd, consumer -> producer, "got it" */
};

typedef int ring_consume_fn(struct ring_ctx *c, struct mm_shm_ring *r, void *out);

static void ctx_close(struct ring_ctx *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->efd_data >= 0)
		close(c->efd_data);
	if (c->efd_space >= 0)
		close(c->efd_space);
	if (c->ack >= 0)
		close(c->ack);
	b_shared_free(c->peer, sizeof(*c->peer));
	c->fd = c->efd_data = c->efd_space = c->ack = -1;
	c->peer = NULL;
}

/*
 * A new ring of cfg->cap bytes with both doorbells (and the ack eventfd when <paced>). Returns 0
 * or -errno (nothing to close).
 */
static int ctx_open(struct ring_ctx *c, const struct b_cfg *cfg, uint32_t len, uint64_t n,
		    bool paced)
{
	int rc;

	*c = (struct ring_ctx){ .cfg = cfg,
				.n = n,
				.len = len,
				.paced = paced,
				.fd = -1,
				.efd_data = -1,
				.efd_space = -1,
				.ack = -1 };
	c->peer = b_shared_new(sizeof(*c->peer));
	if (!c->peer)
		return -ENOMEM;
	rc = mm_shm_ring_create("bench-ring", cfg->cap, 1, &c->fd);
	if (rc == 0)
		rc = c->efd_data = mm_shm_ring_doorbell_open();
	if (rc >= 0)
		rc = c->efd_space = mm_shm_ring_doorbell_open();
	if (rc >= 0 && paced) {
		c->ack = eventfd(0, EFD_CLOEXEC);
		rc = c->ack == -1 ? -errno : 0;
	}
	if (rc < 0) {
		ctx_close(c);
		return rc;
	}
	return 0;
}

/*
 * Attach as <role> and fault the whole segment in, so that the figures are those of a ring in
 * service rather than of its first lap: on this VM a first touch of a ring page costs tens of
 * microseconds (shmem allocation plus the page-table fill), once per page and process.
 */
static int ctx_attach(const struct ring_ctx *c, struct mm_shm_ring *r, enum mm_shm_ring_role role)
{
	int rc = mm_shm_ring_attach(r, c->fd, role, c->efd_data, c->efd_space, NULL, 0);

	if (rc == 0)
		(void)madvise(r->hdr, r->map_size,
			      MADV_POPULATE_WRITE); /* Linux 5.14; best effort */
	return rc;
}

/* Producer: reserve and fill record <seq> (not yet committed), sleeping while the ring is full. */
static int put_one(struct mm_shm_ring *r, uint32_t len, uint64_t seq, const struct b_stamp *stamp,
		   struct b_peer_stats *st)
{
	void *p;
	int rc;

	for (;;) {
		rc = mm_shm_ring_reserve(r, len, B_REC_TYPE, 0, &p);
		if (rc != -EAGAIN)
			break;
		st->waits++;
		/* wait_space commits what we reserved before it sleeps. */
		rc = mm_shm_ring_wait_space(r, len, B_WAIT_SPACE_MS);
		if (rc <= 0)
			return rc < 0 ? rc : -ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	b_msg_fill(p, len, seq, stamp);
	return 0;
}

static int commit_counted(struct mm_shm_ring *r, struct b_peer_stats *st)
{
	int rc = mm_shm_ring_commit(r);

	if (rc > 0)
		st->bells++;
	return rc;
}

/* The forked producer, both modes. Returns >= 0 or -errno (the child's exit status). */
static int producer(void *arg)
{
	struct ring_ctx *c = arg;
	struct b_peer_stats st = { 0 };
	struct mm_shm_ring r;
	struct b_stamp stamp = { 0 };
	uint64_t next = 0;
	unsigned k = 0;
	int rc = ctx_attach(c, &r, MM_SHM_RING_PRODUCER);

	if (rc < 0)
		return rc;
	for (uint64_t seq = 0; rc >= 0 && seq < c->n; seq++) {
		if (c->paced) {
			b_pace(&next, c->cfg->pace_ns, c->cfg->spin);
			stamp = b_stamp_now();
		}
		rc = put_one(&r, c->len, seq, &stamp, &st);
		if (rc >= 0 && (c->paced || ++k == c->cfg->batch)) {
			k = 0;
			rc = commit_counted(&r, &st);
		}
		if (rc >= 0 && c->paced)
			rc = b_efd_wait(c->ack);
	}
	if (rc >= 0)
		rc = commit_counted(&r, &st);
	*c->peer = st;
	mm_shm_ring_detach(&r);
	return rc;
}

static int release_counted(struct mm_shm_ring *r, struct b_tput *t)
{
	int rc = mm_shm_ring_release(r);

	if (rc > 0)
		t->space_bells++;
	return rc;
}

/*
 * Consumer: peek the next record into *rec, waiting in mm_shm_ring_wait_data (which may spin,
 * then sleeps on the data doorbell) while the ring is empty. Returns 1 if it had to wait, 0 if
 * the record was there, or -errno.
 */
static int get_one(struct mm_shm_ring *r, struct mm_shm_rec *rec, struct b_tput *t)
{
	int rc, waited = 0;

	for (;;) {
		rc = mm_shm_ring_peek(r, rec);
		if (rc != 0)
			return rc < 0 ? rc : waited;
		/* Release here rather than inside wait_data, so that its doorbell is counted. */
		rc = release_counted(r, t);
		if (rc < 0)
			return rc;
		t->cons_waits++;
		waited = 1;
		rc = mm_shm_ring_wait_data(r, B_WAIT_DATA_MS);
		if (rc <= 0)
			return rc < 0 ? rc : -ETIMEDOUT;
	}
}

static int check_rec(const struct ring_ctx *c, const struct mm_shm_rec *rec, uint64_t seq,
		     struct b_stamp *ret_stamp)
{
	if (rec->len != c->len || rec->type != B_REC_TYPE)
		return -EPROTO;
	return b_msg_check(rec->data, rec->len, seq, ret_stamp);
}

static int tput_consume(struct ring_ctx *c, struct mm_shm_ring *r, void *out)
{
	struct b_tput *t = out;
	struct mm_shm_rec rec;
	unsigned k = 0;
	int rc;

	for (uint64_t seq = 0; seq < c->n; seq++) {
		rc = get_one(r, &rec, t);
		if (rc < 0)
			return rc;
		rc = check_rec(c, &rec, seq, NULL);
		if (rc < 0)
			return rc;
		mm_shm_ring_pop(r);
		if (++k == c->cfg->batch) {
			k = 0;
			rc = release_counted(r, t);
			if (rc < 0)
				return rc;
		}
	}
	t->n = c->n;
	return release_counted(r, t);
}

static int lat_consume(struct ring_ctx *c, struct mm_shm_ring *r, void *out)
{
	struct b_tput t = { 0 };
	struct mm_shm_rec rec;
	struct b_stamp stamp;
	uint64_t now;
	int rc, waited;

	(void)out;
	for (uint64_t seq = 0; seq < c->n; seq++) {
		waited = get_one(r, &rec, &t);
		now = mm_time_mono_ns();
		if (waited < 0)
			return waited;
		rc = check_rec(c, &rec, seq, &stamp);
		if (rc < 0)
			return rc;
		if (seq >= c->warmup) {
			c->s[seq - c->warmup] = b_sample(&stamp, now);
			c->hot += !waited;
		}
		mm_shm_ring_pop(r);
		rc = release_counted(r, &t);
		if (rc >= 0)
			rc = b_efd_signal(c->ack);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Attach the consumer, fork the producer, start it, consume, reap. Returns 0 or -errno. */
static int ring_run(struct ring_ctx *c, ring_consume_fn *consume, void *out)
{
	struct mm_shm_ring r;
	struct b_child ch;
	uint64_t t0;
	int rc, rc2;

	rc = ctx_attach(c, &r, MM_SHM_RING_CONSUMER);
	if (rc < 0)
		return rc;
	rc = b_spawn(&ch, c->cfg->pin, producer, c);
	if (rc < 0)
		goto out_detach;
	t0 = mm_time_mono_ns();
	rc = b_go(&ch);
	if (rc == 0)
		rc = consume(c, &r, out);
	c->secs = (double)(mm_time_mono_ns() - t0) / 1e9;
	rc2 = b_reap(&ch, rc < 0);
	if (rc == 0)
		rc = rc2;
out_detach:
	mm_shm_ring_detach(&r);
	return rc;
}

/*
 * Stream <n> records of <len> payload bytes (B_MSG_MIN..B_MSG_MAX) through a new ring of
 * cfg->cap bytes and fill *ret. Returns 0, -EPROTO if a record arrived out of order or torn,
 * -ETIMEDOUT or -EIO if the producer died, or another -errno.
 */
int b_ring_tput(const struct b_cfg *cfg, uint32_t len, uint64_t n, struct b_tput *ret)
{
	struct ring_ctx c;
	int rc;

	*ret = (struct b_tput){ 0 };
	rc = ctx_open(&c, cfg, len, n, false);
	if (rc < 0)
		return rc;
	rc = ring_run(&c, tput_consume, ret);
	ret->secs = c.secs;
	ret->prod_waits = c.peer->waits;
	ret->data_bells = c.peer->bells;
	ctx_close(&c);
	return rc;
}

/*
 * One-way latency of cfg->warmup + <n> records of <len> bytes, one per cfg->pace_ns at most and
 * each acknowledged before the next, stamped by the producer before reserve and read by the
 * consumer right after peek returns. The first cfg->warmup are dropped; the others go to
 * <s> (b_sample format), and *hot counts those found without sleeping first. Returns 0 or
 * -errno as b_ring_tput.
 */
int b_ring_lat(const struct b_cfg *cfg, uint32_t len, uint64_t *s, uint64_t n, uint64_t *hot)
{
	struct ring_ctx c;
	int rc;

	rc = ctx_open(&c, cfg, len, cfg->warmup + n, true);
	if (rc < 0)
		return rc;
	c.warmup = cfg->warmup;
	c.s = s;
	rc = ring_run(&c, lat_consume, NULL);
	*hot += c.hot;
	ctx_close(&c);
	return rc;
}
