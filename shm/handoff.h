/* SPDX-License-Identifier: MIT */
/*
 * What the supervisor hands a child besides its rings: the part of the validated config that
 * child needs, packed into a sealed memfd (a "handoff blob") the child inherits at a fixed
 * descriptor. Only mqttmuxd reads the config file (DESIGN.md §5, "Parse once"); a worker gets
 * its own session and nothing else, secrets included (the password bytes, never a path to read
 * again); the router gets the session table it routes with (names, indexes, client options,
 * runtime_dir) and no broker secret. A restarted child gets what was validated, whatever the
 * file on disk says by then. docs/shm.md ("Handoff blobs") has the byte layout.
 *
 * Every blob: u32 magic "MMHO", u16 version, u16 kind, then the body, little-endian, packed
 * field by field. Strings are u32 length + bytes (no NUL inside, none after); optional ones
 * carry a u8 presence flag first. Unpacking checks every length before reading and every enum
 * and limit after, so a short, long or damaged blob is refused (-EBADMSG), never trusted.
 *
 * Library code: no logging; -errno returns. The packers allocate the packed bytes; the
 * unpackers allocate the structs they return (free them as documented below).
 */
#ifndef MM_SHM_HANDOFF_H
#define MM_SHM_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"

#define MM_HANDOFF_MAGIC   0x4f484d4du /* "MMHO" read as little-endian bytes */
#define MM_HANDOFF_VERSION 3u	       /* 2: clients.max_*; 3: each session's clients block */
#define MM_HANDOFF_MAX	   (64u << 20) /* largest blob a child accepts, bytes */

enum mm_handoff_kind {
	MM_HANDOFF_SESSION = 1, /* one worker's session: struct mm_cfg_session */
	MM_HANDOFF_ROUTER = 2,	/* the router's table: struct mm_handoff_router */
	_MM_HANDOFF_KIND_MAX
};

/*
 * One session as the router knows it: an entry of the ROUTER blob, and the body of a
 * SESSION_ADD channel record (mm_handoff_rsess_pack). The access lists are borrowed when
 * packing, owned after unpacking (mm_handoff_rsess_done, or mm_handoff_router_free).
 */
struct mm_handoff_rsess {
	uint32_t idx;	  /* the session index the supervisor gave it */
	uint32_t max_msg; /* its performance.max_message_size: bigger publishes fail */
	char name[MM_CFG_NAME_MAX + 1]; /* NUL-terminated */
	struct mm_cfg_access access;	/* its own clients block: who may route and publish */
};

/* Pack one session entry into malloc'd *ret. Returns its size or -ENOMEM. */
ssize_t mm_handoff_rsess_pack(const struct mm_handoff_rsess *e, uint8_t **ret);

/* Unpack one session entry of exactly <len> bytes. Returns 0, -EBADMSG or -ENOMEM. */
int mm_handoff_rsess_unpack(const uint8_t *buf, size_t len, struct mm_handoff_rsess *e);

/* Free the access lists of an unpacked entry. */
void mm_handoff_rsess_done(struct mm_handoff_rsess *e);

/*
 * The router's table. The supervisor fills one borrowing its own strings and arrays and packs
 * it; mm_handoff_router_unpack() returns one that owns everything (mm_handoff_router_free()).
 */
struct mm_handoff_router {
	const char *runtime_dir;
	struct mm_cfg_clients clients;
	struct mm_handoff_rsess *sessions; /* in the order of their descriptors */
	size_t n_sessions;
};

/* Pack <s> (with its password) as a SESSION blob into malloc'd *ret. Returns its size or -ENOMEM.
 */
ssize_t mm_handoff_session_pack(const struct mm_cfg_session *s, uint8_t **ret);

/*
 * Unpack a SESSION blob of <len> bytes into a new session (free it with mm_cfg_session_free(),
 * which wipes the password). Returns 0, -EBADMSG (not a valid SESSION blob) or -ENOMEM.
 */
int mm_handoff_session_unpack(const uint8_t *buf, size_t len, struct mm_cfg_session **ret);

/* Pack <t> as a ROUTER blob into malloc'd *ret. Returns its size or -ENOMEM. */
ssize_t mm_handoff_router_pack(const struct mm_handoff_router *t, uint8_t **ret);

/* Unpack a ROUTER blob into a new table. Returns 0, -EBADMSG or -ENOMEM. */
int mm_handoff_router_unpack(const uint8_t *buf, size_t len, struct mm_handoff_router **ret);

/* Free a table from mm_handoff_router_unpack(); NULL is fine. */
void mm_handoff_router_free(struct mm_handoff_router *t);

/*
 * Put <len> bytes in a new sealed memfd (close-on-exec; sealed against write, shrink, grow and
 * further seals) for a child to inherit. Returns the descriptor (the caller closes it once the
 * child has it) or -errno.
 */
int mm_handoff_blob_open(const uint8_t *buf, size_t len);

/*
 * Read the blob at <fd>: it must be a memfd sealed as mm_handoff_blob_open() seals it, of at
 * most MM_HANDOFF_MAX bytes. Returns 0 with a malloc'd copy in *ret (*ret_len bytes; wipe and
 * free it), -EPROTO (not sealed, too large) or -errno.
 */
int mm_handoff_blob_read(int fd, uint8_t **ret, size_t *ret_len);

/* Pack <s> and put it in a sealed memfd (the two calls above). Returns the fd or -errno. */
int mm_handoff_session_open(const struct mm_cfg_session *s);

/* Pack <t> and put it in a sealed memfd. Returns the fd or -errno. */
int mm_handoff_router_open(const struct mm_handoff_router *t);

/*
 * Read and unpack the SESSION blob at <fd> (then closed). Returns 0, -EBADMSG, -EPROTO or
 * -errno; the copy of the packed bytes is wiped before it is freed.
 */
int mm_handoff_session_read(int fd, struct mm_cfg_session **ret);

/* Read and unpack the ROUTER blob at <fd> (then closed). Returns as mm_handoff_session_read. */
int mm_handoff_router_read(int fd, struct mm_handoff_router **ret);

#endif /* MM_SHM_HANDOFF_H */
