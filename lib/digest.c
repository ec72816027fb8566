/*
 * digest.c — SHA-256 through OpenSSL's EVP interface (the SHA256_* calls are
 * deprecated in OpenSSL 3) and a hand-written hex codec: OpenSSL's own hex
 * helpers emit upper case with colons, and ours is fifteen lines.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#ifdef CRYPTO_SONAME
#include <dlfcn.h>
#endif

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ascii.h"
#include "digest.h"
#include "banned.h"

struct digest_stream {
	EVP_MD_CTX	*ctx;
};

/*
 * Every libcrypto function msghash calls, reached through one table.  In
 * the default build libcrypto is not linked but loaded with dlopen(3) by
 * the first digest: loading it costs every process that links it 2.1 ms
 * here (17,000 relocations and 125 page faults, measured on an empty
 * program), and most processes never hash (lookup, a serve process that
 * answers GETs, verify of an empty store).  configure defines CRYPTO_SONAME
 * after checking that the name loads; --enable-static-deps links libcrypto
 * in and binds the table directly.
 */
#define CRYPTO_FUNCTIONS(X) \
	X(OPENSSL_init_crypto) X(EVP_MD_fetch) X(EVP_MD_CTX_new) \
	X(EVP_MD_CTX_free) X(EVP_DigestInit_ex2) X(EVP_DigestUpdate) \
	X(EVP_DigestFinal_ex)
#define CRYPTO_POINTER(f)	__typeof__(f) *f;
static struct {
	CRYPTO_FUNCTIONS(CRYPTO_POINTER)
} crypto;

#ifdef CRYPTO_SONAME
static enum mh_status
crypto_load(struct mh_err *err)
{
	void *lib, *sym;

	if ((lib = dlopen(CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return mh_errf(err, MH_SYSTEM, "cannot load %s: %s",
		    CRYPTO_SONAME, dlerror());
#define CRYPTO_RESOLVE(f) \
	if ((sym = dlsym(lib, #f)) == NULL) \
		return mh_errf(err, MH_SYSTEM, "cannot load %s: no %s", \
		    CRYPTO_SONAME, #f); \
	memcpy(&crypto.f, &sym, sizeof sym);
	CRYPTO_FUNCTIONS(CRYPTO_RESOLVE)
	return MH_OK;
}
#else
static enum mh_status
crypto_load(struct mh_err *err)
{
#define CRYPTO_BIND(f)	crypto.f = f;
	CRYPTO_FUNCTIONS(CRYPTO_BIND)
	(void)err;
	return MH_OK;
}
#endif

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

static enum mh_status
digest_init(struct mh_err *err)
{
	static bool loaded;
	enum mh_status status;

	if (!loaded) {
		if ((status = crypto_load(err)) != MH_OK)
			return status;
		crypto.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
		loaded = true;
	}
	if (sha256 == NULL)
		sha256 = crypto.EVP_MD_fetch(NULL, "SHA2-256", NULL);
	if (oneshot == NULL)
		oneshot = crypto.EVP_MD_CTX_new();
	if (sha256 == NULL || oneshot == NULL)
		return mh_errf(err, MH_SYSTEM, "SHA-256 initialisation failed");
	return MH_OK;
}

enum mh_status
digest_sha256(const void *buf, size_t len, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	unsigned int n = 0;
	enum mh_status status;

	if ((status = digest_init(err)) != MH_OK)
		return status;
	if (crypto.EVP_DigestInit_ex2(oneshot, sha256, NULL) != 1 ||
	    crypto.EVP_DigestUpdate(oneshot, buf, len) != 1 ||
	    crypto.EVP_DigestFinal_ex(oneshot, out, &n) != 1 ||
	    n != DIGEST_LEN)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

enum mh_status
digest_stream_new(struct digest_stream **out, struct mh_err *err)
{
	struct digest_stream *ds;
	enum mh_status status;

	*out = NULL;
	if ((status = digest_init(err)) != MH_OK)
		return status;
	if ((ds = calloc(1, sizeof *ds)) == NULL)
		return mh_errf(err, MH_SYSTEM, "out of memory");
	if ((ds->ctx = crypto.EVP_MD_CTX_new()) == NULL ||
	    crypto.EVP_DigestInit_ex2(ds->ctx, sha256, NULL) != 1) {
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
	if (crypto.EVP_DigestUpdate(ds->ctx, buf, len) != 1)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

enum mh_status
digest_stream_final(struct digest_stream *ds, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	unsigned int n = 0;

	if (crypto.EVP_DigestFinal_ex(ds->ctx, out, &n) != 1 || n != DIGEST_LEN)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

void
digest_stream_free(struct digest_stream *ds)
{
	if (ds == NULL)
		return;
	crypto.EVP_MD_CTX_free(ds->ctx);
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
