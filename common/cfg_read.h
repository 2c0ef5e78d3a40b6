/* SPDX-License-Identifier: MIT */
/*
 * Private to the cfg_*.c files: the table-driven reader that walks a libconfig group against a
 * schema (a table of struct mm_cfg_key), and the problem reporter every check goes through.
 * Not for use outside common/cfg*.c; the rest of the tree includes cfg.h only.
 */
#ifndef MM_CFG_READ_H
#define MM_CFG_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libconfig.h>

#include "cfg.h"

/* State of one mm_cfg_load() run. */
struct mm_cfg_ctx {
	struct mm_cfg_diag *diag;
	const char *path; /* the config file, for messages without a setting */
	const char *dir;  /* absolute directory relative file names resolve against */
	char where[96];	  /* "" or " in session 'plant'": appended to every message */
	char group[96];	  /* key prefix inside the current group: "" or "tls." */
	const struct mm_cfg_clients *clients; /* for cross-checks against clients.ring_size */
	unsigned int problems;		      /* problems reported so far */
	int err;			      /* first -errno that is not a config problem */
	int src_fd;    /* > 0: the text is read from this descriptor, not from <path> */
	bool no_files; /* refuse every file the text names (@include, secrets, tls.*) */
	bool has_user; /* the top-level `user` is set: <user_uid> may own files too */
	uid_t user_uid;
};

enum mm_cfg_kind {
	MM_CFG_K_STR = 0, /* char *, strdup'd; optional check */
	MM_CFG_K_PATH,	  /* char *, made absolute; optional file check */
	MM_CFG_K_INT,	  /* int, within min..max */
	MM_CFG_K_U32,	  /* uint32_t, within min..max */
	MM_CFG_K_U64,	  /* uint64_t, within min..max, optionally a power of two */
	MM_CFG_K_DOUBLE,  /* double, integer or float, within min..max */
	MM_CFG_K_BOOL,	  /* bool */
	MM_CFG_K_ENUM,	  /* int, index of the string in names[] */
	MM_CFG_K_GROUP,	  /* a nested schema filling the struct at off */
	MM_CFG_K_CUSTOM,  /* read() does everything */
	_MM_CFG_K_MAX
};

/* What MM_CFG_K_PATH checks on the named file. */
enum mm_cfg_file_check {
	MM_CFG_FILE_ANY = 0, /* nothing: the file may not exist yet */
	MM_CFG_FILE_READ,    /* a regular file this process can open for reading */
	MM_CFG_FILE_SECRET,  /* as READ, not a symlink, ours, closed to others (mode & 077 == 0) */
	_MM_CFG_FILE_MAX
};

typedef const char *mm_cfg_check_fn(const char *value);
typedef void mm_cfg_read_fn(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj);

/* One key of a schema. Tables end with an entry whose name is NULL. */
struct mm_cfg_key {
	const char *name;
	enum mm_cfg_kind kind;
	size_t off; /* where the value goes in the object being filled */
	bool required;
	bool pow2;		      /* MM_CFG_K_U64 */
	long long min;		      /* numeric kinds, inclusive */
	long long max;		      /* numeric kinds, inclusive */
	size_t max_len;		      /* MM_CFG_K_STR, 0: MM_CFG_STR_MAX */
	enum mm_cfg_file_check file;  /* MM_CFG_K_PATH */
	mm_cfg_check_fn *check;	      /* MM_CFG_K_STR: NULL or returns why the value is bad */
	const char *const *names;     /* MM_CFG_K_ENUM: NULL-terminated */
	const struct mm_cfg_key *sub; /* MM_CFG_K_GROUP */
	mm_cfg_read_fn *read;	      /* MM_CFG_K_CUSTOM; MM_CFG_K_GROUP: runs after sub */
};

/* cfg_diag.c: reporting. s may be NULL (the message then carries the file name only). */
void mm_cfg_bad(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
void mm_cfg_bad_at(struct mm_cfg_ctx *c, const char *file, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void mm_cfg_oom(struct mm_cfg_ctx *c);

/* cfg_file.c: opening the config file and the files it names, with the ownership checks. */
int mm_cfg_open_checked(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key,
			const char *file, enum mm_cfg_file_check check);
int mm_cfg_text_read(struct mm_cfg_ctx *c, const char *path, char **ret);
int mm_cfg_text_read_fd(struct mm_cfg_ctx *c, int fd, char **ret);
int mm_cfg_text_bad(struct mm_cfg_ctx *c, const char *path, const char *why);

/* cfg_lex.c: integer literals libconfig would truncate (checked on the text). */
void mm_cfg_lex_text(struct mm_cfg_ctx *c, const char *file, const char *text, size_t len);

/* cfg_read.c: the schema walker and value readers. */
void mm_cfg_read_group(struct mm_cfg_ctx *c, const config_setting_t *g,
		       const struct mm_cfg_key *keys, void *obj);
const char *mm_cfg_type_name(int type);
void mm_cfg_ids_read(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key,
		     unsigned int **ret, size_t *ret_n);
bool mm_cfg_is_int(const config_setting_t *s);
bool mm_cfg_is_seq(const config_setting_t *s);
char *mm_cfg_resolve(struct mm_cfg_ctx *c, const char *file);
void mm_cfg_check_range(struct mm_cfg_ctx *c, const config_setting_t *g, const char *key, bool ok,
			const char *rule, double v);

/* cfg_check.c: syntax of the values. Each returns NULL when valid, else why not. */
const char *mm_cfg_topic_filter_why(const char *filter);
const char *mm_cfg_session_name_why(const char *name);
const char *mm_cfg_client_id_why(const char *id);
const char *mm_cfg_utf8_why(const char *s);
const char *mm_cfg_host_why(const char *host);
int mm_cfg_hostport_parse(const char *s, int default_port, char *host, uint16_t *ret_port,
			  char *why, size_t why_size);

/* cfg_session.c */
void mm_cfg_sessions_read(struct mm_cfg_ctx *c, const config_setting_t *s, void *obj);
void mm_cfg_session_done(struct mm_cfg_session *s);
void mm_cfg_session_read(struct mm_cfg_ctx *c, const config_setting_t *g, unsigned int i,
			 struct mm_cfg_session *ss);

#endif /* MM_CFG_READ_H */
