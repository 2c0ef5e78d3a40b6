/* SPDX-License-Identifier: MIT */
/*
 * The control-socket client (see ctl_io.h): connect, send one line, read one reply within a
 * deadline, parse it with json-c, and turn the daemon's error replies into -errno values.
 */
#include "ctl_io.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mm_time.h"
#include "mqttmux.h"

/* <dir>, else $MQTTMUX_RUNTIME_DIR if set and not empty, else MQTTMUX_DEFAULT_DIR. */
const char *mm_ctl_io_dir(const char *dir)
{
	const char *env;

	if (dir && dir[0])
		return dir;
	env = getenv(MM_CTL_DIR_ENV);
	return env && env[0] ? env : MQTTMUX_DEFAULT_DIR;
}

/* Connect to <dir>/control.sock. Returns the socket or -errno, with <err> saying why. */
int mm_ctl_io_connect(const char *dir, char *err, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, MM_CTL_SOCK_NAME) >=
	    sizeof(sa.sun_path)) {
		snprintf(err, size, "cannot connect to %.300s/%s: %s", dir, MM_CTL_SOCK_NAME,
			 strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	r = -errno;
	if (fd >= 0)
		close(fd);
	snprintf(err, size, "cannot connect to %s: %s%s", sa.sun_path, strerror(-r),
		 r == -ENOENT || r == -ECONNREFUSED ? " (is mqttmuxd running? see -d)" : "");
	return r;
}

/* Send all of <buf>. Returns 0 or -errno. */
/*
 * The daemon answers a peer it refuses (access) at once and closes: the command may then fail
 * to go out (EPIPE, ECONNRESET) while the reason waits to be read. Read it all the same.
 */
static bool refused_early(int r)
{
	return r == -EPIPE || r == -ECONNRESET;
}

int mm_ctl_io_send(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send all of <buf>, the descriptor <pass_fd> (SCM_RIGHTS) with its first byte when it is not
 * -1: `add` gives the daemon the session file the client opened, never its name alone.
 */
int mm_ctl_io_send_fd(int fd, const char *buf, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *h;
	ssize_t n;

	if (pass_fd < 0 || !len)
		return mm_ctl_io_send(fd, buf, len);
	memset(&u, 0, sizeof(u));
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -errno;
	return mm_ctl_io_send(fd, buf + n, len - (size_t)n);
}

/* Where a metrics reply ends: just after its "# EOF" line, or NULL if not there yet. */
static const char *metrics_end(const char *buf, size_t len)
{
	const char *p;

	const size_t n = sizeof(MM_CTL_METRICS_END) - 1;

	if (len >= n && !memcmp(buf, MM_CTL_METRICS_END, n))
		return buf;
	p = memmem(buf, len, "\n" MM_CTL_METRICS_END, n + 1);
	return p ? p + 1 : NULL;
}

/* The end of the reply in <buf>: its newline (JSON), or the "# EOF" line (metrics text). */
static const char *reply_end(const char *buf, size_t len, bool metrics)
{
	if (!metrics || (len && buf[0] == '{'))
		return memchr(buf, '\n', len);
	return metrics_end(buf, len);
}

/*
 * Read one reply within <timeout_ms>: a NUL-terminated malloc'd string in *ret (the newline or,
 * for <metrics>, the "# EOF" line cut off), its length in *ret_len. With <metrics> a reply that
 * starts with '{' is an error line. Returns 0 or -errno (*ret then NULL).
 */
int mm_ctl_io_read(int fd, int timeout_ms, bool metrics, char **ret, size_t *ret_len)
{
	int64_t deadline = mm_time_mono_ms() + timeout_ms;
	size_t len = 0, cap = 0;
	bool reset = false;
	char *buf = NULL;
	int r = 0;

	*ret = NULL;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mm_time_mono_ms();
		const char *end;
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = cap < MM_CTL_REPLY_MAX
					   ? realloc(buf, cap = cap ? 2 * cap : 65536)
					   : NULL;

			if (!nb) {
				r = cap < MM_CTL_REPLY_MAX ? -ENOMEM : -EMSGSIZE;
				break;
			}
			buf = nb;
		}
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			r = -ETIMEDOUT;
			break;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		/*
		 * The daemon closed with our command unread (a refused peer): the kernel reports
		 * ECONNRESET once, then hands over what the daemon had sent. Read on once.
		 */
		if (n == -1 && errno == ECONNRESET && !reset) {
			reset = true;
			continue;
		}
		if (n <= 0) {
			r = n == 0 ? -ECONNRESET : -errno;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		end = reply_end(buf, len, metrics);
		if (end) {
			*ret_len = (size_t)(end - buf);
			buf[*ret_len] = '\0';
			*ret = buf;
			return 0;
		}
	}
	free(buf);
	return r;
}

/*
 * The -errno for an error reply of the daemon (the messages of supervisor/sup_ctl_cmd.c):
 * -ENOENT unknown or removed session, -ETIMEDOUT a wait timed out, -ENOTRECOVERABLE a session
 * failed for good, -ESHUTDOWN the daemon is stopping, -EEXIST a name the config file holds,
 * -EACCES a refused uid, -EAGAIN too many connections, -EOPNOTSUPP an unknown command, else
 * -EINVAL (a refused argument or file); -EIO when there is no message at all.
 */
int mm_ctl_io_errno(const char *msg)
{
	static const struct {
		const char *needle;
		int err;
	} map[] = {
		/* first: its text goes on with "if it was removed at run time" */
		{ "has a session of that name", EEXIST },
		{ "unknown session", ENOENT },
		{ "' was removed", ENOENT },
		{ "timeout after", ETIMEDOUT },
		{ "not restarted", ENOTRECOVERABLE },
		{ "is stopping", ESHUTDOWN },
		{ "unknown command", EOPNOTSUPP },
		{ "not implemented", EOPNOTSUPP },
		{ "No such file", ENOENT },
		{ "ermission denied", EACCES },
		{ "too many connections", EAGAIN },
	};

	for (size_t i = 0; msg && i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(msg, map[i].needle))
			return -map[i].err;
	return msg ? -EINVAL : -EIO;
}

/* The daemon's {"ok":false,"error":...}: its message into <res>->err; returns its -errno. */
static int daemon_error(struct mm_ctl_io_res *res)
{
	json_object *ok, *e = NULL;

	if (!json_object_is_type(res->json, json_type_object) ||
	    !json_object_object_get_ex(res->json, "ok", &ok) || json_object_get_boolean(ok))
		return 0;
	json_object_object_get_ex(res->json, "error", &e);
	snprintf(res->err, sizeof(res->err), "%s", e ? json_object_get_string(e) : "failed");
	return mm_ctl_io_errno(e ? res->err : NULL);
}

/*
 * mm_ctl_io_call - send <line> (ending in '\n') on a new connection and read the JSON reply
 *
 * Returns 0 with res->json and res->raw set, or -errno with res->err saying what went wrong:
 * no daemon (-ENOENT, -ECONNREFUSED...), no reply in time (-ETIMEDOUT), a reply that is not
 * JSON (-EPROTO), or the daemon's error (mm_ctl_io_errno; res->json then holds the reply,
 * e.g. its "problems"). Release <res> with mm_ctl_io_res_done in every case.
 */
int mm_ctl_io_call(const char *dir, const char *line, int timeout_ms, struct mm_ctl_io_res *res)
{
	return mm_ctl_io_call_fd(dir, line, -1, timeout_ms, res);
}

/* mm_ctl_io_call() sending <pass_fd> (if not -1) with the line: see mm_ctl_io_send_fd(). */
int mm_ctl_io_call_fd(const char *dir, const char *line, int pass_fd, int timeout_ms,
		      struct mm_ctl_io_res *res)
{
	size_t len = 0;
	int fd, r;

	memset(res, 0, sizeof(*res));
	fd = mm_ctl_io_connect(mm_ctl_io_dir(dir), res->err, sizeof(res->err));
	if (fd < 0)
		return fd;
	r = mm_ctl_io_send_fd(fd, line, strlen(line), pass_fd);
	if (r == 0 || refused_early(r))
		r = mm_ctl_io_read(fd, timeout_ms, false, &res->raw, &len);
	close(fd);
	if (r < 0) {
		snprintf(res->err, sizeof(res->err), "no reply from mqttmuxd: %s", strerror(-r));
		return r;
	}
	res->json = json_tokener_parse(res->raw);
	if (!res->json) {
		snprintf(res->err, sizeof(res->err), "the reply is not JSON: %.200s", res->raw);
		return -EPROTO;
	}
	return daemon_error(res);
}

void mm_ctl_io_res_done(struct mm_ctl_io_res *res)
{
	json_object_put(res->json);
	free(res->raw);
	res->json = NULL;
	res->raw = NULL;
}

/*
 * mm_ctl_io_metrics - the `metrics` reply: Prometheus text without its "# EOF" line
 *
 * Returns 0 with *text (malloc'd, NUL-terminated) and *len, or -errno with <err> saying why
 * (as mm_ctl_io_call).
 */
int mm_ctl_io_metrics(const char *dir, int timeout_ms, char **text, size_t *len, char *err,
		      size_t err_size)
{
	struct mm_ctl_io_res res = { 0 };
	int fd, r;

	*text = NULL;
	fd = mm_ctl_io_connect(mm_ctl_io_dir(dir), err, err_size);
	if (fd < 0)
		return fd;
	r = mm_ctl_io_send(fd, "metrics\n", 8);
	if (r == 0 || refused_early(r))
		r = mm_ctl_io_read(fd, timeout_ms, true, &res.raw, len);
	close(fd);
	if (r < 0) {
		snprintf(err, err_size, "no complete reply from mqttmuxd: %s", strerror(-r));
		return r;
	}
	if (res.raw[0] != '{') {
		*text = res.raw;
		return 0;
	}
	res.json = json_tokener_parse(res.raw);
	r = daemon_error(&res);
	snprintf(err, err_size, "%s", r < 0 ? res.err : "unexpected reply");
	mm_ctl_io_res_done(&res);
	return r < 0 ? r : -EPROTO;
}
