/* SPDX-License-Identifier: MIT */
/*
 * What the worker does with the broker's packets before libmosquitto sees them (issue 12;
 * the framing is wrk_frame.c, docs/worker.md "Broker packets"):
 *
 * - Size. A packet whose remaining length is over max_message_size + MM_WRK_FRAME_HEADROOM
 *   is refused from its fixed header, before anything is allocated for it: the connection is
 *   closed, the refusal counted (refused_packets) and logged. libmosquitto 2.0.11 would
 *   allocate whatever the header says, 3.1.1 included (256 MiB cost 528 MB before).
 *
 * - Poison. Before libmosquitto gets a PUBLISH, its hash goes into the stats block
 *   (poison_busy), which outlives the process; it is cleared when mosquitto_loop_read returns.
 *   A worker that starts and finds it set knows its predecessor died on that message
 *   (an abort in libmosquitto, a crash of ours): one more death in a row for that hash. When
 *   a message that killed MM_WRK_POISON_DEATHS workers in a row comes again (the broker
 *   redelivers it to a persistent session), it is quarantined: its bytes go to
 *   state_dir/quarantine/SESSION-HASH.mqtt, it is counted (quarantined), logged and reported
 *   (message_quarantined), and libmosquitto gets in its place a PUBLISH of
 *   MM_WRK_QUARANTINE_TOPIC with the same QoS and packet id, which it acknowledges as usual
 *   and the worker never delivers. So a persistent session is not held hostage.
 *
 * The hash covers the packet's length and its first HASH_BYTES bytes but the DUP bit (a
 * redelivery sets it): FNV-1a, 64 bits. The header, topic, packet id and properties are in
 * there; a byte at a time over a 256 KiB payload would cost a stream of large messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wrk.h"

#define PUBLISH	    3
#define DUP_BIT	    0x08u
#define QUAR_SUBDIR "quarantine"
#define HASH_BYTES  4096u

static const char *State_dir; /* --state-dir, or NULL: quarantined messages are not written */
/*
 * MQTTMUX_WORKER_TEST_ABORT_TOPIC: a message on this topic aborts the worker, as a
 * libmosquitto assertion does on MQTT 5 garbage. The tests' poison message on MQTT 3.1.1,
 * where libmosquitto 2.0.11 has no known packet that aborts it.
 */
static const char *Abort_topic;

void mm_wrk_guard_set_state_dir(const char *dir)
{
	State_dir = dir;
}

static uint64_t packet_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;

	for (size_t i = 0; i < n && i < HASH_BYTES; i++) {
		h ^= i ? p[i] : (p[i] & ~DUP_BIT);
		h *= 0x100000001b3ull;
	}
	return h ? h : 1; /* 0 means "none" in the stats block */
}

static void on_refused(void *ctx, uint64_t len)
{
	struct mm_wrk *w = ctx;
	char text[160];

	atomic_fetch_add_explicit(&w->stats->refused_packets, 1, memory_order_relaxed);
	if (len)
		snprintf(text, sizeof(text),
			 "a packet of %" PRIu64 " bytes from the broker, over the bound of %" PRIu64
			 " (max_message_size + %u): disconnecting",
			 len, w->frame.limit, MM_WRK_FRAME_HEADROOM);
	else
		snprintf(text, sizeof(text), "a packet from the broker with a malformed length");
	mm_log(MM_LOG_WARNING, "%s", text);
	mm_wrk_emit_event(w, MM_EV_ERROR, -EMSGSIZE, text);
}

/* Write the packet to state_dir/quarantine/SESSION-HASH.mqtt: 0 or -errno. */
static int save(const struct mm_wrk *w, const uint8_t *p, size_t n, uint64_t h, char *path,
		size_t path_size)
{
	ssize_t r;
	int fd;

	if (!State_dir)
		return -ENOENT;
	if ((size_t)snprintf(path, path_size, "%s/%s/%s-%016" PRIx64 ".mqtt", State_dir,
			     QUAR_SUBDIR, w->cfg->name, h) >= path_size)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write(fd, p, n);
	if (r >= 0 && (size_t)r != n)
		errno = ENOSPC;
	if (r < 0 || (size_t)r != n || fsync(fd) < 0) {
		r = -errno;
		(void)close(fd);
		(void)unlink(path);
		return (int)r;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* The QoS and packet id of PUBLISH <f> if it has a usable one, else QoS 0. */
static unsigned qos_and_mid(const struct mm_wrk_frame *f, uint16_t *mid)
{
	unsigned qos = (f->pkt[0] >> 1) & 3u;
	size_t at = 1, tlen;

	while (at < f->total && (f->pkt[at] & 0x80))
		at++;
	at++; /* past the remaining length */
	if (qos == 0 || qos == 3 || at + 2 > f->total)
		return 0;
	tlen = (size_t)f->pkt[at] << 8 | f->pkt[at + 1];
	at += 2 + tlen;
	if (at + 2 > f->total)
		return 0;
	*mid = (uint16_t)(f->pkt[at] << 8 | f->pkt[at + 1]);
	return *mid ? qos : 0;
}

/* Put in <f> a PUBLISH of MM_WRK_QUARANTINE_TOPIC that libmosquitto acks as the poison. */
static void replace(struct mm_wrk *w, struct mm_wrk_frame *f)
{
	static const char topic[] = MM_WRK_QUARANTINE_TOPIC;
	bool v5 = w->cfg->protocol == MM_CFG_PROTOCOL_5;
	uint16_t mid = 0;
	unsigned qos = qos_and_mid(f, &mid);
	uint8_t *p = f->pkt;
	size_t tlen = sizeof(topic) - 1;

	*p++ = (uint8_t)(0x30u | qos << 1);
	*p++ = (uint8_t)(2 + tlen + (qos ? 2 : 0) + (v5 ? 1 : 0));
	*p++ = 0;
	*p++ = (uint8_t)tlen;
	memcpy(p, topic, tlen);
	p += tlen;
	if (qos) {
		*p++ = (uint8_t)(mid >> 8);
		*p++ = (uint8_t)mid;
	}
	if (v5)
		*p++ = 0; /* no properties */
	f->total = f->have = (size_t)(p - f->pkt);
	w->n_substituted++;
}

static void quarantine(struct mm_wrk *w, struct mm_wrk_frame *f, uint64_t h)
{
	char path[PATH_MAX] = "", text[MM_STATS_EV_TEXT_MAX];
	int r = save(w, f->pkt, f->total, h, path, sizeof(path));

	atomic_fetch_add_explicit(&w->stats->quarantined, 1, memory_order_relaxed);
	if (r == 0)
		snprintf(text, sizeof(text),
			 "a message that killed %u workers: acked, kept in %.150s",
			 MM_WRK_POISON_DEATHS, path);
	else
		snprintf(text, sizeof(text),
			 "a message that killed %u workers: acked, not kept (%.100s)",
			 MM_WRK_POISON_DEATHS, strerror(-r));
	mm_log(MM_LOG_WARNING, "message quarantined: %s", text);
	mm_wrk_emit_event(w, MM_EV_MSG_QUARANTINED, r, text);
	replace(w, f);
}

static void on_packet(void *ctx, struct mm_wrk_frame *f)
{
	struct mm_wrk *w = ctx;
	uint64_t h;

	if (f->pkt[0] >> 4 != PUBLISH)
		return;
	h = packet_hash(f->pkt, f->total);
	if (h == atomic_load_explicit(&w->stats->poison_hash, memory_order_relaxed) &&
	    atomic_load_explicit(&w->stats->poison_deaths, memory_order_relaxed) >=
		    MM_WRK_POISON_DEATHS) {
		quarantine(w, f, h);
		return;
	}
	atomic_store_explicit(&w->stats->poison_busy, h, memory_order_relaxed);
}

static const struct mm_wrk_frame_ops Ops = { .refused = on_refused, .packet = on_packet };

/*
 * At the start of a worker: set up the guard and count its predecessor's death, if it died
 * with a message in libmosquitto's hands.
 */
void mm_wrk_guard_start(struct mm_wrk *w)
{
	uint64_t h = atomic_exchange_explicit(&w->stats->poison_busy, 0, memory_order_relaxed);
	uint32_t n = 1;

	Abort_topic = getenv("MQTTMUX_WORKER_TEST_ABORT_TOPIC");
	mm_wrk_frame_init(&w->frame,
			  (uint64_t)w->cfg->perf.max_message_size + MM_WRK_FRAME_HEADROOM, &Ops, w);
	if (!h)
		return;
	if (h == atomic_load_explicit(&w->stats->poison_hash, memory_order_relaxed))
		n += atomic_load_explicit(&w->stats->poison_deaths, memory_order_relaxed);
	else
		atomic_store_explicit(&w->stats->poison_hash, h, memory_order_relaxed);
	atomic_store_explicit(&w->stats->poison_deaths, n, memory_order_relaxed);
	mm_log(MM_LOG_WARNING,
	       "the previous worker died handling a message from the broker (%016" PRIx64
	       "), %u time(s) in a row%s",
	       h, n, n >= MM_WRK_POISON_DEATHS ? ": quarantined when it comes again" : "");
}

/* mosquitto_loop_read returned: the packet it handled did not kill us. */
void mm_wrk_guard_done(struct mm_wrk *w)
{
	uint64_t h = atomic_load_explicit(&w->stats->poison_busy, memory_order_relaxed);

	if (!h)
		return;
	if (h == atomic_load_explicit(&w->stats->poison_hash, memory_order_relaxed))
		atomic_store_explicit(&w->stats->poison_deaths, 0, memory_order_relaxed);
	atomic_store_explicit(&w->stats->poison_busy, 0, memory_order_relaxed);
}

/* on_message: a quarantined message's stand-in, not to be delivered. */
bool mm_wrk_guard_is_stand_in(struct mm_wrk *w, const char *topic)
{
	if (Abort_topic && *Abort_topic && !strcmp(topic, Abort_topic))
		abort();
	if (!w->n_substituted || strcmp(topic, MM_WRK_QUARANTINE_TOPIC))
		return false;
	w->n_substituted--;
	return true;
}
