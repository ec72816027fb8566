/*
 * serve-per-connection.c — `msghash serve` in per-connection mode (inetd
 * nowait, systemd Accept=yes): fd 0/1 is one connection, served until it
 * ends, then the process exits.
 *
 * Only read(0) and write(1) are used and fd 0 is never assumed to be a
 * socket (DESIGN.md §5), so tests pipe raw bytes in.  Reads and writes
 * block under the connection's deadlines; the stop signals are let in
 * only while a read waits.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "limits.h"
#include "serve.h"
#include "banned.h"

/* getpeername(0), else the variables of tcpserver, socat; else "-". */
static void
peer_name(char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *v;

	snprintf(out, cap, "-");
	if (getpeername(0, (struct sockaddr *)&ss, &sl) == 0) {
		serve_addr_name(&ss, out, cap);
		return;
	}
	if ((v = getenv("REMOTE_ADDR")) != NULL ||
	    (v = getenv("TCPREMOTEIP")) != NULL ||
	    (v = getenv("SOCAT_PEERADDR")) != NULL)
		snprintf(out, cap, "%.*s", (int)cap - 1, v);
}

/* Writes all pending output by the write deadline. */
static void
per_connection_write(struct conn *c)
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
	/* conn_sent may answer the next pipelined request */
	serve_last_words_arm(1);
	conn_sent(c, total, io_now_ms());
	serve_last_words_disarm();
}

/* Waits for input on fd 0 when it is not a socket (a pipe, say): ppoll,
 * so that a stop signal is noted, not fatal; then reads it. */
static enum io_wait
per_connection_poll_read(struct conn *c, char *p, size_t cap, size_t *got,
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
per_connection_read(struct conn *c, bool is_socket, const sigset_t *wait_mask)
{
	char *p;
	size_t cap, n;
	enum io_wait w;

	if (serve_terminating)
		conn_shutdown(c);
	if (conn_want(c) != CONN_READ)
		return;
	serve_log_flush(false);
	if (!conn_read_buf(c, &p, &cap)) {
		conn_abort(c);
		return;
	}
	w = is_socket ? io_read_within(0, p, cap, &n, conn_deadline(c),
	    MH_HTTP_SIGNAL_SLICE_MS, wait_mask) :
	    per_connection_poll_read(c, p, cap, &n, wait_mask);
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
	serve_last_words_arm(1);
	conn_received(c, n, io_now_ms());
	serve_last_words_disarm();
}

/*
 * Lingering close, as in wait mode (wconn_linger_read), blocking: a
 * client still sending when we close would get a reset, which can destroy
 * the answer we just gave (say a 413 to a client that sends its whole
 * body before it reads).  Only on a socket: a pipe has no reset.
 */
static void
per_connection_linger(const struct conn *c, const sigset_t *wait_mask)
{
	static char sink[MH_IO_CHUNK];
	size_t dropped = 0;
	int64_t until;
	ssize_t n;

	if (!serve_client_may_be_sending(c, 0) || shutdown(1, SHUT_WR) == -1)
		return;
	until = io_now_ms() + MH_HTTP_LINGER_MS;
	while (dropped <= MH_HTTP_LINGER_MAX &&
	    io_wait_readable(0, until, wait_mask) == IO_READY &&
	    (n = read(0, sink, sizeof sink)) > 0)
		dropped += (size_t)n;
}

void
serve_per_connection(const struct conn_config *cfg)
{
	struct conn c;
	struct stat sb;
	sigset_t wait_mask;
	char peer[SERVE_PEER_MAX];
	bool is_socket = fstat(0, &sb) == 0 && S_ISSOCK(sb.st_mode);

	peer_name(peer, sizeof peer);
	serve_signals_setup(&wait_mask);
	io_bound_writes(1, cfg->write_ms < MH_HTTP_WRITE_SLICE_MS ?
	    cfg->write_ms : MH_HTTP_WRITE_SLICE_MS);
	conn_init(&c, cfg, peer, io_now_ms());
	while (conn_want(&c) != CONN_DONE) {
		if (conn_want(&c) == CONN_WRITE)
			per_connection_write(&c);
		else
			per_connection_read(&c, is_socket, &wait_mask);
	}
	per_connection_linger(&c, &wait_mask);
	conn_free(&c);
}
