/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture of the config tests: a private directory holding a set of small files the
 * configs refer to by relative name, a diag list, and the loaded config, all reset per test.
 *
 * Files made by t_cfg_setup(): pass ("s3cret\n", 0600), pass2 ("other\r\n", 0600),
 * pass-world ("topsecret\n", 0644), pass-group (0640), pass-link (a symlink to pass), ca.pem
 * and c.pem (0644), c.key (0600), key-world (0604).
 */
#ifndef T_CFG_FIXTURE_H
#define T_CFG_FIXTURE_H

#include <sys/types.h>

#include "cfg.h"

extern char *t_cfg_dir;
extern char t_cfg_path[512]; /* the config file t_cfg_load() wrote */
extern struct mm_cfg_diag t_cfg_diag;
extern struct mm_cfg *t_cfg;

void t_cfg_setup(void);
void t_cfg_teardown(void);

/* Write <text> to <name> in the test directory with permissions <mode>. */
void t_cfg_put(const char *name, const char *text, mode_t mode);

/* Write <text> to "t.cfg" and load it into t_cfg / t_cfg_diag. Returns mm_cfg_load()'s value. */
int t_cfg_load(const char *text);

/* Absolute name of <name> in the test directory (a static buffer). */
const char *t_cfg_at(const char *name);

/* Index of the first diag message containing every non-NULL needle, or -1. */
int t_cfg_diag_find(const char *a, const char *b, const char *c);

/* Log every diag message (shown when a test fails). */
void t_cfg_dump(void);

#endif /* T_CFG_FIXTURE_H */
