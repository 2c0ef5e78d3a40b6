/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario NAME [--long] [--out DIR]: run one fault scenario (see sc.h and
 * docs/reliability.md). `mm-scenario list` names them. The short form is what the `fault`
 * suite runs; --long is the full scenario of the issue, for scripts/soak. Figures are printed
 * and written to DIR/NAME.json (DIR: the run's temporary directory unless given).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc.h"

struct scenario {
	const char *name;
	int (*run)(struct sc_env *e);
	const char *what;
};

static const struct scenario Scenarios[] = {
	{ "kill-worker", sc_kill_worker, "1: kill -9 of one worker every 2 s, QoS 1 load" },
	{ "kill-router", sc_kill_router, "2: kill -9 of the router every 10 s, 8 clients" },
	{ "kill-client", sc_kill_client, "3: kill -9 of a random client every second" },
	{ "kill-daemon", sc_kill_daemon, "4: kill -9 of mqttmuxd, then a restart" },
	{ "broker-restart", sc_broker_restarts, "5: the broker restarted every 30 s" },
	{ "proxy-cuts", sc_proxy_cuts, "6: FIN/RST cuts every 5 s, jittered reconnects" },
	{ "blackhole", sc_blackhole,
	  "6: a black-holed connection, detected within 1.5 x keepalive + 1 s" },
	{ "reconnect-storm", sc_reconnect_storm, "7: 200 sessions, broker down 60 s" },
	{ "signal-storm", sc_signal_storm, "8: 10,000 SIGUSR1 and 1,000 SIGHUP in 10 s" },
	{ "disk-full", sc_disk_full, "9: state_dir on a full tmpfs" },
	{ "soak", sc_soak, "10: 30 minutes of load with periodic kills" },
};

#define NSCEN (sizeof(Scenarios) / sizeof(Scenarios[0]))

static int usage(void)
{
	fprintf(stderr, "usage: mm-scenario NAME [--long] [--out DIR] | list\n");
	return 64;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	bool long_form = false;
	struct sc_env e;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && !strcmp(argv[1], "list")) {
		for (size_t i = 0; i < NSCEN; i++)
			printf("%-16s %s\n", Scenarios[i].name, Scenarios[i].what);
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			long_form = true;
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else
			return usage();
	}
	for (size_t i = 0; argc >= 2 && i < NSCEN; i++) {
		if (strcmp(argv[1], Scenarios[i].name))
			continue;
		if (sc_env_init(&e, Scenarios[i].name, long_form, out) < 0) {
			perror("mm-scenario: setup");
			return 1;
		}
		rc = Scenarios[i].run(&e);
		sc_daemon_stop(&e);
		sc_kill(&e.proxy);
		if (rc != SC_SKIP)
			rc = sc_report(&e);
		sc_env_done(&e);
		return rc;
	}
	return usage();
}
