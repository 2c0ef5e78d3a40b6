/* SPDX-License-Identifier: MIT */
/*
 * mm-faultproxy: a TCP proxy on loopback that sits between workers and the broker and breaks
 * the path on command. Modes and faults (commands on a Unix control socket, one line each,
 * answered with one line "ok ..." or "error ..."):
 *
 *   pass            forward everything (ends blackhole/refuse, clears delay and throttle)
 *   cut fin|rst     close every open connection, both sides, with FIN or with RST
 *   blackhole       stop forwarding on every connection, open and new, without closing any
 *   refuse          reset every new connection at once (a broker that is down)
 *   delay MS        hold each chunk MS milliseconds before forwarding it
 *   throttle BPS    at most BPS bytes per second per direction per connection
 *   stats           "ok accepted=N active=N up=BYTES down=BYTES"
 *
 * Usage: mm-faultproxy -t 127.0.0.1:PORT -c CTL.sock [-l PORT] [-a EVENTS.log]
 * Once listening it prints the listening port on stdout (one line). With -a, every accepted
 * connection and every client-side close is appended to EVENTS.log as "accept NS ID" or
 * "close NS ID" (CLOCK_REALTIME ns, ID the connection's number), so a test can time reconnect
 * attempts and loss detection. A test tool, not part of mqttmux; loopback only. Single-threaded,
 * poll-driven.
 */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct fp P;

uint64_t fp_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "accept NS ID" or "close NS ID": CLOCK_REALTIME ns, ID the connection's number (from 1). */
static void log_event(const char *what, uint64_t id)
{
	if (P.events)
		fprintf(P.events, "%s %llu %llu\n", what,
			(unsigned long long)fp_now_ns(CLOCK_REALTIME), (unsigned long long)id);
}

static int listen_tcp(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 1024) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		int r = -errno;

		close(fd);
		return r;
	}
	P.port = ntohs(sa.sin_port);
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 16) == -1) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Close <fd> with an RST instead of a FIN (SO_LINGER 0), or plainly. */
static void close_fd(int fd, bool rst)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	if (rst)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_free(struct fp_conn *c, bool rst)
{
	if (c->cfd >= 0)
		log_event("close", c->id);
	close_fd(c->cfd, rst);
	close_fd(c->ufd, rst);
	for (int d = 0; d < 2; d++)
		fp_queue_clear(&c->dir[d]);
	free(c);
	P.active--;
}

static void drop(size_t i, bool rst)
{
	conn_free(P.conns[i], rst);
	P.conns[i] = P.conns[--P.nconns];
}

static void cut_all(bool rst)
{
	while (P.nconns)
		drop(P.nconns - 1, rst);
}

/* Start the upstream connect of <c> (non-blocking). Returns 0 or -errno. */
static int connect_up(struct fp_conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd == -1)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&P.target, sizeof(P.target)) == -1 &&
	    errno != EINPROGRESS) {
		int r = -errno;

		close(fd);
		return r;
	}
	c->ufd = fd;
	c->connecting = true;
	return 0;
}

static void accept_some(void)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(P.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct fp_conn *c;

		if (fd == -1)
			return;
		P.accepted++;
		log_event("accept", P.accepted);
		if (P.mode == FP_REFUSE || P.nconns == FP_MAX_CONNS ||
		    !(c = calloc(1, sizeof(*c)))) {
			log_event("close", P.accepted);
			close_fd(fd, true);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->id = P.accepted;
		c->cfd = fd;
		c->ufd = -1;
		c->pidx = -1;
		c->blackholed = P.mode == FP_BLACKHOLE;
		P.conns[P.nconns++] = c;
		P.active++;
		if (!c->blackholed && connect_up(c) < 0)
			drop(P.nconns - 1, true);
	}
}

static void set_mode(enum fp_mode m)
{
	P.mode = m;
	for (size_t i = 0; i < P.nconns; i++)
		P.conns[i]->blackholed = m == FP_BLACKHOLE;
	/* Connections accepted during a black hole get their upstream now. */
	for (size_t i = P.nconns; i-- > 0;)
		if (!P.conns[i]->blackholed && P.conns[i]->ufd < 0 && connect_up(P.conns[i]) < 0)
			drop(i, true);
}

/* Run one control command; <reply> gets the answer line (with its newline). */
static void command(char *line, char *reply, size_t size)
{
	char *arg = strchr(line, ' ');
	long v = 0;

	if (arg)
		*arg++ = '\0';
	if (arg && (!strcmp(line, "delay") || !strcmp(line, "throttle")))
		v = strtol(arg, NULL, 10);
	snprintf(reply, size, "ok\n");
	if (!strcmp(line, "pass")) {
		P.delay_ns = 0;
		P.rate = 0;
		set_mode(FP_PASS);
	} else if (!strcmp(line, "cut") && arg && (!strcmp(arg, "fin") || !strcmp(arg, "rst"))) {
		cut_all(!strcmp(arg, "rst"));
	} else if (!strcmp(line, "blackhole")) {
		set_mode(FP_BLACKHOLE);
	} else if (!strcmp(line, "refuse")) {
		set_mode(FP_REFUSE);
	} else if (!strcmp(line, "delay") && arg && v >= 0) {
		P.delay_ns = (uint64_t)v * 1000000ull;
	} else if (!strcmp(line, "throttle") && arg && v >= 0) {
		P.rate = (uint64_t)v;
	} else if (!strcmp(line, "stats")) {
		snprintf(reply, size, "ok accepted=%llu active=%zu up=%llu down=%llu\n",
			 (unsigned long long)P.accepted, P.active, (unsigned long long)P.bytes[0],
			 (unsigned long long)P.bytes[1]);
	} else {
		snprintf(reply, size, "error unknown command '%.64s'\n", line);
	}
}

/* Serve the control connection: run each complete line. Returns -1 once it should close. */
static int ctl_service(void)
{
	char reply[256], *nl;
	ssize_t n = recv(P.cfd, P.cbuf + P.clen, sizeof(P.cbuf) - 1 - P.clen, MSG_DONTWAIT);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		P.clen += (size_t)n;
	while ((nl = memchr(P.cbuf, '\n', P.clen))) {
		size_t len = (size_t)(nl - P.cbuf) + 1;

		*nl = '\0';
		command(P.cbuf, reply, sizeof(reply));
		if (send(P.cfd, reply, strlen(reply), MSG_NOSIGNAL) == -1)
			return -1;
		memmove(P.cbuf, P.cbuf + len, P.clen - len);
		P.clen -= len;
	}
	return P.clen == sizeof(P.cbuf) - 1 ? -1 : 0;
}

static int parse_target(const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	P.target.sin_family = AF_INET;
	P.target.sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &P.target.sin_addr) == 1 ? 0 : -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: mm-faultproxy -t HOST:PORT -c CTL.sock [-l PORT] [-a EVENTS]\n");
	return 64;
}

static int setup(int argc, char **argv)
{
	const char *ctl = NULL, *events = NULL;
	int opt, port = 0;

	while ((opt = getopt(argc, argv, "t:c:l:a:")) != -1) {
		if (opt == 't' && parse_target(optarg) == 0)
			continue;
		if (opt == 'c')
			ctl = optarg;
		else if (opt == 'l')
			port = atoi(optarg);
		else if (opt == 'a')
			events = optarg;
		else
			return usage();
	}
	if (!ctl || !P.target.sin_port || optind != argc)
		return usage();
	if (events && !(P.events = fopen(events, "ae")))
		return perror(events), 1;
	if (P.events)
		setvbuf(P.events, NULL, _IOLBF, 0);
	P.lfd = listen_tcp(port);
	P.ctl = listen_unix(ctl);
	if (P.lfd < 0 || P.ctl < 0) {
		fprintf(stderr, "mm-faultproxy: cannot listen: %s\n",
			strerror(-(P.lfd < 0 ? P.lfd : P.ctl)));
		return 1;
	}
	printf("%d\n", P.port);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	P.cfd = -1;
	rc = setup(argc, argv);
	if (rc)
		return rc;
	for (;;) {
		struct pollfd *pfd = fp_poll_build(&P);
		int n, timeout = fp_poll_timeout(&P);

		if (!pfd)
			return 1;
		n = poll(pfd, P.npfd, timeout);
		if (n == -1 && errno != EINTR)
			return perror("poll"), 1;
		if (pfd[0].revents)
			accept_some();
		if (pfd[1].revents && P.cfd < 0)
			P.cfd = accept4(P.ctl, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (P.cfd >= 0 && pfd[2].fd == P.cfd && pfd[2].revents && ctl_service() < 0) {
			close(P.cfd);
			P.cfd = -1;
			P.clen = 0;
		}
		for (size_t i = P.nconns; i-- > 0;)
			if ((rc = fp_conn_service(&P, P.conns[i], pfd)) < 0)
				drop(i, rc == FP_CLOSE_RST);
	}
}
