/* SPDX-License-Identifier: MIT */
/*
 * systemd notifications (see sup_notify.h). Everything goes through sd_notify(3), which does
 * nothing when NOTIFY_SOCKET is not set; without libsystemd every function is a no-op and
 * Type=simple is the unit to use. A failed sd_notify is logged once and otherwise ignored: the
 * daemon never stops supervising because systemd is not listening.
 */
#include "sup_notify.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mm_time.h"
#include "sup.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static struct {
	bool on;	      /* NOTIFY_SOCKET is set */
	bool ready_sent;      /* READY=1 went out (the first time) */
	bool failed_logged;   /* one warning for sd_notify errors */
	uint64_t start_ns;    /* when the supervisor started: READY=1 at most ..._MAX_NS later */
	uint64_t wd_every_ns; /* WATCHDOG=1 interval: half of WATCHDOG_USEC; 0: no watchdog */
	uint64_t wd_next_ns;
	uint64_t status_ns; /* when STATUS= was last recomputed */
	char status[160];   /* the STATUS= text last sent */
} N;

static void notify(const char *text)
{
	int r = sd_notify(0, text);

	if (r < 0 && !N.failed_logged) {
		N.failed_logged = true;
		mm_log_errno(r, "sd_notify to '%s' failed", getenv("NOTIFY_SOCKET"));
	}
}

/* Read NOTIFY_SOCKET and WATCHDOG_USEC (WATCHDOG_PID, when set, must be ours). */
void mm_sup_notify_init(uint64_t now_ns)
{
	uint64_t usec = 0;

	memset(&N, 0, sizeof(N));
	N.on = getenv("NOTIFY_SOCKET") != NULL;
	N.start_ns = now_ns;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		N.wd_every_ns = usec * 1000 / 2;
		if (N.wd_every_ns < MM_SUP_NOTIFY_WD_MIN_NS) /* a silly WatchdogSec: no busy loop */
			N.wd_every_ns = MM_SUP_NOTIFY_WD_MIN_NS;
		N.wd_next_ns = now_ns;
		mm_log(MM_LOG_INFO, "systemd watchdog: WATCHDOG=1 every %llu ms",
		       (unsigned long long)(N.wd_every_ns / 1000000));
	}
}

/* Is the session of <c> connected and subscribed, by its current worker? */
static bool session_ready(const struct mm_sup_child *c)
{
	const struct mm_stats_block *st = c->m.st;

	return c->fsm.state == MM_CHILD_UP && st && c->pid > 0 &&
	       atomic_load_explicit(&st->worker_pid, memory_order_relaxed) == (uint32_t)c->pid &&
	       atomic_load_explicit(&st->state, memory_order_relaxed) == MM_SESS_READY;
}

/*
 * Put the status line in <buf>; returns true when everything has settled: the router is up
 * and every session is ready or failed for good (exit 64/78, not restarted).
 */
static bool describe(const struct mm_sup *s, char *buf, size_t size)
{
	const char *router = s->router.fsm.state == MM_CHILD_UP ? "up" : "not ready";
	size_t n = 0, ready = 0, failed = 0;

	for (size_t i = 0; i < s->n_children; i++) {
		const struct mm_sup_child *c = &s->children[i];

		if (!c->name || c->remove)
			continue;
		n++;
		ready += session_ready(c);
		failed += c->fsm.state == MM_CHILD_FAILED;
	}
	if (failed)
		snprintf(buf, size, "%zu/%zu session(s) ready, %zu failed, router %s", ready, n,
			 failed, router);
	else
		snprintf(buf, size, "%zu/%zu session(s) ready, router %s", ready, n, router);
	return s->router.fsm.state == MM_CHILD_UP && ready + failed == n;
}

static void send_status(const char *prefix, const char *status)
{
	char text[256];

	snprintf(N.status, sizeof(N.status), "%s", status);
	snprintf(text, sizeof(text), "%sSTATUS=%s", prefix, status);
	notify(text);
}

/* Each loop turn: the watchdog when due, READY=1 once settled, STATUS= when it changed. */
void mm_sup_notify_tick(struct mm_sup *s, uint64_t now_ns)
{
	char status[sizeof(N.status)];
	bool settled;

	if (!N.on)
		return;
	if (N.wd_every_ns && now_ns >= N.wd_next_ns) {
		notify("WATCHDOG=1");
		N.wd_next_ns = now_ns + N.wd_every_ns;
	}
	if (s->stopping || (N.ready_sent && now_ns - N.status_ns < MM_NS_PER_SEC))
		return;
	N.status_ns = now_ns;
	settled = describe(s, status, sizeof(status));
	if (!N.ready_sent && (settled || now_ns - N.start_ns >= MM_SUP_NOTIFY_READY_MAX_NS)) {
		N.ready_sent = true;
		if (!settled)
			mm_log(MM_LOG_WARNING,
			       "READY=1 to systemd after %llu s, not everything "
			       "is ready: %s",
			       (unsigned long long)(MM_SUP_NOTIFY_READY_MAX_NS / MM_NS_PER_SEC),
			       status);
		send_status("READY=1\n", status);
	} else if (strcmp(status, N.status)) {
		send_status("", status);
	}
}

/* <ms> (the loop's poll timeout), shortened to the next keep-alive or readiness check. */
int mm_sup_notify_timeout(int ms, uint64_t now_ns)
{
	if (!N.on)
		return ms;
	if (!N.ready_sent && ms > MM_SUP_NOTIFY_RECHECK_MS)
		ms = MM_SUP_NOTIFY_RECHECK_MS;
	if (N.wd_every_ns) {
		uint64_t left = N.wd_next_ns > now_ns ? N.wd_next_ns - now_ns : 0;
		int wd = (int)((left + 999999) / 1000000);

		if (wd < ms)
			ms = wd;
	}
	return ms;
}

/*
 * Before a SIGHUP reload (MONOTONIC_USEC as systemd's Type=notify-reload asks). Not before the
 * first READY=1: a unit still starting is not reloading, and READY=1 will end the start.
 */
void mm_sup_notify_reloading(void)
{
	char text[128];

	if (!N.on || !N.ready_sent)
		return;
	snprintf(text, sizeof(text), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(mm_time_mono_ns() / 1000));
	notify(text);
	N.status[0] = '\0';
}

/* After the reload was applied (or refused): READY=1 again, if it had been sent before. */
void mm_sup_notify_reloaded(struct mm_sup *s)
{
	char status[sizeof(N.status)];

	if (!N.on || !N.ready_sent)
		return;
	(void)describe(s, status, sizeof(status));
	send_status("READY=1\n", status);
}

void mm_sup_notify_stopping(const struct mm_sup *s)
{
	char status[64];

	if (!N.on)
		return;
	snprintf(status, sizeof(status), "stopping %zu session(s)", s->n_children);
	send_status("STOPPING=1\n", status);
}

#else /* !HAVE_LIBSYSTEMD */

void mm_sup_notify_init(uint64_t now_ns)
{
	(void)now_ns;
}

void mm_sup_notify_tick(struct mm_sup *s, uint64_t now_ns)
{
	(void)s;
	(void)now_ns;
}

int mm_sup_notify_timeout(int ms, uint64_t now_ns)
{
	(void)now_ns;
	return ms;
}

void mm_sup_notify_reloading(void)
{
}

void mm_sup_notify_reloaded(struct mm_sup *s)
{
	(void)s;
}

void mm_sup_notify_stopping(const struct mm_sup *s)
{
	(void)s;
}

#endif /* HAVE_LIBSYSTEMD */
