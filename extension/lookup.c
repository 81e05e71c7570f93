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
 * Views are refused: a view runs its owner's code as every inserting role.
 * Plain, partitioned and foreign tables and materialized views are read.
 *
 * Operators.  Every condition uses the operator of the column type's default
 * btree operator family (cross-type where the family has one; else one side
 * is cast implicitly to the other's type, as PostgreSQL itself would resolve
 * "col = $1"), found by OID in the catalogs.  Nothing is resolved by name, so nothing on any
 * role's search_path can change what a lookup finds.
 *
 * Probes.  Where the table is a plain table without row-level security and
 * has a btree index of those default families whose leading column is
 * compared with ==, a lookup is a direct index probe: scan keys for the
 * conditions on index columns, the other conditions checked on each row the
 * scan returns, no SQL at all.  Where that index also returns every column
 * the lookup reads (key or INCLUDE columns), the probe is index-only: a row
 * on an all-visible heap page is read from the index tuple, as an
 * index-only scan does; others are checked in the heap.  Anything else
 * becomes one parameterised
 * query,
 *		SELECT col::canonical FROM schema.table
 *		WHERE c1 OPERATOR(pg_catalog.=) $1 AND c2 OPERATOR(pg_catalog.>=) $2 LIMIT 1
 * with identifiers quoted and each operator named by its own schema,
 * prepared once per program with SPI_keepplan (plancache replans it when
 * the table changes) and freed with the program.  Either way values are
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
#include "access/relscan.h"
#include "access/visibilitymap.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "storage/bufmgr.h"
#include "parser/parse_coerce.h"
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
#include "utils/memutils.h"

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
	bool		prepared;		/* direct or plan chosen, */
	bool		prepared_direct;	/* with miaopi.lookup_direct at this */
	/* direct index probe */
	bool		direct;
	Oid			indexoid;
	int			nkeys;
	ProbeKey   *keys;
	int			nfilters;
	ProbeFilter *filters;
	Oid			result_type;	/* base type of the result column */
	bool		retry_direct;	/* best index not usable yet (indcheckxmin) */
	/*
	 * Index-only probes: where the index holds every column the lookup reads
	 * (as key or INCLUDE columns), indexcol[i] is the index column of
	 * attnums[i]; rows on all-visible pages are then read from the index.
	 */
	bool		index_only;
	AttrNumber *indexcol;
	Oid			acl_role;		/* the role last found allowed to read, */
	uint64		acl_generation; /* as of this privilege generation */
	/* otherwise a kept SPI plan, freed with the program's context */
	SPIPlanPtr	plan;
	MemoryContextCallback plan_free;
} MiaopiLookupState;

/* An index scan one evaluation keeps open across its probes of a lookup */
typedef struct MiaopiOpenScan
{
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Buffer		vmbuffer;		/* visibility map page, index-only probes */
	struct MiaopiOpenScan *next;
} MiaopiOpenScan;

typedef struct ResolverCtx
{
	bool		strict;
} ResolverCtx;

/*
 * Privilege checks are remembered per lookup and role until privileges may
 * have changed: a syscache callback on pg_class (table ACLs), pg_attribute
 * (column ACLs), pg_namespace (schema USAGE), pg_auth_members (role
 * membership) and pg_authid (role attributes) bumps the generation.
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
	if (kind == RELKIND_VIEW)
	{
		snprintf(msg, msglen, "\"%s.%s\" is a view, which rules cannot read "
				 "(a view runs its owner's code for every applicant)",
				 schema_or_public(schema), table);
		return InvalidOid;
	}
	if (kind != RELKIND_RELATION && kind != RELKIND_MATVIEW &&
		kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_FOREIGN_TABLE)
	{
		snprintf(msg, msglen, "\"%s.%s\" is not a table",
				 schema_or_public(schema), table);
		return InvalidOid;
	}
	return relid;
}

static bool
can_read(Oid relid, AttrNumber attnum)
{
	Oid			role = GetUserId();

	if (pg_namespace_aclcheck(get_rel_namespace(relid), role, ACL_USAGE) != ACLCHECK_OK)
		return false;
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
	{
		if (!ctx->strict)
			return MR_ERR_NONE;
		return strstr(msg, "does not exist") ? MR_ERR_UNDEFINED_TABLE : MR_ERR_RULE;
	}

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
		case MR_E_NE:
			return BTEqualStrategyNumber;
		default:
			return InvalidStrategy;
	}
}

/*
 * The default btree operator family of typid (or InvalidOid), and the input
 * type of its default opclass (varchar's is text's).
 */
static Oid
default_family(Oid typid, Oid *opcintype)
{
	Oid			opclass = GetDefaultOpClass(typid, BTREE_AM_OID);

	if (!OidIsValid(opclass))
		return InvalidOid;
	*opcintype = get_opclass_input_type(opclass);
	return get_opclass_family(opclass);
}

/*
 * How a condition's operands meet when the column type's family has no
 * operator for the value's type: as PostgreSQL would resolve "col = $1",
 * by the implicit cast of one side to the other's type.
 */
typedef enum CondCast
{
	COND_CAST_NONE,				/* column op value, a cross-type member */
	COND_CAST_VALUE,			/* column op value::column type */
	COND_CAST_COLUMN			/* column::value type op value */
} CondCast;

/*
 * cond_operator finds the operator a condition "column op value" uses: the
 * member of the column type's default btree family for (column, value)
 * types; else, the value being cast implicitly to the column's type, the
 * family's (column, column) member; else, the column being cast implicitly
 * to the value's type, the value type family's (value, value) member.  <>
 * is the negator of =.  Returns InvalidOid if there is none.
 */
static Oid
cond_operator(Oid coltype, Oid subtype, MrExprKind op, CondCast *cast)
{
	StrategyNumber strategy = cond_strategy(op);
	Oid			base = getBaseType(coltype);
	Oid			intype;
	Oid			family;
	Oid			oper = InvalidOid;

	*cast = COND_CAST_NONE;
	if (strategy == InvalidStrategy)
		return InvalidOid;
	family = default_family(base, &intype);
	if (OidIsValid(family))
	{
		oper = get_opfamily_member(family, intype, subtype, strategy);
		if (!OidIsValid(oper) &&
			can_coerce_type(1, &subtype, &base, COERCION_IMPLICIT))
		{
			oper = get_opfamily_member(family, intype, intype, strategy);
			*cast = OidIsValid(oper) ? COND_CAST_VALUE : COND_CAST_NONE;
		}
	}
	if (!OidIsValid(oper) && can_coerce_type(1, &base, &subtype, COERCION_IMPLICIT))
	{
		family = default_family(subtype, &intype);
		if (!OidIsValid(family))
			return InvalidOid;
		oper = get_opfamily_member(family, intype, intype, strategy);
		*cast = OidIsValid(oper) ? COND_CAST_COLUMN : COND_CAST_NONE;
	}
	if (OidIsValid(oper) && op == MR_E_NE)
		oper = get_negator(oper);
	return oper;
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

/*
 * How many leading columns of the index the lookup compares with ==, with
 * the column type's default operator family.  -1: an index this snapshot
 * may not use yet (created concurrently; indcheckxmin, as the planner
 * checks it).
 */
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
	if (ind->indcheckxmin &&
		!TransactionIdPrecedes(HeapTupleHeaderGetXmin(idx->rd_indextuple->t_data),
							   TransactionXmin))
		return -1;
	for (k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx); k++)
	{
		bool		eq = false;
		Oid			intype;

		for (c = 0; c < lk->nconds; c++)
			if (lk->conds[c].op == MR_E_EQ && ls->attnums[c] == ind->indkey.values[k])
				eq = true;
		if (!eq ||
			idx->rd_opfamily[k] != default_family(getBaseType(get_atttype(ls->relid, ind->indkey.values[k])), &intype))
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

/* Index column (1-based) of idx that returns heap column attnum, or 0 */
static int
returning_column(Relation idx, Oid relid, AttrNumber attnum)
{
	int			k;

	if (!idx->rd_indam->amcanreturn)
		return 0;
	for (k = 0; k < IndexRelationGetNumberOfAttributes(idx); k++)
		if (idx->rd_index->indkey.values[k] == attnum &&
			index_can_return(idx, k + 1) &&
			TupleDescAttr(RelationGetDescr(idx), k)->atttypid == get_atttype(relid, attnum))
			return k + 1;
	return 0;
}

/* Does idx return every column the lookup reads? */
static bool
index_covers(Relation idx, MiaopiLookupState *ls)
{
	int			i;

	for (i = 0; i < ls->nattnums; i++)
		if (returning_column(idx, ls->relid, ls->attnums[i]) == 0)
			return false;
	return ls->nattnums > 0;
}

/*
 * Use index-only probes if idx returns every column the lookup reads, with
 * the column's own type (a btree stores its key values as the heap has
 * them), and the table is a heap (visibility map).
 */
static void
choose_index_only(MiaopiLookupState *ls, Relation idx, MemoryContext cxt)
{
	int			i;

	ls->index_only = index_covers(idx, ls);
	if (!ls->index_only)
		return;
	ls->indexcol = MemoryContextAllocZero(cxt, sizeof(AttrNumber) * ls->nattnums);
	for (i = 0; i < ls->nattnums; i++)
		ls->indexcol[i] = returning_column(idx, ls->relid, ls->attnums[i]);
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

		if (score < 0)
			ls->retry_direct = true;
		/* the most leading == columns; on a tie, one that covers the lookup */
		if (score > best ||
			(score == best && score > 0 && index_covers(cand, ls) && !index_covers(idx, ls)))
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
		StrategyNumber strategy = lk->conds[c].op == MR_E_NE ? InvalidStrategy
			: cond_strategy(lk->conds[c].op);
		Oid			oper = InvalidOid;
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), ls->attnums[c] - 1);
		Oid			intype;

		for (k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx) && strategy != InvalidStrategy; k++)
		{
			if (idx->rd_index->indkey.values[k] != ls->attnums[c])
				continue;
			/* only the column type's default family means what the rule says */
			if (idx->rd_opfamily[k] != default_family(getBaseType(att->atttypid), &intype))
				break;
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

		/* not an index condition: the family's operator checked on the row */
		{
			ProbeFilter *f = &ls->filters[ls->nfilters];
			CondCast	cast;

			oper = cond_operator(att->atttypid, subtype, lk->conds[c].op, &cast);
			if (!OidIsValid(oper) || cast != COND_CAST_NONE)
			{
				ok = false;		/* needs a cast: the SQL path does that */
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
		ls->retry_direct = false;
		choose_index_only(ls, idx, cxt);
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

static void probe_index_only(struct MiaopiOpenScan *os, MiaopiLookupState *ls,
							 MrLookup *lk, Datum *params, bool *found,
							 Datum *value, bool *isnull);

/*
 * One direct probe: scan the chosen index with the bound values, check the
 * remaining conditions on each row, stop at the first that passes.  The
 * relation, index scan and slot stay open in the run for the rest of the
 * evaluation, so all(plates, p, exists(...)) rescans instead of starting
 * over; they are closed by miaopi_lookup_finish (or by transaction abort
 * after an ERROR).
 */
static void
probe_direct(MiaopiLookupRun *run, MiaopiLookupState *ls, MrLookup *lk,
			 Datum *params, bool *found, Datum *value, bool *isnull)
{
	ScanKeyData skeys[INDEX_MAX_KEYS];
	int			nkeys = Min(ls->nkeys, INDEX_MAX_KEYS);
	MiaopiOpenScan *os;
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		ProbeKey   *key = &ls->keys[i];

		ScanKeyEntryInitializeWithInfo(&skeys[i], 0, key->indexcol, key->strategy,
									   key->subtype, key->collation, &key->proc,
									   params[key->cond]);
	}

	if (run->scans == NULL)
		run->scans = MemoryContextAllocZero(run->cxt,
											sizeof(MiaopiOpenScan *) * Max(run->nlookups, 1));
	os = run->scans[lk->index];
	if (os == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(run->cxt);

		os = palloc0(sizeof(MiaopiOpenScan));
		os->rel = table_open(ls->relid, AccessShareLock);
		os->idx = index_open(ls->indexoid, AccessShareLock);
		os->scan = index_beginscan(os->rel, os->idx, GetActiveSnapshot(), nkeys, 0);
		os->scan->xs_want_itup = ls->index_only;
		os->slot = table_slot_create(os->rel, NULL);
		os->vmbuffer = InvalidBuffer;
		os->next = run->open;
		run->open = os;
		run->scans[lk->index] = os;
		MemoryContextSwitchTo(old);
	}
	index_rescan(os->scan, skeys, nkeys, NULL, 0);

	*found = false;
	*isnull = true;
	if (ls->index_only)
	{
		probe_index_only(os, ls, lk, params, found, value, isnull);
		return;
	}
	while (!*found && index_getnext_slot(os->scan, ForwardScanDirection, os->slot))
	{
		bool		pass = true;

		for (i = 0; i < ls->nfilters && pass; i++)
		{
			ProbeFilter *f = &ls->filters[i];
			bool		null;
			Datum		v = slot_getattr(os->slot, f->attnum, &null);

			pass = !null && DatumGetBool(FunctionCall2Coll(&f->proc, f->collation,
														   v, params[f->cond]));
		}
		if (!pass)
			continue;
		*found = true;
		if (lk->column)
		{
			Datum		d = slot_getattr(os->slot, ls->attnums[lk->nconds], isnull);

			if (!*isnull)
			{
				Form_pg_attribute att = TupleDescAttr(RelationGetDescr(os->rel),
													  ls->attnums[lk->nconds] - 1);

				*value = canonical_datum(datumCopy(d, att->attbyval, att->attlen),
										 ls->result_type);
			}
		}
	}
	ExecClearTuple(os->slot);
}

/*
 * Read column i of the lookup (attnums[i]) from the index tuple, or from
 * the heap row in the slot when the page was not all-visible.
 */
static Datum
probe_column(MiaopiOpenScan *os, MiaopiLookupState *ls, int i, bool from_heap,
			 bool *isnull)
{
	if (from_heap)
		return slot_getattr(os->slot, ls->attnums[i], isnull);
	return index_getattr(os->scan->xs_itup, ls->indexcol[i],
						 os->scan->xs_itupdesc, isnull);
}

/*
 * The index-only probe, as nodeIndexonlyscan.c does it: a TID on an
 * all-visible heap page is visible to every snapshot, so the values come
 * from the index tuple; any other TID is checked (and read) in the heap.
 */
static void
probe_index_only(MiaopiOpenScan *os, MiaopiLookupState *ls, MrLookup *lk,
				 Datum *params, bool *found, Datum *value, bool *isnull)
{
	ItemPointer tid;
	int			i;

	while (!*found &&
		   (tid = index_getnext_tid(os->scan, ForwardScanDirection)) != NULL)
	{
		bool		from_heap = false;
		bool		pass = true;

		CHECK_FOR_INTERRUPTS();
		if (!VM_ALL_VISIBLE(os->rel, ItemPointerGetBlockNumber(tid), &os->vmbuffer))
		{
			if (!index_fetch_heap(os->scan, os->slot))
				continue;		/* no version visible to our snapshot */
			from_heap = true;
		}
		for (i = 0; i < ls->nfilters && pass; i++)
		{
			ProbeFilter *f = &ls->filters[i];
			bool		null;
			Datum		v = probe_column(os, ls, f->cond, from_heap, &null);

			pass = !null && DatumGetBool(FunctionCall2Coll(&f->proc, f->collation,
														   v, params[f->cond]));
		}
		if (pass)
		{
			*found = true;
			if (lk->column)
			{
				Datum		d = probe_column(os, ls, lk->nconds, from_heap, isnull);

				if (!*isnull)
				{
					Form_pg_attribute att = TupleDescAttr(RelationGetDescr(os->rel),
														  ls->attnums[lk->nconds] - 1);

					*value = canonical_datum(datumCopy(d, att->attbyval, att->attlen),
											 ls->result_type);
				}
			}
		}
		if (from_heap)
			ExecClearTuple(os->slot);
	}
}

/* Close the index scans an evaluation left open */
static void
close_scans(MiaopiLookupRun *run)
{
	while (run->open != NULL)
	{
		MiaopiOpenScan *os = run->open;

		run->open = os->next;
		if (BufferIsValid(os->vmbuffer))
			ReleaseBuffer(os->vmbuffer);
		ExecDropSingleTupleTableSlot(os->slot);
		index_endscan(os->scan);
		index_close(os->idx, NoLock);
		table_close(os->rel, NoLock);
	}
	if (run->scans)
		memset(run->scans, 0, sizeof(MiaopiOpenScan *) * Max(run->nlookups, 1));
}

/* ----------
 * Probing
 * ----------
 */

/*
 * The schema-qualified name of a type, without a type modifier (a cast to
 * "character" would mean char(1) and truncate).
 */
static char *
type_name(Oid typid)
{
	HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Form_pg_type form;
	char	   *name;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for type %u", typid);
	form = (Form_pg_type) GETSTRUCT(tp);
	name = quote_qualified_identifier(get_namespace_name(form->typnamespace),
									  NameStr(form->typname));
	ReleaseSysCache(tp);
	return name;
}

/* A program's context is going away: free the plan it kept */
static void
free_kept_plan(void *arg)
{
	MiaopiLookupState *ls = (MiaopiLookupState *) arg;

	if (ls->plan != NULL)
		SPI_freeplan(ls->plan);
	ls->plan = NULL;
}

/* Append "OPERATOR(schema.op)" for oper */
static void
append_operator(StringInfo sql, Oid oper)
{
	HeapTuple	tp = SearchSysCache1(OPEROID, ObjectIdGetDatum(oper));
	Form_pg_operator form;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for operator %u", oper);
	form = (Form_pg_operator) GETSTRUCT(tp);
	appendStringInfo(sql, "OPERATOR(%s.%s)",
					 quote_identifier(get_namespace_name(form->oprnamespace)),
					 NameStr(form->oprname));
	ReleaseSysCache(tp);
}

/*
 * Build and keep the probe's plan.  Identifiers are quoted; values are $n;
 * each operator is the one cond_operator chose, named with its schema; the
 * plan is freed when statecxt, the context holding ls, goes (plan_free).
 * Returns NULL, with *errmsg, if some condition has no operator.
 */
static SPIPlanPtr
plan_probe(MiaopiLookupState *ls, MrLookup *lk, MemoryContext statecxt,
		   const char **errmsg)
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
		Oid			coltype = getBaseType(get_atttype(ls->relid, ls->attnums[i]));
		CondCast	cast;
		Oid			oper;

		argtypes[i] = kind_type(vk);
		oper = cond_operator(coltype, argtypes[i], lk->conds[i].op, &cast);
		if (!OidIsValid(oper))
		{
			*errmsg = psprintf("column \"%s\" of relation \"%s.%s\" cannot be compared with %s",
							   lk->conds[i].column, schema_or_public(lk->schema),
							   lk->table, format_type_be(argtypes[i]));
			return NULL;
		}
		if (i > 0)
			appendStringInfoString(&sql, " AND ");
		if (cast == COND_CAST_COLUMN)
			appendStringInfo(&sql, "%s::%s ", quote_identifier(lk->conds[i].column),
							 kind_type_name(vk));
		else
			appendStringInfo(&sql, "%s ", quote_identifier(lk->conds[i].column));
		append_operator(&sql, oper);
		appendStringInfo(&sql, " $%d::%s", i + 1, kind_type_name(vk));
		if (cast == COND_CAST_VALUE)
			appendStringInfo(&sql, "::%s", type_name(coltype));
	}
	appendStringInfoString(&sql, " LIMIT 1");

	plan = SPI_prepare(sql.data, lk->nconds, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	ls->plan_free.func = free_kept_plan;
	ls->plan_free.arg = ls;
	MemoryContextRegisterResetCallback(statecxt, &ls->plan_free);
	return plan;
}

/*
 * may_read tells whether the current role may read every column the lookup
 * reads (USAGE on the schema, SELECT on the table or the columns), by an
 * ACL check (never by catching a permission error).
 */
static bool
may_read(MiaopiLookupState *ls, MrLookup *lk, const char **errmsg)
{
	bool		is_missing = false;
	int			i;

	if (pg_namespace_aclcheck(get_rel_namespace(ls->relid), GetUserId(),
							  ACL_USAGE) != ACLCHECK_OK)
	{
		*errmsg = psprintf("permission denied for schema %s",
						   schema_or_public(lk->schema));
		return false;
	}
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
miaopi_lookup_probe(MiaopiLookupRun *run, MiaopiProgram *prog, MrLookup *lk,
					Datum *params, bool *found, Datum *value, bool *isnull,
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
		CacheRegisterSyscacheCallback(NAMESPACEOID, acl_syscache_callback, (Datum) 0);
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

	if (!ls->prepared || ls->prepared_direct != miaopi_lookup_direct)
	{
		ls->prepared_direct = miaopi_lookup_direct;
		ls->direct = miaopi_lookup_direct && ActiveSnapshotSet() &&
			choose_direct(ls, lk, prog->cxt);
		/* an index that becomes usable later is tried again then */
		ls->prepared = ls->direct || !ls->retry_direct;
	}
	if (ls->direct)
	{
		probe_direct(run, ls, lk, params, found, value, isnull);
		return true;
	}

	if (!run->spi_open)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		run->spi_open = true;
		/* keep evaluating in the caller's context, not SPI's */
		MemoryContextSwitchTo(caller);
	}

	if (ls->plan == NULL)
	{
		/*
		 * The plan is freed by a callback on the context that holds ls (its
		 * callback struct lives in ls): when the program goes, that context
		 * may be deleted before the program's own.
		 */
		MemoryContext old = MemoryContextSwitchTo(prog->cxt);
		SPIPlanPtr	plan = plan_probe(ls, lk, GetMemoryChunkContext(prog->lookups),
									  errmsg);

		MemoryContextSwitchTo(old);
		if (plan == NULL)
			return false;
		ls->plan = plan;
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

			MemoryContextSwitchTo(caller);
			*value = datumCopy(d, att->attbyval, att->attlen);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(caller);
	return true;
}

/*
 * miaopi_lookup_begin starts the lookups of one evaluation of prog.  The
 * run lives in the current memory context.
 */
void
miaopi_lookup_begin(MiaopiLookupRun *run, MiaopiProgram *prog)
{
	memset(run, 0, sizeof(*run));
	run->cxt = CurrentMemoryContext;
	run->nlookups = prog->svc->nlookups;
}

/*
 * miaopi_lookup_finish closes what the evaluation's probes opened: its
 * index scans and its SPI connection.
 */
void
miaopi_lookup_finish(MiaopiLookupRun *run)
{
	close_scans(run);
	if (run->spi_open)
	{
		MemoryContext caller = CurrentMemoryContext;

		run->spi_open = false;
		SPI_finish();
		MemoryContextSwitchTo(caller);
	}
}
