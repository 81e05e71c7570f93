/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  The decision trigger on miaopi.application, and the guards that keep
 *	  decided rows and stored rulesets from being edited.
 *
 * miaopi_decide (BEFORE INSERT FOR EACH ROW) is the product's hot path:
 * it pins the service's current program from the per-backend cache,
 * evaluates it over the new row and writes the outcome into the row it
 * returns.  No SPI here except on a cache miss (and in lookups); the
 * column numbers are resolved once per backend and table shape.
 *
 * Columns the client does not own are overwritten on INSERT, whatever the
 * client sent, and the id must be the one the identity sequence gave this
 * row: OVERRIDING SYSTEM VALUE would let a client pre-claim ids another
 * session is about to use.  The test: the id equals this backend's last
 * value of the sequence (currval).  A default id always does, since the
 * sequence's value is computed for each row just before its BEFORE
 * triggers; a chosen id does only if it is one nextval just handed to this
 * very backend, which nobody else can hold.
 *
 * Restores.  pg_dump writes every column, the decision included.  A row
 * that arrives decided (status, decision, submitted_at, ruleset_id and
 * reasons all given) from a role that owns miaopi's tables (or a
 * superuser; both could disable the trigger anyway) is kept exactly as it
 * is, id included: a restore does not decide again.  From anyone else the
 * owned columns are overwritten as for every INSERT.
 *
 * Scopes.  An INSERT by a role without a submit scope for the service is
 * refused before anything is evaluated or stored (scope.c, memoised).
 *
 * miaopi_guard (BEFORE UPDATE) refuses any change to an application unless
 * one of miaopi's own functions announced exactly that row
 * (miaopi_allow_update), and then lets one UPDATE of it through: the
 * decision, the reasons and what was decided on stay as they were recorded.
 * miaopi_keep_rows refuses DELETE and TRUNCATE.
 *
 * When the table has the ledger's hash column (1.1), the trigger also
 * writes application.hash, the SHA-256 of the row as decided (ledger.c);
 * a 1.0 table without it is decided as before.
 *
 * IDENTIFICATION
 *	  extension/trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "cache.h"
#include "calendar.h"
#include "eval.h"
#include "ledger.h"
#include "licence.h"
#include "lookup.h"
#include "miaopi.h"
#include "scope.h"
#include "trigger.h"
#include "application.h"

/* Columns of miaopi.application the trigger reads or writes */
typedef enum AppColumn
{
	COL_SERVICE_CODE,
	COL_APPLICANT_ID,
	COL_APPLICANT_NAME,
	COL_PAYLOAD,
	COL_MATERIALS,
	COL_CHANNEL,
	COL_COMMITMENTS,
	COL_SUBMITTED_AT,
	COL_STATUS,
	COL_DECISION,
	COL_DECIDED_AT,
	COL_DECIDED_BY,
	COL_RULESET_ID,
	COL_REASONS,
	COL_DECISION_US,
	COL_ACCEPTED_AT,
	COL_PROMISED_DUE,
	COL_STATUTORY_DUE,
	COL_CLOSED_AT,
	COL_STEP_DUE,
	COL_PAUSED_AT,
	COL_PAUSED_DAYS,
	COL_CLOCK_FLAGS,
	COL_VERIFY_DAYS,
	COL_VERIFY_DUE,
	COL_VERIFIED_AT,
	NUM_APP_COLUMNS
} AppColumn;

static const char *const app_column_names[NUM_APP_COLUMNS] = {
	"service_code", "applicant_id", "applicant_name", "payload", "materials",
	"channel", "commitments", "submitted_at", "status", "decision", "decided_at", "decided_by",
	"ruleset_id", "reasons", "decision_us", "accepted_at", "promised_due",
	"statutory_due", "closed_at", "step_due", "paused_at", "paused_days",
	"clock_flags", "verify_days", "verify_due", "verified_at"
};

/* The first column the client may not write */
#define FIRST_OWNED_COLUMN	COL_SUBMITTED_AT

typedef struct AppLayout
{
	Oid			relid;
	int			natts;
	int			id_attnum;
	Oid			id_seqid;		/* the identity sequence of id */
	int			attnum[NUM_APP_COLUMNS];
	int			hash_attnum;	/* 0: a 1.0 table without the ledger's hash */
	int			ledger_attnum[MIAOPI_LEDGER_APP_NCOLS]; /* what the hash covers */
} AppLayout;

static AppLayout layout;

/* The one UPDATE the guard lets through (miaopi_allow_update) */
static bool update_allowed = false;
static int64 update_allowed_id = 0;

/* The rows one batch UPDATE may change (miaopi_allow_updates), ascending */
static const int64 *updates_allowed = NULL;
static int	nupdates_allowed = 0;

/* Is id one of the rows miaopi_allow_updates announced? */
static bool
in_allowed_batch(int64 id)
{
	int			lo = 0,
				hi = nupdates_allowed - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (updates_allowed[mid] == id)
			return true;
		if (updates_allowed[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Columns added by 1.1, absent from a 1.0 table until ALTER EXTENSION UPDATE */
static bool
app_column_optional(int col)
{
	return col == COL_COMMITMENTS || col == COL_VERIFY_DAYS ||
		col == COL_VERIFY_DUE || col == COL_VERIFIED_AT;
}

/* Resolve the application columns once per table shape */
static const AppLayout *
app_layout(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (layout.relid == RelationGetRelid(rel) && layout.natts == desc->natts)
		return &layout;

	for (i = 0; i < NUM_APP_COLUMNS; i++)
	{
		int			attnum = SPI_fnumber(desc, app_column_names[i]);

		/* the 1.1 columns are optional: the library also serves 1.0 */
		if (attnum <= 0 && app_column_optional(i))
			attnum = 0;
		else if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("miaopi_decide: table \"%s\" has no column \"%s\"",
							RelationGetRelationName(rel), app_column_names[i]),
					 errhint("Use the trigger only on miaopi.application.")));
		layout.attnum[i] = attnum;
	}
	layout.id_attnum = SPI_fnumber(desc, "id");
	if (layout.id_attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_decide: table \"%s\" has no column \"id\"",
						RelationGetRelationName(rel)),
				 errhint("Use the trigger only on miaopi.application.")));
	layout.id_seqid = getIdentitySequence(RelationGetRelid(rel), layout.id_attnum, false);
	layout.hash_attnum = 0;
	if (SPI_fnumber(desc, "hash") > 0 &&
		TupleDescAttr(desc, SPI_fnumber(desc, "hash") - 1)->atttypid == BYTEAOID)
	{
		for (i = 0; i < MIAOPI_LEDGER_APP_NCOLS; i++)
		{
			layout.ledger_attnum[i] = SPI_fnumber(desc, miaopi_ledger_app_column_names[i]);
			if (layout.ledger_attnum[i] <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						 errmsg("miaopi_decide: table \"%s\" has no column \"%s\"",
								RelationGetRelationName(rel), miaopi_ledger_app_column_names[i]),
						 errhint("Use the trigger only on miaopi.application.")));
		}
		layout.hash_attnum = SPI_fnumber(desc, "hash");
	}
	layout.relid = RelationGetRelid(rel);
	layout.natts = desc->natts;
	return &layout;
}

static void
check_trigger_call(FunctionCallInfo fcinfo, const char *name, bool insert)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called as trigger", name)));
	if (insert ? !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)
		: !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called on %s", name, insert ? "insert" : "update")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called before the event", name)));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: must be called for each row", name)));
}

static void
require_column(bool isnull, const char *column)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("null value in column \"%s\" of relation \"application\"", column),
				 errhint("Every application needs a service_code, an applicant_id and a payload.")));
}

/*
 * miaopi_service_or_error returns the cached service, or raises the error
 * an agency app should see.
 */
const MiaopiService *
miaopi_service_or_error(text *code)
{
	const MiaopiService *svc = miaopi_service_lookup(VARDATA_ANY(code),
													 VARSIZE_ANY_EXHDR(code), true);

	if (svc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("unknown service \"%s\"", text_to_cstring(code)),
				 errdetail("No row of miaopi.service has this code."),
				 errhint("Load the service's rules with miaopi.load_rules() first.")));
	if (svc->ruleset_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("service \"%s\" has no rules", svc->code),
				 errdetail("Its current_ruleset is null."),
				 errhint("Load the service's rules with miaopi.load_rules().")));
	return svc;
}

/*
 * miaopi_check_payload refuses a payload that is not a JSON object.
 */
void
miaopi_check_payload(Jsonb *payload)
{
	if (!JB_ROOT_IS_OBJECT(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a JSON object"),
				 errdetail("The payload is a JSON %s.",
						   JB_ROOT_IS_SCALAR(payload) ? "scalar" : "array"),
				 errhint("Send the application's fields as one object, e.g. {\"vehicle_count\": 2}.")));
}

/*
 * is_restore says whether a row that arrives with its decision written out
 * is a restore to keep as it is: only from a role owning the table.
 */
static bool
is_restore(Relation rel, const AppLayout *lay, const bool *nulls)
{
	if (nulls[lay->attnum[COL_STATUS] - 1] || nulls[lay->attnum[COL_DECISION] - 1] ||
		nulls[lay->attnum[COL_SUBMITTED_AT] - 1] || nulls[lay->attnum[COL_RULESET_ID] - 1] ||
		nulls[lay->attnum[COL_REASONS] - 1])
		return false;
	return pg_class_ownercheck(RelationGetRelid(rel), GetUserId());
}

/*
 * check_id refuses an id the identity sequence did not just give this
 * backend (OVERRIDING SYSTEM VALUE, or COPY with an id column).  currval
 * is read as the table's owner: the inserting role needs no privilege on
 * the sequence, as for the identity default itself.
 */
static void
check_id(Relation rel, const AppLayout *lay, int64 id)
{
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ours = false;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		ours = DatumGetInt64(DirectFunctionCall1(currval_oid,
												 ObjectIdGetDatum(lay->id_seqid))) == id;
	}
	PG_CATCH();
	{
		/* "currval is not yet defined": no id was generated here at all */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ours = false;
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (!ours)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("an application's id is chosen by miaopi"),
				 errdetail("The INSERT gave id " INT64_FORMAT ", which the identity sequence did not generate for it.", id),
				 errhint("Leave out the id column and OVERRIDING SYSTEM VALUE; INSERT ... RETURNING id gives the id."),
				 errtable(rel)));
}

/* SQL: BEFORE INSERT trigger that decides the application */
PG_FUNCTION_INFO_V1(miaopi_decide);
Datum
miaopi_decide(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	const AppLayout *lay;
	Datum	   *values;
	bool	   *nulls;
	int			cols[NUM_APP_COLUMNS + 1];
	Datum		newvals[NUM_APP_COLUMNS + 1];
	bool		newnulls[NUM_APP_COLUMNS + 1];
	int			ncols = 0;
	const MiaopiService *svc;
	const MiaopiService *cached;
	MiaopiProgram *prog;
	MiaopiInput in;
	MiaopiDecision dec;
	text	   *t;
	TimestampTz now;
	instr_time	start,
				elapsed;
	bool		machine;
	int			i;

	INSTR_TIME_SET_CURRENT(start);
	check_trigger_call(fcinfo, "miaopi_decide", true);

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	lay = app_layout(rel);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(trigdata->tg_trigtuple, desc, values, nulls);

#define VAL(c) values[lay->attnum[c] - 1]
#define ISNULL(c) nulls[lay->attnum[c] - 1]

	/* a restore keeps the row exactly as it was decided */
	if (is_restore(rel, lay, nulls))
		return PointerGetDatum(trigdata->tg_trigtuple);
	check_id(rel, lay, DatumGetInt64(values[lay->id_attnum - 1]));

	/* events recorded for this row before it exists wait for its hash */
	if (lay->hash_attnum > 0 && !nulls[lay->ledger_attnum[LA_ID] - 1])
		miaopi_event_begin_deciding(DatumGetInt64(values[lay->ledger_attnum[LA_ID] - 1]));

	require_column(ISNULL(COL_SERVICE_CODE), "service_code");
	require_column(ISNULL(COL_APPLICANT_ID), "applicant_id");
	require_column(ISNULL(COL_PAYLOAD), "payload");

	/*
	 * The scope is checked on the cached entry (its address is the memo's
	 * key); then a copy: a lookup's code may reload the service cache under
	 * us.
	 */
	cached = miaopi_service_or_error(DatumGetTextPP(VAL(COL_SERVICE_CODE)));
	miaopi_scope_check_service(GetUserId(), MIAOPI_SCOPE_SUBMIT, cached);
	svc = miaopi_service_copy(cached);

	memset(&in, 0, sizeof(in));
	t = DatumGetTextPP(VAL(COL_APPLICANT_ID));
	in.applicant_id = VARDATA_ANY(t);
	in.applicant_id_len = VARSIZE_ANY_EXHDR(t);
	if (!ISNULL(COL_APPLICANT_NAME))
	{
		t = DatumGetTextPP(VAL(COL_APPLICANT_NAME));
		in.applicant_name = VARDATA_ANY(t);
		in.applicant_name_len = VARSIZE_ANY_EXHDR(t);
	}
	in.payload = DatumGetJsonbP(VAL(COL_PAYLOAD));
	miaopi_check_payload(in.payload);
	if (!ISNULL(COL_MATERIALS))
		deconstruct_array(DatumGetArrayTypeP(VAL(COL_MATERIALS)), TEXTOID, -1, false,
						  TYPALIGN_INT, &in.materials, &in.material_nulls, &in.nmaterials);
	if (lay->attnum[COL_COMMITMENTS] != 0 && !ISNULL(COL_COMMITMENTS))
		deconstruct_array(DatumGetArrayTypeP(VAL(COL_COMMITMENTS)), TEXTOID, -1, false,
						  TYPALIGN_INT, &in.commitments, &in.commitment_nulls,
						  &in.ncommitments);
	if (!ISNULL(COL_CHANNEL))
	{
		t = DatumGetTextPP(VAL(COL_CHANNEL));
		in.channel = VARDATA_ANY(t);
		in.channel_len = VARSIZE_ANY_EXHDR(t);
	}
	else
		in.channel = "";
	now = miaopi_now();
	in.submitted_at = now;
	in.now = now;

	prog = miaopi_cache_program(svc->ruleset_id);
	miaopi_evaluate(prog, &in, &dec);

	/*
	 * The e-licence of a machine approval, and the licences the decision
	 * relied on, in this same transaction.  Only then is SPI used here.
	 */
	machine = dec.decision != MR_EXPECT_MANUAL;
	if ((dec.decision == MR_EXPECT_APPROVE && prog->svc->licence != NULL) ||
		dec.licence_uses != NIL)
	{
		bool		idnull;
		int64		app_id = DatumGetInt64(heap_getattr(trigdata->tg_trigtuple, lay->id_attnum,
														desc, &idnull));
		const char *status = dec.decision == MR_EXPECT_APPROVE ? "approved"
			: dec.decision == MR_EXPECT_REJECT ? "rejected" : "pending";

		if (idnull)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("miaopi_decide: the application has no id"),
					 errhint("Keep miaopi.application.id an identity column.")));
		if (dec.decision == MR_EXPECT_APPROVE && prog->svc->licence != NULL)
		{
			MiaopiIssue issue;

			Assert(dec.has_valid_until);
			memset(&issue, 0, sizeof(issue));
			issue.svc = prog->svc;
			issue.application_id = app_id;
			issue.applicant_id = in.applicant_id;
			issue.applicant_id_len = in.applicant_id_len;
			issue.applicant_name = in.applicant_name;
			issue.applicant_name_len = in.applicant_name_len;
			issue.payload = VAL(COL_PAYLOAD);
			issue.calendar = svc->calendar;
			issue.now = now;
			issue.valid_until = dec.valid_until;
			issue.actor = MIAOPI_MACHINE;
			issue.status = status;
			(void) miaopi_licence_issue(&issue);
		}
		miaopi_licence_record_uses(app_id, dec.licence_uses, now, MIAOPI_MACHINE, status);
	}
	miaopi_cache_release(prog);

	/* everything from submitted_at on belongs to miaopi */
	for (i = FIRST_OWNED_COLUMN; i < NUM_APP_COLUMNS; i++)
	{
		if (lay->attnum[i] == 0)
			continue;			/* a 1.1 column on a 1.0 table */
		cols[ncols] = lay->attnum[i];
		newnulls[ncols] = true;
		newvals[ncols] = (Datum) 0;
		switch ((AppColumn) i)
		{
			case COL_SUBMITTED_AT:
				newvals[ncols] = TimestampTzGetDatum(now);
				newnulls[ncols] = false;
				break;
			case COL_STATUS:
				newvals[ncols] = CStringGetTextDatum(dec.decision == MR_EXPECT_APPROVE ? "approved"
													 : dec.decision == MR_EXPECT_REJECT ? "rejected"
													 : "pending");
				newnulls[ncols] = false;
				break;
			case COL_DECISION:
				newvals[ncols] = CStringGetTextDatum(miaopi_expect_name(dec.decision));
				newnulls[ncols] = false;
				break;
			case COL_DECIDED_BY:
				if (machine)
				{
					newvals[ncols] = CStringGetTextDatum(MIAOPI_MACHINE);
					newnulls[ncols] = false;
				}
				break;
			case COL_RULESET_ID:
				newvals[ncols] = Int64GetDatum(svc->ruleset_id);
				newnulls[ncols] = false;
				break;
			case COL_REASONS:
				newvals[ncols] = JsonbPGetDatum(dec.reasons);
				newnulls[ncols] = false;
				break;
			case COL_DECIDED_AT:
			case COL_ACCEPTED_AT:
			case COL_CLOSED_AT:
				/* a machine decision is accepted, decided and closed at once */
				if (machine)
				{
					newvals[ncols] = TimestampTzGetDatum(now);
					newnulls[ncols] = false;
				}
				break;
			case COL_PROMISED_DUE:
			case COL_STATUTORY_DUE:
				if (machine)
				{
					newvals[ncols] = TimestampTzGetDatum(
														 miaopi_add_working_days(svc->calendar, now,
																				 i == COL_PROMISED_DUE ? svc->promised_days
																				 : svc->statutory_days,
																				 NULL));
					newnulls[ncols] = false;
				}
				break;
			case COL_DECISION_US:
				/* filled in last, below */
				break;
			case COL_VERIFY_DAYS:
				/* a commitment stood in for a material: verified later */
				if (dec.decision != MR_EXPECT_REJECT && dec.verify_within >= 0)
				{
					newvals[ncols] = Int32GetDatum(dec.verify_within);
					newnulls[ncols] = false;
				}
				break;
			case COL_VERIFY_DUE:
				/* an approval on commitments is verified within the days */
				if (dec.decision == MR_EXPECT_APPROVE && dec.verify_within >= 0)
				{
					newvals[ncols] = TimestampTzGetDatum(
														 miaopi_add_working_days(svc->calendar, now,
																				 dec.verify_within,
																				 NULL));
					newnulls[ncols] = false;
				}
				break;
			case COL_PAUSED_DAYS:
			case COL_CLOCK_FLAGS:
				/* the workflow's counters start at zero (workflow.c) */
				newvals[ncols] = Int32GetDatum(0);
				newnulls[ncols] = false;
				break;
			default:
				break;
		}
		ncols++;
	}

	/* what was fetched (from:) replaces what the client sent, on record */
	if (dec.payload != NULL)
	{
		cols[ncols] = lay->attnum[COL_PAYLOAD];
		newvals[ncols] = JsonbPGetDatum(dec.payload);
		newnulls[ncols] = false;
		ncols++;
	}

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	for (i = 0; i < ncols; i++)
	{
		if (cols[i] == lay->attnum[COL_DECISION_US])
		{
			newvals[i] = Int32GetDatum((int32) Min(INSTR_TIME_GET_MICROSEC(elapsed), PG_INT32_MAX));
			newnulls[i] = false;
		}
	}

	/* The ledger's first link: the hash of the row as decided (ledger.c) */
	if (lay->hash_attnum > 0)
	{
		cols[ncols] = lay->hash_attnum;
		newnulls[ncols] = true;
		newvals[ncols] = (Datum) 0;
		if (miaopi_ledger_hash)
		{
			Datum		lv[MIAOPI_LEDGER_APP_NCOLS];
			bool		ln[MIAOPI_LEDGER_APP_NCOLS];
			uint8		hash[MIAOPI_HASH_LEN];

			for (i = 0; i < ncols; i++)
			{
				values[cols[i] - 1] = newvals[i];
				nulls[cols[i] - 1] = newnulls[i];
			}
			for (i = 0; i < MIAOPI_LEDGER_APP_NCOLS; i++)
			{
				lv[i] = values[lay->ledger_attnum[i] - 1];
				ln[i] = nulls[lay->ledger_attnum[i] - 1];
			}
			miaopi_ledger_app_hash(lv, ln, hash);
			newvals[ncols] = PointerGetDatum(miaopi_hash_bytea(hash));
			newnulls[ncols] = false;
			miaopi_event_flush_deciding(hash);
		}
		else
			miaopi_event_flush_deciding(NULL);
		ncols++;
	}

	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_trigtuple, desc, ncols,
													 cols, newvals, newnulls));
#undef VAL
#undef ISNULL
}

/* SQL: BEFORE UPDATE trigger that keeps applications as miaopi wrote them */
PG_FUNCTION_INFO_V1(miaopi_guard);
Datum
miaopi_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	int			attnum;

	check_trigger_call(fcinfo, "miaopi_guard", false);
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);

	if (update_allowed || updates_allowed != NULL)
	{
		int			id_attnum = SPI_fnumber(desc, "id");
		bool		oldnull = true,
					newnull = true;
		Datum		oldid = 0,
					newid = 0;

		if (id_attnum > 0 && TupleDescAttr(desc, id_attnum - 1)->atttypid == INT8OID)
		{
			oldid = heap_getattr(trigdata->tg_trigtuple, id_attnum, desc, &oldnull);
			newid = heap_getattr(trigdata->tg_newtuple, id_attnum, desc, &newnull);
		}
		if (update_allowed && !oldnull && !newnull &&
			DatumGetInt64(oldid) == update_allowed_id &&
			DatumGetInt64(newid) == update_allowed_id)
		{
			update_allowed = false;
			return PointerGetDatum(trigdata->tg_newtuple);
		}
		if (updates_allowed != NULL && !oldnull && !newnull &&
			DatumGetInt64(oldid) == DatumGetInt64(newid) &&
			in_allowed_batch(DatumGetInt64(oldid)))
			return PointerGetDatum(trigdata->tg_newtuple);
	}
	for (attnum = 1; attnum <= desc->natts; attnum++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		oldnull,
					newnull;
		Datum		oldval,
					newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &oldnull);
		newval = heap_getattr(trigdata->tg_newtuple, attnum, desc, &newnull);
		if (oldnull == newnull &&
			(oldnull || datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			continue;

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("column \"%s\" of an application can only be changed by miaopi",
						NameStr(att->attname)),
				 errdetail("Applications keep what was submitted and decided; only miaopi's functions move them."),
				 errhint("Use miaopi.act() to move an application through the workflow."),
				 errtable(rel)));
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}

/* SQL: BEFORE UPDATE OR DELETE trigger on miaopi.ruleset */
PG_FUNCTION_INFO_V1(miaopi_ruleset_immutable);
Datum
miaopi_ruleset_immutable(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_ruleset_immutable: must be called as trigger")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("rulesets cannot be changed or deleted"),
			 errdetail("Every application records the ruleset that decided it."),
			 errhint("Load a new version with miaopi.load_rules()."),
			 errtable(trigdata->tg_relation)));
	PG_RETURN_NULL();
}

/*
 * miaopi_allow_update lets the guard pass the next UPDATE of application
 * id, once.
 */
void
miaopi_allow_update(int64 id)
{
	update_allowed = true;
	update_allowed_id = id;
}

/*
 * miaopi_allow_updates lets the guard pass the UPDATE of the n rows ids
 * (ascending, and to be kept until miaopi_forbid_update) that one
 * statement of miaopi's own makes: the sweep's batch.
 */
void
miaopi_allow_updates(const int64 *ids, int n)
{
	updates_allowed = ids;
	nupdates_allowed = n;
}

/* Withdraw what miaopi_allow_update or miaopi_allow_updates allowed */
void
miaopi_forbid_update(void)
{
	update_allowed = false;
	update_allowed_id = 0;
	updates_allowed = NULL;
	nupdates_allowed = 0;
}

/*
 * SQL: BEFORE DELETE row / BEFORE TRUNCATE statement trigger refusing to
 * lose rows; its argument, if any, is the errdetail.
 */
PG_FUNCTION_INFO_V1(miaopi_keep_rows);
Datum
miaopi_keep_rows(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_keep_rows: must be called as trigger")));
	if (!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_keep_rows: must be fired by DELETE or TRUNCATE")));
	rel = trigdata->tg_relation;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("rows of %s.%s cannot be %s",
					get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel),
					TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "deleted" : "truncated"),
			 trigdata->tg_trigger->tgnargs > 0 ?
			 errdetail("%s", trigdata->tg_trigger->tgargs[0]) : 0,
			 errhint("miaopi keeps these rows for the audit trail."),
			 errtable(rel)));
	PG_RETURN_POINTER(NULL);
}
