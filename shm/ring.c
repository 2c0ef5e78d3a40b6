/* SPDX-License-Identifier: MIT */
/*
 * SPSC byte ring over a sealed memfd. The layout and the ownership of every shared field are
 * in layout.h; this file is the protocol: where each side publishes, with which barrier, and
 * how every value read from the other side is checked before use. It does not know about
 * processes, sessions or messages.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "memfd.h"
#include "mm_time.h"

#define REC_HDR sizeof(struct mm_ring_rec)

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t max_len_for(uint64_t cap)
{
	/*
	 * A record of cap / 2 bytes always fits into an empty ring wherever the positions stand:
	 * either before the end of the data area or, after a PAD, from its start.
	 */
	return cap / 2 - REC_HDR;
}

/*
 * Create a ring of <capacity> data bytes (a power of two within MM_RING_MIN_CAPACITY and
 * MM_RING_MAX_CAPACITY) in a new sealed memfd labelled <name> (may be NULL). The header is
 * complete before the magic is published, and the memfd is sealed against any size change
 * before it is returned. On success the caller owns *ret_fd. Returns 0, -EINVAL for a bad
 * capacity, or the -errno of the failing system call.
 */
int mm_shm_ring_create(const char *name, uint64_t capacity, uint32_t generation, int *ret_fd)
{
	return mm_shm_ring_create_at(name, capacity, generation, 0, ret_fd);
}

/*
 * As mm_shm_ring_create, with both positions starting at <start> (a multiple of 8) instead of
 * 0: a ring that replaces another can continue its position sequence (docs/shm.md).
 */
int mm_shm_ring_create_at(const char *name, uint64_t capacity, uint32_t generation, uint64_t start,
			  int *ret_fd)
{
	struct mm_ring_hdr *h;
	uint64_t size;
	int fd, r;

	if (!is_pow2(capacity) || capacity < MM_RING_MIN_CAPACITY ||
	    capacity > MM_RING_MAX_CAPACITY || start % 8 || start > UINT64_MAX / 2)
		return -EINVAL;
	size = MM_RING_DATA_OFF + capacity;

	fd = mm_shm_memfd_create(name ? name : "mqttmux-ring", size, (void **)&h);
	if (fd < 0)
		return fd;
	h->s.ver_major = MM_RING_VER_MAJOR;
	h->s.ver_minor = MM_RING_VER_MINOR;
	h->s.hdr_size = sizeof(*h);
	h->s.flags = 0;
	h->s.capacity = capacity;
	h->s.data_off = MM_RING_DATA_OFF;
	h->s.seg_size = size;
	h->s.generation = generation;
	atomic_store_explicit(&h->prod_pos, start, memory_order_relaxed);
	atomic_store_explicit(&h->cons_pos, start, memory_order_relaxed);
	if (name)
		strncpy(h->s.name, name, sizeof(h->s.name) - 1);
	/* Release: everything above is visible to whoever acquires the magic. */
	__atomic_store_n(&h->s.magic, MM_RING_MAGIC, __ATOMIC_RELEASE);
	r = mm_shm_memfd_seal(fd, h, size, MM_SHM_SEALS_SIZE);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t why_size, const char *fmt,
							...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		(void)vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* Check the static header copy <s> against the memfd size <fsize>. */
static int check_static(const struct mm_ring_static *s, uint64_t fsize, char *why, size_t wsz)
{
	if (s->magic != MM_RING_MAGIC)
		return refuse(why, wsz, "magic: 0x%08x, expected 0x%08x", s->magic, MM_RING_MAGIC);
	if (s->ver_major != MM_RING_VER_MAJOR)
		return refuse(why, wsz, "ver_major: %u, this build speaks %u", s->ver_major,
			      MM_RING_VER_MAJOR);
	if (s->hdr_size < sizeof(struct mm_ring_hdr) || s->hdr_size > MM_RING_DATA_OFF)
		return refuse(why, wsz, "hdr_size: %u, expected %zu..%u", s->hdr_size,
			      sizeof(struct mm_ring_hdr), MM_RING_DATA_OFF);
	if (s->flags & ~MM_RING_FLAGS_KNOWN)
		return refuse(why, wsz, "flags: unknown bits 0x%x",
			      s->flags & ~MM_RING_FLAGS_KNOWN);
	if (!is_pow2(s->capacity))
		return refuse(why, wsz, "capacity: %llu is not a power of two",
			      (unsigned long long)s->capacity);
	if (s->capacity < MM_RING_MIN_CAPACITY || s->capacity > MM_RING_MAX_CAPACITY)
		return refuse(why, wsz, "capacity: %llu out of range",
			      (unsigned long long)s->capacity);
	if (s->data_off != MM_RING_DATA_OFF)
		return refuse(why, wsz, "data_off: %llu, expected %u",
			      (unsigned long long)s->data_off, MM_RING_DATA_OFF);
	if (s->seg_size != s->data_off + s->capacity)
		return refuse(why, wsz, "seg_size: %llu, expected data_off + capacity = %llu",
			      (unsigned long long)s->seg_size,
			      (unsigned long long)(s->data_off + s->capacity));
	if (s->seg_size != fsize)
		return refuse(why, wsz, "seg_size: %llu, but the memfd holds %llu bytes",
			      (unsigned long long)s->seg_size, (unsigned long long)fsize);
	if (s->reserved0 != 0)
		return refuse(why, wsz, "reserved0: 0x%x, expected zero", s->reserved0);
	return 0;
}

static int check_positions(const struct mm_ring_hdr *h, uint64_t cap, uint64_t *prod,
			   uint64_t *cons, char *why, size_t wsz)
{
	/* Acquire: pairs with each side's release store of its position. */
	*prod = atomic_load_explicit(&h->prod_pos, memory_order_acquire);
	*cons = atomic_load_explicit(&h->cons_pos, memory_order_acquire);
	if ((*prod | *cons) % MM_RING_ALIGN)
		return refuse(why, wsz, "prod_pos/cons_pos: %llu/%llu not %u-byte aligned",
			      (unsigned long long)*prod, (unsigned long long)*cons, MM_RING_ALIGN);
	if (*cons > *prod)
		return refuse(why, wsz, "cons_pos: %llu is beyond prod_pos %llu",
			      (unsigned long long)*cons, (unsigned long long)*prod);
	if (*prod - *cons > cap)
		return refuse(why, wsz, "prod_pos: %llu is more than capacity past cons_pos %llu",
			      (unsigned long long)*prod, (unsigned long long)*cons);
	return 0;
}

static int map_checked(int fd, struct mm_ring_hdr **ret_h, size_t *ret_size, char *why, size_t wsz)
{
	const uint64_t min = MM_RING_DATA_OFF + MM_RING_MIN_CAPACITY,
		       max = MM_RING_DATA_OFF + MM_RING_MAX_CAPACITY;
	uint64_t size = 0;
	int seals = -1, rc;
	void *m;

	rc = mm_shm_memfd_check(fd, MM_SHM_SEALS_SIZE, min, max, &size, &seals);
	if (rc == -EPROTO && (size < min || size > max))
		return refuse(why, wsz, "seg_size: memfd size %lld out of range", (long long)size);
	if (rc == -EPROTO)
		return refuse(why, wsz, "seals: memfd not sealed against shrink and grow (0x%x)",
			      seals);
	if (rc < 0)
		return rc;
	m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*ret_h = m;
	*ret_size = (size_t)size;
	return 0;
}

/*
 * Map the ring in memfd <fd> as <role> and validate its whole header; on failure, say which
 * field was wrong in <why> (may be NULL). <efd_data> and <efd_space> are the doorbells (or -1
 * for a side that polls); they stay owned by the caller, as does <fd>. Returns 0, -EPROTO for
 * a header that fails validation, -EINVAL for a bad role, or the -errno of a system call.
 */
int mm_shm_ring_attach(struct mm_shm_ring *r, int fd, enum mm_shm_ring_role role, int efd_data,
		       int efd_space, char *why, size_t why_size)
{
	struct mm_ring_static s;
	struct mm_ring_hdr *h = NULL;
	uint64_t prod = 0, cons = 0;
	size_t size = 0;
	int rc;

	if (role != MM_SHM_RING_PRODUCER && role != MM_SHM_RING_CONSUMER)
		return -EINVAL;
	rc = map_checked(fd, &h, &size, why, why_size);
	if (rc < 0)
		return rc;
	/* Acquire: pairs with the creator's release of the magic; then read the rest once. */
	s.magic = __atomic_load_n(&h->s.magic, __ATOMIC_ACQUIRE);
	memcpy((char *)&s + sizeof(s.magic), (char *)&h->s + sizeof(s.magic),
	       sizeof(s) - sizeof(s.magic));
	rc = check_static(&s, size, why, why_size);
	if (rc == 0)
		rc = check_positions(h, s.capacity, &prod, &cons, why, why_size);
	/*
	 * A consumer never writes record bytes: its data pages are read-only (DESIGN.md §3), so a
	 * bug in a consumer (a client, the router) cannot corrupt what the producer wrote. The
	 * header page stays writable: cons_pos and consumer_sleeping are the consumer's.
	 */
	if (rc == 0 && role == MM_SHM_RING_CONSUMER &&
	    mprotect((uint8_t *)h + s.data_off, size - s.data_off, PROT_READ) == -1)
		rc = -errno;
	if (rc < 0) {
		(void)munmap(h, size);
		return rc;
	}

	*r = (struct mm_shm_ring){ .hdr = h,
				   .data = (uint8_t *)h + s.data_off,
				   .cap = s.capacity,
				   .mask = s.capacity - 1,
				   .max_len = max_len_for(s.capacity),
				   .map_size = size,
				   .fd = fd,
				   .efd_data = efd_data,
				   .efd_space = efd_space,
				   .role = role };
	r->pos = r->pub = role == MM_SHM_RING_PRODUCER ? prod : cons;
	r->other = role == MM_SHM_RING_PRODUCER ? cons : prod;
	/* A predecessor in our role may have died asleep; its flag is ours now. */
	if (role == MM_SHM_RING_PRODUCER)
		atomic_store_explicit(&h->producer_waiting, 0, memory_order_relaxed);
	else
		atomic_store_explicit(&h->consumer_sleeping, 0, memory_order_relaxed);
	return 0;
}

/*
 * Attach the other role of ring <ring>, already attached in this process, through the same
 * mapping (threads of one process; ThreadSanitizer only sees a race between two sides that
 * use the same addresses). <r> must be detached before <ring>. Returns 0, -EINVAL if <role> is
 * <ring>'s own or invalid, or -EPROTO if the positions are inconsistent.
 */
int mm_shm_ring_attach_twin(struct mm_shm_ring *r, const struct mm_shm_ring *ring,
			    enum mm_shm_ring_role role)
{
	uint64_t prod, cons;
	int rc;

	if (role == ring->role || (role != MM_SHM_RING_PRODUCER && role != MM_SHM_RING_CONSUMER))
		return -EINVAL;
	rc = check_positions(ring->hdr, ring->cap, &prod, &cons, NULL, 0);
	if (rc < 0)
		return rc;
	/* A producer twin of a consumer's mapping needs the data pages writable again. */
	if (role == MM_SHM_RING_PRODUCER &&
	    mprotect(ring->data, ring->map_size - (size_t)(ring->data - (uint8_t *)ring->hdr),
		     PROT_READ | PROT_WRITE) == -1)
		return -errno;
	*r = *ring;
	r->role = role;
	r->twin = true;
	r->peeked = 0;
	r->pos = r->pub = role == MM_SHM_RING_PRODUCER ? prod : cons;
	r->other = role == MM_SHM_RING_PRODUCER ? cons : prod;
	return 0;
}

/* Unmap the ring. Neither the memfd nor the doorbells are closed. Safe to call twice. */
void mm_shm_ring_detach(struct mm_shm_ring *r)
{
	if (!r || !r->hdr)
		return;
	if (!r->twin)
		(void)munmap(r->hdr, r->map_size);
	r->hdr = NULL;
	r->data = NULL;
}

/* A new non-blocking, close-on-exec eventfd for use as a doorbell. Returns it or -errno. */
int mm_shm_ring_doorbell_open(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd == -1 ? -errno : fd;
}

/* Reset a doorbell after a wake-up. Returns 0 or -errno (never -EAGAIN). */
int mm_shm_ring_doorbell_drain(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int ring_doorbell(int efd)
{
	uint64_t one = 1;

	if (efd < 0)
		return 0;
	/* EAGAIN means the counter is saturated: the other side is already due to wake. */
	if (write(efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		return -errno;
	return 0;
}

/* Bytes a record of <len> needs at the producer's position, including a PAD at the wrap. */
static uint64_t bytes_needed(const struct mm_shm_ring *r, uint32_t len)
{
	uint64_t need = mm_ring_rec_size(len), to_end = r->cap - (r->pos & r->mask);

	return need <= to_end ? need : to_end + need;
}

/*
 * Producer: re-read the consumer's position and check it. It is untrusted: it must lie between
 * the last value we accepted and our own position.
 */
static int refresh_cons(struct mm_shm_ring *r, memory_order order)
{
	/* Acquire (at least): the consumer's reads of the bytes it released happen before we
	 * reuse them. */
	uint64_t c = atomic_load_explicit(&r->hdr->cons_pos, order);

	if (c % MM_RING_ALIGN || c - r->other > r->pos - r->other)
		return -EPROTO;
	r->other = c;
	return 0;
}

static int room_for(struct mm_shm_ring *r, uint64_t need)
{
	int rc;

	if (r->cap - (r->pos - r->other) >= need)
		return 1;
	rc = refresh_cons(r, memory_order_acquire);
	if (rc < 0)
		return rc;
	return r->cap - (r->pos - r->other) >= need;
}

static void put_hdr(struct mm_shm_ring *r, uint64_t off, uint32_t len, uint16_t type,
		    uint16_t flags)
{
	struct mm_ring_rec rec = { .len = len, .type = type, .flags = flags };

	memcpy(r->data + off, &rec, sizeof(rec));
}

/*
 * Producer: reserve a record of <len> payload bytes with <type> (not MM_REC_PAD) and <flags>,
 * and return where to write the payload in *ret_payload. The record becomes visible to the
 * consumer at the next commit, together with every other record reserved before it. Returns
 * 0, -EAGAIN when the ring lacks room (wait for space), -EMSGSIZE when <len> can never fit,
 * -EINVAL for a PAD type, or -EPROTO when the consumer's position is corrupt.
 */
int mm_shm_ring_reserve(struct mm_shm_ring *r, uint32_t len, uint16_t type, uint16_t flags,
			void **ret_payload)
{
	uint64_t off, to_end;
	int rc;

	if (type == MM_REC_PAD)
		return -EINVAL;
	if (len > r->max_len)
		return -EMSGSIZE;
	rc = room_for(r, bytes_needed(r, len));
	if (rc <= 0)
		return rc ? rc : -EAGAIN;

	off = r->pos & r->mask;
	to_end = r->cap - off;
	if (mm_ring_rec_size(len) > to_end) {
		put_hdr(r, off, (uint32_t)(to_end - REC_HDR), MM_REC_PAD, 0);
		r->pos += to_end;
		off = 0;
	}
	put_hdr(r, off, len, type, flags);
	*ret_payload = r->data + off + REC_HDR;
	r->pos += mm_ring_rec_size(len);
	return 0;
}

/*
 * Producer: publish every record reserved since the last commit, without the doorbell.
 * Returns 1 if anything was published, 0 if not. The caller must call mm_shm_ring_bell_due
 * (and ring efd_data if it says so) before it sleeps or exits: until then a sleeping consumer
 * does not know. mm_shm_ring_commit does both at once.
 */
int mm_shm_ring_publish(struct mm_shm_ring *r)
{
	if (r->pos == r->pub)
		return 0;
	/*
	 * Release: the record bytes written above are complete before the consumer sees them.
	 * Sequentially consistent, with the load of consumer_sleeping in mm_shm_ring_bell_due,
	 * because this is one half of Dekker's pattern; the other half is mm_shm_ring_consumer_arm
	 * (seq_cst store of the flag, seq_cst load of prod_pos). In the single total order of
	 * seq_cst operations, either the consumer's re-check sees the new prod_pos or we see its
	 * flag: it never sleeps on published data. (A seq_cst store is one locked instruction on
	 * x86, the price of a fence; ThreadSanitizer models it, which it does not for standalone
	 * fences.)
	 */
	atomic_store_explicit(&r->hdr->prod_pos, r->pos, memory_order_seq_cst);
	r->pub = r->pos;
	return 1;
}

/*
 * Producer, after mm_shm_ring_publish (at once or later, but before it sleeps): 1 if the
 * consumer sleeps, and then the flag is taken and the caller must write efd_data; else 0.
 * The seq_cst load is the second half of the Dekker pattern described in publish: it may
 * come any time after the store, and either it sees the flag or the consumer's re-check
 * sees the data.
 */
int mm_shm_ring_bell_due(struct mm_shm_ring *r)
{
	if (!atomic_load_explicit(&r->hdr->consumer_sleeping, memory_order_seq_cst))
		return 0;
	return atomic_exchange_explicit(&r->hdr->consumer_sleeping, 0, memory_order_relaxed) != 0;
}

/*
 * Producer: publish every record reserved since the last commit, and ring the data doorbell
 * if the consumer is asleep. Returns 1 if the doorbell was rung, 0 if not, or -errno from
 * the eventfd write.
 */
int mm_shm_ring_commit(struct mm_shm_ring *r)
{
	int rc;

	if (!mm_shm_ring_publish(r) || !mm_shm_ring_bell_due(r))
		return 0;
	rc = ring_doorbell(r->efd_data);
	return rc < 0 ? rc : 1;
}

/*
 * Producer: true (1) if a record of <len> payload bytes could be reserved now, 0 if not,
 * -EMSGSIZE if it never could, -EPROTO if the consumer's position is corrupt.
 */
int mm_shm_ring_has_room(struct mm_shm_ring *r, uint32_t len)
{
	if (len > r->max_len)
		return -EMSGSIZE;
	return room_for(r, bytes_needed(r, len));
}

/*
 * Producer, before blocking on the space doorbell: commit what is reserved, announce that we
 * wait, and re-check. Returns 1 if a record of <len> fits now (do not block; the flag is
 * already cleared), 0 if the caller may block on efd_space, or a negative error as for
 * mm_shm_ring_reserve.
 */
int mm_shm_ring_producer_arm(struct mm_shm_ring *r, uint32_t len)
{
	int rc;

	if (len > r->max_len)
		return -EMSGSIZE;
	rc = mm_shm_ring_commit(r);
	if (rc < 0)
		return rc;
	/* seq_cst store, then seq_cst load in refresh_cons: Dekker's pattern with release. */
	atomic_store_explicit(&r->hdr->producer_waiting, 1, memory_order_seq_cst);
	rc = refresh_cons(r, memory_order_seq_cst);
	if (rc == 0)
		rc = room_for(r, bytes_needed(r, len));
	if (rc != 0)
		mm_shm_ring_producer_disarm(r);
	return rc;
}

/*
 * Producer: 1 if the consumer has released every byte before position <pos> (a position this
 * side committed), 0 if not yet, -EPROTO if its position is corrupt. The worker acknowledges
 * a message to the broker only once the router has released it (docs/reliability.md).
 */
int mm_shm_ring_consumed(struct mm_shm_ring *r, uint64_t pos)
{
	int rc;

	if (r->other >= pos)
		return 1;
	rc = refresh_cons(r, memory_order_acquire);
	if (rc < 0)
		return rc;
	return r->other >= pos;
}

/*
 * Producer, before blocking on the space doorbell until the consumer has released every byte
 * before <pos>: announce that we wait and re-check. The consumer rings at its next release,
 * whatever it released. Returns 1 if it is released already (do not block; the flag is
 * cleared), 0 if the caller may block on efd_space, or -EPROTO.
 */
int mm_shm_ring_producer_arm_consumed(struct mm_shm_ring *r, uint64_t pos)
{
	int rc;

	/* seq_cst store, then seq_cst load in refresh_cons: Dekker's pattern with release. */
	atomic_store_explicit(&r->hdr->producer_waiting, 1, memory_order_seq_cst);
	rc = refresh_cons(r, memory_order_seq_cst);
	if (rc == 0)
		rc = r->other >= pos;
	if (rc != 0)
		mm_shm_ring_producer_disarm(r);
	return rc;
}

/* Producer: we are awake again (or gave up waiting). */
void mm_shm_ring_producer_disarm(struct mm_shm_ring *r)
{
	atomic_store_explicit(&r->hdr->producer_waiting, 0, memory_order_relaxed);
}

static int wait_fd(int efd, int timeout_ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	int n;

	if (efd < 0)
		return -EINVAL;
	n = poll(&p, 1, timeout_ms);
	if (n == -1)
		return errno == EINTR ? 0 : -errno;
	return mm_shm_ring_doorbell_drain(efd);
}

/*
 * Producer: block until a record of <len> payload bytes fits, at most <timeout_ms> (-1: no
 * limit). Needs efd_space. A doorbell may be stale (rung for a wait that ended before it was
 * read), so a wake-up without room goes back to sleep until the deadline. Returns 1 when it
 * fits, 0 on timeout, or a negative error.
 */
int mm_shm_ring_wait_space(struct mm_shm_ring *r, uint32_t len, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	int rc;

	for (;;) {
		rc = mm_shm_ring_producer_arm(r, len);
		if (rc != 0)
			return rc;
		rc = wait_fd(r->efd_space, mm_time_left_ms(deadline));
		mm_shm_ring_producer_disarm(r);
		if (rc < 0)
			return rc;
		rc = mm_shm_ring_has_room(r, len);
		if (rc != 0 || mm_time_left_ms(deadline) == 0)
			return rc;
	}
}

/*
 * Consumer: re-read the producer's position and check it. It is untrusted: it may not move
 * backwards, nor more than the capacity ahead of what we have not released.
 */
static int refresh_prod(struct mm_shm_ring *r)
{
	/* Acquire: pairs with the producer's release in commit; the record bytes are complete. */
	uint64_t p = atomic_load_explicit(&r->hdr->prod_pos, memory_order_acquire);

	if (p % MM_RING_ALIGN || p - r->other > r->cap || p - r->pub > r->cap)
		return -EPROTO;
	r->other = p;
	return 0;
}

static void get_hdr(const struct mm_shm_ring *r, uint64_t off, struct mm_ring_rec *rec)
{
	/* One 8-byte load: a hostile producer cannot change len between our check and use. */
	uint64_t v =
		__atomic_load_n((const uint64_t *)(const void *)(r->data + off), __ATOMIC_RELAXED);

	memcpy(rec, &v, sizeof(*rec));
}

/*
 * Consumer: look at the next record without consuming it. PAD records are skipped. The
 * record's bytes stay valid until mm_shm_ring_release. Returns 1 with *ret filled, 0 if the
 * ring is empty, or -EPROTO if the producer wrote a corrupt position or record header (the
 * ring is then unusable: the caller should drop this producer).
 */
int mm_shm_ring_peek(struct mm_shm_ring *r, struct mm_shm_rec *ret)
{
	struct mm_ring_rec rec;
	uint64_t avail, off, to_end, size;
	int rc;

	for (;;) {
		avail = r->other - r->pos;
		if (avail == 0) {
			rc = refresh_prod(r);
			if (rc < 0)
				return rc;
			avail = r->other - r->pos;
			if (avail == 0)
				return 0;
		}
		off = r->pos & r->mask;
		to_end = r->cap - off;
		get_hdr(r, off, &rec);
		if (rec.type != MM_REC_PAD)
			break;
		if (rec.len != to_end - REC_HDR || to_end > avail)
			return -EPROTO;
		r->pos += to_end;
	}
	size = mm_ring_rec_size(rec.len);
	if (rec.len > r->max_len || size > to_end || size > avail)
		return -EPROTO;
	*ret = (struct mm_shm_rec){ .data = r->data + off + REC_HDR,
				    .len = rec.len,
				    .type = rec.type,
				    .flags = rec.flags };
	r->peeked = size;
	return 1;
}

/* Consumer: consume the record the last successful peek returned. Not yet published. */
void mm_shm_ring_pop(struct mm_shm_ring *r)
{
	r->pos += r->peeked;
	r->peeked = 0;
}

/*
 * Consumer: hand the bytes of every popped record back to the producer, and ring the space
 * doorbell if it waits. Returns 1 if the doorbell was rung, 0 if not, or -errno.
 */
int mm_shm_ring_release(struct mm_shm_ring *r)
{
	int rc;

	if (r->pos == r->pub)
		return 0;
	/*
	 * Release: our reads of the popped records are done before the producer reuses them.
	 * seq_cst with the load of producer_waiting: Dekker's pattern with
	 * mm_shm_ring_producer_arm, as explained in mm_shm_ring_commit.
	 */
	atomic_store_explicit(&r->hdr->cons_pos, r->pos, memory_order_seq_cst);
	r->pub = r->pos;
	if (!atomic_load_explicit(&r->hdr->producer_waiting, memory_order_seq_cst))
		return 0;
	if (!atomic_exchange_explicit(&r->hdr->producer_waiting, 0, memory_order_relaxed))
		return 0;
	rc = ring_doorbell(r->efd_space);
	return rc < 0 ? rc : 1;
}

/*
 * Consumer, before blocking on the data doorbell: release what was popped, announce that we
 * sleep, and re-check. Returns 1 if records are pending (do not block; the flag is already
 * cleared), 0 if the caller may block on efd_data, or -errno from release.
 */
int mm_shm_ring_consumer_arm(struct mm_shm_ring *r)
{
	int rc = mm_shm_ring_release(r);

	if (rc < 0)
		return rc;
	/* seq_cst store, then seq_cst load: Dekker's pattern with mm_shm_ring_commit. */
	atomic_store_explicit(&r->hdr->consumer_sleeping, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->hdr->prod_pos, memory_order_seq_cst) == r->pos)
		return 0;
	mm_shm_ring_consumer_disarm(r);
	return 1;
}

/* Consumer: we are awake again (or gave up sleeping). */
void mm_shm_ring_consumer_disarm(struct mm_shm_ring *r)
{
	atomic_store_explicit(&r->hdr->consumer_sleeping, 0, memory_order_relaxed);
}

/*
 * Consumer: block until a record is pending, at most <timeout_ms> (-1: no limit). Needs
 * efd_data. A stale doorbell sends it back to sleep until the deadline. Returns 1 when
 * something is pending, 0 on timeout, or a negative error.
 */
int mm_shm_ring_wait_data(struct mm_shm_ring *r, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	int rc;

	for (;;) {
		rc = mm_shm_ring_consumer_arm(r);
		if (rc != 0)
			return rc;
		rc = wait_fd(r->efd_data, mm_time_left_ms(deadline));
		mm_shm_ring_consumer_disarm(r);
		if (rc < 0)
			return rc;
		if (atomic_load_explicit(&r->hdr->prod_pos, memory_order_relaxed) != r->pos)
			return 1;
		if (mm_time_left_ms(deadline) == 0)
			return 0;
	}
}

/* Bytes published and not yet released: a gauge for metrics, read with relaxed loads. */
uint64_t mm_shm_ring_fill_bytes(const struct mm_shm_ring *r)
{
	uint64_t p = atomic_load_explicit(&r->hdr->prod_pos, memory_order_relaxed);
	uint64_t c = atomic_load_explicit(&r->hdr->cons_pos, memory_order_relaxed);

	return p - c <= r->cap ? p - c : r->cap;
}
