/*-------------------------------------------------------------------------
 *
 * scope.c
 *	  Scopes (miaopi.scope): a role may load rules for, act on, or submit
 *	  applications to a service only through a scope row of its own or of a
 *	  role it has the privileges of; superusers pass.  Also the trigger that
 *	  records every scope change as an event.
 *
 * The scope rows are read with one heap scan (as service.c reads services),
 * so a role needs no privilege on miaopi.scope, and kept in "miaopi scope
 * cache" under CacheMemoryContext with each role name resolved to its OID.
 * The INSERT asks once per (role, action, service) and backend: the answer
 * is memoised in a hash, and the last answer is kept aside so that a stream
 * of inserts by one role into one service costs a few comparisons.
 *
 * Invalidation.  A statement trigger on miaopi.scope (miaopi.invalidate_cache)
 * sends a relcache invalidation of the table to every backend; syscache
 * callbacks on pg_auth_members and pg_authid catch membership changes,
 * renames, drops and superuser changes.  The callbacks only set scope_stale;
 * the next check reloads the rows and forgets every memoised answer.  The
 * memo is also forgotten when the service cache is rebuilt (a load may move
 * a service to another department, and service pointers are keys).
 *
 * A database still on 1.0 has no miaopi.scope: every role passes, as
 * before, until ALTER EXTENSION miaopi UPDATE.
 *
 * IDENTIFICATION
 *	  extension/scope.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "miaopi.h"
#include "scope.h"
#include "workflow.h"

/* One row of miaopi.scope */
typedef struct ScopeRow
{
	Oid			roleid;			/* InvalidOid: no such role (never matches) */
	MiaopiScopeAction action;
	char	   *department;		/* NULL: all */
	char	   *service_code;	/* NULL: all */
} ScopeRow;

/* Key of a memoised answer; the service pointer is valid per generation */
typedef struct ScopeMemoKey
{
	const MiaopiService *svc;
	Oid			roleid;
	int32		action;
} ScopeMemoKey;

typedef struct ScopeMemoEntry
{
	ScopeMemoKey key;
	bool		allowed;
} ScopeMemoEntry;

static const char *const action_names[] = {"load", "act", "submit"};

static MemoryContext scope_cxt = NULL;
static ScopeRow *scope_rows = NULL;
static int	scope_nrows = 0;
static bool scope_stale = true;
static bool scope_absent = false;
static bool scope_callbacks_registered = false;
static Oid	scope_relid = InvalidOid;
static HTAB *scope_memo = NULL;
static uint64 scope_memo_generation = 0;

/* The last answer of miaopi_scope_check_service */
static struct
{
	bool		valid;
	Oid			roleid;
	MiaopiScopeAction action;
	const MiaopiService *svc;
	uint64		generation;
	bool		allowed;
}			scope_last;

/* Relcache callback: flag the scopes stale when miaopi.scope changed */
static void
scope_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == scope_relid)
	{
		scope_stale = true;
		scope_last.valid = false;
	}
}

/* Syscache callback: roles or memberships changed */
static void
scope_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	scope_stale = true;
	scope_last.valid = false;
}

/*
 * scope_load reads every row of miaopi.scope into the cache, with the
 * latest snapshot: a scope removed by a committed transaction is gone at
 * once, whatever the caller's snapshot.
 */
static void
scope_load(void)
{
	Relation	rel;
	TupleDesc	tupdesc;
	SysScanDesc scan;
	Snapshot	snapshot;
	HeapTuple	tup;
	MemoryContext oldcxt;
	int			a_role,
				a_action,
				a_department,
				a_service;
	int			allocated = 16;

	scope_rows = NULL;
	scope_nrows = 0;
	if (scope_cxt == NULL)
		scope_cxt = AllocSetContextCreate(CacheMemoryContext, "miaopi scope cache",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(scope_cxt);
	scope_memo = NULL;

	scope_relid = get_relname_relid("scope", miaopi_schema_oid());
	scope_absent = !OidIsValid(scope_relid);
	if (scope_absent)
		return;

	rel = table_open(scope_relid, AccessShareLock);
	tupdesc = RelationGetDescr(rel);
	a_role = SPI_fnumber(tupdesc, "role");
	a_action = SPI_fnumber(tupdesc, "action");
	a_department = SPI_fnumber(tupdesc, "department");
	a_service = SPI_fnumber(tupdesc, "service_code");
	if (a_role <= 0 || a_action <= 0 || a_department <= 0 || a_service <= 0)
		elog(ERROR, "miaopi.scope lacks one of its columns");

	oldcxt = MemoryContextSwitchTo(scope_cxt);
	scope_rows = palloc(sizeof(ScopeRow) * allocated);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		ScopeRow   *row;
		bool		isnull;
		Datum		d;
		char	   *action;
		int			i;

		if (scope_nrows == allocated)
		{
			allocated *= 2;
			scope_rows = repalloc(scope_rows, sizeof(ScopeRow) * allocated);
		}
		row = &scope_rows[scope_nrows];
		d = heap_getattr(tup, a_role, tupdesc, &isnull);
		if (isnull)
			continue;
		row->roleid = get_role_oid(NameStr(*DatumGetName(d)), true);
		d = heap_getattr(tup, a_action, tupdesc, &isnull);
		if (isnull)
			continue;
		action = TextDatumGetCString(d);
		for (i = 0; i < lengthof(action_names); i++)
			if (strcmp(action, action_names[i]) == 0)
				break;
		if (i == lengthof(action_names))
			continue;
		row->action = (MiaopiScopeAction) i;
		d = heap_getattr(tup, a_department, tupdesc, &isnull);
		row->department = isnull ? NULL : TextDatumGetCString(d);
		d = heap_getattr(tup, a_service, tupdesc, &isnull);
		row->service_code = isnull ? NULL : TextDatumGetCString(d);
		scope_nrows++;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	MemoryContextSwitchTo(oldcxt);
	table_close(rel, AccessShareLock);
}

/* Make the cached rows current; a failed reload leaves them stale */
static void
scope_refresh(void)
{
	if (!scope_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(scope_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, scope_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, scope_syscache_callback, (Datum) 0);
		scope_callbacks_registered = true;
	}
	if (!scope_stale && !scope_absent)
		return;
	scope_stale = true;
	scope_last.valid = false;
	scope_load();
	scope_stale = false;
}

/*
 * miaopi_scope_allows says whether roleid may do action for the service
 * with service_code of department (either may be NULL: unknown).
 */
bool
miaopi_scope_allows(Oid roleid, MiaopiScopeAction action,
					const char *department, const char *service_code)
{
	int			i;

	if (superuser_arg(roleid))
		return true;
	scope_refresh();
	if (scope_absent)
		return true;
	for (i = 0; i < scope_nrows; i++)
	{
		const ScopeRow *row = &scope_rows[i];

		if (row->action != action || !OidIsValid(row->roleid))
			continue;
		if (row->department != NULL &&
			(department == NULL || strcmp(row->department, department) != 0))
			continue;
		if (row->service_code != NULL &&
			(service_code == NULL || strcmp(row->service_code, service_code) != 0))
			continue;
		if (has_privs_of_role(roleid, row->roleid))
			return true;
	}
	return false;
}

/* Raise the refusal of action on a service */
static void
scope_refuse(Oid roleid, MiaopiScopeAction action, const char *department,
			 const char *service_code)
{
	const char *role = GetUserNameFromId(roleid, false);
	const char *what = action == MIAOPI_SCOPE_LOAD ? "load rules for" :
		action == MIAOPI_SCOPE_ACT ? "act on applications of" : "submit applications to";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not %s service \"%s\"", role, what,
					service_code ? service_code : ""),
			 department ?
			 errdetail("No row of miaopi.scope with action \"%s\" covers service \"%s\" of department \"%s\" for this role or a role it is a member of.",
					   action_names[action], service_code ? service_code : "", department) :
			 errdetail("No row of miaopi.scope with action \"%s\" covers service \"%s\" (which has no department) for this role or a role it is a member of.",
					   action_names[action], service_code ? service_code : ""),
			 errhint("An administrator grants it with a row of miaopi.scope (role, action, department, service_code).")));
}

/*
 * miaopi_scope_check raises 42501 unless roleid may do action for the
 * service (service_code, department).  Not memoised: for loads, whose
 * services need not exist yet.
 */
void
miaopi_scope_check(Oid roleid, MiaopiScopeAction action,
				   const char *department, const char *service_code)
{
	if (!miaopi_scope_allows(roleid, action, department, service_code))
		scope_refuse(roleid, action, department, service_code);
}

/*
 * miaopi_scope_check_service is miaopi_scope_check for a cached service,
 * memoised per backend: the INSERT's check.
 */
void
miaopi_scope_check_service(Oid roleid, MiaopiScopeAction action,
						   const MiaopiService *svc)
{
	uint64		generation;
	ScopeMemoKey key;
	ScopeMemoEntry *entry;
	bool		found;

	/* superusers pass without touching the memo (superuser_arg caches) */
	if (superuser_arg(roleid))
		return;
	generation = miaopi_service_generation();
	if (scope_last.valid && !scope_stale && scope_last.svc == svc &&
		scope_last.roleid == roleid && scope_last.action == action &&
		scope_last.generation == generation)
	{
		if (!scope_last.allowed)
			scope_refuse(roleid, action, svc->department, svc->code);
		return;
	}

	scope_refresh();
	if (scope_absent)
		return;
	if (scope_memo == NULL || scope_memo_generation != generation)
	{
		HASHCTL		ctl;

		MemSet(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(ScopeMemoKey);
		ctl.entrysize = sizeof(ScopeMemoEntry);
		ctl.hcxt = scope_cxt;
		if (scope_memo != NULL)
			hash_destroy(scope_memo);
		scope_memo = hash_create("miaopi scope answers", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		scope_memo_generation = generation;
	}

	MemSet(&key, 0, sizeof(key));
	key.svc = svc;
	key.roleid = roleid;
	key.action = (int32) action;
	entry = hash_search(scope_memo, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		bool		allowed = miaopi_scope_allows(roleid, action, svc->department, svc->code);

		/* the check may have reloaded the rows: enter the answer afterwards */
		if (scope_memo != NULL && scope_memo_generation == generation)
		{
			entry = hash_search(scope_memo, &key, HASH_ENTER, &found);
			entry->allowed = allowed;
		}
		scope_last.allowed = allowed;
	}
	else
		scope_last.allowed = entry->allowed;

	scope_last.svc = svc;
	scope_last.roleid = roleid;
	scope_last.action = action;
	scope_last.generation = generation;
	scope_last.valid = !scope_stale;
	if (!scope_last.allowed)
		scope_refuse(roleid, action, svc->department, svc->code);
}

/* Append "key": value (the column's text, or null) */
static void
json_field(StringInfo buf, const char *key, HeapTuple tup, TupleDesc desc,
		   const char *column, bool first)
{
	int			attnum = SPI_fnumber(desc, column);
	char	   *value = attnum > 0 ? SPI_getvalue(tup, desc, attnum) : NULL;

	if (!first)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* The JSON object describing one scope row */
static void
scope_json(StringInfo buf, HeapTuple tup, TupleDesc desc)
{
	appendStringInfoChar(buf, '{');
	json_field(buf, "role", tup, desc, "role", true);
	json_field(buf, "action", tup, desc, "action", false);
	json_field(buf, "department", tup, desc, "department", false);
	json_field(buf, "service", tup, desc, "service_code", false);
	appendStringInfoChar(buf, '}');
}

/*
 * SQL: BEFORE INSERT OR UPDATE OR DELETE row trigger on miaopi.scope.
 *
 * Checks that the role exists, stamps granted_at and granted_by and records
 * the change as an event of the system chain (application 0).  A row that
 * arrives stamped from a role owning miaopi's tables (a restore: pg_dump
 * writes the stamps) is kept as it is and recorded no second time; from
 * anyone else the stamps are overwritten.
 */
PG_FUNCTION_INFO_V1(miaopi_scope_record);
Datum
miaopi_scope_record(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	result;
	HeapTuple	described;
	Oid			caller = GetUserId();
	char	   *actor;
	const char *action;
	TimestampTz now = miaopi_now();
	StringInfoData detail;
	MiaopiOwnerSwitch owner;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_scope_record: must be called as a BEFORE row trigger")));
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);

	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		result = trigdata->tg_trigtuple;
		described = result;
		action = "scope_revoke";
	}
	else
	{
		HeapTuple	tup = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ?
			trigdata->tg_trigtuple : trigdata->tg_newtuple;
		int			a_role = SPI_fnumber(desc, "role");
		int			cols[2];
		Datum		vals[2];
		bool		nulls[2] = {false, false};
		bool		isnull;
		Datum		role = heap_getattr(tup, a_role, desc, &isnull);

		if (isnull || !OidIsValid(get_role_oid(NameStr(*DatumGetName(role)), true)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role \"%s\" does not exist",
							isnull ? "" : NameStr(*DatumGetName(role))),
					 errdetail("A scope names an existing role."),
					 errhint("Create the role first, or run miaopi.create_roles() for miaopi's own roles.")));

		cols[0] = SPI_fnumber(desc, "granted_at");
		cols[1] = SPI_fnumber(desc, "granted_by");
		if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		{
			(void) heap_getattr(tup, cols[0], desc, &isnull);
			if (!isnull && pg_class_ownercheck(RelationGetRelid(rel), caller))
				return PointerGetDatum(tup);	/* a restore */
		}
		actor = GetUserNameFromId(caller, false);
		vals[0] = TimestampTzGetDatum(now);
		vals[1] = CStringGetTextDatum(actor);
		result = heap_modify_tuple_by_cols(tup, desc, 2, cols, vals, nulls);
		described = result;
		action = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? "scope_grant" : "scope_change";
	}

	actor = GetUserNameFromId(caller, false);
	initStringInfo(&detail);
	scope_json(&detail, described, desc);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		/* {"role": ..., "old": {...}} */
		detail.len--;
		detail.data[detail.len] = '\0';
		appendStringInfoString(&detail, ", \"old\": ");
		scope_json(&detail, trigdata->tg_trigtuple, desc);
		appendStringInfoChar(&detail, '}');
	}

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	miaopi_event_insert(0, now, action, actor, NULL, NULL, NULL, detail.data);
	SPI_finish();
	miaopi_restore_user(&owner);
	return PointerGetDatum(result);
}
