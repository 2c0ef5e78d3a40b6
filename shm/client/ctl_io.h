/* SPDX-License-Identifier: MIT */
/*
 * The client side of mqttmuxd's control socket <runtime_dir>/control.sock (protocol in
 * docs/operations.md, "Control socket"): one command line out, one JSON line back, or the
 * Prometheus text up to "# EOF" for `metrics`. Shared by libmqttmux's session API
 * (client_ctl.c) and the mqttmux CLI (cli.c); built into each of them, never exported.
 * No global state: every call connects, asks, and closes.
 */
#ifndef MM_CTL_IO_H
#define MM_CTL_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"

struct json_object;

/* What a call brought back. */
struct mm_ctl_io_res {
	struct json_object *json; /* the parsed reply (also an {"ok":false} one), or NULL */
	char *raw;		  /* the reply line without its newline, or NULL */
	char err[512];		  /* when the call failed: what went wrong, for people */
};

const char *mm_ctl_io_dir(const char *dir);
int mm_ctl_io_connect(const char *dir, char *err, size_t size);
int mm_ctl_io_send(int fd, const char *buf, size_t len);
int mm_ctl_io_read(int fd, int timeout_ms, bool metrics, char **ret, size_t *ret_len);
int mm_ctl_io_send_fd(int fd, const char *buf, size_t len, int pass_fd);
int mm_ctl_io_call(const char *dir, const char *line, int timeout_ms, struct mm_ctl_io_res *res);
int mm_ctl_io_call_fd(const char *dir, const char *line, int pass_fd, int timeout_ms,
		      struct mm_ctl_io_res *res);
void mm_ctl_io_res_done(struct mm_ctl_io_res *res);
int mm_ctl_io_metrics(const char *dir, int timeout_ms, char **text, size_t *len, char *err,
		      size_t err_size);
int mm_ctl_io_errno(const char *msg);

#endif /* MM_CTL_IO_H */
