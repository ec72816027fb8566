/*
 * digest.c — SHA-256 through OpenSSL's EVP interface (the SHA256_* calls are
 * deprecated in OpenSSL 3) and a hand-written hex codec: OpenSSL's own hex
 * helpers emit upper case with colons, and ours is fifteen lines.
 */
#include <config.h>

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ascii.h"
#include "digest.h"
#include "banned.h"

struct digest_stream {
	EVP_MD_CTX	*ctx;
};

/*
 * OpenSSL reads openssl.cnf on first use, which cost 1.3 ms of every
 * 3.5 ms process start here (measured: EVP_Digest in a fresh process, with
 * and without this).  msghash needs only SHA-256 of the built-in default
 * provider, which the configuration cannot improve; so it is skipped.
 *
 * SHA-256 is fetched once and one context serves every one-shot digest:
 * EVP_sha256() is an implicit fetch, a provider-store lookup under locks on
 * every call (OpenSSL's crypto(7), "Performance"), and EVP_Digest makes and
 * frees a context each time.  Together 8.8% of a serve process's time under
 * keep-alive POSTs of a short message.  Both live until exit.
 */
static EVP_MD *sha256;
static EVP_MD_CTX *oneshot;

static bool
digest_init(void)
{
	static bool done;

	if (!done) {
		OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
		done = true;
	}
	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	if (oneshot == NULL)
		oneshot = EVP_MD_CTX_new();
	return sha256 != NULL && oneshot != NULL;
}

enum mh_status
digest_sha256(const void *buf, size_t len, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	unsigned int n = 0;

	if (!digest_init() || EVP_DigestInit_ex2(oneshot, sha256, NULL) != 1 ||
	    EVP_DigestUpdate(oneshot, buf, len) != 1 ||
	    EVP_DigestFinal_ex(oneshot, out, &n) != 1 || n != DIGEST_LEN)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

enum mh_status
digest_stream_new(struct digest_stream **out, struct mh_err *err)
{
	struct digest_stream *ds;

	*out = NULL;
	if (!digest_init())
		return mh_errf(err, MH_SYSTEM, "SHA-256 initialisation failed");
	if ((ds = calloc(1, sizeof *ds)) == NULL)
		return mh_errf(err, MH_SYSTEM, "out of memory");
	if ((ds->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(ds->ctx, sha256, NULL) != 1) {
		digest_stream_free(ds);
		return mh_errf(err, MH_SYSTEM, "SHA-256 initialisation failed");
	}
	*out = ds;
	return MH_OK;
}

enum mh_status
digest_stream_update(struct digest_stream *ds, const void *buf, size_t len,
    struct mh_err *err)
{
	if (EVP_DigestUpdate(ds->ctx, buf, len) != 1)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

enum mh_status
digest_stream_final(struct digest_stream *ds, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(ds->ctx, out, &n) != 1 || n != DIGEST_LEN)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

void
digest_stream_free(struct digest_stream *ds)
{
	if (ds == NULL)
		return;
	EVP_MD_CTX_free(ds->ctx);
	free(ds);
}

void
digest_to_hex(const unsigned char digest[DIGEST_LEN],
    char hex[DIGEST_HEX_LEN + 1])
{
	static const char xdigits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < DIGEST_LEN; i++) {
		hex[2 * i] = xdigits[digest[i] >> 4];
		hex[2 * i + 1] = xdigits[digest[i] & 0x0f];
	}
	hex[DIGEST_HEX_LEN] = '\0';
}

bool
digest_from_hex(const char *s, size_t len, unsigned char out[DIGEST_LEN])
{
	size_t i;
	int hi, lo;

	if (s == NULL || len != DIGEST_HEX_LEN)
		return false;
	for (i = 0; i < DIGEST_LEN; i++) {
		if ((hi = ascii_hex_value(s[2 * i])) < 0 ||
		    (lo = ascii_hex_value(s[2 * i + 1])) < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}
