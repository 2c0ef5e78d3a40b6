/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the metrics integration suite (test_metrics.c): a real broker and mqttmuxd with
 * two sessions, the control socket, a plain libmosquitto publisher, promtool and a raw HTTP
 * client.
 */
#include "t_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

struct t_broker B;
char *Dir, *Cfg, *Log, *Run, *Sock, *Prom;
pid_t Daemon;
int Http_port;

void setup(void)
{
	t_daemon_setup("met", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&Prom, "%s/prom/mqttmux.prom", Dir), 0);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	free(Prom);
	Dir = Cfg = Log = Run = Sock = Prom = NULL;
	Http_port = 0;
}

/* Sessions "one" (subscribed to t/#) and "two.b-x" (persistent); a textfile if <textfile>. */
void write_config(bool textfile)
{
	write_config_with(textfile, "", "");
}

/* As write_config, with <sess> in both sessions and <extra> (top-level settings) at the end. */
void write_config_with(bool textfile, const char *sess, const char *extra)
{
	char *text, *mdir, http[64] = "";

	cr_assert_gt(asprintf(&mdir, "%s/prom", Dir), 0);
	cr_assert_eq(mkdir(mdir, 0755), 0);
	free(mdir);
	if (Http_port)
		snprintf(http, sizeof(http), "http = \"127.0.0.1:%d\";", Http_port);
	cr_assert_gt(
		asprintf(
			&text,
			"runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			"metrics = { %s%s%s %s };\n"
			"sessions = (\n"
			"  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"met-one\"; subscriptions = ( { topic = \"t/#\"; qos = 1; } );"
			" %s },\n"
			"  { name = \"two.b-x\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"met-two\"; persistent = true; clean_session = false; %s }\n);\n"
			"%s\n",
			Run, Dir, textfile ? "textfile = \"" : "", textfile ? Prom : "",
			textfile ? "\";" : "", http, B.port, sess, B.port, sess, extra),
		0);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
}

/* Send <line>; read until <end> is in the reply (or EOF/timeout). Malloc'd text, or NULL. */
char *request(const char *line, const char *end)
{
	uint64_t deadline = t_now_ns() + 5000000000ull;
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	int fd = t_ctl_connect(Sock);

	cr_assert_not_null(buf);
	if (fd < 0 || send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		goto fail;
	buf[0] = '\0';
	while (t_now_ns() < deadline && len < cap - 1 && !strstr(buf, end)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	if (strstr(buf, end)) {
		close(fd);
		return buf;
	}
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

char *metrics(void)
{
	char *m = request("metrics\n", END);

	cr_assert_not_null(m, "no metrics reply");
	return m;
}

/* Value of the sample "<name>{session="<session>"}" (or "<name>" if session is NULL). */
double value(const char *text, const char *name, const char *session)
{
	char key[256];
	const char *p;

	if (session)
		snprintf(key, sizeof(key), "\n%s{session=\"%s\"} ", name, session);
	else
		snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(text, key);
	cr_assert_not_null(p, "no sample %s", key + 1);
	return strtod(p + strlen(key), NULL);
}

bool ready(void *ud)
{
	char *r = request("wait * 1\n", "\n");
	bool ok = r && strstr(r, "\"ready\":true");

	(void)ud;
	free(r);
	return ok;
}

void start_daemon(void)
{
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(ready, NULL, 15000), "sessions never became ready");
}

void stop_daemon(void)
{
	t_daemon_stop(&Daemon);
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	(*(int *)ud)++;
}

/* Publish <n> QoS 1 messages "hello" to t/x with a plain libmosquitto client. */
void publish(int n)
{
	uint64_t deadline = t_now_ns() + 5000000000ull;
	struct mosquitto *m;
	int acked = 0;

	mosquitto_lib_init();
	m = mosquitto_new("met-pub", true, &acked);
	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, on_publish);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	for (int i = 0; i < n; i++)
		cr_assert_eq(mosquitto_publish(m, NULL, "t/x", 5, "hello", 1, false), 0);
	while (acked < n && t_now_ns() < deadline)
		mosquitto_loop(m, 50, 1);
	cr_assert_eq(acked, n);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
}

pid_t worker_of(const char *session)
{
	return t_daemon_child(Daemon, session);
}

pid_t router_of(void)
{
	return t_daemon_child(Daemon, NULL);
}

bool logged(void *ud)
{
	char line[1024];
	FILE *f = fopen(Log, "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, ud) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* promtool check metrics on <text>; its exit status, its output in <out>. */
int promtool_check(const char *text, size_t len, char *out, size_t cap)
{
	char path[] = "/tmp/mm-metrics-XXXXXX";
	int fd = mkstemp(path), p[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fd, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execl(PROMTOOL, "promtool", "check", "metrics", (char *)NULL);
		_exit(127);
	}
	close(fd);
	close(p[1]);
	while (got + 1 < cap && (n = read(p[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "promtool died: %d", status);
	return WEXITSTATUS(status);
}

/*
 * promtool check metrics accepts <text> (a `metrics` reply; its "# EOF" line is cut off, as
 * the CLI prints it): it parses and passes the linter, exit 0.
 */
void expect_promtool_ok(char *text)
{
	char out[8192], *end = strstr(text, END);
	int rc;

	if (end)
		end[1] = '\0';
	rc = promtool_check(text, strlen(text), out, sizeof(out));
	cr_expect_eq(rc, 0, "promtool exit %d: %s", rc, out);
}

int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

int http_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(0x7f000001),
				  .sin_port = htons((uint16_t)Http_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send <req> (len bytes), read the whole response until EOF (at most <ms>). Malloc'd. */
char *http_get(const char *req, size_t len, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	size_t got = 0, cap = 1 << 20;
	char *buf = calloc(1, cap);
	int fd = http_connect();

	cr_assert_not_null(buf);
	(void)send(fd, req, len, MSG_NOSIGNAL);
	while (t_now_ns() < deadline && got < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return buf;
}

/* The child: connect, then publish on absolute deadlines. Never returns. */
static void pace_run(struct pace *p, const char *topic, unsigned rate, unsigned secs)
{
	uint64_t step = 1000000000ull / rate, t0, due;
	unsigned total = rate * secs;
	struct mosquitto *m;
	struct timespec ts;

	mosquitto_lib_init();
	m = mosquitto_new(NULL, true, NULL);
	if (!m || !t_mosq_connect(m, "127.0.0.1", B.port, 60, 30000))
		_exit(2);
	t0 = t_now_ns();
	for (unsigned i = 0; i < total && i < PACE_MAX; i++) {
		due = t0 + i * step;
		ts.tv_sec = (time_t)(due / 1000000000ull);
		ts.tv_nsec = (long)(due % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		if (mosquitto_publish(m, NULL, topic, 1, "x", 0, false) != MOSQ_ERR_SUCCESS)
			_exit(3);
		p->ts[i] = t_now_ns();
		atomic_store_explicit(&p->n, i + 1, memory_order_release);
		if (i % 64 == 0)
			(void)mosquitto_loop(m, 0, 1); /* flush what the socket did not take */
	}
	(void)mosquitto_loop(m, 100, 1);
	mosquitto_disconnect(m);
	_exit(0);
}

struct pace *pace_start(const char *topic, unsigned rate, unsigned secs)
{
	struct pace *p =
		mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	cr_assert_neq(p, MAP_FAILED);
	cr_assert_leq(rate * secs, PACE_MAX);
	pid = fork(); /* not into p->pid: the child would overwrite it with 0 (shared) */
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		pace_run(p, topic, rate, secs);
	}
	p->pid = pid;
	return p;
}

/* Messages that went out in (from_ns, to_ns]. */
unsigned pace_count(const struct pace *p, uint64_t from_ns, uint64_t to_ns)
{
	unsigned n = atomic_load_explicit(&p->n, memory_order_acquire), c = 0;

	for (unsigned i = 0; i < n; i++)
		c += p->ts[i] > from_ns && p->ts[i] <= to_ns;
	return c;
}

/* Wait for the publisher to finish its run (the suite's timeout bounds it), then unmap. */
void pace_done(struct pace *p)
{
	int st = 0;

	cr_assert_eq(waitpid(p->pid, &st, 0), p->pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "publisher failed: status %d", st);
	munmap(p, sizeof(*p));
}
