/* SPDX-License-Identifier: MIT */
/* mm-loadgen check: the checker's state, and the per-stream tally (lg_cstream.c). */
#ifndef LG_CHECK_H
#define LG_CHECK_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "loadgen.h"

#define LG_LAT_BUCKETS 40 /* log2 of the latency in microseconds */

struct lg_cstream {
	uint32_t idx;
	uint64_t *t0_ns; /* CLOCK_REALTIME: second 0 of per_sec, the first message of any stream */
	struct lg_bits got;
	uint64_t received, dup_flag, dup_noflag, reordered, corrupt, max_seq;
	bool any;
	uint64_t *per_sec; /* messages received (first copies) in each second since t0 */
	size_t nsec;
	uint64_t lat_hist[LG_LAT_BUCKETS], lat_max_ns;
	/* from the publisher's report */
	bool expect;
	int qos;
	uint64_t sent, acked, acked_received;
	struct lg_bits unacked;
	struct lg_bits resent; /* the publisher sent these twice (see lg_pub.c stream_down) */
	struct lg_bits dup_nf; /* seqs that came again without DUP */
};

struct lg_check {
	const char *run, *prefix, *session, *pub_path, *ready, *out;
	uint32_t n;
	int qos;
	double drain;
	uint64_t t0_ns, drain_end_ns, gap_lost, router_reconnects;
	struct mqttmux *c;
	struct lg_cstream *s;
	json_object *pub;
};

void lg_cstream_add(struct lg_cstream *s, const struct lg_msg *m, bool dup, uint64_t now_ns);
void lg_cstream_expect(struct lg_cstream *s, json_object *stream);
bool lg_cstream_complete(const struct lg_cstream *s);
void lg_cstream_free(struct lg_cstream *s);
int lg_check_report(const struct lg_check *k);

#endif /* LG_CHECK_H */
