/* SPDX-License-Identifier: MIT */
/*
 * `mqttmuxd --check` as an operator runs it, on a table of broken config files
 * (tests/data/cfg/broken/): each must exit 78 with a message carrying "file:line" and the key.
 * Each file's first line says the same ("# expect LINE: KEY ..."), and the table must list every
 * file there. A good config, with every group and a private password file, exits 0.
 *
 * Each case runs on a copy in a private temp dir: relative paths in a config resolve against
 * its directory, and world-readable.pass gets mode 0644 there (git does not keep modes).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "t_helpers.h"

#define BROKEN_DIR MQTTMUX_TEST_DATA "/cfg/broken"

struct broken {
	const char *file;
	int line;
	const char *key; /* as the message names it */
};

static const struct broken broken[] = {
	{ "01-unknown-top-key.cfg", 3, "colour" },
	{ "02-unknown-session-key.cfg", 5, "colour" },
	{ "03-unknown-nested-key.cfg", 5, "reconnect.colour" },
	{ "04-keepalive-string.cfg", 5, "keepalive" },
	{ "05-clean-session-int.cfg", 5, "clean_session" },
	{ "06-duplicate-name.cfg", 5, "name" },
	{ "07-name-bad-chars.cfg", 4, "name" },
	{ "08-name-65-chars.cfg", 4, "name" },
	{ "09-missing-brokers.cfg", 4, "brokers" },
	{ "10-missing-client-id.cfg", 4, "client_id" },
	{ "11-missing-name.cfg", 4, "name" },
	{ "12-bad-scheme.cfg", 5, "brokers[1]" },
	{ "13-bad-port.cfg", 5, "brokers[0]" },
	{ "14-missing-password-file.cfg", 5, "password_file" },
	{ "15-world-readable-password-file.cfg", 5, "password_file" },
	{ "16-missing-ca-file.cfg", 5, "tls.ca_file" },
	{ "17-bad-qos.cfg", 6, "subscriptions[1].qos" },
	{ "18-bad-filter.cfg", 5, "subscriptions[0].topic" },
	{ "19-will-wildcard.cfg", 5, "will.topic" },
	{ "20-ring-size-not-pow2.cfg", 5, "performance.ring_size" },
	{ "21-max-message-size-too-large.cfg", 6, "performance.max_message_size" },
	{ "22-bad-log-level.cfg", 3, "log_level" },
	{ "23-bad-on-full.cfg", 4, "clients.on_full" },
	{ "24-restart-burst-range.cfg", 3, "restart.burst" },
	{ "25-restart-max-below-initial.cfg", 4, "restart.max" },
	{ "26-syntax-error.cfg", 5, "syntax error" },
	{ "27-keepalive-range.cfg", 5, "keepalive" },
	{ "28-sessions-not-a-list.cfg", 2, "sessions" },
};

#define N_BROKEN (sizeof(broken) / sizeof(broken[0]))

static char *Dir;

static void setup(void)
{
	Dir = t_tmpdir("check");
	cr_assert_not_null(Dir);
}

static void teardown(void)
{
	t_rmtree(Dir);
	free(Dir);
	Dir = NULL;
}

TestSuite(check, .init = setup, .fini = teardown, .timeout = 30);

/* Write <text> to <Dir>/<name> with <mode>; returns the malloc'd path. */
static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	cr_assert_gt(asprintf(&path, "%s/%s", Dir, name), 0);
	f = fopen(path, "we");
	cr_assert_not_null(f, "%s", path);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

/* The whole of <path> as a malloc'd string. */
static char *read_all(const char *path)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = fopen(path, "re"), *m = open_memstream(&text, &size);
	int c;

	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(m);
	while ((c = getc(f)) != EOF)
		putc(c, m);
	fclose(f);
	cr_assert_eq(fclose(m), 0);
	return text;
}

/* Run `mqttmuxd --check -c <cfg>`; its stdout+stderr into <out>. Returns the exit status. */
static int run_check(const char *cfg, char *out, size_t size)
{
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(MQTTMUXD_PATH, "mqttmuxd", "--check", "-c", cfg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((size_t)got < size - 1 && (n = read(p[0], out + got, size - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

ParameterizedTestParameters(check, rejects_with_file_line_and_key)
{
	static int idx[N_BROKEN];

	for (size_t i = 0; i < N_BROKEN; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, N_BROKEN);
}

ParameterizedTest(int *i, check, rejects_with_file_line_and_key)
{
	const struct broken *b = &broken[*i];
	char src[512], at[256], out[8192], key[128];
	char *text, *cfg;

	snprintf(src, sizeof(src), "%s/%s", BROKEN_DIR, b->file);
	text = read_all(src);
	snprintf(at, sizeof(at), "# expect %d: %s", b->line, b->key);
	cr_expect_eq(strncmp(text, at, strlen(at)), 0, "%s: first line is not '%s'", b->file, at);
	cfg = write_file(b->file, text, 0644);
	free(write_file("world-readable.pass", "secret\n", 0644));
	free(text);

	cr_expect_eq(run_check(cfg, out, sizeof(out)), 78, "%s: %s", b->file, out);
	snprintf(at, sizeof(at), "%s:%d:", cfg, b->line);
	cr_expect_not_null(strstr(out, at), "%s: no '%s' in: %s", b->file, at, out);
	snprintf(key, sizeof(key), "'%s'", b->key);
	if (!strcmp(b->key, "syntax error")) /* libconfig's text: no key to quote */
		snprintf(key, sizeof(key), "%s", b->key);
	cr_expect_not_null(strstr(out, key), "%s: no %s in: %s", b->file, key, out);
	cr_expect_null(strstr(out, "config OK"), "%s: %s", b->file, out);
	free(cfg);
}

/* Every file in the data dir is in the table (a new case cannot be forgotten), and vice versa. */
Test(check, the_table_lists_every_broken_file)
{
	DIR *d = opendir(BROKEN_DIR);
	struct dirent *e;
	size_t files = 0;

	cr_assert_not_null(d, "%s", BROKEN_DIR);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), j = 0;

		if (len < 4 || strcmp(e->d_name + len - 4, ".cfg"))
			continue;
		files++;
		while (j < N_BROKEN && strcmp(broken[j].file, e->d_name))
			j++;
		cr_expect_lt(j, N_BROKEN, "%s is not in the table", e->d_name);
	}
	closedir(d);
	cr_expect_eq(files, N_BROKEN, "%zu files, %zu table rows", files, N_BROKEN);
	cr_expect_geq(N_BROKEN, 20);
}

Test(check, accepts_a_good_config)
{
	char out[4096];
	char *cfg;

	free(write_file("good.pass", "secret\n", 0600));
	cfg = write_file(
		"good.cfg",
		"runtime_dir = \"run\";\nstate_dir = \"state\";\nlog_level = \"debug\";\n"
		"clients = { allow_uids = [ 0 ]; ring_size = 4194304; on_full = \"block\"; };\n"
		"restart = { initial = 0.1; max = 30.0; burst = 5; window = 10.0; };\n"
		"sessions = (\n"
		"  { name = \"plant-1.a_b\"; brokers = [ \"tcp://127.0.0.1:1883\", \"mqtt://h\" ];\n"
		"    client_id = \"p\"; username = \"u\"; password_file = \"good.pass\";\n"
		"    protocol = \"5\"; keepalive = 65535; clean_session = false;\n"
		"    reconnect = { initial = 1.0; max = 120.0; factor = 2.0; jitter = 0.25; };\n"
		"    subscriptions = ( { topic = \"a/+/b/#\"; qos = 2; }, { topic = \"#\"; } );\n"
		"    will = { topic = \"status/p\"; payload = \"offline\"; qos = 1; retain = true; };\n"
		"    performance = { ring_size = 65536; max_message_size = 32703; }; },\n"
		"  { name = \"u\"; brokers = [ \"unix:///run/mosquitto.sock\" ]; client_id = \"u\"; }\n"
		");\n",
		0644);
	cr_expect_eq(run_check(cfg, out, sizeof(out)), 0, "%s", out);
	cr_expect_not_null(strstr(out, "config OK"), "%s", out);
	free(cfg);
}
