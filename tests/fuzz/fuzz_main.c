/* SPDX-License-Identifier: MIT */
/*
 * A plain main() for any libFuzzer target (LLVMFuzzerTestOneInput), so that every compiler
 * can run it: it runs each file of the seed corpus and of the regression inputs, then mutates
 * them (bit flips, byte sets, inserted and deleted runs, copied runs, truncations, splices of
 * two inputs) until <seconds> or <count> inputs have gone by. Each input is an exact-size heap
 * copy, so that an overread shows under ASan. If the target crashes, the input that did it is
 * printed in hex on stderr (and written to fuzz-crash-<pid>.bin), ready to become a
 * regression input. Without coverage feedback this finds less than libFuzzer (scripts/fuzz),
 * but it runs in the unit suite of every build.
 *
 * Usage: fuzz-NAME DIR... [-t SECONDS] [-n COUNT] [-s SEED]
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS      4096
#define FUZZ_MAX_INPUT 65536

struct input {
	uint8_t *b;
	size_t len;
};

static struct input Seeds[MAX_SEEDS];
static size_t NSeeds;
static const uint8_t *Cur;
static size_t CurLen;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A crash: say what the input was (async-signal-safe calls only), then die as we would. */
static void on_crash(int sig)
{
	static const char hex[] = "0123456789abcdef";
	char name[64], line[3];
	int fd, n;

	(void)!write(2, "\nfuzz: crashing input (hex):\n", 29);
	for (size_t i = 0; Cur && i < CurLen; i++) {
		line[0] = hex[Cur[i] >> 4];
		line[1] = hex[Cur[i] & 15];
		line[2] = (i % 32 == 31 || i + 1 == CurLen) ? '\n' : ' ';
		(void)!write(2, line, 3);
	}
	n = snprintf(name, sizeof(name), "fuzz-crash-%ld.bin", (long)getpid());
	fd = n > 0 ? open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (fd >= 0) {
		(void)!write(fd, Cur, CurLen);
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run(const uint8_t *b, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		abort();
	memcpy(copy, b, len);
	Cur = copy;
	CurLen = len;
	(void)LLVMFuzzerTestOneInput(copy, len);
	Cur = NULL;
	free(copy);
}

static void load_file(const char *path)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *b = malloc(FUZZ_MAX_INPUT);
	size_t n;

	if (!f || !b || NSeeds == MAX_SEEDS) {
		if (f)
			fclose(f);
		free(b);
		return;
	}
	n = fread(b, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	Seeds[NSeeds++] = (struct input){ b, n };
}

/* Every regular file of <dir> (no recursion). Returns how many. */
static size_t load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t before = NSeeds;

	while (d && (e = readdir(d))) {
		char path[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%.3800s/%.255s", dir, e->d_name);
		load_file(path);
	}
	if (d)
		closedir(d);
	return NSeeds - before;
}

/* One mutation of <b> (<*len> bytes, room for FUZZ_MAX_INPUT). */
static void mutate(uint8_t *b, size_t *len, uint64_t *s)
{
	size_t n = *len, at = n ? rnd(s) % n : 0, run = 1 + rnd(s) % 16;
	const struct input *o = &Seeds[rnd(s) % NSeeds];

	switch (rnd(s) % 8) {
	case 0: /* flip a bit */
		if (n)
			b[at] ^= (uint8_t)(1u << (rnd(s) % 8));
		break;
	case 1: /* an interesting byte */
		if (n)
			b[at] = (const uint8_t[]){
				0, 1, 0x7f, 0x80, 0xff, '\n', '"', '/'
			}[rnd(s) % 8];
		break;
	case 2: /* insert random bytes */
		if (n + run <= FUZZ_MAX_INPUT) {
			memmove(b + at + run, b + at, n - at);
			for (size_t i = 0; i < run; i++)
				b[at + i] = (uint8_t)rnd(s);
			*len = n + run;
		}
		break;
	case 3: /* delete a run */
		run = at + run > n ? n - at : run;
		memmove(b + at, b + at + run, n - at - run);
		*len = n - run;
		break;
	case 4: /* copy a run over another place */
		if (n > run) {
			size_t from = rnd(s) % (n - run);

			memmove(b + (at + run > n ? n - run : at), b + from, run);
		}
		break;
	case 5: /* truncate */
		*len = at;
		break;
	case 6: /* splice: our head, another input's tail */
		if (o->len) {
			size_t from = rnd(s) % o->len, k = o->len - from;

			k = at + k > FUZZ_MAX_INPUT ? FUZZ_MAX_INPUT - at : k;
			memcpy(b + at, o->b + from, k);
			*len = at + k;
		}
		break;
	default: /* a little-endian or big-endian count set to an edge */
		if (n >= 4) {
			uint32_t v = (const uint32_t[]){
				0, 1, 0xffff, 0x10000, 0x7fffffff, 0xffffffff
			}[rnd(s) % 6];

			at = rnd(s) % (n - 3);
			memcpy(b + at, &v, 4);
		}
		break;
	}
}

int main(int argc, char **argv)
{
	double secs = 2, end;
	uint64_t count = 0, seed = 0x15f022, done = 0;
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	int opt;

	while ((opt = getopt(argc, argv, "t:n:s:")) != -1) {
		if (opt == 't')
			secs = atof(optarg);
		else if (opt == 'n')
			count = strtoull(optarg, NULL, 0);
		else if (opt == 's')
			seed = strtoull(optarg, NULL, 0) | 1;
		else
			return fprintf(stderr, "usage: %s DIR... [-t S] [-n N] [-s SEED]\n",
				       argv[0]),
			       64;
	}
	signal(SIGSEGV, on_crash);
	signal(SIGABRT, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGFPE, on_crash);
	for (int i = optind; i < argc; i++)
		if (load_dir(argv[i]) == 0)
			fprintf(stderr, "%s: no inputs in %s\n", argv[0], argv[i]);
	if (!buf || NSeeds == 0)
		return fprintf(stderr, "%s: no seed inputs\n", argv[0]), 1;
	for (size_t i = 0; i < NSeeds; i++)
		run(Seeds[i].b, Seeds[i].len);
	end = now_s() + secs;
	while ((count ? done < count : true) && now_s() < end) {
		const struct input *in = &Seeds[rnd(&seed) % NSeeds];
		size_t len = in->len;

		memcpy(buf, in->b, len);
		for (uint64_t k = 1 + rnd(&seed) % 4; k > 0; k--)
			mutate(buf, &len, &seed);
		run(buf, len);
		done++;
	}
	printf("%s: %zu seed inputs, %llu mutations, no crash\n", argv[0], NSeeds,
	       (unsigned long long)done);
	for (size_t i = 0; i < NSeeds; i++)
		free(Seeds[i].b);
	free(buf);
	return 0;
}
