/* SPDX-License-Identifier: MIT */
/*
 * Throw-away TLS material for tests, made by the openssl command-line tool in a private temp
 * dir: a test CA with a good localhost server certificate, a client certificate, a server
 * certificate for the wrong host name, and an unrelated second CA with its own localhost server
 * certificate. All keys are EC prime256v1 (fast to make) and certificates are valid for 2 days.
 * Not for anything but tests: the keys sit unencrypted on disk.
 */
#ifndef T_CERTS_H
#define T_CERTS_H

/* A private key (PEM, mode 0600) and its certificate (PEM). Both malloc'd paths. */
struct t_cert_pair {
	char *key;
	char *cert;
};

struct t_certs {
	char *dir;			 /* temp dir with every file; removed by t_certs_free() */
	struct t_cert_pair ca;		 /* self-signed test CA, CN "mqttmux test CA" */
	struct t_cert_pair server;	 /* by ca; CN localhost, SAN DNS:localhost, IP:127.0.0.1 */
	struct t_cert_pair client;	 /* by ca; CN mqttmux-test-client, clientAuth */
	struct t_cert_pair wrong;	 /* by ca; CN and SAN DNS:wrong.example */
	struct t_cert_pair other_ca;	 /* unrelated self-signed CA, CN "mqttmux other CA" */
	struct t_cert_pair other_server; /* by other_ca; same names as server */
};

/*
 * t_certs_make - create a temp dir and generate every key and certificate of struct t_certs
 * @c: struct to fill; its previous contents are ignored
 *
 * Runs openssl (found on PATH) about 20 times, in well under a second. On failure the openssl
 * output is copied to stderr and everything made so far is removed. Returns 0, -ENOENT if the
 * openssl binary is missing, -EIO if an openssl command failed, or another -errno.
 */
int t_certs_make(struct t_certs *c);

/* t_certs_free - remove the temp dir and free every path. @c may be NULL, zeroed or freed. */
void t_certs_free(struct t_certs *c);

#endif /* T_CERTS_H */
