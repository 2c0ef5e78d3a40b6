/* SPDX-License-Identifier: MIT */
/*
 * The seccomp allow-list of the workers and the router (docs/security.md, "System call
 * filter"). A child installs it once it has set itself up: after exec, once libmosquitto,
 * OpenSSL, io_uring or its sockets are initialised. From then on any system call off the list
 * kills the whole process with SIGSYS (SCMP_ACT_KILL_PROCESS), which the supervisor sees as a
 * crash and restarts, as it would any other. The top-level config key `seccomp = false` (for
 * debugging: strace, gdb, a new library needing a new call) makes the supervisor pass
 * --no-seccomp to the children it starts.
 *
 * Library code: no logging; -errno returns.
 */
#ifndef MM_SANDBOX_H
#define MM_SANDBOX_H

#define MM_SANDBOX_OFF_OPT "--no-seccomp" /* the children's switch */

enum mm_sandbox_role {
	MM_SANDBOX_WORKER = 0, /* a broker connection: DNS, TCP/TLS, io_uring, its subs file */
	MM_SANDBOX_ROUTER,     /* router.sock and the clients' rings */
};

/* Install the filter of <role> for this process (every thread). Returns 0 or -errno. */
int mm_sandbox_enter(enum mm_sandbox_role role);

#endif
