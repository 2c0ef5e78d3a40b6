/* SPDX-License-Identifier: MIT */
/*
 * Start, stop, kill and restart a private mosquitto broker for tests (see t_broker.h). The
 * broker is a real /usr/sbin/mosquitto child process: we write its config, fork+exec it with its
 * output appended to a log file, and consider it up once it has logged "running" and a connect()
 * to its listener succeeds. All waits are bounded with t_wait_for(); every child is reaped. Not
 * for production code: errors are reported on stderr, because a failed fixture is only useful
 * with the broker's log.
 */
#include "t_broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

#define MOSQUITTO_BIN "/usr/sbin/mosquitto"
#define PORT_TRIES    5

union sock_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_un un;
};

/*
 * Bind 127.0.0.1:0 and read back the port the kernel chose. The probe socket is closed again,
 * so another process may take the port before mosquitto binds it; t_broker_start() retries.
 */
static int pick_port(int *ret_port)
{
	union sock_addr a = { .in = { .sin_family = AF_INET } };
	socklen_t len = sizeof(a.in);
	int fd, r = 0;

	a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, &a.sa, sizeof(a.in)) == -1 || getsockname(fd, &a.sa, &len) == -1)
		r = -errno;
	else
		*ret_port = ntohs(a.in.sin_port);
	close(fd);
	return r;
}

/* One connect() to the broker's listener; 0 if it was accepted, else -errno. */
static int probe_listener(const struct t_broker *b)
{
	union sock_addr a = { .sa = { .sa_family = AF_UNIX } };
	socklen_t len = sizeof(a.un);
	int fd, r = 0;

	if (b->sock_path) {
		memcpy(a.un.sun_path, b->sock_path, strlen(b->sock_path) + 1);
	} else {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons((uint16_t)b->port);
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(a.in);
	}
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, &a.sa, len) == -1)
		r = -errno;
	close(fd);
	return r;
}

/* Reap the broker if it has ended (or wait for it, without WNOHANG). True once it is gone. */
static bool reap(struct t_broker *b, int flags)
{
	pid_t r;

	if (!b->pid)
		return true;
	do
		r = waitpid(b->pid, &b->wstatus, flags);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return false;
	/* r == -1 (ECHILD) means someone else reaped it: gone all the same. */
	b->pid = 0;
	return true;
}

static bool broker_gone(void *ud)
{
	return reap(ud, WNOHANG);
}

/*
 * True once the current run's log says "mosquitto version ... running": mosquitto prints it
 * after every listener is open. A connect() alone is not proof, because a process that took
 * our port would accept it while our broker is failing to bind.
 */
static bool log_says_running(const struct t_broker *b)
{
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	f = fopen(b->log_path, "re");
	if (!f)
		return false;
	if (fseeko(f, b->log_off, SEEK_SET) == 0)
		while (!found && getline(&line, &cap, f) != -1)
			found = strstr(line, "mosquitto version") && strstr(line, " running");
	free(line);
	fclose(f);
	return found;
}

/* Start-up is settled when the broker is up and accepting, or when it has already exited. */
static bool broker_settled(void *ud)
{
	struct t_broker *b = ud;

	if (log_says_running(b) && probe_listener(b) == 0)
		return true;
	return reap(b, WNOHANG);
}

/*
 * Runs in the forked child: only async-signal-safe calls. The broker dies with us (PDEATHSIG),
 * so a test killed by a criterion timeout leaves no broker behind.
 */
static _Noreturn void exec_broker(char *conf, int logfd, pid_t parent)
{
	char arg0[] = "mosquitto", arg1[] = "-c";
	char *argv[] = { arg0, arg1, conf, NULL };
	sigset_t none;
	int nullfd;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd == -1 || dup2(nullfd, 0) == -1 || dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
		_exit(127);
	/* Test clients' sockets and criterion's pipes must not live on in the broker. */
	(void)close_range(3, ~0u, 0);
	execv(MOSQUITTO_BIN, argv);
	_exit(127);
}

/* fork+exec mosquitto with our config, output appended to the log. Sets pid and log_off. */
static int spawn(struct t_broker *b)
{
	pid_t parent = getpid(), pid;
	struct stat st;
	int logfd, r = 0;

	logfd = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd == -1)
		return -errno;
	if (fstat(logfd, &st) == -1) {
		r = -errno;
		goto out_close;
	}
	b->log_off = st.st_size;
	pid = fork();
	if (pid == 0)
		exec_broker(b->conf_path, logfd, parent);
	if (pid == -1)
		r = -errno;
	else
		b->pid = pid;
out_close:
	close(logfd);
	return r;
}

/* Spawn and wait until the listener accepts. Returns 0, -ESRCH, -ETIMEDOUT or -errno. */
static int launch(struct t_broker *b)
{
	int r;

	r = spawn(b);
	if (r)
		return r;
	if (!t_wait_for(broker_settled, b, T_BROKER_START_MS)) {
		(void)t_broker_kill9(b);
		return -ETIMEDOUT;
	}
	return b->pid ? 0 : -ESRCH;
}

/* Copy the broker log to stderr after a failed start, so the test output says why. */
static void report_failure(const struct t_broker *b, int r)
{
	char buf[4096];
	size_t n;
	FILE *f;

	fprintf(stderr, "t_broker: mosquitto on '%s' failed to start: %s (wait status 0x%x)\n",
		b->host, strerror(-r), (unsigned)b->wstatus);
	f = fopen(b->log_path, "re");
	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", b->log_path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		(void)fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of broker log ----\n");
	fclose(f);
}

static void write_listener(FILE *f, const struct t_broker *b, const struct t_broker_opts *o)
{
	if (b->sock_path)
		fprintf(f, "listener 0 %s\n", b->sock_path);
	else
		fprintf(f, "listener %d 127.0.0.1\n", b->port);
	if (o->certfile) {
		if (o->cafile)
			fprintf(f, "cafile %s\n", o->cafile);
		fprintf(f, "certfile %s\nkeyfile %s\n", o->certfile, o->keyfile);
		fprintf(f, "require_certificate %s\n", o->require_certificate ? "true" : "false");
	}
}

/* (Re)write <dir>/mosquitto.conf for the current port or socket. */
static int write_conf(const struct t_broker *b, const struct t_broker_opts *o)
{
	FILE *f;
	int r = 0;

	f = fopen(b->conf_path, "we");
	if (!f)
		return -errno;
	/* As root, mosquitto drops to user mosquitto, which cannot write our 0700 temp dir. */
	if (geteuid() == 0)
		fputs("user root\n", f);
	/* One log_type per line: mosquitto 2.0 ignores anything after the first word. */
	fputs("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", f);
	fputs("log_type information\nlog_type subscribe\n", f);
	fputs("allow_anonymous true\n", f);
	fprintf(f, "persistence %s\n", o->persistence ? "true" : "false");
	fprintf(f, "persistence_location %s\n", b->dir);
	write_listener(f, b, o);
	if (o->extra_conf)
		fprintf(f, "%s\n", o->extra_conf);
	if (ferror(f))
		r = -EIO;
	if (fclose(f) == EOF && !r)
		r = -errno;
	return r;
}

static int check_opts(const struct t_broker_opts *o)
{
	if ((unsigned)o->listener >= _T_BROKER_LISTENER_MAX)
		return -EINVAL;
	if (!o->certfile != !o->keyfile)
		return -EINVAL;
	if (o->require_certificate && (!o->certfile || !o->cafile))
		return -EINVAL;
	return 0;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Fill in the temp dir and every path; nothing is started yet. */
static int broker_init(struct t_broker *b, const struct t_broker_opts *o)
{
	union sock_addr a;

	memset(b, 0, sizeof(*b));
	b->tls = o->certfile != NULL;
	b->dir = t_tmpdir("broker");
	if (!b->dir)
		return errno ? -errno : -ENOMEM;
	b->conf_path = path_in(b->dir, "mosquitto.conf");
	b->log_path = path_in(b->dir, "broker.log");
	if (o->listener == T_BROKER_UNIX) {
		b->sock_path = path_in(b->dir, "broker.sock");
		b->host = b->sock_path ? strdup(b->sock_path) : NULL;
	} else {
		b->host = strdup("127.0.0.1");
	}
	if (!b->conf_path || !b->log_path || !b->host)
		return -ENOMEM;
	if (b->sock_path && strlen(b->sock_path) >= sizeof(a.un.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/*
 * True if a TCP broker that exited early may have lost its port: another process can take it
 * between pick_port() and mosquitto's bind(). Mosquitto 2.0 exits 1 when it cannot open a
 * listener ("Error: Address already in use") and 3 on a config error, which is not retried.
 */
static bool lost_port_race(const struct t_broker *b, int r)
{
	return r == -ESRCH && !b->sock_path && WIFEXITED(b->wstatus) &&
	       WEXITSTATUS(b->wstatus) == 1;
}

/* Write the config (on a fresh port for TCP) and launch, up to PORT_TRIES times for TCP. */
static int first_launch(struct t_broker *b, const struct t_broker_opts *o)
{
	int tries = 0, r;

	do {
		r = b->sock_path ? 0 : pick_port(&b->port);
		if (!r)
			r = write_conf(b, o);
		if (r)
			return r;
		r = launch(b);
	} while (lost_port_race(b, r) && ++tries < PORT_TRIES);
	if (r)
		report_failure(b, r);
	return r;
}

int t_broker_start(struct t_broker *b, const struct t_broker_opts *o)
{
	static const struct t_broker_opts defaults;
	int r;

	if (!o)
		o = &defaults;
	r = check_opts(o);
	if (r)
		return r;
	r = broker_init(b, o);
	if (!r)
		r = first_launch(b, o);
	if (r)
		t_broker_free(b);
	return r;
}

int t_broker_kill9(struct t_broker *b)
{
	if (!b || !b->pid)
		return 0;
	if (kill(b->pid, SIGKILL) == -1 && errno != ESRCH)
		return -errno;
	(void)reap(b, 0);
	return 0;
}

int t_broker_stop(struct t_broker *b)
{
	int r;

	if (!b || !b->pid)
		return 0;
	if (kill(b->pid, SIGTERM) == -1 && errno != ESRCH)
		return -errno;
	if (t_wait_for(broker_gone, b, T_BROKER_STOP_MS))
		return 0;
	r = t_broker_kill9(b);
	return r ? r : -ETIMEDOUT;
}

int t_broker_restart(struct t_broker *b)
{
	int r;

	if (!b || !b->conf_path)
		return -EINVAL;
	r = t_broker_stop(b);
	if (r && r != -ETIMEDOUT)
		return r;
	r = launch(b);
	if (r)
		report_failure(b, r);
	return r;
}

int t_broker_restart_with(struct t_broker *b, const struct t_broker_opts *o)
{
	int r;

	if (!b || !b->conf_path || !o || check_opts(o))
		return -EINVAL;
	if ((o->listener == T_BROKER_UNIX) != (b->sock_path != NULL))
		return -EINVAL;
	r = t_broker_stop(b);
	if (r && r != -ETIMEDOUT)
		return r;
	r = write_conf(b, o);
	if (r)
		return r;
	b->tls = o->certfile != NULL;
	return t_broker_restart(b);
}

void t_broker_free(struct t_broker *b)
{
	if (!b)
		return;
	(void)t_broker_stop(b);
	if (b->dir)
		t_rmtree(b->dir);
	free(b->host);
	free(b->sock_path);
	free(b->dir);
	free(b->conf_path);
	free(b->log_path);
	memset(b, 0, sizeof(*b));
}
