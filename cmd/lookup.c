/*
 * lookup.c — `msghash lookup DIGEST`: write the message stored under DIGEST
 * to stdout, byte for byte.  A missing store is "not found", not an error,
 * and lookup never creates one.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "digest.h"
#include "store.h"
#include "banned.h"

static enum mh_status
lookup_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	unsigned char digest[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1];
	struct store *st;
	enum mh_status status;
	void *msg;
	size_t len;

	if (argc != 1)
		return mh_errf(err, MH_USAGE, argc == 0 ? "missing DIGEST" :
		    "unexpected operand '%s'", argc > 1 ? argv[1] : "");
	if (!digest_from_hex(argv[0], strlen(argv[0]), digest))
		return mh_errf(err, MH_INVALID,
		    "invalid digest '%.80s': expected %d hex characters",
		    argv[0], DIGEST_HEX_LEN);
	status = cmd_store_open(g, 0, &st, err);
	if (status == MH_NOTFOUND) {
		digest_to_hex(digest, hex);
		return mh_errf(err, MH_NOTFOUND, "no message with digest '%s'",
		    hex);
	}
	if (status != MH_OK)
		return status;
	status = store_get(st, digest, &msg, &len, err);
	store_close(st);	/* hold the environment as briefly as possible */
	if (status != MH_OK)
		return status;
	fwrite(msg, 1, len, stdout);	/* main checks stdout for errors */
	free(msg);
	return MH_OK;
}

const struct cmd_entry cmd_lookup_entry = {
	.name = "lookup",
	.operands = "DIGEST",
	.summary = "print the message stored under DIGEST (64 hex characters)",
	.options = NULL,
	.option = NULL,
	.exec = lookup_exec,
};
