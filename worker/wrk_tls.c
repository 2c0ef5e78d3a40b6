/* SPDX-License-Identifier: MIT */
/*
 * libmosquitto 2.0 only checks that the TLS files of mosquitto_tls_set() can be opened; it
 * loads them at every connection attempt, after the TCP connect, and fails that attempt (then
 * the next, and the next) when one is unusable. The worker loads them once at start, the way
 * libmosquitto will (OpenSSL, PEM), and refuses the session with the option at fault named.
 */
#include "wrk_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>

/* Encrypted keys would make OpenSSL prompt on a terminal: refuse them instead. */
static int no_password(char *buf, int size, int rwflag, void *ud)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)ud;
	return 0;
}

static bool key_mismatch(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

/* Put "<option>: '<file>' <what>: <OpenSSL's reason>" in <why>; returns -EINVAL. */
static int refuse(char *why, size_t why_size, const char *option, const char *file,
		  const char *what)
{
	char reason[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "no reason given");
	ERR_clear_error();
	snprintf(why, why_size, "tls.%s: '%s' %s: %s", option, file, what, reason);
	return -EINVAL;
}

static int check_ctx(SSL_CTX *ctx, const struct mm_cfg_tls *t, const char *ca_file, char *why,
		     size_t why_size)
{
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
		return refuse(why, why_size, "ca_file", ca_file, "holds no usable CA certificate");
	if (!t->cert_file)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1)
		return refuse(why, why_size, "cert_file", t->cert_file,
			      "holds no usable certificate");
	/* Loading the key also checks it against the certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		return 0;
	if (key_mismatch(ERR_peek_last_error()))
		return refuse(why, why_size, "key_file", t->key_file,
			      "does not match tls.cert_file");
	return refuse(why, why_size, "key_file", t->key_file,
		      "holds no usable private key (PEM, not encrypted)");
}

/*
 * Load <ca_file> (the configured one or the system bundle) and the client certificate and key
 * of <t>. Returns 0, -EINVAL with "tls.<option>: ..." in <why>, or -ENOMEM.
 */
int mm_wrk_tls_check(const struct mm_cfg_tls *t, const char *ca_file, char *why, size_t why_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int rc;

	if (!ctx) {
		snprintf(why, why_size, "tls: cannot create an OpenSSL context");
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	rc = check_ctx(ctx, t, ca_file, why, why_size);
	SSL_CTX_free(ctx);
	return rc;
}
