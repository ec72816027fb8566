/*
 * serve.c — `msghash serve`: HTTP/1.1 on one connection (per-connection
 * mode, serve-per-connection.c) or on a listening socket (wait mode,
 * serve-wait.c).
 *
 * This file is the command: its options, the set-up both modes share
 * (the stop signals, the connection's configuration with lib/api.c as
 * its handler), the access log, and the last words the store watchdog
 * writes when it gives up.  It decides the mode from fd 0 and the
 * environment.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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
#include "guard.h"
#include "http.h"
#include "io.h"
#include "limits.h"
#include "serve.h"
#include "store.h"
#include "banned.h"

/* ---- options ---- */

enum {
	OPT_HEADER_TIMEOUT,
	OPT_BODY_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_MAX_REQUESTS,
	OPT_WORKERS,
	OPT_SITE,
	OPT_GROUP,
	OPT_URL,
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
	[OPT_SITE] = { "site", 0, "HOST:PORT",
	    "join a replication group at this address (MSGHASH_SITE)" },
	[OPT_GROUP] = { "group", 0, "LIST",
	    "the group's sites, this one too; the first creates it "
	    "(MSGHASH_GROUP)" },
	[OPT_URL] = { "url", 0, "URL",
	    "this node's URL in redirects (MSGHASH_URL; default from --site)" },
	{ NULL, 0, NULL, NULL }
};

static struct {
	int	header_ms, body_ms, idle_ms, write_ms;
	long	max_requests;
	int	workers;	/* 0: one per CPU */
	const char *site, *group, *url;	/* NULL: from the environment */
} opt = {
	MH_HTTP_HEADER_TIMEOUT_MS, MH_HTTP_BODY_TIMEOUT_MS,
	MH_HTTP_IDLE_TIMEOUT_MS, MH_HTTP_WRITE_TIMEOUT_MS, MH_HTTP_MAX_REQUESTS,
	0, NULL, NULL, NULL
};

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
	case OPT_SITE:
		opt.site = arg;
		return store_group_check("site", arg, err);
	case OPT_GROUP:
		opt.group = arg;
		return store_group_check("group", arg, err);
	case OPT_URL:
		opt.url = arg;
		return store_group_check("url", arg, err);
	default:
		return cmd_unknown_option(index, err);
	}
}

/* ---- the stop signals ---- */

volatile sig_atomic_t serve_terminating;

static void
on_terminate(int sig)
{
	(void)sig;
	serve_terminating = 1;
}

void
serve_signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t stop;
	int sig;

	guard_stop_signals(&stop);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_terminate;	/* no SA_RESTART: interrupt the wait */
	sigemptyset(&sa.sa_mask);
	sigprocmask(SIG_BLOCK, &stop, wait_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&stop, sig) == 1) {
			sigaction(sig, &sa, NULL);
			sigdelset(wait_mask, sig);
		}
}

/* ---- the access log ---- */

/*
 * The access log: stderr, unless stderr is the client's socket.  Several
 * processes share it (wait mode's workers, every process of a journald
 * stream), so a line must reach it whole: lines are gathered in log_buf,
 * at most MH_LOG_WRITE_MAX bytes, and written by one write(2), which a
 * pipe keeps in one piece; stdio would flush its buffer mid-line.
 */
static bool log_enabled;
static int64_t log_flushed;	/* io_now_ms() of the last flush */
static bool log_pending;	/* lines are buffered */
static char log_buf[MH_LOG_WRITE_MAX];
static size_t log_len;

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
log_setup(int sock)
{
	log_enabled = stderr_is_private(sock);
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

void
serve_log_flush(bool force)
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

int64_t
serve_log_due(void)
{
	return log_pending ? log_flushed + MH_LOG_FLUSH_MS : -1;
}

/* Cut to fit log_buf if need be. */
void
serve_log_line(const char *fmt, ...)
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
	serve_log_line("%s %s %.*s %d %zu %lldus%s%s\n", peer,
	    req ? http_method_name(req->method) : "-",
	    req ? (int)(req->path.len > MH_LOG_PATH_MAX ? MH_LOG_PATH_MAX :
	    req->path.len) : 1,
	    req ? req->path.p : "-", status, bytes,
	    (long long)(io_now_us() - start_us), detail[0] ? " " : "", detail);
}

/* ---- the last words ---- */

/*
 * What the store watchdog's handler writes before it ends a process that
 * had to give up inside the store: a complete 503 to the client whose
 * request is being answered (conn.h: no response bytes are pending then)
 * and, when stderr is ours, a log line saying why.  Armed around each call
 * into lib/conn.  Exit status 3; in wait mode the master starts another
 * worker at once.
 */
static char last_words[MH_SERVE_LAST_WORDS_MAX];
static volatile sig_atomic_t last_words_len;
/* The clients waiting: one, or a wait-mode worker's batch of POSTs. */
static int last_words_fds[MH_STORE_BATCH_MAX];
static volatile sig_atomic_t last_words_nfds;
/* Connections between requests, by fd (serve_last_words_idle). */
static volatile unsigned char last_words_idle[MH_SERVE_LAST_WORDS_FDS];
static volatile sig_atomic_t last_words_idle_end;	/* highest fd + 1 */

/*
 * An idle connection whose next request is in the socket: read it away
 * (closing a socket with unread bytes sends a reset, which may destroy the
 * answer before the client reads it), then answer it.  Signal-safe.
 */
static void
last_words_to_waiting(int fd)
{
	static char sink[4096];
	int i;

	if (!io_input_waiting(fd))
		return;
	for (i = 0; i < 64 && read(fd, sink, sizeof sink) > 0; i++)
		;
	(void)!write(fd, last_words, (size_t)last_words_len);
}

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

	sig_atomic_t i;

	for (i = 0; i < last_words_nfds && last_words_len > 0; i++)
		(void)!write(last_words_fds[i], last_words,
		    (size_t)last_words_len);
	for (i = 0; i < last_words_idle_end && last_words_len > 0; i++)
		if (last_words_idle[i])
			last_words_to_waiting(i);
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

void
serve_last_words_arm(int fd)
{
	serve_last_words_arm_batch(&fd, 1);
}

void
serve_last_words_arm_batch(const int *fds, size_t n)
{
	size_t i;

	prepare_last_words();
	last_words_nfds = 0;
	for (i = 0; i < n && i < MH_STORE_BATCH_MAX; i++)
		last_words_fds[i] = fds[i];
	last_words_nfds = (sig_atomic_t)i;
}

void
serve_last_words_disarm(void)
{
	last_words_nfds = 0;
}

void
serve_last_words_idle(int fd, bool idle)
{
	if (fd < 0 || fd >= MH_SERVE_LAST_WORDS_FDS)
		return;
	last_words_idle[fd] = idle;
	if (idle && fd >= last_words_idle_end)
		last_words_idle_end = fd + 1;
}

/* ---- connections: lib/conn.c asks, lib/api.c answers ---- */

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

/* The connections' configuration, the same in both modes: the options,
 * the limits, api as the handler, the clock and the access log. */
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

void
serve_addr_name(const struct sockaddr_storage *ss, char *out, size_t cap)
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

/*
 * Whether the client may still be sending after the last answer: input
 * the connection did not consume, or (a peek; fails harmlessly on a pipe)
 * input it has not seen yet, such as further pipelined requests.
 */
bool
serve_client_may_be_sending(const struct conn *c, int fd)
{
	char probe;

	return !c->aborted && (conn_unread_input(c) ||
	    recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0);
}

/* ---- the command ---- */

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

/* An option, else its environment variable; empty counts as unset. */
static const char *
option_or_env(const char *value, const char *name)
{
	if (value == NULL)
		value = getenv(name);
	return value != NULL && value[0] != '\0' ? value : NULL;
}

/*
 * A group node (--site, --group): its settings go into the store, which
 * then is one (store_group_setup).  Only in wait mode: the replication
 * process is a child of serve's master, and it must live on.
 */
static enum mh_status
group_setup(struct store_group_config *gc, bool *grouped, int lfd,
    const char *dir, struct mh_err *err)
{
	const char *site = option_or_env(opt.site, "MSGHASH_SITE"),
	    *group = option_or_env(opt.group, "MSGHASH_GROUP"),
	    *url = option_or_env(opt.url, "MSGHASH_URL");
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int port = 0;
	enum mh_status status;

	*grouped = site != NULL || group != NULL;
	if (!*grouped)
		return MH_OK;
	if (lfd < 0)
		return mh_errf(err, MH_USAGE, "a group node serves a listening "
		    "socket (wait mode: systemd Accept=no, inetd wait), not "
		    "one connection");
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	if ((status = store_group_parse(gc, site, group, url, port, err)) !=
	    MH_OK)
		return status;
	return store_group_setup(dir, gc, err);
}

static enum mh_status
serve_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	struct store_group_config group;
	bool grouped;
	struct conn_config cfg;
	struct api_ctx api;
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
	if ((status = group_setup(&group, &grouped, lfd, api.db_dir, err)) !=
	    MH_OK)
		return status;
	api.max_message = g->max_message;
	config_setup(&cfg, g, &api);
	store_set_watchdog_hook(serve_watchdog_words);
	log_setup(lfd >= 0 ? lfd : 0);
	if (lfd >= 0)
		return serve_wait(lfd, &cfg, &api, opt.workers,
		    grouped ? &group : NULL, err);
	serve_per_connection(&cfg);
	serve_log_flush(true);
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
