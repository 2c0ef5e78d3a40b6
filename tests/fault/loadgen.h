/* SPDX-License-Identifier: MIT */
/*
 * mm-loadgen: a load generator and checker for the fault scenarios (docs/reliability.md).
 *
 * `mm-loadgen pub` publishes sequence-numbered, checksummed messages to a broker at a fixed
 * rate on N streams (one MQTT connection and one topic PREFIX/<i> per stream) and writes which
 * sequence numbers the broker acknowledged. `mm-loadgen check` is a libmqttmux client: it
 * takes stream <i> from session SESSION<i> (route PREFIX/<i>), checks every message, and once
 * the publisher's report is there and the acknowledged messages are in (or a drain deadline
 * passed), writes per stream: received, lost (acknowledged, never received), duplicated with
 * and without the DUP flag, reordered, corrupt, the receive count of every second, and the
 * end-to-end latency.
 *
 * The message (all integers little-endian):
 *
 *   0  "MMLG"   4  stream u32   8  seq u64   16  sent_ns u64 (CLOCK_REALTIME)
 *   24 body_len u32   28 body (body_len bytes, a function of seq)   28+len  FNV-1a 64 of
 *   bytes 0..28+len
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MAGIC    "MMLG"
#define LG_HDR	    28u
#define LG_MSG_MAX  (LG_HDR + 65536u + 8u)
#define LG_MAX_STR  256 /* streams */
#define LG_DRAIN_S  30	/* default: how long the checker waits for late messages */
#define LG_MAX_SECS 86400

struct lg_msg {
	uint32_t stream;
	uint64_t seq;
	uint64_t sent_ns;
	uint32_t body_len;
};

/* lg_msg.c */
size_t lg_msg_pack(uint8_t *buf, const struct lg_msg *m);
int lg_msg_unpack(const uint8_t *buf, size_t len, struct lg_msg *ret);
uint64_t lg_realtime_ns(void);
uint64_t lg_mono_ns(void);

/* A growable bit set indexed by sequence number. */
struct lg_bits {
	uint64_t *w;
	size_t nwords;
};
int lg_bits_set(struct lg_bits *b, uint64_t i); /* 1 if it was already set, 0, or -ENOMEM */
bool lg_bits_get(const struct lg_bits *b, uint64_t i);
void lg_bits_free(struct lg_bits *b);

/* lg_pub.c, lg_check.c: the two commands; argv starts after the command name */
int lg_pub_main(int argc, char **argv);
int lg_check_main(int argc, char **argv);

#endif /* LOADGEN_H */
