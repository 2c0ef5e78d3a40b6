/* SPDX-License-Identifier: MIT */
/*
 * systemd notifications of mqttmuxd (sup_notify.c): READY=1, STATUS=..., RELOADING=1,
 * STOPPING=1 and the watchdog keep-alive, through libsystemd's sd_notify when the build found
 * libsystemd (HAVE_LIBSYSTEMD), else no-ops. The state is per process, like the NOTIFY_SOCKET
 * and WATCHDOG_USEC variables it comes from: one supervisor per process.
 *
 * READY=1 is sent once the router and every session of the initial config are ready (worker
 * READY and the session connected and subscribed), or MM_SUP_NOTIFY_READY_MAX_NS after the
 * start, whichever comes first, so that a broker that is down delays the start but does not
 * fail the unit. The watchdog is fed from the supervisor loop (no thread): mm_sup_notify_timeout
 * shortens the poll timeout to the next keep-alive, mm_sup_notify_tick sends what is due.
 * See docs/operations.md ("systemd").
 */
#ifndef MM_SUP_NOTIFY_H
#define MM_SUP_NOTIFY_H

#include <stdint.h>

#include "sup_fsm.h"

#define MM_SUP_NOTIFY_READY_MAX_NS (30 * MM_NS_PER_SEC) /* start to READY=1, at most */
#define MM_SUP_NOTIFY_RECHECK_MS   20 /* poll timeout while READY=1 is not sent yet */
#define MM_SUP_NOTIFY_WD_MIN_NS	   (10 * 1000000ull) /* WATCHDOG=1 at most this often */

struct mm_sup;

void mm_sup_notify_init(uint64_t now_ns);
void mm_sup_notify_tick(struct mm_sup *s, uint64_t now_ns);
int mm_sup_notify_timeout(int ms, uint64_t now_ns);
void mm_sup_notify_reloading(void);
void mm_sup_notify_reloaded(struct mm_sup *s);
void mm_sup_notify_stopping(const struct mm_sup *s);

#endif /* MM_SUP_NOTIFY_H */
