/*-------------------------------------------------------------------------
 *
 * lookup.c
 *	  exists() and lookup() into the agency's own reference tables.
 *
 * Name resolution.  The rule compiler asks us, through MrResolver, for the
 * type of every column a lookup names.  At load_rules time the resolver is
 * strict: an unknown table or column, or a table the loading role cannot
 * read, is a load error.  When a backend later compiles a stored ruleset
 * for its cache, the resolver is lenient: whatever no longer resolves
 * (a dropped table, say) makes that lookup "broken", and a check using it
 * evaluates to "error" (so a human decides) instead of failing the INSERT.
 * Unqualified table names mean schema public, not the search_path, so that a
 * rule means the same thing in every session.
 *
 * Probes.  Each lookup becomes one parameterised query,
 *		SELECT col::canonical FROM schema.table WHERE c1 = $1 AND c2 >= $2 LIMIT 1
 * with identifiers quoted and values always bound as parameters.  It is
 * prepared once per program with SPI_keepplan; plancache replans it when
 * the table changes.  Before every probe we check the current role's
 * SELECT privilege on the table (or on the columns used): a role that may
 * not read the table gets the check result "error", found by an ACL check
 * rather than by catching the permission error.
 *
 * One evaluation opens SPI at most once, on its first probe, and closes it
 * in miaopi_lookup_finish().
 *
 * IDENTIFICATION
 *	  extension/lookup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "lookup.h"

typedef struct MiaopiLookupState
{
	Oid			relid;			/* InvalidOid when broken */
	const char *broken;			/* why the lookup cannot run, or NULL */
	AttrNumber *attnums;		/* condition columns, then the result column */
	int			nattnums;
	SPIPlanPtr	plan;			/* prepared on first probe */
} MiaopiLookupState;

typedef struct ResolverCtx
{
	bool		strict;
} ResolverCtx;

static bool spi_open = false;

/* ----------
 * Resolution
 * ----------
 */

static const char *
schema_or_public(const char *schema)
{
	return schema ? schema : "public";
}

/* Map a column's type to the rule language's kinds; false if unusable */
static bool
type_kind(Oid typid, MrTypeKind *kind)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			*kind = MR_TYPE_INT;
			return true;
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			*kind = MR_TYPE_DECIMAL;
			return true;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			*kind = MR_TYPE_TEXT;
			return true;
		case BOOLOID:
			*kind = MR_TYPE_BOOL;
			return true;
		case DATEOID:
			*kind = MR_TYPE_DATE;
			return true;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			*kind = MR_TYPE_TIMESTAMP;
			return true;
		default:
			return false;
	}
}

/* The SQL type a kind is cast to and bound as */
static Oid
kind_type(MrTypeKind kind)
{
	switch (kind)
	{
		case MR_TYPE_BOOL:
			return BOOLOID;
		case MR_TYPE_INT:
			return INT8OID;
		case MR_TYPE_DECIMAL:
			return NUMERICOID;
		case MR_TYPE_DATE:
			return DATEOID;
		case MR_TYPE_TIMESTAMP:
			return TIMESTAMPTZOID;
		default:
			return TEXTOID;
	}
}

static const char *
kind_type_name(MrTypeKind kind)
{
	switch (kind)
	{
		case MR_TYPE_BOOL:
			return "pg_catalog.bool";
		case MR_TYPE_INT:
			return "pg_catalog.int8";
		case MR_TYPE_DECIMAL:
			return "pg_catalog.numeric";
		case MR_TYPE_DATE:
			return "pg_catalog.date";
		case MR_TYPE_TIMESTAMP:
			return "pg_catalog.timestamptz";
		default:
			return "pg_catalog.text";
	}
}

/*
 * Find a table a rule may read.  Returns InvalidOid with a message if there
 * is none.  Does no permission check.
 */
static Oid
find_table(const char *schema, const char *table, char *msg, size_t msglen)
{
	Oid			nsp = get_namespace_oid(schema_or_public(schema), true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
	char		kind;

	if (!OidIsValid(relid))
	{
		snprintf(msg, msglen, "relation \"%s.%s\" does not exist",
				 schema_or_public(schema), table);
		return InvalidOid;
	}
	kind = get_rel_relkind(relid);
	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_FOREIGN_TABLE)
	{
		snprintf(msg, msglen, "\"%s.%s\" is not a table or view",
				 schema_or_public(schema), table);
		return InvalidOid;
	}
	return relid;
}

static bool
can_read(Oid relid, AttrNumber attnum)
{
	Oid			role = GetUserId();

	return pg_class_aclcheck(relid, role, ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck(relid, attnum, role, ACL_SELECT) == ACLCHECK_OK;
}

static MrErrorKind
resolve_column(void *arg, const char *schema, const char *table,
			   const char *column, MrType *type, char *msg, size_t msglen)
{
	ResolverCtx *ctx = (ResolverCtx *) arg;
	Oid			relid = find_table(schema, table, msg, msglen);
	AttrNumber	attnum;
	MrTypeKind	kind;

	type->kind = MR_TYPE_ANY;
	type->elem = MR_TYPE_ANY;

	if (!OidIsValid(relid))
		return ctx->strict ? MR_ERR_UNDEFINED_TABLE : MR_ERR_NONE;

	attnum = get_attnum(relid, column);
	if (attnum <= 0)
	{
		snprintf(msg, msglen, "column \"%s\" of relation \"%s.%s\" does not exist",
				 column, schema_or_public(schema), table);
		return ctx->strict ? MR_ERR_UNDEFINED_COLUMN : MR_ERR_NONE;
	}
	if (ctx->strict && !can_read(relid, attnum))
	{
		snprintf(msg, msglen, "permission denied for table %s.%s",
				 schema_or_public(schema), table);
		return MR_ERR_PRIVILEGE;
	}
	if (!type_kind(get_atttype(relid, attnum), &kind))
	{
		snprintf(msg, msglen, "column \"%s\" of relation \"%s.%s\" has type %s, which rules cannot use",
				 column, schema_or_public(schema), table,
				 format_type_be(get_atttype(relid, attnum)));
		return ctx->strict ? MR_ERR_RULE : MR_ERR_NONE;
	}
	type->kind = kind;
	return MR_ERR_NONE;
}

static ResolverCtx strict_ctx = {true};
static const MrResolver strict_resolver = {&strict_ctx, resolve_column};
static ResolverCtx lenient_ctx = {false};
static const MrResolver lenient_resolver = {&lenient_ctx, resolve_column};

/*
 * miaopi_lookup_resolver returns the resolver for load_rules (strict) or for
 * rebuilding a stored ruleset in the cache (lenient).
 */
const MrResolver *
miaopi_lookup_resolver(bool strict)
{
	return strict ? &strict_resolver : &lenient_resolver;
}

/*
 * Resolve one lookup of a compiled program for probing.  Whatever fails
 * leaves the lookup broken, with the reason checks will report.
 */
static void
prepare_one(MiaopiLookupState *ls, MrLookup *lk)
{
	char		msg[256];
	int			i;

	ls->relid = find_table(lk->schema, lk->table, msg, sizeof(msg));
	if (!OidIsValid(ls->relid))
	{
		ls->broken = pstrdup(msg);
		return;
	}
	ls->nattnums = lk->nconds + (lk->column ? 1 : 0);
	ls->attnums = palloc(sizeof(AttrNumber) * Max(ls->nattnums, 1));
	for (i = 0; i < ls->nattnums; i++)
	{
		const char *col = i < lk->nconds ? lk->conds[i].column : lk->column;
		MrTypeKind	kind;

		ls->attnums[i] = get_attnum(ls->relid, col);
		if (ls->attnums[i] <= 0)
		{
			ls->broken = psprintf("column \"%s\" of relation \"%s.%s\" does not exist",
								  col, schema_or_public(lk->schema), lk->table);
			ls->relid = InvalidOid;
			return;
		}
		if (!type_kind(get_atttype(ls->relid, ls->attnums[i]), &kind) ||
			(i == lk->nconds && lk->column_type.kind != MR_TYPE_ANY &&
			 kind != lk->column_type.kind))
		{
			ls->broken = psprintf("column \"%s\" of relation \"%s.%s\" changed type since the rules were loaded",
								  col, schema_or_public(lk->schema), lk->table);
			ls->relid = InvalidOid;
			return;
		}
	}
}

/*
 * miaopi_lookup_prepare_all resolves every lookup of prog; called while the
 * program is built, in its memory context.
 */
struct MiaopiLookupState *
miaopi_lookup_prepare_all(MiaopiProgram *prog)
{
	MrService  *svc = prog->svc;
	MiaopiLookupState *states = palloc0(sizeof(MiaopiLookupState) * Max(svc->nlookups, 1));
	int			i;

	for (i = 0; i < svc->nlookups; i++)
		prepare_one(&states[i], svc->lookups[i]);
	return states;
}

/*
 * miaopi_lookup_uses_relation tells whether any lookup of prog reads relid.
 * Called from a relcache callback: no catalog access.
 */
bool
miaopi_lookup_uses_relation(MiaopiProgram *prog, Oid relid)
{
	int			i;

	if (prog->lookups == NULL)
		return false;
	for (i = 0; i < prog->svc->nlookups; i++)
		if (prog->lookups[i].relid == relid)
			return true;
	return false;
}

/* ----------
 * Probing
 * ----------
 */

static const char *
cond_op(MrExprKind op)
{
	switch (op)
	{
		case MR_E_NE:
			return "OPERATOR(pg_catalog.<>)";
		case MR_E_LT:
			return "<";
		case MR_E_LE:
			return "<=";
		case MR_E_GT:
			return ">";
		case MR_E_GE:
			return ">=";
		default:
			return "=";
	}
}

/*
 * Build and keep the probe's plan.  Identifiers are quoted; values are $n.
 * Comparison operators other than <> are left unqualified on purpose so that
 * the column type's own (cross-type) btree operators are chosen, which keeps
 * the table's indexes usable.
 */
static SPIPlanPtr
plan_probe(MiaopiLookupState *ls, MrLookup *lk)
{
	StringInfoData sql;
	Oid		   *argtypes = palloc(sizeof(Oid) * Max(lk->nconds, 1));
	SPIPlanPtr	plan;
	int			i;

	initStringInfo(&sql);
	if (lk->column)
		appendStringInfo(&sql, "SELECT %s::%s",
						 quote_identifier(lk->column),
						 kind_type_name(lk->column_type.kind));
	else
		appendStringInfoString(&sql, "SELECT 1");
	appendStringInfo(&sql, " FROM %s WHERE ",
					 quote_qualified_identifier(schema_or_public(lk->schema), lk->table));
	for (i = 0; i < lk->nconds; i++)
	{
		MrTypeKind	vk = lk->conds[i].value->type.kind;

		argtypes[i] = kind_type(vk);
		appendStringInfo(&sql, "%s%s %s $%d::%s", i > 0 ? " AND " : "",
						 quote_identifier(lk->conds[i].column),
						 cond_op(lk->conds[i].op), i + 1, kind_type_name(vk));
	}
	appendStringInfoString(&sql, " LIMIT 1");

	plan = SPI_prepare(sql.data, lk->nconds, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * miaopi_lookup_probe runs one lookup; see lookup.h.
 */
bool
miaopi_lookup_probe(MiaopiProgram *prog, MrLookup *lk, Datum *params,
					bool *found, Datum *value, bool *isnull,
					const char **errmsg)
{
	MiaopiLookupState *ls = &prog->lookups[lk->index];
	MemoryContext caller = CurrentMemoryContext;
	bool		is_missing = false;
	int			rc,
				i;

	if (ls->broken)
	{
		*errmsg = ls->broken;
		return false;
	}

	/* the current role must be able to read what the probe reads */
	if (pg_class_aclcheck_ext(ls->relid, GetUserId(), ACL_SELECT, &is_missing) != ACLCHECK_OK)
	{
		if (is_missing)
		{
			*errmsg = psprintf("relation \"%s.%s\" no longer exists",
							   schema_or_public(lk->schema), lk->table);
			return false;
		}
		for (i = 0; i < ls->nattnums; i++)
		{
			if (pg_attribute_aclcheck(ls->relid, ls->attnums[i], GetUserId(),
									  ACL_SELECT) != ACLCHECK_OK)
			{
				*errmsg = psprintf("permission denied for table %s.%s",
								   schema_or_public(lk->schema), lk->table);
				return false;
			}
		}
	}

	if (!spi_open)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		spi_open = true;
		/* keep evaluating in the caller's context, not SPI's */
		MemoryContextSwitchTo(caller);
	}

	if (ls->plan == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(prog->cxt);

		ls->plan = plan_probe(ls, lk);
		MemoryContextSwitchTo(old);
	}

	rc = SPI_execute_plan(ls->plan, params, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "lookup probe failed: %s", SPI_result_code_string(rc));

	*found = SPI_processed > 0;
	*isnull = true;
	if (*found && lk->column)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);

		if (!*isnull)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);

			*value = datumCopy(d, att->attbyval, att->attlen);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(caller);
	return true;
}

/*
 * miaopi_lookup_begin forgets SPI state left by an evaluation that errored
 * out (transaction abort already cleaned SPI itself up).
 */
void
miaopi_lookup_begin(void)
{
	spi_open = false;
}

/*
 * miaopi_lookup_finish closes the SPI connection an evaluation opened.
 */
void
miaopi_lookup_finish(void)
{
	if (spi_open)
	{
		MemoryContext caller = CurrentMemoryContext;

		spi_open = false;
		SPI_finish();
		MemoryContextSwitchTo(caller);
	}
}
