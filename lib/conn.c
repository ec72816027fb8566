/*
 * conn.c — one HTTP/1.1 connection as a state machine (see conn.h).
 *
 * A request goes IDLE -> HEAD (first byte; header deadline) -> BODY (if it
 * has one; body deadline) -> answered: the response is queued, and once it
 * is written the connection is IDLE again (idle timeout), or done.  After
 * any framing error the answer carries Connection: close and the connection
 * ends: the stream position is then unknown (DESIGN.md §5).
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "io.h"
#include "limits.h"
#include "banned.h"

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Output to write, or an answer to wait for: no new input is taken. */
static bool
output_pending(const struct conn *c)
{
	return c->head_off < c->head_len || c->resp_off < c->resp_len ||
	    c->pending != NULL;
}

/* Makes room for `need` more bytes in b, doubling, but to no more than
 * `most` bytes unless need asks for more (0: no ceiling). */
static bool
buf_reserve_upto(struct conn_buf *b, size_t need, size_t most)
{
	size_t ncap = b->cap ? b->cap : MH_IO_CHUNK;
	char *np;

	if (b->len + need <= b->cap)
		return true;
	while (ncap < b->len + need)
		ncap *= 2;
	if (most != 0 && ncap > most)
		ncap = most > b->len + need ? most : b->len + need;
	if ((np = realloc(b->p, ncap)) == NULL)
		return false;
	b->p = np;
	b->cap = ncap;
	return true;
}

static bool
buf_reserve(struct conn_buf *b, size_t need)
{
	return buf_reserve_upto(b, need, 0);
}

static void
buf_free(struct conn_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

void
conn_init(struct conn *c, const struct conn_config *cfg, void *log_arg,
    int64_t now_ms)
{
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->log_arg = log_arg;
	c->state = CONN_IDLE;
	c->deadline = now_ms + cfg->idle_ms;
}

void
conn_free(struct conn *c)
{
	buf_free(&c->in);
	buf_free(&c->body);
	buf_free(&c->carry);
	http_answer_free(&c->resp);
}

/* ---- answers ---- */

/*
 * Queues resp (taken over) as the answer to the current request (req may
 * be NULL: the head did not parse).  HEAD and 204 answers have no body.
 */
static void
queue_answer(struct conn *c, const struct http_request *req,
    struct http_answer *resp, bool close, bool head_only, int64_t now_ms)
{
	struct http_response h;

	memset(&h, 0, sizeof h);
	h.status = resp->status;
	h.content_type = resp->content_type;
	h.content_length = resp->body_len;
	h.close = close;
	h.keep_alive_header = !close && req != NULL && req->version_minor == 0;
	h.location = resp->location[0] != '\0' ? resp->location : NULL;
	h.allow = resp->allow;
	h.retry_after = resp->retry_after;
	c->head_len = http_format_head(c->head, sizeof c->head, &h, time(NULL));
	c->head_off = 0;
	if (c->head_len == 0)
		close = true;	/* cannot happen: the head is small */
	http_answer_free(&c->resp);
	c->resp = *resp;
	c->resp_off = 0;
	c->resp_len = head_only || resp->status == 204 ? 0 : resp->body_len;
	c->close_after = close;
	c->answered = true;
	c->state = close ? CONN_CLOSING : c->state;
	/* The body has been used (or is not wanted): give the memory back
	 * now, not once the answer is written (wait mode's budget). */
	buf_free(&c->body);
	if (c->cfg->log != NULL)
		c->cfg->log(c->log_arg, req, resp->status, resp->body_len,
		    c->start_us, resp->detail != NULL ? resp->detail : "");
	c->resp.detail = NULL;		/* valid only until the next answer */
	c->deadline = now_ms + c->cfg->write_ms;
}

/* An error that ends the connection: {"err_msg": msg} with Connection: close. */
static void
fail(struct conn *c, const struct http_request *req, int status,
    const char *msg, int64_t now_ms)
{
	const struct conn_handler *h = &c->cfg->handler;
	struct http_answer resp;

	h->refuse(h->ctx, status, msg, &resp);
	c->input_unread = true;		/* the request was cut short */
	queue_answer(c, req, &resp, true, false, now_ms);
}

/* Queues the handler's answer to the complete request. */
static void
answer_queue(struct conn *c, struct http_answer *resp, int64_t now_ms)
{
	bool close;

	if (c->cfg->now_ms != NULL)
		now_ms = c->cfg->now_ms();	/* see conn_config.now_ms */
	c->input_unread = c->answer_then_close;	/* its body is unread */
	/* A refused body ends the connection whichever way it was framed,
	 * as a Content-Length over the limit does (DESIGN.md §5). */
	close = c->answer_then_close || resp->status == 413 ||
	    !c->req.keep_alive || c->shutting_down ||
	    ++c->requests >= c->cfg->max_requests;
	queue_answer(c, &c->req, resp, close, c->req.method == HTTP_HEAD,
	    now_ms);
}

/* Answers a complete request, or waits for the answer (conn_answer). */
static void
answer(struct conn *c, const char *body, size_t body_len, int64_t now_ms)
{
	const struct conn_handler *h = &c->cfg->handler;
	struct http_answer resp;

	resp.pending = NULL;
	h->answer(h->ctx, &c->req, body, body_len, &resp);
	if (resp.pending != NULL)
		c->pending = resp.pending;
	else
		answer_queue(c, &resp, now_ms);
}

/* ---- the body ---- */

/* Room for n more body bytes, the buffer no larger than the body can be:
 * Content-Length, or the limit plus one chunk of raw input. */
static bool
body_reserve(struct conn *c, size_t n)
{
	return buf_reserve_upto(&c->body, n, c->req.chunked ?
	    c->cfg->body_limit + MH_IO_CHUNK : (size_t)c->req.content_length);
}

/* The most body bytes one read may take. */
static size_t
body_read_size(const struct conn *c)
{
	size_t rest;

	if (c->req.chunked)
		return MH_IO_CHUNK;
	rest = (size_t)c->req.content_length - c->body.len;
	return rest < MH_HTTP_BODY_READ_MAX ? rest : MH_HTTP_BODY_READ_MAX;
}

/* Moves n received bytes from in.p (at from) to the body. */
static bool
take_input(struct conn *c, size_t n)
{
	if (!body_reserve(c, n)) {
		conn_abort(c);
		return false;
	}
	memcpy(c->body.p + c->body.len, c->in.p + c->from, n);
	c->body.len += n;
	c->from += n;
	return true;
}

/* Content-Length: moves what already arrived; answers when complete. */
static void
length_progress(struct conn *c, int64_t now_ms)
{
	size_t avail = c->in.len - c->from, want;

	want = (size_t)c->req.content_length - c->body.len;
	if (avail > want)
		avail = want;
	if (avail > 0 && !take_input(c, avail))
		return;
	if (c->body.len == c->req.content_length && !output_pending(c))
		answer(c, c->body.p, c->body.len, now_ms);
}

/*
 * Chunked (RFC 9112 §7.1): decodes body.p[decoded..len) in place.  Bytes
 * after the last chunk belong to the next request: if they were taken from
 * in.p they are given back, else they go to carry.
 */
static void
chunked_decode(struct conn *c, size_t taken_from_in, int64_t now_ms)
{
	struct http_error herr = { 400, "bad request" };
	size_t raw = c->body.len - c->decoded;
	ssize_t rest;

	rest = http_chunked_decode(&c->chunked, c->body.p + c->decoded, &raw,
	    &c->cfg->lim, &herr);
	if (rest == HTTP_PARSE_ERROR) {
		fail(c, &c->req, herr.status, herr.msg, now_ms);
		return;
	}
	if (rest > 0 && taken_from_in > 0)
		c->from -= (size_t)rest;	/* still in in.p: un-take */
	else if (rest > 0) {
		c->carry.len = 0;
		if (!buf_reserve(&c->carry, (size_t)rest)) {
			conn_abort(c);
			return;
		}
		memcpy(c->carry.p, c->body.p + c->decoded + raw, (size_t)rest);
		c->carry.len = (size_t)rest;
	}
	c->decoded += raw;
	c->body.len = c->decoded;
	if (c->decoded > c->cfg->body_limit) {
		fail(c, &c->req, 413, "the request body is over the size limit",
		    now_ms);
		return;
	}
	if (rest >= 0) {
		c->body_complete = true;
		if (!output_pending(c))
			answer(c, c->body.p, c->body.len, now_ms);
	}
}

/* Chunked: decodes what already arrived in in.p, a chunk at a time. */
static void
chunked_progress(struct conn *c, int64_t now_ms)
{
	size_t avail;

	if (c->body_complete) {		/* waiting for the 100 was all */
		if (!output_pending(c))
			answer(c, c->body.p, c->body.len, now_ms);
		return;
	}
	while (!c->closed && !c->body_complete && !c->answered &&
	    (avail = c->in.len - c->from) > 0) {
		if (avail > MH_IO_CHUNK)
			avail = MH_IO_CHUNK;
		if (!take_input(c, avail))
			return;
		chunked_decode(c, avail, now_ms);
	}
}

static void
body_progress(struct conn *c, int64_t now_ms)
{
	if (c->req.chunked)
		chunked_progress(c, now_ms);
	else
		length_progress(c, now_ms);
}

/* ---- the head ---- */

/* A head has been parsed (head_len bytes at in.p + off): what now. */
static void
begin_request(struct conn *c, size_t head_len, int64_t now_ms)
{
	const struct http_request *req = &c->req;
	const struct conn_handler *h = &c->cfg->handler;
	bool has_body = req->chunked ||
	    (req->has_content_length && req->content_length > 0);
	bool wants_body = h->wants_body(h->ctx, req);
	struct http_answer resp;

	c->from = c->off + head_len;
	c->answer_then_close = false;
	if (wants_body && !req->chunked && !req->has_content_length) {
		/* RFC 9110 §15.5.12: no body was sent, so the stream is intact. */
		h->refuse(h->ctx, 411, "a POST needs a Content-Length or "
		    "Transfer-Encoding: chunked body", &resp);
		queue_answer(c, req, &resp, !req->keep_alive || c->shutting_down ||
		    ++c->requests >= c->cfg->max_requests, false, now_ms);
		return;
	}
	if (req->has_content_length && req->content_length > c->cfg->body_limit) {
		/* At once, before any 100 (RFC 9110 §10.1.1). */
		fail(c, req, 413, "the request body is over the size limit",
		    now_ms);
		return;
	}
	if (!has_body) {
		answer(c, NULL, 0, now_ms);
		return;
	}
	if (req->expect_continue && !wants_body) {
		/* Answer without reading the body, then close. */
		c->answer_then_close = true;
		answer(c, NULL, 0, now_ms);
		return;
	}
	c->state = CONN_BODY;
	c->deadline = now_ms + c->cfg->body_ms;
	memset(&c->chunked, 0, sizeof c->chunked);
	c->decoded = 0;
	c->body_complete = false;
	if (req->expect_continue) {
		memcpy(c->head, continue_line, sizeof continue_line - 1);
		c->head_len = sizeof continue_line - 1;
		c->head_off = 0;
	}
	body_progress(c, now_ms);
}

/* Parses what is buffered: answers, fails, or waits for more. */
static void
head_progress(struct conn *c, int64_t now_ms)
{
	struct http_error herr = { 400, "bad request" };
	ssize_t n;

	n = http_parse_request(c->in.p + c->off, c->in.len - c->off,
	    &c->cfg->lim, &c->req, &herr);
	if (n == HTTP_PARSE_ERROR)
		fail(c, NULL, herr.status, herr.msg, now_ms);
	else if (n > 0)
		begin_request(c, (size_t)n, now_ms);
}

/* Runs everything that can run without I/O. */
static void
progress(struct conn *c, int64_t now_ms)
{
	if (c->closed || output_pending(c))
		return;
	switch (c->state) {
	case CONN_IDLE:
		if (c->off == c->in.len) {
			if (c->shutting_down)
				c->closed = true;
			return;
		}
		c->state = CONN_HEAD;
		c->deadline = now_ms + c->cfg->header_ms;
		c->start_us = io_now_us();	/* the clock, not I/O */
		/* FALLTHROUGH */
	case CONN_HEAD:
		head_progress(c, now_ms);
		return;
	case CONN_BODY:
		body_progress(c, now_ms);
		return;
	case CONN_CLOSING:
		c->closed = true;
		return;
	}
}

/* The answer has been written: on to the next request. */
static void
request_done(struct conn *c, int64_t now_ms)
{
	http_answer_free(&c->resp);
	c->resp_len = c->resp_off = 0;
	c->answered = false;
	if (c->close_after) {
		if (c->from < c->in.len)
			c->input_unread = true;	/* pipelined after the last */
		c->closed = true;
		return;
	}
	c->off = c->from;
	if (c->off == c->in.len)
		c->off = c->in.len = 0;
	if (c->carry.len > 0) {
		if (!buf_reserve(&c->in, c->carry.len)) {
			conn_abort(c);
			return;
		}
		memcpy(c->in.p + c->in.len, c->carry.p, c->carry.len);
		c->in.len += c->carry.len;
		c->carry.len = 0;
	}
	buf_free(&c->body);
	c->state = CONN_IDLE;
	c->deadline = now_ms + c->cfg->idle_ms;
}

/* ---- the driver's interface ---- */

enum conn_want
conn_want(const struct conn *c)
{
	if (c->closed)
		return CONN_DONE;
	if (c->pending != NULL)
		return CONN_WAIT;
	return output_pending(c) ? CONN_WRITE : CONN_READ;
}

bool
conn_read_buf(struct conn *c, char **p, size_t *cap)
{
	size_t want, max;
	char *np;

	if (c->state == CONN_BODY) {
		want = body_read_size(c);
		/* Content-Length: room for all the rest at once (address
		 * space until it arrives), not copied as it grows. */
		if (!body_reserve(c, c->req.chunked ? want :
		    (size_t)c->req.content_length - c->body.len))
			return false;
		*p = c->body.p + c->body.len;
		*cap = want;
		return true;
	}
	/* IDLE or HEAD: into in.p, compacted, up to the header limit. */
	max = c->cfg->lim.header_section_max + MH_IO_CHUNK;
	if (c->off > 0 && c->in.cap - c->in.len < MH_IO_CHUNK) {
		memmove(c->in.p, c->in.p + c->off, c->in.len - c->off);
		c->in.len -= c->off;
		c->off = 0;
	}
	if (c->in.cap - c->in.len < MH_IO_CHUNK && c->in.cap < max) {
		want = c->in.cap ? c->in.cap * 2 : MH_IO_CHUNK;
		if (want > max)
			want = max;
		np = realloc(c->in.p, want);	/* exactly: max is the limit */
		if (np == NULL)
			return false;
		c->in.p = np;
		c->in.cap = want;
	}
	if (c->in.len == c->in.cap)
		return false;
	*p = c->in.p + c->in.len;
	*cap = c->in.cap - c->in.len;
	return true;
}

void
conn_received(struct conn *c, size_t n, int64_t now_ms)
{
	if (n == 0) {
		/* EOF: between requests a silent close; mid-request there is
		 * nobody left to answer (RFC 9112 §9.5, §9.6). */
		c->closed = true;
		return;
	}
	if (c->state == CONN_BODY) {
		c->body.len += n;
		if (c->req.chunked)
			chunked_decode(c, 0, now_ms);
		else if (c->body.len == c->req.content_length &&
		    !output_pending(c))
			answer(c, c->body.p, c->body.len, now_ms);
		return;
	}
	c->in.len += n;
	progress(c, now_ms);
}

int
conn_output(const struct conn *c, struct iovec *iov)
{
	int n = 0;

	if (c->head_off < c->head_len) {
		iov[n].iov_base = (char *)c->head + c->head_off;
		iov[n++].iov_len = c->head_len - c->head_off;
	}
	if (c->resp_off < c->resp_len) {
		iov[n].iov_base = c->resp.body + c->resp_off;
		iov[n++].iov_len = c->resp_len - c->resp_off;
	}
	return n;
}

void
conn_sent(struct conn *c, size_t n, int64_t now_ms)
{
	size_t k = c->head_len - c->head_off;

	if (k > n)
		k = n;
	c->head_off += k;
	n -= k;
	c->resp_off += n;
	if (output_pending(c))
		return;
	c->head_len = c->head_off = 0;
	if (!c->answered) {
		/* That was the 100 Continue: the body may be complete. */
		body_progress(c, now_ms);
		return;
	}
	request_done(c, now_ms);
	progress(c, now_ms);
}

void *
conn_pending(const struct conn *c)
{
	return c->pending;
}

void
conn_answer(struct conn *c, struct http_answer *resp, int64_t now_ms)
{
	c->pending = NULL;
	if (c->closed)
		http_answer_free(resp);	/* aborted meanwhile */
	else
		answer_queue(c, resp, now_ms);
}

int64_t
conn_deadline(const struct conn *c)
{
	return c->deadline;
}

bool
conn_idle(const struct conn *c)
{
	return c->state == CONN_IDLE && !c->closed;
}

void
conn_timeout(struct conn *c, int64_t now_ms)
{
	if (c->closed || output_pending(c)) {
		conn_abort(c);	/* the client does not read */
		return;
	}
	switch (c->state) {
	case CONN_HEAD:
		fail(c, NULL, 408, "timed out reading the request headers",
		    now_ms);
		return;
	case CONN_BODY:
		fail(c, &c->req, 408, "timed out reading the request body",
		    now_ms);
		return;
	default:
		c->closed = true;	/* idle: close silently (RFC 9112 §9.5) */
		return;
	}
}

void
conn_shutdown(struct conn *c)
{
	c->shutting_down = true;
	if (c->state == CONN_IDLE && c->off == c->in.len && !output_pending(c))
		c->closed = true;
}

void
conn_abort(struct conn *c)
{
	c->closed = true;
	c->aborted = true;
	c->head_len = c->head_off = 0;
	c->resp_len = c->resp_off = 0;
}

size_t
conn_body_held(const struct conn *c)
{
	return c->body.len;
}

size_t
conn_body_read_size(const struct conn *c)
{
	return conn_want(c) == CONN_READ && c->state == CONN_BODY ?
	    body_read_size(c) : 0;
}

bool
conn_body_pending(const struct conn *c)
{
	return !c->closed && c->state == CONN_BODY && !c->answered &&
	    c->pending == NULL;
}

bool
conn_unread_input(const struct conn *c)
{
	return c->closed && !c->aborted && c->input_unread;
}
