/* SPDX-License-Identifier: MIT */
/*
 * The router's stats block (layout, ownership and the per-slot seqlock in rstats.h): create,
 * attach, the latency histogram writer and the client slot seqlock on both sides.
 */
#include "rstats.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memfd.h"

#define RLX memory_order_relaxed

/*
 * Create a sealed memfd holding a zeroed router stats block. The caller owns *ret_fd (close on
 * exec). Returns 0 or -errno.
 */
int mm_shm_rstats_create(const char *name, int *ret_fd)
{
	struct mm_rstats_block *b;
	void *p;
	int fd, r;

	fd = mm_shm_memfd_create(name ? name : "mqttmux-rstats", MM_RSTATS_SIZE, &p);
	if (fd < 0)
		return fd;
	b = p;
	b->ver_major = MM_RSTATS_VER_MAJOR;
	b->ver_minor = MM_RSTATS_VER_MINOR;
	b->size = MM_RSTATS_SIZE;
	b->max_clients = MM_RSTATS_MAX_CLIENTS;
	__atomic_store_n(&b->magic, MM_RSTATS_MAGIC, __ATOMIC_RELEASE);
	r = mm_shm_memfd_seal(fd, p, MM_RSTATS_SIZE, MM_SHM_SEALS_SIZE);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Map the router stats block in <fd> read-write. Returns 0, -EPROTO if the memfd is not a
 * sealed router stats block of our major version with our slot count, or -errno.
 */
int mm_shm_rstats_attach(int fd, struct mm_rstats_block **ret)
{
	struct mm_rstats_block *b;
	void *p;
	int r;

	r = mm_shm_memfd_map(fd, MM_RSTATS_SIZE, &p);
	if (r < 0)
		return r;
	b = p;
	if (__atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) != MM_RSTATS_MAGIC ||
	    b->ver_major != MM_RSTATS_VER_MAJOR || b->size != MM_RSTATS_SIZE ||
	    b->max_clients != MM_RSTATS_MAX_CLIENTS) {
		(void)munmap(b, MM_RSTATS_SIZE);
		return -EPROTO;
	}
	*ret = b;
	return 0;
}

void mm_shm_rstats_detach(struct mm_rstats_block *b)
{
	if (b)
		(void)munmap(b, MM_RSTATS_SIZE);
}

/* Single writer: plain load + store is enough, and cheaper than a locked add. */
static void bump(_Atomic uint64_t *p, uint64_t n)
{
	atomic_store_explicit(p, atomic_load_explicit(p, RLX) + n, RLX);
}

void mm_rstats_lat_add(struct mm_rstats_block *b, uint64_t ns)
{
	unsigned k = mm_rstats_lat_bucket(ns);

	bump(k < MM_RSTATS_LAT_BUCKETS ? &b->lat[k] : &b->lat_overflow, 1);
	bump(&b->lat_sum_ns, ns);
	bump(&b->lat_count, 1);
}

void mm_rstats_client_begin(struct mm_rstats_client *c)
{
	uint64_t s = atomic_load_explicit(&c->seq, RLX);

	atomic_store_explicit(&c->seq, s | 1, RLX);
	/* the odd seq must be visible before any field store */
	atomic_thread_fence(memory_order_release);
}

void mm_rstats_client_end(struct mm_rstats_client *c)
{
	uint64_t s = atomic_load_explicit(&c->seq, RLX);

	atomic_store_explicit(&c->seq, (s | 1) + 1, memory_order_release);
}

void mm_rstats_client_set_name(struct mm_rstats_client *c, const char *name)
{
	size_t i = 0;

	for (; name && name[i] && i < MM_RSTATS_NAME_MAX - 1; i++)
		__atomic_store_n(&c->name[i], name[i], __ATOMIC_RELAXED);
	for (; i < MM_RSTATS_NAME_MAX; i++)
		__atomic_store_n(&c->name[i], '\0', __ATOMIC_RELAXED);
}

/* Copy every field with relaxed loads; consistency is the caller's seq check. */
static void copy_slot(const struct mm_rstats_client *c, struct mm_rstats_client_snap *o)
{
	o->token = atomic_load_explicit(&c->token, RLX);
	o->state = atomic_load_explicit(&c->state, RLX);
	o->pid = atomic_load_explicit(&c->pid, RLX);
	o->uid = atomic_load_explicit(&c->uid, RLX);
	o->client_id = atomic_load_explicit(&c->client_id, RLX);
	for (unsigned i = 0; i < MM_RSTATS_NAME_MAX; i++)
		o->name[i] = __atomic_load_n(&c->name[i], __ATOMIC_RELAXED);
	o->name[MM_RSTATS_NAME_MAX - 1] = '\0';
	o->matched = atomic_load_explicit(&c->matched, RLX);
	o->delivered = atomic_load_explicit(&c->delivered, RLX);
	o->dropped = atomic_load_explicit(&c->dropped, RLX);
	o->queued = atomic_load_explicit(&c->queued, RLX);
	o->gaps = atomic_load_explicit(&c->gaps, RLX);
	o->events = atomic_load_explicit(&c->events, RLX);
	o->pub_requests = atomic_load_explicit(&c->pub_requests, RLX);
	o->pub_ok = atomic_load_explicit(&c->pub_ok, RLX);
	o->pub_failed = atomic_load_explicit(&c->pub_failed, RLX);
	o->registrations = atomic_load_explicit(&c->registrations, RLX);
	o->since_ns = atomic_load_explicit(&c->since_ns, RLX);
	o->block_timeouts = atomic_load_explicit(&c->block_timeouts, RLX);
	o->routes = atomic_load_explicit(&c->routes, RLX);
	o->ring_fill = atomic_load_explicit(&c->ring_fill, RLX);
	o->ring_size = atomic_load_explicit(&c->ring_size, RLX);
}

int mm_rstats_client_read(const struct mm_rstats_block *b, unsigned i,
			  struct mm_rstats_client_snap *ret)
{
	const struct mm_rstats_client *c;
	struct mm_rstats_client_snap snap;
	uint64_t s1, s2;

	if (i >= MM_RSTATS_MAX_CLIENTS)
		return -EINVAL;
	c = &b->clients[i];
	for (int tries = 0; tries < MM_RSTATS_READ_TRIES; tries++) {
		s1 = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		copy_slot(c, &snap);
		/* the field loads must complete before seq is read again */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&c->seq, RLX);
		if (s1 == s2) {
			*ret = snap;
			return 0;
		}
	}
	return -EAGAIN;
}

const char *mm_rstats_client_state_to_string(unsigned state)
{
	static const char *const names[_MM_RSTATS_STATE_MAX] = {
		[MM_RSTATS_FREE] = "free",
		[MM_RSTATS_CONNECTED] = "connected",
		[MM_RSTATS_GONE] = "gone",
	};

	return state < _MM_RSTATS_STATE_MAX ? names[state] : "unknown";
}
