/* SPDX-License-Identifier: MIT */
/*
 * The processes bench-restart and bench-scale measure: a private mosquitto on a free 127.0.0.1
 * port and mqttmuxd on it (bench-restart: with one session), both in a fresh temp dir, plus the
 * control socket (one kept-open connection, one command and one reply line at a time).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b_restart.h"

#define MOSQUITTO "/usr/sbin/mosquitto"

void b_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A fresh temp dir named <name>.XXXXXX under $TMPDIR or /tmp. 0 or -errno. */
int b_env_init(struct b_env *e, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	memset(e, 0, sizeof(*e));
	e->ctl = -1;
	if (asprintf(&e->dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name) < 0) {
		e->dir = NULL;
		return -ENOMEM;
	}
	return mkdtemp(e->dir) ? 0 : -errno;
}

/* A port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -errno;

	if (fd < 0)
		return port;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	else
		port = -errno;
	close(fd);
	return port;
}

/* Write <text> to <e->dir>/<name>. 0 or -errno. */
static int write_file(const struct b_env *e, const char *name, const char *text)
{
	char path[512];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", e->dir, name);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	rc = fputs(text, f) < 0 ? -EIO : 0;
	return fclose(f) ? -errno : rc;
}

/* Fork, send stdout+stderr to <e->dir>/<log>, set <env>=<val> (if not NULL) and exec <argv>. */
static pid_t spawn(const struct b_env *e, const char *log, const char *env, const char *val,
		   const char *const *argv)
{
	char path[512];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", e->dir, log);
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		if (env)
			setenv(env, val, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid < 0 ? -errno : pid;
}

/* Until a TCP connect() to the broker succeeds, or B_START_S. 0, -ESRCH or -ETIMEDOUT. */
static int wait_listener(const struct b_env *e)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)e->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t deadline = mm_time_mono_ns() + B_START_S * 1000000000ull;

	while (mm_time_mono_ns() < deadline) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

		if (fd < 0)
			return -errno;
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (rc == 0)
			return 0;
		if (waitpid(e->broker, NULL, WNOHANG) == e->broker)
			return -ESRCH;
		b_sleep_ns(2000000);
	}
	return -ETIMEDOUT;
}

/* mosquitto on <e->dir>/mosquitto.conf, its log appended to mosquitto.log; once it listens. */
static int broker_spawn(struct b_env *e)
{
	char path[512];
	const char *argv[] = { MOSQUITTO, "-c", path, NULL };

	snprintf(path, sizeof(path), "%s/mosquitto.conf", e->dir);
	e->broker = spawn(e, "mosquitto.log", NULL, NULL, argv);
	if (e->broker < 0)
		return e->broker;
	return wait_listener(e);
}

int b_broker_start(struct b_env *e)
{
	char conf[512];
	int rc;

	e->port = free_port();
	if (e->port < 0)
		return e->port;
	snprintf(conf, sizeof(conf), "%slistener %d 127.0.0.1\nallow_anonymous true\n",
		 geteuid() == 0 ? "user root\n" : "", e->port);
	rc = write_file(e, "mosquitto.conf", conf);
	return rc ? rc : broker_spawn(e);
}

static void stop(pid_t *pid);

/* Stop the broker (SIGTERM: its clients see the connection close), wait <down_ns>, start it
 * again on the same port. 0 once it listens, or -errno. */
int b_broker_restart(struct b_env *e, uint64_t down_ns)
{
	stop(&e->broker);
	b_sleep_ns(down_ns);
	return broker_spawn(e);
}

/* Connect to <e->dir>/run/control.sock until it answers, or B_START_S. 0 or -errno. */
static int ctl_connect(struct b_env *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = mm_time_mono_ns() + B_START_S * 1000000000ull;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/run/control.sock", e->dir);
	while (mm_time_mono_ns() < deadline) {
		e->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (e->ctl < 0)
			return -errno;
		if (connect(e->ctl, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		close(e->ctl);
		e->ctl = -1;
		if (waitpid(e->daemon, NULL, WNOHANG) == e->daemon)
			return -ESRCH;
		b_sleep_ns(2000000);
	}
	return -ETIMEDOUT;
}

/*
 * Write <cfg> to <e->dir>/mqttmux.cfg and start mqttmuxd on it (MQTTMUX_WORKER=<worker>), its
 * log in mqttmuxd.log; returns once its control socket answers: 0 or -errno.
 */
int b_daemon_start_cfg(struct b_env *e, const char *mqttmuxd, const char *worker, const char *cfg)
{
	char path[512];
	const char *argv[] = { mqttmuxd, "-c", path, "-f", NULL };
	int rc = write_file(e, "mqttmux.cfg", cfg);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/mqttmux.cfg", e->dir);
	e->daemon = spawn(e, "mqttmuxd.log", "MQTTMUX_WORKER", worker, argv);
	if (e->daemon < 0)
		return e->daemon;
	return ctl_connect(e);
}

int b_daemon_start(struct b_env *e, const char *mqttmuxd, const char *worker)
{
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
		 "runtime_dir = \"%s/run\";\nstate_dir = \"%s/state\";\n"
		 /* A kill every ~1.1 s: no crash-loop mark (burst per window). */
		 "restart = { burst = 1000; window = 10.0; };\n"
		 "sessions = ( { name = \"" B_SESSION "\";"
		 " brokers = [ \"tcp://127.0.0.1:%d\" ]; client_id = \"bench-restart\";\n"
		 "  subscriptions = ( { topic = \"" B_FILTER "\"; qos = 1; } ); } );\n",
		 e->dir, e->dir, e->port);
	return b_daemon_start_cfg(e, mqttmuxd, worker, cfg);
}

/* Read into e->buf until it holds a whole line, or <deadline> (CLOCK_MONOTONIC). 0 or -errno. */
static int ctl_fill_line(struct b_env *e, uint64_t deadline)
{
	while (!memchr(e->buf, '\n', e->len)) {
		struct pollfd p = { .fd = e->ctl, .events = POLLIN };
		uint64_t now = mm_time_mono_ns();
		ssize_t got;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) == -1 && errno != EINTR)
			return -errno;
		if (!p.revents)
			continue;
		got = read(e->ctl, e->buf + e->len, sizeof(e->buf) - e->len);
		if (got == 0 || (got < 0 && errno == ECONNRESET))
			return -EPIPE;
		if (got < 0 || e->len + (size_t)got >= sizeof(e->buf))
			return got < 0 ? -errno : -EPROTO;
		e->len += (size_t)got;
	}
	return 0;
}

/* One command and its reply on the kept connection. 0, -EPIPE (closed) or -errno. */
static int ctl_once(struct b_env *e, const char *cmd, char *reply, size_t size, uint64_t deadline)
{
	size_t n = strlen(cmd);
	char *nl;
	int rc;

	if (e->ctl < 0)
		return -EPIPE;
	if (send(e->ctl, cmd, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    send(e->ctl, "\n", 1, MSG_NOSIGNAL) != 1)
		return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -EIO;
	rc = ctl_fill_line(e, deadline);
	if (rc)
		return rc;
	nl = memchr(e->buf, '\n', e->len);
	*nl = '\0';
	snprintf(reply, size, "%s", e->buf);
	e->len -= (size_t)(nl + 1 - e->buf);
	memmove(e->buf, nl + 1, e->len);
	/* The daemon's last words on a connection it closes for idling (clients.control_timeout).
	 */
	return strstr(reply, "idle for more than") ? -EPIPE : 0;
}

/*
 * Send <cmd> (one line, no newline) and read its one-line reply into <reply>, within
 * <timeout_ns>. The daemon closes a connection that ran no command for
 * clients.control_timeout (30 s by default), as between two phases of a bench: a connection
 * found closed is opened again and the command sent once more. 0 or -errno (-ETIMEDOUT).
 */
int b_ctl_within(struct b_env *e, const char *cmd, char *reply, size_t size, uint64_t timeout_ns)
{
	uint64_t deadline = mm_time_mono_ns() + timeout_ns;
	int rc = ctl_once(e, cmd, reply, size, deadline);

	if (rc != -EPIPE)
		return rc;
	if (e->ctl >= 0)
		close(e->ctl);
	e->ctl = -1;
	e->len = 0;
	rc = ctl_connect(e);
	return rc ? rc : ctl_once(e, cmd, reply, size, deadline);
}

/* b_ctl_within() for a command the daemon answers at once: B_CTL_S. */
int b_ctl(struct b_env *e, const char *cmd, char *reply, size_t size)
{
	return b_ctl_within(e, cmd, reply, size, B_CTL_S * 1000000000ull);
}

/* The session's worker pid from `status` (0: none running), or -errno. */
pid_t b_status_pid(struct b_env *e)
{
	char reply[4096], *p;
	int rc = b_ctl(e, "status", reply, sizeof(reply));
	long pid;

	if (rc)
		return rc;
	p = strstr(reply, "\"pid\"");
	if (!p || !(p = strchr(p, ':')) || sscanf(p + 1, " %ld", &pid) != 1)
		return -EPROTO;
	return (pid_t)pid;
}

static void stop(pid_t *pid)
{
	uint64_t deadline = mm_time_mono_ns() + 6000000000ull;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (waitpid(*pid, NULL, WNOHANG) != *pid && mm_time_mono_ns() < deadline)
		b_sleep_ns(5000000);
	if (mm_time_mono_ns() >= deadline) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	(void)(flag == FTW_DP ? rmdir(path) : unlink(path));
	return 0;
}

/* Stop the daemon and the broker; remove the temp dir unless <keep> (it then holds the logs). */
void b_env_free(struct b_env *e, bool keep)
{
	if (e->ctl >= 0)
		close(e->ctl);
	e->ctl = -1;
	stop(&e->daemon);
	stop(&e->broker);
	if (e->dir && !keep)
		(void)nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (e->dir)
		fprintf(stderr, "bench: logs kept in %s\n", e->dir);
	free(e->dir);
	e->dir = NULL;
}
