/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text writer (common/metrics.c): golden texts from tests/data/metrics compared
 * byte for byte, escaping, number formatting, histograms, buffer limits, the rate helper, and
 * `promtool check metrics` on the rendered text when promtool is installed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "metrics.h"

#define PROMTOOL "/usr/bin/promtool"

static const double lat_bounds[] = { 0.0001, 0.001, 0.01, 0.1, 1 };
static const uint64_t lat_counts[] = { 5, 20, 3, 1, 0, 2 };
static const struct mm_metrics_hist lat = { lat_bounds, lat_counts, 5, 1.2345 };

/* Deliberately unsorted; "we\"ird\\name\nx" needs every label escape. */
static const struct mm_metrics_session sessions[] = {
	{ .name = "we\"ird\\name\nx",
	  .msgs_in = 7,
	  .bytes_in = 70,
	  .errors = 3,
	  .reconnects = 2,
	  .restarts = 1,
	  .pub_failed = 1,
	  .ring_size = 1048576,
	  .last_err_s = 1727604812.25,
	  .state = 5,
	  .failed = true,
	  .auto_reconnect = true },
	{ .name = "alpha",
	  .msgs_in = 1000,
	  .bytes_in = 64000,
	  .msgs_out = 10,
	  .bytes_out = 160,
	  .pub_ok = 10,
	  .ring_size = 1048576,
	  .ring_fill = 4096,
	  .ring_hwm = 65536,
	  .last_msg_s = 1727604812.123456,
	  .msg_rate = 1000.5,
	  .avg_msg_rate = 987.25,
	  .bytes_rate = 64032,
	  .state = 3,
	  .subscriptions = 2,
	  .connected = true,
	  .persistent = true,
	  .clean_session = false,
	  .auto_reconnect = true,
	  .dropped_oversize = 4,
	  .unrouted = 12,
	  .backend = "io_uring" },
};

static const struct mm_metrics_client clients[] = {
	{ "dash", 100, 90, 6, 2, 4, 4242, 0, 3, 4194304, 4194304 },
	{ "archiver", 1010, 1010, 0, 0, 0, 77, 2, 1, 0, 8388608 },
	{ "dash", 5, 5, 0, 0, 0, 4242, 1, 1, 128, 4194304 },
};

static const struct mm_metrics_router router = {
	1007, 1110, 3, 1, 6, 2, 9, 5, 1, 1, 12, { 10, 1, 0, 0, 1, 0 }, 2, { 1, 2, 3, 0, 4, 0 },
};

/* Deliberately unsorted: the text lists them by kind, then session. */
static const struct mm_metrics_process procs[] = {
	{ "worker", "alpha", 4300, 12.5, 1727600000.25, 4194304, 12582912, 16, 1024 },
	{ "supervisor", NULL, 4242, 0.75, 1727600000, 3145728, 8388608, 23, 1024 },
	{ "worker", "we\"ird\\name\nx", 4301, 0.01, 1727600100.5, 4096000, 12500000, 15, 1024 },
	{ "router", NULL, 4299, 3.25, 1727600000.125, 2097152, 10485760, 14, 1024 },
};

static const struct mm_metrics_reload reload = { 3, 1, false, 1727603000.5 };

static const struct mm_metrics_input full = {
	.sessions = sessions,
	.nsessions = 2,
	.clients = clients,
	.nclients = 3,
	.router = &router,
	.latency = &lat,
	.retired_msgs = 100,
	.retired_bytes = 1000,
	.retired_errors = 1,
	.retired_reconnects = 1,
	.uptime_s = 3600.5,
	.version = "0.1.0",
	.procs = procs,
	.nprocs = 4,
	.reload = &reload,
};

static char *golden_load(const char *name, size_t *ret_len)
{
	char path[512], *data;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/metrics/%s", MM_TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	data = calloc(1, (size_t)len + 1);
	cr_assert_not_null(data);
	cr_assert_eq(fread(data, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*ret_len = (size_t)len;
	return data;
}

static void render_dyn(const struct mm_metrics_input *in, struct mm_metrics_buf *b)
{
	mm_metrics_buf_init_dyn(b);
	cr_assert_eq(mm_metrics_render(b, in), 0);
}

static void expect_golden(const struct mm_metrics_buf *b, const char *name)
{
	size_t len;
	char *want = golden_load(name, &len);

	cr_expect_eq(b->len, len, "%s: length %zu, golden %zu", name, b->len, len);
	cr_expect_str_eq(b->data, want, "%s differs", name);
	free(want);
}

Test(common_metrics, renders_full_input_as_golden_text)
{
	struct mm_metrics_buf b;

	render_dyn(&full, &b);
	expect_golden(&b, "full.txt");
	mm_metrics_buf_done(&b);
}

Test(common_metrics, renders_empty_input_as_golden_text)
{
	struct mm_metrics_input in = { .uptime_s = 0.25, .version = "0.1.0" };
	struct mm_metrics_buf b;

	render_dyn(&in, &b);
	expect_golden(&b, "empty.txt");
	mm_metrics_buf_done(&b);
}

Test(common_metrics, renders_histogram_with_labels_as_golden_text)
{
	struct mm_metrics_label l = { "session", "a\"b" };
	struct mm_metrics_buf b;

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_family(&b, "t_latency_seconds", MM_METRICS_HISTOGRAM, "Help with \\ and\nline.");
	mm_metrics_histogram(&b, "t_latency_seconds", &l, 1, &lat);
	cr_assert_eq(mm_metrics_buf_err(&b), 0);
	expect_golden(&b, "histogram.txt");
	mm_metrics_buf_done(&b);
}

Test(common_metrics, escapes_label_values_and_help)
{
	struct mm_metrics_label l[2] = { { "a", "q\"b\\n\nz" }, { "b", "" } };
	struct mm_metrics_buf b;

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_family(&b, "x", MM_METRICS_GAUGE, "h \"q\" \\ \n.");
	mm_metrics_sample_u64(&b, "x", l, 2, 1);
	cr_assert_eq(mm_metrics_buf_err(&b), 0);
	cr_expect_str_eq(b.data, "# HELP x h \"q\" \\\\ \\n.\n# TYPE x gauge\n"
				 "x{a=\"q\\\"b\\\\n\\nz\",b=\"\"} 1\n");
	mm_metrics_buf_done(&b);
}

static void expect_fmt(double v, const char *want)
{
	char buf[40];
	size_t n = mm_metrics_fmt_f64(buf, sizeof(buf), v);

	cr_expect_str_eq(buf, want, "fmt(%.17g) = %s, want %s", v, buf, want);
	cr_expect_eq(n, strlen(want));
}

Test(common_metrics, formats_numbers_as_prometheus_parses_them)
{
	expect_fmt(0.0, "0");
	expect_fmt(-0.0, "0");
	expect_fmt(1.0, "1");
	expect_fmt(-2.0, "-2");
	expect_fmt(1000.5, "1000.5");
	expect_fmt(0.1, "0.1");
	expect_fmt(1.0 / 3.0, "0.3333333333333333");
	expect_fmt(1.5e-7, "1.5e-07");
	expect_fmt(1e300, "1e+300");
	expect_fmt(9007199254740991.0, "9007199254740991");
	expect_fmt(9007199254740992.0, "9007199254740992");
	expect_fmt(1727604812.123456, "1727604812.123456");
	expect_fmt(5e-324, "4.94065645841247e-324");
	expect_fmt((double)INFINITY, "+Inf");
	expect_fmt(-(double)INFINITY, "-Inf");
	expect_fmt((double)NAN, "NaN");
}

Test(common_metrics, round_trips_every_formatted_double)
{
	static const double v[] = { 0.1,       0.2,    0.3,	      1.0 / 3.0,
				    2.0 / 3.0, 1e-300, 123456.789e10, 1.7976931348623157e308,
				    -4.5,      1e21 };
	char buf[40];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		mm_metrics_fmt_f64(buf, sizeof(buf), v[i]);
		cr_expect_eq(strtod(buf, NULL), v[i], "%s", buf);
	}
}

Test(common_metrics, prints_u64_counters_exactly)
{
	struct mm_metrics_buf b;

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_sample_u64(&b, "c_total", NULL, 0, UINT64_MAX);
	mm_metrics_sample_f64(&b, "g", NULL, 0, (double)NAN);
	cr_assert_eq(mm_metrics_buf_err(&b), 0);
	cr_expect_str_eq(b.data, "c_total 18446744073709551615\ng NaN\n");
	mm_metrics_buf_done(&b);
}

Test(common_metrics, refuses_short_buffer_with_enospc_at_every_size)
{
	struct mm_metrics_buf want, b;
	char *mem;

	render_dyn(&full, &want);
	mem = malloc(want.len + 1);
	cr_assert_not_null(mem);
	for (size_t cap = 0; cap <= want.len; cap += (cap < 64 ? 1 : 97)) {
		mm_metrics_buf_init(&b, mem, cap);
		cr_assert_eq(mm_metrics_render(&b, &full), -ENOSPC, "cap %zu", cap);
		cr_assert_lt(b.len, cap ? cap : 1);
	}
	mm_metrics_buf_init(&b, mem, want.len);
	cr_expect_eq(mm_metrics_render(&b, &full), -ENOSPC, "no room for the NUL");
	mm_metrics_buf_init(&b, mem, want.len + 1);
	cr_assert_eq(mm_metrics_render(&b, &full), 0);
	cr_expect_str_eq(mem, want.data);
	mm_metrics_buf_done(&b);
	mm_metrics_buf_done(&b);
	free(mem);
	mm_metrics_buf_done(&want);
}

Test(common_metrics, refuses_bad_names_and_bounds)
{
	static const double bad[] = { 1, 1 };
	static const uint64_t cnt[] = { 0, 0, 0 };
	struct mm_metrics_hist h = { bad, cnt, 2, 0 };
	struct mm_metrics_label l = { "__reserved", "v" };
	struct mm_metrics_buf b;

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_sample_u64(&b, "ok:name_1", NULL, 0, 1);
	cr_expect_eq(mm_metrics_buf_err(&b), 0);
	mm_metrics_sample_u64(&b, "1bad", NULL, 0, 1);
	cr_expect_eq(mm_metrics_buf_err(&b), -EINVAL);
	mm_metrics_buf_done(&b);

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_sample_u64(&b, "x", &l, 1, 1);
	cr_expect_eq(mm_metrics_buf_err(&b), -EINVAL);
	mm_metrics_buf_done(&b);

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_histogram(&b, "h", NULL, 0, &h);
	cr_expect_eq(mm_metrics_buf_err(&b), -EINVAL);
	mm_metrics_buf_done(&b);
}

/* Each "# TYPE" name appears once, right after its HELP, and no sample precedes its family. */
Test(common_metrics, writes_help_and_type_once_per_family)
{
	struct mm_metrics_buf b;
	char *save, *line, help[256] = "", seen[8192] = " ";
	int families = 0;

	render_dyn(&full, &b);
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256], key[260];

		if (sscanf(line, "# HELP %255s", name) == 1) {
			snprintf(key, sizeof(key), " %s ", name);
			cr_expect_null(strstr(seen, key), "%s twice", name);
			strcat(seen, name);
			strcat(seen, " ");
			strcpy(help, name);
			families++;
		} else if (sscanf(line, "# TYPE %255s", name) == 1) {
			cr_expect_str_eq(name, help);
		} else {
			cr_expect_eq(strncmp(line, help, strlen(help)), 0, "%s outside %s", line,
				     help);
		}
	}
	cr_expect_eq(families, 72);
	mm_metrics_buf_done(&b);
}

Test(common_metrics, sums_manager_counters_with_retired_sessions)
{
	struct mm_metrics_buf b;

	render_dyn(&full, &b);
	cr_expect_not_null(strstr(b.data, "\nmqtt_total_messages 1117\n"));
	cr_expect_not_null(strstr(b.data, "\nmqtt_total_bytes 65230\n"));
	cr_expect_not_null(strstr(b.data, "\nmqtt_error_count 4\n"));
	cr_expect_not_null(strstr(b.data, "\nmqtt_reconnect_count 3\n"));
	cr_expect_not_null(strstr(b.data, "\nmqtt_active_sessions 2\n"));
	mm_metrics_buf_done(&b);
}

Test(common_metrics, grows_for_a_thousand_sessions)
{
	struct mm_metrics_session *s = calloc(1000, sizeof(*s));
	struct mm_metrics_input in = { .sessions = s, .nsessions = 1000, .version = "x" };
	char(*names)[16] = calloc(1000, sizeof(*names));
	struct mm_metrics_buf b;

	cr_assert(s && names);
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "s%04d", 999 - i);
		s[i].name = names[i];
		s[i].msgs_in = (uint64_t)i;
	}
	render_dyn(&in, &b);
	cr_expect_gt(b.len, (size_t)1000000);
	cr_expect_lt(strstr(b.data, "{session=\"s0000\"}"), strstr(b.data, "{session=\"s0001\"}"));
	mm_metrics_buf_done(&b);
	free(names);
	free(s);
}

Test(common_metrics, rate_of_a_steady_counter_is_within_one_percent)
{
	struct mm_metrics_rate r;

	mm_metrics_rate_init(&r, 10.0, 100.0, 0);
	for (int i = 1; i <= 300; i++)
		cr_assert_eq(mm_metrics_rate_push(&r, 100.0 + i * 0.1, (uint64_t)i * 100), 0);
	cr_expect(fabs(mm_metrics_rate_current(&r) - 1000.0) < 10.0, "%g",
		  mm_metrics_rate_current(&r));
	cr_expect(fabs(mm_metrics_rate_average(&r) - 1000.0) < 10.0, "%g",
		  mm_metrics_rate_average(&r));
}

Test(common_metrics, rate_window_slides_past_old_traffic)
{
	struct mm_metrics_rate r;
	uint64_t c = 0;
	int t;

	mm_metrics_rate_init(&r, 10.0, 0.0, 0);
	for (t = 1; t <= 20; t++)
		mm_metrics_rate_push(&r, t, c += 500);
	cr_expect(fabs(mm_metrics_rate_current(&r) - 500.0) < 5.0);
	for (; t <= 25; t++)
		mm_metrics_rate_push(&r, t, c);
	cr_expect(fabs(mm_metrics_rate_current(&r) - 250.0) < 2.5, "half the window busy: %g",
		  mm_metrics_rate_current(&r));
	for (; t <= 31; t++)
		mm_metrics_rate_push(&r, t, c);
	cr_expect_eq(mm_metrics_rate_current(&r), 0.0);
	cr_expect(fabs(mm_metrics_rate_average(&r) - 10000.0 / 31.0) < 0.01);
}

/* The reference: the fewest of 15..17 significant digits that read back the same. */
static void fmt_reference(char *buf, size_t cap, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* The millisecond fast path prints exactly what the %.Ng loop prints. */
Test(common_metrics, millisecond_values_print_as_the_shortest_loop_would)
{
	static const double edge[] = { 0.001,
				       -0.001,
				       0.1,
				       0.5,
				       999.999,
				       1000.5,
				       -2.25,
				       1764115200.123,
				       4503599627370.495,
				       9007199254740.991,
				       1e-3 * 7,
				       12345.678 };
	char got[64], want[64];
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		mm_metrics_fmt_f64(got, sizeof(got), edge[i]);
		fmt_reference(want, sizeof(want), edge[i]);
		cr_expect_str_eq(got, want, "%.17g", edge[i]);
	}
	for (int i = 0; i < 200000; i++) {
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v = (double)(int64_t)(x % 20000000000000ull - 10000000000000ull) / 1000.0;
		if (v == (double)(int64_t)v)
			continue;
		mm_metrics_fmt_f64(got, sizeof(got), v);
		fmt_reference(want, sizeof(want), v);
		cr_assert_str_eq(got, want, "%.17g", v);
	}
}

/* The supervisor samples once a second and on every read: the window must still be 10 s. */
Test(common_metrics, rate_window_stays_whole_with_frequent_reads)
{
	struct mm_metrics_rate r;
	double t;

	mm_metrics_rate_init(&r, 10.0, 0.0, 0);
	for (int i = 1; i <= 100; i++) { /* 100/s for 25 s, then still */
		t = i * 0.25;
		mm_metrics_rate_push(&r, t, (uint64_t)(t * 100));
		if (i % 4 == 0)
			mm_metrics_rate_push(&r, t + 0.01, (uint64_t)(t * 100));
	}
	for (int i = 101; i <= 120; i++)
		mm_metrics_rate_push(&r, i * 0.25, 2500);
	/* at t = 30 the last 10 s hold 5 s of traffic: 500 messages */
	cr_expect(fabs(mm_metrics_rate_current(&r) - 50.0) < 2.5, "%g",
		  mm_metrics_rate_current(&r));
}

Test(common_metrics, rate_of_a_still_counter_is_zero)
{
	struct mm_metrics_rate r;

	mm_metrics_rate_init(&r, 10.0, 5.0, 42);
	cr_expect_eq(mm_metrics_rate_current(&r), 0.0, "one sample only");
	cr_expect_eq(mm_metrics_rate_average(&r), 0.0);
	for (int i = 1; i <= 40; i++)
		mm_metrics_rate_push(&r, 5.0 + i * 0.5, 42);
	cr_expect_eq(mm_metrics_rate_current(&r), 0.0);
	cr_expect_eq(mm_metrics_rate_average(&r), 0.0);
}

Test(common_metrics, rate_average_counts_since_start)
{
	struct mm_metrics_rate r;

	mm_metrics_rate_init(&r, 10.0, 0.0, 0);
	mm_metrics_rate_push(&r, 50.0, 5000);
	mm_metrics_rate_push(&r, 100.0, 5000);
	cr_expect(fabs(mm_metrics_rate_average(&r) - 50.0) < 1e-9);
	cr_expect_eq(mm_metrics_rate_current(&r), 0.0, "nothing in the last 50 s");
	cr_expect_eq(mm_metrics_rate_push(&r, 99.0, 6000), -EINVAL, "time went backwards");
	cr_expect(fabs(mm_metrics_rate_average(&r) - 50.0) < 1e-9);
}

/*
 * Run promtool check metrics on <text>; return its exit status and put its output (stdout and
 * stderr: the lint problems) in out.
 */
static int promtool_check(const char *text, size_t len, char *out, size_t cap)
{
	char path[] = "/tmp/mm-metrics-XXXXXX";
	int fd, p[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(pipe(p), 0);
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
 * The text must pass promtool's parser and linter: the two seed names with a "_count" suffix
 * (mqtt_error_count, mqtt_reconnect_count) pass because they are untyped (docs/metrics.md).
 */
Test(common_metrics, passes_promtool_check_metrics)
{
	char out[8192];
	struct mm_metrics_buf b;
	int rc;

	if (access(PROMTOOL, X_OK) != 0)
		cr_skip_test("%s not installed (Debian package prometheus)", PROMTOOL);
	render_dyn(&full, &b);
	rc = promtool_check(b.data, b.len, out, sizeof(out));
	cr_expect_eq(rc, 0, "promtool exit %d: %s", rc, out);
	mm_metrics_buf_done(&b);

	mm_metrics_buf_init_dyn(&b);
	mm_metrics_family(&b, "t_latency_seconds", MM_METRICS_HISTOGRAM, "Help \\ \n.");
	mm_metrics_histogram(&b, "t_latency_seconds", NULL, 0, &lat);
	rc = promtool_check(b.data, b.len, out, sizeof(out));
	cr_expect_eq(rc, 0, "promtool exit %d: %s", rc, out);
	mm_metrics_buf_done(&b);
}
