/* SPDX-License-Identifier: MIT */
/*
 * bench-scale's restart storm (issue 13): the broker stops (every session and every baseline
 * client loses its connection), stays down a while, and comes back on the same port; then
 * everyone reconnects. Measured: from the broker listening again to every session ready (`wait
 * * 0` on the control socket, every 100 ms) and to every baseline client subscribed again;
 * and the connect rate the broker saw, from its own log ("New client connected ... as ID"
 * lines, timestamped to the second), the sessions (client ids scale-*) and the baseline
 * (plain-*) counted apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "b_restart.h"
#include "b_scale.h"

#define POLL_NS	      (100 * 1000000ull)
#define BACKOFF_CAP_S 120 /* the sessions' reconnect.max (the default) */
/* Give up after this: the bound (the reconnect backoff cap, 120 s, + 10 s) and more. */
#define BACK_MAX_S    180

static long log_size(const struct b_env *e)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/mosquitto.log", e->dir);
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Count the connects after <from> (bytes) per client id prefix; the busiest second too. */
static void count_connects(const struct b_env *e, long from, struct b_storm_result *r)
{
	char path[512], line[512];
	long sec[2] = { -1, -1 };
	unsigned in_sec[2] = { 0, 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/mosquitto.log", e->dir);
	f = fopen(path, "re");
	if (!f || fseek(f, from, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *as = strstr(line, "New client connected");
		int k;
		long t;

		if (!as || !(as = strstr(as, " as ")))
			continue;
		k = !strncmp(as + 4, "plain-", 6);
		if (!k && strncmp(as + 4, "scale-", 6))
			continue;
		t = strtol(line, NULL, 10);
		in_sec[k] = t == sec[k] ? in_sec[k] + 1 : 1;
		sec[k] = t;
		if (k) {
			r->plain_connects++;
			r->plain_peak = in_sec[k] > r->plain_peak ? in_sec[k] : r->plain_peak;
		} else {
			r->connects++;
			r->peak = in_sec[k] > r->peak ? in_sec[k] : r->peak;
		}
	}
	fclose(f);
}

/* Is every session ready? <reply>: the daemon's answer (or why there is none). */
static bool sessions_ready(struct b_env *e, char *reply, size_t size)
{
	int rc = b_ctl(e, "wait * 0", reply, size);

	if (rc)
		snprintf(reply, size, "no answer: %s", strerror(-rc));
	return !rc && strstr(reply, "\"ok\":true");
}

/* What the storm still waits for when it gives up, on stderr. */
static void say_stuck(const struct b_storm_result *r, bool mq, const char *reply, uint64_t got,
		      unsigned n, bool plain)
{
	fprintf(stderr, "bench-scale: restart storm: not all back %d s after the broker returned\n",
		BACK_MAX_S);
	if (!mq)
		fprintf(stderr, "  sessions: `wait * 0` says %s\n", reply);
	else
		fprintf(stderr, "  sessions: all ready after %.2f s\n", r->back_s);
	if (plain)
		fprintf(stderr, "  baseline: %llu of %u SUBACKs since the broker returned\n",
			(unsigned long long)got, n);
}

/*
 * Run the storm: <n> sessions (and the baseline's <n> clients, if <plain>), the broker down for
 * <down_s> seconds. 0 or -errno (-ETIMEDOUT: not all back within BACK_MAX_S; what was missing
 * is said on stderr).
 */
int b_storm_run(struct b_env *e, unsigned n, bool plain, double down_s, struct b_rxpage *page,
		struct b_storm_result *r)
{
	uint64_t subacks = atomic_load(&page->plain_subacks), t0, deadline, got = 0;
	long from = log_size(e);
	bool mq = false, pl = !plain;
	char reply[512] = "";
	int rc;

	memset(r, 0, sizeof(*r));
	r->down_s = down_s;
	rc = b_broker_restart(e, (uint64_t)(down_s * 1e9));
	if (rc)
		return rc;
	t0 = mm_time_mono_ns();
	deadline = t0 + BACK_MAX_S * 1000000000ull;
	while (!(mq && pl) && mm_time_mono_ns() < deadline) {
		double s = (double)(mm_time_mono_ns() - t0) / 1e9;

		if (!mq && (mq = sessions_ready(e, reply, sizeof(reply))))
			r->back_s = s;
		got = atomic_load(&page->plain_subacks) - subacks;
		if (!pl && (pl = got >= n))
			r->plain_back_s = s;
		if (!(mq && pl))
			b_sleep_ns(POLL_NS);
	}
	count_connects(e, from, r);
	if (!(mq && pl))
		say_stuck(r, mq, reply, got, n, plain);
	return mq && pl ? 0 : -ETIMEDOUT;
}

void b_storm_print(const struct b_storm_result *r, unsigned n, unsigned rate, unsigned burst)
{
	printf("\nrestart storm: the broker down %.1f s, then back on its port\n", r->down_s);
	printf("  %-30s %14s %10s %12s\n", "", "all back after", "connects", "busiest 1 s");
	printf("  %-30s %12.2f s %10u %12u\n", "mqttmux sessions", r->back_s, r->connects, r->peak);
	printf("  %-30s %12.2f s %10u %12u\n", "plain clients (baseline)", r->plain_back_s,
	       r->plain_connects, r->plain_peak);
	printf("target: at most connect_rate + connect_burst (%u + %u) in any second: %s;"
	       " %u of %u sessions reconnected\n",
	       rate, burst, !rate || r->peak <= rate + burst ? "MET" : "MISSED", r->connects, n);
	printf("target: all back within the backoff cap + 10 s (%d s): %s\n", BACKOFF_CAP_S + 10,
	       r->back_s <= BACKOFF_CAP_S + 10 ? "MET" : "MISSED");
}
