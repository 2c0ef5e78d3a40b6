/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux sub` as a process of the test, its standard output in a file, and what it printed,
 * for suites whose messages are numbered: payload "<n>" (n >= 0), or "probe" on a probe topic
 * that tells the test a route is in place.
 */
#ifndef T_SUB_H
#define T_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A payload's sequence number; -1 for "probe", -2 for anything else. */
int t_seq_parse(const void *p, size_t len);

/*
 * Fork and exec <cli> with <args> (argv[1] on, NULL-terminated; argv[0] is "mqttmux"), its
 * standard output to <out> (truncated). The child is killed when the test dies. The pid, or
 * -errno if fork failed.
 */
pid_t t_sub_spawn(const char *cli, const char *out, const char *const *args);

/* Kill -9 the sub <*pid> (stopped or not), reap it, set <*pid> to 0; nothing if <*pid> <= 0. */
void t_sub_kill(pid_t *pid);

/* What the sub printed: distinct numbers below the reader's max, repeats of them, probes. */
struct t_sub_out {
	int got, dups, probes;
};

/* Read <out>; <seen>[0..max-1] (cleared first) marks the numbers printed. */
void t_sub_read(const char *out, unsigned char *seen, int max, struct t_sub_out *o);

/* For t_wait_for: the sub printing to <out> (a char *) has printed a probe. */
bool t_sub_probed(void *out);

#endif /* T_SUB_H */
