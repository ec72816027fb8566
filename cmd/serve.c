/*
 * serve.c — `msghash serve`: HTTP/1.1 on a connection, or on a listening
 * socket.
 *
 * Per-connection mode (inetd nowait, systemd Accept=yes): fd 0/1 is one
 * connection.  Only read(0) and write(1) are used and fd 0 is never assumed
 * to be a socket (DESIGN.md §5), so tests pipe raw bytes in.
 *
 * Wait mode (inetd wait, systemd Accept=no): fd 0, or systemd's fd 3, is a
 * listening socket.  A master forks --workers processes that share it; each
 * accepts and serves many connections in one epoll loop.  The master
 * replaces a worker that dies and, on SIGTERM, lets the workers drain.
 *
 * Both drive the same state machine, lib/conn.c, so framing, limits,
 * timeouts and answers are the same.  SIGTERM & co. are blocked all the
 * time (they never land inside the store) and delivered only while a
 * process waits for I/O, through ppoll's or epoll_pwait's mask.
 */
#include <config.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cmd.h"
#include "conn.h"
#include "http.h"
#include "io.h"
#include "limits.h"
#include "store.h"
#include "banned.h"

enum {
	OPT_HEADER_TIMEOUT,
	OPT_BODY_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_MAX_REQUESTS,
	OPT_WORKERS,
};

static const struct cmd_option serve_options[] = {
	[OPT_HEADER_TIMEOUT] = { "header-timeout", 0, "SEC",
	    "time to receive a request's headers (default 10); then 408" },
	[OPT_BODY_TIMEOUT] = { "body-timeout", 0, "SEC",
	    "time to receive a request's body (default 30); then 408" },
	[OPT_IDLE_TIMEOUT] = { "idle-timeout", 0, "SEC",
	    "close a kept-alive connection idle this long (default 5)" },
	[OPT_WRITE_TIMEOUT] = { "write-timeout", 0, "SEC",
	    "give up on a client that does not read (default 10)" },
	[OPT_MAX_REQUESTS] = { "max-requests", 0, "N",
	    "requests per connection, then close (default 100000)" },
	[OPT_WORKERS] = { "workers", 0, "N",
	    "worker processes in wait mode (default: one per CPU)" },
	{ NULL, 0, NULL, NULL }
};

static struct {
	int	header_ms, body_ms, idle_ms, write_ms;
	long	max_requests;
	int	workers;	/* 0: one per CPU */
} opt = {
	MH_HTTP_HEADER_TIMEOUT_MS, MH_HTTP_BODY_TIMEOUT_MS,
	MH_HTTP_IDLE_TIMEOUT_MS, MH_HTTP_WRITE_TIMEOUT_MS, MH_HTTP_MAX_REQUESTS,
	0
};

/* Set by SIGTERM/SIGINT/HUP: finish the requests in progress, then exit. */
static volatile sig_atomic_t terminating;

/*
 * The access log: stderr, unless stderr is the client's socket.  Several
 * processes share it (wait mode's workers, every process of a journald
 * stream), so a line must reach it whole: lines are gathered in log_buf,
 * at most MH_LOG_WRITE_MAX bytes, and written by one write(2), which a pipe keeps
 * in one piece; stdio would flush its buffer mid-line.
 */
static bool log_enabled;
static int64_t log_flushed;	/* io_now_ms() of the last flush */
static bool log_pending;	/* lines are buffered */
static char log_buf[MH_LOG_WRITE_MAX];
static size_t log_len;

/*
 * What the store watchdog's handler writes before it ends a process that
 * had to give up inside the store: a complete 503 to the client whose
 * request is being answered (conn.h: no response bytes are pending then)
 * and, when stderr is ours, a log line saying why.  Armed around each call
 * into lib/conn.  Exit status 3; in wait mode the master starts another
 * worker at once.
 */
static char last_words[MH_SERVE_LAST_WORDS_MAX];
static volatile sig_atomic_t last_words_len, last_words_fd = 1;
static volatile sig_atomic_t last_words_armed;

static void
serve_watchdog_words(const char *why)
{
	static const char head[] = "msghash serve: ",
	    tail[] = "; answered 503 and gave up\n";
	struct iovec iov[3] = {
		{ (void *)head, sizeof head - 1 },
		{ (void *)why, strlen(why) },
		{ (void *)tail, sizeof tail - 1 },
	};

	if (last_words_armed && last_words_len > 0)
		(void)!write(last_words_fd, last_words, (size_t)last_words_len);
	if (log_enabled)
		(void)!writev(2, iov, 3);
	_exit(status_exit_code(MH_STORE));
}

/* Formats the watchdog's 503, api's answer when the store cannot answer
 * (with this second's Date), then Connection: close. */
static void
prepare_last_words(void)
{
	static time_t prepared;
	struct http_answer a;
	struct http_response h;
	time_t now = time(NULL);
	size_t n;

	if (now == prepared && last_words_len > 0)
		return;		/* same second, same Date */
	prepared = now;
	last_words_len = 0;
	api_unavailable(&a);
	memset(&h, 0, sizeof h);
	h.status = a.status;
	h.content_type = a.content_type;
	h.content_length = a.body_len;
	h.close = true;
	h.retry_after = a.retry_after;
	n = http_format_head(last_words, sizeof last_words, &h, now);
	if (n > 0 && a.body != NULL && a.body_len <= sizeof last_words - n) {
		memcpy(last_words + n, a.body, a.body_len);
		last_words_len = (sig_atomic_t)(n + a.body_len);
	}
	http_answer_free(&a);
}

static void
last_words_arm(int fd)
{
	prepare_last_words();
	last_words_fd = fd;
	last_words_armed = 1;
}

static void
last_words_disarm(void)
{
	last_words_armed = 0;
}

/* ---- options ---- */

/* "0.5", "10" -> milliseconds, within the limits of limits.h. */
static enum mh_status
parse_seconds(const char *name, const char *arg, int *ms, struct mh_err *err)
{
	const double min = MH_HTTP_TIMEOUT_MIN_MS / 1000.0,
	    max = MH_HTTP_TIMEOUT_MAX_MS / 1000.0;
	char *end;
	double sec = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(sec >= min && sec <= max))
		return mh_errf(err, MH_USAGE, "invalid --%s '%s': expected "
		    "seconds between %g and %g", name, arg, min, max);
	*ms = (int)(sec * 1000 + 0.5);
	return MH_OK;
}

static enum mh_status
parse_count(const char *name, const char *arg, long max, long *out,
    struct mh_err *err)
{
	char *end;

	*out = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || *out < 1 || *out > max)
		return mh_errf(err, MH_USAGE, "invalid --%s '%s': expected 1 "
		    "to %ld", name, arg, max);
	return MH_OK;
}

static enum mh_status
serve_option(int index, const char *arg, struct mh_err *err)
{
	enum mh_status status;
	long n;

	switch (index) {
	case OPT_HEADER_TIMEOUT:
		return parse_seconds("header-timeout", arg, &opt.header_ms, err);
	case OPT_BODY_TIMEOUT:
		return parse_seconds("body-timeout", arg, &opt.body_ms, err);
	case OPT_IDLE_TIMEOUT:
		return parse_seconds("idle-timeout", arg, &opt.idle_ms, err);
	case OPT_WRITE_TIMEOUT:
		return parse_seconds("write-timeout", arg, &opt.write_ms, err);
	case OPT_MAX_REQUESTS:
		return parse_count("max-requests", arg,
		    MH_HTTP_MAX_REQUESTS_CEILING, &opt.max_requests, err);
	case OPT_WORKERS:
		status = parse_count("workers", arg, MH_SERVE_WORKERS_MAX, &n,
		    err);
		opt.workers = (int)n;
		return status;
	default:
		return cmd_unknown_option(index, err);
	}
}

/* ---- set-up shared by both modes ---- */

static void
on_terminate(int sig)
{
	(void)sig;
	terminating = 1;
}

/*
 * Installs the SIGTERM/SIGINT/SIGHUP handler, blocks them, and returns in
 * *wait_mask the mask to wait with (the same, with them deliverable).
 */
static void
signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_terminate;	/* no SA_RESTART: interrupt the wait */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGHUP);
}

/* Classic inetd passes the socket as fd 2 too: then we must not log. */
static bool
stderr_is_private(int sock)
{
	struct stat s0, s2;

	if (fstat(2, &s2) == -1)
		return false;
	if (!S_ISSOCK(s2.st_mode))
		return true;
	return fstat(sock, &s0) == -1 || s0.st_ino != s2.st_ino ||
	    s0.st_dev != s2.st_dev;
}

static void
addr_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	snprintf(out, cap, "-");
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    out, (socklen_t)cap);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
		    (socklen_t)cap);
	else if (ss->ss_family == AF_UNIX)
		snprintf(out, cap, "unix");
}

/* getpeername(0), else the variables of tcpserver, socat; else "-". */
static void
peer_name(char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *v;

	snprintf(out, cap, "-");
	if (getpeername(0, (struct sockaddr *)&ss, &sl) == 0) {
		addr_name(&ss, out, cap);
		return;
	}
	if ((v = getenv("REMOTE_ADDR")) != NULL ||
	    (v = getenv("TCPREMOTEIP")) != NULL ||
	    (v = getenv("SOCAT_PEERADDR")) != NULL)
		snprintf(out, cap, "%.*s", (int)cap - 1, v);
}

/* Access log lines are buffered and written at most about once a second
 * under load (nginx's access_log buffer/flush). */
static void
log_write(void)
{
	struct mh_err err;

	if (log_len > 0)
		(void)io_write_all(2, log_buf, log_len, "the log", &err);
	log_len = 0;
	log_pending = false;
}

static void
log_flush(bool force)
{
	int64_t now;

	if (!log_pending)
		return;
	now = io_now_ms();
	if (force || now - log_flushed >= MH_LOG_FLUSH_MS) {
		log_write();
		log_flushed = now;
	}
}

/* Adds one line (cut to fit log_buf) to the log; log_flush writes it. */
static void __attribute__((format(printf, 1, 2)))
log_line(const char *fmt, ...)
{
	char line[MH_LOG_WRITE_MAX];
	va_list ap;
	int n;

	if (!log_enabled)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	if (log_len + (size_t)n > sizeof log_buf)
		log_write();
	memcpy(log_buf + log_len, line, (size_t)n);
	log_len += (size_t)n;
	log_pending = true;
}

/* One access-log line: peer, method, path, status, bytes, microseconds. */
static void
log_request(void *arg, const struct http_request *req, int status,
    size_t bytes, int64_t start_us, const char *detail)
{
	const char *peer = arg;

	if (!log_enabled)
		return;
	log_line("%s %s %.*s %d %zu %lldus%s%s\n", peer,
	    req ? http_method_name(req->method) : "-",
	    req ? (int)(req->path.len > MH_LOG_PATH_MAX ? MH_LOG_PATH_MAX :
	    req->path.len) : 1,
	    req ? req->path.p : "-", status, bytes,
	    (long long)(io_now_us() - start_us), detail[0] ? " " : "", detail);
}

/* ---- the handler: lib/conn.c asks, lib/api.c answers ---- */

static bool
handler_wants_body(void *api, const struct http_request *req)
{
	(void)api;
	return api_wants_body(req);
}

static void
handler_answer(void *api, const struct http_request *req, const char *body,
    size_t body_len, struct http_answer *out)
{
	api_handle(api, req, body, body_len, out);
}

static void
handler_refuse(void *api, int status, const char *msg,
    struct http_answer *out)
{
	(void)api;
	api_error(out, status, msg);
}

static void
config_setup(struct conn_config *cfg, const struct globals *g,
    struct api_ctx *api)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->header_ms = opt.header_ms;
	cfg->body_ms = opt.body_ms;
	cfg->idle_ms = opt.idle_ms;
	cfg->write_ms = opt.write_ms;
	cfg->max_requests = opt.max_requests;
	cfg->body_limit = api_body_limit(g->max_message);
	http_limits_default(&cfg->lim);
	cfg->handler.ctx = api;
	cfg->handler.wants_body = handler_wants_body;
	cfg->handler.answer = handler_answer;
	cfg->handler.refuse = handler_refuse;
	cfg->now_ms = io_now_ms;
	cfg->log = log_request;
}

static void
log_setup(int sock)
{
	log_enabled = stderr_is_private(sock);
}

/*
 * Whether the client may still be sending after the last answer: input
 * the connection did not consume, or (a peek; fails harmlessly on a pipe)
 * input it has not seen yet, such as further pipelined requests.
 */
static bool
client_may_be_sending(const struct conn *c, int fd)
{
	char probe;

	return !c->aborted && (conn_unread_input(c) ||
	    recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0);
}

/* ---- per-connection mode: fd 0 in, fd 1 out ---- */

/* Writes all pending output by the write deadline. */
static void
pipe_write(struct conn *c)
{
	struct iovec iov[2];
	struct mh_err err;
	size_t total = 0;
	int i, n = conn_output(c, iov);

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (io_writev_deadline(1, iov, n, conn_deadline(c), &err) != MH_OK) {
		conn_abort(c);
		return;
	}
	last_words_arm(1);	/* the next pipelined request may be answered */
	conn_sent(c, total, io_now_ms());
	last_words_disarm();
}

/* Waits for input on a pipe (ppoll: SIGTERM is noted, not fatal), reads it. */
static enum io_wait
pipe_wait_read(struct conn *c, char *p, size_t cap, size_t *got,
    const sigset_t *wait_mask)
{
	enum io_wait w = io_wait_readable(0, conn_deadline(c), wait_mask);

	if (w == IO_READY && io_read_some(0, p, cap, got, "the request",
	    NULL) != MH_OK)
		w = IO_ERROR;
	return w;
}

/*
 * Reads what the client sent by the connection's deadline.  On a socket,
 * one blocking read bounded by SO_RCVTIMEO (io_read_within: a system call
 * less per request than ppoll + read); SIGTERM is then noticed within
 * MH_HTTP_SIGNAL_SLICE_MS of an idle wait.
 */
static void
pipe_read(struct conn *c, bool is_socket, const sigset_t *wait_mask)
{
	char *p;
	size_t cap, n;
	enum io_wait w;

	if (terminating)
		conn_shutdown(c);
	if (conn_want(c) != CONN_READ)
		return;
	log_flush(false);
	if (!conn_read_buf(c, &p, &cap)) {
		conn_abort(c);
		return;
	}
	w = is_socket ? io_read_within(0, p, cap, &n, conn_deadline(c),
	    MH_HTTP_SIGNAL_SLICE_MS, wait_mask) :
	    pipe_wait_read(c, p, cap, &n, wait_mask);
	switch (w) {
	case IO_READY:
		break;
	case IO_AGAIN:
	case IO_SIGNAL:
		return;		/* the deadline, conn_shutdown: the next turn */
	case IO_TIMEOUT:
		conn_timeout(c, io_now_ms());
		return;
	default:
		conn_abort(c);
		return;
	}
	last_words_arm(1);
	conn_received(c, n, io_now_ms());
	last_words_disarm();
}

/*
 * Lingering close, as in wait mode (see wconn_linger_read), blocking: a
 * client still sending when we close would get a reset, which can destroy
 * the answer we just gave (say a 413 to a client that sends its whole
 * body before it reads).  Only on a socket: a pipe has no reset.
 */
static void
pipe_linger(const struct conn *c, const sigset_t *wait_mask)
{
	static char sink[MH_IO_CHUNK];
	size_t dropped = 0;
	int64_t until;
	ssize_t n;

	if (!client_may_be_sending(c, 0) || shutdown(1, SHUT_WR) == -1)
		return;
	until = io_now_ms() + MH_HTTP_LINGER_MS;
	while (dropped <= MH_HTTP_LINGER_MAX &&
	    io_wait_readable(0, until, wait_mask) == IO_READY &&
	    (n = read(0, sink, sizeof sink)) > 0)
		dropped += (size_t)n;
}

static void
serve_pipe(const struct conn_config *cfg, char *peer)
{
	struct conn c;
	struct stat sb;
	sigset_t wait_mask;
	bool is_socket = fstat(0, &sb) == 0 && S_ISSOCK(sb.st_mode);

	signals_setup(&wait_mask);
	io_bound_writes(1, cfg->write_ms < MH_HTTP_WRITE_SLICE_MS ?
	    cfg->write_ms : MH_HTTP_WRITE_SLICE_MS);
	conn_init(&c, cfg, peer, io_now_ms());
	while (conn_want(&c) != CONN_DONE) {
		if (conn_want(&c) == CONN_WRITE)
			pipe_write(&c);
		else
			pipe_read(&c, is_socket, &wait_mask);
	}
	pipe_linger(&c, &wait_mask);
	conn_free(&c);
}

/* ---- wait mode: a listening socket, workers, epoll ---- */

/*
 * The listening socket, if we were given one: systemd's (LISTEN_PID is us,
 * LISTEN_FDS=1: fd 3, sd_listen_fds(3)) or inetd wait's (fd 0).  -1 if
 * none; MH_USAGE if systemd passed more than one.
 */
static enum mh_status
listen_socket(int *fd, struct mh_err *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int yes = 0;
	socklen_t len = sizeof yes;

	*fd = -1;
	if (pid != NULL && fds != NULL && strtol(pid, NULL, 10) == getpid()) {
		unsetenv("LISTEN_PID");	/* not for our children */
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		if (strcmp(fds, "1") != 0)
			return mh_errf(err, MH_USAGE, "systemd passed %s "
			    "sockets; serve takes one", fds);
		*fd = 3;
	} else if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) == 0 &&
	    yes)
		*fd = 0;
	return MH_OK;
}

static int
cpu_count(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

/* One connection of a worker. */
struct wconn {
	int		 fd;
	uint32_t	 events;	/* the epoll interest now */
	bool		 held;		/* its answer waits for worker_sync */
	bool		 lingering;	/* answered and shut down: draining */
	int64_t		 linger_until;
	size_t		 lingered;	/* bytes dropped while lingering */
	size_t		 body_held;	/* conn_body_held, as last counted */
	bool		 parked;	/* waits for body memory (unread) */
	struct conn	 c;
	struct wconn	*prev, *next;
	struct wconn	*park_prev, *park_next;
	char		 peer[INET6_ADDRSTRLEN + 8];
};

/*
 * A worker's slot in the memory the master shares with all workers (see
 * Load sharing below).
 */
struct worker_slot {
	int	conns;		/* open connections; -1: no worker here */
	int	listening;	/* lfd is in its epoll set */
	int	kicked;		/* a kick is on its way */
	int	kick_fd;	/* an eventfd in its epoll set */
};

struct worker {
	int			 lfd, ep;
	const struct conn_config *cfg;
	struct api_ctx		*api;
	struct wconn		*conns;	/* all open connections */
	size_t			 nconns;
	size_t			 nheld;	/* answers waiting for worker_sync */
	bool			 draining;
	bool			 listening;	/* lfd is in the epoll set */
	int64_t			 accept_paused_until;	/* 0: not paused */
	/* Request bodies (see Body memory below). */
	size_t			 body_held, body_budget;
	bool			 body_freed;	/* worker_body_resume has work */
	struct wconn		*body_first;	/* may exceed the budget */
	struct wconn		*parked, *parked_tail;	/* oldest first */
	size_t			 nparked;
	struct worker_slot	*slots;	/* shared, nslots of them */
	int			 slot, nslots;
};

static bool
listen_interest(struct worker *w, bool on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;	/* no thundering herd */
	ev.data.ptr = NULL;
	return epoll_ctl(w->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->lfd,
	    on ? &ev : NULL) == 0;
}

/*
 * Load sharing.  EPOLLEXCLUSIVE wakes one worker per arrival, and a burst
 * of keep-alive connections could all land on one (seen: 32 to 0, half
 * the throughput).  So each worker publishes its connection count in its
 * slot, and one with more than MH_SERVE_BALANCE_SLACK connections over the
 * least loaded other one leaves the epoll set of the listening socket.
 *
 * A worker out of the set sleeps until one of its own connections or
 * timers wakes it, so it does not notice when its share comes round: if
 * the least loaded worker is out of the set, whoever finds itself over
 * its share kicks it (an eventfd in its set) to look again.  Either it
 * comes back, or it is itself over the share of a third and kicks that
 * one; as nobody accepts meanwhile, counts only fall, and somebody comes
 * back.  A connection already accepted is served wherever it landed.
 */
static void
loads_publish(struct worker *w)
{
	__atomic_store_n(&w->slots[w->slot].conns, (int)w->nconns,
	    __ATOMIC_RELAXED);
}

/* The slot of the least loaded other worker (-1: none), its count in *n. */
static int
loads_least(const struct worker *w, int *n)
{
	int j, c, least = -1;

	*n = 0;
	for (j = 0; j < w->nslots; j++) {
		if (j == w->slot)
			continue;
		c = __atomic_load_n(&w->slots[j].conns, __ATOMIC_RELAXED);
		if (c >= 0 && (least < 0 || c < *n)) {
			least = j;
			*n = c;
		}
	}
	return least;
}

/*
 * Wakes worker j unless it listens or a kick is on its way.  A worker
 * clears its listening flag before it leaves the set, and reads j's after
 * (sequentially consistent): of two workers leaving at once, the later
 * sees the other's flag clear.
 */
static void
loads_kick(struct worker *w, int j)
{
	struct worker_slot *s = &w->slots[j];
	uint64_t one = 1;

	if (__atomic_load_n(&s->listening, __ATOMIC_SEQ_CST) ||
	    __atomic_exchange_n(&s->kicked, 1, __ATOMIC_SEQ_CST))
		return;
	(void)!write(s->kick_fd, &one, sizeof one);
}

/*
 * This worker was kicked: worker_listen_update looks again.  The eventfd
 * is emptied before the flag is cleared: the other way round, a kick sent
 * in between would be swallowed with the flag left set, and no further
 * kick would be sent.
 */
static void
worker_kicked(struct worker *w)
{
	struct worker_slot *s = &w->slots[w->slot];
	uint64_t n;

	(void)!read(s->kick_fd, &n, sizeof n);
	__atomic_store_n(&s->kicked, 0, __ATOMIC_SEQ_CST);
}

/* Puts lfd in or out of the epoll set, with the shared flag in step. */
static void
worker_listen(struct worker *w, bool on)
{
	int *flag = &w->slots[w->slot].listening;

	if (!on)
		__atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);	/* see loads_kick */
	if (!listen_interest(w, on))
		return;
	w->listening = on;
	if (on)
		__atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
}

/* In the epoll set unless draining, paused, or over its share. */
static void
worker_listen_update(struct worker *w, int64_t now)
{
	int least, n;
	bool fair, want;

	if (w->accept_paused_until != 0 && now >= w->accept_paused_until)
		w->accept_paused_until = 0;
	least = loads_least(w, &n);
	fair = least < 0 || (long)w->nconns <= (long)n + MH_SERVE_BALANCE_SLACK;
	want = !w->draining && w->accept_paused_until == 0 && fair;
	if (want != w->listening)
		worker_listen(w, want);
	if (!fair && !w->draining)
		loads_kick(w, least);
}

static void
worker_pause_accept(struct worker *w)
{
	w->accept_paused_until = io_now_ms() + MH_SERVE_ACCEPT_PAUSE_MS;
	worker_listen_update(w, io_now_ms());
}

/*
 * Body memory.  A worker buffers each request body until it is complete
 * (conn_read_buf), and many slow uploads at once could take any amount
 * of memory.  So it counts the body bytes its connections hold, and once
 * the next read would take that over body_budget, the connection stops
 * being read: it leaves the epoll set (its bytes wait in the kernel's
 * socket buffer, its deadlines still run) and queues until memory is
 * freed.  Bodies already partly read must not wait for each other for
 * ever, so one connection, body_first, may always read on: the first to
 * be stopped, then the longest waiting.
 */
static void
wconn_unpark(struct worker *w, struct wconn *wc)
{
	if (wc->park_prev != NULL)
		wc->park_prev->park_next = wc->park_next;
	else
		w->parked = wc->park_next;
	if (wc->park_next != NULL)
		wc->park_next->park_prev = wc->park_prev;
	else
		w->parked_tail = wc->park_prev;
	wc->park_prev = wc->park_next = NULL;
	wc->parked = false;
	w->nparked--;
}

static void
wconn_park(struct worker *w, struct wconn *wc)
{
	if (wc->events != 0)
		(void)epoll_ctl(w->ep, EPOLL_CTL_DEL, wc->fd, NULL);
	wc->events = 0;		/* wconn_interest adds it back */
	wc->parked = true;
	wc->park_prev = w->parked_tail;
	if (w->parked_tail != NULL)
		w->parked_tail->park_next = wc;
	else
		w->parked = wc;
	w->parked_tail = wc;
	w->nparked++;
}

/* Counts what the connection holds now; notes memory given back. */
static void
wconn_body_count(struct worker *w, struct wconn *wc)
{
	size_t held = conn_body_held(&wc->c);

	if (held < wc->body_held)
		w->body_freed = true;
	w->body_held = w->body_held - wc->body_held + held;
	wc->body_held = held;
	if (w->body_first == wc && !conn_body_pending(&wc->c)) {
		w->body_first = NULL;
		w->body_freed = true;
	}
}

/* Whether the connection may read now (false: it must be parked). */
static bool
wconn_body_room(struct worker *w, struct wconn *wc)
{
	size_t n = conn_body_read_size(&wc->c);

	if (n == 0 || w->body_first == wc ||
	    w->body_held + n <= w->body_budget)
		return true;
	if (w->body_first == NULL && w->parked == NULL) {
		w->body_first = wc;
		return true;
	}
	return false;
}

static void
wconn_close(struct worker *w, struct wconn *wc)
{
	if (wc->parked)
		wconn_unpark(w, wc);
	if (w->body_first == wc) {
		w->body_first = NULL;
		w->body_freed = true;
	}
	if (wc->body_held > 0)
		w->body_freed = true;
	w->body_held -= wc->body_held;
	close(wc->fd);		/* also leaves the epoll set */
	conn_free(&wc->c);
	if (wc->held)
		w->nheld--;
	if (wc->prev != NULL)
		wc->prev->next = wc->next;
	else
		w->conns = wc->next;
	if (wc->next != NULL)
		wc->next->prev = wc->prev;
	w->nconns--;
	free(wc);
	loads_publish(w);
}

static void
wconn_interest(struct worker *w, struct wconn *wc, uint32_t events)
{
	struct epoll_event ev;

	if (wc->events == events)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = wc;
	/* events 0: not in the epoll set yet (see worker_accept) */
	if (epoll_ctl(w->ep, wc->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
	    wc->fd, &ev) == 0)
		wc->events = events;
	else
		conn_abort(&wc->c);
}

/* Writes what it can; false when the socket is full (wait for EPOLLOUT). */
static bool
wconn_write(struct wconn *wc)
{
	struct iovec iov[2];
	int n = conn_output(&wc->c, iov);
	ssize_t k;

	while ((k = writev(wc->fd, iov, n)) == -1 && errno == EINTR)
		;
	if (k < 0) {
		if (errno == EAGAIN)
			return false;
		conn_abort(&wc->c);
		return true;
	}
	last_words_arm(wc->fd);
	conn_sent(&wc->c, (size_t)k, io_now_ms());
	last_words_disarm();
	return true;
}

enum rd { RD_NONE, RD_SOME, RD_ALL };

/*
 * Reads what there is: RD_NONE if nothing (wait for EPOLLIN), RD_SOME if
 * less than the room (the socket is drained: reading again would only say
 * EAGAIN), RD_ALL if it filled the room (there may be more).
 */
static enum rd
wconn_read(struct wconn *wc)
{
	char *p;
	size_t cap;
	ssize_t n;

	if (!conn_read_buf(&wc->c, &p, &cap)) {
		conn_abort(&wc->c);
		return RD_ALL;
	}
	while ((n = read(wc->fd, p, cap)) == -1 && errno == EINTR)
		;
	if (n < 0) {
		if (errno == EAGAIN)
			return RD_NONE;
		conn_abort(&wc->c);
		return RD_ALL;
	}
	last_words_arm(wc->fd);
	conn_received(&wc->c, (size_t)n, io_now_ms());
	last_words_disarm();
	return (size_t)n < cap && n > 0 ? RD_SOME : RD_ALL;
}

/*
 * Lingering close (RFC 9112 §9.6; Apache's lingering_close): after the
 * last answer, if the client may still be sending, shut down our side
 * (the client reads the answer and EOF), drop what still arrives until the
 * client closes, MH_HTTP_LINGER_MS pass or MH_HTTP_LINGER_MAX bytes came,
 * and only then close: closing with unread input resets the connection,
 * which can destroy the answer before the client has read it.  A peek
 * finds input the connection had not seen yet (pipelined requests).
 */
static bool
wconn_linger_read(struct worker *w, struct wconn *wc)
{
	static char sink[MH_IO_CHUNK];
	ssize_t n;

	while ((n = read(wc->fd, sink, sizeof sink)) > 0)
		if ((wc->lingered += (size_t)n) > MH_HTTP_LINGER_MAX)
			break;
	if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
	    wc->lingered <= MH_HTTP_LINGER_MAX)
		return true;	/* nothing more for now: keep waiting */
	wconn_close(w, wc);	/* EOF, an error, or enough */
	return false;
}

/* The connection is done: close it, or linger first (see above). */
static void
wconn_done(struct worker *w, struct wconn *wc)
{
	if (wc->lingering) {
		(void)wconn_linger_read(w, wc);
		return;
	}
	if (!client_may_be_sending(&wc->c, wc->fd)) {
		wconn_close(w, wc);	/* nothing unread: a plain close is clean */
		return;
	}
	shutdown(wc->fd, SHUT_WR);
	wc->lingering = true;
	wc->linger_until = io_now_ms() + MH_HTTP_LINGER_MS;
	if (wconn_linger_read(w, wc))
		wconn_interest(w, wc, EPOLLIN);
}

/*
 * Moves one connection as far as it goes without blocking.  `fresh`: the
 * socket may have unread bytes (just accepted, or EPOLLIN); once a read
 * came back short it is drained, and epoll says when more arrives (level
 * triggered), which saves a read(2) that would fail per request.
 */
static void
wconn_drive(struct worker *w, struct wconn *wc, bool fresh)
{
	if (wc->parked)
		wconn_unpark(w, wc);	/* parked again below if need be */
	for (;;) {
		wconn_body_count(w, wc);
		if (w->draining)
			conn_shutdown(&wc->c);
		switch (conn_want(&wc->c)) {
		case CONN_DONE:
			wconn_done(w, wc);
			return;
		case CONN_WRITE:
			if (api_sync_pending(w->api)) {
				/* after a commit not yet durable: held */
				if (!wc->held)
					w->nheld++;
				wc->held = true;
				return;
			}
			if (!wconn_write(wc)) {
				wconn_interest(w, wc, EPOLLOUT);
				return;
			}
			break;
		case CONN_READ:
			if (!fresh) {
				wconn_interest(w, wc, EPOLLIN);
				return;
			}
			if (!wconn_body_room(w, wc)) {
				wconn_park(w, wc);
				return;
			}
			switch (wconn_read(wc)) {
			case RD_NONE:
				wconn_interest(w, wc, EPOLLIN);
				return;
			case RD_SOME:
				fresh = false;
				break;
			case RD_ALL:
				break;
			}
			break;
		}
	}
}

/*
 * Memory was given back: drive the parked connections, oldest first, each
 * once a round (one parked again goes to the back).
 */
static void
worker_body_resume(struct worker *w)
{
	struct wconn *wc;
	size_t n;

	while (w->body_freed) {
		w->body_freed = false;
		for (n = w->nparked; n > 0 && (wc = w->parked) != NULL; n--) {
			if (w->body_first == NULL)
				w->body_first = wc;
			else if (w->body_held + conn_body_read_size(&wc->c) >
			    w->body_budget)
				break;
			wconn_drive(w, wc, true);	/* unparks it */
		}
	}
}

/* Accepts what is waiting (a bounded batch, to stay fair to the others). */
static void
worker_accept(struct worker *w)
{
	struct sockaddr_storage ss;
	struct wconn *wc;
	socklen_t sl;
	int fd, i;

	for (i = 0; i < MH_SERVE_ACCEPT_BATCH; i++) {
		sl = sizeof ss;
		fd = accept4(w->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			/* EAGAIN: another worker was faster.  Out of
			 * descriptors or memory: the listening socket stays
			 * readable, so stop polling it for a while (the
			 * backlog keeps the connections). */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				worker_pause_accept(w);
			return;
		}
		if ((wc = calloc(1, sizeof *wc)) == NULL) {
			close(fd);
			return;
		}
		wc->fd = fd;
		addr_name(&ss, wc->peer, sizeof wc->peer);
		conn_init(&wc->c, w->cfg, wc->peer, io_now_ms());
		wc->next = w->conns;
		if (w->conns != NULL)
			w->conns->prev = wc;
		w->conns = wc;
		w->nconns++;
		loads_publish(w);
		/* The request is often there already; a connection that is
		 * answered and closed at once never enters the epoll set. */
		wconn_drive(w, wc, true);
	}
}

/* Ends connections whose deadline passed; returns ms to the next one. */
static int
worker_timeouts(struct worker *w)
{
	struct wconn *wc, *next;
	int64_t now = io_now_ms(), first = -1, d;

	for (wc = w->conns; wc != NULL; wc = next) {
		next = wc->next;
		d = wc->lingering ? wc->linger_until : conn_deadline(&wc->c);
		if (d <= now && wc->lingering) {
			wconn_close(w, wc);
			continue;
		}
		if (d <= now) {
			last_words_arm(wc->fd);
			conn_timeout(&wc->c, now);
			last_words_disarm();
			wconn_drive(w, wc, false);
		} else if (first == -1 || d < first)
			first = d;
	}
	if (w->accept_paused_until != 0 &&
	    (first == -1 || w->accept_paused_until < first))
		first = w->accept_paused_until;
	if (log_pending) {
		d = log_flushed + MH_LOG_FLUSH_MS;
		if (first == -1 || d < first)
			first = d > now ? d : now + 1;
	}
	return first == -1 ? -1 : (int)(first - now);
}

/*
 * Group commit.  A worker's puts commit without waiting for the disk
 * (STORE_DEFER_SYNC), and every answer given after one is held
 * (wconn_drive); here, once per turn of the event loop, one log flush makes
 * all of those puts durable and the held answers go out.  Under load many
 * POSTs share one flush, as BDB's group commit shares one across processes;
 * nothing is acknowledged before it is durable.  If the flush fails, the
 * held connections are closed unanswered (clients retry: POST is
 * idempotent).
 */
static void
worker_sync(struct worker *w)
{
	struct wconn *wc, *next;
	struct mh_err err = { MH_OK, "" };
	bool ok;

	while (w->nheld > 0 || api_sync_pending(w->api)) {
		ok = api_sync(w->api, &err) == MH_OK;
		if (!ok)
			log_line("msghash serve: %s; closing the connections "
			    "waiting for it\n", err.msg);
		for (wc = w->conns; wc != NULL; wc = next) {
			next = wc->next;
			if (!wc->held)
				continue;
			wc->held = false;
			w->nheld--;
			if (!ok)
				conn_abort(&wc->c);
			wconn_drive(w, wc, false);
		}
	}
}

/* SIGTERM: stop accepting, finish what is in progress. */
static void
worker_drain(struct worker *w)
{
	struct wconn *wc, *next;

	w->draining = true;
	worker_listen_update(w, io_now_ms());
	close(w->lfd);
	for (wc = w->conns; wc != NULL; wc = next) {
		next = wc->next;
		wconn_drive(w, wc, false);
	}
}

static void
worker_run(struct worker *w, const sigset_t *wait_mask)
{
	struct epoll_event evs[MH_SERVE_EPOLL_EVENTS];
	int i, n, timeout;

	for (;;) {
		if (terminating && !w->draining)
			worker_drain(w);
		if (w->draining && w->nconns == 0)
			return;
		worker_body_resume(w);
		timeout = worker_timeouts(w);
		worker_sync(w);
		worker_listen_update(w, io_now_ms());
		log_flush(false);
		n = epoll_pwait(w->ep, evs, MH_SERVE_EPOLL_EVENTS, timeout,
		    wait_mask);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (!w->draining)
					worker_accept(w);
			} else if (evs[i].data.ptr == w)
				worker_kicked(w);
			else
				wconn_drive(w, evs[i].data.ptr, true);
		}
		worker_sync(w);
	}
}

/* A worker process: its own epoll set, store and connections. */
static int
worker_main(int lfd, const struct conn_config *cfg, struct api_ctx *api,
    pid_t master, struct worker_slot *slots, int slot, int nslots)
{
	struct worker w;
	struct epoll_event ev;
	sigset_t wait_mask;

	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* drain if the master dies */
	signals_setup(&wait_mask);
	sigdelset(&wait_mask, SIGCHLD);
	if (getppid() != master)
		return 0;
	memset(&w, 0, sizeof w);
	w.lfd = lfd;
	w.cfg = cfg;
	w.api = api;
	api->defer_sync = true;		/* see worker_sync */
	w.slots = slots;
	w.slot = slot;
	w.nslots = nslots;
	w.body_budget = MH_SERVE_BODY_BUDGET * cfg->body_limit;
	if ((w.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 3;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &w;	/* see worker_kicked */
	if (epoll_ctl(w.ep, EPOLL_CTL_ADD, slots[slot].kick_fd, &ev) == -1)
		return 3;
	worker_listen_update(&w, io_now_ms());
	if (!w.listening)
		return 3;
	worker_run(&w, &wait_mask);
	log_flush(true);
	api_close(api);
	return 0;
}

/* The master: keeps opt.workers workers running until SIGTERM. */
struct master {
	pid_t		*pids;		/* 0: a free slot */
	int64_t		*started;	/* io_now_ms() of each start */
	struct worker_slot *slots;	/* shared with the workers */
	int		 n, alive;
	int64_t		 respawn_at;	/* 0: none pending */
};

/* A slot for a worker about to start (conns 0), or for none (-1). */
static void
slot_reset(struct worker_slot *s, int conns)
{
	s->conns = conns;
	s->listening = 0;
	s->kicked = 0;
}

/* n slots in memory shared with the children, each with its eventfd. */
static struct worker_slot *
slots_create(int n)
{
	struct worker_slot *slots;
	int i;

	slots = mmap(NULL, (size_t)n * sizeof *slots, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return NULL;
	for (i = 0; i < n; i++) {
		slot_reset(&slots[i], -1);
		slots[i].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (slots[i].kick_fd == -1)
			return NULL;	/* at start-up: the process exits */
	}
	return slots;
}

static pid_t
worker_spawn(const struct master *m, int slot, int lfd,
    const struct conn_config *cfg, struct api_ctx *api)
{
	pid_t master = getpid(), pid;

	log_flush(true);	/* the child must not write our lines again */
	if ((pid = fork()) != 0)
		return pid;
	_exit(worker_main(lfd, cfg, api, master, m->slots, slot, m->n));
}

static void
master_log_death(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_line("msghash serve: worker %ld was killed by signal %d; "
		    "starting another\n", (long)pid, WTERMSIG(status));
	else
		log_line("msghash serve: worker %ld exited with status %d; "
		    "starting another\n", (long)pid, WEXITSTATUS(status));
	log_flush(true);
}

/* Reaps dead workers; schedules replacements unless terminating. */
static void
master_reap(struct master *m)
{
	int status, i;
	pid_t pid;
	int64_t now = io_now_ms();

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->n && m->pids[i] != pid; i++)
			;
		if (i == m->n)
			continue;
		m->pids[i] = 0;
		slot_reset(&m->slots[i], -1);
		m->alive--;
		if (terminating)
			continue;
		master_log_death(pid, status);
		/* A worker that dies at once would die again: back off. */
		m->respawn_at = now - m->started[i] < MH_SERVE_WORKER_YOUNG_MS ?
		    now + MH_SERVE_RESPAWN_BACKOFF_MS : now;
	}
}

static void
master_spawn(struct master *m, int lfd, const struct conn_config *cfg,
    struct api_ctx *api)
{
	int i;
	pid_t pid;

	for (i = 0; i < m->n; i++) {
		if (m->pids[i] != 0)
			continue;
		slot_reset(&m->slots[i], 0);
		if ((pid = worker_spawn(m, i, lfd, cfg, api)) == -1) {
			slot_reset(&m->slots[i], -1);
			break;	/* fork failed: try again later */
		}
		m->pids[i] = pid;
		m->started[i] = io_now_ms();
		m->alive++;
	}
	m->respawn_at = m->alive < m->n ?
	    io_now_ms() + MH_SERVE_RESPAWN_BACKOFF_MS : 0;
}

static enum mh_status
serve_listen(int lfd, const struct conn_config *cfg, struct api_ctx *api,
    struct mh_err *err)
{
	struct master m;
	sigset_t set;
	struct timespec ts;
	int i, sig, flags, one = 1;
	int64_t wait;

	memset(&m, 0, sizeof m);
	m.n = opt.workers > 0 ? opt.workers : cpu_count();
	m.pids = calloc((size_t)m.n, sizeof *m.pids);
	m.started = calloc((size_t)m.n, sizeof *m.started);
	m.slots = slots_create(m.n);
	if (m.pids == NULL || m.started == NULL || m.slots == NULL) {
		free(m.pids);
		free(m.started);
		return mh_errf(err, MH_SYSTEM, "cannot start the workers: %s",
		    strerror(errno));
	}
	if ((flags = fcntl(lfd, F_GETFL)) == -1 ||
	    fcntl(lfd, F_SETFL, flags | O_NONBLOCK) == -1)
		return mh_errf(err, MH_SYSTEM, "cannot use the listening "
		    "socket: %s", strerror(errno));
	/* Accepted sockets inherit it: one answer is one writev, not to be
	 * held back waiting for an ACK. */
	(void)setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* The master only waits for signals: take them synchronously. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	master_spawn(&m, lfd, cfg, api);
	for (;;) {
		if (m.respawn_at != 0 && !terminating) {
			wait = m.respawn_at - io_now_ms();
			if (wait <= 0) {
				master_spawn(&m, lfd, cfg, api);
				continue;
			}
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
			sig = sigtimedwait(&set, NULL, &ts);
		} else
			sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			terminating = 1;
			for (i = 0; i < m.n; i++)
				if (m.pids[i] != 0)
					kill(m.pids[i], SIGTERM);
		}
		master_reap(&m);
		if (terminating && m.alive == 0)
			break;
	}
	close(lfd);
	free(m.pids);
	free(m.started);
	return MH_OK;
}

/* ---- the command ---- */

static enum mh_status
serve_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	struct conn_config cfg;
	struct api_ctx api;
	char peer[INET6_ADDRSTRLEN + 8];
	enum mh_status status;
	int lfd;

	if (argc != 0)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'", argv[0]);
	memset(&api, 0, sizeof api);
	if ((status = cmd_store_dir(g, &api.db_dir, err)) != MH_OK)
		return status;
	if ((status = listen_socket(&lfd, err)) != MH_OK)
		return status;
	/* Typed at a prompt, serve would wait for a request in silence. */
	if (lfd < 0 && isatty(0))
		return mh_errf(err, MH_USAGE, "standard input is a terminal: "
		    "serve answers HTTP on a connection or listening socket "
		    "from inetd or systemd (see 'man msghash', or 'make run' "
		    "in the source tree)");
	api.max_message = g->max_message;
	config_setup(&cfg, g, &api);
	store_set_watchdog_hook(serve_watchdog_words);
	log_setup(lfd >= 0 ? lfd : 0);
	if (lfd >= 0)
		return serve_listen(lfd, &cfg, &api, err);

	peer_name(peer, sizeof peer);
	serve_pipe(&cfg, peer);
	log_flush(true);
	api_close(&api);
	return MH_OK;
}

const struct cmd_entry cmd_serve_entry = {
	.name = "serve",
	.operands = "",
	.summary = "answer HTTP/1.1 on stdin/stdout, or on a listening socket "
	    "(inetd, systemd)",
	.options = serve_options,
	.option = serve_option,
	.exec = serve_exec,
};
