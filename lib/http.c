/*
 * http.c — strict HTTP/1.1 request parsing, chunked body decoding and
 * response heads (RFC 9112, RFC 9110).
 *
 * http_parse_request() re-scans the buffer from its start on every call,
 * left to right, and stops at the first byte that is wrong, at the first
 * byte that crosses a limit, or where the input ends.  So the answer for a
 * prefix never contradicts the answer for a longer input: "need more" stays
 * "need more" or becomes the result, an error stays the same error, and an
 * endless line is refused as soon as it is too long.  Each scan is bounded
 * by the limits, never by the length of the input.
 *
 * Policy (DESIGN.md §5): reject, don't repair.  No bare CR
 * or LF, no obs-fold, no extra whitespace, no repeated framing fields.
 */
#include <config.h>

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ascii.h"
#include "http.h"
#include "limits.h"
#include "banned.h"

/* RFC 9110 §5.6.2: tchar, the bytes of a token. */
static const bool tchar_tab[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true,
	['\''] = true, ['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true,
	['^'] = true, ['_'] = true, ['`'] = true, ['|'] = true, ['~'] = true,
};

/* RFC 3986 §2.2, §2.3: unreserved and sub-delims, the bytes of reg-name. */
static const bool regname_tab[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['-'] = true, ['.'] = true, ['_'] = true, ['~'] = true,
	['!'] = true, ['$'] = true, ['&'] = true, ['\''] = true, ['('] = true,
	[')'] = true, ['*'] = true, ['+'] = true, [','] = true, [';'] = true,
	['='] = true,
};

/*
 * Bytes a request-target may hold at all (RFC 3986 §3): pchar, "/", "?",
 * and the brackets of an IP-literal.  Everything else, '#', space, CTL,
 * DEL and bytes >= 0x80 included, ends the target at once; the structure
 * is checked when the request-line is complete.
 */
static const bool target_tab[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['-'] = true, ['.'] = true, ['_'] = true, ['~'] = true,
	['!'] = true, ['$'] = true, ['&'] = true, ['\''] = true, ['('] = true,
	[')'] = true, ['*'] = true, ['+'] = true, [','] = true, [';'] = true,
	['='] = true, [':'] = true, ['@'] = true, ['/'] = true, ['?'] = true,
	['%'] = true, ['['] = true, [']'] = true,
};

/*
 * RFC 9110 §5.5: field-value bytes are VCHAR, obs-text, SP and HTAB.
 * Other CTLs (NUL, bare CR or LF) and DEL are rejected, not replaced.
 */
static const bool value_tab[256] = {
	['\t'] = true, [' ' ... '~'] = true, [0x80 ... 0xff] = true,
};

static const char *const method_names[HTTP_METHOD_COUNT] = {
	[HTTP_GET] = "GET",
	[HTTP_HEAD] = "HEAD",
	[HTTP_POST] = "POST",
	[HTTP_PUT] = "PUT",
	[HTTP_DELETE] = "DELETE",
	[HTTP_OPTIONS] = "OPTIONS",
	[HTTP_PATCH] = "PATCH",
	[HTTP_TRACE] = "TRACE",
};

struct parser {
	const char		*buf;
	size_t			 len;
	size_t			 pos;		/* start of the current line */
	size_t			 head;		/* start of the request-line */
	struct http_limits	 lim;
	struct http_request	*req;
	struct http_error	*err;

	unsigned		 hosts;		/* Host fields seen */
	bool			 te;		/* a Transfer-Encoding field */
	size_t			 te_codings;	/* codings over all TE fields */
	size_t			 te_chunked;	/* how many are "chunked" */
	bool			 te_last_chunked;
	bool			 conn_close;
	bool			 conn_keep_alive;
	bool			 expect_100;
	bool			 expect_other;
};

/* The start-line: offsets into the buffer. */
struct reqline {
	size_t	method, method_end;
	size_t	target, target_end;
	size_t	version;		/* "HTTP/x.y" */
	size_t	cr;			/* the CR ending the line */
};

static int
set_error(struct http_error *err, int status, const char *msg)
{
	if (err != NULL) {
		err->status = status;
		err->msg = msg;
	}
	return HTTP_PARSE_ERROR;
}

static int
fail(struct parser *p, int status, const char *msg)
{
	return set_error(p->err, status, msg);
}

static bool
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII only: the C library's tolower() depends on the locale. */
static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool
eq_ci(const char *s, size_t n, const char *lit)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' ||
		    lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return false;
	}
	return lit[n] == '\0';
}

static struct http_slice
slice(const char *p, size_t len)
{
	struct http_slice	s = { p, len };

	return s;
}

/* RFC 9110 §5.6.3: OWS around a value is not part of it. */
static struct http_slice
trim_ows(const char *p, size_t len)
{
	while (len > 0 && is_ws((unsigned char)p[0])) {
		p++;
		len--;
	}
	while (len > 0 && is_ws((unsigned char)p[len - 1]))
		len--;
	return slice(p, len);
}

static bool
is_token(struct http_slice s)
{
	size_t	i;

	for (i = 0; i < s.len; i++) {
		if (!tchar_tab[(unsigned char)s.p[i]])
			return false;
	}
	return s.len > 0;
}

/*
 * RFC 9110 §5.6.1: takes the next element of a #rule list; a recipient
 * must ignore empty elements.  Returns false when the list is used up.
 */
static bool
next_element(struct http_slice *list, struct http_slice *elem)
{
	const char	*s, *comma;
	size_t		 n;

	while (list->len > 0) {
		s = list->p;
		comma = memchr(s, ',', list->len);
		n = comma != NULL ? (size_t)(comma - s) : list->len;
		list->p += comma != NULL ? n + 1 : n;
		list->len -= comma != NULL ? n + 1 : n;
		*elem = trim_ows(s, n);
		if (elem->len > 0)
			return true;
	}
	return false;
}

static size_t
span(const char *b, size_t i, size_t end, const bool *tab)
{
	while (i < end && tab[(unsigned char)b[i]])
		i++;
	return i;
}

/*
 * Where scanning the line at p->pos must stop: one byte past the longest
 * line and the largest head allowed, so that the byte crossing a limit is
 * seen as soon as it arrives, and the work per call stays bounded.
 */
static size_t
window(const struct parser *p, size_t line_max)
{
	size_t	end = p->len;

	if (end - p->pos > line_max)
		end = p->pos + line_max + 1;
	if (end - p->head > p->lim.header_section_max)
		end = p->head + p->lim.header_section_max + 1;
	return end;
}

/*
 * Scanning reached `at`, the end of the window: either a limit has been
 * crossed (`status` for the line; 431 for the head, RFC 6585 §5) or the
 * input ends here and more is needed.
 */
static int
ran_out(struct parser *p, size_t at, size_t line_max, int status,
    const char *msg)
{
	if (at - p->pos > line_max)
		return fail(p, status, msg);
	if (at - p->head > p->lim.header_section_max)
		return fail(p, 431, "header section too large");
	return HTTP_PARSE_PARTIAL;
}

/*
 * The line at p->pos ends with the CR at `cr`.  RFC 9112 §2.2: a bare CR
 * is invalid, and we do not accept a bare LF as a line end either.
 */
static int
end_line(struct parser *p, size_t cr)
{
	if (cr + 1 == p->len)
		return HTTP_PARSE_PARTIAL;
	if (p->buf[cr + 1] != '\n')
		return fail(p, 400, "bare CR");
	p->pos = cr + 2;
	if (p->pos - p->head > p->lim.header_section_max)
		return fail(p, 431, "header section too large");
	return 0;
}

/*
 * RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
 * before the request-line.  We ignore a few, and count them as consumed.
 */
static int
skip_leading_crlf(struct parser *p)
{
	int	n;

	for (n = 0; n < MH_HTTP_LEADING_CRLF_MAX; n++) {
		if (p->pos == p->len || p->buf[p->pos] != '\r')
			break;
		if (p->pos + 1 == p->len)
			return HTTP_PARSE_PARTIAL;
		if (p->buf[p->pos + 1] != '\n')
			return fail(p, 400, "bare CR");
		p->pos += 2;
	}
	p->head = p->pos;
	return 0;
}

/* RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. */
static int
scan_version(struct parser *p, struct reqline *rl, size_t i, size_t end)
{
	static const char	 form[] = "HTTP/#.#";
	const char		*f;
	unsigned char		 c;

	rl->version = i;
	for (f = form; *f != '\0'; f++, i++) {
		if (i == end)
			return ran_out(p, i, p->lim.request_line_max, 414,
			    "request-line too long");
		c = (unsigned char)p->buf[i];
		if (*f == '#' ? !ascii_is_digit(c) : c != *f)
			return fail(p, 400, "malformed HTTP-version");
	}
	if (i == end)
		return ran_out(p, i, p->lim.request_line_max, 414,
		    "request-line too long");
	if (p->buf[i] != '\r')
		return fail(p, 400, "malformed HTTP-version");
	rl->cr = i;
	return 0;
}

/*
 * RFC 9112 §3: request-line = method SP request-target SP HTTP-version,
 * with exactly one SP each; the lenient whitespace §3 allows is not used.
 */
static int
scan_request_line(struct parser *p, struct reqline *rl)
{
	const char	*b = p->buf;
	size_t		 end, i;

	end = window(p, p->lim.request_line_max);
	rl->method = p->pos;
	i = span(b, p->pos, end, tchar_tab);
	if (i == end)
		return ran_out(p, i, p->lim.request_line_max, 414,
		    "request-line too long");
	if (i == rl->method || b[i] != ' ')
		return fail(p, 400, "malformed method");
	rl->method_end = i++;

	rl->target = i;
	i = span(b, i, end, target_tab);
	if (i == end)
		return ran_out(p, i, p->lim.request_line_max, 414,
		    "request-line too long");
	if (i == rl->target || b[i] != ' ')
		return fail(p, 400, "invalid request-target");
	rl->target_end = i++;
	return scan_version(p, rl, i, end);
}

static int
check_version(struct parser *p, const struct reqline *rl)
{
	int	major = p->buf[rl->version + 5] - '0';
	int	minor = p->buf[rl->version + 7] - '0';

	/* RFC 9110 §15.6.6: 505 for a major version we do not support. */
	if (major >= 2)
		return fail(p, 505, "HTTP version not supported");
	if (major == 0)
		return fail(p, 400, "HTTP/0.x is not supported");
	/* RFC 9110 §2.5: a higher minor version is handled as 1.1. */
	p->req->version_minor = minor >= 1 ? 1 : 0;
	return 0;
}

static int
check_method(struct parser *p, const struct reqline *rl)
{
	const char	*m = p->buf + rl->method;
	size_t		 n = rl->method_end - rl->method;
	int		 i;

	/* RFC 9110 §9.1: method names are case-sensitive. */
	for (i = 0; i < HTTP_METHOD_COUNT; i++) {
		if (strlen(method_names[i]) == n &&
		    memcmp(method_names[i], m, n) == 0) {
			p->req->method = (enum http_method)i;
			return 0;
		}
	}
	/* RFC 9110 §15.6.2: 501 for any other method, CONNECT included. */
	return fail(p, 501, "method not implemented");
}

static bool
pct_encoded(const char *s, size_t n)
{
	return n >= 3 && s[0] == '%' && ascii_hex_value((unsigned char)s[1]) >= 0 &&
	    ascii_hex_value((unsigned char)s[2]) >= 0;
}

/*
 * RFC 3986 §3.3, §3.4: path-abempty [ "?" query ], where the path is
 * *( "/" / pchar ) and the query *( pchar / "/" / "?" ); the bytes are
 * already known to be of target_tab.  Brackets belong to hosts only.
 */
static int
parse_path_query(struct parser *p, const char *s, size_t n)
{
	struct http_request	*req = p->req;
	size_t			 i, q = n;

	for (i = 0; i < n; i++) {
		if (s[i] == '?' && q == n)
			q = i;
		else if (s[i] == '[' || s[i] == ']')
			return fail(p, 400, "invalid request-target");
		else if (s[i] == '%') {
			if (!pct_encoded(s + i, n - i))
				return fail(p, 400, "bad percent-encoding");
			i += 2;
		}
	}
	req->path = slice(s, q);
	req->query = q < n ? slice(s + q + 1, n - q - 1) : slice(s + n, 0);
	return 0;
}

/*
 * RFC 3986 §3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]".
 * Checked loosely, as the bytes those forms use: the value is not used.
 * Returns the length through "]", or 0.
 */
static size_t
ip_literal_len(const char *s, size_t n)
{
	size_t	i;

	for (i = 1; i < n && s[i] != ']'; i++) {
		if (!regname_tab[(unsigned char)s[i]] && s[i] != ':')
			return 0;
	}
	return (i == n || i == 1) ? 0 : i + 1;
}

/*
 * uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): reg-name or
 * IP-literal, then *DIGIT.  No userinfo: RFC 9110 §4.2.4 says to treat
 * it as an error.  need_host: an http(s) URI must not have an empty host.
 */
static bool
valid_authority(const char *s, size_t n, bool need_host)
{
	size_t	i = 0;

	if (n > 0 && s[0] == '[') {
		if ((i = ip_literal_len(s, n)) == 0)
			return false;
	} else {
		while (i < n && s[i] != ':') {
			if (s[i] == '%' && pct_encoded(s + i, n - i))
				i += 3;
			else if (regname_tab[(unsigned char)s[i]])
				i++;
			else
				return false;
		}
	}
	if ((need_host && i == 0) || (i < n && s[i] != ':'))
		return false;
	for (i = i + 1; i < n; i++) {
		if (!ascii_is_digit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/*
 * RFC 9112 §3.2.2: absolute-form must be accepted; the Host field is then
 * ignored (but still required on 1.1).  A missing path is "/": it points
 * at the second slash of "://", so that every slice stays in the buffer.
 */
static int
parse_absolute(struct parser *p, const char *t, size_t n, size_t scheme)
{
	const char	*a = t + scheme;
	size_t		 alen = 0;
	int		 rv;

	while (scheme + alen < n && a[alen] != '/' && a[alen] != '?')
		alen++;
	if (!valid_authority(a, alen, true))
		return fail(p, 400, "invalid authority in request-target");
	rv = parse_path_query(p, a + alen, n - scheme - alen);
	if (rv == 0 && p->req->path.len == 0)
		p->req->path = slice(t + scheme - 1, 1);
	return rv;
}

static int
parse_target(struct parser *p, const char *t, size_t n)
{
	p->req->target = slice(t, n);
	if (n == 1 && t[0] == '*') {
		/* RFC 9112 §3.2.4: asterisk-form is for OPTIONS only. */
		if (p->req->method != HTTP_OPTIONS)
			return fail(p, 400, "asterisk-form without OPTIONS");
		p->req->path = slice(t, 1);
		p->req->query = slice(t + 1, 0);
		return 0;
	}
	if (t[0] == '/')
		return parse_path_query(p, t, n);
	/* RFC 3986 §3.1: schemes are case-insensitive. */
	if (n >= 7 && eq_ci(t, 7, "http://"))
		return parse_absolute(p, t, n, 7);
	if (n >= 8 && eq_ci(t, 8, "https://"))
		return parse_absolute(p, t, n, 8);
	/* RFC 9112 §3.2.3: authority-form is for CONNECT, which we lack. */
	return fail(p, 400, "unsupported request-target form");
}

/*
 * The version is judged before the method and the target, so that the
 * HTTP/2 preface "PRI * HTTP/2.0" gets 505 rather than 501 or 400.
 */
static int
parse_request_line(struct parser *p)
{
	struct reqline	rl;
	int		rv;

	if ((rv = scan_request_line(p, &rl)) != 0)
		return rv;
	if ((rv = end_line(p, rl.cr)) != 0)
		return rv;
	if ((rv = check_version(p, &rl)) != 0)
		return rv;
	if ((rv = check_method(p, &rl)) != 0)
		return rv;
	return parse_target(p, p->buf + rl.target,
	    rl.target_end - rl.target);
}

static int
field_host(struct parser *p, struct http_slice v)
{
	/* RFC 9112 §3.2: more than one Host, or an invalid one: MUST 400. */
	if (++p->hosts > 1)
		return fail(p, 400, "more than one Host field");
	if (!valid_authority(v.p, v.len, false))
		return fail(p, 400, "invalid Host");
	return 0;
}

/*
 * RFC 9110 §8.6: Content-Length = 1*DIGIT.  RFC 9112 §6.3 (5): anything
 * else is unrecoverable; a repeated field or a list ("17, 17") MAY be
 * accepted when the values agree, but we reject it.  Large values
 * saturate instead of wrapping (RFC 9110 §8.6: anticipate large numbers);
 * the caller answers 413.
 */
static int
field_content_length(struct parser *p, struct http_slice v)
{
	uint64_t	n = 0;
	unsigned	d;
	size_t		i;

	if (p->req->has_content_length)
		return fail(p, 400, "more than one Content-Length");
	if (v.len == 0)
		return fail(p, 400, "empty Content-Length");
	for (i = 0; i < v.len; i++) {
		if (!ascii_is_digit((unsigned char)v.p[i]))
			return fail(p, 400, "invalid Content-Length");
		d = (unsigned)(v.p[i] - '0');
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	p->req->has_content_length = true;
	p->req->content_length = n;
	return 0;
}

/*
 * Transfer-Encoding is a list over all its fields (RFC 9110 §5.3); it is
 * judged when the head is complete.  Codings are tokens, case-insensitive
 * (RFC 9112 §7); we take no parameters.
 */
static int
field_transfer_encoding(struct parser *p, struct http_slice v)
{
	struct http_slice	e;

	p->te = true;
	if (v.len == 0)
		return fail(p, 400, "empty Transfer-Encoding");
	while (next_element(&v, &e)) {
		if (!is_token(e))
			return fail(p, 400, "invalid Transfer-Encoding");
		p->te_codings++;
		p->te_last_chunked = eq_ci(e.p, e.len, "chunked");
		if (p->te_last_chunked)
			p->te_chunked++;
	}
	return 0;
}

/* RFC 9110 §7.6.1: Connection = #connection-option (tokens). */
static int
field_connection(struct parser *p, struct http_slice v)
{
	struct http_slice	e;

	while (next_element(&v, &e)) {
		if (!is_token(e))
			return fail(p, 400, "invalid Connection");
		if (eq_ci(e.p, e.len, "close"))
			p->conn_close = true;
		else if (eq_ci(e.p, e.len, "keep-alive"))
			p->conn_keep_alive = true;
	}
	return 0;
}

/* RFC 9110 §10.1.1: 100-continue is the only expectation defined. */
static int
field_expect(struct parser *p, struct http_slice v)
{
	struct http_slice	e;

	while (next_element(&v, &e)) {
		if (eq_ci(e.p, e.len, "100-continue"))
			p->expect_100 = true;
		else
			p->expect_other = true;
	}
	return 0;
}

static const struct {
	const char	*name;
	int		(*apply)(struct parser *, struct http_slice);
} field_handlers[] = {
	{ "host", field_host },
	{ "content-length", field_content_length },
	{ "transfer-encoding", field_transfer_encoding },
	{ "connection", field_connection },
	{ "expect", field_expect },
};

static int
apply_field(struct parser *p, const struct http_header *h)
{
	size_t	i;

	for (i = 0; i < sizeof field_handlers / sizeof field_handlers[0]; i++) {
		if (eq_ci(h->name.p, h->name.len, field_handlers[i].name))
			return field_handlers[i].apply(p, h->value);
	}
	return 0;
}

static const char *
field_name_error(const struct parser *p, size_t stop)
{
	unsigned char	c = (unsigned char)p->buf[stop];

	/* RFC 9112 §5.2 (obs-fold), §2.2 (whitespace after the start-line). */
	if (stop == p->pos && is_ws(c))
		return "field line starts with whitespace";
	/* RFC 9112 §5.1: whitespace before the colon MUST get 400. */
	if (is_ws(c))
		return "whitespace before colon";
	if (c == ':')
		return "empty field name";
	return c == '\n' ? "bare LF" : "invalid field name";
}

/* RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, CRLF. */
static int
parse_field_line(struct parser *p)
{
	const char		*b = p->buf;
	size_t			 start = p->pos, end, i, colon;
	struct http_header	*h;
	int			 rv;

	end = window(p, p->lim.header_line_max);
	i = span(b, start, end, tchar_tab);
	if (i == end)
		return ran_out(p, i, p->lim.header_line_max, 431,
		    "header line too long");
	if (i == start || b[i] != ':')
		return fail(p, 400, field_name_error(p, i));
	colon = i;
	i = span(b, colon + 1, end, value_tab);
	if (i == end)
		return ran_out(p, i, p->lim.header_line_max, 431,
		    "header line too long");
	if (b[i] != '\r')
		return fail(p, 400, b[i] == '\n' ? "bare LF" :
		    "invalid byte in field value");
	if ((rv = end_line(p, i)) != 0)
		return rv;
	h = &p->req->headers[p->req->header_count++];
	h->name = slice(b + start, colon - start);
	h->value = trim_ows(b + colon + 1, i - colon - 1);
	return apply_field(p, h);
}

/* RFC 9112 §6.1, §6.3: the framing decisions Transfer-Encoding makes. */
static int
finish_te(struct parser *p)
{
	/* §6.1: the server MUST close after such a request; we refuse it. */
	if (p->req->has_content_length)
		return fail(p, 400, "Transfer-Encoding with Content-Length");
	/* §6.1: TE in a 1.0 request means faulty framing. */
	if (p->req->version_minor == 0)
		return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
	/* §6.1: chunked MUST NOT be applied more than once. */
	if (p->te_chunked > 1)
		return fail(p, 400, "chunked applied more than once");
	/* §6.3 (4): if chunked is not the final coding, MUST 400. */
	if (!p->te_last_chunked)
		return fail(p, 400, "chunked is not the final coding");
	/* §6.1: SHOULD 501 for a coding we do not understand. */
	if (p->te_codings > 1)
		return fail(p, 501, "transfer coding not implemented");
	p->req->chunked = true;
	return 0;
}

static int
finish_head(struct parser *p)
{
	struct http_request	*req = p->req;
	int			 rv;

	/* RFC 9112 §3.2: a 1.1 request without Host MUST get 400. */
	if (req->version_minor == 1 && p->hosts == 0)
		return fail(p, 400, "missing Host");
	if (p->te && (rv = finish_te(p)) != 0)
		return rv;
	/* RFC 9110 §10.1.1: MAY 417 for an expectation we cannot meet. */
	if (p->expect_other)
		return fail(p, 417, "unsupported expectation");
	/* §10.1.1: 100-continue in a 1.0 request MUST be ignored. */
	req->expect_continue = p->expect_100 && req->version_minor == 1;
	/* RFC 9112 §9.3: persistence by version default and Connection. */
	req->keep_alive = !p->conn_close &&
	    (req->version_minor == 1 || p->conn_keep_alive);
	return 0;
}

static int
parse_headers(struct parser *p)
{
	unsigned char	c;
	int		rv;

	for (;;) {
		if (p->pos == p->len)
			return HTTP_PARSE_PARTIAL;
		c = (unsigned char)p->buf[p->pos];
		if (c == '\r')
			break;
		/* RFC 6585 §5: 431, as soon as one field too many starts. */
		if (c != '\n' &&
		    p->req->header_count == p->lim.header_count_max)
			return fail(p, 431, "too many header fields");
		if ((rv = parse_field_line(p)) != 0)
			return rv;
	}
	if ((rv = end_line(p, p->pos)) != 0)
		return rv;
	return finish_head(p);
}

static void
parser_init(struct parser *p, const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req,
    struct http_error *err)
{
	size_t	cap = sizeof req->headers / sizeof req->headers[0];

	memset(p, 0, sizeof *p);
	p->buf = buf;
	p->len = len;
	p->req = req;
	p->err = err;
	if (lim != NULL)
		p->lim = *lim;
	else
		http_limits_default(&p->lim);
	if (p->lim.header_count_max > cap)
		p->lim.header_count_max = cap;

	req->method = HTTP_GET;
	req->target = req->path = req->query = slice(buf, 0);
	req->version_minor = 0;
	req->keep_alive = req->expect_continue = req->chunked = false;
	req->has_content_length = false;
	req->content_length = 0;
	req->header_count = 0;
}

void
http_limits_default(struct http_limits *lim)
{
	lim->request_line_max = MH_HTTP_REQUEST_LINE_MAX;
	lim->header_line_max = MH_HTTP_HEADER_LINE_MAX;
	lim->header_section_max = MH_HTTP_HEADER_SECTION_MAX;
	lim->header_count_max = MH_HTTP_HEADER_COUNT_MAX;
	lim->chunk_ext_max = MH_HTTP_CHUNK_EXT_MAX;
}

ssize_t
http_parse_request(const char *buf, size_t len,
    const struct http_limits *lim, struct http_request *req,
    struct http_error *err)
{
	struct parser	p;
	int		rv;

	parser_init(&p, buf, len, lim, req, err);
	if ((rv = skip_leading_crlf(&p)) != 0)
		return rv;
	if ((rv = parse_request_line(&p)) != 0)
		return rv;
	if ((rv = parse_headers(&p)) != 0)
		return rv;
	return (ssize_t)p.pos;
}

const struct http_header *
http_find_header(const struct http_request *req, const char *name)
{
	size_t	i;

	for (i = 0; i < req->header_count; i++) {
		if (eq_ci(req->headers[i].name.p, req->headers[i].name.len,
		    name))
			return &req->headers[i];
	}
	return NULL;
}

/*
 * Chunked decoding (RFC 9112 §7.1), one byte at a time except for chunk
 * data, so that input split anywhere decodes the same.  A zeroed struct
 * starts in CK_SIZE.  The in_ext, in_quote and quote_escape fields of
 * struct http_chunked are not used: the state says all of that.
 */
enum chunk_state {
	CK_SIZE,		/* chunk-size = 1*HEXDIG */
	CK_EXT_WS,		/* BWS after the size or a value: ";" next */
	CK_EXT_NAME0,		/* after ";": BWS, then chunk-ext-name */
	CK_EXT_NAME,
	CK_EXT_NAME_WS,		/* BWS after the name: "=" or ";" next */
	CK_EXT_VAL0,		/* after "=": BWS, then token / quoted-string */
	CK_EXT_TOKEN,
	CK_EXT_QUOTED,
	CK_EXT_ESCAPE,		/* after "\" in a quoted-string */
	CK_EXT_QEND,		/* after the closing DQUOTE */
	CK_SIZE_LF,		/* CR seen at the end of the size line */
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER,		/* start of a trailer line or the final CRLF */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_END_LF,
	CK_DONE
};

#define CK_BAD	(-1)

static int
step_size(struct http_chunked *d, unsigned char c, const char **why)
{
	int	v = ascii_hex_value(c);

	if (v >= 0) {
		/* §7.1: anticipate large numerals; 16 digits fill 64 bits. */
		*why = "chunk size too large";
		if (d->hex_digits == 16)
			return CK_BAD;
		d->remaining = d->remaining << 4 | (uint64_t)v;
		d->hex_digits++;
		return CK_SIZE;
	}
	*why = "malformed chunk size";
	if (d->hex_digits == 0)
		return CK_BAD;
	if (c == '\r')
		return CK_SIZE_LF;
	if (c == ';')
		return CK_EXT_NAME0;
	/* §7.1.1: only BWS before ";"; "5 " alone is not a chunk-size. */
	return is_ws(c) ? CK_EXT_WS : CK_BAD;
}

/* What may follow an extension name or value (RFC 9112 §7.1.1). */
static int
ext_after(unsigned char c, bool after_name)
{
	if (c == '\r')
		return CK_SIZE_LF;
	if (c == ';')
		return CK_EXT_NAME0;
	if (c == '=' && after_name)
		return CK_EXT_VAL0;
	if (is_ws(c))
		return after_name ? CK_EXT_NAME_WS : CK_EXT_WS;
	return CK_BAD;
}

/*
 * chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * with chunk-ext-val = token / quoted-string (RFC 9112 §7.1.1).  The
 * extensions are checked and ignored.
 */
static int
step_ext(int state, unsigned char c)
{
	switch (state) {
	case CK_EXT_WS:
	case CK_EXT_NAME_WS:
		/* BWS may not end the line: "5 \r\n" is not valid. */
		return c == '\r' ? CK_BAD :
		    ext_after(c, state == CK_EXT_NAME_WS);
	case CK_EXT_NAME0:
		if (is_ws(c))
			return CK_EXT_NAME0;
		return tchar_tab[c] ? CK_EXT_NAME : CK_BAD;
	case CK_EXT_NAME:
		return tchar_tab[c] ? CK_EXT_NAME : ext_after(c, true);
	case CK_EXT_VAL0:
		if (is_ws(c))
			return CK_EXT_VAL0;
		if (c == '"')
			return CK_EXT_QUOTED;
		return tchar_tab[c] ? CK_EXT_TOKEN : CK_BAD;
	case CK_EXT_TOKEN:
		return tchar_tab[c] ? CK_EXT_TOKEN : ext_after(c, false);
	case CK_EXT_QUOTED:
		/* RFC 9110 §5.6.4: qdtext or quoted-pair; CR: unterminated. */
		if (c == '"')
			return CK_EXT_QEND;
		if (c == '\\')
			return CK_EXT_ESCAPE;
		return value_tab[c] ? CK_EXT_QUOTED : CK_BAD;
	case CK_EXT_ESCAPE:
		return value_tab[c] ? CK_EXT_QUOTED : CK_BAD;
	default:	/* CK_EXT_QEND */
		return ext_after(c, false);
	}
}

/* The CRLF after the size line and after the chunk data (§7.1). */
static int
step_crlf(struct http_chunked *d, unsigned char c, const char **why)
{
	switch (d->state) {
	case CK_SIZE_LF:
		*why = "chunk size line not ended by CRLF";
		if (c != '\n')
			return CK_BAD;
		/* The last chunk has size 0; the trailer section follows. */
		return d->remaining == 0 ? CK_TRAILER : CK_DATA;
	case CK_DATA_CR:
		*why = "chunk data not followed by CRLF";
		return c == '\r' ? CK_DATA_LF : CK_BAD;
	default:	/* CK_DATA_LF */
		*why = "chunk data not followed by CRLF";
		if (c != '\n')
			return CK_BAD;
		d->hex_digits = 0;
		d->line_len = 0;
		return CK_SIZE;
	}
}

/*
 * RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), checked like
 * header fields and then discarded (RFC 9110 §6.5): a trailer never
 * changes the framing.
 */
static int
step_trailer(int state, unsigned char c)
{
	switch (state) {
	case CK_TRAILER:
		if (c == '\r')
			return CK_END_LF;
		return tchar_tab[c] ? CK_TR_NAME : CK_BAD;
	case CK_TR_NAME:
		if (c == ':')
			return CK_TR_VALUE;
		return tchar_tab[c] ? CK_TR_NAME : CK_BAD;
	case CK_TR_VALUE:
		if (c == '\r')
			return CK_TR_LF;
		return value_tab[c] ? CK_TR_VALUE : CK_BAD;
	case CK_TR_LF:
		return c == '\n' ? CK_TRAILER : CK_BAD;
	default:	/* CK_END_LF */
		return c == '\n' ? CK_DONE : CK_BAD;
	}
}

static bool
is_ext_state(int state)
{
	return state >= CK_EXT_WS && state <= CK_EXT_QEND;
}

static int
chunk_step(struct http_chunked *d, unsigned char c,
    const struct http_limits *lim, struct http_error *err)
{
	const char	*why = "malformed chunk extension";
	int		 next;

	if (d->state == CK_SIZE)
		next = step_size(d, c, &why);
	else if (is_ext_state(d->state)) {
		if ((d->state == CK_EXT_QUOTED || d->state == CK_EXT_ESCAPE) &&
		    c == '\r')
			why = "unterminated quoted-string in chunk extension";
		next = step_ext(d->state, c);
	} else if (d->state < CK_TRAILER)
		next = step_crlf(d, c, &why);
	else {
		why = "malformed trailer field";
		next = step_trailer(d->state, c);
	}
	if (next == CK_BAD)
		return set_error(err, 400, why);
	/* §7.1.1: a server ought to limit the size of chunk extensions. */
	if (is_ext_state(next) && ++d->line_len > lim->chunk_ext_max)
		return set_error(err, 400, "chunk extensions too long");
	if (d->state >= CK_TRAILER &&
	    ++d->trailer_len > lim->header_section_max)
		return set_error(err, 431, "trailer section too large");
	d->state = next;
	return 0;
}

ssize_t
http_chunked_decode(struct http_chunked *dec, char *buf, size_t *len,
    const struct http_limits *lim, struct http_error *err)
{
	struct http_limits	 deflim;
	size_t			 src = 0, dst = 0, n = *len, take;

	if (lim == NULL) {
		http_limits_default(&deflim);
		lim = &deflim;
	}
	while (src < n && dec->state != CK_DONE) {
		if (dec->state != CK_DATA) {
			if (chunk_step(dec, (unsigned char)buf[src++], lim,
			    err) != 0) {
				*len = dst;
				return HTTP_PARSE_ERROR;
			}
			continue;
		}
		take = n - src;
		if (take > dec->remaining)
			take = (size_t)dec->remaining;
		memmove(buf + dst, buf + src, take);
		src += take;
		dst += take;
		dec->remaining -= take;
		if (dec->remaining == 0)
			dec->state = CK_DATA_CR;
	}
	*len = dst;
	if (dec->state != CK_DONE)
		return HTTP_PARSE_PARTIAL;
	memmove(buf + dst, buf + src, n - src);
	return (ssize_t)(n - src);
}

/* A bounded writer: once something does not fit, nothing more is added. */
struct out {
	char	*p;
	size_t	 cap;
	size_t	 len;
	bool	 fail;
};

static void
out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->fail || n > o->cap - o->len) {
		o->fail = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
out_str(struct out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

/* Decimal, zero-padded to at least `width` digits. */
static void
out_uint(struct out *o, uintmax_t v, int width)
{
	char	tmp[24];
	size_t	i = sizeof tmp;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 || sizeof tmp - i < (size_t)width);
	out_bytes(o, tmp + i, sizeof tmp - i);
}

/* A field whose value would break the framing is not written at all. */
static void
out_field(struct out *o, const char *name, const char *value)
{
	const char	*s;

	for (s = value; *s != '\0'; s++) {
		if (!value_tab[(unsigned char)*s])
			o->fail = true;
	}
	out_str(o, name);
	out_str(o, ": ");
	out_str(o, value);
	out_str(o, "\r\n");
}

/*
 * RFC 9110 §5.6.7: IMF-fixdate, what strftime() gives for "%a, %d %b %Y
 * %H:%M:%S GMT" in the C locale, but with our own names so that the
 * process locale cannot change it.
 */
static void
out_date(struct out *o, time_t now)
{
	static const char	 days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char	 months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm		 tm;
	long long		 year;

	if (gmtime_r(&now, &tm) == NULL) {
		o->fail = true;
		return;
	}
	/* IMF-fixdate has a four-digit year. */
	year = tm.tm_year + 1900LL;
	if (year < 0 || year > 9999) {
		o->fail = true;
		return;
	}
	out_str(o, "Date: ");
	out_str(o, days[tm.tm_wday]);
	out_str(o, ", ");
	out_uint(o, (uintmax_t)tm.tm_mday, 2);
	out_str(o, " ");
	out_str(o, months[tm.tm_mon]);
	out_str(o, " ");
	out_uint(o, (uintmax_t)year, 4);
	out_str(o, " ");
	out_uint(o, (uintmax_t)tm.tm_hour, 2);
	out_str(o, ":");
	out_uint(o, (uintmax_t)tm.tm_min, 2);
	out_str(o, ":");
	out_uint(o, (uintmax_t)tm.tm_sec, 2);
	out_str(o, " GMT\r\n");
}

size_t
http_format_head(char *buf, size_t cap, const struct http_response *resp,
    time_t now)
{
	struct out	o = { buf, cap, 0, false };

	if (resp->status < 100 || resp->status > 599)
		return 0;
	out_str(&o, "HTTP/1.1 ");
	out_uint(&o, (uintmax_t)resp->status, 3);
	out_str(&o, " ");
	out_str(&o, http_reason(resp->status));
	out_str(&o, "\r\n");
	/* RFC 9110 §6.6.1: an origin server with a clock MUST send Date. */
	out_date(&o, now);
	if (resp->content_type != NULL)
		out_field(&o, "Content-Type", resp->content_type);
	/* RFC 9110 §8.6: never Content-Length in a 1xx or 204 response. */
	if (resp->status >= 200 && resp->status != 204) {
		out_str(&o, "Content-Length: ");
		out_uint(&o, resp->content_length, 1);
		out_str(&o, "\r\n");
	}
	if (resp->location != NULL)
		out_field(&o, "Location", resp->location);
	if (resp->allow != NULL)
		out_field(&o, "Allow", resp->allow);
	if (resp->retry_after > 0) {
		out_str(&o, "Retry-After: ");
		out_uint(&o, resp->retry_after, 1);
		out_str(&o, "\r\n");
	}
	/* RFC 9112 §9.6 (close); §9.3 keep-alive for 1.0 clients. */
	if (resp->close)
		out_str(&o, "Connection: close\r\n");
	else if (resp->keep_alive_header)
		out_str(&o, "Connection: keep-alive\r\n");
	out_str(&o, "\r\n");
	return o.fail ? 0 : o.len;
}

const char *
http_reason(int status)
{
	/* RFC 9110 §15: the reason phrases. */
	static const struct {
		int		 status;
		const char	*reason;
	} reasons[] = {
		{ 100, "Continue" },
		{ 200, "OK" },
		{ 201, "Created" },
		{ 204, "No Content" },
		{ 307, "Temporary Redirect" },
		{ 400, "Bad Request" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" },
		{ 408, "Request Timeout" },
		{ 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 417, "Expectation Failed" },
		{ 431, "Request Header Fields Too Large" },	/* RFC 6585 */
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
		{ 507, "Insufficient Storage" },		/* RFC 4918 */
	};
	size_t	i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		if (reasons[i].status == status)
			return reasons[i].reason;
	}
	return "Unknown";
}

const char *
http_method_name(enum http_method method)
{
	if ((unsigned)method >= HTTP_METHOD_COUNT)
		return "UNKNOWN";
	return method_names[method];
}

void
http_answer_free(struct http_answer *a)
{
	free(a->body);
	a->body = NULL;
}
