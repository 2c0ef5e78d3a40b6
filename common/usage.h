/* SPDX-License-Identifier: MIT */
/*
 * --help and --version, the same way in every binary (mqttmuxd, mqttmux, mqttmux-worker,
 * mqttmux-router): the usage text on stdout, or "<prog> <version>", and exit 0. A usage
 * error prints the same text on stderr and exits 64 (EX_USAGE).
 */
#ifndef MM_USAGE_H
#define MM_USAGE_H

#include <stdbool.h>

/* Print <usage> (help) or "<prog> MQTTMUX_VERSION" on stdout. Returns 0, the exit code. */
int mm_usage_help_version(bool help, const char *prog, const char *usage);

#endif /* MM_USAGE_H */
