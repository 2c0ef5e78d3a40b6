/* SPDX-License-Identifier: MIT */
/*
 * The files the config loader opens, and who may have written them. The config file and every
 * secret (password_file, tls.key_file) are opened once, without following a symbolic link in
 * their last component, and checked on the open descriptor (fstat), so what is checked is what
 * is read: a regular file, owned by root or by the user the daemon runs as, and for the config
 * file writable by nobody else (its group only if that is root's or the daemon's), for a secret
 * open to nobody else. Anybody else who can
 * write the config can make the daemon connect where they like with the secrets it holds; and
 * a secret readable by a group is readable by every client in that group (docs/security.md).
 *
 * Not for: the syntax and the values (cfg_read.c and the schema tables).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_read.h"

/* The largest config or session file read, bytes: 1,000 sessions take well under 1 MiB. */
#define CFG_TEXT_MAX (16u << 20)

/*
 * Root, the user the daemon runs as (the effective uid: a --check as that user agrees), or the
 * top-level `user` it drops to after start-up (it reads the files again at a reload).
 */
static bool owner_ok(const struct mm_cfg_ctx *c, uid_t uid)
{
	return uid == 0 || uid == geteuid() || (c->has_user && uid == c->user_uid);
}

/*
 * Why the file of <st> may not hold a secret (<secret>) or the config (else), or NULL. <buf>
 * holds the text when one is built.
 */
static const char *file_why(const struct mm_cfg_ctx *c, const struct stat *st, bool secret,
			    char *buf, size_t size)
{
	unsigned int mode = (unsigned int)(st->st_mode & 07777);

	if (!S_ISREG(st->st_mode))
		return "is not a regular file";
	if (!owner_ok(c, st->st_uid)) {
		snprintf(buf, size,
			 "is owned by uid %u: only root or the daemon's user (uid %u) may own it",
			 (unsigned int)st->st_uid, (unsigned int)geteuid());
		return buf;
	}
	if (secret && (mode & 077)) {
		snprintf(buf, size,
			 "is open to its group or others (mode %04o); run chmod 600 on it", mode);
		return buf;
	}
	/* a group-writable file of root's or our own group is as safe as the owner's */
	if (!secret &&
	    ((mode & 002) || ((mode & 020) && st->st_gid != 0 && st->st_gid != getegid()))) {
		snprintf(buf, size,
			 "is writable by its group or others (mode %04o); run chmod go-w on it",
			 mode);
		return buf;
	}
	return NULL;
}

/* open() with the flags every config file gets: never a controlling tty, never a wait. */
static int open_nofollow(const char *path, bool nofollow)
{
	return open(path,
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
}

/*
 * Open <file> for reading as <check> requires, reporting any problem against setting <s> and
 * <key>. A secret (MM_CFG_FILE_SECRET) must not be a symbolic link, must be owned by root or
 * the daemon's user and closed to its group and others. Returns the descriptor (the caller
 * closes it) or a negative errno after reporting.
 */
int mm_cfg_open_checked(struct mm_cfg_ctx *c, const config_setting_t *s, const char *key,
			const char *file, enum mm_cfg_file_check check)
{
	bool secret = check == MM_CFG_FILE_SECRET;
	const char *why = NULL;
	char buf[160];
	struct stat st;
	int fd, r;

	if (c->no_files) {
		mm_cfg_bad(c, s, key,
			   "names '%s': a session added over control.sock by a user other than "
			   "root or the daemon's may not name files (the daemon would read them "
			   "with its own rights); put it in the config file",
			   file);
		if (!c->err)
			c->err = -EPERM;
		return -EPERM;
	}
	/* O_NONBLOCK: a FIFO must not block the load; it is refused below anyway. */
	fd = open_nofollow(file, secret);
	if (fd == -1) {
		r = -errno;
		if (r == -ELOOP && secret)
			mm_cfg_bad(c, s, key, "'%s' is a symbolic link: name the file itself",
				   file);
		else
			mm_cfg_bad(c, s, key, "cannot open '%s': %s", file, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) == -1) {
		r = -errno;
		mm_cfg_bad(c, s, key, "cannot stat '%s': %s", file, strerror(-r));
		goto out_close;
	}
	r = -EINVAL;
	if (secret)
		why = file_why(c, &st, true, buf, sizeof(buf));
	else if (!S_ISREG(st.st_mode))
		why = "is not a regular file";
	if (why) {
		mm_cfg_bad(c, s, key, "'%s' %s", file, why);
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
}

/* Read all of regular file <fd> (at most CFG_TEXT_MAX bytes) into malloc'd *ret. */
static int read_text(int fd, size_t size, char **ret)
{
	char *text = malloc(size + 1);
	size_t len = 0;

	if (!text)
		return -ENOMEM;
	while (len < size) {
		ssize_t n = read(fd, text + len, size - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n == 0 ? -EIO : -errno; /* it shrank while we read */

			free(text);
			return r;
		}
		len += (size_t)n;
	}
	text[len] = '\0';
	*ret = text;
	return 0;
}

/* A problem with the config file as a whole: "path: message", counted. Returns -EINVAL. */
int mm_cfg_text_bad(struct mm_cfg_ctx *c, const char *path, const char *why)
{
	c->problems++;
	if (mm_cfg_diag_add(c->diag, "%s: %s", path, why) < 0)
		mm_cfg_oom(c);
	return -EINVAL;
}

/*
 * Read the config (or session) file <path>, checked as described at the top: not a symbolic
 * link, a regular file owned by root or the daemon's user, writable by nobody else, without a
 * NUL byte. Returns 0 with the NUL-terminated text in malloc'd *ret; -EINVAL with the reason
 * in the diag; or the -errno of open() or read() (nothing in the diag then).
 */
int mm_cfg_text_read(struct mm_cfg_ctx *c, const char *path, char **ret)
{
	char buf[160], *text = NULL;
	const char *why;
	struct stat st;
	int fd, r;

	fd = open_nofollow(path, true);
	if (fd == -1 && errno == ELOOP)
		return mm_cfg_text_bad(c, path, "is a symbolic link: name the file itself");
	if (fd == -1)
		return -errno;
	r = fstat(fd, &st) == -1 ? -errno : 0;
	if (r == 0 && S_ISDIR(st.st_mode))
		r = -EISDIR;
	why = r == 0 ? file_why(c, &st, false, buf, sizeof(buf)) : NULL;
	if (why)
		r = mm_cfg_text_bad(c, path, why);
	else if (r == 0 && (uint64_t)st.st_size > CFG_TEXT_MAX)
		r = mm_cfg_text_bad(c, path, "is larger than 16 MiB");
	if (r == 0)
		r = read_text(fd, (size_t)st.st_size, &text);
	close(fd);
	if (r == 0 && strlen(text) != (size_t)st.st_size) {
		free(text);
		return mm_cfg_text_bad(c, path, "holds a NUL byte");
	}
	if (r == 0)
		*ret = text;
	return r;
}

/*
 * Read the session file a client opened and passed (SCM_RIGHTS): a regular file (a FIFO or a
 * device could block or never end), at most CFG_TEXT_MAX bytes, without a NUL byte, read from
 * its start. Its owner and mode are the client's business: the daemon reads only what the
 * client could. Returns as mm_cfg_text_read().
 */
int mm_cfg_text_read_fd(struct mm_cfg_ctx *c, int fd, char **ret)
{
	char *text = NULL;
	struct stat st;
	int r;

	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return mm_cfg_text_bad(c, c->path, "is not a regular file");
	if ((uint64_t)st.st_size > CFG_TEXT_MAX)
		return mm_cfg_text_bad(c, c->path, "is larger than 16 MiB");
	if (lseek(fd, 0, SEEK_SET) == -1)
		return -errno;
	r = read_text(fd, (size_t)st.st_size, &text);
	if (r < 0)
		return r;
	if (strlen(text) != (size_t)st.st_size) {
		free(text);
		return mm_cfg_text_bad(c, c->path, "holds a NUL byte");
	}
	*ret = text;
	return 0;
}
