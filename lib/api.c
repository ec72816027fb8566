/*
 * api.c — routes: a parsed request in, a response out; JSON in and out.
 *
 * Request bodies are checked before cJSON sees them (DESIGN.md §5):
 * cJSON accepts raw control characters, trailing bytes after a NUL and
 * invalid UTF-8, and truncates strings at an escaped \u0000.  So we
 *  1. pre-scan the raw body: strict UTF-8, no byte-order mark, no control
 *     bytes outside JSON's whitespace, none unescaped inside strings, valid
 *     escapes and numbers (cJSON is lenient about both);
 *  2. replace every \u0000 escape by the byte 0xFF — a byte that valid UTF-8
 *     never contains, so it cannot collide — and let cJSON parse the rest,
 *     requiring the document to end exactly at the body's end;
 *  3. map 0xFF back to NUL in the decoded message.
 * Messages with NUL bytes thereby round-trip exactly, as in the peer
 * implementations.  Responses that carry a message use our own escaper,
 * since cJSON's printer stops at a NUL byte.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "ascii.h"
#include "digest.h"
#include "limits.h"
#include "store.h"
#include "utf8.h"
#include "banned.h"

/* Every err_msg the API sends, in one place. */
#define E_NOT_FOUND	"Message not found"
#define E_BAD_DIGEST	"not a digest: a digest is 64 hexadecimal characters " \
			"(SHA-256), e.g. /messages/2c26b46b68ffc68ff99b453c1d" \
			"30413413422d706483bfa0f98a5e886266e7ae"
#define E_NO_ROUTE	"no such resource; the API is POST /messages and " \
			"GET /messages/<digest>"
#define E_METHOD	"method not allowed on this resource; see the Allow header"
#define E_NOT_JSON	"the body is not valid JSON"
#define E_BOM		"the body starts with a byte order mark (RFC 8259 §8.1)"
#define E_UTF8		"the body is not valid UTF-8"
#define E_CONTROL	"the body contains a control character that must be " \
			"escaped (RFC 8259 §7)"
#define E_NOT_OBJECT	"the body must be a JSON object"
#define E_NO_MESSAGE	"the JSON object has no \"message\" member"
#define E_DUP_MESSAGE	"the JSON object has more than one \"message\" member"
#define E_NOT_STRING	"\"message\" must be a JSON string"
#define E_TOO_LARGE	"the message is over the limit of %zu bytes"
#define E_NOT_UTF8_MSG	"the message is not valid UTF-8, so JSON cannot carry " \
			"it; ask for it with 'Accept: application/octet-stream'"
#define E_STORE		"the store is unavailable; try again later"
#define E_NOSPACE	"the store is out of space"
#define E_INTERNAL	"internal error"
#define E_REPLICA	"this node is a replica: the group's master at the " \
			"Location answers this"
#define E_NO_MASTER	"the group has no master now (an election, or too " \
			"few nodes reachable); try again"
#define E_NO_QUORUM	"the message is not yet replicated to a quorum of " \
			"the group; try again (storing it twice is safe)"

#define ALLOW_MESSAGES	"POST, OPTIONS"
#define ALLOW_MESSAGE	"GET, HEAD, OPTIONS"
#define ALLOW_HEALTH	"GET, HEAD, OPTIONS"
#define ALLOW_ANY	"GET, HEAD, POST, OPTIONS"

#define NUL_MARK	0xFF	/* stands for \u0000 while cJSON parses */

/* ---- request body: pre-scan, \u0000 substitution, cJSON ---- */

/*
 * A JSON escape at s[0] == '\\' (RFC 8259 §7); returns its length or 0.
 * cJSON turns a bad \u escape such as \u00g1 into an empty string instead
 * of failing, so escapes are checked here.
 */
static size_t
escape_len(const unsigned char *s, size_t n)
{
	size_t i;

	if (n < 2)
		return 0;
	if (strchr("\"\\/bfnrt", s[1]) != NULL && s[1] != '\0')
		return 2;
	if (s[1] != 'u' || n < 6)
		return 0;
	for (i = 2; i < 6; i++)
		if (!ascii_is_hex(s[i]))
			return 0;
	return 6;
}

/*
 * A JSON number at s (RFC 8259 §6); returns its length or 0.  cJSON reads
 * numbers with strtod and so accepts "0012", "1." or "+1".
 */
static size_t
number_len(const unsigned char *s, size_t n)
{
	size_t i = 0, start;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && ascii_is_digit(s[i]))
		while (i < n && ascii_is_digit(s[i]))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		for (start = ++i; i < n && ascii_is_digit(s[i]); i++)
			;
		if (i == start)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (start = i; i < n && ascii_is_digit(s[i]); i++)
			;
		if (i == start)
			return 0;
	}
	return (i < n && ascii_is_digit(s[i])) ? 0 : i;	/* "0012": 0, then 0 */
}

/* Step 1 above; returns NULL if the body is acceptable, else the err_msg. */
static const char *
body_prescan(const unsigned char *s, size_t n)
{
	bool in_string = false;
	size_t i, k;

	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return E_BOM;
	if (!utf8_valid(s, n))
		return E_UTF8;
	for (i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] < 0x20)
				return E_CONTROL;
			if (s[i] == '\\') {
				if ((k = escape_len(s + i, n - i)) == 0)
					return E_NOT_JSON;
				i += k - 1;
			} else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"')
			in_string = true;
		else if (s[i] == '-' || ascii_is_digit(s[i])) {
			if ((k = number_len(s + i, n - i)) == 0)
				return E_NOT_JSON;
			i += k - 1;
		} else if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' &&
		    s[i] != '\r')
			return E_CONTROL;
	}
	return NULL;
}

/*
 * Step 2: a NUL-terminated copy with each \u0000 escape inside a string
 * replaced by NUL_MARK.  Escaped backslashes are skipped as pairs, so
 * "\\u0000" (a backslash, then "u0000") is left alone.
 */
static char *
body_substitute_nul(const char *s, size_t n, size_t *out_len)
{
	char *out = malloc(n + 1);
	bool in_string = false;
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (in_string && s[i] == '\\' && i + 5 < n &&
		    memcmp(s + i + 1, "u0000", 5) == 0) {
			out[o++] = (char)NUL_MARK;
			i += 5;
			continue;
		}
		if (in_string && s[i] == '\\' && i + 1 < n) {
			out[o++] = s[i++];
		} else if (s[i] == '"')
			in_string = !in_string;
		out[o++] = s[i];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* The one "message" member of a top-level object, or an err_msg. */
static const char *
find_message(const cJSON *root, const cJSON **message)
{
	const cJSON *item;
	int count = 0;

	if (!cJSON_IsObject(root))
		return E_NOT_OBJECT;
	/* cJSON keeps duplicate keys; its lookup returns only the first. */
	for (item = root->child; item != NULL; item = item->next)
		if (item->string != NULL && strcmp(item->string, "message") == 0) {
			*message = item;
			count++;
		}
	if (count == 0)
		return E_NO_MESSAGE;
	if (count > 1)
		return E_DUP_MESSAGE;
	if (!cJSON_IsString(*message) || (*message)->valuestring == NULL)
		return E_NOT_STRING;
	return NULL;
}

/*
 * Decodes the body into the message bytes (malloc'd, *len).  Returns NULL
 * with *why set (and *status 400 or 413) when the body is not acceptable.
 */
static char *
decode_message(const char *body, size_t body_len, size_t max_message,
    size_t *len, int *status, const char **why)
{
	const cJSON *message = NULL;
	const char *end = NULL;
	cJSON *root;
	char *copy, *msg = NULL;
	size_t copy_len, i;

	*status = 400;
	if ((*why = body_prescan((const unsigned char *)body, body_len)) != NULL)
		return NULL;
	if ((copy = body_substitute_nul(body, body_len, &copy_len)) == NULL) {
		*status = 500;
		*why = E_INTERNAL;
		return NULL;
	}
	/* len + 1 with the NUL inside: the document must end at the body's end. */
	root = cJSON_ParseWithLengthOpts(copy, copy_len + 1, &end, 1);
	if (root == NULL)
		*why = E_NOT_JSON;
	else if ((*why = find_message(root, &message)) == NULL) {
		*len = strlen(message->valuestring);
		if (*len > max_message) {
			*status = 413;	/* the caller words it with the limit */
			*why = "";
		} else if ((msg = malloc(*len + 1)) != NULL) {
			memcpy(msg, message->valuestring, *len + 1);
			for (i = 0; i < *len; i++)
				if ((unsigned char)msg[i] == NUL_MARK)
					msg[i] = '\0';	/* step 3 */
		} else {
			*status = 500;
			*why = E_INTERNAL;
		}
	}
	cJSON_Delete(root);
	free(copy);
	return msg;
}

/* ---- responses ---- */

static void
response_init(struct http_answer *resp, int status)
{
	memset(resp, 0, sizeof *resp);
	resp->status = status;
}

/* The answer's JSON body: obj printed (if ok), then freed. */
static bool
json_answer(struct http_answer *resp, cJSON *obj, bool ok)
{
	char *text = ok ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (text == NULL)
		return false;
	resp->content_type = "application/json";
	resp->body = text;
	resp->body_len = strlen(text);
	return true;
}

/* A one-member object {"key": value} through cJSON's printer. */
static bool
json_member(struct http_answer *resp, const char *key, const char *value)
{
	cJSON *obj = cJSON_CreateObject();

	return json_answer(resp, obj, obj != NULL &&
	    cJSON_AddStringToObject(obj, key, value) != NULL);
}

void
api_error(struct http_answer *resp, int status, const char *msg)
{
	static const char fallback[] = "{\"err_msg\":\"internal error\"}";

	response_init(resp, status);
	if (json_member(resp, "err_msg", msg))
		return;
	resp->content_type = "application/json";
	if ((resp->body = malloc(sizeof fallback)) != NULL) {
		memcpy(resp->body, fallback, sizeof fallback);
		resp->body_len = sizeof fallback - 1;
	}
}

static void
method_not_allowed(struct http_answer *resp, const char *allow)
{
	api_error(resp, 405, E_METHOD);
	resp->allow = allow;
}

void
api_unavailable(struct http_answer *resp)
{
	api_error(resp, status_http_code(MH_STORE), E_STORE);
	resp->retry_after = MH_HTTP_RETRY_AFTER_SEC;
}

/* The store failed: 503 + Retry-After, 507 or 500; the detail goes to the log. */
static void
store_failure(struct api_ctx *ctx, struct http_answer *resp,
    enum mh_status status, const struct mh_err *err)
{
	snprintf(ctx->detail, sizeof ctx->detail, "%s", err->msg);
	if (status == MH_STORE)
		api_unavailable(resp);
	else
		api_error(resp, status_http_code(status),
		    status == MH_NOSPACE ? E_NOSPACE : E_INTERNAL);
	resp->detail = ctx->detail;
}

/*
 * A group's replica sends the request to the master (307 keeps the method
 * and the body, RFC 9110 §15.4.8); with no master known, 503.
 */
static void
to_master(struct api_ctx *ctx, struct http_answer *resp, const char *path,
    const char *hex)
{
	struct store_group_state gs;
	struct mh_err err = { MH_OK, "" };

	if (store_group_state(ctx->store, &gs, &err) != MH_OK ||
	    gs.role == STORE_MASTER || gs.master_url[0] == '\0') {
		api_error(resp, 503, E_NO_MASTER);
		resp->retry_after = MH_HTTP_RETRY_AFTER_SEC;
		return;
	}
	api_error(resp, 307, E_REPLICA);
	snprintf(resp->location, sizeof resp->location, "%s%s%s",
	    gs.master_url, path, hex);
}

/* Bytes that JSON's string grammar requires escaped (RFC 8259 §7). */
static size_t
json_escape(const unsigned char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 0xF];
			o += 6;
		} else
			out[o++] = (char)c;
	}
	return o;
}

/* {"message":"..."}: valid JSON for any valid UTF-8, NUL bytes included. */
static bool
json_message(struct http_answer *resp, const char *msg, size_t len)
{
	static const char head[] = "{\"message\":\"", tail[] = "\"}";
	char *out;
	size_t o;

	if (len > (SIZE_MAX - sizeof head - sizeof tail) / 6 ||
	    (out = malloc(sizeof head + 6 * len + sizeof tail)) == NULL)
		return false;
	memcpy(out, head, sizeof head - 1);
	o = sizeof head - 1;
	o += json_escape((const unsigned char *)msg, len, out + o);
	memcpy(out + o, tail, sizeof tail);
	resp->content_type = "application/json";
	resp->body = out;
	resp->body_len = o + sizeof tail - 1;
	return true;
}

/* ---- the store, opened on first need ---- */

static enum mh_status
ctx_store(struct api_ctx *ctx, struct mh_err *err)
{
	if (ctx->store != NULL)
		return MH_OK;
	return store_open(&ctx->store, ctx->db_dir, STORE_CREATE, err);
}

/* ---- routes ---- */

/* A POST waiting for api_commit (ctx->batch). */
struct api_post {
	struct store_item	 item;
	char			*msg;	/* item.msg: the decoded message */
};

/* The answer to a POST once its put is done: status and err say how. */
static void
post_answer(struct api_ctx *ctx, const unsigned char digest[DIGEST_LEN],
    bool created, enum mh_status status, const struct mh_err *err,
    struct http_answer *resp)
{
	char hex[DIGEST_HEX_LEN + 1];

	if (status == MH_NOTMASTER) {
		to_master(ctx, resp, "/messages", "");
		return;
	}
	if (status == MH_NOQUORUM) {
		snprintf(ctx->detail, sizeof ctx->detail, "%s", err->msg);
		api_error(resp, 503, E_NO_QUORUM);
		resp->retry_after = MH_HTTP_RETRY_AFTER_SEC;
		resp->detail = ctx->detail;
		return;
	}
	if (status != MH_OK) {
		store_failure(ctx, resp, status, err);
		return;
	}
	digest_to_hex(digest, hex);
	response_init(resp, created ? 201 : 200);
	if (created)
		snprintf(resp->location, sizeof resp->location, "/messages/%s",
		    hex);
	if (!json_member(resp, "digest", hex))
		api_error(resp, 500, E_INTERNAL);
}

/* Defers the put to api_commit: the answer is pending. */
static void
post_defer(const unsigned char digest[DIGEST_LEN], char *msg, size_t len,
    struct http_answer *resp)
{
	struct api_post *post;

	if ((post = malloc(sizeof *post)) == NULL) {
		free(msg);
		api_error(resp, 500, E_INTERNAL);
		return;
	}
	memcpy(post->item.key, digest, DIGEST_LEN);
	post->item.msg = post->msg = msg;
	post->item.len = len;
	post->item.created = false;
	response_init(resp, 0);
	resp->pending = post;
}

static void
post_message(struct api_ctx *ctx, const char *body, size_t body_len,
    struct http_answer *resp)
{
	unsigned char digest[DIGEST_LEN];
	char too_large[128];
	const char *why;
	struct mh_err err = { MH_OK, "" };
	enum mh_status status;
	size_t len;
	char *msg;
	bool created = false;
	int code;

	if ((msg = decode_message(body, body_len, ctx->max_message, &len, &code,
	    &why)) == NULL) {
		snprintf(too_large, sizeof too_large, E_TOO_LARGE,
		    ctx->max_message);
		api_error(resp, code, code == 413 ? too_large : why);
		return;
	}
	status = digest_sha256(msg, len, digest, &err);
	if (status == MH_OK && ctx->batch) {
		post_defer(digest, msg, len, resp);
		return;
	}
	if (status == MH_OK && (status = ctx_store(ctx, &err)) == MH_OK)
		status = store_put(ctx->store, digest, msg, len, &created, &err);
	free(msg);
	post_answer(ctx, digest, created, status, &err, resp);
}

void
api_commit(struct api_ctx *ctx, struct api_post **posts,
    struct http_answer *out, size_t n)
{
	struct store_item items[MH_STORE_BATCH_MAX];
	struct mh_err err = { MH_OK, "" };
	enum mh_status status;
	size_t i;

	ctx->detail[0] = '\0';
	if (n > MH_STORE_BATCH_MAX)
		n = MH_STORE_BATCH_MAX;	/* cannot happen: see api.h */
	for (i = 0; i < n; i++)
		items[i] = posts[i]->item;
	if ((status = ctx_store(ctx, &err)) == MH_OK)
		status = store_put_batch(ctx->store, items, n, &err);
	for (i = 0; i < n; i++) {
		post_answer(ctx, items[i].key, items[i].created, status, &err,
		    &out[i]);
		api_discard(posts[i]);
	}
}

void
api_discard(struct api_post *post)
{
	if (post == NULL)
		return;
	free(post->msg);
	free(post);
}

/* A qvalue of zero ("0", "0.", "0.000"): "not acceptable" (RFC 9110 §12.4.2). */
static bool
qvalue_zero(const char *p, const char *end)
{
	if (p >= end || *p++ != '0')
		return false;
	if (p < end && *p == '.')
		for (p++; p < end && *p == '0'; p++)
			;
	return p == end || *p == ' ' || *p == '\t' || *p == ';';
}

/* One element of an Accept list, "type/subtype; q=0.5", against a type. */
static bool
accept_element_matches(const char *p, const char *end, const char *type)
{
	const char *semi = memchr(p, ';', (size_t)(end - p));
	const char *range_end = semi != NULL ? semi : end, *q;

	while (p < range_end && (*p == ' ' || *p == '\t'))
		p++;
	while (range_end > p && (range_end[-1] == ' ' || range_end[-1] == '\t'))
		range_end--;
	if ((size_t)(range_end - p) != strlen(type) ||
	    strncasecmp(p, type, strlen(type)) != 0)
		return false;
	for (q = semi; q != NULL && q + 1 < end; q++)
		if ((q[1] == 'q' || q[1] == 'Q') && q + 2 < end && q[2] == '=' &&
		    (q[0] == ';' || q[0] == ' ' || q[0] == '\t'))
			return !qvalue_zero(q + 3, end);
	return true;
}

/* Whether any Accept field lists application/octet-stream with q > 0. */
static bool
accepts_octet_stream(const struct http_request *req)
{
	const char *p, *end, *comma;
	size_t i;

	for (i = 0; i < req->header_count; i++) {
		const struct http_header *h = &req->headers[i];

		if (h->name.len != 6 || strncasecmp(h->name.p, "Accept", 6) != 0)
			continue;
		for (p = h->value.p, end = p + h->value.len; p < end; p = comma + 1) {
			if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
				comma = end;
			if (accept_element_matches(p, comma,
			    "application/octet-stream"))
				return true;
		}
	}
	return false;
}

static void
get_message(struct api_ctx *ctx, const struct http_request *req,
    struct http_slice hex, struct http_answer *resp)
{
	unsigned char digest[DIGEST_LEN];
	char hexbuf[DIGEST_HEX_LEN + 1];
	struct mh_err err = { MH_OK, "" };
	enum mh_status status;
	void *msg;
	size_t len;

	if (!digest_from_hex(hex.p, hex.len, digest)) {
		api_error(resp, 404, E_BAD_DIGEST);
		return;
	}
	if ((status = ctx_store(ctx, &err)) == MH_OK)
		status = store_get(ctx->store, digest, &msg, &len, &err);
	if (status == MH_NOTFOUND && store_is_replica(ctx->store)) {
		/* It may be acknowledged and not here yet: ask the master. */
		digest_to_hex(digest, hexbuf);
		to_master(ctx, resp, "/messages/", hexbuf);
		return;
	}
	if (status == MH_NOTFOUND) {
		api_error(resp, 404, E_NOT_FOUND);
		return;
	}
	if (status != MH_OK) {
		store_failure(ctx, resp, status, &err);
		return;
	}
	response_init(resp, 200);
	if (accepts_octet_stream(req)) {
		resp->content_type = "application/octet-stream";
		resp->body = msg;
		resp->body_len = len;
		return;
	}
	if (!utf8_valid(msg, len))
		api_error(resp, 406, E_NOT_UTF8_MSG);
	else if (!json_message(resp, msg, len))
		api_error(resp, 500, E_INTERNAL);
	free(msg);
}

/* {"status":"ok"}, and on a group node its place in the group. */
static bool
health_json(const struct store_group_state *gs, struct http_answer *resp)
{
	char lsn[48];
	cJSON *obj;

	if (gs->role == STORE_SINGLE)
		return json_member(resp, "status", "ok");
	snprintf(lsn, sizeof lsn, "%lu/%lu", gs->lsn_file, gs->lsn_offset);
	obj = cJSON_CreateObject();
	return json_answer(resp, obj, obj != NULL &&
	    cJSON_AddStringToObject(obj, "status", "ok") != NULL &&
	    cJSON_AddStringToObject(obj, "role",
	    store_role_name(gs->role)) != NULL &&
	    cJSON_AddStringToObject(obj, "site", gs->site) != NULL &&
	    cJSON_AddStringToObject(obj, "master", gs->master_url[0] != '\0' ?
	    gs->master_url : gs->master) != NULL &&
	    cJSON_AddStringToObject(obj, "lsn", lsn) != NULL);
}

static void
get_health(struct api_ctx *ctx, struct http_answer *resp)
{
	struct store_group_state gs;
	struct mh_err err = { MH_OK, "" };
	enum mh_status status;

	if ((status = ctx_store(ctx, &err)) != MH_OK ||
	    (status = store_group_state(ctx->store, &gs, &err)) != MH_OK) {
		store_failure(ctx, resp, status, &err);
		return;
	}
	response_init(resp, 200);
	if (!health_json(&gs, resp))
		api_error(resp, 500, E_INTERNAL);
}

static bool
path_is(struct http_slice path, const char *s)
{
	return path.len == strlen(s) && memcmp(path.p, s, path.len) == 0;
}

/* "/messages/<segment>": the segment, if the path has that shape. */
static bool
message_path(struct http_slice path, struct http_slice *segment)
{
	static const char prefix[] = "/messages/";
	const size_t plen = sizeof prefix - 1;

	if (path.len <= plen || memcmp(path.p, prefix, plen) != 0 ||
	    memchr(path.p + plen, '/', path.len - plen) != NULL)
		return false;
	segment->p = path.p + plen;
	segment->len = path.len - plen;
	return true;
}

/* OPTIONS -> 204 + Allow (RFC 9110 §9.3.7); other methods -> 405. */
static bool
options_or_405(const struct http_request *req, const char *allow,
    struct http_answer *resp)
{
	if (req->method == HTTP_OPTIONS) {
		response_init(resp, 204);
		resp->allow = allow;
	} else
		method_not_allowed(resp, allow);
	return true;
}

void
api_handle(struct api_ctx *ctx, const struct http_request *req,
    const char *body, size_t body_len, struct http_answer *resp)
{
	struct http_slice segment;
	bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;

	ctx->detail[0] = '\0';
	if (path_is(req->path, "*")) {
		response_init(resp, 204);	/* the parser allows * for OPTIONS only */
		resp->allow = ALLOW_ANY;
	} else if (path_is(req->path, "/messages")) {
		if (req->method == HTTP_POST)
			post_message(ctx, body, body_len, resp);
		else
			options_or_405(req, ALLOW_MESSAGES, resp);
	} else if (message_path(req->path, &segment)) {
		if (get)
			get_message(ctx, req, segment, resp);
		else
			options_or_405(req, ALLOW_MESSAGE, resp);
	} else if (path_is(req->path, "/healthz")) {
		if (get)
			get_health(ctx, resp);
		else
			options_or_405(req, ALLOW_HEALTH, resp);
	} else
		api_error(resp, 404, E_NO_ROUTE);
}

bool
api_wants_body(const struct http_request *req)
{
	return req->method == HTTP_POST && path_is(req->path, "/messages");
}

size_t
api_body_limit(size_t max_message)
{
	return MH_HTTP_BODY_MAX(max_message);
}

void
api_close(struct api_ctx *ctx)
{
	store_close(ctx->store);
	ctx->store = NULL;
}
