/*
 * verify.c — `msghash verify`: check the log, then the database structure
 * with Berkeley DB's verifier, then re-hash every stored message and check
 * that it is stored under its own digest; all on a private copy, so the
 * store stays in use meanwhile (see store_verify).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "digest.h"
#include "store.h"
#include "banned.h"

#define VERIFY_LIST_MAX	10	/* inconsistencies listed in full */

struct tally {
	unsigned long long	messages, bytes, bad;
	struct mh_err		*err;
};

static void
print_hex(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static enum mh_status
check_one(const unsigned char *key, size_t key_len, const void *msg,
    size_t len, void *arg)
{
	struct tally *t = arg;
	unsigned char d[DIGEST_LEN];
	enum mh_status status;

	if ((status = digest_sha256(msg, len, d, t->err)) != MH_OK)
		return status;
	t->messages++;
	t->bytes += len;
	if (key_len == DIGEST_LEN && memcmp(key, d, DIGEST_LEN) == 0)
		return MH_OK;
	if (++t->bad <= VERIFY_LIST_MAX) {
		printf("mismatch: key ");
		print_hex(key, key_len);
		printf(" holds %zu bytes with digest ", len);
		print_hex(d, DIGEST_LEN);
		printf("\n");
	}
	return MH_OK;
}

static enum mh_status
verify_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	struct tally t = { 0, 0, 0, err };
	struct store *st;
	const char *tmp;
	enum mh_status status;

	if (argc != 0)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'", argv[0]);
	if ((status = cmd_store_open(g, 0, &st, err)) != MH_OK)
		return status;
	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] != '/')
		tmp = "/tmp";
	status = store_verify(st, tmp, check_one, &t, err);
	if (status == MH_OK)
		printf("structure: ok\nmessages: %llu\nbytes: %llu\n"
		    "mismatched: %llu\n", t.messages, t.bytes, t.bad);
	store_close(st);
	if (status == MH_OK && t.bad > 0)
		status = mh_errf(err, MH_STORE, "%llu of %llu messages are not "
		    "stored under their digest", t.bad, t.messages);
	return status;
}

const struct cmd_entry cmd_verify_entry = {
	.name = "verify",
	.operands = "",
	.summary = "check the store's log and structure, re-hash every message",
	.options = NULL,
	.option = NULL,
	.exec = verify_exec,
};
