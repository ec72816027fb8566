/*
 * store.h — the message store: a Berkeley DB 5.3 transactional environment
 * shared by every msghash process at once (DESIGN.md §4).
 *
 * The only module that includes <db.h> (lib/store.c, lib/store-verify.c,
 * lib/store-int.h); callers never see a libdb number.  Keys are raw
 * 32-byte digests, values the message bytes.  From store_open to
 * store_close the process defers SIGTERM, SIGINT and SIGHUP (they are
 * blocked, not lost), and every store call runs under an alarm() watchdog:
 * a process must never die inside libdb, nor hang there for ever.  The
 * store installs SIGALRM and SIGBUS handlers for that (lib/guard.c);
 * callers must not use alarm().
 */
#ifndef MH_STORE_H
#define MH_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <signal.h>

#include "digest.h"
#include "limits.h"
#include "status.h"

#define STORE_CREATE	0x1	/* create the directory and database if needed */

struct store;

/*
 * Opens (joins) the store in `dir`.  Without STORE_CREATE a missing
 * directory is MH_NOTFOUND and nothing is created.  An unusable store
 * (permissions, not a directory, corrupt) is MH_STORE with a message that
 * names the path and the reason.
 */
enum mh_status	store_open(struct store **out, const char *dir, int flags,
		    struct mh_err *err);

/*
 * Stores msg under key unless it is already there (idempotent).  *created
 * tells which.  Returns only after the commit is durable.  Needs a store
 * opened with STORE_CREATE.
 */
enum mh_status	store_put(struct store *st, const unsigned char key[DIGEST_LEN],
		    const void *msg, size_t len, bool *created,
		    struct mh_err *err);

/* One message of a batch. */
struct store_item {
	unsigned char	 key[DIGEST_LEN];
	const void	*msg;
	size_t		 len;
	bool		 created;	/* set by store_put_batch */
};

/*
 * store_put for n (<= MH_STORE_BATCH_MAX) messages at once, in one
 * transaction: one log flush and, in a group, one quorum wait for all of
 * them (wait mode's group commit).  All or nothing: MH_OK means every one
 * is durable (created says which were new); any other status holds for
 * every one, and none may be acknowledged.
 */
enum mh_status	store_put_batch(struct store *st, struct store_item *items,
		    size_t n, struct mh_err *err);

/*
 * Looks key up.  On MH_OK *msg is a malloc'd copy (free it) of *len bytes;
 * MH_NOTFOUND if there is no such message.
 */
enum mh_status	store_get(struct store *st, const unsigned char key[DIGEST_LEN],
		    void **msg, size_t *len, struct mh_err *err);

/* Called for each stored message by store_verify; non-MH_OK stops it. */
typedef enum mh_status (*store_visit_fn)(const unsigned char *key,
		    size_t key_len, const void *msg, size_t len, void *arg);

/*
 * Verifies the store while it stays in use: Berkeley DB's verifier must not
 * join a live environment (DESIGN.md §4.7), and a damaged page can
 * crash a reader, so everything runs on a hot backup in a new directory
 * under tmpdir: first the log (every record intact, no file missing, from
 * where recovery starts to the end the store has written; MH_STORE naming
 * the damage otherwise), then, recovered privately, the database structure
 * (DB->verify), then fn for every message, in key order.  The copy is
 * removed afterwards, and first those that runs which died left in tmpdir.
 * Returns fn's first non-MH_OK status, if any.
 */
enum mh_status	store_verify(struct store *st, const char *tmpdir,
		    store_visit_fn fn, void *arg, struct mh_err *err);

/* Writes a checkpoint and removes log files no longer needed. */
enum mh_status	store_checkpoint(struct store *st, struct mh_err *err);

/*
 * fn runs in a signal handler when a store call must give up and the
 * process end: it waited MH_STORE_STALL_SEC on a stopped or stuck process,
 * on one that died, or a store file could not be written (SIGBUS).  `why`
 * says which, in a few lowercase words.  fn writes its last words with
 * async-signal-safe calls only (write(2)) and ends the process with
 * _exit(2) (exit status 3: the store failed); if it returns, the process
 * dies of the signal.
 */
void		store_set_watchdog_hook(void (*fn)(const char *why));

/* ---- a replication group (lib/store-group.c, DESIGN.md §9) ---- */

/*
 * A group node's settings (serve's --site, --group, --url).  Kept in the
 * store as msghash.group: every process that opens a group node's store
 * joins it as a replication-aware process, and writes only on the master,
 * and acknowledges a write only once a quorum of the group holds it.
 */
struct store_group_config {
	char	site[MH_GROUP_ADDR_MAX];	/* this node's "host:port" */
	char	url[MH_GROUP_URL_MAX];		/* this node's HTTP URL */
	char	sites[MH_GROUP_SITES_MAX][MH_GROUP_ADDR_MAX]; /* the group as
					   configured, this site included;
					   the first one creates it */
	int	nsites;
};

/* Checks one of them alone ("site", "group" or "url"): MH_USAGE naming it. */
enum mh_status	store_group_check(const char *option, const char *value,
		    struct mh_err *err);

/*
 * Fills cfg from the option values (site "host:port", group a list of
 * them separated by commas or spaces, url "http://..."; NULL url: derived
 * from the site's host and http_port).  MH_USAGE naming what is wrong.
 */
enum mh_status	store_group_parse(struct store_group_config *cfg,
		    const char *site, const char *group, const char *url,
		    int http_port, struct mh_err *err);

/*
 * Makes dir a group node's store with these settings (msghash.group).  A
 * store that was not one yet is recovered on its next open, so it must
 * not be in use: MH_STORE naming the process that uses it.
 */
enum mh_status	store_group_setup(const char *dir,
		    const struct store_group_config *cfg, struct mh_err *err);

/*
 * Runs this node's replication process (Berkeley DB's Replication
 * Manager: the listening socket, elections, catching up) until a stop
 * signal (guard_stop_signals; they are blocked meanwhile).  Never forks.  Returns MH_STORE when the
 * environment was recovered underneath it: the caller starts it again.
 */
enum mh_status	store_replicate(const char *dir,
		    const struct store_group_config *cfg, struct mh_err *err);

enum store_role {
	STORE_SINGLE,		/* not a group node */
	STORE_ELECTING,		/* a group node that knows no master */
	STORE_MASTER,
	STORE_REPLICA,
};

/* "single", "electing", "master", "replica": /healthz and status say it. */
const char	*store_role_name(enum store_role role);

struct store_group_site {
	char	addr[MH_GROUP_ADDR_MAX];
	bool	connected;
};

struct store_group_state {
	enum store_role	role;
	char		site[MH_GROUP_ADDR_MAX];	/* this node */
	char		master[MH_GROUP_ADDR_MAX];	/* "" if none */
	char		master_url[MH_GROUP_URL_MAX];	/* "" if unknown */
	struct store_group_site sites[MH_GROUP_SITES_MAX]; /* the others */
	int		nsites;
	unsigned long	lsn_file, lsn_offset;	/* the end of this node's log */
	unsigned long	behind;		/* log bytes known to be missing here */
};

/* Reads dir's group settings: MH_NOTFOUND if it is not a group node's. */
enum mh_status	store_group_read(const char *dir,
		    struct store_group_config *cfg, struct mh_err *err);

/*
 * Asks the replication process of the group node's store in dir (its
 * control socket): "status" (lines "key: value"), or "remove HOST:PORT"
 * (takes a site out of the group).  The answer goes to reply; MH_STORE
 * with its words if it refused, or if no replication process runs;
 * MH_INVALID if the request was wrong (a site that is not a member).
 */
enum mh_status	store_group_request(const char *dir, const char *request,
		    char *reply, size_t cap, struct mh_err *err);

/* Whether this is a group node's store that is not the master now. */
bool		store_is_replica(struct store *st);

/* This node's place in its group (STORE_SINGLE for any other store). */
enum mh_status	store_group_state(struct store *st,
		    struct store_group_state *out, struct mh_err *err);

/* Closes the store and restores the signal mask; st may be NULL. */
void		store_close(struct store *st);

#endif /* MH_STORE_H */
