/* SPDX-License-Identifier: MIT */
/*
 * The baselines the ring is measured against, doing the same work between the same two
 * processes: a pipe (one blocking write and one read of exactly the message size per message)
 * and an AF_UNIX SOCK_SEQPACKET socketpair (one send and one recv per message), in throughput
 * and in latency mode (the same ping-pong as the ring's: a stamped message, then the producer
 * blocks on an eventfd until the consumer acknowledges it); and a raw eventfd ping-pong, the
 * wake-up the ring's doorbell is built on, whose one-way latency is the floor for the ring's
 * sleeping-consumer latency.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b_util.h"

struct sys_ctx {
	const struct b_cfg *cfg;
	enum b_sys_kind kind;
	uint64_t n;	 /* messages to send */
	uint64_t warmup; /* latency: first messages not sampled */
	uint32_t len;	 /* bytes per message */
	bool paced;	 /* latency mode: one stamped message per pace period */
	double secs;	 /* consumer wall time from the start signal to the last message */
	uint64_t *s;	 /* latency: where the consumer stores n - warmup samples */
	int rfd, wfd;	 /* consumer's end, producer's end */
	int ack;	 /* latency: blocking eventfd, consumer -> producer, "got it" */
};

typedef int sys_consume_fn(struct sys_ctx *c, void *out);

static int sys_open(struct sys_ctx *c)
{
	int fds[2], rc;

	if (c->kind == B_SYS_PIPE)
		rc = pipe2(fds, O_CLOEXEC);
	else
		rc = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
	if (rc == -1)
		return -errno;
	c->rfd = fds[0];
	c->wfd = fds[1];
	return 0;
}

static int send_msg(const struct sys_ctx *c, const void *buf)
{
	ssize_t n;

	if (c->kind == B_SYS_PIPE)
		n = write(c->wfd, buf, c->len);
	else
		n = send(c->wfd, buf, c->len, MSG_NOSIGNAL);
	if (n == -1)
		return -errno;
	return (size_t)n == c->len ? 0 : -EIO;
}

/*
 * One message into <buf>. A pipe read of exactly the message size returns one whole message:
 * every write is that size and at most PIPE_BUF, so atomic. Returns 0, -EPIPE at end of file,
 * -EIO for a short message, or -errno.
 */
static int recv_msg(const struct sys_ctx *c, void *buf)
{
	ssize_t n;

	if (c->kind == B_SYS_PIPE)
		n = read(c->rfd, buf, c->len);
	else
		n = recv(c->rfd, buf, c->len, 0);
	if (n == -1)
		return -errno;
	if (n == 0)
		return -EPIPE;
	return (size_t)n == c->len ? 0 : -EIO;
}

/* The forked producer, both modes. Returns 0 or -errno (the child's exit status). */
static int sys_producer(void *arg)
{
	struct sys_ctx *c = arg;
	_Alignas(8) uint8_t buf[B_MSG_MAX];
	struct b_stamp stamp = { 0 };
	uint64_t next = 0;
	int rc = 0;

	close(c->rfd);
	for (uint64_t seq = 0; rc == 0 && seq < c->n; seq++) {
		if (c->paced) {
			b_pace(&next, c->cfg->pace_ns, c->cfg->spin);
			stamp = b_stamp_now();
		}
		b_msg_fill(buf, c->len, seq, &stamp);
		rc = send_msg(c, buf);
		if (rc == 0 && c->paced)
			rc = b_efd_wait(c->ack);
	}
	return rc;
}

static int tput_consume(struct sys_ctx *c, void *out)
{
	struct b_tput *t = out;
	_Alignas(8) uint8_t buf[B_MSG_MAX];
	int rc;

	for (uint64_t seq = 0; seq < c->n; seq++) {
		rc = recv_msg(c, buf);
		if (rc == 0)
			rc = b_msg_check(buf, c->len, seq, NULL);
		if (rc < 0)
			return rc;
	}
	t->n = c->n;
	return 0;
}

static int lat_consume(struct sys_ctx *c, void *out)
{
	_Alignas(8) uint8_t buf[B_MSG_MAX];
	struct b_stamp stamp;
	uint64_t now;
	int rc = 0;

	(void)out;
	for (uint64_t seq = 0; rc == 0 && seq < c->n; seq++) {
		rc = recv_msg(c, buf);
		now = mm_time_mono_ns();
		if (rc == 0)
			rc = b_msg_check(buf, c->len, seq, &stamp);
		if (rc == 0 && seq >= c->warmup)
			c->s[seq - c->warmup] = b_sample(&stamp, now);
		if (rc == 0)
			rc = b_efd_signal(c->ack);
	}
	return rc;
}

/* Open the channel, fork the producer, start it, consume, reap. Returns 0 or -errno. */
static int sys_run(struct sys_ctx *c, sys_consume_fn *consume, void *out)
{
	struct b_child ch;
	uint64_t t0;
	int rc, rc2;

	rc = sys_open(c);
	if (rc < 0)
		return rc;
	rc = b_spawn(&ch, c->cfg->pin, sys_producer, c);
	close(c->wfd);
	if (rc < 0)
		goto out_close;
	t0 = mm_time_mono_ns();
	rc = b_go(&ch);
	if (rc == 0)
		rc = consume(c, out);
	c->secs = (double)(mm_time_mono_ns() - t0) / 1e9;
	rc2 = b_reap(&ch, rc < 0);
	if (rc == 0)
		rc = rc2;
out_close:
	close(c->rfd);
	return rc;
}

/*
 * Stream <n> messages of <len> bytes (B_MSG_MIN..B_MSG_MAX) through a new pipe or socketpair
 * (<kind>) and fill *ret. Returns 0, -EPROTO if a message arrived out of order or torn, -EPIPE
 * or -EIO if the producer died, or another -errno.
 */
int b_sys_tput(const struct b_cfg *cfg, enum b_sys_kind kind, uint32_t len, uint64_t n,
	       struct b_tput *ret)
{
	struct sys_ctx c = { .cfg = cfg, .kind = kind, .n = n, .len = len };
	int rc;

	*ret = (struct b_tput){ 0 };
	rc = sys_run(&c, tput_consume, ret);
	ret->secs = c.secs;
	return rc;
}

/*
 * One-way latency as b_ring_lat, through a pipe or socketpair: <n> samples to <s> after
 * cfg->warmup dropped. Returns 0 or -errno.
 */
int b_sys_lat(const struct b_cfg *cfg, enum b_sys_kind kind, uint32_t len, uint64_t *s, uint64_t n)
{
	struct sys_ctx c = { .cfg = cfg,
			     .kind = kind,
			     .n = cfg->warmup + n,
			     .warmup = cfg->warmup,
			     .len = len,
			     .paced = true,
			     .s = s };
	int rc;

	c.ack = eventfd(0, EFD_CLOEXEC);
	if (c.ack == -1)
		return -errno;
	rc = sys_run(&c, lat_consume, NULL);
	close(c.ack);
	return rc;
}

struct efd_ctx {
	const struct b_cfg *cfg;
	uint64_t n, warmup;
	uint64_t *s;	       /* where the consumer stores n - warmup samples */
	struct b_stamp *stamp; /* shared page: the ping's stamp, written before the eventfd write */
	int ping, pong;	       /* blocking eventfds: producer -> consumer, consumer -> producer */
};

/* The forked pinger: stamp, ring, wait for the pong, once per pace period. */
static int efd_producer(void *arg)
{
	struct efd_ctx *c = arg;
	uint64_t next = 0;
	int rc = 0;

	for (uint64_t i = 0; rc == 0 && i < c->n; i++) {
		b_pace(&next, c->cfg->pace_ns, c->cfg->spin);
		/* The eventfd write and read order the stamp: both take the eventfd's lock. */
		*c->stamp = b_stamp_now();
		rc = b_efd_signal(c->ping);
		if (rc == 0)
			rc = b_efd_wait(c->pong);
	}
	return rc;
}

static int efd_consume(struct efd_ctx *c)
{
	uint64_t now;
	int rc;

	for (uint64_t i = 0; i < c->n; i++) {
		rc = b_efd_wait(c->ping);
		now = mm_time_mono_ns();
		if (rc < 0)
			return rc;
		if (i >= c->warmup)
			c->s[i - c->warmup] = b_sample(c->stamp, now);
		rc = b_efd_signal(c->pong);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int efd_run(struct efd_ctx *c)
{
	struct b_child ch;
	int rc, rc2;

	rc = b_spawn(&ch, c->cfg->pin, efd_producer, c);
	if (rc < 0)
		return rc;
	rc = b_go(&ch);
	if (rc == 0)
		rc = efd_consume(c);
	rc2 = b_reap(&ch, rc < 0);
	return rc < 0 ? rc : rc2;
}

/*
 * One-way latency of a raw eventfd ping-pong between two processes: the pinger stores its
 * stamp in a shared page and writes a blocking eventfd, the sleeping ponger reads the stamp
 * once its read returns and answers on a second eventfd. <n> samples to <s> after
 * cfg->warmup dropped. Returns 0 or -errno.
 */
int b_efd_lat(const struct b_cfg *cfg, uint64_t *s, uint64_t n)
{
	struct efd_ctx c = { .cfg = cfg, .n = cfg->warmup + n, .warmup = cfg->warmup, .s = s };
	int rc = -ENOMEM;

	c.stamp = b_shared_new(sizeof(*c.stamp));
	c.ping = eventfd(0, EFD_CLOEXEC);
	c.pong = eventfd(0, EFD_CLOEXEC);
	if (c.ping == -1 || c.pong == -1)
		rc = -errno;
	else if (c.stamp)
		rc = efd_run(&c);
	if (c.ping >= 0)
		close(c.ping);
	if (c.pong >= 0)
		close(c.pong);
	b_shared_free(c.stamp, sizeof(*c.stamp));
	return rc;
}
