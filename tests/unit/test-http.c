/*
 * test-http.c — the request parser, the chunked decoder and the response
 * head formatter against the policy of DESIGN.md §5 and the RFCs.  Every
 * input is copied so that it ends exactly where a PROT_NONE page begins,
 * so a read past the end crashes (picohttpparser's test.c).  Every prefix of every request is parsed too: it must say
 * "partial" until the head is complete, and an error must not appear
 * before the byte that causes it (err_at: the shortest failing prefix,
 * counted by hand from the input and the rule that rejects it).
 */
#include <config.h>

#include <sys/mman.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "limits.h"
#include "tap.h"

#define D	"2c26b46b68ffc68ff99b453c1d304134" \
		"13422d706483bfa0f98a5e886266e7ae"
#define J	"{\"message\":\"foo\"}"
#define H	"Host: a\r\n"
#define GETD	"GET /messages/" D
#define R	"GET / HTTP/1.1\r\n"
#define PH	"POST /messages HTTP/1.1\r\n" H \
		"Content-Type: application/json\r\n"
#define P(h)	PH h "\r\n"

/* Input bytes with their length, so that NUL bytes are part of them. */
#define IN(s)		.in = (s), .len = sizeof(s) - 1
#define WHOLE(s)	IN(s), .want = (ssize_t)sizeof(s) - 1
#define WITH(s, rest)	.in = s rest, .len = sizeof(s rest) - 1, \
			.want = (ssize_t)sizeof(s) - 1
#define BAD(s, st)	IN(s), .want = HTTP_PARSE_ERROR, .status = (st)
#define UPTO(s)		.err_at = sizeof(s) - 1

struct pcase {
	const char			*row;	/* case id; "+" marks extras */
	const char			*in;
	size_t				 len;
	ssize_t				 want;	/* consumed, or HTTP_PARSE_* */
	int				 status;
	size_t				 err_at;
	const struct http_limits	*lim;
	/* Checked when the head is complete. */
	enum http_method		 method;
	int				 minor;
	const char			*path;
	const char			*query;
	bool				 ka;
	bool				 chunked;
	bool				 expect;
	bool				 has_cl;
	uint64_t			 cl;
	size_t				 nhdr;
};

/* Small limits, so that every boundary is cheap to reach exactly. */
static const struct http_limits small = {
	.request_line_max = 20,
	.header_line_max = 12,
	.header_section_max = 61,
	.header_count_max = 3,
	.chunk_ext_max = 8,
};

static const struct pcase pcases[] = {
	/* Request line. */
	{ "1 GET a digest", WHOLE(GETD " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "5 query", WHOLE(GETD "?x=1 HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "x=1", .ka = true, .nhdr = 1 },
	{ "5+ '?' and '/' in the query",
	  WHOLE("GET /a?b?/c HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/a", .query = "b?/c",
	  .ka = true, .nhdr = 1 },
	{ "6 percent-encoded, not decoded",
	  WHOLE("GET /messages/%32%63 HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/%32%63",
	  .query = "", .ka = true, .nhdr = 1 },
	{ "6+ bad percent-encoding",
	  BAD("GET /messages/%zz HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET /messages/%zz HTTP/1.1\r\n") },
	{ "6+ truncated percent-encoding",
	  BAD("GET /a%4 HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET /a%4 HTTP/1.1\r\n") },
	{ "7 trailing slash", WHOLE(GETD "/ HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D "/",
	  .query = "", .ka = true, .nhdr = 1 },
	{ "7 other path", WHOLE("GET /other HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/other", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "8 absolute-form",
	  WHOLE("GET http://a/messages/" D " HTTP/1.1\r\nHost: b\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "8+ absolute-form without a path",
	  WHOLE("GET http://a HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "8+ absolute-form, https, port, query, no path",
	  WHOLE("GET HTTPS://a:8080?q HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "q",
	  .ka = true, .nhdr = 1 },
	{ "8+ absolute-form, IP-literal",
	  WHOLE("GET http://[::1]:80/x?y=1 HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/x", .query = "y=1",
	  .ka = true, .nhdr = 1 },
	{ "8+ absolute-form with userinfo",
	  BAD("GET http://u@a/ HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET http://u@a/ HTTP/1.1\r\n") },
	{ "8+ absolute-form with an empty host",
	  BAD("GET http:///x HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET http:///x HTTP/1.1\r\n") },
	{ "8+ absolute-form, other scheme",
	  BAD("GET ftp://a/ HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET ftp://a/ HTTP/1.1\r\n") },
	{ "8+ absolute-form, brackets in a reg-name",
	  BAD("GET http://a[b]/ HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET http://a[b]/ HTTP/1.1\r\n") },
	{ "8+ absolute-form still needs Host on 1.1",
	  BAD("GET http://a/ HTTP/1.1\r\n\r\n", 400),
	  UPTO("GET http://a/ HTTP/1.1\r\n\r\n") },
	{ "9 authority-form", BAD("GET a:80 HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET a:80 HTTP/1.1\r\n") },
	{ "10 OPTIONS *", WHOLE("OPTIONS * HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_OPTIONS, .minor = 1, .path = "*", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "11 GET *", BAD("GET * HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET * HTTP/1.1\r\n") },
	{ "11+ OPTIONS *x", BAD("OPTIONS *x HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("OPTIONS *x HTTP/1.1\r\n") },
	{ "12 fragment", BAD(GETD "#x HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO(GETD "#") },
	{ "13 DEL in the target", BAD("GET /a\x7f" "b HTTP/1.1\r\n" H "\r\n",
	  400), UPTO("GET /a\x7f") },
	{ "13 byte >= 0x80 in the target",
	  BAD("GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET /caf\xc3") },
	{ "13+ '{' in the target", BAD("GET /a{b HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET /a{") },
	{ "13+ NUL in the target", BAD("GET /a\0b HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET /a\0") },
	{ "14 two SP", BAD("GET  /messages/" D " HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET  ") },
	{ "14+ two SP before the version",
	  BAD(GETD "  HTTP/1.1\r\n" H "\r\n", 400), UPTO(GETD "  ") },
	{ "15 HTAB separators",
	  BAD("GET\t/messages/" D "\tHTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET\t") },
	{ "16 trailing SP", BAD(GETD " HTTP/1.1 \r\n" H "\r\n", 400),
	  UPTO(GETD " HTTP/1.1 ") },
	{ "17 HTTP/1.0 without Host", WHOLE(GETD " HTTP/1.0\r\n\r\n"),
	  .method = HTTP_GET, .minor = 0, .path = "/messages/" D,
	  .query = "", .ka = false, .nhdr = 0 },
	{ "18 HTTP/1.2 is 1.1", WHOLE(GETD " HTTP/1.2\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "18+ HTTP/1.9 is 1.1", WHOLE(GETD " HTTP/1.9\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "19 HTTP/2.0", BAD(GETD " HTTP/2.0\r\n" H "\r\n", 505),
	  UPTO(GETD " HTTP/2.0\r\n") },
	{ "19 HTTP/3.0", BAD(GETD " HTTP/3.0\r\n" H "\r\n", 505),
	  UPTO(GETD " HTTP/3.0\r\n") },
	{ "19+ HTTP/9.9", BAD(GETD " HTTP/9.9\r\n" H "\r\n", 505),
	  UPTO(GETD " HTTP/9.9\r\n") },
	{ "20 HTTP/1.10", BAD(GETD " HTTP/1.10\r\n" H "\r\n", 400),
	  UPTO(GETD " HTTP/1.10") },
	{ "20 HTTP/01.1", BAD(GETD " HTTP/01.1\r\n" H "\r\n", 400),
	  UPTO(GETD " HTTP/01") },
	{ "20 http/1.1", BAD(GETD " http/1.1\r\n" H "\r\n", 400),
	  UPTO(GETD " h") },
	{ "20 HTTP/1", BAD(GETD " HTTP/1\r\n" H "\r\n", 400),
	  UPTO(GETD " HTTP/1\r") },
	{ "21 HTTP/0.9 request", BAD(GETD "\r\n\r\n", 400), UPTO(GETD "\r") },
	{ "21+ HTTP/0.9 version", BAD(GETD " HTTP/0.9\r\n\r\n", 400),
	  UPTO(GETD " HTTP/0.9\r\n") },
	{ "22 HTTP/2 preface", BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
	  UPTO("PRI * HTTP/2.0\r\n") },
	{ "23 leading CRLFs", WHOLE("\r\n\r\n" GETD " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "23+ four leading CRLFs",
	  WHOLE("\r\n\r\n\r\n\r\n" R H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "23+ five leading CRLFs",
	  BAD("\r\n\r\n\r\n\r\n\r\n" R H "\r\n", 400),
	  UPTO("\r\n\r\n\r\n\r\n\r") },
	{ "23+ leading bare LF", BAD("\n" R H "\r\n", 400), UPTO("\n") },
	{ "23+ leading bare CR", BAD("\r" R H "\r\n", 400), UPTO("\rG") },
	{ "26 lowercase method",
	  BAD("get /messages/" D " HTTP/1.1\r\n" H "\r\n", 501),
	  UPTO("get /messages/" D " HTTP/1.1\r\n") },
	{ "27 unknown method", BAD("FOO /messages HTTP/1.1\r\n" H "\r\n", 501),
	  UPTO("FOO /messages HTTP/1.1\r\n") },
	{ "27+ CONNECT", BAD("CONNECT a:80 HTTP/1.1\r\n" H "\r\n", 501),
	  UPTO("CONNECT a:80 HTTP/1.1\r\n") },
	{ "27+ token method with '-'",
	  BAD("M-SEARCH * HTTP/1.1\r\n" H "\r\n", 501),
	  UPTO("M-SEARCH * HTTP/1.1\r\n") },
	{ "27+ method is not a token", BAD("GET@ / HTTP/1.1\r\n" H "\r\n", 400),
	  UPTO("GET@") },
	{ "27+ empty method", BAD(" / HTTP/1.1\r\n" H "\r\n", 400), UPTO(" ") },
	{ "28 DELETE", WHOLE("DELETE /messages/" D " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_DELETE, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "29 GET /messages", WHOLE("GET /messages HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "30 PUT with a body",
	  WITH("PUT /messages HTTP/1.1\r\n" H "Content-Length: 17\r\n\r\n", J),
	  .method = HTTP_PUT, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = 17, .nhdr = 2 },
	{ "31 HEAD", WHOLE("HEAD /messages/" D " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_HEAD, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "+ the other methods",
	  WHOLE("PATCH /p HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_PATCH, .minor = 1, .path = "/p", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "+ TRACE", WHOLE("TRACE /t HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_TRACE, .minor = 1, .path = "/t", .query = "",
	  .ka = true, .nhdr = 1 },

	/* Host. */
	{ "32 no Host on 1.1", BAD(GETD " HTTP/1.1\r\n\r\n", 400),
	  UPTO(GETD " HTTP/1.1\r\n\r\n") },
	{ "33 two Host fields", BAD(GETD " HTTP/1.1\r\n" H H "\r\n", 400),
	  UPTO(GETD " HTTP/1.1\r\n" H H) },
	{ "33+ two Host fields on 1.0",
	  BAD(GETD " HTTP/1.0\r\n" H H "\r\n", 400),
	  UPTO(GETD " HTTP/1.0\r\n" H H) },
	{ "34 Host: a b", BAD(R "Host: a b\r\n\r\n", 400),
	  UPTO(R "Host: a b\r\n") },
	{ "34 Host: a/b", BAD(R "Host: a/b\r\n\r\n", 400),
	  UPTO(R "Host: a/b\r\n") },
	{ "34+ Host: a@b", BAD(R "Host: a@b\r\n\r\n", 400),
	  UPTO(R "Host: a@b\r\n") },
	{ "34+ Host: a:x", BAD(R "Host: a:x\r\n\r\n", 400),
	  UPTO(R "Host: a:x\r\n") },
	{ "34+ Host: [::1", BAD(R "Host: [::1\r\n\r\n", 400),
	  UPTO(R "Host: [::1\r\n") },
	{ "34+ Host: [::1]:8080", WHOLE(R "Host: [::1]:8080\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "34+ Host: a.example:80", WHOLE(R "Host: a.example:80\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "35 empty Host", WHOLE(GETD " HTTP/1.1\r\nHost:\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },

	/* Field syntax. */
	{ "36 space before colon", BAD(R "Host : a\r\n\r\n", 400),
	  UPTO(R "Host ") },
	{ "37 obs-fold", BAD(R H "X-A: 1\r\n 2\r\n\r\n", 400),
	  UPTO(R H "X-A: 1\r\n ") },
	{ "38 obs-fold after Transfer-Encoding",
	  BAD(P("Transfer-Encoding: chunked\r\n  abc\r\n")
	  "11\r\n" J "\r\n0\r\n\r\n", 400),
	  UPTO(PH "Transfer-Encoding: chunked\r\n ") },
	{ "39 whitespace line after the request-line",
	  BAD(R " Host: a\r\n\r\n", 400), UPTO(R " ") },
	{ "40 NUL in a value", BAD(R H "X: a\0b\r\n\r\n", 400),
	  UPTO(R H "X: a\0") },
	{ "41 bare CR in a value", BAD(R H "X: a\rb\r\n\r\n", 400),
	  UPTO(R H "X: a\rb") },
	{ "42 bare LF line ends", BAD(GETD " HTTP/1.1\nHost: a\n\n", 400),
	  UPTO(GETD " HTTP/1.1\n") },
	{ "43 one bare LF", BAD("POST / HTTP/1.1\r\nHost: a\r\nx:x\n"
	  "Transfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n", 400),
	  UPTO("POST / HTTP/1.1\r\nHost: a\r\nx:x\n") },
	{ "43+ bare LF ends the head", BAD(R H "\n", 400), UPTO(R H "\n") },
	{ "43+ bare CR ends the head", BAD(R H "\rX", 400), UPTO(R H "\rX") },
	{ "44 field name X@Y", BAD(R H "X@Y: 1\r\n\r\n", 400), UPTO(R H "X@") },
	{ "44 field name X Y", BAD(R H "X Y: 1\r\n\r\n", 400), UPTO(R H "X ") },
	{ "44 empty field name", BAD(R H ": 1\r\n\r\n", 400), UPTO(R H ":") },
	{ "44 NUL in a field name", BAD(R H "a\0b: c\r\n\r\n", 400),
	  UPTO(R H "a\0") },
	{ "44 byte 0x80 in a field name", BAD(R H "X\x80: 1\r\n\r\n", 400),
	  UPTO(R H "X\x80") },
	{ "45 no colon", BAD(R H "Foo\r\n\r\n", 400), UPTO(R H "Foo\r") },
	{ "46 CTL in a value", BAD(R H "X: a\x01" "b\r\n\r\n", 400),
	  UPTO(R H "X: a\x01") },
	{ "46 DEL in a value", BAD(R H "X: a\x7f" "b\r\n\r\n", 400),
	  UPTO(R H "X: a\x7f") },
	{ "47 obs-text in a value", WHOLE(R H "X: caf\xc3\xa9\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 2 },
	{ "+ HTAB and inner spaces in a value",
	  WHOLE(R H "X:\t a \t b\t \r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .nhdr = 2 },

	/* Expect and Connection. */
	{ "50 Expect: 100-continue",
	  WITH(P("Content-Length: 17\r\nExpect: 100-continue\r\n"), J),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .expect = true, .has_cl = true, .cl = 17, .nhdr = 4 },
	{ "51 Expect with a large Content-Length",
	  WHOLE(P("Expect: 100-continue\r\nContent-Length: 99999999\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .expect = true, .has_cl = true, .cl = 99999999,
	  .nhdr = 4 },
	{ "52 Expect: foo", BAD(R H "Expect: foo\r\n\r\n", 417),
	  UPTO(R H "Expect: foo\r\n\r\n") },
	{ "52+ Expect: 100-continue, foo",
	  BAD(R H "Expect: 100-continue, foo\r\n\r\n", 417),
	  UPTO(R H "Expect: 100-continue, foo\r\n\r\n") },
	{ "52+ Expect is case-insensitive",
	  WHOLE(R H "Expect: 100-Continue\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = true, .expect = true, .nhdr = 2 },
	{ "52+ Expect: 100-continue ignored on 1.0",
	  WHOLE("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
	  .method = HTTP_GET, .minor = 0, .path = "/", .query = "",
	  .ka = false, .expect = false, .nhdr = 1 },
	{ "53 Connection: close", WHOLE(R H "Connection: close\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = false, .nhdr = 2 },
	{ "53+ Connection: keep-alive on 1.0",
	  WHOLE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
	  .method = HTTP_GET, .minor = 0, .path = "/", .query = "",
	  .ka = true, .nhdr = 1 },
	{ "53+ keep-alive and close on 1.0",
	  WHOLE("GET / HTTP/1.0\r\nConnection: keep-alive, CLOSE\r\n\r\n"),
	  .method = HTTP_GET, .minor = 0, .path = "/", .query = "",
	  .ka = false, .nhdr = 1 },
	{ "53+ close in a second Connection field",
	  WHOLE(R H "Connection: upgrade\r\nConnection: ,close\r\n\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/", .query = "",
	  .ka = false, .nhdr = 3 },
	{ "53+ Connection: not a token",
	  BAD(R H "Connection: a b\r\n\r\n", 400),
	  UPTO(R H "Connection: a b\r\n") },

	/* Pipelining and framing. */
	{ "54 pipelined GETs",
	  WITH(GETD " HTTP/1.1\r\n" H "\r\n", GETD " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .nhdr = 1 },
	{ "55 POST then GET",
	  WITH(P("Content-Length: 17\r\n"), J GETD " HTTP/1.1\r\n" H "\r\n"),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = 17, .nhdr = 3 },
	{ "56 POST without a length", WHOLE(P("")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .nhdr = 2 },
	{ "57 Content-Length and Transfer-Encoding",
	  BAD(P("Content-Length: 17\r\nTransfer-Encoding: chunked\r\n")
	  "11\r\n" J "\r\n0\r\n\r\n", 400),
	  UPTO(P("Content-Length: 17\r\nTransfer-Encoding: chunked\r\n")) },
	{ "58 Content-Length 17 and 18",
	  BAD(P("Content-Length: 17\r\nContent-Length: 18\r\n") J, 400),
	  UPTO(PH "Content-Length: 17\r\nContent-Length: 18\r\n") },
	{ "59 Content-Length 17 twice",
	  BAD(P("Content-Length: 17\r\nContent-Length: 17\r\n") J, 400),
	  UPTO(PH "Content-Length: 17\r\nContent-Length: 17\r\n") },
	{ "59 Content-Length: 17, 17",
	  BAD(P("Content-Length: 17, 17\r\n") J, 400),
	  UPTO(PH "Content-Length: 17, 17\r\n") },
	{ "60 Content-Length: +17", BAD(P("Content-Length: +17\r\n") J, 400),
	  UPTO(PH "Content-Length: +17\r\n") },
	{ "61 Content-Length: -1", BAD(P("Content-Length: -1\r\n") J, 400),
	  UPTO(PH "Content-Length: -1\r\n") },
	{ "62 Content-Length: 0x11", BAD(P("Content-Length: 0x11\r\n") J, 400),
	  UPTO(PH "Content-Length: 0x11\r\n") },
	{ "63 Content-Length: 1 7", BAD(P("Content-Length: 1 7\r\n") J, 400),
	  UPTO(PH "Content-Length: 1 7\r\n") },
	{ "63 Content-Length: 1<HTAB>7",
	  BAD(P("Content-Length: 1\t7\r\n") J, 400),
	  UPTO(PH "Content-Length: 1\t7\r\n") },
	{ "64 empty Content-Length", BAD(P("Content-Length:\r\n") J, 400),
	  UPTO(PH "Content-Length:\r\n") },
	{ "64+ blank Content-Length", BAD(P("Content-Length: \t \r\n") J, 400),
	  UPTO(PH "Content-Length: \t \r\n") },
	{ "65 Content-Length: 17.0", BAD(P("Content-Length: 17.0\r\n") J, 400),
	  UPTO(PH "Content-Length: 17.0\r\n") },
	{ "66 OWS around Content-Length",
	  WITH(P("Content-Length:  17 \r\n"), J),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = 17, .nhdr = 3 },
	{ "67 Content-Length: 00017", WITH(P("content-length: 00017\r\n"), J),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = 17, .nhdr = 3 },
	{ "68 Content-Length > 2^64 saturates",
	  WHOLE(P("Content-Length: 18446744073709551617\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = UINT64_MAX, .nhdr = 3 },
	{ "68+ Content-Length = 2^64 - 2",
	  WHOLE(P("Content-Length: 18446744073709551614\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = UINT64_MAX - 1, .nhdr = 3 },
	{ "68+ Content-Length of 40 digits",
	  WHOLE(P("Content-Length: 99999999999999999999"
	  "99999999999999999999\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = UINT64_MAX, .nhdr = 3 },
	{ "69 Content-Length: 2097152",
	  WHOLE(P("Content-Length: 2097152\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .has_cl = true, .cl = 2097152, .nhdr = 3 },
	{ "72 GET with a body",
	  WITH(GETD " HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\n", "hello"),
	  .method = HTTP_GET, .minor = 1, .path = "/messages/" D,
	  .query = "", .ka = true, .has_cl = true, .cl = 5, .nhdr = 2 },
	{ "73 Transfer-Encoding: chunked",
	  WITH(P("Transfer-Encoding: chunked\r\n"), "11\r\n" J "\r\n0\r\n\r\n"),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .chunked = true, .nhdr = 3 },
	{ "74 Transfer-Encoding: CHUNKED",
	  WHOLE(P("Transfer-Encoding: CHUNKED\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .chunked = true, .nhdr = 3 },
	{ "74+ empty list elements are ignored",
	  WHOLE(P("Transfer-Encoding: , chunked ,\r\n")),
	  .method = HTTP_POST, .minor = 1, .path = "/messages", .query = "",
	  .ka = true, .chunked = true, .nhdr = 3 },
	{ "75 Transfer-Encoding: gzip",
	  BAD(P("Transfer-Encoding: gzip\r\n"), 400),
	  UPTO(P("Transfer-Encoding: gzip\r\n")) },
	{ "76 Transfer-Encoding: gzip, chunked",
	  BAD(P("Transfer-Encoding: gzip, chunked\r\n"), 501),
	  UPTO(P("Transfer-Encoding: gzip, chunked\r\n")) },
	{ "76+ gzip and chunked in two fields",
	  BAD(P("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
	  501),
	  UPTO(P("Transfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: chunked\r\n")) },
	{ "77 chunked, chunked",
	  BAD(P("Transfer-Encoding: chunked, chunked\r\n"), 400),
	  UPTO(P("Transfer-Encoding: chunked, chunked\r\n")) },
	{ "78 identity", BAD(P("Transfer-Encoding: identity\r\n"), 400),
	  UPTO(P("Transfer-Encoding: identity\r\n")) },
	{ "78 identity and Content-Length",
	  BAD(P("Transfer-Encoding: identity\r\nContent-Length: 17\r\n") J,
	  400),
	  UPTO(P("Transfer-Encoding: identity\r\nContent-Length: 17\r\n")) },
	{ "79 xchunked", BAD(P("Transfer-Encoding: xchunked\r\n"), 400),
	  UPTO(P("Transfer-Encoding: xchunked\r\n")) },
	{ "79 chunkedchunked",
	  BAD(P("Transfer-Encoding: chunkedchunked\r\n"), 400),
	  UPTO(P("Transfer-Encoding: chunkedchunked\r\n")) },
	{ "79 empty Transfer-Encoding",
	  BAD(P("Transfer-Encoding:\r\n"), 400),
	  UPTO(PH "Transfer-Encoding:\r\n") },
	{ "79+ Transfer-Encoding of empty elements only",
	  BAD(P("Transfer-Encoding: ,\r\n"), 400),
	  UPTO(P("Transfer-Encoding: ,\r\n")) },
	{ "79+ a coding with parameters",
	  BAD(P("Transfer-Encoding: chunked;q=1\r\n"), 400),
	  UPTO(PH "Transfer-Encoding: chunked;q=1\r\n") },
	{ "80 chunked, then gzip in a second field",
	  BAD(P("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
	  400),
	  UPTO(P("Transfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: gzip\r\n")) },
	{ "81 Transfer-Encoding on 1.0",
	  BAD("POST /messages HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "11\r\n" J "\r\n0\r\n\r\n", 400),
	  UPTO("POST /messages HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
	  "\r\n") },

	/* Partial input as a result. */
	{ "+ empty input", IN(""), .want = HTTP_PARSE_PARTIAL },
	{ "+ head without its empty line", IN(R H),
	  .want = HTTP_PARSE_PARTIAL },
	{ "+ head ending in CR", IN(R H "\r"), .want = HTTP_PARSE_PARTIAL },

	/* Limits, reached exactly and crossed by one byte. */
	{ "48/49 at every small limit",
	  WHOLE("GET /aaaaaa HTTP/1.1\r\n" H "X: 123456789\r\n"
	  "Y: 123456789\r\n\r\n"), .lim = &small,
	  .method = HTTP_GET, .minor = 1, .path = "/aaaaaa", .query = "",
	  .ka = true, .nhdr = 3 },
	{ "23+ leading CRLFs are not part of the head",
	  WHOLE("\r\n\r\nGET /aaaaaa HTTP/1.1\r\n" H "X: 123456789\r\n"
	  "Y: 123456789\r\n\r\n"), .lim = &small,
	  .method = HTTP_GET, .minor = 1, .path = "/aaaaaa", .query = "",
	  .ka = true, .nhdr = 3 },
	{ "24 request-line one byte too long",
	  BAD("GET /aaaaaaa HTTP/1.1\r\n" H "\r\n", 414), .lim = &small,
	  UPTO("GET /aaaaaaa HTTP/1.1") },
	{ "24+ request-line too long before any SP",
	  BAD("GETGETGETGETGETGETGETGET / HTTP/1.1\r\n" H "\r\n", 414),
	  .lim = &small, UPTO("GETGETGETGETGETGETGET") },
	{ "24+ a bad byte before the limit is 400",
	  BAD("GET /aaaaaa HTTP/1.1 \r\n" H "\r\n", 400), .lim = &small,
	  UPTO("GET /aaaaaa HTTP/1.1 ") },
	{ "24+ a bad byte after the limit is still 414",
	  BAD("GET /aaaaaaa HTTP/1.1 \r\n" H "\r\n", 414), .lim = &small,
	  UPTO("GET /aaaaaaa HTTP/1.1") },
	{ "49+ a bad byte after the line limit is still 431",
	  BAD(R H "X: 1234567890\0\r\n\r\n", 431), .lim = &small,
	  UPTO(R H "X: 1234567890") },
	{ "48+ a bad byte after the section limit is still 431",
	  BAD("GET /aaaaaa HTTP/1.1\r\nHost: ab\r\nX: 123456789\r\n"
	  "Y: 1234567\r\nZ\0\r\n\r\n", 431), .lim = &small,
	  UPTO("GET /aaaaaa HTTP/1.1\r\nHost: ab\r\nX: 123456789\r\n"
	  "Y: 1234567\r\nZ") },
	{ "49 header line one byte too long",
	  BAD(R H "X: 1234567890\r\n\r\n", 431), .lim = &small,
	  UPTO(R H "X: 1234567890") },
	{ "48 header section one byte too large",
	  BAD("GET /aaaaaa HTTP/1.1\r\nHost: ab\r\nX: 123456789\r\n"
	  "Y: 123456789\r\n\r\n", 431), .lim = &small,
	  UPTO("GET /aaaaaa HTTP/1.1\r\nHost: ab\r\nX: 123456789\r\n"
	  "Y: 123456789\r\n\r\n") },
	{ "48 one field too many",
	  BAD(R H "A: 1\r\nB: 1\r\nC: 1\r\n\r\n", 431), .lim = &small,
	  UPTO(R H "A: 1\r\nB: 1\r\nC") },
};

#define GUARD_ROOM	(64 * 1024)

static char	*guard_end;	/* the first byte of the PROT_NONE page */

static void
guard_init(void)
{
	long	 pg = sysconf(_SC_PAGESIZE);
	size_t	 room = (GUARD_ROOM + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	char	*base;

	base = mmap(NULL, room + (size_t)pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED ||
	    mprotect(base + room, (size_t)pg, PROT_NONE) != 0) {
		perror("test-http: mmap");
		exit(99);
	}
	guard_end = base + room;
}

/* Copies in[0..len) so that it ends where the PROT_NONE page begins. */
static char *
guarded(const char *in, size_t len)
{
	if (len > GUARD_ROOM) {
		fprintf(stderr, "test-http: input too large\n");
		exit(99);
	}
	memmove(guard_end - len, in, len);
	return guard_end - len;
}

static ssize_t
parse(const char *in, size_t len, const struct http_limits *lim,
    struct http_request *req, struct http_error *err, const char **buf)
{
	const char	*g = guarded(in, len);

	if (buf != NULL)
		*buf = g;
	err->status = 0;
	err->msg = NULL;
	return http_parse_request(g, len, lim, req, err);
}

static bool
slice_is(struct http_slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static bool
inside(struct http_slice s, const char *buf, size_t len)
{
	uintptr_t	p = (uintptr_t)s.p, b = (uintptr_t)buf;

	return p >= b && s.len <= len && p - b <= len - s.len;
}

static bool
slices_inside(const struct http_request *req, const char *buf, size_t len)
{
	size_t	i;

	if (!inside(req->target, buf, len) || !inside(req->path, buf, len) ||
	    !inside(req->query, buf, len))
		return false;
	for (i = 0; i < req->header_count; i++) {
		if (!inside(req->headers[i].name, buf, len) ||
		    !inside(req->headers[i].value, buf, len))
			return false;
	}
	return true;
}

static bool
fields_match(const struct pcase *c, const struct http_request *req)
{
	return req->method == c->method && req->version_minor == c->minor &&
	    slice_is(req->path, c->path) && slice_is(req->query, c->query) &&
	    req->keep_alive == c->ka && req->chunked == c->chunked &&
	    req->expect_continue == c->expect &&
	    req->has_content_length == c->has_cl &&
	    req->content_length == c->cl && req->header_count == c->nhdr;
}

/* What a prefix of n bytes must give. */
static bool
prefix_ok(const struct pcase *c, size_t n, ssize_t rv, int status,
    bool *failed)
{
	if (c->want >= 0)
		return rv == ((ssize_t)n < c->want ? HTTP_PARSE_PARTIAL :
		    c->want);
	if (c->want == HTTP_PARSE_PARTIAL)
		return rv == HTTP_PARSE_PARTIAL;
	if (rv == HTTP_PARSE_PARTIAL)
		return !*failed && (c->err_at == 0 || n < c->err_at);
	if (rv != HTTP_PARSE_ERROR || status != c->status)
		return false;
	*failed = true;
	return c->err_at == 0 || n >= c->err_at;
}

/* Every prefix, and the input itself, on the guard page. */
static void
check_prefixes(const struct pcase *c)
{
	struct http_request	req;
	struct http_error	err;
	ssize_t			rv;
	size_t			n;
	bool			failed = false;

	for (n = 0; n <= c->len; n++) {
		rv = parse(c->in, n, c->lim, &req, &err, NULL);
		if (!prefix_ok(c, n, rv, err.status, &failed)) {
			ok(0, "row %s: every prefix", c->row);
			diag("prefix of %zu bytes: got %zd (status %d)", n, rv,
			    err.status);
			return;
		}
	}
	ok(1, "row %s: every prefix", c->row);
}

static void
check_pcase(const struct pcase *c)
{
	struct http_request	 req;
	struct http_error	 err;
	const char		*buf;
	ssize_t			 rv;

	rv = parse(c->in, c->len, c->lim, &req, &err, &buf);
	if (c->want == HTTP_PARSE_ERROR) {
		if (!ok(rv == HTTP_PARSE_ERROR && err.status == c->status &&
		    err.msg != NULL, "row %s: %d", c->row, c->status))
			diag("got %zd, status %d", rv, err.status);
	} else if (!ok(rv == c->want, "row %s: %zd", c->row, c->want))
		diag("got %zd, status %d (%s)", rv, err.status,
		    err.msg != NULL ? err.msg : "");
	if (c->want > 0 && rv == c->want) {
		ok(fields_match(c, &req), "row %s: fields", c->row);
		ok(slices_inside(&req, buf, c->len),
		    "row %s: slices lie in the buffer", c->row);
	}
	check_prefixes(c);
}

/* Inputs too long to write out: built here, checked the same way. */
static char	big[40 * 1024];

static size_t
put_bytes(size_t at, const char *s, int c, size_t n)
{
	if (n > sizeof big - at) {
		fprintf(stderr, "test-http: big input too large\n");
		exit(99);
	}
	if (s != NULL)
		memcpy(big + at, s, n);
	else
		memset(big + at, c, n);
	return at + n;
}

static size_t
put(size_t at, const char *s)
{
	return put_bytes(at, s, 0, strlen(s));
}

static size_t
put_n(size_t at, int c, size_t n)
{
	return put_bytes(at, NULL, c, n);
}

static void
check_big(const char *row, size_t len, ssize_t want, int status,
    size_t err_at, const char *path, size_t nhdr)
{
	struct pcase	c = {
		.row = row, .in = big, .len = len, .want = want,
		.status = status, .err_at = err_at, .method = HTTP_GET,
		.minor = 1, .path = path, .query = "", .ka = true,
		.nhdr = nhdr,
	};

	check_pcase(&c);
}

static void
test_long_request_lines(void)
{
	static char	path[MH_HTTP_REQUEST_LINE_MAX];
	size_t		n, line;

	/* Row 24: "GET /messages/" + 10,000 'a': 414 at byte 8193. */
	n = put(0, "GET /messages/");
	n = put_n(n, 'a', 10000);
	n = put(n, " HTTP/1.1\r\n" H "\r\n");
	check_big("24 request-line > 8 KiB", n, HTTP_PARSE_ERROR, 414,
	    MH_HTTP_REQUEST_LINE_MAX + 1, NULL, 0);

	/* 8192 bytes exactly: "GET " + target + " HTTP/1.1". */
	n = put(0, "GET /");
	n = put_n(n, 'a', MH_HTTP_REQUEST_LINE_MAX - 4 - 9 - 1);
	memcpy(path, big + 4, n - 4);
	n = put(n, " HTTP/1.1\r\n" H "\r\n");
	check_big("24+ request-line of exactly 8 KiB", n, (ssize_t)n, 0, 0,
	    path, 1);

	/* Row 25: a 300-byte token is a method we lack: 501. */
	n = put_n(0, 'A', 300);
	line = put(n, " /messages HTTP/1.1\r\n");
	n = put(line, H "\r\n");
	check_big("25 300-byte method", n, HTTP_PARSE_ERROR, 501, line, NULL,
	    0);
	n = put_n(0, 'A', 33);
	line = put(n, " / HTTP/1.1\r\n");
	n = put(line, H "\r\n");
	check_big("25+ 33-byte method", n, HTTP_PARSE_ERROR, 501, line, NULL,
	    0);
}

static void
test_long_heads(void)
{
	size_t	n, line, i;

	/* Row 49: one field line > 8 KiB: 431 at its byte 8193. */
	n = put(0, R H);
	line = n;
	n = put(n, "X: ");
	n = put_n(n, 'a', 9000);
	n = put(n, "\r\n\r\n");
	check_big("49 header line > 8 KiB", n, HTTP_PARSE_ERROR, 431,
	    line + MH_HTTP_HEADER_LINE_MAX + 1, NULL, 0);

	/* Row 48: three 6000-byte lines: 431 at byte 16385 of the head. */
	n = put(0, R H);
	for (i = 0; i < 3; i++) {
		n = put(n, "X: ");
		n = put_n(n, 'a', 6000);
		n = put(n, "\r\n");
	}
	n = put(n, "\r\n");
	check_big("48 header section > 16 KiB", n, HTTP_PARSE_ERROR, 431,
	    MH_HTTP_HEADER_SECTION_MAX + 1, NULL, 0);

	/* Exactly 16 KiB, the final CRLF included. */
	n = put(0, R H);
	for (i = 0; i < 3; i++) {
		n = put(n, "X: ");
		n = put_n(n, 'a', i < 2 ? 8000 :
		    MH_HTTP_HEADER_SECTION_MAX - n - 2 - 2);
		n = put(n, "\r\n");
	}
	n = put(n, "\r\n");
	check_big("48+ header section of exactly 16 KiB", n, (ssize_t)n, 0, 0,
	    "/", 4);

	/* A field line of exactly 8 KiB. */
	n = put(0, R H "X: ");
	n = put_n(n, 'b', MH_HTTP_HEADER_LINE_MAX - 3);
	n = put(n, "\r\n\r\n");
	check_big("49+ header line of exactly 8 KiB", n, (ssize_t)n, 0, 0,
	    "/", 2);
}

static void
test_many_fields(void)
{
	size_t	n, i, last = 0;

	/* Row 48: Host + 100 more = 101 fields: 431 as the 101st starts. */
	n = put(0, R H);
	for (i = 0; i < 100; i++) {
		last = n;
		n = put(n, "X: 1\r\n");
	}
	n = put(n, "\r\n");
	check_big("48 101 header fields", n, HTTP_PARSE_ERROR, 431, last + 1,
	    NULL, 0);

	/* Exactly 100. */
	n = put(0, R H);
	for (i = 0; i < 99; i++)
		n = put(n, "X: 1\r\n");
	n = put(n, "\r\n");
	check_big("48+ 100 header fields", n, (ssize_t)n, 0, 0, "/", 100);
}

static void
test_find_header(void)
{
	static const char	 in[] = R "Host: a\r\nX-Tag: one\r\n"
	    "x-tag: two\r\nEmpty:\r\n\r\n";
	struct http_request	 req;
	struct http_error	 err;
	const struct http_header *h;

	ok(parse(in, sizeof in - 1, NULL, &req, &err, NULL) ==
	    (ssize_t)sizeof in - 1, "find_header: parse");
	h = http_find_header(&req, "X-TAG");
	ok(h != NULL && slice_is(h->value, "one") &&
	    slice_is(h->name, "X-Tag"), "find_header: first, any case");
	h = http_find_header(&req, "empty");
	ok(h != NULL && h->value.len == 0, "find_header: empty value");
	ok(http_find_header(&req, "X-Ta") == NULL &&
	    http_find_header(&req, "X-Tags") == NULL &&
	    http_find_header(&req, "Content-Length") == NULL,
	    "find_header: no prefix matches, absent is NULL");
}

static void
test_obs_text_value(void)
{
	static const char	 in[] = R H "X:  caf\xc3\xa9 \t\r\n\r\n";
	struct http_request	 req;
	struct http_error	 err;
	const struct http_header *h;

	parse(in, sizeof in - 1, NULL, &req, &err, NULL);
	h = http_find_header(&req, "x");
	ok(h != NULL && slice_is(h->value, "caf\xc3\xa9"),
	    "row 47: obs-text kept, OWS trimmed");
}

/* Chunked bodies. */
struct ccase {
	const char			*row;
	const char			*in;
	size_t				 len;
	const char			*body;	/* decoded so far */
	size_t				 blen;
	ssize_t				 want;	/* bytes left, or HTTP_PARSE_x */
	int				 status;
	const struct http_limits	*lim;
};

#define CIN(s)		.in = (s), .len = sizeof(s) - 1
#define BODY(s)		.body = (s), .blen = sizeof(s) - 1

static const struct ccase ccases[] = {
	{ "73 one chunk", CIN("11\r\n" J "\r\n0\r\n\r\n"), BODY(J), .want = 0 },
	{ "73+ three chunks, upper-case hex, leading zeros",
	  CIN("3\r\nabc\r\n000A\r\n0123456789\r\n1\r\nZ\r\n0\r\n\r\n"),
	  BODY("abc0123456789Z"), .want = 0 },
	{ "73+ empty body", CIN("0\r\n\r\n"), BODY(""), .want = 0 },
	{ "82 chunk size overflow", CIN("ffffffffffffffffff\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "82+ 17 hex digits", CIN("10000000000000000\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "82+ 16 hex digits", CIN("ffffffffffffffff\r\nabc"), BODY("abc"),
	  .want = HTTP_PARSE_PARTIAL },
	{ "83 chunk size -5", CIN("-5\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "83 chunk size 0x5", CIN("0x5\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "83 chunk size ' 5'", CIN(" 5\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "83 chunk size '5 '", CIN("5 \r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "83 chunk size '5<HTAB>'", CIN("5\t\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "83+ empty chunk size", CIN("\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "84 extension", CIN("5;foo=bar\r\nhello\r\n0\r\n\r\n"),
	  BODY("hello"), .want = 0 },
	{ "84 BWS and a quoted-string with an escape",
	  CIN("5 ; a = \"b\\\"c\"\r\nhello\r\n0\r\n\r\n"), BODY("hello"),
	  .want = 0 },
	{ "84+ several extensions, on the last chunk too",
	  CIN("5;a;b=c ;d=\"\"\r\nhello\r\n0;e\r\n\r\n"), BODY("hello"),
	  .want = 0 },
	{ "85 unterminated quoted-string",
	  CIN("5;a=\"b\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "85+ empty extension name", CIN("5;\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "85+ empty extension value", CIN("5;a=\r\nhello\r\n0\r\n\r\n"),
	  BODY(""), .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "85+ BWS before CR", CIN("5;a \r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "85+ extension name not a token", CIN("5;a@b\r\nhello\r\n0\r\n\r\n"),
	  BODY(""), .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "85+ extensions at the small limit",
	  CIN("5;abcdefg\r\nhello\r\n0\r\n\r\n"), BODY("hello"), .want = 0,
	  .lim = &small },
	{ "85+ extensions one byte over the small limit",
	  CIN("5;abcdefgh\r\nhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400, .lim = &small },
	{ "86 no CRLF after the data", CIN("5\r\nhelloXX0\r\n\r\n"),
	  BODY("hello"), .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "86+ CR then not LF after the data", CIN("5\r\nhello\rX0\r\n\r\n"),
	  BODY("hello"), .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "87 LF-only framing", CIN("5\nhello\n0\n\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "87+ bare CR after the size", CIN("5\rhello\r\n0\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "88 trailers are checked and dropped",
	  CIN("5\r\nhello\r\n0\r\nX-T: 1\r\nContent-Length: 999\r\n\r\n"),
	  BODY("hello"), .want = 0 },
	{ "89 a request line as a trailer",
	  CIN("0\r\nGET /messages/" D " HTTP/1.1\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "89+ obs-fold in a trailer", CIN("0\r\nX: 1\r\n 2\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "89+ NUL in a trailer value", CIN("0\r\nX: a\0b\r\n\r\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "89+ bare LF ends the trailers", CIN("0\r\n\n"), BODY(""),
	  .want = HTTP_PARSE_ERROR, .status = 400 },
	{ "89+ trailers at the small limit",
	  CIN("0\r\nX: 123456789012345678901234567890123456789012345678901234"
	  "\r\n\r\n"), BODY(""), .want = 0, .lim = &small },
	{ "89+ trailers one byte over the small limit",
	  CIN("0\r\nX: 1234567890123456789012345678901234567890123456789012345"
	  "\r\n\r\n"), BODY(""), .want = HTTP_PARSE_ERROR, .status = 431,
	  .lim = &small },
	{ "91 bytes after the body are left", CIN("11\r\n" J "\r\n0\r\n\r\nXYZ"
	  "\r\n\r\n"), BODY(J), .want = 7 },
	{ "+ partial data", CIN("5\r\nhel"), BODY("hel"),
	  .want = HTTP_PARSE_PARTIAL },
	{ "+ partial final CRLF", CIN("0\r\n\r"), BODY(""),
	  .want = HTTP_PARSE_PARTIAL },
};

#define CMAX	(8 * 1024)

struct cresult {
	ssize_t	rv;
	int	status;
	char	body[CMAX];
	size_t	blen;
	char	rest[CMAX];
	size_t	rlen;
};

static void
append(char *to, size_t *tolen, const char *from, size_t n)
{
	memcpy(to + *tolen, from, n);
	*tolen += n;
}

/*
 * Feeds in[0..len) to a new decoder: first `first` bytes, then pieces of
 * `step` bytes (0: all the rest), each on the guard page.
 */
static void
feed(const struct ccase *c, size_t first, size_t step, struct cresult *r)
{
	struct http_chunked	 dec;
	struct http_error	 err = { 0, NULL };
	size_t			 off = 0, n, got, seg = 0;
	char			*g;

	memset(&dec, 0, sizeof dec);
	r->blen = r->rlen = 0;
	r->status = 0;
	for (;;) {
		n = c->len - off;
		if (seg++ == 0)
			n = first;
		else if (step != 0 && step < n)
			n = step;
		g = guarded(c->in + off, n);
		got = n;
		r->rv = http_chunked_decode(&dec, g, &got, c->lim, &err);
		off += n;
		if (r->rv == HTTP_PARSE_ERROR) {
			r->status = err.status;
			return;
		}
		append(r->body, &r->blen, g, got);
		if (r->rv >= 0) {
			append(r->rest, &r->rlen, g + got, (size_t)r->rv);
			append(r->rest, &r->rlen, c->in + off, c->len - off);
			return;
		}
		if (off == c->len)
			return;
	}
}

static bool
cresult_ok(const struct ccase *c, const struct cresult *r)
{
	if (c->want == HTTP_PARSE_ERROR)
		return r->rv == HTTP_PARSE_ERROR && r->status == c->status;
	if (r->rv == HTTP_PARSE_ERROR || r->blen != c->blen ||
	    memcmp(r->body, c->body, c->blen) != 0)
		return false;
	if (c->want == HTTP_PARSE_PARTIAL)
		return r->rv == HTTP_PARSE_PARTIAL;
	return r->rv >= 0 && r->rlen == (size_t)c->want &&
	    memcmp(r->rest, c->in + c->len - r->rlen, r->rlen) == 0;
}

static void
check_ccase(const struct ccase *c)
{
	static struct cresult	r;
	size_t			k;

	feed(c, c->len, 0, &r);
	if (!ok(cresult_ok(c, &r), "row %s: in one piece", c->row))
		diag("got %zd, status %d, %zu body bytes, %zu left", r.rv,
		    r.status, r.blen, r.rlen);
	for (k = 0; k <= c->len; k++) {
		feed(c, k, 0, &r);
		if (!cresult_ok(c, &r))
			break;
	}
	if (!ok(k > c->len, "row %s: split in two anywhere", c->row))
		diag("split at %zu: got %zd, status %d", k, r.rv, r.status);
	feed(c, 0, 1, &r);
	ok(cresult_ok(c, &r), "row %s: one byte at a time", c->row);
}

static void
test_chunk_ext_limit(void)
{
	static char	in[MH_HTTP_CHUNK_EXT_MAX + 64];
	struct ccase	c = { .in = in, BODY("hello") };
	size_t		n;

	/* ";" + 4095 bytes of name: exactly 4 KiB of extensions. */
	in[0] = '5';
	in[1] = ';';
	memset(in + 2, 'a', MH_HTTP_CHUNK_EXT_MAX - 1);
	n = 2 + MH_HTTP_CHUNK_EXT_MAX - 1;
	memcpy(in + n, "\r\nhello\r\n0\r\n\r\n", 14);
	c.len = n + 14;
	c.row = "85+ extensions of exactly 4 KiB";
	c.want = 0;
	check_ccase(&c);

	memset(in + 2, 'a', MH_HTTP_CHUNK_EXT_MAX);
	n = 2 + MH_HTTP_CHUNK_EXT_MAX;
	memcpy(in + n, "\r\nhello\r\n0\r\n\r\n", 14);
	c.len = n + 14;
	c.row = "85 extensions > 4 KiB";
	c.want = HTTP_PARSE_ERROR;
	c.status = 400;
	c.blen = 0;
	check_ccase(&c);
}

/* Rows 73 and 91 end to end: the head, then the body, then what follows. */
static void
test_request_with_body(void)
{
	static char		 in[] = P("Transfer-Encoding: chunked\r\n")
	    "11\r\n" J "\r\n0\r\n\r\nXYZ\r\n\r\n";
	struct http_request	 req;
	struct http_error	 err;
	struct http_chunked	 dec;
	ssize_t			 head, rv;
	size_t			 len;
	char			*body;

	head = http_parse_request(in, sizeof in - 1, NULL, &req, &err);
	ok(head == (ssize_t)sizeof(P("Transfer-Encoding: chunked\r\n")) - 1 &&
	    req.chunked, "rows 73/91: the head");
	memset(&dec, 0, sizeof dec);
	body = in + head;
	len = sizeof in - 1 - (size_t)head;
	rv = http_chunked_decode(&dec, body, &len, NULL, &err);
	ok(rv == 7 && len == 17 && memcmp(body, J, 17) == 0 &&
	    memcmp(body + len, "XYZ\r\n\r\n", 7) == 0,
	    "rows 73/91: the body, then 7 bytes moved after it");
	rv = http_parse_request(body + len, (size_t)rv, NULL, &req, &err);
	ok(rv == HTTP_PARSE_ERROR && err.status == 400,
	    "row 91: what follows is a bad request");
	len = 3;
	rv = http_chunked_decode(&dec, body, &len, NULL, &err);
	ok(rv == 3 && len == 0, "a finished decoder leaves all bytes alone");
}

/* Response heads. */
#define DATE	"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
#define RFC_TIME	784111777	/* RFC 9110 §5.6.7's example */

struct fcase {
	const char		*name;
	struct http_response	 resp;
	time_t			 now;
	const char		*want;
};

static const struct fcase fcases[] = {
	{ "200 with JSON", { .status = 200,
	  .content_type = "application/json", .content_length = 17 },
	  RFC_TIME, "HTTP/1.1 200 OK\r\n" DATE
	  "Content-Type: application/json\r\nContent-Length: 17\r\n\r\n" },
	{ "405 with Allow, closing", { .status = 405,
	  .content_type = "application/json", .content_length = 30,
	  .allow = "GET, HEAD, OPTIONS", .close = true }, RFC_TIME,
	  "HTTP/1.1 405 Method Not Allowed\r\n" DATE
	  "Content-Type: application/json\r\nContent-Length: 30\r\n"
	  "Allow: GET, HEAD, OPTIONS\r\nConnection: close\r\n\r\n" },
	{ "201 with Location, keep-alive for 1.0", { .status = 201,
	  .content_type = "application/json", .content_length = 0,
	  .location = "/messages/" D, .keep_alive_header = true }, RFC_TIME,
	  "HTTP/1.1 201 Created\r\n" DATE
	  "Content-Type: application/json\r\nContent-Length: 0\r\n"
	  "Location: /messages/" D "\r\nConnection: keep-alive\r\n\r\n" },
	{ "503 with Retry-After", { .status = 503,
	  .content_type = "application/json", .content_length = 2,
	  .retry_after = 5, .close = true, .keep_alive_header = true },
	  RFC_TIME, "HTTP/1.1 503 Service Unavailable\r\n" DATE
	  "Content-Type: application/json\r\nContent-Length: 2\r\n"
	  "Retry-After: 5\r\nConnection: close\r\n\r\n" },
	{ "100 Continue has no Content-Length", { .status = 100,
	  .content_length = 5 }, RFC_TIME,
	  "HTTP/1.1 100 Continue\r\n" DATE "\r\n" },
	{ "204 has no Content-Length", { .status = 204, .content_length = 5,
	  .allow = "OPTIONS, POST" }, RFC_TIME,
	  "HTTP/1.1 204 No Content\r\n" DATE "Allow: OPTIONS, POST\r\n\r\n" },
	{ "an unknown status", { .status = 299 }, RFC_TIME,
	  "HTTP/1.1 299 Unknown\r\n" DATE "Content-Length: 0\r\n\r\n" },
	{ "the epoch", { .status = 404, .content_length = 1234567 }, 0,
	  "HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	  "Content-Length: 1234567\r\n\r\n" },
	{ "a leap day", { .status = 200 }, 951782400,
	  "HTTP/1.1 200 OK\r\nDate: Tue, 29 Feb 2000 00:00:00 GMT\r\n"
	  "Content-Length: 0\r\n\r\n" },
	{ "the last second of year 9999", { .status = 200 }, 253402300799,
	  "HTTP/1.1 200 OK\r\nDate: Fri, 31 Dec 9999 23:59:59 GMT\r\n"
	  "Content-Length: 0\r\n\r\n" },
};

/* Formats into a buffer of exactly `cap` bytes that ends at the guard. */
static size_t
format_guarded(const struct http_response *resp, time_t now, size_t cap,
    char **out)
{
	*out = guard_end - cap;
	return http_format_head(*out, cap, resp, now);
}

static void
test_format(void)
{
	const struct fcase	*f;
	char			*out;
	size_t			 i, n, want;

	for (i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
		f = &fcases[i];
		want = strlen(f->want);
		n = format_guarded(&f->resp, f->now, 1024, &out);
		if (!ok(n == want && memcmp(out, f->want, n) == 0,
		    "format: %s", f->name))
			diag("got '%.*s'", (int)n, out);
		n = format_guarded(&f->resp, f->now, want, &out);
		ok(n == want && memcmp(out, f->want, n) == 0,
		    "format: %s, in exactly its length", f->name);
		ok(format_guarded(&f->resp, f->now, want - 1, &out) == 0,
		    "format: %s, one byte short gives 0", f->name);
	}
}

static void
test_format_refusals(void)
{
	struct http_response	 r = { .status = 200,
	    .content_type = "text/plain\r\nX-Injected: 1" };
	char			*out;

	ok(format_guarded(&r, RFC_TIME, 1024, &out) == 0,
	    "format: CR LF in a field value gives 0");
	r.content_type = NULL;
	ok(format_guarded(&r, RFC_TIME, 0, &out) == 0,
	    "format: no room gives 0");
	r.status = 99;
	ok(format_guarded(&r, RFC_TIME, 1024, &out) == 0,
	    "format: status 99 gives 0");
	r.status = 600;
	ok(format_guarded(&r, RFC_TIME, 1024, &out) == 0,
	    "format: status 600 gives 0");
	r.status = 200;
	ok(format_guarded(&r, (time_t)253402300800LL, 1024, &out) == 0,
	    "format: year 10000 gives 0");
}

static void
test_names(void)
{
	static const struct {
		int		 status;
		const char	*reason;
	} reasons[] = {
		{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
		{ 204, "No Content" }, { 400, "Bad Request" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" }, { 408, "Request Timeout" },
		{ 411, "Length Required" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
		{ 417, "Expectation Failed" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
		{ 507, "Insufficient Storage" }, { 418, "Unknown" },
	};
	static const char *const methods[HTTP_METHOD_COUNT] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
		"TRACE",
	};
	size_t	i;
	char	name[64];

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		snprintf(name, sizeof name, "reason %d", reasons[i].status);
		is_str(http_reason(reasons[i].status), reasons[i].reason, name);
	}
	for (i = 0; i < HTTP_METHOD_COUNT; i++) {
		snprintf(name, sizeof name, "method name %zu", i);
		is_str(http_method_name((enum http_method)i), methods[i], name);
	}
}

static void
test_limits_default(void)
{
	struct http_limits	lim;

	http_limits_default(&lim);
	ok(lim.request_line_max == MH_HTTP_REQUEST_LINE_MAX &&
	    lim.header_line_max == MH_HTTP_HEADER_LINE_MAX &&
	    lim.header_section_max == MH_HTTP_HEADER_SECTION_MAX &&
	    lim.header_count_max == MH_HTTP_HEADER_COUNT_MAX &&
	    lim.chunk_ext_max == MH_HTTP_CHUNK_EXT_MAX,
	    "http_limits_default: lib/limits.h");
}

int
main(void)
{
	size_t	i;

	guard_init();
	test_limits_default();
	for (i = 0; i < sizeof pcases / sizeof pcases[0]; i++)
		check_pcase(&pcases[i]);
	test_long_request_lines();
	test_long_heads();
	test_many_fields();
	test_find_header();
	test_obs_text_value();
	for (i = 0; i < sizeof ccases / sizeof ccases[0]; i++)
		check_ccase(&ccases[i]);
	test_chunk_ext_limit();
	test_request_with_body();
	test_format();
	test_format_refusals();
	test_names();
	return done_testing();
}
