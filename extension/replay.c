/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  SQL function replay(): what a candidate rules source would have
 *	  decided over a service's past applications.
 *
 * The candidate is compiled exactly as load_rules compiles it (the same
 * compiler, strict lookup resolution with the caller's privileges, the
 * same regular-expression validation), so a source that would not load
 * fails here with the same SQLSTATE, line and column; nothing is stored
 * and its tests: are not run.  It must hold one service document, of a
 * service that exists.
 *
 * The applications are read as the owner of miaopi's tables (an analyst
 * needs no privilege on miaopi.application) through a cursor, a batch at a
 * time, and each is decided as it was submitted: its payload, materials,
 * channel and applicant, with miaopi.now() (today(), now() in rules) pinned
 * to its submitted_at.  Evaluation runs as the caller, like evaluate(), so
 * lookups read today's reference data with the caller's privileges.
 *
 * What counts as a change: the machine's decision (approve, reject, or
 * manual for an application the machine sent to a person, whatever the
 * person then decided) differs, or the set of checks that did not pass
 * differs (application.not_passed against the candidate's).  changed lists
 * the checks in the symmetric difference, sorted.  Rows come back in the
 * order the scan meets them; nothing personal is returned.
 *
 * Memory: one short-lived context per application, reset after each, so a
 * replay over a million applications runs in constant memory apart from
 * its result.
 *
 * IDENTIFICATION
 *	  extension/replay.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "cache.h"
#include "eval.h"
#include "miaopi.h"
#include "service.h"

/* Applications fetched per batch */
#define REPLAY_BATCH 1000

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort ids and drop duplicates; returns the new count */
static int
sort_unique(char **ids, int n)
{
	int			i,
				out = 0;

	qsort(ids, n, sizeof(char *), cmp_cstr);
	for (i = 0; i < n; i++)
		if (out == 0 || strcmp(ids[out - 1], ids[i]) != 0)
			ids[out++] = ids[i];
	return out;
}

/*
 * Old not-passed ids of an application from its not_passed column
 * ("r:id", "m:id", "e:id"); *n gets their count.
 */
static char **
old_not_passed(Datum arr, bool isnull, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems,
				i;
	char	  **ids;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	ids = palloc(sizeof(char *) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		char	   *s;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(elems[i]);
		ids[(*n)++] = (s[0] != '\0' && s[1] == ':') ? s + 2 : s;
	}
	return ids;
}

/* Text array of ids */
static Datum
id_array(char **ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(ids[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The symmetric difference of two sorted, duplicate-free id lists, into
 * out (room for na + nb); returns its length.
 */
static int
id_difference(char **a, int na, char **b, int nb, char **out)
{
	int			i = 0,
				j = 0,
				n = 0;

	while (i < na || j < nb)
	{
		int			c = (i >= na) ? 1 : (j >= nb) ? -1 : strcmp(a[i], b[j]);

		if (c == 0)
		{
			i++;
			j++;
		}
		else if (c < 0)
			out[n++] = a[i++];
		else
			out[n++] = b[j++];
	}
	return n;
}

/* Compile source into the one service's program, or raise load_rules' error */
static MiaopiProgram *
compile_candidate(text *source)
{
	size_t		len;
	char	   *utf8;
	MrArena    *arena;
	MrRuleset  *rs;
	MrService  *svc;
	MiaopiProgram *prog;
	char	   *code;

	utf8 = miaopi_source_utf8(source, "Replay one service's document.", &len);

	arena = miaopi_arena_create();
	rs = miaopi_compile_or_error(arena, utf8, len, true);
	if (rs->nservices != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("replay takes the rules of one service, the source has %d documents",
						rs->nservices),
				 errdetail("Line %d starts document 2 (service \"%s\").",
						   rs->services[1]->line,
						   pg_any_to_server(rs->services[1]->code,
											strlen(rs->services[1]->code), PG_UTF8)),
				 errhint("Replay each service's document on its own.")));
	svc = rs->services[0];
	code = pg_any_to_server(svc->code, strlen(svc->code), PG_UTF8);
	if (miaopi_service_lookup(code, strlen(code), true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("service \"%s\" does not exist", code),
				 errdetail("Line %d: replay decides the past applications of a loaded service.",
						   svc->line),
				 errhint("Check the service: key, or load the service with miaopi.load_rules first.")));

	prog = miaopi_program_build(svc, 0, 0);
	prog->arena = arena;
	miaopi_eval_validate(prog);
	return prog;
}

/* SQL: miaopi.replay(source text, since timestamptz, until timestamptz) */
PG_FUNCTION_INFO_V1(miaopi_replay);
Datum
miaopi_replay(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MiaopiProgram *prog;
	Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[3];
	char		argnulls[3] = {' ', ' ', ' '};
	SPIPlanPtr	plan;
	Portal		portal;
	MiaopiOwnerSwitch owner;
	MemoryContext rowcxt,
				oldcxt;
	Datum		service;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Pass the text of one service's rules.")));
	InitMaterializedSRF(fcinfo, 0);

	prog = compile_candidate(PG_GETARG_TEXT_PP(0));
	service = CStringGetTextDatum(pg_any_to_server(prog->svc->code,
												   strlen(prog->svc->code), PG_UTF8));
	args[0] = service;
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	argnulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	argnulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	miaopi_become_owner(&owner);
	plan = SPI_prepare("SELECT id, applicant_id, applicant_name, payload, materials, channel,"
					   " submitted_at, decision, decided_by, not_passed"
					   " FROM miaopi.application"
					   " WHERE service_code OPERATOR(pg_catalog.=) $1"
					   " AND ($2 IS NULL OR submitted_at OPERATOR(pg_catalog.>=) $2)"
					   " AND ($3 IS NULL OR submitted_at OPERATOR(pg_catalog.<) $3)",
					   3, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, argnulls, true);
	miaopi_restore_user(&owner);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "miaopi replay row",
								   ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		r;
		SPITupleTable *tuptable;

		miaopi_become_owner(&owner);
		SPI_cursor_fetch(portal, true, REPLAY_BATCH);
		miaopi_restore_user(&owner);
		if (SPI_processed == 0)
			break;
		tuptable = SPI_tuptable;

		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = tuptable->vals[r];
			TupleDesc	desc = tuptable->tupdesc;
			MiaopiInput in;
			MiaopiDecision dec;
			bool		isnull;
			Datum		d;
			text	   *t;
			char	   *decision,
					   *decided_by,
					   *old_decision;
			const char *new_decision;
			char	  **old_ids,
					  **new_ids,
					  **diff;
			int			nold,
						nnew,
						ndiff;
			int64		id;

			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(rowcxt);

			memset(&in, 0, sizeof(in));
			id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			t = DatumGetTextPP(SPI_getbinval(tup, desc, 2, &isnull));
			in.applicant_id = VARDATA_ANY(t);
			in.applicant_id_len = VARSIZE_ANY_EXHDR(t);
			d = SPI_getbinval(tup, desc, 3, &isnull);
			if (!isnull)
			{
				t = DatumGetTextPP(d);
				in.applicant_name = VARDATA_ANY(t);
				in.applicant_name_len = VARSIZE_ANY_EXHDR(t);
			}
			in.payload = DatumGetJsonbP(SPI_getbinval(tup, desc, 4, &isnull));
			d = SPI_getbinval(tup, desc, 5, &isnull);
			if (!isnull)
				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
								  &in.materials, &in.material_nulls, &in.nmaterials);
			d = SPI_getbinval(tup, desc, 6, &isnull);
			if (!isnull)
			{
				t = DatumGetTextPP(d);
				in.channel = VARDATA_ANY(t);
				in.channel_len = VARSIZE_ANY_EXHDR(t);
			}
			else
				in.channel = "";
			d = SPI_getbinval(tup, desc, 7, &isnull);
			in.submitted_at = isnull ? miaopi_now() : DatumGetTimestampTz(d);
			in.now = in.submitted_at;

			/* what the machine decided then */
			decision = SPI_getvalue(tup, desc, 8);
			decided_by = SPI_getvalue(tup, desc, 9);
			old_decision = (decided_by != NULL && strcmp(decided_by, "miaopi") == 0 &&
							decision != NULL) ? decision : "manual";
			d = SPI_getbinval(tup, desc, 10, &isnull);
			old_ids = old_not_passed(d, isnull, &nold);
			nold = nold > 0 ? sort_unique(old_ids, nold) : 0;

			/* and what the candidate decides */
			miaopi_evaluate(prog, &in, &dec);
			new_decision = miaopi_expect_name(dec.decision);
			new_ids = dec.not_passed;
			nnew = dec.nnot_passed > 0 ? sort_unique(new_ids, dec.nnot_passed) : 0;

			diff = palloc(sizeof(char *) * Max(nold + nnew, 1));
			ndiff = id_difference(old_ids, nold, new_ids, nnew, diff);

			if (ndiff > 0 || strcmp(old_decision, new_decision) != 0)
			{
				Datum		values[5];
				bool		nulls[5] = {false, false, false, false, false};

				values[0] = Int64GetDatum(id);
				values[1] = service;
				values[2] = CStringGetTextDatum(old_decision);
				values[3] = CStringGetTextDatum(new_decision);
				values[4] = id_array(diff, ndiff);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(tuptable);
	}
	miaopi_become_owner(&owner);
	SPI_cursor_close(portal);
	miaopi_restore_user(&owner);
	MemoryContextDelete(rowcxt);
	SPI_finish();
	return (Datum) 0;
}
