/* SPDX-License-Identifier: MIT */
/* The session's TLS files, loaded once at start so that a bad one fails before any connection. */
#ifndef MM_WRK_TLS_H
#define MM_WRK_TLS_H

#include <stddef.h>

#include "cfg.h"

int mm_wrk_tls_check(const struct mm_cfg_tls *t, const char *ca_file, char *why, size_t why_size);

#endif /* MM_WRK_TLS_H */
