/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux top`: a live view of the daemon, refreshed every second, like top(1):
 *
 *   mqttmux top [-s SESSION] [--interval SECONDS] [-n COUNT] [-b | --once]
 *
 * Sessions (state, broker, messages/s in and out, drops, worker restarts, in-ring fill, last
 * error) and router clients (pid, routes, delivery-ring fill, deliveries/s, drops, gaps). It
 * reads `status` and `metrics` from the control socket (the library's mqttmux_session_status
 * and mqttmux_metrics_prometheus) every interval; rates are the counters' change between two
 * reads. On a terminal it redraws in place until q or Ctrl-C; otherwise (-b, or stdout not a
 * terminal) it prints one plain snapshot per interval. --once prints a single snapshot (rates
 * over one interval) and exits: the form scripts and tests read. docs/client.md, "mqttmux top".
 */
#include "cli_top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mm_time.h"
#include "mqttmux.h"

struct top_opts {
	const char *session; /* -s: only this session */
	double interval;     /* seconds */
	long count;	     /* -n: snapshots, 0 = until q */
	bool batch, once;
};

static volatile sig_atomic_t Stop;
static struct termios Saved;
static bool Raw;

static void on_signal(int sig)
{
	(void)sig;
	Stop = 1;
}

static void raw_off(void)
{
	if (Raw)
		(void)tcsetattr(0, TCSANOW, &Saved);
	Raw = false;
}

/* Keys without Enter, no echo, so that q quits at once. Undone at exit and on signals. */
static void raw_on(void)
{
	struct termios t;

	if (!isatty(0) || tcgetattr(0, &Saved) < 0)
		return;
	t = Saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	Raw = tcsetattr(0, TCSANOW, &t) == 0;
	atexit(raw_off);
}

/* Wait <ms>; true if the user asked to quit (q, Ctrl-C, SIGTERM). */
static bool wait_or_quit(int64_t ms)
{
	int64_t end = mm_time_mono_ms() + ms;
	char ch;

	while (!Stop) {
		int left = mm_time_left_ms(end);
		struct pollfd p = { .fd = Raw ? 0 : -1, .events = POLLIN };

		if (left == 0)
			return false;
		if (poll(&p, 1, left) > 0 && read(0, &ch, 1) == 1 && (ch == 'q' || ch == 'Q'))
			return true;
	}
	return true;
}

static int top_usage(void)
{
	fprintf(stderr, "usage: mqttmux top [-s SESSION] [--interval SECONDS] [-n COUNT] "
			"[-b | --once]\n");
	return EX_USAGE;
}

static int top_args(int argc, char **argv, struct top_opts *o)
{
	static const struct option opts[] = {
		{ "session", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "batch", no_argument, NULL, 'b' },
		{ "once", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+s:n:bi:", opts, NULL)) != -1) {
		if (c == 's' && optarg[0])
			o->session = optarg;
		else if (c == 'b')
			o->batch = true;
		else if (c == 'o')
			o->once = true;
		else if (c == 'n' && mm_cli_parse_long(optarg, 1, 1L << 40, &o->count) == 0)
			continue;
		else if (c != 'i' || mm_cli_parse_secs(optarg, 3600, &o->interval) < 0 ||
			 o->interval < 0.1)
			return -1;
	}
	return optind == argc ? 0 : -1;
}

/* One read of the daemon; returns 0 or prints why not and returns -1. */
static int take(const char *dir, struct mm_top_snap *s)
{
	char *text = NULL;
	int r = mqttmux_session_status(dir, &s->st, &s->nst);

	if (r == 0)
		r = mqttmux_metrics_prometheus(dir, &text);
	if (r < 0) {
		fprintf(stderr, "mqttmux top: cannot read the daemon in %s: %s\n",
			dir ? dir : MQTTMUX_DEFAULT_DIR, strerror(-r));
		return -1;
	}
	s->mono_ms = mm_time_mono_ms();
	mm_top_parse(s, text);
	free(text);
	return 0;
}

static int term_width(bool tty)
{
	struct winsize w;

	if (tty && ioctl(1, TIOCGWINSZ, &w) == 0 && w.ws_col >= 40)
		return w.ws_col;
	return 0; /* no limit */
}

int mm_cli_top(const char *dir, int argc, char **argv)
{
	struct top_opts o = { .interval = 1.0 };
	struct mm_top_snap prev = { 0 }, cur = { 0 };
	bool tty;
	int rc = 0;

	if (top_args(argc, argv, &o) < 0)
		return top_usage();
	tty = !o.batch && !o.once && isatty(1);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (tty)
		raw_on();
	if (take(dir, &prev) < 0)
		return 1;
	for (long n = 0; !o.count || n < o.count; n++) {
		if (wait_or_quit((int64_t)(o.interval * 1000)))
			break;
		if (take(dir, &cur) < 0) {
			rc = 1;
			break;
		}
		mm_top_print(stdout, &prev, &cur, o.session, tty, term_width(tty));
		fflush(stdout);
		mm_top_snap_done(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		if (o.once)
			break;
	}
	mm_top_snap_done(&prev);
	mm_top_snap_done(&cur);
	raw_off();
	return rc;
}
