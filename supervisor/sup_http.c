/* SPDX-License-Identifier: MIT */
/*
 * The optional metrics.http listener: a minimal, bounded HTTP/1.x responder for GET /metrics,
 * driven by the supervisor's poll loop. Every socket is non-blocking; a request is at most
 * MM_HTTP_REQ_MAX bytes of head (the body, if any, is never read); a connection lives at most
 * metrics.http_timeout; at most metrics.http_max_connections at a time: a new one takes the
 * slot of the oldest that has not sent its whole request yet (an idle or slow client cannot
 * lock scrapes out), or is closed at once if every one is being answered. One
 * request per connection (Connection: close). GET or HEAD /metrics (a query string, as
 * Prometheus's params send, is ignored): 200 with the metrics text;
 * another path: 404; another method: 405; anything unparsable: 400; an oversized head: 431.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mm_time.h"
#include "sup.h"

struct mm_http_conn {
	int fd; /* -1: free slot */
	uint64_t deadline_ns;
	size_t in_len;
	char in[MM_HTTP_REQ_MAX + 1];
	char *out; /* response being written, or NULL */
	size_t out_len, out_off;
};

struct mm_sup_http {
	int fd;
	struct mm_fd_pause pause; /* not accepting: out of descriptors (common/fd_pause.h) */
	struct mm_http_conn conns[MM_HTTP_MAX_CONNS];
};

static int listen_ai(const struct addrinfo *ai)
{
	int fd, one = 1, zero = 0;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* ":PORT" binds "::" for IPv6 and IPv4 alike, whatever net.ipv6.bindv6only says */
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Listen on <host> (empty: every interface) and <port>: the first address that binds. */
static int listen_on(const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai, *a;
	char serv[8];
	int r;

	snprintf(serv, sizeof(serv), "%u", port);
	r = getaddrinfo(host[0] ? host : NULL, serv, &hints, &ai);
	if (r)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	r = -EADDRNOTAVAIL;
	/* the wildcard: "::" first (it takes IPv4 too), then 0.0.0.0 where IPv6 is off */
	for (int pass = 0; pass < 2 && r < 0; pass++)
		for (a = ai; a && r < 0; a = a->ai_next)
			if (host[0] || (a->ai_family == AF_INET6) == (pass == 0))
				r = listen_ai(a);
	freeaddrinfo(ai);
	return r;
}

/* Open the listener if metrics.http is set. A failure is logged; the daemon runs without it. */
void mm_sup_http_open(struct mm_sup *s)
{
	const struct mm_cfg_metrics *m = &s->cfg->metrics;
	struct mm_sup_http *h;
	int fd;

	if (!m->http_host)
		return;
	fd = listen_on(m->http_host, m->http_port);
	if (fd < 0) {
		mm_log_errno(fd, "metrics.http: cannot listen on %s:%u, no HTTP listener",
			     m->http_host[0] ? m->http_host : "*", m->http_port);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return;
	}
	h->fd = fd;
	for (int i = 0; i < MM_HTTP_MAX_CONNS; i++)
		h->conns[i].fd = -1;
	s->http = h;
	if (m->http_host[0])
		mm_log(MM_LOG_INFO, "metrics.http: serving /metrics on %s:%u", m->http_host,
		       m->http_port);
	else
		mm_log(MM_LOG_INFO, "metrics.http: serving /metrics on every interface, port %u",
		       m->http_port);
}

static void conn_close(struct mm_http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
}

void mm_sup_http_close(struct mm_sup *s)
{
	if (!s->http)
		return;
	for (int i = 0; i < MM_HTTP_MAX_CONNS; i++)
		conn_close(&s->http->conns[i]);
	close(s->http->fd);
	free(s->http);
	s->http = NULL;
}

/* Poll entries: the listener, then each connection (fd -1 when unused or no listener). */
void mm_sup_http_pollfds(const struct mm_sup *s, struct pollfd *pfd)
{
	const struct mm_sup_http *h = s->http;

	pfd[0] = (struct pollfd){
		.fd = h && !mm_fd_paused(&h->pause, mm_time_mono_ns()) ? h->fd : -1,
		.events = POLLIN,
	};
	for (int i = 0; i < MM_HTTP_MAX_CONNS; i++) {
		const struct mm_http_conn *c = h ? &h->conns[i] : NULL;

		pfd[i + 1] = (struct pollfd){ .fd = c ? c->fd : -1,
					      .events = c && c->out ? POLLOUT : POLLIN };
	}
}

static void respond(struct mm_http_conn *c, const char *status, const char *type, const char *body,
		    size_t len, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "%sConnection: close\r\n\r\n",
			 status, type, len,
			 strncmp(status, "405", 3) ? "" : "Allow: GET, HEAD\r\n");

	c->out = malloc((size_t)n + len);
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (!head)
		memcpy(c->out + n, body, len);
	c->out_len = (size_t)n + (head ? 0 : len);
	c->out_off = 0;
}

static void respond_text(struct mm_http_conn *c, const char *status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, false);
}

static void serve_metrics(struct mm_sup *s, struct mm_http_conn *c, bool head)
{
	struct mm_metrics_buf b;
	int r;

	mm_metrics_buf_init_dyn(&b);
	r = mm_sup_metrics_text(s, &b);
	if (r == 0)
		r = mm_metrics_buf_err(&b);
	if (r < 0)
		respond_text(c, "500 Internal Server Error");
	else
		respond(c, "200 OK", MM_METRICS_CONTENT_TYPE, b.data ? b.data : "", b.len, head);
	mm_metrics_buf_done(&b);
}

/* A whole head is in c->in: parse the request line and build the response. */
static void handle(struct mm_sup *s, struct mm_http_conn *c)
{
	char *save, *method, *target, *version;

	c->in[c->in_len] = '\0';
	method = strtok_r(c->in, " ", &save);
	target = method ? strtok_r(NULL, " ", &save) : NULL;
	version = target ? strtok_r(NULL, " \r\n", &save) : NULL;
	if (target)
		target[strcspn(target, "?#")] = '\0'; /* /metrics?name[]=x: the query is ignored */
	if (!version || strncmp(version, "HTTP/1.", 7) || target[0] != '/')
		respond_text(c, "400 Bad Request");
	else if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		respond_text(c, "405 Method Not Allowed");
	else if (strcmp(target, "/metrics"))
		respond_text(c, "404 Not Found");
	else
		serve_metrics(s, c, !strcmp(method, "HEAD"));
}

static bool head_complete(const struct mm_http_conn *c)
{
	return memmem(c->in, c->in_len, "\r\n\r\n", 4) || memmem(c->in, c->in_len, "\n\n", 2);
}

static void on_readable(struct mm_sup *s, struct mm_http_conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, MM_HTTP_REQ_MAX - c->in_len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (memchr(c->in, '\0', c->in_len))
		respond_text(c, "400 Bad Request");
	else if (head_complete(c))
		handle(s, c);
	else if (c->in_len == MM_HTTP_REQ_MAX)
		respond_text(c, "431 Request Header Fields Too Large");
}

static void on_writable(struct mm_http_conn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		(void)shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

/* The slot for a new connection: a free one, else the oldest still reading its head, or -1. */
static int slot_for_new(struct mm_sup *s, int max)
{
	struct mm_sup_http *h = s->http;
	int old = -1;

	for (int i = 0; i < max; i++) {
		const struct mm_http_conn *c = &h->conns[i];

		if (c->fd < 0)
			return i;
		if (!c->out && (old < 0 || c->deadline_ns < h->conns[old].deadline_ns))
			old = i;
	}
	if (old >= 0) {
		s->http_refused.evicted++;
		conn_close(&h->conns[old]);
	}
	return old;
}

static uint64_t http_timeout_ns(const struct mm_sup *s)
{
	return (uint64_t)(s->cfg->metrics.http_timeout * (double)MM_NS_PER_SEC);
}

static void accept_some(struct mm_sup *s)
{
	struct mm_sup_http *h = s->http;
	int max = s->cfg->metrics.http_max_connections;

	for (int k = 0; k < MM_HTTP_MAX_CONNS; k++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

		if (fd < 0 && mm_fd_pause_on(&h->pause, errno, mm_time_mono_ns()))
			mm_log_errno(-errno,
				     "metrics.http: accept (RLIMIT_NOFILE %s): not accepting"
				     " for a second",
				     mm_sup_nofile_text());
		if (fd < 0)
			return;
		i = slot_for_new(s, max < MM_HTTP_MAX_CONNS ? max : MM_HTTP_MAX_CONNS);
		if (i < 0) {
			s->http_refused.full++;
			close(fd); /* every one is being answered: the client retries */
			continue;
		}
		h->conns[i] = (struct mm_http_conn){
			.fd = fd, .deadline_ns = mm_time_mono_ns() + http_timeout_ns(s)
		};
		/* a scraper sends its request with the connect: answered, it is not evictable */
		on_readable(s, &h->conns[i]);
	}
}

/* <ms> (the loop's poll timeout), shortened so that an open connection's deadline is kept. */
int mm_sup_http_timeout(const struct mm_sup *s, int ms)
{
	const struct mm_sup_http *h = s->http;
	uint64_t now = mm_time_mono_ns();

	if (h)
		ms = mm_fd_pause_timeout(&h->pause, now, ms);
	for (int i = 0; h && i < MM_HTTP_MAX_CONNS; i++) {
		uint64_t left;

		if (h->conns[i].fd < 0)
			continue;
		left = h->conns[i].deadline_ns > now ? h->conns[i].deadline_ns - now : 0;
		if ((uint64_t)ms > left / MM_NS_PER_MS + 1 || ms < 0)
			ms = (int)(left / MM_NS_PER_MS + 1);
	}
	return ms;
}

/* Serve what poll reported, and drop connections past their deadline. */
void mm_sup_http_dispatch(struct mm_sup *s, const struct pollfd *pfd)
{
	struct mm_sup_http *h = s->http;
	uint64_t now = mm_time_mono_ns();

	if (!h)
		return;
	for (int i = 0; i < MM_HTTP_MAX_CONNS; i++) {
		struct mm_http_conn *c = &h->conns[i];

		if (c->fd >= 0 && pfd[i + 1].fd == c->fd && pfd[i + 1].revents && c->out)
			on_writable(c);
		else if (c->fd >= 0 && pfd[i + 1].fd == c->fd && pfd[i + 1].revents)
			on_readable(s, c);
		if (c->fd >= 0 && now > c->deadline_ns) {
			s->http_refused.timeout++;
			conn_close(c);
		}
	}
	if (pfd[0].revents)
		accept_some(s);
}
