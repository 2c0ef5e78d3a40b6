/* SPDX-License-Identifier: MIT */
/*
 * Metrics: the seed's GetMetrics (manager level) and per-session metrics, as a struct, and the
 * same numbers in the Prometheus text format that `mqttmux metrics` and the daemon's HTTP
 * listener serve.
 *
 *   ./metrics [--prometheus]
 *
 * Prints one line per session (state, messages and bytes in and out, rates, ring fill), or the
 * Prometheus text. Exits 0, or 1 if the daemon cannot be asked.
 */
#include <mqttmux.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prometheus(void)
{
	char *text;
	int err = mqttmux_metrics_prometheus(NULL, &text);

	if (err < 0) {
		fprintf(stderr, "metrics: %s\n", strerror(-err));
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	struct mqttmux_metrics *m;
	int err;

	if (argc > 1 && strcmp(argv[1], "--prometheus") == 0)
		return prometheus();
	/* No mqttmux_open needed: this asks the daemon's control socket. */
	err = mqttmux_metrics(NULL, &m);
	if (err < 0) {
		fprintf(stderr, "metrics: %s\n", strerror(-err));
		return 1;
	}
	printf("sessions %llu, messages %llu, bytes %llu, errors %llu, reconnects %llu, "
	       "up %.0f s\n",
	       (unsigned long long)m->active_sessions, (unsigned long long)m->total_messages,
	       (unsigned long long)m->total_bytes, (unsigned long long)m->error_count,
	       (unsigned long long)m->reconnect_count, m->uptime_seconds);
	printf("router: %llu messages, %llu copies to clients, %llu unrouted, %llu dropped\n",
	       (unsigned long long)m->router_messages, (unsigned long long)m->router_fanout,
	       (unsigned long long)m->router_unrouted, (unsigned long long)m->router_dropped);
	for (size_t i = 0; i < m->n_sessions; i++) {
		const struct mqttmux_session_metrics *s = &m->sessions[i];

		printf("%-12s %-9s in %llu msg / %llu B, out %llu msg / %llu B, %.1f msg/s, "
		       "ring %llu/%llu B\n",
		       s->name, s->connected ? "connected" : "down",
		       (unsigned long long)s->messages_received,
		       (unsigned long long)s->bytes_received, (unsigned long long)s->messages_sent,
		       (unsigned long long)s->bytes_sent, s->message_rate,
		       (unsigned long long)s->in_ring_fill, (unsigned long long)s->in_ring_size);
	}
	mqttmux_metrics_free(m);
	return 0;
}
