/*
 * store-group.c — a replication group of msghash nodes on Berkeley DB's
 * Replication Manager (DESIGN.md §9): the node's settings (msghash.group),
 * the replication process, the quorum rule for writes, the master's URL.
 *
 * Every process that opens a group node's store joins it replication-aware
 * (DB_INIT_REP | DB_THREAD) but only the replication process calls
 * repmgr_start: it owns the site's listening socket and the elections.
 * The others are "subordinate": Berkeley DB connects a writer to the other
 * sites by itself on its first log record, and it collects that writer's
 * acknowledgements.  txn->commit returns 0 even when the quorum did not
 * acknowledge; the only sign is DB_EVENT_REP_PERM_FAILED, raised in the
 * committing thread, so a commit clears a flag before and looks after.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
#include "banned.h"

/* ---- settings ---- */

/* Splits "host:port" ("[v6]:port" too); false if it is not one. */
static bool
addr_split(const char *addr, char *host, size_t cap, unsigned *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long p;
	size_t n;

	if (colon == NULL || colon == addr)
		return false;
	n = (size_t)(colon - addr);
	if (addr[0] == '[' && n > 2 && addr[n - 1] == ']') {
		addr++;		/* repmgr takes the bare IPv6 address */
		n -= 2;
	}
	if (n >= cap)
		return false;
	memcpy(host, addr, n);
	host[n] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
	    p > 65535)
		return false;
	*port = (unsigned)p;
	for (; *host != '\0'; host++)
		if (!isalnum((unsigned char)*host) && strchr(".-_:", *host) ==
		    NULL)
			return false;
	return true;
}

static enum mh_status
addr_check(const char *what, const char *addr, struct mh_err *err)
{
	char host[MH_GROUP_ADDR_MAX];
	unsigned port;

	if (strlen(addr) >= MH_GROUP_ADDR_MAX ||
	    !addr_split(addr, host, sizeof host, &port))
		return mh_errf(err, MH_USAGE, "invalid %s '%s': expected "
		    "HOST:PORT, e.g. 10.0.0.1:7001", what, addr);
	return MH_OK;
}

/* An http:// or https:// URL of printable ASCII, without a trailing '/'. */
static enum mh_status
url_set(char *out, const char *url, struct mh_err *err)
{
	size_t n = strlen(url), i;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) || n >= MH_GROUP_URL_MAX ||
	    n <= 8)
		return mh_errf(err, MH_USAGE, "invalid --url '%s': expected "
		    "this node's address for clients, e.g. "
		    "http://10.0.0.1:8080", url);
	for (i = 0; i < n; i++)
		if (url[i] <= ' ' || url[i] >= 0x7f)
			return mh_errf(err, MH_USAGE, "invalid --url '%s': "
			    "it contains a space or a control character",
			    url);
	memcpy(out, url, n);
	out[n] = '\0';
	return MH_OK;
}

static bool
group_has(const struct store_group_config *cfg, const char *addr)
{
	int i;

	for (i = 0; i < cfg->nsites; i++)
		if (strcmp(cfg->sites[i], addr) == 0)
			return true;
	return false;
}

/* Adds the sites of a list ("a:1,b:2" or "a:1 b:2") to cfg. */
static enum mh_status
group_list_parse(struct store_group_config *cfg, const char *list,
    struct mh_err *err)
{
	char one[MH_GROUP_ADDR_MAX];
	const char *p = list;
	size_t n;
	enum mh_status status;

	while (*p != '\0') {
		n = strcspn(p, ", \t\n");
		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof one)
			return mh_errf(err, MH_USAGE, "invalid --group: a site "
			    "address is over %d bytes", MH_GROUP_ADDR_MAX - 1);
		memcpy(one, p, n);
		one[n] = '\0';
		p += n;
		if ((status = addr_check("--group site", one, err)) != MH_OK)
			return status;
		if (group_has(cfg, one))
			continue;
		if (cfg->nsites == MH_GROUP_SITES_MAX)
			return mh_errf(err, MH_USAGE, "invalid --group: more "
			    "than %d sites", MH_GROUP_SITES_MAX);
		memcpy(cfg->sites[cfg->nsites++], one, n + 1);
	}
	return MH_OK;
}

enum mh_status
store_group_check(const char *option, const char *value, struct mh_err *err)
{
	struct store_group_config cfg;

	memset(&cfg, 0, sizeof cfg);
	if (strcmp(option, "site") == 0)
		return addr_check("--site", value, err);
	if (strcmp(option, "group") == 0)
		return group_list_parse(&cfg, value, err);
	return url_set(cfg.url, value, err);
}

enum mh_status
store_group_parse(struct store_group_config *cfg, const char *site,
    const char *group, const char *url, int http_port, struct mh_err *err)
{
	char host[MH_GROUP_ADDR_MAX], derived[MH_GROUP_URL_MAX];
	unsigned port;
	enum mh_status status;

	memset(cfg, 0, sizeof *cfg);
	if (site == NULL || site[0] == '\0')
		return mh_errf(err, MH_USAGE, "a group node needs --site "
		    "HOST:PORT: its own replication address");
	if ((status = addr_check("--site", site, err)) != MH_OK)
		return status;
	snprintf(cfg->site, sizeof cfg->site, "%s", site);
	if (group == NULL || group[0] == '\0')
		return mh_errf(err, MH_USAGE, "a group node needs --group: "
		    "the replication addresses of the group's sites");
	if ((status = group_list_parse(cfg, group, err)) != MH_OK)
		return status;
	if (cfg->nsites == 2)
		return mh_errf(err, MH_USAGE, "invalid --group: a group of 2 "
		    "sites cannot fail over (neither is a majority alone); "
		    "use 3 or more");
	if (!group_has(cfg, site))
		return mh_errf(err, MH_USAGE, "--group does not list this "
		    "node's --site '%s': list every site, this one included",
		    site);
	if (url != NULL && url[0] != '\0')
		return url_set(cfg->url, url, err);
	(void)addr_split(site, host, sizeof host, &port);
	snprintf(derived, sizeof derived, strchr(host, ':') != NULL ?
	    "http://[%s]:%d" : "http://%s:%d", host, http_port);
	return url_set(cfg->url, derived, err);
}

/* ---- msghash.group ---- */

static int
group_file_path(char *out, size_t cap, const char *dir)
{
	return (size_t)snprintf(out, cap, "%s/%s", dir, STORE_GROUP_FILE) <
	    cap ? 0 : -1;
}

static enum mh_status
group_file_write(const char *dir, const struct store_group_config *cfg,
    struct mh_err *err)
{
	char path[4096], tmp[4096 + 32];
	FILE *f;
	int i, fd, ok;

	if (group_file_path(path, sizeof path, dir) == -1)
		return mh_errf(err, MH_STORE, "store path '%s' is too long",
		    dir);
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return mh_errf(err, MH_STORE, "cannot create '%s': %s", tmp,
		    strerror(errno));
	}
	fprintf(f, "# msghash group node settings, written by msghash serve "
	    "from its\n# --site, --group and --url; remove this file only "
	    "with the node stopped\n# and out of the group.\n");
	fprintf(f, "site %s\nurl %s\ngroup", cfg->site, cfg->url);
	for (i = 0; i < cfg->nsites; i++)
		fprintf(f, " %s", cfg->sites[i]);
	fputc('\n', f);
	ok = fflush(f) == 0 && fsync(fd) == 0;
	if (fclose(f) != 0 || !ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return mh_errf(err, MH_STORE, "cannot write '%s': %s", path,
		    strerror(errno ? errno : EIO));
	}
	return MH_OK;
}

/* Reads a msghash.group; ENOENT if there is none. */
static int
group_file_read(const char *dir, struct store_group_config *cfg)
{
	char path[4096], line[MH_GROUP_SITES_MAX * MH_GROUP_ADDR_MAX + 64];
	struct mh_err err;
	FILE *f;
	size_t n;

	memset(cfg, 0, sizeof *cfg);
	if (group_file_path(path, sizeof path, dir) == -1)
		return ENAMETOOLONG;
	if ((f = fopen(path, "re")) == NULL)
		return errno;
	while (fgets(line, sizeof line, f) != NULL) {
		n = strcspn(line, "\n");
		line[n] = '\0';
		if (strncmp(line, "site ", 5) == 0 && n - 5 < sizeof cfg->site)
			memcpy(cfg->site, line + 5, n - 4);
		else if (strncmp(line, "url ", 4) == 0 &&
		    n - 4 < sizeof cfg->url)
			memcpy(cfg->url, line + 4, n - 3);
		else if (strncmp(line, "group ", 6) == 0)
			(void)group_list_parse(cfg, line + 6, &err);
	}
	fclose(f);
	return cfg->site[0] != '\0' && cfg->nsites > 0 ? 0 : EINVAL;
}

enum mh_status
group_load(struct store *st, struct mh_err *err)
{
	struct store_group_config cfg;
	int ret;

	if ((ret = group_file_read(st->dir, &cfg)) == ENOENT)
		return MH_OK;
	if (ret != 0)
		return mh_errf(err, MH_STORE, "cannot open store '%s': its %s "
		    "is unreadable or damaged (%s)", st->dir, STORE_GROUP_FILE,
		    strerror(ret));
	if ((st->group = malloc(sizeof *st->group)) == NULL)
		return mh_errf(err, MH_SYSTEM, "out of memory");
	*st->group = cfg;
	return MH_OK;
}

/*
 * A store becomes a group node's (or moves to another site address) only
 * through recovery: every process must then join it replication-aware,
 * and the local site lives in the regions until they are rebuilt.  So
 * the registry goes, as for lost regions (store.c), and nobody may be
 * attached meanwhile.
 */
enum mh_status
store_group_setup(const char *dir, const struct store_group_config *cfg,
    struct mh_err *err)
{
	struct store_group_config old;
	struct store st;
	char path[4096 + 32];
	enum mh_status status;
	long live;

	if (group_file_read(dir, &old) == 0 &&
	    strcmp(old.site, cfg->site) == 0)
		return group_file_write(dir, cfg, err);	/* the list, the URL */
	memset(&st, 0, sizeof st);
	st.dir = (char *)dir;
	st.flags = STORE_CREATE;
	st.lock_fd = -1;
	if ((status = store_dir_prepare(&st, err)) != MH_OK)
		return status;
	if (guard_gate_acquire(st.lock_fd) == -1) {
		close(st.lock_fd);
		return mh_errf(err, MH_STORE, "cannot lock store '%s': %s",
		    dir, strerror(errno));
	}
	snprintf(path, sizeof path, "%s/%s", dir, STORE_REGISTRY_FILE);
	if ((live = guard_registry_live(path)) != 0)
		status = mh_errf(err, MH_STORE, "cannot make store '%s' a "
		    "group node's while process %ld uses it: stop every "
		    "msghash process on it first", dir, live);
	else if (unlink(path) == -1 && errno != ENOENT)
		status = mh_errf(err, MH_STORE, "cannot prepare store '%s' for "
		    "the group: cannot remove '%s': %s", dir, path,
		    strerror(errno));
	else
		status = group_file_write(dir, cfg, err);
	guard_gate_release(st.lock_fd);
	close(st.lock_fd);
	return status;
}

/* ---- the environment ---- */

/* Runs in the committing thread (PERM_FAILED) or a repmgr thread. */
static void
group_event(DB_ENV *env, u_int32_t which, void *info)
{
	struct store *st = env->app_private;

	(void)info;
	if (which == DB_EVENT_REP_PERM_FAILED)
		st->perm_failed = 1;
	else if (which == DB_EVENT_PANIC)
		st->panicked = 1;
}

u_int32_t
group_env_flags(const struct store *st)
{
	return st->group != NULL ? DB_THREAD | DB_INIT_REP : 0;
}

int
group_env_prepare(struct store *st)
{
	if (st->group == NULL)
		return 0;
	st->perm_failed = st->panicked = 0;
	return st->env->set_event_notify(st->env, group_event);
}

/* Names one site to Replication Manager, with a DB_SITE flag or none. */
static int
site_add(DB_ENV *env, const char *addr, u_int32_t which, u_int32_t which2)
{
	char host[MH_GROUP_ADDR_MAX];
	unsigned port;
	DB_SITE *site;
	int ret;

	if (!addr_split(addr, host, sizeof host, &port))
		return EINVAL;
	if ((ret = env->repmgr_site(env, host, port, &site, 0)) != 0)
		return ret;
	if (which != 0)
		ret = site->set_config(site, which, 1);
	if (ret == 0 && which2 != 0)
		ret = site->set_config(site, which2, 1);
	site->close(site);
	return ret;
}

/*
 * The replication process's settings, after DB_ENV->open: the ack policy,
 * bulk transfer and the timeouts live in the shared region, so every
 * process of the node uses them.  QUORUM: a commit is acknowledged by a
 * majority.  Bulk: stock 5.3 repmgr never sets TCP_NODELAY, and a commit
 * record sent alone waits for the peer's delayed ACK (44 ms measured);
 * bulk sends it with what came before, at once (0.8 ms).
 */
/*
 * After DB_ENV->open of a subordinate: a process that joins while the
 * site has no master (the group forming, an election) never connects to
 * the sites named meanwhile, and its commits miss every quorum (measured:
 * the first write of every such worker was a 503).  So it joins again
 * before its first write.
 */
void
group_env_joined(struct store *st)
{
	DB_REP_STAT *sp;

	if (st->group == NULL || st->replicating != NULL)
		return;
	if (st->env->rep_stat(st->env, &sp, 0) != 0) {
		st->rejoin = true;
		return;
	}
	st->rejoin = sp->st_master == DB_EID_INVALID;
	st->joined_gen = sp->st_gen;
	st->ever_connected = false;
	free(sp);
}

/*
 * Master leases (DESIGN.md §9.2: a replica that granted one votes in no
 * election), before repmgr_start.  libdb refuses to switch them on in a
 * region that started replication before, even when they are on already:
 * so only when they are off.
 */
static int
leases_on(DB_ENV *env)
{
	int on = 0, ret;

	if ((ret = env->rep_set_timeout(env, DB_REP_LEASE_TIMEOUT,
	    MH_GROUP_LEASE_TIMEOUT_US)) != 0 ||
	    (ret = env->rep_get_config(env, DB_REP_CONF_LEASE, &on)) != 0)
		return ret;
	return on ? 0 : env->rep_set_config(env, DB_REP_CONF_LEASE, 1);
}

int
group_env_configure(struct store *st)
{
	const struct store_group_config *cfg = st->replicating;
	DB_ENV *env = st->env;
	static const struct { u_int32_t which; db_timeout_t us; } timeouts[] = {
		{ DB_REP_ACK_TIMEOUT, MH_GROUP_ACK_TIMEOUT_US },
		{ DB_REP_HEARTBEAT_SEND, MH_GROUP_HEARTBEAT_SEND_US },
		{ DB_REP_HEARTBEAT_MONITOR, MH_GROUP_HEARTBEAT_MONITOR_US },
		{ DB_REP_CONNECTION_RETRY, MH_GROUP_CONNECT_RETRY_US },
		{ DB_REP_ELECTION_RETRY, MH_GROUP_ELECTION_RETRY_US },
		{ DB_REP_ELECTION_TIMEOUT, MH_GROUP_ELECTION_TIMEOUT_US },
	};
	size_t i;
	int j, ret;

	if (cfg == NULL)
		return 0;
	if ((ret = env->repmgr_set_ack_policy(env, DB_REPMGR_ACKS_QUORUM)) != 0 ||
	    (ret = env->rep_set_config(env, DB_REP_CONF_BULK, 1)) != 0 ||
	    (ret = leases_on(env)) != 0 ||
	    (ret = env->rep_set_priority(env, MH_GROUP_PRIORITY)) != 0 ||
	    (ret = env->rep_set_request(env, MH_GROUP_REQUEST_MIN_US,
	    MH_GROUP_REQUEST_MAX_US)) != 0)
		return ret;
	for (i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
		if ((ret = env->rep_set_timeout(env, timeouts[i].which,
		    timeouts[i].us)) != 0)
			return ret;
	/* The first site of the list creates the group, the first time
	 * (Berkeley DB ignores it once the group's membership exists). */
	if ((ret = site_add(env, cfg->site, DB_LOCAL_SITE,
	    strcmp(cfg->sites[0], cfg->site) == 0 ? DB_GROUP_CREATOR : 0)) != 0)
		return ret;
	for (j = 0; j < cfg->nsites; j++)
		if (strcmp(cfg->sites[j], cfg->site) != 0 &&
		    (ret = site_add(env, cfg->sites[j], DB_BOOTSTRAP_HELPER,
		    0)) != 0)
			return ret;
	return 0;
}

/*
 * A helper thread of msghash's own (the close's connect breaker, the early
 * flush): it blocks every signal, so that the watchdog's go to the thread
 * that waits for it.
 */
static bool
quiet_thread_start(pthread_t *t, void *(*fn)(void *))
{
	sigset_t all, old;
	bool started;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	started = pthread_create(t, NULL, fn, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/* fn on every descriptor of this process above 2; how many returned true. */
static int
fds_apply(bool (*fn)(int fd))
{
	DIR *d;
	struct dirent *e;
	int fd, n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		fd = (int)strtol(e->d_name, NULL, 10);
		if (fd > 2 && fd != dirfd(d) && fn(fd))
			n++;
	}
	closedir(d);
	return n;
}

/*
 * TCP_NODELAY on every TCP socket of this process: repmgr's connections.
 * Stock 5.3 repmgr never sets it, and bulk transfer (above) covers one
 * commit at a time only: a replica acknowledges each commit to the master
 * and to every writer's connection, so two commits close together make
 * two small sends on each, and the second waits for the delayed ACK of the
 * first (Nagle): 40 ms, and concurrent POSTs collapsed to 100/s.  Setting
 * it on sockets libdb opened is harmless to libdb.  Returns the count of
 * TCP sockets.
 */
static bool
nodelay_set(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

int
group_nodelay(void)
{
	return fds_apply(nodelay_set);
}

/*
 * Closing a group node's environment.  repmgr makes each connection in a
 * connector thread with a blocking connect(): to a site whose packets are
 * dropped (cut off by a firewall or a partition) it lasts until the kernel
 * gives up, about two minutes, and DB_ENV->close joins that thread.  Seen:
 * a worker joining again after a failover, stuck in __repmgr_stop for 3 s
 * holding msghash.lock, ended by its watchdog: a process dead attached, so
 * a recovery, and the new master lost its role.  So while the environment
 * closes, a thread aborts every connect in progress of this process:
 * shutdown on a socket in SYN_SENT makes connect return ECONNRESET at
 * once.  Only repmgr connects from a msghash process.
 */
static bool
connect_abort(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ti.tcpi_state == TCP_SYN_SENT && shutdown(fd, SHUT_RDWR) == 0;
}

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 closing;
} breaker = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };

static void *
breaker_thread(void *unused)
{
	struct timespec until;

	(void)unused;
	pthread_mutex_lock(&breaker.mu);
	while (breaker.closing) {
		pthread_mutex_unlock(&breaker.mu);
		(void)fds_apply(connect_abort);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += MH_GROUP_CLOSE_ABORT_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&breaker.mu);
		if (breaker.closing)
			pthread_cond_timedwait(&breaker.cv, &breaker.mu, &until);
	}
	pthread_mutex_unlock(&breaker.mu);
	return NULL;
}

void
group_env_close(struct store *st)
{
	pthread_t t;
	bool started;

	if (st->group == NULL) {
		st->env->close(st->env, 0);
		return;
	}
	/* a child forked after a parent's close: its own, fresh state */
	pthread_mutex_init(&breaker.mu, NULL);
	pthread_cond_init(&breaker.cv, NULL);
	breaker.closing = true;
	started = quiet_thread_start(&t, breaker_thread);
	st->env->close(st->env, 0);
	pthread_mutex_lock(&breaker.mu);
	breaker.closing = false;
	pthread_cond_signal(&breaker.cv);
	pthread_mutex_unlock(&breaker.mu);
	if (started)
		pthread_join(t, NULL);
}

/* ---- group.db: which URL each master published ---- */

static int
group_db_open(struct store *st, bool create)
{
	int ret;

	if (st->group_db != NULL)
		return 0;
	if ((ret = db_create(&st->group_db, st->env, 0)) != 0) {
		st->group_db = NULL;
		return ret;
	}
	ret = store_file_open(st->env, st->group_db, STORE_GROUP_DB_FILE,
	    DB_THREAD | (create ? DB_CREATE : 0));
	if (ret != 0) {
		st->group_db->close(st->group_db, DB_NOSYNC);
		st->group_db = NULL;
	}
	return ret;
}

void
group_close(struct store *st)
{
	if (st->group_db != NULL)
		st->group_db->close(st->group_db, DB_NOSYNC);
	st->group_db = NULL;
}

/*
 * One look-up in group.db, whose handle a process keeps for its life.  A
 * rollback or an internal init of the node kills it (DB_REP_HANDLE_DEAD, or
 * a miss in the removed file: store_db_stale), and nothing else would
 * reopen it: every answer would be "no master" for good (a replica's POSTs
 * and /healthz never touch messages.db), and the replication process could
 * no longer publish its URL.  So a dead handle is reopened, once; a mere
 * miss, common and legitimate (a new master's URL not yet replicated),
 * reopens nothing (DESIGN.md §9.3).
 */
static int
group_db_get(struct store *st, DBT *k, DBT *d)
{
	int ret;

	if ((ret = group_db_open(st, false)) != 0)
		return ret;
	ret = st->group_db->get(st->group_db, NULL, k, d, DB_IGNORE_LEASE);
	if (ret != DB_REP_HANDLE_DEAD && (ret != DB_NOTFOUND ||
	    !store_db_stale(st, st->group_db, STORE_GROUP_DB_FILE)))
		return ret;
	group_close(st);
	if ((ret = group_db_open(st, false)) != 0)
		return ret;
	return st->group_db->get(st->group_db, NULL, k, d, DB_IGNORE_LEASE);
}

/* The URL the site at addr published when it was master; "" if none. */
static void
url_of(struct store *st, const char *addr, char *url, size_t cap)
{
	DBT k = { 0 }, d = { 0 };

	k.data = (void *)addr;
	k.size = (u_int32_t)strlen(addr);
	d.data = url;
	d.ulen = (u_int32_t)cap - 1;
	d.flags = DB_DBT_USERMEM;
	if (group_db_get(st, &k, &d) == 0)
		url[d.size] = '\0';
	else
		url[0] = '\0';
}

/* The address of the site with this environment ID; "" if unknown. */
static void
addr_of(DB_ENV *env, int eid, char *out, size_t cap)
{
	DB_SITE *site;
	const char *host;
	u_int port;

	out[0] = '\0';
	if (eid == DB_EID_INVALID)
		return;
	if (env->repmgr_site_by_eid(env, eid, &site) != 0) {
		/* A process's list of sites is brought up to date from the
		 * shared region only by some calls: repmgr_site_list is one. */
		DB_REPMGR_SITE *list = NULL;
		u_int count;

		if (env->repmgr_site_list(env, &count, &list) == 0)
			free(list);
		if (env->repmgr_site_by_eid(env, eid, &site) != 0)
			return;
	}
	if (site->get_address(site, &host, &port) == 0)
		snprintf(out, cap, strchr(host, ':') != NULL ? "[%s]:%u" :
		    "%s:%u", host, port);
	site->close(site);
}

/* This process's view of the master: role, address, URL. */
static int
master_find(struct store *st, enum store_role *role, char *addr,
    size_t acap, char *url, size_t ucap, DB_REP_STAT **statp)
{
	DB_REP_STAT *sp;
	int ret;

	addr[0] = url[0] = '\0';
	if ((ret = st->env->rep_stat(st->env, &sp, 0)) != 0)
		return ret;
	if (sp->st_status == DB_REP_MASTER)
		*role = STORE_MASTER;
	else if (sp->st_status == DB_REP_CLIENT &&
	    sp->st_master != DB_EID_INVALID)
		*role = STORE_REPLICA;
	else
		*role = STORE_ELECTING;
	if (sp->st_master != DB_EID_INVALID) {
		addr_of(st->env, sp->st_master, addr, acap);
		if (addr[0] != '\0')
			url_of(st, addr, url, ucap);
	}
	if (statp != NULL)
		*statp = sp;
	else
		free(sp);
	return 0;
}

/*
 * Whether a view that says "not the master" may come from dead regions: a
 * process that another one recovered the environment under (a process died
 * attached) still reads the old, removed regions, whose replication state
 * stopped at the recovery, and raises no error for it.  Seen: a node
 * elected master while its workers answered "no master".  Asked only when
 * the view is not "master", so it costs nothing on the master's writes.
 */
static bool
view_dead(const struct store *st, enum store_role role)
{
	return role != STORE_MASTER && st->replicating == NULL &&
	    guard_registry_recovered();
}

/*
 * This process's view of the master (master_find), joining the environment
 * again first when that view cannot be trusted: libdb failed (a panicked
 * environment: another process recovered it, as a replica's restarted
 * replication process does after an internal init), or view_dead.  Without
 * the rejoin a worker would answer every POST 503 for good, while its GETs
 * (which retry through a rejoin) still worked.  The replication process is
 * restarted by its own loop instead.
 */
static enum mh_status
master_view(struct store *st, enum store_role *role, char *addr,
    size_t acap, char *url, size_t ucap, DB_REP_STAT **statp,
    struct mh_err *err)
{
	enum mh_status status;
	int ret;

	ret = master_find(st, role, addr, acap, url, ucap, statp);
	if (ret == 0 && !view_dead(st, *role))
		return MH_OK;
	if (st->replicating == NULL) {
		if (ret == 0 && statp != NULL)
			free(*statp);
		if ((status = store_reconnect(st, err)) != MH_OK)
			return status;
		ret = master_find(st, role, addr, acap, url, ucap, statp);
	}
	return ret == 0 ? MH_OK :
	    store_db_fail(st, err, "cannot read the group state of", ret);
}

/* ---- writes ---- */

/*
 * Berkeley DB counts a commit's acknowledgements in each process: the
 * highest LSN each site acknowledged to this site while it was master
 * (REPMGR_SITE.max_ack, repmgr_sel.c), compared with the commit's LSN
 * alone (got_acks, repmgr_net.c), and reset only with the handle.  A
 * worker that kept its handle while this node's log was rolled back below
 * such an LSN would count every commit up to it as acknowledged, by a site
 * that never saw it.  So a worker writes only in the generation its handle
 * joined in: the master of a later one joins again first, with no counts.
 */
static bool
acks_from_before(const struct store *st, enum store_role role,
    const DB_REP_STAT *sp)
{
	return role == STORE_MASTER && st->replicating == NULL &&
	    sp->st_gen != st->joined_gen;
}

enum mh_status
group_writable(struct store *st, struct mh_err *err)
{
	char addr[MH_GROUP_ADDR_MAX], url[MH_GROUP_URL_MAX];
	enum store_role role;
	enum mh_status status;
	DB_REP_STAT *sp;
	bool stale;

	if ((status = master_view(st, &role, addr, sizeof addr, url,
	    sizeof url, &sp, err)) != MH_OK)
		return status;
	stale = acks_from_before(st, role, sp);
	free(sp);
	if (stale) {
		if ((status = store_reconnect(st, err)) != MH_OK ||
		    (status = master_view(st, &role, addr, sizeof addr, url,
		    sizeof url, NULL, err)) != MH_OK)
			return status;
	}
	if (role == STORE_MASTER)
		return MH_OK;
	if (addr[0] == '\0')
		return mh_errf(err, MH_NOTMASTER, "store '%s' is a group node "
		    "and the group has no master now (an election, or too "
		    "few sites reachable); try again", st->dir);
	if (url[0] == '\0')
		return mh_errf(err, MH_NOTMASTER, "store '%s' is a replica: "
		    "write through the group's master, site %s", st->dir, addr);
	return mh_errf(err, MH_NOTMASTER, "store '%s' is a replica: write "
	    "through the group's master, %s (site %s)", st->dir, url, addr);
}

/*
 * Whether this process is connected to enough of the other sites for a
 * quorum, waiting a little for connections it is still making.  Berkeley
 * DB decides how many acknowledgements a commit awaits from the sites
 * this process knows: one that joined before the sites were named, or has
 * not yet connected, knows none, and then deems every commit durable at
 * once ("sent to all peers").  So count them first.  DB_REP_UNAVAIL if
 * there are too few.  repmgr_site_list also brings the process's list of
 * sites up to date.
 */
static int
quorum_reachable(struct store *st)
{
	DB_REPMGR_SITE *list;
	struct timespec start;
	u_int count, i, connected;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if ((ret = st->env->repmgr_site_list(st->env, &count,
		    &list)) != 0)
			return ret;
		for (i = connected = 0; i < count; i++)
			connected += list[i].status == DB_REPMGR_CONNECTED;
		free(list);
		if (connected != st->nodelay_connected) {
			st->nodelay_connected = connected;
			(void)group_nodelay();	/* its new connections */
		}
		if (connected > 0)
			st->ever_connected = true;
		/* A majority with this site: half of the others. */
		if (connected >= (count + 1) / 2)
			return 0;
		/* A handle that learnt of the sites before they were members
		 * never connects to them (repmgr connects to new sites, not
		 * to sites that became members): join again, once a put. */
		if (!st->ever_connected && !st->quorum_rejoined &&
		    io_ms_since(&start) >= MH_GROUP_FIRST_CONNECT_MS) {
			st->quorum_rejoined = true;
			return DB_REP_HANDLE_DEAD;	/* reconnect, redo */
		}
		if (io_ms_since(&start) >= MH_GROUP_CONNECT_WAIT_MS)
			return DB_REP_UNAVAIL;
		io_sleep_us(1000);
	}
}

/*
 * The early flush.  On a master, libdb's commit sends the commit record,
 * waits for the acknowledgements and only then writes its own log, which
 * put_batch_once then flushes: the replicas' disk flush and this one, one
 * after the other.  So while the commit waits, a thread of this process
 * flushes the log (the commit record is in its buffer by then), and the
 * flush after the commit finds the work done.  It only moves a flush
 * earlier: the one that makes a write count is still the committer's.
 * One thread per process, started by its first commit (a child forked
 * after that starts its own); it blocks every signal, so the watchdog's go
 * to the committing thread, which waits for it (early_flush_wait) before
 * the environment can be closed.  The environment is DB_THREAD here.
 */
static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pid_t		 pid;	/* the process whose thread runs; 0: none */
	DB_ENV		*env;	/* to flush now, or being flushed; or NULL */
} early = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL };

static void *
early_flush_thread(void *unused)
{
	DB_ENV *env;

	(void)unused;
	pthread_mutex_lock(&early.mu);
	for (;;) {
		while ((env = early.env) == NULL)
			pthread_cond_wait(&early.cv, &early.mu);
		pthread_mutex_unlock(&early.mu);
		(void)env->log_flush(env, NULL);  /* the committer's flush tells */
		pthread_mutex_lock(&early.mu);
		early.env = NULL;
		pthread_cond_broadcast(&early.cv);
	}
	return NULL;
}

/* The committer: flush ENV's log now, beside me.  False: no thread. */
static bool
early_flush_start(DB_ENV *env)
{
	pthread_t t;

	if (early.pid != getpid()) {	/* none yet, or the parent's */
		pthread_mutex_init(&early.mu, NULL);
		pthread_cond_init(&early.cv, NULL);
		early.env = NULL;
		if (!quiet_thread_start(&t, early_flush_thread))
			return false;
		pthread_detach(t);
		early.pid = getpid();
	}
	pthread_mutex_lock(&early.mu);
	early.env = env;
	pthread_cond_signal(&early.cv);
	pthread_mutex_unlock(&early.mu);
	return true;
}

static void
early_flush_wait(void)
{
	pthread_mutex_lock(&early.mu);
	while (early.env != NULL)
		pthread_cond_wait(&early.cv, &early.mu);
	pthread_mutex_unlock(&early.mu);
}

int
group_commit(struct store *st, DB_TXN *txn, u_int32_t flags)
{
	bool early_flush;
	int ret;

	if ((ret = quorum_reachable(st)) != 0) {
		txn->abort(txn);
		return ret;
	}
	st->perm_failed = 0;
	early_flush = early_flush_start(st->env);
	ret = txn->commit(txn, flags);
	if (early_flush)
		early_flush_wait();
	if (ret == 0 && st->perm_failed)
		ret = DB_REP_UNAVAIL;
	return ret;
}

int
group_barrier(struct store *st)
{
	char key[32];
	DBT k = { 0 }, d = { 0 };
	DB_TXN *txn;
	struct timespec now;
	int ret;

	if ((ret = group_db_open(st, true)) != 0)
		return ret;
	snprintf(key, sizeof key, "barrier %ld", (long)getpid());
	clock_gettime(CLOCK_REALTIME, &now);
	k.data = key;
	k.size = (u_int32_t)strlen(key);
	d.data = &now;
	d.size = sizeof now;
	if ((ret = st->env->txn_begin(st->env, NULL, &txn,
	    DB_IGNORE_LEASE)) != 0)
		return ret;
	if ((ret = st->group_db->put(st->group_db, txn, &k, &d, 0)) != 0) {
		txn->abort(txn);
		return ret;
	}
	return group_commit(st, txn, DB_TXN_WRITE_NOSYNC);
}

/* ---- state ---- */

bool
store_is_replica(struct store *st)
{
	DB_REP_STAT *sp;
	bool replica;

	if (st->group == NULL || st->env == NULL ||
	    st->env->rep_stat(st->env, &sp, 0) != 0)
		return false;
	replica = sp->st_status != DB_REP_MASTER;
	free(sp);
	return replica;
}

enum mh_status
store_group_state(struct store *st, struct store_group_state *out,
    struct mh_err *err)
{
	DB_REPMGR_SITE *list = NULL;
	DB_REP_STAT *sp = NULL;
	u_int count = 0, i;
	enum mh_status status;
	int ret;

	memset(out, 0, sizeof *out);
	out->role = STORE_SINGLE;
	if (st->group == NULL || st->env == NULL)
		return MH_OK;
	snprintf(out->site, sizeof out->site, "%s", st->group->site);
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	guard_enter();
	status = master_view(st, &out->role, out->master, sizeof out->master,
	    out->master_url, sizeof out->master_url, &sp, err);
	if (status == MH_OK) {
		out->lsn_file = sp->st_next_lsn.file;
		out->lsn_offset = sp->st_next_lsn.offset;
		if (sp->st_waiting_lsn.file != 0 &&
		    sp->st_waiting_lsn.file == sp->st_next_lsn.file)
			out->behind = sp->st_waiting_lsn.offset -
			    sp->st_next_lsn.offset;
		free(sp);
		if ((ret = st->env->repmgr_site_list(st->env, &count,
		    &list)) != 0)
			status = store_db_fail(st, err,
			    "cannot read the group state of", ret);
	}
	guard_leave();
	if (status != MH_OK)
		return status;
	for (i = 0; i < count && out->nsites < MH_GROUP_SITES_MAX; i++) {
		struct store_group_site *s = &out->sites[out->nsites++];

		snprintf(s->addr, sizeof s->addr, strchr(list[i].host, ':') !=
		    NULL ? "[%s]:%u" : "%s:%u", list[i].host, list[i].port);
		s->connected = list[i].status == DB_REPMGR_CONNECTED;
	}
	free(list);
	return MH_OK;
}

/* ---- the replication process ---- */

/* While master: publish this node's URL for the replicas' redirects. */
static void
url_publish(struct store *st)
{
	char url[MH_GROUP_URL_MAX];
	const struct store_group_config *cfg = st->replicating;
	DBT k = { 0 }, d = { 0 };
	DB_TXN *txn;

	url_of(st, cfg->site, url, sizeof url);
	if (strcmp(url, cfg->url) == 0)
		return;
	if (group_db_open(st, true) != 0 ||
	    st->env->txn_begin(st->env, NULL, &txn, DB_IGNORE_LEASE) != 0)
		return;
	k.data = (void *)cfg->site;
	k.size = (u_int32_t)strlen(cfg->site);
	d.data = (void *)cfg->url;
	d.size = (u_int32_t)strlen(cfg->url);
	if (st->group_db->put(st->group_db, txn, &k, &d, 0) != 0)
		txn->abort(txn);
	else
		(void)group_commit(st, txn, 0);
}

/*
 * One turn of the replication process's loop: while master, publish the
 * URL.  False when the environment is gone: another process recovered it
 * (a process died attached), which stops the repmgr threads without
 * always raising DB_EVENT_PANIC here; this process must start again.
 */
static bool
replication_tick(struct store *st)
{
	DB_REP_STAT *sp;
	bool master;

	if (st->panicked || st->env->rep_stat(st->env, &sp, 0) != 0)
		return false;
	(void)group_nodelay();	/* connections accepted since the last tick */
	master = sp->st_status == DB_REP_MASTER;
	free(sp);
	if (master)
		url_publish(st);
	return !st->panicked;
}

/*
 * ---- the control socket ----
 * msghash.sock in the store directory (mode 0700: only its owner reaches
 * it): `msghash status` and `msghash remove-site` ask the replication
 * process, which alone knows its connections and alone may change the
 * group's membership.  One request line, the answer, close.  The path
 * goes through /proc/self/fd, so a long store path still fits sun_path.
 */
static int
ctl_addr(struct sockaddr_un *sa, int dirfd)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	return (size_t)snprintf(sa->sun_path, sizeof sa->sun_path,
	    "/proc/self/fd/%d/%s", dirfd, STORE_GROUP_SOCKET) <
	    sizeof sa->sun_path ? 0 : -1;
}

static int
ctl_listen(const char *dir, int *dirfd)
{
	struct sockaddr_un sa;
	int fd;

	if ((*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	(void)unlinkat(*dirfd, STORE_GROUP_SOCKET, 0);	/* a dead one's */
	if (ctl_addr(&sa, *dirfd) == -1 || (fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(fd, 8) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *
store_role_name(enum store_role role)
{
	static const char *const names[] = {
		[STORE_SINGLE] = "single", [STORE_ELECTING] = "electing",
		[STORE_MASTER] = "master", [STORE_REPLICA] = "replica",
	};

	return (unsigned)role < sizeof names / sizeof names[0] ?
	    names[role] : "unknown";
}

/* The answer to "status": this process's view, which is the site's. */
static size_t
ctl_status(struct store *st, char *out, size_t cap)
{
	struct store_group_state gs;
	struct mh_err err;
	size_t n = 0;
	int i;

	if (store_group_state(st, &gs, &err) != MH_OK)
		return (size_t)snprintf(out, cap, "error %s\n", err.msg);
#define ADD(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
	ADD("role: %s\nsite: %s\nurl: %s\n", store_role_name(gs.role), gs.site,
	    st->group->url);
	ADD("master: %s%s%s\n", gs.master[0] != '\0' ? gs.master : "none",
	    gs.master_url[0] != '\0' ? " " : "", gs.master_url);
	ADD("lsn: %lu/%lu\nbehind: %lu\n", gs.lsn_file, gs.lsn_offset,
	    gs.behind);
	for (i = 0; i < gs.nsites; i++)
		ADD("peer: %s %s\n", gs.sites[i].addr, gs.sites[i].connected ?
		    "connected" : "disconnected");
#undef ADD
	return n < cap ? n : cap - 1;
}

/* Whether host:port is a member of the group, this site or another. */
static bool
site_is_member(struct store *st, const char *host, unsigned port)
{
	DB_REPMGR_SITE *list;
	char own[MH_GROUP_ADDR_MAX];
	unsigned own_port;
	u_int count, i;
	bool found;

	if (addr_split(st->group->site, own, sizeof own, &own_port) &&
	    own_port == port && strcmp(own, host) == 0)
		return true;
	if (st->env->repmgr_site_list(st->env, &count, &list) != 0)
		return true;	/* cannot tell: let libdb decide */
	for (i = 0, found = false; i < count && !found; i++)
		found = list[i].port == port && strcmp(list[i].host, host) == 0;
	free(list);
	return found;
}

/* The answer to "remove HOST:PORT": "ok", or "invalid" (the caller's
 * mistake) or "error" and why. */
static size_t
ctl_remove(struct store *st, const char *addr, char *out, size_t cap)
{
	char host[MH_GROUP_ADDR_MAX];
	unsigned port;
	DB_SITE *site;
	int ret;

	if (!addr_split(addr, host, sizeof host, &port))
		return (size_t)snprintf(out, cap, "invalid site '%s': "
		    "expected HOST:PORT\n", addr);
	guard_enter();
	if (!site_is_member(st, host, port)) {
		guard_leave();
		return (size_t)snprintf(out, cap, "invalid site %s is not a "
		    "member of the group (see msghash status)\n", addr);
	}
	if ((ret = st->env->repmgr_site(st->env, host, port, &site, 0)) == 0)
		ret = site->remove(site);	/* the handle is gone then */
	guard_leave();
	if (ret == 0)
		return (size_t)snprintf(out, cap, "ok\n");
	if (ret == DB_REP_UNAVAIL)
		return (size_t)snprintf(out, cap, "error the group could not "
		    "remove site %s: no master, too few sites to acknowledge "
		    "it, or it is the master (stop it first)\n", addr);
	return (size_t)snprintf(out, cap, "error cannot remove site %s: "
	    "%s\n", addr, db_strerror(ret));
}

/* One request on the control socket; a client gets MH_GROUP_CTL_MS. */
static void
ctl_serve(struct store *st, int lfd)
{
	char req[MH_GROUP_ADDR_MAX + 16], out[4096];
	struct timeval tv = { MH_GROUP_CTL_MS / 1000,
	    (MH_GROUP_CTL_MS % 1000) * 1000 };
	size_t len = 0, n;
	ssize_t got;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while (len < sizeof req - 1 && memchr(req, '\n', len) == NULL &&
	    (got = read(fd, req + len, sizeof req - 1 - len)) > 0)
		len += (size_t)got;
	req[len] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &st->op_start);
	if (strcmp(req, "status") == 0)
		n = ctl_status(st, out, sizeof out);
	else if (strncmp(req, "remove ", 7) == 0)
		n = ctl_remove(st, req + 7, out, sizeof out);
	else
		n = (size_t)snprintf(out, sizeof out, "error unknown "
		    "request\n");
	(void)!write(fd, out, n);
	close(fd);
}

enum mh_status
store_group_request(const char *dir, const char *request, char *reply,
    size_t cap, struct mh_err *err)
{
	struct sockaddr_un sa;
	struct timeval tv = { MH_GROUP_CTL_MS / 1000 + 5, 0 };
	size_t len = 0;
	ssize_t got;
	int dirfd, fd = -1, ok;

	if ((dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return mh_errf(err, MH_NOTFOUND, "no store at '%s'", dir);
	ok = ctl_addr(&sa, dirfd) == 0 &&
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1 &&
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(dirfd);
	if (!ok) {
		if (fd != -1)
			close(fd);
		return mh_errf(err, MH_STORE, "store '%s' is a group node's "
		    "but its replication process is not running: start "
		    "msghash serve on it", dir);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (write(fd, request, strlen(request)) != (ssize_t)strlen(request) ||
	    write(fd, "\n", 1) != 1) {
		close(fd);
		return mh_errf(err, MH_STORE, "cannot ask the replication "
		    "process of store '%s': %s", dir, strerror(errno));
	}
	while (len < cap - 1 && (got = read(fd, reply + len,
	    cap - 1 - len)) > 0)
		len += (size_t)got;
	close(fd);
	reply[len] = '\0';
	if (len == 0)
		return mh_errf(err, MH_STORE, "the replication process of "
		    "store '%s' did not answer", dir);
	if (strncmp(reply, "error ", 6) == 0)
		return mh_errf(err, MH_STORE, "%.*s",
		    (int)strcspn(reply + 6, "\n"), reply + 6);
	if (strncmp(reply, "invalid ", 8) == 0)
		return mh_errf(err, MH_INVALID, "%.*s",
		    (int)strcspn(reply + 8, "\n"), reply + 8);
	return MH_OK;
}

enum mh_status
store_group_read(const char *dir, struct store_group_config *cfg,
    struct mh_err *err)
{
	int ret = group_file_read(dir, cfg);

	if (ret == ENOENT)
		return MH_NOTFOUND;
	if (ret != 0)
		return mh_errf(err, MH_STORE, "store '%s': its %s is "
		    "unreadable or damaged (%s)", dir, STORE_GROUP_FILE,
		    strerror(ret));
	return MH_OK;
}

/*
 * 0 or the errno of binding the site's address.  repmgr_start claims the
 * site's listening role in the shared region before it binds, and keeps
 * the claim if the bind fails: every later replication process would then
 * be a subordinate, and nobody would listen until a recovery.  So find out
 * first.
 */
static int
site_bindable(const char *addr)
{
	char host[MH_GROUP_ADDR_MAX], port_text[8];
	struct addrinfo hints, *ai;
	unsigned port;
	int fd, one = 1, ret;

	if (!addr_split(addr, host, sizeof host, &port))
		return EINVAL;
	snprintf(port_text, sizeof port_text, "%u", port);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, port_text, &hints, &ai) != 0)
		return EADDRNOTAVAIL;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ret = errno;
	else {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one);	/* as repmgr does */
		ret = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		close(fd);
	}
	freeaddrinfo(ai);
	return ret;
}

/* repmgr_start; a joining site whose helpers do not answer yet retries. */
static enum mh_status
replication_start(struct store *st, const sigset_t *stop,
    struct mh_err *err)
{
	struct timespec ts = { MH_GROUP_JOIN_RETRY_MS / 1000,
	    (MH_GROUP_JOIN_RETRY_MS % 1000) * 1000000L };
	enum mh_status status;
	bool recovered = false;
	int ret;

	for (;;) {
		if ((ret = site_bindable(st->replicating->site)) != 0)
			return mh_errf(err, MH_STORE, "cannot listen on site "
			    "%s: %s", st->replicating->site, strerror(ret));
		guard_enter();
		ret = st->env->repmgr_start(st->env, MH_GROUP_THREADS,
		    DB_REP_ELECTION);
		guard_leave();
		if (ret == 0)
			return MH_OK;
		/* The region names another replication process: one that
		 * died without a recovery since.  Only a recovery clears it. */
		if (ret == DB_REP_IGNORE && !recovered) {
			recovered = true;
			guard_enter();
			status = store_recover_now(st, err);
			guard_leave();
			if (status != MH_OK)
				return status;
			continue;
		}
		if (ret == DB_REP_IGNORE)
			return mh_errf(err, MH_STORE, "store '%s': another "
			    "process already runs this site's replication",
			    st->dir);
		if (ret != DB_REP_UNAVAIL)
			return store_db_fail(st, err, "cannot start "
			    "replication for", ret);
		if (sigtimedwait(stop, NULL, &ts) > 0)
			return MH_OK;	/* stopping anyway */
	}
}

enum mh_status
store_replicate(const char *dir, const struct store_group_config *cfg,
    struct mh_err *err)
{
	struct timespec zero = { 0, 0 };
	struct store *st;
	enum mh_status status;
	sigset_t stop;
	int ctl = -1, dirfd = -1;

	guard_stop_signals(&stop);
	if ((status = store_open_as(&st, dir, STORE_CREATE | STORE_ENV_ONLY,
	    cfg, err)) != MH_OK)
		return status;
	if (st->group == NULL) {
		store_close(st);
		return mh_errf(err, MH_STORE, "store '%s' is not a group "
		    "node's (no %s)", dir, STORE_GROUP_FILE);
	}
	if ((status = replication_start(st, &stop, err)) == MH_OK &&
	    (ctl = ctl_listen(dir, &dirfd)) == -1)
		status = mh_errf(err, MH_STORE, "cannot create the control "
		    "socket %s in '%s': %s", STORE_GROUP_SOCKET, dir,
		    strerror(errno));
	if (status == MH_OK) {
		while (sigtimedwait(&stop, NULL, &zero) < 0) {
			clock_gettime(CLOCK_MONOTONIC, &st->op_start);
			guard_enter();
			if (!replication_tick(st))
				st->panicked = 1;
			guard_leave();
			if (st->panicked)
				break;
			if (poll(&(struct pollfd){ ctl, POLLIN, 0 }, 1,
			    MH_GROUP_TICK_MS) == 1)
				ctl_serve(st, ctl);
		}
		close(ctl);
		unlinkat(dirfd, STORE_GROUP_SOCKET, 0);
		close(dirfd);
		if (st->panicked)
			status = mh_errf(err, MH_STORE, "store '%s' was "
			    "recovered by another process: restarting "
			    "replication", dir);
	}
	store_close(st);
	return status;
}
