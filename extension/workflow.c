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
static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_lock_skip = NULL;
static SPIPlanPtr plan_update = NULL;
static SPIPlanPtr plan_event = NULL;
static SPIPlanPtr plan_reviewer = NULL;
static SPIPlanPtr plan_reviewer_1_0 = NULL;
static SPIPlanPtr plan_extended = NULL;
static SPIPlanPtr plan_chain_head = NULL;
static SPIPlanPtr plan_system_head = NULL;
static SPIPlanPtr plan_event_ledger = NULL;
static SPIPlanPtr plan_event_batch = NULL;
static SPIPlanPtr plan_update_batch = NULL;

MiaopiEventBuf *miaopi_event_buffer = NULL;

/* Prepare sql once per backend */
static SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* Timestamp column attnum of tuple, or NO_TS when NULL */
static TimestampTz
ts_col(HeapTuple tuple, TupleDesc tupdesc, int attnum)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, tupdesc, attnum, &isnull);

	return isnull ? MIAOPI_NO_TS : DatumGetTimestampTz(d);
}

/* Text column attnum of tuple, or NULL */
static char *
text_col(HeapTuple tuple, TupleDesc tupdesc, int attnum)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, tupdesc, attnum, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * miaopi_app_from_tuple reads a row selected with MIAOPI_APP_COLUMNS.
 */
void
miaopi_app_from_tuple(HeapTuple tuple, TupleDesc tupdesc, MiaopiAppRow *row)
{
	bool		isnull;
	char	   *status;

	memset(row, 0, sizeof(MiaopiAppRow));
	row->id = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	row->service_code = text_col(tuple, tupdesc, 2);
	if (row->service_code == NULL)
		row->service_code = "";
	status = text_col(tuple, tupdesc, 3);
	row->status = status ? miaopi_status_from_name(status) : MIAOPI_ST_UNKNOWN;
	row->decision = text_col(tuple, tupdesc, 4);
	row->decided_by = text_col(tuple, tupdesc, 5);
	row->submitted_at = ts_col(tuple, tupdesc, 6);
	row->accepted_at = ts_col(tuple, tupdesc, 7);
	row->decided_at = ts_col(tuple, tupdesc, 8);
	row->closed_at = ts_col(tuple, tupdesc, 9);
	row->promised_due = ts_col(tuple, tupdesc, 10);
	row->statutory_due = ts_col(tuple, tupdesc, 11);
	row->step_due = ts_col(tuple, tupdesc, 12);
	row->paused_at = ts_col(tuple, tupdesc, 13);
	row->paused_days = DatumGetInt32(SPI_getbinval(tuple, tupdesc, 14, &isnull));
	if (isnull)
		row->paused_days = 0;
	row->clock_flags = DatumGetInt32(SPI_getbinval(tuple, tupdesc, 15, &isnull));
	if (isnull)
		row->clock_flags = 0;
}

/*
 * miaopi_app_lock reads application id locked FOR UPDATE.  Returns false
 * if it does not exist or, with skip_locked, another transaction holds it.
 */
bool
miaopi_app_lock(int64 id, bool skip_locked, MiaopiAppRow *row)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	SPIPlanPtr	plan;

	if (skip_locked)
		plan = kept_plan(&plan_lock_skip,
						 "SELECT " MIAOPI_APP_COLUMNS " FROM miaopi.application"
						 " WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED",
						 1, argtypes);
	else
		plan = kept_plan(&plan_lock,
						 "SELECT " MIAOPI_APP_COLUMNS " FROM miaopi.application"
						 " WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						 1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock application " INT64_FORMAT, id);
	if (SPI_processed == 0)
		return false;
	miaopi_app_from_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, row);
	return true;
}

/* Datum of a timestamp, setting *null for NO_TS */
static Datum
ts_datum(TimestampTz ts, char *null)
{
	*null = MIAOPI_HAS_TS(ts) ? ' ' : 'n';
	return TimestampTzGetDatum(ts);
}

/* Datum of a C string, setting *null for NULL */
static Datum
text_datum(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * miaopi_app_update writes the workflow columns of row back, with the
 * guard's permission.
 */
void
miaopi_app_update(const MiaopiAppRow *row)
{
	Oid			argtypes[13] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID};
	Datum		values[13];
	char		nulls[13];
	SPIPlanPtr	plan;
	int			rc = 0;

	plan = kept_plan(&plan_update,
					 "UPDATE miaopi.application SET status = $2, decision = $3,"
					 " decided_at = $4, decided_by = $5, accepted_at = $6,"
					 " promised_due = $7, statutory_due = $8, closed_at = $9,"
					 " step_due = $10, paused_at = $11, paused_days = $12,"
					 " clock_flags = $13 WHERE id OPERATOR(pg_catalog.=) $1",
					 13, argtypes);
	values[0] = Int64GetDatum(row->id);
	nulls[0] = ' ';
	values[1] = text_datum(miaopi_status_name(row->status), &nulls[1]);
	values[2] = text_datum(row->decision, &nulls[2]);
	values[3] = ts_datum(row->decided_at, &nulls[3]);
	values[4] = text_datum(row->decided_by, &nulls[4]);
	values[5] = ts_datum(row->accepted_at, &nulls[5]);
	values[6] = ts_datum(row->promised_due, &nulls[6]);
	values[7] = ts_datum(row->statutory_due, &nulls[7]);
	values[8] = ts_datum(row->closed_at, &nulls[8]);
	values[9] = ts_datum(row->step_due, &nulls[9]);
	values[10] = ts_datum(row->paused_at, &nulls[10]);
	values[11] = Int32GetDatum(row->paused_days);
	nulls[11] = ' ';
	values[12] = Int32GetDatum(row->clock_flags);
	nulls[12] = ' ';

	PG_TRY();
	{
		miaopi_allow_update(row->id);
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		miaopi_forbid_update();
	}
	PG_END_TRY();
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not update application " INT64_FORMAT, row->id);
}

/* Text Datum array of n rows' strings; get picks the string of row i */
#define ROWS_TEXT(expr) \
	do { \
		for (i = 0; i < n; i++) \
		{ \
			const char *s_ = (expr); \
			cnull[i] = (s_ == NULL); \
			col[i] = s_ ? CStringGetTextDatum(s_) : (Datum) 0; \
		} \
	} while (0)
#define ROWS_TS(field) \
	do { \
		for (i = 0; i < n; i++) \
		{ \
			cnull[i] = !MIAOPI_HAS_TS(rows[i].field); \
			col[i] = TimestampTzGetDatum(rows[i].field); \
		} \
	} while (0)

static Datum make_array(Datum *elems, bool *enulls, int n, Oid elemtype);

/*
 * miaopi_app_update_batch writes the workflow columns of n rows (in
 * ascending id order) back in one UPDATE, with the guard's permission.
 */
void
miaopi_app_update_batch(const MiaopiAppRow *rows, int n)
{
	Oid			argtypes[13] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TIMESTAMPTZARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	Datum		values[13];
	Datum	   *col;
	bool	   *cnull;
	SPIPlanPtr	plan;
	int64	   *ids;
	int			rc = 0;
	int			i;

	if (n == 0)
		return;
	plan = kept_plan(&plan_update_batch,
					 "UPDATE miaopi.application a SET status = u.status,"
					 " decision = u.decision, decided_at = u.decided_at,"
					 " decided_by = u.decided_by, accepted_at = u.accepted_at,"
					 " promised_due = u.promised_due, statutory_due = u.statutory_due,"
					 " closed_at = u.closed_at, step_due = u.step_due,"
					 " paused_at = u.paused_at, paused_days = u.paused_days,"
					 " clock_flags = u.clock_flags"
					 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12), pg_catalog.unnest($13)) AS u(id, status, decision, decided_at, decided_by,"
					 " accepted_at, promised_due, statutory_due, closed_at, step_due,"
					 " paused_at, paused_days, clock_flags)"
					 " WHERE a.id OPERATOR(pg_catalog.=) u.id",
					 13, argtypes);
	col = palloc(sizeof(Datum) * n);
	cnull = palloc0(sizeof(bool) * n);
	for (i = 0; i < n; i++)
		col[i] = Int64GetDatum(rows[i].id);
	values[0] = make_array(col, cnull, n, INT8OID);
	ROWS_TEXT(miaopi_status_name(rows[i].status));
	values[1] = make_array(col, cnull, n, TEXTOID);
	ROWS_TEXT(rows[i].decision);
	values[2] = make_array(col, cnull, n, TEXTOID);
	ROWS_TS(decided_at);
	values[3] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TEXT(rows[i].decided_by);
	values[4] = make_array(col, cnull, n, TEXTOID);
	ROWS_TS(accepted_at);
	values[5] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TS(promised_due);
	values[6] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TS(statutory_due);
	values[7] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TS(closed_at);
	values[8] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TS(step_due);
	values[9] = make_array(col, cnull, n, TIMESTAMPTZOID);
	ROWS_TS(paused_at);
	values[10] = make_array(col, cnull, n, TIMESTAMPTZOID);
	memset(cnull, 0, sizeof(bool) * n);
	for (i = 0; i < n; i++)
		col[i] = Int32GetDatum(rows[i].paused_days);
	values[11] = make_array(col, cnull, n, INT4OID);
	for (i = 0; i < n; i++)
		col[i] = Int32GetDatum(rows[i].clock_flags);
	values[12] = make_array(col, cnull, n, INT4OID);

	ids = palloc(sizeof(int64) * n);
	for (i = 0; i < n; i++)
	{
		ids[i] = rows[i].id;
		Assert(i == 0 || ids[i - 1] < ids[i]);
	}
	PG_TRY();
	{
		miaopi_allow_updates(ids, n);
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		miaopi_forbid_update();
	}
	PG_END_TRY();
	if (rc != SPI_OK_UPDATE || SPI_processed != (uint64) n)
		elog(ERROR, "could not update %d applications", n);
}

#undef ROWS_TEXT
#undef ROWS_TS

/*
 * insert_event_legacy appends one event to a 1.0 schema, whose event table
 * has no ledger columns yet (ALTER EXTENSION miaopi UPDATE not yet run).
 */
static void
insert_event_legacy(int64 application_id, TimestampTz at, const char *action,
					const char *actor, const char *from_status,
					const char *to_status, const char *comment,
					const char *detail)
{
	Oid			argtypes[8] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8];
	SPIPlanPtr	plan;

	plan = kept_plan(&plan_event,
					 "INSERT INTO miaopi.event (application_id, at, action, actor,"
					 " from_status, to_status, comment, detail)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7,"
					 " COALESCE($8::pg_catalog.jsonb, '{}'::pg_catalog.jsonb))",
					 8, argtypes);
	values[0] = Int64GetDatum(application_id);
	nulls[0] = ' ';
	values[1] = ts_datum(at, &nulls[1]);
	values[2] = text_datum(action, &nulls[2]);
	values[3] = text_datum(actor, &nulls[3]);
	values[4] = text_datum(from_status, &nulls[4]);
	values[5] = text_datum(to_status, &nulls[5]);
	values[6] = text_datum(comment, &nulls[6]);
	values[7] = text_datum(detail, &nulls[7]);
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record event of application " INT64_FORMAT,
			 application_id);
}

/*
 * miaopi_app_chain_head locks application id and reads what its next
 * event chains to: *state, the hash of the row as it stands, and *prev,
 * the hash of its newest event or, before the first, the application's
 * own hash (*has_prev false when that is NULL).  Returns false when there
 * is no such row.
 */
bool
miaopi_app_chain_head(int64 id, uint8 *state, uint8 *prev, bool *has_prev)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	Datum		cols[MIAOPI_LEDGER_APP_NCOLS];
	bool		nulls[MIAOPI_LEDGER_APP_NCOLS];
	SPIPlanPtr	plan;
	HeapTuple	tuple;
	TupleDesc	desc;
	Datum		d;
	bool		isnull;
	int			i;

	plan = kept_plan(&plan_chain_head,
					 "SELECT " MIAOPI_LEDGER_APP_COLUMNS_A ", a.hash,"
					 " (SELECT e.hash FROM miaopi.event e"
					 " WHERE e.application_id OPERATOR(pg_catalog.=) a.id"
					 " ORDER BY e.id DESC LIMIT 1)"
					 " FROM miaopi.application a WHERE a.id OPERATOR(pg_catalog.=) $1"
					 " FOR UPDATE OF a",
					 1, argtypes);
	values[0] = Int64GetDatum(id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read application " INT64_FORMAT, id);
	if (SPI_processed == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < MIAOPI_LEDGER_APP_NCOLS; i++)
		cols[i] = SPI_getbinval(tuple, desc, i + 1, &nulls[i]);
	miaopi_ledger_app_hash(cols, nulls, state);

	d = SPI_getbinval(tuple, desc, MIAOPI_LEDGER_APP_NCOLS + 2, &isnull);
	if (isnull)
		d = SPI_getbinval(tuple, desc, MIAOPI_LEDGER_APP_NCOLS + 1, &isnull);
	*has_prev = !isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == MIAOPI_HASH_LEN;
	if (*has_prev)
		memcpy(prev, VARDATA_ANY(DatumGetByteaPP(d)), MIAOPI_HASH_LEN);
	return true;
}

/*
 * system_chain_head takes the system chain's lock (until the transaction
 * ends; it serialises system events only) and reads its newest hash.
 */
static void
system_chain_head(uint8 *prev, bool *has_prev)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, MIAOPI_LOCK_KEY, MIAOPI_LOCK_SYSTEM_CHAIN, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* a statement after the lock: its snapshot sees the holder's commit */
	if (SPI_execute_plan(kept_plan(&plan_system_head,
								   "SELECT e.hash FROM miaopi.event e"
								   " WHERE e.application_id IS NULL"
								   " ORDER BY e.id DESC LIMIT 1", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the system chain");
	*has_prev = false;
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == MIAOPI_HASH_LEN)
		{
			memcpy(prev, VARDATA_ANY(DatumGetByteaPP(d)), MIAOPI_HASH_LEN);
			*has_prev = true;
		}
	}
}

/* Grow buf to hold one more event */
static void
event_buf_grow(MiaopiEventBuf *buf)
{
	if (buf->n < buf->cap)
		return;
	buf->cap = buf->cap ? buf->cap * 2 : 1024;
#define GROW(f) buf->f = buf->f ? repalloc(buf->f, sizeof(*buf->f) * buf->cap) : \
	MemoryContextAlloc(buf->cxt, sizeof(*buf->f) * buf->cap)
	GROW(ev);
	GROW(state);
	GROW(prev);
	GROW(has_prev);
	GROW(hash);
#undef GROW
}

/* Copy a C string into buf's context, or NULL */
static const char *
buf_strdup(MiaopiEventBuf *buf, const char *s)
{
	return s ? MemoryContextStrdup(buf->cxt, s) : NULL;
}

/*
 * miaopi_event_buf_chain gives the events buf collected from index from on
 * (all of one application) their state and links them from the head.
 */
void
miaopi_event_buf_chain(MiaopiEventBuf *buf, int from, const uint8 *state,
					   const uint8 *head, bool has_head)
{
	int			i;

	for (i = from; i < buf->n; i++)
	{
		memcpy(buf->state[i], state, MIAOPI_HASH_LEN);
		buf->ev[i].state = buf->state[i];
		buf->has_prev[i] = has_head;
		if (has_head)
			memcpy(buf->prev[i], head, MIAOPI_HASH_LEN);
		miaopi_ledger_event_hash(has_head ? buf->prev[i] : NULL, &buf->ev[i], buf->hash[i]);
		head = buf->hash[i];
		has_head = true;
	}
}

/* A one-dimensional array of n Datums of elemtype */
static Datum
make_array(Datum *elems, bool *enulls, int n, Oid elemtype)
{
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = n;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, enulls, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

/* The text array of one string field of buf's events */
static Datum
event_text_array(MiaopiEventBuf *buf, Datum *col, bool *cnull, size_t offset)
{
	int			i;

	for (i = 0; i < buf->n; i++)
	{
		const char *s = *(const char **) ((char *) &buf->ev[i] + offset);

		cnull[i] = (s == NULL);
		col[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
	}
	return make_array(col, cnull, buf->n, TEXTOID);
}

/*
 * miaopi_event_buf_flush writes the events of buf in one INSERT, in the
 * order they were recorded, and empties it.
 */
void
miaopi_event_buf_flush(MiaopiEventBuf *buf)
{
	Oid			argtypes[12] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
		TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	JSONBARRAYOID, BYTEAARRAYOID, BYTEAARRAYOID, BYTEAARRAYOID};
	Datum		values[12];
	Datum	   *col;
	bool	   *cnull;
	int			i;
	SPIPlanPtr	plan;

	if (buf->n == 0)
		return;
	plan = kept_plan(&plan_event_batch,
					 "INSERT INTO miaopi.event (application_id, at, action, actor,"
					 " session_actor, from_status, to_status, comment, detail, state,"
					 " prev_hash, hash)"
					 " SELECT u.a, u.t, u.act, u.actor, $4, u.f, u.s, u.c, u.d, u.st, u.p, u.h"
					 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12))"
					 " AS u(a, t, act, actor, f, s, c, d, st, p, h)",
					 12, argtypes);
	col = palloc(sizeof(Datum) * buf->n);
	cnull = palloc0(sizeof(bool) * buf->n);

	for (i = 0; i < buf->n; i++)
		col[i] = Int64GetDatum(buf->ev[i].application_id);
	values[0] = make_array(col, cnull, buf->n, INT8OID);
	for (i = 0; i < buf->n; i++)
		col[i] = TimestampTzGetDatum(buf->ev[i].at);
	values[1] = make_array(col, cnull, buf->n, TIMESTAMPTZOID);
	values[2] = event_text_array(buf, col, cnull, offsetof(MiaopiLedgerEvent, action));
	values[3] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	values[4] = event_text_array(buf, col, cnull, offsetof(MiaopiLedgerEvent, actor));
	values[5] = event_text_array(buf, col, cnull, offsetof(MiaopiLedgerEvent, from_status));
	values[6] = event_text_array(buf, col, cnull, offsetof(MiaopiLedgerEvent, to_status));
	values[7] = event_text_array(buf, col, cnull, offsetof(MiaopiLedgerEvent, comment));
	memset(cnull, 0, sizeof(bool) * buf->n);
	for (i = 0; i < buf->n; i++)
		col[i] = JsonbPGetDatum(buf->ev[i].detail);
	values[8] = make_array(col, cnull, buf->n, JSONBOID);
	for (i = 0; i < buf->n; i++)
		col[i] = PointerGetDatum(miaopi_hash_bytea(buf->state[i]));
	values[9] = make_array(col, cnull, buf->n, BYTEAOID);
	for (i = 0; i < buf->n; i++)
	{
		cnull[i] = !buf->has_prev[i];
		col[i] = cnull[i] ? (Datum) 0 : PointerGetDatum(miaopi_hash_bytea(buf->prev[i]));
	}
	values[10] = make_array(col, cnull, buf->n, BYTEAOID);
	memset(cnull, 0, sizeof(bool) * buf->n);
	for (i = 0; i < buf->n; i++)
		col[i] = PointerGetDatum(miaopi_hash_bytea(buf->hash[i]));
	values[11] = make_array(col, cnull, buf->n, BYTEAOID);

	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_processed != (uint64) buf->n)
		elog(ERROR, "could not record %d events", buf->n);

	buf->n = 0;
	buf->cap = 0;
	buf->ev = NULL;
	buf->state = NULL;
	buf->prev = NULL;
	buf->has_prev = NULL;
	buf->hash = NULL;
	MemoryContextReset(buf->cxt);
}

/* Collect one event in buf, to be chained and written later */
static void
event_buf_append(MiaopiEventBuf *buf, int64 application_id, TimestampTz at,
				 const char *action, const char *actor, const char *from_status,
				 const char *to_status, const char *comment, const char *detail)
{
	MiaopiLedgerEvent *e;
	MemoryContext old;

	event_buf_grow(buf);
	e = &buf->ev[buf->n];
	e->application_id = application_id;
	e->at = at;
	e->action = buf_strdup(buf, action);
	e->actor = buf_strdup(buf, actor);
	e->session_actor = buf_strdup(buf, GetUserNameFromId(GetSessionUserId(), false));
	e->from_status = buf_strdup(buf, from_status);
	e->to_status = buf_strdup(buf, to_status);
	e->comment = buf_strdup(buf, comment);
	old = MemoryContextSwitchTo(buf->cxt);
	e->detail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												   CStringGetDatum(detail ? detail : "{}")));
	MemoryContextSwitchTo(old);
	e->state = NULL;
	buf->n++;
}

/*
 * The application the INSERT trigger is deciding: its row does not exist
 * yet, so events recorded for it meanwhile (a licence issued by the
 * machine) wait here until the trigger knows the row's hash and calls
 * miaopi_event_flush_deciding.
 */
static int64 deciding_app = 0;
static MiaopiEventBuf deciding_buf;

/*
 * miaopi_event_begin_deciding says that application id is being decided;
 * events recorded for it before its row exists are held back.
 */
void
miaopi_event_begin_deciding(int64 id)
{
	if (deciding_buf.cxt == NULL)
		deciding_buf.cxt = AllocSetContextCreate(TopMemoryContext, "miaopi deciding events",
												 ALLOCSET_SMALL_SIZES);
	/* whatever an aborted INSERT left behind is gone */
	deciding_buf.n = 0;
	deciding_buf.cap = 0;
	deciding_buf.ev = NULL;
	deciding_buf.state = NULL;
	deciding_buf.prev = NULL;
	deciding_buf.has_prev = NULL;
	deciding_buf.hash = NULL;
	MemoryContextReset(deciding_buf.cxt);
	deciding_app = id;
}

/*
 * miaopi_event_flush_deciding writes the events held back for the
 * application being decided, chained from its hash (NULL: not hashed),
 * which is also their state, and ends the deciding.
 */
void
miaopi_event_flush_deciding(const uint8 *hash)
{
	uint8		zero[MIAOPI_HASH_LEN];

	deciding_app = 0;
	if (deciding_buf.n == 0)
		return;
	memset(zero, 0, sizeof(zero));
	miaopi_event_buf_chain(&deciding_buf, 0, hash ? hash : zero, hash, hash != NULL);
	{
		MiaopiOwnerSwitch owner;

		miaopi_become_owner(&owner);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		miaopi_event_buf_flush(&deciding_buf);
		SPI_finish();
		miaopi_restore_user(&owner);
	}
}

/*
 * miaopi_event_insert appends one event; detail is a JSON object text or
 * NULL for {}.  application_id 0 records an event of the system chain.
 * Call it inside SPI, as the owner, and for an application after every
 * change of its row (the event's state is the row as it stands).  It
 * chains the event: the application's row lock (taken here if the caller
 * does not hold it yet) or the system chain's lock serialises one chain.
 * While miaopi_event_buffer is set the event is collected there instead
 * (sweep), and chained and written by its owner.
 */
void
miaopi_event_insert(int64 application_id, TimestampTz at, const char *action,
					const char *actor, const char *from_status,
					const char *to_status, const char *comment,
					const char *detail)
{
	Oid			argtypes[12] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID, BYTEAOID};
	Datum		values[12];
	char		nulls[12];
	MiaopiLedgerEvent ev;
	uint8		state[MIAOPI_HASH_LEN];
	uint8		prev[MIAOPI_HASH_LEN];
	uint8		hash[MIAOPI_HASH_LEN];
	bool		has_prev;
	SPIPlanPtr	plan;
	Jsonb	   *jdetail;

	if (miaopi_event_buffer != NULL && application_id != 0)
	{
		event_buf_append(miaopi_event_buffer, application_id, at, action, actor,
						 from_status, to_status, comment, detail);
		return;
	}
	if (!miaopi_ledger_event_columns())
	{
		insert_event_legacy(application_id, at, action, actor, from_status,
							to_status, comment, detail);
		return;
	}

	/* the application being decided has no row yet: no chain head to look up */
	if (application_id != 0 && application_id == deciding_app)
	{
		event_buf_append(&deciding_buf, application_id, at, action, actor,
						 from_status, to_status, comment, detail);
		return;
	}
	jdetail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												 CStringGetDatum(detail ? detail : "{}")));
	if (application_id == 0)
		system_chain_head(prev, &has_prev);
	else if (!miaopi_app_chain_head(application_id, state, prev, &has_prev))
	{
		if (application_id == deciding_app)
		{
			event_buf_append(&deciding_buf, application_id, at, action, actor,
							 from_status, to_status, comment, detail);
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("application " INT64_FORMAT " does not exist", application_id),
				 errdetail("An event \"%s\" was recorded for it.", action),
				 errhint("Record an application's events once its row is inserted.")));
	}

	ev.application_id = application_id;
	ev.at = at;
	ev.action = action;
	ev.actor = actor;
	ev.session_actor = GetUserNameFromId(GetSessionUserId(), false);
	ev.from_status = from_status;
	ev.to_status = to_status;
	ev.comment = comment;
	ev.detail = jdetail;
	ev.state = application_id == 0 ? NULL : state;
	miaopi_ledger_event_hash(has_prev ? prev : NULL, &ev, hash);

	plan = kept_plan(&plan_event_ledger,
					 "INSERT INTO miaopi.event (application_id, at, action, actor,"
					 " session_actor, from_status, to_status, comment, detail, state,"
					 " prev_hash, hash)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
					 12, argtypes);
	values[0] = Int64GetDatum(application_id);
	nulls[0] = application_id == 0 ? 'n' : ' ';
	values[1] = ts_datum(at, &nulls[1]);
	values[2] = text_datum(action, &nulls[2]);
	values[3] = text_datum(actor, &nulls[3]);
	values[4] = text_datum(ev.session_actor, &nulls[4]);
	values[5] = text_datum(from_status, &nulls[5]);
	values[6] = text_datum(to_status, &nulls[6]);
	values[7] = text_datum(comment, &nulls[7]);
	values[8] = JsonbPGetDatum(jdetail);
	nulls[8] = ' ';
	values[9] = application_id == 0 ? (Datum) 0 : PointerGetDatum(miaopi_hash_bytea(state));
	nulls[9] = application_id == 0 ? 'n' : ' ';
	values[10] = has_prev ? PointerGetDatum(miaopi_hash_bytea(prev)) : (Datum) 0;
	nulls[10] = has_prev ? ' ' : 'n';
	values[11] = PointerGetDatum(miaopi_hash_bytea(hash));
	nulls[11] = ' ';
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record event of application " INT64_FORMAT,
			 application_id);
}

/* Append ts to buf as a JSON string (ISO 8601), or null */
void
miaopi_json_timestamp(StringInfo buf, TimestampTz ts)
{
	if (!MIAOPI_HAS_TS(ts))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '"');
	appendStringInfoString(buf, JsonEncodeDateTime(NULL, TimestampTzGetDatum(ts),
												   TIMESTAMPTZOID, NULL));
	appendStringInfoChar(buf, '"');
}

/*
 * miaopi_notify sends NOTIFY miaopi_deadline with a JSON payload naming
 * the application, the event, and for a crossing its cause and due.
 */
void
miaopi_notify(const MiaopiAppRow *row, const char *event, const char *cause,
			  const char *step, TimestampTz due)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"application\": " INT64_FORMAT ", \"service\": ", row->id);
	escape_json(&buf, row->service_code);
	appendStringInfoString(&buf, ", \"status\": ");
	escape_json(&buf, miaopi_status_name(row->status));
	appendStringInfoString(&buf, ", \"event\": ");
	escape_json(&buf, event);
	if (cause)
	{
		appendStringInfoString(&buf, ", \"cause\": ");
		escape_json(&buf, cause);
	}
	if (step)
	{
		appendStringInfoString(&buf, ", \"step\": ");
		escape_json(&buf, step);
	}
	appendStringInfoString(&buf, ", \"due\": ");
	miaopi_json_timestamp(&buf, due);
	appendStringInfoChar(&buf, '}');
	Async_Notify(MIAOPI_DEADLINE_CHANNEL, buf.data);
	pfree(buf.data);
}

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
static void
enter_step(const MiaopiService *svc, MiaopiAppRow *row, MiaopiStep step,
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
	enter_step(svc, row, miaopi_step_after(svc, MIAOPI_STEP_ACCEPT), step_start);
}

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
		plan = kept_plan(&plan_reviewer,
						 "SELECT COALESCE(session_actor, actor) FROM miaopi.event"
						 " WHERE application_id OPERATOR(pg_catalog.=) $1"
						 " AND action OPERATOR(pg_catalog.=) 'review'"
						 " ORDER BY id DESC LIMIT 1",
						 1, argtypes);
	else
		plan = kept_plan(&plan_reviewer_1_0,
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

	plan = kept_plan(&plan_extended,
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
			enter_step(svc, &row, MIAOPI_STEP_DECIDE, now);
			break;
		case ACT_APPROVE:
		case ACT_REJECT:
			row.status = (act == ACT_APPROVE) ? MIAOPI_ST_APPROVED : MIAOPI_ST_REJECTED;
			row.decision = (act == ACT_APPROVE) ? "approve" : "reject";
			row.decided_at = now;
			row.decided_by = actor;
			enter_step(svc, &row, MIAOPI_STEP_DELIVER, now);
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
