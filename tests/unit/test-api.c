/*
 * test-api.c — routes and JSON handling of lib/api.c with a real store in a
 * temporary directory.  Expected digests come from sha256sum; expected
 * statuses from RFC 9110 and the API contract in msghash(1).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "digest.h"
#include "http.h"
#include "store.h"
#include "tap.h"

#define FOO_HEX "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

static char root[] = "/tmp/msghash-test-api.XXXXXX";
static struct api_ctx ctx;

/* Builds a request from its head (CRLFs added) and runs it. */
static void
run(const char *method, const char *target, const char *extra_header,
    const char *body, size_t body_len, struct http_answer *resp)
{
	static char head[2048];
	struct http_request req;
	struct http_error herr;
	ssize_t n;

	snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s\r\n",
	    method, target, extra_header ? extra_header : "",
	    extra_header ? "\r\n" : "");
	n = http_parse_request(head, strlen(head), NULL, &req, &herr);
	if (n <= 0) {
		diag("parse failed for %s %s: %d", method, target,
		    n == HTTP_PARSE_ERROR ? herr.status : 0);
		memset(resp, 0, sizeof *resp);
		return;
	}
	api_handle(&ctx, &req, body, body_len, resp);
}

static void
post(const char *json, struct http_answer *resp)
{
	run("POST", "/messages", NULL, json, strlen(json), resp);
}

static int
body_is(const struct http_answer *resp, const char *want)
{
	return resp->body != NULL && resp->body_len == strlen(want) &&
	    memcmp(resp->body, want, resp->body_len) == 0;
}

static int
body_has(const struct http_answer *resp, const char *part)
{
	char buf[1024];
	size_t n = resp->body_len < sizeof buf - 1 ? resp->body_len :
	    sizeof buf - 1;

	if (resp->body == NULL)
		return 0;
	memcpy(buf, resp->body, n);
	buf[n] = '\0';
	return strstr(buf, part) != NULL;
}

static void
test_post_get(void)
{
	struct http_answer r;

	post("{\"message\":\"foo\"}", &r);
	is_int(r.status, 201, "POST new message: 201");
	is_str(r.location, "/messages/" FOO_HEX, "... Location names it");
	ok(body_is(&r, "{\"digest\":\"" FOO_HEX "\"}"), "... body has the digest");
	ok(r.content_type && strcmp(r.content_type, "application/json") == 0,
	    "... JSON content type");
	http_answer_free(&r);
	post("{ \"message\" : \"foo\", \"extra\": [1, -0.5e+10, 0, {\"x\": null}] }", &r);
	is_int(r.status, 200, "POST existing message (extra member ignored): 200");
	is_str(r.location, "", "... no Location");
	http_answer_free(&r);
	run("GET", "/messages/" FOO_HEX, NULL, NULL, 0, &r);
	is_int(r.status, 200, "GET stored digest: 200");
	ok(body_is(&r, "{\"message\":\"foo\"}"), "... body is the message");
	http_answer_free(&r);
	run("GET", "/messages/2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE?x=1",
	    NULL, NULL, 0, &r);
	is_int(r.status, 200, "GET uppercase digest with a query: 200");
	http_answer_free(&r);
	run("GET", "/messages/" "0000000000000000000000000000000000000000000000000000000000000000",
	    NULL, NULL, 0, &r);
	is_int(r.status, 404, "GET unknown digest: 404");
	ok(body_is(&r, "{\"err_msg\":\"Message not found\"}"), "... err_msg");
	http_answer_free(&r);
	run("GET", "/messages/abc", NULL, NULL, 0, &r);
	is_int(r.status, 404, "GET malformed digest: 404");
	ok(body_has(&r, "64 hexadecimal characters"), "... says what a digest is");
	http_answer_free(&r);
}

/* Escapes decode to UTF-8 before hashing; \u0000 round-trips. */
static void
test_escapes(void)
{
	static const struct {
		const char *json, *hex, *back;
	} cases[] = {
		{ "{\"message\":\"\\u00e9\"}",
		  "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c",
		  "{\"message\":\"\xc3\xa9\"}" },
		{ "{\"message\":\"\\ud83d\\ude00\"}",
		  "f0443a342c5ef54783a111b51ba56c938e474c32324d90c3a60c9c8e3a37e2d9",
		  "{\"message\":\"\xf0\x9f\x98\x80\"}" },
		{ "{\"message\":\"a\\u0000b\"}",
		  "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138",
		  "{\"message\":\"a\\u0000b\"}" },
		{ "{\"message\":\"\\\\u0000\"}",	/* backslash, then "u0000" */
		  "2e95646f9143563ea4001fc70363b38f783bb95581e63f590d779ac31b87879a",
		  "{\"message\":\"\\\\u0000\"}" },
		{ "{\"message\":\"\"}",
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "{\"message\":\"\"}" },
	};
	struct http_answer r;
	char want[128], target[128];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		post(cases[i].json, &r);
		snprintf(want, sizeof want, "{\"digest\":\"%s\"}", cases[i].hex);
		ok(r.status / 100 == 2 && body_is(&r, want),
		    "escape case %zu: digest of the decoded bytes", i);
		http_answer_free(&r);
		snprintf(target, sizeof target, "/messages/%s", cases[i].hex);
		run("GET", target, NULL, NULL, 0, &r);
		ok(r.status == 200 && body_is(&r, cases[i].back),
		    "escape case %zu: GET returns it, escaped as JSON", i);
		http_answer_free(&r);
	}
}

static void
test_rejects(void)
{
	static const struct {
		const char *body;
		size_t len;
		const char *why;
	} cases[] = {
		{ "", 0, "empty body" },
		{ "{\"message\":\"a\"}xyz", 18, "trailing garbage" },
		{ "{\"message\":\"a\"}\0x", 17, "raw NUL after the object" },
		{ "[\"message\"]", 11, "array at top level" },
		{ "\"message\"", 9, "string at top level" },
		{ "{\"msg\":\"a\"}", 11, "no message member" },
		{ "{\"Message\":\"a\"}", 15, "member names are case-sensitive" },
		{ "{\"message\":\"a\",\"message\":\"b\"}", 29, "duplicate message" },
		{ "{\"message\":1}", 13, "number message" },
		{ "{\"message\":null}", 16, "null message" },
		{ "{\"message\":\"a\nb\"}", 17, "raw newline in a string" },
		{ "{\"message\":\"a\tb\"}", 17, "raw tab in a string" },
		{ "{\x01\"message\":\"a\"}", 16, "raw control byte outside strings" },
		{ "{\"message\":\"\xff\xfe\"}", 16, "invalid UTF-8" },
		{ "{\"message\":\"\xc0\xaf\"}", 16, "overlong UTF-8" },
		{ "{\"message\":\"\xed\xa0\x80\"}", 17, "UTF-8-encoded surrogate" },
		{ "{\"message\":\"\\ud800\"}", 20, "lone high surrogate escape" },
		{ "{\"message\":\"\\udc00\"}", 20, "lone low surrogate escape" },
		{ "\xef\xbb\xbf{\"message\":\"a\"}", 18, "byte order mark" },
		{ "{'message':'a'}", 15, "single quotes" },
		{ "{\"message\":\"a\",}", 16, "trailing comma" },
		{ "{\"message\":\"\\x41\"}", 18, "invalid escape" },
		{ "{\"message\":\"\\u00g1\"}", 20, "bad hex in a \\u escape" },
		{ "{\"message\":\"\\u00\"}", 17, "short \\u escape" },
		{ "{\"message\":\"x\",\"n\":0012}", 24, "leading zeros" },
		{ "{\"message\":\"x\",\"n\":1.}", 22, "no digit after the point" },
		{ "{\"message\":\"x\",\"n\":+1}", 22, "plus sign" },
		{ "{\"message\":\"x\",\"n\":-}", 21, "lone minus" },
		{ "{\"message\":\"x\",\"n\":1e}", 22, "empty exponent" },
	};
	struct http_answer r;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run("POST", "/messages", NULL, cases[i].body, cases[i].len, &r);
		ok(r.status == 400 && body_has(&r, "\"err_msg\":"),
		    "400 + err_msg: %s", cases[i].why);
		if (r.status != 400)
			diag("got %d", r.status);
		http_answer_free(&r);
	}
}

static void
test_limit(void)
{
	struct http_answer r;
	size_t saved = ctx.max_message;

	ctx.max_message = 8;
	post("{\"message\":\"12345678\"}", &r);
	ok(r.status / 100 == 2, "message of exactly the limit: stored");
	http_answer_free(&r);
	post("{\"message\":\"123456789\"}", &r);
	ok(r.status == 413 && body_has(&r, "8 bytes"),
	    "message over the limit: 413 naming the limit");
	http_answer_free(&r);
	ctx.max_message = saved;
}

/* Messages stored by the CLI may be any bytes. */
static void
test_binary_and_accept(void)
{
	static const char bin[] = "\xff\xfe\x00\x01";
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1], target[128];
	struct http_answer r;
	struct mh_err err;
	bool created;

	digest_sha256(bin, 4, d, &err);
	digest_to_hex(d, hex);
	run("GET", "/healthz", NULL, NULL, 0, &r);	/* opens the store */
	http_answer_free(&r);
	ok(store_put(ctx.store, d, bin, 4, &created, &err) == MH_OK,
	    "store a non-UTF-8 message directly");
	snprintf(target, sizeof target, "/messages/%s", hex);
	run("GET", target, NULL, NULL, 0, &r);
	ok(r.status == 406 && body_has(&r, "application/octet-stream"),
	    "JSON GET of a non-UTF-8 message: 406 pointing to octet-stream");
	http_answer_free(&r);
	run("GET", target, "Accept: text/html, application/octet-stream;q=0.5",
	    NULL, 0, &r);
	ok(r.status == 200 && r.body_len == 4 && memcmp(r.body, bin, 4) == 0 &&
	    strcmp(r.content_type, "application/octet-stream") == 0,
	    "octet-stream GET returns the raw bytes");
	http_answer_free(&r);
	run("GET", target, "Accept: application/octet-stream; q=0", NULL, 0, &r);
	is_int(r.status, 406, "q=0 means not acceptable: JSON, so 406");
	http_answer_free(&r);
}

static void
test_routes(void)
{
	static const struct {
		const char *method, *target;
		int status;
		const char *allow;
	} cases[] = {
		{ "GET", "/healthz", 200, NULL },
		{ "HEAD", "/healthz", 200, NULL },
		{ "OPTIONS", "/messages", 204, "POST, OPTIONS" },
		{ "OPTIONS", "/messages/" FOO_HEX, 204, "GET, HEAD, OPTIONS" },
		{ "OPTIONS", "*", 204, "GET, HEAD, POST, OPTIONS" },
		{ "GET", "/messages", 405, "POST, OPTIONS" },
		{ "PUT", "/messages", 405, "POST, OPTIONS" },
		{ "DELETE", "/messages/" FOO_HEX, 405, "GET, HEAD, OPTIONS" },
		{ "POST", "/messages/" FOO_HEX, 405, "GET, HEAD, OPTIONS" },
		{ "POST", "/healthz", 405, "GET, HEAD, OPTIONS" },
		{ "GET", "/", 404, NULL },
		{ "GET", "/messages/" FOO_HEX "/", 404, NULL },
		{ "GET", "/other", 404, NULL },
		{ "HEAD", "/messages/" FOO_HEX, 200, NULL },
	};
	struct http_answer r;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(cases[i].method, cases[i].target, NULL, NULL, 0, &r);
		ok(r.status == cases[i].status && (cases[i].allow == NULL ?
		    r.allow == NULL : r.allow && !strcmp(r.allow, cases[i].allow)),
		    "%s %s: %d", cases[i].method, cases[i].target,
		    cases[i].status);
		if (r.status >= 400)
			ok(body_has(&r, "\"err_msg\":"), "... with an err_msg");
		http_answer_free(&r);
	}
}

/*
 * What lib/conn.c relies on as api is its handler (cmd/serve.c): which
 * routes take a body (411, Expect: 100-continue), and a store failure's
 * detail for the log, never for the client (DESIGN.md §3).
 */
static void
test_handler(void)
{
	static const char *const no_body[][2] = {
		{ "POST", "/healthz" }, { "POST", "/messages/" FOO_HEX },
		{ "GET", "/messages" }, { "PUT", "/messages" },
	};
	struct http_request req;
	struct http_error herr;
	struct api_ctx broken;
	struct http_answer r;
	char head[256], file[300];
	size_t i;
	FILE *f;

	snprintf(head, sizeof head, "POST /messages HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 1\r\n\r\n");
	ok(http_parse_request(head, strlen(head), NULL, &req, &herr) > 0 &&
	    api_wants_body(&req), "POST /messages takes a body");
	for (i = 0; i < sizeof no_body / sizeof no_body[0]; i++) {
		snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n",
		    no_body[i][0], no_body[i][1]);
		ok(http_parse_request(head, strlen(head), NULL, &req, &herr) > 0 &&
		    !api_wants_body(&req), "%s %s takes no body", no_body[i][0],
		    no_body[i][1]);
	}

	run("GET", "/healthz", NULL, NULL, 0, &r);
	ok(r.status == 200 && r.detail == NULL, "an answer: no detail to log");
	http_answer_free(&r);

	/* A store directory that is a file: the store cannot open. */
	snprintf(file, sizeof file, "%s/not-a-directory", root);
	if ((f = fopen(file, "w")) != NULL)
		fclose(f);
	memset(&broken, 0, sizeof broken);
	broken.db_dir = file;
	broken.max_message = 16;
	snprintf(head, sizeof head, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	http_parse_request(head, strlen(head), NULL, &req, &herr);
	api_handle(&broken, &req, NULL, 0, &r);
	if (!ok(r.status >= 500 && r.detail != NULL && r.detail[0] != '\0' &&
	    body_is(&r, r.status == 503 ?
	    "{\"err_msg\":\"the store is unavailable; try again later\"}" :
	    "{\"err_msg\":\"internal error\"}"),
	    "a store failure: 5xx, the detail for the log, not in the body"))
		diag("  %d, detail: %s", r.status,
		    r.detail != NULL ? r.detail : "none");
	http_answer_free(&r);
	api_close(&broken);
}

/* RFC 8259 §7: quotation mark, reverse solidus and controls are escaped. */
static void
test_output_escaping(void)
{
	static const char msg[] = "a\"b\\c\n\x1f\x7f\xc3\xa9";
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1], target[128];
	struct http_answer r;
	struct mh_err err;
	bool created;

	digest_sha256(msg, sizeof msg - 1, d, &err);
	digest_to_hex(d, hex);
	store_put(ctx.store, d, msg, sizeof msg - 1, &created, &err);
	snprintf(target, sizeof target, "/messages/%s", hex);
	run("GET", target, NULL, NULL, 0, &r);
	ok(r.status == 200 &&
	    body_is(&r, "{\"message\":\"a\\\"b\\\\c\\u000a\\u001f\x7f\xc3\xa9\"}"),
	    "output escapes quote, backslash and controls, keeps DEL and UTF-8");
	http_answer_free(&r);
}

/*
 * ctx.batch (wait mode): a valid POST is deferred (resp->pending), an
 * invalid one answered at once; api_commit answers a batch, each its own
 * digest, 201 for a new message, 200 for a known one or a duplicate.
 */
static void
test_batch(void)
{
	static const char *msgs[] = { "batch a", "foo", "batch a" };
	struct api_post *posts[3];
	struct http_answer r, out[3];
	char json[64];
	int i, deferred = 0;

	ctx.batch = true;
	post("{\"message\":1}", &r);
	ok(r.pending == NULL && r.status == 400,
	    "batch: an invalid POST is answered at once (400)");
	http_answer_free(&r);
	for (i = 0; i < 3; i++) {
		snprintf(json, sizeof json, "{\"message\":\"%s\"}", msgs[i]);
		post(json, &r);
		deferred += r.pending != NULL && r.body == NULL;
		posts[i] = r.pending;
	}
	ok(deferred == 3, "batch: 3 valid POSTs are deferred, no answer yet");
	run("GET", "/messages/" FOO_HEX, NULL, NULL, 0, &r);
	is_int(r.status, 200, "batch: a GET meanwhile is answered at once");
	http_answer_free(&r);
	if (deferred != 3)
		return;
	api_commit(&ctx, posts, out, 3);
	is_int(out[1].status, 200, "batch: a known message: 200");
	ok(body_is(&out[1], "{\"digest\":\"" FOO_HEX "\"}"),
	    "... with its own digest");
	ok((out[0].status == 201) != (out[2].status == 201) &&
	    out[0].status + out[2].status == 401,
	    "batch: a message posted twice in one batch: one 201, one 200");
	ok(out[0].body_len == out[2].body_len && out[0].body != NULL &&
	    memcmp(out[0].body, out[2].body, out[0].body_len) == 0,
	    "... both with the same digest");
	for (i = 0; i < 3; i++)
		http_answer_free(&out[i]);
	ctx.batch = false;
	post("{\"message\":\"batch a\"}", &r);
	is_int(r.status, 200, "batch: the message is stored");
	http_answer_free(&r);
}

int
main(void)
{
	char dir[256], cmd[300];

	if (mkdtemp(root) == NULL)
		return 1;
	snprintf(dir, sizeof dir, "%s/store", root);
	ctx.db_dir = dir;
	ctx.max_message = 4 * 1024 * 1024;
	test_post_get();
	test_escapes();
	test_rejects();
	test_limit();
	test_binary_and_accept();
	test_routes();
	test_output_escaping();
	test_handler();
	test_batch();
	api_close(&ctx);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("could not remove %s", root);
	return done_testing();
}
