/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: figures and the verdict. Each figure is printed as one line (name, value,
 * target, ok or MISSED) and all of them go to <out>/<scenario>.json for docs/reliability.md.
 * A sanitizer report in any log of the run also fails it: a worker that ASan kills is
 * restarted like any crash and would otherwise go unnoticed.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc.h"

static const char *const op_names[_SC_OP_MAX] = { "<=", ">=", "" };

void sc_fig(struct sc_env *e, const char *name, double value, enum sc_op op, double target,
	    const char *unit)
{
	struct sc_fig *f;

	if (e->nfig == SC_MAX_FIG)
		return;
	f = &e->fig[e->nfig++];
	*f = (struct sc_fig){ .value = value, .target = target, .op = op };
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->unit, sizeof(f->unit), "%s", unit ? unit : "");
}

static bool fig_ok(const struct sc_fig *f)
{
	return f->op == SC_INFO || (f->op == SC_LE ? f->value <= f->target : f->value >= f->target);
}

/* Does <path> hold a sanitizer report? */
static bool sanitizer_report(const char *path)
{
	static const char *const marks[] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					     "runtime error:" };
	FILE *f = fopen(path, "re");
	char line[4096];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			found |= strstr(line, marks[i]) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void check_logs(struct sc_env *e)
{
	DIR *d = opendir(e->dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *path;
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".log") || !(path = sc_path(e, de->d_name)))
			continue;
		if (sanitizer_report(path))
			sc_fail(e, "sanitizer report in %s", path);
		free(path);
	}
	if (d)
		closedir(d);
}

static void write_json(const struct sc_env *e, bool ok)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.json", e->out, e->name);
	if (!(f = fopen(path, "we")))
		return;
	fprintf(f, "{\"scenario\":\"%s\",\"long\":%s,\"ok\":%s,\"figures\":[", e->name,
		e->long_form ? "true" : "false", ok ? "true" : "false");
	for (size_t i = 0; i < e->nfig; i++) {
		const struct sc_fig *g = &e->fig[i];

		fprintf(f, "%s{\"name\":\"%s\",\"value\":%g,\"unit\":\"%s\",\"op\":\"%s\"",
			i ? "," : "", g->name, g->value, g->unit, op_names[g->op]);
		if (g->op != SC_INFO)
			fprintf(f, ",\"target\":%g,\"ok\":%s", g->target,
				fig_ok(g) ? "true" : "false");
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
	fclose(f);
}

/* Print the figures and the verdict. Returns the exit status: 0 all met, 1 otherwise. */
int sc_report(struct sc_env *e)
{
	bool ok;

	check_logs(e);
	ok = !e->broke;
	printf("# %s (%s form)\n", e->name, e->long_form ? "long" : "short");
	for (size_t i = 0; i < e->nfig; i++) {
		const struct sc_fig *f = &e->fig[i];

		ok &= fig_ok(f);
		if (f->op == SC_INFO)
			printf("  %-28s %12g %-6s\n", f->name, f->value, f->unit);
		else
			printf("  %-28s %12g %-6s target %s %g  %s\n", f->name, f->value, f->unit,
			       op_names[f->op], f->target, fig_ok(f) ? "ok" : "MISSED");
	}
	printf("# %s: %s\n", e->name, ok ? "passed" : "FAILED");
	fflush(stdout);
	write_json(e, ok);
	e->broke |= !ok; /* keeps the run's directory for a look */
	return ok ? 0 : 1;
}
