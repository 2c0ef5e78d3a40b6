/* SPDX-License-Identifier: MIT */
/*
 * Quick start: wait for a session, handle a topic filter, publish, and receive the message.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs mqttmux) -o quickstart
 *   ./quickstart [SESSION]        (default session "plant")
 *
 * mqttmuxd must be running with a session of that name (examples/demo.cfg has "plant" and
 * "cloud"); $MQTTMUX_RUNTIME_DIR names its runtime_dir if it is not /run/mqttmux. Exits 0 once
 * the message came back, 1 on any error or after 10 s.
 */
#include <errno.h>
#include <mqttmux.h>
#include <stdio.h>
#include <string.h>

static void on_temperature(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	int *got = ud;

	(void)r;
	/* m->payload points into shared memory: valid during this call only, no copy made */
	printf("[%s] %s = %.*s\n", m->session, m->topic, (int)m->payload_len,
	       (const char *)m->payload);
	(*got)++;
}

int main(int argc, char **argv)
{
	const char *session = argc > 1 ? argv[1] : "plant";
	struct mqttmux_route *route;
	struct mqttmux *c;
	int err, got = 0;

	/* NULL: $MQTTMUX_RUNTIME_DIR, else /run/mqttmux */
	c = mqttmux_open(NULL, &err);
	if (!c) {
		fprintf(stderr, "cannot reach mqttmuxd: %s\n", strerror(-err));
		return 1;
	}
	/* The seed's WaitForSession: connected, and its subscriptions acknowledged. */
	err = mqttmux_wait_session(NULL, session, 30000);
	if (err < 0) {
		fprintf(stderr, "session '%s' is not ready: %s\n", session, strerror(-err));
		goto out;
	}
	/* Handle: a callback for every message matching the filter, from every session. */
	route = mqttmux_handle(c, "sensors/+/temperature", on_temperature, &got);
	if (!route) {
		err = -errno;
		fprintf(stderr, "mqttmux_handle: %s\n", strerror(-err));
		goto out;
	}
	/* QoS 1: returns once the broker acknowledged it (PUBACK), or an error. */
	err = mqttmux_publish_to(c, session, "sensors/room1/temperature", "23.5", 4, 1, false,
				 5000);
	if (err < 0) {
		fprintf(stderr, "publish failed: %s\n", strerror(-err));
		goto out;
	}
	/* A real program polls mqttmux_fd(c) in its event loop; this one just dispatches. */
	for (int i = 0; i < 10 && !got; i++) {
		err = mqttmux_dispatch(c, 1000);
		if (err < 0)
			break;
	}
	mqttmux_route_stop(route);
out:
	mqttmux_close(c);
	return err >= 0 && got ? 0 : 1;
}
