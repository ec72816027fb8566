/*
 * io.c — read and write loops: EINTR and short counts handled once.
 */
#include <config.h>

#include <errno.h>
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
