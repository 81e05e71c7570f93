/*-------------------------------------------------------------------------
 *
 * service.c
 *	  The per-backend cache of miaopi.service: what the decision trigger,
 *	  evaluate(), the workflow and the clock need to know of each service.
 *
 * Every row of miaopi.service is read at once with a plain heap scan (as
 * pg_cron loads its job table), so it works for roles that cannot read
 * miaopi.service and inside parallel workers.  The cache lives in "miaopi
 * service cache" under CacheMemoryContext.  Invalidation: a statement
 * trigger on miaopi.service (miaopi.invalidate_cache) calls
 * CacheInvalidateRelcacheByRelid, which reaches every backend; the relcache
 * callback only sets service_cache_stale, and the next lookup reloads the
 * whole table and bumps the generation, so callers that keep a service
 * pointer (the clock functions' fn_extra) know when to look it up again.
 * An invalidation arriving mid-statement only sets the flag, so a pointer
 * returned by a lookup stays valid until the next lookup; a row is decided
 * with the one ruleset id it read.
 *
 * A service whose row is malformed (a bad steps list) is cached with the
 * reason and raises an error only when it is used.
 *
 * IDENTIFICATION
 *	  extension/service.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "calendar.h"
#include "miaopi.h"
#include "service.h"

#define SERVICE_BUCKETS 256

/* A cached service, or the reason its row cannot be used */
typedef struct ServiceEntry
{
	MiaopiService svc;
	char	   *invalid;
} ServiceEntry;

static MemoryContext service_cxt = NULL;
static ServiceEntry **service_buckets = NULL;
static bool service_cache_stale = false;
static bool service_callback_registered = false;
static uint64 service_generation = 1;
static Oid	service_relid = InvalidOid;

static const char *const step_names[] = {"accept", "review", "decide", "deliver"};
static const char *const kind_names[] = {"licence", "public_service", "filing", "policy"};

/* Relcache callback: flag the service cache stale; nothing else */
static void
service_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == service_relid)
		service_cache_stale = true;
}

/* Name of a step, or NULL for none */
const char *
miaopi_step_name(MiaopiStep step)
{
	return step < MIAOPI_STEP_NONE ? step_names[step] : NULL;
}

/* Name of a service kind */
const char *
miaopi_kind_name(MiaopiKind kind)
{
	return kind_names[kind];
}

/*
 * parse_steps fills svc's steps from the service's steps jsonb, or returns
 * why it cannot.  An empty list means the kind's whole sequence, no limits.
 */
static char *
parse_steps(MiaopiService *svc, Jsonb *steps)
{
	JsonbContainer *root = &steps->root;
	int			n;
	int			i;
	int			last = -1;

	for (i = 0; i < MIAOPI_NSTEPS; i++)
	{
		svc->has_step[i] = false;
		svc->step_limit[i] = -1;
	}
	svc->has_step[MIAOPI_STEP_DECIDE] = true;
	svc->has_step[MIAOPI_STEP_DELIVER] = true;

	if (!JsonContainerIsArray(root) || JsonContainerIsScalar(root))
		return psprintf("steps of service \"%s\" is not a JSON array", svc->code);
	n = JsonContainerSize(root);
	if (n == 0)
	{
		svc->has_step[MIAOPI_STEP_ACCEPT] = (svc->kind != MIAOPI_KIND_FILING &&
											 svc->kind != MIAOPI_KIND_POLICY);
		svc->has_step[MIAOPI_STEP_REVIEW] = (svc->kind == MIAOPI_KIND_LICENCE);
		return NULL;
	}

	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(root, i);
		JsonbValue	key;
		JsonbValue *name;
		JsonbValue *limit;
		int			s;
		char	   *sname;

		if (elem == NULL || elem->type != jbvBinary ||
			!JsonContainerIsObject(elem->val.binary.data))
			return psprintf("element %d of the steps of service \"%s\" is not an object",
							i + 1, svc->code);
		key.type = jbvString;
		key.val.string.val = "step";
		key.val.string.len = 4;
		name = findJsonbValueFromContainer(elem->val.binary.data, JB_FOBJECT, &key);
		if (name == NULL || name->type != jbvString)
			return psprintf("element %d of the steps of service \"%s\" has no \"step\" name",
							i + 1, svc->code);
		sname = pnstrdup(name->val.string.val, name->val.string.len);
		for (s = 0; s < MIAOPI_NSTEPS; s++)
			if (strcmp(sname, step_names[s]) == 0)
				break;
		if (s == MIAOPI_NSTEPS)
			return psprintf("service \"%s\" has an unknown step \"%s\"", svc->code, sname);
		if (s <= last)
			return psprintf("step \"%s\" of service \"%s\" is out of order or repeated",
							sname, svc->code);
		if ((s == MIAOPI_STEP_REVIEW && svc->kind != MIAOPI_KIND_LICENCE) ||
			(s == MIAOPI_STEP_ACCEPT &&
			 (svc->kind == MIAOPI_KIND_FILING || svc->kind == MIAOPI_KIND_POLICY)))
			return psprintf("a %s has no step \"%s\" (service \"%s\")",
							kind_names[svc->kind], sname, svc->code);
		last = s;
		svc->has_step[s] = true;

		key.val.string.val = "limit";
		key.val.string.len = 5;
		limit = findJsonbValueFromContainer(elem->val.binary.data, JB_FOBJECT, &key);
		if (limit != NULL && limit->type == jbvNumeric)
		{
			int32		v = DatumGetInt32(DirectFunctionCall1(numeric_int4,
															  NumericGetDatum(limit->val.numeric)));

			if (v < 0 || v > MIAOPI_MAX_WORKING_DAYS)
				return psprintf("step \"%s\" of service \"%s\" has limit %d, outside 0 to %d",
								sname, svc->code, v, MIAOPI_MAX_WORKING_DAYS);
			svc->step_limit[s] = v;
		}
		else if (limit != NULL && limit->type != jbvNull)
			return psprintf("the limit of step \"%s\" of service \"%s\" is not a number",
							sname, svc->code);
	}
	return NULL;
}

/* Column number of attname in tupdesc, or an internal error */
static int
attnum_of(TupleDesc tupdesc, const char *attname)
{
	int			attnum = SPI_fnumber(tupdesc, attname);

	if (attnum <= 0)
		elog(ERROR, "miaopi.service has no column \"%s\"", attname);
	return attnum;
}

/*
 * service_load_all reads every service into the cache with one heap scan.
 */
static void
service_load_all(void)
{
	Relation	rel;
	TupleDesc	tupdesc;
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext oldcxt;
	int			a_code,
				a_department,
				a_kind,
				a_calendar,
				a_statutory,
				a_promised,
				a_steps,
				a_warn,
				a_ext,
				a_ruleset,
				a_auto;

	service_relid = miaopi_relid("service");
	if (service_cxt == NULL)
		service_cxt = AllocSetContextCreate(CacheMemoryContext,
											"miaopi service cache",
											ALLOCSET_DEFAULT_SIZES);
	rel = table_open(service_relid, AccessShareLock);
	tupdesc = RelationGetDescr(rel);
	a_code = attnum_of(tupdesc, "code");
	a_department = attnum_of(tupdesc, "department");
	a_kind = attnum_of(tupdesc, "kind");
	a_calendar = attnum_of(tupdesc, "calendar");
	a_statutory = attnum_of(tupdesc, "statutory_days");
	a_promised = attnum_of(tupdesc, "promised_days");
	a_steps = attnum_of(tupdesc, "steps");
	a_warn = attnum_of(tupdesc, "warn_ratio");
	a_ext = attnum_of(tupdesc, "extension_days");
	a_ruleset = attnum_of(tupdesc, "current_ruleset");
	a_auto = attnum_of(tupdesc, "auto_approve");

	oldcxt = MemoryContextSwitchTo(service_cxt);
	service_buckets = palloc0(sizeof(ServiceEntry *) * SERVICE_BUCKETS);

	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		ServiceEntry *e = palloc0(sizeof(ServiceEntry));
		MiaopiService *s = &e->svc;
		bool		isnull;
		Datum		d;
		char	   *kind;
		uint32		h;

		d = heap_getattr(tup, a_code, tupdesc, &isnull);
		if (isnull)
			continue;
		s->code = TextDatumGetCString(d);
		s->codelen = strlen(s->code);
		d = heap_getattr(tup, a_department, tupdesc, &isnull);
		s->department = isnull ? NULL : TextDatumGetCString(d);
		d = heap_getattr(tup, a_kind, tupdesc, &isnull);
		kind = isnull ? "" : TextDatumGetCString(d);
		if (strcmp(kind, "licence") == 0)
			s->kind = MIAOPI_KIND_LICENCE;
		else if (strcmp(kind, "public_service") == 0)
			s->kind = MIAOPI_KIND_PUBLIC_SERVICE;
		else if (strcmp(kind, "filing") == 0)
			s->kind = MIAOPI_KIND_FILING;
		else if (strcmp(kind, "policy") == 0)
			s->kind = MIAOPI_KIND_POLICY;
		else
			e->invalid = psprintf("service \"%s\" has an unknown kind \"%s\"", s->code, kind);
		d = heap_getattr(tup, a_calendar, tupdesc, &isnull);
		s->calendar = isnull ? pstrdup("cn") : TextDatumGetCString(d);
		d = heap_getattr(tup, a_statutory, tupdesc, &isnull);
		s->statutory_days = isnull ? 0 : DatumGetInt32(d);
		d = heap_getattr(tup, a_promised, tupdesc, &isnull);
		s->promised_days = isnull ? 0 : DatumGetInt32(d);
		d = heap_getattr(tup, a_warn, tupdesc, &isnull);
		s->warn_ratio = isnull ? 0.9 :
			DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
		d = heap_getattr(tup, a_ext, tupdesc, &isnull);
		s->extension_days = isnull ? 0 : DatumGetInt32(d);
		d = heap_getattr(tup, a_ruleset, tupdesc, &isnull);
		s->ruleset_id = isnull ? 0 : DatumGetInt64(d);
		d = heap_getattr(tup, a_auto, tupdesc, &isnull);
		s->auto_approve = isnull ? false : DatumGetBool(d);
		if (s->statutory_days < 0 || s->statutory_days > MIAOPI_MAX_WORKING_DAYS ||
			s->promised_days < 0 || s->promised_days > MIAOPI_MAX_WORKING_DAYS)
			e->invalid = psprintf("the time limits of service \"%s\" are outside 0 to %d working days",
								  s->code, MIAOPI_MAX_WORKING_DAYS);
		d = heap_getattr(tup, a_steps, tupdesc, &isnull);
		if (e->invalid == NULL && !isnull)
			e->invalid = parse_steps(s, DatumGetJsonbP(d));
		else if (e->invalid == NULL)
			e->invalid = parse_steps(s, DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																		  CStringGetDatum("[]"))));

		h = hash_bytes((const unsigned char *) s->code, s->codelen) % SERVICE_BUCKETS;
		s->next = (MiaopiService *) service_buckets[h];
		service_buckets[h] = e;
	}
	systable_endscan(scan);
	MemoryContextSwitchTo(oldcxt);
	table_close(rel, AccessShareLock);
}

/*
 * miaopi_service_lookup returns the cached service with code (len bytes,
 * not necessarily terminated), loading the cache if needed.  An unknown
 * code raises an error unless missing_ok, and a malformed service always
 * does.  The pointer is valid until the next lookup.
 */
const MiaopiService *
miaopi_service_lookup(const char *code, int len, bool missing_ok)
{
	ServiceEntry *e;
	uint32		h;

	if (!service_callback_registered)
	{
		CacheRegisterRelcacheCallback(service_relcache_callback, (Datum) 0);
		service_callback_registered = true;
	}
	if (service_cache_stale || service_buckets == NULL)
	{
		service_cache_stale = false;
		service_buckets = NULL;
		if (service_cxt != NULL)
			MemoryContextReset(service_cxt);
		service_generation++;
		PG_TRY();
		{
			service_load_all();
		}
		PG_CATCH();
		{
			/* never keep a half-built table */
			service_buckets = NULL;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}

	h = hash_bytes((const unsigned char *) code, len) % SERVICE_BUCKETS;
	for (e = service_buckets[h]; e != NULL; e = (ServiceEntry *) e->svc.next)
	{
		if (e->svc.codelen == len && memcmp(e->svc.code, code, len) == 0)
		{
			if (e->invalid)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", e->invalid),
						 errdetail("The row of service \"%s\" in miaopi.service cannot drive a clock.",
								   e->svc.code),
						 errhint("Load the service's rules again, or correct its row in miaopi.service.")));
			return &e->svc;
		}
	}
	if (!missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("service \"%.*s\" does not exist", len, code),
				 errhint("Load the service's rules with miaopi.load_rules first.")));
	return NULL;
}

/*
 * miaopi_service_generation changes whenever the cache is (or is about to
 * be) rebuilt; 0 while a rebuild is pending, which no caller has stored.
 */
uint64
miaopi_service_generation(void)
{
	return service_cache_stale ? 0 : service_generation;
}

/*
 * miaopi_service_copy returns a copy of svc in the current memory context,
 * for a caller that must use it across work that may look services up
 * again (an evaluation, whose lookups may run code that evaluates another
 * application and so reloads the cache).
 */
MiaopiService *
miaopi_service_copy(const MiaopiService *svc)
{
	MiaopiService *copy = palloc(sizeof(MiaopiService));

	*copy = *svc;
	copy->next = NULL;
	copy->code = pstrdup(svc->code);
	copy->calendar = pstrdup(svc->calendar);
	copy->department = svc->department ? pstrdup(svc->department) : NULL;
	return copy;
}
