/*
 * msghash.c — main: global options, the command table, dispatch, and the
 * final check that stdout was really written.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "limits.h"
#include "store.h"
#include "banned.h"

#define PROGRAM		"msghash"
#define TRY_HELP	"Try '" PROGRAM " --help' for more information."
#define OPT_MAX		32

/* The only registry of commands; --help is generated from it. */
static const struct cmd_entry *const cmd_table[] = {
	&cmd_hash_entry,
	&cmd_lookup_entry,
	&cmd_checkpoint_entry,
	&cmd_serve_entry,
	&cmd_verify_entry,
	&cmd_status_entry,
	&cmd_remove_site_entry,
};
#define CMD_COUNT	(sizeof cmd_table / sizeof cmd_table[0])

enum { G_DB, G_MAX_SIZE, G_HELP, G_VERSION };

static const struct cmd_option global_options[] = {
	[G_DB] = { "db", 'd', "DIR", "store directory (see ENVIRONMENT in msghash(1))" },
	[G_MAX_SIZE] = { "max-size", 'm', "SIZE",
	    "largest message to store, in bytes or with K, M or G (default 4M)" },
	[G_HELP] = { "help", 'h', NULL, "show this help and exit" },
	[G_VERSION] = { "version", 'V', NULL, "show the version and exit" },
	{ NULL, 0, NULL, NULL }
};

/* ---- help and version ---- */

/* "-d, --db=DIR" or "    --workers=N": an option's left column. */
static int
option_left(const struct cmd_option *o, char *buf, size_t cap)
{
	const char *arg = o->arg_name ? o->arg_name : "";

	if (o->short_name)
		return snprintf(buf, cap, "-%c, --%s%s%s", o->short_name,
		    o->long_name, o->arg_name ? "=" : "", arg);
	return snprintf(buf, cap, "    --%s%s%s", o->long_name,
	    o->arg_name ? "=" : "", arg);
}

/* The widest left column of the option tables (NULL-terminated list). */
static int
options_width(const struct cmd_option *const *tables)
{
	const struct cmd_option *o;
	char left[64];
	int w = 0, n;

	for (; *tables != NULL; tables++)
		for (o = *tables; o->long_name != NULL; o++)
			if ((n = option_left(o, left, sizeof left)) > w)
				w = n;
	return w;
}

static void
print_options(const struct cmd_option *opts, int width)
{
	char left[64];

	for (; opts->long_name != NULL; opts++) {
		option_left(opts, left, sizeof left);
		printf("  %-*s  %s\n", width, left, opts->help);
	}
}

static bool
has_options(const struct cmd_entry *cmd)
{
	return cmd->options != NULL && cmd->options[0].long_name != NULL;
}

static void
print_help(void)
{
	const struct cmd_option *const tables[] = { global_options, NULL };
	int width = options_width(tables), n;
	size_t i;
	char left[64];

	for (i = 0; i < CMD_COUNT; i++)
		if ((n = snprintf(left, sizeof left, "%s %s", cmd_table[i]->name,
		    cmd_table[i]->operands)) > width)
			width = n;
	printf("Usage: %s [OPTION...] COMMAND [ARG...]\n"
	    "Store messages under their SHA-256 digest and look them up by "
	    "digest.\n\nCommands:\n", PROGRAM);
	for (i = 0; i < CMD_COUNT; i++) {
		snprintf(left, sizeof left, "%s %s", cmd_table[i]->name,
		    cmd_table[i]->operands);
		printf("  %-*s  %s\n", width, left, cmd_table[i]->summary);
	}
	printf("\nGlobal options (also accepted after COMMAND):\n");
	print_options(global_options, width);
	printf("\nRun '%s COMMAND --help' for the options of a command.\n"
	    "Exit status: 0 success, 1 not found, 2 usage error or invalid "
	    "input,\n3 store or system failure, 4 refused by the replication "
	    "group\n(a replica, or no quorum).\n", PROGRAM);
}

static void
print_cmd_help(const struct cmd_entry *cmd)
{
	const struct cmd_option *const tables[] = { global_options,
	    has_options(cmd) ? cmd->options : NULL, NULL };
	int width = options_width(tables);

	printf("Usage: %s [GLOBAL OPTION...] %s%s%s%s\n%s.\n", PROGRAM,
	    cmd->name, has_options(cmd) ? " [OPTION...]" : "",
	    cmd->operands[0] != '\0' ? " " : "", cmd->operands, cmd->summary);
	if (has_options(cmd)) {
		printf("\nOptions:\n");
		print_options(cmd->options, width);
	}
	printf("\nGlobal options:\n");
	print_options(global_options, width);
}

static void
print_version(void)
{
	printf("%s %s\n"
	    "Copyright (C) 2026 the msghash developers.\n"
	    "License: MIT (the LICENSE file of the source).\n"
	    "Built with %s, cJSON and Berkeley DB 5.3.\n",
	    PROGRAM, PACKAGE_VERSION, "OpenSSL");
}

/* ---- errors ---- */

static int __attribute__((format(printf, 2, 3)))
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	if (cmd != NULL)
		fprintf(stderr, "%s %s: ", PROGRAM, cmd);
	else
		fprintf(stderr, "%s: ", PROGRAM);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, "\nTry '%s %s --help' for more information.\n",
		    PROGRAM, cmd);
	else
		fprintf(stderr, "\n%s\n", TRY_HELP);
	return status_exit_code(MH_USAGE);
}

static int
report(const char *cmd, enum mh_status status, const struct mh_err *err)
{
	if (status == MH_USAGE)
		return usage_error(cmd, "%s", err->msg);
	if (status != MH_OK && err->msg[0] != '\0')
		fprintf(stderr, "%s %s: %s\n", PROGRAM, cmd, err->msg);
	return status_exit_code(status);
}

/* ---- option parsing ---- */

/* "4194304", "512K", "4M", "1G" -> bytes, within 1..MH_MESSAGE_MAX_CEILING. */
static enum mh_status
parse_size(const char *arg, size_t *out, struct mh_err *err)
{
	char *end;
	unsigned long long n;
	unsigned shift = 0;

	errno = 0;
	n = strtoull(arg, &end, 10);
	if (end != arg && *end != '\0' && end[1] == '\0')
		switch (*end++) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: end--; break;
		}
	if (end == arg || *end != '\0' || arg[0] == '-' || errno != 0 ||
	    n == 0 || n > (MH_MESSAGE_MAX_CEILING >> shift))
		return mh_errf(err, MH_USAGE,
		    "invalid size '%s': expected 1 to %lu bytes, or a number "
		    "with K, M or G", arg, MH_MESSAGE_MAX_CEILING);
	*out = (size_t)(n << shift);
	return MH_OK;
}

/* Builds getopt_long's tables from global options + a command's options. */
static void
build_getopt(const struct cmd_option *cmd_opts, struct option *longs,
    char *shorts)
{
	const struct cmd_option *sets[2] = { global_options, cmd_opts };
	size_t set, i, nl = 0, ns = 0;

	shorts[ns++] = '+';	/* stop at the first operand */
	shorts[ns++] = ':';	/* report a missing argument as ':' */
	for (set = 0; set < 2; set++) {
		for (i = 0; sets[set] != NULL && sets[set][i].long_name; i++) {
			const struct cmd_option *o = &sets[set][i];
			int val = (int)(set * 256 + i + 1000);

			longs[nl++] = (struct option){ o->long_name,
			    o->arg_name ? required_argument : no_argument, NULL,
			    val };
			if (o->short_name) {
				shorts[ns++] = (char)o->short_name;
				if (o->arg_name)
					shorts[ns++] = ':';
			}
		}
	}
	longs[nl] = (struct option){ NULL, 0, NULL, 0 };
	shorts[ns] = '\0';
}

/* Maps getopt's return value (short char or 1000+) to (set, index). */
static bool
find_option(const struct cmd_option *cmd_opts, int c, int *set, int *index)
{
	const struct cmd_option *sets[2] = { global_options, cmd_opts };
	int s, i;

	if (c >= 1000) {
		*set = (c - 1000) / 256;
		*index = (c - 1000) % 256;
		return true;
	}
	for (s = 0; s < 2; s++)
		for (i = 0; sets[s] != NULL && sets[s][i].long_name; i++)
			if (sets[s][i].short_name == c) {
				*set = s;
				*index = i;
				return true;
			}
	return false;
}

enum action { RUN, EXIT_OK, EXIT_USAGE, EXIT_HELP, EXIT_VERSION };

enum mh_status
cmd_unknown_option(int index, struct mh_err *err)
{
	return mh_errf(err, MH_USAGE, "unknown option (number %d)", index);
}

/* Applies one global option. */
static enum action
global_option(struct globals *g, int index, const char *arg,
    struct mh_err *err)
{
	switch (index) {
	case G_DB:
		if (arg[0] == '\0') {
			mh_errf(err, MH_USAGE, "--db needs a directory, not an "
			    "empty string");
			return EXIT_USAGE;
		}
		g->db_dir = arg;
		return RUN;
	case G_MAX_SIZE:
		return parse_size(arg, &g->max_message, err) == MH_OK ? RUN :
		    EXIT_USAGE;
	case G_HELP:
		return EXIT_HELP;
	case G_VERSION:
		return EXIT_VERSION;
	default:
		cmd_unknown_option(index, err);
		return EXIT_USAGE;
	}
}

/*
 * Parses options of `cmd` (NULL: only global ones, before the command name)
 * from argv[optind...]; leaves optind at the first operand.
 */
static enum action
parse_options(const struct cmd_entry *cmd, struct globals *g, int argc,
    char **argv, struct mh_err *err)
{
	struct option longs[OPT_MAX];
	char shorts[2 * OPT_MAX + 3];
	const struct cmd_option *cmd_opts = cmd ? cmd->options : NULL;
	enum action act;
	int c, set, index;

	build_getopt(cmd_opts, longs, shorts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			mh_errf(err, MH_USAGE, c == ':' ?
			    "option '%s' needs an argument" :
			    "unknown option '%s'", bad);
			return EXIT_USAGE;
		}
		if (!find_option(cmd_opts, c, &set, &index)) {
			cmd_unknown_option(c, err);
			return EXIT_USAGE;
		}
		if (set == 0)
			act = global_option(g, index, optarg, err);
		else
			act = cmd->option(index, optarg, err) == MH_OK ? RUN :
			    EXIT_USAGE;
		if (act != RUN)
			return act;
	}
	return RUN;
}

/* ---- the store location ---- */

enum mh_status
cmd_store_dir(const struct globals *g, const char **dir, struct mh_err *err)
{
	static char buf[4096];
	const char *v;

	if (g->db_dir != NULL) {
		*dir = g->db_dir;
		return MH_OK;
	}
	if ((v = getenv("MSGHASH_DB")) != NULL) {
		/* Set but empty is a mistake (a typo in a unit file, an
		 * unset shell variable), not a wish for the default store. */
		if (v[0] == '\0')
			return mh_errf(err, MH_USAGE, "MSGHASH_DB is set but "
			    "empty: name a store directory, or unset it");
		*dir = v;
		return MH_OK;
	}
	/* systemd may list several directories, separated by colons. */
	if ((v = getenv("STATE_DIRECTORY")) != NULL && v[0] != '\0') {
		snprintf(buf, sizeof buf, "%.*s", (int)strcspn(v, ":"), v);
		*dir = buf;
		return MH_OK;
	}
	/* XDG Base Directory: a relative value is invalid and ignored. */
	if ((v = getenv("XDG_DATA_HOME")) != NULL && v[0] == '/')
		snprintf(buf, sizeof buf, "%s/msghash", v);
	else if ((v = getenv("HOME")) != NULL && v[0] != '\0')
		snprintf(buf, sizeof buf, "%s/.local/share/msghash", v);
	else
		return mh_errf(err, MH_USAGE,
		    "no store location: use --db DIR or set MSGHASH_DB");
	*dir = buf;
	return MH_OK;
}

enum mh_status
cmd_store_open(const struct globals *g, int flags, struct store **st,
    struct mh_err *err)
{
	const char *dir;
	enum mh_status status;

	*st = NULL;
	if ((status = cmd_store_dir(g, &dir, err)) != MH_OK)
		return status;
	return store_open(st, dir, flags, err);
}

/* ---- main ---- */

/* The running command's name, for the watchdog's last words. */
static const char *cli_command = "";

/*
 * The store watchdog's last words (a signal handler: write(2) only):
 * "msghash lookup: <why>; try again", then exit status 3.
 */
static void
cli_watchdog_words(const char *why)
{
	static const char tail[] = "; try again\n";
	struct iovec iov[6] = {
		{ (void *)PROGRAM, sizeof PROGRAM - 1 },
		{ (void *)" ", cli_command[0] != '\0' },
		{ (void *)cli_command, strlen(cli_command) },
		{ (void *)": ", 2 },
		{ (void *)why, strlen(why) },
		{ (void *)tail, sizeof tail - 1 },
	};

	(void)!writev(2, iov, 6);	/* one write: one line */
	_exit(status_exit_code(MH_STORE));
}

static const struct cmd_entry *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < CMD_COUNT; i++)
		if (strcmp(cmd_table[i]->name, name) == 0)
			return cmd_table[i];
	return NULL;
}

/* git's rule: a command that printed must have printed successfully. */
static int
check_stdout(const struct cmd_entry *cmd, int code)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		fprintf(stderr, "%s%s%s: write error: %s\n", PROGRAM,
		    cmd != NULL ? " " : "", cmd != NULL ? cmd->name : "",
		    strerror(errno ? errno : EIO));
		return status_exit_code(MH_SYSTEM);
	}
	return code;
}

static int
finish_action(enum action act, const struct cmd_entry *cmd,
    const struct mh_err *err)
{
	switch (act) {
	case EXIT_HELP:
		if (cmd != NULL)
			print_cmd_help(cmd);
		else
			print_help();
		return check_stdout(cmd, 0);
	case EXIT_VERSION:
		print_version();
		return check_stdout(cmd, 0);
	default:
		return usage_error(cmd ? cmd->name : NULL, "%s", err->msg);
	}
}

int
main(int argc, char **argv)
{
	struct globals g = { NULL, MH_MESSAGE_MAX_DEFAULT };
	struct mh_err err = { MH_OK, "" };
	const struct cmd_entry *cmd;
	enum action act;
	enum mh_status status;

	/* A client that goes away must not kill us inside the store. */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	store_set_watchdog_hook(cli_watchdog_words);

	if ((act = parse_options(NULL, &g, argc, argv, &err)) != RUN)
		return finish_action(act, NULL, &err);
	if (optind >= argc)
		return usage_error(NULL, "%s", "no command given");
	if ((cmd = find_command(argv[optind])) == NULL)
		return usage_error(NULL, "'%s' is not a msghash command",
		    argv[optind]);

	cli_command = cmd->name;
	argc -= optind;
	argv += optind;
	optind = 0;	/* re-initialise getopt for the command's options */
	if ((act = parse_options(cmd, &g, argc, argv, &err)) != RUN)
		return finish_action(act, cmd, &err);

	status = cmd->exec(&g, argc - optind, argv + optind, &err);
	return check_stdout(cmd, report(cmd->name, status, &err));
}
