/*
 * store-int.h — what the store's two files share: lib/store.c (the
 * environment, its protocol, put/get/checkpoint) and lib/store-verify.c
 * (store_verify).  Not for anyone else: the one header that includes
 * <db.h>.
 */
#ifndef MH_STORE_INT_H
#define MH_STORE_INT_H

#include <sys/types.h>

#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include <db.h>

#include "status.h"

/* The files of a store directory (besides libdb's logs and regions). */
#define STORE_LOCK_FILE		"msghash.lock"
#define STORE_DB_FILE		"messages.db"
#define STORE_CONFIG_FILE	"DB_CONFIG"
#define STORE_REGISTRY_FILE	"__db.register"	/* DB_REGISTER's; lib/guard.c
						   reads its slots */
#define STORE_GROUP_FILE	"msghash.group"	/* a group node's settings */
#define STORE_GROUP_DB_FILE	"group.db"	/* site -> URL, replicated */
#define STORE_GROUP_SOCKET	"msghash.sock"	/* the replication process's
						   control socket */

/* Opens only the environment (the replication process): no database. */
#define STORE_ENV_ONLY		0x100

struct store_group_config;

struct store {
	char		*dir;
	int		 flags;
	int		 lock_fd;
	DB_ENV		*env;
	DB		*db;		/* NULL: no database yet (read-only open) */
	char		 dberr[256];	/* first text from libdb's error callback */
	struct mh_err	 space_err;	/* why space_check refused a put */
	sigset_t	 saved_mask;
	struct timespec	 op_start;	/* of the put/get/checkpoint running */
	unsigned	 rng;
	/* A group node's store (lib/store-group.c); NULL group: not one. */
	struct store_group_config *group;
	const struct store_group_config *replicating; /* in the replication
						   process: its settings */
	DB		*group_db;	/* group.db, opened on first need */
	volatile sig_atomic_t perm_failed; /* this commit missed its quorum */
	volatile sig_atomic_t panicked;	/* DB_EVENT_PANIC: recovered under us */
	unsigned	 nodelay_connected; /* connections when TCP_NODELAY
					   was last set on them */
	bool		 ever_connected; /* this handle reached another site */
	bool		 quorum_rejoined; /* this put joined again for that */
	bool		 rejoin;	/* reopen the environment before the
					   next put (a quorum was missed, or it
					   was joined with no master known) */
	u_int32_t	 joined_gen;	/* the group's generation when this
					   handle joined (group_writable) */
};

/* libdb's error and message callbacks; env->app_private is the store. */
void		store_errcall(const DB_ENV *env, const char *prefix,
		    const char *msg);
void		store_msgcall(const DB_ENV *env, const char *msg);

/* Fills err for a failed libdb call (what: "cannot open", ...); returns
 * its status. */
enum mh_status	store_db_fail(struct store *st, struct mh_err *err,
		    const char *what, int ret);

/* store_open, as the replication process when replicating is not NULL. */
enum mh_status	store_open_as(struct store **out, const char *dir, int flags,
		    const struct store_group_config *replicating,
		    struct mh_err *err);

/* Joins the environment again (a panic, a recovery by another process). */
enum mh_status	store_reconnect(struct store *st, struct mh_err *err);

/* Joins again through a recovery (the registry removed first). */
enum mh_status	store_recover_now(struct store *st, struct mh_err *err);

/* Whether handle db (NULL: none) no longer reads the store's file `name`
 * (a group replica's internal init replaced it).  Asked after a miss. */
bool		store_db_stale(struct store *st, DB *db, const char *name);

/* Checks st->dir (creating it with STORE_CREATE) and opens its lock file. */
enum mh_status	store_dir_prepare(struct store *st, struct mh_err *err);

/* ---- lib/store-group.c, for lib/store.c ---- */

/* Reads dir's msghash.group into st->group if there is one. */
enum mh_status	group_load(struct store *st, struct mh_err *err);
/* DB->open of file (a B-tree, 0600) in a transaction of its own. */
int		store_file_open(DB_ENV *env, DB *db, const char *file,
		    u_int32_t flags);
/* Extra DB_ENV->open flags of a group node's store (0 for others). */
u_int32_t	group_env_flags(const struct store *st);
/* Before DB_ENV->open: the event handler (and, replicating, the sites). */
int		group_env_prepare(struct store *st);
/* After it, in other processes: whether to join again before writing. */
void		group_env_joined(struct store *st);
/* After it: the replication process's settings in the shared region. */
int		group_env_configure(struct store *st);
/* MH_OK when this node is the master; MH_NOTMASTER naming it if not. */
enum mh_status	group_writable(struct store *st, struct mh_err *err);
/* Commits txn; DB_REP_UNAVAIL if it did not reach a quorum. */
int		group_commit(struct store *st, DB_TXN *txn, u_int32_t flags);
/* A commit that returns only once everything before it is on a quorum:
 * for a message that was already stored.  0 or a libdb code. */
int		group_barrier(struct store *st);
/* Sets TCP_NODELAY on this process's TCP sockets (repmgr's). */
int		group_nodelay(void);
/* Closes group.db. */
void		group_close(struct store *st);
/* DB_ENV->close, aborting repmgr's connects in progress meanwhile. */
void		group_env_close(struct store *st);

#endif /* MH_STORE_INT_H */
