/*
 * remove-site.c — `msghash remove-site HOST:PORT`: takes a site out of the
 * replication group (DESIGN.md §9).  Only a replication process may change
 * the group's membership, so this asks the local one; it forwards the
 * change to the master.
 */
#include <config.h>

#include <stdio.h>

#include "cmd.h"
#include "store.h"
#include "banned.h"

static enum mh_status
remove_site_exec(const struct globals *g, int argc, char **argv,
    struct mh_err *err)
{
	struct store_group_config cfg;
	char request[MH_GROUP_ADDR_MAX + 16], reply[512];
	const char *dir;
	enum mh_status status;

	if (argc == 0)
		return mh_errf(err, MH_USAGE, "missing the site's address "
		    "HOST:PORT");
	if (argc > 1)
		return mh_errf(err, MH_USAGE, "unexpected operand '%s'",
		    argv[1]);
	if ((size_t)snprintf(request, sizeof request, "remove %s", argv[0]) >=
	    sizeof request)
		return mh_errf(err, MH_USAGE, "invalid site '%.40s...': too "
		    "long", argv[0]);
	if ((status = cmd_store_dir(g, &dir, err)) != MH_OK)
		return status;
	status = store_group_read(dir, &cfg, err);
	if (status == MH_NOTFOUND)
		return mh_errf(err, MH_USAGE, "store '%s' is not a group "
		    "node's", dir);
	if (status == MH_OK)
		status = store_group_request(dir, request, reply,
		    sizeof reply, err);
	return status;
}

const struct cmd_entry cmd_remove_site_entry = {
	.name = "remove-site",
	.operands = "HOST:PORT",
	.summary = "take a site out of this node's replication group",
	.options = NULL,
	.option = NULL,
	.exec = remove_site_exec,
};
