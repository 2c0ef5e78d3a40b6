/* SPDX-License-Identifier: MIT */
/*
 * The processes bench-e2e measures: a private mosquitto broker on 127.0.0.1 (unlimited
 * queues, as the integration tests configure it, so the broker drops nothing), and mqttmuxd
 * with one session "b" on it, subscribed to B_E2E_FILTER from its config so that the
 * subscription is in place (control socket `wait`) before any client registers. Also the
 * CPU time of a process from /proc/PID/stat.
 */
#include <dirent.h>
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

#include "b_e2e.h"
#include "b_worker.h"

#define MOSQUITTO_BIN "/usr/sbin/mosquitto"
#define START_MS      10000

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* A port nobody listens on right now (another process may take it before the broker). */
static int free_port(uint16_t *ret)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1)
		rc = -errno;
	close(fd);
	*ret = ntohs(a.sin_port);
	return rc;
}

static bool can_connect(int family, const void *addr, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && connect(fd, addr, len) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* fork + exec <argv> with stdout and stderr appended to <log>; <env> pairs set in the child. */
static pid_t spawn(const char *const argv[], const char *log, const char *const *env)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		for (; env && env[0]; env += 2)
			setenv(env[0], env[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid == -1 ? -errno : pid;
}

/* Create the temp dir, write mosquitto.conf and start the broker; wait until it accepts. */
int b_broker_start(struct b_stack *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char conf[4096], path[4096], log[4096];
	uint64_t deadline = mm_time_mono_ns() + START_MS * 1000000ull;
	int rc;

	s->dir = strdup("/tmp/mqttmux-bench-e2e-XXXXXX");
	if (!s->dir || !mkdtemp(s->dir))
		return -errno;
	if ((rc = free_port(&s->port)) < 0)
		return rc;
	snprintf(conf, sizeof(conf),
		 "listener %u 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n"
		 "max_queued_messages 0\npersistence false\nlog_dest stderr\n",
		 s->port);
	snprintf(path, sizeof(path), "%s/mosquitto.conf", s->dir);
	snprintf(log, sizeof(log), "%s/broker.log", s->dir);
	if ((rc = write_text(path, conf)) < 0)
		return rc;
	s->broker = spawn((const char *const[]){ MOSQUITTO_BIN, "-c", path, NULL }, log, NULL);
	if (s->broker < 0)
		return s->broker;
	a.sin_port = htons(s->port);
	while (!can_connect(AF_INET, &a, sizeof(a)))
		if (mm_time_mono_ns() > deadline || waitpid(s->broker, NULL, WNOHANG) == s->broker)
			return -ETIMEDOUT;
		else
			usleep(10000);
	return 0;
}

/* `wait * 10` on the control socket: 0 once every session is ready. */
static int wait_ready(const struct b_stack *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t deadline = mm_time_mono_ns() + START_MS * 1000000ull;
	char reply[512] = "";
	size_t got = 0;
	int fd = -1;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/control.sock", s->run);
	while (fd < 0 && mm_time_mono_ns() < deadline) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	if (fd < 0 || write(fd, "wait * 10\n", 10) != 10)
		goto fail;
	while (got < sizeof(reply) - 1 && !strchr(reply, '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, START_MS) != 1 ||
		    (n = read(fd, reply + got, sizeof(reply) - 1 - got)) <= 0)
			goto fail;
		got += (size_t)n;
		reply[got] = '\0';
	}
	close(fd);
	if (strstr(reply, "\"ready\":true"))
		return 0;
	fprintf(stderr, "bench-e2e: mqttmuxd not ready: %s", reply);
	return -ETIMEDOUT;
fail:
	if (fd >= 0)
		close(fd);
	return -ETIMEDOUT;
}

/* The child of <parent> whose command name is <comm>, or 0. */
static pid_t find_child(pid_t parent, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[64];
	pid_t found = 0;

	snprintf(want, sizeof(want), "(%s)", comm);
	while (d && !found && (e = readdir(d))) {
		char path[300], buf[512], name[64];
		int ppid;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !(f = fopen(path, "re")))
			continue;
		if (fgets(buf, sizeof(buf), f) &&
		    sscanf(buf, "%*d %63s %*c %d", name, &ppid) == 2 && ppid == parent &&
		    !strcmp(name, want))
			found = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* Write mqttmux.cfg, start mqttmuxd and wait until session "b" is subscribed. */
int b_daemon_start(struct b_stack *s)
{
	char cfg[4096], path[4096], log[4096];
	int rc;

	if (!s->run && asprintf(&s->run, "%s/run", s->dir) < 0)
		return -ENOMEM;
	snprintf(cfg, sizeof(cfg),
		 "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
		 "clients = { ring_size = %u; };\n"
		 "sessions = ( { name = \"b\"; brokers = [ \"tcp://127.0.0.1:%u\" ];"
		 " client_id = \"bench-e2e\";"
		 " subscriptions = ( { topic = \"%s\"; qos = 0; } );"
		 " performance = { latency_budget_us = %u; }; } );\n",
		 s->run, s->dir, s->ring, s->port, B_E2E_FILTER, s->budget_us);
	snprintf(path, sizeof(path), "%s/mqttmux.cfg", s->dir);
	snprintf(log, sizeof(log), "%s/mqttmuxd.log", s->dir);
	if ((rc = write_text(path, cfg)) < 0)
		return rc;
	s->daemon = spawn((const char *const[]){ MQTTMUXD_PATH, "-c", path, NULL }, log,
			  (const char *const[]){ "MQTTMUX_WORKER", MQTTMUX_WORKER_PATH,
						 "MQTTMUX_ROUTER", MQTTMUX_ROUTER_PATH, NULL });
	if (s->daemon < 0)
		return s->daemon;
	if ((rc = wait_ready(s)) < 0)
		return rc;
	for (int i = 0; i < 500 && !(s->router = find_child(s->daemon, "mqttmux-router")); i++)
		usleep(10000);
	s->worker = find_child(s->daemon, "mqttmux-worker");
	return s->router > 0 && s->worker > 0 ? 0 : -ESRCH;
}

void b_daemon_stop(struct b_stack *s)
{
	if (s->daemon > 0) {
		(void)kill(s->daemon, SIGTERM);
		(void)b_reap(s->daemon, 10000, NULL, NULL, NULL);
	}
	s->daemon = s->router = s->worker = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Stop everything, remove the temp dir (kept with $B_E2E_KEEP set, for its logs). */
void b_stack_free(struct b_stack *s)
{
	b_daemon_stop(s);
	if (s->broker > 0) {
		(void)kill(s->broker, SIGTERM);
		(void)b_reap(s->broker, 10000, NULL, NULL, NULL);
	}
	s->broker = 0;
	if (s->dir && !getenv("B_E2E_KEEP"))
		(void)nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(s->dir);
	free(s->run);
	s->dir = s->run = NULL;
}

/* utime + stime of <pid> in clock ticks (/proc/PID/stat fields 14 and 15). */
int b_cpu_ticks(pid_t pid, uint64_t *ret)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	FILE *f;
	int rc = -EIO;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) ==
		    2) {
		*ret = ut + st;
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* CPU time of <pid> (every thread) in ns, from its CPU-time clock: finer than the ticks. */
int b_cpu_ns(pid_t pid, uint64_t *ret)
{
	struct timespec t;
	clockid_t cid;

	if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &t) == -1)
		return -ESRCH;
	*ret = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
	return 0;
}

double b_tick_us(void)
{
	return 1e6 / (double)sysconf(_SC_CLK_TCK);
}
