/*
 * floor-wait.c — the benchmark's floor for `msghash serve` in wait mode:
 * the least a prefork epoll HTTP/1.1 responder can do.  Takes the
 * listening socket as msghash does (fd 3 with LISTEN_FDS=1, as systemd and
 * `systemd-socket-activate` without --accept pass it; else fd 0 if that is
 * a listening socket), forks one worker per CPU (or argv[1] workers), and
 * each worker accepts and serves many connections in one level-triggered
 * epoll loop, the way msghash's workers do: EPOLLEXCLUSIVE on the shared
 * non-blocking listening socket, TCP_NODELAY set on it once, up to 64
 * accepts per wake-up, each new connection answered at once when its
 * request is already there.  Every request head (a Content-Length body is
 * skipped) gets floor.c's fixed small JSON 200; pipelined requests are
 * answered together in one write; HTTP/1.1 keep-alive, "Connection: close"
 * and HTTP/1.0 are honoured as in floor.c.  SIGTERM (or SIGINT, SIGHUP) to
 * the parent stops the workers.  Built static; no store, no parsing beyond
 * what framing needs, no timeouts, no logging.  Not part of msghash.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static const char resp_keep[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 17\r\n\r\n{\"message\":\"foo\"}";
static const char resp_close[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Content-Length: 17\r\nConnection: close\r\n\r\n{\"message\":\"foo\"}";

struct conn {
	int	fd;
	int	events;		/* registered for EPOLLIN, EPOLLOUT or (0) not */
	int	in_body;	/* head seen, `body` bytes of its body to skip */
	int	close;		/* that request asked to close */
	int	closing;	/* close once `out` is written */
	long	body;
	size_t	len, outlen, outoff;
	char	buf[16384];
	char	out[16384];
};

static int ep;

/* Value of header `name` within head[0..n), as a number; 0 if absent. */
static long
header_long(const char *head, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *p = head;

	while ((p = memchr(p, '\n', (size_t)(head + n - p))) != NULL) {
		p++;
		if ((size_t)(head + n - p) > nl && strncasecmp(p, name, nl) == 0)
			return strtol(p + nl, NULL, 10);
	}
	return 0;
}

static int
has_close(const char *head, size_t n)
{
	const char *p;

	for (p = head; p + 17 <= head + n; p++)
		if (strncasecmp(p, "Connection: close", 17) == 0)
			return 1;
	return 0;
}

/* Answer the complete requests in c->buf, as many as c->out holds. */
static void
answer(struct conn *c)
{
	size_t pos = 0;

	while (!c->closing) {
		if (!c->in_body) {
			char *end;
			size_t head;

			if (c->outlen + sizeof resp_close > sizeof c->out ||
			    (end = memmem(c->buf + pos, c->len - pos, "\r\n\r\n",
			    4)) == NULL)
				break;
			head = (size_t)(end + 4 - (c->buf + pos));
			c->body = header_long(c->buf + pos, head,
			    "Content-Length:");
			if (c->body < 0)
				c->body = 0;
			c->close = has_close(c->buf + pos, head) ||
			    memmem(c->buf + pos, head, "HTTP/1.0", 8) != NULL;
			c->in_body = 1;
			pos += head;
		}
		size_t skip = c->len - pos < (size_t)c->body ?
		    c->len - pos : (size_t)c->body;
		pos += skip;
		c->body -= (long)skip;
		if (c->body > 0)
			break;
		c->in_body = 0;
		if (c->close) {
			memcpy(c->out + c->outlen, resp_close, sizeof resp_close - 1);
			c->outlen += sizeof resp_close - 1;
			c->closing = 1;
		} else {
			memcpy(c->out + c->outlen, resp_keep, sizeof resp_keep - 1);
			c->outlen += sizeof resp_keep - 1;
		}
	}
	memmove(c->buf, c->buf + pos, c->len - pos);
	c->len -= pos;
}

static int
want(struct conn *c, int events)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->events == events)
		return 0;
	ev.events = (uint32_t)events;
	if (epoll_ctl(ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
	    &ev) < 0)
		return -1;
	c->events = events;
	return 0;
}

/* Write what is answered, answer what is buffered; -1: close it. */
static int
drive(struct conn *c)
{
	for (;;) {
		answer(c);
		if (c->outlen == 0)
			return want(c, EPOLLIN);
		while (c->outoff < c->outlen) {
			ssize_t w = write(c->fd, c->out + c->outoff,
			    c->outlen - c->outoff);

			if (w < 0)
				return errno == EAGAIN ? want(c, EPOLLOUT) : -1;
			c->outoff += (size_t)w;
		}
		c->outoff = c->outlen = 0;
		if (c->closing)
			return -1;
	}
}

static int
on_input(struct conn *c)
{
	ssize_t r;

	if (c->len == sizeof c->buf)
		return -1;	/* a head larger than the buffer */
	r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
	if (r < 0)
		return errno == EAGAIN ? want(c, EPOLLIN) : -1;
	if (r == 0)
		return -1;
	c->len += (size_t)r;
	return drive(c);
}

/*
 * Accepts what is waiting (at most 64, to leave some to the other workers)
 * and answers each at once if its request is already there: a connection
 * answered and closed at once never enters the epoll set.
 */
static void
on_listener(int lfd)
{
	for (int i = 0; i < 64; i++) {
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;	/* EAGAIN: none left (or another worker's) */
		if ((c = malloc(sizeof *c)) == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->events = c->in_body = c->close = c->closing = 0;
		c->body = 0;
		c->len = c->outlen = c->outoff = 0;
		if (on_input(c) < 0) {
			close(fd);
			free(c);
		}
	}
}

static void __attribute__((noreturn))
worker(int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
	    .data.ptr = NULL };
	struct epoll_event evs[64];

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("floor-wait: epoll");
		_exit(1);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL) {
				on_listener(lfd);
				continue;
			}
			if ((c->events == EPOLLOUT ? drive(c) : on_input(c)) < 0) {
				close(c->fd);	/* also leaves the epoll set */
				free(c);
			}
		}
	}
}

/* The listening socket: fd 3 from LISTEN_FDS=1, else fd 0; -1 if neither. */
static int
listen_fd(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	int fd = 0, yes = 0, one = 1;
	socklen_t len = sizeof yes;

	if (fds != NULL && atoi(fds) == 1 &&
	    (pid == NULL || atol(pid) == (long)getpid()))
		fd = 3;
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) < 0 || !yes)
		return -1;
	/* Workers woken together race for one connection: losers get EAGAIN. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -1;
	/* Accepted sockets inherit it (small answers go out at once). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

int
main(int argc, char **argv)
{
	int lfd = listen_fd(), n = 0, live, sig = 0;
	cpu_set_t cpus;
	sigset_t sigs;
	pid_t parent = getpid(), *kids;

	if (lfd < 0) {
		fprintf(stderr, "floor-wait: no listening socket on fd 3 "
		    "(LISTEN_FDS=1) or fd 0\n");
		return 1;
	}
	if (argc > 1)
		n = atoi(argv[1]);
	else if (sched_getaffinity(0, sizeof cpus, &cpus) == 0)
		n = CPU_COUNT(&cpus);
	if (n < 1)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1 || (kids = calloc((size_t)n, sizeof *kids)) == NULL)
		return 1;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a reset client: write fails EPIPE */
	for (live = 0; live < n; live++) {
		if ((kids[live] = fork()) < 0) {
			perror("floor-wait: fork");
			break;
		}
		if (kids[live] == 0) {
			sigprocmask(SIG_UNBLOCK, &sigs, NULL);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			worker(lfd);
		}
	}
	/* Until told to stop or a worker ends (the floor would be wrong). */
	if (live == n)
		while ((sig = sigwaitinfo(&sigs, NULL)) < 0 && errno == EINTR)
			;
	for (int i = 0; i < live; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return sig == SIGTERM || sig == SIGINT || sig == SIGHUP ? 0 : 1;
}
