/* SPDX-License-Identifier: MIT */
/*
 * The subscriptions file of a worker (--subs-file, docs/worker.md "Saved subscriptions"): the
 * filters the router asked for, kept across restarts for sessions with persistent and
 * resume_subs. Process-local; the file format is text:
 *
 *   mqttmux-subs 1\n
 *   <qos> <filter>\n        one line per filter, qos 0..2, one space, the filter to the end
 */
#ifndef MM_WRK_SUBS_STATE_H
#define MM_WRK_SUBS_STATE_H

#include <stddef.h>
#include <stdint.h>

struct mm_wrk;

#define MM_WRK_SUBS_HEADER   "mqttmux-subs 1"
#define MM_WRK_SUBS_FILE_MAX (4u << 20) /* bytes: a larger file is refused */
#define MM_WRK_SUBS_MAX	     16384	/* filters: a file with more is refused */
#define MM_WRK_SUBS_WHY_MAX  160

struct mm_wrk_subs_entry {
	char *topic; /* owned, a valid filter without control characters */
	int qos;     /* 0..2 */
};

struct mm_wrk_subs_list {
	struct mm_wrk_subs_entry *v;
	size_t n;
};

/* What the worker keeps of its file between loop iterations (see mm_wrk_subs_sync). */
struct mm_wrk_subs_state {
	const char *path;	       /* --subs-file, borrowed; NULL: nothing is kept */
	struct mm_wrk_subs_list saved; /* the set as last written (or read) */
	uint64_t cmd_pos;	       /* cmd-ring read position at the last comparison */
	int last_err;		       /* last write error, to log a failure once */
};

int mm_wrk_subs_parse(const char *text, size_t len, struct mm_wrk_subs_list *ret, size_t *ret_line,
		      char *why, size_t why_size);
int mm_wrk_subs_read(const char *path, struct mm_wrk_subs_list *ret, size_t *ret_line, char *why,
		     size_t why_size);
int mm_wrk_subs_write(const char *path, const struct mm_wrk_subs_list *l);
void mm_wrk_subs_list_done(struct mm_wrk_subs_list *l);

int mm_wrk_subs_restore(struct mm_wrk_subs_state *st, struct mm_wrk *w);
void mm_wrk_subs_sync(struct mm_wrk_subs_state *st, struct mm_wrk *w);
void mm_wrk_subs_state_done(struct mm_wrk_subs_state *st);

#endif /* MM_WRK_SUBS_STATE_H */
