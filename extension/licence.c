/*-------------------------------------------------------------------------
 *
 * licence.c
 *	  E-licences (电子证照): issuing them on approval, answering
 *	  licence_valid() and or_licence, and their status changes.
 *
 * Issuing.  An approval of a service whose rules have a licence: section
 * issues one licence in the same transaction: by the machine inside the
 * INSERT (trigger.c, the application id is already in the row of a BEFORE
 * trigger) or by a person through act() (workflow.c).  The number counts
 * per licence type and year in miaopi.licence_counter: the upsert takes the
 * counter row's lock until the transaction ends, so concurrent approvals
 * of one type queue there and numbers are unique and gap-free (an aborted
 * approval rolls its increment back with it).  Approvals of other types do
 * not wait for each other.
 *
 * The GB/T 36904 identifier, when the section gives type_code and
 * issuer_code, is 1.2.156.3005.2.<type_code>.<issuer_code>.<serial>.
 * <version>.<check>: serial is the year and the sequence (yyyy + seq:N
 * digits), version 001, and check the ISO/IEC 7064 MOD 37,36 character
 * (codes.c) over the undotted parts.
 *
 * The validity cache.  licence_valid() in SQL and in rules, and or_licence
 * in the decision, read a per-backend hash keyed by (type, holder): each
 * entry holds every licence of that pair (id, valid_from, valid_until,
 * status), so one miss answers every later date.  Invalidation follows
 * service.c: anything that changes licences (issue, status change)
 * calls CacheInvalidateRelcacheByRelid on miaopi.licence_event, a
 * relation almost no backend holds open, so the message costs no relcache
 * rebuild; the relcache callback only flips a flag and bumps the
 * generation, and the next lookup starts from an empty hash.  A load that
 * an invalidation overtook (the generation moved while reading) is not
 * kept.  An aborted transaction may have cached its own licences, so the
 * transaction callback empties the cache on abort.
 *
 * Status changes (suspend, reinstate, revoke, cancel) are the legal
 * transitions of 行政许可法 arts. 69-70 only: valid -> suspended -> valid,
 * valid or suspended -> revoked or cancelled; nothing leaves revoked or
 * cancelled.  Each one is a licence_event row (who: current_user and
 * session_user; why) and an event of the licence's application through
 * miaopi_event_insert, so the audit trail covers it.  "expired" is never
 * stored: it is derived from valid_until.
 *
 * IDENTIFICATION
 *	  extension/licence.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "calendar.h"
#include "eval.h"
#include "licence.h"
#include "miaopi.h"
#include "service.h"
#include "workflow.h"

/* Longest (type, holder) key the cache holds; longer ones are read directly */
#define LICENCE_KEY_BYTES	192
/* Beyond this many (type, holder) pairs, start the cache again */
#define LICENCE_CACHE_MAX	20000

typedef struct LicenceSlot
{
	int64		id;
	DateADT		valid_from;
	DateADT		valid_until;
	char		status;			/* 'v'alid, 's'uspended, 'r'evoked, 'c'ancelled */
} LicenceSlot;

typedef struct LicenceEntry
{
	char		key[LICENCE_KEY_BYTES]; /* type NUL holder, zero-padded */
	int			n;
	LicenceSlot *slots;
} LicenceEntry;

static HTAB *licence_cache = NULL;
static MemoryContext licence_cxt = NULL;
static bool licence_cache_stale = false;
static uint64 licence_generation = 0;
static bool licence_callbacks_registered = false;
static Oid	licence_relid = InvalidOid;
static Oid	licence_event_relid = InvalidOid;

/* The one licence row a status change is moving, for the guard; 0 if none */
static int64 licence_moving = 0;

static SPIPlanPtr plan_find = NULL;
static SPIPlanPtr plan_counter = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_previous = NULL;
static SPIPlanPtr plan_use = NULL;
static SPIPlanPtr plan_lock = NULL;
static SPIPlanPtr plan_status = NULL;
static SPIPlanPtr plan_levent = NULL;

/* ----------
 * Cache
 * ----------
 */

/* Relcache callback: a change to licences, or a full flush */
static void
licence_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == licence_relid || relid == licence_event_relid)
	{
		licence_cache_stale = true;
		licence_generation++;
		if (relid == InvalidOid)
		{
			/* the extension may have been dropped and created again */
			licence_relid = InvalidOid;
			licence_event_relid = InvalidOid;
		}
	}
}

/* Transaction callback: an aborted transaction may have cached its own licences */
static void
licence_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		licence_cache_stale = true;
		licence_generation++;
	}
}

/* Register the callbacks once, and resolve the relids they watch */
static void
licence_cache_init(void)
{
	HASHCTL		ctl;

	if (!licence_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(licence_relcache_callback, (Datum) 0);
		RegisterXactCallback(licence_xact_callback, NULL);
		licence_callbacks_registered = true;
	}
	if (!OidIsValid(licence_relid) || !OidIsValid(licence_event_relid))
	{
		licence_relid = miaopi_relid("licence");
		licence_event_relid = miaopi_relid("licence_event");
		licence_cache_stale = true;
	}
	if (licence_cxt == NULL)
		licence_cxt = AllocSetContextCreate(CacheMemoryContext, "miaopi licence cache",
											ALLOCSET_DEFAULT_SIZES);
	if (licence_cache_stale || licence_cache == NULL ||
		hash_get_num_entries(licence_cache) >= LICENCE_CACHE_MAX)
	{
		licence_cache_stale = false;
		licence_cache = NULL;
		MemoryContextReset(licence_cxt);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = LICENCE_KEY_BYTES;
		ctl.entrysize = sizeof(LicenceEntry);
		ctl.hcxt = licence_cxt;
		licence_cache = hash_create("miaopi licence cache", 256, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
}

/* Tell every backend (and this one, at the next command) that licences changed */
static void
licence_invalidate(void)
{
	if (!OidIsValid(licence_event_relid))
		licence_event_relid = miaopi_relid("licence_event");
	CacheInvalidateRelcacheByRelid(licence_event_relid);
}

/* Prepare and keep a plan on first use */
static SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL || !SPI_plan_is_valid(*slot))
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		if (*slot != NULL)
			SPI_freeplan(*slot);
		*slot = plan;
	}
	return *slot;
}

/*
 * Read every licence of (type, holder) into slots allocated in cxt, as the
 * owner.  Returns the count.
 */
static int
licence_read(const char *type, int typelen, const char *holder, int holderlen,
			 MemoryContext cxt, LicenceSlot **out)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	MiaopiOwnerSwitch owner;
	SPIPlanPtr	plan;
	int			n;
	uint64		i;
	LicenceSlot *slots;

	values[0] = PointerGetDatum(cstring_to_text_with_len(type, typelen));
	values[1] = PointerGetDatum(cstring_to_text_with_len(holder, holderlen));
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = kept_plan(&plan_find,
					 "SELECT id, valid_from, valid_until, status FROM miaopi.licence"
					 " WHERE type OPERATOR(pg_catalog.=) $1"
					 " AND holder_id OPERATOR(pg_catalog.=) $2",
					 2, argtypes);
	if (SPI_execute_plan(plan, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read licences");
	n = (int) SPI_processed;
	slots = MemoryContextAlloc(cxt, sizeof(LicenceSlot) * Max(n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *status;

		slots[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		slots[i].valid_from = DatumGetDateADT(SPI_getbinval(tup, desc, 2, &isnull));
		slots[i].valid_until = DatumGetDateADT(SPI_getbinval(tup, desc, 3, &isnull));
		status = SPI_getvalue(tup, desc, 4);
		slots[i].status = status ? status[0] : 'c';
	}
	SPI_finish();
	miaopi_restore_user(&owner);
	*out = slots;
	return n;
}

/* The valid licence among slots on day with the latest end, or 0 */
static int64
pick_valid(const LicenceSlot *slots, int n, DateADT day)
{
	int64		best = 0;
	DateADT		best_until = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (slots[i].status != 'v' || day < slots[i].valid_from || day > slots[i].valid_until)
			continue;
		if (best == 0 || slots[i].valid_until > best_until)
		{
			best = slots[i].id;
			best_until = slots[i].valid_until;
		}
	}
	return best;
}

/*
 * miaopi_licence_find_valid returns the id of a licence of type held by
 * holder that is valid (not suspended, revoked, cancelled or expired) on
 * day, or 0.
 */
int64
miaopi_licence_find_valid(const char *type, int typelen, const char *holder,
						  int holderlen, DateADT day)
{
	char		key[LICENCE_KEY_BYTES];
	LicenceEntry *entry;
	bool		found;
	uint64		generation;
	LicenceSlot *slots;
	int			n;

	licence_cache_init();
	if (typelen + 1 + holderlen > LICENCE_KEY_BYTES)
	{
		/* too long to cache: read it for this call only */
		n = licence_read(type, typelen, holder, holderlen, CurrentMemoryContext, &slots);
		return pick_valid(slots, n, day);
	}
	memset(key, 0, sizeof(key));
	memcpy(key, type, typelen);
	memcpy(key + typelen + 1, holder, holderlen);

	entry = hash_search(licence_cache, key, HASH_FIND, NULL);
	if (entry != NULL)
		return pick_valid(entry->slots, entry->n, day);

	generation = licence_generation;
	n = licence_read(type, typelen, holder, holderlen, licence_cxt, &slots);
	if (generation != licence_generation || licence_cache_stale || licence_cache == NULL)
	{
		/* overtaken by an invalidation: answer, but do not keep it */
		return pick_valid(slots, n, day);
	}
	entry = hash_search(licence_cache, key, HASH_ENTER, &found);
	entry->n = n;
	entry->slots = slots;
	return pick_valid(slots, n, day);
}

/* SQL: miaopi.licence_valid(type text, holder_id text, on_date date) */
PG_FUNCTION_INFO_V1(miaopi_licence_valid);
Datum
miaopi_licence_valid(PG_FUNCTION_ARGS)
{
	text	   *type;
	text	   *holder;

	/* nobody holds a licence of no type, for no one, on no day */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	type = PG_GETARG_TEXT_PP(0);
	holder = PG_GETARG_TEXT_PP(1);
	PG_RETURN_BOOL(miaopi_licence_find_valid(VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type),
											 VARDATA_ANY(holder), VARSIZE_ANY_EXHDR(holder),
											 PG_GETARG_DATEADT(2)) != 0);
}

/* ----------
 * Issuing
 * ----------
 */

/*
 * miaopi_holder_type returns the GB/T 36904 holder type of an id: "001" for
 * a unified social credit code, "111" for a resident ID number, "999" else.
 */
const char *
miaopi_holder_type(const char *id, int len)
{
	if (mr_uscc_valid(id, len))
		return "001";
	if (mr_idcard_valid(id, len))
		return "111";
	return "999";
}

/* Append a JSON string */
static void
json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s);
}

/*
 * The licence's data: the listed payload fields, as they were submitted.
 */
static Jsonb *
licence_data(const MiaopiIssue *is)
{
	const MrLicence *lic = is->svc->licence;
	Jsonb	   *payload = DatumGetJsonbP(is->payload);
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < lic->ndata; i++)
	{
		const char *name = is->svc->fields[lic->data[i]].name;
		JsonbValue	key;
		JsonbValue *v = getKeyJsonValueFromContainer(&payload->root, name, strlen(name), NULL);

		if (v == NULL)
			continue;
		key.type = jbvString;
		key.val.string.val = (char *) name;
		key.val.string.len = strlen(name);
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * miaopi_licence_issue issues the licence of an approval and returns its
 * id.  Runs as the owner inside the caller's transaction.  One statement
 * takes the next number (the counter row's lock queues concurrent
 * approvals of the type and year until this transaction ends) and inserts
 * the licence; the counter row is created on the first licence of a year.
 */
int64
miaopi_licence_issue(const MiaopiIssue *is)
{
	const MrLicence *lic = is->svc->licence;
	MiaopiOwnerSwitch owner;
	Oid			itypes[18] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID,
		TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, DATEOID, DATEOID, JSONBOID,
	INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID};
	Oid			ctypes[2] = {TEXTOID, INT4OID};
	Oid			ptypes[2] = {TEXTOID, TEXTOID};
	Datum		ivals[18];
	char		inulls[18];
	Datum		pvals[2];
	SPIPlanPtr	plan;
	DateADT		today;
	int			year,
				month,
				mday;
	int64		id;
	int64		previous = 0;
	char	   *previous_number = NULL;
	char	   *number;
	StringInfoData prefix;
	StringInfoData suffix;
	StringInfoData detail;
	StringInfo	cur;
	bool		isnull;
	int			i;
	int			attempt;

	today = miaopi_calendar_local_date(is->calendar, is->now);
	j2date(today + POSTGRES_EPOCH_JDATE, &year, &month, &mday);

	/* the number around its sequence: everything else is known now */
	initStringInfo(&prefix);
	initStringInfo(&suffix);
	cur = &prefix;
	for (i = 0; i < lic->nparts; i++)
	{
		const MrNumberPart *p = &lic->parts[i];

		switch (p->kind)
		{
			case MR_NUM_LITERAL:
				appendStringInfoString(cur, p->text);
				break;
			case MR_NUM_YYYY:
				appendStringInfo(cur, "%04d", year);
				break;
			case MR_NUM_YY:
				appendStringInfo(cur, "%02d", year % 100);
				break;
			case MR_NUM_MM:
				appendStringInfo(cur, "%02d", month);
				break;
			case MR_NUM_SEQ:
				cur = &suffix;
				break;
			case MR_NUM_SERVICE:
				appendStringInfoString(cur, is->svc->code);
				break;
		}
	}

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* a renewal (art. 50) follows the holder's current licence of the type */
	if (is->svc->renews != NULL)
	{
		plan = kept_plan(&plan_previous,
						 "SELECT id, number FROM miaopi.licence"
						 " WHERE type OPERATOR(pg_catalog.=) $1"
						 " AND holder_id OPERATOR(pg_catalog.=) $2"
						 " AND status OPERATOR(pg_catalog.=) ANY ('{valid,suspended}'::pg_catalog.text[])"
						 " ORDER BY valid_until DESC, id DESC LIMIT 1 FOR UPDATE",
						 2, ptypes);
		pvals[0] = CStringGetTextDatum(lic->type);
		pvals[1] = PointerGetDatum(cstring_to_text_with_len(is->applicant_id, is->applicant_id_len));
		if (SPI_execute_plan(plan, pvals, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the licence being renewed");
		if (SPI_processed == 1)
		{
			previous = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
			previous_number = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
	}

	memset(inulls, ' ', sizeof(inulls));
	ivals[0] = CStringGetTextDatum(prefix.data);
	ivals[1] = CStringGetTextDatum(suffix.data);
	ivals[2] = CStringGetTextDatum(lic->type);
	ivals[3] = CStringGetTextDatum(lic->name);
	ivals[4] = CStringGetTextDatum(is->svc->code);
	ivals[5] = Int64GetDatum(is->application_id);
	ivals[6] = PointerGetDatum(cstring_to_text_with_len(is->applicant_id, is->applicant_id_len));
	if (is->applicant_name != NULL)
		ivals[7] = PointerGetDatum(cstring_to_text_with_len(is->applicant_name,
															is->applicant_name_len));
	else
		inulls[7] = 'n';
	ivals[8] = CStringGetTextDatum(miaopi_holder_type(is->applicant_id, is->applicant_id_len));
	ivals[9] = TimestampTzGetDatum(is->now);
	/* a person may approve a period already over: the licence is born expired */
	ivals[10] = DateADTGetDatum(Min(today, is->valid_until));
	ivals[11] = DateADTGetDatum(is->valid_until);
	ivals[12] = JsonbPGetDatum(licence_data(is));
	if (previous != 0)
		ivals[13] = Int64GetDatum(previous);
	else
		inulls[13] = 'n';
	ivals[14] = Int32GetDatum(year);
	ivals[15] = Int32GetDatum(lic->seq_width);
	/* GB/T 36904: serial = year and sequence, version 001, MOD 37,36 check */
	if (lic->type_code != NULL && lic->issuer_code != NULL)
	{
		ivals[16] = CStringGetTextDatum(psprintf("1.2.156.3005.2.%s.%s.%04d",
												 lic->type_code, lic->issuer_code, year));
		ivals[17] = CStringGetTextDatum(psprintf("1215630052%s%s%04d",
												 lic->type_code, lic->issuer_code, year));
	}
	else
		inulls[16] = inulls[17] = 'n';

	plan = kept_plan(&plan_insert,
					 "WITH c AS (UPDATE miaopi.licence_counter"
					 " SET last = last OPERATOR(pg_catalog.+) 1"
					 " WHERE type OPERATOR(pg_catalog.=) $3 AND year OPERATOR(pg_catalog.=) $15"
					 " RETURNING last),"
					 " s AS (SELECT pg_catalog.lpad(c.last::pg_catalog.text,"
					 " pg_catalog.int4larger($16, pg_catalog.length(c.last::pg_catalog.text)), '0') AS seq"
					 " FROM c)"
					 " INSERT INTO miaopi.licence (number, identifier, type, name, service_code,"
					 " application_id, holder_id, holder_name, holder_type, issued_at,"
					 " valid_from, valid_until, data, previous)"
					 " SELECT $1 OPERATOR(pg_catalog.||) s.seq OPERATOR(pg_catalog.||) $2,"
					 " $17 OPERATOR(pg_catalog.||) s.seq OPERATOR(pg_catalog.||) '.001.'"
					 " OPERATOR(pg_catalog.||) miaopi.mod37_36_check($18 OPERATOR(pg_catalog.||) s.seq"
					 " OPERATOR(pg_catalog.||) '001'),"
					 " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM s"
					 " RETURNING id, number",
					 18, itypes);
	for (attempt = 0;; attempt++)
	{
		if (SPI_execute_plan(plan, ivals, inulls, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not issue a licence of type \"%s\"", lic->type);
		if (SPI_processed == 1 || attempt > 0)
			break;
		/* the first licence of the type this year: start its counter */
		plan = kept_plan(&plan_counter,
						 "INSERT INTO miaopi.licence_counter (type, year, last)"
						 " VALUES ($1, $2, 0) ON CONFLICT (type, year) DO NOTHING",
						 2, ctypes);
		if (SPI_execute_plan(plan, (Datum[]) {ivals[2], ivals[14]}, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not count licences of type \"%s\"", lic->type);
		plan = plan_insert;
	}
	if (SPI_processed != 1)
		elog(ERROR, "could not number a licence of type \"%s\"", lic->type);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	number = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"licence\": ");
	json_string(&detail, number);
	appendStringInfo(&detail, ", \"licence_id\": " INT64_FORMAT ", \"type\": ", id);
	json_string(&detail, lic->type);
	/* ISO 8601 whatever the session's DateStyle: events are compared and hashed */
	j2date(is->valid_until + POSTGRES_EPOCH_JDATE, &year, &month, &mday);
	appendStringInfo(&detail, ", \"valid_until\": \"%04d-%02d-%02d\"", year, month, mday);
	if (previous_number != NULL)
	{
		appendStringInfoString(&detail, ", \"previous\": ");
		json_string(&detail, previous_number);
	}
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(is->application_id, is->now, "licence_issue", is->actor,
						is->status, is->status, NULL, detail.data);

	/* the renewed licence ends as the new one starts */
	if (previous != 0)
	{
		Oid			stypes[2] = {INT8OID, TEXTOID};
		Datum		svals[2];
		Oid			etypes[7] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		evals[7];
		char	   *from_status;

		plan = kept_plan(&plan_status,
						 "UPDATE miaopi.licence AS l SET status = $2"
						 " FROM (SELECT id, status FROM miaopi.licence"
						 " WHERE id OPERATOR(pg_catalog.=) $1) AS o"
						 " WHERE l.id OPERATOR(pg_catalog.=) o.id RETURNING o.status",
						 2, stypes);
		svals[0] = Int64GetDatum(previous);
		svals[1] = CStringGetTextDatum("cancelled");
		licence_moving = previous;
		PG_TRY();
		{
			if (SPI_execute_plan(plan, svals, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "could not end licence \"%s\"", previous_number);
		}
		PG_FINALLY();
		{
			licence_moving = 0;
		}
		PG_END_TRY();
		from_status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		plan = kept_plan(&plan_levent,
						 "INSERT INTO miaopi.licence_event (licence_id, at, action,"
						 " from_status, to_status, reason, actor, session_actor)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
						 7, etypes);
		evals[0] = Int64GetDatum(previous);
		evals[1] = TimestampTzGetDatum(is->now);
		evals[2] = CStringGetTextDatum("cancel");
		evals[3] = CStringGetTextDatum(from_status);
		evals[4] = CStringGetTextDatum("cancelled");
		evals[5] = CStringGetTextDatum("renewal");
		evals[6] = CStringGetTextDatum(is->actor);
		if (SPI_execute_plan(plan, evals, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the end of licence \"%s\"", previous_number);

		resetStringInfo(&detail);
		appendStringInfoString(&detail, "{\"licence\": ");
		json_string(&detail, previous_number);
		appendStringInfoString(&detail, ", \"from\": ");
		json_string(&detail, from_status);
		appendStringInfoString(&detail, ", \"to\": \"cancelled\", \"renewed_by\": ");
		json_string(&detail, number);
		appendStringInfoChar(&detail, '}');
		miaopi_event_insert(is->application_id, is->now, "licence_cancel", is->actor,
							is->status, is->status, "renewal", detail.data);
	}

	SPI_finish();
	miaopi_restore_user(&owner);
	licence_invalidate();
	return id;
}

/*
 * miaopi_licence_record_uses records each licence an application relied
 * on in licence_use, with an event of the application.  Runs as the owner.
 */
void
miaopi_licence_record_uses(int64 application_id, List *uses, TimestampTz now,
						   const char *actor, const char *status)
{
	MiaopiOwnerSwitch owner;
	Oid			argtypes[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	ListCell   *lc;

	if (uses == NIL)
		return;
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = kept_plan(&plan_use,
					 "WITH u AS (INSERT INTO miaopi.licence_use (licence_id, application_id, at, purpose)"
					 " VALUES ($1, $2, $3, $4) RETURNING licence_id)"
					 " SELECT l.number FROM u JOIN miaopi.licence AS l"
					 " ON l.id OPERATOR(pg_catalog.=) u.licence_id",
					 4, argtypes);
	foreach(lc, uses)
	{
		MiaopiLicenceUse *u = (MiaopiLicenceUse *) lfirst(lc);
		StringInfoData detail;

		values[0] = Int64GetDatum(u->licence_id);
		values[1] = Int64GetDatum(application_id);
		values[2] = TimestampTzGetDatum(now);
		values[3] = CStringGetTextDatum(u->purpose);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not record the use of licence " INT64_FORMAT, u->licence_id);
		initStringInfo(&detail);
		appendStringInfoString(&detail, "{\"licence\": ");
		json_string(&detail, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		appendStringInfo(&detail, ", \"licence_id\": " INT64_FORMAT ", \"purpose\": ", u->licence_id);
		json_string(&detail, u->purpose);
		appendStringInfoChar(&detail, '}');
		miaopi_event_insert(application_id, now, "licence_use", actor, status, status,
							NULL, detail.data);
	}
	SPI_finish();
	miaopi_restore_user(&owner);
}

/* ----------
 * Status changes
 * ----------
 */

typedef enum LicenceAction
{
	LA_SUSPEND,
	LA_REINSTATE,
	LA_REVOKE,
	LA_CANCEL
} LicenceAction;

static const char *const la_names[] = {"suspend", "reinstate", "revoke", "cancel"};
static const char *const la_targets[] = {"suspended", "valid", "revoked", "cancelled"};

/* Is from -> the action's target a legal transition? */
static bool
legal_transition(LicenceAction act, const char *from)
{
	switch (act)
	{
		case LA_SUSPEND:
			return strcmp(from, "valid") == 0;
		case LA_REINSTATE:
			return strcmp(from, "suspended") == 0;
		case LA_REVOKE:
		case LA_CANCEL:
			return strcmp(from, "valid") == 0 || strcmp(from, "suspended") == 0;
	}
	return false;
}

/* The statuses an action may start from, for hints */
static const char *
legal_from(LicenceAction act)
{
	switch (act)
	{
		case LA_SUSPEND:
			return "a valid licence";
		case LA_REINSTATE:
			return "a suspended licence";
		case LA_REVOKE:
		case LA_CANCEL:
			break;
	}
	return "a valid or suspended licence";
}

/* suspend_licence and its siblings: one legal transition, recorded twice */
static Datum
licence_transition(FunctionCallInfo fcinfo, LicenceAction act)
{
	char	   *number;
	char	   *reason;
	char	   *actor;
	char	   *session_actor;
	MiaopiOwnerSwitch owner;
	Oid			ltypes[1] = {TEXTOID};
	Oid			stypes[2] = {INT8OID, TEXTOID};
	Oid			etypes[8] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID};
	Datum		values[8];
	SPIPlanPtr	plan;
	int64		id;
	int64		application_id;
	char	   *status;
	char	   *app_status;
	bool		isnull;
	TimestampTz now;
	StringInfoData detail;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("licence number must not be null"),
				 errhint("Pass the licence number as the first argument of miaopi.%s_licence.",
						 la_names[act])));
	number = text_to_cstring(PG_GETARG_TEXT_PP(0));
	reason = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (reason == NULL || reason[strspn(reason, " \t\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a reason is required to %s licence \"%s\"", la_names[act], number),
				 errdetail("Every status change of a licence is recorded with who made it and why."),
				 errhint("Pass the reason (and its legal basis) as the second argument.")));

	actor = GetUserNameFromId(GetUserId(), false);
	session_actor = GetUserNameFromId(GetSessionUserId(), false);
	now = miaopi_now();

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	plan = kept_plan(&plan_lock,
					 "SELECT l.id, l.status, l.application_id, a.status"
					 " FROM miaopi.licence AS l LEFT JOIN miaopi.application AS a"
					 " ON a.id OPERATOR(pg_catalog.=) l.application_id"
					 " WHERE l.number OPERATOR(pg_catalog.=) $1 FOR UPDATE OF l",
					 1, ltypes);
	values[0] = CStringGetTextDatum(number);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read licence \"%s\"", number);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("licence \"%s\" does not exist", number),
				 errdetail("No row of miaopi.licence has this number."),
				 errhint("Check the number with miaopi.verify_licence().")));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	application_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	app_status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

	if (!legal_transition(act, status))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("licence \"%s\" is %s and cannot be %s", number, status,
						strcmp(la_targets[act], "valid") == 0 ? "reinstated" : la_targets[act]),
				 errdetail("Only %s can be %s.", legal_from(act),
						   strcmp(la_targets[act], "valid") == 0 ? "reinstated" : la_targets[act]),
				 (strcmp(status, "revoked") == 0 || strcmp(status, "cancelled") == 0) ?
				 errhint("A revoked or cancelled licence stays so; the holder must apply again.") :
				 errhint("Check the licence's status with miaopi.verify_licence().")));

	plan = kept_plan(&plan_status,
					 "UPDATE miaopi.licence AS l SET status = $2"
					 " FROM (SELECT id, status FROM miaopi.licence"
					 " WHERE id OPERATOR(pg_catalog.=) $1) AS o"
					 " WHERE l.id OPERATOR(pg_catalog.=) o.id RETURNING o.status",
					 2, stypes);
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(la_targets[act]);
	licence_moving = id;
	PG_TRY();
	{
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not change licence \"%s\"", number);
	}
	PG_FINALLY();
	{
		licence_moving = 0;
	}
	PG_END_TRY();

	plan = kept_plan(&plan_levent,
					 "INSERT INTO miaopi.licence_event (licence_id, at, action,"
					 " from_status, to_status, reason, actor, session_actor)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
					 8, etypes);
	values[0] = Int64GetDatum(id);
	values[1] = TimestampTzGetDatum(now);
	values[2] = CStringGetTextDatum(la_names[act]);
	values[3] = CStringGetTextDatum(status);
	values[4] = CStringGetTextDatum(la_targets[act]);
	values[5] = CStringGetTextDatum(reason);
	values[6] = CStringGetTextDatum(actor);
	values[7] = CStringGetTextDatum(session_actor);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the change of licence \"%s\"", number);

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"licence\": ");
	json_string(&detail, number);
	appendStringInfoString(&detail, ", \"from\": ");
	json_string(&detail, status);
	appendStringInfoString(&detail, ", \"to\": ");
	json_string(&detail, la_targets[act]);
	appendStringInfoString(&detail, ", \"session_actor\": ");
	json_string(&detail, session_actor);
	appendStringInfoChar(&detail, '}');
	miaopi_event_insert(application_id, now, psprintf("licence_%s", la_names[act]), actor,
						app_status, app_status, reason, detail.data);

	SPI_finish();
	miaopi_restore_user(&owner);
	licence_invalidate();
	PG_RETURN_TEXT_P(cstring_to_text(la_targets[act]));
}

/* SQL: miaopi.suspend_licence(number text, reason text) */
PG_FUNCTION_INFO_V1(miaopi_suspend_licence);
Datum
miaopi_suspend_licence(PG_FUNCTION_ARGS)
{
	return licence_transition(fcinfo, LA_SUSPEND);
}

/* SQL: miaopi.reinstate_licence(number text, reason text) */
PG_FUNCTION_INFO_V1(miaopi_reinstate_licence);
Datum
miaopi_reinstate_licence(PG_FUNCTION_ARGS)
{
	return licence_transition(fcinfo, LA_REINSTATE);
}

/* SQL: miaopi.revoke_licence(number text, reason text) */
PG_FUNCTION_INFO_V1(miaopi_revoke_licence);
Datum
miaopi_revoke_licence(PG_FUNCTION_ARGS)
{
	return licence_transition(fcinfo, LA_REVOKE);
}

/* SQL: miaopi.cancel_licence(number text, reason text) */
PG_FUNCTION_INFO_V1(miaopi_cancel_licence);
Datum
miaopi_cancel_licence(PG_FUNCTION_ARGS)
{
	return licence_transition(fcinfo, LA_CANCEL);
}

/* SQL: BEFORE UPDATE OR DELETE trigger on miaopi.licence */
PG_FUNCTION_INFO_V1(miaopi_licence_guard);
Datum
miaopi_licence_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("miaopi_licence_guard: must be called as trigger")));
	/* only the one row a licence function is moving, and only once */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) &&
		licence_moving != 0)
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		int			attnum = SPI_fnumber(desc, "id");
		bool		isnull = true;
		Datum		id = (attnum > 0) ?
			heap_getattr(trigdata->tg_trigtuple, attnum, desc, &isnull) : (Datum) 0;

		if (!isnull && DatumGetInt64(id) == licence_moving)
		{
			licence_moving = 0;
			return PointerGetDatum(trigdata->tg_newtuple);
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("licences can only be changed by miaopi's licence functions"),
			 errdetail("%s of a licence is not allowed.",
					   TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? "UPDATE" :
					   TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "DELETE" : "TRUNCATE"),
			 errhint("Use miaopi.suspend_licence, reinstate_licence, revoke_licence or cancel_licence."),
			 errtable(trigdata->tg_relation)));
	PG_RETURN_NULL();
}

/*
 * miaopi_licence_issue_approved issues the licence of an application a
 * person approved through act(), if its ruleset has a licence section.
 * An end date that cannot be computed refuses the approval (55000): a
 * licence without an end date is never issued.  Returns the licence id, or
 * 0 when the service issues none.
 */
int64
miaopi_licence_issue_approved(int64 application_id, TimestampTz now, const char *actor)
{
	static SPIPlanPtr plan_app = NULL;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	MiaopiOwnerSwitch owner;
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int64		ruleset_id;
	MiaopiProgram *prog;
	MiaopiInput in;
	MiaopiIssue issue;
	text	   *t;
	Datum		d;
	char	   *why = NULL;
	DateADT		until;
	int64		id;
	const MiaopiService *svc;
	MemoryContext caller_cxt = CurrentMemoryContext;

	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = kept_plan(&plan_app,
					 "SELECT applicant_id, applicant_name, payload, materials, channel,"
					 " submitted_at, ruleset_id, service_code FROM miaopi.application"
					 " WHERE id OPERATOR(pg_catalog.=) $1",
					 1, argtypes);
	values[0] = Int64GetDatum(application_id);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "application " INT64_FORMAT " vanished", application_id);
	/* both must outlive SPI_finish: copy them into the caller's context */
	tup = SPI_copytuple(SPI_tuptable->vals[0]);
	{
		MemoryContext spicxt = MemoryContextSwitchTo(caller_cxt);

		desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	miaopi_restore_user(&owner);

	ruleset_id = DatumGetInt64(heap_getattr(tup, 7, desc, &isnull));
	if (isnull)
		return 0;
	prog = miaopi_cache_program(ruleset_id);
	if (prog->svc->licence == NULL)
	{
		miaopi_cache_release(prog);
		return 0;
	}

	memset(&in, 0, sizeof(in));
	t = DatumGetTextPP(heap_getattr(tup, 1, desc, &isnull));
	in.applicant_id = VARDATA_ANY(t);
	in.applicant_id_len = VARSIZE_ANY_EXHDR(t);
	d = heap_getattr(tup, 2, desc, &isnull);
	if (!isnull)
	{
		t = DatumGetTextPP(d);
		in.applicant_name = VARDATA_ANY(t);
		in.applicant_name_len = VARSIZE_ANY_EXHDR(t);
	}
	in.payload = DatumGetJsonbP(heap_getattr(tup, 3, desc, &isnull));
	d = heap_getattr(tup, 4, desc, &isnull);
	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &in.materials, &in.material_nulls, &in.nmaterials);
	d = heap_getattr(tup, 5, desc, &isnull);
	if (!isnull)
	{
		t = DatumGetTextPP(d);
		in.channel = VARDATA_ANY(t);
		in.channel_len = VARSIZE_ANY_EXHDR(t);
	}
	else
		in.channel = "";
	in.submitted_at = DatumGetTimestampTz(heap_getattr(tup, 6, desc, &isnull));
	in.now = now;

	if (!miaopi_eval_valid_until(prog, &in, &until, &why))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("application " INT64_FORMAT " cannot be approved: its licence would have no end date",
						application_id),
				 errdetail("Service \"%s\" computes the licence's last day, and %s.", prog->svc->code, why),
				 errhint("Reject the application or request a supplement (补正) of the missing data.")));

	t = DatumGetTextPP(heap_getattr(tup, 8, desc, &isnull));
	svc = miaopi_service_lookup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), false);
	memset(&issue, 0, sizeof(issue));
	issue.svc = prog->svc;
	issue.application_id = application_id;
	issue.applicant_id = in.applicant_id;
	issue.applicant_id_len = in.applicant_id_len;
	issue.applicant_name = in.applicant_name;
	issue.applicant_name_len = in.applicant_name_len;
	issue.payload = PointerGetDatum(in.payload);
	issue.calendar = pstrdup(svc->calendar);
	issue.now = now;
	issue.valid_until = until;
	issue.actor = actor;
	issue.status = "approved";
	id = miaopi_licence_issue(&issue);
	miaopi_cache_release(prog);
	return id;
}
