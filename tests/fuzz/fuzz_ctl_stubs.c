/* SPDX-License-Identifier: MIT */
/*
 * Stand-ins for the supervisor's actions, for fuzz_ctl.c: the command parser runs for real,
 * but applying a state change, reloading, adding or removing a session and building the
 * metrics text do nothing (or answer as a daemon that refuses would). Link seam, like the
 * unit tests' stub_mosquitto.c.
 */
#include <errno.h>
#include <string.h>

#include "metrics.h"
#include "sup.h"

void mm_sup_apply(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev)
{
	(void)s;
	(void)c;
	(void)ev;
}

void mm_sup_reload(struct mm_sup *s)
{
	(void)s;
}

/* add: a path naming "bad" has problems, any other is not there. */
int mm_sup_state_add(struct mm_sup *s, const struct mm_cfg_session_src *src, const char *who,
		     struct mm_cfg_diag *diag)
{
	const char *path = src->path;

	(void)s;
	(void)who;
	if (strstr(path, "bad")) {
		(void)mm_cfg_diag_add(diag, "%s:1: 'name' in session 'x': is bad", path);
		return -EINVAL;
	}
	return -ENOENT;
}

void mm_sup_start_new(struct mm_sup *s)
{
	(void)s;
}

void mm_sup_stop_removed(struct mm_sup *s, const char *name)
{
	(void)s;
	(void)name;
}

void mm_sup_state_drop(struct mm_sup *s, const char *name)
{
	(void)s;
	(void)name;
}

/* Nothing is journaled: replies are never held. */
bool mm_sup_journal_pending(const struct mm_sup_journal *j)
{
	(void)j;
	return false;
}

int mm_sup_state_remove(struct mm_sup *s, const char *name, const char *who,
			struct mm_cfg_diag *diag)
{
	(void)who;
	(void)diag;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name && !strcmp(s->children[i].name, name))
			return 0;
	return -ENOENT;
}

int mm_sup_metrics_text(struct mm_sup *s, struct mm_metrics_buf *b)
{
	(void)s;
	(void)b;
	return 0;
}

const char *mm_sup_nofile_text(void)
{
	return "";
}

/* The stand-in's sessions have no worker, hence no stats block. */
const struct mm_stats_block *mm_sup_child_stats(struct mm_sup_child *c)
{
	(void)c;
	return NULL;
}
