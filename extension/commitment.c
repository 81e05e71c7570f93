/*-------------------------------------------------------------------------
 *
 * commitment.c
 *	  Commitments (告知承诺): verification dues, act(id, 'verify') and
 *	  act(id, 'verify_failed', reason), the verification light and sweep.
 *
 * A material with "commitment: {verify_within: N}" may be committed to
 * instead of submitted: the client lists it in application.commitments,
 * the evaluator counts it as given (eval.c) and the decision trigger stores
 * N in verify_days.  The approval (by the machine at INSERT, or by a
 * person through act(id, 'approve')) sets verify_due, the end of the Nth
 * working day after it in the service's calendar.  Until the agency closes
 * the verification the clock view shows its light and sweep() records
 * one "verify_overdue" event (and a NOTIFY on miaopi_deadline) once it is
 * past due.
 *
 * act(id, 'verify') closes it; act(id, 'verify_failed', reason) withdraws
 * the approval: status revoked, and every licence the approval issued is
 * revoked through miaopi.revoke_licence() with the same reason.  Licences
 * are found through miaopi.licence.application_id when that table exists
 * (the e-licence feature); without it there is nothing to revoke.
 *
 * Everything here runs inside the caller's SPI connection, as the owner
 * (act() and sweep() switch before calling in).
 *
 * IDENTIFICATION
 *	  extension/commitment.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "calendar.h"
#include "commitment.h"
#include "miaopi.h"
#include "service.h"
#include "workflow.h"

/* Days within which an open verification shows yellow */
#define MIAOPI_VERIFY_YELLOW_DAYS	2

/* The verification columns of one application */
typedef struct VerifyRow
{
	bool		has_days;
	int32		days;
	TimestampTz due;			/* MIAOPI_NO_TS when not set */
	TimestampTz verified_at;
	char	   *status;
	char	   *service_code;
} VerifyRow;

/* Read the verification columns of application id (already locked) */
static bool
read_verify_row(int64 id, VerifyRow *vr)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	values[0] = Int64GetDatum(id);
	if (SPI_execute_with_args("SELECT verify_days, verify_due, verified_at, status, service_code"
							  " FROM miaopi.application WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read application " INT64_FORMAT, id);
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	d = SPI_getbinval(tup, desc, 1, &isnull);
	vr->has_days = !isnull;
	vr->days = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 2, &isnull);
	vr->due = isnull ? MIAOPI_NO_TS : DatumGetTimestampTz(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	vr->verified_at = isnull ? MIAOPI_NO_TS : DatumGetTimestampTz(d);
	vr->status = SPI_getvalue(tup, desc, 4);
	vr->service_code = SPI_getvalue(tup, desc, 5);
	return true;
}

/*
 * Run one UPDATE of application id ($1 of sql) as miaopi's own function:
 * the guard lets exactly that row's UPDATE through.
 */
static void
internal_update(int64 id, const char *sql, int nargs, Oid *argtypes, Datum *values,
				const char *nulls)
{
	int			rc;

	PG_TRY();
	{
		miaopi_allow_update(id);
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		miaopi_forbid_update();
	}
	PG_END_TRY();
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not update application " INT64_FORMAT ": %s", id,
			 SPI_result_code_string(rc));
}

/*
 * miaopi_commitment_on_approve sets the verification due of an application
 * a person has just approved, when a commitment stood in for a material.
 */
void
miaopi_commitment_on_approve(int64 id, const MiaopiService *svc, TimestampTz now)
{
	VerifyRow	vr;
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	StringInfoData detail;

	if (!read_verify_row(id, &vr) || !vr.has_days)
		return;
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(miaopi_add_working_days(svc->calendar, now, vr.days, NULL));
	internal_update(id, "UPDATE miaopi.application SET verify_due = $2"
					" WHERE id OPERATOR(pg_catalog.=) $1", 2, argtypes, values, NULL);
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"verify_days\": %d, \"verify_due\": ", vr.days);
	miaopi_json_timestamp(&detail, DatumGetTimestampTz(values[1]));
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(id, now, "commitment", MIAOPI_MACHINE, "approved", "approved",
						NULL, detail.data);
}

/*
 * Revoke every licence the approval of application id issued.  The licence
 * feature is looked up by name, so this works whether or not it is
 * installed: without miaopi.licence there is nothing to revoke.
 */
static int
revoke_licences(int64 id, const char *reason)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	if (SPI_execute("SELECT 1 WHERE pg_catalog.to_regclass('miaopi.licence') IS NOT NULL"
					" AND pg_catalog.to_regprocedure('miaopi.revoke_licence(text,text)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for miaopi.licence");
	if (SPI_processed == 0)
		return 0;
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(reason);
	if (SPI_execute_with_args("SELECT miaopi.revoke_licence(l.number, $2)"
							  " FROM miaopi.licence l"
							  " WHERE l.application_id OPERATOR(pg_catalog.=) $1"
							  " AND l.status OPERATOR(pg_catalog.<>) ALL ('{revoked,cancelled}'::text[])"
							  " ORDER BY l.id",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not revoke the licences of application " INT64_FORMAT, id);
	return (int) SPI_processed;
}

/*
 * miaopi_commitment_act performs act(id, 'verify' | 'verify_failed',
 * comment) on a locked application and returns its new status.
 */
const char *
miaopi_commitment_act(int64 id, const char *action, const char *comment,
					  const char *actor, TimestampTz now)
{
	bool		failed = (strcmp(action, "verify_failed") == 0);
	VerifyRow	vr;
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2];
	StringInfoData detail;
	int			revoked = 0;

	if (!read_verify_row(id, &vr))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("application " INT64_FORMAT " does not exist", id),
				 errhint("Look the application up in miaopi.application.")));
	if (failed && comment == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("action \"verify_failed\" requires a comment"),
				 errdetail("The applicant must be told why the approval of application " INT64_FORMAT " is withdrawn.", id),
				 errhint("Pass the reason as the third argument of miaopi.act.")));
	if (!vr.has_days)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " has no commitment to verify", id),
				 errdetail("No material of it was committed to (告知承诺) instead of submitted."),
				 errhint("Only an approval given on commitments is verified afterwards.")));
	if (MIAOPI_HAS_TS(vr.verified_at))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the commitments of application " INT64_FORMAT " are already verified", id),
				 errdetail("The verification was closed at %s.", timestamptz_to_str(vr.verified_at)),
				 errhint("A verification is closed once, by verify or verify_failed.")));
	if (strcmp(vr.status, "approved") != 0 || !MIAOPI_HAS_TS(vr.due))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("action \"%s\" is not allowed while application " INT64_FORMAT " is \"%s\"",
						action, id, vr.status),
				 errdetail("Commitments are verified after the approval."),
				 errhint("Approve the application first, or act on it with the workflow's actions.")));

	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(now);
	if (failed)
		internal_update(id, "UPDATE miaopi.application SET verified_at = $2, status = 'revoked',"
						" closed_at = COALESCE(closed_at, $2)"
						" WHERE id OPERATOR(pg_catalog.=) $1", 2, argtypes, values, NULL);
	else
		internal_update(id, "UPDATE miaopi.application SET verified_at = $2"
						" WHERE id OPERATOR(pg_catalog.=) $1", 2, argtypes, values, NULL);

	if (failed)
		revoked = revoke_licences(id, comment);

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"verify_due\": ");
	miaopi_json_timestamp(&detail, vr.due);
	appendStringInfo(&detail, ", \"late\": %s", now > vr.due ? "true" : "false");
	if (failed)
		appendStringInfo(&detail, ", \"licences_revoked\": %d", revoked);
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(id, now, action, actor, "approved", failed ? "revoked" : "approved",
						comment, detail.data);
	return failed ? "revoked" : "approved";
}

/*
 * miaopi_commitment_sweep records, once, every verification past its due:
 * a "verify_overdue" event and a NOTIFY on miaopi_deadline.  Returns how
 * many it found.
 */
int64
miaopi_commitment_sweep(TimestampTz now)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	SPITupleTable *tt;
	uint64		n;
	uint64		i;

	values[0] = TimestampTzGetDatum(now);
	if (SPI_execute_with_args("SELECT a.id, a.verify_due, a.service_code FROM miaopi.application a"
							  " WHERE a.verify_due OPERATOR(pg_catalog.<) $1"
							  " AND a.verified_at IS NULL AND a.verify_due IS NOT NULL"
							  " AND a.status OPERATOR(pg_catalog.=) 'approved'"
							  " AND NOT EXISTS (SELECT 1 FROM miaopi.event e"
							  "  WHERE e.application_id OPERATOR(pg_catalog.=) a.id"
							  "  AND e.action OPERATOR(pg_catalog.=) 'verify_overdue')"
							  " ORDER BY a.id FOR UPDATE OF a SKIP LOCKED",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look for overdue verifications");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		TimestampTz due = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		char	   *service = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
		StringInfoData detail;
		StringInfoData payload;

		initStringInfo(&detail);
		appendStringInfoString(&detail, "{\"light\": \"overdue\", \"cause\": \"verify\", \"due\": ");
		miaopi_json_timestamp(&detail, due);
		appendStringInfoChar(&detail, '}');
		miaopi_event_insert(id, now, "verify_overdue", MIAOPI_MACHINE, "approved", "approved",
							NULL, detail.data);

		initStringInfo(&payload);
		appendStringInfo(&payload, "{\"application\": " INT64_FORMAT ", \"service\": ", id);
		escape_json(&payload, service);
		appendStringInfoString(&payload, ", \"event\": \"verify_overdue\", \"due\": ");
		miaopi_json_timestamp(&payload, due);
		appendStringInfoChar(&payload, '}');
		Async_Notify(MIAOPI_DEADLINE_CHANNEL, payload.data);
		CHECK_FOR_INTERRUPTS();
	}
	return (int64) n;
}

/*
 * SQL: miaopi.verify_light(service_code, status, verify_due, verified_at)
 * returns miaopi.light: green, yellow within two working days of the due,
 * overdue past it; NULL when there is nothing to verify or it is closed.
 */
PG_FUNCTION_INFO_V1(miaopi_verify_light);
Datum
miaopi_verify_light(PG_FUNCTION_ARGS)
{
	text	   *code;
	char	   *status;
	TimestampTz due;
	TimestampTz now;
	const MiaopiService *svc;
	const char *label;
	Oid			typid;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || !PG_ARGISNULL(3))
		PG_RETURN_NULL();
	status = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(status, "approved") != 0)
		PG_RETURN_NULL();
	code = PG_GETARG_TEXT_PP(0);
	due = PG_GETARG_TIMESTAMPTZ(2);
	now = miaopi_now();
	svc = miaopi_service_lookup(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), true);
	if (now > due)
		label = "overdue";
	else if (svc != NULL &&
			 miaopi_working_days_between(svc->calendar, now, due, NULL) <= MIAOPI_VERIFY_YELLOW_DAYS)
		label = "yellow";
	else
		label = "green";
	typid = get_fn_expr_rettype(fcinfo->flinfo);
	if (!OidIsValid(typid))
		elog(ERROR, "could not determine the result type of verify_light");
	PG_RETURN_DATUM(DirectFunctionCall2(enum_in, CStringGetDatum(label), ObjectIdGetDatum(typid)));
}
