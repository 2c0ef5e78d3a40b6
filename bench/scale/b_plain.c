/* SPDX-License-Identifier: MIT */
/*
 * The baseline of bench-scale: one plain libmosquitto process holding N clients on the same
 * broker, each subscribing the filter its mqttmux session would (QoS 1, keepalive 60 s). It is
 * the simplest efficient way to hold N clients in one process with libmosquitto: blocking
 * connects, then one poll(2) over every socket with a 1 s timeout (as mosquitto_loop's callers
 * use), loop_read/loop_write where the poll says, and loop_misc (keepalive) on every client after
 * each wake-up. Once every SUBACK is in it writes one byte to its ready pipe, then idles until
 * killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <mosquitto.h>

#include "b_scale.h"
#include "mm_time.h"

#define KEEPALIVE_S 60

struct plain {
	struct b_rx *rx; /* the baseline's slot of the bench's page */
	const _Atomic int *record;
	_Atomic uint64_t *subacks; /* the page's plain_subacks */
	uint64_t *retry_ns;	   /* per client: when to try to reconnect, CLOCK_MONOTONIC */
	struct mosquitto **m;
	struct pollfd *pfd;
	unsigned n, acked;
	int ready_fd;
};

struct plain_client {
	struct plain *p;
	unsigned idx;
};

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct plain_client *c = ud;
	char filter[64];

	if (rc)
		return;
	snprintf(filter, sizeof(filter), B_FILTER_FMT, c->idx);
	(void)mosquitto_subscribe(m, NULL, filter, 1);
}

/*
 * CLOCK_REALTIME <now_ns> minus the send stamp in a b_load.c payload, in ns (0 if none),
 * at most UINT32_MAX.
 */
uint32_t b_lat_since(const void *payload, size_t len, uint64_t now_ns)
{
	uint64_t sent;

	if (len < 16)
		return 0;
	memcpy(&sent, (const char *)payload + 8, 8);
	if (now_ns <= sent)
		return 0;
	/* a lag past 4.29 s (a broker far behind on a loaded machine) counts as that much */
	return now_ns - sent < UINT32_MAX ? (uint32_t)(now_ns - sent) : UINT32_MAX;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct plain_client *c = ud;
	struct b_rx *rx = c->p->rx;

	(void)m;
	if (atomic_load_explicit(c->p->record, memory_order_relaxed) && rx->nlat < B_LAT_MAX)
		rx->p2c[rx->nlat++] =
			b_lat_since(msg->payload, (size_t)msg->payloadlen, mm_time_real_ns());
	atomic_fetch_add_explicit(&rx->n, 1, memory_order_relaxed);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct plain_client *c = ud;

	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	atomic_fetch_add_explicit(c->p->subacks, 1, memory_order_relaxed);
	if (++c->p->acked == c->p->n && write(c->p->ready_fd, "r", 1) != 1)
		_exit(1);
}

static int connect_all(struct plain *p, int port)
{
	struct plain_client *cs = calloc(p->n, sizeof(*cs));

	if (!cs)
		return -ENOMEM;
	for (unsigned i = 0; i < p->n; i++) {
		char id[64];

		cs[i] = (struct plain_client){ .p = p, .idx = i };
		snprintf(id, sizeof(id), "plain-%u", i);
		p->m[i] = mosquitto_new(id, true, &cs[i]);
		if (!p->m[i])
			return -ENOMEM;
		mosquitto_connect_callback_set(p->m[i], on_connect);
		mosquitto_subscribe_callback_set(p->m[i], on_subscribe);
		mosquitto_message_callback_set(p->m[i], on_message);
		if (mosquitto_connect(p->m[i], "127.0.0.1", port, KEEPALIVE_S) != MOSQ_ERR_SUCCESS)
			return -ECONNREFUSED;
	}
	return 0; /* cs lives as long as the process */
}

/*
 * A client whose connection is gone reconnects once a second, as mosquitto_loop_forever's
 * default reconnect_delay does (its on_connect subscribes again).
 */
static void reconnect_lost(struct plain *p, unsigned i, uint64_t now)
{
	if (mosquitto_socket(p->m[i]) >= 0 || now < p->retry_ns[i])
		return;
	p->retry_ns[i] = now + 1000000000ull;
	(void)mosquitto_reconnect(p->m[i]);
}

static void turn(struct plain *p)
{
	uint64_t now = mm_time_mono_ns();

	for (unsigned i = 0; i < p->n; i++) {
		reconnect_lost(p, i, now);
		p->pfd[i].fd = mosquitto_socket(p->m[i]);
		p->pfd[i].events = POLLIN | (mosquitto_want_write(p->m[i]) ? POLLOUT : 0);
	}
	if (poll(p->pfd, p->n, 1000) == -1 && errno != EINTR)
		_exit(1);
	for (unsigned i = 0; i < p->n; i++) {
		if (p->pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			(void)mosquitto_loop_read(p->m[i], 1);
		if (mosquitto_want_write(p->m[i]))
			(void)mosquitto_loop_write(p->m[i], 1);
		(void)mosquitto_loop_misc(p->m[i]);
	}
}

/* The baseline process's main (bench-scale --plain-child PORT N; ready pipe 3, page 4). */
__attribute__((noreturn)) void b_plain_main(int port, unsigned n, int ready_fd, int page_fd)
{
	struct plain p = { .n = n, .ready_fd = ready_fd };
	struct b_rxpage *page =
		mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED, page_fd, 0);

	if (page == MAP_FAILED)
		_exit(1);
	p.rx = &page->rx[B_PLAIN_RX];
	p.record = &page->record;
	p.subacks = &page->plain_subacks;
	p.retry_ns = calloc(n, sizeof(*p.retry_ns));

	(void)prctl(PR_SET_NAME, "b_plain");
	mosquitto_lib_init();
	p.m = calloc(n, sizeof(*p.m));
	p.pfd = calloc(n, sizeof(*p.pfd));
	if (!p.m || !p.pfd || !p.retry_ns || connect_all(&p, port) < 0)
		_exit(1);
	for (;;)
		turn(&p);
}

/*
 * Start the baseline process with <n> clients on 127.0.0.1:<port>: this program again, exec'd,
 * so that its memory is its own and not shared copy-on-write with the bench; it maps the
 * bench's page (memfd <page_fd>) to report what it receives. Returns its pid (or
 * -errno); *ret_ready becomes readable (one byte) when all are subscribed, or at EOF if it died.
 */
pid_t b_plain_spawn(int port, unsigned n, int page_fd, int *ret_ready)
{
	char sport[16], sn[16];
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -errno;
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(sn, sizeof(sn), "%u", n);
	pid = fork();
	if (pid == 0) {
		if (dup2(fds[1], 3) == -1 || dup2(page_fd, 4) == -1)
			_exit(127);
		execl("/proc/self/exe", "bench-scale", "--plain-child", sport, sn, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	*ret_ready = fds[0];
	return pid;
}

/* Until <fd> is readable (or at EOF), or <deadline_ns> (CLOCK_MONOTONIC). 0 or -errno. */
int b_wait_readable(int fd, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = mm_time_mono_ns();
		int n;

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Wait for one byte on <fd>: 0, -ETIMEDOUT, or -EPIPE at EOF (the writer died). */
int b_wait_byte(int fd, uint64_t timeout_ns)
{
	int rc = b_wait_readable(fd, mm_time_mono_ns() + timeout_ns);
	char c;

	if (rc)
		return rc;
	return read(fd, &c, 1) == 1 ? 0 : -EPIPE;
}
