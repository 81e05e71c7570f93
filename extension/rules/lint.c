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

/*
 * Licence types across all the files linted: those issued, and those
 * relied on (or_licence, licence_valid).  A type relied on that no file
 * issues is a warning, not an error: its service may be loaded later.
 */
typedef struct LintRef
{
	const char *path;
	int			line;
	int			column;
	char	   *type;
	char	   *service;
} LintRef;

typedef struct LintTypes
{
	int			nissued;
	char	  **issued;
	int			nrefs;
	LintRef    *refs;
} LintTypes;

/* strdup in C99 */
static char *
copy_string(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* Remember the licence types one compiled file issues and relies on */
static void
collect_types(LintTypes *lt, const char *path, const MrRuleset *rs)
{
	int			i;
	int			j;

	for (i = 0; i < rs->nservices; i++)
	{
		const MrService *svc = rs->services[i];

		if (svc->licence != NULL)
		{
			char	  **p = realloc(lt->issued, sizeof(char *) * (size_t) (lt->nissued + 1));

			if (p == NULL)
				return;
			lt->issued = p;
			lt->issued[lt->nissued] = copy_string(svc->licence->type);
			if (lt->issued[lt->nissued] != NULL)
				lt->nissued++;
		}
		for (j = 0; j < svc->nlicence_refs; j++)
		{
			LintRef    *r = realloc(lt->refs, sizeof(LintRef) * (size_t) (lt->nrefs + 1));

			if (r == NULL)
				return;
			lt->refs = r;
			r = &lt->refs[lt->nrefs];
			r->path = path;
			r->line = svc->licence_refs[j].line;
			r->column = svc->licence_refs[j].column;
			r->type = copy_string(svc->licence_refs[j].type);
			r->service = copy_string(svc->code);
			if (r->type != NULL && r->service != NULL)
				lt->nrefs++;
		}
	}
}

/* Warn about each licence type relied on but issued by no file; free all */
static void
warn_types(LintTypes *lt, bool quiet)
{
	int			i;
	int			j;

	for (i = 0; i < lt->nrefs; i++)
	{
		LintRef    *r = &lt->refs[i];
		bool		found = false;

		for (j = 0; j < lt->nissued && !found; j++)
			found = strcmp(lt->issued[j], r->type) == 0;
		/* one warning per place, however often the rule names the type there */
		for (j = 0; j < i && !found; j++)
			found = lt->refs[j].path == r->path && lt->refs[j].line == r->line &&
				lt->refs[j].column == r->column && strcmp(lt->refs[j].type, r->type) == 0;
		if (!found)
		{
			printf("%s:%d:%d: warning: licence type \"%s\" is issued by no service in these files (service \"%s\")\n",
				   r->path, r->line, r->column, r->type, r->service);
			if (!quiet)
				printf("  hint: Lint it together with the file of the service that issues it; it is accepted, as that service may be loaded later.\n");
		}
	}
	for (i = 0; i < lt->nrefs; i++)
	{
		free(lt->refs[i].type);
		free(lt->refs[i].service);
	}
	for (j = 0; j < lt->nissued; j++)
		free(lt->issued[j]);
	free(lt->issued);
	free(lt->refs);
}

/* Lint one file; returns 0, 1 or 2 as the exit status would */
static int
lint_file(const char *path, bool quiet, bool verbose, LintTypes *lt)
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
	else
		collect_types(lt, path, rs);
	if (rs != NULL && verbose)
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
	LintTypes	lt = {0, NULL, 0, NULL};

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
		s = lint_file(argv[i], quiet, verbose, &lt);
		if (s > status)
			status = s;
	}
	warn_types(&lt, quiet);
	fflush(stdout);
	return status;
}
