/*
 * fuzz-http.c — libFuzzer target for lib/http.c: http_parse_request() and
 * http_chunked_decode() on arbitrary bytes, whole and split into reads.
 *
 * Input.  If the first byte is < 0x80 (every request and every chunked
 * body starts so, and the seed corpus is the raw fixtures), the whole input
 * is the payload, the limits are the defaults (lim == NULL) and the read
 * sizes come from a PRNG seeded with a hash of the input.  If it is >= 0x80
 * it is a control byte and the payload is what follows the control bytes:
 *   0x40  five limit bytes follow: small limits reach 414/431/400 cheaply;
 *   0x0f  that many read-size bytes follow (a read is byte + 1 bytes; the
 *         list is cycled; none: one read of everything).
 *
 * Invariants, each an abort() (not only "no crash"); every buffer handed to
 * the code under test is a copy of exactly its length, so that a read past
 * the end is an ASan error:
 *  H1 http_parse_request returns PARTIAL, ERROR (a documented status and a
 *     message) or 0 < consumed <= len;
 *  H2 on success every slice lies inside the consumed head, path and query
 *     inside the target, counts within the limits, flags consistent, and
 *     http_find_header finds every header's name at or before it;
 *  H3 a prefix (at every read boundary, and every prefix of a short input)
 *     yields PARTIAL or exactly the whole input's outcome: the same error,
 *     or the same consumed count and the same request (as offsets);
 *  C1 http_chunked_decode never reports more decoded or undecoded bytes
 *     than it was given, and the undecoded bytes are the input's last ones;
 *  C2 decoding in one call and in reads (with an empty call after each
 *     PARTIAL one) yields the same bytes and the same end: PARTIAL, the
 *     same error, or "done" with the same number of bytes left over.
 * The payload is decoded as a chunked body as is, and requests are parsed
 * one after another (pipelining), each chunked body decoded the same way.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "limits.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PIPELINED	16	/* requests parsed per input */
#define MAX_PREFIXES	128	/* prefix parses per request head */
#define ALL_PREFIXES	96	/* heads up to this long: every prefix */
#define GOLDEN		0x9e3779b97f4a7c15ULL	/* seeds apart per request */


/* ---- read sizes ---- */

struct reads {
	const uint8_t	*sizes;		/* explicit sizes, or NULL */
	size_t		 nsizes;
	size_t		 next;
	uint64_t	 rng;		/* PRNG state when sizes == NULL */
};

static void
reads_init(struct reads *rd, const uint8_t *sizes, size_t nsizes,
    uint64_t seed)
{
	rd->sizes = nsizes > 0 ? sizes : NULL;
	rd->nsizes = nsizes;
	rd->next = 0;
	rd->rng = seed | 1;
}

/* The size of the next read (>= 1). */
static size_t
reads_next(struct reads *rd)
{
	uint64_t	r;

	if (rd->sizes != NULL)
		return (size_t)rd->sizes[rd->next++ % rd->nsizes] + 1;
	/* xorshift64; sizes skewed small, as TCP delivers them under load. */
	rd->rng ^= rd->rng << 13;
	rd->rng ^= rd->rng >> 7;
	rd->rng ^= rd->rng << 17;
	r = rd->rng >> 8;
	switch (rd->rng & 7) {
	case 0:
		return 1;
	case 1:
	case 2:
		return 1 + r % 4;
	case 3:
	case 4:
		return 1 + r % 32;
	case 5:
		return 1 + r % 512;
	default:
		return 1 + r % 8192;
	}
}

static bool
documented_status(int status)
{
	/* http.h, struct http_error. */
	return status == 400 || status == 413 || status == 414 ||
	    status == 417 || status == 431 || status == 501 || status == 505;
}

/* ---- the request head ---- */

struct outcome {
	ssize_t			rv;
	struct http_error	err;
	struct http_request	req;	/* valid when rv > 0 */
	const char		*base;	/* the buffer parsed */
};

static bool
slice_in(struct http_slice s, const char *lo, const char *hi)
{
	return s.p != NULL && s.p >= lo && s.p <= hi &&
	    s.len <= (size_t)(hi - s.p);
}

/* H1, H2. */
static void
check_outcome(const struct outcome *o, size_t len,
    const struct http_limits *lim)
{
	const struct http_request	*req = &o->req;
	const char			*end;
	struct http_limits		 def;
	size_t				 i, maxcount;
	char				 *name;

	if (o->rv == HTTP_PARSE_PARTIAL)
		return;
	if (o->rv == HTTP_PARSE_ERROR) {
		CHECK(documented_status(o->err.status));
		CHECK(o->err.msg != NULL && o->err.msg[0] != '\0');
		return;
	}
	CHECK(o->rv > 0 && (size_t)o->rv <= len);
	if (lim == NULL) {
		http_limits_default(&def);
		lim = &def;
	}
	end = o->base + o->rv;
	CHECK((size_t)o->rv <= lim->header_section_max +
	    2 * MH_HTTP_LEADING_CRLF_MAX);
	CHECK((unsigned)req->method < HTTP_METHOD_COUNT);
	CHECK(req->version_minor == 0 || req->version_minor == 1);
	CHECK(slice_in(req->target, o->base, end) && req->target.len > 0);
	CHECK(req->target.len <= lim->request_line_max);
	CHECK(slice_in(req->path, req->target.p,
	    req->target.p + req->target.len) && req->path.len > 0);
	CHECK(slice_in(req->query, req->target.p,
	    req->target.p + req->target.len));
	CHECK(!(req->chunked && req->has_content_length));
	CHECK(!req->expect_continue || req->version_minor == 1);
	CHECK(!req->chunked || req->version_minor == 1);
	CHECK(req->has_content_length || req->content_length == 0);
	maxcount = lim->header_count_max < MH_HTTP_HEADER_COUNT_MAX ?
	    lim->header_count_max : MH_HTTP_HEADER_COUNT_MAX;
	CHECK(req->header_count <= maxcount);
	for (i = 0; i < req->header_count; i++) {
		const struct http_header	*h = &req->headers[i];
		const struct http_header	*f;

		CHECK(slice_in(h->name, o->base, end) && h->name.len > 0);
		CHECK(slice_in(h->value, o->base, end));
		CHECK(h->name.p > req->target.p);
		CHECK(h->value.p >= h->name.p + h->name.len);
		CHECK(h->name.len + 1 + h->value.len <= lim->header_line_max);
		name = copy_of((const uint8_t *)h->name.p, h->name.len + 1);
		name[h->name.len] = '\0';
		CHECK(strlen(name) == h->name.len);
		f = http_find_header(req, name);
		CHECK(f != NULL && f <= h && f->name.len == h->name.len);
		free(name);
	}
}

static void
parse(struct outcome *o, const uint8_t *p, size_t n,
    const struct http_limits *lim)
{
	char	*buf = copy_of(p, n);

	memset(o, 0, sizeof *o);
	o->base = buf;
	o->rv = http_parse_request(buf, n, lim, &o->req, &o->err);
	check_outcome(o, n, lim);
	/* Compared as offsets later: the copy goes, its address is kept. */
	o->req.target.p = (const char *)(o->req.target.p - buf);
	o->req.path.p = (const char *)(o->req.path.p - buf);
	o->req.query.p = (const char *)(o->req.query.p - buf);
	for (size_t i = 0; o->rv > 0 && i < o->req.header_count; i++) {
		o->req.headers[i].name.p =
		    (const char *)(o->req.headers[i].name.p - buf);
		o->req.headers[i].value.p =
		    (const char *)(o->req.headers[i].value.p - buf);
	}
	o->base = NULL;
	free(buf);
}

static bool
same_slice(struct http_slice a, struct http_slice b)
{
	return a.p == b.p && a.len == b.len;
}

static bool
same_request(const struct http_request *a, const struct http_request *b)
{
	size_t	i;

	if (a->method != b->method || !same_slice(a->target, b->target) ||
	    !same_slice(a->path, b->path) || !same_slice(a->query, b->query) ||
	    a->version_minor != b->version_minor ||
	    a->keep_alive != b->keep_alive ||
	    a->expect_continue != b->expect_continue ||
	    a->chunked != b->chunked ||
	    a->has_content_length != b->has_content_length ||
	    a->content_length != b->content_length ||
	    a->header_count != b->header_count)
		return false;
	for (i = 0; i < a->header_count; i++) {
		if (!same_slice(a->headers[i].name, b->headers[i].name) ||
		    !same_slice(a->headers[i].value, b->headers[i].value))
			return false;
	}
	return true;
}

/* H3: the outcome for a prefix is PARTIAL or that of the whole input. */
static void
check_prefix(const struct outcome *whole, const uint8_t *p, size_t k,
    const struct http_limits *lim)
{
	struct outcome	o;

	parse(&o, p, k, lim);
	if (o.rv == HTTP_PARSE_PARTIAL)
		return;
	if (o.rv != whole->rv) {
		fprintf(stderr, "fuzz-http: prefix of %zu bytes: %zd (%d %s), "
		    "whole input: %zd (%d %s)\n", k, o.rv,
		    o.rv == HTTP_PARSE_ERROR ? o.err.status : 0,
		    o.rv == HTTP_PARSE_ERROR ? o.err.msg : "",
		    whole->rv,
		    whole->rv == HTTP_PARSE_ERROR ? whole->err.status : 0,
		    whole->rv == HTTP_PARSE_ERROR ? whole->err.msg : "");
		abort();
	}
	if (o.rv == HTTP_PARSE_ERROR) {
		CHECK(o.err.status == whole->err.status);
		CHECK(strcmp(o.err.msg, whole->err.msg) == 0);
	} else
		CHECK(same_request(&o.req, &whole->req));
}

/*
 * Parses the head at p[0..n) whole, then as a reader would see it: after
 * every read, the bytes so far.  Returns the whole input's outcome.
 */
static void
head(struct outcome *whole, const uint8_t *p, size_t n,
    const struct http_limits *lim, struct reads *rd)
{
	size_t	k, step, checks = 0;

	parse(whole, p, n, lim);
	if (n <= ALL_PREFIXES) {
		for (k = 0; k < n; k++)
			check_prefix(whole, p, k, lim);
		return;
	}
	for (k = 0; checks < MAX_PREFIXES; checks++) {
		step = reads_next(rd);
		if (step >= n - k)
			break;
		k += step;
		check_prefix(whole, p, k, lim);
	}
	/* The last byte decides most outcomes: always look just before it. */
	check_prefix(whole, p, n - 1, lim);
	if (whole->rv > 1)
		check_prefix(whole, p, (size_t)whole->rv - 1, lim);
}

/* ---- the chunked body ---- */

struct decoded {
	ssize_t			 rv;		/* PARTIAL, ERROR, or >= 0: done */
	struct http_error	 err;
	size_t			 left;		/* bytes after the body, if done */
	char			*out;		/* decoded bytes (malloc'd) */
	size_t			 outlen;
};

static void
append(struct decoded *d, const char *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(d->out + d->outlen, p, n);
	d->outlen += n;
}

/*
 * Feeds p[0..n) to a fresh decoder in reads of rd's sizes (rd == NULL: one
 * call with everything).  C1 is checked on every call.
 */
static void
decode(struct decoded *d, const uint8_t *p, size_t n,
    const struct http_limits *lim, struct reads *rd)
{
	struct http_chunked	 dec;
	size_t			 pos = 0, take, len;
	char			*buf, empty[1];
	ssize_t			 rv;

	memset(&dec, 0, sizeof dec);
	memset(d, 0, sizeof *d);
	d->rv = HTTP_PARSE_PARTIAL;
	if ((d->out = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	do {
		take = rd != NULL ? reads_next(rd) : SIZE_MAX;
		if (take > n - pos)
			take = n - pos;
		buf = copy_of(p + pos, take);
		len = take;
		rv = http_chunked_decode(&dec, buf, &len, lim, &d->err);
		CHECK(len <= take);
		append(d, buf, len);
		if (rv >= 0) {
			/* C1: what is left follows the decoded bytes, intact. */
			CHECK((size_t)rv <= take - len);
			CHECK(memcmp(buf + len, p + pos + take - (size_t)rv,
			    (size_t)rv) == 0);
			d->left = (size_t)rv + (n - pos - take);
		} else if (rv == HTTP_PARSE_ERROR) {
			CHECK(documented_status(d->err.status));
			CHECK(d->err.msg != NULL && d->err.msg[0] != '\0');
		} else
			CHECK(rv == HTTP_PARSE_PARTIAL);
		free(buf);
		pos += take;
		d->rv = rv;
		if (rv == HTTP_PARSE_PARTIAL && rd != NULL) {
			/* An empty read changes nothing. */
			len = 0;
			rv = http_chunked_decode(&dec, empty, &len, lim,
			    &d->err);
			CHECK(rv == HTTP_PARSE_PARTIAL && len == 0);
		}
	} while (d->rv == HTTP_PARSE_PARTIAL && pos < n);
	CHECK(d->outlen <= n);
}

/*
 * C2.  Returns the number of bytes the body took (n if it is incomplete
 * or broken).
 */
static size_t
chunked(const uint8_t *p, size_t n, const struct http_limits *lim,
    struct reads *rd)
{
	struct decoded	whole, split;
	size_t		used;

	decode(&whole, p, n, lim, NULL);
	decode(&split, p, n, lim, rd);
	if ((whole.rv >= 0) != (split.rv >= 0) ||
	    (whole.rv < 0 && whole.rv != split.rv)) {
		fprintf(stderr, "fuzz-http: chunked body of %zu bytes: one "
		    "call %zd, in reads %zd\n", n, whole.rv, split.rv);
		abort();
	}
	CHECK(whole.outlen == split.outlen);
	CHECK(whole.outlen == 0 ||
	    memcmp(whole.out, split.out, whole.outlen) == 0);
	if (whole.rv == HTTP_PARSE_ERROR) {
		CHECK(whole.err.status == split.err.status);
		CHECK(strcmp(whole.err.msg, split.err.msg) == 0);
	}
	if (whole.rv >= 0) {
		CHECK(whole.left == split.left);
		/* A body is at least "0\r\n\r\n", plus a byte per data byte. */
		CHECK(n - whole.left >= 5 + whole.outlen);
	}
	used = whole.rv >= 0 ? n - whole.left : n;
	free(whole.out);
	free(split.out);
	return used;
}

/* ---- the input ---- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome	 o;	/* 3 KB: not on the stack */
	struct http_limits	 small, *lim = NULL;
	struct reads		 rd;
	const uint8_t		*sizes = NULL, *p;
	size_t			 nsizes = 0, n, off, used, i;
	uint64_t		 seed = fnv1a(data, size);

	if (size > 0 && data[0] >= 0x80) {
		unsigned	ctl = data[0];

		data++;
		size--;
		if ((ctl & 0x40) != 0) {
			if (size < 5)
				return 0;
			small.request_line_max = (size_t)data[0] + 1;
			small.header_line_max = (size_t)data[1] + 1;
			small.header_section_max = ((size_t)data[2] + 1) * 8;
			small.header_count_max = data[3];
			small.chunk_ext_max = data[4];
			lim = &small;
			data += 5;
			size -= 5;
		}
		nsizes = ctl & 0x0f;
		if (size < nsizes)
			return 0;
		sizes = data;
		data += nsizes;
		size -= nsizes;
	}

	/* The payload as a bare chunked body. */
	reads_init(&rd, sizes, nsizes, seed);
	(void)chunked(data, size, lim, &rd);

	/* The payload as a connection: requests, their bodies, pipelined. */
	for (off = 0, i = 0; off < size && i < MAX_PIPELINED; i++) {
		p = data + off;
		n = size - off;
		reads_init(&rd, sizes, nsizes, seed ^ (i * GOLDEN));
		head(&o, p, n, lim, &rd);
		if (o.rv <= 0)
			break;
		off += (size_t)o.rv;
		if (o.req.chunked) {
			reads_init(&rd, sizes, nsizes, ~seed ^ (i * GOLDEN));
			used = chunked(data + off, size - off, lim, &rd);
			CHECK(used <= size - off);
			off += used;
		} else if (o.req.has_content_length) {
			if (o.req.content_length > size - off)
				break;
			off += (size_t)o.req.content_length;
		}
	}
	return 0;
}
