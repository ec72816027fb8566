/*
 * status.h — the one status type of msghash and its error carrier.
 *
 * lib functions return an enum mh_status and fill a struct mh_err with a
 * message for humans; they never print and never exit.  cmd/ turns a status
 * into an exit code and api/ into an HTTP status, both only through the
 * table in status.c (DESIGN.md §3).
 */
#ifndef MH_STATUS_H
#define MH_STATUS_H

enum mh_status {
	MH_OK = 0,	/* success */
	MH_NOTFOUND,	/* no message with that digest */
	MH_USAGE,	/* the caller used the command wrongly */
	MH_INVALID,	/* the input is not acceptable (bad digest, too large) */
	MH_STORE,	/* the store failed or is unusable */
	MH_NOSPACE,	/* the store's filesystem is full */
	MH_SYSTEM,	/* the operating system failed (I/O, memory) */
	MH_NOTMASTER,	/* a group's replica: writes go to the master */
	MH_NOQUORUM,	/* a group's master: the write is not on a quorum */
	MH_STATUS_COUNT
};

#define MH_ERR_MAX	512

struct mh_err {
	enum mh_status	status;
	char		msg[MH_ERR_MAX];
};

/* Formats err->msg, records the status and returns it: `return mh_errf(...)`. */
enum mh_status	mh_errf(struct mh_err *err, enum mh_status status,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Process exit code for a status (0, 1, 2 or 3). */
int		status_exit_code(enum mh_status status);

/* Default HTTP status for a status (200, 404, 400, 503, 500, 307). */
int		status_http_code(enum mh_status status);

/* Short stable name, e.g. "not found"; used in logs and the man page test. */
const char	*status_name(enum mh_status status);

#endif /* MH_STATUS_H */
