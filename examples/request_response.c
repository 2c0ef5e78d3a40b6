/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 request/response: the requester puts a response topic and correlation data on its
 * request; the responder answers on that topic and copies the correlation data, so the
 * requester can tell which request an answer belongs to. Both sides are in this one program
 * (two routes of one client); in real life they are two processes, or two hosts.
 *
 *   ./request_response [SESSION [N]]     (default "cloud", which must speak MQTT 5; 3 requests)
 *
 * Exits 0 when every request got its own answer, 1 otherwise (or after 10 s).
 */
#include <errno.h>
#include <mqttmux.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQUEST_TOPIC "examples/rr/request"

struct requester {
	char reply_topic[64];
	int sent, answered, wrong;
};

/* Append one property to <buf> (<len> bytes used of <cap>). Returns 0 or -1. */
static int add_prop(unsigned char *buf, size_t cap, size_t *len, const struct mqttmux_prop *p)
{
	ssize_t n = mqttmux_prop_pack(buf + *len, cap - *len, p);

	if (n < 0 || (size_t)n > cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* The responder: answer on the request's response topic with its correlation data. */
static void on_request(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct mqttmux *c = ud;
	struct mqttmux_prop topic, corr;
	char reply_to[256], answer[300];
	unsigned char props[512];
	size_t len = 0;
	int n;

	(void)r;
	if (mqttmux_msg_prop(m, MQTTMUX_PROP_RESPONSE_TOPIC, &topic) != 1 ||
	    topic.len >= sizeof(reply_to)) {
		printf("responder: a request without a response topic, ignored\n");
		return;
	}
	memcpy(reply_to, topic.data, topic.len);
	reply_to[topic.len] = '\0';
	/* the correlation data goes back as it came: the requester matches on it */
	if (mqttmux_msg_prop(m, MQTTMUX_PROP_CORRELATION_DATA, &corr) == 1 &&
	    add_prop(props, sizeof(props), &len, &corr) < 0)
		return;
	n = snprintf(answer, sizeof(answer), "answer to '%.*s'", (int)m->payload_len,
		     (const char *)m->payload);
	/* asynchronous: no waiting inside a callback */
	if (mqttmux_publish_v5_async(c, m->session, reply_to, answer, (size_t)n, 1, false, props,
				     len, NULL, NULL) < 0)
		printf("responder: cannot answer on %s\n", reply_to);
}

/* The requester: an answer is right if its correlation data names a request we sent. */
static void on_reply(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct requester *q = ud;
	struct mqttmux_prop corr;
	int id = -1;

	(void)r;
	if (mqttmux_msg_prop(m, MQTTMUX_PROP_CORRELATION_DATA, &corr) == 1 && corr.len == 4 &&
	    !memcmp(corr.data, "req", 3))
		id = ((const char *)corr.data)[3] - '0';
	printf("requester: %.*s (correlation data req%d)\n", (int)m->payload_len,
	       (const char *)m->payload, id);
	if (id >= 0 && id < q->sent)
		q->answered++;
	else
		q->wrong++;
}

/* Request <i>: "request <i>", response topic q->reply_topic, correlation data "req<i>". */
static int send_request(struct mqttmux *c, const char *session, struct requester *q, int i)
{
	char body[32], corr[5];
	unsigned char props[256];
	size_t len = 0;
	int n = snprintf(body, sizeof(body), "request %d", i);

	snprintf(corr, sizeof(corr), "req%d", i);
	if (add_prop(props, sizeof(props), &len,
		     &(struct mqttmux_prop){ .id = MQTTMUX_PROP_RESPONSE_TOPIC,
					     .data = q->reply_topic,
					     .len = strlen(q->reply_topic) }) < 0 ||
	    add_prop(props, sizeof(props), &len,
		     &(struct mqttmux_prop){
			     .id = MQTTMUX_PROP_CORRELATION_DATA, .data = corr, .len = 4 }) < 0)
		return -EINVAL;
	q->sent++;
	return mqttmux_publish_v5(c, session, REQUEST_TOPIC, body, (size_t)n, 1, false, props, len,
				  5000);
}

int main(int argc, char **argv)
{
	const char *session = argc > 1 ? argv[1] : "cloud";
	int n = argc > 2 ? atoi(argv[2]) : 3, err;
	struct requester q = { 0 };
	struct mqttmux_route *rr[2] = { NULL, NULL };
	struct mqttmux *c;

	if (n < 1 || n > 9)
		n = 3;
	snprintf(q.reply_topic, sizeof(q.reply_topic), "examples/rr/reply/%d", (int)getpid());
	c = mqttmux_open(NULL, &err);
	if (!c) {
		fprintf(stderr, "cannot reach mqttmuxd: %s\n", strerror(-err));
		return 1;
	}
	err = mqttmux_wait_session(NULL, session, 30000);
	if (err == 0 && !(rr[0] = mqttmux_handle_to(c, session, REQUEST_TOPIC, on_request, c)))
		err = -errno;
	if (err == 0 && !(rr[1] = mqttmux_handle_to(c, session, q.reply_topic, on_reply, &q)))
		err = -errno;
	/*
	 * The routes' SUBSCRIBEs went out on the session's connection before these requests, so
	 * the broker has both subscriptions. On an MQTT 3.1.1 session: -EPROTONOSUPPORT.
	 */
	for (int i = 0; i < n && err == 0; i++)
		err = send_request(c, session, &q, i);
	for (int i = 0; err >= 0 && i < 10 && q.answered + q.wrong < n; i++)
		err = mqttmux_dispatch(c, 1000);
	if (err < 0)
		fprintf(stderr, "request_response: %s\n", strerror(-err));
	else
		printf("%d of %d requests answered\n", q.answered, n);
	for (int i = 0; i < 2; i++)
		if (rr[i])
			mqttmux_route_stop(rr[i]);
	mqttmux_close(c);
	return err >= 0 && q.answered == n && q.wrong == 0 ? 0 : 1;
}
