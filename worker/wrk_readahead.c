/* SPDX-License-Identifier: MIT */
/*
 * The read-ahead buffer under libmosquitto (wrk_readahead.h). libmosquitto 2.0 reads its
 * socket with read() (net__read), OpenSSL's socket BIO too, and neither offers a hook; so the
 * worker executable defines read() itself. The dynamic linker binds libmosquitto's and
 * libcrypto's calls to the executable's definition before libc's, as it does for any
 * interposer. Only the fds attached here are served from a buffer; for every other fd (and
 * for the worker's own reads of signalfd, eventfds and the channel) it is the read system
 * call, errno and all.
 *
 * Why no byte is lost, reordered or left waiting:
 * - bytes leave the buffer in the order the kernel gave them, and the buffer belongs to one
 *   socket: it is attached when the worker starts watching a socket and dropped when it stops
 *   (a closed socket's number comes back at the next connection, and its stale bytes with it
 *   otherwise);
 * - a read of an empty buffer whose last fill came back short says EAGAIN without asking the
 *   kernel: the socket was drained then. Bytes that arrived since leave the socket readable,
 *   and both loop backends report readiness level-triggered (wrk_loop_uring.c re-checks a
 *   reported watch at the next wait), so the worker comes back for them. mm_wrk_ra_rearm, at
 *   each read turn, makes the next empty read ask the kernel again;
 * - bytes left in the buffer when the worker stops reading (the read budget, a full in-ring)
 *   are invisible to poll: mm_wrk_ra_pending tells the loop to read on (wrk_run.c).
 * The worker is single-threaded: nothing here is locked.
 */
#include "wrk_readahead.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* fds from here up are read straight; a page of entries is touched per 512 fds */
#define RA_FDS 65536

static struct mm_wrk_ra *ra_of_fd[RA_FDS];

static ssize_t sys_read(int fd, void *buf, size_t n)
{
	return (ssize_t)syscall(SYS_read, fd, buf, n);
}

/* Refill the empty buffer of <ra>. Returns what read() returned. */
static ssize_t fill(struct mm_wrk_ra *ra)
{
	ssize_t r = sys_read(ra->fd, ra->buf, MM_WRK_RA_SIZE);

	ra->head = ra->tail = 0;
	if (r > 0) {
		ra->tail = (uint32_t)r;
		ra->drained = (size_t)r < MM_WRK_RA_SIZE;
	}
	return r;
}

/* A read of <ra>'s socket through its buffer (the source of the framing guard). */
static ssize_t ra_read(void *ctx, void *buf, size_t n)
{
	struct mm_wrk_ra *ra = ctx;
	ssize_t r;
	size_t k;

	if (ra->head == ra->tail) {
		if (ra->drained) {
			errno = EAGAIN;
			return -1;
		}
		if (n >= MM_WRK_RA_SIZE) /* a large payload: no copy */
			return sys_read(ra->fd, buf, n);
		r = fill(ra);
		if (r <= 0)
			return r;
	}
	k = ra->tail - ra->head;
	k = k < n ? k : n;
	memcpy(buf, ra->buf + ra->head, k);
	ra->head += (uint32_t)k;
	return (ssize_t)k;
}

ssize_t read(int fd, void *buf, size_t n)
{
	struct mm_wrk_ra *ra = fd >= 0 && fd < RA_FDS ? ra_of_fd[fd] : NULL;

	if (!ra || n == 0)
		return sys_read(fd, buf, n);
	if (ra->frame && !ra->frame_tls)
		return mm_wrk_frame_read(ra->frame, ra_read, ra, buf, n);
	return ra_read(ra, buf, n); /* TLS records for OpenSSL, or no guard */
}

typedef int (*ssl_read_fn)(SSL *ssl, void *buf, int num);

static ssl_read_fn real_ssl_read(void)
{
	static ssl_read_fn f;

	if (!f)
		*(void **)&f = dlsym(RTLD_NEXT, "SSL_read");
	return f;
}

/* OpenSSL's SSL_read as the source of a TLS socket's guard; <last> keeps what it returned. */
struct ssl_src {
	SSL *ssl;
	int last;
};

static ssize_t ssl_src_read(void *ctx, void *buf, size_t n)
{
	struct ssl_src *s = ctx;

	s->last = real_ssl_read()(s->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (s->last > 0)
		return s->last;
	errno = EAGAIN; /* what it was, SSL_get_error tells libmosquitto */
	return s->last < 0 ? -1 : 0;
}

/*
 * libmosquitto reads MQTT from a TLS broker with SSL_read: the worker defines it too, so that
 * the framing guard sees those bytes as read() sees a plain socket's. A failure of OpenSSL's
 * own is returned as it was, so SSL_get_error says what it says; a refusal of the guard
 * returns -1 after a successful read, which SSL_get_error calls SSL_ERROR_SYSCALL, and
 * libmosquitto drops the connection. Any other SSL object is OpenSSL's business alone.
 */
int SSL_read(SSL *ssl, void *buf, int num)
{
	int fd = SSL_get_fd(ssl);
	struct mm_wrk_ra *ra = fd >= 0 && fd < RA_FDS ? ra_of_fd[fd] : NULL;
	struct ssl_src s = { .ssl = ssl, .last = -1 };
	ssize_t r;

	if (!ra || !ra->frame || !ra->frame_tls || num <= 0)
		return real_ssl_read()(ssl, buf, num);
	r = mm_wrk_frame_read(ra->frame, ssl_src_read, &s, buf, (size_t)num);
	if (r > 0)
		return (int)r;
	return ra->frame->refused ? -1 : s.last;
}

void mm_wrk_ra_init(struct mm_wrk_ra *ra)
{
	*ra = (struct mm_wrk_ra){ .fd = -1 };
}

int mm_wrk_ra_attach(struct mm_wrk_ra *ra, int fd, struct mm_wrk_frame *frame, bool tls)
{
	mm_wrk_ra_detach(ra);
	if (fd < 0 || fd >= RA_FDS)
		return frame ? -ERANGE : 0; /* read straight, without the guard */
	if (!ra->buf && !(ra->buf = malloc(MM_WRK_RA_SIZE)))
		return -ENOMEM;
	ra->frame = frame;
	ra->frame_tls = tls;
	if (frame)
		mm_wrk_frame_reset(frame);
	ra->fd = fd;
	ra_of_fd[fd] = ra;
	return 0;
}

void mm_wrk_ra_detach(struct mm_wrk_ra *ra)
{
	if (ra->fd >= 0 && ra_of_fd[ra->fd] == ra)
		ra_of_fd[ra->fd] = NULL;
	if (ra->frame)
		mm_wrk_frame_reset(ra->frame);
	ra->frame = NULL;
	ra->fd = -1;
	ra->head = ra->tail = 0;
	ra->drained = false;
}

void mm_wrk_ra_rearm(struct mm_wrk_ra *ra)
{
	ra->drained = false;
}

bool mm_wrk_ra_pending(const struct mm_wrk_ra *ra)
{
	return ra->fd >= 0 &&
	       (ra->head < ra->tail || (ra->frame && mm_wrk_frame_pending(ra->frame)));
}

void mm_wrk_ra_free(struct mm_wrk_ra *ra)
{
	mm_wrk_ra_detach(ra);
	free(ra->buf);
	ra->buf = NULL;
}
