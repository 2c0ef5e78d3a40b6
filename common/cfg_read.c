/* SPDX-License-Identifier: MIT */
/*
 * The schema walker: checks one libconfig group against a table of struct mm_cfg_key, reports
 * unknown keys, wrong types, out-of-range values and missing required keys, and stores what is
 * valid into a plain struct. It never stops at a problem, so one run finds them all. Also the
 * file helpers: relative names resolved against the config file's directory, and the checks
 * that a named file is readable (and, for secrets, closed to others).
 */
#include "cfg_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"

/* How a libconfig type reads in a message: "expected an integer, got a string". */
const char *mm_cfg_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "nothing";
	}
}

bool mm_cfg_is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* An array [ ] or a list ( ): either is accepted wherever a sequence of scalars is expected. */
bool mm_cfg_is_seq(const config_setting_t *s)
{
	return config_setting_is_array(s) || config_setting_is_list(s);
}

/* Report a type mismatch unless <ok>; returns <ok>. */
static bool want(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key, bool ok,
		 const char *expected)
{
	if (!ok)
		mm_cfg_bad(c, s, key, "expected %s, got %s", expected,
			   mm_cfg_type_name(config_setting_type(s)));
	return ok;
}

/* Replace the string at <dst> with <v> (already allocated; NULL means allocation failed). */
static void str_set(struct mm_cfg_ctx *c, char **dst, char *v)
{
	if (!v) {
		mm_cfg_oom(c);
		return;
	}
	free(*dst);
	*dst = v;
}

/*
 * <file> made absolute against the config file's directory (an absolute name is kept as is).
 * Returns a malloc'd string, or NULL after recording -ENOMEM.
 */
char *mm_cfg_resolve(struct mm_cfg_ctx *c, const char *file)
{
	char *r;

	if (file[0] == '/')
		r = strdup(file);
	else if (asprintf(&r, "%s/%s", c->dir, file) < 0)
		r = NULL;
	if (!r)
		mm_cfg_oom(c);
	return r;
}

static void read_str(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		     char **dst)
{
	size_t max = k->max_len ? k->max_len : MM_CFG_STR_MAX;
	const char *v, *why;

	if (!want(c, s, k->name, config_setting_type(s) == CONFIG_TYPE_STRING, "a string"))
		return;
	v = config_setting_get_string(s);
	if (strlen(v) > max) {
		mm_cfg_bad(c, s, k->name, "is longer than %zu bytes", max);
		return;
	}
	why = k->check ? k->check(v) : NULL;
	if (why) {
		mm_cfg_bad(c, s, k->name, "'%.80s' %s", v, why);
		return;
	}
	str_set(c, dst, strdup(v));
}

static void read_path(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		      char **dst)
{
	char *path;
	int fd;

	if (!want(c, s, k->name, config_setting_type(s) == CONFIG_TYPE_STRING, "a string"))
		return;
	if (!*config_setting_get_string(s)) {
		mm_cfg_bad(c, s, k->name, "must not be empty");
		return;
	}
	path = mm_cfg_resolve(c, config_setting_get_string(s));
	if (!path)
		return;
	if (k->file != MM_CFG_FILE_ANY) {
		fd = mm_cfg_open_checked(c, s, k->name, path, k->file);
		if (fd >= 0)
			close(fd);
	}
	str_set(c, dst, path);
}

static void read_int(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		     void *dst)
{
	long long v;

	if (!want(c, s, k->name, mm_cfg_is_int(s), "an integer"))
		return;
	v = config_setting_get_int64(s);
	if (v < k->min || v > k->max) {
		mm_cfg_bad(c, s, k->name, "must be between %lld and %lld (got %lld)", k->min,
			   k->max, v);
		return;
	}
	if (k->pow2 && (v & (v - 1))) {
		mm_cfg_bad(c, s, k->name, "must be a power of two (got %lld)", v);
		return;
	}
	if (k->kind == MM_CFG_K_INT)
		*(int *)dst = (int)v;
	else if (k->kind == MM_CFG_K_U32)
		*(uint32_t *)dst = (uint32_t)v;
	else
		*(uint64_t *)dst = (uint64_t)v;
}

/* A number: a float, or an integer taken as one (so "max = 30;" works). */
static void read_double(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
			double *dst)
{
	bool is_float = config_setting_type(s) == CONFIG_TYPE_FLOAT;
	double v;

	if (!want(c, s, k->name, is_float || mm_cfg_is_int(s), "a number"))
		return;
	v = is_float ? config_setting_get_float(s) : (double)config_setting_get_int64(s);
	if (!isfinite(v) || v < (double)k->min || v > (double)k->max) {
		mm_cfg_bad(c, s, k->name, "must be between %lld and %lld (got %g)", k->min, k->max,
			   v);
		return;
	}
	*dst = v;
}

static void read_enum(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		      int *dst)
{
	char list[128] = "";
	const char *v;
	size_t len = 0;

	if (!want(c, s, k->name, config_setting_type(s) == CONFIG_TYPE_STRING, "a string"))
		return;
	v = config_setting_get_string(s);
	for (int i = 0; k->names[i]; i++) {
		if (strcmp(v, k->names[i]) == 0) {
			*dst = i;
			return;
		}
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "",
					k->names[i]);
		if (len >= sizeof(list))
			len = sizeof(list) - 1;
	}
	mm_cfg_bad(c, s, k->name, "must be one of %s (got '%.40s')", list, v);
}

/* A nested group: walk its schema with the key prefix extended by "<name>.". */
static void read_sub(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		     void *dst)
{
	size_t len = strlen(c->group);

	if (!want(c, s, k->name, config_setting_is_group(s), "a group { ... }"))
		return;
	(void)snprintf(c->group + len, sizeof(c->group) - len, "%s.", k->name);
	mm_cfg_read_group(c, s, k->sub, dst);
	if (k->read)
		k->read(c, s, dst);
	c->group[len] = '\0';
}

static void read_value(struct mm_cfg_ctx *c, const config_setting_t *s, const struct mm_cfg_key *k,
		       void *obj)
{
	void *dst = (char *)obj + k->off;

	switch (k->kind) {
	case MM_CFG_K_STR:
		read_str(c, s, k, dst);
		break;
	case MM_CFG_K_PATH:
		read_path(c, s, k, dst);
		break;
	case MM_CFG_K_INT:
	case MM_CFG_K_U32:
	case MM_CFG_K_U64:
		read_int(c, s, k, dst);
		break;
	case MM_CFG_K_DOUBLE:
		read_double(c, s, k, dst);
		break;
	case MM_CFG_K_BOOL:
		if (want(c, s, k->name, config_setting_type(s) == CONFIG_TYPE_BOOL,
			 "a boolean (true or false)"))
			*(bool *)dst = config_setting_get_bool(s);
		break;
	case MM_CFG_K_ENUM:
		read_enum(c, s, k, dst);
		break;
	case MM_CFG_K_GROUP:
		read_sub(c, s, k, dst);
		break;
	default:
		k->read(c, s, obj);
		break;
	}
}

static const struct mm_cfg_key *key_find(const struct mm_cfg_key *keys, const char *name)
{
	for (; keys->name; keys++) {
		if (strcmp(keys->name, name) == 0)
			return keys;
	}
	return NULL;
}

/*
 * Read group <g> into <obj> as the table <keys> describes: each member in file order (so
 * problems come out in line order), then a report for every required key that is missing.
 * Members that are valid are stored; <obj> must already hold the defaults.
 */
void mm_cfg_read_group(struct mm_cfg_ctx *c, const config_setting_t *g,
		       const struct mm_cfg_key *keys, void *obj)
{
	const struct mm_cfg_key *k;
	config_setting_t *s;

	for (int i = 0; i < config_setting_length(g); i++) {
		s = config_setting_get_elem(g, (unsigned int)i);
		k = key_find(keys, config_setting_name(s));
		if (k)
			read_value(c, s, k, obj);
		else
			mm_cfg_bad(c, s, NULL, "unknown key '%s%s'", c->group,
				   config_setting_name(s));
	}
	for (k = keys; k->name; k++) {
		if (k->required && !config_setting_get_member(g, k->name))
			mm_cfg_bad(c, g, k->name, "is required but missing");
	}
}

/*
 * Report a cross-field rule <rule> broken by value <v> of <key> in group <g> unless <ok>. The
 * message points at the key's line if it is written, else at the group's.
 */
void mm_cfg_check_range(struct mm_cfg_ctx *c, const config_setting_t *g, const char *key, bool ok,
			const char *rule, double v)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (!ok)
		mm_cfg_bad(c, s ? s : g, key, "must be %s (got %g)", rule, v);
}
