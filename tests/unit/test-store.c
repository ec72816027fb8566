/*
 * test-store.c — the store in a real Berkeley DB environment in a temporary
 * directory, with real child processes: no mocks.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "limits.h"
#include "store.h"
#include "store-int.h"
#include "tap.h"

static char root[] = "/tmp/msghash-test-store.XXXXXX";

static void
key_of(const void *msg, size_t len, unsigned char key[DIGEST_LEN])
{
	struct mh_err err;

	digest_sha256(msg, len, key, &err);
}

static void
test_create_and_roundtrip(const char *dir)
{
	struct store *st;
	struct mh_err err;
	struct stat sb;
	unsigned char key[DIGEST_LEN];
	char path[2048];
	void *msg;
	size_t len;
	bool created = false;

	ok(store_open(&st, dir, STORE_CREATE, &err) == MH_OK,
	    "open with STORE_CREATE creates the store");
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700,
	    "store directory is mode 0700");
	snprintf(path, sizeof path, "%s/DB_CONFIG", dir);
	ok(access(path, R_OK) == 0, "DB_CONFIG is written at creation");
	key_of("foo", 3, key);
	ok(store_put(st, key, "foo", 3, &created, &err) == MH_OK && created,
	    "first put of 'foo' creates it");
	ok(store_put(st, key, "foo", 3, &created, &err) == MH_OK && !created,
	    "second put of 'foo' is idempotent and says so");
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == 3 &&
	    memcmp(msg, "foo", 3) == 0, "get returns the exact bytes");
	free(msg);
	key[0] ^= 1;
	ok(store_get(st, key, &msg, &len, &err) == MH_NOTFOUND,
	    "get of an unknown key is MH_NOTFOUND");
	ok(strstr(err.msg, "no message with digest") != NULL,
	    "not-found message names the digest");
	ok(store_checkpoint(st, &err) == MH_OK, "checkpoint succeeds");
	store_close(st);
	snprintf(path, sizeof path, "%s/messages.db", dir);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	    "messages.db is mode 0600");
}

static void
test_large_binary(const char *dir)
{
	size_t n = 4 * 1024 * 1024, i, len;
	unsigned char *buf = malloc(n), key[DIGEST_LEN];
	struct store *st;
	struct mh_err err;
	void *msg;
	bool created;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + (i >> 11));	/* NULs, 0xff */
	key_of(buf, n, key);
	ok(store_open(&st, dir, STORE_CREATE, &err) == MH_OK, "reopen");
	ok(store_put(st, key, buf, n, &created, &err) == MH_OK && created,
	    "put of a 4 MiB binary message");
	store_close(st);
	ok(store_open(&st, dir, 0, &err) == MH_OK, "read-only open");
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == n &&
	    memcmp(msg, buf, n) == 0, "4 MiB binary message reads back exact");
	store_close(st);
	free(msg);
	free(buf);
}

static void
test_missing_and_unusable(void)
{
	char missing[1024], file[1024];
	struct store *st;
	struct mh_err err;
	FILE *fp;

	snprintf(missing, sizeof missing, "%s/missing/deeper", root);
	ok(store_open(&st, missing, 0, &err) == MH_NOTFOUND,
	    "read-only open of a missing store is MH_NOTFOUND");
	ok(access(missing, F_OK) == -1, "... and creates nothing");
	snprintf(file, sizeof file, "%s/a-file", root);
	fp = fopen(file, "w");
	fclose(fp);
	ok(store_open(&st, file, STORE_CREATE, &err) == MH_STORE,
	    "a regular file is an unusable store");
	ok(strstr(err.msg, file) != NULL && strstr(err.msg, "not a directory"),
	    "... and the message names the path and the reason");
}

static void
test_empty_dir_readonly(void)
{
	char dir[1024];
	unsigned char key[DIGEST_LEN];
	struct store *st;
	struct mh_err err;
	void *msg;
	size_t len;

	snprintf(dir, sizeof dir, "%s/empty", root);
	mkdir(dir, 0700);
	key_of("foo", 3, key);
	ok(store_open(&st, dir, 0, &err) == MH_OK,
	    "read-only open of an empty directory succeeds");
	ok(store_get(st, key, &msg, &len, &err) == MH_NOTFOUND,
	    "... and finds nothing");
	store_close(st);
}

/* Signals are deferred from open to close, then restored. */
static void
test_signal_mask(const char *dir)
{
	struct store *st;
	struct mh_err err;
	sigset_t cur;

	store_open(&st, dir, 0, &err);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	ok(sigismember(&cur, SIGTERM) == 1, "SIGTERM deferred while open");
	store_close(st);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	ok(sigismember(&cur, SIGTERM) == 0, "SIGTERM restored after close");
}

static pid_t
child_put(const char *dir, const char *msg, bool die_holding)
{
	unsigned char key[DIGEST_LEN];
	struct store *st;
	struct mh_err err;
	bool created;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	key_of(msg, strlen(msg), key);
	if (store_open(&st, dir, STORE_CREATE, &err) != MH_OK ||
	    store_put(st, key, msg, strlen(msg), &created, &err) != MH_OK)
		_exit(1);
	if (die_holding)
		raise(SIGKILL);	/* dies holding the environment */
	store_close(st);
	_exit(0);
}

static int
wait_status(pid_t pid)
{
	int ws;

	waitpid(pid, &ws, 0);
	return ws;
}

/*
 * Another process writes while we hold the store open; a third dies
 * holding the environment, so the next opener recovers it and our handle
 * is panicked: our next call must reopen and redo, transparently.
 */
static void
test_multiprocess_recovery(const char *dir)
{
	unsigned char key[DIGEST_LEN];
	struct store *st;
	struct mh_err err;
	void *msg;
	size_t len;
	int ws;

	ok(store_open(&st, dir, STORE_CREATE, &err) == MH_OK, "parent opens");
	ws = wait_status(child_put(dir, "from child", false));
	ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child writes meanwhile");
	key_of("from child", 10, key);
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == 10,
	    "parent reads the child's committed message");
	free(msg);
	ws = wait_status(child_put(dir, "killed child", true));
	ok(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	    "a child is killed holding the environment");
	ws = wait_status(child_put(dir, "after the kill", false));
	ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	    "the next opener recovers the store and writes");
	key_of("killed child", 12, key);
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == 12,
	    "parent survives the recovery and reads the killed child's commit");
	free(msg);
	key_of("after the kill", 14, key);
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == 14,
	    "parent reads the message written after recovery");
	free(msg);
	store_close(st);
}

/* item i of a batch: message "batch <i>" */
static void
batch_item(struct store_item *it, char *buf, size_t size, int i)
{
	int n = snprintf(buf, size, "batch %d", i);

	key_of(buf, (size_t)n, it->key);
	it->msg = buf;
	it->len = (size_t)n;
	it->created = true;	/* store_put_batch must set it */
}

/*
 * store_put_batch (wait mode's group commit): one call for many messages,
 * each told apart as new or known, a duplicate within the batch stored
 * once; durable on return (a process SIGKILLed right after has lost none
 * of them); more than MH_STORE_BATCH_MAX refused, none written.
 */
static void
test_batch(const char *dir)
{
	struct store_item items[MH_STORE_BATCH_MAX + 1];
	char bufs[MH_STORE_BATCH_MAX + 1][32];
	struct store *st;
	struct mh_err err;
	void *msg;
	size_t len;
	bool created, all_new = true;
	pid_t pid;
	int i, ws, found = 0;

	for (i = 0; i < 5; i++)
		batch_item(&items[i], bufs[i], sizeof bufs[i], i);
	ok(store_open(&st, dir, STORE_CREATE, &err) == MH_OK &&
	    store_put(st, items[0].key, items[0].msg, items[0].len, &created,
	    &err) == MH_OK && created, "one message stored before the batch");
	items[4] = items[2];		/* a duplicate within the batch */
	ok(store_put_batch(st, items, 5, &err) == MH_OK,
	    "a batch of 5 is stored");
	ok(!items[0].created && items[1].created && items[3].created,
	    "... the known one is told apart from the new ones");
	ok(items[2].created != items[4].created,
	    "... and a duplicate in the batch is stored once");
	for (i = 0; i < 4; i++)
		if (store_get(st, items[i].key, &msg, &len, &err) == MH_OK) {
			found += len == items[i].len &&
			    memcmp(msg, items[i].msg, len) == 0;
			free(msg);
		}
	ok(found == 4, "... all of them read back (%d of 4)", found);
	for (i = 0; i <= MH_STORE_BATCH_MAX; i++)
		batch_item(&items[i], bufs[i], sizeof bufs[i], 100 + i);
	ok(store_put_batch(st, items, MH_STORE_BATCH_MAX + 1, &err) != MH_OK &&
	    store_get(st, items[0].key, &msg, &len, &err) == MH_NOTFOUND,
	    "a batch over MH_STORE_BATCH_MAX is refused, nothing written");
	store_close(st);

	if ((pid = fork()) == 0) {
		if (store_open(&st, dir, STORE_CREATE, &err) != MH_OK ||
		    store_put_batch(st, items, MH_STORE_BATCH_MAX, &err) !=
		    MH_OK)
			_exit(1);
		for (i = 0; i < MH_STORE_BATCH_MAX; i++)
			all_new = all_new && items[i].created;
		if (!all_new)
			_exit(1);
		raise(SIGKILL);		/* no close: as if it crashed */
		_exit(2);
	}
	waitpid(pid, &ws, 0);
	ok(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	    "a child stored a full batch, then was SIGKILLed");
	found = 0;
	if (store_open(&st, dir, 0, &err) == MH_OK) {
		for (i = 0; i < MH_STORE_BATCH_MAX; i++)
			if (store_get(st, items[i].key, &msg, &len, &err) ==
			    MH_OK) {
				found += len == items[i].len;
				free(msg);
			}
		store_close(st);
	}
	ok(found == MH_STORE_BATCH_MAX, "the next opener recovers and finds "
	    "all %d (%d)", MH_STORE_BATCH_MAX, found);
}

/*
 * The helpers that test_stale_create starts from inside a libdb call: a
 * fresh process each (this program again), since a fork there would copy
 * the parent's locks and its watchdog's state.
 */

/* Joins the environment and dies attached. */
static int
helper_die_attached(const char *dir)
{
	struct store *st;
	struct mh_err err;

	if (store_open(&st, dir, STORE_ENV_ONLY, &err) != MH_OK)
		return 1;
	raise(SIGKILL);
	return 2;
}

/* Writes 3 messages of 3/4 of a log file (past two files), checkpoints. */
static int
helper_fill(const char *dir)
{
	size_t size = MH_STORE_LOG_FILE_BYTES / 4 * 3;
	unsigned char key[DIGEST_LEN];
	struct store *st;
	struct mh_err err;
	bool created;
	char *buf;
	int i;

	if ((buf = malloc(size)) == NULL ||
	    store_open(&st, dir, STORE_CREATE, &err) != MH_OK)
		return 1;
	for (i = 0; i < 3; i++) {
		memset(buf, 'a' + i, size);
		key_of(buf, size, key);
		if (store_put(st, key, buf, size, &created, &err) != MH_OK)
			return 1;
	}
	if (store_checkpoint(st, &err) != MH_OK)
		return 1;
	store_close(st);
	free(buf);
	return 0;
}

/* Spends ms of CPU time. */
static void
cpu_burn(long ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000L +
	    (t.tv_nsec - t0.tv_nsec) / 1000000L < ms);
}

/*
 * Runs a helper and waits for it, using some CPU meanwhile: the caller is
 * inside a store call, and a call that makes no progress while a process
 * died attached, or while its own slot is emptied, is ended by the
 * watchdog.  The stray file comes from a process that keeps running.
 */
static int
helper_run(const char *what, const char *dir)
{
	pid_t pid;
	int ws;

	if ((pid = fork()) == 0) {
		execl("/proc/self/exe", "test-store", what, dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &ws, WNOHANG) == 0) {
		cpu_burn(5);
		usleep(20000);
	}
	return ws;
}

/* The highest and lowest log file numbers in dir, and how many there are. */
static int
log_files(const char *dir, unsigned long *lo, unsigned long *hi)
{
	struct dirent *de;
	unsigned long n;
	DIR *dp;
	int count = 0;

	*lo = (unsigned long)-1;
	*hi = 0;
	if ((dp = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, "log.", 4) != 0)
			continue;
		n = strtoul(de->d_name + 4, NULL, 10);
		*lo = n < *lo ? n : *lo;
		*hi = n > *hi ? n : *hi;
		count++;
	}
	closedir(dp);
	return count;
}

/*
 * The recovery that test_stale_create runs from inside the parent's put,
 * at the moment libdb is about to create the next log file: another
 * process dies attached, the next opener recovers, writes past that log
 * file's number and checkpoints, which removes it.
 */
static const char *stale_dir;
static int stale_recoveries;

static void
stale_msgcall(const DB_ENV *env, const char *msg)
{
	const char *path = strstr(msg, "fileops: open ");
	int ws_die, ws_fill;

	(void)env;
	if (stale_recoveries != 0 || path == NULL ||
	    strstr(path += 14, "/log.") == NULL || access(path, F_OK) == 0)
		return;
	stale_recoveries++;
	ws_die = helper_run("--die-attached", stale_dir);
	ws_fill = helper_run("--fill", stale_dir);
	if (!WIFSIGNALED(ws_die) || !WIFEXITED(ws_fill) ||
	    WEXITSTATUS(ws_fill) != 0)
		stale_recoveries = -1;
}

/*
 * A process inside a put when another process recovers the environment
 * finishes its call on the old regions.  It must not create the log file
 * it was moving on to: after the recovery that file is the new
 * environment's, already written and removed, and an empty stray one left
 * below the gap is never removed (verify: "log... is missing").  Its put
 * is redone after a reconnect, and the message is stored.
 */
static void
test_stale_create(const char *dir)
{
	size_t n = MH_STORE_LOG_FILE_BYTES + (1 << 20);	/* its put makes a
							   new log file */
	unsigned char key[DIGEST_LEN];
	unsigned long lo, hi;
	struct store *st;
	struct mh_err err;
	bool created = false;
	char *buf = malloc(n);
	void *msg;
	size_t len;
	int count;

	memset(buf, 'S', n);
	key_of(buf, n, key);
	stale_dir = dir;
	ok(store_open(&st, dir, STORE_CREATE, &err) == MH_OK, "parent opens");
	st->env->set_msgcall(st->env, stale_msgcall);
	st->env->set_verbose(st->env, DB_VERB_FILEOPS, 1);
	ok(store_put(st, key, buf, n, &created, &err) == MH_OK,
	    "a put across a recovery by another process succeeds");
	ok(stale_recoveries == 1,
	    "... the recovery ran in the middle of it (%d)", stale_recoveries);
	count = log_files(dir, &lo, &hi);
	ok(count > 0 && (unsigned long)count == hi - lo + 1,
	    "the log files are consecutive (%d files, log.%lu to log.%lu)",
	    count, lo, hi);
	ok(store_get(st, key, &msg, &len, &err) == MH_OK && len == n &&
	    memcmp(msg, buf, n) == 0, "the message is stored");
	free(msg);
	store_close(st);
	free(buf);
}

int
main(int argc, char **argv)
{
	char dir[1024], cmd[1200];

	if (argc == 3 && strcmp(argv[1], "--die-attached") == 0)
		return helper_die_attached(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--fill") == 0)
		return helper_fill(argv[2]);

	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/store/nested", root);
	test_create_and_roundtrip(dir);
	test_large_binary(dir);
	test_missing_and_unusable();
	test_empty_dir_readonly();
	test_signal_mask(dir);
	test_multiprocess_recovery(dir);
	test_batch(dir);
	test_stale_create(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("could not remove %s", root);
	return done_testing();
}
