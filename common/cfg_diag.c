/* SPDX-License-Identifier: MIT */
/*
 * The list of problems a config load found (struct mm_cfg_diag), and the one function every
 * check reports through, which gives all messages the same "file:line: 'key' in session 'x':
 * what is wrong" shape. Printing the list is the caller's choice; nothing here logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_read.h"

/* Prepare an empty list. */
void mm_cfg_diag_init(struct mm_cfg_diag *d)
{
	d->lines = NULL;
	d->n = 0;
	d->cap = 0;
}

/* Free every message and leave an empty list; NULL and a second call are fine. */
void mm_cfg_diag_done(struct mm_cfg_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	mm_cfg_diag_init(d);
}

/* Append <line>, taking ownership of it (freed here on failure). Returns 0 or -ENOMEM. */
static int diag_push(struct mm_cfg_diag *d, char *line)
{
	char **p;
	size_t cap;

	if (d->n == d->cap) {
		cap = d->cap ? d->cap * 2 : 8;
		p = realloc(d->lines, cap * sizeof(*p));
		if (!p) {
			free(line);
			return -ENOMEM;
		}
		d->lines = p;
		d->cap = cap;
	}
	d->lines[d->n++] = line;
	return 0;
}

/* Append one printf-formatted message. Returns 0 or -ENOMEM. */
int mm_cfg_diag_add(struct mm_cfg_diag *d, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return diag_push(d, line);
}

/* Number of messages; 0 for NULL. */
size_t mm_cfg_diag_count(const struct mm_cfg_diag *d)
{
	return d ? d->n : 0;
}

/* Message <i> (0-based), owned by the list; NULL when out of range. */
const char *mm_cfg_diag_line(const struct mm_cfg_diag *d, size_t i)
{
	if (!d || i >= d->n)
		return NULL;
	return d->lines[i];
}

/* Write every message to <f>, one per line. Returns the number written or -EIO. */
int mm_cfg_diag_print(const struct mm_cfg_diag *d, FILE *f)
{
	size_t i;

	for (i = 0; i < mm_cfg_diag_count(d); i++) {
		if (fprintf(f, "%s\n", d->lines[i]) < 0)
			return -EIO;
	}
	return (int)i;
}

/* Record that an allocation failed: the load then returns -ENOMEM whatever else it found. */
void mm_cfg_oom(struct mm_cfg_ctx *c)
{
	if (!c->err)
		c->err = -ENOMEM;
}

/*
 * Report one problem at <line> of <file>. With a <key> the message reads
 * "file:line: 'group.key' in session 'x': <msg>"; without one "file:line: <msg> in session 'x'",
 * which suits "unknown key 'foo'". Messages never carry secret values: callers pass names only.
 */
static void cfg_vbad(struct mm_cfg_ctx *c, const char *file, unsigned int line, const char *key,
		     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void cfg_vbad(struct mm_cfg_ctx *c, const char *file, unsigned int line, const char *key,
		     const char *fmt, va_list ap)
{
	char *msg;
	int r;

	c->problems++;
	if (vasprintf(&msg, fmt, ap) < 0) {
		mm_cfg_oom(c);
		return;
	}
	if (key)
		r = mm_cfg_diag_add(c->diag, "%s:%u: '%s%s'%s: %s", file, line, c->group, key,
				    c->where, msg);
	else
		r = mm_cfg_diag_add(c->diag, "%s:%u: %s%s", file, line, msg, c->where);
	free(msg);
	if (r < 0)
		mm_cfg_oom(c);
}

/* Report one problem at setting <s> (NULL: the file itself); see cfg_vbad for the wording. */
void mm_cfg_bad(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key, const char *fmt,
		...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned int line = s ? config_setting_source_line(s) : 0;
	va_list ap;

	va_start(ap, fmt);
	cfg_vbad(c, file ? file : c->path, line, key, fmt, ap);
	va_end(ap);
}

/* Report one problem at <line> of <file>, where no libconfig setting stands for it. */
void mm_cfg_bad_at(struct mm_cfg_ctx *c, const char *file, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vbad(c, file, line, NULL, fmt, ap);
	va_end(ap);
}
