/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: reload the config file. The new file is validated completely first; on any problem
 * the running config is kept whole and every problem is logged with file:line. Otherwise
 * sessions are compared block by block (mm_cfg_session_equal): removed sessions are stopped
 * and forgotten, changed ones are stopped and started again (with new rings only if their
 * ring size changed), added ones are started, and unchanged ones are not touched at all.
 * The router is never restarted: it learns of each change over its channel (sup_router.c),
 * and new client options too. The new file is merged with state_dir first (sup_state.c).
 * `add` and `remove` on the control socket change the running set in place (sup_state.c):
 * they never read the config file, whose edits take effect only through a reload.
 */
#include <string.h>

#include "log.h"
#include "sup.h"

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Load and validate the file again; logs every problem. Returns the new config or NULL. */
static struct mm_cfg *load(struct mm_sup *s)
{
	struct mm_cfg_diag diag;
	struct mm_cfg *cfg = NULL;
	int r;

	mm_cfg_diag_init(&diag);
	r = mm_cfg_load(s->config_path, &cfg, &diag);
	if (r < 0) {
		for (size_t i = 0; i < mm_cfg_diag_count(&diag); i++)
			mm_log(MM_LOG_ERROR, "reload: %s", mm_cfg_diag_line(&diag, i));
		if (!mm_cfg_diag_count(&diag))
			mm_log_errno(r, "reload: cannot read '%s'", s->config_path);
		mm_log(MM_LOG_ERROR, "reload failed: keeping the running config");
		cfg = NULL;
	}
	mm_cfg_diag_done(&diag);
	if (cfg)
		mm_sup_state_merge(s, cfg);
	return cfg;
}

/* Flag every running session that the new config removes or changes; returns how many. */
static size_t mark(struct mm_sup *s, const struct mm_cfg *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];
		const struct mm_cfg_session *old, *now;

		if (!c->name || c->remove)
			continue;
		old = mm_cfg_session_find(s->cfg, c->name);
		now = mm_cfg_session_find(cfg, c->name);
		if (!now)
			c->remove = true;
		else if (!old || !mm_cfg_session_equal(old, now))
			c->respawn = true;
		else
			continue;
		mm_log(MM_LOG_INFO, "reload: session '%s' %s", c->name,
		       c->remove ? "removed: stopping it" : "changed: restarting it");
		n++;
	}
	return n;
}

static bool running(const struct mm_sup *s, const char *name)
{
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name && !s->children[i].remove &&
		    !strcmp(s->children[i].name, name))
			return true;
	return false;
}

/* Start every session of the running config that has no worker record yet. */
void mm_sup_start_new(struct mm_sup *s)
{
	for (size_t i = 0; i < s->cfg->n_sessions; i++) {
		const struct mm_cfg_session *sess = &s->cfg->sessions[i];

		if (running(s, sess->name))
			continue;
		mm_log(MM_LOG_INFO, "session '%s' added", sess->name);
		if (mm_sup_child_add(s, sess) < 0) {
			mm_sup_child_done(&s->children[s->n_children - 1]);
			continue;
		}
	}
	mm_sup_groups_start(s);
}

/*
 * Make <cfg> (the config file merged with state_dir, owned by <s> from now on) the running set:
 * stop removed sessions, restart changed ones, start new ones, restart the router if needed.
 */
void mm_sup_reload_apply(struct mm_sup *s, struct mm_cfg *cfg)
{
	bool clients = !mm_cfg_clients_equal(&s->cfg->clients, &cfg->clients);
	size_t changed;

	if (!str_equal(cfg->runtime_dir, s->cfg->runtime_dir) ||
	    !str_equal(cfg->state_dir, s->cfg->state_dir))
		mm_log(MM_LOG_WARNING, "reload: runtime_dir and state_dir change only on restart");
	changed = mark(s, cfg);
	mm_cfg_free(s->cfg);
	s->cfg = cfg;
	/* children started from now on inherit the new format (log.h) */
	mm_log_set_level((enum mm_log_level)cfg->log_level);
	mm_log_set_json(cfg->log_format == MM_CFG_LOG_JSON);
	mm_sup_state_sync(s);
	mm_sup_policy_from_cfg(&s->policy, &cfg->restart);
	mm_sup_pace_apply(s);
	/* The flags are set first: a child without a process goes down at once and acts on them. */
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].remove || s->children[i].respawn)
			mm_sup_apply(s, &s->children[i], MM_CHILD_EV_STOP_REQ);
	mm_sup_start_new(s);
	if (clients)
		mm_sup_router_clients(s);
	mm_log(MM_LOG_INFO, "applied '%s': %zu session(s) removed or changed", s->config_path,
	       changed);
}

/* `remove NAME`: the worker of session <name> (not a namesake already stopping) stops. */
void mm_sup_stop_removed(struct mm_sup *s, const char *name)
{
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (c->name && !c->remove && !strcmp(c->name, name)) {
			c->remove = true;
			c->respawn = false;
			mm_sup_apply(s, c, MM_CHILD_EV_STOP_REQ);
			return;
		}
	}
}

/* Count the reload's result for mqttmux_config_* (docs/metrics.md, "Reloads"). */
static void count(struct mm_sup *s, bool ok)
{
	s->reloads.last_ok = ok;
	if (ok) {
		s->reloads.ok++;
		s->reloads.last_ok_s = (double)(mm_time_real_ns() / MM_NS_PER_MS) / 1e3;
	} else {
		s->reloads.failed++;
	}
}

/* Handle SIGHUP (see the file comment). Never fails: a bad file only logs. */
void mm_sup_reload(struct mm_sup *s)
{
	struct mm_cfg *cfg = load(s);

	count(s, cfg != NULL);
	if (cfg)
		mm_sup_reload_apply(s, cfg);
}
