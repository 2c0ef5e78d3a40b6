/* SPDX-License-Identifier: MIT */
/*
 * The session's TLS context (wrk_tls.h). Why our own context: libmosquitto 2.0.11 sends the
 * URL's host as SNI and checks the certificate against it, with no way to name another host.
 * Handed our context with MOSQ_OPT_SSL_CTX (and MOSQ_OPT_SSL_CTX_WITH_DEFAULTS off),
 * libmosquitto uses it as it is (net__init_ssl_ctx returns early): it neither loads files nor
 * installs its own verify callback. We load the CA, the client certificate and key, turn
 * peer verification on, and at the start of every handshake (the info callback runs before
 * the ClientHello is built) put the session's name in the SNI extension and in the verify
 * parameters of that SSL object. With MOSQ_OPT_SSL_CTX_WITH_DEFAULTS on, 2.0.11 never calls
 * its net__init_tls(), so its own verify callback finds no mosquitto object and fails every
 * certificate: the client aborts with an internal_error alert, which the broker logs as
 * "tlsv1 alert internal error" (upstream #2463, fixed in 2.0.15).
 *
 * The files are loaded once at start (libmosquitto would reload them at every attempt and fail
 * each one), so an unusable file is refused with the option at fault named.
 */
#include "wrk_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

static bool is_ip_literal(const char *name)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/*
 * Start of a handshake: name the host we want in SNI (never an IP literal, RFC 6066 §3) and
 * in the verification of the certificate (DNS name or IP address in its SAN). The SSL object
 * is const here by OpenSSL's signature only; the handshake it belongs to has not built its
 * ClientHello yet, which is why setting the name now is in time.
 */
static void on_info(const SSL *cssl, int where, int ret)
{
	SSL *ssl = (SSL *)cssl;
	struct mm_wrk_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	bool ip;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START) || !t)
		return;
	ip = is_ip_literal(t->name);
	(void)SSL_set_tlsext_host_name(ssl, ip ? NULL : t->name);
	if (!t->verify)
		return;
	if (ip)
		(void)X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->name);
	else
		(void)X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), t->name, 0);
}

/*
 * Make the session's context: TLS 1.2 at least, <ca_file> (the configured one or the system
 * bundle), the client certificate and key of <cfg>, peer verification unless skip_verify.
 * Returns 0, -EINVAL with "tls.<option>: ..." in <why>, or -ENOMEM.
 */
int mm_wrk_tls_init(struct mm_wrk_tls *t, const struct mm_cfg_tls *cfg, const char *ca_file,
		    char *why, size_t why_size)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		snprintf(why, why_size, "tls: cannot create an OpenSSL context");
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_CTX_set_default_passwd_cb(t->ctx, no_password);
	rc = check_ctx(t->ctx, cfg, ca_file, why, why_size);
	if (rc < 0) {
		mm_wrk_tls_done(t);
		return rc;
	}
	(void)SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION);
	t->verify = !cfg->skip_verify;
	SSL_CTX_set_verify(t->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_info_callback(t->ctx, on_info);
	return 0;
}

/* Drop our reference (libmosquitto holds its own while it uses the context). */
void mm_wrk_tls_done(struct mm_wrk_tls *t)
{
	if (t->ctx)
		SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}

/* The next handshake is with the broker at <url_host>: tls.server_name, else that host. */
void mm_wrk_tls_target(struct mm_wrk_tls *t, const struct mm_cfg_tls *cfg, const char *url_host)
{
	snprintf(t->name, sizeof(t->name), "%s", cfg->server_name ? cfg->server_name : url_host);
}
