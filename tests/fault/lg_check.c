/* SPDX-License-Identifier: MIT */
/*
 * `mm-loadgen check`: a libmqttmux client that takes stream <i> from session SESSION<i>
 * (route PREFIX/<i>) and checks it (see loadgen.h). It opens as soon as the router takes
 * registrations (retrying for 60 s), touches the ready file once every route is registered,
 * and ends when the publisher's report shows every acknowledged message in, when the drain
 * deadline after that report passes, or on SIGTERM/SIGINT. Without a publisher report it
 * counts what it sees until signalled.
 *
 * Usage: mm-loadgen check -d RUNDIR [-n STREAMS] [-t PREFIX] [-s SESSION] [-P PUB_REPORT]
 *        [-w DRAIN] [-R READY] [-q QOS] -o OUT
 */
#include "lg_check.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"
#include "mqttmux.h"

static volatile sig_atomic_t Stop;

static void on_signal(int sig)
{
	(void)sig;
	Stop = 1;
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *msg, void *ud)
{
	struct lg_cstream *s = ud;
	struct lg_msg m;
	uint64_t now = lg_realtime_ns();

	(void)r;
	if (lg_msg_unpack(msg->payload, msg->payload_len, &m) < 0 || m.stream != s->idx) {
		s->corrupt++;
		return;
	}
	lg_cstream_add(s, &m, msg->dup, now);
}

static void on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	struct lg_check *k = ud;

	(void)c;
	(void)session;
	k->gap_lost += lost;
}

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct lg_check *k = ud;

	(void)c;
	if (ev->type == MQTTMUX_EV_ROUTER_RECONNECTED)
		k->router_reconnects++;
}

static int open_client(struct lg_check *k)
{
	uint64_t end = lg_mono_ns() + 60000000000ull;
	int err = 0;

	while (!(k->c = mqttmux_open(k->run, &err)) && lg_mono_ns() < end && !Stop)
		usleep(20000);
	if (!k->c) {
		fprintf(stderr, "mm-loadgen: cannot open the router in %s: %s\n", k->run,
			strerror(-err));
		return -1;
	}
	mqttmux_on_gap(k->c, on_gap, k);
	mqttmux_on_event(k->c, MQTTMUX_EV_MASK(MQTTMUX_EV_ROUTER_RECONNECTED), NULL, on_event, k);
	if (k->qos >= 0)
		mqttmux_set_route_qos(k->c, k->qos);
	return 0;
}

static int add_routes(struct lg_check *k)
{
	for (uint32_t i = 0; i < k->n; i++) {
		char session[128], filter[256];

		snprintf(session, sizeof(session), "%s%u", k->session, i);
		snprintf(filter, sizeof(filter), "%s/%u", k->prefix, i);
		k->s[i].idx = i;
		k->s[i].t0_ns = &k->t0_ns;
		if (!mqttmux_handle_to(k->c, session, filter, on_msg, &k->s[i])) {
			fprintf(stderr, "mm-loadgen: route %s on %s: %s\n", filter, session,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void touch(const char *path)
{
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;

	if (fd >= 0)
		close(fd);
}

/* Load the publisher's report once it is there. Returns 1 loaded, 0 not yet, -1 bad. */
static int load_pub(struct lg_check *k)
{
	json_object *o, *streams;

	if (k->pub || !k->pub_path || access(k->pub_path, F_OK) != 0)
		return k->pub ? 1 : 0;
	o = json_object_from_file(k->pub_path);
	if (!o || !json_object_object_get_ex(o, "streams", &streams) ||
	    json_object_array_length(streams) != k->n) {
		fprintf(stderr, "mm-loadgen: %s: not a report for %u streams\n", k->pub_path, k->n);
		json_object_put(o);
		return -1;
	}
	for (uint32_t i = 0; i < k->n; i++)
		lg_cstream_expect(&k->s[i], json_object_array_get_idx(streams, i));
	k->pub = o;
	k->drain_end_ns = lg_mono_ns() + (uint64_t)(k->drain * 1e9);
	return 1;
}

static bool complete(const struct lg_check *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		if (!lg_cstream_complete(&k->s[i]))
			return false;
	return true;
}

static int run(struct lg_check *k)
{
	int rc;

	while (!Stop) {
		rc = mqttmux_dispatch(k->c, 100);
		if (rc == -EPROTO) {
			fprintf(stderr, "mm-loadgen: corrupt delivery ring\n");
			return -1;
		}
		rc = load_pub(k);
		if (rc < 0)
			return -1;
		if (rc == 1 && (complete(k) || lg_mono_ns() >= k->drain_end_ns))
			break;
	}
	return 0;
}

static int args(struct lg_check *k, int argc, char **argv)
{
	int o;

	*k = (struct lg_check){
		.prefix = "lg", .session = "s", .n = 1, .drain = LG_DRAIN_S, .qos = 1
	};
	while ((o = getopt(argc, argv, "d:n:t:s:P:w:R:q:o:")) != -1) {
		switch (o) {
		case 'd':
			k->run = optarg;
			break;
		case 'n':
			k->n = (uint32_t)atoi(optarg);
			break;
		case 't':
			k->prefix = optarg;
			break;
		case 's':
			k->session = optarg;
			break;
		case 'P':
			k->pub_path = optarg;
			break;
		case 'w':
			k->drain = atof(optarg);
			break;
		case 'R':
			k->ready = optarg;
			break;
		case 'q':
			k->qos = atoi(optarg);
			break;
		case 'o':
			k->out = optarg;
			break;
		default:
			return -1;
		}
	}
	return k->run && k->out && k->n >= 1 && k->n <= LG_MAX_STR ? 0 : -1;
}

int lg_check_main(int argc, char **argv)
{
	struct lg_check k;
	int rc;

	if (args(&k, argc, argv) < 0) {
		fprintf(stderr,
			"usage: mm-loadgen check -d RUNDIR [-n STREAMS] [-t PREFIX] "
			"[-s SESSION] [-P PUB_REPORT] [-w DRAIN] [-R READY] [-q QOS] -o OUT\n");
		return 64;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	k.s = calloc(k.n, sizeof(*k.s));
	if (!k.s || open_client(&k) < 0 || add_routes(&k) < 0)
		return 1;
	touch(k.ready);
	rc = run(&k);
	if (lg_check_report(&k) < 0)
		rc = -1;
	mqttmux_close(k.c);
	for (uint32_t i = 0; i < k.n; i++)
		lg_cstream_free(&k.s[i]);
	free(k.s);
	json_object_put(k.pub);
	return rc < 0;
}
