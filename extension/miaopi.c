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

#include "lookup.h"
#include "miaopi.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

bool		miaopi_internal_update = false;
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
							 PGC_USERSET,
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
 * miaopi_become_owner switches to the owner of miaopi's tables for the SPI
 * work that follows, as ri_triggers.c does for foreign keys: the agency's
 * roles need no privileges on miaopi's internal tables.  An ERROR restores
 * the user at abort.
 */
void
miaopi_become_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			relid = miaopi_relid("application");
	HeapTuple	tp;
	Oid			owner;

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner, *save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Switch back to the caller */
void
miaopi_restore_user(Oid save_userid, int save_sec_context)
{
	SetUserIdAndSecContext(save_userid, save_sec_context);
}
