/* SPDX-License-Identifier: MIT */
/* Deadlines, temp dirs and tree removal for tests. */
#include "t_helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_time.h"

uint64_t t_now_ns(void)
{
	return mm_time_mono_ns();
}

bool t_wait_for(bool (*cond)(void *ud), void *ud, int timeout_ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	useconds_t pause = 100;

	for (;;) {
		if (cond(ud))
			return true;
		if (t_now_ns() >= deadline)
			return cond(ud);
		usleep(pause);
		if (pause < 10000)
			pause *= 2;
	}
}

char *t_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/mqttmux-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void t_rmtree(const char *path)
{
	if (path)
		(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
