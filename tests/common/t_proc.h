/* SPDX-License-Identifier: MIT */
/*
 * What /proc says about a process, for tests that kill and count: a daemon's worker or router
 * child, resident memory, open descriptors and memfds, and how many processes descend from a
 * daemon. No criterion here: the scenario driver (tests/fault) uses it too.
 */
#ifndef T_PROC_H
#define T_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* Read /proc/<pid>/<what> into <buf> (NUL-terminated). Returns the bytes read, or <= 0. */
ssize_t t_proc_read(int pid, const char *what, char *buf, size_t size);

/* The parent pid of live (not zombie) <pid>, or 0 if it is gone or a zombie. */
pid_t t_proc_ppid(pid_t pid);

/*
 * Pid of the live child of <daemon> that is session <session>'s worker, or the router when
 * <session> is NULL; 0 if there is none. Only that daemon's children count: tests run in
 * parallel, each with sessions of the same names.
 */
pid_t t_proc_child(pid_t daemon, const char *session);

/* A "<key>: N kB" line of /proc/<pid>/status, such as "VmRSS" or "RssAnon", in KiB, or -1. */
long t_proc_status_kb(pid_t pid, const char *key);

/* Open descriptors of <pid>, and how many of them are memfds; -1 if unreadable. */
int t_proc_nfds(pid_t pid, int *memfds);

/* Live processes whose parent is <parent>; with <any_ppid_1>, also those adopted by init
 * whose command is a mqttmux worker or router (orphans). */
int t_proc_nchildren(pid_t parent, bool any_ppid_1);

#endif /* T_PROC_H */
