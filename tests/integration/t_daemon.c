/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the suites that run mqttmuxd as a process: see t_daemon.h.
 */
#include "t_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_helpers.h"
#include "t_proc.h"

/* Subreaper, a fresh <dir> named after <tag>, <dir>/mqttmuxd.log; <run>, <sock> if not NULL. */
void t_daemon_setup(const char *tag, char **dir, char **log, char **run, char **sock)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	*dir = t_tmpdir(tag);
	cr_assert_not_null(*dir);
	cr_assert_gt(asprintf(log, "%s/mqttmuxd.log", *dir), 0);
	if (run)
		cr_assert_gt(asprintf(run, "%s/run", *dir), 0);
	if (sock)
		cr_assert_gt(asprintf(sock, "%s/control.sock", *run), 0);
}

void t_daemon_dump_log(const char *log)
{
	char line[512];
	FILE *f = log ? fopen(log, "re") : NULL;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

/* Kill -9 a daemon still running (and show its log), then reap every child left. */
void t_daemon_kill(pid_t *daemon, const char *log)
{
	if (*daemon > 0) {
		kill(*daemon, SIGKILL);
		waitpid(*daemon, NULL, 0);
		t_daemon_dump_log(log);
	}
	*daemon = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

void t_daemon_teardown(pid_t *daemon, const char *log, struct t_broker *b, const char *dir)
{
	t_daemon_kill(daemon, log);
	t_broker_free(b);
	t_rmtree(dir);
}

void t_daemon_free_paths(char **const paths[])
{
	for (; *paths; paths++) {
		free(**paths);
		**paths = NULL;
	}
}

pid_t t_daemon_start_v311_v5(const char *daemon, const char *worker, const char *router,
			     const char *dir, const char *log, int port, const char *tag,
			     const char *extra)
{
	char *cfg, *sock, *text;
	pid_t pid;

	cr_assert_gt(asprintf(&cfg, "%s/mqttmux.cfg", dir), 0);
	cr_assert_gt(asprintf(&sock, "%s/run/control.sock", dir), 0);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s/run\";\nstate_dir = \"%s/state\";\n%s\n"
			      "sessions = (\n"
			      "  { name = \"v311\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"%s-311\"; protocol = \"3.1.1\"; },\n"
			      "  { name = \"v5\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"%s-5\"; protocol = \"5\"; }\n);\n",
			      dir, dir, extra ? extra : "", port, tag, port, tag),
		     0);
	t_write_text(cfg, text);
	free(text);
	pid = t_daemon_spawn(daemon, cfg, log, worker, router, NULL);
	free(cfg);
	if (!t_wait_for(t_ctl_pongs, sock, 10000)) {
		free(sock);
		cr_assert_fail("control socket never answered");
	}
	free(sock);
	return pid;
}

/* Fork <daemon> -c <cfg> [<opt>] with its output appended to <log>; <router> may be NULL. */
pid_t t_daemon_spawn(const char *daemon, const char *cfg, const char *log, const char *worker,
		     const char *router, const char *opt)
{
	return t_daemon_spawn_nofile(daemon, cfg, log, worker, router, opt, NULL);
}

/* t_daemon_spawn, with RLIMIT_NOFILE set to <nofile> in the daemon (if not NULL). */
pid_t t_daemon_spawn_nofile(const char *daemon, const char *cfg, const char *log,
			    const char *worker, const char *router, const char *opt,
			    const struct rlimit *nofile)
{
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		if (nofile && setrlimit(RLIMIT_NOFILE, nofile) == -1)
			_exit(126);
		setenv("MQTTMUX_WORKER", worker, 1);
		if (router)
			setenv("MQTTMUX_ROUTER", router, 1);
		execl(daemon, "mqttmuxd", "-c", cfg, opt, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* SIGTERM the daemon: it must exit 0. */
void t_daemon_stop(pid_t *daemon)
{
	int st;

	cr_assert_eq(kill(*daemon, SIGTERM), 0);
	cr_assert_eq(waitpid(*daemon, &st, 0), *daemon);
	*daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
}

void t_write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
}

int t_ctl_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One reply line from <fd> within <ms>, malloc'd without its newline; NULL on EOF/timeout. */
char *t_ctl_read_reply(int fd, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	while (t_now_ns() < deadline && len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)((deadline - t_now_ns()) / 1000000 + 1)) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n')) {
			*strchr(buf, '\n') = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

void t_ctl_send(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Send one command on a fresh connection; the reply, or NULL. */
char *t_ctl_command(const char *sock, const char *line)
{
	int fd = t_ctl_connect(sock);
	char *r;

	if (fd < 0)
		return NULL;
	t_ctl_send(fd, line);
	r = t_ctl_read_reply(fd, 5000);
	close(fd);
	return r;
}

/*
 * Read <n> reply lines from <fd> within <ms> (commands sent at once on one connection): each
 * must be {"ok":true...}. Returns how many came before EOF or the deadline.
 */
int t_ctl_read_oks(int fd, int n, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	char buf[8192];
	size_t len = 0;
	int got = 0;

	while (got < n && t_now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t r;

		if (poll(&p, 1, (int)((deadline - t_now_ns()) / 1000000 + 1)) <= 0)
			continue;
		r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			cr_assert(strstr(buf, "\"ok\":true"), "reply %d: %s", got + 1, buf);
			got++;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		cr_assert_lt(len, sizeof(buf) - 1, "reply line too long");
	}
	return got;
}

/* <line> on the control socket <sock> must answer {"ok":true...} within <ms>. */
void t_ctl_ok(const char *sock, const char *line, int ms)
{
	int fd = t_ctl_connect(sock);
	char *reply;

	cr_assert_geq(fd, 0, "no control socket %s", sock);
	t_ctl_send(fd, line);
	reply = t_ctl_read_reply(fd, ms);
	close(fd);
	cr_assert(reply && strstr(reply, "\"ok\":true"), "'%s' failed: %s", line,
		  reply ? reply : "(no reply)");
	free(reply);
}

/* For t_wait_for: the control socket <sock> (a char *) answers ping. */
bool t_ctl_pongs(void *sock)
{
	char *r = t_ctl_command(sock, "ping\n");
	bool ok = r && strstr(r, "pong");

	free(r);
	return ok;
}

static void drain(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* Run <cli> with -d <run> and <args> (NULL-terminated); stdout in <out>, stderr in <err>. */
int t_cli(const char *cli, const char *run, char *out, size_t osize, char *err, size_t esize,
	  const char *const *args)
{
	const char *argv[16] = { "mqttmux", "-d", run };
	int po[2], pe[2], st, n = 3;
	pid_t pid;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(cli, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], out, osize);
	drain(pe[0], err, esize);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `mqttmux status --json`, parsed: an array. */
json_object *t_status_json(const char *cli, const char *run)
{
	char out[65536], err[4096];
	json_object *a;

	cr_assert_eq(t_cli(cli, run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "status", "--json", NULL }),
		     0, "%s", err);
	a = json_tokener_parse(out);
	cr_assert_not_null(a, "not JSON: %s", out);
	cr_assert(json_object_is_type(a, json_type_array), "%s", out);
	return a;
}

/* The row of session <name> in a `status --json` array, or NULL. */
json_object *t_json_row(json_object *a, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *r = json_object_array_get_idx(a, i), *n;

		if (json_object_object_get_ex(r, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return r;
	}
	return NULL;
}

/* A loopback TCP port that refuses connections: bound, never listening, kept in *fd. */
int t_refused_port(int *fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(*fd, 0);
	cr_assert_eq(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* See t_proc_child (tests/common/t_proc.h). */
pid_t t_daemon_child(pid_t daemon, const char *session)
{
	return t_proc_child(daemon, session);
}
