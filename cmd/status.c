/*
 * status.c — `msghash status`: this node's place in its replication group
 * (DESIGN.md §9), as its replication process sees it: role, master,
 * how much of the log it has, and which other sites it is connected to.
 */
#include <config.h>

#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "store.h"
#include "banned.h"

static enum mh_status
status_exec(const struct globals *g, int argc, char **argv,
    struct mh_err *err)
{
	struct store_group_config cfg;
	char reply[4096];
	const char *dir;
	enum mh_status status;

	if (argc != 0)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'", argv[0]);
	if ((status = cmd_store_dir(g, &dir, err)) != MH_OK)
		return status;
	status = store_group_read(dir, &cfg, err);
	if (status == MH_NOTFOUND) {
		if (access(dir, F_OK) != 0)
			return mh_errf(err, MH_NOTFOUND, "no store at '%s'",
			    dir);
		printf("role: single\n");
		return MH_OK;
	}
	if (status == MH_OK)
		status = store_group_request(dir, "status", reply,
		    sizeof reply, err);
	if (status == MH_OK)
		fputs(reply, stdout);
	return status;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.operands = "",
	.summary = "show this node's role in its replication group",
	.options = NULL,
	.option = NULL,
	.exec = status_exec,
};
