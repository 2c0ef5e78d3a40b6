/* SPDX-License-Identifier: MIT */
/*
 * Generate the test CA, server, client and "bad" certificates of t_certs.h with the openssl
 * command-line tool. Each openssl command is an argv array run with posix_spawnp (no shell, so
 * temp dir names are never parsed); its output goes to <dir>/openssl.log, which is copied to
 * stderr if a command fails. Every certificate is made the same way: key, CSR, then x509 -req
 * with an extension file (the only way openssl 3.0 x509 adds a subjectAltName).
 */
#include "t_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_helpers.h"

extern char **environ;

enum { CA = 0, SERVER, CLIENT, WRONG, OTHER_CA, OTHER_SERVER, NCERTS };

struct cert_spec {
	const char *name; /* file stem: <name>.key, .csr, .ext, .crt */
	const char *subj; /* openssl -subj */
	const char *ext;  /* extension file contents */
	int issuer;	  /* index of the signing CA in specs[], -1 when self-signed */
};

static const char ext_ca[] = "basicConstraints = critical, CA:TRUE\n"
			     "keyUsage = critical, keyCertSign, cRLSign\n"
			     "subjectKeyIdentifier = hash\n";

#define EXT_LEAF                                  \
	"basicConstraints = critical, CA:FALSE\n" \
	"keyUsage = critical, digitalSignature\n" \
	"subjectKeyIdentifier = hash\n"           \
	"authorityKeyIdentifier = keyid, issuer\n"

static const char ext_server[] = EXT_LEAF "extendedKeyUsage = serverAuth\n"
					  "subjectAltName = DNS:localhost, IP:127.0.0.1\n";
static const char ext_wrong[] = EXT_LEAF "extendedKeyUsage = serverAuth\n"
					 "subjectAltName = DNS:wrong.example\n";
static const char ext_client[] = EXT_LEAF "extendedKeyUsage = clientAuth\n";

/* Issuers come before the certificates they sign. */
static const struct cert_spec specs[NCERTS] = {
	[CA] = { "ca", "/CN=mqttmux test CA", ext_ca, -1 },
	[SERVER] = { "server", "/CN=localhost", ext_server, CA },
	[CLIENT] = { "client", "/CN=mqttmux-test-client", ext_client, CA },
	[WRONG] = { "wrong", "/CN=wrong.example", ext_wrong, CA },
	[OTHER_CA] = { "other-ca", "/CN=mqttmux other CA", ext_ca, -1 },
	[OTHER_SERVER] = { "other-server", "/CN=localhost", ext_server, OTHER_CA },
};

/* What one t_certs_make() call needs besides the result. */
struct gen {
	struct t_certs *c;
	char *log;	   /* <dir>/openssl.log */
	char *req_cnf;	   /* minimal config for openssl req, independent of the system one */
	uint64_t serial_s; /* t_rand() state for certificate serial numbers */
};

static const char req_cnf[] = "[req]\n"
			      "distinguished_name = dn\n"
			      "prompt = no\n"
			      "[dn]\n"
			      "CN = unused\n";

static struct t_cert_pair *pair_of(struct t_certs *c, int i)
{
	struct t_cert_pair *pairs[NCERTS] = {
		&c->ca, &c->server, &c->client, &c->wrong, &c->other_ca, &c->other_server,
	};

	return pairs[i];
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/%s%s", dir, name, suffix) < 0 ? NULL : p;
}

static int write_file(const char *path, const char *text)
{
	FILE *f;
	int r = 0;

	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		r = -EIO;
	if (fclose(f) == EOF && !r)
		r = -errno;
	return r;
}

static void report_failure(const struct gen *g, const char *const *argv, int r)
{
	char buf[4096];
	size_t n;
	FILE *f;

	fprintf(stderr, "t_certs: %s failed:", strerror(-r));
	for (; *argv; argv++)
		fprintf(stderr, " %s", *argv);
	fprintf(stderr, "\n");
	f = fopen(g->log, "re");
	if (!f)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		(void)fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Spawn "openssl <argv...>" with output appended to the log; 0 only if it exits 0. */
static int spawn_openssl(const struct gen *g, const char *const *argv, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	int r;

	r = -posix_spawn_file_actions_init(&fa);
	if (r)
		return r;
	r = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = -posix_spawn_file_actions_addopen(&fa, 1, g->log, O_WRONLY | O_CREAT | O_APPEND,
						      0600);
	if (!r)
		r = -posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* posix_spawnp() only reads argv; its prototype predates const. */
	if (!r)
		r = -posix_spawnp(ret_pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	(void)posix_spawn_file_actions_destroy(&fa);
	return r;
}

static int run_openssl(const struct gen *g, const char *const *argv)
{
	pid_t pid, w;
	int status, r;

	r = spawn_openssl(g, argv, &pid);
	if (!r) {
		do
			w = waitpid(pid, &status, 0);
		while (w == -1 && errno == EINTR);
		if (w == -1)
			r = -errno;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			r = -EIO;
	}
	if (r)
		report_failure(g, argv, r);
	return r;
}

static int make_key(const struct gen *g, const char *key)
{
	const char *argv[] = { "openssl", "genpkey",  "-algorithm",
			       "EC",	  "-pkeyopt", "ec_paramgen_curve:prime256v1",
			       "-out",	  key,	      NULL };
	int r;

	r = run_openssl(g, argv);
	if (!r && chmod(key, 0600) == -1)
		r = -errno;
	return r;
}

static int make_csr(const struct gen *g, const struct cert_spec *s, const char *key,
		    const char *csr)
{
	const char *argv[] = { "openssl", "req",   "-new",  "-config", g->req_cnf, "-key",
			       key,	  "-subj", s->subj, "-out",    csr,	   NULL };

	return run_openssl(g, argv);
}

/* Sign <csr> with the issuer of <s>, or with its own <key> for a self-signed CA. */
static int sign_csr(struct gen *g, const struct cert_spec *s, const char *key, const char *csr,
		    const char *ext)
{
	const struct t_cert_pair *iss = s->issuer < 0 ? NULL : pair_of(g->c, s->issuer);
	struct t_cert_pair *p = pair_of(g->c, (int)(s - specs));
	char serial[32];
	const char *argv[24] = {
		"openssl", "x509",	  "-req", "-in",      csr, "-days", "2",
		"-sha256", "-set_serial", serial, "-extfile", ext, "-out",  p->cert,
	};
	size_t n = 0;

	while (argv[n])
		n++;
	if (iss) {
		argv[n++] = "-CA";
		argv[n++] = iss->cert;
		argv[n++] = "-CAkey";
		argv[n++] = iss->key;
	} else {
		argv[n++] = "-signkey";
		argv[n++] = key;
	}
	/* Distinct positive serials, so no two test certificates look alike to a verifier. */
	snprintf(serial, sizeof(serial), "0x%llx", (unsigned long long)(t_rand(&g->serial_s) >> 2));
	return run_openssl(g, argv);
}

/* Key, CSR and signed certificate for specs[i]; the CSR and extension file are removed. */
static int make_cert(struct gen *g, int i)
{
	const struct cert_spec *s = &specs[i];
	struct t_cert_pair *p = pair_of(g->c, i);
	char *csr = path_in(g->c->dir, s->name, ".csr");
	char *ext = path_in(g->c->dir, s->name, ".ext");
	int r = -ENOMEM;

	p->key = path_in(g->c->dir, s->name, ".key");
	p->cert = path_in(g->c->dir, s->name, ".crt");
	if (!csr || !ext || !p->key || !p->cert)
		goto out;
	r = write_file(ext, s->ext);
	if (!r)
		r = make_key(g, p->key);
	if (!r)
		r = make_csr(g, s, p->key, csr);
	if (!r)
		r = sign_csr(g, s, p->key, csr, ext);
	(void)unlink(csr);
	(void)unlink(ext);
out:
	free(csr);
	free(ext);
	return r;
}

int t_certs_make(struct t_certs *c)
{
	struct gen g = { .c = c, .serial_s = t_now_ns() ^ ((uint64_t)getpid() << 32) };
	int i, r = -ENOMEM;

	memset(c, 0, sizeof(*c));
	c->dir = t_tmpdir("certs");
	if (!c->dir)
		return errno ? -errno : -ENOMEM;
	g.log = path_in(c->dir, "openssl", ".log");
	g.req_cnf = path_in(c->dir, "req", ".cnf");
	if (g.log && g.req_cnf)
		r = write_file(g.req_cnf, req_cnf);
	for (i = 0; !r && i < NCERTS; i++)
		r = make_cert(&g, i);
	free(g.log);
	free(g.req_cnf);
	if (r)
		t_certs_free(c);
	return r;
}

void t_certs_free(struct t_certs *c)
{
	int i;

	if (!c)
		return;
	if (c->dir)
		t_rmtree(c->dir);
	for (i = 0; i < NCERTS; i++) {
		free(pair_of(c, i)->key);
		free(pair_of(c, i)->cert);
	}
	free(c->dir);
	memset(c, 0, sizeof(*c));
}
