/*-------------------------------------------------------------------------
 *
 * cache.h
 *	  Per-backend cache of compiled programs, by ruleset id.
 *
 * IDENTIFICATION
 *	  extension/cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_CACHE_H
#define MIAOPI_CACHE_H

#include "mr.h"

struct MiaopiLookupState;

/*
 * A compiled ruleset, ready to evaluate.  Built once per backend from the
 * immutable miaopi.ruleset row, so its content never goes stale; it is only
 * dropped when a lookup table it reads changes shape (stale), and freed when
 * no evaluation is using it (refcount).
 */
typedef struct MiaopiProgram
{
	int64		ruleset_id;		/* hash key; 0 for a program not yet stored */
	int			version;
	MemoryContext cxt;			/* owns everything below */
	MrArena    *arena;			/* compiler output (malloc'd, freed with cxt) */
	MrService  *svc;
	struct MiaopiLookupState *lookups;	/* svc->nlookups entries */
	bool		broken_lookups; /* some lookup did not resolve when built */
	int			refcount;
	bool		stale;
} MiaopiProgram;

/* Pin the program of a ruleset id (compiling it on first use) */
extern MiaopiProgram *miaopi_cache_program(int64 ruleset_id);
extern void miaopi_cache_release(MiaopiProgram *prog);

/*
 * Build an unpublished program for an already compiled service, in a child
 * context of the current one (load_rules runs the tests with it).  The
 * arena stays owned by whoever created it.
 */
extern MiaopiProgram *miaopi_program_build(MrService *svc, int64 ruleset_id,
										   int version);

/*
 * Create an arena that is destroyed when the current memory context is
 * reset or deleted, so an ERROR never leaks it.
 */
extern MrArena *miaopi_arena_create(void);

/* A rules source argument in UTF-8, refused over the size limit */
extern char *miaopi_source_utf8(text *source, const char *hint, size_t *len);

/*
 * Compile a rules source (UTF-8), ereport()ing any compiler error with its
 * position.  strict: lookup tables must resolve (load_rules).
 */
extern MrRuleset *miaopi_compile_or_error(MrArena *arena, const char *src,
										  size_t len, bool strict);

#endif							/* MIAOPI_CACHE_H */
