/* SPDX-License-Identifier: MIT */
/*
 * The traffic of bench-scale's latency run: a forked libmosquitto publisher sending QoS 0
 * messages at a fixed rate, spread round-robin over the N sessions' topics (B_TOPIC_FMT), each
 * payload carrying its sequence number and its CLOCK_REALTIME send stamp (both u64, host
 * order), paced in 1 ms ticks against absolute CLOCK_MONOTONIC deadlines so that a late tick
 * catches up instead of lowering the rate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "b_scale.h"
#include "mm_time.h"

#define TICK_NS (1000 * 1000ull)

static int publish_one(struct mosquitto *m, unsigned session, uint64_t seq)
{
	char topic[64];
	uint64_t payload[2] = { seq, mm_time_real_ns() };

	snprintf(topic, sizeof(topic), B_TOPIC_FMT, session);
	return mosquitto_publish(m, NULL, topic, sizeof(payload), payload, 0, false);
}

static __attribute__((noreturn)) void pub_main(int port, unsigned nsessions, unsigned rate,
					       double secs)
{
	uint64_t start, end, sent = 0, seq = 0;
	struct mosquitto *m;

	(void)prctl(PR_SET_NAME, "b_pub");
	mosquitto_lib_init();
	m = mosquitto_new("scale-pub", true, NULL);
	if (!m || mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
		_exit(1);
	start = mm_time_mono_ns();
	end = start + (uint64_t)(secs * 1e9);
	for (uint64_t tick = start; tick < end; tick += TICK_NS) {
		struct timespec ts = mm_time_ns_ts(tick);
		uint64_t due = (tick - start + TICK_NS) * rate / MM_NS_PER_SEC;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		for (; sent < due; sent++, seq++)
			if (publish_one(m, (unsigned)(seq % nsessions), seq) != MOSQ_ERR_SUCCESS)
				_exit(2);
		(void)mosquitto_loop(m, 0, 1);
	}
	for (int i = 0; i < 100 && mosquitto_want_write(m); i++)
		(void)mosquitto_loop(m, 10, 1);
	mosquitto_disconnect(m);
	_exit(0);
}

/*
 * Fork the publisher: <rate> messages a second for <secs> seconds over <nsessions> sessions'
 * topics on 127.0.0.1:<port>. Returns its pid or -errno; it exits 0 once all are sent.
 */
pid_t b_pub_spawn(int port, unsigned nsessions, unsigned rate, double secs)
{
	pid_t pid = fork();

	if (pid == 0)
		pub_main(port, nsessions, rate, secs);
	return pid < 0 ? -errno : pid;
}
