/* SPDX-License-Identifier: MIT */
/* Create and attach a session's stats block, and its event log (layout and ownership in
 * stats.h). */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memfd.h"

/*
 * Create a sealed memfd holding a zeroed stats block. The caller owns *ret_fd. Returns 0 or
 * -errno.
 */
int mm_shm_stats_create(const char *name, int *ret_fd)
{
	struct mm_stats_block *s;
	int fd, r;

	fd = mm_shm_memfd_create(name ? name : "mqttmux-stats", MM_STATS_SIZE, (void **)&s);
	if (fd < 0)
		return fd;
	s->ver_major = MM_STATS_VER_MAJOR;
	s->ver_minor = MM_STATS_VER_MINOR;
	s->size = MM_STATS_SIZE;
	__atomic_store_n(&s->magic, MM_STATS_MAGIC, __ATOMIC_RELEASE);
	r = mm_shm_memfd_seal(fd, s, MM_STATS_SIZE, MM_SHM_SEALS_SIZE);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Map the stats block in <fd> read-write. Returns 0, -EPROTO if the memfd is not a sealed
 * stats block of our major version, or -errno.
 */
int mm_shm_stats_attach(int fd, struct mm_stats_block **ret)
{
	struct mm_stats_block *s;
	int r;

	r = mm_shm_memfd_map(fd, MM_STATS_SIZE, (void **)&s);
	if (r < 0)
		return r;
	if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != MM_STATS_MAGIC ||
	    s->ver_major != MM_STATS_VER_MAJOR || s->size != MM_STATS_SIZE) {
		(void)munmap(s, MM_STATS_SIZE);
		return -EPROTO;
	}
	*ret = s;
	return 0;
}

void mm_shm_stats_detach(struct mm_stats_block *s)
{
	if (s)
		(void)munmap(s, MM_STATS_SIZE);
}

const char *mm_sess_state_to_string(unsigned state)
{
	static const char *const names[_MM_SESS_STATE_MAX] = {
		[MM_SESS_STOPPED] = "stopped",		 [MM_SESS_CONNECTING] = "connecting",
		[MM_SESS_CONNECTED] = "connected",	 [MM_SESS_READY] = "ready",
		[MM_SESS_DISCONNECTED] = "disconnected", [MM_SESS_RECONNECTING] = "reconnecting",
	};

	return state < _MM_SESS_STATE_MAX ? names[state] : "unknown";
}

/* Every field but seq; text in full (MM_STATS_EV_TEXT_MAX bytes), whatever text_len says. */
static void event_fields(struct mm_stats_event *d, const struct mm_stats_event *e)
{
	d->time_ns = e->time_ns;
	d->kind = e->kind;
	d->text_len = e->text_len;
	d->code = e->code;
	d->attempt = e->attempt;
	d->delay_ms = e->delay_ms;
	d->broker = e->broker;
	d->reserved = 0;
	memcpy(d->text, e->text, MM_STATS_EV_TEXT_MAX);
}

/*
 * Append <e> to the event log of <s> (its seq field is ignored; text_len is clamped) and
 * publish it. Worker only: the one writer of the log. Returns the entry's seq.
 */
uint64_t mm_shm_stats_event_push(struct mm_stats_block *s, const struct mm_stats_event *e)
{
	uint64_t seq = atomic_load_explicit(&s->ev_head, memory_order_relaxed) + 1;
	struct mm_stats_event *slot = &s->events[(seq - 1) % MM_STATS_EV_N];

	/* Busy first: a reader copying this slot sees its seq change and drops the copy. */
	atomic_store_explicit(&slot->seq, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	event_fields(slot, e);
	if (slot->text_len > MM_STATS_EV_TEXT_MAX)
		slot->text_len = MM_STATS_EV_TEXT_MAX;
	atomic_store_explicit(&slot->seq, seq, memory_order_release);
	atomic_store_explicit(&s->ev_head, seq, memory_order_release);
	return seq;
}

/* Copy entry <seq> into *ret; false if the worker overwrote it before or during the copy. */
static bool event_copy(const struct mm_stats_block *s, uint64_t seq, struct mm_stats_event *ret)
{
	const struct mm_stats_event *slot = &s->events[(seq - 1) % MM_STATS_EV_N];
	uint64_t before = atomic_load_explicit(&slot->seq, memory_order_acquire);

	if (before != seq)
		return false;
	event_fields(ret, slot);
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq;
}

/*
 * Take the next event after cur->next - 1 from the log of <s> into *ret (text NUL-terminated,
 * text_len at most MM_STATS_EV_TEXT_MAX). Entries the worker overwrote before we got to them
 * are added to cur->missed, entries with a kind >= MM_STATS_EV_KIND_MAX to cur->bad; both are
 * skipped. A head that went backwards (a block we do not trust) moves the cursor back to it.
 * Any process holding the block; one reader per cursor. Returns 1 with *ret filled, or 0 when
 * there is nothing new.
 */
int mm_shm_stats_event_next(const struct mm_stats_block *s, struct mm_stats_evcursor *cur,
			    struct mm_stats_event *ret)
{
	uint64_t head = atomic_load_explicit(&s->ev_head, memory_order_acquire);

	if (head > MM_STATS_EV_SEQ_MAX) {
		cur->bad++; /* no worker writes that many: garbage */
		return 0;
	}
	if (cur->next == 0)
		cur->next = 1;
	if (head < cur->next - 1)
		cur->next = head + 1;
	while (cur->next <= head) {
		uint64_t seq = cur->next;

		if (head - seq >= MM_STATS_EV_N) {
			cur->missed += head - seq - MM_STATS_EV_N + 1;
			cur->next = head - MM_STATS_EV_N + 1;
			continue;
		}
		cur->next++;
		if (!event_copy(s, seq, ret)) {
			cur->missed++;
			continue;
		}
		if (ret->kind >= MM_STATS_EV_KIND_MAX) {
			cur->bad++;
			continue;
		}
		if (ret->text_len > MM_STATS_EV_TEXT_MAX)
			ret->text_len = MM_STATS_EV_TEXT_MAX;
		ret->text[ret->text_len] = '\0';
		atomic_store_explicit(&ret->seq, seq, memory_order_relaxed);
		return 1;
	}
	return 0;
}
