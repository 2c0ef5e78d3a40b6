/* SPDX-License-Identifier: MIT */
/*
 * Parse once (DESIGN.md §5, docs/operations.md "The config file is read once"), with the real
 * mqttmuxd, workers and router on a mosquitto broker on loopback:
 *
 * - the config file overwritten with garbage, then a worker killed with -9: it is ready again
 *   at once (under 2 s), on the config that was validated; SIGHUP with the garbage is refused
 *   with file:line and nothing restarts;
 * - sessions with password_file, on a broker that checks the passwords (so the workers did get
 *   them): no secret byte in the router's memory (/proc/<router>/mem, every readable mapping),
 *   in any command line or environment, nor in state_dir after `add`; no child has the config
 *   file or a password file open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm_time.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

#define WAIT_MS 30000
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BACK_MS 10000 /* a sanitized worker starts far slower */
/*
 * A sanitized router maps terabytes readable (shadow, allocator space) and keeps its heap in
 * them: reading it all through /proc/<pid>/mem takes hours. The plain build scans.
 */
#define SCAN	false
#else
#define BACK_MS 2000
#define SCAN	true
#endif

static char *Dir, *Run, *Cfg, *Log, *Sock;
static pid_t Daemon;
static struct t_broker B;

static void setup(void)
{
	t_daemon_setup("parse-once", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, &Cfg, NULL });
}

TestSuite(parse_once, .init = setup, .fini = teardown, .timeout = 120);

static void ctl_ok(const char *line, int ms)
{
	t_ctl_ok(Sock, line, ms);
}

static void start_daemon(void)
{
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, WAIT_MS), "control socket never answered");
	ctl_ok("wait * 20\n", WAIT_MS);
}

/* Does <path> hold <needle>? */
static bool file_has(const char *path, const char *needle)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(path, "re");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

static bool log_has(void *needle)
{
	return file_has(Log, needle);
}

struct back {
	pid_t old;
};

/* Session a has a new worker process, and it is ready. */
static bool a_is_back(void *ud)
{
	struct back *b = ud;
	pid_t now = t_daemon_child(Daemon, "a");
	char *reply;
	bool ready;

	if (now <= 0 || now == b->old)
		return false;
	reply = t_ctl_command(Sock, "wait a 0\n");
	ready = reply && strstr(reply, "\"ready\":true");
	free(reply);
	return ready;
}

/* Mosquitto logs "New client connected from ... as <id>": how often for <id>? */
static int broker_connects(const char *id)
{
	char line[1024], as[128];
	int n = 0;
	FILE *f = fopen(B.log_path, "re");

	snprintf(as, sizeof(as), " as %s ", id);
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "New client connected") && strstr(line, as);
	if (f)
		fclose(f);
	return n;
}

Test(parse_once, garbage_on_disk_then_kill9_comes_back_on_the_validated_config)
{
	static const char garbage[] = "# overwritten by mistake\n"
				      "runtime_dir = \"/nowhere\";\n"
				      "sessions = ( { name = ; } );\n";
	char where[600], *text, *reply;
	struct back b;
	int64_t t0, took;
	pid_t router;

	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = ( { name = \"a\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"po-validated\"; keepalive = 17; } );\n",
			      Run, Dir, B.port),
		     0);
	t_write_text(Cfg, text);
	free(text);
	start_daemon();
	router = t_daemon_child(Daemon, NULL);
	b.old = t_daemon_child(Daemon, "a");
	cr_assert(router > 0 && b.old > 0);
	t_write_text(Cfg, garbage);
	t0 = mm_time_mono_ms();
	cr_assert_eq(kill(b.old, SIGKILL), 0);
	cr_assert(t_wait_for(a_is_back, &b, WAIT_MS), "session a did not come back");
	took = mm_time_mono_ms() - t0;
	cr_log_info("kill -9 to ready again: %lld ms", (long long)took);
	cr_expect_leq(took, BACK_MS, "ready again after %lld ms", (long long)took);
	cr_expect_geq(broker_connects("po-validated"), 2,
		      "the new worker is not on the old config");

	/* SIGHUP with the garbage: refused with file and line, nothing restarts */
	b.old = t_daemon_child(Daemon, "a");
	snprintf(where, sizeof(where), "reload: %s:3:", Cfg);
	cr_assert_eq(kill(Daemon, SIGHUP), 0);
	cr_expect(t_wait_for(log_has, where, WAIT_MS), "no '%s' in the log", where);
	cr_expect(
		t_wait_for(log_has, (void *)"reload failed: keeping the running config", WAIT_MS));
	reply = t_ctl_command(Sock, "reload\n");
	snprintf(where, sizeof(where), "%s:3:", Cfg);
	cr_expect(reply && strstr(reply, where), "reload reply without '%s': %s", where,
		  reply ? reply : "(none)");
	free(reply);
	ctl_ok("wait * 5\n", WAIT_MS);
	cr_expect_eq(t_daemon_child(Daemon, "a"), b.old, "the worker was restarted");
	cr_expect_eq(t_daemon_child(Daemon, NULL), router, "the router was restarted");
	t_daemon_stop(&Daemon);
}

/* ---- secrets ---- */

#define N_SECRET 3

struct secrets {
	char pw[N_SECRET][48];	  /* the passwords: random, found nowhere else */
	char file[N_SECRET][512]; /* their password_file */
	char probe[64];		  /* a session name the router must hold: the scan works */
};

static void random_text(char *buf, size_t len, const char *prefix)
{
	uint8_t r[16];
	size_t n = (size_t)snprintf(buf, len, "%s", prefix);

	cr_assert_eq(getrandom(r, sizeof(r), 0), (ssize_t)sizeof(r));
	for (size_t i = 0; i < sizeof(r) && n + 2 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%02x", r[i]);
}

/* A broker that checks user u<i>'s password i (made with mosquitto_passwd). */
static void start_checking_broker(const struct secrets *s)
{
	char *pwfile, *cmd, *extra;
	struct t_broker_opts o = { 0 };

	cr_assert_gt(asprintf(&pwfile, "%s/broker.pw", Dir), 0);
	for (int i = 0; i < N_SECRET; i++) {
		cr_assert_gt(asprintf(&cmd, "mosquitto_passwd %s -b '%s' u%d '%s'", i ? "" : "-c",
				      pwfile, i, s->pw[i]),
			     0);
		cr_assert_eq(system(cmd), 0, "%s failed", cmd);
		free(cmd);
	}
	cr_assert_gt(asprintf(&extra, "allow_anonymous false\npassword_file %s", pwfile), 0);
	o.extra_conf = extra;
	cr_assert_eq(t_broker_start(&B, &o), 0);
	free(extra);
	free(pwfile);
}

static char *secret_session(const struct secrets *s, int i, const char *name)
{
	char *block;

	cr_assert_gt(asprintf(&block,
			      "{ name = \"%s\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"po-%d\"; username = \"u%d\"; password_file = \"%s\";"
			      " protocol = \"%s\"; }",
			      name, B.port, i, i, s->file[i], i % 2 ? "5" : "3.1.1"),
		     0);
	return block;
}

/* Passwords, their files (0600), the broker that checks them, and the config (p0, probe). */
static void secrets_setup(struct secrets *s)
{
	char *p0, *p1, *text;

	for (int i = 0; i < N_SECRET; i++) {
		random_text(s->pw[i], sizeof(s->pw[i]), "Pw-");
		snprintf(s->file[i], sizeof(s->file[i]), "%s/pass%d", Dir, i);
		t_write_text(s->file[i], s->pw[i]);
		cr_assert_eq(chmod(s->file[i], 0600), 0);
	}
	random_text(s->probe, sizeof(s->probe), "probe-");
	start_checking_broker(s);
	p0 = secret_session(s, 0, "p0");
	p1 = secret_session(s, 1, s->probe);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = ( %s, %s );\n",
			      Run, Dir, p0, p1),
		     0);
	t_write_text(Cfg, text);
	free(text);
	free(p0);
	free(p1);
}

/* Bytes <needle> in the readable memory of <pid> (every mapping of /proc/<pid>/maps)? */
static bool memory_has(pid_t pid, const char *needle)
{
	char path[64], line[512];
	size_t nl = strlen(needle), cap = 1u << 20;
	char *buf = malloc(cap + nl);
	bool found = false;
	FILE *maps;
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(maps && mem >= 0 && buf, "cannot read the memory of %d", pid);
	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		for (unsigned long at = lo; !found && at < hi; at += cap) {
			size_t want = hi - at > cap ? cap : hi - at;
			ssize_t n = pread(mem, buf, want + (hi - at > want ? nl : 0), (off_t)at);

			if (n <= 0)
				break; /* [vvar] and the like cannot be read */
			found = memmem(buf, (size_t)n, needle, nl) != NULL;
		}
	}
	fclose(maps);
	close(mem);
	free(buf);
	return found;
}

/* /proc/<pid>/<what> (cmdline, environ) holds <needle>? */
static bool proc_file_has(pid_t pid, const char *what, const char *needle)
{
	char path[64], buf[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "cannot open %s", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0 && memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

/* Has <pid> a descriptor open on <path>? */
static bool has_open(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	cr_assert_not_null(d);
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = !strcmp(target, path);
		}
	}
	closedir(d);
	return found;
}

/* Every file of <dir> that holds <needle> is reported; returns how many. */
static int files_with(const char *dir, const char *needle)
{
	struct dirent *e;
	char path[PATH_MAX];
	int n = 0;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_REG && file_has(path, needle)) {
			cr_log_error("%s holds a password", path);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

Test(parse_once, no_secret_outside_the_workers)
{
	static struct secrets s;
	pid_t procs[8];
	char *block, *text, *path, line[600];
	int n = 0;

	secrets_setup(&s);
	start_daemon(); /* every session ready: the broker took each worker's password */
	block = secret_session(&s, 2, "p2");
	cr_assert_gt(asprintf(&text, "session = %s;\n", block), 0);
	cr_assert_gt(asprintf(&path, "%s/p2.cfg", Dir), 0);
	t_write_text(path, text);
	snprintf(line, sizeof(line), "add %s\n", path);
	ctl_ok(line, WAIT_MS);
	ctl_ok("wait p2 20\n", WAIT_MS);
	procs[n++] = Daemon;
	procs[n++] = t_daemon_child(Daemon, NULL);
	procs[n++] = t_daemon_child(Daemon, "p0");
	procs[n++] = t_daemon_child(Daemon, s.probe);
	procs[n++] = t_daemon_child(Daemon, "p2");
	for (int i = 0; i < n; i++)
		cr_assert_gt(procs[i], 0, "process %d not found", i);
	cr_expect(!SCAN || memory_has(procs[1], s.probe), "the scan misses the router's sessions");
	for (int k = 0; k < N_SECRET; k++) {
		cr_expect(!SCAN || !memory_has(procs[1], s.pw[k]), "password %d in the router", k);
		for (int i = 0; i < n; i++) {
			cr_expect(!proc_file_has(procs[i], "cmdline", s.pw[k]),
				  "password %d in the command line of %d", k, procs[i]);
			cr_expect(!proc_file_has(procs[i], "environ", s.pw[k]),
				  "password %d in the environment of %d", k, procs[i]);
			if (i == 0)
				continue; /* the supervisor reads them; the children must not */
			cr_expect(!has_open(procs[i], Cfg), "%d has the config file open",
				  procs[i]);
			cr_expect(!has_open(procs[i], s.file[k]), "%d has password file %d open",
				  procs[i], k);
		}
		cr_expect_eq(files_with(Run, s.pw[k]), 0);
	}
	snprintf(line, sizeof(line), "%s/state", Dir);
	for (int k = 0; k < N_SECRET; k++)
		cr_expect_eq(files_with(line, s.pw[k]), 0);
	free(block);
	free(text);
	free(path);
	t_daemon_stop(&Daemon);
}
