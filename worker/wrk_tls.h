/* SPDX-License-Identifier: MIT */
/*
 * The session's TLS: one OpenSSL client context of our own, handed to libmosquitto
 * (MOSQ_OPT_SSL_CTX), so that the worker decides the name sent as SNI and checked against the
 * broker's certificate (tls.server_name, else the URL's host) at every handshake. Its files are
 * loaded once at start, so a bad one fails before any connection. See docs/worker.md, "TLS".
 */
#ifndef MM_WRK_TLS_H
#define MM_WRK_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

/* The context and the name the next handshake uses. */
struct mm_wrk_tls {
	SSL_CTX *ctx;
	bool verify;			/* false: tls.skip_verify */
	char name[MM_CFG_HOST_MAX + 1]; /* SNI and the certificate's name, for the next attempt */
};

int mm_wrk_tls_init(struct mm_wrk_tls *t, const struct mm_cfg_tls *cfg, const char *ca_file,
		    char *why, size_t why_size);
void mm_wrk_tls_done(struct mm_wrk_tls *t);
void mm_wrk_tls_target(struct mm_wrk_tls *t, const struct mm_cfg_tls *cfg, const char *url_host);

#endif /* MM_WRK_TLS_H */
