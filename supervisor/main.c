/* SPDX-License-Identifier: MIT */
/*
 * mqttmuxd: the supervisor daemon.
 *
 *   mqttmuxd -c FILE [-f] [--check]
 *   mqttmuxd --help | --version
 *
 * --check validates the config, prints every problem as file:line and exits 78 (EX_CONFIG)
 * if there is any, else prints "config OK" and exits 0. Otherwise mqttmuxd runs in the
 * foreground (-f is accepted for habit; it never daemonizes: systemd style), creates
 * runtime_dir, takes its lock, and supervises one worker per session until SIGTERM/SIGINT.
 * Both --check and a start also make sure the worker and router binaries are there and
 * executable (sup_bin.c), naming every path tried if not.
 * Exit codes: 0 stopped cleanly, 1 runtime failure (also: another instance holds the lock),
 * 64 usage, 69 (EX_UNAVAILABLE) worker or router binary missing, 78 config.
 * Under systemd (Type=notify, NOTIFY_SOCKET set) it reports READY=1, STATUS=, RELOADING=1,
 * STOPPING=1 and feeds the watchdog from its loop (sup_notify.c).
 * See docs/operations.md.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "sup.h"
#include "usage.h"

struct args {
	const char *config;
	bool check, help, version;
};

static const char Usage[] =
	"usage: mqttmuxd -c FILE [-f] [--check]\n"
	"       mqttmuxd --help | --version\n"
	"  -c, --config FILE  the configuration (mqttmux.conf(5))\n"
	"      --check        check FILE and the helper binaries, start nothing\n"
	"  -f, --foreground   accepted; mqttmuxd always runs in the foreground\n"
	"  -h, --help         this text\n"
	"      --version      print the version\n";

static int usage(void)
{
	fputs(Usage, stderr);
	return EX_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct args){ 0 };
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		if (c == 'c')
			a->config = optarg;
		else if (c == 'C')
			a->check = true;
		else if (c == 'h')
			a->help = true;
		else if (c == 'V')
			a->version = true;
		else if (c != 'f')
			return -EINVAL;
	}
	if (a->help || a->version)
		return 0;
	return optind != argc || !a->config ? -EINVAL : 0;
}

/* Load and validate the config; every problem goes to stderr. Returns 0 or EX_CONFIG. */
static int load(const char *path, struct mm_cfg **ret)
{
	struct mm_cfg_diag diag;
	int r;

	mm_cfg_diag_init(&diag);
	r = mm_cfg_load(path, ret, &diag);
	if (r < 0) {
		if (mm_cfg_diag_count(&diag))
			(void)mm_cfg_diag_print(&diag, stderr);
		else
			mm_log_errno(r, "cannot read config '%s'", path);
	}
	mm_cfg_diag_done(&diag);
	return r < 0 ? EX_CONFIG : 0;
}

static int prepare(const struct mm_cfg *cfg, int *lock_fd)
{
	int r = mm_sup_mkdir_p(cfg->runtime_dir, 0750);

	if (r < 0)
		return mm_log_errno(r, "cannot create runtime_dir '%s'", cfg->runtime_dir);
	r = mm_sup_lock(cfg->runtime_dir, lock_fd);
	if (r == -EWOULDBLOCK)
		mm_log(MM_LOG_ERROR, "another mqttmuxd is running on '%s' (it holds '%s/%s')",
		       cfg->runtime_dir, cfg->runtime_dir, MM_SUP_LOCK_NAME);
	else if (r < 0)
		mm_log_errno(r, "cannot lock '%s/%s'", cfg->runtime_dir, MM_SUP_LOCK_NAME);
	return r;
}

/*
 * Raise our soft limits to the hard ones, and refuse to start when the sessions cannot fit
 * under them (the message names the limit and the number needed). Returns 0 or -errno.
 */
static int limits(const struct mm_cfg *cfg)
{
	char why[512];
	int r;

	mm_sup_limits_raise();
	r = mm_sup_limits_check(cfg->n_sessions,
				(cfg->n_sessions + (uint64_t)cfg->workers.group_size - 1) /
					cfg->workers.group_size,
				why, sizeof(why));
	if (r < 0)
		mm_log(MM_LOG_ERROR, "cannot start: %s", why);
	return r;
}

/* Run the daemon; takes ownership of <cfg>. Returns the exit code. */
static int run(struct mm_cfg *cfg, const char *config_path)
{
	struct mm_sup sup;
	int lock_fd = -1, sig_fd, r;

	if (limits(cfg) < 0 || prepare(cfg, &lock_fd) < 0) {
		mm_cfg_free(cfg);
		return 1;
	}
	sig_fd = mm_sup_signals_open();
	if (sig_fd < 0) {
		mm_cfg_free(cfg);
		close(lock_fd);
		return mm_log_errno(sig_fd, "signalfd"), 1;
	}
	r = mm_sup_init(&sup, cfg, config_path, sig_fd);
	if (r == 0)
		r = mm_sup_priv_drop(sup.cfg);
	if (r == 0 && (r = mm_sup_run(&sup)) < 0)
		mm_log_errno(r, "the supervisor loop failed");
	mm_sup_done(&sup);
	close(sig_fd);
	close(lock_fd);
	return r < 0 ? 1 : 0;
}

/*
 * A metrics listener on every interface serves session names, brokers and client names to
 * whoever can reach the host: allowed (Prometheus exporters do it), but said, at --check and
 * at every start.
 */
static void warn_exposure(const struct mm_cfg *cfg)
{
	const char *h = cfg->metrics.http_host;

	if (h && (!h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::")))
		mm_log(MM_LOG_WARNING,
		       "metrics.http listens on every interface (port %u): anybody who can reach "
		       "this host reads the metrics; give a loopback or private address to limit it",
		       cfg->metrics.http_port);
}

int main(int argc, char **argv)
{
	char config_path[PATH_MAX];
	struct mm_cfg *cfg = NULL;
	struct args a;
	int r;

	if (parse_args(argc, argv, &a) < 0)
		return usage();
	if (a.help || a.version)
		return mm_usage_help_version(a.help, "mqttmuxd", Usage);
	/*
	 * Every session's password is in our memory once the config is loaded: no core dump, no
	 * ptrace or /proc/<pid>/mem by other processes of our user. (The workers and the router
	 * do the same.)
	 */
	(void)prctl(PR_SET_DUMPABLE, 0);
	mm_log_init("mqttmuxd", MM_LOG_INFO);
	r = load(a.config, &cfg);
	if (r == 0)
		warn_exposure(cfg);
	if (a.check || r) {
		if (!r)
			printf("config OK\n");
		mm_cfg_free(cfg);
		if (mm_sup_bins_check() < 0 && !r)
			r = EX_UNAVAILABLE;
		return r;
	}
	if (mm_sup_bins_check() < 0) {
		mm_cfg_free(cfg);
		return EX_UNAVAILABLE;
	}
	mm_log_init("mqttmuxd", (enum mm_log_level)cfg->log_level);
	mm_log_set_json(cfg->log_format == MM_CFG_LOG_JSON); /* children inherit it */
	/* reload reads the same file again; it must find it whatever the working directory. */
	if (!realpath(a.config, config_path)) {
		mm_log_errno(-errno, "realpath('%s')", a.config);
		mm_cfg_free(cfg);
		return EX_CONFIG;
	}
	return run(cfg, config_path);
}
