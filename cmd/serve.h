/*
 * serve.h — what the files of `msghash serve` share; internal to them.
 *
 *   serve.c                 the command: options, set-up shared by both
 *                           modes, the access log, the last words
 *   serve-per-connection.c  per-connection mode: fd 0/1 is one connection
 *   serve-wait.c            wait mode: a listening socket, a master and
 *                           its workers
 *
 * Both modes drive lib/conn.c with the configuration serve.c builds, so
 * framing, limits, timeouts and answers are the same.
 */
#ifndef MH_SERVE_H
#define MH_SERVE_H

#include <sys/socket.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "conn.h"
#include "status.h"
#include "store.h"

/* A peer's address as the access log shows it. */
#define SERVE_PEER_MAX	(INET6_ADDRSTRLEN + 8)

/* ---- signals (serve.c) ---- */

/*
 * Set by a stop signal: finish the requests in progress, then exit.  The
 * stop signals are blocked all the time (they never land inside the
 * store) and let in only while a process waits for I/O.
 */
extern volatile sig_atomic_t serve_terminating;

/*
 * Installs the stop signals' handler, blocks them, and returns in
 * *wait_mask the mask to wait with (the same, with them deliverable).
 */
void		serve_signals_setup(sigset_t *wait_mask);

/* ---- the access log and the last words (serve.c) ---- */

/* Adds a line to the log; serve_log_flush writes it. */
void		serve_log_line(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* Writes the buffered lines if they waited long enough (force: now). */
void		serve_log_flush(bool force);
/* When serve_log_flush(false) will write them (io_now_ms() time); -1: none. */
int64_t		serve_log_due(void);

/*
 * Around each call into lib/conn, which may run the handler and so the
 * store: if the store watchdog gives up meanwhile, its last words (a 503)
 * go to fd.
 */
void		serve_last_words_arm(int fd);
/* The same for a wait-mode worker's batch (worker_sync): n fds, at most
 * MH_STORE_BATCH_MAX. */
void		serve_last_words_arm_batch(const int *fds, size_t n);
void		serve_last_words_disarm(void);
/* A wait-mode worker's connection fd is between requests (idle) or not: if
 * the watchdog gives up, one whose next request came in meanwhile gets the
 * 503 too, not a reset when the process ends. */
void		serve_last_words_idle(int fd, bool idle);

/* ---- connections (serve.c) ---- */

/* "192.0.2.1", "2001:db8::1", "unix" or "-", for the log. */
void		serve_addr_name(const struct sockaddr_storage *ss, char *out,
		    size_t cap);

/* Whether the client may still be sending after the last answer. */
bool		serve_client_may_be_sending(const struct conn *c, int fd);

/* ---- the two modes ---- */

/* Serves the connection on fd 0/1 until it ends. */
void		serve_per_connection(const struct conn_config *cfg);

/*
 * Serves the listening socket lfd with `workers` workers (0: one per CPU)
 * until a stop signal; api is each worker's (opened in the worker).  A
 * group node (group not NULL) also runs its replication process.
 */
enum mh_status	serve_wait(int lfd, const struct conn_config *cfg,
		    struct api_ctx *api, int workers,
		    const struct store_group_config *group,
		    struct mh_err *err);

#endif /* MH_SERVE_H */
