/* SPDX-License-Identifier: MIT */
/* `mqttmux top` (cli_top.c): one read of the daemon, and the view of two reads (cli_top_view.c). */
#ifndef MM_CLI_TOP_H
#define MM_CLI_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mqttmux.h"

#define MM_TOP_NAME_MAX 256

/* Per-session numbers only the metrics text has. */
struct mm_top_smet {
	char name[MM_TOP_NAME_MAX];
	uint64_t drops;	     /* mqttmux_session_oversize_dropped_total */
	uint64_t fill, size; /* in-ring, bytes */
	bool failed;
};

/* A router client (mqttmux_client_*{client, slot}). */
struct mm_top_client {
	char name[MM_TOP_NAME_MAX];
	unsigned slot;
	uint64_t pid, routes, fill, size, delivered, dropped, gaps, queued;
};

struct mm_top_snap {
	int64_t mono_ms; /* when it was read, 0 = empty */
	struct mqttmux_session_status *st;
	size_t nst;
	struct mm_top_smet *sm;
	size_t nsm;
	struct mm_top_client *cl;
	size_t ncl;
	uint64_t rtr_in, rtr_out; /* mqttmux_router_messages_total, _fanout_total */
	double uptime;
};

int mm_cli_top(const char *dir, int argc, char **argv);

/* Fill the metrics part of <s> from the Prometheus text <text> (unknown lines are skipped). */
void mm_top_parse(struct mm_top_snap *s, const char *text);
void mm_top_snap_done(struct mm_top_snap *s);

/*
 * Write the view of <cur> (rates against <prev>) to <f>: a header line, the sessions (only
 * <session> if not NULL) and the clients. <tty>: redraw the screen in place; <width>: cut lines
 * there (0: never).
 */
void mm_top_print(FILE *f, const struct mm_top_snap *prev, const struct mm_top_snap *cur,
		  const char *session, bool tty, int width);

#endif /* MM_CLI_TOP_H */
