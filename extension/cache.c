/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  Per-backend caches of services and compiled rulesets.
 *
 * Two hash tables live in CacheMemoryContext, created on first use:
 *
 *	- services: service code -> current ruleset id and the service's
 *	  time-limit settings.  Valid until miaopi.service changes: a
 *	  statement-level trigger on that table (miaopi_invalidate) calls
 *	  CacheInvalidateRelcacheByRelid, which reaches every backend, and our
 *	  relcache callback flips services_valid.  The next lookup rebuilds the
 *	  table from scratch.
 *
 *	- programs: ruleset id -> compiled program.  A ruleset row is immutable,
 *	  so an entry never goes stale by content; it is dropped only when a
 *	  lookup table it reads changes (relcache callback on that relid), and
 *	  freed once no evaluation holds it (refcount).  Each program owns a
 *	  memory context under CacheMemoryContext and the compiler's malloc'd
 *	  arena, freed by a reset callback on that context.
 *
 * "Never a mix of two versions": the trigger reads the service's ruleset id
 * once per row and evaluates every check of that row with the one program
 * it pinned.  Invalidation messages are processed between statements or at
 * lock acquisition, never in the middle of evaluating a row.
 *
 * Callbacks do no catalog access and never ERROR.  A transaction abort
 * resets every pin (an ERROR may have skipped a release).
 *
 * IDENTIFICATION
 *	  extension/cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
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

static HTAB *services = NULL;
static HTAB *programs = NULL;
static bool services_valid = false;
static bool any_stale = false;
static bool callbacks_registered = false;
static Oid	service_relid = InvalidOid;
static Oid	ruleset_relid = InvalidOid;

static SPIPlanPtr service_plan = NULL;
static SPIPlanPtr ruleset_plan = NULL;

/* ----------
 * Invalidation
 * ----------
 */

/*
 * Relcache callback: miaopi.service changed (or everything did), or a table
 * some program reads changed.  Only flags; the next use rebuilds.
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	ProgramEntry *pe;

	bool		all = false;

	if (relid == InvalidOid || relid == service_relid)
		services_valid = false;

	/*
	 * miaopi.ruleset itself only sees relcache invalidations for DDL, such as
	 * DROP EXTENSION: ruleset ids may then be reused by a new instance, so
	 * forget every program and re-resolve the tables on next use.
	 */
	if (relid == InvalidOid || relid == ruleset_relid)
	{
		all = true;
		service_relid = InvalidOid;
		ruleset_relid = InvalidOid;
		services_valid = false;
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

/*
 * At abort, no evaluation of this backend is running any more: drop every
 * pin an ERROR left behind.
 */
static void
cache_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS seq;
	ProgramEntry *pe;

	if (event != XACT_EVENT_ABORT || programs == NULL)
		return;
	hash_seq_init(&seq, programs);
	while ((pe = hash_seq_search(&seq)) != NULL)
		pe->prog->refcount = 0;
}

static void
cache_initialize(void)
{
	HASHCTL		ctl;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
		RegisterXactCallback(cache_xact_callback, NULL);
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
	if (!OidIsValid(service_relid) || !OidIsValid(ruleset_relid))
	{
		service_relid = miaopi_relid("service");
		ruleset_relid = miaopi_relid("ruleset");
	}
}

/* ----------
 * Services
 * ----------
 */

static void
services_reset(void)
{
	HASHCTL		ctl;

	if (services != NULL)
		hash_destroy(services);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MIAOPI_CODE_BYTES;
	ctl.entrysize = sizeof(MiaopiService);
	ctl.hcxt = CacheMemoryContext;
	services = hash_create("miaopi services", 64, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	services_valid = true;
}

/* Keep a plan in a static, preparing it on first use; SPI must be open */
static SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		*slot = plan;
	}
	return *slot;
}

static bool
read_service(const char *code, MiaopiService *entry)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;
	bool		found;
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec_context;

	miaopi_become_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	kept_plan(&service_plan,
			  "SELECT current_ruleset, kind, calendar, statutory_days, promised_days, auto_approve"
			  " FROM miaopi.service WHERE code OPERATOR(pg_catalog.=) $1",
			  1, argtypes);
	args[0] = CStringGetTextDatum(code);
	if (SPI_execute_plan(service_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read miaopi.service");

	found = SPI_processed > 0;
	if (found)
	{
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		d = SPI_getbinval(tup, desc, 1, &isnull);
		entry->ruleset_id = isnull ? 0 : DatumGetInt64(d);
		strlcpy(entry->kind, SPI_getvalue(tup, desc, 2), sizeof(entry->kind));
		strlcpy(entry->calendar, SPI_getvalue(tup, desc, 3), sizeof(entry->calendar));
		entry->statutory_days = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		entry->promised_days = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		entry->auto_approve = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		entry->valid = true;
	}
	SPI_finish();
	miaopi_restore_user(save_userid, save_sec_context);
	MemoryContextSwitchTo(caller);
	return found;
}

/*
 * miaopi_cache_service returns the cached row of service code, or NULL if
 * there is no such service.
 */
MiaopiService *
miaopi_cache_service(const char *code, int len)
{
	char		key[MIAOPI_CODE_BYTES];
	MiaopiService *entry;
	MiaopiService fresh;
	bool		found;

	if (len >= MIAOPI_CODE_BYTES)
		return NULL;			/* codes are at most 63 bytes */
	memset(key, 0, sizeof(key));
	memcpy(key, code, len);

	cache_initialize();
	if (!services_valid || services == NULL)
		services_reset();

	entry = hash_search(services, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	memset(&fresh, 0, sizeof(fresh));
	if (!read_service(key, &fresh))
		return NULL;

	/* an invalidation may have arrived while we read: start afresh */
	if (!services_valid)
		services_reset();
	entry = hash_search(services, key, HASH_ENTER, &found);
	memcpy(entry->kind, fresh.kind, sizeof(entry->kind));
	memcpy(entry->calendar, fresh.calendar, sizeof(entry->calendar));
	entry->ruleset_id = fresh.ruleset_id;
	entry->statutory_days = fresh.statutory_days;
	entry->promised_days = fresh.promised_days;
	entry->auto_approve = fresh.auto_approve;
	entry->valid = true;
	return entry;
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

/* Read a stored ruleset and compile it into a program in its own context */
static MiaopiProgram *
load_program(int64 ruleset_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	char	   *source;
	char	   *utf8;
	int			version;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt;
	MrArena    *arena;
	MrRuleset  *rs;
	MiaopiProgram *prog;
	Oid			save_userid;
	int			save_sec_context;

	miaopi_become_owner(&save_userid, &save_sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	kept_plan(&ruleset_plan,
			  "SELECT source, version FROM miaopi.ruleset WHERE id OPERATOR(pg_catalog.=) $1",
			  1, argtypes);
	args[0] = Int64GetDatum(ruleset_id);
	if (SPI_execute_plan(ruleset_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read miaopi.ruleset");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ruleset %lld does not exist", (long long) ruleset_id)));
	MemoryContextSwitchTo(caller);
	source = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	miaopi_restore_user(save_userid, save_sec_context);
	MemoryContextSwitchTo(caller);

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
		pe->prog->refcount++;
		return pe->prog;
	}

	prog = load_program(ruleset_id);
	MemoryContextSetParent(prog->cxt, CacheMemoryContext);

	/*
	 * A stale entry still pinned by an evaluation further up the stack is
	 * replaced but not freed (it is rare, and freeing it would pull the
	 * program from under that evaluation).
	 */
	pe = hash_search(programs, &ruleset_id, HASH_ENTER, &found);
	pe->prog = prog;
	prog->refcount = 1;
	return prog;
}

/*
 * miaopi_cache_release unpins a program.
 */
void
miaopi_cache_release(MiaopiProgram *prog)
{
	if (prog->refcount > 0)
		prog->refcount--;
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
