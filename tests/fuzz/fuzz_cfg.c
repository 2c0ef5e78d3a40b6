/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: config validation above libconfig (common/cfg*.c). The input is a config
 * file (written to a file of a private temporary directory: the loader refuses the symlinks
 * of /proc/self/fd); libconfig parses it, and our loader checks
 * every key. Whatever loads must write out (mm_cfg_write) as a file that loads again to an
 * equal config: the writer and the reader agree. Whatever fails must fail with at least one
 * problem in the diagnostics. The same bytes are also tried as a session file. Inputs with
 * @include are skipped: libconfig would open what they name (a FIFO would block), and
 * includes are libconfig's, not ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char Dir[48];

static void dir_remove(void)
{
	char path[96];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%d.cfg", Dir, i);
		(void)unlink(path);
	}
	(void)rmdir(Dir);
}

/* Write <data> to the file <slot> (0 or 1) of our directory; its name goes to <path>. */
static int text_fd(const void *data, size_t size, char *path, size_t psize)
{
	static int slot;
	int fd;

	if (!Dir[0]) {
		snprintf(Dir, sizeof(Dir), "/tmp/mqttmux-fuzz-cfg-XXXXXX");
		if (!mkdtemp(Dir))
			abort();
		atexit(dir_remove);
	}
	snprintf(path, psize, "%s/%d.cfg", Dir, slot);
	slot ^= 1; /* the round trip writes a second file while the first is still in use */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	return fd;
}

/* Write <cfg> out and load it again: it must load, and be equal. */
static void round_trip(const struct mm_cfg *cfg)
{
	struct mm_cfg *again = NULL;
	struct mm_cfg_diag diag;
	char *text = NULL, path[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int fd;

	if (!f)
		abort();
	mm_cfg_write(f, cfg);
	fclose(f);
	fd = text_fd(text, len, path, sizeof(path));
	mm_cfg_diag_init(&diag);
	if (mm_cfg_load(path, &again, &diag) < 0 || !mm_cfg_equal(cfg, again)) {
		fprintf(stderr, "fuzz-cfg: the written config does not load back the same:\n%s\n",
			text);
		mm_cfg_diag_print(&diag, stderr);
		abort();
	}
	mm_cfg_diag_done(&diag);
	mm_cfg_free(again);
	close(fd);
	free(text);
}

/* The config a session file joins (mm_cfg_load_session checks it against one). */
static const struct mm_cfg *base(void)
{
	static const char text[] =
		"clients = { ring_size = 1048576; };\n"
		"sessions = ( { name = \"s0\"; brokers = [ \"tcp://127.0.0.1:1\" ]; client_id = \"a\"; } );\n";
	static struct mm_cfg *cfg;
	struct mm_cfg_diag diag;
	char path[128];
	int fd;

	if (cfg)
		return cfg;
	fd = text_fd(text, sizeof(text) - 1, path, sizeof(path));
	mm_cfg_diag_init(&diag);
	if (mm_cfg_load(path, &cfg, &diag) < 0)
		abort();
	mm_cfg_diag_done(&diag);
	close(fd);
	return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_cfg *cfg = NULL;
	struct mm_cfg_session *sess = NULL;
	struct mm_cfg_diag diag;
	char path[128];
	int fd, r;

	if (memmem(data, size, "@include", 8))
		return 0;
	fd = text_fd(data, size, path, sizeof(path));
	mm_cfg_diag_init(&diag);
	r = mm_cfg_load(path, &cfg, &diag);
	if (r == -EINVAL && mm_cfg_diag_count(&diag) == 0)
		abort(); /* refused without saying why */
	if (r == 0)
		round_trip(cfg);
	mm_cfg_diag_done(&diag);
	mm_cfg_diag_init(&diag);
	if (mm_cfg_load_session(path, base(), &sess, &diag) == 0)
		mm_cfg_session_free(sess);
	mm_cfg_diag_done(&diag);
	mm_cfg_free(cfg);
	close(fd);
	return 0;
}
