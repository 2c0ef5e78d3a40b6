/* SPDX-License-Identifier: MIT */
/*
 * Fairness in the worker (issue 12): one client publishing as fast as it can, for 60 s, through
 * an MQTT 3.1.1 and an MQTT 5 session at once (QoS 0 and 1 alternating) on a real mosquitto.
 * The worker takes its cmd-ring in batches between socket I/O and timers, and stops taking
 * commands while max_pending requests wait for the broker: so no worker is killed as hung
 * (restarts stay 0, every heartbeat is on time: `status` heartbeat_age sampled every second),
 * every publish completes, and all succeed. The flooder is slowed by its own full pub-ring
 * (-EAGAIN). MQTTMUX_FLOOD_S=<seconds> shortens the run by hand.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

#define FLOOD_S	     60
#define BEAT_LATE_S  15.0 /* a worker beats every 10 s: this late is not on time */
#define DRAIN_MS     120000
#define PAYLOAD_SIZE 1024
#define FLOODERS     4 /* client processes: together they outrun one worker */

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock;
static pid_t Daemon;

static const char *const Sessions[] = { "v311", "v5" };

struct flood {
	uint64_t sent, done, failed, again;
	int first_error;
	double max_age[2];
};

static void setup(void)
{
	t_daemon_setup("flood", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, NULL });
}

TestSuite(flood, .init = setup, .fini = teardown, .timeout = 400);

static void start_daemon(void)
{
	Daemon = t_daemon_start_v311_v5(MQTTMUXD_PATH, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
					Dir, Log, B.port, "flood", NULL);
	cr_assert_eq(mqttmux_wait_all_sessions(Run, 60000), 0, "sessions not ready");
}

static void on_done(struct mqttmux *c, int result, void *ud)
{
	struct flood *f = ud;

	(void)c;
	f->done++;
	if (result < 0 && !f->failed++)
		f->first_error = result;
}

/* Every session's worker: never restarted, and its heartbeat on time. */
static void check_workers(struct flood *f)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run), *row, *v;

	cr_assert_not_null(a, "status failed");
	for (int i = 0; i < 2; i++) {
		row = t_json_row(a, Sessions[i]);
		cr_assert_not_null(row, "no status row for %s", Sessions[i]);
		cr_expect_eq(json_object_get_int(json_object_object_get(row, "restarts")), 0,
			     "%s: a worker was restarted during the flood", Sessions[i]);
		cr_assert(json_object_object_get_ex(row, "heartbeat_age", &v) && v,
			  "%s: no heartbeat_age (no worker up?)", Sessions[i]);
		if (json_object_get_double(v) > f->max_age[i])
			f->max_age[i] = json_object_get_double(v);
	}
	json_object_put(a);
}

static int flood_seconds(void)
{
	const char *e = getenv("MQTTMUX_FLOOD_S");

	return e && atoi(e) > 0 ? atoi(e) : FLOOD_S;
}

/* Publish as fast as the pub-ring takes it until <end_ns>. */
static void flood(struct mqttmux *c, struct flood *f, uint64_t end_ns)
{
	static const char payload[PAYLOAD_SIZE] = "flood";

	for (uint64_t n = 0; t_now_ns() < end_ns; n++) {
		int rc =
			mqttmux_publish_async(c, Sessions[n % 2], "flood/t", payload,
					      sizeof(payload), (int)(n / 2 % 2), false, on_done, f);

		if (rc == -EAGAIN) {
			f->again++;
			(void)mqttmux_dispatch(c, 10);
		} else if (rc < 0) {
			f->first_error = rc;
			return;
		} else {
			f->sent++;
		}
		if (n % 64 == 0)
			(void)mqttmux_dispatch(c, 0);
	}
}

/* One flooding client process: floods, waits for every completion, reports on <fd>. */
static void flooder(int fd, uint64_t end_ns)
{
	uint64_t drain_end;
	struct flood f = { 0 };
	struct mqttmux *c;
	int err = 0;

	c = mqttmux_open(Run, &err);
	if (!c)
		_exit(2);
	flood(c, &f, end_ns);
	drain_end = t_now_ns() + DRAIN_MS * 1000000ull;
	while (f.done < f.sent && t_now_ns() < drain_end)
		(void)mqttmux_dispatch(c, 100);
	mqttmux_close(c);
	_exit(write(fd, &f, sizeof(f)) == (ssize_t)sizeof(f) ? 0 : 3);
}

static void add(struct flood *sum, const struct flood *f)
{
	sum->sent += f->sent;
	sum->done += f->done;
	sum->again += f->again;
	if (f->failed && !sum->failed)
		sum->first_error = f->first_error;
	sum->failed += f->failed;
	if (f->first_error && !f->failed && !sum->first_error)
		sum->first_error = f->first_error;
}

Test(flood, a_minute_of_publishing_kills_no_worker_and_beats_stay_on_time)
{
	uint64_t end_ns, next = 0;
	struct flood sum = { 0 }, f;
	pid_t pids[FLOODERS];
	int p[2], status;

	start_daemon();
	cr_assert_eq(pipe(p), 0);
	end_ns = t_now_ns() + (uint64_t)flood_seconds() * 1000000000ull;
	for (int i = 0; i < FLOODERS; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			close(p[0]);
			flooder(p[1], end_ns);
		}
	}
	close(p[1]);
	while (t_now_ns() < end_ns + 5000000000ull) { /* and a while after: the queues drain */
		if (t_now_ns() >= next) {
			check_workers(&sum);
			next = t_now_ns() + 1000000000ull;
		}
		usleep(100000);
	}
	for (int i = 0; i < FLOODERS; i++) {
		cr_assert_eq(read(p[0], &f, sizeof(f)), (ssize_t)sizeof(f), "a flooder died");
		add(&sum, &f);
	}
	close(p[0]);
	for (int i = 0; i < FLOODERS; i++) {
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "flooder %d: status %d", i,
			  status);
	}
	check_workers(&sum);
	printf("# flood: %llu publishes of %d bytes by %d clients in %d s (%.0f/s), %llu -EAGAIN, "
	       "max heartbeat age %.2f s (3.1.1) and %.2f s (5)\n",
	       (unsigned long long)sum.sent, PAYLOAD_SIZE, FLOODERS, flood_seconds(),
	       (double)sum.sent / flood_seconds(), (unsigned long long)sum.again, sum.max_age[0],
	       sum.max_age[1]);
	cr_expect_eq(sum.done, sum.sent, "%llu of %llu publishes completed",
		     (unsigned long long)sum.done, (unsigned long long)sum.sent);
	cr_expect_eq(sum.failed, 0, "%llu publishes failed, the first with %s",
		     (unsigned long long)sum.failed, strerror(-sum.first_error));
	cr_expect_eq(sum.first_error, 0, "a publish was refused: %s", strerror(-sum.first_error));
	for (int i = 0; i < 2; i++)
		cr_expect_leq(sum.max_age[i], BEAT_LATE_S, "%s: a heartbeat %.1f s late",
			      Sessions[i], sum.max_age[i]);
	cr_expect_gt(sum.again, 0, "the flooders were never slowed down: no flood?");
}
