/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The time-limit clock: the per-backend service cache, an application's
 *	  current step, dues, used and remaining working days and light, the
 *	  functions behind view miaopi.clock, and sweep().
 *
 * The clock of an accepted application runs from accepted_at against two
 * dues, promised_due (the agency's promise) and statutory_due (the law's
 * limit), both the end of a working day in the service's calendar.  A
 * pause freezes the clock at paused_at; resuming moves both dues (and the
 * current step's due) by the working days paused.  The decision stops the
 * clock; delivery closes the application.  Each step of the service's
 * sequence may carry its own limit, tracked as step_due.
 *
 * Light: green; yellow once warn_ratio of the promised working days are
 * used or at most one working day remains after today; red past
 * promised_due or past step_due; overdue past statutory_due.  A closed
 * application keeps the light it finished with.
 *
 * Everything here is computed from an application's own columns and the
 * cached service, so view miaopi.clock costs a few comparisons and at most
 * three O(1) calendar counts per row, with no join and no SPI.  The view
 * calls one small SQL function per column, all with the same arguments;
 * PostgreSQL evaluates only the columns a query uses.
 *
 * sweep() scans the open applications without locks, then locks each
 * candidate with FOR UPDATE SKIP LOCKED, recomputes its clock and records
 * what it finds; clock_flags remembers each crossing, so a crossing is
 * recorded exactly once even by concurrent sweeps.  With the ledger (1.1)
 * the second pass works a batch of candidates at a time: one statement
 * locks and reads them, one UPDATE writes the rows back and one INSERT
 * appends their events, hash-chained in C (sweep_batch).
 *
 * IDENTIFICATION
 *	  extension/clock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "calendar.h"
#include "clock.h"
#include "commitment.h"
#include "miaopi.h"
#include "ledger.h"
#include "service.h"
#include "application.h"

/*
 * What the clock_* SQL functions keep in fn_extra: the services of the last
 * few distinct codes seen (rows of a few services come interleaved), valid
 * while the service cache generation holds.
 */
#define CLOCK_FN_SERVICES 4
typedef struct ClockFnService
{
	int			len;			/* -1: empty */
	char		code[64];		/* service codes are at most 63 bytes */
	const MiaopiService *svc;	/* NULL: no such service */
} ClockFnService;

typedef struct ClockFnCache
{
	uint64		generation;		/* service cache generation of services[] */
	ClockFnService services[CLOCK_FN_SERVICES];
	int			next;			/* the entry to replace next */
	Oid			light_oid[4];	/* miaopi.light labels, for clock_light */
	TupleDesc	tupdesc;		/* clock_columns' result type, blessed */
} ClockFnCache;

/* The service with code s (len bytes), through fc's entries */
static const MiaopiService *
clock_fn_service(ClockFnCache *fc, const char *s, int len)
{
	uint64		generation = miaopi_service_generation();
	ClockFnService *e;
	int			i;

	if (fc->generation != generation || generation == 0)
	{
		for (i = 0; i < CLOCK_FN_SERVICES; i++)
			fc->services[i].len = -1;
		fc->generation = generation;
	}
	for (i = 0; i < CLOCK_FN_SERVICES; i++)
	{
		e = &fc->services[i];
		if (e->len == len && memcmp(e->code, s, len) == 0)
			return e->svc;
	}
	if (len >= (int) sizeof(e->code))
		return miaopi_service_lookup(s, len, true);
	e = &fc->services[fc->next];
	fc->next = (fc->next + 1) % CLOCK_FN_SERVICES;
	e->svc = miaopi_service_lookup(s, len, true);
	/* the lookup may have rebuilt the cache: entries are of the new generation */
	if (fc->generation != miaopi_service_generation())
	{
		for (i = 0; i < CLOCK_FN_SERVICES; i++)
			if (&fc->services[i] != e)
				fc->services[i].len = -1;
		fc->generation = miaopi_service_generation();
	}
	e->len = len;
	memcpy(e->code, s, len);
	return e->svc;
}

static const char *const light_names[] = {"green", "yellow", "red", "overdue"};

/* Name of a light */
const char *
miaopi_light_name(MiaopiLight light)
{
	return light_names[light];
}

/* The first step of svc's sequence after step (decide and deliver always exist) */
MiaopiStep
miaopi_step_after(const MiaopiService *svc, MiaopiStep step)
{
	int			s;

	for (s = step + 1; s < MIAOPI_NSTEPS; s++)
		if (svc->has_step[s])
			return (MiaopiStep) s;
	return MIAOPI_STEP_NONE;
}

/* The step an application is in, from its status */
MiaopiStep
miaopi_current_step(const MiaopiService *svc, const MiaopiAppRow *row)
{
	if (MIAOPI_HAS_TS(row->closed_at))
		return MIAOPI_STEP_NONE;
	switch (row->status)
	{
		case MIAOPI_ST_PENDING:
			return svc->has_step[MIAOPI_STEP_ACCEPT] ? MIAOPI_STEP_ACCEPT :
				miaopi_step_after(svc, MIAOPI_STEP_ACCEPT);
		case MIAOPI_ST_SUPPLEMENT:
			if (!MIAOPI_HAS_TS(row->accepted_at))
				return MIAOPI_STEP_ACCEPT;
			if (row->clock_flags & MIAOPI_FLAG_FROM_REVIEWED)
				return MIAOPI_STEP_DECIDE;
			return miaopi_step_after(svc, MIAOPI_STEP_ACCEPT);
		case MIAOPI_ST_ACCEPTED:
			return miaopi_step_after(svc, MIAOPI_STEP_ACCEPT);
		case MIAOPI_ST_REVIEWED:
			return MIAOPI_STEP_DECIDE;
		case MIAOPI_ST_APPROVED:
		case MIAOPI_ST_REJECTED:
			return MIAOPI_STEP_DELIVER;
		default:
			return MIAOPI_STEP_NONE;
	}
}

/* Due of step when it starts at start: NO_TS when the step has no limit */
TimestampTz
miaopi_step_due_from(const MiaopiService *svc, MiaopiStep step,
					 TimestampTz start, bool *provisional)
{
	if (step == MIAOPI_STEP_NONE || svc->step_limit[step] < 0 ||
		!MIAOPI_HAS_TS(start))
		return MIAOPI_NO_TS;
	return miaopi_add_working_days(svc->calendar, start, svc->step_limit[step],
								   provisional);
}

/*
 * miaopi_clock_compute fills *k with the clock of row (of service svc) at
 * instant now.  Dues, step and the crossing conditions red, overdue and
 * step_red are always computed; want says what else is needed (yellow and
 * the light need the used and remaining days; provisional its own look at
 * the calendar), so the clock view pays only for the columns a query uses.
 */
void
miaopi_clock_compute(const MiaopiService *svc, const MiaopiAppRow *row,
					 TimestampTz now, MiaopiClock *k, int want)
{
	const char *cal = svc->calendar;
	bool		closed = MIAOPI_HAS_TS(row->closed_at);
	bool		decided = (row->status == MIAOPI_ST_APPROVED ||
						   row->status == MIAOPI_ST_REJECTED ||
						   row->status == MIAOPI_ST_REVOKED);
	bool		prov = (row->clock_flags & MIAOPI_FLAG_PROVISIONAL) != 0;
	TimestampTz step_at;

	memset(k, 0, sizeof(MiaopiClock));
	k->within_promised = k->within_statutory = -1;
	k->step = miaopi_current_step(svc, row);

	/* Acceptance is implicit at submission when the service has no accept step */
	k->accepted_at = row->accepted_at;
	if (!MIAOPI_HAS_TS(k->accepted_at) && row->status == MIAOPI_ST_PENDING &&
		!svc->has_step[MIAOPI_STEP_ACCEPT] && !closed)
		k->accepted_at = row->submitted_at;
	k->promised_due = row->promised_due;
	k->statutory_due = row->statutory_due;
	if (MIAOPI_HAS_TS(k->accepted_at))
	{
		if (!MIAOPI_HAS_TS(k->promised_due))
			k->promised_due = miaopi_add_working_days(cal, k->accepted_at,
													  svc->promised_days, &prov);
		if (!MIAOPI_HAS_TS(k->statutory_due))
			k->statutory_due = miaopi_add_working_days(cal, k->accepted_at,
													   svc->statutory_days, &prov);
	}

	/* A pending row's step started at submission; later steps store their due */
	k->step_due = MIAOPI_NO_TS;
	if (k->step != MIAOPI_STEP_NONE)
	{
		if (row->status == MIAOPI_ST_PENDING)
			k->step_due = miaopi_step_due_from(svc, k->step, row->submitted_at, &prov);
		else
			k->step_due = row->step_due;
	}

	/* Where the decision clock and the step clock stand */
	if (decided)
		k->clock_at = MIAOPI_HAS_TS(row->decided_at) ? row->decided_at :
			(closed ? row->closed_at : now);
	else if (closed)
		k->clock_at = row->closed_at;
	else if (MIAOPI_HAS_TS(row->paused_at))
		k->clock_at = row->paused_at;
	else
		k->clock_at = now;
	step_at = MIAOPI_HAS_TS(row->paused_at) ? row->paused_at : now;

	k->overdue = MIAOPI_HAS_TS(k->statutory_due) && k->clock_at > k->statutory_due;
	k->red = MIAOPI_HAS_TS(k->promised_due) && k->clock_at > k->promised_due;
	k->step_red = !closed && MIAOPI_HAS_TS(k->step_due) && step_at > k->step_due;

	/*
	 * Used and remaining working days of the promised time.  used +
	 * remaining is the promised time (paused days excluded), so the warning
	 * share needs no third count.  Yellow matters only while undecided and
	 * not yet red.
	 */
	if (MIAOPI_HAS_TS(k->accepted_at) && MIAOPI_HAS_TS(k->promised_due) &&
		k->clock_at >= k->accepted_at &&
		((want & MIAOPI_CLOCK_USED) ||
		 ((want & MIAOPI_CLOCK_LIGHT) && !decided && !closed && !k->red && !k->overdue)))
	{
		miaopi_working_days_split(cal, k->accepted_at, k->clock_at, k->promised_due,
								  &k->used, &k->remaining);
		k->used -= row->paused_days;
		k->has_used = true;
		if (!decided && !closed && !k->red && !k->overdue)
			k->yellow = (k->used >= svc->warn_ratio * (k->used + k->remaining) ||
						 k->remaining <= 1);
	}
	if (decided)
	{
		if (MIAOPI_HAS_TS(k->promised_due))
			k->within_promised = !k->red;
		if (MIAOPI_HAS_TS(k->statutory_due))
			k->within_statutory = !k->overdue;
	}

	if (k->overdue)
		k->light = MIAOPI_LIGHT_OVERDUE;
	else if (k->red || k->step_red)
		k->light = MIAOPI_LIGHT_RED;
	else if (k->yellow)
		k->light = MIAOPI_LIGHT_YELLOW;
	else
		k->light = MIAOPI_LIGHT_GREEN;

	k->provisional = prov;
	if (!prov && (want & MIAOPI_CLOCK_PROVISIONAL))
	{
		TimestampTz consulted[4];

		consulted[0] = k->promised_due;
		consulted[1] = k->statutory_due;
		consulted[2] = k->step_due;
		consulted[3] = k->clock_at;
		k->provisional = miaopi_calendar_any_past_published(cal, consulted, 4);
	}
}

/* ---------------------------------------------------------------------
 * The function behind view miaopi.clock, clock_columns(), and the eleven
 * one-column functions the 1.0 view called (miaopi--1.0.sql still creates
 * them, so a 1.0 installation keeps working until ALTER EXTENSION UPDATE
 * drops them).  All take the same arguments:
 * (service_code, status, submitted_at, accepted_at, decided_at, closed_at,
 *  promised_due, statutory_due, step_due, paused_at, paused_days,
 *  clock_flags)
 * ---------------------------------------------------------------------
 */

/* Timestamp argument argno, or NO_TS when NULL */
static inline TimestampTz
ts_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? MIAOPI_NO_TS : PG_GETARG_TIMESTAMPTZ(argno);
}

/*
 * clock_from_args computes the clock from the view's arguments; returns
 * false (the column is NULL) for an unknown service or status.
 */
static bool
clock_from_args(FunctionCallInfo fcinfo, MiaopiClock *k, int want)
{
	ClockFnCache *fc = (ClockFnCache *) fcinfo->flinfo->fn_extra;
	const MiaopiService *svc;
	MiaopiAppRow row;
	text	   *code;
	text	   *status;
	const char *s;
	int			len;
	char		stbuf[16];
	int			stlen;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return false;
	code = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(code);
	len = VARSIZE_ANY_EXHDR(code);

	if (fc == NULL)
	{
		fc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ClockFnCache));
		fcinfo->flinfo->fn_extra = fc;
	}
	svc = clock_fn_service(fc, s, len);
	if (svc == NULL)
		return false;

	status = PG_GETARG_TEXT_PP(1);
	stlen = VARSIZE_ANY_EXHDR(status);
	if (stlen >= (int) sizeof(stbuf))
		return false;
	memcpy(stbuf, VARDATA_ANY(status), stlen);
	stbuf[stlen] = '\0';

	row.status = miaopi_status_from_name(stbuf);
	if (row.status == MIAOPI_ST_UNKNOWN)
		return false;
	row.id = 0;
	row.service_code = NULL;
	row.decision = NULL;
	row.decided_by = NULL;
	row.submitted_at = ts_arg(fcinfo, 2);
	row.accepted_at = ts_arg(fcinfo, 3);
	row.decided_at = ts_arg(fcinfo, 4);
	row.closed_at = ts_arg(fcinfo, 5);
	row.promised_due = ts_arg(fcinfo, 6);
	row.statutory_due = ts_arg(fcinfo, 7);
	row.step_due = ts_arg(fcinfo, 8);
	row.paused_at = ts_arg(fcinfo, 9);
	row.paused_days = PG_ARGISNULL(10) ? 0 : PG_GETARG_INT32(10);
	row.clock_flags = PG_ARGISNULL(11) ? 0 : PG_GETARG_INT32(11);

	miaopi_clock_compute(svc, &row, miaopi_now(), k, want);
	return true;
}

/* SQL: miaopi.clock_step(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_step);
Datum
miaopi_clock_step(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || k.step == MIAOPI_STEP_NONE)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(miaopi_step_name(k.step)));
}

/* SQL: miaopi.clock_accepted_at(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_accepted_at);
Datum
miaopi_clock_accepted_at(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || !MIAOPI_HAS_TS(k.accepted_at))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(k.accepted_at);
}

/* SQL: miaopi.clock_promised_due(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_promised_due);
Datum
miaopi_clock_promised_due(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || !MIAOPI_HAS_TS(k.promised_due))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(k.promised_due);
}

/* SQL: miaopi.clock_statutory_due(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_statutory_due);
Datum
miaopi_clock_statutory_due(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || !MIAOPI_HAS_TS(k.statutory_due))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(k.statutory_due);
}

/* SQL: miaopi.clock_step_due(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_step_due);
Datum
miaopi_clock_step_due(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || !MIAOPI_HAS_TS(k.step_due))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(k.step_due);
}

/* SQL: miaopi.clock_used(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_used);
Datum
miaopi_clock_used(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, MIAOPI_CLOCK_USED) || !k.has_used)
		PG_RETURN_NULL();
	PG_RETURN_INT32(k.used);
}

/* SQL: miaopi.clock_remaining(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_remaining);
Datum
miaopi_clock_remaining(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, MIAOPI_CLOCK_USED) || !k.has_used)
		PG_RETURN_NULL();
	PG_RETURN_INT32(k.remaining);
}

/* SQL: miaopi.clock_provisional(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_provisional);
Datum
miaopi_clock_provisional(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, MIAOPI_CLOCK_PROVISIONAL))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(k.provisional);
}

/* The OID of light's label of enum type typid, looked up once per call site */
static Oid
light_oid(ClockFnCache *fc, Oid typid, MiaopiLight light)
{
	if (!OidIsValid(fc->light_oid[0]))
	{
		int			i;

		for (i = 0; i < 4; i++)
			fc->light_oid[i] = DatumGetObjectId(DirectFunctionCall2(enum_in,
																	CStringGetDatum(light_names[i]),
																	ObjectIdGetDatum(typid)));
	}
	return fc->light_oid[light];
}

/*
 * SQL: miaopi.clock_light(...) returns miaopi.light, an enum: hashing and
 * sorting it is cheap, and it sorts by severity.
 */
PG_FUNCTION_INFO_V1(miaopi_clock_light);
Datum
miaopi_clock_light(PG_FUNCTION_ARGS)
{
	MiaopiClock k;
	ClockFnCache *fc;

	if (!clock_from_args(fcinfo, &k, MIAOPI_CLOCK_LIGHT))
		PG_RETURN_NULL();
	fc = (ClockFnCache *) fcinfo->flinfo->fn_extra;
	if (!OidIsValid(fc->light_oid[0]))
	{
		Oid			typid = get_fn_expr_rettype(fcinfo->flinfo);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the result type of clock_light");
		return ObjectIdGetDatum(light_oid(fc, typid, k.light));
	}
	PG_RETURN_OID(fc->light_oid[k.light]);
}

/* SQL: miaopi.clock_within_promised(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_within_promised);
Datum
miaopi_clock_within_promised(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || k.within_promised < 0)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(k.within_promised == 1);
}

/* SQL: miaopi.clock_within_statutory(...) */
PG_FUNCTION_INFO_V1(miaopi_clock_within_statutory);
Datum
miaopi_clock_within_statutory(PG_FUNCTION_ARGS)
{
	MiaopiClock k;

	if (!clock_from_args(fcinfo, &k, 0) || k.within_statutory < 0)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(k.within_statutory == 1);
}

/*
 * The columns of miaopi.clock_state, in order: light first and the text
 * last, so that reading light from the composite (the commonest query) finds
 * it at offset 0 whatever else is NULL.
 */
enum
{
	CC_LIGHT, CC_PROVISIONAL, CC_USED, CC_REMAINING, CC_WITHIN_PROMISED,
	CC_WITHIN_STATUTORY, CC_ACCEPTED_AT, CC_PROMISED_DUE, CC_STATUTORY_DUE,
	CC_STEP_DUE, CC_STEP, CC_NCOLS
};

/* A timestamp column: NULL for NO_TS */
static inline void
ts_column(Datum *values, bool *nulls, int col, TimestampTz ts)
{
	nulls[col] = !MIAOPI_HAS_TS(ts);
	values[col] = TimestampTzGetDatum(ts);
}

/*
 * The last result of clock_columns() and what it was computed from.  A
 * query names each column as (clock_columns(...)).col, and the planner
 * evaluates each such expression on its own, so one row of the clock view
 * calls the function once per column it reads, with the same arguments:
 * the first call computes the clock, the others find it here.  What a hit
 * compares is every argument and everything else the result depends on
 * (the time, the service and calendar cache generations), so it returns
 * the value a fresh computation would give.
 */
#define CLOCK_MEMO_TEXTLEN 64
typedef struct ClockMemo
{
	bool		valid;
	uint64		service_generation;
	uint64		calendar_generation;
	TimestampTz now;
	int			textlen[2];		/* service_code, status */
	char		text[2][CLOCK_MEMO_TEXTLEN];
	bool		nulls[12];
	int64		values[12];		/* the timestamp and int arguments, 2..11 */
	char	   *result;			/* a miaopi.clock_state, in TopMemoryContext */
	Size		cap;			/* bytes allocated at result */
} ClockMemo;

static ClockMemo clock_memo;

/* Argument i of clock_columns (2..11: timestamps, then two ints) as an int64 */
static inline int64
memo_arg(FunctionCallInfo fcinfo, int i)
{
	return i < 10 ? PG_GETARG_TIMESTAMPTZ(i) : PG_GETARG_INT32(i);
}

/* Whether this call's arguments and state are those of the remembered result */
static bool
clock_memo_hit(FunctionCallInfo fcinfo)
{
	int			i;

	if (!clock_memo.valid ||
		clock_memo.service_generation != miaopi_service_generation() ||
		clock_memo.calendar_generation != miaopi_calendar_generation() ||
		clock_memo.now != miaopi_now())
		return false;
	for (i = 0; i < 12; i++)
	{
		if (PG_ARGISNULL(i) != clock_memo.nulls[i])
			return false;
		if (PG_ARGISNULL(i))
			continue;
		if (i < 2)
		{
			text	   *t = PG_GETARG_TEXT_PP(i);

			if (VARSIZE_ANY_EXHDR(t) != clock_memo.textlen[i] ||
				memcmp(VARDATA_ANY(t), clock_memo.text[i], clock_memo.textlen[i]) != 0)
				return false;
		}
		else if (memo_arg(fcinfo, i) != clock_memo.values[i])
			return false;
	}
	return true;
}

/* Remember result, a composite datum, as the value of this call */
static void
clock_memo_store(FunctionCallInfo fcinfo, Datum result)
{
	Size		len = VARSIZE(DatumGetPointer(result));
	int			i;

	clock_memo.valid = false;
	clock_memo.service_generation = miaopi_service_generation();
	clock_memo.calendar_generation = miaopi_calendar_generation();
	if (clock_memo.service_generation == 0 || clock_memo.calendar_generation == 0)
		return;					/* a rebuild is pending: nothing to compare with */
	clock_memo.now = miaopi_now();
	for (i = 0; i < 12; i++)
	{
		clock_memo.nulls[i] = PG_ARGISNULL(i);
		if (PG_ARGISNULL(i))
			continue;
		if (i < 2)
		{
			text	   *t = PG_GETARG_TEXT_PP(i);
			int			n = VARSIZE_ANY_EXHDR(t);

			if (n > CLOCK_MEMO_TEXTLEN)
				return;
			clock_memo.textlen[i] = n;
			memcpy(clock_memo.text[i], VARDATA_ANY(t), n);
		}
		else
			clock_memo.values[i] = memo_arg(fcinfo, i);
	}
	if (len > clock_memo.cap)
	{
		if (clock_memo.result != NULL)
			pfree(clock_memo.result);
		clock_memo.result = NULL;
		clock_memo.cap = 0;
		clock_memo.result = MemoryContextAlloc(TopMemoryContext, len);
		clock_memo.cap = len;
	}
	memcpy(clock_memo.result, DatumGetPointer(result), len);
	clock_memo.valid = true;
}

/* A copy of the remembered result, in the current memory context */
static Datum
clock_memo_result(void)
{
	Size		len = VARSIZE(clock_memo.result);
	char	   *copy = palloc(len);

	memcpy(copy, clock_memo.result, len);
	return PointerGetDatum(copy);
}

/*
 * SQL: miaopi.clock_columns(...) returns miaopi.clock_state: every computed
 * column of the clock view from one look at the row.  NULL for an unknown
 * service or status, as each column was NULL then.
 */
PG_FUNCTION_INFO_V1(miaopi_clock_columns);
Datum
miaopi_clock_columns(PG_FUNCTION_ARGS)
{
	MiaopiClock k;
	ClockFnCache *fc;
	Datum		values[CC_NCOLS];
	bool		nulls[CC_NCOLS];
	Datum		result;

	if (clock_memo_hit(fcinfo))
		PG_RETURN_DATUM(clock_memo_result());

	if (!clock_from_args(fcinfo, &k, MIAOPI_CLOCK_ALL))
		PG_RETURN_NULL();
	fc = (ClockFnCache *) fcinfo->flinfo->fn_extra;
	if (fc->tupdesc == NULL)
	{
		TupleDesc	desc;
		MemoryContext oldcxt;

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE ||
			desc->natts != CC_NCOLS)
			elog(ERROR, "clock_columns must return miaopi.clock_state");
		oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		fc->tupdesc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(oldcxt);
	}

	memset(nulls, false, sizeof(nulls));
	nulls[CC_STEP] = (k.step == MIAOPI_STEP_NONE);
	values[CC_STEP] = nulls[CC_STEP] ? (Datum) 0 :
		PointerGetDatum(cstring_to_text(miaopi_step_name(k.step)));
	ts_column(values, nulls, CC_ACCEPTED_AT, k.accepted_at);
	ts_column(values, nulls, CC_PROMISED_DUE, k.promised_due);
	ts_column(values, nulls, CC_STATUTORY_DUE, k.statutory_due);
	ts_column(values, nulls, CC_STEP_DUE, k.step_due);
	nulls[CC_USED] = nulls[CC_REMAINING] = !k.has_used;
	values[CC_USED] = Int32GetDatum(k.used);
	values[CC_REMAINING] = Int32GetDatum(k.remaining);
	values[CC_PROVISIONAL] = BoolGetDatum(k.provisional);
	values[CC_LIGHT] = ObjectIdGetDatum(light_oid(fc, TupleDescAttr(fc->tupdesc, CC_LIGHT)->atttypid,
												  k.light));
	nulls[CC_WITHIN_PROMISED] = (k.within_promised < 0);
	values[CC_WITHIN_PROMISED] = BoolGetDatum(k.within_promised == 1);
	nulls[CC_WITHIN_STATUTORY] = (k.within_statutory < 0);
	values[CC_WITHIN_STATUTORY] = BoolGetDatum(k.within_statutory == 1);
	result = HeapTupleGetDatum(heap_form_tuple(fc->tupdesc, values, nulls));

	clock_memo_store(fcinfo, result);
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * sweep()
 * ---------------------------------------------------------------------
 */

/*
 * sweep_row applies deemed acceptance to, and records the new crossings
 * of, the locked open application row of service svc.  Returns the number
 * of events recorded; *changed says whether row must be written back.
 */
static int
sweep_row(const MiaopiService *svc, MiaopiAppRow *row, TimestampTz now, bool *changed)
{
	MiaopiClock k;
	int			found = 0;
	int32		old_flags = row->clock_flags;
	MiaopiStatus old_status = row->status;
	TimestampTz old_accepted = row->accepted_at;

	/* Deemed acceptance (art. 32): five working days without a word */
	if (row->status == MIAOPI_ST_PENDING && svc->has_step[MIAOPI_STEP_ACCEPT])
	{
		TimestampTz deadline = miaopi_add_working_days(svc->calendar, row->submitted_at,
													   MIAOPI_DEEMED_ACCEPTANCE_DAYS,
													   NULL);

		if (MIAOPI_HAS_TS(row->submitted_at) && now > deadline)
		{
			StringInfoData detail;

			/* the accept step ran over; record that first */
			miaopi_clock_compute(svc, row, now, &k, MIAOPI_CLOCK_LIGHT);
			found += miaopi_record_crossings(svc, row, &k, now, false);

			miaopi_app_accept(svc, row, row->submitted_at, now);
			initStringInfo(&detail);
			appendStringInfoString(&detail, "{\"reason\": ");
			escape_json(&detail, "no acceptance, refusal or supplement request within 5 working days of submission (art. 32)");
			appendStringInfoString(&detail, ", \"deadline\": ");
			miaopi_json_timestamp(&detail, deadline);
			appendStringInfoString(&detail, ", \"accepted_at\": ");
			miaopi_json_timestamp(&detail, row->accepted_at);
			appendStringInfoChar(&detail, '}');
			miaopi_event_insert(row->id, now, "deemed_acceptance", MIAOPI_MACHINE,
								miaopi_status_name(old_status),
								miaopi_status_name(row->status), NULL, detail.data);
			miaopi_notify(row, "deemed_acceptance", NULL, NULL, row->accepted_at);
			found++;
		}
	}

	miaopi_clock_compute(svc, row, now, &k, MIAOPI_CLOCK_LIGHT);
	found += miaopi_record_crossings(svc, row, &k, now, true);

	*changed = row->clock_flags != old_flags || row->status != old_status ||
		row->accepted_at != old_accepted;
	return found;
}

/*
 * sweep_one sweeps application id once it holds the row lock, one
 * statement at a time: the path of a 1.0 schema without the ledger.
 * Returns the number of events recorded.
 */
static int
sweep_one(int64 id, TimestampTz now)
{
	MiaopiAppRow row;
	const MiaopiService *svc;
	int			found;
	bool		changed;

	if (!miaopi_app_lock(id, true, &row))
		return 0;				/* gone, closed, or being acted on: next sweep */
	if (MIAOPI_HAS_TS(row.closed_at))
		return 0;
	svc = miaopi_service_lookup(row.service_code, strlen(row.service_code), true);
	if (svc == NULL)
		return 0;
	found = sweep_row(svc, &row, now, &changed);
	if (changed)
		miaopi_app_update(&row);
	return found;
}

/* Timestamp of column i of the ledger columns, or NO_TS */
static TimestampTz
ledger_ts(const Datum *v, const bool *n, int i)
{
	return n[i] ? MIAOPI_NO_TS : DatumGetTimestampTz(v[i]);
}

/* Text of column i of the ledger columns, or NULL */
static char *
ledger_text(const Datum *v, const bool *n, int i)
{
	return n[i] ? NULL : TextDatumGetCString(v[i]);
}

/* Set column i of the ledger columns to a timestamp, NO_TS as NULL */
static void
set_ledger_ts(Datum *v, bool *n, int i, TimestampTz ts)
{
	n[i] = !MIAOPI_HAS_TS(ts);
	v[i] = TimestampTzGetDatum(ts);
}

/* Set column i of the ledger columns to a text, NULL as NULL */
static void
set_ledger_text(Datum *v, bool *n, int i, const char *s)
{
	n[i] = (s == NULL);
	v[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * sweep_batch sweeps the candidates ids[0..n) together: one statement
 * locks them (SKIP LOCKED, like sweep_one) and reads their rows and chain
 * heads, the crossings are worked out row by row exactly as sweep_one does,
 * then one UPDATE writes the rows and one INSERT their events, each
 * chained after its application's head with the row's new hash as state.
 * Returns the number of events recorded.
 */
static int64
sweep_batch(const int64 *ids, int n, TimestampTz now, MiaopiEventBuf *buf)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		arg[1];
	Datum	   *idd;
	MiaopiAppRow *rows;
	int			nrows = 0;
	int64		found = 0;
	uint64		r;
	SPITupleTable *tuptable;
	int			i;

	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT " MIAOPI_LEDGER_APP_COLUMNS_A ", a.hash,"
						   " (SELECT e.hash FROM miaopi.event e"
						   " WHERE e.application_id OPERATOR(pg_catalog.=) a.id"
						   " ORDER BY e.id DESC LIMIT 1)"
						   " FROM miaopi.application a"
						   " WHERE a.id OPERATOR(pg_catalog.=) ANY ($1) AND a.closed_at IS NULL"
						   " ORDER BY a.id FOR UPDATE OF a SKIP LOCKED",
						   1, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the sweep's batch query");
	}
	idd = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		idd[i] = Int64GetDatum(ids[i]);
	arg[0] = PointerGetDatum(construct_array(idd, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(plan, arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the applications to sweep");
	tuptable = SPI_tuptable;
	rows = palloc(sizeof(MiaopiAppRow) * Max(tuptable->numvals, 1));

	for (r = 0; r < tuptable->numvals; r++)
	{
		HeapTuple	tuple = tuptable->vals[r];
		Datum		all[MIAOPI_LEDGER_APP_NCOLS + 2];
		bool		allnull[MIAOPI_LEDGER_APP_NCOLS + 2];
		Datum		v[MIAOPI_LEDGER_APP_NCOLS];
		bool		nl[MIAOPI_LEDGER_APP_NCOLS];
		MiaopiAppRow *row = &rows[nrows];
		const MiaopiService *svc;
		uint8		state[MIAOPI_HASH_LEN];
		uint8		head[MIAOPI_HASH_LEN];
		bool		has_head;
		bool		changed;
		bool		isnull;
		Datum		d;
		int			from = buf->n;

		/* one pass over the tuple, not one per column */
		heap_deform_tuple(tuple, tuptable->tupdesc, all, allnull);
		memcpy(v, all, sizeof(v));
		memcpy(nl, allnull, sizeof(nl));
		memset(row, 0, sizeof(MiaopiAppRow));
		row->id = DatumGetInt64(v[LA_ID]);
		row->service_code = ledger_text(v, nl, LA_SERVICE_CODE);
		if (row->service_code == NULL)
			row->service_code = "";
		row->status = nl[LA_STATUS] ? MIAOPI_ST_UNKNOWN :
			miaopi_status_from_name(ledger_text(v, nl, LA_STATUS));
		row->decision = ledger_text(v, nl, LA_DECISION);
		row->decided_by = ledger_text(v, nl, LA_DECIDED_BY);
		row->submitted_at = ledger_ts(v, nl, LA_SUBMITTED_AT);
		row->accepted_at = ledger_ts(v, nl, LA_ACCEPTED_AT);
		row->decided_at = ledger_ts(v, nl, LA_DECIDED_AT);
		row->closed_at = ledger_ts(v, nl, LA_CLOSED_AT);
		row->promised_due = ledger_ts(v, nl, LA_PROMISED_DUE);
		row->statutory_due = ledger_ts(v, nl, LA_STATUTORY_DUE);
		row->step_due = ledger_ts(v, nl, LA_STEP_DUE);
		row->paused_at = ledger_ts(v, nl, LA_PAUSED_AT);
		row->paused_days = nl[LA_PAUSED_DAYS] ? 0 : DatumGetInt32(v[LA_PAUSED_DAYS]);
		row->clock_flags = nl[LA_CLOCK_FLAGS] ? 0 : DatumGetInt32(v[LA_CLOCK_FLAGS]);

		svc = miaopi_service_lookup(row->service_code, strlen(row->service_code), true);
		if (svc == NULL)
			continue;

		PG_TRY();
		{
			miaopi_event_buffer = buf;
			found += sweep_row(svc, row, now, &changed);
		}
		PG_FINALLY();
		{
			miaopi_event_buffer = NULL;
		}
		PG_END_TRY();
		if (!changed)
			continue;

		/* the row as the UPDATE below leaves it, and its hash */
		set_ledger_text(v, nl, LA_STATUS, miaopi_status_name(row->status));
		set_ledger_text(v, nl, LA_DECISION, row->decision);
		set_ledger_ts(v, nl, LA_DECIDED_AT, row->decided_at);
		set_ledger_text(v, nl, LA_DECIDED_BY, row->decided_by);
		set_ledger_ts(v, nl, LA_ACCEPTED_AT, row->accepted_at);
		set_ledger_ts(v, nl, LA_PROMISED_DUE, row->promised_due);
		set_ledger_ts(v, nl, LA_STATUTORY_DUE, row->statutory_due);
		set_ledger_ts(v, nl, LA_CLOSED_AT, row->closed_at);
		set_ledger_ts(v, nl, LA_STEP_DUE, row->step_due);
		set_ledger_ts(v, nl, LA_PAUSED_AT, row->paused_at);
		v[LA_PAUSED_DAYS] = Int32GetDatum(row->paused_days);
		nl[LA_PAUSED_DAYS] = false;
		v[LA_CLOCK_FLAGS] = Int32GetDatum(row->clock_flags);
		nl[LA_CLOCK_FLAGS] = false;
		miaopi_ledger_app_hash(v, nl, state);

		d = all[MIAOPI_LEDGER_APP_NCOLS + 1];
		isnull = allnull[MIAOPI_LEDGER_APP_NCOLS + 1];
		if (isnull)
		{
			d = all[MIAOPI_LEDGER_APP_NCOLS];
			isnull = allnull[MIAOPI_LEDGER_APP_NCOLS];
		}
		has_head = !isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == MIAOPI_HASH_LEN;
		if (has_head)
			memcpy(head, VARDATA_ANY(DatumGetByteaPP(d)), MIAOPI_HASH_LEN);
		miaopi_event_buf_chain(buf, from, state, head, has_head);
		nrows++;
		CHECK_FOR_INTERRUPTS();
	}

	/* rows first: each event's state is its row as it then stands */
	miaopi_app_update_batch(rows, nrows);
	miaopi_event_buf_flush(buf);
	SPI_freetuptable(tuptable);
	return found;
}

/* Candidates swept per statement */
#define SWEEP_BATCH 2000

/* SQL: miaopi.sweep() */
PG_FUNCTION_INFO_V1(miaopi_sweep);
Datum
miaopi_sweep(PG_FUNCTION_ARGS)
{
	TimestampTz now = miaopi_now();
	Portal		portal;
	int64	   *ids = NULL;
	int64		nids = 0;
	int64		maxids = 0;
	int64		i;
	int64		found = 0;
	MiaopiOwnerSwitch owner;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* Pass 1: find candidates among the open applications, without locks */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "miaopi sweep rows",
								   ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT " MIAOPI_APP_COLUMNS
									   " FROM miaopi.application WHERE closed_at IS NULL",
									   0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		oldcxt = MemoryContextSwitchTo(rowcxt);
		for (r = 0; r < SPI_processed; r++)
		{
			MiaopiAppRow row;
			const MiaopiService *svc;
			MiaopiClock k;
			bool		candidate = false;

			miaopi_app_from_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, &row);
			svc = miaopi_service_lookup(row.service_code, strlen(row.service_code), true);
			if (svc == NULL)
				continue;
			if (row.status == MIAOPI_ST_PENDING && svc->has_step[MIAOPI_STEP_ACCEPT] &&
				MIAOPI_HAS_TS(row.submitted_at) &&
				now > miaopi_add_working_days(svc->calendar, row.submitted_at,
											  MIAOPI_DEEMED_ACCEPTANCE_DAYS, NULL))
				candidate = true;
			else
			{
				miaopi_clock_compute(svc, &row, now, &k, MIAOPI_CLOCK_LIGHT);
				candidate = miaopi_crossings_due(&row, &k, true);
			}
			if (candidate)
			{
				if (nids == maxids)
				{
					maxids = maxids ? maxids * 2 : 256;
					ids = ids ? repalloc_huge(ids, sizeof(int64) * maxids) :
						MemoryContextAllocHuge(TopTransactionContext, sizeof(int64) * maxids);
				}
				ids[nids++] = row.id;
			}
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	/* Pass 2: lock, recompute and record the candidates, a batch at a time */
	if (!miaopi_ledger_event_columns())
	{
		for (i = 0; i < nids; i++)
		{
			found += sweep_one(ids[i], now);
			CHECK_FOR_INTERRUPTS();
		}
	}
	else
	{
		MiaopiEventBuf buf;
		MemoryContext batchcxt = AllocSetContextCreate(CurrentMemoryContext,
													   "miaopi sweep batch",
													   ALLOCSET_DEFAULT_SIZES);

		memset(&buf, 0, sizeof(buf));
		buf.cxt = AllocSetContextCreate(CurrentMemoryContext, "miaopi sweep events",
										ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < nids; i += SWEEP_BATCH)
		{
			oldcxt = MemoryContextSwitchTo(batchcxt);
			found += sweep_batch(ids + i, (int) Min(nids - i, SWEEP_BATCH), now, &buf);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(batchcxt);
		}
		MemoryContextDelete(buf.cxt);
		MemoryContextDelete(batchcxt);
	}

	/* Verifications of commitments past due (commitment.c) */
	found += miaopi_commitment_sweep(now);

	SPI_finish();
	miaopi_restore_user(&owner);
	if (ids)
		pfree(ids);
	PG_RETURN_INT64(found);
}

/* ----------
 * Crossings and steps: what the workflow and sweep record
 * ----------
 */

/*
 * miaopi_crossings_due says whether the clock shows a crossing that row
 * has not recorded yet (yellow only while open).
 */
bool
miaopi_crossings_due(const MiaopiAppRow *row, const MiaopiClock *k, bool open)
{
	int32		f = row->clock_flags;

	return (open && k->yellow &&
			!(f & (MIAOPI_FLAG_YELLOW | MIAOPI_FLAG_RED | MIAOPI_FLAG_OVERDUE))) ||
		(k->red && !(f & MIAOPI_FLAG_RED)) ||
		(k->overdue && !(f & MIAOPI_FLAG_OVERDUE)) ||
		(k->step_red && !(f & MIAOPI_FLAG_STEP_RED));
}

/* Record one crossing: event, flag, NOTIFY */
static void
record_crossing(MiaopiAppRow *row, TimestampTz now, const char *light,
				const char *cause, MiaopiStep step, TimestampTz due)
{
	StringInfoData detail;
	const char *status = miaopi_status_name(row->status);

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"light\": ");
	escape_json(&detail, light);
	appendStringInfoString(&detail, ", \"cause\": ");
	escape_json(&detail, cause);
	if (step != MIAOPI_STEP_NONE)
	{
		appendStringInfoString(&detail, ", \"step\": ");
		escape_json(&detail, miaopi_step_name(step));
	}
	appendStringInfoString(&detail, ", \"due\": ");
	miaopi_json_timestamp(&detail, due);
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(row->id, now, "deadline", MIAOPI_MACHINE, status, status,
						NULL, detail.data);
	miaopi_notify(row, light, cause, miaopi_step_name(step), due);
}

/*
 * miaopi_record_crossings records each crossing the clock shows and row
 * has not recorded yet, setting its flag in row (the caller writes the
 * row).  Yellow is recorded only while open and not yet red.  Returns the
 * number recorded.
 */
int
miaopi_record_crossings(const MiaopiService *svc, MiaopiAppRow *row,
						const MiaopiClock *k, TimestampTz now, bool open)
{
	int			n = 0;

	if (open && k->yellow &&
		!(row->clock_flags & (MIAOPI_FLAG_YELLOW | MIAOPI_FLAG_RED | MIAOPI_FLAG_OVERDUE)))
	{
		record_crossing(row, now, "yellow", "promised", MIAOPI_STEP_NONE, k->promised_due);
		row->clock_flags |= MIAOPI_FLAG_YELLOW;
		n++;
	}
	if (k->red && !(row->clock_flags & MIAOPI_FLAG_RED))
	{
		record_crossing(row, now, "red", "promised", MIAOPI_STEP_NONE, k->promised_due);
		row->clock_flags |= MIAOPI_FLAG_RED | MIAOPI_FLAG_YELLOW;
		n++;
	}
	if (k->overdue && !(row->clock_flags & MIAOPI_FLAG_OVERDUE))
	{
		record_crossing(row, now, "overdue", "statutory", MIAOPI_STEP_NONE, k->statutory_due);
		row->clock_flags |= MIAOPI_FLAG_OVERDUE;
		n++;
	}
	if (k->step_red && !(row->clock_flags & MIAOPI_FLAG_STEP_RED))
	{
		record_crossing(row, now, "red", "step", k->step, k->step_due);
		row->clock_flags |= MIAOPI_FLAG_STEP_RED;
		n++;
	}
	return n;
}

/* Enter step at start: its due, and a fresh breach flag */
void
miaopi_enter_step(const MiaopiService *svc, MiaopiAppRow *row, MiaopiStep step,
		   TimestampTz start)
{
	bool		prov = false;

	row->step_due = miaopi_step_due_from(svc, step, start, &prov);
	row->clock_flags &= ~MIAOPI_FLAG_STEP_RED;
	if (prov)
		row->clock_flags |= MIAOPI_FLAG_PROVISIONAL;
}

/*
 * miaopi_app_accept accepts row as of accepted_at: both dues from there,
 * and the next step starting at step_start.
 */
void
miaopi_app_accept(const MiaopiService *svc, MiaopiAppRow *row,
				  TimestampTz accepted_at, TimestampTz step_start)
{
	bool		prov = false;

	row->status = MIAOPI_ST_ACCEPTED;
	row->accepted_at = accepted_at;
	row->promised_due = miaopi_add_working_days(svc->calendar, accepted_at,
												svc->promised_days, &prov);
	row->statutory_due = miaopi_add_working_days(svc->calendar, accepted_at,
												 svc->statutory_days, &prov);
	if (prov)
		row->clock_flags |= MIAOPI_FLAG_PROVISIONAL;
	miaopi_enter_step(svc, row, miaopi_step_after(svc, MIAOPI_STEP_ACCEPT), step_start);
}
