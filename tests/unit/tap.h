/*
 * tap.h — a tiny TAP emitter for the C unit tests (picohttpparser's test.c
 * style).  Header-only: each test program includes it once.
 *
 *	ok(cond, "name %d", i);  is_int(got, want, "name");  done_testing();
 *
 * The plan is printed at the end ("1..N"), which tap-driver.sh accepts.
 * done_testing() returns the exit status: 0 when every test passed and at
 * least one ran.
 */
#ifndef MH_TAP_H
#define MH_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

__attribute__((unused)) static int
is_int(long long got, long long want, const char *name)
{
	if (!ok(got == want, "%s", name))
		printf("#   got %lld, want %lld\n", got, want);
	return got == want;
}

__attribute__((unused)) static int
is_str(const char *got, const char *want, const char *name)
{
	int same = got != NULL && want != NULL && strcmp(got, want) == 0;

	if (!ok(same, "%s", name))
		printf("#   got '%s', want '%s'\n", got ? got : "(null)",
		    want ? want : "(null)");
	return same;
}

__attribute__((format(printf, 1, 2), unused)) static void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

__attribute__((unused)) static int
done_testing(void)
{
	printf("1..%d\n", tap_run);
	fflush(stdout);		/* a sanitizer's exit would not flush it */
	return (tap_failed == 0 && tap_run > 0) ? 0 : 1;
}

#endif /* MH_TAP_H */
