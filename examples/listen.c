/* SPDX-License-Identifier: MIT */
/*
 * Listen / ListenTo with a poll loop: routes that queue their messages (the seed's channels),
 * taken with mqttmux_next(), in a program that waits in poll(2) on mqttmux_fd() next to its
 * own descriptors (here: standard input, to show the pattern).
 *
 *   ./listen [SESSION [COUNT]]      (default "plant", 5)
 *
 * Publishes COUNT messages through SESSION and reads them back from two queues: one on every
 * session (Listen) and one on SESSION only (ListenTo). Exits 0 once both queues gave COUNT
 * messages, 1 on error or after 10 s.
 */
#include <errno.h>
#include <mqttmux.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Take everything queued on <r> without waiting; returns how many, or -errno. */
static int drain(struct mqttmux_route *r, const char *name)
{
	const struct mqttmux_msg *m;
	int n = 0, err;

	/* 1: a message; 0: the queue is empty (timeout 0: no waiting) */
	while ((err = mqttmux_next(r, &m, 0)) == 1) {
		/* a private copy, valid until the next mqttmux_next on this route */
		printf("%s: [%s] %s %.*s\n", name, m->session, m->topic, (int)m->payload_len,
		       (const char *)m->payload);
		n++;
	}
	return err < 0 ? err : n;
}

static int publish(struct mqttmux *c, const char *session, int count)
{
	for (int i = 0; i < count; i++) {
		char topic[64], payload[32];
		int n = snprintf(payload, sizeof(payload), "reading %d", i);
		int err;

		snprintf(topic, sizeof(topic), "examples/listen/%d", i);
		err = mqttmux_publish_to(c, session, topic, payload, (size_t)n, 1, false, 5000);
		if (err < 0)
			return err;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *session = argc > 1 ? argv[1] : "plant";
	int count = argc > 2 ? atoi(argv[2]) : 5;
	struct mqttmux_route *all, *mine;
	int err, got_all = 0, got_mine = 0;
	struct mqttmux *c;

	c = mqttmux_open(NULL, &err);
	if (!c) {
		fprintf(stderr, "cannot reach mqttmuxd: %s\n", strerror(-err));
		return 1;
	}
	err = mqttmux_wait_session(NULL, session, 30000);
	/* Listen: every session; ListenTo: one. Each queue holds up to 100 messages. */
	all = err < 0 ? NULL : mqttmux_listen(c, "examples/listen/+", 100);
	mine = all ? mqttmux_listen_to(c, session, "examples/listen/+", 100) : NULL;
	if (!mine) {
		fprintf(stderr, "listen: %s\n", strerror(err < 0 ? -err : errno));
		mqttmux_close(c);
		return 1;
	}
	err = publish(c, session, count);
	for (int turn = 0; err >= 0 && turn < 100 && (got_all < count || got_mine < count);
	     turn++) {
		struct pollfd p[2] = { { .fd = mqttmux_fd(c), .events = POLLIN },
				       { .fd = STDIN_FILENO, .events = 0 } };

		if (poll(p, 2, 100) < 0 && errno != EINTR)
			err = -errno;
		/* readable: let the library move the messages into the route queues */
		if (err >= 0 && p[0].revents)
			err = mqttmux_dispatch(c, 0);
		if (err >= 0 && (err = drain(all, "listen")) >= 0)
			got_all += err;
		if (err >= 0 && (err = drain(mine, "listen_to")) >= 0)
			got_mine += err;
	}
	if (err < 0)
		fprintf(stderr, "listen: %s\n", strerror(-err));
	printf("listen: %d, listen_to: %d of %d\n", got_all, got_mine, count);
	mqttmux_route_stop(all);
	mqttmux_route_stop(mine);
	mqttmux_close(c);
	return err >= 0 && got_all >= count && got_mine == count ? 0 : 1;
}
