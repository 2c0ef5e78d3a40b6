/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: the world a scenario runs in. A private directory, a private mosquitto on
 * loopback, mqttmuxd with sessions s0..s<n-1> (each on lg/<i> at QoS 1, protocols 3.1.1 and
 * 5 alternating), and child processes that die with the driver (PR_SET_PDEATHSIG), so a
 * scenario killed by meson's timeout leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqttmux.h"
#include "sc.h"
#include "t_helpers.h"

#define BROKER_CONF                                                                          \
	"max_queued_messages 0\nmax_inflight_messages 0\nlog_type error\nlog_type warning\n" \
	"log_type notice\nlog_type information\nlog_type debug\n"

uint64_t sc_now_ns(void)
{
	return t_now_ns();
}

uint64_t sc_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sc_sleep_until(uint64_t mono_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(mono_ns / 1000000000ull),
			       .tv_nsec = (long)(mono_ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

bool sc_wait(bool (*cond)(void *ud), void *ud, int ms)
{
	return t_wait_for(cond, ud, ms);
}

void sc_note(const struct sc_env *e, const char *fmt, ...)
{
	va_list ap;

	printf("# %s: ", e->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void sc_fail(struct sc_env *e, const char *fmt, ...)
{
	va_list ap;

	printf("# %s: FAILED: ", e->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	e->broke = true;
}

char *sc_path(const struct sc_env *e, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", e->dir, name) < 0 ? NULL : p;
}

int sc_env_init(struct sc_env *e, const char *name, bool long_form, const char *out)
{
	*e = (struct sc_env){ .name = name, .long_form = long_form };
	e->dir = t_tmpdir(name);
	if (!e->dir)
		return -errno;
	e->run = sc_path(e, "run");
	e->state = sc_path(e, "state");
	e->log = sc_path(e, "mqttmuxd.log");
	e->cfg_path = sc_path(e, "mqttmux.cfg");
	e->out = strdup(out ? out : e->dir);
	if (!e->run || !e->state || !e->log || !e->cfg_path || !e->out)
		return -ENOMEM;
	if (mkdir(e->run, 0700) == -1 || mkdir(e->state, 0700) == -1 ||
	    (mkdir(e->out, 0755) == -1 && errno != EEXIST))
		return -errno;
	return 0;
}

/* Copy the broker's log into the run's directory, which outlives the broker's. */
static void keep_broker_log(const struct sc_env *e)
{
	char *dst = sc_path(e, "broker.log.txt"), buf[65536];
	FILE *in = e->broker.log_path ? fopen(e->broker.log_path, "re") : NULL;
	FILE *out = in && dst ? fopen(dst, "we") : NULL;
	size_t n;

	while (out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	if (out)
		fclose(out);
	if (in)
		fclose(in);
	free(dst);
}

void sc_env_done(struct sc_env *e)
{
	bool keep = e->broke || getenv("MQTTMUX_SCENARIO_KEEP");

	sc_daemon_stop(e);
	sc_kill(&e->proxy);
	if (keep)
		keep_broker_log(e);
	t_broker_free(&e->broker);
	if (!keep)
		t_rmtree(e->dir);
	else
		sc_note(e, "kept %s", e->dir);
	free(e->dir);
	free(e->run);
	free(e->state);
	free(e->log);
	free(e->cfg_path);
	free(e->out);
	free(e->proxy_sock);
	free(e->proxy_events);
}

int sc_broker_start(struct sc_env *e, bool persistence)
{
	struct t_broker_opts o = { .persistence = persistence, .extra_conf = BROKER_CONF };

	return t_broker_start(&e->broker, &o);
}

/* Fork and exec <argv> with stdout and stderr appended to <log> (NULL: inherited). */
pid_t sc_spawn(const struct sc_env *e, const char *const *argv, const char *log)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(127);
	if (log) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
	}
	setenv("MQTTMUX_WORKER", MQTTMUX_WORKER_PATH, 1);
	setenv("MQTTMUX_ROUTER", MQTTMUX_ROUTER_PATH, 1);
	setenv("MQTTMUX_RUNTIME_DIR", e->run, 1);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Wait for <pid> at most <ms>. Returns its wait status, or -ETIMEDOUT (still running). */
int sc_reap(pid_t pid, int ms)
{
	uint64_t end = sc_now_ns() + (uint64_t)ms * 1000000ull;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r == -1)
			return -errno;
		if (sc_now_ns() >= end)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

void sc_kill(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	(void)waitpid(*pid, NULL, 0);
	*pid = 0;
}

static void write_session(FILE *f, const struct sc_env *e, const struct sc_cfg *c, int i)
{
	int port = c->via_proxy ? e->proxy_port : e->broker.port;

	fprintf(f,
		"  { name = \"s%d\"; brokers = [ \"tcp://127.0.0.1:%d\" ]; client_id = \"sc-%s-s%d\";"
		" protocol = \"%s\"; keepalive = %d; persistent = %s;",
		i, port, e->name, i, i % 2 ? "5" : "3.1.1", c->keepalive ? c->keepalive : 60,
		c->persistent ? "true" : "false");
	if (c->rc_initial > 0)
		fprintf(f, " reconnect = { initial = %g; max = %g; };", c->rc_initial, c->rc_max);
	fprintf(f, " subscriptions = ( { topic = \"lg/%d\"; qos = 1; } ); }%s\n", i,
		i + 1 < c->sessions ? "," : "");
}

static int write_config(struct sc_env *e, const struct sc_cfg *c)
{
	FILE *f = fopen(e->cfg_path, "we");

	if (!f)
		return -errno;
	fprintf(f, "runtime_dir = \"%s\";\nstate_dir = \"%s\";\n%s\nsessions = (\n", e->run,
		c->state_dir ? c->state_dir : e->state, c->extra ? c->extra : "");
	for (int i = 0; i < c->sessions; i++)
		write_session(f, e, c, i);
	fprintf(f, ");\n");
	return fclose(f) == 0 ? 0 : -errno;
}

/* Write the config for <cfg> and start mqttmuxd (not waiting for it). Returns 0 or -errno. */
int sc_daemon_start(struct sc_env *e, const struct sc_cfg *cfg)
{
	const char *argv[] = { MQTTMUXD_PATH, "-c", e->cfg_path, NULL };
	int rc;

	if (cfg)
		e->cfg = *cfg;
	rc = write_config(e, &e->cfg);
	if (rc < 0)
		return rc;
	e->daemon = sc_spawn(e, argv, e->log);
	return e->daemon > 0 ? 0 : -errno;
}

/* Every session and the router ready (mqttmux wait), within <ms>. Returns 0 or -errno. */
int sc_daemon_wait_ready(struct sc_env *e, int ms)
{
	uint64_t end = sc_now_ns() + (uint64_t)ms * 1000000ull;
	int rc;

	do {
		rc = mqttmux_wait_all_sessions(e->run, 1000);
		if (rc == 0)
			return 0;
		usleep(20000);
	} while (sc_now_ns() < end);
	return rc;
}

/* SIGTERM, at most 30 s, then SIGKILL. */
void sc_daemon_stop(struct sc_env *e)
{
	if (e->daemon <= 0)
		return;
	kill(e->daemon, SIGTERM);
	if (sc_reap(e->daemon, 30000) == -ETIMEDOUT) {
		sc_fail(e, "mqttmuxd did not stop within 30 s of SIGTERM");
		sc_kill(&e->daemon);
	}
	e->daemon = 0;
}

void sc_daemon_kill9(struct sc_env *e)
{
	sc_kill(&e->daemon);
}

/* One control command (<line> without its newline); the reply line, malloc'd, or NULL. */
char *sc_ctl(const struct sc_env *e, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t len = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", e->run);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    dprintf(fd, "%s\n", line) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, SC_WAIT_MS) != 1 ||
		    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return len ? strdup(buf) : NULL;
}
