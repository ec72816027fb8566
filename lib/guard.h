/*
 * guard.h — process protection for the store (DESIGN.md §4.3, §4.4):
 * deferred stop signals, the watchdog around each store call, and the gate,
 * the wait for msghash.lock around DB_ENV->open and ->close.
 *
 * Debian's libdb uses non-robust pthread mutexes: a process must never die
 * inside libdb, nor hang there for ever.  This module knows nothing of
 * Berkeley DB's API (it does not include <db.h>); the store tells it when a
 * call begins and ends, which registry file it joined, and when an open is
 * recovering.  It installs SIGALRM, SIGBUS and SIGRTMIN handlers; callers
 * must not use alarm().
 */
#ifndef MH_GUARD_H
#define MH_GUARD_H

#include <signal.h>
#include <stdbool.h>

/*
 * Fills set with the stop signals, exactly: SIGTERM, SIGINT and SIGHUP.
 * The one list of them; serve's own handling of them uses it too.
 */
void	guard_stop_signals(sigset_t *set);

/*
 * Blocks the stop signals (deferred, not lost) and unblocks the guard's own,
 * which a parent may have left blocked.  *saved: the mask before.
 */
void	guard_signals_defer(sigset_t *saved);

/* Restores the mask that guard_signals_defer saved. */
void	guard_signals_restore(const sigset_t *saved);

/*
 * A store call begins (or makes progress): the watchdog judges it from now
 * on, every MH_STORE_TICK_SEC, until guard_leave.  Calling it again within
 * a call counts as progress.
 */
void	guard_enter(void);

/* The store call ended: the watchdog's next tick is ignored. */
void	guard_leave(void);

/*
 * fn runs in a signal handler when a store call must give up (see
 * store_set_watchdog_hook in store.h): its last words, then _exit.
 */
void	guard_set_hook(void (*fn)(const char *why));

/*
 * Takes the exclusive flock on fd (msghash.lock) within
 * MH_STORE_LOCK_TIMEOUT_MS; while it is held, a holder that stalls for
 * MH_STORE_GATE_SEC gives up.  Returns 0, or -1 with errno (EWOULDBLOCK:
 * the wait timed out).
 */
int	guard_gate_acquire(int fd);

/* Releases what guard_gate_acquire took. */
void	guard_gate_release(int fd);

/* The open under the gate is recovering the store: allow it longer. */
void	guard_note_recovering(void);

/*
 * The registry (DB_REGISTER's __db.register).  The store names the file;
 * the guard owns its format (slots, PIDs, slot locks) because its signal
 * handler reads it: a process that died attached, or this process's slot
 * emptied by a recovery, means nobody will release what a stalled call
 * waits for.
 */

/* This process just attached to the registry at path: watch it. */
void	guard_registry_track(const char *path);

/*
 * Whether the environment this process is attached to was recovered by
 * another process since it attached: its slot was emptied, or the
 * registry replaced.  Its regions are then the old, removed ones.
 */
bool	guard_registry_recovered(void);

/* This process is detaching: its slot is emptied. */
void	guard_registry_detach(void);

/* Stops watching (the process is detached); closes the file. */
void	guard_registry_close(void);

/* The PID of another process attached alive to the registry at path; 0:
 * none, or no such file. */
long	guard_registry_live(const char *path);

#endif /* MH_GUARD_H */
