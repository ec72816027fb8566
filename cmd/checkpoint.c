/*
 * checkpoint.c — `msghash checkpoint`: write a Berkeley DB checkpoint and
 * remove log files no longer needed.  Run from a systemd timer, not the
 * request path (DESIGN.md §4.5), with the same open protocol.
 */
#include <config.h>

#include "cmd.h"
#include "store.h"
#include "banned.h"

static enum mh_status
checkpoint_exec(const struct globals *g, int argc, char **argv,
    struct mh_err *err)
{
	struct store *st;
	enum mh_status status;

	if (argc != 0)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'", argv[0]);
	if ((status = cmd_store_open(g, 0, &st, err)) != MH_OK)
		return status;
	status = store_checkpoint(st, err);
	store_close(st);
	return status;
}

const struct cmd_entry cmd_checkpoint_entry = {
	.name = "checkpoint",
	.operands = "",
	.summary = "checkpoint the store and remove unneeded log files",
	.options = NULL,
	.option = NULL,
	.exec = checkpoint_exec,
};
