/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Policies (政策通): match(), push(), confirm() and apply_all().
 *
 * A policy is a service of kind policy: its checks say who qualifies, its
 * benefit expression how much, open when, audience who may benefit at all
 * and apply how the benefit reaches them (auto = 免申即享, confirm =
 * one-click confirmation, form = a pre-filled application).  A policy is
 * evaluated like any application, with the applicant's id, an empty
 * payload (its fields are fetched with from:) and no materials; the
 * applicant is eligible when every reason passes and the benefit could be
 * computed.
 *
 * push(service) walks the audience table with a cursor, BATCH rows at a
 * time in a memory context reset per batch, so memory stays bounded for
 * any audience.  Each batch is one INSERT into policy_match from arrays:
 * one match per applicant and ruleset (UNIQUE (ruleset_id, applicant_id)
 * makes a second push of a version a no-op), and none for an applicant
 * whose latest match of the service had the same outcome (eligible,
 * benefit, failed): a new version pushed again records only what changed.
 * Each batch sends NOTIFY miaopi_policy with a JSON payload naming the
 * range of match ids it recorded.  For apply: auto the batch then files an
 * application (channel auto) for every new eligible match whose applicant
 * has no open or approved application of the policy yet; the decision
 * trigger decides it like any other, so the machine never grants on an
 * error.  push runs as the owner of miaopi's tables.
 *
 * match(applicant) evaluates every open policy for one applicant as the
 * caller (lookups need the caller's SELECT, as for evaluate()), after a
 * probe of the audience table (as the owner, with a plan kept per ruleset).
 * confirm(match) and apply_all(applicant) file applications as the caller,
 * so the caller's INSERT privilege and scopes apply, and record the match
 * as the owner.
 *
 * IDENTIFICATION
 *	  extension/policy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "calendar.h"
#include "eval.h"
#include "miaopi.h"
#include "service.h"
#include "trigger.h"
#include "workflow.h"

/* Audience rows evaluated and recorded per batch of push() */
#define POLICY_BATCH			1000

/* NOTIFY channel of policy pushes */
#define MIAOPI_POLICY_CHANNEL	"miaopi_policy"

/* One kept audience probe per ruleset, for match() and apply_all() */
typedef struct AudiencePlan
{
	int64		ruleset_id;
	SPIPlanPtr	plan;
} AudiencePlan;

#define MAX_AUDIENCE_PLANS		64
static AudiencePlan audience_plans[MAX_AUDIENCE_PLANS];
static int	n_audience_plans = 0;

/* The outcome of evaluating a policy for one applicant */
typedef struct PolicyOutcome
{
	bool		eligible;
	Numeric		benefit;		/* NULL if none */
	ArrayType  *failed;			/* text[] */
	char	   *failed_list;	/* the same, joined by commas (ids have none) */
	Jsonb	   *reasons;
} PolicyOutcome;

/* An empty JSON object, the payload of a policy evaluation */
static Jsonb *
empty_payload(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
}

/* Quoted schema.table of the audience */
static char *
audience_relation(const MrPolicy *pol)
{
	const char *schema = pol->audience_schema ? pol->audience_schema : "public";

	return psprintf("%s.%s", quote_identifier(schema), quote_identifier(pol->audience_table));
}

/* Is today (in the service's calendar) inside the policy's open window? */
static bool
policy_open(const MiaopiService *svc, const MrPolicy *pol, TimestampTz now)
{
	DateADT		today = miaopi_calendar_local_date(svc->calendar, now);
	DateADT		d;

	if (pol->open_from && miaopi_parse_date(pol->open_from, strlen(pol->open_from), &d) &&
		today < d)
		return false;
	if (pol->open_until && miaopi_parse_date(pol->open_until, strlen(pol->open_until), &d) &&
		today > d)
		return false;
	return true;
}

/* Refuse a service that is not a policy */
static void
require_policy(const MiaopiService *svc, MiaopiProgram *prog, const char *fn)
{
	if (svc->kind != MIAOPI_KIND_POLICY || prog->svc->policy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("service \"%s\" is not a policy", svc->code),
				 errdetail("Its kind is %s.", miaopi_kind_name(svc->kind)),
				 errhint("%s works on services of kind policy (惠企政策).", fn)));
}

/*
 * Evaluate the policy of prog for one applicant (id of len bytes) and fill
 * *out, allocating in the current context.
 */
static void
evaluate_for(MiaopiProgram *prog, Jsonb *payload, const char *applicant, int len,
			 const char *channel, TimestampTz now, bool outcome_only, PolicyOutcome *out)
{
	MiaopiInput in;
	MiaopiDecision dec;
	Datum	   *items;
	int			nfailed;
	int			i;
	StringInfoData buf;

	memset(&in, 0, sizeof(in));
	in.applicant_id = applicant;
	in.applicant_id_len = len;
	in.payload = payload;
	in.channel = channel;
	in.channel_len = strlen(channel);
	in.now = now;
	in.submitted_at = now;
	in.outcome_only = outcome_only;
	miaopi_evaluate(prog, &in, &dec);

	nfailed = dec.nnot_passed + (dec.benefit == NULL ? 1 : 0);
	items = palloc(sizeof(Datum) * Max(nfailed, 1));
	initStringInfo(&buf);
	for (i = 0; i < dec.nnot_passed; i++)
	{
		if (!outcome_only)
			items[i] = CStringGetTextDatum(dec.not_passed[i]);
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, dec.not_passed[i]);
	}
	if (dec.benefit == NULL)
	{
		if (!outcome_only)
			items[i] = CStringGetTextDatum("benefit");
		appendStringInfoString(&buf, i > 0 ? ",benefit" : "benefit");
	}

	out->eligible = (nfailed == 0);
	out->benefit = dec.benefit;
	out->failed = outcome_only ? NULL :
		construct_array(items, nfailed, TEXTOID, -1, false, TYPALIGN_INT);
	out->failed_list = buf.data;
	out->reasons = dec.reasons;
}

/* The kept audience probe of a ruleset (as the owner, inside SPI) */
static SPIPlanPtr
audience_plan(MiaopiProgram *prog)
{
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan;
	int			i;
	const MrPolicy *pol = prog->svc->policy;

	for (i = 0; i < n_audience_plans; i++)
		if (audience_plans[i].ruleset_id == prog->ruleset_id)
			return audience_plans[i].plan;
	plan = SPI_prepare(psprintf("SELECT 1 FROM %s t WHERE t.%s OPERATOR(pg_catalog.=) $1 LIMIT 1",
								audience_relation(pol), quote_identifier(pol->audience_key)),
					   1, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the audience probe: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	if (n_audience_plans == MAX_AUDIENCE_PLANS)
	{
		/* forget the oldest; its plan is freed */
		SPI_freeplan(audience_plans[0].plan);
		memmove(&audience_plans[0], &audience_plans[1],
				sizeof(AudiencePlan) * (MAX_AUDIENCE_PLANS - 1));
		n_audience_plans--;
	}
	audience_plans[n_audience_plans].ruleset_id = prog->ruleset_id;
	audience_plans[n_audience_plans].plan = plan;
	n_audience_plans++;
	return plan;
}

/* Is applicant in the policy's audience?  Runs as the owner. */
static bool
in_audience(MiaopiProgram *prog, const char *applicant)
{
	MiaopiOwnerSwitch owner;
	Datum		arg = CStringGetTextDatum(applicant);
	bool		found;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(audience_plan(prog), &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "audience probe failed");
	found = SPI_processed > 0;
	SPI_finish();
	miaopi_restore_user(&owner);
	return found;
}

/* An outcome for an applicant outside the audience */
static void
not_in_audience(const MrPolicy *pol, PolicyOutcome *out)
{
	Datum		item = CStringGetTextDatum("audience");
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"check\": \"audience\", \"detail\": ");
	escape_json(&buf, psprintf("the applicant is not in %s%s%s", pol->audience_schema ? pol->audience_schema : "",
							   pol->audience_schema ? "." : "", pol->audience_table));
	appendStringInfoString(&buf, ", \"result\": \"fail\", \"message\": \"不在政策对象范围内\", \"on_fail\": \"reject\"}]");
	out->eligible = false;
	out->benefit = NULL;
	out->failed = construct_array(&item, 1, TEXTOID, -1, false, TYPALIGN_INT);
	out->failed_list = "audience";
	out->reasons = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* A policy service, as listed for match() and apply_all() */
typedef struct PolicyRef
{
	char	   *code;
	char	   *name;
} PolicyRef;

/* Every policy with rules, by code (read as the owner) */
static PolicyRef *
list_policies(int *n)
{
	MiaopiOwnerSwitch owner;
	PolicyRef  *refs;
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT s.code, s.name FROM miaopi.service s"
					" WHERE s.kind OPERATOR(pg_catalog.=) 'policy' AND s.current_ruleset IS NOT NULL"
					" ORDER BY s.code", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the policies");
	refs = MemoryContextAlloc(caller, sizeof(PolicyRef) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *code = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		refs[i].code = MemoryContextStrdup(caller, code);
		refs[i].name = MemoryContextStrdup(caller, name ? name : "");
	}
	*n = (int) SPI_processed;
	SPI_finish();
	miaopi_restore_user(&owner);
	return refs;
}

/*
 * The outcome of one open policy for one applicant; false when the policy
 * is not open (or lost its rules meanwhile).  *svc_out and *prog_out get
 * the pinned program (release it with miaopi_cache_release).
 */
static bool
outcome_of(const PolicyRef *ref, const char *applicant, Jsonb *payload, TimestampTz now,
		   PolicyOutcome *out, MiaopiProgram **prog_out, int64 *ruleset_out)
{
	const MiaopiService *svc;
	MiaopiProgram *prog;
	char	   *calendar;
	int64		ruleset_id;

	svc = miaopi_service_lookup(ref->code, strlen(ref->code), true);
	if (svc == NULL || svc->ruleset_id == 0 || svc->kind != MIAOPI_KIND_POLICY)
		return false;
	ruleset_id = svc->ruleset_id;
	calendar = pstrdup(svc->calendar);
	prog = miaopi_cache_program(ruleset_id);
	if (prog->svc->policy == NULL)
	{
		miaopi_cache_release(prog);
		return false;
	}
	{
		const MrPolicy *pol = prog->svc->policy;
		DateADT		today = miaopi_calendar_local_date(calendar, now);
		DateADT		d;

		if ((pol->open_from && miaopi_parse_date(pol->open_from, strlen(pol->open_from), &d) && today < d) ||
			(pol->open_until && miaopi_parse_date(pol->open_until, strlen(pol->open_until), &d) && today > d))
		{
			miaopi_cache_release(prog);
			return false;
		}
	}
	if (in_audience(prog, applicant))
		evaluate_for(prog, payload, applicant, strlen(applicant), "online", now, false, out);
	else
		not_in_audience(prog->svc->policy, out);
	*prog_out = prog;
	*ruleset_out = ruleset_id;
	return true;
}

/* SQL: miaopi.match(applicant_id text) */
PG_FUNCTION_INFO_V1(miaopi_match);
Datum
miaopi_match(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *applicant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz now = miaopi_now();
	Jsonb	   *payload = empty_payload();
	PolicyRef  *refs;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	refs = list_policies(&n);
	for (i = 0; i < n; i++)
	{
		PolicyOutcome out;
		MiaopiProgram *prog;
		int64		ruleset_id;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		if (!outcome_of(&refs[i], applicant, payload, now, &out, &prog, &ruleset_id))
			continue;
		miaopi_cache_release(prog);
		values[0] = CStringGetTextDatum(refs[i].code);
		values[1] = CStringGetTextDatum(refs[i].name);
		values[2] = BoolGetDatum(out.eligible);
		if (out.benefit)
			values[3] = NumericGetDatum(out.benefit);
		else
			nulls[3] = true;
		values[4] = PointerGetDatum(out.failed);
		values[5] = JsonbPGetDatum(out.reasons);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------
 * push()
 * ----------
 */

/* Plans of one push, prepared once per call */
typedef struct PushPlans
{
	SPIPlanPtr	insert;
	SPIPlanPtr	file;
} PushPlans;

/*
 * Record one batch: insert the matches, notify, and for apply: auto file
 * the applications.  Returns the matches recorded; adds to *eligible and
 * *filed.
 */
static int64
push_batch(PushPlans *plans, const MiaopiService *svc, MiaopiProgram *prog, TimestampTz now,
		   int batchno, Datum *ids, bool *elig, Datum *benefits, bool *benefit_nulls,
		   Datum *failed, int n, int64 *eligible, int64 *filed)
{
	Datum		values[7];
	int64		matched;
	int64		first = 0;
	int64		last = 0;
	int64		n_eligible = 0;
	Datum	   *new_ids;
	int			n_new = 0;
	int			dims[1];
	int			lbs[1] = {1};
	uint64		r;
	StringInfoData note;

	dims[0] = n;
	values[0] = CStringGetTextDatum(svc->code);
	values[1] = Int64GetDatum(prog->ruleset_id);
	values[2] = TimestampTzGetDatum(now);
	values[3] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	{
		Datum	   *bd = palloc(sizeof(Datum) * n);
		int			i;

		for (i = 0; i < n; i++)
			bd[i] = BoolGetDatum(elig[i]);
		values[4] = PointerGetDatum(construct_array(bd, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	}
	values[5] = PointerGetDatum(construct_md_array(benefits, benefit_nulls, 1, dims, lbs,
												   NUMERICOID, -1, false, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(failed, n, TEXTOID, -1, false, TYPALIGN_INT));

	if (SPI_execute_plan(plans->insert, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record the matches of policy \"%s\"", svc->code);
	matched = (int64) SPI_processed;
	new_ids = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		bool		e = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		if (first == 0 || id < first)
			first = id;
		if (id > last)
			last = id;
		if (e)
		{
			n_eligible++;
			new_ids[n_new++] = Int64GetDatum(id);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	*eligible += n_eligible;

	if (matched > 0)
	{
		initStringInfo(&note);
		appendStringInfoString(&note, "{\"service\": ");
		escape_json(&note, svc->code);
		appendStringInfo(&note, ", \"ruleset\": " INT64_FORMAT ", \"batch\": %d, \"matched\": " INT64_FORMAT
						 ", \"eligible\": " INT64_FORMAT ", \"first_match\": " INT64_FORMAT
						 ", \"last_match\": " INT64_FORMAT ", \"apply\": \"%s\"}",
						 prog->ruleset_id, batchno, matched, n_eligible, first, last,
						 mr_apply_name(prog->svc->policy->apply));
		Async_Notify(MIAOPI_POLICY_CHANNEL, note.data);
	}

	if (prog->svc->policy->apply == MR_APPLY_AUTO && n_new > 0)
	{
		Datum		fv[3];

		fv[0] = PointerGetDatum(construct_array(new_ids, n_new, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		fv[1] = CStringGetTextDatum(svc->code);
		fv[2] = TimestampTzGetDatum(now);
		if (SPI_execute_plan(plans->file, fv, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not file the applications of policy \"%s\"", svc->code);
		*filed += (int64) SPI_processed;
		SPI_freetuptable(SPI_tuptable);
	}
	return matched;
}

/* SQL: miaopi.push(service text) */
PG_FUNCTION_INFO_V1(miaopi_push);
Datum
miaopi_push(PG_FUNCTION_ARGS)
{
	text	   *code = PG_GETARG_TEXT_PP(0);
	const MiaopiService *csvc;
	MiaopiService svc;
	MiaopiProgram *prog;
	const MrPolicy *pol;
	TimestampTz now = miaopi_now();
	MiaopiOwnerSwitch owner;
	char	   *actor = GetUserNameFromId(GetUserId(), false);
	Portal		portal;
	PushPlans	plans;
	MemoryContext batchcxt;
	MemoryContext oldcxt;
	Jsonb	   *payload;
	int64		audience = 0;
	int64		matched = 0;
	int64		eligible = 0;
	int64		filed = 0;
	int			batchno = 0;
	bool		open;
	bool		pushed_before = false;
	StringInfoData detail;
	Oid			ins_types[7] = {TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTARRAYOID, BOOLARRAYOID,
		NUMERICARRAYOID, TEXTARRAYOID};
	Oid			file_types[3] = {INT8ARRAYOID, TEXTOID, TIMESTAMPTZOID};

	csvc = miaopi_service_or_error(code);
	svc = *csvc;				/* the cache may move under later lookups */
	svc.code = pstrdup(csvc->code);
	svc.calendar = pstrdup(csvc->calendar);
	prog = miaopi_cache_program(svc.ruleset_id);
	require_policy(&svc, prog, "push()");
	pol = prog->svc->policy;
	open = policy_open(&svc, pol, now);
	payload = empty_payload();

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (open)
	{
		/*
		 * Only a policy pushed before has outcomes to compare with; the
		 * first push of a policy skips that probe per row.
		 */
		{
			Datum		arg = CStringGetTextDatum(svc.code);
			Oid			argtype = TEXTOID;

			if (SPI_execute_with_args("SELECT 1 FROM miaopi.policy_match m"
									  " WHERE m.service_code OPERATOR(pg_catalog.=) $1 LIMIT 1",
									  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read the matches of policy \"%s\"", svc.code);
			pushed_before = SPI_processed > 0;
		}
		plans.insert = SPI_prepare(psprintf(
											"INSERT INTO miaopi.policy_match AS pm (service_code, ruleset_id, applicant_id,"
											" eligible, benefit, failed, matched_at, notified_at)"
											" SELECT $1, $2, n.a, n.e, n.b,"
											" pg_catalog.string_to_array(n.f, ','), $3, $3"
											" FROM ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
											" pg_catalog.unnest($7)) AS n(a, e, b, f)"
											" %s"
											" ON CONFLICT (ruleset_id, applicant_id) DO NOTHING"
											" RETURNING pm.id, pm.eligible",
											pushed_before ?
											" WHERE NOT EXISTS (SELECT 1 FROM (SELECT l.eligible, l.benefit, l.failed"
											"  FROM miaopi.policy_match l"
											"  WHERE l.service_code OPERATOR(pg_catalog.=) $1"
											"  AND l.applicant_id OPERATOR(pg_catalog.=) n.a"
											"  ORDER BY l.id DESC LIMIT 1) last"
											"  WHERE last.eligible OPERATOR(pg_catalog.=) n.e"
											"  AND last.benefit IS NOT DISTINCT FROM n.b"
											"  AND last.failed OPERATOR(pg_catalog.=) pg_catalog.string_to_array(n.f, ','))"
											: ""),
								   7, ins_types);
		plans.file = SPI_prepare(
								 "WITH m AS (SELECT pm.id, pm.applicant_id FROM miaopi.policy_match pm"
								 "  WHERE pm.id OPERATOR(pg_catalog.=) ANY ($1) AND pm.eligible"
								 "  AND NOT EXISTS (SELECT 1 FROM miaopi.policy_match p2"
								 "   JOIN miaopi.application a ON a.id OPERATOR(pg_catalog.=) p2.application_id"
								 "   WHERE p2.service_code OPERATOR(pg_catalog.=) $2"
								 "   AND p2.applicant_id OPERATOR(pg_catalog.=) pm.applicant_id"
								 "   AND a.status OPERATOR(pg_catalog.=) ANY ('{pending,supplement,accepted,reviewed,approved}'::text[]))),"
								 " ins AS (INSERT INTO miaopi.application (service_code, applicant_id, payload, channel)"
								 "  SELECT $2, m.applicant_id, '{}'::pg_catalog.jsonb, 'auto' FROM m"
								 "  RETURNING id, applicant_id, status),"
								 " upd AS (UPDATE miaopi.policy_match pm SET application_id = ins.id, confirmed_at = $3"
								 "  FROM ins WHERE pm.id OPERATOR(pg_catalog.=) ANY ($1)"
								 "  AND pm.applicant_id OPERATOR(pg_catalog.=) ins.applicant_id"
								 "  RETURNING ins.status)"
								 " SELECT upd.status FROM upd",
								 3, file_types);
		if (plans.insert == NULL || plans.file == NULL)
			elog(ERROR, "could not prepare the push: %s", SPI_result_code_string(SPI_result));

		portal = SPI_cursor_open_with_args(NULL,
										   psprintf("SELECT t.%s::pg_catalog.text FROM %s t WHERE t.%s IS NOT NULL",
													quote_identifier(pol->audience_key),
													audience_relation(pol),
													quote_identifier(pol->audience_key)),
										   0, NULL, NULL, NULL, true, 0);
		batchcxt = AllocSetContextCreate(CurrentMemoryContext, "miaopi push batch",
										 ALLOCSET_DEFAULT_SIZES);
		for (;;)
		{
			uint64		r;
			int			n;
			Datum	   *ids;
			bool	   *elig;
			Datum	   *benefits;
			bool	   *bnulls;
			Datum	   *failed;
			SPITupleTable *tt;

			SPI_cursor_fetch(portal, true, POLICY_BATCH);
			if (SPI_processed == 0)
				break;
			tt = SPI_tuptable;
			n = (int) SPI_processed;
			oldcxt = MemoryContextSwitchTo(batchcxt);
			ids = palloc(sizeof(Datum) * n);
			elig = palloc(sizeof(bool) * n);
			benefits = palloc(sizeof(Datum) * n);
			bnulls = palloc(sizeof(bool) * n);
			failed = palloc(sizeof(Datum) * n);
			for (r = 0; r < (uint64) n; r++)
			{
				bool		isnull;
				text	   *key = DatumGetTextPP(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
				PolicyOutcome out;

				CHECK_FOR_INTERRUPTS();
				key = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(key));
				evaluate_for(prog, payload, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), "auto",
							 now, true, &out);
				ids[r] = PointerGetDatum(key);
				elig[r] = out.eligible;
				bnulls[r] = (out.benefit == NULL);
				benefits[r] = out.benefit ? NumericGetDatum(out.benefit) : (Datum) 0;
				failed[r] = CStringGetTextDatum(out.failed_list);
			}
			SPI_freetuptable(tt);
			audience += n;
			matched += push_batch(&plans, &svc, prog, now, ++batchno, ids, elig, benefits,
								  bnulls, failed, n, &eligible, &filed);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(batchcxt);
		}
		SPI_cursor_close(portal);
		MemoryContextDelete(batchcxt);
	}

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"service\": ");
	escape_json(&detail, svc.code);
	appendStringInfo(&detail, ", \"ruleset\": " INT64_FORMAT ", \"version\": %d, \"open\": %s"
					 ", \"audience\": " INT64_FORMAT ", \"matched\": " INT64_FORMAT
					 ", \"eligible\": " INT64_FORMAT ", \"filed\": " INT64_FORMAT ", \"apply\": \"%s\"}",
					 prog->ruleset_id, prog->version, open ? "true" : "false", audience, matched,
					 eligible, filed, mr_apply_name(pol->apply));
	miaopi_event_insert(0, now, "policy_push", actor, NULL, NULL, NULL, detail.data);

	SPI_finish();
	miaopi_restore_user(&owner);
	miaopi_cache_release(prog);
	PG_RETURN_INT64(matched);
}

/* ----------
 * confirm() and apply_all()
 * ----------
 */

/*
 * File the application of a match as the caller, then record it on the
 * match as the owner.  Returns the application id; *status its status.
 */
static int64
file_match(int64 match_id, const char *service, const char *applicant, TimestampTz now,
		   char **status)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	int64		app_id;
	bool		isnull;
	int			lvl;
	MiaopiOwnerSwitch owner;
	StringInfoData detail;
	char	   *actor = GetUserNameFromId(GetUserId(), false);
	MemoryContext caller = CurrentMemoryContext;

	/* the caller's INSERT: its privileges and scopes apply */
	lvl = miaopi_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(service);
	values[1] = CStringGetTextDatum(applicant);
	if (SPI_execute_with_args("INSERT INTO miaopi.application (service_code, applicant_id, payload, channel)"
							  " VALUES ($1, $2, '{}'::pg_catalog.jsonb, 'online') RETURNING id, status",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not file the application of policy match " INT64_FORMAT, match_id);
	app_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*status = MemoryContextStrdup(caller, *status);
	SPI_finish();
	AtEOXact_GUC(false, lvl);

	/* and the match, as the owner */
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(match_id);
	values[1] = TimestampTzGetDatum(now);
	values[2] = Int64GetDatum(app_id);
	types[0] = INT8OID;
	types[1] = TIMESTAMPTZOID;
	if (SPI_execute_with_args("UPDATE miaopi.policy_match SET confirmed_at = $2, application_id = $3"
							  " WHERE id OPERATOR(pg_catalog.=) $1", 3, types, values, NULL,
							  false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record policy match " INT64_FORMAT, match_id);
	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"match\": " INT64_FORMAT ", \"service\": ", match_id);
	escape_json(&detail, service);
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(app_id, now, "policy_confirm", actor, NULL, *status, NULL, detail.data);
	SPI_finish();
	miaopi_restore_user(&owner);
	return app_id;
}

/* SQL: miaopi.confirm(match_id bigint) */
PG_FUNCTION_INFO_V1(miaopi_confirm);
Datum
miaopi_confirm(PG_FUNCTION_ARGS)
{
	int64		match_id = PG_GETARG_INT64(0);
	TimestampTz now = miaopi_now();
	MiaopiOwnerSwitch owner;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *service;
	char	   *applicant;
	char	   *failed;
	bool		eligible;
	bool		confirmed;
	char	   *status;
	int64		app_id;
	MemoryContext caller = CurrentMemoryContext;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(match_id);
	if (SPI_execute_with_args("SELECT service_code, applicant_id, eligible,"
							  " confirmed_at IS NOT NULL OR application_id IS NOT NULL,"
							  " pg_catalog.array_to_string(failed, ', '), application_id"
							  " FROM miaopi.policy_match WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read policy match " INT64_FORMAT, match_id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("policy match " INT64_FORMAT " does not exist", match_id),
				 errhint("Look the match up in miaopi.policy_match, or call miaopi.match().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	service = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 1));
	applicant = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));
	eligible = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	confirmed = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	failed = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 5));
	if (confirmed)
	{
		char	   *app = SPI_getvalue(tup, desc, 6);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("policy match " INT64_FORMAT " is already confirmed", match_id),
				 app ? errdetail("Application %s was filed for it.", app) : 0,
				 errhint("A match is confirmed once; look the application up in miaopi.application.")));
	}
	if (!eligible)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("policy match " INT64_FORMAT " is not eligible", match_id),
				 errdetail("Not passed: %s.", failed),
				 errhint("Only an eligible match can be confirmed; miaopi.match() shows what stands in the way.")));
	SPI_finish();
	miaopi_restore_user(&owner);

	app_id = file_match(match_id, service, applicant, now, &status);
	PG_RETURN_INT64(app_id);
}

/* SQL: miaopi.apply_all(applicant_id text) */
PG_FUNCTION_INFO_V1(miaopi_apply_all);
Datum
miaopi_apply_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *applicant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz now = miaopi_now();
	Jsonb	   *payload = empty_payload();
	PolicyRef  *refs;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	refs = list_policies(&n);
	for (i = 0; i < n; i++)
	{
		PolicyOutcome out;
		MiaopiProgram *prog;
		int64		ruleset_id;
		int64		match_id = 0;
		bool		skip = false;
		MiaopiOwnerSwitch owner;
		Oid			types[8] = {TEXTOID, INT8OID, TEXTOID, BOOLOID, NUMERICOID, TEXTARRAYOID,
			JSONBOID, TIMESTAMPTZOID};
		Datum		values[8];
		char		nulls[8] = "        ";
		Datum		row[3];
		bool		rnulls[3] = {false, false, false};
		char	   *status;
		int64		app_id;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (!outcome_of(&refs[i], applicant, payload, now, &out, &prog, &ruleset_id))
			continue;
		miaopi_cache_release(prog);
		if (!out.eligible)
			continue;

		/* the match of this ruleset, unless the applicant already applied */
		miaopi_become_owner(&owner);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		values[0] = CStringGetTextDatum(refs[i].code);
		values[1] = Int64GetDatum(ruleset_id);
		values[2] = CStringGetTextDatum(applicant);
		values[3] = BoolGetDatum(true);
		if (out.benefit)
			values[4] = NumericGetDatum(out.benefit);
		else
			nulls[4] = 'n';
		values[5] = PointerGetDatum(out.failed);
		values[6] = JsonbPGetDatum(out.reasons);
		values[7] = TimestampTzGetDatum(now);
		if (SPI_execute_with_args("SELECT 1 FROM miaopi.policy_match p2"
								  " JOIN miaopi.application a ON a.id OPERATOR(pg_catalog.=) p2.application_id"
								  " WHERE p2.service_code OPERATOR(pg_catalog.=) $1"
								  " AND p2.applicant_id OPERATOR(pg_catalog.=) $3"
								  " AND a.status OPERATOR(pg_catalog.=) ANY ('{pending,supplement,accepted,reviewed,approved}'::text[])"
								  " AND $2 IS NOT NULL",
								  3, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the policy matches");
		skip = SPI_processed > 0;
		if (!skip)
		{
			if (SPI_execute_with_args("INSERT INTO miaopi.policy_match AS pm (service_code, ruleset_id,"
									  " applicant_id, eligible, benefit, failed, matched_at)"
									  " VALUES ($1, $2, $3, $4, $5, $6, $8)"
									  " ON CONFLICT (ruleset_id, applicant_id) DO UPDATE SET eligible = excluded.eligible"
									  " WHERE pm.application_id IS NULL"
									  " RETURNING pm.id",
									  8, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "could not record the policy match");
			if (SPI_processed == 0)
				skip = true;
			else
				match_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		miaopi_restore_user(&owner);
		if (skip)
			continue;

		app_id = file_match(match_id, refs[i].code, applicant, now, &status);
		row[0] = CStringGetTextDatum(refs[i].code);
		row[1] = Int64GetDatum(app_id);
		row[2] = CStringGetTextDatum(status);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, rnulls);
	}
	return (Datum) 0;
}
