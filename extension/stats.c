/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  The two C helpers behind the miaopi.stats_* views: not_passed(), which
 *	  condenses a decision's reasons into the short array the generated
 *	  column application.not_passed stores, and ruleset_checks(), the checks
 *	  of one stored ruleset in file order.
 *
 * Why a generated column.  stats_checks counts, per check, how often it
 * failed or errored and which outcomes it caused.  Unpacking the reasons
 * array of every application (one JSON object per check) costs about a
 * microsecond per check, several seconds over a million applications.
 * Most applications pass every check, so a column that holds only what did
 * not pass, NULL when everything passed, turns that into a scan of a
 * narrow column and an unnest of a few short arrays.  PostgreSQL computes
 * it after the decision trigger has written reasons, and again on every
 * UPDATE (reasons never change, so neither does it); nobody can write it.
 * Each element is "<how>:<check id>" with how one of
 *	 r	the check failed and its on_fail is reject (also missing_material
 *		and invalid_payload, which always reject)
 *	 m	the check failed and its on_fail is manual
 *	 e	the check raised an error (the machine never approves on one)
 * in the order of reasons (file order), each id once.
 *
 * local_date() gives the date of a timestamp in a calendar's time zone
 * through the calendar cache, much cheaper per row than timezone(text, ...)
 * with a zone name looked up on every call; stats_daily groups by it.
 *
 * ruleset_checks() compiles a ruleset through the per-backend program
 * cache (cache.c), so the views list checks that never failed too.
 *
 * IDENTIFICATION
 *	  extension/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#include "cache.h"
#include "calendar.h"

/* The string value of key in a JSON object container, or NULL */
static JsonbValue *
object_string(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return v;
}

/* Whether string value v equals s */
static bool
string_is(const JsonbValue *v, const char *s)
{
	int			len = strlen(s);

	return v->val.string.len == len && memcmp(v->val.string.val, s, len) == 0;
}

/* SQL: miaopi.not_passed(reasons jsonb) returns text[] */
PG_FUNCTION_INFO_V1(miaopi_not_passed);
Datum
miaopi_not_passed(PG_FUNCTION_ARGS)
{
	Jsonb	   *reasons = PG_GETARG_JSONB_P(0);
	Datum	   *elems;
	int			nelems = 0;
	int			n,
				i;
	char	   *last = NULL;

	if (!JB_ROOT_IS_ARRAY(reasons) || JB_ROOT_IS_SCALAR(reasons))
		PG_RETURN_NULL();
	n = JB_ROOT_COUNT(reasons);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(&reasons->root, i);
		JsonbValue *result,
				   *check,
				   *on_fail;
		char		how;
		char	   *item;

		if (r == NULL || r->type != jbvBinary ||
			!JsonContainerIsObject(r->val.binary.data))
			continue;
		result = object_string(r->val.binary.data, "result");
		check = object_string(r->val.binary.data, "check");
		if (result == NULL || check == NULL || string_is(result, "pass"))
			continue;
		if (string_is(result, "error"))
			how = 'e';
		else
		{
			on_fail = object_string(r->val.binary.data, "on_fail");
			how = (on_fail != NULL && string_is(on_fail, "manual")) ? 'm' : 'r';
		}
		item = psprintf("%c:%.*s", how, check->val.string.len, check->val.string.val);
		/* missing_material comes once per missing material: keep one */
		if (last != NULL && strcmp(last, item) == 0)
			continue;
		elems[nelems++] = CStringGetTextDatum(item);
		last = item;
	}
	if (nelems == 0)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, nelems, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

/*
 * SQL: miaopi.ruleset_checks(ruleset bigint) returns table(ordinal int,
 * check_id text, on_fail text): the checks of a stored ruleset in file
 * order, after the two codes every decision may report before them
 * (invalid_payload when the service declares fields, missing_material
 * when it requires materials; ordinal 0).
 */
PG_FUNCTION_INFO_V1(miaopi_ruleset_checks);
Datum
miaopi_ruleset_checks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MiaopiProgram *prog;
	MrService  *svc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		required = false;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	prog = miaopi_cache_program(PG_GETARG_INT64(0));
	svc = prog->svc;

	for (i = 0; i < svc->nmaterials; i++)
		required |= svc->materials[i].required;
	values[0] = Int32GetDatum(0);
	values[2] = CStringGetTextDatum("reject");
	if (svc->nfields > 0)
	{
		values[1] = CStringGetTextDatum("invalid_payload");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (required)
	{
		values[1] = CStringGetTextDatum("missing_material");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (i = 0; i < svc->nchecks; i++)
	{
		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(pg_any_to_server(svc->checks[i].id,
														 strlen(svc->checks[i].id),
														 PG_UTF8));
		values[2] = CStringGetTextDatum(svc->checks[i].on_fail == MR_ON_FAIL_REJECT ?
										"reject" : "manual");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	miaopi_cache_release(prog);
	return (Datum) 0;
}

/* SQL: miaopi.local_date(ts timestamptz, calendar text) returns date */
PG_FUNCTION_INFO_V1(miaopi_local_date);
Datum
miaopi_local_date(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	char	   *calendar = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot take the date of an infinite timestamp"),
				 errhint("Give a finite timestamp.")));
	PG_RETURN_DATEADT(miaopi_calendar_local_date(calendar, ts));
}
