/*
 * io.h — read and write loops over file descriptors: short counts and EINTR
 * handled once, here.
 */
#ifndef MH_IO_H
#define MH_IO_H

#include <sys/uio.h>

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "status.h"

/*
 * Reads fd to EOF into a malloc'd buffer (*out, *len; free it).  Reads at
 * most max + 1 bytes: if the input is longer than max, returns MH_INVALID
 * with *too_large set and *len = max + 1.  `what` names the input in errors.
 */
enum mh_status	io_read_all(int fd, size_t max, const char *what, char **out,
		    size_t *len, bool *too_large, struct mh_err *err);

/* One read(2) of up to cap bytes, retried on EINTR; *n = 0 at EOF. */
enum mh_status	io_read_some(int fd, void *buf, size_t cap, size_t *n,
		    const char *what, struct mh_err *err);

/* Writes all of buf to fd. */
enum mh_status	io_write_all(int fd, const void *buf, size_t len,
		    const char *what, struct mh_err *err);

/* Milliseconds, and microseconds, on the monotonic clock. */
int64_t		io_now_ms(void);
int64_t		io_now_us(void);

/* Milliseconds on the monotonic clock since *start (clock_gettime). */
long		io_ms_since(const struct timespec *start);

/* Sleeps us microseconds, through signal handlers that interrupt it. */
void		io_sleep_us(long us);

enum io_wait {
	IO_READY,	/* readable (data or EOF) */
	IO_TIMEOUT,	/* the deadline passed */
	IO_SIGNAL,	/* a signal handler ran */
	IO_AGAIN,	/* nothing yet: call again (io_read_within) */
	IO_ERROR	/* poll or read failed */
};

/*
 * Waits until fd is readable or deadline_ms (io_now_ms() time) passes.
 * While waiting the signal mask is `mask` (ppoll), so a signal that is
 * blocked everywhere else can interrupt exactly this wait.
 */
enum io_wait	io_wait_readable(int fd, int64_t deadline_ms,
		    const sigset_t *mask);

/*
 * One read(2) from the socket fd into buf (*n bytes, 0 at EOF), blocking
 * until data, deadline_ms or the end of a slice of slice_ms, whichever
 * comes first: the wait is SO_RCVTIMEO's, so a request costs one system
 * call, not ppoll's two.  Signals blocked by the caller stay blocked in
 * the read; at the end of a slice a ppoll with `mask` and no wait lets
 * them in (IO_SIGNAL), else IO_AGAIN.
 * Not for pipes: they have no SO_RCVTIMEO (use io_wait_readable).
 */
enum io_wait	io_read_within(int fd, void *buf, size_t cap, size_t *n,
		    int64_t deadline_ms, int slice_ms, const sigset_t *mask);

/*
 * Writes all of iov to fd by deadline_ms.  On a socket each write(2) is
 * bounded by SO_SNDTIMEO (see io_bound_writes); a peer that stops reading
 * then fails the write instead of blocking for ever.
 */
enum mh_status	io_writev_deadline(int fd, struct iovec *iov, int iovcnt,
		    int64_t deadline_ms, struct mh_err *err);

/* Whether bytes wait unread in socket fd (FIONREAD).  Async-signal-safe. */
bool		io_input_waiting(int fd);

/* Sets SO_SNDTIMEO on fd if it is a socket (a no-op on pipes and files). */
void		io_bound_writes(int fd, int timeout_ms);

#endif /* MH_IO_H */
