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
 * Probes.  Where the table is a plain table without row-level security and
 * has a btree index whose leading column is compared with ==, a lookup is a
 * direct index probe: scan keys for the conditions on index columns (using
 * the index's own, possibly cross-type, operators), the other conditions
 * checked on each row the scan returns, no SQL at all.  Anything else
 * becomes one parameterised query,
 *		SELECT col::canonical FROM schema.table WHERE c1 = $1 AND c2 >= $2 LIMIT 1
 * with identifiers quoted, prepared once per program with SPI_keepplan
 * (plancache replans it when the table changes).  Either way values are
 * only ever bound, never spliced into SQL.  Which of the two a lookup uses
 * is decided on its first probe and kept until the table changes (a
 * relcache invalidation rebuilds the program).  Before every probe we check the current role's
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

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_oper.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "lookup.h"

/* A condition the index scan itself applies */
typedef struct ProbeKey
{
	int			cond;			/* index into lk->conds */
	AttrNumber	indexcol;		/* 1-based column of the index */
	StrategyNumber strategy;
	Oid			subtype;		/* the parameter's type */
	Oid			collation;
	FmgrInfo	proc;
} ProbeKey;

/* A condition checked on each heap row the scan returns */
typedef struct ProbeFilter
{
	int			cond;
	AttrNumber	attnum;
	Oid			collation;
	FmgrInfo	proc;
} ProbeFilter;

typedef struct MiaopiLookupState
{
	Oid			relid;			/* InvalidOid when broken */
	const char *broken;			/* why the lookup cannot run, or NULL */
	AttrNumber *attnums;		/* condition columns, then the result column */
	int			nattnums;
	bool		prepared;		/* direct or plan chosen */
	/* direct index probe */
	bool		direct;
	Oid			indexoid;
	int			nkeys;
	ProbeKey   *keys;
	int			nfilters;
	ProbeFilter *filters;
	Oid			result_type;	/* base type of the result column */
	/* open during one evaluation only (see probe_direct) */
	uint64		scan_generation;	/* == eval_generation while open */
	Oid			acl_role;		/* the role last found allowed to read, */
	uint64		acl_generation; /* as of this privilege generation */
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	struct MiaopiLookupState *next_open;
	/* otherwise a kept SPI plan */
	SPIPlanPtr	plan;
} MiaopiLookupState;

typedef struct ResolverCtx
{
	bool		strict;
} ResolverCtx;

static bool spi_open = false;

/*
 * Lookups with an index scan open in the current evaluation.  A scan belongs
 * to the evaluation whose generation it carries; after an ERROR the abort
 * has released it, and the next evaluation's new generation makes us forget
 * it without touching it.
 */
static MiaopiLookupState *open_scans = NULL;
static uint64 eval_generation = 0;

/*
 * Privilege checks are remembered per lookup and role until privileges may
 * have changed: a syscache callback on pg_class (table ACLs), pg_attribute
 * (column ACLs), pg_auth_members (role membership) and pg_authid (role
 * attributes) bumps the generation.
 */
static uint64 acl_generation = 1;
static bool acl_callbacks_registered = false;

static void
acl_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	acl_generation++;
}

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
	{
		prepare_one(&states[i], svc->lookups[i]);
		if (states[i].broken)
			prog->broken_lookups = true;
	}
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
 * Direct index probes
 * ----------
 */

static StrategyNumber
cond_strategy(MrExprKind op)
{
	switch (op)
	{
		case MR_E_LT:
			return BTLessStrategyNumber;
		case MR_E_LE:
			return BTLessEqualStrategyNumber;
		case MR_E_GT:
			return BTGreaterStrategyNumber;
		case MR_E_GE:
			return BTGreaterEqualStrategyNumber;
		case MR_E_EQ:
			return BTEqualStrategyNumber;
		default:
			return InvalidStrategy;
	}
}

static const char *
cond_opname(MrExprKind op)
{
	switch (op)
	{
		case MR_E_NE:
			return "<>";
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

/* Column types a direct probe can return as our canonical types */
static bool
direct_result_type(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BOOLOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;		/* bpchar: padding semantics differ; use SQL */
	}
}

/* How many leading columns of the index the lookup compares with == */
static int
index_score(Relation idx, MiaopiLookupState *ls, MrLookup *lk)
{
	Form_pg_index ind = idx->rd_index;
	int			score = 0;
	int			k,
				c;

	if (idx->rd_rel->relam != BTREE_AM_OID || !ind->indisvalid ||
		!ind->indimmediate ||
		RelationGetIndexPredicate(idx) != NIL ||
		RelationGetIndexExpressions(idx) != NIL)
		return 0;
	for (k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx); k++)
	{
		bool		eq = false;

		for (c = 0; c < lk->nconds; c++)
			if (lk->conds[c].op == MR_E_EQ && ls->attnums[c] == ind->indkey.values[k])
				eq = true;
		if (!eq)
			break;
		score++;
	}
	return score;
}

static int
cmp_probe_keys(const void *a, const void *b)
{
	return ((const ProbeKey *) a)->indexcol - ((const ProbeKey *) b)->indexcol;
}

/*
 * Try to set ls up for direct index probes; false leaves it for SQL.
 * Runs once per program and lookup, in the program's memory context.
 */
static bool
choose_direct(MiaopiLookupState *ls, MrLookup *lk, MemoryContext cxt)
{
	Relation	rel = table_open(ls->relid, AccessShareLock);
	Relation	idx = NULL;
	List	   *indexes;
	ListCell   *lc;
	int			best = 0;
	int			c,
				k;
	bool		ok = true;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relrowsecurity)
	{
		table_close(rel, AccessShareLock);
		return false;
	}

	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	cand = index_open(lfirst_oid(lc), AccessShareLock);
		int			score = index_score(cand, ls, lk);

		if (score > best)
		{
			if (idx)
				index_close(idx, AccessShareLock);
			idx = cand;
			best = score;
		}
		else
			index_close(cand, AccessShareLock);
	}
	if (idx == NULL)
	{
		table_close(rel, AccessShareLock);
		return false;
	}

	ls->keys = MemoryContextAllocZero(cxt, sizeof(ProbeKey) * lk->nconds);
	ls->filters = MemoryContextAllocZero(cxt, sizeof(ProbeFilter) * lk->nconds);
	ls->nkeys = ls->nfilters = 0;

	for (c = 0; c < lk->nconds && ok; c++)
	{
		Oid			subtype = kind_type(lk->conds[c].value->type.kind);
		StrategyNumber strategy = cond_strategy(lk->conds[c].op);
		Oid			oper = InvalidOid;
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), ls->attnums[c] - 1);

		for (k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx) && strategy != InvalidStrategy; k++)
		{
			if (idx->rd_index->indkey.values[k] != ls->attnums[c])
				continue;
			oper = get_opfamily_member(idx->rd_opfamily[k], idx->rd_opcintype[k],
									   subtype, strategy);
			if (OidIsValid(oper))
			{
				ProbeKey   *key = &ls->keys[ls->nkeys++];

				key->cond = c;
				key->indexcol = k + 1;
				key->strategy = strategy;
				key->subtype = subtype;
				key->collation = idx->rd_indcollation[k];
				fmgr_info_cxt(get_opcode(oper), &key->proc, cxt);
			}
			break;
		}
		if (OidIsValid(oper))
			continue;

		/* not an index condition: an exact operator checked on the row */
		{
			Oid			coltype = getBaseType(att->atttypid);
			ProbeFilter *f = &ls->filters[ls->nfilters];

			if (coltype == VARCHAROID)
				coltype = TEXTOID;	/* binary compatible; text's operators */
			oper = OpernameGetOprid(list_make1(makeString(unconstify(char *, cond_opname(lk->conds[c].op)))),
									coltype, subtype);
			if (!OidIsValid(oper))
			{
				ok = false;
				break;
			}
			f->cond = c;
			f->attnum = ls->attnums[c];
			f->collation = att->attcollation;
			fmgr_info_cxt(get_opcode(oper), &f->proc, cxt);
			ls->nfilters++;
		}
	}

	if (ok && lk->column)
	{
		ls->result_type = getBaseType(TupleDescAttr(RelationGetDescr(rel),
													ls->attnums[lk->nconds] - 1)->atttypid);
		ok = direct_result_type(ls->result_type);
	}
	if (ok)
	{
		qsort(ls->keys, ls->nkeys, sizeof(ProbeKey), cmp_probe_keys);
		ls->indexoid = RelationGetRelid(idx);
		ls->direct = true;
	}
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return ok;
}

/* Convert a result column to the canonical type of its kind */
static Datum
canonical_datum(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return Int64GetDatum((int64) DatumGetInt16(d));
		case INT4OID:
			return Int64GetDatum((int64) DatumGetInt32(d));
		case FLOAT4OID:
			return DirectFunctionCall1(float4_numeric, d);
		case FLOAT8OID:
			return DirectFunctionCall1(float8_numeric, d);
		case TIMESTAMPOID:
			return TimestampTzGetDatum(timestamp2timestamptz_opt_overflow(DatumGetTimestamp(d), NULL));
		default:
			return d;
	}
}

/*
 * One direct probe: scan the chosen index with the bound values, check the
 * remaining conditions on each row, stop at the first that passes.  The
 * relation, index scan and slot stay open for the rest of the evaluation,
 * so all(plates, p, exists(...)) rescans instead of starting over; they are
 * closed by miaopi_lookup_finish (or by transaction abort after an ERROR).
 */
static void
probe_direct(MiaopiLookupState *ls, MrLookup *lk, Datum *params,
			 bool *found, Datum *value, bool *isnull)
{
	ScanKeyData skeys[INDEX_MAX_KEYS];
	int			nkeys = Min(ls->nkeys, INDEX_MAX_KEYS);
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		ProbeKey   *key = &ls->keys[i];

		ScanKeyEntryInitializeWithInfo(&skeys[i], 0, key->indexcol, key->strategy,
									   key->subtype, key->collation, &key->proc,
									   params[key->cond]);
	}

	if (ls->scan_generation != eval_generation)
	{
		ls->scan_generation = eval_generation;
		ls->rel = table_open(ls->relid, AccessShareLock);
		ls->idx = index_open(ls->indexoid, AccessShareLock);
		ls->scan = index_beginscan(ls->rel, ls->idx, GetActiveSnapshot(), nkeys, 0);
		ls->slot = table_slot_create(ls->rel, NULL);
		ls->next_open = open_scans;
		open_scans = ls;
	}
	index_rescan(ls->scan, skeys, nkeys, NULL, 0);

	*found = false;
	*isnull = true;
	while (!*found && index_getnext_slot(ls->scan, ForwardScanDirection, ls->slot))
	{
		bool		pass = true;

		for (i = 0; i < ls->nfilters && pass; i++)
		{
			ProbeFilter *f = &ls->filters[i];
			bool		null;
			Datum		v = slot_getattr(ls->slot, f->attnum, &null);

			pass = !null && DatumGetBool(FunctionCall2Coll(&f->proc, f->collation,
														   v, params[f->cond]));
		}
		if (!pass)
			continue;
		*found = true;
		if (lk->column)
		{
			Datum		d = slot_getattr(ls->slot, ls->attnums[lk->nconds], isnull);

			if (!*isnull)
			{
				Form_pg_attribute att = TupleDescAttr(RelationGetDescr(ls->rel),
													  ls->attnums[lk->nconds] - 1);

				*value = canonical_datum(datumCopy(d, att->attbyval, att->attlen),
										 ls->result_type);
			}
		}
	}
	ExecClearTuple(ls->slot);
}

/* Close the index scans an evaluation left open */
static void
close_scans(void)
{
	while (open_scans != NULL)
	{
		MiaopiLookupState *ls = open_scans;

		open_scans = ls->next_open;
		ExecDropSingleTupleTableSlot(ls->slot);
		index_endscan(ls->scan);
		index_close(ls->idx, NoLock);
		table_close(ls->rel, NoLock);
		ls->scan_generation = 0;
		ls->scan = NULL;
		ls->slot = NULL;
		ls->next_open = NULL;
	}
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
 * may_read tells whether the current role may read every column the lookup
 * reads, by an ACL check (never by catching a permission error).
 */
static bool
may_read(MiaopiLookupState *ls, MrLookup *lk, const char **errmsg)
{
	bool		is_missing = false;
	int			i;

	if (pg_class_aclcheck_ext(ls->relid, GetUserId(), ACL_SELECT, &is_missing) == ACLCHECK_OK)
		return true;
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
	return true;
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
	int			rc;

	if (ls->broken)
	{
		*errmsg = ls->broken;
		return false;
	}

	/*
	 * The current role must be able to read what the probe reads.  The
	 * answer is kept until the role or anyone's privileges change, so the
	 * hot path does no catalog lookup for it.
	 */
	if (!acl_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(RELOID, acl_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(ATTNUM, acl_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, acl_syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, acl_syscache_callback, (Datum) 0);
		acl_callbacks_registered = true;
	}
	if (ls->acl_generation != acl_generation || ls->acl_role != GetUserId())
	{
		if (!may_read(ls, lk, errmsg))
			return false;
		ls->acl_role = GetUserId();
		ls->acl_generation = acl_generation;
	}

	if (!ls->prepared)
	{
		ls->direct = miaopi_lookup_direct && ActiveSnapshotSet() &&
			choose_direct(ls, lk, prog->cxt);
		ls->prepared = true;
	}
	if (ls->direct)
	{
		probe_direct(ls, lk, params, found, value, isnull);
		return true;
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
	eval_generation++;
	open_scans = NULL;
	spi_open = false;
}

/*
 * miaopi_lookup_finish closes the SPI connection an evaluation opened.
 */
void
miaopi_lookup_finish(void)
{
	close_scans();
	if (spi_open)
	{
		MemoryContext caller = CurrentMemoryContext;

		spi_open = false;
		SPI_finish();
		MemoryContextSwitchTo(caller);
	}
}
