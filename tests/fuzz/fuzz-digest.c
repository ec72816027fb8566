/*
 * fuzz-digest.c — libFuzzer target for lib/digest.c: the hex codec and
 * SHA-256 in one call against SHA-256 streamed in pieces.
 *
 * Input.  If the first byte is < 0x80 the whole input is the payload and
 * the update sizes come from a PRNG seeded with a hash of the input.  If it
 * is >= 0x80, its low four bits say how many update-size bytes follow (a
 * size byte is the update's length, 0 included; the list is cycled) and
 * the payload is the rest.
 *
 * Invariants (abort() on violation); the code under test only ever sees
 * copies of exactly the length it is told, so a read past the end is an
 * ASan error:
 *  D1 digest_sha256 == digest_stream_* over the same bytes in any pieces
 *     (empty updates included) == one update of everything;
 *  D2 digest_to_hex gives 64 lowercase hex digits and a NUL, the same as
 *     "%02x" per byte; digest_from_hex takes them back, in any case mix;
 *  D3 digest_from_hex(s, len) is true exactly when len == 64 and every
 *     byte is an ASCII hex digit, and then decodes what strtoul decodes;
 *     digest_to_hex of the result is s in lower case.
 */
#include <config.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static bool
is_xdigit_ascii(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static uint8_t
ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

static uint8_t
ascii_upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

/* D1: the payload streamed in pieces of the sizes given or drawn. */
static void
stream(const uint8_t *p, size_t n, const uint8_t *sizes, size_t nsizes,
    uint64_t rng, unsigned char out[DIGEST_LEN])
{
	struct digest_stream	*ds;
	struct mh_err		 err;
	size_t			 pos = 0, take, calls = 0;
	char			*piece;

	CHECK(digest_stream_new(&ds, &err) == MH_OK && ds != NULL);
	while (pos < n) {
		if (nsizes > 0)
			take = sizes[calls % nsizes];
		else if (rng == 0)
			take = n - pos;		/* one update of everything */
		else {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			take = (rng & 3) == 0 ? 0 : (rng >> 8) %
			    ((rng & 4) != 0 ? 8 : 300);
		}
		/* Only empty updates for long: finish in one. */
		if (++calls > n + 64)
			take = n - pos;
		if (take > n - pos)
			take = n - pos;
		piece = copy_of(p + pos, take);
		CHECK(digest_stream_update(ds, piece, take, &err) == MH_OK);
		free(piece);
		pos += take;
	}
	CHECK(digest_stream_final(ds, out, &err) == MH_OK);
	digest_stream_free(ds);
}

/* D2. */
static void
check_hex(const unsigned char d[DIGEST_LEN], uint64_t mix)
{
	char		 hex[DIGEST_HEX_LEN + 1], ref[DIGEST_HEX_LEN + 1];
	char		*c;
	unsigned char	 back[DIGEST_LEN];
	size_t		 i;

	memset(hex, 'x', sizeof hex);
	digest_to_hex(d, hex);
	CHECK(hex[DIGEST_HEX_LEN] == '\0');
	for (i = 0; i < DIGEST_LEN; i++)
		snprintf(ref + 2 * i, 3, "%02x", d[i]);
	CHECK(memcmp(hex, ref, DIGEST_HEX_LEN + 1) == 0);

	c = copy_of(hex, DIGEST_HEX_LEN);
	CHECK(digest_from_hex(c, DIGEST_HEX_LEN, back));
	CHECK(memcmp(back, d, DIGEST_LEN) == 0);
	/* Upper case, then a case mix chosen by the input. */
	for (i = 0; i < DIGEST_HEX_LEN; i++)
		c[i] = (char)ascii_upper((uint8_t)c[i]);
	memset(back, 0, sizeof back);
	CHECK(digest_from_hex(c, DIGEST_HEX_LEN, back));
	CHECK(memcmp(back, d, DIGEST_LEN) == 0);
	for (i = 0; i < DIGEST_HEX_LEN; i++)
		c[i] = (char)((mix >> i) & 1 ? ascii_upper((uint8_t)hex[i]) :
		    hex[i]);
	memset(back, 0, sizeof back);
	CHECK(digest_from_hex(c, DIGEST_HEX_LEN, back));
	CHECK(memcmp(back, d, DIGEST_LEN) == 0);
	/* One digit short or one too many: false. */
	CHECK(!digest_from_hex(c, DIGEST_HEX_LEN - 1, back));
	free(c);
	c = copy_of(ref, DIGEST_HEX_LEN + 1);
	c[DIGEST_HEX_LEN] = '0';
	CHECK(!digest_from_hex(c, DIGEST_HEX_LEN + 1, back));
	free(c);
}

/* D3 on s[0..n). */
static void
check_from_hex(const uint8_t *s, size_t n)
{
	unsigned char	 out[DIGEST_LEN], ref[DIGEST_LEN];
	char		 hex[DIGEST_HEX_LEN + 1], two[3] = { 0, 0, 0 };
	char		*c = copy_of(s, n);
	bool		 want = n == DIGEST_HEX_LEN, got;
	size_t		 i;

	for (i = 0; want && i < n; i++)
		want = is_xdigit_ascii(s[i]);
	got = digest_from_hex(c, n, out);
	free(c);
	if (got != want) {
		fprintf(stderr, "fuzz-digest: digest_from_hex(%zu bytes) "
		    "said %d\n", n, got);
		abort();
	}
	if (!got)
		return;
	for (i = 0; i < DIGEST_LEN; i++) {
		two[0] = (char)s[2 * i];
		two[1] = (char)s[2 * i + 1];
		ref[i] = (unsigned char)strtoul(two, NULL, 16);
	}
	CHECK(memcmp(out, ref, DIGEST_LEN) == 0);
	digest_to_hex(out, hex);
	for (i = 0; i < DIGEST_HEX_LEN; i++)
		CHECK((uint8_t)hex[i] == ascii_lower(s[i]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	 one[DIGEST_LEN], whole[DIGEST_LEN], split[DIGEST_LEN];
	const uint8_t	*sizes = NULL;
	size_t		 nsizes = 0;
	uint64_t	 seed = fnv1a(data, size) | 1;
	struct mh_err	 err;
	char		*c;

	if (size > 0 && data[0] >= 0x80) {
		nsizes = data[0] & 0x0f;
		if (size - 1 < nsizes)
			return 0;
		sizes = data + 1;
		data += 1 + nsizes;
		size -= 1 + nsizes;
	}

	/* D1. */
	c = copy_of(data, size);
	CHECK(digest_sha256(c, size, one, &err) == MH_OK);
	free(c);
	stream(data, size, NULL, 0, 0, whole);
	stream(data, size, sizes, nsizes, seed, split);
	CHECK(memcmp(one, whole, DIGEST_LEN) == 0);
	CHECK(memcmp(one, split, DIGEST_LEN) == 0);

	/* D2 on the digest, D3 on the payload and on its first 64 bytes. */
	check_hex(one, seed);
	check_from_hex(data, size);
	if (size > DIGEST_HEX_LEN)
		check_from_hex(data, DIGEST_HEX_LEN);
	return 0;
}
