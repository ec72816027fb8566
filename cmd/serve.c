/*
 * serve.c — `msghash serve`: answer one HTTP/1.1 connection on fd 0/fd 1.
 *
 * inetd, systemd (Accept=yes) or systemd-socket-activate start one process
 * per TCP connection; tests pipe raw bytes in.  So only read(0) and write(1)
 * are used, and fd 0 is never assumed to be a socket (DESIGN.md §5).
 *
 * The loop: wait for a request (idle timeout) -> read and parse the head
 * (header deadline) -> read the body (Content-Length or chunked, body
 * deadline, size limit) -> api_handle -> write the response (write
 * deadline) -> again, until the client closes, asks to close, a framing
 * error, a deadline, or SIGTERM.  After any framing error we answer with
 * Connection: close and close: the stream position is then unknown.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cmd.h"
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
	{ NULL, 0, NULL, NULL }
};

static struct {
	int	header_ms, body_ms, idle_ms, write_ms;
	long	max_requests;
} opt = {
	MH_HTTP_HEADER_TIMEOUT_MS, MH_HTTP_BODY_TIMEOUT_MS,
	MH_HTTP_IDLE_TIMEOUT_MS, MH_HTTP_WRITE_TIMEOUT_MS, MH_HTTP_MAX_REQUESTS
};

/* Set by SIGTERM/SIGINT/SIGHUP: finish the current request, then exit. */
static volatile sig_atomic_t terminating;

/*
 * What the store watchdog's handler writes before it ends a process stuck
 * in the store: a complete 503 for the client (no response bytes of the
 * current request have been written while it is in the store) and, when
 * stderr is ours, a log line.  Prepared before each request.
 */
static char last_words[512];
static volatile sig_atomic_t last_words_len, last_words_log;
static volatile sig_atomic_t last_words_armed;	/* a request is unanswered */

static void
serve_watchdog_words(void)
{
	static const char line[] = "msghash serve: the store did not answer "
	    "in time; answered 503 and gave up\n";

	if (last_words_armed && last_words_len > 0)
		(void)!write(1, last_words, (size_t)last_words_len);
	if (last_words_log)
		(void)!write(2, line, sizeof line - 1);
}

/* Formats the watchdog's 503 (with this second's Date). */
static void
prepare_last_words(void)
{
	static const char body[] =
	    "{\"err_msg\":\"the store is unavailable; try again later\"}";
	static time_t prepared;
	struct http_response h;
	time_t now = time(NULL);
	size_t n;

	if (now == prepared && last_words_len > 0)
		return;		/* same second, same Date */
	prepared = now;
	memset(&h, 0, sizeof h);
	h.status = 503;
	h.content_type = "application/json";
	h.content_length = sizeof body - 1;
	h.close = true;
	h.retry_after = 1;
	last_words_len = 0;
	n = http_format_head(last_words, sizeof last_words - sizeof body, &h,
	    now);
	if (n == 0)
		return;
	memcpy(last_words + n, body, sizeof body - 1);
	last_words_len = (sig_atomic_t)(n + sizeof body - 1);
}

/* One connection. */
struct conn {
	char		*buf;		/* received bytes; buf[off..len) unconsumed */
	size_t		 off, len, cap;
	sigset_t	 wait_mask;	/* signals deliverable while waiting */
	struct api_ctx	 api;
	struct http_limits lim;
	size_t		 body_limit;
	bool		 log;		/* stderr is not the client's socket */
	int64_t		 log_flushed;	/* io_now_ms() of the last log flush */
	char		 peer[INET6_ADDRSTRLEN + 8];
	long		 requests;
};

/* What became of reading a request. */
enum rd {
	RD_OK,
	RD_CLOSE,	/* EOF, idle timeout or shutdown: close silently */
	RD_TIMEOUT,	/* a deadline passed mid-request: 408 and close */
	RD_ERROR,	/* a framing error: its status, and close */
};

/* ---- options ---- */

/* "0.5", "10" -> milliseconds, 1 ms .. 1 hour. */
static enum mh_status
parse_seconds(const char *name, const char *arg, int *ms, struct mh_err *err)
{
	char *end;
	double sec = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(sec >= 0.001 && sec <= 3600))
		return mh_errf(err, MH_USAGE, "invalid --%s '%s': expected "
		    "seconds between 0.001 and 3600", name, arg);
	*ms = (int)(sec * 1000 + 0.5);
	return MH_OK;
}

static enum mh_status
serve_option(int index, const char *arg, struct mh_err *err)
{
	char *end;

	switch (index) {
	case OPT_HEADER_TIMEOUT:
		return parse_seconds("header-timeout", arg, &opt.header_ms, err);
	case OPT_BODY_TIMEOUT:
		return parse_seconds("body-timeout", arg, &opt.body_ms, err);
	case OPT_IDLE_TIMEOUT:
		return parse_seconds("idle-timeout", arg, &opt.idle_ms, err);
	case OPT_WRITE_TIMEOUT:
		return parse_seconds("write-timeout", arg, &opt.write_ms, err);
	default:
		opt.max_requests = strtol(arg, &end, 10);
		if (end == arg || *end != '\0' || opt.max_requests < 1 ||
		    opt.max_requests > 1000000)
			return mh_errf(err, MH_USAGE, "invalid --max-requests "
			    "'%s': expected 1 to 1000000", arg);
		return MH_OK;
	}
}

/* ---- set-up ---- */

static void
on_terminate(int sig)
{
	(void)sig;
	terminating = 1;
}

/*
 * SIGTERM & co. are blocked all the time (so they never land inside the
 * store) and delivered only while we wait for input, through ppoll's mask.
 */
static void
signals_setup(struct conn *c)
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
	sigprocmask(SIG_BLOCK, &set, &c->wait_mask);
	sigdelset(&c->wait_mask, SIGTERM);
	sigdelset(&c->wait_mask, SIGINT);
	sigdelset(&c->wait_mask, SIGHUP);
}

/* Classic inetd passes the socket as fd 2 too: then we must not log. */
static bool
stderr_is_private(void)
{
	struct stat s0, s2;

	if (fstat(2, &s2) == -1)
		return false;
	if (!S_ISSOCK(s2.st_mode))
		return true;
	return fstat(0, &s0) == -1 || s0.st_ino != s2.st_ino ||
	    s0.st_dev != s2.st_dev;
}

/* getpeername(0), else the variables of systemd, tcpserver, socat; else "-". */
static void
peer_name(char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *v;

	snprintf(out, cap, "-");
	if (getpeername(0, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    out, (socklen_t)cap);
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
			    (socklen_t)cap);
		else if (ss.ss_family == AF_UNIX)
			snprintf(out, cap, "unix");
		return;
	}
	if ((v = getenv("REMOTE_ADDR")) != NULL ||
	    (v = getenv("TCPREMOTEIP")) != NULL ||
	    (v = getenv("SOCAT_PEERADDR")) != NULL)
		snprintf(out, cap, "%.*s", (int)cap - 1, v);
}

/* ---- reading ---- */

/* Reads more bytes into c->buf (growing it up to `max`); 0 at EOF. */
static ssize_t
fill(struct conn *c, size_t max)
{
	size_t want;
	char *nbuf;
	ssize_t n;

	if (c->off > 0 && c->cap - c->len < MH_IO_CHUNK) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->cap - c->len < MH_IO_CHUNK && c->cap < max) {
		want = c->cap ? c->cap * 2 : MH_IO_CHUNK;
		if (want > max)
			want = max;
		if ((nbuf = realloc(c->buf, want)) == NULL)
			return -1;
		c->buf = nbuf;
		c->cap = want;
	}
	if (c->len == c->cap)
		return -1;
	while ((n = read(0, c->buf + c->len, c->cap - c->len)) == -1 &&
	    errno == EINTR)
		;
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

/* Access log lines are buffered and written at most about once a second
 * under load (nginx's access_log buffer/flush), at once when idle. */
static void
log_flush(struct conn *c, bool force)
{
	int64_t now;

	if (!c->log)
		return;
	now = io_now_ms();
	if (force || now - c->log_flushed >= 1000) {
		fflush(stderr);
		c->log_flushed = now;
	}
}

/* Waits for input until `deadline`; SIGTERM is noted, not fatal. */
static enum io_wait
wait_input(struct conn *c, int64_t deadline)
{
	enum io_wait w;

	log_flush(c, false);
	while ((w = io_wait_readable(0, deadline, &c->wait_mask)) == IO_SIGNAL)
		if (terminating)
			return IO_SIGNAL;
	return w;
}

/*
 * Reads and parses a request head.  Between requests the idle timeout
 * applies (and SIGTERM ends the connection); from the first byte on, the
 * header deadline.  RFC 9112 §9.5: closing an idle connection is silent.
 */
static enum rd
read_head(struct conn *c, struct http_request *req, size_t *head_len,
    struct http_error *herr)
{
	size_t max = c->lim.header_section_max + MH_IO_CHUNK;
	int64_t deadline;
	ssize_t n;

	if (c->len == c->off) {
		if (terminating ||
		    wait_input(c, io_now_ms() + opt.idle_ms) != IO_READY ||
		    fill(c, max) <= 0)
			return RD_CLOSE;
	}
	deadline = io_now_ms() + opt.header_ms;
	for (;;) {
		n = http_parse_request(c->buf + c->off, c->len - c->off, &c->lim,
		    req, herr);
		if (n > 0) {
			*head_len = (size_t)n;
			return RD_OK;
		}
		if (n == HTTP_PARSE_ERROR)
			return RD_ERROR;
		switch (wait_input(c, deadline)) {
		case IO_READY:
			break;
		case IO_SIGNAL:		/* finish this request first */
			continue;
		case IO_TIMEOUT:
			return RD_TIMEOUT;
		default:
			return RD_CLOSE;
		}
		if ((n = fill(c, max)) <= 0)
			return RD_CLOSE;	/* gone mid-request: nothing to answer */
	}
}

/* Growable body buffer. */
struct body {
	char	*p;
	size_t	 len, cap;
};

static bool
body_reserve(struct body *b, size_t need)
{
	size_t ncap = b->cap ? b->cap : MH_IO_CHUNK;
	char *np;

	if (b->len + need <= b->cap)
		return true;
	while (ncap < b->len + need)
		ncap *= 2;
	if ((np = realloc(b->p, ncap)) == NULL)
		return false;
	b->p = np;
	b->cap = ncap;
	return true;
}

/*
 * Moves up to `want` received bytes from c->buf[*from...] into b; when none
 * are left, reads more from fd 0 straight into b.  Returns bytes added, 0
 * at EOF, -1 on timeout/error.
 */
static ssize_t
body_take(struct conn *c, size_t *from, struct body *b, size_t want,
    int64_t deadline)
{
	size_t avail = c->len - *from;	/* *from indexes c->buf */
	ssize_t n;

	if (!body_reserve(b, want))
		return -1;
	if (avail > 0) {
		if (avail > want)
			avail = want;
		memcpy(b->p + b->len, c->buf + *from, avail);
		*from += avail;
		b->len += avail;
		return (ssize_t)avail;
	}
	for (;;) {
		enum io_wait w = wait_input(c, deadline);

		if (w == IO_SIGNAL)
			continue;
		if (w != IO_READY)
			return -1;
		while ((n = read(0, b->p + b->len, want)) == -1 &&
		    errno == EINTR)
			;
		if (n > 0)
			b->len += (size_t)n;
		return n;
	}
}

/* A Content-Length body: exactly `length` bytes. */
static enum rd
read_body_length(struct conn *c, size_t *from, uint64_t length,
    struct body *b)
{
	int64_t deadline = io_now_ms() + opt.body_ms;
	ssize_t n;

	while (b->len < length) {
		size_t want = length - b->len;

		if (want > MH_IO_CHUNK * 4)
			want = MH_IO_CHUNK * 4;
		if ((n = body_take(c, from, b, want, deadline)) == 0)
			return RD_CLOSE;
		if (n < 0)
			return io_now_ms() >= deadline ? RD_TIMEOUT : RD_CLOSE;
	}
	return RD_OK;
}

/*
 * A chunked body (RFC 9112 §7.1), decoded in place chunk by chunk.  Bytes
 * after the last chunk belong to the next request: they go to *carry.
 */
static enum rd
read_body_chunked(struct conn *c, size_t *from, struct body *b,
    struct body *carry, struct http_error *herr)
{
	struct http_chunked dec;
	int64_t deadline = io_now_ms() + opt.body_ms;
	size_t decoded = 0, raw;
	ssize_t n, rest;

	memset(&dec, 0, sizeof dec);
	for (;;) {
		size_t before = *from;

		if ((n = body_take(c, from, b, MH_IO_CHUNK, deadline)) == 0)
			return RD_CLOSE;
		if (n < 0)
			return io_now_ms() >= deadline ? RD_TIMEOUT : RD_CLOSE;
		raw = b->len - decoded;
		rest = http_chunked_decode(&dec, b->p + decoded, &raw, &c->lim,
		    herr);
		if (rest == HTTP_PARSE_ERROR)
			return RD_ERROR;
		if (rest > 0 && *from != before)
			*from -= (size_t)rest;	/* still in c->buf: un-take */
		else if (rest > 0) {
			/* Read fresh, after everything in c->buf: carry over. */
			if (!body_reserve(carry, (size_t)rest))
				return RD_CLOSE;
			memcpy(carry->p, b->p + decoded + raw, (size_t)rest);
			carry->len = (size_t)rest;
		}
		decoded += raw;
		b->len = decoded;
		if (decoded > c->body_limit) {
			herr->status = 413;
			herr->msg = "the request body is over the size limit";
			return RD_ERROR;
		}
		if (rest >= 0)
			return RD_OK;
	}
}

/* ---- writing ---- */

/* Writes status line, headers and (unless HEAD) body; false if it failed. */
static bool
send_response(const struct http_request *req,
    const struct api_response *resp, bool close, bool head_only)
{
	struct http_response h;
	struct iovec iov[2];
	struct mh_err err;
	char head[1024];
	size_t hlen;

	last_words_armed = 0;	/* answered: a 503 after this would be garbage */
	memset(&h, 0, sizeof h);
	h.status = resp->status;
	h.content_type = resp->content_type;
	h.content_length = resp->body_len;
	h.close = close;
	h.keep_alive_header = !close && req != NULL && req->version_minor == 0;
	h.location = resp->location[0] != '\0' ? resp->location : NULL;
	h.allow = resp->allow;
	h.retry_after = resp->retry_after;
	if ((hlen = http_format_head(head, sizeof head, &h, time(NULL))) == 0)
		return false;
	iov[0].iov_base = head;
	iov[0].iov_len = hlen;
	iov[1].iov_base = resp->body;
	iov[1].iov_len = head_only || resp->status == 204 ? 0 : resp->body_len;
	return io_writev_deadline(1, iov, 2, io_now_ms() + opt.write_ms,
	    &err) == MH_OK;
}

static bool
send_continue(void)
{
	static char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct iovec iov = { line, sizeof line - 1 };
	struct mh_err err;

	return io_writev_deadline(1, &iov, 1, io_now_ms() + opt.write_ms,
	    &err) == MH_OK;
}

/* One access-log line: peer, method, path, status, bytes, microseconds. */
static void
log_request(struct conn *c, const struct http_request *req, int status,
    size_t bytes, int64_t start_us)
{
	struct timespec ts;
	int64_t now_us;

	if (!c->log)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	fprintf(stderr, "%s %s %.*s %d %zu %lldus%s%s\n", c->peer,
	    req ? http_method_name(req->method) : "-",
	    req ? (int)(req->path.len > 200 ? 200 : req->path.len) : 1,
	    req ? req->path.p : "-", status, bytes,
	    (long long)(now_us - start_us), c->api.detail[0] ? " " : "",
	    c->api.detail);
	c->api.detail[0] = '\0';
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Answers an error that ends the connection. */
static void
fail_and_close(struct conn *c, const struct http_request *req, int status,
    const char *msg, int64_t start)
{
	struct api_response resp;

	api_error(&resp, status, msg);
	send_response(req, &resp, true, false);
	log_request(c, req, status, resp.body_len, start);
	api_response_free(&resp);
}

/* ---- one request ---- */

/*
 * Reads the body the head announced.  Returns RD_OK with the body in *b,
 * or how the connection ends; *status and *msg say what to answer.
 */
static enum rd
read_body(struct conn *c, const struct http_request *req, size_t *from,
    struct body *b, struct body *carry, struct http_error *herr)
{
	bool has_body = req->chunked ||
	    (req->has_content_length && req->content_length > 0);

	if (req->has_content_length && req->content_length > c->body_limit) {
		herr->status = 413;	/* at once, before any 100 (RFC 9110 §10.1.1) */
		herr->msg = "the request body is over the size limit";
		return RD_ERROR;
	}
	if (!has_body)
		return RD_OK;
	if (req->expect_continue && !api_wants_body(req)) {
		herr->status = 0;	/* answer without the body, then close */
		return RD_ERROR;
	}
	if (req->expect_continue && !send_continue())
		return RD_CLOSE;
	if (req->chunked)
		return read_body_chunked(c, from, b, carry, herr);
	return read_body_length(c, from, req->content_length, b);
}

/* Drops the consumed bytes of c->buf and appends the carried-over ones. */
static bool
conn_advance(struct conn *c, size_t consumed_to, const struct body *carry)
{
	c->off = consumed_to;
	if (c->off == c->len)
		c->off = c->len = 0;
	if (carry->len == 0)
		return true;
	if (c->len + carry->len > c->cap) {
		char *nbuf = realloc(c->buf, c->len + carry->len);

		if (nbuf == NULL)
			return false;
		c->buf = nbuf;
		c->cap = c->len + carry->len;
	}
	memcpy(c->buf + c->len, carry->p, carry->len);
	c->len += carry->len;
	return true;
}

/* Serves one request; false when the connection must end. */
static bool
serve_one(struct conn *c)
{
	struct http_request req;
	struct http_error herr = { 400, "bad request" };
	struct api_response resp;
	struct body b = { NULL, 0, 0 }, carry = { NULL, 0, 0 };
	size_t head_len = 0, from;
	int64_t start = now_us();
	enum rd rd;
	bool close, ok;

	rd = read_head(c, &req, &head_len, &herr);
	if (rd == RD_TIMEOUT)
		fail_and_close(c, NULL, 408, "timed out reading the request "
		    "headers", start);
	else if (rd == RD_ERROR)
		fail_and_close(c, NULL, herr.status, herr.msg, start);
	if (rd != RD_OK)
		return false;

	from = c->off + head_len;
	prepare_last_words();
	last_words_armed = 1;
	if (api_wants_body(&req) && !req.chunked && !req.has_content_length) {
		/* RFC 9110 §15.5.12: no body was sent, so the stream is intact. */
		api_error(&resp, 411, "a POST needs a Content-Length or "
		    "Transfer-Encoding: chunked body");
		rd = RD_OK;
	} else {
		rd = read_body(c, &req, &from, &b, &carry, &herr);
		if (rd == RD_OK)
			api_handle(&c->api, &req, b.p, b.len, &resp);
		else if (rd == RD_ERROR && herr.status == 0)
			api_handle(&c->api, &req, NULL, 0, &resp);
	}
	if (rd == RD_TIMEOUT)
		fail_and_close(c, &req, 408, "timed out reading the request body",
		    start);
	else if (rd == RD_ERROR && herr.status != 0)
		fail_and_close(c, &req, herr.status, herr.msg, start);
	if (rd != RD_OK && !(rd == RD_ERROR && herr.status == 0)) {
		free(b.p);
		free(carry.p);
		return false;
	}

	close = rd != RD_OK || !req.keep_alive || terminating ||
	    ++c->requests >= opt.max_requests;
	ok = send_response(&req, &resp, close, req.method == HTTP_HEAD);
	log_request(c, &req, resp.status, resp.body_len, start);
	api_response_free(&resp);
	if (ok && !close)
		ok = conn_advance(c, from, &carry);
	free(b.p);
	free(carry.p);
	return ok && !close;
}

static enum mh_status
serve_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	struct conn c;
	enum mh_status status;

	if (argc != 0)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'", argv[0]);
	memset(&c, 0, sizeof c);
	if ((status = cmd_store_dir(g, &c.api.db_dir, err)) != MH_OK)
		return status;
	c.api.max_message = g->max_message;
	c.body_limit = api_body_limit(g->max_message);
	http_limits_default(&c.lim);
	c.log = stderr_is_private();
	if (c.log)
		setvbuf(stderr, NULL, _IOFBF, 16384);
	peer_name(c.peer, sizeof c.peer);
	signals_setup(&c);
	last_words_log = c.log;
	store_set_watchdog_hook(serve_watchdog_words);
	io_bound_writes(1, opt.write_ms < 1000 ? opt.write_ms : 1000);

	while (serve_one(&c))
		;
	log_flush(&c, true);
	api_close(&c.api);
	free(c.buf);
	return MH_OK;
}

const struct cmd_entry cmd_serve_entry = {
	.name = "serve",
	.operands = "",
	.summary = "answer one HTTP/1.1 connection on stdin/stdout (inetd, "
	    "systemd)",
	.options = serve_options,
	.option = serve_option,
	.exec = serve_exec,
};
