/*-------------------------------------------------------------------------
 *
 * application.c
 *	  Reading, locking and updating application rows, and appending their
 *	  events to the audit trail: what the workflow (workflow.c), the clock
 *	  and sweep (clock.c), licences, commitments and policies share.
 *
 * Everything here runs inside SPI_connect/SPI_finish, as the owner of the
 * application table (miaopi_become_owner), with plans prepared once per
 * backend.  The decision trigger's guard refuses any direct UPDATE of
 * miaopi.application but the one miaopi_allow_update(id) announces; the
 * updates here are those.  Events are appended only through
 * miaopi_event_insert(), which chains each into its application's (or the
 * system) hash chain (ledger.c); sweep collects them in a MiaopiEventBuf
 * and writes each batch in one INSERT.
 *
 * IDENTIFICATION
 *	  extension/application.c
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

#include "ledger.h"
#include "application.h"
#include "miaopi.h"

/* Plans kept for the life of the backend */
static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_lock_skip = NULL;
static SPIPlanPtr plan_update = NULL;
static SPIPlanPtr plan_event = NULL;
static SPIPlanPtr plan_chain_head = NULL;
static SPIPlanPtr plan_system_head = NULL;
static SPIPlanPtr plan_event_ledger = NULL;
static SPIPlanPtr plan_event_batch = NULL;
static SPIPlanPtr plan_event_one = NULL;
static SPIPlanPtr plan_update_batch = NULL;

MiaopiEventBuf *miaopi_event_buffer = NULL;

static const char *const status_names[] = {
	"pending", "supplement", "accepted", "reviewed",
	"approved", "rejected", "refused", "withdrawn", "revoked"
};

/* Name of a status */
const char *
miaopi_status_name(MiaopiStatus status)
{
	return status < MIAOPI_ST_UNKNOWN ? status_names[status] : "unknown";
}

/* Status from its name; MIAOPI_ST_UNKNOWN if none */
MiaopiStatus
miaopi_status_from_name(const char *name)
{
	int			i;

	for (i = 0; i < MIAOPI_ST_UNKNOWN; i++)
		if (strcmp(name, status_names[i]) == 0)
			return (MiaopiStatus) i;
	return MIAOPI_ST_UNKNOWN;
}

/* Prepare sql once per backend */
SPIPlanPtr
miaopi_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
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
		plan = miaopi_kept_plan(&plan_lock_skip,
						 "SELECT " MIAOPI_APP_COLUMNS " FROM miaopi.application"
						 " WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED",
						 1, argtypes);
	else
		plan = miaopi_kept_plan(&plan_lock,
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

	plan = miaopi_kept_plan(&plan_update,
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
	plan = miaopi_kept_plan(&plan_update_batch,
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

	plan = miaopi_kept_plan(&plan_event,
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

	plan = miaopi_kept_plan(&plan_chain_head,
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
	if (SPI_execute_plan(miaopi_kept_plan(&plan_system_head,
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

/* Empty buf after its events were written */
static void
event_buf_reset(MiaopiEventBuf *buf)
{
	buf->n = 0;
	buf->cap = 0;
	buf->ev = NULL;
	buf->state = NULL;
	buf->prev = NULL;
	buf->has_prev = NULL;
	buf->hash = NULL;
	MemoryContextReset(buf->cxt);
}

/*
 * event_insert_one writes buf's only event with a one-row INSERT: the
 * common case (an act(), a licence issued inside the INSERT), which the
 * batch form below would pay for with a tuplestore per unnest().
 */
static void
event_insert_one(MiaopiEventBuf *buf)
{
	Oid			argtypes[12] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, JSONBOID, BYTEAOID, BYTEAOID, BYTEAOID};
	Datum		values[12];
	char		nulls[12];
	const MiaopiLedgerEvent *ev = &buf->ev[0];
	SPIPlanPtr	plan;

	plan = miaopi_kept_plan(&plan_event_one,
							"INSERT INTO miaopi.event (application_id, at, action, actor,"
							" session_actor, from_status, to_status, comment, detail, state,"
							" prev_hash, hash)"
							" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
							12, argtypes);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(ev->application_id);
	values[1] = TimestampTzGetDatum(ev->at);
	values[2] = CStringGetTextDatum(ev->action);
	values[3] = text_datum(ev->actor, &nulls[3]);
	values[4] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	values[5] = text_datum(ev->from_status, &nulls[5]);
	values[6] = text_datum(ev->to_status, &nulls[6]);
	values[7] = text_datum(ev->comment, &nulls[7]);
	values[8] = JsonbPGetDatum(ev->detail);
	values[9] = PointerGetDatum(miaopi_hash_bytea(buf->state[0]));
	if (buf->has_prev[0])
		values[10] = PointerGetDatum(miaopi_hash_bytea(buf->prev[0]));
	else
		nulls[10] = 'n';
	values[11] = PointerGetDatum(miaopi_hash_bytea(buf->hash[0]));
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT ||
		SPI_processed != 1)
		elog(ERROR, "could not record an event \"%s\"", ev->action);
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
	if (buf->n == 1)
	{
		event_insert_one(buf);
		event_buf_reset(buf);
		return;
	}
	plan = miaopi_kept_plan(&plan_event_batch,
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
	event_buf_reset(buf);
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

	plan = miaopi_kept_plan(&plan_event_ledger,
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
