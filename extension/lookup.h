/*-------------------------------------------------------------------------
 *
 * lookup.h
 *	  exists() and lookup() into the agency's own reference tables.
 *
 * IDENTIFICATION
 *	  extension/lookup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_LOOKUP_H
#define MIAOPI_LOOKUP_H

#include "cache.h"

/* GUC miaopi.lookup_direct (miaopi.c) */
extern bool miaopi_lookup_direct;

/*
 * The resolver the compiler calls for lookup tables (never longjmps): strict
 * for load_rules, lenient when rebuilding a stored ruleset.
 */
extern const MrResolver *miaopi_lookup_resolver(bool strict);

/* Per-program state: resolved relation, prepared probe */
extern struct MiaopiLookupState *miaopi_lookup_prepare_all(MiaopiProgram *prog);
extern bool miaopi_lookup_uses_relation(MiaopiProgram *prog, Oid relid);

/*
 * What one evaluation's probes hold open: SPI and index scans.  Each
 * evaluation has its own (re-entrancy); begin before the first probe,
 * finish after the last.  After an ERROR, abort has released what it held.
 */
typedef struct MiaopiLookupRun
{
	MemoryContext cxt;			/* the evaluation's */
	int			nlookups;
	bool		spi_open;
	struct MiaopiOpenScan **scans;	/* by lookup index, NULL = not open */
	struct MiaopiOpenScan *open;	/* every open scan, to close */
} MiaopiLookupRun;

/*
 * Run one probe with the given parameter values (typed as the condition
 * values' kinds).  Returns false and sets *errmsg when the probe cannot run
 * (table gone, no privilege); else *found, and for lookup() the column
 * value in *value / *isnull (copied into the current memory context).
 */
extern bool miaopi_lookup_probe(MiaopiLookupRun *run, MiaopiProgram *prog,
								MrLookup *lk, Datum *params, bool *found,
								Datum *value, bool *isnull,
								const char **errmsg);

extern void miaopi_lookup_begin(MiaopiLookupRun *run, MiaopiProgram *prog);
extern void miaopi_lookup_finish(MiaopiLookupRun *run);

#endif							/* MIAOPI_LOOKUP_H */
