/* SPDX-License-Identifier: MIT */
/*
 * t_blackhole.h. Linux keeps at most backlog + 1 connections in a listener's accept queue
 * (sk_acceptq_is_full: more than sk_max_ack_backlog), and a SYN that finds the queue full is
 * dropped without an answer (LISTENOVERFLOWS), syncookies or not. So a listener with backlog 0
 * and one connection of our own in its queue drops every SYN; a second connection of our own
 * proves it (its connect stays in progress).
 */
#include "t_blackhole.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_nb(int port, int *ret_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS)
		return 0;
	return -errno;
}

/* Is <fd>'s connect still in progress after <ms>? */
static bool still_pending(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, ms) == 0;
}

static int listen_on_free_port(struct t_blackhole *b, int backlog)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->lfd < 0)
		return -errno;
	if (bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(b->lfd, backlog) == -1 ||
	    getsockname(b->lfd, (struct sockaddr *)&sa, &len) == -1)
		return -errno;
	b->port = ntohs(sa.sin_port);
	return 0;
}

int t_blackhole_open(struct t_blackhole *b, enum t_blackhole_kind kind)
{
	int r;

	*b = (struct t_blackhole){ .lfd = -1, .fillers = { -1, -1 } };
	r = listen_on_free_port(b, kind == T_BLACKHOLE_SYN_DROP ? 0 : 64);
	if (r < 0 || kind != T_BLACKHOLE_SYN_DROP)
		return r;
	r = connect_nb(b->port, &b->fillers[0]);
	if (r == 0 && still_pending(b->fillers[0], 2000))
		r = -EAGAIN; /* the first one must get into the queue */
	if (r == 0)
		r = connect_nb(b->port, &b->fillers[1]);
	if (r == 0 && !still_pending(b->fillers[1], 200))
		r = -EBUSY; /* the queue took a second one: SYNs are not being dropped */
	return r;
}

void t_blackhole_close(struct t_blackhole *b)
{
	for (int i = 0; i < 2; i++)
		if (b->fillers[i] >= 0)
			close(b->fillers[i]);
	if (b->lfd >= 0)
		close(b->lfd);
	*b = (struct t_blackhole){ .lfd = -1, .fillers = { -1, -1 } };
}
