/* SPDX-License-Identifier: MIT */
/*
 * `mm-loadgen pub`: N libmosquitto connections, one per stream, driven from one thread (our
 * own poll loop around mosquitto_loop_read/write/misc, so the acknowledgement bookkeeping
 * needs no locks). Stream <i> publishes on PREFIX/<i>, message <k> due at start + k/rate; a
 * stream that falls behind (disconnected, or too many unacknowledged) catches up in a burst.
 * Publisher sessions are persistent (clean session off) so libmosquitto resends what was in
 * flight after a reconnect. The report lists, per stream, how many were handed to the broker
 * and which of those were never acknowledged.
 *
 * Usage: mm-loadgen pub -p PORT [-h HOST] [-n STREAMS] [-r RATE] [-q QOS] [-d SECONDS]
 *        [-t PREFIX] [-b BODY] [-V 3|5] [-w DRAIN] [-i ID] -o REPORT
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "loadgen.h"

#define MAX_OUTSTANDING 60000 /* unacknowledged per stream: stays clear of the 16-bit mids */

struct pstream {
	struct mosquitto *m;
	uint32_t idx;
	int qos;
	uint64_t next_seq, acked, reconnects;
	bool up, ever_up;
	uint64_t retry_ns;
	struct lg_bits ack;
	struct lg_bits resent; /* in flight at a disconnection: libmosquitto sends them again */
	uint64_t low;	       /* every seq below is acknowledged */
	uint64_t mid_seq[65536];
};

struct pub {
	const char *host, *prefix, *id, *out;
	int port, version;
	const char *qos; /* "1", or a list "1,0,2" given to the streams in turn */
	uint32_t n, body;
	double rate, secs, drain;
	struct pstream *s;
};

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	struct pstream *s = ud;

	(void)m;
	if (mid > 0 && mid < 65536 && lg_bits_set(&s->ack, s->mid_seq[mid]) == 0)
		s->acked++;
}

/* The QoS of stream <i>: the <i>-th entry of the -q list, taken in turn. -1 if bad. */
static int stream_qos(const char *list, uint32_t i)
{
	size_t n = (strlen(list) + 1) / 2;
	const char *q = list + 2 * (i % n);

	if (strspn(list, "012,") != strlen(list) || (q[1] && q[1] != ','))
		return -1;
	return q[0] - '0';
}

static int stream_open(struct pub *p, struct pstream *s)
{
	char id[128];

	s->qos = stream_qos(p->qos, s->idx);
	if (s->qos < 0)
		return -EINVAL;
	snprintf(id, sizeof(id), "%s-%u", p->id, s->idx);
	s->m = mosquitto_new(id, false, s);
	if (!s->m)
		return -ENOMEM;
	mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION,
			     p->version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_max_inflight_messages_set(s->m, 200);
	mosquitto_publish_callback_set(s->m, on_publish);
	return 0;
}

/* (Re)connect a stream that is down, at most every 100 ms. */
static void stream_connect(struct pub *p, struct pstream *s, uint64_t now)
{
	int rc;

	if (s->up || now < s->retry_ns)
		return;
	s->retry_ns = now + 100000000ull;
	rc = s->ever_up ? mosquitto_reconnect(s->m) : mosquitto_connect(s->m, p->host, p->port, 30);
	if (rc != MOSQ_ERR_SUCCESS)
		return;
	s->reconnects += s->ever_up;
	s->up = s->ever_up = true;
}

/*
 * The connection of <s> is gone. What was in flight goes out again after the reconnect, and
 * the broker, which may have taken it already (the PUBACK lost with the connection), forwards
 * it again as a new message, without DUP: QoS 1 is at least once from the publisher too. Those
 * sequence numbers are reported as "resent" so the checker does not blame mqttmux for them.
 */
static void stream_down(struct pstream *s, uint64_t now)
{
	while (s->low < s->next_seq && lg_bits_get(&s->ack, s->low))
		s->low++;
	for (uint64_t q = s->low; q < s->next_seq; q++)
		if (!lg_bits_get(&s->ack, q))
			(void)lg_bits_set(&s->resent, q);
	s->up = false;
	s->retry_ns = now + 100000000ull;
}

/* mosquitto_publish() failed with <rc> after it had queued the message (libmosquitto 2.0). */
static bool queued_anyway(int rc)
{
	return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO;
}

/* Publish what is due on <s> by <due>. */
static void stream_publish(struct pub *p, struct pstream *s, uint64_t due, uint64_t now)
{
	uint8_t buf[LG_MSG_MAX];
	char topic[256];

	snprintf(topic, sizeof(topic), "%s/%u", p->prefix, s->idx);
	while (s->up && s->next_seq < due && s->next_seq - s->acked < MAX_OUTSTANDING) {
		struct lg_msg m = { .stream = s->idx,
				    .seq = s->next_seq,
				    .sent_ns = lg_realtime_ns(),
				    .body_len = p->body };
		size_t len = lg_msg_pack(buf, &m);
		int mid = 0,
		    rc = mosquitto_publish(s->m, &mid, topic, (int)len, buf, s->qos, false);

		/*
		 * A QoS >= 1 message libmosquitto could not send is still queued in it and goes out
		 * after the reconnect: it was sent (and stream_down counts it as resent), or the
		 * next one would carry its sequence number again.
		 */
		if (rc != MOSQ_ERR_SUCCESS && !(s->qos > 0 && mid > 0 && queued_anyway(rc))) {
			stream_down(s, now);
			return;
		}
		if (mid > 0 && mid < 65536)
			s->mid_seq[mid] = s->next_seq;
		if (s->qos == 0 && lg_bits_set(&s->ack, s->next_seq) == 0)
			s->acked++;
		s->next_seq++;
		if (rc != MOSQ_ERR_SUCCESS) {
			stream_down(s, now);
			return;
		}
	}
}

/* One poll round over every connected stream, at most <ms>. */
static void pump(struct pub *p, int ms)
{
	struct pollfd pfd[LG_MAX_STR];
	uint64_t now;

	for (uint32_t i = 0; i < p->n; i++) {
		struct pstream *s = &p->s[i];

		pfd[i] = (struct pollfd){ .fd = s->up ? mosquitto_socket(s->m) : -1,
					  .events = POLLIN };
		if (s->up && mosquitto_want_write(s->m))
			pfd[i].events |= POLLOUT;
	}
	(void)poll(pfd, p->n, ms);
	now = lg_mono_ns();
	for (uint32_t i = 0; i < p->n; i++) {
		struct pstream *s = &p->s[i];
		int rc = MOSQ_ERR_SUCCESS;

		if (!s->up)
			continue;
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			rc = mosquitto_loop_read(s->m, 1);
		if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(s->m))
			rc = mosquitto_loop_write(s->m, 1);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_loop_misc(s->m);
		if (rc != MOSQ_ERR_SUCCESS)
			stream_down(s, now);
	}
}

static bool all_acked(const struct pub *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->s[i].acked < p->s[i].next_seq)
			return false;
	return true;
}

static bool all_sent(const struct pub *p, uint64_t total)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->s[i].next_seq < total)
			return false;
	return true;
}

/* SIGINT: stop publishing now, then drain and report as at the end. */
static volatile sig_atomic_t Stop;

static void on_sigint(int sig)
{
	(void)sig;
	Stop = 1;
}

static void run(struct pub *p)
{
	uint64_t t0 = lg_mono_ns(), total = (uint64_t)(p->rate * p->secs), now;
	uint64_t end = t0 + (uint64_t)(p->secs * 1e9), drain_end;

	while ((now = lg_mono_ns()) < end && !Stop) {
		uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * p->rate) + 1;

		for (uint32_t i = 0; i < p->n; i++) {
			stream_connect(p, &p->s[i], now);
			stream_publish(p, &p->s[i], due < total ? due : total, now);
		}
		pump(p, 1);
	}
	if (Stop) /* what was due when we were told to stop, on every stream alike */
		total = (uint64_t)((double)(now - t0) / 1e9 * p->rate) + 1 < total
				? (uint64_t)((double)(now - t0) / 1e9 * p->rate) + 1
				: total;
	/* Late: what is still due (after a disconnection), then the acknowledgements. */
	drain_end = lg_mono_ns() + (uint64_t)(p->drain * 1e9);
	while ((!all_acked(p) || !all_sent(p, total)) && (now = lg_mono_ns()) < drain_end) {
		for (uint32_t i = 0; i < p->n; i++) {
			stream_connect(p, &p->s[i], now);
			stream_publish(p, &p->s[i], total, now);
		}
		pump(p, 10);
	}
}

static void report_set(FILE *f, const char *key, const struct pstream *s, bool acked,
		       const struct lg_bits *b)
{
	const char *sep = "";

	fprintf(f, ",\"%s\":[", key);
	for (uint64_t q = 0; q < s->next_seq; q++)
		if (b ? lg_bits_get(b, q) : lg_bits_get(&s->ack, q) == acked) {
			fprintf(f, "%s%llu", sep, (unsigned long long)q);
			sep = ",";
		}
	fprintf(f, "]");
}

static void report_stream(FILE *f, const struct pstream *s)
{
	fprintf(f, "{\"stream\":%u,\"qos\":%d,\"sent\":%llu,\"acked\":%llu,\"reconnects\":%llu",
		s->idx, s->qos, (unsigned long long)s->next_seq, (unsigned long long)s->acked,
		(unsigned long long)s->reconnects);
	report_set(f, "unacked", s, false, NULL);
	report_set(f, "resent", s, false, &s->resent);
	fprintf(f, "}");
}

/* Write the report to <out>.tmp, then rename: the checker never sees half of it. */
static int report(const struct pub *p)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", p->out);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "{\"rate\":%g,\"seconds\":%g,\"streams\":[", p->rate, p->secs);
	for (uint32_t i = 0; i < p->n; i++) {
		fprintf(f, i ? "," : "");
		report_stream(f, &p->s[i]);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, p->out) == -1)
		return -errno;
	return 0;
}

static int args(struct pub *p, int argc, char **argv)
{
	int o;

	*p = (struct pub){ .host = "127.0.0.1",
			   .prefix = "lg",
			   .id = "mm-loadgen",
			   .n = 1,
			   .rate = 100,
			   .qos = "1",
			   .secs = 10,
			   .body = 64,
			   .version = 3,
			   .drain = LG_DRAIN_S };
	while ((o = getopt(argc, argv, "h:p:n:r:q:d:t:b:V:w:i:o:")) != -1) {
		switch (o) {
		case 'h':
			p->host = optarg;
			break;
		case 'p':
			p->port = atoi(optarg);
			break;
		case 'n':
			p->n = (uint32_t)atoi(optarg);
			break;
		case 'r':
			p->rate = atof(optarg);
			break;
		case 'q':
			p->qos = optarg;
			break;
		case 'd':
			p->secs = atof(optarg);
			break;
		case 't':
			p->prefix = optarg;
			break;
		case 'b':
			p->body = (uint32_t)atoi(optarg);
			break;
		case 'V':
			p->version = atoi(optarg);
			break;
		case 'w':
			p->drain = atof(optarg);
			break;
		case 'i':
			p->id = optarg;
			break;
		case 'o':
			p->out = optarg;
			break;
		default:
			return -1;
		}
	}
	if (!p->port || !p->out || p->n < 1 || p->n > LG_MAX_STR || p->rate <= 0 || p->secs <= 0 ||
	    p->secs > LG_MAX_SECS || p->body > 65536)
		return -1;
	return 0;
}

int lg_pub_main(int argc, char **argv)
{
	struct pub p;
	int rc = 0;

	if (args(&p, argc, argv) < 0) {
		fprintf(stderr, "usage: mm-loadgen pub -p PORT [-h HOST] [-n STREAMS] [-r RATE] "
				"[-q QOS] [-d SECONDS] [-t PREFIX] [-b BODY] [-V 3|5] [-w DRAIN] "
				"[-i ID] -o REPORT\n");
		return 64;
	}
	signal(SIGINT, on_sigint);
	mosquitto_lib_init();
	p.s = calloc(p.n, sizeof(*p.s));
	for (uint32_t i = 0; p.s && i < p.n && rc == 0; i++) {
		p.s[i].idx = i;
		rc = stream_open(&p, &p.s[i]);
	}
	if (!p.s || rc < 0)
		return fprintf(stderr, "mm-loadgen: out of memory\n"), 1;
	run(&p);
	rc = report(&p);
	if (rc < 0)
		fprintf(stderr, "mm-loadgen: %s: %s\n", p.out, strerror(-rc));
	for (uint32_t i = 0; i < p.n; i++) {
		mosquitto_destroy(p.s[i].m);
		lg_bits_free(&p.s[i].ack);
		lg_bits_free(&p.s[i].resent);
	}
	free(p.s);
	mosquitto_lib_cleanup();
	return rc < 0;
}
