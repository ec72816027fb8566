/*
 * test-conn.c — lib/conn.c, the sans-I/O connection state machine, driven
 * the way serve's two modes drive it, behind a stub handler: no store, no
 * disk.
 *
 * Every fixture pair of tests/fixtures/http (NAME.req, NAME.resp: the exact
 * response stream with each Date value replaced by DATE, as norm_date in
 * tests/serve-helper.bash does) is run with the input delivered all at
 * once, one byte per read, in two reads split at every point, and with
 * writes accepted one byte at a time: framing must not depend on how the
 * bytes arrive or leave.  The stub gives, in order,
 * the answers written in the .resp (status, Content-Type, Location, Allow,
 * Retry-After, body), so what is compared is conn's part: which requests
 * are answered, in what order, with what Date, Content-Length and
 * Connection, 100 Continue, no body for HEAD; and the stub must see the
 * same requests and bodies however the bytes arrive.  The API's part runs
 * on a real store in tests/unit/test-api and, for the same fixtures, in
 * tests/serve.bats.  Then timeouts, shutdown, deadlines and the
 * pipelining contract of conn.h, with explicit now_ms values.
 *
 * Expected values come from the .resp files, conn.h and RFC 9110/9112,
 * never from a run of the code.
 */
#include <config.h>

#include <sys/uio.h>

#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "http.h"
#include "limits.h"
#include "tap.h"

static struct conn_config cfg;

/* What the log callback saw (one call per answered request). */
static int log_status[16];
static size_t log_calls;

static void
log_cb(void *arg, const struct http_request *req, int status, size_t bytes,
    int64_t start_us, const char *detail)
{
	(void)arg;
	(void)req;
	(void)bytes;
	(void)start_us;
	(void)detail;
	if (log_calls < sizeof log_status / sizeof log_status[0])
		log_status[log_calls] = status;
	log_calls++;
}

/* ---- helpers ---- */

struct obuf {
	char	*p;
	size_t	 len, cap;
};

static void
obuf_add(struct obuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;		/* p may be NULL (a request without a body) */
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;

		while (ncap < b->len + n)
			ncap *= 2;
		if ((b->p = realloc(b->p, ncap)) == NULL) {
			perror("realloc");
			exit(99);
		}
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static bool
slice_is(struct http_slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- the stub handler ---- */

/*
 * With a script (a fixture's .resp), the stub answers each request with
 * the script's next answer; without one, from routes of its own:
 * GET|HEAD /healthz 200 {"status":"ok"}, POST /messages 201, else 404.
 */
static struct {
	const char	*script, *script_end;	/* the answers still to give */
	const char	*bad;		/* the script did not fit the requests */
	struct obuf	 seen;		/* each call's method, target and body */
	long		 calls;
	bool		 defer;		/* POSTs: out->pending = &stub */
} stub;

static const char health_body[] = "{\"status\":\"ok\"}";
static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* As api_wants_body: only POST /messages takes a body. */
static bool
stub_wants_body(void *ctx, const struct http_request *req)
{
	(void)ctx;
	return req->method == HTTP_POST && slice_is(req->path, "/messages");
}

static void
stub_body(struct http_answer *out, const char *type, const char *body,
    size_t len)
{
	out->content_type = type;
	out->body_len = len;
	if ((out->body = malloc(len + 1)) == NULL)
		exit(99);
	memcpy(out->body, body, len);
}

/* As api_error: {"err_msg":"msg"} (conn's sentences need no escapes). */
static void
stub_refuse(void *ctx, int status, const char *msg, struct http_answer *out)
{
	char body[512];
	int n;

	(void)ctx;
	memset(out, 0, sizeof *out);
	out->status = status;
	n = snprintf(body, sizeof body, "{\"err_msg\":\"%s\"}", msg);
	stub_body(out, "application/json", body, (size_t)n);
}

static void
stub_routes(const struct http_request *req, struct http_answer *out)
{
	static const char digest[] = "{\"digest\":\"stub\"}";
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;

	if (get && slice_is(req->path, "/healthz")) {
		out->status = 200;
		stub_body(out, "application/json", health_body,
		    sizeof health_body - 1);
	} else if (req->method == HTTP_POST &&
	    slice_is(req->path, "/messages")) {
		out->status = 201;
		snprintf(out->location, sizeof out->location, "/messages/stub");
		stub_body(out, "application/json", digest, sizeof digest - 1);
	} else
		stub_refuse(NULL, 404, "no such resource", out);
}

/* The value of the field line at p (up to the CRLF at end), copied. */
static void
field_value(const char *p, const char *end, char *out, size_t cap)
{
	while (p < end && *p == ' ')
		p++;
	snprintf(out, cap, "%.*s", (int)(end - p), p);
}

/*
 * Takes the script's next answer: its status line and the fields the
 * handler decides (Date, Content-Length and Connection are conn's), then
 * Content-Length body bytes, or as many stand-ins for a HEAD (conn must
 * drop them).  A 100 Continue is conn's: skipped.
 */
static void
stub_script(bool head, struct http_answer *out)
{
	static char type[128], allow[128];
	const char *p = stub.script, *end, *eol;
	char value[128];
	size_t len = 0;

	if ((size_t)(stub.script_end - p) >= sizeof continue_line - 1 &&
	    memcmp(p, continue_line, sizeof continue_line - 1) == 0)
		p += sizeof continue_line - 1;
	end = memmem(p, (size_t)(stub.script_end - p), "\r\n\r\n", 4);
	if (end == NULL || memcmp(p, "HTTP/1.1 ", 9) != 0) {
		stub.bad = "more requests than answers in the .resp";
		stub_refuse(NULL, 500, "the script ran out", out);
		return;
	}
	out->status = (int)strtol(p + 9, NULL, 10);
	for (p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	    p < end + 2; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (strncasecmp(p, "Content-Type:", 13) == 0) {
			field_value(p + 13, eol, type, sizeof type);
			out->content_type = type;
		} else if (strncasecmp(p, "Content-Length:", 15) == 0) {
			field_value(p + 15, eol, value, sizeof value);
			len = (size_t)strtoul(value, NULL, 10);
		} else if (strncasecmp(p, "Location:", 9) == 0)
			field_value(p + 9, eol, out->location,
			    sizeof out->location);
		else if (strncasecmp(p, "Allow:", 6) == 0) {
			field_value(p + 6, eol, allow, sizeof allow);
			out->allow = allow;
		} else if (strncasecmp(p, "Retry-After:", 12) == 0) {
			field_value(p + 12, eol, value, sizeof value);
			out->retry_after = (unsigned)strtoul(value, NULL, 10);
		}
	}
	p = end + 4;
	if (!head && len > (size_t)(stub.script_end - p)) {
		stub.bad = "a .resp body is cut short";
		len = (size_t)(stub.script_end - p);
	}
	if ((out->body = malloc(len + 1)) == NULL)
		exit(99);
	memset(out->body, 'x', len);
	if (!head) {
		memcpy(out->body, p, len);
		p += len;
	}
	out->body_len = len;
	stub.script = p;
}

static void
stub_answer(void *ctx, const struct http_request *req, const char *body,
    size_t body_len, struct http_answer *out)
{
	char line[256];
	int n;

	(void)ctx;
	stub.calls++;
	n = snprintf(line, sizeof line, "%s %.*s %zu:",
	    http_method_name(req->method),
	    (int)(req->target.len > 100 ? 100 : req->target.len),
	    req->target.p, body_len);
	obuf_add(&stub.seen, line, (size_t)n);
	obuf_add(&stub.seen, body, body_len);
	obuf_add(&stub.seen, "\n", 1);
	memset(out, 0, sizeof *out);
	if (stub.defer && req->method == HTTP_POST)
		out->pending = &stub;	/* the test answers: conn_answer */
	else if (stub.script != NULL)
		stub_script(req->method == HTTP_HEAD, out);
	else
		stub_routes(req, out);
}

/* script NULL: the stub's own routes. */
static void
stub_reset(const char *script, size_t len)
{
	stub.script = script;
	stub.script_end = script != NULL ? script + len : NULL;
	stub.bad = NULL;
	stub.seen.len = 0;
	stub.calls = 0;
}

/* Like config_setup in cmd/serve.c with the default options. */
static void
config_setup(void)
{
	memset(&cfg, 0, sizeof cfg);
	cfg.header_ms = MH_HTTP_HEADER_TIMEOUT_MS;
	cfg.body_ms = MH_HTTP_BODY_TIMEOUT_MS;
	cfg.idle_ms = MH_HTTP_IDLE_TIMEOUT_MS;
	cfg.write_ms = MH_HTTP_WRITE_TIMEOUT_MS;
	cfg.max_requests = MH_HTTP_MAX_REQUESTS;
	cfg.body_limit = MH_HTTP_BODY_MAX(MH_MESSAGE_MAX_DEFAULT);
	http_limits_default(&cfg.lim);
	cfg.handler.wants_body = stub_wants_body;
	cfg.handler.answer = stub_answer;
	cfg.handler.refuse = stub_refuse;
	cfg.log = log_cb;
}

/* A connection to the stub: its own routes, or a script (a fixture's .resp). */
struct tconn {
	struct conn	 c;
};

static void
tconn_init(struct tconn *t, const char *script, size_t len, int64_t now_ms)
{
	log_calls = 0;
	stub_reset(script, len);
	conn_init(&t->c, &cfg, NULL, now_ms);
}

static void
tconn_free(struct tconn *t)
{
	conn_free(&t->c);
}

/* The total size of the pending output. */
static size_t
pending(const struct conn *c)
{
	struct iovec iov[3];
	size_t total = 0;
	int i, n = conn_output(c, iov);

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Writes up to max (0: all) pending bytes into out; returns how many. */
static size_t
write_some(struct conn *c, size_t max, struct obuf *out, int64_t now_ms)
{
	struct iovec iov[3];
	size_t total = 0, take;
	int i, n = conn_output(c, iov);

	for (i = 0; i < n && (max == 0 || total < max); i++) {
		take = iov[i].iov_len;
		if (max != 0 && take > max - total)
			take = max - total;
		obuf_add(out, iov[i].iov_base, take);
		total += take;
	}
	if (total > 0)
		conn_sent(c, total, now_ms);
	return total;
}

/* Writes everything while the connection wants to write. */
static void
drain(struct conn *c, struct obuf *out, int64_t now_ms)
{
	while (conn_want(c) == CONN_WRITE)
		if (write_some(c, 0, out, now_ms) == 0)
			break;
}

/* One read of exactly n bytes (n <= the cap conn_read_buf gives). */
static bool
feed(struct conn *c, const char *s, size_t n, int64_t now_ms)
{
	char *p;
	size_t cap;

	if (conn_want(c) != CONN_READ || !conn_read_buf(c, &p, &cap) ||
	    cap < n)
		return false;
	memcpy(p, s, n);
	conn_received(c, n, now_ms);
	return true;
}

static bool
feed_str(struct conn *c, const char *s, int64_t now_ms)
{
	return feed(c, s, strlen(s), now_ms);
}

/* norm_date: each line "Date: <IMF-fixdate>\r" becomes "Date: DATE\r". */
static bool
is_fixdate(const char *s)
{
	static const char *days[] = { "Mon", "Tue", "Wed", "Thu", "Fri",
	    "Sat", "Sun" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
	static const char shape[] = "ddd, 09 mmm 9999 29:59:69 GMT";
	size_t i;
	bool day = false, mon = false;

	for (i = 0; i < 7; i++)
		day |= memcmp(s, days[i], 3) == 0;
	for (i = 0; i < 12; i++)
		mon |= memcmp(s + 8, months[i], 3) == 0;
	if (!day || !mon)
		return false;
	for (i = 0; i < sizeof shape - 1; i++) {
		switch (shape[i]) {
		case 'd': case 'm':
			break;
		case '0': case '2': case '5': case '6': case '9':
			if (s[i] < '0' || s[i] > (shape[i] == '0' ? '3' :
			    shape[i]))
				return false;
			break;
		default:
			if (s[i] != shape[i])
				return false;
		}
	}
	return true;
}

static void
norm_date(const struct obuf *in, struct obuf *out)
{
	static const char pre[] = "Date: ";
	const size_t fix = 29, whole = sizeof pre - 1 + fix + 1;
	size_t pos = 0, end;

	out->len = 0;
	while (pos < in->len) {
		const char *nl = memchr(in->p + pos, '\n', in->len - pos);

		end = nl != NULL ? (size_t)(nl - in->p) : in->len;
		if (end - pos == whole &&
		    memcmp(in->p + pos, pre, sizeof pre - 1) == 0 &&
		    is_fixdate(in->p + pos + sizeof pre - 1) &&
		    in->p[end - 1] == '\r')
			obuf_add(out, "Date: DATE\r", 11);
		else
			obuf_add(out, in->p + pos, end - pos);
		if (nl != NULL)
			obuf_add(out, "\n", 1);
		pos = end + 1;
	}
}

/* Prints s[0..n) with controls escaped, for diagnostics. */
static void
show(const char *label, const char *s, size_t n)
{
	size_t i;

	printf("#   %s (%zu bytes): ", label, n);
	for (i = 0; i < n && i < 400; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r')
			fputs("\\r", stdout);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	if (n > 400)
		fputs("...", stdout);
	putchar('\n');
}

/* ---- driving a fixture ---- */

struct fixture {
	char	 name[128];
	char	*req, *resp;
	size_t	 req_len, resp_len;
};

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (*len == cap && (p = realloc(p, cap = cap * 2 + 4096)) == NULL)
			exit(99);
		if ((n = fread(p + *len, 1, cap - *len, f)) == 0)
			break;
		*len += n;
	}
	fclose(f);
	return p;
}

/*
 * Runs the fixture's input on a fresh connection, the stub answering from
 * its .resp, the way serve does: reads only when it wants to read
 * (at most the cap conn_read_buf gives), writes whenever it wants to
 * write, EOF once the input is exhausted.  The peer sends the input in
 * segments ending at bounds[0..nb) (increasing, the last = len); a read
 * never crosses a segment end.  Writes are accepted wmax bytes at a time
 * (0: all).  The stub must see the requests of seen (NULL: any).  out gets
 * the normalised output; why the reason when the run itself went wrong.
 */
static bool
drive(const struct fixture *fx, const size_t *bounds, size_t nb,
    size_t wmax, const struct obuf *seen, struct obuf *out, char *why,
    size_t why_len)
{
	static struct obuf raw;
	const char *in = fx->req;
	size_t len = fx->req_len;
	struct tconn t;
	int64_t now = 1000;
	size_t pos = 0, b = 0, m, cap;
	long steps = 0, max_steps = 8 * (long)(len + 64) * 64;
	bool eof = false, good = true;
	char *p;

	raw.len = 0;
	why[0] = '\0';
	tconn_init(&t, fx->resp, fx->resp_len, now);
	while (conn_want(&t.c) != CONN_DONE) {
		now++;
		if (++steps > max_steps) {
			snprintf(why, why_len, "no progress after %ld steps "
			    "(input at %zu of %zu)", steps, pos, len);
			good = false;
			break;
		}
		if (conn_want(&t.c) == CONN_WRITE) {
			if (write_some(&t.c, wmax, &raw, now) == 0) {
				snprintf(why, why_len, "CONN_WRITE with no "
				    "output (input at %zu)", pos);
				good = false;
				break;
			}
			continue;
		}
		if (pos == len) {
			if (eof) {
				snprintf(why, why_len, "CONN_READ after EOF");
				good = false;
				break;
			}
			eof = true;
			conn_received(&t.c, 0, now);
			continue;
		}
		if (!conn_read_buf(&t.c, &p, &cap) || cap == 0) {
			snprintf(why, why_len, "conn_read_buf gave no room "
			    "(input at %zu)", pos);
			good = false;
			break;
		}
		while (b < nb && bounds[b] <= pos)
			b++;
		m = (b < nb ? bounds[b] : len) - pos;
		if (m > cap)
			m = cap;
		memcpy(p, in + pos, m);
		pos += m;
		conn_received(&t.c, m, now);
	}
	tconn_free(&t);
	if (good && stub.bad != NULL) {
		snprintf(why, why_len, "stub: %s", stub.bad);
		good = false;
	} else if (good && seen != NULL && (seen->len != stub.seen.len ||
	    memcmp(seen->p, stub.seen.p, seen->len) != 0)) {
		snprintf(why, why_len, "the handler saw other requests or "
		    "bodies than with the whole input in one read");
		good = false;
	}
	norm_date(&raw, out);
	return good;
}

/* Whether out is the expected response stream; diagnostics if not. */
static bool
same_output(const struct fixture *fx, const struct obuf *out, bool driven,
    const char *why)
{
	size_t i, n = out->len < fx->resp_len ? out->len : fx->resp_len, from;

	if (driven && out->len == fx->resp_len &&
	    memcmp(out->p, fx->resp, out->len) == 0)
		return true;
	if (!driven)
		diag("  %s", why);
	if (out->len == fx->resp_len && memcmp(out->p, fx->resp, out->len) == 0)
		return false;	/* the output was right; the run was not */
	for (i = 0; i < n && out->p[i] == fx->resp[i]; i++)
		;
	diag("  first difference at byte %zu (got %zu bytes, want %zu)", i,
	    out->len, fx->resp_len);
	from = i > 60 ? i - 60 : 0;
	show("got ", out->p + from, out->len - from);
	show("want", fx->resp + from, fx->resp_len - from);
	return false;
}

static void
test_fixture(const struct fixture *fx, struct obuf *out)
{
	static struct obuf seen;
	char why[256];
	size_t *bounds, i, k, bad_k = 0, nbad = 0, one;
	bool driven;

	/* (a) the whole request stream in one read: what the stub sees then
	 * is what it must see in every other run. */
	one = fx->req_len;
	driven = drive(fx, &one, 1, 0, NULL, out, why, sizeof why);
	seen.len = 0;
	obuf_add(&seen, stub.seen.p, stub.seen.len);
	if (!ok(driven && same_output(fx, out, true, why),
	    "%s: whole input in one read", fx->name))
		same_output(fx, out, driven, why);

	/* (b) one byte per read. */
	if ((bounds = calloc(fx->req_len + 1, sizeof *bounds)) == NULL)
		exit(99);
	for (i = 0; i < fx->req_len; i++)
		bounds[i] = i + 1;
	driven = drive(fx, bounds, fx->req_len, 0, &seen, out, why,
	    sizeof why);
	if (!ok(driven && same_output(fx, out, true, why),
	    "%s: one byte per read", fx->name))
		same_output(fx, out, driven, why);

	/* (b') one byte per read and one byte per write. */
	driven = drive(fx, bounds, fx->req_len, 1, &seen, out, why,
	    sizeof why);
	if (!ok(driven && same_output(fx, out, true, why),
	    "%s: one byte per read, one byte per write", fx->name))
		same_output(fx, out, driven, why);

	/* (c) two reads [0,k) and [k,n), for every k. */
	for (k = 1; k < fx->req_len; k++) {
		size_t two[2] = { k, fx->req_len };

		driven = drive(fx, two, 2, 0, &seen, out, why, sizeof why);
		if (!driven || out->len != fx->resp_len ||
		    memcmp(out->p, fx->resp, out->len) != 0) {
			if (nbad++ == 0) {
				bad_k = k;
				diag("%s: split at %zu:", fx->name, k);
				same_output(fx, out, driven, why);
			}
		}
	}
	if (!ok(nbad == 0, "%s: two reads, split at each of the %zu points",
	    fx->name, fx->req_len - 1))
		diag("  %zu split point(s) failed, the first at %zu", nbad,
		    bad_k);

	/* (d) the whole input at once, writes accepted one byte at a time. */
	driven = drive(fx, &one, 1, 1, &seen, out, why, sizeof why);
	if (!ok(driven && same_output(fx, out, true, why),
	    "%s: one byte per write", fx->name))
		same_output(fx, out, driven, why);
	free(bounds);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_fixtures(void)
{
	const char *src = getenv("MSGHASH_TEST_SRCDIR");
	struct fixture fx;
	struct obuf out = { NULL, 0, 0 };
	char pattern[1024], path[1200];
	glob_t g;
	size_t i, n;

	if (src == NULL || *src == '\0')
		src = ".";
	snprintf(pattern, sizeof pattern, "%s/tests/fixtures/http/*.req", src);
	if (glob(pattern, 0, NULL, &g) != 0) {
		ok(0, "fixtures found in %s", pattern);
		return;
	}
	qsort(g.gl_pathv, g.gl_pathc, sizeof g.gl_pathv[0], cmp_str);
	ok(g.gl_pathc >= 25, "at least 25 fixtures in tests/fixtures/http "
	    "(found %zu)", g.gl_pathc);
	for (i = 0; i < g.gl_pathc; i++) {
		const char *base = strrchr(g.gl_pathv[i], '/') + 1;

		memset(&fx, 0, sizeof fx);
		n = strlen(base) - 4;	/* without ".req" */
		snprintf(fx.name, sizeof fx.name, "%.*s", (int)n, base);
		fx.req = slurp(g.gl_pathv[i], &fx.req_len);
		snprintf(path, sizeof path, "%.*s.resp",
		    (int)(strlen(g.gl_pathv[i]) - 4), g.gl_pathv[i]);
		fx.resp = slurp(path, &fx.resp_len);
		if (fx.req == NULL || fx.resp == NULL || fx.req_len == 0) {
			ok(0, "%s: .req and .resp readable", fx.name);
		} else
			test_fixture(&fx, &out);
		free(fx.req);
		free(fx.resp);
	}
	globfree(&g);
	free(out.p);
}

/* ---- one response, parsed (for the direct tests) ---- */

struct resp {
	int		 status;
	const char	*head;		/* status line .. empty line */
	size_t		 head_len;
	const char	*body;
	size_t		 body_len;
	long		 content_length; /* -1: none */
};

/*
 * Parses the response at s[0..n) with its body framed by Content-Length
 * (none if head_only); returns its length, 0 if it is not complete.
 */
static size_t
parse_resp(const char *s, size_t n, bool head_only, struct resp *r)
{
	const char *end, *cl;
	char buf[32];

	memset(r, 0, sizeof *r);
	r->content_length = -1;
	if (n < 16 || memcmp(s, "HTTP/1.1 ", 9) != 0)
		return 0;
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	end = memmem(s, n, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	r->head = s;
	r->head_len = (size_t)(end - s) + 4;
	cl = memmem(s, r->head_len, "\r\nContent-Length: ", 18);
	if (cl != NULL) {
		size_t i = 0;

		cl += 18;
		while (i < sizeof buf - 1 && cl[i] >= '0' && cl[i] <= '9') {
			buf[i] = cl[i];
			i++;
		}
		buf[i] = '\0';
		r->content_length = strtol(buf, NULL, 10);
	}
	r->body = s + r->head_len;
	r->body_len = head_only || r->content_length < 0 ? 0 :
	    (size_t)r->content_length;
	if (r->head_len + r->body_len > n)
		return 0;
	return r->head_len + r->body_len;
}

/* Whether the head has the field line "line" (e.g. "Connection: close"). */
static bool
has_field(const struct resp *r, const char *line)
{
	char want[256];

	snprintf(want, sizeof want, "\r\n%s\r\n", line);
	return r->head != NULL &&
	    memmem(r->head, r->head_len, want, strlen(want)) != NULL;
}

/* The API's error body: {"err_msg":"<something>"} as application/json. */
static bool
is_err_body(const struct resp *r)
{
	return has_field(r, "Content-Type: application/json") &&
	    r->body_len > 14 && memcmp(r->body, "{\"err_msg\":\"", 12) == 0 &&
	    memcmp(r->body + r->body_len - 2, "\"}", 2) == 0;
}

/* Exactly one complete response in out, parsed into r. */
static bool
one_resp(const struct obuf *out, struct resp *r)
{
	size_t n = parse_resp(out->p, out->len, false, r);

	if (n == 0 || n != out->len) {
		show("output", out->p, out->len);
		return false;
	}
	return true;
}

/* ---- timeouts, shutdown, deadlines ---- */

static const char health_req[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";

static void
test_timeout_head(void)
{
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;

	tconn_init(&t, NULL, 0, 1000);
	ok(feed_str(&t.c, "GET /healthz HTTP/1.1\r\nHo", 1100) &&
	    conn_want(&t.c) == CONN_READ,
	    "partial head: the connection waits for more");
	conn_timeout(&t.c, 1100 + cfg.header_ms);
	ok(conn_want(&t.c) == CONN_WRITE,
	    "header timeout with a partial head: an answer is queued");
	drain(&t.c, &out, 1100 + cfg.header_ms + 1);
	ok(one_resp(&out, &r) && r.status == 408 &&
	    memcmp(r.head, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0,
	    "header timeout: one 408 Request Timeout response (RFC 9110 "
	    "15.5.9)");
	ok(has_field(&r, "Connection: close"),
	    "header timeout: the 408 carries Connection: close");
	ok(is_err_body(&r), "header timeout: the 408 has an err_msg body");
	ok(conn_want(&t.c) == CONN_DONE,
	    "header timeout: CONN_DONE once the 408 is written");
	ok(log_calls == 1 && log_status[0] == 408,
	    "header timeout: the 408 is logged once");
	tconn_free(&t);
	free(out.p);
}

static void
test_timeout_idle(void)
{
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;

	tconn_init(&t, NULL, 0, 1000);
	conn_timeout(&t.c, 1000 + cfg.idle_ms);
	ok(conn_want(&t.c) == CONN_DONE && pending(&t.c) == 0,
	    "idle timeout before any request: CONN_DONE, no output "
	    "(RFC 9112 9.5)");
	ok(log_calls == 0, "idle timeout: nothing logged");
	tconn_free(&t);

	/* Idle again after an answered request. */
	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, health_req, 1001);
	drain(&t.c, &out, 1002);
	ok(one_resp(&out, &r) && r.status == 200 &&
	    conn_want(&t.c) == CONN_READ,
	    "a keep-alive request answered: waiting for the next one");
	out.len = 0;
	conn_timeout(&t.c, 1002 + cfg.idle_ms);
	ok(conn_want(&t.c) == CONN_DONE && pending(&t.c) == 0,
	    "idle timeout after a request: CONN_DONE, no output");
	tconn_free(&t);
	free(out.p);
}

static void
test_timeout_body(void)
{
	static const char head[] = "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Content-Type: application/json\r\nContent-Length: 17\r\n\r\n";
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;

	tconn_init(&t, NULL, 0, 1000);
	ok(feed_str(&t.c, head, 1100) && feed_str(&t.c, "{\"mess", 1200) &&
	    conn_want(&t.c) == CONN_READ,
	    "Content-Length 17, 6 body bytes sent: waiting for the rest");
	conn_timeout(&t.c, 1100 + cfg.body_ms);
	ok(conn_want(&t.c) == CONN_WRITE,
	    "body timeout mid-body: an answer is queued");
	drain(&t.c, &out, 1100 + cfg.body_ms + 1);
	ok(one_resp(&out, &r) && r.status == 408 &&
	    has_field(&r, "Connection: close") && is_err_body(&r),
	    "body timeout: 408 with Connection: close and an err_msg");
	ok(conn_want(&t.c) == CONN_DONE,
	    "body timeout: CONN_DONE once the 408 is written");
	ok(log_calls == 1 && log_status[0] == 408 && stub.calls == 0,
	    "body timeout: only the 408 is logged (the handler never asked)");
	tconn_free(&t);
	free(out.p);
}

static void
test_shutdown(void)
{
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;

	tconn_init(&t, NULL, 0, 1000);
	conn_shutdown(&t.c);
	ok(conn_want(&t.c) == CONN_DONE && pending(&t.c) == 0,
	    "shutdown while idle (no request yet): CONN_DONE at once");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, health_req, 1001);
	drain(&t.c, &out, 1002);
	out.len = 0;
	conn_shutdown(&t.c);
	ok(conn_want(&t.c) == CONN_DONE && pending(&t.c) == 0,
	    "shutdown while idle after a request: CONN_DONE at once");
	tconn_free(&t);

	/* Mid-head: the request is still read and answered, then close. */
	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, "GET /healthz HTTP/1.1\r\nHo", 1001);
	conn_shutdown(&t.c);
	ok(conn_want(&t.c) == CONN_READ,
	    "shutdown mid-head: still reading the request");
	ok(feed_str(&t.c, "st: a\r\n\r\n", 1002) &&
	    conn_want(&t.c) == CONN_WRITE,
	    "shutdown mid-head: the completed request is answered");
	drain(&t.c, &out, 1003);
	ok(one_resp(&out, &r) && r.status == 200 &&
	    r.body_len == sizeof health_body - 1 &&
	    memcmp(r.body, health_body, r.body_len) == 0,
	    "shutdown mid-head: the answer is the 200 of GET /healthz");
	ok(has_field(&r, "Connection: close"),
	    "shutdown mid-head: the answer carries Connection: close");
	ok(conn_want(&t.c) == CONN_DONE,
	    "shutdown mid-head: CONN_DONE once the answer is written");
	tconn_free(&t);

	/* Mid-body. */
	out.len = 0;
	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 17\r\n\r\n{\"message\"", 1001);
	conn_shutdown(&t.c);
	ok(conn_want(&t.c) == CONN_READ && feed_str(&t.c, ":\"foo\"}", 1002),
	    "shutdown mid-body: the rest of the body is still read");
	drain(&t.c, &out, 1003);
	ok(one_resp(&out, &r) && r.status == 201 &&
	    has_field(&r, "Connection: close"),
	    "shutdown mid-body: 201 Created with Connection: close");
	ok(conn_want(&t.c) == CONN_DONE,
	    "shutdown mid-body: CONN_DONE once the answer is written");
	tconn_free(&t);
	free(out.p);
}

static void
test_deadlines(void)
{
	static const char head[] = "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 17\r\n\r\n";
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };

	tconn_init(&t, NULL, 0, 1000);
	is_int(conn_deadline(&t.c), 1000 + cfg.idle_ms,
	    "deadline at conn_init: now + idle_ms");
	feed_str(&t.c, "P", 2000);
	is_int(conn_deadline(&t.c), 2000 + cfg.header_ms,
	    "deadline after the first byte: now + header_ms");
	feed_str(&t.c, "OST /mess", 2500);
	is_int(conn_deadline(&t.c), 2000 + cfg.header_ms,
	    "more head bytes do not move the header deadline");
	feed_str(&t.c, head + 10, 3000);
	is_int(conn_deadline(&t.c), 3000 + cfg.body_ms,
	    "deadline at the end of the head (a body follows): now + body_ms");
	feed_str(&t.c, "{\"message\":", 3500);
	is_int(conn_deadline(&t.c), 3000 + cfg.body_ms,
	    "body bytes do not move the body deadline");
	feed_str(&t.c, "\"foo\"}", 4000);
	ok(conn_want(&t.c) == CONN_WRITE,
	    "the body complete: the answer is queued");
	is_int(conn_deadline(&t.c), 4000 + cfg.write_ms,
	    "deadline while the answer is written: now + write_ms");
	drain(&t.c, &out, 4100);
	is_int(conn_deadline(&t.c), 4100 + cfg.idle_ms,
	    "deadline once the answer is written: now + idle_ms");
	tconn_free(&t);
	free(out.p);
}

/* The time an answer took (the store waiting for its lock, say). */
static int64_t fake_now;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static void
test_write_deadline_after_slow_answer(void)
{
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;

	cfg.now_ms = fake_clock;
	fake_now = 1000 + 60000;	/* the handler "took" a minute */
	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 1000);
	ok(conn_want(&t.c) == CONN_WRITE, "slow answer: the answer is queued");
	is_int(conn_deadline(&t.c), fake_now + cfg.write_ms,
	    "slow answer: the write deadline counts from the answer, not the "
	    "request (a late answer was dropped unwritten)");
	drain(&t.c, &out, fake_now + 1);
	ok(one_resp(&out, &r) && r.status == 200,
	    "slow answer: it is written whole");
	cfg.now_ms = NULL;
	tconn_free(&t);
	free(out.p);
}

/* ---- pipelining ---- */

/* Copies the pending output into out without acknowledging it. */
static void
peek(const struct conn *c, struct obuf *out)
{
	struct iovec iov[3];
	int i, n = conn_output(c, iov);

	out->len = 0;
	for (i = 0; i < n; i++)
		obuf_add(out, iov[i].iov_base, iov[i].iov_len);
}

static bool
is_health_200(const struct obuf *b)
{
	struct resp r;

	return parse_resp(b->p, b->len, false, &r) == b->len &&
	    r.status == 200 && r.body_len == sizeof health_body - 1 &&
	    memcmp(r.body, health_body, r.body_len) == 0 &&
	    !has_field(&r, "Connection: close");
}

/*
 * Answers in the order of the requests (RFC 9112 9.3.2), and one at a time:
 * the next request is parsed only once the previous answer is written
 * (conn.h).
 */
static void
test_pipelining(void)
{
	struct tconn t;
	struct obuf out = { NULL, 0, 0 }, two = { NULL, 0, 0 };
	size_t n;

	obuf_add(&two, health_req, sizeof health_req - 1);
	obuf_add(&two, health_req, sizeof health_req - 1);
	tconn_init(&t, NULL, 0, 1000);
	ok(feed(&t.c, two.p, two.len, 1001) && conn_want(&t.c) == CONN_WRITE,
	    "pipelined: two GET /healthz in one read, then CONN_WRITE");
	peek(&t.c, &out);
	ok(is_health_200(&out),
	    "pipelined: the pending output is exactly the first answer");
	ok(log_calls == 1,
	    "pipelined: only the first request has been handled");
	n = out.len;
	conn_sent(&t.c, n - 1, 1002);
	peek(&t.c, &out);
	ok(conn_want(&t.c) == CONN_WRITE && out.len == 1 && out.p[0] == '}',
	    "pipelined: all but the last byte written: still CONN_WRITE, "
	    "that byte pending");
	ok(log_calls == 1,
	    "pipelined: the second request is not handled before the first "
	    "answer is fully written");
	conn_sent(&t.c, 1, 1003);
	ok(conn_want(&t.c) == CONN_WRITE,
	    "pipelined: the first answer written: CONN_WRITE again");
	peek(&t.c, &out);
	ok(is_health_200(&out) && log_calls == 2,
	    "pipelined: the pending output is exactly the second answer");
	conn_sent(&t.c, out.len, 1004);
	ok(conn_want(&t.c) == CONN_READ,
	    "pipelined: both answered: CONN_READ (keep-alive)");
	conn_received(&t.c, 0, 1005);
	ok(conn_want(&t.c) == CONN_DONE, "pipelined: then EOF: CONN_DONE");
	tconn_free(&t);
	free(out.p);
	free(two.p);
}

/*
 * A deferred answer (out->pending): the connection waits (CONN_WAIT) and
 * takes no input meanwhile, not even a pipelined request already read;
 * conn_answer queues the answer, logged then, and the next request goes
 * on.  One aborted while it waited takes the answer and drops it.
 */
static void
test_deferred(void)
{
	static const char post[] =
	    "POST /messages HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
	struct tconn t;
	struct obuf out = { NULL, 0, 0 }, in = { NULL, 0, 0 };
	struct http_answer a;
	struct resp r;

	obuf_add(&in, post, sizeof post - 1);
	obuf_add(&in, health_req, sizeof health_req - 1);
	tconn_init(&t, NULL, 0, 1000);
	stub.defer = true;
	ok(feed(&t.c, in.p, in.len, 1001) && conn_want(&t.c) == CONN_WAIT &&
	    conn_pending(&t.c) == &stub && pending(&t.c) == 0,
	    "deferred: a POST answered later: CONN_WAIT, its work given back, "
	    "no output");
	ok(stub.calls == 1 && log_calls == 0,
	    "deferred: the pipelined GET is not handled meanwhile, nothing "
	    "logged");
	memset(&a, 0, sizeof a);
	a.status = 201;
	stub_body(&a, "application/json", "{\"digest\":\"d\"}", 14);
	conn_answer(&t.c, &a, 1002);
	ok(conn_want(&t.c) == CONN_WRITE && conn_pending(&t.c) == NULL &&
	    log_calls == 1 && log_status[0] == 201,
	    "deferred: conn_answer queues the answer and logs it");
	drain(&t.c, &out, 1003);
	ok(parse_resp(out.p, out.len, false, &r) > 0 && r.status == 201 &&
	    stub.calls == 2 && log_calls == 2,
	    "deferred: the answer is written, then the pipelined GET answered");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 2000);
	ok(feed(&t.c, post, sizeof post - 1, 2001) &&
	    conn_want(&t.c) == CONN_WAIT, "deferred again: CONN_WAIT");
	conn_abort(&t.c);
	memset(&a, 0, sizeof a);
	a.status = 503;
	stub_body(&a, "application/json", "{}", 2);
	conn_answer(&t.c, &a, 2002);
	ok(conn_want(&t.c) == CONN_DONE && pending(&t.c) == 0 && log_calls == 0,
	    "deferred, then aborted: the late answer is dropped, not logged");
	stub.defer = false;
	tconn_free(&t);
	free(out.p);
	free(in.p);
}

/*
 * conn_unread_input: the driver lingers before closing only when the client
 * may still be sending (RFC 9112 §9.6).
 */
static void
test_unread_input(void)
{
	static const char close_req[] =
	    "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	static const char bad_req[] = "GET /healthz HTTP/1.1\r\n\r\n";
	struct conn_config saved = cfg;
	struct tconn t;
	struct obuf out = { NULL, 0, 0 }, three = { NULL, 0, 0 };
	int i;

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, close_req, 1001);
	drain(&t.c, &out, 1002);
	ok(conn_want(&t.c) == CONN_DONE && !conn_unread_input(&t.c),
	    "unread input: none after a lone Connection: close request");
	tconn_free(&t);

	cfg.max_requests = 2;
	for (i = 0; i < 3; i++)
		obuf_add(&three, health_req, sizeof health_req - 1);
	tconn_init(&t, NULL, 0, 1000);
	feed(&t.c, three.p, three.len, 1001);
	drain(&t.c, &out, 1002);
	ok(conn_want(&t.c) == CONN_DONE && log_calls == 2 &&
	    conn_unread_input(&t.c),
	    "unread input: a third pipelined request after --max-requests 2");
	tconn_free(&t);
	cfg = saved;

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, bad_req, 1001);
	drain(&t.c, &out, 1002);
	ok(conn_want(&t.c) == CONN_DONE && conn_unread_input(&t.c),
	    "unread input: after a 400 the client may still be sending");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, close_req, 1001);
	conn_abort(&t.c);
	ok(!conn_unread_input(&t.c), "unread input: never after conn_abort");
	tconn_free(&t);
	free(out.p);
	free(three.p);
}

/*
 * Request body memory (conn.h; wait mode's budget): what a connection
 * holds, what its next read may add, and that the body is given back once
 * the request is answered, before the answer is written.
 */
static void
test_body_memory(void)
{
	static const char head[] = "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 17\r\n\r\n";
	static const char chunked[] = "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char big[] = "POST /messages HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 1000000\r\n\r\n";
	struct tconn t;
	struct obuf out = { NULL, 0, 0 };
	struct resp r;
	char req[256];

	tconn_init(&t, NULL, 0, 1000);
	ok(conn_body_held(&t.c) == 0 && conn_body_read_size(&t.c) == 0 &&
	    !conn_body_pending(&t.c),
	    "body memory: a new connection holds none and reads none");
	snprintf(req, sizeof req, "%s%s", head, "{\"mess");
	feed_str(&t.c, req, 1001);
	is_int((int64_t)conn_body_held(&t.c), 6,
	    "body memory: the body bytes read with the head are held");
	is_int((int64_t)conn_body_read_size(&t.c), 11,
	    "body memory: the next read may add the rest of the body");
	ok(conn_body_pending(&t.c), "body memory: the body is pending");
	feed_str(&t.c, "age\":\"abc\"}", 1002);
	ok(conn_want(&t.c) == CONN_WRITE && conn_body_held(&t.c) == 0 &&
	    !conn_body_pending(&t.c) && conn_body_read_size(&t.c) == 0,
	    "body memory: answered: the body is given back before the "
	    "answer is written");
	drain(&t.c, &out, 1003);
	ok(one_resp(&out, &r) && r.status == 201,
	    "body memory: the answer is 201");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, big, 1001);
	is_int((int64_t)conn_body_read_size(&t.c), MH_HTTP_BODY_READ_MAX,
	    "body memory: a large body is read MH_HTTP_BODY_READ_MAX at a time");
	conn_timeout(&t.c, 1001 + cfg.body_ms);
	ok(conn_body_held(&t.c) == 0 && !conn_body_pending(&t.c),
	    "body memory: after a 408 nothing is held");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, chunked, 1001);
	is_int((int64_t)conn_body_read_size(&t.c), MH_IO_CHUNK,
	    "body memory: chunked: one MH_IO_CHUNK a read");
	tconn_free(&t);

	tconn_init(&t, NULL, 0, 1000);
	feed_str(&t.c, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 1001);
	drain(&t.c, &out, 1002);
	ok(conn_want(&t.c) == CONN_READ && conn_body_read_size(&t.c) == 0 &&
	    !conn_body_pending(&t.c),
	    "body memory: between requests no read is a body read");
	tconn_free(&t);
	free(out.p);
}

int
main(void)
{
	config_setup();
	test_fixtures();
	test_timeout_head();
	test_timeout_idle();
	test_timeout_body();
	test_shutdown();
	test_deadlines();
	test_write_deadline_after_slow_answer();
	test_pipelining();
	test_deferred();
	test_unread_input();
	test_body_memory();
	free(stub.seen.p);
	return done_testing();
}
