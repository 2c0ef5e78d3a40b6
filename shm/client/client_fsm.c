/* SPDX-License-Identifier: MIT */
/* libmqttmux's connection state machine (see client_fsm.h): one constant table. */
#include "client_fsm.h"

struct step {
	enum mm_cl_conn next;
	enum mm_cl_act act;
};

#define CN MM_CL_CONNECTING
#define U  MM_CL_UP
#define B  MM_CL_BROKEN
#define L  MM_CL_LOST
#define W  MM_CL_WAITING
#define R  MM_CL_REJOINING

#define N  MM_CL_ACT_NONE
#define IG MM_CL_ACT_IGNORED
#define TD MM_CL_ACT_TEARDOWN
#define AT MM_CL_ACT_ATTEMPT
#define BO MM_CL_ACT_BACKOFF
#define RC MM_CL_ACT_RECONNECTED

/* clang-format off */
static const struct step Table[_MM_CL_CONN_MAX][_MM_CL_CONN_EV_MAX] = {
	/*          JOINED      FAILED     NOTICED    DRAINED    DUE        ATTEMPT_FAILED */
	[CN] = { { U, N },   { B, N },  { CN, IG }, { CN, IG }, { CN, IG }, { CN, IG } },
	[U]  = { { U, IG },  { B, N },  { L, N },   { U, IG },  { U, IG },  { U, IG } },
	[B]  = { { B, IG },  { B, IG }, { L, N },   { B, IG },  { B, IG },  { W, BO } },
	[L]  = { { L, IG },  { L, IG }, { L, IG },  { W, TD },  { L, IG },  { L, IG } },
	[W]  = { { W, IG },  { W, IG }, { W, IG },  { W, IG },  { R, AT },  { W, IG } },
	[R]  = { { U, RC },  { B, N },  { R, IG },  { R, IG },  { R, IG },  { W, BO } },
};
/* clang-format on */

enum mm_cl_act mm_cl_fsm_feed(enum mm_cl_conn *st, enum mm_cl_conn_ev ev)
{
	const struct step *s;

	if ((unsigned)*st >= _MM_CL_CONN_MAX || (unsigned)ev >= _MM_CL_CONN_EV_MAX)
		return MM_CL_ACT_IGNORED;
	s = &Table[*st][ev];
	*st = s->next;
	return s->act;
}

bool mm_cl_conn_is_up(enum mm_cl_conn st)
{
	return st == MM_CL_UP;
}

/* Before it is up, a connection sends HELLO and the routes; a broken one sends nothing. */
bool mm_cl_conn_can_send(enum mm_cl_conn st)
{
	return st == MM_CL_CONNECTING || st == MM_CL_UP || st == MM_CL_REJOINING;
}

/* A broken connection is still served until dispatch notices it, as if it were up. */
bool mm_cl_conn_is_offline(enum mm_cl_conn st)
{
	return st == MM_CL_LOST || st == MM_CL_WAITING || st == MM_CL_REJOINING;
}

const char *mm_cl_conn_to_string(enum mm_cl_conn st)
{
	static const char *const names[_MM_CL_CONN_MAX] = {
		[MM_CL_CONNECTING] = "connecting", [MM_CL_UP] = "up",
		[MM_CL_BROKEN] = "broken",	   [MM_CL_LOST] = "lost",
		[MM_CL_WAITING] = "waiting",	   [MM_CL_REJOINING] = "rejoining",
	};

	return (unsigned)st < _MM_CL_CONN_MAX ? names[st] : "unknown";
}

const char *mm_cl_conn_ev_to_string(enum mm_cl_conn_ev ev)
{
	static const char *const names[_MM_CL_CONN_EV_MAX] = {
		[MM_CL_EV_JOINED] = "joined",	[MM_CL_EV_FAILED] = "failed",
		[MM_CL_EV_NOTICED] = "noticed", [MM_CL_EV_DRAINED] = "drained",
		[MM_CL_EV_DUE] = "due",		[MM_CL_EV_ATTEMPT_FAILED] = "attempt_failed",
	};

	return (unsigned)ev < _MM_CL_CONN_EV_MAX ? names[ev] : "unknown";
}

const char *mm_cl_act_to_string(enum mm_cl_act a)
{
	static const char *const names[_MM_CL_ACT_MAX] = {
		[MM_CL_ACT_NONE] = "none",	   [MM_CL_ACT_IGNORED] = "ignored",
		[MM_CL_ACT_TEARDOWN] = "teardown", [MM_CL_ACT_ATTEMPT] = "attempt",
		[MM_CL_ACT_BACKOFF] = "backoff",   [MM_CL_ACT_RECONNECTED] = "reconnected",
	};

	return (unsigned)a < _MM_CL_ACT_MAX ? names[a] : "unknown";
}
