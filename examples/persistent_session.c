/* SPDX-License-Identifier: MIT */
/*
 * A persistent session added at run time (examples/persistent-session.cfg): the broker keeps
 * it while its worker is away and queues its QoS 1 messages, so a restart loses nothing. The
 * program adds the session, routes its filter with QoS 1, restarts the session's worker, and
 * at once publishes COUNT messages through another session; every one of them must arrive.
 *
 *   ./persistent_session FILE [NAME [VIA [COUNT]]]   (defaults "durable", "plant", 10)
 *
 * Exits 0 once all COUNT messages arrived, 1 otherwise (or after 20 s). Removes the session.
 */
#include <errno.h>
#include <limits.h>
#include <mqttmux.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	printf("[%s] %s %.*s qos=%d%s\n", m->session, m->topic, (int)m->payload_len,
	       (const char *)m->payload, m->qos, m->dup ? " dup" : "");
	*(int *)ud += 1;
}

/* Restart <name> and publish <count> QoS 1 messages through <via> meanwhile. */
static int restart_and_publish(struct mqttmux *c, const char *name, const char *via, int count)
{
	/* The worker says DISCONNECT and a new one connects: the broker holds what comes
	 * in between, because clean_session is false. */
	int err = mqttmux_session_restart(NULL, name);

	for (int i = 0; err >= 0 && i < count; i++) {
		char payload[32];
		int n = snprintf(payload, sizeof(payload), "queued %d", i);

		err = mqttmux_publish_to(c, via, "examples/durable/m", payload, (size_t)n, 1, false,
					 5000);
	}
	return err;
}

static int run(const char *name, const char *via, int count)
{
	struct mqttmux_route *r;
	struct mqttmux *c;
	int err, got = 0;

	c = mqttmux_open(NULL, &err);
	if (!c)
		return err;
	/* QoS 1 for the routes made from now on: the broker queues QoS >= 1 only. */
	mqttmux_set_route_qos(c, 1);
	r = mqttmux_handle_to(c, name, "examples/durable/#", on_msg, &got);
	err = r ? restart_and_publish(c, name, via, count) : -errno;
	for (int i = 0; err >= 0 && i < 20 && got < count; i++)
		err = mqttmux_dispatch(c, 1000);
	printf("%d of %d message(s) arrived across the restart\n", got, count);
	if (r)
		mqttmux_route_stop(r);
	mqttmux_close(c);
	return err < 0 ? err : got >= count ? 0 : -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : "durable";
	const char *via = argc > 3 ? argv[3] : "plant";
	int count = argc > 4 ? atoi(argv[4]) : 10;
	char path[PATH_MAX];
	int err;

	if (argc < 2 || !realpath(argv[1], path)) {
		fprintf(stderr, "usage: persistent_session FILE [NAME [VIA [COUNT]]]\n");
		return 1;
	}
	err = mqttmux_session_add(NULL, path);
	if (err == 0)
		err = mqttmux_wait_session(NULL, name, 30000);
	if (err == 0)
		err = run(name, via, count);
	if (err < 0)
		fprintf(stderr, "persistent session '%s': %s\n", name, strerror(-err));
	mqttmux_session_remove(NULL, name);
	return err < 0 ? 1 : 0;
}
