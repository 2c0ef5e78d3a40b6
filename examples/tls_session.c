/* SPDX-License-Identifier: MIT */
/*
 * A TLS session added at run time: the session file examples/tls-session.cfg (broker URL,
 * CA, client certificate and key) goes to the daemon with mqttmux_session_add(), the program
 * waits for the session to be ready (TLS handshake and certificate checks passed), sends a
 * message through it and receives it back, then removes the session.
 *
 *   ./tls_session FILE [NAME]     (NAME: the session's name in FILE, default "secure")
 *
 * The daemon reads FILE itself: give a path it can read. Exits 0 if the message made the round
 * trip over TLS, 1 otherwise (a certificate problem shows as a session that never gets ready).
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
	printf("[%s] %s %.*s\n", m->session, m->topic, (int)m->payload_len,
	       (const char *)m->payload);
	*(int *)ud += 1;
}

/* The session's state as the daemon reports it, e.g. "connected". */
static void print_state(const char *name)
{
	struct mqttmux_session_status *st;
	size_t n;

	if (mqttmux_session_status(NULL, &st, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			printf("session '%s': %s via %s\n", name, st[i].state,
			       st[i].broker ? st[i].broker : "-");
	mqttmux_session_status_free(st, n);
}

/* Route, publish over the TLS session, wait for the message. Returns 0 or -errno. */
static int round_trip(struct mqttmux *c, const char *name)
{
	int got = 0, err;
	struct mqttmux_route *r = mqttmux_handle_to(c, name, "examples/tls/#", on_msg, &got);

	if (!r)
		return -errno;
	err = mqttmux_publish_to(c, name, "examples/tls/hello", "over TLS", 8, 1, false, 5000);
	for (int i = 0; err >= 0 && i < 10 && !got; i++)
		err = mqttmux_dispatch(c, 1000);
	mqttmux_route_stop(r);
	return err < 0 ? err : got ? 0 : -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : "secure";
	char path[PATH_MAX];
	struct mqttmux *c;
	int err;

	if (argc < 2 || !realpath(argv[1], path)) {
		fprintf(stderr, "usage: tls_session FILE [NAME] (FILE: a readable session file)\n");
		return 1;
	}
	/* The daemon checks the block like its config file: a bad key or file is refused. */
	err = mqttmux_session_add(NULL, path);
	if (err < 0) {
		fprintf(stderr, "session add: %s\n", strerror(-err));
		return 1;
	}
	err = mqttmux_wait_session(NULL, name, 30000);
	print_state(name);
	c = err < 0 ? NULL : mqttmux_open(NULL, &err);
	if (c) {
		err = round_trip(c, name);
		mqttmux_close(c);
	}
	if (err < 0)
		fprintf(stderr, "tls session '%s': %s\n", name, strerror(-err));
	/* Added at run time, kept in state_dir until removed. */
	mqttmux_session_remove(NULL, name);
	return err < 0 ? 1 : 0;
}
