/* SPDX-License-Identifier: MIT */
/*
 * The firehose: a minimal MQTT 3.1.1 server for one client on 127.0.0.1, in its own process.
 * It answers CONNECT with CONNACK, SUBSCRIBE with SUBACK and PINGREQ with PINGRESP, counts
 * PUBACKs, and once the client has subscribed streams PUBLISH packets as fast as the socket
 * takes them: all packets have the same size and are pre-encoded in one large buffer that is
 * written over and over. At QoS 1 at most cfg->window PUBLISHes are unacknowledged (packet ids
 * cycle through 1..65535); once the window is full the firehose waits until half of it has been
 * acknowledged, as a busy broker would, rather than answering every PUBACK with one PUBLISH.
 * Replies wait for a packet boundary in the stream.
 *
 * Not an MQTT broker: no retained messages, no sessions, no topic matching, one client.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "b_worker.h"

#define FH_BUF_BYTES (256u * 1024) /* QoS 0: pre-encoded packets per write, about */
#define FH_IDS	     65535u	   /* QoS 1: one packet per packet id in the buffer */
#define FH_ACCEPT_MS 10000

/* The firehose process's state. */
struct fh {
	int fd;
	const struct b_cfg *cfg;
	struct b_fh_shared *sh;
	uint8_t *buf;	 /* pre-encoded packets, all of size pkt */
	size_t buf_len;	 /* a multiple of pkt */
	uint32_t pkt;	 /* bytes per PUBLISH packet */
	uint64_t pos;	 /* stream bytes written */
	uint64_t end;	 /* stream bytes to write in all; UINT64_MAX: until the client leaves */
	uint8_t ctl[64]; /* replies waiting for a packet boundary */
	size_t ctl_len;
	uint8_t in[16384]; /* bytes from the client not yet parsed */
	size_t in_len;
	bool streaming; /* the client subscribed */
	bool win_wait;	/* QoS 1: the window was full; wait until half of it is acknowledged */
	bool done;	/* the client left */
};

static size_t put_varint(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

/* Decode a remaining length: header bytes used, 0 if incomplete, -1 if malformed. */
static int get_varint(const uint8_t *p, size_t len, uint32_t *ret)
{
	uint32_t v = 0;

	for (size_t i = 0; i < 4; i++) {
		if (i >= len)
			return 0;
		v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*ret = v;
			return (int)i + 1;
		}
	}
	return -1;
}

/* Encode one PUBLISH of <payload> bytes into <p>; returns its size (the same for every mid). */
static size_t encode_publish(uint8_t *p, int qos, uint16_t mid, uint32_t payload, uint64_t seq)
{
	size_t tlen = strlen(B_TOPIC), n;
	uint32_t rem = (uint32_t)(2 + tlen + (qos ? 2 : 0) + payload);

	p[0] = (uint8_t)(0x30 | qos << 1);
	n = 1 + put_varint(p + 1, rem);
	p[n++] = (uint8_t)(tlen >> 8);
	p[n++] = (uint8_t)tlen;
	memcpy(p + n, B_TOPIC, tlen);
	n += tlen;
	if (qos) {
		p[n++] = (uint8_t)(mid >> 8);
		p[n++] = (uint8_t)mid;
	}
	for (uint32_t i = 0; i < payload; i++)
		p[n++] = (uint8_t)('a' + (seq + i) % 26);
	return n;
}

/* Bytes of one PUBLISH with <payload> bytes on B_TOPIC: the same for every packet id. */
static uint32_t publish_size(int qos, uint32_t payload)
{
	uint32_t rem = (uint32_t)(2 + strlen(B_TOPIC) + (qos ? 2 : 0)) + payload;
	uint8_t tmp[4];

	return 1 + (uint32_t)put_varint(tmp, rem) + rem;
}

static int build_stream(struct fh *f)
{
	size_t n_pkts;

	f->pkt = publish_size(f->cfg->qos, f->cfg->payload);
	n_pkts = f->cfg->qos ? FH_IDS : FH_BUF_BYTES / f->pkt + 1;
	f->buf_len = n_pkts * f->pkt;
	f->buf = malloc(f->buf_len);
	if (!f->buf)
		return -ENOMEM;
	for (size_t i = 0; i < n_pkts; i++)
		if (encode_publish(f->buf + i * f->pkt, f->cfg->qos, (uint16_t)(i + 1),
				   f->cfg->payload, i) != f->pkt)
			return -EINVAL;
	f->end = f->cfg->count ? f->cfg->count * f->pkt : UINT64_MAX;
	return 0;
}

static int queue_ctl(struct fh *f, const uint8_t *p, size_t n)
{
	if (f->ctl_len + n > sizeof(f->ctl))
		return -EPROTO;
	memcpy(f->ctl + f->ctl_len, p, n);
	f->ctl_len += n;
	return 0;
}

/* CONNACK: accepted for protocol level 4 (3.1.1), refused (1: bad version) otherwise. */
static int on_connect(struct fh *f, const uint8_t *b, uint32_t len)
{
	uint8_t ack[4] = { 0x20, 0x02, 0x00, 0x00 };

	if (len < 7 || b[6] != 4) {
		ack[3] = 0x01;
		f->done = true;
	}
	return queue_ctl(f, ack, sizeof(ack));
}

/* SUBACK granting every filter its requested QoS (capped at ours); then start streaming. */
static int on_subscribe(struct fh *f, const uint8_t *b, uint32_t len)
{
	uint8_t ack[4 + 32] = { 0x90, 2 };
	size_t off = 2, n = 0;

	if (len < 2)
		return -EPROTO;
	ack[2] = b[0];
	ack[3] = b[1];
	while (off + 3 <= len && n < 32) {
		size_t flen = (size_t)b[off] << 8 | b[off + 1];
		int want;

		if (off + 2 + flen + 1 > len)
			return -EPROTO;
		off += 2 + flen + 1;
		want = b[off - 1] & 3;
		ack[4 + n++] = (uint8_t)(want < f->cfg->qos ? want : f->cfg->qos);
	}
	ack[1] = (uint8_t)(2 + n);
	f->streaming = true;
	return queue_ctl(f, ack, 4 + n);
}

static int on_packet(struct fh *f, uint8_t type, const uint8_t *body, uint32_t len)
{
	static const uint8_t pingresp[2] = { 0xd0, 0x00 };

	switch (type >> 4) {
	case 1:
		return on_connect(f, body, len);
	case 8:
		return on_subscribe(f, body, len);
	case 12:
		return queue_ctl(f, pingresp, sizeof(pingresp));
	case 14:
		f->done = true;
		return 0;
	case 4:
		f->sh->acked++;
		if (f->win_wait && f->pos / f->pkt - f->sh->acked <= f->cfg->window / 2)
			f->win_wait = false;
		return 0;
	}
	return 0; /* anything else is ignored */
}

static int parse_input(struct fh *f)
{
	size_t off = 0;
	uint32_t rem;
	int hl, rc = 0;

	while (rc == 0 && off < f->in_len) {
		hl = get_varint(f->in + off + 1, f->in_len - off - 1, &rem);
		if (hl < 0 || 1 + (size_t)hl + rem > sizeof(f->in))
			return -EPROTO;
		if (hl == 0 || off + 1 + (size_t)hl + rem > f->in_len)
			break;
		rc = on_packet(f, f->in[off], f->in + off + 1 + hl, rem);
		off += 1 + (size_t)hl + rem;
	}
	memmove(f->in, f->in + off, f->in_len - off);
	f->in_len -= off;
	return rc;
}

static int read_input(struct fh *f)
{
	ssize_t n = read(f->fd, f->in + f->in_len, sizeof(f->in) - f->in_len);

	if (n == 0 || (n == -1 && (errno == ECONNRESET || errno == EPIPE))) {
		f->done = true;
		return 0;
	}
	if (n == -1)
		return errno == EAGAIN ? 0 : -errno;
	f->in_len += (size_t)n;
	return parse_input(f);
}

/* Stream bytes we may write now: up to the end, and at QoS 1 up to the window (see win_wait). */
static uint64_t stream_limit(const struct fh *f)
{
	uint64_t lim = f->end;

	if (!f->streaming || f->win_wait)
		return f->pos;
	if (f->cfg->qos) {
		uint64_t win = (f->sh->acked + f->cfg->window) * f->pkt;

		lim = win < lim ? win : lim;
	}
	return lim;
}

/* What to write next: replies at a packet boundary, else stream bytes up to the next one. */
static size_t next_chunk(const struct fh *f, const uint8_t **ret)
{
	uint64_t lim = stream_limit(f), off, n;

	if (f->ctl_len && f->pos % f->pkt == 0) {
		*ret = f->ctl;
		return f->ctl_len;
	}
	if (f->pos >= lim)
		return 0;
	off = f->pos % f->buf_len;
	n = f->buf_len - off;
	n = n < lim - f->pos ? n : lim - f->pos;
	if (f->ctl_len && n > f->pkt - f->pos % f->pkt)
		n = f->pkt - f->pos % f->pkt;
	*ret = f->buf + off;
	return (size_t)n;
}

/* Write until the socket is full or there is nothing to write. */
static int write_output(struct fh *f)
{
	const uint8_t *p = NULL;
	size_t n;
	ssize_t w;

	while (!f->done && (n = next_chunk(f, &p)) > 0) {
		w = write(f->fd, p, n);
		f->sh->writes++;
		if (w == -1 && (errno == EPIPE || errno == ECONNRESET))
			f->done = true;
		else if (w == -1)
			return errno == EAGAIN ? 0 : -errno;
		else if (p == f->ctl) {
			memmove(f->ctl, f->ctl + w, f->ctl_len - (size_t)w);
			f->ctl_len -= (size_t)w;
		} else {
			f->pos += (uint64_t)w;
			f->sh->sent = f->pos / f->pkt;
			if (f->cfg->qos && f->pos == (f->sh->acked + f->cfg->window) * f->pkt)
				f->win_wait = true;
		}
	}
	return 0;
}

static bool want_write(const struct fh *f)
{
	return f->ctl_len > 0 || f->pos < stream_limit(f);
}

/* Serve the client until it leaves; bounded by the alarm the process set. */
static int serve(struct fh *f)
{
	struct pollfd p = { .fd = f->fd };
	int rc = 0;

	while (rc == 0 && !f->done) {
		p.events = (short)(POLLIN | (want_write(f) ? POLLOUT : 0));
		if (poll(&p, 1, 1000) == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			rc = read_input(f);
		if (rc == 0 && want_write(f))
			rc = write_output(f);
	}
	return rc;
}

static int accept_client(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd, one = 1;

	if (poll(&p, 1, FH_ACCEPT_MS) != 1)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return -errno;
	/* Replies are tiny: do not let Nagle hold a SUBACK behind an unacknowledged CONNACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static __attribute__((noreturn)) void fh_main(struct b_fh *fh, const struct b_cfg *cfg)
{
	struct fh f = { .cfg = cfg, .sh = fh->sh };
	int rc;

	(void)signal(SIGPIPE, SIG_IGN);
	alarm(B_RUN_TIMEOUT_S + 30);
	if (cfg->pin)
		(void)b_pin(0);
	rc = build_stream(&f);
	if (rc == 0)
		rc = f.fd = accept_client(fh->lfd);
	close(fh->lfd);
	if (rc >= 0)
		rc = serve(&f);
	fh->sh->error = rc < 0 ? rc : 0;
	_exit(rc < 0 ? 1 : 0);
}

/* Listen on 127.0.0.1 at an ephemeral port. Returns 0 or -errno. */
int b_fh_open(struct b_fh *fh)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int rc = 0;

	*fh = (struct b_fh){ .lfd = -1, .pid = -1 };
	fh->sh = b_shared_new(sizeof(*fh->sh));
	if (!fh->sh)
		return -ENOMEM;
	fh->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fh->lfd == -1 || bind(fh->lfd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(fh->lfd, 1) == -1 || getsockname(fh->lfd, (struct sockaddr *)&a, &alen) == -1)
		rc = -errno;
	fh->port = ntohs(a.sin_port);
	return rc;
}

/* Fork the firehose; it serves the first client to connect. Returns 0 or -errno. */
int b_fh_spawn(struct b_fh *fh, const struct b_cfg *cfg)
{
	fh->pid = fork();
	if (fh->pid == -1)
		return -errno;
	if (fh->pid == 0)
		fh_main(fh, cfg);
	/* Only the firehose listens: a client that comes too late is refused, not queued. */
	close(fh->lfd);
	fh->lfd = -1;
	return 0;
}

/*
 * Wait for the firehose to finish (its client left) at most <timeout_ms>. Fills *ret_ru.
 * Returns 0, -ETIMEDOUT (killed), or the error that ended its stream.
 */
int b_fh_reap(struct b_fh *fh, int timeout_ms, struct rusage *ret_ru)
{
	int rc;

	if (fh->pid <= 0)
		return 0;
	rc = b_reap(fh->pid, timeout_ms, NULL, NULL, ret_ru);
	fh->pid = -1;
	return rc < 0 ? rc : fh->sh->error;
}

void b_fh_close(struct b_fh *fh)
{
	if (fh->pid > 0)
		(void)b_reap(fh->pid, 0, NULL, NULL, NULL);
	fh->pid = -1;
	if (fh->lfd >= 0)
		close(fh->lfd);
	fh->lfd = -1;
	b_shared_free(fh->sh, sizeof(*fh->sh));
	fh->sh = NULL;
}
