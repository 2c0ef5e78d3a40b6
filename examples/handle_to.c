/* SPDX-License-Identifier: MIT */
/*
 * HandleTo: a callback for the messages of one session only. Two sessions connected to the
 * same broker and subscribed to the same filter each receive their own copy of a message;
 * a route made with mqttmux_handle_to(c, "plant", ...) gets plant's copy and never cloud's.
 *
 *   ./handle_to [SESSION [OTHER]]     (default "plant" and "cloud", on the same broker)
 *
 * One route per session on the same filter, and one message published through each session:
 * each route must see only copies from its own session. Exits 0 if so, 1 otherwise (or after
 * 10 s).
 */
#include <errno.h>
#include <mqttmux.h>
#include <stdio.h>
#include <string.h>

struct seen {
	const char *session;
	int mine, others;
};

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct seen *s = ud;

	(void)r;
	printf("route of '%s' got [%s] %s %.*s\n", s->session, m->session, m->topic,
	       (int)m->payload_len, (const char *)m->payload);
	if (strcmp(m->session, s->session) == 0)
		s->mine++;
	else
		s->others++;
}

int main(int argc, char **argv)
{
	struct seen s[2] = { { .session = argc > 1 ? argv[1] : "plant" },
			     { .session = argc > 2 ? argv[2] : "cloud" } };
	struct mqttmux_route *route[2] = { NULL, NULL };
	struct mqttmux *c;
	int err;

	c = mqttmux_open(NULL, &err);
	if (!c) {
		fprintf(stderr, "cannot reach mqttmuxd: %s\n", strerror(-err));
		return 1;
	}
	err = mqttmux_wait_all_sessions(NULL, 30000);
	for (int i = 0; i < 2 && err == 0; i++) {
		/* An unknown session fails with ENOENT. */
		route[i] =
			mqttmux_handle_to(c, s[i].session, "examples/handle_to/#", on_msg, &s[i]);
		if (!route[i])
			err = -errno;
	}
	/*
	 * Through each session: a route's SUBSCRIBE goes out on its session's connection before
	 * a publish made after it, so the broker has it; the other session's SUBSCRIBE may still
	 * be on its way.
	 */
	for (int i = 0; i < 2 && err == 0; i++)
		err = mqttmux_publish_to(c, s[i].session, "examples/handle_to/t", "hello", 5, 1,
					 false, 5000);
	for (int i = 0; err >= 0 && i < 10 && (s[0].mine == 0 || s[1].mine == 0); i++)
		err = mqttmux_dispatch(c, 1000);
	if (err < 0)
		fprintf(stderr, "handle_to: %s\n", strerror(-err));
	for (int i = 0; i < 2; i++)
		if (route[i])
			mqttmux_route_stop(route[i]);
	mqttmux_close(c);
	return err >= 0 && s[0].mine && s[1].mine && !s[0].others && !s[1].others ? 0 : 1;
}
