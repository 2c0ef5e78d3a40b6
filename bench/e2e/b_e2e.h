/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the end-to-end benchmark (bench-e2e, issue #4): a private mosquitto broker,
 * mqttmuxd with one session on it, a raw-TCP MQTT publisher (pre-encoded QoS 0 PUBLISH packets
 * carrying a sequence number and a CLOCK_REALTIME send stamp), and the receivers it is measured
 * with: libmqttmux clients and plain libmosquitto subscribers, each a forked process reporting
 * into a shared page. Benchmark code: never linked into mqttmux itself.
 */
#ifndef B_E2E_H
#define B_E2E_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm_time.h"

#define B_E2E_TOPIC   "bench/e2e" /* every PUBLISH; everybody subscribes B_E2E_FILTER */
#define B_E2E_FILTER  "bench/#"
#define B_E2E_MAX_RX  16     /* receivers in one run */
#define B_E2E_LAT_MAX 262144 /* latency samples kept per receiver */

enum b_rx_kind {
	B_RX_MQTTMUX = 0, /* libmqttmux client, callback route, sleeps in mqttmux_dispatch */
	B_RX_PLAIN,	  /* libmosquitto subscriber on mosquitto_loop */
	_B_RX_KIND_MAX
};

/* What one receiver reports (in a MAP_SHARED page; written by the receiver only). */
struct b_rx {
	_Atomic int ready;  /* 1: subscribed (plain) or route acknowledged (mqttmux); -1 failed */
	_Atomic uint64_t n; /* messages received */
	_Atomic uint64_t lost; /* mqttmux: GAP counts added up */
	uint64_t first_ns;     /* CLOCK_MONOTONIC at the first and the last message */
	_Atomic uint64_t last_ns;
	uint32_t nlat;		     /* samples in w2c / p2c */
	uint32_t w2c[B_E2E_LAT_MAX]; /* mqttmux: worker receive stamp to callback, ns */
	uint32_t p2c[B_E2E_LAT_MAX]; /* publisher send stamp to callback, ns */
};

/* The page every receiver of a run writes into; the bench sets stop. */
struct b_rxs {
	_Atomic int stop;
	int wait_ms; /* longest sleep in mqttmux_dispatch / mosquitto_loop; 0: 100 ms */
	bool text;   /* payloads are text (B_TEXT_MIN) */
	struct b_rx rx[B_E2E_MAX_RX];
};

/* The processes under test. */
struct b_stack {
	char *dir;	    /* private temp dir: configs, logs, runtime dir */
	char *run;	    /* mqttmuxd runtime_dir */
	uint16_t port;	    /* broker port on 127.0.0.1 */
	pid_t broker;	    /* mosquitto */
	pid_t daemon;	    /* mqttmuxd, 0 when not running */
	pid_t router;	    /* its mqttmux-router */
	pid_t worker;	    /* the worker of session "b" */
	unsigned ring;	    /* clients.ring_size */
	uint32_t budget_us; /* the session's performance.latency_budget_us (0: off) */
};

/* A publisher run. */
struct b_pub_cfg {
	uint64_t count;	  /* messages */
	uint32_t rate;	  /* messages per second; 0: as fast as the broker takes them */
	uint32_t payload; /* bytes, at least 16 (seq + stamp); B_TEXT_MIN with text */
	bool text;	  /* payload as text (b_text_*), for receivers that print it */
	uint64_t seq0;	  /* the first message's sequence number */
};

/*
 * A text payload: the sequence number and the send stamp as 16 lower-case hex digits each,
 * separated and followed by a space, then 'p' up to the payload size. mosquitto_sub prints
 * it as it is, so its output lines carry the stamp.
 */
#define B_TEXT_MIN 34

/* b_stack.c */
int b_broker_start(struct b_stack *s);
int b_daemon_start(struct b_stack *s);
void b_daemon_stop(struct b_stack *s);
void b_stack_free(struct b_stack *s);
int b_cpu_ticks(pid_t pid, uint64_t *ret);
int b_cpu_ns(pid_t pid, uint64_t *ret);
double b_tick_us(void);

/* b_pub.c */
pid_t b_pub_spawn(uint16_t port, const struct b_pub_cfg *cfg);
size_t b_text_put(uint8_t *p, uint32_t payload, uint64_t seq, uint64_t stamp);
int b_text_get(const void *p, size_t len, uint64_t *seq, uint64_t *stamp);

/* b_rx.c */
pid_t b_rx_spawn(enum b_rx_kind kind, const struct b_stack *s, struct b_rxs *page, int i);
bool b_rx_all_ready(struct b_rxs *page, int n);

#endif /* B_E2E_H */
