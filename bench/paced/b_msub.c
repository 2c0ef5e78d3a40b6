/* SPDX-License-Identifier: MIT */
/*
 * mosquitto_sub as a subject of bench-paced: `mosquitto_sub -F '%U %p'` with its stdout in a
 * file, so that every line is the receive time (CLOCK_REALTIME, printed by mosquitto_sub in its
 * message callback) and the text payload with the publisher's stamp. It flushes every line
 * (one write() per message, as a user piping it would see). TZ is set to a POSIX string so
 * that formatting does not stat /etc/localtime twice per message (mosquitto_sub formats with
 * localtime_r). mosquitto_sub says nothing when it has subscribed: probe messages (sequence
 * numbers from B_PROBE_SEQ up) are published until one comes out, and are skipped later,
 * as are the warm-up messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b_paced.h"

#define MSUB_BIN    "/usr/bin/mosquitto_sub"
#define B_PROBE_SEQ (B_SEQ_UNMEASURED + (1ull << 60))
#define LINE_LEN    (20 + 1 + 64 + 1) /* "%U %p\n" with a 64 B payload */
#define PROBE_TRIES 100

static pid_t spawn_msub(const struct b_stack *s, const char *out)
{
	char port[16];
	pid_t pid;

	snprintf(port, sizeof(port), "%u", s->port);
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1)
			_exit(127);
		setenv("TZ", "UTC0", 1);
		execl(MSUB_BIN, MSUB_BIN, "-h", "127.0.0.1", "-p", port, "-t", B_E2E_FILTER, "-q",
		      "0", "-F", "%U %p", (char *)NULL);
		_exit(127);
	}
	return pid == -1 ? -errno : pid;
}

/* Lines written so far (every line has LINE_LEN bytes with the bench's payloads). */
uint64_t b_msub_count(const struct b_msub *m)
{
	struct stat st;

	if (stat(m->out, &st) == -1)
		return 0;
	return (uint64_t)st.st_size / LINE_LEN - m->n0;
}

/* What was received so far is not measured: count from here. */
void b_msub_rebase(struct b_msub *m)
{
	m->n0 += b_msub_count(m);
}

/* Publish one probe and wait up to 200 ms for a line. 1: it came, 0: not yet, -errno. */
static int probe(const struct b_stack *s, struct b_msub *m, uint64_t k)
{
	struct b_pub_cfg pc = { .count = 1, .payload = 64, .text = true, .seq0 = B_PROBE_SEQ + k };
	pid_t pub = b_pub_spawn(s->port, &pc);

	if (pub < 0)
		return (int)pub;
	(void)b_reap(pub, 5000, NULL, NULL, NULL);
	for (int i = 0; i < 20; i++) {
		if (b_msub_count(m) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Start mosquitto_sub on the stack's broker; returns once it receives. 0 or -errno. */
int b_msub_start(struct b_msub *m, const struct b_stack *s)
{
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (asprintf(&m->out, "%s/msub.out", s->dir) < 0)
		return -ENOMEM;
	m->pid = spawn_msub(s, m->out);
	if (m->pid < 0)
		return (int)m->pid;
	for (uint64_t k = 0; k < PROBE_TRIES && rc == 0; k++)
		rc = probe(s, m, k);
	if (rc <= 0)
		return rc < 0 ? rc : -ETIMEDOUT;
	usleep(300000); /* probes still on their way */
	m->n0 = b_msub_count(m);
	return 0;
}

/* One output line: receive time - send stamp, in ns; -EINVAL for a probe or a bad line. */
static int64_t line_latency(const char *line)
{
	unsigned long long sec, nsec;
	uint64_t seq, stamp, recv;
	int off = 0;

	if (sscanf(line, "%llu.%9llu %n", &sec, &nsec, &off) != 2 || off == 0 ||
	    b_text_get(line + off, strlen(line + off), &seq, &stamp) < 0 || seq >= B_SEQ_UNMEASURED)
		return -EINVAL;
	recv = sec * 1000000000ull + nsec;
	return recv > stamp ? (int64_t)(recv - stamp) : 0;
}

/* Latencies (ns, saturated at 32 bits) of the measured messages into p2c[0..max). */
int b_msub_latency(const struct b_msub *m, uint32_t *p2c, size_t max, size_t *ret_n)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(m->out, "re");

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		int64_t d = line_latency(line);

		if (d >= 0)
			p2c[n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
	fclose(f);
	*ret_n = n;
	return 0;
}

void b_msub_stop(struct b_msub *m)
{
	if (m->pid > 0) {
		(void)kill(m->pid, SIGTERM);
		(void)b_reap(m->pid, 5000, NULL, NULL, NULL);
	}
	if (m->out)
		(void)unlink(m->out);
	free(m->out);
	memset(m, 0, sizeof(*m));
}
