/* SPDX-License-Identifier: MIT */
/*
 * The publisher of bench-e2e: a forked process speaking just enough MQTT 3.1.1 over raw TCP
 * (CONNECT, CONNACK, QoS 0 PUBLISH, DISCONNECT) to cost the machine as little as possible per
 * message. Each payload starts with the message's sequence number and its CLOCK_REALTIME send
 * stamp (both u64, host order; or as text, b_text_put). Unpaced, it writes 256 packets per write()
 * and the broker's TCP window is the only brake; paced, it writes one packet at each 1/rate tick.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "b_e2e.h"

#define BATCH 256

static size_t put_varint(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
		n++;
	} while (v);
	return n;
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t len = strlen(s);

	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, s, len);
	return 2 + len;
}

static void put_hex(uint8_t *p, uint64_t v)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		p[i] = (uint8_t) "0123456789abcdef"[v & 15];
}

/* A text payload of <payload> (>= B_TEXT_MIN) bytes into <p>: "SEQ STAMP ppp..."; its size. */
size_t b_text_put(uint8_t *p, uint32_t payload, uint64_t seq, uint64_t stamp)
{
	put_hex(p, seq);
	p[16] = ' ';
	put_hex(p + 17, stamp);
	p[33] = ' ';
	memset(p + B_TEXT_MIN, 'p', payload - B_TEXT_MIN);
	return payload;
}

static int get_hex(const uint8_t *p, uint64_t *ret)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
			: p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
						     : -1;

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

/* Read back what b_text_put wrote. Returns 0 or -EINVAL. */
int b_text_get(const void *p, size_t len, uint64_t *seq, uint64_t *stamp)
{
	const uint8_t *b = p;

	if (len < B_TEXT_MIN || b[16] != ' ' || get_hex(b, seq) < 0 || get_hex(b + 17, stamp) < 0)
		return -EINVAL;
	return 0;
}

/* One QoS 0 PUBLISH on B_E2E_TOPIC with <payload> bytes into <p>; its size. */
static size_t encode_publish(uint8_t *p, const struct b_pub_cfg *cfg, uint64_t seq)
{
	uint64_t now = mm_time_real_ns();
	size_t n = 1;

	p[0] = 0x30;
	n += put_varint(p + 1, (uint32_t)(2 + strlen(B_E2E_TOPIC)) + cfg->payload);
	n += put_str(p + n, B_E2E_TOPIC);
	if (cfg->text)
		return n + b_text_put(p + n, cfg->payload, seq, now);
	memcpy(p + n, &seq, 8);
	memcpy(p + n + 8, &now, 8);
	memset(p + n + 16, 'p', cfg->payload - 16);
	return n + cfg->payload;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int mqtt_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t pkt[64] = { 0x10, 0 }, ack[4];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	size_t n = 2;

	if (fd == -1 || connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n += put_str(pkt + n, "MQTT");
	pkt[n++] = 4;		      /* 3.1.1 */
	pkt[n++] = 0x02;	      /* clean session */
	pkt[n++] = 0, pkt[n++] = 120; /* keepalive */
	n += put_str(pkt + n, "bench-e2e-pub");
	pkt[1] = (uint8_t)(n - 2);
	if (write_all(fd, pkt, n) < 0 || read(fd, ack, 4) != 4 || ack[0] != 0x20 || ack[3] != 0)
		return -1;
	return fd;
}

static int run_unpaced(int fd, const struct b_pub_cfg *cfg, uint8_t *buf)
{
	for (uint64_t k = 0; k < cfg->count;) {
		size_t len = 0;

		for (int i = 0; i < BATCH && k < cfg->count; i++)
			len += encode_publish(buf + len, cfg, cfg->seq0 + k++);
		if (write_all(fd, buf, len) < 0)
			return -1;
	}
	return 0;
}

static int run_paced(int fd, const struct b_pub_cfg *cfg, uint8_t *buf)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	for (uint64_t k = 0; k < cfg->count; k++) {
		t.tv_nsec += 1000000000L / cfg->rate;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_nsec -= 1000000000L;
			t.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
			;
		if (write_all(fd, buf, encode_publish(buf, cfg, cfg->seq0 + k)) < 0)
			return -1;
	}
	return 0;
}

static __attribute__((noreturn)) void pub_main(uint16_t port, const struct b_pub_cfg *cfg)
{
	uint8_t *buf = malloc((8 + strlen(B_E2E_TOPIC) + cfg->payload) * BATCH);
	int fd = buf ? mqtt_connect(port) : -1, rc;

	if (fd < 0) {
		fprintf(stderr, "bench-e2e: publisher: no connection to the broker\n");
		_exit(1);
	}
	rc = cfg->rate ? run_paced(fd, cfg, buf) : run_unpaced(fd, cfg, buf);
	(void)write_all(fd, (const uint8_t[]){ 0xe0, 0 }, 2);
	close(fd);
	_exit(rc < 0 ? 1 : 0);
}

/* Fork the publisher: it connects, sends cfg->count messages and exits (0, or 1 on error). */
pid_t b_pub_spawn(uint16_t port, const struct b_pub_cfg *cfg)
{
	pid_t pid = fork();

	if (pid == 0)
		pub_main(port, cfg);
	return pid == -1 ? -errno : pid;
}
