/*
 * fuzz-api.c — libFuzzer target for the request -> response path of
 * api_handle() (lib/api.c): POST /messages with arbitrary bodies, against a
 * real Berkeley DB store in a temporary directory made once per process
 * (never the user's store), with a 64 KiB message limit.
 *
 * The input is the request body.  The request heads are parsed once, with
 * http_parse_request(), from fixed strings.  The expected answer comes
 * from an oracle written here, independently of lib/api.c: a strict
 * RFC 8259 parser (UTF-8 checked, no byte-order mark, surrogate pairs
 * joined, lone surrogates refused, \u0000 decoded to a NUL byte, nesting
 * capped where cJSON caps it) that also decodes the top-level "message"
 * member.
 *
 * Invariants (abort() on violation):
 *  A1 the POST is answered 200, 201, 400 or 413 (503 or 500: the store or
 *     the process broke); the body is a JSON object that cJSON parses with
 *     require_null_terminated, and so does the oracle;
 *  A2 201/200 exactly when the oracle finds an object with one "message"
 *     string of at most the limit; 413 when that string is longer; 400
 *     otherwise.  201 carries Location: /messages/<digest>;
 *  A3 the digest is SHA-256 of the oracle's decoded message;
 *  A4 the same POST again is 200 with the same digest (idempotent);
 *  A5 GET /messages/<digest> with Accept: application/octet-stream is 200
 *     with exactly the decoded bytes (and their SHA-256 is the digest);
 *  A6 GET /messages/<digest> as JSON is 200 and parses, with cJSON and the
 *     oracle, to one "message" member whose bytes are exactly the decoded
 *     ones (cJSON's valuestring too, when there is no NUL byte).
 *
 * Signals: store_open() blocks SIGINT/SIGTERM/SIGHUP until store_close(),
 * and the store's alarm() watchdog takes over SIGALRM (libFuzzer's -timeout
 * is then replaced by the watchdog, which ends a store call that makes no
 * progress for MH_STORE_STALL_SEC).  The
 * harness unblocks the signals again after opening the store, so that
 * Ctrl-C and `timeout` still stop it: the store is a scratch one.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/types.h>

#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "digest.h"
#include "http.h"
#include "store.h"
#include "fuzz.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE		(64 * 1024)	/* --max-size for the run */
#define NESTING_LIMIT		1000		/* CJSON_NESTING_LIMIT */
#define CHECKPOINT_EVERY	2000		/* new messages; trims the log */


static struct api_ctx		ctx;
static char			tmpdir[4096], storedir[4096 + 16];
static struct http_request	post_req;
static unsigned long		created_since_checkpoint;
static unsigned long		answers[4];	/* 200, 201, 400, 413 */

/* ---- the oracle: strict RFC 8259 ---- */

enum jresult {
	J_INVALID,	/* not JSON text by RFC 8259 + RFC 3629 */
	J_LIMIT,	/* JSON, but nested deeper than cJSON goes */
	J_VALID
};

struct jparse {
	const uint8_t	*s;
	size_t		 n, i;
	int		 depth;
	bool		 limit;
	bool		 top_object;
	int		 messages;	/* top-level members named "message" */
	bool		 message_is_string;
	uint8_t		*msg;		/* the decoded "message" string */
	size_t		 msglen;
	uint8_t		*tmp;		/* decoded keys */
};

/* RFC 3629 §4, Unicode Table 3-7: no overlongs, surrogates, > U+10FFFF. */
static bool
utf8_ok(const uint8_t *s, size_t n)
{
	size_t	i = 0, len, k;
	uint8_t	lo, hi;

	while (i < n) {
		uint8_t	c = s[i];

		lo = 0x80;
		hi = 0xBF;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? 0x9F : 0xBF;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
		} else
			return false;
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += len;
	}
	return true;
}

static void
j_ws(struct jparse *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
j_hex4(struct jparse *p)
{
	int	v = 0, k;

	if (p->n - p->i < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		uint8_t	c = p->s[p->i + k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	p->i += 4;
	return v;
}

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xE0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* RFC 8259 §7, at the opening quote; decodes into out (never longer). */
static bool
j_string(struct jparse *p, uint8_t *out, size_t *outlen)
{
	size_t	o = 0;
	int	hi, lo;

	p->i++;
	for (;;) {
		uint8_t	c;

		if (p->i == p->n)
			return false;
		c = p->s[p->i++];
		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (p->i == p->n)
			return false;
		c = p->s[p->i++];
		switch (c) {
		case '"': case '\\': case '/':
			out[o++] = c;
			break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if ((hi = j_hex4(p)) < 0)
				return false;
			if (hi >= 0xDC00 && hi <= 0xDFFF)
				return false;	/* lone low surrogate */
			if (hi >= 0xD800 && hi <= 0xDBFF) {
				/* RFC 8259 §7: a pair, 12 bytes for 4 or 6 */
				if (p->n - p->i < 2 || p->s[p->i] != '\\' ||
				    p->s[p->i + 1] != 'u')
					return false;
				p->i += 2;
				if ((lo = j_hex4(p)) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return false;
				o += put_utf8(out + o, 0x10000 +
				    ((uint32_t)(hi - 0xD800) << 10) +
				    (uint32_t)(lo - 0xDC00));
			} else
				o += put_utf8(out + o, (uint32_t)hi);
			break;
		default:
			return false;
		}
	}
	*outlen = o;
	return true;
}

static bool
j_digits(struct jparse *p)
{
	size_t	start = p->i;

	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i > start;
}

/* RFC 8259 §6. */
static bool
j_number(struct jparse *p)
{
	if (p->s[p->i] == '-')
		p->i++;
	if (p->i < p->n && p->s[p->i] == '0')
		p->i++;
	else if (p->i == p->n || p->s[p->i] < '1' || p->s[p->i] > '9' ||
	    !j_digits(p))
		return false;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (!j_digits(p))
			return false;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!j_digits(p))
			return false;
	}
	return true;
}

static bool
j_literal(struct jparse *p, const char *lit)
{
	size_t	len = strlen(lit);

	if (p->n - p->i < len || memcmp(p->s + p->i, lit, len) != 0)
		return false;
	p->i += len;
	return true;
}

static bool	j_value(struct jparse *p, int *type);

/* Value types the oracle tells apart. */
enum { T_OTHER, T_STRING, T_OBJECT };

static bool
j_container(struct jparse *p, bool object)
{
	uint8_t	close = object ? '}' : ']';
	size_t	keylen = 0;
	int	type;
	bool	is_message;

	if (++p->depth > NESTING_LIMIT) {
		p->limit = true;
		return false;
	}
	p->i++;
	j_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return true;
	}
	for (;;) {
		is_message = false;
		if (object) {
			if (p->i == p->n || p->s[p->i] != '"' ||
			    !j_string(p, p->tmp, &keylen))
				return false;
			is_message = p->depth == 1 && keylen == 7 &&
			    memcmp(p->tmp, "message", 7) == 0;
			j_ws(p);
			if (p->i == p->n || p->s[p->i] != ':')
				return false;
			p->i++;
			j_ws(p);
		}
		if (is_message && p->i < p->n && p->s[p->i] == '"') {
			/* Decode the message itself where it is kept. */
			if (!j_string(p, p->msg, &p->msglen))
				return false;
			type = T_STRING;
		} else if (!j_value(p, &type))
			return false;
		if (is_message) {
			p->messages++;
			p->message_is_string = type == T_STRING;
		}
		j_ws(p);
		if (p->i == p->n)
			return false;
		if (p->s[p->i] == close) {
			p->i++;
			p->depth--;
			return true;
		}
		if (p->s[p->i] != ',')
			return false;
		p->i++;
		j_ws(p);
	}
}

static bool
j_value(struct jparse *p, int *type)
{
	size_t	len;

	*type = T_OTHER;
	if (p->i == p->n)
		return false;
	switch (p->s[p->i]) {
	case '{':
		*type = T_OBJECT;
		return j_container(p, true);
	case '[':
		return j_container(p, false);
	case '"':
		*type = T_STRING;
		return j_string(p, p->tmp, &len);
	case 't':
		return j_literal(p, "true");
	case 'f':
		return j_literal(p, "false");
	case 'n':
		return j_literal(p, "null");
	default:
		if (p->s[p->i] == '-' ||
		    (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
			return j_number(p);
		return false;
	}
}

/* RFC 8259 §2: JSON-text = ws value ws; §8.1 UTF-8 and no BOM (ours). */
static enum jresult
oracle(struct jparse *p, const uint8_t *s, size_t n)
{
	int	type;
	bool	ok;

	memset(p, 0, sizeof *p);
	p->s = s;
	p->n = n;
	if ((p->msg = malloc(n + 1)) == NULL ||
	    (p->tmp = malloc(n + 1)) == NULL)
		abort();
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return J_INVALID;
	if (!utf8_ok(s, n))
		return J_INVALID;
	j_ws(p);
	ok = j_value(p, &type);
	if (p->limit)
		return J_LIMIT;
	j_ws(p);
	if (!ok || p->i != p->n)
		return J_INVALID;
	p->top_object = type == T_OBJECT;
	return J_VALID;
}

static void
oracle_free(struct jparse *p)
{
	free(p->msg);
	free(p->tmp);
}

/* ---- responses ---- */

/* cJSON, strictly: a NUL-terminated copy, parsed up to its NUL exactly. */
static cJSON *
cjson_strict(const char *body, size_t len)
{
	char	*c = malloc(len + 1);
	cJSON	*root;

	if (c == NULL)
		abort();
	memcpy(c, body, len);
	c[len] = '\0';
	root = cJSON_ParseWithLengthOpts(c, len + 1, NULL, 1);
	free(c);
	return root;
}

/*
 * A1: a JSON object body that cJSON and the oracle both take, with a
 * string member `key`; its cJSON value is returned (or NULL when the
 * decoded value holds a NUL, which cJSON cannot represent).
 */
static char *
json_member(const struct http_answer *r, const char *key)
{
	struct jparse	 p;
	cJSON		*root, *item;
	char		*val = NULL;

	CHECK(r->body != NULL && r->content_type != NULL &&
	    strcmp(r->content_type, "application/json") == 0);
	CHECK(oracle(&p, (const uint8_t *)r->body, r->body_len) == J_VALID &&
	    p.top_object);
	oracle_free(&p);
	CHECK((root = cjson_strict(r->body, r->body_len)) != NULL);
	CHECK(cJSON_IsObject(root));
	item = cJSON_GetObjectItemCaseSensitive(root, key);
	CHECK(cJSON_IsString(item) && item->valuestring != NULL);
	if ((val = strdup(item->valuestring)) == NULL)
		abort();
	cJSON_Delete(root);
	return val;
}

static void
handle(const struct http_request *req, const char *body, size_t len,
    struct http_answer *r)
{
	api_handle(&ctx, req, body, len, r);
	if (r->status >= 500) {
		fprintf(stderr, "fuzz-api: %d from the API: %s\n", r->status,
		    ctx.detail);
		abort();
	}
}

static void
request(struct http_request *req, const char *head)
{
	struct http_error	err;
	ssize_t			rv;

	rv = http_parse_request(head, strlen(head), NULL, req, &err);
	CHECK(rv == (ssize_t)strlen(head));
}

/* A5, A6. */
static void
check_get(const char *hex, const uint8_t *want, size_t wantlen)
{
	static char		 heads[2][256];
	struct http_request	 req;
	struct http_answer	 r;
	struct jparse		 p;
	unsigned char		 d[DIGEST_LEN];
	char			 dhex[DIGEST_HEX_LEN + 1], *val;
	struct mh_err		 err;

	/* The heads live on: the request's slices point into them. */
	snprintf(heads[0], sizeof heads[0], "GET /messages/%s HTTP/1.1\r\n"
	    "Host: fuzz\r\nAccept: application/octet-stream\r\n\r\n", hex);
	request(&req, heads[0]);
	handle(&req, NULL, 0, &r);
	CHECK(r.status == 200);
	CHECK(r.content_type != NULL &&
	    strcmp(r.content_type, "application/octet-stream") == 0);
	CHECK(r.body_len == wantlen);
	CHECK(wantlen == 0 || memcmp(r.body, want, wantlen) == 0);
	CHECK(digest_sha256(r.body, r.body_len, d, &err) == MH_OK);
	digest_to_hex(d, dhex);
	CHECK(strcmp(dhex, hex) == 0);
	http_answer_free(&r);

	snprintf(heads[1], sizeof heads[1], "GET /messages/%s HTTP/1.1\r\n"
	    "Host: fuzz\r\n\r\n", hex);
	request(&req, heads[1]);
	handle(&req, NULL, 0, &r);
	CHECK(r.status == 200);
	val = json_member(&r, "message");
	if (memchr(want, '\0', wantlen) == NULL)
		CHECK(strlen(val) == wantlen && memcmp(val, want, wantlen) == 0);
	free(val);
	/* The oracle decodes \u0000 too: the bytes must be exactly these. */
	CHECK(oracle(&p, (const uint8_t *)r.body, r.body_len) == J_VALID);
	CHECK(p.top_object && p.messages == 1 && p.message_is_string);
	CHECK(p.msglen == wantlen &&
	    (wantlen == 0 || memcmp(p.msg, want, wantlen) == 0));
	oracle_free(&p);
	http_answer_free(&r);
}

/* ---- setup and teardown ---- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	fprintf(stderr, "fuzz-api: POST answers: %lu x 200, %lu x 201, "
	    "%lu x 400, %lu x 413\n", answers[0], answers[1], answers[2],
	    answers[3]);
	api_close(&ctx);
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char	 health[] =
	    "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n";
	static const char	 post[] = "POST /messages HTTP/1.1\r\n"
	    "Host: fuzz\r\nContent-Type: application/json\r\n\r\n";
	struct http_request	 req;
	struct http_answer	 r;
	const char		*t = getenv("TMPDIR");
	sigset_t		 set;

	(void)argc;
	(void)argv;
	snprintf(tmpdir, sizeof tmpdir, "%s/msghash-fuzz-api.XXXXXX",
	    t != NULL && t[0] != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz-api: mkdtemp");
		exit(1);
	}
	snprintf(storedir, sizeof storedir, "%s/store", tmpdir);
	atexit(cleanup);
	ctx.db_dir = storedir;
	ctx.max_message = MAX_MESSAGE;

	/* Opens (creates) the store now, before libFuzzer sets its timer. */
	request(&req, health);
	handle(&req, NULL, 0, &r);
	CHECK(r.status == 200 && ctx.store != NULL);
	http_answer_free(&r);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	request(&post_req, post);
	return 0;
}

/* ---- one input ---- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jparse		 p;
	struct http_answer	 r;
	enum jresult		 want;
	unsigned char		 d[DIGEST_LEN];
	char			 hex[DIGEST_HEX_LEN + 1], loc[128], *digest;
	struct mh_err		 err;
	bool			 ok;

	want = oracle(&p, data, size);
	ok = want == J_VALID && p.top_object && p.messages == 1 &&
	    p.message_is_string;

	handle(&post_req, (const char *)data, size, &r);
	CHECK(r.status == 200 || r.status == 201 || r.status == 400 ||
	    r.status == 413);
	CHECK(r.allow == NULL && r.retry_after == 0);
	answers[r.status == 200 ? 0 : r.status == 201 ? 1 :
	    r.status == 400 ? 2 : 3]++;
	if (r.status == 400 || r.status == 413) {
		free(json_member(&r, "err_msg"));
		CHECK(r.location[0] == '\0');
		if (r.status == 413)
			CHECK(ok && p.msglen > MAX_MESSAGE);
		else if (ok && p.msglen <= MAX_MESSAGE) {
			fprintf(stderr, "fuzz-api: 400 (%.*s) for a valid "
			    "body with a %zu-byte message\n", (int)r.body_len,
			    r.body, p.msglen);
			abort();
		}
		http_answer_free(&r);
		oracle_free(&p);
		return 0;
	}

	/* A2, A3: 200 or 201. */
	if (!ok || p.msglen > MAX_MESSAGE) {
		fprintf(stderr, "fuzz-api: %d for a body the oracle %s\n",
		    r.status, want == J_INVALID ? "finds invalid" :
		    want == J_LIMIT ? "finds nested too deep" :
		    !ok ? "finds without one \"message\" string" :
		    "finds over the limit");
		abort();
	}
	digest = json_member(&r, "digest");
	CHECK(digest_sha256(p.msg, p.msglen, d, &err) == MH_OK);
	digest_to_hex(d, hex);
	CHECK(strcmp(digest, hex) == 0);
	snprintf(loc, sizeof loc, "/messages/%s", hex);
	if (r.status == 201) {
		CHECK(strcmp(r.location, loc) == 0);
		created_since_checkpoint++;
	} else
		CHECK(r.location[0] == '\0');
	http_answer_free(&r);
	free(digest);

	/* A4. */
	handle(&post_req, (const char *)data, size, &r);
	CHECK(r.status == 200 && r.location[0] == '\0');
	digest = json_member(&r, "digest");
	CHECK(strcmp(digest, hex) == 0);
	free(digest);
	http_answer_free(&r);

	check_get(hex, p.msg, p.msglen);
	oracle_free(&p);

	/* Log files go only at a checkpoint (DB_LOG_AUTO_REMOVE). */
	if (created_since_checkpoint >= CHECKPOINT_EVERY) {
		CHECK(store_checkpoint(ctx.store, &err) == MH_OK);
		created_since_checkpoint = 0;
	}
	return 0;
}
