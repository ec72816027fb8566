/*
 * test-io.c — io_read_within, the per-connection socket read: data, end of
 * file, the deadline (in slices shorter than it), and a signal blocked
 * outside the wait that arrives during it; and the two clocks agree.
 */
#include <config.h>

#include <sys/socket.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "tap.h"

static volatile sig_atomic_t got_signal;

/* io_now_us is io_now_ms's clock, in finer steps. */
static void
test_clocks(void)
{
	int64_t ms0, us, ms1, us2;

	ms0 = io_now_ms();
	us = io_now_us();
	ms1 = io_now_ms();
	ok(us / 1000 >= ms0 && us / 1000 <= ms1,
	    "io_now_us / 1000 lies between two io_now_ms readings");
	usleep(2000);
	us2 = io_now_us();
	ok(us2 - us >= 2000,
	    "io_now_us: 2 ms of sleep advance it by 2000 us or more");
}

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

int
main(void)
{
	struct sigaction sa;
	sigset_t blocked, wait_mask;
	char buf[64];
	size_t n = 99;
	int sv[2], again = 0;
	int64_t t0, deadline;
	enum io_wait w;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigprocmask(SIG_BLOCK, &blocked, &wait_mask);	/* as serve does */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;

	ok(write(sv[1], "hello", 5) == 5, "the peer writes");
	w = io_read_within(sv[0], buf, sizeof buf, &n, io_now_ms() + 1000, 250,
	    &wait_mask);
	is_int(w, IO_READY, "data: ready");
	is_int((long long)n, 5, "data: all of it in one read");

	/* Nothing sent: slices of 20 ms end in IO_AGAIN until the deadline. */
	t0 = io_now_ms();
	deadline = t0 + 200;
	while ((w = io_read_within(sv[0], buf, sizeof buf, &n, deadline, 20,
	    &wait_mask)) == IO_AGAIN)
		again++;
	is_int(w, IO_TIMEOUT, "silence: the deadline ends the wait");
	ok(again >= 2, "silence: in slices (%d of them)", again);
	ok(io_now_ms() - t0 >= 200, "silence: not before the deadline (%lld ms)",
	    (long long)(io_now_ms() - t0));
	ok(io_now_ms() - t0 < 2000, "silence: soon after it");

	/* A signal blocked everywhere but in the wait's mask is let in at the
	 * end of the slice it arrives in. */
	kill(getpid(), SIGUSR1);
	ok(!got_signal, "the signal is blocked outside the wait");
	t0 = io_now_ms();
	w = io_read_within(sv[0], buf, sizeof buf, &n, t0 + 10000, 50,
	    &wait_mask);
	is_int(w, IO_SIGNAL, "signal: reported");
	ok(got_signal, "signal: its handler ran");
	ok(io_now_ms() - t0 < 2000, "signal: within a slice, not at the deadline");

	close(sv[1]);
	w = io_read_within(sv[0], buf, sizeof buf, &n, io_now_ms() + 1000, 250,
	    &wait_mask);
	is_int(w, IO_READY, "end of file: ready");
	is_int((long long)n, 0, "end of file: 0 bytes");

	is_int(io_read_within(sv[0], buf, sizeof buf, &n, io_now_ms() - 1, 250,
	    &wait_mask), IO_TIMEOUT, "a deadline already past: no read");
	close(sv[0]);
	test_clocks();
	return done_testing();
}
