/* SPDX-License-Identifier: MIT */
/* `mqttmux sub` as a test's process, and what it printed (t_sub.h). */
#include "t_sub.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int t_seq_parse(const void *p, size_t len)
{
	char buf[16];

	if (len == 5 && !memcmp(p, "probe", 5))
		return -1;
	if (len == 0 || len >= sizeof(buf))
		return -2;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return atoi(buf);
}

pid_t t_sub_spawn(const char *cli, const char *out, const char *const *args)
{
	const char *argv[32] = { "mqttmux" };
	size_t n = 1;
	pid_t pid;

	while (args && *args && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	pid = fork();
	if (pid == -1)
		return -errno;
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (o < 0 || dup2(o, 1) == -1 || prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
			_exit(127);
		execv(cli, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

void t_sub_kill(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		kill(*pid, SIGCONT);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

void t_sub_read(const char *out, unsigned char *seen, int max, struct t_sub_out *o)
{
	char line[64];
	FILE *f = fopen(out, "re");

	memset(o, 0, sizeof(*o));
	if (seen)
		memset(seen, 0, (size_t)max);
	while (f && fgets(line, sizeof(line), f)) {
		int seq = t_seq_parse(line, strcspn(line, "\n"));

		if (seq == -1)
			o->probes++;
		else if (seq >= 0 && seq < max && seen[seq])
			o->dups++;
		else if (seq >= 0 && seq < max && (seen[seq] = 1))
			o->got++;
	}
	if (f)
		fclose(f);
}

bool t_sub_probed(void *out)
{
	struct t_sub_out o;

	t_sub_read(out, NULL, 0, &o);
	return o.probes > 0;
}
