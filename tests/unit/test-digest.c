/*
 * test-digest.c — known-answer tests for SHA-256 and the hex codec.
 * Vectors: FIPS 180-2 appendix B ("abc", the 448-bit message, a million
 * 'a'), and coreutils sha256sum for "", "foo" and messages with NUL bytes.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "tap.h"

struct vector {
	const char	*msg;
	size_t		 len;
	const char	*hex;
};

static const struct vector vectors[] = {
	{ "", 0,
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc", 3,
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "foo", 3,
	  "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ "a\0b", 3,
	  "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138" },
	{ "\0", 1,
	  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d" },
};

static void
test_vectors(void)
{
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1];
	struct mh_err err;
	size_t i;

	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		ok(digest_sha256(vectors[i].msg, vectors[i].len, d, &err) == MH_OK,
		    "sha256 vector %zu computes", i);
		digest_to_hex(d, hex);
		is_str(hex, vectors[i].hex, "sha256 vector matches");
	}
}

/* One million 'a', fed in uneven pieces through the stream interface. */
static void
test_stream(void)
{
	static const char want[] =
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	struct digest_stream *ds;
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1], *buf;
	struct mh_err err;
	size_t done = 0, piece = 1;

	buf = malloc(1000000);
	memset(buf, 'a', 1000000);
	ok(digest_stream_new(&ds, &err) == MH_OK, "stream: new");
	while (done < 1000000) {
		if (piece > 1000000 - done)
			piece = 1000000 - done;
		digest_stream_update(ds, buf + done, piece, &err);
		done += piece;
		piece = piece * 3 + 1;
	}
	ok(digest_stream_final(ds, d, &err) == MH_OK, "stream: final");
	digest_to_hex(d, hex);
	is_str(hex, want, "stream: a million 'a' (FIPS 180-2 B.3)");
	digest_stream_free(ds);
	free(buf);
}

static void
test_hex(void)
{
	const char *foo =
	    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
	const char *upper =
	    "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE";
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1], bad[DIGEST_HEX_LEN + 2];

	ok(digest_from_hex(foo, 64, a), "hex: lowercase decodes");
	digest_to_hex(a, hex);
	is_str(hex, foo, "hex: round trip");
	ok(digest_from_hex(upper, 64, b) && memcmp(a, b, DIGEST_LEN) == 0,
	    "hex: uppercase decodes to the same bytes");
	ok(!digest_from_hex(foo, 63, a), "hex: 63 characters rejected");
	memcpy(bad, foo, 64);
	bad[64] = 'a';
	bad[65] = '\0';
	ok(!digest_from_hex(bad, 65, a), "hex: 65 characters rejected");
	bad[10] = 'g';
	ok(!digest_from_hex(bad, 64, a), "hex: 'g' rejected");
	bad[10] = ' ';
	ok(!digest_from_hex(bad, 64, a), "hex: space rejected");
	bad[10] = '\0';
	ok(!digest_from_hex(bad, 64, a), "hex: NUL rejected");
	ok(!digest_from_hex("", 0, a), "hex: empty rejected");
	ok(!digest_from_hex(NULL, 64, a), "hex: NULL rejected");
}

int
main(void)
{
	test_vectors();
	test_stream();
	test_hex();
	return done_testing();
}
