/* SPDX-License-Identifier: MIT */
/*
 * Events: follow the life of the sessions (the seed's OnEvent). The program subscribes to
 * every event of every session, then restarts one session's worker through the daemon and
 * prints what happens until that session is ready again: session_disconnected (or
 * session_state_changed), session_connecting, session_connected, session_ready.
 *
 *   ./events [SESSION]     (default "plant")
 *
 * Exits 0 once SESSION was ready again after the restart, 1 on error or after 30 s.
 */
#include <mqttmux.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct watch {
	const char *session;
	bool restarted, ready_again;
};

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct watch *w = ud;

	(void)c;
	/* ev->name is the seed's event type: "session_ready", "session_disconnected", ... */
	printf("%-24s session=%s", ev->name, ev->session ? ev->session : "-");
	if (ev->attempt)
		printf(" attempt=%u next_ms=%u", ev->attempt, ev->next_ms);
	if (ev->code)
		printf(" code=%d", ev->code);
	if (ev->text && ev->text[0])
		printf(" text=\"%s\"", ev->text);
	printf("\n");
	if (w->restarted && ev->type == MQTTMUX_EV_SESSION_READY && ev->session &&
	    strcmp(ev->session, w->session) == 0)
		w->ready_again = true;
}

int main(int argc, char **argv)
{
	struct watch w = { .session = argc > 1 ? argv[1] : "plant" };
	struct mqttmux *c;
	int err, id;

	c = mqttmux_open(NULL, &err);
	if (!c) {
		fprintf(stderr, "cannot reach mqttmuxd: %s\n", strerror(-err));
		return 1;
	}
	err = mqttmux_wait_session(NULL, w.session, 30000);
	/* Every type (MQTTMUX_EV_ALL) of every session (NULL). Returns an id for event_stop. */
	id = err < 0 ? err : mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, &w);
	if (id < 0) {
		fprintf(stderr, "events: %s\n", strerror(-id));
		mqttmux_close(c);
		return 1;
	}
	/* The same as `mqttmux session restart SESSION`: a new worker, a new connection. */
	err = mqttmux_session_restart(NULL, w.session);
	w.restarted = err == 0;
	for (int i = 0; err >= 0 && i < 30 && !w.ready_again; i++)
		err = mqttmux_dispatch(c, 1000);
	if (err < 0)
		fprintf(stderr, "events: %s\n", strerror(-err));
	mqttmux_event_stop(c, id);
	mqttmux_close(c);
	return w.ready_again ? 0 : 1;
}
