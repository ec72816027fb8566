/*
 * digest.c — SHA-256 through OpenSSL's libcrypto, and a hand-written hex
 * codec: OpenSSL's own hex helpers emit upper case with colons, and ours is
 * fifteen lines.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#ifdef CRYPTO_SONAME
#include <dlfcn.h>
#endif

/*
 * SHA256_Init/Update/Final, not EVP: they are deprecated in OpenSSL 3.0 but
 * present in every 3.x, and they run the same code (with SHA-NI where the
 * CPU has it) without what EVP adds to every process's start: initialising
 * the library and fetching SHA-256 from a provider.  Providers give
 * msghash nothing (it does not read openssl.cnf).  configure checks that
 * this OpenSSL still has them.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "ascii.h"
#include "digest.h"
#include "banned.h"

struct digest_stream {
	SHA256_CTX	ctx;
};

/*
 * Every libcrypto function msghash calls, reached through one table.  In
 * the default build libcrypto is not linked but loaded with dlopen(3) by
 * the first digest: linking it costs every process its relocations at
 * start, and most processes never hash (lookup, a serve process that
 * answers GETs, verify of an empty store).  configure defines CRYPTO_SONAME
 * after checking that the name loads; --enable-static-deps links libcrypto
 * in and binds the table directly.  (The figures are in DESIGN.md §6 and
 * the commit messages.)
 */
#define CRYPTO_FUNCTIONS(X) X(SHA256_Init) X(SHA256_Update) X(SHA256_Final)
#define CRYPTO_POINTER(f)	__typeof__(f) *f;
static struct {
	CRYPTO_FUNCTIONS(CRYPTO_POINTER)
} crypto;

#ifdef CRYPTO_SONAME
static enum mh_status
crypto_load(struct mh_err *err)
{
	void *lib, *sym;

	if ((lib = dlopen(CRYPTO_SONAME, RTLD_LAZY | RTLD_LOCAL)) == NULL)
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

static enum mh_status
digest_init(struct mh_err *err)
{
	static bool loaded;
	enum mh_status status = MH_OK;

	if (!loaded && (status = crypto_load(err)) == MH_OK)
		loaded = true;
	return status;
}

enum mh_status
digest_sha256(const void *buf, size_t len, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	SHA256_CTX ctx;
	enum mh_status status;

	if ((status = digest_init(err)) != MH_OK)
		return status;
	if (crypto.SHA256_Init(&ctx) != 1 ||
	    crypto.SHA256_Update(&ctx, buf, len) != 1 ||
	    crypto.SHA256_Final(out, &ctx) != 1)
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
	if (crypto.SHA256_Init(&ds->ctx) != 1) {
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
	if (crypto.SHA256_Update(&ds->ctx, buf, len) != 1)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

enum mh_status
digest_stream_final(struct digest_stream *ds, unsigned char out[DIGEST_LEN],
    struct mh_err *err)
{
	if (crypto.SHA256_Final(out, &ds->ctx) != 1)
		return mh_errf(err, MH_SYSTEM, "SHA-256 failed");
	return MH_OK;
}

void
digest_stream_free(struct digest_stream *ds)
{
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
