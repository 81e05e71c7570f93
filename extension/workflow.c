/*-------------------------------------------------------------------------
 *
 * workflow.c
 *	  The manual workflow: act(), pause(), resume(), extend(), and the
 *	  helpers that read, move and record applications (also used by sweep).
 *
 * State machine.  Each kind has its sequence of steps: licence accept ->
 * review -> decide -> deliver; public_service accept -> decide -> deliver;
 * filing decide -> deliver.  A service's steps list may drop accept and
 * review.  Without an accept step an application counts as accepted at
 * submission; the first action on it writes that down.  Statuses:
 *
 *	 pending	 --accept--> accepted --review--> reviewed --approve|reject-->
 *	 approved|rejected --deliver--> (same status, closed_at set)
 *	 pending	 --refuse--> refused; any open undecided --withdraw--> withdrawn
 *	 pending	 --request_supplement--> supplement --supplement_received-->
 *				 accepted (the clock starts the day after the supplement)
 *	 accepted|reviewed --request_supplement--> supplement (clock paused)
 *				 --supplement_received--> back, dues moved by the pause
 *
 * A supplement may be requested once before and once after acceptance
 * (art. 32: every missing item in one notice).  For licences the person
 * who reviewed (the login role, session_user, whatever SET ROLE said) may
 * not approve or reject (four eyes).  Every function here first checks that
 * the calling role has an act scope for the application's service
 * (scope.c).  An action refused in the
 * current state raises 55000 with the allowed actions in the hint; since
 * every check runs before the first write and the whole call is one
 * statement, a refused action changes nothing.
 *
 * Writes.  The decision trigger's guard refuses any direct UPDATE of
 * miaopi.application but the one miaopi_allow_update(id) announces: that
 * of row id, once; we announce it around our single parameterised UPDATE
 * and withdraw it in PG_FINALLY.  The row is locked FOR UPDATE first.  All SPI work runs as the owner of the
 * application table (SetUserIdAndSecContext, as ri_triggers.c does), so a
 * reviewer needs EXECUTE on act() and nothing else, while the actor we
 * record and check is the caller's current_user.  Every action, pause,
 * resume, extension, deemed acceptance and deadline crossing is appended
 * to miaopi.event.  Every time comes from miaopi_now().
 *
 * IDENTIFICATION
 *	  extension/workflow.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "calendar.h"
#include "clock.h"
#include "commitment.h"
#include "ledger.h"
#include "licence.h"
#include "miaopi.h"
#include "scope.h"
#include "application.h"
#include "workflow.h"

typedef enum MiaopiAction
{
	ACT_ACCEPT,
	ACT_REFUSE,
	ACT_REQUEST_SUPPLEMENT,
	ACT_SUPPLEMENT_RECEIVED,
	ACT_REVIEW,
	ACT_APPROVE,
	ACT_REJECT,
	ACT_DELIVER,
	ACT_WITHDRAW,
	ACT_COUNT
} MiaopiAction;

static const char *const action_names[] = {
	"accept", "refuse", "request_supplement", "supplement_received",
	"review", "approve", "reject", "deliver", "withdraw"
};

static const char *const pause_reasons[] = {
	"supplement", "hearing", "inspection", "expert_review", "public_notice", "other"
};

#define A(act) (1u << (act))

/* Plans kept for the life of the backend */
static SPIPlanPtr plan_reviewer = NULL;
static SPIPlanPtr plan_reviewer_1_0 = NULL;
static SPIPlanPtr plan_extended = NULL;


/*
 * accept_implicitly writes down that an application of a service without
 * an accept step was accepted at submission, its current step running
 * since then.
 */
static void
accept_implicitly(const MiaopiService *svc, MiaopiAppRow *row)
{
	if (row->status != MIAOPI_ST_PENDING || svc->has_step[MIAOPI_STEP_ACCEPT])
		return;
	miaopi_app_accept(svc, row, row->submitted_at, row->submitted_at);
}

/* Add days working days to a due (NO_TS stays) */
static TimestampTz
move_due(const MiaopiService *svc, TimestampTz due, int days, bool *prov)
{
	if (!MIAOPI_HAS_TS(due) || days <= 0)
		return due;
	return miaopi_add_working_days(svc->calendar, due, days, prov);
}

/*
 * end_pause ends row's pause at now: both dues and the step due move by
 * the working days paused.  Returns those days.
 */
static int
end_pause(const MiaopiService *svc, MiaopiAppRow *row, TimestampTz now)
{
	int			days;
	bool		prov = false;

	days = miaopi_working_days_between(svc->calendar, row->paused_at, now, NULL);
	if (days < 0)
		days = 0;
	row->promised_due = move_due(svc, row->promised_due, days, &prov);
	row->statutory_due = move_due(svc, row->statutory_due, days, &prov);
	row->step_due = move_due(svc, row->step_due, days, &prov);
	if (prov)
		row->clock_flags |= MIAOPI_FLAG_PROVISIONAL;
	row->paused_days += days;
	row->paused_at = MIAOPI_NO_TS;
	return days;
}

/* JSON detail of the dues after a move; automatic marks a pause ended by an action */
static char *
dues_detail(const MiaopiAppRow *row, const char *extra_key, int extra,
			bool automatic)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (extra_key)
		appendStringInfo(&buf, "\"%s\": %d, ", extra_key, extra);
	if (automatic)
		appendStringInfoString(&buf, "\"automatic\": true, ");
	appendStringInfoString(&buf, "\"promised_due\": ");
	miaopi_json_timestamp(&buf, row->promised_due);
	appendStringInfoString(&buf, ", \"statutory_due\": ");
	miaopi_json_timestamp(&buf, row->statutory_due);
	appendStringInfoString(&buf, ", \"step_due\": ");
	miaopi_json_timestamp(&buf, row->step_due);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The list of actions in mask, for hints */
static char *
action_list(uint32 mask)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < ACT_COUNT; i++)
	{
		if (mask & A(i))
		{
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			appendStringInfoString(&buf, action_names[i]);
		}
	}
	return buf.data;
}

/*
 * allowed_actions returns the actions row's state allows, ignoring the
 * once-per-stage rule of request_supplement.
 */
static uint32
allowed_actions(const MiaopiService *svc, const MiaopiAppRow *row)
{
	if (MIAOPI_HAS_TS(row->closed_at))
		return 0;
	switch (row->status)
	{
		case MIAOPI_ST_PENDING:
			if (svc->has_step[MIAOPI_STEP_ACCEPT])
				return A(ACT_ACCEPT) | A(ACT_REFUSE) | A(ACT_REQUEST_SUPPLEMENT) |
					A(ACT_WITHDRAW);
			/* accepted at submission */
			/* FALLTHROUGH */
		case MIAOPI_ST_ACCEPTED:
			return A(ACT_REQUEST_SUPPLEMENT) | A(ACT_WITHDRAW) |
				(svc->has_step[MIAOPI_STEP_REVIEW] ? A(ACT_REVIEW) :
				 A(ACT_APPROVE) | A(ACT_REJECT));
		case MIAOPI_ST_REVIEWED:
			return A(ACT_APPROVE) | A(ACT_REJECT) | A(ACT_REQUEST_SUPPLEMENT) |
				A(ACT_WITHDRAW);
		case MIAOPI_ST_SUPPLEMENT:
			return A(ACT_SUPPLEMENT_RECEIVED) | A(ACT_WITHDRAW) |
				(MIAOPI_HAS_TS(row->accepted_at) ? 0 : A(ACT_REFUSE));
		case MIAOPI_ST_APPROVED:
		case MIAOPI_ST_REJECTED:
			return A(ACT_DELIVER);
		default:
			return 0;
	}
}

/* Has row used its supplement request of the current stage? */
static bool
supplement_used(const MiaopiService *svc, const MiaopiAppRow *row)
{
	bool		accepted = MIAOPI_HAS_TS(row->accepted_at) ||
		!svc->has_step[MIAOPI_STEP_ACCEPT];

	return (row->clock_flags &
			(accepted ? MIAOPI_FLAG_SUPPLEMENT_POST : MIAOPI_FLAG_SUPPLEMENT_PRE)) != 0;
}

/*
 * The login role (session_user) that last reviewed application id, or
 * NULL.  Events recorded before 1.1 name only the role that acted; a
 * database still on 1.0 has no session_actor column at all.
 */
static char *
last_reviewer(int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	SPIPlanPtr	plan;

	if (get_attnum(miaopi_relid("event"), "session_actor") != InvalidAttrNumber)
		plan = miaopi_kept_plan(&plan_reviewer,
						 "SELECT COALESCE(session_actor, actor) FROM miaopi.event"
						 " WHERE application_id OPERATOR(pg_catalog.=) $1"
						 " AND action OPERATOR(pg_catalog.=) 'review'"
						 " ORDER BY id DESC LIMIT 1",
						 1, argtypes);
	else
		plan = miaopi_kept_plan(&plan_reviewer_1_0,
						 "SELECT actor FROM miaopi.event"
						 " WHERE application_id OPERATOR(pg_catalog.=) $1"
						 " AND action OPERATOR(pg_catalog.=) 'review'"
						 " ORDER BY id DESC LIMIT 1",
						 1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read events of application " INT64_FORMAT, id);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* Was application id extended already? */
static bool
was_extended(int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	SPIPlanPtr	plan;

	plan = miaopi_kept_plan(&plan_extended,
					 "SELECT 1 FROM miaopi.event"
					 " WHERE application_id OPERATOR(pg_catalog.=) $1"
					 " AND action OPERATOR(pg_catalog.=) 'extend' LIMIT 1",
					 1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read events of application " INT64_FORMAT, id);
	return SPI_processed > 0;
}

/* Raise the error for a NULL argument */
static void
null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be null", name)));
}

/* Comment text, trimmed; NULL when absent or blank */
static char *
comment_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *s;
	char	   *end;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
					   end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return *s ? s : NULL;
}

/*
 * lock_application locks application id for an action, or raises
 * "does not exist"; also returns its service.
 */
static const MiaopiService *
lock_application(int64 id, MiaopiAppRow *row)
{
	if (!miaopi_app_lock(id, false, row))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("application " INT64_FORMAT " does not exist", id),
				 errhint("Look the application up in miaopi.application.")));
	return miaopi_service_lookup(row->service_code, strlen(row->service_code), false);
}

/* Raise "closed" for a closed application */
static void
refuse_closed(const MiaopiAppRow *row, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("application " INT64_FORMAT " is closed", row->id),
			 errdetail("It was closed as \"%s\" at %s.", miaopi_status_name(row->status),
					   timestamptz_to_str(row->closed_at)),
			 errhint("Only an open application can be %s.", what)));
}

/* SQL: miaopi.act(application_id bigint, action text, comment text) */
PG_FUNCTION_INFO_V1(miaopi_act);
Datum
miaopi_act(PG_FUNCTION_ARGS)
{
	int64		id;
	char	   *action_name;
	char	   *comment;
	char	   *actor;
	char	   *person;
	Oid			caller;
	MiaopiAction act;
	MiaopiAppRow row;
	const MiaopiService *svc;
	MiaopiClock k;
	MiaopiStatus old_status;
	MiaopiStep old_step;
	TimestampTz now;
	uint32		allowed;
	MiaopiOwnerSwitch owner;
	StringInfoData detail;
	int			i;

	if (PG_ARGISNULL(0))
		null_argument("application_id");
	if (PG_ARGISNULL(1))
		null_argument("action");
	id = PG_GETARG_INT64(0);
	action_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	comment = comment_arg(fcinfo, 2);

	for (i = 0; i < ACT_COUNT; i++)
		if (strcmp(action_name, action_names[i]) == 0)
			break;
	if (i == ACT_COUNT &&
		strcmp(action_name, "verify") != 0 && strcmp(action_name, "verify_failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown action \"%s\"", action_name),
				 errdetail("miaopi.act was called for application " INT64_FORMAT ".", id),
				 errhint("Actions are: %s, verify, verify_failed.", action_list(A(ACT_COUNT) - 1))));
	act = (MiaopiAction) i;

	caller = GetUserId();
	actor = GetUserNameFromId(caller, false);
	person = GetUserNameFromId(GetSessionUserId(), false);
	now = miaopi_now();
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	svc = lock_application(id, &row);
	miaopi_scope_check_service(caller, MIAOPI_SCOPE_ACT, svc);
	old_status = row.status;
	old_step = miaopi_current_step(svc, &row);

	/* Verifying commitments (告知承诺) comes after the approval (commitment.c) */
	if (act == ACT_COUNT)
	{
		const char *status = miaopi_commitment_act(id, action_name, comment, actor, now);

		SPI_finish();
		miaopi_restore_user(&owner);
		PG_RETURN_TEXT_P(cstring_to_text(status));
	}

	/* Is the action allowed now? */
	allowed = allowed_actions(svc, &row);
	if (supplement_used(svc, &row))
	{
		allowed &= ~A(ACT_REQUEST_SUPPLEMENT);
		if (act == ACT_REQUEST_SUPPLEMENT && allowed != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a supplement was already requested for application " INT64_FORMAT " %s acceptance",
							id, MIAOPI_HAS_TS(row.accepted_at) ? "after" : "before"),
					 errdetail("Article 32 requires one notice naming every missing item at once (一次性告知)."),
					 errhint("Allowed now: %s.", action_list(allowed))));
	}
	if ((allowed & A(act)) == 0)
	{
		if (allowed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("action \"%s\" is not allowed while application " INT64_FORMAT " is \"%s\"",
							action_name, id, miaopi_status_name(row.status)),
					 errdetail("The application is closed."),
					 errhint("No action is allowed on a closed application.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("action \"%s\" is not allowed while application " INT64_FORMAT " is \"%s\"",
						action_name, id, miaopi_status_name(row.status)),
				 old_step != MIAOPI_STEP_NONE ?
				 errdetail("Its current step is \"%s\" (a %s).", miaopi_step_name(old_step),
						   miaopi_kind_name(svc->kind)) : 0,
				 errhint("Allowed now: %s.", action_list(allowed))));
	}

	/* Actions that must say why */
	if (comment == NULL &&
		(act == ACT_REFUSE || act == ACT_REQUEST_SUPPLEMENT || act == ACT_REJECT))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("action \"%s\" requires a comment", action_name),
				 act == ACT_REQUEST_SUPPLEMENT ?
				 errdetail("A supplement request (补正) must name every missing item at once.") :
				 errdetail("The applicant must be told the reasons for a %s.",
						   act == ACT_REFUSE ? "refusal (不予受理)" : "rejection"),
				 errhint("Pass the comment as the third argument of miaopi.act.")));

	/*
	 * Four eyes: the person who reviewed a licence may not decide it.  The
	 * person is the login role (session_user), whatever SET ROLE says.
	 */
	if ((act == ACT_APPROVE || act == ACT_REJECT) &&
		svc->kind == MIAOPI_KIND_LICENCE && svc->has_step[MIAOPI_STEP_REVIEW])
	{
		char	   *reviewer = last_reviewer(id);

		if (reviewer != NULL && strcmp(reviewer, person) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("login role \"%s\" reviewed application " INT64_FORMAT " and may not also decide it",
							person, id),
					 errdetail("A licence needs a reviewer and a decider who are different people (four eyes), whatever role each acts as."),
					 errhint("Have another person approve or reject it.")));
	}

	/* Record the breaches so far, before anything moves */
	miaopi_clock_compute(svc, &row, now, &k, MIAOPI_CLOCK_LIGHT);
	miaopi_record_crossings(svc, &row, &k, now, false);

	/* Any action but the supplement's own arrival ends a pause first */
	if (MIAOPI_HAS_TS(row.paused_at) && act != ACT_SUPPLEMENT_RECEIVED)
	{
		int			days = end_pause(svc, &row, now);

		miaopi_event_insert(id, now, "resume", actor, miaopi_status_name(row.status),
							miaopi_status_name(row.status), NULL,
							dues_detail(&row, "paused_days", days, true));
	}
	accept_implicitly(svc, &row);

	initStringInfo(&detail);
	switch (act)
	{
		case ACT_ACCEPT:
			miaopi_app_accept(svc, &row, now, now);
			break;
		case ACT_REFUSE:
		case ACT_WITHDRAW:
			row.status = (act == ACT_REFUSE) ? MIAOPI_ST_REFUSED : MIAOPI_ST_WITHDRAWN;
			row.closed_at = now;
			row.step_due = MIAOPI_NO_TS;
			break;
		case ACT_REQUEST_SUPPLEMENT:
			if (!MIAOPI_HAS_TS(row.accepted_at))
			{
				/* before acceptance: the clock does not start until it arrives */
				row.clock_flags |= MIAOPI_FLAG_SUPPLEMENT_PRE;
				row.step_due = MIAOPI_NO_TS;
				appendStringInfoString(&detail, "{\"stage\": \"before_acceptance\"}");
			}
			else
			{
				/* after acceptance: the clock pauses until it arrives */
				row.clock_flags |= MIAOPI_FLAG_SUPPLEMENT_POST;
				if (row.status == MIAOPI_ST_REVIEWED)
					row.clock_flags |= MIAOPI_FLAG_FROM_REVIEWED;
				else
					row.clock_flags &= ~MIAOPI_FLAG_FROM_REVIEWED;
				row.paused_at = now;
				appendStringInfoString(&detail, "{\"stage\": \"after_acceptance\"}");
			}
			row.status = MIAOPI_ST_SUPPLEMENT;
			break;
		case ACT_SUPPLEMENT_RECEIVED:
			if (!MIAOPI_HAS_TS(row.accepted_at))
			{
				/* accepted on arrival; counting starts the next day */
				miaopi_app_accept(svc, &row, now, now);
				appendStringInfoString(&detail, dues_detail(&row, NULL, 0, false));
			}
			else
			{
				int			days = MIAOPI_HAS_TS(row.paused_at) ?
					end_pause(svc, &row, now) : 0;

				row.status = (row.clock_flags & MIAOPI_FLAG_FROM_REVIEWED) ?
					MIAOPI_ST_REVIEWED : MIAOPI_ST_ACCEPTED;
				row.clock_flags &= ~MIAOPI_FLAG_FROM_REVIEWED;
				appendStringInfoString(&detail, dues_detail(&row, "paused_days", days, false));
			}
			break;
		case ACT_REVIEW:
			row.status = MIAOPI_ST_REVIEWED;
			miaopi_enter_step(svc, &row, MIAOPI_STEP_DECIDE, now);
			break;
		case ACT_APPROVE:
		case ACT_REJECT:
			row.status = (act == ACT_APPROVE) ? MIAOPI_ST_APPROVED : MIAOPI_ST_REJECTED;
			row.decision = (act == ACT_APPROVE) ? "approve" : "reject";
			row.decided_at = now;
			row.decided_by = actor;
			miaopi_enter_step(svc, &row, MIAOPI_STEP_DELIVER, now);
			break;
		case ACT_DELIVER:
			row.closed_at = now;
			row.step_due = MIAOPI_NO_TS;
			break;
		case ACT_COUNT:
			elog(ERROR, "unexpected action");
	}

	if (detail.len == 0)
	{
		MiaopiStep	new_step = miaopi_current_step(svc, &row);

		appendStringInfoString(&detail, "{\"step\": ");
		if (old_step != MIAOPI_STEP_NONE)
			escape_json(&detail, miaopi_step_name(old_step));
		else
			appendStringInfoString(&detail, "null");
		appendStringInfoString(&detail, ", \"next_step\": ");
		if (new_step != MIAOPI_STEP_NONE)
			escape_json(&detail, miaopi_step_name(new_step));
		else
			appendStringInfoString(&detail, "null");
		appendStringInfoString(&detail, ", \"step_due\": ");
		miaopi_json_timestamp(&detail, row.step_due);
		appendStringInfoString(&detail, ", \"promised_due\": ");
		miaopi_json_timestamp(&detail, row.promised_due);
		appendStringInfoString(&detail, ", \"statutory_due\": ");
		miaopi_json_timestamp(&detail, row.statutory_due);
		appendStringInfoChar(&detail, '}');
	}

	/* one more step taken, for the statistics (clock.h) */
	row.clock_flags = MIAOPI_FLAGS_ADD_STEP(row.clock_flags);
	miaopi_app_update(&row);
	miaopi_event_insert(id, now, action_names[act], actor,
						miaopi_status_name(old_status), miaopi_status_name(row.status),
						comment, detail.data);
	if (act == ACT_APPROVE)
		miaopi_commitment_on_approve(id, svc, now);

	/* an approval issues the service's e-licence in the same transaction */
	if (act == ACT_APPROVE)
		(void) miaopi_licence_issue_approved(id, now, actor);

	SPI_finish();
	miaopi_restore_user(&owner);
	PG_RETURN_TEXT_P(cstring_to_text(miaopi_status_name(row.status)));
}

/*
 * check_clock_running refuses to pause or extend an application whose
 * decision clock is not running (closed, decided, or not yet accepted).
 */
static void
check_clock_running(const MiaopiService *svc, const MiaopiAppRow *row,
					const char *what)
{
	if (MIAOPI_HAS_TS(row->closed_at))
		refuse_closed(row, what);
	if (row->status == MIAOPI_ST_ACCEPTED || row->status == MIAOPI_ST_REVIEWED ||
		(row->status == MIAOPI_ST_PENDING && !svc->has_step[MIAOPI_STEP_ACCEPT]) ||
		(row->status == MIAOPI_ST_SUPPLEMENT && MIAOPI_HAS_TS(row->accepted_at) &&
		 strcmp(what, "extended") == 0))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("application " INT64_FORMAT " cannot be %s while it is \"%s\"",
					row->id, what, miaopi_status_name(row->status)),
			 errdetail("Its decision clock is not running: it starts at acceptance and stops at the decision."),
			 errhint("Only an accepted application awaiting its decision can be %s.", what)));
}

/* SQL: miaopi.pause(application_id bigint, reason text) */
PG_FUNCTION_INFO_V1(miaopi_pause);
Datum
miaopi_pause(PG_FUNCTION_ARGS)
{
	int64		id;
	char	   *reason;
	MiaopiAppRow row;
	const MiaopiService *svc;
	MiaopiStatus old_status;
	TimestampTz now = miaopi_now();
	char	   *actor;
	Oid			caller;
	MiaopiOwnerSwitch owner;
	StringInfoData detail;
	int			i;

	if (PG_ARGISNULL(0))
		null_argument("application_id");
	if (PG_ARGISNULL(1))
		null_argument("reason");
	id = PG_GETARG_INT64(0);
	reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
	for (i = 0; i < lengthof(pause_reasons); i++)
		if (strcmp(reason, pause_reasons[i]) == 0)
			break;
	if (i == lengthof(pause_reasons))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown pause reason \"%s\"", reason),
				 errdetail("miaopi.pause was called for application " INT64_FORMAT ".", id),
				 errhint("Reasons are: supplement, hearing, inspection, expert_review, public_notice, other.")));

	caller = GetUserId();
	actor = GetUserNameFromId(caller, false);
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	svc = lock_application(id, &row);
	miaopi_scope_check_service(caller, MIAOPI_SCOPE_ACT, svc);
	old_status = row.status;
	if (MIAOPI_HAS_TS(row.paused_at))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " is already paused", id),
				 errdetail("It has been paused since %s.", timestamptz_to_str(row.paused_at)),
				 errhint(row.status == MIAOPI_ST_SUPPLEMENT ?
						 "It is waiting for a supplement; act(id, 'supplement_received') resumes it." :
						 "Resume it with miaopi.resume before pausing it again.")));
	check_clock_running(svc, &row, "paused");

	accept_implicitly(svc, &row);
	row.paused_at = now;
	miaopi_app_update(&row);
	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"reason\": ");
	escape_json(&detail, reason);
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(id, now, "pause", actor, miaopi_status_name(old_status),
						miaopi_status_name(row.status), NULL, detail.data);

	SPI_finish();
	miaopi_restore_user(&owner);
	PG_RETURN_VOID();
}

/* SQL: miaopi.resume(application_id bigint) returns int */
PG_FUNCTION_INFO_V1(miaopi_resume);
Datum
miaopi_resume(PG_FUNCTION_ARGS)
{
	int64		id;
	MiaopiAppRow row;
	const MiaopiService *svc;
	TimestampTz now = miaopi_now();
	char	   *actor;
	Oid			caller;
	MiaopiOwnerSwitch owner;
	int			days;

	if (PG_ARGISNULL(0))
		null_argument("application_id");
	id = PG_GETARG_INT64(0);

	caller = GetUserId();
	actor = GetUserNameFromId(caller, false);
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	svc = lock_application(id, &row);
	miaopi_scope_check_service(caller, MIAOPI_SCOPE_ACT, svc);
	if (MIAOPI_HAS_TS(row.closed_at))
		refuse_closed(&row, "resumed");
	if (row.status == MIAOPI_ST_SUPPLEMENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " is waiting for a supplement", id),
				 errdetail("A supplement request pauses the clock until the supplement arrives."),
				 errhint("Record the arrival with miaopi.act(id, 'supplement_received').")));
	if (!MIAOPI_HAS_TS(row.paused_at))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " is not paused", id),
				 errdetail("Its status is \"%s\".", miaopi_status_name(row.status)),
				 errhint("Only a paused application can be resumed; see miaopi.clock.")));

	days = end_pause(svc, &row, now);
	miaopi_app_update(&row);
	miaopi_event_insert(id, now, "resume", actor, miaopi_status_name(row.status),
						miaopi_status_name(row.status), NULL,
						dues_detail(&row, "paused_days", days, false));

	SPI_finish();
	miaopi_restore_user(&owner);
	PG_RETURN_INT32(days);
}

/* SQL: miaopi.extend(application_id bigint, days int, reason text) */
PG_FUNCTION_INFO_V1(miaopi_extend);
Datum
miaopi_extend(PG_FUNCTION_ARGS)
{
	int64		id;
	int32		days;
	char	   *reason;
	MiaopiAppRow row;
	const MiaopiService *svc;
	MiaopiStatus old_status;
	TimestampTz now = miaopi_now();
	char	   *actor;
	Oid			caller;
	MiaopiOwnerSwitch owner;
	int			limit;
	bool		prov = false;

	if (PG_ARGISNULL(0))
		null_argument("application_id");
	if (PG_ARGISNULL(1))
		null_argument("days");
	id = PG_GETARG_INT64(0);
	days = PG_GETARG_INT32(1);
	reason = comment_arg(fcinfo, 2);
	if (reason == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an extension requires a reason"),
				 errdetail("Article 42 requires telling the applicant why the time limit is extended."),
				 errhint("Pass the reason as the third argument of miaopi.extend.")));

	caller = GetUserId();
	actor = GetUserNameFromId(caller, false);
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	svc = lock_application(id, &row);
	miaopi_scope_check_service(caller, MIAOPI_SCOPE_ACT, svc);
	old_status = row.status;
	limit = (svc->kind == MIAOPI_KIND_LICENCE) ?
		Min(svc->extension_days, MIAOPI_MAX_EXTENSION_DAYS) : 0;
	if (limit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("service \"%s\" allows no extension", svc->code),
				 errdetail("It is a %s with extension_days %d.", miaopi_kind_name(svc->kind),
						   svc->extension_days),
				 errhint("Only licences may extend their statutory time limit, by at most 10 working days (art. 42).")));
	check_clock_running(svc, &row, "extended");
	if (was_extended(id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " was already extended", id),
				 errdetail("Article 42 allows one extension."),
				 errhint("See its extend event in miaopi.event.")));
	if (days < 1 || days > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("extension of %d working days is out of range", days),
				 errdetail("Service \"%s\" allows 1 to %d working days.", svc->code, limit),
				 errhint("Extend by at most %d working days.", limit)));

	accept_implicitly(svc, &row);
	if ((MIAOPI_HAS_TS(row.paused_at) ? row.paused_at : now) > row.statutory_due)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the statutory time limit of application " INT64_FORMAT " has passed", id),
				 errdetail("It was due at %s.", timestamptz_to_str(row.statutory_due)),
				 errhint("An extension must be decided within the time limit.")));

	row.statutory_due = miaopi_add_working_days(svc->calendar, row.statutory_due, days, &prov);
	if (prov)
		row.clock_flags |= MIAOPI_FLAG_PROVISIONAL;
	miaopi_app_update(&row);
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"days\": %d, \"statutory_due\": ", days);
		miaopi_json_timestamp(&detail, row.statutory_due);
		appendStringInfoChar(&detail, '}');
		miaopi_event_insert(id, now, "extend", actor, miaopi_status_name(old_status),
							miaopi_status_name(row.status), reason, detail.data);
	}

	SPI_finish();
	miaopi_restore_user(&owner);
	PG_RETURN_TIMESTAMPTZ(row.statutory_due);
}

/*
 * Trigger: miaopi.event is append-only (a later audit hash-chains it).
 */
PG_FUNCTION_INFO_V1(miaopi_event_append_only);
Datum
miaopi_event_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_event_append_only: must be called as trigger")));
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_event_append_only: must not be fired by INSERT")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("miaopi.%s is append-only", RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s of events is not allowed.",
					   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE" :
					   TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE" : "TRUNCATE"),
			 errtable(trigdata->tg_relation),
			 errhint("Events are the audit trail; record a new event instead.")));
	PG_RETURN_POINTER(NULL);
}
