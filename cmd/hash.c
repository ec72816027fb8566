/*
 * hash.c — `msghash hash [-n] [MESSAGE...]`: store each message and print
 * its SHA-256 digest, one line per message, in order.  No operand or "-"
 * reads standard input to EOF as one message, byte for byte.
 */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "digest.h"
#include "io.h"
#include "limits.h"
#include "store.h"
#include "banned.h"

enum { OPT_NO_STORE };

static const struct cmd_option hash_options[] = {
	[OPT_NO_STORE] = { "no-store", 'n', NULL,
	    "print the digest without storing (stdin: no size limit)" },
	{ NULL, 0, NULL, NULL }
};

static bool no_store;

static enum mh_status
hash_option(int index, const char *arg, struct mh_err *err)
{
	(void)arg;
	switch (index) {
	case OPT_NO_STORE:
		no_store = true;
		return MH_OK;
	default:
		return cmd_unknown_option(index, err);
	}
}

/* -n on stdin: stream it through SHA-256 in constant memory. */
static enum mh_status
digest_stdin_stream(unsigned char digest[DIGEST_LEN], struct mh_err *err)
{
	static char buf[MH_IO_CHUNK];
	struct digest_stream *ds;
	enum mh_status status;
	size_t n;

	if ((status = digest_stream_new(&ds, err)) != MH_OK)
		return status;
	do {
		status = io_read_some(0, buf, sizeof buf, &n, "standard input",
		    err);
		if (status == MH_OK && n > 0)
			status = digest_stream_update(ds, buf, n, err);
	} while (status == MH_OK && n > 0);
	if (status == MH_OK)
		status = digest_stream_final(ds, digest, err);
	digest_stream_free(ds);
	return status;
}

/* Stores one message (opening the store on first use) and prints its digest. */
static enum mh_status
hash_one(const struct globals *g, struct store **st, const void *msg,
    size_t len, struct mh_err *err)
{
	unsigned char digest[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1];
	enum mh_status status;
	bool created;

	if ((status = digest_sha256(msg, len, digest, err)) != MH_OK)
		return status;
	if (!no_store) {
		if (*st == NULL &&
		    (status = cmd_store_open(g, STORE_CREATE, st, err)) != MH_OK)
			return status;
		status = store_put(*st, digest, msg, len, &created, err);
		if (status != MH_OK)
			return status;
	}
	digest_to_hex(digest, hex);
	printf("%s\n", hex);	/* only after the commit is durable */
	return MH_OK;
}

static enum mh_status
hash_stdin(const struct globals *g, struct store **st, struct mh_err *err)
{
	unsigned char digest[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN + 1], *msg;
	enum mh_status status;
	size_t len;
	bool too_large;

	if (no_store) {
		if ((status = digest_stdin_stream(digest, err)) != MH_OK)
			return status;
		digest_to_hex(digest, hex);
		printf("%s\n", hex);
		return MH_OK;
	}
	status = io_read_all(0, g->max_message, "standard input", &msg, &len,
	    &too_large, err);
	if (too_large)
		status = mh_errf(err, MH_INVALID,
		    "message on standard input is over the limit of %zu bytes",
		    g->max_message);
	if (status == MH_OK)
		status = hash_one(g, st, msg, len, err);
	free(msg);
	return status;
}

/* Checks operands before storing anything: a usage error stores nothing. */
static enum mh_status
check_operands(const struct globals *g, int argc, char **argv,
    struct mh_err *err)
{
	int i, dashes = 0;
	size_t len;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0) {
			if (++dashes > 1)
				return mh_errf(err, MH_USAGE,
				    "standard input ('-') can be read only once");
			continue;
		}
		len = strlen(argv[i]);
		if (!no_store && len > g->max_message)
			return mh_errf(err, MH_INVALID,
			    "message %d is %zu bytes, over the limit of %zu bytes",
			    i + 1, len, g->max_message);
	}
	return MH_OK;
}

static enum mh_status
hash_exec(const struct globals *g, int argc, char **argv, struct mh_err *err)
{
	static char dash[] = "-";
	char *stdin_only[] = { dash, NULL };
	struct store *st = NULL;
	enum mh_status status;
	int i;

	if (argc == 0) {
		argc = 1;
		argv = stdin_only;
	}
	if ((status = check_operands(g, argc, argv, err)) != MH_OK)
		return status;
	for (i = 0; i < argc && status == MH_OK; i++) {
		if (strcmp(argv[i], "-") == 0)
			status = hash_stdin(g, &st, err);
		else
			status = hash_one(g, &st, argv[i], strlen(argv[i]), err);
	}
	store_close(st);
	return status;
}

const struct cmd_entry cmd_hash_entry = {
	.name = "hash",
	.operands = "[MESSAGE...]",
	.summary = "store each MESSAGE (or stdin) and print its SHA-256 digest",
	.options = hash_options,
	.option = hash_option,
	.exec = hash_exec,
};
