/*
 * http.h — a pure, strict HTTP/1.1 request parser and response formatter.
 *
 * Bytes in, struct out: no I/O, no allocation, no global state.  "Need more
 * input" is a result, not an error (picohttpparser's shape).  The policy is
 * "reject, don't repair" (RFC 9112; DESIGN.md §5):
 * every parse error carries the HTTP status to answer with, and the caller
 * closes the connection after any error because framing is then unknown.
 */
#ifndef MH_HTTP_H
#define MH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "limits.h"

#define HTTP_PARSE_ERROR	(-1)	/* see struct http_error */
#define HTTP_PARSE_PARTIAL	(-2)	/* complete so far; feed more bytes */

/* Methods we recognise (RFC 9110 §9); any other token is answered 501. */
enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_TRACE,
	HTTP_METHOD_COUNT
};

/* A view into the caller's buffer. */
struct http_slice {
	const char	*p;
	size_t		 len;
};

struct http_header {
	struct http_slice	name;	/* as sent (case preserved) */
	struct http_slice	value;	/* OWS trimmed */
};

/* Limits; http_limits_default() fills them from lib/limits.h. */
struct http_limits {
	size_t	request_line_max;	/* 414 beyond */
	size_t	header_line_max;	/* 431 beyond */
	size_t	header_section_max;	/* 431 beyond (request line included) */
	size_t	header_count_max;	/* 431 beyond; <= MH_HTTP_HEADER_COUNT_MAX */
	size_t	chunk_ext_max;		/* 400 beyond */
};

struct http_error {
	int		 status;	/* 400, 413, 414, 417, 431, 501, 505 */
	const char	*msg;		/* static text naming the problem */
};

struct http_request {
	enum http_method	method;
	struct http_slice	target;		/* request-target as sent */
	struct http_slice	path;		/* path part; "*" for OPTIONS * */
	struct http_slice	query;		/* after '?', without it; len 0 if none */
	int			version_minor;	/* 0 or 1 (1.2+ is reported as 1) */

	bool			keep_alive;	/* version default + Connection */
	bool			expect_continue; /* Expect: 100-continue on 1.1 */
	bool			chunked;	/* Transfer-Encoding: chunked */
	bool			has_content_length;
	uint64_t		content_length;	/* saturates at UINT64_MAX */

	size_t			header_count;
	struct http_header	headers[MH_HTTP_HEADER_COUNT_MAX];
};

/* Fills *lim with the defaults of lib/limits.h. */
void	http_limits_default(struct http_limits *lim);

/*
 * Parses the request line and header section at the start of buf[0..len).
 * Returns the number of bytes consumed (> 0) when the head is complete,
 * HTTP_PARSE_PARTIAL when more bytes are needed, or HTTP_PARSE_ERROR with
 * *err set.  Over-long lines and sections are reported as soon as they are
 * seen, even in partial input.  lim may be NULL for the defaults.
 */
ssize_t	http_parse_request(const char *buf, size_t len,
	    const struct http_limits *lim, struct http_request *req,
	    struct http_error *err);

/* Returns the first header named `name` (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_request *req,
	    const char *name);

/* Incremental chunked body decoder (RFC 9112 §7.1); zero-initialise it. */
struct http_chunked {
	int		state;
	uint64_t	remaining;	/* data bytes left in the current chunk */
	size_t		line_len;	/* bytes of the current size/trailer line */
	size_t		trailer_len;	/* bytes of the trailer section so far */
	int		hex_digits;
	bool		in_ext;
	bool		in_quote;
	bool		quote_escape;
};

/*
 * Decodes chunked data in buf[0..*len) in place.  On return buf[0..*len)
 * holds the decoded body bytes of this call.  Returns HTTP_PARSE_PARTIAL
 * while the body continues; when the last chunk and trailers are complete,
 * returns the number of undecoded bytes that follow (they belong to the next
 * request) starting at buf + *len; HTTP_PARSE_ERROR with *err on a framing
 * error.  Trailer fields are checked for syntax and discarded.
 */
ssize_t	http_chunked_decode(struct http_chunked *dec, char *buf, size_t *len,
	    const struct http_limits *lim, struct http_error *err);

struct http_response {
	int		 status;		/* 100..599 */
	const char	*content_type;		/* NULL: no Content-Type */
	size_t		 content_length;	/* always sent (except 1xx, 204) */
	bool		 close;			/* Connection: close */
	bool		 keep_alive_header;	/* Connection: keep-alive (1.0) */
	const char	*location;		/* NULL: none */
	const char	*allow;			/* NULL: none */
	unsigned	 retry_after;		/* seconds; 0: none */
};

/*
 * Writes the status line and headers (Date from `now`, RFC 9110 §5.6.7
 * IMF-fixdate), ending with the empty line.  Returns the length, or 0 if
 * cap is too small.
 */
size_t	http_format_head(char *buf, size_t cap, const struct http_response *resp,
	    time_t now);

/*
 * An answer as a request handler (lib/api.c) gives it to the connection
 * (lib/conn.c).  The connection frames it: Date, Content-Length and
 * Connection are its own, and it sends no body for HEAD or a 204.
 */
struct http_answer {
	int		 status;
	const char	*content_type;	/* NULL: no body */
	char		*body;		/* malloc'd: http_answer_free */
	size_t		 body_len;
	char		 location[MH_HTTP_LOCATION_MAX]; /* "" if none */
	const char	*allow;		/* NULL if none */
	unsigned	 retry_after;	/* seconds; 0 if none */
	const char	*detail;	/* for the log: why a 5xx happened; NULL
					   if none; valid until the next answer */
	void		*pending;	/* not NULL: no answer yet, but the
					   handler's work to finish it later
					   (conn_answer); the rest is unset */
};

/* Frees the answer's body. */
void	http_answer_free(struct http_answer *a);

/* Reason phrase for a status ("Not Found"); "Unknown" if none. */
const char *http_reason(int status);

/* "GET", "HEAD", ...: the token of a method. */
const char *http_method_name(enum http_method method);

#endif /* MH_HTTP_H */
