/* SPDX-License-Identifier: MIT */
/*
 * router.sock: the listening socket, peer credentials, the HELLO/WELCOME registration (the
 * client's two rings and four doorbells), ROUTE_ADD/ROUTE_DEL/PING/SESSIONS_LIST, and the
 * disconnection of a client (EOF or garbage), which frees its rings and routes at once.
 * Everything a client sends is untrusted: each datagram is unpacked field by field.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "rtr.h"

struct mm_rtr_client *mm_rtr_client_find(struct mm_rtr *r, uint32_t id)
{
	for (size_t i = 0; i < r->ncl; i++)
		if (r->cl[i]->id == id)
			return r->cl[i];
	return NULL;
}

int mm_rtr_send_error(int sock, uint32_t seq, int code, bool fatal, const char *text)
{
	struct mm_proto_error e = { .seq = seq,
				    .flags = fatal ? MM_PROTO_F_FATAL : 0,
				    .code = code };
	uint8_t buf[MM_PROTO_HDR_SIZE + 8 + MM_PROTO_TEXT_MAX];
	ssize_t n;

	e.text.p = (const uint8_t *)text;
	e.text.len = (uint32_t)strnlen(text, MM_PROTO_TEXT_MAX);
	n = mm_proto_pack_error(buf, sizeof(buf), &e);
	return n < 0 ? (int)n : mm_proto_send(sock, buf, (size_t)n, NULL, 0);
}

/* The runtime directory must exist and be writable by nobody but its owner. */
static int check_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		return mm_log_errno(-errno, "cannot create runtime dir '%s'", dir);
	if (stat(dir, &st) == -1)
		return mm_log_errno(-errno, "runtime dir '%s'", dir);
	if (!S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return mm_log_errno(-EPERM,
				    "runtime dir '%s' is not a directory writable only "
				    "by its owner",
				    dir);
	return 0;
}

/* Create <runtime_dir>/router.sock (0660), listen, and watch it. Returns 0 or -errno. */
int mm_rtr_listen(struct mm_rtr *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc = check_dir(r->runtime_dir), n;

	if (rc < 0)
		return rc;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" MM_PROTO_SOCK_NAME, r->runtime_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return mm_log_errno(-ENAMETOOLONG, "router.sock path");
	r->lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->lsock == -1)
		return mm_log_errno(-errno, "socket");
	(void)unlink(sa.sun_path);
	mode_t old = umask(0117);

	rc = bind(r->lsock, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc == -1 || chmod(sa.sun_path, 0660) == -1 || listen(r->lsock, 64) == -1)
		return mm_log_errno(-errno, "cannot listen on '%s'", sa.sun_path);
	mm_log(MM_LOG_INFO, "listening on %s", sa.sun_path);
	return mm_rtr_watch(r, r->lsock, MM_RTR_T_LISTEN, 0);
}

static int add_client(struct mm_rtr *r, int sock, const struct mm_access_peer *cr)
{
	struct mm_rtr_client *c;

	if (r->ncl == r->cl_cap) {
		size_t cap = r->cl_cap ? r->cl_cap * 2 : 16;
		void *p = realloc(r->cl, cap * sizeof(*r->cl));

		if (!p)
			return -ENOMEM;
		r->cl = p;
		r->cl_cap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (mm_rtr_peer_keep(c, cr) < 0) {
		free(c);
		return -ENOMEM;
	}
	c->id = r->next_client++;
	c->sock = sock;
	c->uid = cr->uid;
	c->pid = cr->pid;
	c->hello_by_ns = mm_time_mono_ns() + MM_RTR_HELLO_TIMEOUT_NS;
	c->slot = -1;
	c->lost_session = MM_REC_SESSION_ANY;
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		c->fds[i] = -1;
	r->cl[r->ncl++] = c;
	return mm_rtr_watch(r, sock, MM_RTR_T_SOCK, c->id);
}

/*
 * Out of descriptors: the pending connection stays in the backlog and the listener stays
 * readable, so leave it out of the epoll set for a while instead of spinning on it.
 */
static void pause_listener(struct mm_rtr *r, int err)
{
	mm_log_errno(-err,
		     "accept on router.sock: out of descriptors (%u clients): not accepting"
		     " for a second",
		     (unsigned)r->ncl);
	if (epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->lsock, NULL) == 0)
		r->lsock_off = true;
}

/*
 * Close a connection we refused, after the ERROR frame that says why. What the peer sent
 * first (its HELLO, queued while we were busy) is read and dropped before: closing an
 * AF_UNIX socket with unread data makes the peer's next recv fail with ECONNRESET, and on a
 * SOCK_SEQPACKET socket that error comes before the frames still queued for it, so the peer
 * would never read our ERROR.
 */
static void refuse_close(int s)
{
	char junk[512];

	while (recv(s, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	close(s);
}

/* Connections (registered or not) of <uid>. */
static int conns_of(const struct mm_rtr *r, uid_t uid)
{
	int n = 0;

	for (size_t i = 0; i < r->ncl; i++)
		n += r->cl[i]->uid == uid;
	return n;
}

/*
 * clients.max_clients (everybody) and clients.max_clients_per_uid (not root's or ours, as for
 * control.sock): the bound hit, or NULL. A refused peer never gets rings, so it costs nothing.
 */
static const char *over_limit(struct mm_rtr *r, const struct mm_access_peer *cr)
{
	if (r->ncl >= (size_t)r->clients->max_clients) {
		mm_rtr_stats_limit(r, MM_RSTATS_LIM_CLIENTS);
		return "too many clients (clients.max_clients)";
	}
	if (!mm_access_is_owner(cr) && conns_of(r, cr->uid) >= r->clients->max_clients_per_uid) {
		mm_rtr_stats_limit(r, MM_RSTATS_LIM_CLIENTS_PER_UID);
		return "too many clients for this uid (clients.max_clients_per_uid)";
	}
	return NULL;
}

/* Refuse <s> with ERROR(<err>, fatal) <why>: counted, logged. */
static void refuse(struct mm_rtr *r, int s, const struct mm_access_peer *cr, int err,
		   const char *why)
{
	r->refused++;
	mm_rtr_stats_bump(&r->st->clients_refused);
	mm_log(MM_LOG_WARNING, "refused peer uid %u gid %u pid %d: %s", cr->uid, cr->gid, cr->pid,
	       why);
	(void)mm_rtr_send_error(s, 0, err, true, why);
	refuse_close(s);
}

/* A new connection <s>: refused (peer not allowed), or a client waiting for its HELLO. */
static void accept_one(struct mm_rtr *r, int s)
{
	struct mm_access_peer cr;
	const char *why;

	/* root, our uid, clients.allow_uids, or a group of allow_gids (access.h) */
	if (mm_access_peer_read(s, &cr) < 0 || !mm_access_client_allowed(r->clients, &cr)) {
		refuse(r, s, &cr, EACCES,
		       "permission denied: uid not allowed by clients.allow_uids/allow_gids");
		return;
	}
	if ((why = over_limit(r, &cr))) {
		refuse(r, s, &cr, EUSERS, why);
		return;
	}
	if (add_client(r, s, &cr) < 0) {
		(void)mm_rtr_send_error(s, 0, ENOMEM, true, "out of memory");
		refuse_close(s);
	}
}

void mm_rtr_accept(struct mm_rtr *r)
{
	for (;;) {
		int s = accept4(r->lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (s < 0) {
			if (mm_fd_pause_on(&r->lpause, errno, mm_time_mono_ns()))
				pause_listener(r, errno);
			return;
		}
		accept_one(r, s);
	}
}

void mm_rtr_client_drop(struct mm_rtr *r, struct mm_rtr_client *c, int err, const char *why)
{
	size_t i;

	if (err) {
		r->malformed++;
		mm_rtr_stats_bump(&r->st->clients_malformed);
		mm_log(MM_LOG_WARNING, "client %u ('%s'): %s: disconnected", c->id, c->name, why);
	} else if (why) {
		mm_log(MM_LOG_INFO, "client %u ('%s'): %s", c->id, c->name, why);
	}
	for (i = 0; i < r->ncl && r->cl[i] != c; i++)
		;
	if (i < r->ncl)
		r->cl[i] = r->cl[--r->ncl];
	(void)mm_rtr_sub_remove_client(&r->sub, c->id);
	mm_rtr_retain_forget(r, c->id, 0);
	mm_rtr_stats_release(r, c);
	mm_shm_ring_detach(&c->dlv);
	mm_shm_ring_detach(&c->pub);
	for (int k = 0; k < MM_PROTO_WELCOME_NFDS; k++)
		if (c->fds[k] >= 0)
			close(c->fds[k]);
	close(c->sock);
	mm_rtr_done_free(c);
	free(c->peer);
	free(c);
	mm_rtr_unblock(r, NULL);
}

/*
 * Each loop turn: take router.sock back once a descriptor pause ends, and close connections
 * that never sent HELLO (each holds a descriptor). Returns <ms> (the loop's epoll timeout, -1
 * none) shortened to the next of those deadlines.
 */
int mm_rtr_clients_tick(struct mm_rtr *r, int ms)
{
	uint64_t now = mm_time_mono_ns();

	if (r->lsock_off && !mm_fd_paused(&r->lpause, now) &&
	    mm_rtr_watch(r, r->lsock, MM_RTR_T_LISTEN, 0) == 0)
		r->lsock_off = false;
	ms = mm_fd_pause_timeout(&r->lpause, now, ms);
	for (size_t i = 0; i < r->ncl;) {
		struct mm_rtr_client *c = r->cl[i];
		uint64_t left;

		if (c->registered) {
			i++;
			continue;
		}
		if (now >= c->hello_by_ns) {
			mm_rtr_client_drop(r, c, 0, "no HELLO within 5 s: closed");
			continue; /* the last client took its place */
		}
		left = (c->hello_by_ns - now + MM_NS_PER_MS - 1) / MM_NS_PER_MS;
		if (ms < 0 || (uint64_t)ms > left)
			ms = (int)left;
		i++;
	}
	return ms;
}

/* Read every pending datagram of <c> and act on it; drop <c> at EOF or on garbage. */
static const char *input_one(struct mm_rtr *r, struct mm_rtr_client *c, int *err)
{
	int fds[MM_PROTO_MAX_FDS], nfds = MM_PROTO_MAX_FDS, rc;
	ssize_t n = mm_proto_recv(c->sock, r->scratch, MM_PROTO_MAX_FRAME, fds, &nfds);

	*err = 0;
	if (n == -EAGAIN || n == -EINTR)
		return "";
	if (n == 0)
		return "end of stream";
	if (n < 0 || nfds > 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		(void)mm_rtr_send_error(c->sock, 0, EPROTO, true, "malformed datagram");
		*err = EPROTO;
		return "malformed datagram";
	}
	rc = mm_rtr_on_frame(r, c, r->scratch, (size_t)n);
	if (rc < 0)
		*err = -rc;
	return rc < 0 ? "protocol error" : rc > 0 ? "closed after a fatal error" : NULL;
}

void mm_rtr_client_input(struct mm_rtr *r, struct mm_rtr_client *c)
{
	for (int budget = 64; budget > 0; budget--) {
		int err;
		const char *why = input_one(r, c, &err);

		if (why && *why)
			mm_rtr_client_drop(r, c, err, why);
		if (why)
			return;
	}
}
