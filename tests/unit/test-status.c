/*
 * test-status.c — the status table has a row for every status, and its exit
 * codes are the documented ones (DESIGN.md §3, msghash(1) EXIT STATUS).
 */
#include <config.h>

#include <string.h>

#include "status.h"
#include "tap.h"

int
main(void)
{
	static const int want_exit[MH_STATUS_COUNT] = {
		[MH_OK] = 0, [MH_NOTFOUND] = 1, [MH_USAGE] = 2,
		[MH_INVALID] = 2, [MH_STORE] = 3, [MH_NOSPACE] = 3,
		[MH_SYSTEM] = 3, [MH_NOTMASTER] = 4, [MH_NOQUORUM] = 4,
	};
	static const int want_http[MH_STATUS_COUNT] = {
		[MH_OK] = 200, [MH_NOTFOUND] = 404, [MH_USAGE] = 400,
		[MH_INVALID] = 400, [MH_STORE] = 503, [MH_NOSPACE] = 507,
		[MH_SYSTEM] = 500, [MH_NOTMASTER] = 307, [MH_NOQUORUM] = 503,
	};
	struct mh_err err;
	int s;

	for (s = 0; s < MH_STATUS_COUNT; s++) {
		ok(status_name(s) != NULL && status_name(s)[0] != '\0',
		    "status %d has a name", s);
		is_int(status_exit_code(s), want_exit[s], status_name(s));
		is_int(status_http_code(s), want_http[s], status_name(s));
	}
	is_int(status_exit_code(MH_STATUS_COUNT + 5), 3,
	    "an out-of-range status is a system failure");
	is_int(mh_errf(&err, MH_NOTFOUND, "no message with digest '%s'", "ab"),
	    MH_NOTFOUND, "mh_errf returns its status");
	is_str(err.msg, "no message with digest 'ab'", "mh_errf formats");
	is_int(err.status, MH_NOTFOUND, "mh_errf records the status");
	return done_testing();
}
