/*
 * store-verify.c — `msghash verify`: a hot backup of the store, checked
 * privately (DESIGN.md §4.7).  Its log is read record by record, then the
 * copy is recovered in a private environment, its structure verified and
 * every message visited; copies that dead runs left behind are removed.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "limits.h"
#include "store.h"
#include "store-int.h"
#include "banned.h"

/* A DB handle outside any environment, reporting through our callbacks. */
static int
file_db_create(struct store *st, DB **dbp)
{
	int ret;

	if ((ret = db_create(dbp, NULL, 0)) != 0)
		return ret;
	(*dbp)->dbenv->app_private = st;	/* callbacks get the private env */
	(*dbp)->set_errcall(*dbp, store_errcall);
	(*dbp)->set_msgcall(*dbp, store_msgcall);
	return 0;
}

/* Calls fn for every record of the database file at path (no environment). */
static int
file_walk(struct store *st, const char *path, store_visit_fn fn, void *arg,
    enum mh_status *fn_status)
{
	DB *db;
	DBC *dbc = NULL;
	DBT k, d;
	int ret;

	if ((ret = file_db_create(st, &db)) != 0)
		return ret;
	if ((ret = db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0)) != 0 ||
	    (ret = db->cursor(db, NULL, &dbc, 0)) != 0) {
		db->close(db, 0);
		return ret;
	}
	memset(&k, 0, sizeof k);
	memset(&d, 0, sizeof d);
	k.flags = d.flags = DB_DBT_REALLOC;
	*fn_status = MH_OK;
	while (*fn_status == MH_OK &&
	    (ret = dbc->get(dbc, &k, &d, DB_NEXT)) == 0) {
		guard_enter();		/* progress: keep the watchdog away */
		*fn_status = fn(k.data, k.size, d.data, d.size, arg);
	}
	guard_leave();
	free(k.data);
	free(d.data);
	dbc->close(dbc);
	db->close(db, 0);
	return ret == DB_NOTFOUND ? 0 : ret;
}

/*
 * The copies.  A run that dies (kill -9, a crash) leaves its copy behind,
 * as large as the store.  So a run holds an flock on a lock file in its
 * copy for its lifetime, and each run first removes the copies whose lock
 * is free: their runs are gone, and the kernel dropped their locks.  The
 * lock file gets its name only once locked, so a copy without one is left
 * alone (it may be a run just starting), as is anything that is not a
 * directory of this user's named like a copy.
 */
#define COPY_PREFIX	"msghash-verify."
#define COPY_RANDOM	6		/* the XXXXXX of mkdtemp */
#define COPY_LOCK	"msghash-verify.lock"
#define COPY_LOCK_NEW	"msghash-verify.lock.new"

/* Removes the entries of the open directory dfd (a copy is flat). */
static void
dir_empty(int dfd)
{
	struct dirent *de;
	DIR *dp;
	int fd;

	if ((fd = dup(dfd)) == -1)
		return;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dfd, de->d_name, 0);
	closedir(dp);
}

static void
copy_remove(const char *copy)
{
	int dfd;

	if ((dfd = open(copy, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		dir_empty(dfd);
		close(dfd);
	}
	rmdir(copy);
}

/* Takes the lock of a new copy: see above.  Returns its descriptor. */
static int
copy_lock(const char *copy)
{
	char tmp[4096 + 32], path[4096 + 32];
	int fd, saved;

	snprintf(tmp, sizeof tmp, "%s/%s", copy, COPY_LOCK_NEW);
	snprintf(path, sizeof path, "%s/%s", copy, COPY_LOCK);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Makes a new, locked copy directory in tmpdir; returns the lock's fd. */
static int
copy_create(const char *tmpdir, char *copy, size_t size)
{
	int fd, saved;

	if ((size_t)snprintf(copy, size, "%s/%sXXXXXX", tmpdir,
	    COPY_PREFIX) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdtemp(copy) == NULL)
		return -1;
	if ((fd = copy_lock(copy)) == -1) {
		saved = errno;
		rmdir(copy);
		errno = saved;
	}
	return fd;
}

/* Whether name is what mkdtemp makes of COPY_PREFIX "XXXXXX". */
static bool
copy_name(const char *name)
{
	size_t i, n = strlen(COPY_PREFIX);

	if (strncmp(name, COPY_PREFIX, n) != 0 ||
	    strlen(name) != n + COPY_RANDOM)
		return false;
	for (i = n; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z')))
			return false;
	return true;
}

/*
 * Whether name in the directory tfd is the copy of a dead run.  If so,
 * *dfd is the copy, open, and *lfd holds its lock.
 */
static bool
copy_dead(int tfd, const char *name, int *dfd, int *lfd)
{
	struct stat sb;

	*dfd = *lfd = -1;
	if (!copy_name(name) ||
	    fstatat(tfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return false;
	if ((*dfd = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1 && fstat(*dfd, &sb) == 0 &&
	    sb.st_uid == geteuid() &&
	    (*lfd = openat(*dfd, COPY_LOCK, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) != -1 && fstat(*lfd, &sb) == 0 &&
	    S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
	    flock(*lfd, LOCK_EX | LOCK_NB) == 0)
		return true;
	if (*lfd != -1)
		close(*lfd);
	if (*dfd != -1)
		close(*dfd);
	return false;
}

/* Removes the copies that dead runs left in tmpdir; best effort. */
static void
copy_sweep(const char *tmpdir)
{
	struct dirent *de;
	DIR *dp;
	int dfd, lfd;

	if ((dp = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (!copy_dead(dirfd(dp), de->d_name, &dfd, &lfd))
			continue;
		dir_empty(dfd);
		unlinkat(dirfd(dp), de->d_name, AT_REMOVEDIR);
		close(lfd);
		close(dfd);
	}
	closedir(dp);
}

/* A private environment on the copy, reporting through our callbacks. */
static int
private_env_open(struct store *st, const char *copy, u_int32_t flags,
    DB_ENV **envp)
{
	int ret;

	if ((ret = db_env_create(envp, 0)) != 0)
		return ret;
	(*envp)->app_private = st;
	(*envp)->set_errcall(*envp, store_errcall);
	(*envp)->set_msgcall(*envp, store_msgcall);
	if ((ret = (*envp)->open(*envp, copy, DB_CREATE | DB_PRIVATE | flags,
	    0600)) != 0) {
		(*envp)->close(*envp, 0);
		*envp = NULL;
	}
	return ret;
}

/*
 * Catastrophic recovery of the copy in a private environment (what
 * db_hotbackup does), so the copy's database file is complete.
 */
static int
copy_recover(struct store *st, const char *copy)
{
	DB_ENV *env;
	int ret;

	if ((ret = private_env_open(st, copy, DB_INIT_TXN | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER_FATAL, &env)) != 0)
		return ret;
	ret = env->txn_checkpoint(env, 0, 0, DB_FORCE);
	env->close(env, 0);
	return ret;
}

/* DB->verify on a file outside any environment (the handle is consumed). */
static int
file_verify(struct store *st, const char *path)
{
	DB *db;
	int ret;

	if ((ret = file_db_create(st, &db)) != 0)
		return ret;
	return db->verify(db, path, NULL, NULL, 0);
}

/*
 * The log.  Recovery replays it up to its first unreadable record and
 * drops the rest as if never written; the database that remains then
 * passes DB->verify and the message walk, short of every message logged
 * after the damage.  The store's own next recovery would drop the same
 * messages, all acknowledged.  So the copy's log is read through before
 * the copy is recovered, record by record: each read checks the record's
 * checksum.  Never the store's own log: a bad record panics the
 * environment that reads it, and every process of the store would have to
 * recover.
 */

/* Berkeley DB 5.3's log format, as far as the checks below need it. */
#define LOG_RECORD_HEADER	12	/* prev, len, checksum (no encryption) */
#define LOG_CKP_TYPE		11	/* record type of a checkpoint */
#define LOG_CKP_LSN_AT		16	/* its ckp_lsn, where recovery from it
					   starts: after type, txnid, prev_lsn */

#define LOG_NAME_MAX	32		/* "log." and ten digits */

/* What a walk through a log saw. */
struct log_walk {
	DB_LSN		first;		/* first record; file 0: none */
	DB_LSN		last;		/* last record read intact */
	u_int32_t	last_len;	/* its length in the file */
	DB_LSN		ckp_from;	/* the last checkpoint's ckp_lsn;
					   file 0: no checkpoint */
};

static void
log_name(char *buf, size_t size, u_int32_t file)
{
	snprintf(buf, size, "log.%010u", file);
}

/* The one error of a damaged log: what is wrong, and what to do. */
static enum mh_status
log_damaged(struct store *st, struct mh_err *err, const char *what)
{
	return mh_errf(err, MH_STORE, "damaged log in store '%s': %s; "
	    "acknowledged messages are at risk: stop writes, keep the store "
	    "for analysis and restore a backup", st->dir, what);
}

/* The number of a log file's name ("log." and ten digits), or 0. */
static u_int32_t
log_file_number(const char *name)
{
	unsigned long long n = 0;
	size_t i;

	if (strncmp(name, "log.", 4) != 0 || strlen(name) != 14)
		return 0;
	for (i = 4; i < 14; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		n = n * 10 + (unsigned)(name[i] - '0');
	}
	return n > UINT32_MAX ? 0 : (u_int32_t)n;
}

static bool
log_exists(const char *dir, u_int32_t file)
{
	char path[4096 + LOG_NAME_MAX], name[LOG_NAME_MAX];

	log_name(name, sizeof name, file);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0 || errno != ENOENT;
}

/*
 * A log file missing from the store's directory: between two others, or
 * the one being written (`last`), deleted under the processes that still
 * write to it.  The backup copies only the files after a gap, and
 * recovery stops at it.  Log files are removed oldest first, so a missing
 * file with an older one still there is a gap, not a removal under way
 * (which a listing can catch half done).
 */
/* The log files in dir: how many, the lowest and highest numbers (lo and
 * hi as given if there is none lower or higher).  False: unreadable. */
static bool
log_files(const char *dir, unsigned long long *count, u_int32_t *lo,
    u_int32_t *hi)
{
	struct dirent *de;
	u_int32_t n;
	DIR *dp;

	*count = 0;
	if ((dp = opendir(dir)) == NULL)
		return false;
	while ((de = readdir(dp)) != NULL) {
		if ((n = log_file_number(de->d_name)) == 0)
			continue;
		(*count)++;
		*lo = n < *lo ? n : *lo;
		*hi = n > *hi ? n : *hi;
	}
	closedir(dp);
	return true;
}

/* The lowest-numbered log file in dir; UINT32_MAX if none. */
static u_int32_t
log_oldest(const char *dir)
{
	unsigned long long count;
	u_int32_t lo = UINT32_MAX, hi = 0;

	(void)log_files(dir, &count, &lo, &hi);
	return lo;
}

static bool
log_missing(const char *dir, u_int32_t last, char *what, size_t size)
{
	char name[LOG_NAME_MAX];
	unsigned long long count;
	u_int32_t lo = last, hi = last, n, m;

	if (!log_files(dir, &count, &lo, &hi))
		return false;
	if (count == (unsigned long long)hi - lo + 1)
		return false;
	for (n = lo; n <= hi; n++) {
		if (log_exists(dir, n))
			continue;
		for (m = lo; m < n && !log_exists(dir, m); m++)
			;
		if (n >= last || m < n) {
			log_name(name, sizeof name, n);
			snprintf(what, size, "%s is missing", name);
			return true;
		}
		lo = n + 1;	/* removed since the listing, oldest first */
	}
	return false;
}

/*
 * The end of what env's log has on disk (the last sync): every
 * acknowledged commit lies before it.  Not the current end: after a
 * switch to a new log file, its first record waits in the log buffer, and
 * the file is only created when something is flushed into it.
 */
static int
log_end(DB_ENV *env, DB_LSN *end)
{
	DB_LOG_STAT *sp;
	int ret;

	if ((ret = env->log_stat(env, &sp, 0)) != 0)
		return ret;
	end->file = sp->st_disk_file;
	end->offset = sp->st_disk_offset;
	free(sp);
	return 0;
}

/* Takes the record rec at lsn into w: extent, and checkpoints. */
static void
log_note(struct log_walk *w, const DB_LSN *lsn, const DBT *rec)
{
	u_int32_t type;

	if (w->first.file == 0)
		w->first = *lsn;
	w->last = *lsn;
	w->last_len = LOG_RECORD_HEADER + rec->size;
	if (rec->size < LOG_CKP_LSN_AT + sizeof w->ckp_from)
		return;
	memcpy(&type, rec->data, sizeof type);
	if (type == LOG_CKP_TYPE)
		memcpy(&w->ckp_from, (const char *)rec->data + LOG_CKP_LSN_AT,
		    sizeof w->ckp_from);
}

/*
 * Zeros end a log file for its readers: zeros over the middle of a file
 * that is not the last make the walk (and recovery) skip its remaining
 * records without a word.  The header of each file points at the last
 * record of the file before it: that must be the last record read, or
 * none if there is no file before it.
 */
static bool
log_linked(DB_ENV *env, const struct log_walk *w, u_int32_t file)
{
	DB_LOGC *logc;
	DB_LSN lsn = { file, 0 };
	DBT rec;
	bool linked = false;
	int ret;

	if (env->log_cursor(env, &logc, 0) != 0)
		return false;
	memset(&rec, 0, sizeof rec);
	if (logc->get(logc, &lsn, &rec, DB_SET) == 0) {
		ret = logc->get(logc, &lsn, &rec, DB_PREV);
		linked = ret == DB_NOTFOUND ? w->first.file == 0 :
		    ret == 0 && log_compare(&lsn, &w->last) == 0;
	}
	logc->close(logc, 0);
	return linked;
}

/* The walk found file before `next` broken off: see log_linked. */
static enum mh_status
log_broken(struct store *st, const struct log_walk *w, u_int32_t next,
    struct mh_err *err)
{
	char what[256], name[LOG_NAME_MAX];

	log_name(name, sizeof name, next - 1);
	snprintf(what, sizeof what, "%s breaks off at offset %u: the records "
	    "after it are gone", name, w->last.file == next - 1 ?
	    w->last.offset + w->last_len : 0);
	return log_damaged(st, err, what);
}

/*
 * An unreadable record, described from libdb's message ("... LSN 1/12300:
 * checksum mismatch"); without one, it is the record after w->last.
 */
static enum mh_status
log_unreadable(struct store *st, const struct log_walk *w, int ret,
    struct mh_err *err)
{
	const char *why = db_strerror(ret), *p, *colon;
	DB_LSN at = { w->last.file, w->last.offset + w->last_len };
	char what[256], name[LOG_NAME_MAX];
	unsigned file, offset;

	if ((p = strstr(st->dberr, "LSN")) != NULL) {
		p += strspn(p + 3, ": ") + 3;
		if (sscanf(p, "%u/%u", &file, &offset) == 2) {
			at.file = file;
			at.offset = offset;
		}
	}
	if ((colon = strrchr(st->dberr, ':')) != NULL && colon[1] == ' ' &&
	    colon[2] != '\0')
		why = colon + 2;
	log_name(name, sizeof name, at.file);
	snprintf(what, sizeof what, "%s is unreadable at offset %u (%s)",
	    name, at.offset, why);
	st->dberr[0] = '\0';
	return log_damaged(st, err, what);
}

/* Reads every record of env's log, first to last, into w. */
static enum mh_status
log_walk(struct store *st, DB_ENV *env, struct log_walk *w,
    struct mh_err *err)
{
	DB_LOGC *logc;
	DB_LSN lsn;
	DBT rec;
	int ret;

	memset(w, 0, sizeof *w);
	if ((ret = env->log_cursor(env, &logc, 0)) != 0)
		return store_db_fail(st, err,
		    "cannot read the log of a copy of", ret);
	memset(&rec, 0, sizeof rec);	/* records stay the cursor's memory */
	while ((ret = logc->get(logc, &lsn, &rec, DB_NEXT)) == 0) {
		if (lsn.file != w->last.file && !log_linked(env, w, lsn.file))
			break;
		log_note(w, &lsn, &rec);
	}
	logc->close(logc, 0);
	if (ret == DB_NOTFOUND)
		return MH_OK;
	if (ret == ENOMEM)
		return store_db_fail(st, err,
		    "cannot read the log of a copy of", ret);
	if (ret != 0)
		return log_unreadable(st, w, ret, err);
	return log_broken(st, w, lsn.file, err);
}

/*
 * Whether the walk w of the copy's log covers what recovery needs: from
 * where the last checkpoint's recovery starts (the first log file, without
 * a checkpoint) to `written`, the end of the store's log before the copy.
 * The copy's log ends at `end`: its first unreadable record in the last
 * file, or the end of the last file copied.
 */
static enum mh_status
log_covers(struct store *st, const char *copy, const struct log_walk *w,
    const DB_LSN *end, const DB_LSN *written, struct mh_err *err)
{
	char what[256], name[LOG_NAME_MAX], path[4096 + LOG_NAME_MAX];

	if (log_compare(end, written) < 0) {
		log_name(name, sizeof name, written->file);
		snprintf(path, sizeof path, "%s/%s", copy, name);
		if (end->file < written->file && access(path, F_OK) == -1)
			snprintf(what, sizeof what, "%s is missing", name);
		else if (end->file < written->file)
			snprintf(what, sizeof what, "%s is unreadable", name);
		else
			snprintf(what, sizeof what, "%s is unreadable from "
			    "offset %u on (written up to offset %u)", name,
			    end->offset, written->offset);
		return log_damaged(st, err, what);
	}
	if (w->ckp_from.file != 0 && w->ckp_from.file < w->first.file) {
		log_name(name, sizeof name, w->ckp_from.file);
		snprintf(what, sizeof what, "%s is missing (recovery from the "
		    "last checkpoint starts there)", name);
		return log_damaged(st, err, what);
	}
	if (w->ckp_from.file == 0 && w->first.file > 1) {
		log_name(name, sizeof name, w->first.file - 1);
		snprintf(what, sizeof what, "the log files up to %s are "
		    "missing (no checkpoint follows them)", name);
		return log_damaged(st, err, what);
	}
	return MH_OK;
}

/* Checks the copy's log, before its recovery rewrites it: see above. */
static enum mh_status
log_check(struct store *st, const char *copy, const DB_LSN *written,
    struct mh_err *err)
{
	struct log_walk w;
	enum mh_status status;
	DB_ENV *env;
	DB_LSN end;
	int ret;

	st->dberr[0] = '\0';
	if ((ret = private_env_open(st, copy, DB_INIT_LOG, &env)) != 0)
		return store_db_fail(st, err,
		    "cannot read the log of a copy of", ret);
	status = log_walk(st, env, &w, err);
	if (status == MH_OK && (ret = log_end(env, &end)) != 0)
		status = store_db_fail(st, err,
		    "cannot read the log of a copy of", ret);
	env->close(env, 0);
	if (status != MH_OK)
		return status;
	return log_covers(st, copy, &w, &end, written, err);
}

/* The checks on the copy, in order; each needs the one before. */
static enum mh_status
copy_check(struct store *st, const char *copy, const DB_LSN *written,
    store_visit_fn fn, void *arg, struct mh_err *err)
{
	char path[4096 + 32];
	enum mh_status status, fn_status = MH_OK;
	int ret;

	if ((status = log_check(st, copy, written, err)) != MH_OK)
		return status;
	snprintf(path, sizeof path, "%s/%s", copy, STORE_DB_FILE);
	if ((ret = copy_recover(st, copy)) != 0)
		return store_db_fail(st, err, "cannot recover a copy of", ret);
	if ((ret = file_verify(st, path)) != 0)
		return store_db_fail(st, err, "damaged structure in", ret);
	if ((ret = file_walk(st, path, fn, arg, &fn_status)) != 0)
		return store_db_fail(st, err, "cannot read a copy of", ret);
	return fn_status;
}

/*
 * The hot backup into a new copy (its lock's descriptor, or -1 and errno;
 * libdb's answer in *ret).  DB_ENV->backup copies the database file, then
 * lists the log files and copies them; recovery of the copy needs every
 * log file from before the oldest change its database file lacks.  A
 * checkpoint meanwhile (msghash-checkpoint.timer, or the log's automatic
 * removal) may remove such a file after the database file was copied: the
 * copy then lacks it (its recovery fails as if the store were damaged) or
 * the backup fails to open it.  So a backup during which the store's
 * oldest log file went is made again, up to MH_VERIFY_COPY_TRIES in all;
 * the last one counts as it is.
 */
static int
copy_backup(struct store *st, const char *tmpdir, char *copy, size_t size,
    int *ret)
{
	u_int32_t oldest;
	int lock_fd, tries;

	for (tries = 1;; tries++) {
		if ((lock_fd = copy_create(tmpdir, copy, size)) == -1)
			return -1;
		oldest = log_oldest(st->dir);
		st->dberr[0] = '\0';	/* libdb's words on this try only */
		guard_enter();
		*ret = st->env->backup(st->env, copy, DB_CREATE);
		guard_leave();
		if (tries == MH_VERIFY_COPY_TRIES ||
		    log_oldest(st->dir) == oldest)
			return lock_fd;
		copy_remove(copy);	/* a log file went meanwhile: again */
		close(lock_fd);
	}
}

enum mh_status
store_verify(struct store *st, const char *tmpdir, store_visit_fn fn,
    void *arg, struct mh_err *err)
{
	char copy[4096], what[256];
	enum mh_status status;
	DB_LSN written;
	int ret, lock_fd;

	copy_sweep(tmpdir);
	if (st->db == NULL)		/* nothing stored yet */
		return MH_OK;
	st->dberr[0] = '\0';
	guard_enter();
	ret = log_end(st->env, &written); /* the copy's log must reach it */
	guard_leave();
	if (ret != 0)
		return store_db_fail(st, err, "cannot read the log of", ret);
	if (log_missing(st->dir, written.file, what, sizeof what))
		return log_damaged(st, err, what);
	if ((lock_fd = copy_backup(st, tmpdir, copy, sizeof copy, &ret)) == -1)
		return mh_errf(err, MH_SYSTEM, "cannot create a directory in "
		    "'%s': %s", tmpdir, strerror(errno));
	if (ret != 0)
		status = store_db_fail(st, err, "cannot copy", ret);
	else
		status = copy_check(st, copy, &written, fn, arg, err);
	copy_remove(copy);
	close(lock_fd);		/* last: the copy is gone */
	return status;
}
