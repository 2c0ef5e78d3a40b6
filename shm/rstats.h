/* SPDX-License-Identifier: MIT */
/*
 * The router's stats block: one sealed memfd created once by the supervisor at start, kept for
 * the daemon's life and handed to every router instance (`--stats-fd N`), so its counters never
 * reset across router restarts. The router is the only writer (relaxed atomic stores; the
 * client slots under a per-slot seqlock); anyone holding the fd reads (the supervisor for
 * metrics) without ever stopping the data path.
 *
 *   offset  field                 unit / range                          writer
 *   0       magic, versions,      MM_RSTATS_MAGIC, 1.0, MM_RSTATS_SIZE,  creator, once
 *           size, max_clients     MM_RSTATS_MAX_CLIENTS
 *   64      router counters (u64) records, messages, clients, results   router
 *   512     latency histogram     counts per bucket, ns                 router
 *   4096    client slots          128 x 256 B, seqlock each             router
 *   36864   end
 *
 * Client slots. A slot is claimed by a HELLO: the router picks a slot whose token equals the
 * HELLO token (the same client coming back, e.g. after a router restart: its counters go on
 * growing) or else a free one (token 0, or state "gone" when no free one is left), and sets
 * token, pid, uid, client_id, name and state 1 (connected). A client that leaves keeps its slot
 * in state 2 (gone) with its counters. A router that starts marks every connected slot gone
 * first (its clients died with the previous router's sockets), closing with
 * mm_rstats_client_end() any section a killed predecessor left open (seq odd). The supervisor
 * exports only slots in state 1.
 *
 * Per slot, in every consistent snapshot (mm_rstats_client_read):
 *   matched == delivered + dropped + queued
 * where queued is the gauge of matched messages held back (a blocking route waiting for room),
 * not yet delivered or dropped. The writer keeps it by updating the four in one seqlock section.
 *
 * Latency: bucket k counts deliveries whose latency is <= 1000 ns << k (1 us .. ~8.4 s), the
 * overflow count the rest; latency = CLOCK_REALTIME when the router writes the DELIVER record
 * minus the record's recv_ns (CLOCK_REALTIME of the worker). Clamped at 0. See docs/shm.md
 * ("Router stats block") and docs/metrics.md for the exported names.
 */
#ifndef MM_SHM_RSTATS_H
#define MM_SHM_RSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_RSTATS_MAGIC	    0x5453524du /* "MRST" little-endian */
#define MM_RSTATS_VER_MAJOR 1
#define MM_RSTATS_VER_MINOR \
	3 /* 1.1: routes, ring_fill, ring_size; 1.2: block_timeouts; 1.3: limited */
#define MM_RSTATS_SIZE	      36864u
#define MM_RSTATS_MAX_CLIENTS 128u
#define MM_RSTATS_LAT_OFF     512u
#define MM_RSTATS_CLIENTS_OFF 4096u
#define MM_RSTATS_LAT_BUCKETS 24u
#define MM_RSTATS_LAT_MIN_NS  1000ull /* upper bound of bucket 0 */
#define MM_RSTATS_NAME_MAX    64u     /* name[] bytes, NUL included */
#define MM_RSTATS_READ_TRIES  1000    /* seqlock retries of mm_rstats_client_read */

/*
 * The router's bounds (clients.max_*, docs/security.md "Bounds"): how often each was hit. A
 * refused connection or route counts once; a client whose publishes are held counts once each
 * time it reaches the bound (its pub-ring stays unread until it is back under).
 */
enum mm_rstats_limit {
	MM_RSTATS_LIM_CLIENTS = 0,     /* connection refused: clients.max_clients */
	MM_RSTATS_LIM_CLIENTS_PER_UID, /* connection refused: clients.max_clients_per_uid */
	MM_RSTATS_LIM_ROUTES,	       /* route refused: clients.max_routes */
	MM_RSTATS_LIM_FILTER_LENGTH,   /* route refused: clients.max_filter_length */
	MM_RSTATS_LIM_PENDING,	       /* publishes held: clients.max_pending */
	MM_RSTATS_LIM_QUEUED_BYTES,    /* publishes held: clients.max_queued_bytes */
	MM_RSTATS_LIMITS
};

/* Client slot states (mm_rstats_client.state). */
enum mm_rstats_client_state {
	MM_RSTATS_FREE = 0,
	MM_RSTATS_CONNECTED,
	MM_RSTATS_GONE,
	_MM_RSTATS_STATE_MAX
};

/* One client slot, 256 bytes. Every field: writer router, under the slot's seqlock. */
struct mm_rstats_client {
	_Atomic uint64_t seq;	    /* odd while the router updates the slot; release when even */
	_Atomic uint64_t token;	    /* HELLO token of the client, 0 = never used */
	_Atomic uint32_t state;	    /* enum mm_rstats_client_state */
	_Atomic uint32_t pid;	    /* peer pid (SO_PEERCRED) */
	_Atomic uint32_t uid;	    /* peer uid (SO_PEERCRED) */
	_Atomic uint32_t client_id; /* the router's id for the client (per router instance) */
	char name[MM_RSTATS_NAME_MAX]; /* HELLO name, NUL-terminated; byte-wise atomic access */
	/* counters: messages, never reset while the slot keeps its token */
	_Atomic uint64_t matched;	/* messages that matched one of the client's routes */
	_Atomic uint64_t delivered;	/* written to the client's ring (DELIVER records) */
	_Atomic uint64_t dropped;	/* matched, not written (ring full, dropping route) */
	_Atomic uint64_t queued;	/* gauge: matched, held for a blocking route */
	_Atomic uint64_t gaps;		/* GAP records written */
	_Atomic uint64_t events;	/* EVENT records written */
	_Atomic uint64_t pub_requests;	/* PUBLISH requests received from the client */
	_Atomic uint64_t pub_ok;	/* completions sent back: success */
	_Atomic uint64_t pub_failed;	/* completions sent back: any error */
	_Atomic uint64_t registrations; /* HELLOs that claimed this slot */
	_Atomic uint64_t since_ns;	/* CLOCK_REALTIME ns of the last registration */
	/* gauges (1.1), refreshed at most once a second while the client is connected */
	_Atomic uint64_t routes;    /* routes registered now */
	_Atomic uint64_t ring_fill; /* bytes of its delivery ring not yet released by it */
	_Atomic uint64_t ring_size; /* its delivery ring's capacity, bytes */
	/* counter (1.2): times it was switched from block to drop (clients.block_timeout) */
	_Atomic uint64_t block_timeouts;
	_Atomic uint64_t reserved[5];
};

struct mm_rstats_block {
	uint32_t magic;	    /* MM_RSTATS_MAGIC, stored last (release) by the creator */
	uint16_t ver_major; /* MM_RSTATS_VER_MAJOR */
	uint16_t ver_minor;
	uint32_t size;	      /* MM_RSTATS_SIZE */
	uint32_t max_clients; /* MM_RSTATS_MAX_CLIENTS */
	uint8_t pad0[48];

	/* router counters at 64: writer router, monotonic for the life of the memfd */
	_Alignas(64) _Atomic uint64_t starts; /* router processes that attached */
	_Atomic uint64_t msgs_in;	      /* records drained from the in-rings */
	_Atomic uint64_t deliveries;	      /* DELIVER records written, all clients */
	_Atomic uint64_t drops;		      /* messages not written for a client */
	_Atomic uint64_t gaps;		      /* GAP records written */
	_Atomic uint64_t events_fwd;	      /* EVENT records forwarded to clients */
	_Atomic uint64_t clients_registered;  /* HELLOs accepted */
	_Atomic uint64_t clients_refused;     /* HELLOs refused (version, limits, full) */
	_Atomic uint64_t clients_malformed;   /* clients dropped for a malformed message */
	_Atomic uint64_t pub_requests;	      /* PUBLISH requests from clients */
	_Atomic uint64_t pub_ok;	      /* publish completions by result: */
	_Atomic uint64_t pub_enotconn;
	_Atomic uint64_t pub_econnreset;
	_Atomic uint64_t pub_enoent;
	_Atomic uint64_t pub_emsgsize;
	_Atomic uint64_t pub_other;
	_Atomic uint64_t unrouted;		    /* messages that matched no client */
	_Atomic uint64_t block_timeouts;	    /* (1.2) blocking clients switched to drop */
	_Atomic uint64_t limited[MM_RSTATS_LIMITS]; /* (1.3) bounds hit, enum mm_rstats_limit */
	_Atomic uint64_t reserved_c[32];

	/* latency histogram at 512: writer router */
	_Atomic uint64_t lat[MM_RSTATS_LAT_BUCKETS]; /* not cumulative, see above */
	_Atomic uint64_t lat_overflow;		     /* above the last bound (+Inf) */
	_Atomic uint64_t lat_sum_ns;
	_Atomic uint64_t lat_count;
	uint8_t pad1[MM_RSTATS_CLIENTS_OFF - 728];

	struct mm_rstats_client clients[MM_RSTATS_MAX_CLIENTS];
};

_Static_assert(sizeof(struct mm_rstats_client) == 256, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, name) == 32, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, matched) == 96, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, since_ns) == 176, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, routes) == 184, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, ring_size) == 200, "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_client, block_timeouts) == 208,
	       "rstats client slot is ABI");
_Static_assert(offsetof(struct mm_rstats_block, starts) == 64, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, pub_other) == 184, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, unrouted) == 192, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, block_timeouts) == 200, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, limited) == 208, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, lat) == MM_RSTATS_LAT_OFF, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, lat_count) == 720, "rstats block is ABI");
_Static_assert(offsetof(struct mm_rstats_block, clients) == MM_RSTATS_CLIENTS_OFF,
	       "rstats block is ABI");
_Static_assert(sizeof(struct mm_rstats_block) == MM_RSTATS_SIZE, "rstats block fits");

/* A consistent copy of one client slot (mm_rstats_client_read). */
struct mm_rstats_client_snap {
	uint64_t token;
	uint32_t state, pid, uid, client_id;
	char name[MM_RSTATS_NAME_MAX]; /* always NUL-terminated */
	uint64_t matched, delivered, dropped, queued, gaps, events;
	uint64_t pub_requests, pub_ok, pub_failed, registrations, since_ns;
	uint64_t routes, ring_fill, ring_size, block_timeouts;
};

/* The latency bucket of <ns>: the smallest k with ns <= 1000 << k, or MM_RSTATS_LAT_BUCKETS. */
static inline unsigned mm_rstats_lat_bucket(uint64_t ns)
{
	uint64_t q;

	if (ns <= MM_RSTATS_LAT_MIN_NS)
		return 0;
	q = (ns - 1) / MM_RSTATS_LAT_MIN_NS; /* ns <= 1000 << k  <=>  q < 1 << k */
	return q >> (MM_RSTATS_LAT_BUCKETS - 1) ? MM_RSTATS_LAT_BUCKETS
						: 64u - (unsigned)__builtin_clzll(q);
}

int mm_shm_rstats_create(const char *name, int *ret_fd);
int mm_shm_rstats_attach(int fd, struct mm_rstats_block **ret);
void mm_shm_rstats_detach(struct mm_rstats_block *b);

/* Writer (router): one latency observation, counted in its bucket, the sum and the count. */
void mm_rstats_lat_add(struct mm_rstats_block *b, uint64_t ns);

/*
 * Writer (router) seqlock section on slot <c>: begin makes seq odd, end makes it even again
 * (release). Every change of a slot's fields goes between the two; sections never nest.
 */
void mm_rstats_client_begin(struct mm_rstats_client *c);
void mm_rstats_client_end(struct mm_rstats_client *c);

/* Writer, inside a section: copy <name> (truncated to MM_RSTATS_NAME_MAX - 1 bytes). */
void mm_rstats_client_set_name(struct mm_rstats_client *c, const char *name);

/*
 * Reader: copy slot <i> of <b> into *ret when no writer section overlapped the copy (up to
 * MM_RSTATS_READ_TRIES attempts). Returns 0, -EINVAL if i >= MM_RSTATS_MAX_CLIENTS, or -EAGAIN
 * if the writer kept the slot busy. Safe from any process holding a mapping.
 */
int mm_rstats_client_read(const struct mm_rstats_block *b, unsigned i,
			  struct mm_rstats_client_snap *ret);

const char *mm_rstats_client_state_to_string(unsigned state);

#endif /* MM_SHM_RSTATS_H */
