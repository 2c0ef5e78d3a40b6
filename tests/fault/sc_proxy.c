/* SPDX-License-Identifier: MIT */
/* mm-scenario: the fault proxy as a child process, and its control socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sc.h"

static bool port_written(void *ud)
{
	struct sc_env *e = ud;
	char *path = sc_path(e, "proxy.port");
	FILE *f = path ? fopen(path, "re") : NULL;

	free(path);
	if (!f)
		return false;
	if (fscanf(f, "%d", &e->proxy_port) != 1)
		e->proxy_port = 0;
	fclose(f);
	return e->proxy_port > 0;
}

/* Start mm-faultproxy in front of the broker (pass mode). Returns 0 or -errno. */
int sc_proxy_start(struct sc_env *e)
{
	char target[64], *port_file = sc_path(e, "proxy.port");
	const char *argv[] = { MM_FAULTPROXY_PATH, "-t", target, "-c", NULL, "-a", NULL, NULL };
	pid_t pid;

	e->proxy_sock = sc_path(e, "proxy.sock");
	e->proxy_events = sc_path(e, "proxy.events");
	if (!port_file || !e->proxy_sock || !e->proxy_events)
		return -ENOMEM;
	snprintf(target, sizeof(target), "127.0.0.1:%d", e->broker.port);
	argv[4] = e->proxy_sock;
	argv[6] = e->proxy_events;
	pid = sc_spawn(e, argv, port_file);
	free(port_file);
	if (pid < 0)
		return -errno;
	e->proxy = pid;
	return sc_wait(port_written, e, SC_WAIT_MS) ? 0 : -ETIMEDOUT;
}

/* Send one command line; 0 if the proxy answered "ok", else -EIO (or -errno). */
int sc_proxy_cmd(struct sc_env *e, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char reply[256];
	ssize_t n;
	int fd, rc = -EIO;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->proxy_sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		rc = -errno;
		goto out;
	}
	if (dprintf(fd, "%s\n", cmd) < 0)
		goto out;
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	if (n > 0 && !strncmp(reply, "ok", 2))
		rc = 0;
out:
	if (rc < 0)
		sc_fail(e, "proxy command '%s': %s", cmd, strerror(-rc));
	if (fd >= 0)
		close(fd);
	return rc;
}
