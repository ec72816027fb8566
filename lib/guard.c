/*
 * guard.c — process protection for the store: deferred stop signals, the
 * watchdog around each store call, and the gate (msghash.lock around
 * DB_ENV->open and ->close).  DESIGN.md §4.3 and §4.4.
 *
 * Owns: the signal mask from store_open to store_close, the SIGALRM,
 * SIGBUS and GATE_TIMER_SIGNAL handlers, the watchdog's verdicts, the wait
 * for msghash.lock, and the reading of the registry's slots (its signal
 * handler needs them).  Not Berkeley DB: lib/store.c calls guard_enter and
 * guard_leave around each libdb call and names the files.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "io.h"
#include "limits.h"
#include "banned.h"

/* Ends a wait for msghash.lock: see gate_wait. */
#define GATE_TIMER_SIGNAL	SIGRTMIN

void
guard_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/*
 * Blocks the stop signals; unblocks the two the store itself needs, the
 * watchdog's SIGALRM and GATE_TIMER_SIGNAL, which a parent could have left
 * blocked (a signal mask survives exec): the watchdog would never fire and
 * a wait for the lock would never end.
 */
void
guard_signals_defer(sigset_t *saved)
{
	sigset_t set;

	guard_stop_signals(&set);
	sigprocmask(SIG_BLOCK, &set, saved);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, GATE_TIMER_SIGNAL);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void
guard_signals_restore(const sigset_t *saved)
{
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/*
 * The watchdog.  Debian's libdb uses non-robust pthread mutexes: a process
 * that waits on the mutex of a process that died, or that is stopped, does
 * not wake.  So while a store call runs, SIGALRM ticks every
 * MH_STORE_TICK_SEC and its handler judges the call:
 *  - progressing (a new call began, or this process used
 *    MH_STORE_GATE_PROGRESS_US of CPU since the last tick): let it run, up
 *    to MH_STORE_WATCHDOG_SEC for one call;
 *  - stalled for MH_STORE_STALL_SEC: it waits on a stopped or stuck process;
 *  - stalled while the registry shows a dead process, or no longer shows
 *    this one (somebody recovered the environment): it waits on a mutex
 *    nobody will release.
 * Then it gives up: the caller's hook says why (a 503, a line on stderr)
 * and ends the process with exit status 3.  Its registry slot is then dead,
 * so the next opener recovers the environment.  A SIGBUS inside the store
 * (a region file that cannot be filled: disk full, truncated) ends the same
 * way instead of crashing.
 *
 * The alarm is armed lazily, when a call begins and none is pending (an
 * alarm(2) per call is dear next to a keep-alive request); a tick that
 * finds the process outside the store is stale: ignored and not renewed.
 */
static volatile sig_atomic_t watchdog_inside, watchdog_pending;
static volatile sig_atomic_t watchdog_calls;	/* calls begun */
static sig_atomic_t tick_calls, call_ticks, stalled_ticks;
static long long tick_cpu_ns;			/* at the last tick */
static void (*watchdog_hook)(const char *why);

/*
 * The gate: msghash.lock is held only around DB_ENV->open and ->close, and
 * a holder that hangs stops every process.  It can hang for good: a joiner
 * blocks on a mutex of a process that DB_REGISTER saw alive (stopped, say)
 * and that was killed since.  So a holder that is stalled for
 * MH_STORE_GATE_SEC gives up, and the next opener recovers.  A holder that
 * only runs slowly (overload) keeps the gate, up to MH_STORE_WATCHDOG_SEC.
 * A holder that is itself recovering may take long: libdb says so through
 * DB_VERB_REGISTER, the store calls guard_note_recovering, and then
 * MH_STORE_RECOVERY_SEC applies.  While a process waits for the lock
 * (gate_waiting), its own timer bounds the wait and the ticks do not count.
 */
static volatile sig_atomic_t gate_held, gate_recovering, gate_waiting;
static volatile time_t gate_since;	/* CLOCK_MONOTONIC s of acquisition */

/*
 * The registry (DB_REGISTER's __db.register; lib/store.c names the file):
 * one slot of REGISTRY_SLOT bytes per process, "X ..." when empty, else
 * its PID, and the process holds an fcntl lock on the slot's first byte
 * while it is attached.  A filled slot that nobody locks is a process that
 * died attached.  The file is opened once and kept open: closing any
 * descriptor of a file drops all of this process's fcntl locks on it, its
 * own slot included.
 */
#define REGISTRY_SLOT	25
static int registry_fd = -1;
static volatile sig_atomic_t registry_attached;	/* our slot is filled */
static char registry_path[4096];		/* where registry_fd was opened */
static pid_t registry_pid;			/* who attached (not a child) */

/* This process's CPU time (async-signal-safe); -1 if unknown. */
static long long
cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == -1)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static time_t
monotonic_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* In the handler: whether the process got anywhere since the last tick. */
static bool
tick_progressed(void)
{
	long long now = cpu_ns(), then = tick_cpu_ns;
	bool new_call = tick_calls != watchdog_calls;

	tick_cpu_ns = now;
	tick_calls = watchdog_calls;
	call_ticks = new_call ? 1 : call_ticks + 1;
	return new_call || (now >= 0 && then >= 0 &&
	    now - then >= MH_STORE_GATE_PROGRESS_US * 1000LL);
}

/* A slot's PID (async-signal-safe); 0 if the slot is empty or garbled. */
static long
registry_slot_pid(const char *slot)
{
	long pid = 0;
	int i;

	if (slot[0] == 'X')
		return 0;
	for (i = 0; i < REGISTRY_SLOT - 1; i++)
		if (slot[i] >= '0' && slot[i] <= '9')
			pid = pid * 10 + (slot[i] - '0');
	return pid;
}

/* What registry_find looks for besides our own slot. */
enum registry_want { FIND_DEAD, FIND_ALIVE, FIND_SELF_ONLY };

/*
 * The first filled slot of another process that is alive (its slot is
 * locked) or dead (unlocked), as asked; 0 if none.  *self_seen: whether
 * our own PID is in a slot (our own locks never conflict with us, so our
 * slot tells nothing); the scan goes on to the end for it.  FIND_SELF_ONLY
 * probes no other slot's lock (a syscall each): for a writer's check after
 * every batch.  Async-signal-safe.
 */
static long
registry_find(int fd, enum registry_want want, bool *self_seen)
{
	static char buf[REGISTRY_SLOT * 2048];
	struct flock fl;
	long pid, found = 0, self = (long)getpid();
	off_t off = 0;
	ssize_t n, i;

	*self_seen = false;
	while ((n = pread(fd, buf, sizeof buf, off)) >= REGISTRY_SLOT) {
		for (i = 0; i + REGISTRY_SLOT <= n; i += REGISTRY_SLOT) {
			if ((pid = registry_slot_pid(buf + i)) == 0)
				continue;
			if (pid == self) {
				*self_seen = true;
				continue;
			}
			if (found != 0 || want == FIND_SELF_ONLY)
				continue;
			memset(&fl, 0, sizeof fl);
			fl.l_type = F_WRLCK;
			fl.l_whence = SEEK_SET;
			fl.l_start = off + i;
			fl.l_len = 1;
			if (fcntl(fd, F_GETLK, &fl) == 0 &&
			    (fl.l_type != F_UNLCK) == (want == FIND_ALIVE))
				found = pid;
		}
		off += i;
	}
	return found;
}

/*
 * registry_find outside the handler: its buffer is the handler's too, so
 * the watchdog's tick waits until the scan is done.
 */
static long
registry_scan(int fd, enum registry_want want, bool *self_seen)
{
	sigset_t alarm_set, saved;
	long found;

	sigemptyset(&alarm_set);
	sigaddset(&alarm_set, SIGALRM);
	sigprocmask(SIG_BLOCK, &alarm_set, &saved);
	found = registry_find(fd, want, self_seen);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return found;
}

/*
 * In the handler: whether a process died attached, or our own slot was
 * emptied (somebody recovered the environment): either way, nobody will
 * release what this process may be waiting for.
 */
static bool
registry_shows_death(void)
{
	bool self_seen;

	if (registry_fd == -1)
		return false;
	return registry_find(registry_fd, FIND_DEAD, &self_seen) != 0 ||
	    (registry_attached && !self_seen);
}

static void
watchdog_give_up(int sig, const char *why)
{
	if (watchdog_hook != NULL)
		watchdog_hook(why);	/* last words; ends the process */
	signal(sig, SIG_DFL);
	raise(sig);
}

/* In the handler: the verdict on a gate holder (see gate_held). */
static void
gate_judge(bool progressed, time_t now)
{
	if (gate_recovering) {
		if (now - gate_since >= MH_STORE_RECOVERY_SEC)
			watchdog_give_up(SIGALRM, "recovering the store took "
			    "too long");
		return;
	}
	if (now - gate_since >= MH_STORE_WATCHDOG_SEC ||
	    (!progressed && stalled_ticks >= MH_STORE_GATE_SEC /
	    MH_STORE_TICK_SEC))
		watchdog_give_up(SIGALRM, "the store did not let this process "
		    "in (a process holding it is stopped or stuck)");
}

static void
watchdog_tick(void)
{
	bool progressed;

	if (!watchdog_inside) {
		watchdog_pending = 0;	/* stale: let the next call re-arm */
		return;
	}
	alarm(MH_STORE_TICK_SEC);
	if (gate_waiting)
		return;
	progressed = tick_progressed();
	stalled_ticks = progressed ? 0 : stalled_ticks + 1;
	if (gate_held) {
		gate_judge(progressed, monotonic_sec());
		return;
	}
	if (call_ticks > MH_STORE_WATCHDOG_SEC / MH_STORE_TICK_SEC)
		watchdog_give_up(SIGALRM, "a store call did not finish in time");
	if (stalled_ticks >= MH_STORE_STALL_SEC / MH_STORE_TICK_SEC)
		watchdog_give_up(SIGALRM, "the store did not answer (a process "
		    "holding it is stopped or stuck)");
	if (stalled_ticks > 0 && registry_shows_death())
		watchdog_give_up(SIGALRM, "a process died holding the store "
		    "(the next one to open it recovers it)");
}

/*
 * The tick interrupts libdb anywhere, also between a failed system call
 * and its look at errno: the calls above must not change what it sees.
 */
static void
watchdog_fire(int sig)
{
	int saved = errno;

	(void)sig;
	watchdog_tick();
	errno = saved;
}

/* SIGBUS: inside the store, a region file that cannot be filled. */
static void
watchdog_fault(int sig)
{
	if (watchdog_inside)
		watchdog_give_up(sig, "a file of the store could not be "
		    "written (disk full, or a damaged region file)");
	signal(sig, SIG_DFL);
	raise(sig);
}

void
guard_set_hook(void (*fn)(const char *why))
{
	watchdog_hook = fn;
}

static void
watchdog_install(void)
{
	static bool installed;
	struct sigaction sa;

	if (installed)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watchdog_fire;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = watchdog_fault;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	installed = true;
}

/* A store call begins: count it, and make sure a tick is coming. */
void
guard_enter(void)
{
	watchdog_install();
	watchdog_calls++;
	watchdog_inside = 1;
	if (!watchdog_pending) {
		watchdog_pending = 1;
		alarm(MH_STORE_TICK_SEC);
	}
}

void
guard_leave(void)
{
	watchdog_inside = 0;
}

/* ---- the gate: msghash.lock around DB_ENV->open and ->close ---- */

/*
 * Waiting for msghash.lock: a blocking flock() queues the waiter in the
 * kernel, which hands the lock on at release (polling it costs a crowd of
 * openers more CPU than their opens).  A one-shot POSIX timer bounds the
 * wait: it raises GATE_TIMER_SIGNAL (unblocked by guard_signals_defer),
 * whose handler is installed without SA_RESTART, so the flock() returns
 * EINTR.  The timer is made per wait (only a contended acquisition needs
 * one, and timers do not survive fork()).
 */
static volatile sig_atomic_t gate_wait_expired;

static void
gate_timer_fire(int sig)
{
	(void)sig;
	gate_wait_expired = 1;
}

/* Arms a timer that interrupts a blocking call after ms; false: none. */
static bool
gate_timer_start(timer_t *timer, long ms)
{
	struct sigaction sa;
	struct sigevent sev;
	struct itimerspec its;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = gate_timer_fire;	/* no SA_RESTART: see above */
	sigemptyset(&sa.sa_mask);
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = GATE_TIMER_SIGNAL;
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000;
	gate_wait_expired = 0;
	if (sigaction(GATE_TIMER_SIGNAL, &sa, NULL) == -1 ||
	    timer_create(CLOCK_MONOTONIC, &sev, timer) == -1)
		return false;
	if (timer_settime(*timer, 0, &its, NULL) == -1) {
		timer_delete(*timer);
		return false;
	}
	return true;
}

/*
 * Without a timer (timer_create can fail with EAGAIN, e.g. at
 * RLIMIT_SIGPENDING), the old way: poll, sleeping 50 us doubling to 2 ms.
 */
static int
gate_poll(int fd, const struct timespec *start)
{
	long pause_us = 50;

	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (io_ms_since(start) >= MH_STORE_LOCK_TIMEOUT_MS) {
			errno = EWOULDBLOCK;
			return -1;
		}
		io_sleep_us(pause_us);
		if (pause_us < 2000)
			pause_us *= 2;
	}
	return 0;
}

/* flock(LOCK_EX) within MH_STORE_LOCK_TIMEOUT_MS; -1, EWOULDBLOCK: timed out */
static int
gate_wait(int fd)
{
	struct timespec start;
	sigset_t tick, mask;
	timer_t timer;
	int ret, saved;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	gate_waiting = 1;
	if (!gate_timer_start(&timer, MH_STORE_LOCK_TIMEOUT_MS)) {
		ret = gate_poll(fd, &start);
		gate_waiting = 0;
		return ret;
	}
	/* The watchdog's tick (SA_RESTART) waits: delivered together with
	 * the timer's signal, it would have the kernel restart the flock. */
	sigemptyset(&tick);
	sigaddset(&tick, SIGALRM);
	sigprocmask(SIG_BLOCK, &tick, &mask);
	while ((ret = flock(fd, LOCK_EX)) == -1 && errno == EINTR &&
	    !gate_wait_expired)
		;		/* another signal's handler ran: wait on */
	saved = ret == -1 && errno == EINTR ? EWOULDBLOCK : errno;
	timer_delete(timer);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	gate_waiting = 0;
	errno = saved;
	return ret;
}

int
guard_gate_acquire(int fd)
{
	if (gate_wait(fd) == -1)
		return -1;
	gate_recovering = 0;
	gate_since = monotonic_sec();
	stalled_ticks = 0;
	gate_held = 1;
	return 0;
}

void
guard_gate_release(int fd)
{
	flock(fd, LOCK_UN);
	gate_held = 0;
	stalled_ticks = 0;
}

void
guard_note_recovering(void)
{
	gate_recovering = 1;
}

/* ---- the registry ---- */

/*
 * Points registry_fd at the registry this process just attached to.  A
 * descriptor of a replaced registry (unlinked to force a recovery) is
 * closed: this process holds no lock on that file any more.
 */
void
guard_registry_track(const char *path)
{
	struct stat now, held;

	if (stat(path, &now) == -1)
		return;
	if (registry_fd != -1 && (fstat(registry_fd, &held) == -1 ||
	    held.st_ino != now.st_ino || held.st_dev != now.st_dev)) {
		close(registry_fd);
		registry_fd = -1;
	}
	if (registry_fd == -1)
		registry_fd = open(path, O_RDONLY | O_CLOEXEC);
	registry_attached = registry_fd != -1;
	registry_pid = getpid();
	if ((size_t)snprintf(registry_path, sizeof registry_path, "%s", path) >=
	    sizeof registry_path)
		registry_path[0] = '\0';
}

/*
 * Called outside the handler.  A registry replaced under us (unlinked so
 * that the next open recovers: lib/store.c) still shows our slot in the
 * old file; the open that replaced it recovered, or will.  A forked child
 * never attached.
 */
bool
guard_registry_recovered(void)
{
	struct stat now, held;
	bool self_seen;

	if (!registry_attached || registry_fd == -1 ||
	    registry_path[0] == '\0' || registry_pid != getpid())
		return false;
	if (stat(registry_path, &now) == -1 ||
	    fstat(registry_fd, &held) == -1 ||
	    now.st_ino != held.st_ino || now.st_dev != held.st_dev)
		return true;
	(void)registry_scan(registry_fd, FIND_SELF_ONLY, &self_seen);
	return !self_seen;
}

void
guard_registry_detach(void)
{
	registry_attached = 0;	/* the close empties our slot */
}

void
guard_registry_close(void)
{
	if (registry_fd != -1)
		close(registry_fd);	/* detached: no lock of ours to lose */
	registry_fd = -1;
}

long
guard_registry_live(const char *path)
{
	bool self_seen;
	long live;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	live = registry_scan(fd, FIND_ALIVE, &self_seen);
	close(fd);		/* not attached here: no lock of ours to lose */
	return live;
}
