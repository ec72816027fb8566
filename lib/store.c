/*
 * store.c — the Berkeley DB store and its multi-process protocol: the
 * environment's open and close, put, get, sync and checkpoint.  Verifying
 * is lib/store-verify.c; process protection (deferred signals, the
 * watchdog, the wait for msghash.lock) is lib/guard.c.
 *
 * Read DESIGN.md §4 before changing anything here.
 * The protocol, per process:
 *  - every DB_ENV->open and DB_ENV->close runs under an exclusive flock() on
 *    <dir>/msghash.lock: BDB 5.3's DB_REGISTER has an exit race that
 *    otherwise triggers spurious recovery (DESIGN.md §4.3);
 *  - DB_REGISTER|DB_RECOVER: a process that died holding the environment
 *    makes the next opener recover it; live processes then get
 *    DB_RUNRECOVERY, close everything, reopen and redo the (idempotent)
 *    operation, a bounded number of times;
 *  - durable puts: a put returns only once its commit is on disk, by an
 *    explicit log flush after the commit (put_batch_once); outside a group
 *    the commit itself neither writes nor flushes the log (DB_TXN_NOSYNC,
 *    see no_commit_flush);
 *  - SIGTERM/SIGINT/SIGHUP are blocked from open to close and an alarm()
 *    watchdog guards each call (lib/guard.c: guard_enter, guard_leave):
 *    Debian's libdb uses non-robust pthread mutexes, so a process must
 *    never die inside libdb, and one that waits on a dead process's mutex
 *    would otherwise wait for ever (§4.4).
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "io.h"
#include "limits.h"
#include "store.h"
#include "store-int.h"
#include "utf8.h"
#include "banned.h"

/* DESIGN.md §4: exactly these, and not FAILCHK/PRIVATE/SYSTEM_MEM/CDB/THREAD. */
#define STORE_ENV_FLAGS	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | \
			 DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER)

/*
 * DB_CONFIG: written once, when the store is created; region sizes are
 * fixed when the environment is created (DESIGN.md §4.1).  The numbers are
 * lib/limits.h's (MH_STORE_CACHE_BYTES and the rest); an operator raises
 * them in the store's DB_CONFIG (msghash(1), FILES).  Returns the text's
 * length (snprintf's).
 */
static int
config_text(char *buf, size_t size)
{
	return snprintf(buf, size,
	    "# msghash store settings, read by Berkeley DB and its db5.3_* tools.\n"
	    "# Sizes apply when the environment is (re)created: after editing, stop\n"
	    "# every msghash process and run db5.3_recover -h on this directory.\n"
	    "set_cachesize %lu %lu 1\n"
	    "set_lg_bsize %lu\n"
	    "set_lg_max %lu\n"
	    "set_lk_detect DB_LOCK_DEFAULT\n"
	    "set_lock_timeout %lu\n"
	    "log_set_config DB_LOG_AUTO_REMOVE\n"
	    "set_lk_max_locks %lu\n"
	    "set_lk_max_lockers %lu\n"
	    "set_lk_max_objects %lu\n"
	    "set_tx_max %lu\n",
	    (unsigned long)(MH_STORE_CACHE_BYTES >> 30),
	    (unsigned long)(MH_STORE_CACHE_BYTES & ((1UL << 30) - 1)),
	    (unsigned long)MH_STORE_LOG_BUFFER_BYTES,
	    (unsigned long)MH_STORE_LOG_FILE_BYTES,
	    (unsigned long)MH_STORE_DB_LOCK_TIMEOUT_US,
	    (unsigned long)MH_STORE_LOCKS_MAX,
	    (unsigned long)MH_STORE_LOCKERS_MAX,
	    (unsigned long)MH_STORE_LOCK_OBJECTS_MAX,
	    (unsigned long)MH_STORE_TX_MAX);
}

/* Random back-off between retries, so that colliding processes part. */
static void
backoff(struct store *st)
{
	st->rng = st->rng * 1103515245u + 12345u;
	io_sleep_us((long)((st->rng >> 8) % MH_STORE_BACKOFF_MAX_US));
}

/* msghash.lock around DB_ENV->open and ->close (lib/guard.c: the gate). */
static enum mh_status
lock_acquire(struct store *st, struct mh_err *err)
{
	if (guard_gate_acquire(st->lock_fd) == -1) {
		if (errno == EWOULDBLOCK)
			return mh_errf(err, MH_STORE, "store '%s' is busy: no "
			    "turn at its lock for %d ms", st->dir,
			    MH_STORE_LOCK_TIMEOUT_MS);
		return mh_errf(err, MH_STORE, "cannot lock store '%s': %s",
		    st->dir, strerror(errno));
	}
	return MH_OK;
}

static void
lock_release(struct store *st)
{
	guard_gate_release(st->lock_fd);
}

/* ---- creating the directory and its files ---- */

/* mkdir -p with mode 0700 for every directory we create. */
static int
mkdir_parents(const char *dir)
{
	char path[4096];
	size_t i, len = strlen(dir);

	if (len == 0 || len >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		path[i] = dir[i];
	}
	return 0;
}

/* Writes DB_CONFIG if it is missing: to a temporary name, then rename(2). */
static enum mh_status
config_write(struct store *st, struct mh_err *err)
{
	char path[4096], tmp[4096 + 32], text[1024];
	int fd, len;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", st->dir,
	    STORE_CONFIG_FILE) >= sizeof path)
		return mh_errf(err, MH_STORE, "store path '%s' is too long",
		    st->dir);
	if (access(path, F_OK) == 0)
		return MH_OK;
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		return mh_errf(err, MH_STORE, "cannot create '%s': %s", tmp,
		    strerror(errno));
	len = config_text(text, sizeof text);
	n = write(fd, text, (size_t)len);
	if (n != (ssize_t)len || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		int saved = errno;

		unlink(tmp);
		return mh_errf(err, MH_STORE, "cannot write '%s': %s", path,
		    strerror(saved ? saved : EIO));
	}
	return MH_OK;
}

/*
 * A store has one owner.  Another user (typically root) would create log
 * and region files that the owner can then not open, locking the service
 * out (DESIGN.md §4.6).
 */
static enum mh_status
not_owner(struct store *st, uid_t uid, struct mh_err *err)
{
	struct passwd *pw = getpwuid(uid);
	char name[64];

	if (pw != NULL)
		snprintf(name, sizeof name, "%s", pw->pw_name);
	else
		snprintf(name, sizeof name, "%lu", (unsigned long)uid);
	return mh_errf(err, MH_STORE, "store '%s' belongs to user '%s': run "
	    "msghash as that user, e.g. sudo -u %s msghash --db %s ...",
	    st->dir, name, name, st->dir);
}

/* Checks `dir`, creating it if asked; opens the lock file. */
enum mh_status
store_dir_prepare(struct store *st, struct mh_err *err)
{
	struct stat sb;
	char path[4096];

	if (stat(st->dir, &sb) == -1) {
		if (errno == ENOENT && !(st->flags & STORE_CREATE))
			return mh_errf(err, MH_NOTFOUND, "no store at '%s'",
			    st->dir);
		if (errno != ENOENT || mkdir_parents(st->dir) == -1 ||
		    stat(st->dir, &sb) == -1)
			return mh_errf(err, MH_STORE,
			    "cannot create store '%s': %s", st->dir,
			    strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return mh_errf(err, MH_STORE,
		    "cannot open store '%s': not a directory", st->dir);
	if (sb.st_uid != geteuid())
		return not_owner(st, sb.st_uid, err);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", st->dir,
	    STORE_LOCK_FILE) >= sizeof path)
		return mh_errf(err, MH_STORE, "store path '%s' is too long",
		    st->dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd == -1)
		return mh_errf(err, MH_STORE, "cannot open store '%s': cannot "
		    "create its file %s there (%s); choose a writable "
		    "directory of your own", st->dir, STORE_LOCK_FILE,
		    strerror(errno));
	return MH_OK;
}

/* ---- the environment ---- */

/* Text for a line of ours: valid UTF-8, no control characters. */
static bool
text_printable(const char *s)
{
	size_t n = strlen(s), i, k;

	for (i = 0; i < n; i += k)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (k = utf8_seq((const unsigned char *)s + i, n - i)) == 0)
			return false;
	return true;
}

/*
 * libdb reports details through this callback.  Keep the first since the
 * operation began: later ones tend to be consequences ("unable to find
 * environment") of the first (a checksum error).
 */
void
store_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	struct store *st = env->app_private;
	const char *tail;

	(void)prefix;
	if (st->dberr[0] != '\0')
		return;
	/* One of libdb's messages (a failed copy in DB_ENV->backup) prints a
	 * buffer it never filled: then only its last ": " part, the system's
	 * error text, is kept. */
	if (!text_printable(msg))
		msg = (tail = strrchr(msg, ':')) != NULL && tail[1] == ' ' &&
		    text_printable(tail + 2) ? tail + 2 :
		    "Berkeley DB's message is unreadable";
	snprintf(st->dberr, sizeof st->dberr, "%s", msg);
}

/*
 * Informational messages: not for our users.  With DB_VERB_REGISTER,
 * env_register.c says "recovery required" (a dead process) or "creating"
 * (a new registry) when this open is about to recover: the gate then
 * allows it longer (lib/guard.c).
 */
void
store_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	if (strstr(msg, "recovery required") != NULL ||
	    strstr(msg, ": creating ") != NULL)
		guard_note_recovering();
}

/*
 * Error text for a libdb return code, preferring the callback's detail.
 * libdb's words are for its developers ("write: 0x7ffc..., 715: No space
 * left on device", "Encrypted checksum: no encryption key specified" for a
 * damaged page): the two a user meets most are said plainly, with what to
 * do, and the detail kept in parentheses.
 */
enum mh_status
store_db_fail(struct store *st, struct mh_err *err, const char *what, int ret)
{
	const char *detail = st->dberr[0] != '\0' ? st->dberr :
	    db_strerror(ret), *in_dir;
	size_t dirlen = strlen(st->dir);

	/* "BDB0210 /x/messages.db: metadata page checksum error": drop the
	 * id, and the store's directory (the message names it already). */
	if (strncmp(detail, "BDB", 3) == 0 && strchr(detail, ' ') != NULL)
		detail = strchr(detail, ' ') + 1;
	if ((in_dir = strstr(detail, st->dir)) == detail &&
	    detail[dirlen] == '/')
		detail += dirlen + 1;
	if (ret == ENOSPC || strstr(detail, strerror(ENOSPC)) != NULL)
		mh_errf(err, MH_NOSPACE, "%s store '%s': its filesystem is "
		    "full; free some space, then try again", what, st->dir);
	else if (strstr(detail, "checksum") != NULL ||
	    strstr(detail, "ncrypt") != NULL)
		mh_errf(err, MH_STORE, "%s store '%s': a file of it is damaged "
		    "(%s); restore the store from a backup", what, st->dir,
		    detail);
	else
		mh_errf(err, ret == ENOMEM ? MH_SYSTEM : MH_STORE, "%s store "
		    "'%s': %s", what, st->dir, detail);
	st->dberr[0] = '\0';
	return err->status;
}

/*
 * DB->open of a file of the store in a transaction of its own, begun with
 * DB_IGNORE_LEASE.  On a group's master the open writes to the log, and
 * libdb's lease checks at its commit would sleep for seconds and fail
 * while no quorum answers: the store would be "unavailable" where the
 * write it prepares must answer "not replicated" (DESIGN.md §9.2).
 */
int
store_file_open(DB_ENV *env, DB *db, const char *file, u_int32_t flags)
{
	DB_TXN *txn;
	int ret;

	if ((ret = env->txn_begin(env, NULL, &txn, DB_IGNORE_LEASE)) != 0)
		return ret;
	if ((ret = db->open(db, txn, file, NULL, DB_BTREE, flags, 0600)) != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	return txn->commit(txn, 0);
}

/* Opens the database; returns a libdb code, 0 also for "absent, read-only". */
static int
db_open(struct store *st)
{
	u_int32_t flags = 0;
	int ret;

	if (st->flags & STORE_CREATE)
		flags |= DB_CREATE;
	if ((ret = db_create(&st->db, st->env, 0)) != 0) {
		st->db = NULL;
		return ret;
	}
	/* Page checksums (set at creation, ignored afterwards): a damaged
	 * page is then an error, not garbage that crashes the reader. */
	st->db->set_flags(st->db, DB_CHKSUM);
	ret = store_file_open(st->env, st->db, STORE_DB_FILE, flags |
	    (st->group != NULL ? DB_THREAD : 0));
	if (ret != 0 && st->group != NULL && (flags & DB_CREATE)) {
		/* A replica may not create it: it comes with the master's. */
		st->db->close(st->db, DB_NOSYNC);
		st->db = NULL;
		st->dberr[0] = '\0';
		if ((ret = db_create(&st->db, st->env, 0)) != 0) {
			st->db = NULL;
			return ret;
		}
		ret = store_file_open(st->env, st->db, STORE_DB_FILE,
		    DB_THREAD);
		if (ret == ENOENT) {
			st->db->close(st->db, DB_NOSYNC);
			st->db = NULL;
			st->dberr[0] = '\0';
			return 0;	/* nothing replicated yet */
		}
	}
	if (ret != 0) {
		st->db->close(st->db, DB_NOSYNC);
		st->db = NULL;
		if (ret == ENOENT && !(st->flags & STORE_CREATE)) {
			st->dberr[0] = '\0';
			ret = 0;	/* nothing stored yet */
		}
	}
	return ret;
}

/*
 * Berkeley DB's region files are sparse and grow as the regions fill
 * (__db_file_extend writes only a file's last page).  On a full disk the
 * first touch of a hole is a SIGBUS inside libdb: a crash, then a store
 * nobody can recover while the disk stays full.  So each region's largest
 * size is reserved on disk at once (fallocate, keeping the file size BDB
 * expects).  The sizes are the environment's own (DB_CONFIG may have been
 * raised): the primary region's memory maximum, the mutex region's
 * maximum and the cache, each with a MiB to spare.
 */
static const char *const store_regions[] = { "__db.001", "__db.002",
    "__db.003" };
#define STORE_REGION_COUNT	3

/* The sizes to reserve for store_regions[], in bytes. */
static void
regions_sizes(const struct store *st, off_t size[STORE_REGION_COUNT])
{
	DB_MUTEX_STAT *ms = NULL;
	u_int32_t gb = 0, b = 0;
	int ncache;
	size_t i;

	st->env->get_memory_max(st->env, &gb, &b);
	size[0] = ((off_t)gb << 30) + b;
	if (st->env->mutex_stat(st->env, &ms, 0) == 0 && ms != NULL)
		size[1] = (off_t)ms->st_regmax;
	else
		size[1] = 4 << 20;
	free(ms);
	gb = b = 0;
	st->env->get_cachesize(st->env, &gb, &b, &ncache);
	size[2] = ((off_t)gb << 30) + b;
	for (i = 0; i < STORE_REGION_COUNT; i++)
		size[i] = ((size[i] >> 20) + 2) << 20;	/* a MiB to spare */
}

/*
 * Returns 0 or an errno value (ENOSPC when the disk is full).  Checked on
 * every open (three stat calls): a reservation that failed for lack of
 * space is retried by the next process.
 */
static int
regions_reserve(const struct store *st)
{
	char path[4096 + 16];
	off_t size[STORE_REGION_COUNT];
	struct stat sb;
	size_t i;
	int fd, ret = 0;

	regions_sizes(st, size);
	for (i = 0; i < STORE_REGION_COUNT; i++) {
		snprintf(path, sizeof path, "%s/%s", st->dir, store_regions[i]);
		if (stat(path, &sb) == -1 ||
		    (off_t)sb.st_blocks * 512 >= size[i])
			continue;
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
			continue;
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, size[i]) == -1 &&
		    errno != EOPNOTSUPP && ret == 0)
			ret = errno;
		close(fd);
	}
	return ret;
}

/*
 * Every file libdb opens goes through here (db_env_set_func_open).  A
 * process that is inside a libdb call when another one recovers the
 * environment finishes that call on the old, removed regions.  libdb
 * checks for the panic that the recovery set before each write, unlink,
 * rename and truncate, but not before an open that creates a file: such a
 * process that moved on to a new log file creates it empty, after the
 * recovery and its successors may have written past that number and
 * removed it.  The stray file below the gap is never removed (log removal
 * stops at the first file missing) and verify reports the gap as a lost
 * log file.  So a process whose slot the recovery emptied creates nothing;
 * its call fails and is redone after a reconnect (should_retry).
 */
static int
file_open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
		if (guard_registry_recovered()) {
			errno = ESTALE;
			return -1;
		}
	}
	return open(path, flags, mode);
}

/*
 * Why a commit or abort outside a group writes no log (DB_TXN_NOSYNC, set
 * on the handle in env_open_locked, so for DB->open's auto-commit too):
 * libdb 5.3's __log_flush_commit (log_put.c), when the write or flush of a
 * commit or abort record fails and the record starts the log buffer,
 * re-reads it from the log file through dblp->lfhp -- which is NULL when
 * the failed write had to open the log file first (__log_newfh closes the
 * old handle, and its open or header read fails): __os_seek(NULL), a
 * SIGSEGV.  It happens when another process recovers the environment
 * (panic) between the commit's entry check and its log write, in a process
 * that had not opened the current log file yet: every CLI run, whose first
 * log write is its commit (the chaos soak's rare `msghash hash` SIGSEGV).
 * The durability comes from the log_flush after the commit instead
 * (put_batch_once); a failed flush is an error that should_retry redoes.
 */
#define no_commit_flush(st)	((st)->group == NULL)

/* Joins the environment, under the lock. */
static int
env_open_locked(struct store *st)
{
	char path[4096 + 32];
	int ret;

	if ((ret = db_env_set_func_open(file_open)) != 0)
		return ret;
	if ((ret = db_env_create(&st->env, 0)) != 0) {
		st->env = NULL;
		return ret;
	}
	st->env->app_private = st;
	st->env->set_errcall(st->env, store_errcall);
	st->env->set_msgcall(st->env, store_msgcall);
	st->env->set_verbose(st->env, DB_VERB_REGISTER, 1);
	if (no_commit_flush(st))
		(void)st->env->set_flags(st->env, DB_TXN_NOSYNC, 1);
	if ((ret = group_env_prepare(st)) == 0)
		ret = st->env->open(st->env, st->dir, STORE_ENV_FLAGS |
		    group_env_flags(st), 0600);
	if (ret == 0)
		ret = regions_reserve(st);
	if (ret == 0)
		ret = group_env_configure(st);
	if (ret == 0)
		group_env_joined(st);
	if (ret != 0) {
		group_env_close(st);
		st->env = NULL;
		return ret;
	}
	snprintf(path, sizeof path, "%s/%s", st->dir, STORE_REGISTRY_FILE);
	guard_registry_track(path);
	return 0;
}

static void
env_close_locked(struct store *st)
{
	if (st->db != NULL)
		st->db->close(st->db, DB_NOSYNC);	/* DESIGN.md §4.5: in the log */
	st->db = NULL;
	group_close(st);
	guard_registry_detach();	/* the close empties our slot */
	if (st->env != NULL)
		group_env_close(st);
	st->env = NULL;
}

/*
 * Whether the primary region is one whose creator died before finishing:
 * libdb writes DB_REGION_MAGIC into its first word as the last step of a
 * creation (__env_turn_on; nothing in msghash clears it again).  Such a
 * region is empty or all zeros, and every open of it fails ("mmap:
 * Invalid argument": libdb maps the size it reads from the header, 0).
 * Only meaningful under the lock, where no other msghash process is
 * creating a region.
 */
static bool
primary_region_abandoned(const char *path)
{
	uint32_t magic = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;	/* none: the open creates it */
	n = pread(fd, &magic, sizeof magic, 0);
	close(fd);
	return n >= 0 && (n < (ssize_t)sizeof magic || magic != DB_REGION_MAGIC);
}

/*
 * An abandoned primary region (above) is what a recovery that died
 * (killed, or out of space) leaves behind.  DB_REGISTER sees no dead
 * process, so no opener would ever recover it: every open fails, for ever.
 * Removing the registry makes the next opener recover (env_register.c:
 * "Run recovery if we create the file").  Called under the lock; nobody
 * can be attached to a region that was never finished.
 */
static bool
unwedge_locked(struct store *st)
{
	char path[4096 + 16];

	snprintf(path, sizeof path, "%s/%s", st->dir, store_regions[0]);
	if (!primary_region_abandoned(path))
		return false;
	snprintf(path, sizeof path, "%s/%s", st->dir, STORE_REGISTRY_FILE);
	return unlink(path) == 0;
}

/*
 * A store whose region files are gone (the `rm __db.*` folk remedy, a
 * cleaner of /var, a damaged disk) must be rebuilt from its log before
 * anyone uses it: DB_REGISTER sees no dead process and would create fresh
 * regions without recovery, losing every commit since the last checkpoint
 * (and a later checkpoint would make the loss permanent).  Removing the
 * registry makes this open recover.  Unless a process still runs on the
 * old, removed regions: a recovery under it would corrupt the log, so the
 * store is refused until it is gone.  Called under the lock.
 */
static enum mh_status
regions_check_locked(struct store *st, struct mh_err *err)
{
	char path[4096 + 32];
	size_t i;
	long live;

	snprintf(path, sizeof path, "%s/%s", st->dir, STORE_REGISTRY_FILE);
	if (access(path, F_OK) == -1)
		return MH_OK;		/* no registry: the open recovers */
	for (i = 0; i < STORE_REGION_COUNT; i++) {
		snprintf(path, sizeof path, "%s/%s", st->dir, store_regions[i]);
		if (access(path, F_OK) == -1)
			break;
	}
	if (i == STORE_REGION_COUNT)
		return MH_OK;
	snprintf(path, sizeof path, "%s/%s", st->dir, STORE_REGISTRY_FILE);
	if ((live = guard_registry_live(path)) != 0)
		return mh_errf(err, MH_STORE, "store '%s' lost its region "
		    "files (%s) while process %ld still uses it: stop every "
		    "msghash process on it, then run msghash again (it "
		    "recovers the store)", st->dir, store_regions[i],
		    live);
	if (unlink(path) == -1 && errno != ENOENT)
		return mh_errf(err, MH_STORE, "cannot recover store '%s': "
		    "cannot remove '%s': %s", st->dir, path, strerror(errno));
	return MH_OK;
}

/*
 * Creating the regions needs their full size on disk: libdb maps them as
 * sparse files, and touching a page the disk has no room for is a SIGBUS,
 * not an error.  So an open that will create them (no primary region yet)
 * first checks that there is room.
 */
static enum mh_status
regions_space_locked(struct store *st, struct mh_err *err)
{
	char path[4096 + 32];
	struct statvfs sv;
	unsigned long long avail, need = MH_STORE_REGIONS_ESTIMATE;

	snprintf(path, sizeof path, "%s/%s", st->dir, store_regions[0]);
	if (access(path, F_OK) == 0 || statvfs(st->dir, &sv) == -1)
		return MH_OK;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail >= need)
		return MH_OK;
	return mh_errf(err, MH_NOSPACE, "no space to open store '%s': %llu "
	    "MiB free, %llu MiB needed for its region files; free some space "
	    "or use a larger filesystem", st->dir, avail >> 20, need >> 20);
}

/*
 * Opens the database, outside the lock: DB->open takes page locks, and an
 * opener waiting there behind a stopped or stuck writer must not hold
 * msghash.lock and so stop every other process.
 * A deadlock here is retried like any other.
 */
static int
db_open_retry(struct store *st)
{
	int ret, tries = 0;

	while ((ret = db_open(st)) == DB_LOCK_DEADLOCK ||
	    ret == DB_LOCK_NOTGRANTED) {
		if (tries++ >= MH_STORE_DEADLOCK_RETRIES ||
		    io_ms_since(&st->op_start) >= MH_STORE_BUSY_SEC * 1000L)
			break;
		backoff(st);
	}
	return ret;
}

/* Leaves the environment, closing under the lock (DESIGN.md §4.3: the exit race). */
static void
env_disconnect(struct store *st)
{
	bool locked;

	if (st->env == NULL && st->db == NULL)
		return;
	locked = lock_acquire(st, NULL) == MH_OK;
	env_close_locked(st);
	if (locked)
		lock_release(st);
}

/*
 * (Re)joins the environment and opens the database.  DB_RUNRECOVERY means
 * another process panicked the environment first; opening again recovers
 * it, so retry a few times.
 */
static enum mh_status
env_connect(struct store *st, struct mh_err *err)
{
	enum mh_status status;
	int ret = 0, attempt;

	for (attempt = 0; attempt <= MH_STORE_RECOVERY_RETRIES; attempt++) {
		env_disconnect(st);
		if ((status = lock_acquire(st, err)) != MH_OK)
			return status;
		if (attempt == 0 && (st->flags & STORE_CREATE) &&
		    (status = config_write(st, err)) != MH_OK) {
			lock_release(st);
			return status;
		}
		/* Before the open too: libdb retries joining an empty region
		 * for seconds, longer than MH_STORE_GATE_SEC. */
		(void)unwedge_locked(st);
		if ((status = regions_check_locked(st, err)) != MH_OK ||
		    (status = regions_space_locked(st, err)) != MH_OK) {
			lock_release(st);
			return status;
		}
		ret = env_open_locked(st);
		if (ret != 0 && ret != DB_RUNRECOVERY && unwedge_locked(st))
			ret = DB_RUNRECOVERY;	/* so: try again */
		lock_release(st);
		if (ret == 0 && !(st->flags & STORE_ENV_ONLY))
			ret = db_open_retry(st);
		if (ret != DB_RUNRECOVERY)
			break;
		backoff(st);
	}
	if (ret != 0) {
		status = store_db_fail(st, err, "cannot open", ret);
		env_disconnect(st);
		return status;
	}
	return MH_OK;
}

enum mh_status
store_reconnect(struct store *st, struct mh_err *err)
{
	return env_connect(st, err);
}

/*
 * Joins again through a recovery, which rebuilds the regions: the cure for
 * state only recovery clears (a dead replication process's claim on the
 * site's listening role).  Processes attached meanwhile see a panic and
 * join again, as after any recovery (§4.2).
 */
enum mh_status
store_recover_now(struct store *st, struct mh_err *err)
{
	char path[4096 + 32];
	enum mh_status status;

	env_disconnect(st);
	if ((status = lock_acquire(st, err)) != MH_OK)
		return status;
	snprintf(path, sizeof path, "%s/%s", st->dir, STORE_REGISTRY_FILE);
	(void)unlink(path);	/* a new registry: the open recovers */
	lock_release(st);
	return env_connect(st, err);
}

/* ---- public interface ---- */

enum mh_status
store_open(struct store **out, const char *dir, int flags, struct mh_err *err)
{
	return store_open_as(out, dir, flags, NULL, err);
}

enum mh_status
store_open_as(struct store **out, const char *dir, int flags,
    const struct store_group_config *replicating, struct mh_err *err)
{
	struct store *st;
	enum mh_status status;

	*out = NULL;
	if ((st = calloc(1, sizeof *st)) == NULL ||
	    (st->dir = strdup(dir)) == NULL) {
		free(st);
		return mh_errf(err, MH_SYSTEM, "out of memory");
	}
	st->flags = flags;
	st->replicating = replicating;
	st->lock_fd = -1;
	st->rng = (unsigned)getpid() ^ (unsigned)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	guard_signals_defer(&st->saved_mask);
	guard_enter();
	status = store_dir_prepare(st, err);
	if (status == MH_OK)
		status = group_load(st, err);
	if (status == MH_OK)
		status = env_connect(st, err);
	guard_leave();
	if (status != MH_OK) {
		store_close(st);
		return status;
	}
	*out = st;
	return MH_OK;
}

/*
 * Whether key is stored, reading none of its bytes (a partial get of
 * length 0).  Storing a known message is common (clients retry, POSTs are
 * idempotent); this answers it under a shared read lock, where the put's
 * transaction would take the page's write lock and serialise every
 * process posting the same message.
 */
static int
exists_once(struct store *st, DBT *key, bool *exists)
{
	DBT none;
	int ret;

	memset(&none, 0, sizeof none);
	none.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	ret = st->db->get(st->db, NULL, key, &none, DB_IGNORE_LEASE);
	*exists = ret == 0;
	return ret == DB_NOTFOUND ? 0 : ret;
}

/*
 * Refuses a write that would eat into the reserve.  libdb handles a full
 * disk badly: a failed log write panics the environment, and recovery then
 * needs space it cannot find.  Stopping our own writers early keeps the
 * store readable and writable again as soon as space is freed.
 */
static enum mh_status
space_check(struct store *st, size_t len, struct mh_err *err)
{
	struct statvfs sv;
	unsigned long long avail, need;

	if (statvfs(st->dir, &sv) == -1)
		return MH_OK;	/* cannot tell: let libdb find out */
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	need = MH_STORE_SPACE_RESERVE + 2ULL * len;
	if (avail >= need)
		return MH_OK;
	return mh_errf(err, MH_NOSPACE, "no space to store %zu bytes in '%s': "
	    "%llu MiB free, %llu MiB kept in reserve", len, st->dir,
	    avail >> 20, (unsigned long long)MH_STORE_SPACE_RESERVE >> 20);
}

/* A group node's commit also reports a missed quorum (DB_REP_UNAVAIL). */
static int
commit(struct store *st, DB_TXN *txn, u_int32_t flags)
{
	return st->group != NULL ? group_commit(st, txn, flags) :
	    txn->commit(txn, flags);
}

static int
item_cmp(const void *a, const void *b)
{
	const struct store_item *x = *(const struct store_item *const *)a;
	const struct store_item *y = *(const struct store_item *const *)b;

	return memcmp(x->key, y->key, DIGEST_LEN);
}

/* Marks which items are new (not stored yet): *fresh of them, *bytes. */
static int
batch_mark_new(struct store *st, struct store_item **items, size_t n,
    int *fresh, size_t *bytes)
{
	DBT k = { 0 };
	bool exists;
	size_t i;
	int ret;

	*fresh = 0;
	*bytes = 0;
	k.size = DIGEST_LEN;
	for (i = 0; i < n; i++) {
		k.data = items[i]->key;
		if ((ret = exists_once(st, &k, &exists)) != 0)
			return ret;
		items[i]->created = !exists;
		if (!exists) {
			(*fresh)++;
			*bytes += items[i]->len;
		}
	}
	return 0;
}

/*
 * Puts the new items in one transaction, in key order (so that two
 * batches take their page locks in the same order), and commits it.
 * Sets *fresh to how many it stored: 0 if other processes stored them all
 * meanwhile (the transaction is then aborted).
 */
static int
batch_write(struct store *st, struct store_item **items, size_t n,
    int *fresh)
{
	DBT k = { 0 }, d = { 0 };
	DB_TXN *txn;
	size_t i;
	int ret;

	/* Berkeley DB's own lease checks at the commit would sleep 50 ms
	 * on most commits, and panic the environment after a lost quorum
	 * (DESIGN.md §9.2): a group's leases only keep replicas out of
	 * elections. */
	if ((ret = st->env->txn_begin(st->env, NULL, &txn,
	    DB_IGNORE_LEASE)) != 0)
		return ret;
	k.size = DIGEST_LEN;
	for (i = 0; i < n; i++) {
		if (!items[i]->created)
			continue;
		k.data = items[i]->key;
		d.data = (void *)items[i]->msg;
		d.size = (u_int32_t)items[i]->len;
		ret = st->db->put(st->db, txn, &k, &d, DB_NOOVERWRITE);
		if (ret == DB_KEYEXIST) {	/* same digest, same message */
			items[i]->created = false;
			(*fresh)--;
		} else if (ret != 0) {
			txn->abort(txn);
			return ret;
		}
	}
	if (*fresh == 0)
		return txn->abort(txn);
	/* The locks go at the commit; the flush follows (put_batch_once).
	 * Outside a group the commit writes nothing: see no_commit_flush. */
	return commit(st, txn, no_commit_flush(st) ? DB_TXN_NOSYNC :
	    DB_TXN_WRITE_NOSYNC);
}

/*
 * One attempt at a batch.  What is stored already is found under read
 * locks first (clients retry, POSTs are idempotent: the put's write lock
 * would serialise every process posting the same message).  Then the rest
 * in one transaction, and one log flush for it all; the flush also covers
 * another process's commit that put an item there a moment ago and was not
 * flushed yet, so nothing is acknowledged before it is durable.  In a group,
 * a batch that stored nothing commits a barrier instead: an item that
 * exists may be one whose commit missed its quorum.
 */
static int
put_batch_once(struct store *st, struct store_item **items, size_t n)
{
	size_t bytes;
	int fresh, ret;

	if ((ret = batch_mark_new(st, items, n, &fresh, &bytes)) != 0)
		return ret;
	if (fresh > 0 && space_check(st, bytes, &st->space_err) != MH_OK)
		return ENOSPC;
	if (fresh > 0 && (ret = batch_write(st, items, n, &fresh)) != 0)
		return ret;
	if (fresh == 0 && st->group != NULL && (ret = group_barrier(st)) != 0)
		return ret;
	if ((ret = st->env->log_flush(st->env, NULL)) != 0)
		return ret;
	/*
	 * Another process may have recovered the store while this one was in
	 * its commit (one died attached, §4.2).  libdb looks for the panic
	 * before each step, not after: a commit past its checks ends on the old
	 * regions, whose log the recovered store may not have, and in a group
	 * the replicas that acknowledged it roll it back.  So look once more
	 * before the answer: redone after a reconnect, the put finds what
	 * survived and writes the rest.
	 */
	return guard_registry_recovered() ? DB_RUNRECOVERY : 0;
}

static int
get_once(struct store *st, DBT *key, DBT *data)
{
	int ret;

	/* A read-only open may predate the database: look again. */
	if (st->db == NULL && (ret = db_open(st)) != 0)
		return ret;
	if (st->db == NULL)
		return DB_NOTFOUND;
	memset(data, 0, sizeof *data);
	data->flags = DB_DBT_MALLOC;
	return st->db->get(st->db, NULL, key, data, DB_IGNORE_LEASE);
}

/*
 * The retry policy shared by every operation: deadlocks and lock timeouts
 * abort and retry after a back-off; DB_RUNRECOVERY reopens the environment
 * (which recovers it) and redoes the operation.  Returns true to retry.
 */
/*
 * Whether libdb said the environment panicked (another process is
 * recovering it), whatever code the call returned: some paths return
 * ENOMEM or EINVAL from a panicked region, not DB_RUNRECOVERY.  Either
 * way the cure is the same: reconnect, which recovers, and redo.
 */
static bool
store_panicked(const struct store *st)
{
	return strncmp(st->dberr, "PANIC", 5) == 0 ||
	    strstr(st->dberr, " PANIC") != NULL;
}

static bool
should_retry(struct store *st, int ret, int *deadlocks, int *recoveries,
    struct mh_err *err)
{
	/* A replica applying a new master's log locks requests out awhile. */
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED ||
	    ret == DB_REP_LOCKOUT) {
		if ((*deadlocks)++ < MH_STORE_DEADLOCK_RETRIES &&
		    io_ms_since(&st->op_start) < MH_STORE_BUSY_SEC * 1000L) {
			backoff(st);
			return true;
		}
		/* Give up before the watchdog must: a clean 503 / exit 3. */
		mh_errf(err, MH_STORE, "store '%s' is busy: what this needs "
		    "stayed locked by another process (stopped or slow) for "
		    "%ld s", st->dir,
		    (io_ms_since(&st->op_start) + 500) / 1000);
		return false;
	}
	/* DB_REP_HANDLE_DEAD: a group node rolled back commits the group
	 * never acknowledged; handles opened before must be opened again.
	 * A call that file_open refused fails with whatever libdb makes of
	 * it: the registry says why. */
	if ((ret == DB_RUNRECOVERY || ret == DB_REP_HANDLE_DEAD ||
	    store_panicked(st) || st->panicked ||
	    guard_registry_recovered()) &&
	    (*recoveries)++ < MH_STORE_RECOVERY_RETRIES) {
		st->dberr[0] = '\0';
		return env_connect(st, err) == MH_OK;
	}
	return false;
}

/* A group node writes only as the master; a replica opened no database
 * until the master's arrived. */
static enum mh_status
group_put_check(struct store *st, struct mh_err *err)
{
	enum mh_status status;
	int ret;

	/*
	 * A process that joined before the replication process named the
	 * sites never connects to them: its commits miss every quorum.  So
	 * after a miss, join again.
	 */
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	guard_enter();
	status = MH_OK;
	if (st->rejoin) {
		st->rejoin = false;
		status = env_connect(st, err);
	}
	if (status == MH_OK && st->env != NULL)
		status = group_writable(st, err);
	if (status == MH_OK && st->env != NULL && st->db == NULL &&
	    (ret = db_open_retry(st)) != 0)
		status = store_db_fail(st, err, "cannot open", ret);
	guard_leave();
	return status;
}

/* What a group node's failed put means for its client. */
static enum mh_status
group_put_failed(struct store *st, int ret, struct mh_err *err)
{
	if (ret == DB_REP_UNAVAIL) {
		st->rejoin = true;
		return mh_errf(err, MH_NOQUORUM, "the message is not yet "
		    "replicated: no quorum of the group acknowledged it "
		    "within %d ms; try again (storing it twice is safe)",
		    MH_GROUP_ACK_TIMEOUT_US / 1000);
	}
	if (ret == EACCES && group_writable(st, err) != MH_OK)
		return err->status;	/* no longer the master */
	return err->msg[0] != '\0' ? err->status :
	    store_db_fail(st, err, "cannot write to", ret);
}

enum mh_status
store_put_batch(struct store *st, struct store_item *items, size_t n,
    struct mh_err *err)
{
	struct store_item *sorted[MH_STORE_BATCH_MAX];
	enum mh_status status;
	size_t i;
	int ret, deadlocks = 0, recoveries = 0;

	if (n == 0)
		return MH_OK;
	if (n > MH_STORE_BATCH_MAX)
		return mh_errf(err, MH_SYSTEM, "a batch of %zu messages is over "
		    "the limit of %d", n, MH_STORE_BATCH_MAX);
	if (!(st->flags & STORE_CREATE))
		return mh_errf(err, MH_STORE, "store '%s' is open read-only",
		    st->dir);
	st->quorum_rejoined = false;
	if (st->group != NULL && (status = group_put_check(st, err)) != MH_OK)
		return status;
	if (st->db == NULL)
		return mh_errf(err, MH_STORE, "store '%s' is open read-only",
		    st->dir);
	for (i = 0; i < n; i++)
		sorted[i] = &items[i];
	qsort(sorted, n, sizeof *sorted, item_cmp);
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	st->dberr[0] = '\0';
	guard_enter();
	do {
		err->msg[0] = '\0';
		ret = st->env == NULL ? DB_RUNRECOVERY :
		    put_batch_once(st, sorted, n);
	} while (ret != 0 && should_retry(st, ret, &deadlocks, &recoveries, err));
	guard_leave();
	if (ret == ENOSPC && st->space_err.msg[0] != '\0') {
		*err = st->space_err;
		st->space_err.msg[0] = '\0';
		return err->status;
	}
	if (ret != 0 && st->group != NULL)
		return group_put_failed(st, ret, err);
	if (ret != 0)
		return err->msg[0] != '\0' ? err->status :
		    store_db_fail(st, err, "cannot write to", ret);
	return MH_OK;
}

enum mh_status
store_put(struct store *st, const unsigned char key[DIGEST_LEN],
    const void *msg, size_t len, bool *created, struct mh_err *err)
{
	struct store_item item;
	enum mh_status status;

	memcpy(item.key, key, DIGEST_LEN);
	item.msg = msg;
	item.len = len;
	item.created = false;
	status = store_put_batch(st, &item, 1, err);
	*created = item.created;
	return status;
}

/*
 * Whether handle db (NULL: none yet) no longer reads the store's file
 * `name`: a group replica that caught up by copying the master's databases
 * (internal init) removed the file and wrote a new one, and a handle opened
 * before still reads the removed one (DESIGN.md §9.3).  libdb's own check
 * (DB_REP_HANDLE_DEAD) compares reset times in whole seconds and misses a
 * reset within the second of the one before; an inode noted at the open
 * may be the new file's already.  The file the handle holds open cannot
 * mislead (its inode is not reused while held).  Only asked after a miss:
 * one DB->fd, fstat and stat.
 */
bool
store_db_stale(struct store *st, DB *db, const char *name)
{
	char path[4096 + 32];
	struct stat held, now;
	int fd, ret;

	snprintf(path, sizeof path, "%s/%s", st->dir, name);
	if (stat(path, &now) == -1)
		return false;		/* nothing newer to open */
	if (db == NULL)
		return true;		/* it came since */
	if ((ret = db->fd(db, &fd)) != 0)
		return ret == DB_REP_HANDLE_DEAD;	/* else: cannot tell now */
	return fstat(fd, &held) == 0 && (held.st_ino != now.st_ino ||
	    held.st_dev != now.st_dev);
}

enum mh_status
store_get(struct store *st, const unsigned char key[DIGEST_LEN], void **msg,
    size_t *len, struct mh_err *err)
{
	DBT k = { 0 }, d = { 0 };
	char hex[DIGEST_HEX_LEN + 1];
	int ret, deadlocks = 0, recoveries = 0;

	*msg = NULL;
	*len = 0;
	k.data = (void *)key;
	k.size = DIGEST_LEN;
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	st->dberr[0] = '\0';
	guard_enter();
	do {
		err->msg[0] = '\0';
		ret = st->env == NULL ? DB_RUNRECOVERY : get_once(st, &k, &d);
	} while (ret != 0 && ret != DB_NOTFOUND &&
	    should_retry(st, ret, &deadlocks, &recoveries, err));
	if (ret == DB_NOTFOUND && st->group != NULL &&
	    store_db_stale(st, st->db, STORE_DB_FILE) &&
	    env_connect(st, err) == MH_OK)
		ret = get_once(st, &k, &d);
	guard_leave();
	if (ret == DB_NOTFOUND) {
		digest_to_hex(key, hex);
		return mh_errf(err, MH_NOTFOUND, "no message with digest '%s'",
		    hex);
	}
	if (ret != 0)
		return err->msg[0] != '\0' ? err->status :
		    store_db_fail(st, err, "cannot read from", ret);
	*msg = d.data;
	*len = d.size;
	return MH_OK;
}

static int
checkpoint_once(struct store *st)
{
	char **unused = NULL;
	int ret;

	if ((ret = st->env->txn_checkpoint(st->env, 0, 0, 0)) != 0)
		return ret;
	ret = st->env->log_archive(st->env, &unused, DB_ARCH_REMOVE);
	free(unused);
	return ret;
}

enum mh_status
store_checkpoint(struct store *st, struct mh_err *err)
{
	int ret, deadlocks = 0, recoveries = 0;

	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	st->dberr[0] = '\0';
	guard_enter();
	do {
		err->msg[0] = '\0';
		ret = st->env == NULL ? DB_RUNRECOVERY : checkpoint_once(st);
	} while (ret != 0 && should_retry(st, ret, &deadlocks, &recoveries, err));
	guard_leave();
	if (ret != 0)
		return err->msg[0] != '\0' ? err->status :
		    store_db_fail(st, err, "cannot checkpoint", ret);
	return MH_OK;
}


void
store_set_watchdog_hook(void (*fn)(const char *why))
{
	guard_set_hook(fn);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	guard_enter();
	env_disconnect(st);
	if (st->lock_fd != -1)
		close(st->lock_fd);
	guard_registry_close();
	guard_leave();
	guard_signals_restore(&st->saved_mask);
	free(st->group);
	free(st->dir);
	free(st);
}
