/*
 * cmd.h — the subcommand interface.
 *
 * Adding a command:
 *  1. write cmd/<name>.c defining `const struct cmd_entry cmd_<name>_entry`
 *     (name, operands, summary, options, option handler, exec);
 *  2. add `&cmd_<name>_entry` to cmd_table[] in cmd/msghash.c and the file to
 *     msghash_SOURCES in Makefile.am;
 *  3. add tests/<name>.bats and a section in man/msghash.1 (tests/man.bats
 *     checks that every option in --help appears there).
 *
 * main parses the global options (which are also accepted after the command
 * name), then the command's own options through its table, then calls exec
 * with the operands.  exec returns a status and fills err; main prints
 * "msghash <name>: <err>" and exits through the status table (lib/status.c).
 */
#ifndef MH_CMD_H
#define MH_CMD_H

#include <stddef.h>

#include "status.h"

struct store;

/* Settings every command sees, from global options and the environment. */
struct globals {
	const char	*db_dir;	/* --db, MSGHASH_DB, ...; NULL if none */
	size_t		 max_message;	/* --max-size */
};

struct cmd_option {
	const char	*long_name;	/* "no-store" */
	int		 short_name;	/* 'n', or 0 */
	const char	*arg_name;	/* "SIZE", or NULL for a flag */
	const char	*help;		/* one line for --help */
};

struct cmd_entry {
	const char		*name;		/* "hash" */
	const char		*operands;	/* "[MESSAGE...]" for the synopsis */
	const char		*summary;	/* one line for msghash --help */
	const struct cmd_option	*options;	/* ends with { NULL } */
	/* Handles option number `index` of `options`; NULL if no options. */
	enum mh_status		(*option)(int index, const char *arg,
				    struct mh_err *err);
	enum mh_status		(*exec)(const struct globals *g, int argc,
				    char **argv, struct mh_err *err);
};

/*
 * For the default case of an option handler's switch, which has a case
 * for every option of its table: an index without one is a bug, reported
 * as an unknown option (MH_USAGE) rather than taken for another option.
 */
enum mh_status	cmd_unknown_option(int index, struct mh_err *err);

/* The store directory, or MH_USAGE if no location is known. */
enum mh_status	cmd_store_dir(const struct globals *g, const char **dir,
		    struct mh_err *err);

/* Opens the store at cmd_store_dir (store_open's flags and statuses). */
enum mh_status	cmd_store_open(const struct globals *g, int flags,
		    struct store **st, struct mh_err *err);

extern const struct cmd_entry cmd_hash_entry;
extern const struct cmd_entry cmd_lookup_entry;
extern const struct cmd_entry cmd_checkpoint_entry;
extern const struct cmd_entry cmd_serve_entry;
extern const struct cmd_entry cmd_verify_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_remove_site_entry;

#endif /* MH_CMD_H */
