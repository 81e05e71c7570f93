/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Per-backend cache of compiled rulesets (programs).
 *
 * Compiled programs live in a hash table in CacheMemoryContext, created on
 * first use, keyed by ruleset id.  A ruleset row is immutable, so an entry
 * never goes stale by content; it is dropped only when a lookup table it
 * reads changes (relcache callback on that relid), and freed once no
 * evaluation holds it (refcount).  Each program owns a memory context under
 * CacheMemoryContext and the compiler's malloc'd arena, freed by a reset
 * callback on that context.  Which ruleset is current for a service comes
 * from the service cache (service.c).
 *
 * "Never a mix of two versions": the trigger reads the service's ruleset id
 * once per row and evaluates every check of that row with the one program
 * it pinned.  An invalidation that arrives while a row is being evaluated
 * (lookups take locks, and taking a lock processes pending messages) only
 * sets flags: the row keeps its pinned program, and the next row reads the
 * service again.
 *
 * Pins.  Every pin is recorded with the subtransaction that took it, so an
 * ERROR that skipped a release is undone at that subtransaction's abort (a
 * PL/pgSQL EXCEPTION block catching a failed INSERT) or at the
 * transaction's.  A stale program still pinned when its ruleset is needed
 * again is retired: replaced in the hash, and freed when its last pin goes.
 *
 * Callbacks do no catalog access and never ERROR.
 *
 * IDENTIFICATION
 *	  extension/cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "cache.h"
#include "eval.h"
#include "lookup.h"
#include "miaopi.h"

typedef struct ProgramEntry
{
	int64		ruleset_id;		/* hash key */
	MiaopiProgram *prog;
} ProgramEntry;

/* A pin taken by miaopi_cache_program, in the subtransaction it was taken */
typedef struct ProgramPin
{
	MiaopiProgram *prog;
	SubTransactionId subid;
} ProgramPin;

static HTAB *programs = NULL;
static ProgramPin *pins = NULL;	/* in TopMemoryContext */
static int	npins = 0;
static int	maxpins = 0;
static List *retired = NIL;		/* replaced while pinned (TopMemoryContext) */
static bool any_stale = false;
static bool callbacks_registered = false;
static Oid	ruleset_relid = InvalidOid;


/* ----------
 * Invalidation
 * ----------
 */

/*
 * Relcache callback: everything changed, miaopi.ruleset was dropped, or a
 * table some program reads changed.  Only flags; the next use rebuilds.
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	ProgramEntry *pe;

	bool		all = false;

	/*
	 * miaopi.ruleset itself only sees relcache invalidations for DDL, such as
	 * DROP EXTENSION: ruleset ids may then be reused by a new instance, so
	 * forget every program and re-resolve the tables on next use.
	 */
	if (relid == InvalidOid || relid == ruleset_relid)
	{
		all = true;
		ruleset_relid = InvalidOid;
	}

	if (programs == NULL)
		return;
	hash_seq_init(&seq, programs);
	while ((pe = hash_seq_search(&seq)) != NULL)
	{
		/*
		 * A program with a lookup that did not resolve is rebuilt on any
		 * change: the change may be the table coming back.
		 */
		if (all || pe->prog->broken_lookups ||
			miaopi_lookup_uses_relation(pe->prog, relid))
		{
			pe->prog->stale = true;
			any_stale = true;
		}
	}
}

/* Free stale programs nobody is using */
static void
cache_sweep_stale(void)
{
	HASH_SEQ_STATUS seq;
	ProgramEntry *pe;

	if (programs == NULL || !any_stale)
		return;
	any_stale = false;
	hash_seq_init(&seq, programs);
	while ((pe = hash_seq_search(&seq)) != NULL)
	{
		/* one still in use stays flagged and is swept on a later call */
		if (pe->prog->stale && pe->prog->refcount > 0)
			any_stale = true;
		else if (pe->prog->stale)
		{
			MiaopiProgram *prog = pe->prog;

			hash_search(programs, &pe->ruleset_id, HASH_REMOVE, NULL);
			MemoryContextDelete(prog->cxt);
		}
	}
}

/* Free retired programs nobody pins any more */
static void
free_retired(void)
{
	ListCell   *lc;

	foreach(lc, retired)
	{
		MiaopiProgram *prog = (MiaopiProgram *) lfirst(lc);

		if (prog->refcount == 0)
		{
			retired = foreach_delete_current(retired, lc);
			MemoryContextDelete(prog->cxt);
		}
	}
}

/* Drop the pins taken in subtransaction subid (all of them if invalid) */
static void
drop_pins(SubTransactionId subid)
{
	int			i,
				kept = 0;

	for (i = 0; i < npins; i++)
	{
		if (subid == InvalidSubTransactionId || pins[i].subid == subid)
		{
			if (pins[i].prog->refcount > 0)
				pins[i].prog->refcount--;
		}
		else
			pins[kept++] = pins[i];
	}
	npins = kept;
	free_retired();
}

/*
 * At abort, no evaluation begun in the aborted (sub)transaction is running
 * any more: drop the pins an ERROR left behind.
 */
static void
cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		drop_pins(InvalidSubTransactionId);
}

static void
cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		drop_pins(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* a pin still held belongs to the parent now */
		for (i = 0; i < npins; i++)
			if (pins[i].subid == mySubid)
				pins[i].subid = parentSubid;
	}
}

static void
cache_initialize(void)
{
	HASHCTL		ctl;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
		RegisterXactCallback(cache_xact_callback, NULL);
		RegisterSubXactCallback(cache_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (programs == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(ProgramEntry);
		ctl.hcxt = CacheMemoryContext;
		programs = hash_create("miaopi programs", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!OidIsValid(ruleset_relid))
		ruleset_relid = miaopi_relid("ruleset");
}

/* ----------
 * Compiling
 * ----------
 */

static void
arena_reset_callback(void *arg)
{
	mr_arena_destroy((MrArena *) arg);
}

/*
 * miaopi_arena_create makes an arena that dies with the current memory
 * context, whether it is deleted normally or by an ERROR's cleanup.
 */
MrArena *
miaopi_arena_create(void)
{
	MrArena    *arena = mr_arena_create();
	MemoryContextCallback *cb;

	if (arena == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = arena_reset_callback;
	cb->arg = arena;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return arena;
}

static int
compile_errcode(MrErrorKind kind)
{
	switch (kind)
	{
		case MR_ERR_YAML:
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		case MR_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case MR_ERR_UNAVAILABLE:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case MR_ERR_UNDEFINED_TABLE:
			return ERRCODE_UNDEFINED_TABLE;
		case MR_ERR_UNDEFINED_COLUMN:
			return ERRCODE_UNDEFINED_COLUMN;
		case MR_ERR_PRIVILEGE:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case MR_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		default:
			return ERRCODE_INVALID_PARAMETER_VALUE;
	}
}

static const char *
default_hint(MrErrorKind kind)
{
	switch (kind)
	{
		case MR_ERR_YAML:
			return "Check the YAML syntax at that position; miaopi-lint reports the same errors.";
		case MR_ERR_LIMIT:
			return "Split the rules into smaller documents or simplify the expression.";
		case MR_ERR_UNAVAILABLE:
			return "Remove it; this version of miaopi does not support it yet.";
		case MR_ERR_UNDEFINED_TABLE:
			return "Create the lookup table first, or correct its name in the rule (unqualified names mean schema public).";
		case MR_ERR_UNDEFINED_COLUMN:
			return "Correct the column name in the rule, or add the column to the table.";
		case MR_ERR_PRIVILEGE:
			return "Grant SELECT on the lookup table to the role that loads the rules.";
		default:
			return "Correct the rule file; miaopi-lint reports the same errors.";
	}
}

/* "Line 3, column 7, in service "x", check "y" (expression column 12)." */
static char *
error_where(const MrError *err)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (err->line > 0)
		appendStringInfo(&buf, "Line %d, column %d", err->line, err->column);
	else
		appendStringInfoString(&buf, "In the rules source");
	if (err->service[0])
		appendStringInfo(&buf, ", service \"%s\"", err->service);
	if (err->check[0])
		appendStringInfo(&buf, ", check \"%s\"", err->check);
	if (err->expr_column > 0)
		appendStringInfo(&buf, ", expression column %d", err->expr_column);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/*
 * miaopi_source_utf8 returns a rules source argument in UTF-8, with its
 * length, refusing one over the compiler's size limit (hint: what to do).
 */
char *
miaopi_source_utf8(text *source, const char *hint, size_t *len)
{
	char	   *utf8;

	*len = VARSIZE_ANY_EXHDR(source);
	if (*len > MR_MAX_SOURCE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rules source is too large"),
				 errdetail("The source has %zu bytes; the limit is %d.", *len, MR_MAX_SOURCE_BYTES),
				 errhint("%s", hint)));
	utf8 = (char *) pg_do_encoding_conversion((unsigned char *) VARDATA_ANY(source), *len,
											  GetDatabaseEncoding(), PG_UTF8);
	if (utf8 != VARDATA_ANY(source))
		*len = strlen(utf8);
	return utf8;
}

/*
 * miaopi_compile_or_error compiles src, raising the compiler's first error
 * with its SQLSTATE and position.
 */
MrRuleset *
miaopi_compile_or_error(MrArena *arena, const char *src, size_t len, bool strict)
{
	MrError		err;
	MrRuleset  *rs;

	memset(&err, 0, sizeof(err));
	rs = mr_compile(arena, src, len, miaopi_lookup_resolver(strict), &err);
	if (rs == NULL)
		ereport(ERROR,
				(errcode(compile_errcode(err.kind)),
				 errmsg("%s", err.message),
				 errdetail("%s", error_where(&err)),
				 errhint("%s", err.hint[0] ? err.hint : default_hint(err.kind))));
	return rs;
}

/* ----------
 * Programs
 * ----------
 */

/*
 * miaopi_program_build makes a program for svc in a new context under the
 * current one; the caller re-parents it to publish it.
 */
MiaopiProgram *
miaopi_program_build(MrService *svc, int64 ruleset_id, int version)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "miaopi program",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MiaopiProgram *prog = palloc0(sizeof(MiaopiProgram));

	prog->ruleset_id = ruleset_id;
	prog->version = version;
	prog->cxt = cxt;
	prog->svc = svc;
	prog->lookups = miaopi_lookup_prepare_all(prog);
	MemoryContextSwitchTo(old);
	return prog;
}

/*
 * Read a stored ruleset and compile it into a program in its own context.
 *
 * The row is read as the service cache reads miaopi.service: a plain index
 * scan with the catalog snapshot, so a ruleset id the service cache has seen
 * (possibly committed after this statement's snapshot was taken) is always
 * found, and no privilege on miaopi.ruleset is needed.  Rulesets are never
 * updated or deleted, so a newer snapshot can only see more of them.
 */
static MiaopiProgram *
load_program(int64 ruleset_id)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *source;
	char	   *utf8;
	int			version;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	MrArena    *arena;
	MrRuleset  *rs;
	MiaopiProgram *prog;

	rel = table_open(ruleset_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, SPI_fnumber(desc, "id"), BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(ruleset_id));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ruleset %lld does not exist", (long long) ruleset_id)));
	source = TextDatumGetCString(heap_getattr(tup, SPI_fnumber(desc, "source"), desc, &isnull));
	version = DatumGetInt32(heap_getattr(tup, SPI_fnumber(desc, "version"), desc, &isnull));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/*
	 * Build under a temporary context: if compiling fails, nothing leaks.
	 * The arena belongs to that context and so to the program.
	 */
	cxt = AllocSetContextCreate(caller, "miaopi ruleset", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(cxt);
	arena = miaopi_arena_create();
	utf8 = (char *) pg_do_encoding_conversion((unsigned char *) source, strlen(source),
											  GetDatabaseEncoding(), PG_UTF8);
	rs = miaopi_compile_or_error(arena, utf8, strlen(utf8), false);
	if (rs->nservices != 1)
		elog(ERROR, "ruleset %lld holds %d services", (long long) ruleset_id,
			 rs->nservices);
	prog = miaopi_program_build(rs->services[0], ruleset_id, version);
	prog->arena = arena;
	MemoryContextSwitchTo(caller);

	/* the ruleset context owns arena and program: hand it to the program */
	prog->cxt = cxt;
	return prog;
}

/* Record a pin of prog in the current subtransaction */
static void
pin(MiaopiProgram *prog)
{
	if (npins == maxpins)
	{
		int			n = Max(maxpins * 2, 16);

		pins = pins ? repalloc(pins, sizeof(ProgramPin) * n)
			: MemoryContextAlloc(TopMemoryContext, sizeof(ProgramPin) * n);
		maxpins = n;
	}
	pins[npins].prog = prog;
	pins[npins].subid = GetCurrentSubTransactionId();
	npins++;
	prog->refcount++;
}

/*
 * miaopi_cache_program pins the compiled program of ruleset_id, compiling
 * it on first use.  Release it with miaopi_cache_release.
 */
MiaopiProgram *
miaopi_cache_program(int64 ruleset_id)
{
	ProgramEntry *pe;
	MiaopiProgram *prog;
	bool		found;

	cache_initialize();
	cache_sweep_stale();

	pe = hash_search(programs, &ruleset_id, HASH_FIND, NULL);
	if (pe != NULL && !pe->prog->stale)
	{
		pin(pe->prog);
		return pe->prog;
	}

	prog = load_program(ruleset_id);
	MemoryContextSetParent(prog->cxt, CacheMemoryContext);

	/*
	 * A stale entry still pinned by an evaluation further up the stack is
	 * retired: freed when its last pin is released, not pulled from under
	 * that evaluation.
	 */
	pe = hash_search(programs, &ruleset_id, HASH_ENTER, &found);
	if (found && pe->prog->refcount > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		retired = lappend(retired, pe->prog);
		MemoryContextSwitchTo(old);
	}
	else if (found)
		MemoryContextDelete(pe->prog->cxt);
	pe->prog = prog;
	pin(prog);
	return prog;
}

/*
 * miaopi_cache_release unpins a program (its most recent pin).
 */
void
miaopi_cache_release(MiaopiProgram *prog)
{
	int			i;

	for (i = npins - 1; i >= 0; i--)
	{
		if (pins[i].prog == prog)
		{
			memmove(&pins[i], &pins[i + 1], sizeof(ProgramPin) * (npins - i - 1));
			npins--;
			if (prog->refcount > 0)
				prog->refcount--;
			break;
		}
	}
	if (prog->refcount == 0 && retired != NIL)
		free_retired();
}

/* SQL: trigger on miaopi.service (and calendars) that invalidates caches */
PG_FUNCTION_INFO_V1(miaopi_invalidate);
Datum
miaopi_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_invalidate: must be called as trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	PG_RETURN_POINTER(NULL);
}
