/* SPDX-License-Identifier: MIT */
/*
 * What bench-scale measures from the outside: libmqttmux client processes (client j of C holds
 * one callback route per session i with i % C == j, on that session's filter, so every session
 * has exactly one route and the sessions are spread evenly), and control-socket commands whose
 * replies can be large (`status` at 1,000 sessions is some 300 KB), timed from the connect to the
 * last byte of the reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "b_scale.h"
#include "mm_time.h"
#include "mqttmux.h"

static struct b_rxpage *Page;
static unsigned Idx;

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *msg, void *ud)
{
	struct b_rx *rx = &Page->rx[Idx];
	uint64_t now = mm_time_real_ns();
	uint64_t n = atomic_load_explicit(&rx->n, memory_order_relaxed);

	(void)r;
	(void)ud;
	if (atomic_load_explicit(&Page->record, memory_order_relaxed) && rx->nlat < B_LAT_MAX) {
		uint64_t w2c = now > msg->recv_ns ? now - msg->recv_ns : 0;

		rx->w2c[rx->nlat] =
			w2c < UINT32_MAX ? (uint32_t)w2c : UINT32_MAX; /* 4.29 s or more */
		rx->p2c[rx->nlat++] = b_lat_since(msg->payload, msg->payload_len, now);
	}
	atomic_store_explicit(&rx->n, n + 1, memory_order_relaxed);
}

static void on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	(void)c;
	(void)session;
	(void)ud;
	atomic_fetch_add_explicit(&Page->rx[Idx].lost, lost, memory_order_relaxed);
}

static int add_routes(struct mqttmux *c, unsigned nclients, unsigned nsessions)
{
	for (unsigned i = Idx; i < nsessions; i += nclients) {
		char session[32], filter[64];

		snprintf(session, sizeof(session), "s%u", i);
		snprintf(filter, sizeof(filter), B_FILTER_FMT, i);
		if (!mqttmux_handle_to(c, session, filter, on_msg, NULL))
			return -errno;
	}
	return 0;
}

static __attribute__((noreturn)) void client_main(const char *run, unsigned nclients,
						  unsigned nsessions, int ready_fd)
{
	struct mqttmux *c;
	int err = 0;

	(void)prctl(PR_SET_NAME, "b_client");
	c = mqttmux_open(run, &err);
	if (!c || mqttmux_on_gap(c, on_gap, NULL) < 0 || add_routes(c, nclients, nsessions) < 0)
		_exit(1);
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	for (;;)
		if (mqttmux_dispatch(c, -1) < 0)
			_exit(2);
}

/*
 * Fork libmqttmux client <idx> of <nclients> on the daemon of <run> with <nsessions> sessions
 * (named s0, s1, ...), reporting into <page>. Returns its pid (or -errno); *ret_ready becomes
 * readable (one byte) once its routes are registered, or at EOF if it died.
 */
pid_t b_client_spawn(const char *run, struct b_rxpage *page, unsigned idx, unsigned nclients,
		     unsigned nsessions, int *ret_ready)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		Page = page;
		Idx = idx;
		client_main(run, nclients, nsessions, fds[1]);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -errno;
	}
	*ret_ready = fds[0];
	return pid;
}

static int ctl_connect(const char *run)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", run) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static bool ends_with(const char *buf, size_t len, const char *end)
{
	size_t n = strlen(end);

	return len >= n && !memcmp(buf + len - n, end, n);
}

/*
 * Send <cmd> on a new control-socket connection to the daemon of <run> and read its reply up to
 * and including <end> ("\n" for a JSON reply, "\n# EOF\n" for metrics). *ret_len: reply bytes;
 * *ret_ns: connect to the reply's last byte. 0 or -errno (-ETIMEDOUT after B_QUERY_S).
 */
int b_ctl_query(const char *run, const char *cmd, const char *end, size_t *ret_len,
		uint64_t *ret_ns)
{
	uint64_t t0 = mm_time_mono_ns();
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = ctl_connect(run), rc = 0;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : -ENOMEM;
	}
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
		rc = -EIO;
	while (!rc && !ends_with(buf, len, end)) {
		ssize_t n;

		if (len == cap) {
			char *more = realloc(buf, cap * 2);

			if (!more) {
				rc = -ENOMEM;
				break;
			}
			buf = more;
			cap *= 2;
		}
		rc = b_wait_readable(fd, t0 + B_QUERY_S * 1000000000ull);
		if (rc)
			break;
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			rc = n < 0 ? -errno : -EPROTO;
		else
			len += (size_t)n;
	}
	*ret_ns = mm_time_mono_ns() - t0;
	*ret_len = len;
	close(fd);
	free(buf);
	return rc;
}
