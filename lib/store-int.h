/*
 * store-int.h — what the store's two files share: lib/store.c (the
 * environment, its protocol, put/get/checkpoint) and lib/store-verify.c
 * (store_verify).  Not for anyone else: the one header that includes
 * <db.h>.
 */
#ifndef MH_STORE_INT_H
#define MH_STORE_INT_H

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
	unsigned	 generation;	/* env_connect count */
	unsigned	 unsynced_generation; /* of the first unsynced put */
	bool		 unsynced;	/* STORE_DEFER_SYNC puts to flush */
};

/* libdb's error and message callbacks; env->app_private is the store. */
void		store_errcall(const DB_ENV *env, const char *prefix,
		    const char *msg);
void		store_msgcall(const DB_ENV *env, const char *msg);

/* Fills err for a failed libdb call (what: "cannot open", ...); returns
 * its status. */
enum mh_status	store_db_fail(struct store *st, struct mh_err *err,
		    const char *what, int ret);

#endif /* MH_STORE_INT_H */
