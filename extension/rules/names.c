/*-------------------------------------------------------------------------
 *
 * names.c
 *	  Finding names fast: duplicate detection and sorted name indexes.
 *
 * An 8 MB source can declare tens of thousands of fields, checks or
 * services, and rules can name them tens of thousands of times, so every
 * "is this name declared?" and "was this name used before?" question is
 * answered by sorting once and searching, never by a nested loop.  The
 * arrays live in the scratch arena.
 *
 * IDENTIFICATION
 *	  extension/rules/names.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "mr_internal.h"

typedef struct NameRef
{
	const char *name;
	int			index;
} NameRef;

/* Order by name, then by original position */
static int
ref_cmp(const void *a, const void *b)
{
	const NameRef *ra = a;
	const NameRef *rb = b;
	int			c = strcmp(ra->name, rb->name);

	if (c != 0)
		return c;
	return (ra->index > rb->index) - (ra->index < rb->index);
}

/*
 * mr_find_duplicates sets firstdup[i] to the index of the first earlier
 * entry equal to names[i], or -1.  NULL names are never duplicates.
 */
bool
mr_find_duplicates(MrCtx *ctx, const char *const *names, int n, int *firstdup)
{
	NameRef    *refs;
	int			nrefs = 0;
	int			i;
	int			first = -1;

	for (i = 0; i < n; i++)
		firstdup[i] = -1;
	if (n < 2)
		return true;
	refs = mr_salloc(ctx, sizeof(NameRef) * (size_t) n);
	if (refs == NULL)
		return false;
	for (i = 0; i < n; i++)
	{
		if (names[i] == NULL)
			continue;
		refs[nrefs].name = names[i];
		refs[nrefs].index = i;
		nrefs++;
	}
	qsort(refs, (size_t) nrefs, sizeof(NameRef), ref_cmp);
	for (i = 0; i < nrefs; i++)
	{
		if (i == 0 || strcmp(refs[i].name, refs[i - 1].name) != 0)
			first = refs[i].index;
		else
			firstdup[refs[i].index] = first;
	}
	return true;
}

/*
 * mr_index_build makes a sorted index over n names (which must stay alive
 * as long as the index).
 */
bool
mr_index_build(MrCtx *ctx, MrNameIndex *ix, const char *const *names, int n)
{
	NameRef    *refs;
	int			i;

	ix->n = 0;
	ix->refs = NULL;
	if (n == 0)
		return true;
	refs = mr_salloc(ctx, sizeof(NameRef) * (size_t) n);
	if (refs == NULL)
		return false;
	for (i = 0; i < n; i++)
	{
		refs[i].name = names[i];
		refs[i].index = i;
	}
	qsort(refs, (size_t) n, sizeof(NameRef), ref_cmp);
	ix->refs = refs;
	ix->n = n;
	return true;
}

/*
 * mr_index_find returns the original index of the first entry named
 * s[0..len), or -1.
 */
int
mr_index_find(const MrNameIndex *ix, const char *s, size_t len)
{
	const NameRef *refs = ix->refs;
	int			lo = 0;
	int			hi = ix->n;

	/* lower bound: first entry not less than s */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const char *name = refs[mid].name;
		size_t		nlen = strlen(name);
		int			c = memcmp(name, s, nlen < len ? nlen : len);

		if (c == 0)
			c = (nlen > len) - (nlen < len);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ix->n && strlen(refs[lo].name) == len &&
		memcmp(refs[lo].name, s, len) == 0)
		return refs[lo].index;
	return -1;
}
