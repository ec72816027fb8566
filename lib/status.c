/*
 * status.c — THE table: status -> exit code, HTTP status, name.
 *
 * The man page's EXIT STATUS section mirrors this table; tests/man.bats and
 * tests/unit/test-status.c check that they agree.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "status.h"
#include "banned.h"

static const struct {
	int		 exit_code;
	int		 http_code;
	const char	*name;
} status_table[MH_STATUS_COUNT] = {
	[MH_OK]		= { 0, 200, "success" },
	[MH_NOTFOUND]	= { 1, 404, "not found" },
	[MH_USAGE]	= { 2, 400, "usage error" },
	[MH_INVALID]	= { 2, 400, "invalid input" },
	[MH_STORE]	= { 3, 503, "store failure" },
	[MH_NOSPACE]	= { 3, 507, "no space" },
	[MH_SYSTEM]	= { 3, 500, "system failure" },
	[MH_NOTMASTER]	= { 4, 307, "not the master" },
	[MH_NOQUORUM]	= { 4, 503, "not replicated" },
};

static enum mh_status
clamp(enum mh_status status)
{
	return ((unsigned)status < MH_STATUS_COUNT) ? status : MH_SYSTEM;
}

enum mh_status
mh_errf(struct mh_err *err, enum mh_status status, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->status = status;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return status;
}

int
status_exit_code(enum mh_status status)
{
	return status_table[clamp(status)].exit_code;
}

int
status_http_code(enum mh_status status)
{
	return status_table[clamp(status)].http_code;
}

const char *
status_name(enum mh_status status)
{
	return status_table[clamp(status)].name;
}
