/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the control-socket command parser and dispatcher (supervisor/
 * sup_ctl_cmd.c) and the reply buffer of a connection (sup_ctl.c), driven line by line as
 * sup_ctl.c's reader hands them over (NUL bytes made invalid characters, a trailing CR
 * dropped). The supervisor behind it is a stand-in with two sessions and no processes: the
 * actions a command would take (apply a state change, reload, add or remove a session, build
 * the metrics text) are the stubs of fuzz_ctl_stubs.c, so a fuzzed `add /dev/zero` reads
 * nothing. Every command must get a reply that fits the connection's limits, or none (an
 * empty line), and never crash.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char Base[] =
	"sessions = (\n"
	"  { name = \"s0\"; brokers = [ \"tcp://127.0.0.1:1\" ]; client_id = \"a\"; },\n"
	"  { name = \"s1\"; brokers = [ \"tcp://127.0.0.1:2\" ]; client_id = \"b\"; }\n"
	");\n";

static struct mm_sup S;
static char Path[64];

static void child(struct mm_sup_child *c, const char *name, bool router)
{
	memset(c, 0, sizeof(*c));
	c->name = name ? strdup(name) : NULL;
	c->pidfd = c->chan_fd = -1;
	for (size_t i = 0; i < sizeof(c->fds) / sizeof(c->fds[0]); i++)
		c->fds[i] = -1;
	c->is_router = router;
	c->fsm.state = MM_CHILD_UP;
}

static void remove_base(void)
{
	char dir[sizeof(Path)];

	snprintf(dir, sizeof(dir), "%s", Path);
	(void)unlink(Path);
	*strrchr(dir, '/') = '\0';
	(void)rmdir(dir);
}

static void setup(void)
{
	struct mm_cfg_diag diag;
	char dir[] = "/tmp/mqttmux-fuzz-ctl-XXXXXX";
	int fd;

	mm_log_init("fuzz-ctl", MM_LOG_ERROR);
	/* a file of its own: the loader refuses the symlinks of /proc/self/fd */
	if (!mkdtemp(dir))
		abort();
	snprintf(Path, sizeof(Path), "%s/base.cfg", dir);
	fd = open(Path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, Base, sizeof(Base) - 1) != (ssize_t)sizeof(Base) - 1)
		abort();
	close(fd);
	atexit(remove_base);
	mm_cfg_diag_init(&diag);
	if (mm_cfg_load(Path, &S.cfg, &diag) < 0)
		abort();
	mm_cfg_diag_done(&diag);
	S.config_path = Path;
	S.n_children = S.cap_children = 2;
	S.children = calloc(2, sizeof(*S.children));
	if (!S.children)
		abort();
	child(&S.children[0], "s0", false);
	child(&S.children[1], "s1", false);
	child(&S.router, NULL, true);
	S.sig_fd = -1;
}

/* One line as sup_ctl.c's next_line() gives it: NULs made invalid, a trailing CR dropped. */
static void line(struct mm_ctl_conn *c, const uint8_t *p, size_t n)
{
	char buf[MM_CTL_LINE_MAX + 1];

	if (n >= MM_CTL_LINE_MAX)
		return; /* the reader answers "line too long" and closes; no command runs */
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = '\x01';
	mm_sup_ctl_command(&S, c, buf);
	if (c->waiting)
		mm_sup_ctl_wait_check(&S, c);
	if (c->out_len - c->out_off > (64u << 20))
		abort(); /* a reply beyond anything a client accepts (MM_CTL_REPLY_MAX) */
	free(c->out);
	*c = (struct mm_ctl_conn){ .fd = -1 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_ctl_conn *c = calloc(1, sizeof(*c));
	size_t start = 0;

	if (!c)
		return 0;
	if (!S.cfg)
		setup();
	c->fd = -1;
	for (size_t i = 0; i <= size; i++)
		if (i == size || data[i] == '\n') {
			if (i > start || i < size)
				line(c, data + start, i - start);
			start = i + 1;
		}
	free(c);
	return 0;
}
