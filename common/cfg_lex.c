/* SPDX-License-Identifier: MIT */
/*
 * The integer literals of a config file, checked against what libconfig can hold. libconfig
 * 1.5 (Debian 12) reads a decimal literal without an L suffix into a 32-bit int and silently
 * keeps the low 32 bits: "keepalive = 4294967356;" reads as 60, and no range check after the
 * parse can see it. So before the schema is walked, the text itself is scanned the way
 * libconfig's lexer splits it (strings, the three comment styles, @include), and every integer
 * literal that does not fit the type libconfig gives it is a problem at its line.
 *
 * Not for: the value ranges of the keys (cfg_read.c checks those on the parsed values).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_read.h"

#define INCLUDE_DEPTH_MAX 10 /* libconfig's own limit */
#define LEX_FILE_MAX	  (16u << 20)

struct lex {
	struct mm_cfg_ctx *c;
	const char *file; /* for messages */
	const char *p, *end;
	unsigned int line;
	int depth;
	const char *name; /* the last name before the literal: the key it is the value of */
	size_t name_len;
};

static void lex_file(struct mm_cfg_ctx *c, const char *file, int depth);

/* Report a literal of <len> bytes at <p> that libconfig would not read as written. */
static void bad_literal(struct lex *l, const char *p, size_t len, bool wide)
{
	mm_cfg_bad_at(l->c, l->file, l->line, "'%.*s': integer %.*s is out of range: %s",
		      (int)(l->name_len > 64 ? 64 : l->name_len), l->name,
		      (int)(len > 40 ? 40 : len), p,
		      wide ? "a 64-bit integer (L suffix) holds -9223372036854775808 to "
			     "9223372036854775807"
			   : "an integer without an L suffix holds -2147483648 to 2147483647; "
			     "libconfig would keep only its low 32 bits");
}

/*
 * One number token at l->p (a digit, or a sign before one): floats are skipped, integers
 * checked. The token ends at the first byte that cannot continue it.
 */
static void number(struct lex *l)
{
	const char *s = l->p, *d = s + (*s == '-' || *s == '+');
	bool neg = *s == '-', hex = d + 1 < l->end && d[0] == '0' && (d[1] == 'x' || d[1] == 'X');
	bool is_float = false, wide = false;
	unsigned long long v;
	const char *q, *digits_end;
	char buf[64];

	for (q = d; q < l->end; q++) {
		bool exp_sign = (*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E');

		if (!isalnum((unsigned char)*q) && *q != '.' && !(exp_sign && !hex))
			break;
		is_float |= !hex && (*q == '.' || *q == 'e' || *q == 'E');
	}
	l->p = q;
	if (is_float)
		return;
	digits_end = q;
	while (digits_end > d && (digits_end[-1] == 'L' || digits_end[-1] == 'l')) {
		digits_end--;
		wide = true;
	}
	if ((size_t)(digits_end - d) >= sizeof(buf))
		goto out_bad;
	memcpy(buf, d, (size_t)(digits_end - d));
	buf[digits_end - d] = '\0';
	errno = 0;
	v = strtoull(buf, NULL, hex ? 16 : 10);
	if (errno == ERANGE)
		goto out_bad;
	if (wide ? v > (unsigned long long)INT64_MAX + neg
		 : v > (unsigned long long)INT32_MAX + neg)
		goto out_bad;
	return;

out_bad:
	bad_literal(l, s, (size_t)(q - s), wide);
}

/* @include "file": scan the named file too (relative to the config file's directory). */
static void include(struct lex *l)
{
	const char *q = l->p + strlen("@include"), *name;
	char *path;

	while (q < l->end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= l->end || *q != '"')
		return;
	name = ++q;
	while (q < l->end && *q != '"' && *q != '\n')
		q++;
	if (q >= l->end || *q != '"')
		return;
	l->p = q + 1;
	if (asprintf(&path, "%s%s%.*s", name[0] == '/' ? "" : l->c->dir, name[0] == '/' ? "" : "/",
		     (int)(q - name), name) < 0) {
		mm_cfg_oom(l->c);
		return;
	}
	lex_file(l->c, path, l->depth + 1);
	free(path);
}

/* Skip from l->p (just after the opening quote) past the closing quote. */
static void skip_string(struct lex *l)
{
	while (l->p < l->end && *l->p != '"') {
		if (*l->p == '\\' && l->p + 1 < l->end)
			l->p++;
		l->line += *l->p++ == '\n';
	}
	l->p += l->p < l->end;
}

static void skip_block_comment(struct lex *l)
{
	l->p += 2;
	while (l->p + 1 < l->end && !(l->p[0] == '*' && l->p[1] == '/'))
		l->line += *l->p++ == '\n';
	l->p = l->p + 1 < l->end ? l->p + 2 : l->end;
}

/* Can a sign at <p> start a number (not the middle of a name like "a-1")? */
static bool starts_number(const struct lex *l, const char *start)
{
	const char *p = l->p;

	if (isdigit((unsigned char)*p))
		return p == start || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' ||
				       p[-1] == '-' || p[-1] == '*' || p[-1] == '.');
	return (*p == '-' || *p == '+') && p + 1 < l->end && isdigit((unsigned char)p[1]);
}

static void lex_text(struct lex *l)
{
	const char *start = l->p;

	while (l->p < l->end) {
		char ch = *l->p;

		if (ch == '\n') {
			l->line++;
			l->p++;
		} else if (ch == '"') {
			l->p++;
			skip_string(l);
		} else if (ch == '#' || (ch == '/' && l->p + 1 < l->end && l->p[1] == '/')) {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
		} else if (ch == '/' && l->p + 1 < l->end && l->p[1] == '*') {
			skip_block_comment(l);
		} else if (ch == '@' && (size_t)(l->end - l->p) > 8 &&
			   !strncmp(l->p, "@include", 8) && l->depth < INCLUDE_DEPTH_MAX) {
			include(l);
		} else if (isalpha((unsigned char)ch) || ch == '_' || ch == '*') {
			l->name = l->p;
			while (l->p < l->end && (isalnum((unsigned char)*l->p) || *l->p == '_' ||
						 *l->p == '-' || *l->p == '*'))
				l->p++;
			l->name_len = (size_t)(l->p - l->name);
		} else if (starts_number(l, start)) {
			number(l);
		} else {
			l->p++;
		}
	}
}

/*
 * Report every integer literal of the <len> bytes of config text <text>, read from <file> (the
 * name messages carry), and of the files it @includes, that libconfig cannot hold as written:
 * "file:line: 'key': integer N is out of range: ...". Call it after libconfig parsed the text
 * without a syntax error. An included file that cannot be read is skipped: the parse has
 * reported that already.
 */
void mm_cfg_lex_text(struct mm_cfg_ctx *c, const char *file, const char *text, size_t len)
{
	struct lex l = {
		.c = c, .file = file, .p = text, .end = text + len, .line = 1, .name = ""
	};

	lex_text(&l);
}

static void lex_file(struct mm_cfg_ctx *c, const char *file, int depth)
{
	char *text = NULL;
	size_t cap = 0, len;
	FILE *f = fopen(file, "re");
	struct lex l;

	if (!f)
		return; /* libconfig reported it, or will */
	len = (size_t)getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (text && len != (size_t)-1 && len <= LEX_FILE_MAX) {
		l = (struct lex){ .c = c,
				  .file = file,
				  .p = text,
				  .end = text + len,
				  .line = 1,
				  .depth = depth,
				  .name = "" };
		lex_text(&l);
	}
	free(text);
}
