/* SPDX-License-Identifier: MIT */
/* The worker's connection state machine (see wrk_fsm.h): one constant table. */
#include "wrk_fsm.h"

struct step {
	enum mm_wrk_conn next;
	enum mm_wrk_act act;
};

#define I  MM_WRK_CONN_IDLE
#define C  MM_WRK_CONN_CONNECTING
#define RF MM_WRK_CONN_REFUSED
#define U  MM_WRK_CONN_UP
#define CL MM_WRK_CONN_CLOSING
#define W  MM_WRK_CONN_WAITING
#define SG MM_WRK_CONN_STOPPING
#define SD MM_WRK_CONN_STOPPED
#define D  MM_WRK_CONN_DONE

#define N  MM_WRK_ACT_NONE
#define AT MM_WRK_ACT_ATTEMPT
#define RT MM_WRK_ACT_RETRY
#define GU MM_WRK_ACT_GIVE_UP
#define DC MM_WRK_ACT_DISCONNECT
#define EX MM_WRK_ACT_EXIT
#define RX MM_WRK_ACT_REPORT_EXIT

/* clang-format off */
static const struct step Table[_MM_WRK_CONN_MAX][_MM_WRK_CONN_EV_MAX] = {
	/*              START       CONNACK    REFUSED     DISCONNECTED LOST        LOST_FINAL  STOP        STOP_TIMER  FATAL */
	[I]  = { { C, AT },  { I, N },  { I, N },   { I, N },   { I, N },   { I, N },   { D, EX },  { I, N }, { D, EX } },
	[C]  = { { C, N },   { U, N },  { RF, N },  { C, N },   { W, RT },  { I, GU },  { SD, EX }, { C, N }, { D, EX } },
	[RF] = { { RF, N },  { U, N },  { RF, N },  { RF, N },  { W, RT },  { I, GU },  { SD, EX }, { RF, N }, { D, EX } },
	[U]  = { { U, N },   { U, N },  { RF, N },  { CL, N },  { W, RT },  { I, GU },  { SG, DC }, { U, N }, { D, EX } },
	[CL] = { { CL, N },  { U, N },  { RF, N },  { CL, N },  { W, RT },  { I, GU },  { SD, EX }, { CL, N }, { D, EX } },
	[W]  = { { C, AT },  { W, N },  { W, N },   { W, N },   { W, N },   { W, N },   { D, EX },  { W, N }, { D, EX } },
	[SG] = { { SG, N },  { SG, N }, { SG, N },  { SG, N },  { D, RX },  { D, RX },  { SG, N },  { SD, EX }, { D, EX } },
	[SD] = { { SD, N },  { SD, N }, { SD, N },  { SD, N },  { D, RX },  { D, RX },  { SD, N },  { SD, N }, { D, EX } },
	[D]  = { { D, N },   { D, N },  { D, N },   { D, N },   { D, N },   { D, N },   { D, N },   { D, N }, { D, N } },
};
/* clang-format on */

enum mm_wrk_act mm_wrk_fsm_feed(enum mm_wrk_conn *st, enum mm_wrk_conn_ev ev)
{
	const struct step *s;

	if ((unsigned)*st >= _MM_WRK_CONN_MAX || (unsigned)ev >= _MM_WRK_CONN_EV_MAX)
		return MM_WRK_ACT_NONE;
	s = &Table[*st][ev];
	*st = s->next;
	return s->act;
}

bool mm_wrk_conn_is_up(enum mm_wrk_conn st)
{
	return st == MM_WRK_CONN_UP;
}

bool mm_wrk_conn_is_stopping(enum mm_wrk_conn st)
{
	return st == MM_WRK_CONN_STOPPING || st == MM_WRK_CONN_STOPPED || st == MM_WRK_CONN_DONE;
}

bool mm_wrk_conn_is_done(enum mm_wrk_conn st)
{
	return st == MM_WRK_CONN_STOPPED || st == MM_WRK_CONN_DONE;
}

/* After a reported loss the old socket is ignored until the next attempt makes a new one. */
bool mm_wrk_conn_takes_socket(enum mm_wrk_conn st)
{
	return st != MM_WRK_CONN_IDLE && st != MM_WRK_CONN_WAITING && st != MM_WRK_CONN_DONE;
}

const char *mm_wrk_conn_to_string(enum mm_wrk_conn st)
{
	static const char *const names[_MM_WRK_CONN_MAX] = {
		[MM_WRK_CONN_IDLE] = "idle",	     [MM_WRK_CONN_CONNECTING] = "connecting",
		[MM_WRK_CONN_REFUSED] = "refused",   [MM_WRK_CONN_UP] = "up",
		[MM_WRK_CONN_CLOSING] = "closing",   [MM_WRK_CONN_WAITING] = "waiting",
		[MM_WRK_CONN_STOPPING] = "stopping", [MM_WRK_CONN_STOPPED] = "stopped",
		[MM_WRK_CONN_DONE] = "done",
	};

	return (unsigned)st < _MM_WRK_CONN_MAX ? names[st] : "unknown";
}

const char *mm_wrk_conn_ev_to_string(enum mm_wrk_conn_ev ev)
{
	static const char *const names[_MM_WRK_CONN_EV_MAX] = {
		[MM_WRK_CONN_EV_START] = "start",
		[MM_WRK_CONN_EV_CONNACK] = "connack",
		[MM_WRK_CONN_EV_REFUSED] = "refused",
		[MM_WRK_CONN_EV_DISCONNECTED] = "disconnected",
		[MM_WRK_CONN_EV_LOST] = "lost",
		[MM_WRK_CONN_EV_LOST_FINAL] = "lost_final",
		[MM_WRK_CONN_EV_STOP] = "stop",
		[MM_WRK_CONN_EV_STOP_TIMER] = "stop_timer",
		[MM_WRK_CONN_EV_FATAL] = "fatal",
	};

	return (unsigned)ev < _MM_WRK_CONN_EV_MAX ? names[ev] : "unknown";
}

const char *mm_wrk_act_to_string(enum mm_wrk_act a)
{
	static const char *const names[_MM_WRK_ACT_MAX] = {
		[MM_WRK_ACT_NONE] = "none",
		[MM_WRK_ACT_ATTEMPT] = "attempt",
		[MM_WRK_ACT_RETRY] = "retry",
		[MM_WRK_ACT_GIVE_UP] = "give_up",
		[MM_WRK_ACT_DISCONNECT] = "disconnect",
		[MM_WRK_ACT_EXIT] = "exit",
		[MM_WRK_ACT_REPORT_EXIT] = "report_exit",
	};

	return (unsigned)a < _MM_WRK_ACT_MAX ? names[a] : "unknown";
}
