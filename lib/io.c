/*
 * io.c — read and write loops: EINTR and short counts handled once.
 */
#include <config.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "limits.h"
#include "banned.h"

/* Grows *buf to hold at least `need` bytes, doubling; false on ENOMEM. */
static bool
grow(char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : MH_IO_CHUNK;
	char *nbuf;

	while (ncap < need)
		ncap *= 2;
	if (ncap == *cap)
		return true;
	if ((nbuf = realloc(*buf, ncap)) == NULL)
		return false;
	*buf = nbuf;
	*cap = ncap;
	return true;
}

enum mh_status
io_read_all(int fd, size_t max, const char *what, char **out, size_t *len,
    bool *too_large, struct mh_err *err)
{
	char *buf = NULL;
	size_t cap = 0, used = 0, want;
	ssize_t n;

	*out = NULL;
	*len = 0;
	*too_large = false;
	for (;;) {
		want = used + MH_IO_CHUNK;
		if (want > max + 1)
			want = max + 1;
		if (!grow(&buf, &cap, want > used ? want : used + 1)) {
			free(buf);
			return mh_errf(err, MH_SYSTEM, "out of memory reading %s",
			    what);
		}
		if (used == max + 1)
			break;
		n = read(fd, buf + used, want - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int saved = errno;

			free(buf);
			return mh_errf(err, MH_SYSTEM, "cannot read %s: %s", what,
			    strerror(saved));
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	*out = buf;
	*len = used;
	if (used > max) {
		*too_large = true;
		return MH_INVALID;
	}
	return MH_OK;
}

enum mh_status
io_read_some(int fd, void *buf, size_t cap, size_t *n, const char *what,
    struct mh_err *err)
{
	ssize_t got;

	while ((got = read(fd, buf, cap)) == -1 && errno == EINTR)
		;
	if (got == -1) {
		*n = 0;
		return mh_errf(err, MH_SYSTEM, "cannot read %s: %s", what,
		    strerror(errno));
	}
	*n = (size_t)got;
	return MH_OK;
}

enum mh_status
io_write_all(int fd, const void *buf, size_t len, const char *what,
    struct mh_err *err)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return mh_errf(err, MH_SYSTEM, "cannot write %s: %s", what,
			    strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return MH_OK;
}

int64_t
io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long
io_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

void
io_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int64_t
io_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum io_wait
io_wait_readable(int fd, int64_t deadline_ms, const sigset_t *mask)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct timespec ts;
	int64_t left = deadline_ms - io_now_ms();
	int n;

	if (left <= 0)
		return IO_TIMEOUT;
	ts.tv_sec = left / 1000;
	ts.tv_nsec = (left % 1000) * 1000000;
	n = ppoll(&pfd, 1, &ts, mask);
	if (n > 0)
		return IO_READY;	/* POLLIN, POLLHUP or POLLERR: read tells */
	if (n == 0)
		return IO_TIMEOUT;
	return errno == EINTR ? IO_SIGNAL : IO_ERROR;
}

/* Sets fd's SO_RCVTIMEO to ms (> 0: 0 would mean no limit), unless it is
 * that already: one fd per process reads this way (serve's fd 0). */
static bool
set_read_timeout(int fd, int64_t ms)
{
	static int64_t current_ms = -1;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (ms == current_ms)
		return true;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
		return false;
	current_ms = ms;
	return true;
}

enum io_wait
io_read_within(int fd, void *buf, size_t cap, size_t *n, int64_t deadline_ms,
    int slice_ms, const sigset_t *mask)
{
	struct timespec no_wait = { 0, 0 };
	int64_t left = deadline_ms - io_now_ms();
	ssize_t got;

	*n = 0;
	if (left <= 0)
		return IO_TIMEOUT;
	if (!set_read_timeout(fd, left < slice_ms ? left : slice_ms))
		return IO_ERROR;
	if ((got = read(fd, buf, cap)) >= 0) {
		*n = (size_t)got;
		return IO_READY;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return IO_ERROR;
	/* The slice ended (or SIGALRM's handler ran): a pending signal? */
	if (ppoll(NULL, 0, &no_wait, mask) == -1)
		return errno == EINTR ? IO_SIGNAL : IO_ERROR;
	return IO_AGAIN;
}

void
io_bound_writes(int fd, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

enum mh_status
io_writev_deadline(int fd, struct iovec *iov, int iovcnt, int64_t deadline_ms,
    struct mh_err *err)
{
	ssize_t n;

	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		if (io_now_ms() > deadline_ms)
			return mh_errf(err, MH_SYSTEM,
			    "write timed out: the client does not read");
		n = writev(fd, iov, iovcnt);
		if (n == -1 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;	/* SO_SNDTIMEO expired: check the deadline */
		if (n == -1)
			return mh_errf(err, MH_SYSTEM, "write failed: %s",
			    strerror(errno));
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return MH_OK;
}

bool
io_input_waiting(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}
