/* SPDX-License-Identifier: MIT */
/*
 * The control socket: listening, SO_PEERCRED checks, and non-blocking line I/O for up to
 * MM_CTL_MAX_CONNS connections (see sup_ctl.h). A connection reads only while it has no reply
 * pending and no `wait` in progress, so a client that never reads its replies costs one reply
 * of memory and nothing else; the loop never blocks on a client.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "mm_time.h"
#include "sup.h"

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* We hold the runtime_dir lock: a socket file left there is a dead daemon's. */
	(void)unlink(path);
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r == 0)
		r = chmod(path, 0660);
	if (r == 0)
		r = listen(fd, 64);
	if (r == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Create <runtime_dir>/control.sock. Returns 0 or -errno (logged). */
int mm_sup_ctl_open(struct mm_sup *s)
{
	struct mm_sup_ctl *ctl = calloc(1, sizeof(*ctl));
	int fd;

	if (!ctl)
		return -ENOMEM;
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++)
		ctl->conns[i].fd = ctl->conns[i].passed_fd = -1;
	if ((size_t)snprintf(ctl->path, sizeof(ctl->path), "%s/%s", s->cfg->runtime_dir,
			     MM_CTL_SOCK_NAME) >= sizeof(ctl->path))
		fd = -ENAMETOOLONG;
	else
		fd = listen_at(ctl->path);
	if (fd < 0) {
		mm_log_errno(fd, "cannot create control socket '%s'", ctl->path);
		free(ctl);
		return fd;
	}
	ctl->fd = fd;
	s->ctl = ctl;
	mm_log(MM_LOG_DEBUG, "control socket '%s'", ctl->path);
	return 0;
}

static void conn_close(struct mm_ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = c->passed_fd = -1;
}

/* Close every connection and the socket, and remove the socket file. */
void mm_sup_ctl_close(struct mm_sup *s)
{
	struct mm_sup_ctl *ctl = s->ctl;

	if (!ctl)
		return;
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++)
		conn_close(&ctl->conns[i]);
	close(ctl->fd);
	(void)unlink(ctl->path);
	free(ctl);
	s->ctl = NULL;
}

/* Tell a client we will not serve it (best effort, never blocks) and close it. */
static void refuse(int fd, const char *why)
{
	struct mm_ctl_conn tmp = { .fd = -1, .passed_fd = -1 };

	mm_sup_ctl_error(&tmp, "%s", why);
	if (tmp.out)
		(void)send(fd, tmp.out, tmp.out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(tmp.out);
	close(fd);
}

static int conns_of(const struct mm_sup_ctl *ctl, uid_t uid)
{
	int n = 0;

	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++)
		n += ctl->conns[i].fd >= 0 && ctl->conns[i].uid == uid;
	return n;
}

static struct mm_ctl_conn *free_slot(struct mm_sup_ctl *ctl)
{
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++)
		if (ctl->conns[i].fd < 0)
			return &ctl->conns[i];
	return NULL;
}

static void accept_one(struct mm_sup *s, int fd)
{
	struct mm_access_peer uc;
	struct mm_ctl_conn *c;
	char why[128];
	int r = mm_access_peer_read(fd, &uc);

	if (r < 0) {
		mm_log_errno(r, "control socket: SO_PEERCRED");
		close(fd);
		return;
	}
	/* root, our uid, clients.allow_uids, or a group of allow_gids (access.h) */
	if (!mm_access_client_allowed(&s->cfg->clients, &uc)) {
		mm_log(MM_LOG_WARNING, "control socket: refused uid %u (pid %ld)", (unsigned)uc.uid,
		       (long)uc.pid);
		snprintf(why, sizeof(why), "permission denied: uid %u is not allowed",
			 (unsigned)uc.uid);
		refuse(fd, why);
		return;
	}
	if (!mm_access_is_owner(&uc) &&
	    conns_of(s->ctl, uc.uid) >= s->cfg->clients.control_per_uid) {
		s->ctl_refused.per_uid++;
		mm_log(MM_LOG_WARNING,
		       "control socket: uid %u (pid %ld) holds %d connections"
		       " (clients.control_per_uid), refusing one",
		       (unsigned)uc.uid, (long)uc.pid, s->cfg->clients.control_per_uid);
		refuse(fd, "too many connections for this uid");
		return;
	}
	c = free_slot(s->ctl);
	if (!c) {
		s->ctl_refused.full++;
		mm_log(MM_LOG_WARNING, "control socket: more than %d connections, refusing one",
		       MM_CTL_MAX_CONNS);
		refuse(fd, "too many connections");
		return;
	}
	c->fd = fd;
	c->active_ns = mm_time_mono_ns();
	c->uid = uc.uid;
	c->pid = uc.pid;
	c->admin = mm_access_admin(&s->cfg->clients, &uc);
	c->owner = mm_access_is_owner(&uc);
}

static void accept_some(struct mm_sup *s)
{
	for (int i = 0; i < MM_CTL_ACCEPT_BURST; i++) {
		int fd = accept4(s->ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1 && mm_fd_pause_on(&s->ctl->pause, errno, mm_time_mono_ns())) {
			mm_log_errno(-errno,
				     "control socket: accept (RLIMIT_NOFILE %s): not"
				     " accepting for a second",
				     mm_sup_nofile_text());
			return;
		}
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				mm_log_errno(-errno, "control socket: accept");
			return;
		}
		accept_one(s, fd);
	}
}

/* Is a reply on its way out (not one held until the state files are durable)? */
static bool sending(const struct mm_ctl_conn *c)
{
	return c->out && !c->held;
}

static bool can_read(const struct mm_ctl_conn *c)
{
	return !c->closing && !c->eof && !c->waiting && !c->events && !sending(c) &&
	       c->in_len < MM_CTL_LINE_MAX;
}

/* Poll entries: MM_CTL_NFDS of them (fd -1 where unused), listener first. */
void mm_sup_ctl_pollfds(const struct mm_sup *s, struct pollfd *pfd)
{
	const struct mm_sup_ctl *ctl = s->ctl;

	bool paused = ctl && mm_fd_paused(&ctl->pause, mm_time_mono_ns());

	pfd[0] = (struct pollfd){ .fd = ctl && !paused ? ctl->fd : -1, .events = POLLIN };
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++) {
		const struct mm_ctl_conn *c = ctl ? &ctl->conns[i] : NULL;

		pfd[i + 1] = (struct pollfd){ .fd = c ? c->fd : -1 };
		if (c && sending(c))
			pfd[i + 1].events |= POLLOUT;
		if (c && (can_read(c) || c->events))
			pfd[i + 1].events |= POLLIN;
	}
}

/* Write what we can of the pending reply. Returns 0, or -1 if the client is gone. */
static int flush(struct mm_ctl_conn *c)
{
	if (c->held)
		return 0;
	while (c->out && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n == -1)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->out)
		c->active_ns = mm_time_mono_ns(); /* answered: the idle time starts now */
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	return 0;
}

/*
 * Keep the first descriptor of an SCM_RIGHTS message for the next `add` (it replaces one kept
 * before) and close any others: a peer cannot make us hold more than one.
 */
static void take_fds(struct mm_ctl_conn *c, struct msghdr *m)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
		size_t n;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (i == 0 && c->passed_fd >= 0)
				close(c->passed_fd);
			if (i == 0)
				c->passed_fd = fd;
			else
				close(fd);
		}
	}
}

/* Read what fits in the line buffer. Returns 0, or -1 if the connection broke. */
static int fill(struct mm_ctl_conn *c)
{
	union {
		char buf[CMSG_SPACE(MM_CTL_PASS_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { c->in + c->in_len, MM_CTL_LINE_MAX - c->in_len };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	take_fds(c, &m);
	if (n == 0)
		c->eof = true;
	c->in_len += (size_t)n;
	return 0;
}

/* Take the next complete line (or the unterminated rest at EOF) out of the buffer. */
static bool next_line(struct mm_ctl_conn *c, char *line)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	size_t len = nl ? (size_t)(nl - c->in) : c->in_len;

	if (!nl && (c->in_len == MM_CTL_LINE_MAX || !(c->eof && c->in_len)))
		return false;
	memcpy(line, c->in, len);
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[len - 1] = '\0';
	/* A NUL byte inside the line must not hide the rest: make it an invalid character. */
	for (size_t i = 0; i < len; i++)
		if (!line[i])
			line[i] = '\x01';
	len = nl ? len + 1 : len;
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
	return true;
}

/* Is there a command to run now (a complete line, and no reply or wait in the way)? */
static bool runnable(const struct mm_ctl_conn *c)
{
	if (c->fd < 0 || c->closing || c->waiting || c->events || sending(c))
		return false;
	return memchr(c->in, '\n', c->in_len) || (c->eof && c->in_len) ||
	       c->in_len == MM_CTL_LINE_MAX;
}

/*
 * Run complete lines, one at a time: the next only once the previous reply is written, or held
 * (an `add` or `remove` wrote state files: its reply, and those after it, wait for the end of
 * the turn, when the files of every command of the turn are made durable together; see
 * supervisor/sup_journal.c). At most MM_CTL_LINES_PER_TURN, so that one busy client cannot
 * starve the loop; the rest run on the next turns (mm_sup_ctl_timeout() makes those
 * immediate). Returns 0 or -1 (gone).
 */
static int run_lines(struct mm_sup *s, struct mm_ctl_conn *c)
{
	char line[MM_CTL_LINE_MAX + 1];

	for (int i = 0; i < MM_CTL_LINES_PER_TURN && runnable(c); i++) {
		c->active_ns = mm_time_mono_ns();
		if (next_line(c, line)) {
			mm_sup_ctl_command(s, c, line);
			c->held |= c->out && mm_sup_journal_pending(&s->journal);
		} else {
			mm_sup_ctl_error(c, "line too long (more than %d bytes)",
					 MM_CTL_LINE_MAX - 1);
			c->closing = true;
		}
		if (flush(c) < 0)
			return -1;
	}
	return 0;
}

static bool done(const struct mm_ctl_conn *c)
{
	if (c->out || c->waiting)
		return false;
	return c->closing || (c->eof && !c->in_len);
}

/*
 * An `events` reader sends nothing more: what it sends is dropped, and its EOF or hangup ends
 * the stream. Returns 0, or -1 if the reader is gone.
 */
static int events_service(struct mm_ctl_conn *c, short revents)
{
	char junk[256];
	ssize_t n;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		while ((n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
			;
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
	}
	return flush(c);
}

static void service(struct mm_sup *s, struct mm_ctl_conn *c, short revents)
{
	if (c->events) {
		if (events_service(c, revents) < 0)
			conn_close(c);
		return;
	}
	if ((revents & POLLHUP) && c->waiting) {
		conn_close(c); /* gone for good: nobody to tell */
		return;
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && can_read(c) && fill(c) < 0) {
		conn_close(c);
		return;
	}
	if (c->waiting)
		mm_sup_ctl_wait_check(s, c);
	if (flush(c) < 0 || run_lines(s, c) < 0 || done(c))
		conn_close(c);
}

/* May <c> be closed for idling? Not while a `wait` or an `events` stream is its business. */
static bool idles(const struct mm_ctl_conn *c)
{
	return c->fd >= 0 && !c->waiting && !c->events;
}

static uint64_t idle_limit_ns(const struct mm_sup *s)
{
	return (uint64_t)(s->cfg->clients.control_timeout * 1e9);
}

/*
 * Close the connections that ran no command for clients.control_timeout (or never read the
 * reply): each holds one of MM_CTL_MAX_CONNS slots, and a quiet peer must not keep them.
 */
static void close_idle(struct mm_sup *s)
{
	uint64_t now = mm_time_mono_ns(), limit = idle_limit_ns(s);

	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++) {
		struct mm_ctl_conn *c = &s->ctl->conns[i];

		if (!idles(c) || now - c->active_ns <= limit)
			continue;
		s->ctl_refused.idle++;
		mm_log(MM_LOG_INFO,
		       "control socket: uid %u (pid %ld) idle for %g s (clients.control_timeout):"
		       " closed",
		       (unsigned)c->uid, (long)c->pid, s->cfg->clients.control_timeout);
		if (!c->out)
			mm_sup_ctl_error(c, "idle for more than %g s: closed",
					 s->cfg->clients.control_timeout);
		(void)flush(c);
		conn_close(c);
	}
}

/* Handle the poll results of the entries mm_sup_ctl_pollfds() filled, and every waiter. */
void mm_sup_ctl_dispatch(struct mm_sup *s, const struct pollfd *pfd)
{
	struct mm_sup_ctl *ctl = s->ctl;

	if (!ctl)
		return;
	close_idle(s);
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++) {
		struct mm_ctl_conn *c = &ctl->conns[i];

		if (c->fd >= 0 && c->fd == pfd[i + 1].fd &&
		    (pfd[i + 1].revents || c->waiting || runnable(c)))
			service(s, c, pfd[i + 1].revents);
	}
	if (pfd[0].revents & POLLIN)
		accept_some(s);
}

/*
 * The state files of this turn's commands are durable (mm_sup_journal_commit()): send the
 * replies that waited for them.
 */
void mm_sup_ctl_release(struct mm_sup *s)
{
	for (size_t i = 0; s->ctl && i < MM_CTL_MAX_CONNS; i++) {
		struct mm_ctl_conn *c = &s->ctl->conns[i];

		if (c->fd < 0 || !c->held)
			continue;
		c->held = false;
		if (flush(c) < 0 || done(c))
			conn_close(c);
	}
}

/* <ms>, or less: until <c> has idled for clients.control_timeout (and 1 ms more). */
static int idle_timeout(const struct mm_sup *s, const struct mm_ctl_conn *c, int ms)
{
	uint64_t end = c->active_ns + idle_limit_ns(s), now = mm_time_mono_ns();
	uint64_t left = end > now ? (end - now) / MM_NS_PER_MS + 1 : 0;

	return ms < 0 || left < (uint64_t)ms ? (int)(left < INT32_MAX ? left : INT32_MAX) : ms;
}

/* <ms> capped so that pending waits are re-checked every MM_CTL_RECHECK_MS, and 0 while a
 * connection has commands left over from the last turn. */
int mm_sup_ctl_timeout(const struct mm_sup *s, int ms)
{
	if (!s->ctl)
		return ms;
	ms = mm_fd_pause_timeout(&s->ctl->pause, mm_time_mono_ns(), ms);
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++) {
		const struct mm_ctl_conn *c = &s->ctl->conns[i];

		if (runnable(c))
			return 0;
		if (c->fd >= 0 && c->waiting && ms > MM_CTL_RECHECK_MS)
			ms = MM_CTL_RECHECK_MS;
		if (idles(c))
			ms = idle_timeout(s, c, ms);
	}
	return ms;
}
