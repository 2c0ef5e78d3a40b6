/* SPDX-License-Identifier: MIT */
/*
 * The reply buffer of one control-socket connection (see sup_ctl.h): a JSON line, raw text, an
 * error, or a line of the `events` stream, appended to what the connection still has to send.
 * sup_ctl.c writes it out as the socket takes it; the commands (sup_ctl_cmd.c) and the event
 * stream (sup_events.c) fill it. Nothing here does I/O.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sup_ctl.h"

/*
 * Make room for <len> more bytes at the end of <c>'s reply. The sent part is dropped (the
 * unsent part moved to the front) when it is at least as long as the unsent part, or when room
 * is short and it is at least a quarter of the buffer; otherwise the buffer doubles. So each
 * move is paid for by as many bytes sent since the last one (a quarter of them at worst), the
 * copying stays linear however lines and sends interleave, and the capacity stays below about
 * 2.7 times the largest unsent reply. Returns 0, or -ENOMEM (nothing changed).
 */
static int out_reserve(struct mm_ctl_conn *c, size_t len)
{
	size_t unsent = c->out_len - c->out_off;
	bool short_of_room = c->out_len + len > c->out_cap;
	size_t cap;
	char *buf;

	if (c->out_off &&
	    (c->out_off >= unsent || (short_of_room && c->out_off >= c->out_cap / 4))) {
		memmove(c->out, c->out + c->out_off, unsent);
		c->out_len = unsent;
		c->out_off = 0;
	}
	if (c->out_len + len <= c->out_cap)
		return 0;
	cap = c->out_cap ? c->out_cap : MM_CTL_OUT_MIN;
	while (cap < c->out_len + len)
		cap *= 2;
	buf = realloc(c->out, cap);
	if (!buf)
		return -ENOMEM;
	c->out = buf;
	c->out_cap = cap;
	return 0;
}

/* Append <len> bytes of <text>, then a newline if <nl>; out of memory drops the client. */
static void out_append(struct mm_ctl_conn *c, const char *text, size_t len, bool nl)
{
	if (out_reserve(c, len + nl) < 0) {
		/* Out of memory: nothing sensible to say; drop the client. */
		c->closing = true;
		return;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	if (nl)
		c->out[c->out_len++] = '\n';
}

/* Serialize <o> (consumed) as one line into the reply buffer of <c>. */
void mm_sup_ctl_reply(struct mm_ctl_conn *c, struct json_object *o)
{
	const char *text = o ? json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
			     : NULL;

	if (text)
		out_append(c, text, strlen(text), true);
	else
		c->closing = true;
	json_object_put(o);
}

/* Append <len> bytes of <text> (already framed, newline included) to the reply of <c>. */
void mm_sup_ctl_reply_raw(struct mm_ctl_conn *c, const char *text, size_t len)
{
	out_append(c, text, len, false);
}

/*
 * Queue <line> (<len> bytes, newline included) for the `events` reader <c>, keeping at most
 * MM_CTL_EVENTS_BUF bytes unsent: a line that does not fit is counted in c->events_lost, and
 * the count goes out as {"type":"events_lost","count":N} before the next line that fits.
 */
void mm_sup_ctl_stream(struct mm_ctl_conn *c, const char *line, size_t len)
{
	char lost[96];
	int n;

	if (c->events_lost) {
		n = snprintf(lost, sizeof(lost), "{\"type\":\"events_lost\",\"count\":%llu}\n",
			     (unsigned long long)c->events_lost);
		if (c->out_len - c->out_off + (size_t)n + len > MM_CTL_EVENTS_BUF) {
			c->events_lost++;
			return;
		}
		mm_sup_ctl_reply_raw(c, lost, (size_t)n);
		c->events_lost = 0;
	}
	if (c->out_len - c->out_off + len > MM_CTL_EVENTS_BUF) {
		c->events_lost++;
		return;
	}
	mm_sup_ctl_reply_raw(c, line, len);
}

/* Reply {"ok": false, "error": "<message>"}. */
void mm_sup_ctl_error(struct mm_ctl_conn *c, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o) {
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(msg));
	}
	mm_sup_ctl_reply(c, o);
}
