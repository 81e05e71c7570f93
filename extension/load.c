/*-------------------------------------------------------------------------
 *
 * load.c
 *	  SQL functions load_rules() and evaluate().
 *
 * load_rules compiles every document of its source (with lookup tables
 * resolved strictly), compiles each regular expression, runs each
 * document's tests:, and only then stores each service and a new immutable
 * ruleset version and points the service at it.  Any error aborts the
 * whole call, so a source loads entirely or not at all.  Storing fires the
 * invalidation trigger on miaopi.service, which tells every backend to
 * re-read which ruleset is current; the new program is compiled in each
 * backend on first use.
 *
 * IDENTIFICATION
 *	  extension/load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "cache.h"
#include "calendar.h"
#include "eval.h"
#include "ledger.h"
#include "lookup.h"
#include "miaopi.h"
#include "scope.h"
#include "service.h"
#include "trigger.h"
#include "application.h"

/* Error context while one service of a load is processed */
static void
load_context(void *arg)
{
	MrService  *svc = (MrService *) arg;

	errcontext("service \"%s\" (line %d of the rules source)", svc->code, svc->line);
}

static char *
sha256_hex(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/* The steps of a service as the JSON array miaopi.service.steps holds */
static char *
steps_json(const MrService *svc)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < svc->nsteps; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "{\"step\": \"%s\", \"limit\": ", svc->steps[i].name);
		if (svc->steps[i].limit_days < 0)
			appendStringInfoString(&buf, "null}");
		else
			appendStringInfo(&buf, "%d}", svc->steps[i].limit_days);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted, comma-separated list of ids, for comparing and for messages */
static char *
id_list(char **ids, int n)
{
	StringInfoData buf;
	char	  **sorted = palloc(sizeof(char *) * Max(n, 1));
	int			i;

	memcpy(sorted, ids, sizeof(char *) * n);
	qsort(sorted, n, sizeof(char *), cmp_cstr);
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, sorted[i]);
	}
	return buf.len > 0 ? buf.data : pstrdup("none");
}

static Datum
text_from_utf8(const char *s)
{
	char	   *conv = pg_any_to_server(s, strlen(s), PG_UTF8);

	return CStringGetTextDatum(conv);
}

/*
 * Run one test of a service; raise check_violation if it does not decide
 * as the test expects.
 */
static void
run_test(MiaopiProgram *prog, MrTest *test)
{
	MiaopiInput in;
	MiaopiDecision dec;
	Datum		payload;
	char	   *got_failed;

	memset(&in, 0, sizeof(in));
	/* a rules test never reads the licences on file: it declares them */
	in.doctest = true;
	in.nheld = test->nlicences;
	in.held = test->licences;
	in.applicant_id = pg_any_to_server(test->applicant_id, strlen(test->applicant_id), PG_UTF8);
	in.applicant_id_len = strlen(in.applicant_id);
	if (test->applicant_name)
	{
		in.applicant_name = pg_any_to_server(test->applicant_name,
											 strlen(test->applicant_name), PG_UTF8);
		in.applicant_name_len = strlen(in.applicant_name);
	}
	in.channel = test->channel ? test->channel : "online";
	in.channel_len = strlen(in.channel);
	payload = DirectFunctionCall1(jsonb_in,
								  CStringGetDatum(pg_any_to_server(test->payload_json,
																   strlen(test->payload_json),
																   PG_UTF8)));
	in.payload = DatumGetJsonbP(payload);
	miaopi_check_payload(in.payload);
	if (test->nmaterials > 0)
	{
		int			i;

		in.materials = palloc(sizeof(Datum) * test->nmaterials);
		for (i = 0; i < test->nmaterials; i++)
			in.materials[i] = text_from_utf8(test->materials[i]);
		in.nmaterials = test->nmaterials;
	}
	if (test->ncommitments > 0)
	{
		int			i;

		in.commitments = palloc(sizeof(Datum) * test->ncommitments);
		for (i = 0; i < test->ncommitments; i++)
			in.commitments[i] = text_from_utf8(test->commitments[i]);
		in.ncommitments = test->ncommitments;
	}
	in.now = miaopi_now();
	/* like a payload timestamp: local time of the service's calendar */
	if (test->now &&
		!miaopi_parse_timestamptz_in(test->now, strlen(test->now),
									 miaopi_calendar_timezone(prog->svc->calendar),
									 &in.now))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("test \"%s\" has an invalid now: \"%s\"", test->name, test->now),
				 errdetail("Line %d.", test->line),
				 errhint("Write an ISO 8601 timestamp, e.g. 2026-12-01T10:00:00+08:00 (without an offset it is the calendar's local time).")));
	in.submitted_at = in.now;

	miaopi_evaluate(prog, &in, &dec);

	got_failed = id_list(dec.not_passed, dec.nnot_passed);
	if (dec.decision != test->expect ||
		(test->has_failed &&
		 strcmp(got_failed, id_list((char **) test->failed, test->nfailed)) != 0))
	{
		char	   *reasons = JsonbToCString(NULL, &dec.reasons->root, VARSIZE(dec.reasons));

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("test \"%s\" of service \"%s\" failed", test->name, prog->svc->code),
				 errdetail("Line %d: expected %s with failed checks [%s], got %s with [%s].",
						   test->line, miaopi_expect_name(test->expect),
						   test->has_failed ? id_list((char **) test->failed, test->nfailed) : "any",
						   miaopi_expect_name(dec.decision), got_failed),
				 errhint("Fix the rules or the test. The reasons were: %s", reasons)));
	}
}

/*
 * check_load_scope refuses a load for a service the caller has no load
 * scope for: in the department the document gives it and, for a service
 * that exists, in the department it has now (so that no one moves another
 * department's service into their own).
 */
static void
check_load_scope(Oid caller, MrService *svc)
{
	char	   *code = pg_any_to_server(svc->code, strlen(svc->code), PG_UTF8);
	char	   *department = svc->department ?
		pg_any_to_server(svc->department, strlen(svc->department), PG_UTF8) : NULL;
	const MiaopiService *current;

	miaopi_scope_check(caller, MIAOPI_SCOPE_LOAD, department, code);
	current = miaopi_service_lookup(code, strlen(code), true);
	if (current != NULL &&
		!(current->department == NULL && department == NULL) &&
		!(current->department != NULL && department != NULL &&
		  strcmp(current->department, department) == 0))
		miaopi_scope_check(caller, MIAOPI_SCOPE_LOAD, current->department, code);
}

/* Fail clearly on an unknown calendar rather than on the foreign key */
static void
check_calendar(SPIPlanPtr plan, MrService *svc)
{
	Datum		arg = text_from_utf8(svc->calendar);

	if (SPI_execute_plan(plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read miaopi.calendar");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown calendar \"%s\"", svc->calendar),
				 errdetail("Line %d, service \"%s\".", svc->line, svc->code),
				 errhint("Add it to miaopi.calendar, or use calendar \"cn\".")));
}

static SPIPlanPtr
prepare(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * Store one service and a new ruleset version for it; returns the version.
 */
static int
store_service(MrService *svc, const char *utf8_source, const char *loaded_by)
{
	Oid			svc_types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	INT4OID, BOOLOID, JSONBOID, FLOAT8OID, INT4OID};
	Datum		v[11];
	char		n[11];
	char	   *doc;
	bool		isnull;
	int64		ruleset_id;
	int			version;

	memset(n, ' ', sizeof(n));
	v[0] = text_from_utf8(svc->code);
	v[1] = text_from_utf8(svc->name);
	if (svc->department)
		v[2] = text_from_utf8(svc->department);
	else
		n[2] = 'n';
	v[3] = CStringGetTextDatum(mr_kind_name(svc->kind));
	v[4] = text_from_utf8(svc->calendar);
	v[5] = Int32GetDatum(svc->statutory_days);
	v[6] = Int32GetDatum(svc->promised_days);
	v[7] = BoolGetDatum(svc->auto_approve);
	v[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(steps_json(svc)));
	v[9] = Float8GetDatum(svc->warn_ratio);
	v[10] = Int32GetDatum(svc->extension_days);

	/*
	 * The upsert locks the service row, so a concurrent load of the same
	 * service waits here until the first commits.  The next version is read
	 * by a statement of its own, with a snapshot taken after that wait: in
	 * the upsert's RETURNING it would come from the snapshot taken before
	 * the wait and repeat the other load's version.
	 */
	if (SPI_execute_with_args("INSERT INTO miaopi.service AS s (code, name, department, kind, calendar,"
							  " statutory_days, promised_days, auto_approve, steps, warn_ratio, extension_days)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
							  " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
							  " department = excluded.department, kind = excluded.kind,"
							  " calendar = excluded.calendar, statutory_days = excluded.statutory_days,"
							  " promised_days = excluded.promised_days, auto_approve = excluded.auto_approve,"
							  " steps = excluded.steps, warn_ratio = excluded.warn_ratio,"
							  " extension_days = excluded.extension_days",
							  11, svc_types, v, n, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store service \"%s\"", svc->code);
	if (SPI_execute_with_args("SELECT pg_catalog.int4pl(COALESCE(pg_catalog.max(r.version), 0), 1)"
							  " FROM miaopi.ruleset r WHERE r.service_code OPERATOR(pg_catalog.=) $1",
							  1, svc_types, v, n, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the versions of service \"%s\"", svc->code);
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	doc = pnstrdup(utf8_source + svc->src_offset, svc->src_length);
	v[1] = Int32GetDatum(version);
	v[2] = text_from_utf8(doc);
	v[3] = CStringGetTextDatum(sha256_hex(doc, svc->src_length));
	v[4] = TimestampTzGetDatum(miaopi_now());
	v[5] = CStringGetTextDatum(loaded_by);
	{
		Oid			types[6] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};

		if (SPI_execute_with_args("INSERT INTO miaopi.ruleset (service_code, version, source, sha256,"
								  " loaded_at, loaded_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
								  6, types, v, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not store a ruleset of service \"%s\"", svc->code);
	}
	ruleset_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	/* a rules load is an event of the system chain (the audit ledger) */
	if (miaopi_ledger_event_columns())
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfo(&detail, "{\"ruleset\": " INT64_FORMAT ", \"service\": ", ruleset_id);
		escape_json(&detail, svc->code);
		appendStringInfo(&detail, ", \"version\": %d, \"sha256\": \"%s\"}", version,
						 TextDatumGetCString(v[3]));
		miaopi_event_insert(0, DatumGetTimestampTz(v[4]), "load_rules", loaded_by,
							NULL, NULL, NULL, detail.data);
	}

	v[1] = Int64GetDatum(ruleset_id);
	{
		Oid			types[2] = {TEXTOID, INT8OID};

		if (SPI_execute_with_args("UPDATE miaopi.service SET current_ruleset = $2"
								  " WHERE code OPERATOR(pg_catalog.=) $1",
								  2, types, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update service \"%s\"", svc->code);
	}
	return version;
}

/* SQL: miaopi.load_rules(source text, run_tests bool default true) */
PG_FUNCTION_INFO_V1(miaopi_load_rules);
Datum
miaopi_load_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *source;
	bool		run_tests;
	char	   *utf8;
	size_t		len;
	MrArena    *arena;
	MrRuleset  *rs;
	MiaopiProgram **progs;
	Oid			cal_type = TEXTOID;
	SPIPlanPtr	cal_plan;
	ErrorContextCallback errcallback;
	char	   *loaded_by;
	MiaopiOwnerSwitch owner;
	int			i,
				t;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Pass the text of a rules file.")));
	source = PG_GETARG_TEXT_PP(0);
	run_tests = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	InitMaterializedSRF(fcinfo, 0);

	utf8 = miaopi_source_utf8(source, "Split the rules into several load_rules() calls.", &len);

	arena = miaopi_arena_create();
	rs = miaopi_compile_or_error(arena, utf8, len, true);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cal_plan = prepare("SELECT 1 FROM miaopi.calendar WHERE name OPERATOR(pg_catalog.=) $1",
					   1, &cal_type);

	errcallback.callback = load_context;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/* check everything before writing anything */
	progs = palloc(sizeof(MiaopiProgram *) * Max(rs->nservices, 1));
	for (i = 0; i < rs->nservices; i++)
	{
		MrService  *svc = rs->services[i];

		errcallback.arg = svc;
		check_load_scope(GetUserId(), svc);
		check_calendar(cal_plan, svc);
		progs[i] = miaopi_program_build(svc, 0, 0);
		miaopi_eval_validate(progs[i]);
		if (run_tests)
			for (t = 0; t < svc->ntests; t++)
				run_test(progs[i], &svc->tests[t]);
	}

	/*
	 * Store as the owner of miaopi's tables: whoever may execute load_rules
	 * may load rules without write access to them.  Lookup tables were
	 * resolved above with the caller's own privileges, and loaded_by names
	 * the caller.
	 */
	loaded_by = GetUserNameFromId(GetUserId(), false);
	miaopi_become_owner(&owner);
	for (i = 0; i < rs->nservices; i++)
	{
		MrService  *svc = rs->services[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		errcallback.arg = svc;
		values[0] = text_from_utf8(svc->code);
		values[1] = Int32GetDatum(store_service(svc, utf8, loaded_by));
		values[2] = Int32GetDatum(svc->nchecks);
		values[3] = Int32GetDatum(run_tests ? svc->ntests : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	miaopi_restore_user(&owner);
	error_context_stack = errcallback.previous;

	SPI_finish();
	return (Datum) 0;
}

/* SQL: miaopi.evaluate(service, applicant_id, payload, materials, applicant_name [, commitments]) */
PG_FUNCTION_INFO_V1(miaopi_evaluate_sql);
Datum
miaopi_evaluate_sql(PG_FUNCTION_ARGS)
{
	const MiaopiService *svc;
	MiaopiProgram *prog;
	MiaopiInput in;
	MiaopiDecision dec;
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				v;
	text	   *t;
	int			i;
	static const char *const argnames[] = {"service", "applicant_id", "payload"};

	for (i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i]),
					 errhint("Only materials and applicant_name may be null.")));

	svc = miaopi_service_copy(miaopi_service_or_error(PG_GETARG_TEXT_PP(0)));

	memset(&in, 0, sizeof(in));
	t = PG_GETARG_TEXT_PP(1);
	in.applicant_id = VARDATA_ANY(t);
	in.applicant_id_len = VARSIZE_ANY_EXHDR(t);
	in.payload = PG_GETARG_JSONB_P(2);
	miaopi_check_payload(in.payload);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
						  &in.materials, &in.material_nulls, &in.nmaterials);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		t = PG_GETARG_TEXT_PP(4);
		in.applicant_name = VARDATA_ANY(t);
		in.applicant_name_len = VARSIZE_ANY_EXHDR(t);
	}
	/* evaluate(..., commitments text[]): the materials committed to (告知承诺) */
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), TEXTOID, -1, false, TYPALIGN_INT,
						  &in.commitments, &in.commitment_nulls, &in.ncommitments);
	in.channel = "online";
	in.channel_len = strlen(in.channel);
	in.now = miaopi_now();
	in.submitted_at = in.now;

	prog = miaopi_cache_program(svc->ruleset_id);
	miaopi_evaluate(prog, &in, &dec);
	miaopi_cache_release(prog);

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "decision";
	k.val.string.len = strlen("decision");
	pushJsonbValue(&ps, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) miaopi_expect_name(dec.decision);
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&ps, WJB_VALUE, &v);

	k.val.string.val = "ruleset";
	k.val.string.len = strlen("ruleset");
	pushJsonbValue(&ps, WJB_KEY, &k);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(svc->ruleset_id);
	pushJsonbValue(&ps, WJB_VALUE, &v);

	k.val.string.val = "reasons";
	k.val.string.len = strlen("reasons");
	pushJsonbValue(&ps, WJB_KEY, &k);
	v.type = jbvBinary;
	v.val.binary.data = &dec.reasons->root;
	v.val.binary.len = VARSIZE(dec.reasons) - VARHDRSZ;
	pushJsonbValue(&ps, WJB_VALUE, &v);

	/* what was fetched (from:) and decided on, when the service fetches */
	if (dec.payload != NULL)
	{
		k.val.string.val = "payload";
		k.val.string.len = strlen("payload");
		pushJsonbValue(&ps, WJB_KEY, &k);
		v.type = jbvBinary;
		v.val.binary.data = &dec.payload->root;
		v.val.binary.len = VARSIZE(dec.payload) - VARHDRSZ;
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}

	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL)));
}
