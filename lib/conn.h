/*
 * conn.h — one HTTP/1.1 connection as a state machine: bytes in, bytes out,
 * no I/O.
 *
 * `msghash serve` drives it in two ways: per connection (fd 0/1, blocking
 * reads and writes under deadlines) and in wait mode (many non-blocking
 * sockets in one epoll loop).  Both get the same framing, limits, timeouts
 * and answers because both run this code.  The driver loop:
 *
 *	for (;;) switch (conn_want(c)) {
 *	case CONN_READ:  conn_read_buf(c, &p, &cap); n = read(fd, p, cap);
 *	                 conn_received(c, n, now);  (n = 0: EOF)
 *	case CONN_WRITE: n = writev(fd, iov, conn_output(c, iov));
 *	                 conn_sent(c, n, now);
 *	case CONN_DONE:  close
 *	}
 *	... and conn_timeout(c, now) once conn_deadline(c) has passed.
 *
 * Requests are answered in order and one at a time: the next pipelined
 * request is parsed only when the previous response has been written.
 * conn_shutdown lets the connection finish what it has received (a
 * request in progress, and pipelined ones already buffered), then close.  So
 * while the handler runs (inside conn_received or conn_sent) no response
 * bytes are pending, and the serve watchdog's last words (a 503) can go
 * straight to the socket.
 *
 * conn knows HTTP and nothing else: what a request means is the handler's
 * (lib/api.c, wired in by cmd/serve.c; a stub in tests/unit/test-conn.c).
 */
#ifndef MH_CONN_H
#define MH_CONN_H

#include <sys/uio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "limits.h"

/* The application behind the connection; ctx is given back to each call. */
struct conn_handler {
	void	*ctx;
	/* Whether the request's route takes a body.  A request for one
	 * without a length gets 411; with Expect: 100-continue, one for a
	 * route that takes none is answered at once, its body unread. */
	bool	(*wants_body)(void *ctx, const struct http_request *req);
	/* Answers a complete request; HEAD like GET (conn drops the body).
	 * Or defers it: out->pending set, conn waits (CONN_WAIT) until the
	 * driver gives the answer with conn_answer. */
	void	(*answer)(void *ctx, const struct http_request *req,
		    const char *body, size_t body_len, struct http_answer *out);
	/* The answer to a request conn refuses itself (a framing error, a
	 * timeout, 411, 413): the status and a sentence for the client. */
	void	(*refuse)(void *ctx, int status, const char *msg,
		    struct http_answer *out);
};

struct conn_config {
	int		 header_ms;	/* first byte of a request -> end of head */
	int		 body_ms;	/* end of head -> end of body */
	int		 idle_ms;	/* between requests */
	int		 write_ms;	/* one response */
	long		 max_requests;	/* per connection, then close */
	size_t		 body_limit;	/* the largest request body: 413 beyond */
	struct http_limits lim;
	struct conn_handler handler;
	/* The clock (io_now_ms), read again once a request is answered: the
	 * handler can take seconds (the store waiting for its lock, say),
	 * and the write deadline must count from the answer, not from the
	 * request's last bytes.  NULL: the now_ms given to the call that
	 * answered. */
	int64_t		(*now_ms)(void);
	/* One call per answered request (the access log); may be NULL.  arg
	 * is conn_init's log_arg (the peer, say). */
	void		(*log)(void *arg, const struct http_request *req,
			    int status, size_t bytes, int64_t start_us,
			    const char *detail);
};

enum conn_want {
	CONN_READ,	/* call conn_read_buf + conn_received */
	CONN_WRITE,	/* call conn_output + conn_sent */
	CONN_WAIT,	/* the answer was deferred: conn_pending, conn_answer */
	CONN_DONE	/* close the connection */
};

struct conn_buf {
	char	*p;
	size_t	 len, cap;
};

enum conn_state {
	CONN_IDLE,	/* between requests: the idle timeout */
	CONN_HEAD,	/* a request has begun: the header deadline */
	CONN_BODY,	/* reading the body: the body deadline */
	CONN_CLOSING	/* the last response is being written */
};

struct conn {
	const struct conn_config *cfg;
	void		*log_arg;
	enum conn_state	 state;
	bool		 closed;	/* EOF, error or done: nothing more */
	bool		 aborted;	/* conn_abort: the socket failed */
	bool		 input_unread;	/* closed with the peer perhaps still sending */
	bool		 shutting_down;	/* conn_shutdown: close when idle */
	int64_t		 deadline;	/* io_now_ms() time; see conn_deadline */
	int64_t		 start_us;	/* when the current request began */
	long		 requests;

	struct conn_buf	 in;		/* received bytes; in.p[off..len) unread */
	size_t		 off;

	/* The request being read (its slices point into in.p, which does not
	 * move until the request is answered). */
	struct http_request req;
	size_t		 from;		/* in.p index: next body byte */
	struct conn_buf	 body;
	struct conn_buf	 carry;		/* bytes after a chunked body */
	struct http_chunked chunked;
	size_t		 decoded;	/* chunked: body.p[0..decoded) decoded */
	bool		 answer_then_close; /* Expect: 100 on a bodiless route */
	bool		 body_complete;	/* waiting for the 100 to be written */
	bool		 answered;	/* the output is the answer (not a 100) */
	void		*pending;	/* the deferred answer's work, or NULL */

	/* Output: head (+ body), written in order. */
	char		 head[MH_HTTP_RESPONSE_HEAD_MAX];
	size_t		 head_len, head_off;
	struct http_answer resp;
	size_t		 resp_off, resp_len;
	bool		 close_after;	/* close once the output is written */
};

void		conn_init(struct conn *c, const struct conn_config *cfg,
		    void *log_arg, int64_t now_ms);
void		conn_free(struct conn *c);

enum conn_want	conn_want(const struct conn *c);

/* Where to read into: false if out of memory (then the connection is done). */
bool		conn_read_buf(struct conn *c, char **p, size_t *cap);
/* n bytes arrived at the place conn_read_buf gave (0: the peer closed). */
void		conn_received(struct conn *c, size_t n, int64_t now_ms);

/* The pending output as up to 2 iovecs; returns how many. */
int		conn_output(const struct conn *c, struct iovec *iov);
/* n bytes of it were written (or the write failed: conn_abort). */
void		conn_sent(struct conn *c, size_t n, int64_t now_ms);

/*
 * A deferred answer (CONN_WAIT): the handler's work for it, and the answer
 * once that is done (taken over, as the handler's would be).  The driver
 * must answer every deferred request before conn_free.
 */
void		*conn_pending(const struct conn *c);
void		conn_answer(struct conn *c, struct http_answer *resp,
		    int64_t now_ms);

/* When conn_timeout must be called (io_now_ms() time). */
int64_t		conn_deadline(const struct conn *c);
/* Between requests, nothing of the next one read yet (the idle timeout). */
bool		conn_idle(const struct conn *c);
/* The deadline passed: 408 mid-request, or a silent close when idle. */
void		conn_timeout(struct conn *c, int64_t now_ms);

/* SIGTERM: finish the request in progress, then close; close now if idle. */
void		conn_shutdown(struct conn *c);
/* The socket failed: drop everything. */
void		conn_abort(struct conn *c);

/*
 * Request body memory, for a budget across connections (wait mode): the
 * bytes of body held (freed once the request is answered), how many the
 * next read may add (0: it reads no body), and whether a body is still
 * being received.
 */
size_t		conn_body_held(const struct conn *c);
size_t		conn_body_read_size(const struct conn *c);
bool		conn_body_pending(const struct conn *c);

/*
 * Done after a last answer while the peer may still be sending (a request
 * cut short by an error, pipelined requests after the last one answered).
 * Closing a socket with unread input sends a reset that can destroy the
 * answer in the client's buffers (RFC 9112 §9.6): linger first.
 */
bool		conn_unread_input(const struct conn *c);

#endif /* MH_CONN_H */
