/*
 * digest.h — SHA-256 (via OpenSSL's libcrypto) and the digest's text form.
 *
 * The only module that includes OpenSSL headers.  A digest's text form is 64
 * lowercase hex characters; decoding accepts either case and nothing else.
 */
#ifndef MH_DIGEST_H
#define MH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define DIGEST_LEN	32
#define DIGEST_HEX_LEN	64

/* SHA-256 of buf[0..len) into out. */
enum mh_status	digest_sha256(const void *buf, size_t len,
		    unsigned char out[DIGEST_LEN], struct mh_err *err);

/* Streaming SHA-256, for input of unbounded size in constant memory. */
struct digest_stream;
enum mh_status	digest_stream_new(struct digest_stream **out, struct mh_err *err);
enum mh_status	digest_stream_update(struct digest_stream *ds, const void *buf,
		    size_t len, struct mh_err *err);
enum mh_status	digest_stream_final(struct digest_stream *ds,
		    unsigned char out[DIGEST_LEN], struct mh_err *err);
void		digest_stream_free(struct digest_stream *ds);

/* 64 lowercase hex characters and a NUL into hex. */
void		digest_to_hex(const unsigned char digest[DIGEST_LEN],
		    char hex[DIGEST_HEX_LEN + 1]);

/* Strict decode: exactly 64 hex characters of either case; false otherwise. */
bool		digest_from_hex(const char *s, size_t len,
		    unsigned char out[DIGEST_LEN]);

#endif /* MH_DIGEST_H */
