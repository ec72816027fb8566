/*
 * io.h — read and write loops over file descriptors: short counts and EINTR
 * handled once, here.
 */
#ifndef MH_IO_H
#define MH_IO_H

#include <stdbool.h>
#include <stddef.h>

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

#endif /* MH_IO_H */
