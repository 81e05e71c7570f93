/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  miaopi-lint: check rule files without a database.
 *
 *	  miaopi-lint [-q] [-v] FILE...
 *
 * Each file is compiled exactly as miaopi.load_rules would compile it, but
 * without a resolver, so lookup tables and columns are not checked.  The
 * first error of each file is printed as
 *
 *	  FILE:LINE:COL: message (check "id")
 *	    hint: ...
 *
 * (the check part only inside a check, the hint line only when there is a
 * hint; -q leaves hints out).  Nothing is printed for a clean file unless
 * -v asks for "FILE: N services, M checks".  Exit status: 0 when every
 * file compiles, 1 when any has an error, 2 on a usage error or an
 * unreadable file.
 *
 * This file is the linter's main and is not part of the extension.
 *
 * IDENTIFICATION
 *	  extension/rules/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

/* Print the usage text */
static void
usage(FILE *out)
{
	fprintf(out,
			"Usage: miaopi-lint [-q] [-v] FILE...\n"
			"Check miaopi rule files without a database.\n"
			"\n"
			"  -q    print error lines only, without hints\n"
			"  -v    also report each clean file's services and checks\n"
			"\n"
			"Exit status: 0 if all files compile, 1 on a rule error, 2 on a usage\n"
			"error or an unreadable file.\n");
}

/*
 * Read a whole file.  Reading stops one byte past the compiler's limit,
 * which is enough for mr_compile to report the file as too large.
 */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;
	size_t		max = (size_t) MR_MAX_SOURCE_BYTES + 1;

	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		got;

		if (n == cap)
		{
			size_t		newcap = cap ? cap * 2 : 65536;
			char	   *p;

			if (newcap > max)
				newcap = max;
			if (newcap == cap)
				break;
			p = realloc(buf, newcap);
			if (p == NULL)
			{
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = p;
			cap = newcap;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
	{
		int			saved = errno ? errno : EIO;

		free(buf);
		fclose(f);
		errno = saved;
		return NULL;
	}
	fclose(f);
	if (buf == NULL)
		buf = malloc(1);		/* an empty file */
	*len = n;
	return buf;
}

/* Print one error in FILE:LINE:COL form */
static void
print_error(const char *path, const MrError *err, bool quiet)
{
	if (err->line > 0)
		printf("%s:%d:%d: %s", path, err->line, err->column, err->message);
	else
		printf("%s: %s", path, err->message);
	if (err->check[0] != '\0')
		printf(" (check \"%s\")", err->check);
	printf("\n");
	if (!quiet && err->hint[0] != '\0')
		printf("  hint: %s\n", err->hint);
}

/* Lint one file; returns 0, 1 or 2 as the exit status would */
static int
lint_file(const char *path, bool quiet, bool verbose)
{
	char	   *src;
	size_t		len = 0;
	MrArena    *arena;
	MrRuleset  *rs;
	MrError		err;
	int			status = 0;

	errno = 0;
	src = read_file(path, &len);
	if (src == NULL)
	{
		fprintf(stderr, "miaopi-lint: could not read \"%s\": %s\n", path,
				strerror(errno ? errno : EIO));
		return 2;
	}
	arena = mr_arena_create();
	if (arena == NULL)
	{
		free(src);
		fprintf(stderr, "miaopi-lint: out of memory\n");
		return 2;
	}
	rs = mr_compile(arena, src, len, NULL, &err);
	if (rs == NULL)
	{
		print_error(path, &err, quiet);
		status = 1;
	}
	else if (verbose)
	{
		int			nchecks = 0;
		int			i;

		for (i = 0; i < rs->nservices; i++)
			nchecks += rs->services[i]->nchecks;
		printf("%s: %d service%s, %d check%s\n", path, rs->nservices,
			   rs->nservices == 1 ? "" : "s", nchecks, nchecks == 1 ? "" : "s");
	}
	mr_arena_destroy(arena);
	free(src);
	return status;
}

/* Lint every file named; the worst status wins */
int
main(int argc, char **argv)
{
	bool		quiet = false;
	bool		verbose = false;
	bool		options = true;
	int			nfiles = 0;
	int			status = 0;
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (options && strcmp(argv[i], "--") == 0)
			options = false;
		else if (options && strcmp(argv[i], "-q") == 0)
			quiet = true;
		else if (options && strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (options && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0))
		{
			usage(stdout);
			return 0;
		}
		else if (options && argv[i][0] == '-' && argv[i][1] != '\0')
		{
			fprintf(stderr, "miaopi-lint: unknown option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
		else
			nfiles++;
	}
	if (nfiles == 0)
	{
		usage(stderr);
		return 2;
	}

	options = true;
	for (i = 1; i < argc; i++)
	{
		int			s;

		if (options && strcmp(argv[i], "--") == 0)
		{
			options = false;
			continue;
		}
		if (options && argv[i][0] == '-' && argv[i][1] != '\0')
			continue;
		s = lint_file(argv[i], quiet, verbose);
		if (s > status)
			status = s;
	}
	fflush(stdout);
	return status;
}
