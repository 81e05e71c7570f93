/*-------------------------------------------------------------------------
 *
 * miaopi.c
 *	  Module initialisation, settings and the one clock.
 *
 * miaopi.clock_now lets a superuser pin the time miaopi sees, so tests,
 * demos and replays can walk through weeks of deadlines in seconds.  It is
 * parsed once in its check hook; miaopi_now() reads the parsed value.
 *
 * IDENTIFICATION
 *	  extension/miaopi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "ledger.h"
#include "lookup.h"
#include "miaopi.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

bool		miaopi_lookup_direct = true;

static char *miaopi_clock_now = NULL;

/*
 * What miaopi.clock_now holds, as the check hook hands it to the assign hook
 * through *extra.  A value set while datetime input is not usable yet (a
 * parallel worker restoring its leader's settings, or postmaster start-up,
 * where the time zone abbreviations may not be loaded) is kept unparsed and
 * parsed on first use instead.
 */
typedef struct ClockSetting
{
	bool		parsed;
	TimestampTz value;
} ClockSetting;

static bool clock_pinned = false;
static ClockSetting clock_setting;

/*
 * parse_timestamptz parses str as timestamptz_in does, without raising an
 * error (a GUC check hook must not), and returns false if it is not one.
 */
static bool
parse_timestamptz(const char *str, TimestampTz *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			tz;
	fsec_t		fsec;
	struct pg_tm tt;

	if (strlen(str) >= MAXDATELEN)
		return false;
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0)
		return false;
	if (dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &tz, result) == 0;
}

/*
 * Check hook for miaopi.clock_now: empty means "use now()"; anything else
 * must be a timestamptz.  The parsed value travels through *extra.
 */
static bool
check_clock_now(char **newval, void **extra, GucSource source)
{
	ClockSetting *setting;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	/* PG15 has no exported guc_malloc; the GUC machinery free()s extra */
	setting = (ClockSetting *) malloc(sizeof(ClockSetting));
	if (setting == NULL)
		return false;
	setting->parsed = false;
	setting->value = 0;

	if (IsNormalProcessingMode() && !InitializingParallelWorker)
	{
		if (!parse_timestamptz(*newval, &setting->value))
		{
			free(setting);
			GUC_check_errdetail("miaopi.clock_now must be empty or a timestamp with time zone.");
			return false;
		}
		setting->parsed = true;
	}
	*extra = setting;
	return true;
}

/* Assign hook for miaopi.clock_now: only copies what the check hook made */
static void
assign_clock_now(const char *newval, void *extra)
{
	clock_pinned = (extra != NULL);
	if (extra != NULL)
		clock_setting = *(ClockSetting *) extra;
}

/*
 * Module load callback
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("miaopi.clock_now",
							   "Sets the time miaopi uses instead of now().",
							   "Empty uses the transaction start time, as now() does.",
							   &miaopi_clock_now,
							   "",
							   PGC_SUSET,
							   0,
							   check_clock_now,
							   assign_clock_now,
							   NULL);

	DefineCustomBoolVariable("miaopi.lookup_direct",
							 "Enables direct index probes for rule lookups.",
							 "Off runs every lookup as a prepared SQL query instead.",
							 &miaopi_lookup_direct,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("miaopi.ledger_hash",
							 "Enables the audit ledger's hash of each application the INSERT decides.",
							 "Off stores no application.hash: verify_events() then reports every such application.  For measurements only.",
							 &miaopi_ledger_hash,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("miaopi");
}

/*
 * miaopi_now returns the time every miaopi timestamp comes from.
 */
TimestampTz
miaopi_now(void)
{
	if (!clock_pinned)
		return GetCurrentTransactionStartTimestamp();
	if (!clock_setting.parsed)
	{
		if (!parse_timestamptz(miaopi_clock_now, &clock_setting.value))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
					 errmsg("invalid value for miaopi.clock_now: \"%s\"", miaopi_clock_now),
					 errhint("Set it to a timestamp with time zone, or to '' for now().")));
		clock_setting.parsed = true;
	}
	return clock_setting.value;
}

/* SQL: miaopi.now() */
PG_FUNCTION_INFO_V1(miaopi_now_sql);
Datum
miaopi_now_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(miaopi_now());
}

/*
 * miaopi_schema_oid returns the OID of schema miaopi, erroring if it is gone.
 */
Oid
miaopi_schema_oid(void)
{
	return get_namespace_oid(MIAOPI_SCHEMA, false);
}

/*
 * miaopi_relid returns the OID of miaopi.<relname>.
 */
Oid
miaopi_relid(const char *relname)
{
	Oid			relid = get_relname_relid(relname, miaopi_schema_oid());

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", MIAOPI_SCHEMA, relname),
				 errhint("Run CREATE EXTENSION miaopi, or ALTER EXTENSION miaopi UPDATE.")));
	return relid;
}

/*
 * miaopi_become_owner switches to the owner of miaopi's tables for the work
 * that follows, as PostgreSQL's maintenance commands do for a table owner's
 * code (VACUUM, index builds): the caller's roles need no privilege on
 * miaopi's internal tables, and nothing of the caller's runs with the
 * owner's rights.
 *
 *  - SECURITY_RESTRICTED_OPERATION: no SET ROLE, no temporary objects, no
 *    LISTEN; whatever a hostile trigger or function might try is refused.
 *  - search_path = pg_catalog, pg_temp under a new GUC nest level, so no
 *    name in miaopi's SQL can resolve to an object on the caller's path
 *    (miaopi's SQL also qualifies every operator and function).
 *
 * miaopi_restore_user undoes both.  An ERROR in between restores them at
 * (sub)transaction abort, as for any GUC nest level and user switch.
 */
void
miaopi_become_owner(MiaopiOwnerSwitch *sw)
{
	Oid			relid = miaopi_relid("application");
	HeapTuple	tp;
	Oid			owner;

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(owner, sw->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->save_nestlevel = miaopi_pin_search_path();
}

/* Switch back to the caller, and to the caller's search_path */
void
miaopi_restore_user(MiaopiOwnerSwitch *sw)
{
	AtEOXact_GUC(false, sw->save_nestlevel);
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}

/*
 * miaopi_pin_search_path sets search_path to pg_catalog, pg_temp until
 * AtEOXact_GUC(false, level) with the level it returns.  Used around every
 * SQL text miaopi runs, as the owner or not.
 */
int
miaopi_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}
