/*-------------------------------------------------------------------------
 *
 * typecheck.c
 *	  Name resolution and type checking of check expressions.
 *
 * Input is the untyped parse tree of one rule (expr_parse.c); output is
 * the typed program (MrExpr, in the result arena) that the host evaluates.
 * Along the way:
 *
 * - Roots are resolved: payload.<field> against the declared fields,
 *	 applicant.id/name, application.channel/submitted_at and materials.
 *	 Any other bare name must be a variable bound by an enclosing
 *	 all/any/none/count/sum/min/max.  Variables get slots numbered from 0
 *	 per check; a binder takes the slot equal to the number of binders
 *	 around it, so siblings share slots and nested ones never do, and
 *	 check->nvars is the deepest nesting plus one.
 * - exists() and lookup() become MrLookup records, appended to
 *	 service->lookups in source order; the ".column" after lookup() is
 *	 folded into the lookup node.  Columns are typed by the host's resolver
 *	 when one is given, otherwise MR_TYPE_ANY.
 * - Every operator and function argument is checked.  MR_TYPE_ANY (an
 *	 unresolved lookup column) is accepted wherever a value is, so the
 *	 linter, which has no database, still checks everything else.
 *
 * IDENTIFICATION
 *	  extension/rules/typecheck.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "mr_internal.h"

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* Bit for a type kind in an "accepted types" mask */
#define K(kind)		(1u << (kind))
#define K_NUMERIC	(K(MR_TYPE_INT) | K(MR_TYPE_DECIMAL))
#define K_ORDERED	(K_NUMERIC | K(MR_TYPE_TEXT) | K(MR_TYPE_DATE) | K(MR_TYPE_TIMESTAMP))
#define K_DAYLIKE	(K(MR_TYPE_DATE) | K(MR_TYPE_TIMESTAMP))

typedef struct FuncInfo
{
	const char *name;
	MrFunc		func;
	int			minargs;
	int			maxargs;
} FuncInfo;

static const FuncInfo funcs[] = {
	{"len", MR_F_LEN, 1, 1},
	{"has", MR_F_HAS, 1, 1},
	{"matches", MR_F_MATCHES, 2, 2},
	{"lower", MR_F_LOWER, 1, 1},
	{"upper", MR_F_UPPER, 1, 1},
	{"trim", MR_F_TRIM, 1, 1},
	{"today", MR_F_TODAY, 0, 0},
	{"now", MR_F_NOW, 0, 0},
	{"date", MR_F_DATE, 1, 1},
	{"days_between", MR_F_DAYS_BETWEEN, 2, 2},
	{"working_days_between", MR_F_WORKING_DAYS_BETWEEN, 2, 2},
	{"add_days", MR_F_ADD_DAYS, 2, 2},
	{"age_years", MR_F_AGE_YEARS, 1, 2},
	{"uscc_valid", MR_F_USCC_VALID, 1, 1},
	{"idcard_valid", MR_F_IDCARD_VALID, 1, 1},
	{"idcard_birth_date", MR_F_IDCARD_BIRTH_DATE, 1, 1},
	{"all", MR_F_ALL, 3, 3},
	{"any", MR_F_ANY, 3, 3},
	{"none", MR_F_NONE, 3, 3},
	{"count", MR_F_COUNT, 1, 3},
	{"sum", MR_F_SUM, 1, 3},
	{"min", MR_F_MIN, 1, 3},
	{"max", MR_F_MAX, 1, 3},
	{"material", MR_F_MATERIAL, 1, 1},
	{"licence_valid", MR_F_LICENCE_VALID, 2, 3}
};

/* Every callable name, for suggestions */
static const char *const callable_names[] = {
	"len", "has", "matches", "lower", "upper", "trim", "today", "now", "date",
	"days_between", "working_days_between", "add_days", "age_years",
	"uscc_valid", "idcard_valid", "idcard_birth_date", "all", "any", "none",
	"count", "sum", "min", "max", "material", "licence_valid", "exists", "lookup"
};

static const char *const root_names[] = {"payload", "applicant", "application", "materials"};

typedef struct Binding
{
	const char *name;
	size_t		len;
	MrType		type;
} Binding;

typedef struct Tc
{
	MrCtx	   *ctx;
	MrService  *svc;
	MrCheck    *check;
	int			nbound;			/* bindings in scope; also the next slot */
	Binding		bound[MR_MAX_VARS];
} Tc;

static MrExpr *tc_expr(Tc *t, const MrPNode *n);

/* ----------
 * Types
 * ----------
 */

/* Spelling of a type kind */
static const char *
kind_name(MrTypeKind kind)
{
	switch (kind)
	{
		case MR_TYPE_ANY:
			return "any";
		case MR_TYPE_NULL:
			return "null";
		case MR_TYPE_BOOL:
			return "bool";
		case MR_TYPE_INT:
			return "int";
		case MR_TYPE_DECIMAL:
			return "decimal";
		case MR_TYPE_TEXT:
			return "text";
		case MR_TYPE_DATE:
			return "date";
		case MR_TYPE_TIMESTAMP:
			return "timestamp";
		case MR_TYPE_LIST:
			return "list";
	}
	return "unknown";
}

/*
 * mr_type_name writes a type as rules spell it ("int", "[text]") into buf
 * and returns buf.
 */
const char *
mr_type_name(MrType type, char *buf, size_t buflen)
{
	if (buflen == 0)
		return buf;
	if (type.kind == MR_TYPE_LIST)
		snprintf(buf, buflen, "[%s]", kind_name(type.elem));
	else
		snprintf(buf, buflen, "%s", kind_name(type.kind));
	return buf;
}

/*
 * mr_func_name returns the spelling of a function.
 */
const char *
mr_func_name(MrFunc func)
{
	int			i;

	for (i = 0; i < lengthof(funcs); i++)
		if (funcs[i].func == func)
			return funcs[i].name;
	return "unknown";
}

/*
 * mr_lookup_func finds a function by name (exists and lookup are not
 * MrFuncs and are not found here).
 */
bool
mr_lookup_func(const char *name, size_t len, MrFunc *func)
{
	int			i;

	for (i = 0; i < lengthof(funcs); i++)
	{
		if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
		{
			*func = funcs[i].func;
			return true;
		}
	}
	return false;
}

/* A scalar type */
static MrType
type_of(MrTypeKind kind)
{
	MrType		t;

	t.kind = kind;
	t.elem = MR_TYPE_ANY;
	return t;
}

/* A list type */
static MrType
list_of(MrTypeKind elem)
{
	MrType		t;

	t.kind = MR_TYPE_LIST;
	t.elem = elem;
	return t;
}

/* int or decimal */
static bool
is_numeric(MrTypeKind k)
{
	return k == MR_TYPE_INT || k == MR_TYPE_DECIMAL;
}

/* Can values of these kinds be compared with == (ANY and NULL go with all)? */
static bool
kinds_compatible(MrTypeKind a, MrTypeKind b)
{
	if (a == MR_TYPE_ANY || b == MR_TYPE_ANY || a == MR_TYPE_NULL || b == MR_TYPE_NULL)
		return true;
	if (is_numeric(a) && is_numeric(b))
		return true;
	return a == b;
}

/* Can values of these types be compared with ==? */
static bool
types_compatible(MrType a, MrType b)
{
	if (!kinds_compatible(a.kind, b.kind))
		return false;
	if (a.kind == MR_TYPE_LIST && b.kind == MR_TYPE_LIST)
		return kinds_compatible(a.elem, b.elem);
	return true;
}

/* "bool", "int or decimal", "text or a list", ... for an accepted mask */
static const char *
mask_name(unsigned mask, char *buf, size_t buflen)
{
	static const MrTypeKind order[] = {
		MR_TYPE_BOOL, MR_TYPE_INT, MR_TYPE_DECIMAL, MR_TYPE_TEXT,
		MR_TYPE_DATE, MR_TYPE_TIMESTAMP, MR_TYPE_LIST
	};
	const char *names[7];
	int			n = 0;
	int			i;
	size_t		used = 0;

	for (i = 0; i < 7; i++)
		if (mask & K(order[i]))
			names[n++] = order[i] == MR_TYPE_LIST ? "a list" : kind_name(order[i]);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
	{
		const char *sep = (i == 0) ? "" : (i == n - 1) ? " or " : ", ";

		snprintf(buf + used, buflen - used, "%s%s", sep, names[i]);
		used = strlen(buf);
	}
	return buf;
}

/* Does a mask of kinds accept a type?  ANY is accepted everywhere */
static bool
accepts(unsigned mask, MrType type)
{
	return type.kind == MR_TYPE_ANY || (mask & K(type.kind)) != 0;
}

/* ----------
 * Node helpers
 * ----------
 */

/* A typed node at the position of a parse node */
static MrExpr *
new_expr(Tc *t, MrExprKind kind, const MrPNode *n, MrType type)
{
	MrExpr	   *e = mr_alloc(t->ctx, sizeof(MrExpr));

	if (e == NULL)
		return NULL;
	e->kind = kind;
	e->type = type;
	e->pos = n->pos;
	e->len = n->len;
	e->var = -1;
	return e;
}

/* Room for a node's arguments */
static bool
alloc_args(Tc *t, MrExpr *e, int nargs)
{
	e->nargs = nargs;
	if (nargs == 0)
		return true;
	e->args = mr_alloc(t->ctx, sizeof(MrExpr *) * (size_t) nargs);
	return e->args != NULL;
}

/* Equality of a parse node's name with a C string */
static bool
name_is(const MrPNode *n, const char *s)
{
	return n->str_len == strlen(s) && memcmp(n->str, s, n->str_len) == 0;
}

/* A parse node's name, quoted safely */
static const char *
excerpt(char *buf, size_t buflen, const MrPNode *n)
{
	return mr_excerpt(buf, buflen, n->str, n->str_len);
}

/* "argument 2 of days_between must be date, not text" */
static bool
arg_error(Tc *t, const char *fname, int argno, const MrExpr *arg, const char *want)
{
	char		got[32];

	mr_type_name(arg->type, got, sizeof(got));
	return mr_fail_expr(t->ctx, MR_ERR_RULE, arg->pos, "argument %d of %s must be %s, not %s",
						argno, fname, want, got);
}

/* Check one function argument against a mask of kinds */
static bool
check_arg(Tc *t, const char *fname, int argno, const MrExpr *arg, unsigned mask)
{
	char		want[96];

	if (accepts(mask, arg->type))
		return true;
	arg_error(t, fname, argno, arg, mask_name(mask, want, sizeof(want)));
	if (mask == K(MR_TYPE_DATE) && arg->type.kind == MR_TYPE_TEXT)
		mr_hint(t->ctx, "Convert text to a date with date(...).");
	else if (mask == K(MR_TYPE_DATE) && arg->type.kind == MR_TYPE_TIMESTAMP)
		mr_hint(t->ctx, "Convert a timestamp to a date with date(...).");
	return false;
}

/* ----------
 * Names
 * ----------
 */

/* A bare name: a variable, or materials */
static MrExpr *
tc_ident(Tc *t, const MrPNode *n)
{
	char		buf[MR_EXCERPT_BYTES + 4];
	const char *cands[MR_MAX_VARS + lengthof(root_names)];
	const char *guess;
	MrFunc		func;
	int			ncands = 0;
	int			i;

	for (i = t->nbound - 1; i >= 0; i--)
	{
		if (t->bound[i].len == n->str_len && memcmp(t->bound[i].name, n->str, n->str_len) == 0)
		{
			MrExpr	   *e = new_expr(t, MR_E_VAR, n, t->bound[i].type);

			if (e == NULL)
				return NULL;
			e->u.var = i;		/* the slot: bindings are numbered by depth */
			return e;
		}
	}
	if (name_is(n, "materials"))
		return new_expr(t, MR_E_MATERIALS, n, list_of(MR_TYPE_TEXT));
	if (name_is(n, "payload"))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "\"payload\" must be followed by a field name");
		mr_hint(t->ctx, "Write payload.<field>, such as payload.start_date.");
		return NULL;
	}
	if (name_is(n, "applicant"))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "\"applicant\" must be followed by id or name");
		mr_hint(t->ctx, "Write applicant.id or applicant.name.");
		return NULL;
	}
	if (name_is(n, "application"))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "\"application\" must be followed by channel or submitted_at");
		mr_hint(t->ctx, "Write application.channel or application.submitted_at.");
		return NULL;
	}

	mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "unknown name \"%s\"", excerpt(buf, sizeof(buf), n));
	if (mr_lookup_func(n->str, n->str_len, &func) || name_is(n, "exists") || name_is(n, "lookup"))
	{
		mr_hint(t->ctx, "Call the function as %s(...).", buf);
		return NULL;
	}
	for (i = 0; i < t->nbound; i++)
		cands[ncands++] = t->bound[i].name;
	for (i = 0; i < lengthof(root_names); i++)
		cands[ncands++] = root_names[i];
	guess = mr_suggest(n->str, n->str_len, cands, ncands);
	if (guess != NULL)
		mr_hint(t->ctx, "Did you mean \"%s\"?", guess);
	else
		mr_hint(t->ctx, "Values come from payload.<field>, applicant, application, materials, or a variable bound by all(), any(), none(), count(), sum(), min() or max().");
	return NULL;
}

/* payload.<field> */
static MrExpr *
tc_field(Tc *t, const MrPNode *n)
{
	MrService  *svc = t->svc;
	char		buf[MR_EXCERPT_BYTES + 4];
	const char **cands;
	const char *guess;
	MrExpr	   *e;
	int			i;

	i = mr_index_find(&t->ctx->fields, n->str, n->str_len);
	if (i >= 0)
	{
		e = new_expr(t, MR_E_FIELD, n, svc->fields[i].type);
		if (e != NULL)
			e->u.field = i;
		return e;
	}
	mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "unknown field \"%s\"", excerpt(buf, sizeof(buf), n));
	cands = mr_salloc(t->ctx, sizeof(char *) * (size_t) (svc->nfields + 1));
	if (cands == NULL)
		return NULL;
	for (i = 0; i < svc->nfields; i++)
		cands[i] = svc->fields[i].name;
	guess = mr_suggest(n->str, n->str_len, cands, svc->nfields);
	if (guess != NULL)
		mr_hint(t->ctx, "Did you mean \"%s\"?", guess);
	else
		mr_hint(t->ctx, "Declare the field under fields before using it in a rule.");
	return NULL;
}

static MrExpr *tc_lookup(Tc *t, const MrPNode *call, const MrPNode *member);

/* x.name: a root attribute, or the column of lookup() */
static MrExpr *
tc_member(Tc *t, const MrPNode *n)
{
	const MrPNode *base = n->args[0];
	char		buf[MR_EXCERPT_BYTES + 4];
	char		tbuf[32];
	MrExpr	   *b;
	bool		is_var = false;
	int			i;

	if (base->kind == MR_P_IDENT)
	{
		for (i = 0; i < t->nbound; i++)
			if (t->bound[i].len == base->str_len &&
				memcmp(t->bound[i].name, base->str, base->str_len) == 0)
				is_var = true;
	}
	if (base->kind == MR_P_IDENT && !is_var)
	{
		if (name_is(base, "payload"))
			return tc_field(t, n);
		if (name_is(base, "applicant"))
		{
			if (name_is(n, "id"))
				return new_expr(t, MR_E_APPLICANT_ID, n, type_of(MR_TYPE_TEXT));
			if (name_is(n, "name"))
				return new_expr(t, MR_E_APPLICANT_NAME, n, type_of(MR_TYPE_TEXT));
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "unknown applicant attribute \"%s\"",
						 excerpt(buf, sizeof(buf), n));
			mr_hint(t->ctx, "Use applicant.id or applicant.name.");
			return NULL;
		}
		if (name_is(base, "application"))
		{
			if (name_is(n, "channel"))
				return new_expr(t, MR_E_CHANNEL, n, type_of(MR_TYPE_TEXT));
			if (name_is(n, "submitted_at"))
				return new_expr(t, MR_E_SUBMITTED_AT, n, type_of(MR_TYPE_TIMESTAMP));
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "unknown application attribute \"%s\"",
						 excerpt(buf, sizeof(buf), n));
			mr_hint(t->ctx, "Use application.channel or application.submitted_at.");
			return NULL;
		}
	}
	if (base->kind == MR_P_CALL && name_is(base, "lookup"))
		return tc_lookup(t, base, n);
	if (base->kind == MR_P_CALL && name_is(base, "exists"))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "exists(...) cannot be followed by \".%s\"",
					 excerpt(buf, sizeof(buf), n));
		mr_hint(t->ctx, "Use lookup(table, conditions).column to read a column; exists() is only true or false.");
		return NULL;
	}
	b = tc_expr(t, base);
	if (b == NULL)
		return NULL;
	mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "cannot select \".%s\" from a value of type %s",
				 excerpt(buf, sizeof(buf), n), mr_type_name(b->type, tbuf, sizeof(tbuf)));
	return NULL;
}

/* ----------
 * Lookups
 * ----------
 */

/* Append a lookup to the service, growing the array by doubling */
static bool
add_lookup(Tc *t, MrLookup *lk)
{
	MrService  *svc = t->svc;
	int			n = svc->nlookups;

	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
	{
		int			cap = (n == 0) ? 4 : n * 2;
		MrLookup  **bigger = mr_alloc(t->ctx, sizeof(MrLookup *) * (size_t) cap);

		if (bigger == NULL)
			return false;
		if (n > 0)
			memcpy(bigger, svc->lookups, sizeof(MrLookup *) * (size_t) n);
		svc->lookups = bigger;
	}
	lk->index = n;
	svc->lookups[n] = lk;
	svc->nlookups = n + 1;
	return true;
}

/* Count the conjuncts of "a and b and (c and d)" */
static int
count_conds(const MrPNode *n)
{
	if (n->kind == MR_P_BINARY && n->op == MR_E_AND)
		return count_conds(n->args[0]) + count_conds(n->args[1]);
	return 1;
}

/* Store the conjuncts in source order; returns how many were stored */
static int
collect_conds(const MrPNode *n, const MrPNode **out)
{
	int			k;

	if (n->kind == MR_P_BINARY && n->op == MR_E_AND)
	{
		k = collect_conds(n->args[0], out);
		return k + collect_conds(n->args[1], out + k);
	}
	out[0] = n;
	return 1;
}

/* Ask the resolver for a column's type; ANY without one */
static bool
resolve_column(Tc *t, const MrLookup *lk, const char *column, MrType *type)
{
	char		msg[256];
	MrErrorKind kind;

	*type = type_of(MR_TYPE_ANY);
	if (t->ctx->resolver == NULL || t->ctx->resolver->column_type == NULL)
		return true;
	memset(msg, 0, sizeof(msg));
	kind = t->ctx->resolver->column_type(t->ctx->resolver->ctx, lk->schema, lk->table,
										 column, type, msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	if (kind == MR_ERR_NONE)
		return true;
	if (msg[0] != '\0')
		return mr_fail_expr(t->ctx, kind, lk->pos, "%s", msg);
	return mr_fail_expr(t->ctx, kind, lk->pos, "cannot resolve column \"%s\" of table \"%s\"",
						column, lk->table);
}

/* One of == != < <= > >= */
static bool
is_cmp(MrExprKind op)
{
	return op == MR_E_EQ || op == MR_E_NE || op == MR_E_LT || op == MR_E_LE ||
		op == MR_E_GT || op == MR_E_GE;
}

/* Spelling of an operator */
const char *
mr_op_name(MrExprKind op)
{
	switch (op)
	{
		case MR_E_OR:
			return "or";
		case MR_E_AND:
			return "and";
		case MR_E_NOT:
			return "not";
		case MR_E_EQ:
			return "==";
		case MR_E_NE:
			return "!=";
		case MR_E_LT:
			return "<";
		case MR_E_LE:
			return "<=";
		case MR_E_GT:
			return ">";
		case MR_E_GE:
			return ">=";
		case MR_E_IN:
			return "in";
		case MR_E_ADD:
			return "+";
		case MR_E_SUB:
		case MR_E_NEG:
			return "-";
		case MR_E_MUL:
			return "*";
		case MR_E_DIV:
			return "/";
		case MR_E_MOD:
			return "%";
		default:
			return "?";
	}
}

/* Check a comparison between two typed operands; pos is the operator */
static bool
check_compare(Tc *t, MrExprKind op, int pos, MrType l, MrType r)
{
	char		lb[32];
	char		rb[32];

	if (!types_compatible(l, r))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, pos, "cannot compare %s with %s",
					 mr_type_name(l, lb, sizeof(lb)), mr_type_name(r, rb, sizeof(rb)));
		if ((l.kind == MR_TYPE_DATE && r.kind == MR_TYPE_TEXT) ||
			(l.kind == MR_TYPE_TEXT && r.kind == MR_TYPE_DATE))
			mr_hint(t->ctx, "Convert text to a date with date(...), such as date('2026-01-01').");
		else if ((l.kind == MR_TYPE_DATE && r.kind == MR_TYPE_TIMESTAMP) ||
				 (l.kind == MR_TYPE_TIMESTAMP && r.kind == MR_TYPE_DATE))
			mr_hint(t->ctx, "Convert the timestamp to a date with date(...).");
		return false;
	}
	if (op != MR_E_EQ && op != MR_E_NE)
	{
		MrType		bad = (l.kind == MR_TYPE_BOOL || l.kind == MR_TYPE_LIST) ? l : r;

		if (bad.kind == MR_TYPE_BOOL || bad.kind == MR_TYPE_LIST)
			return mr_fail_expr(t->ctx, MR_ERR_RULE, pos, "operator %s cannot be applied to %s",
								mr_op_name(op), mr_type_name(bad, lb, sizeof(lb)));
	}
	return true;
}

/*
 * exists(table, conds) or lookup(table, conds).column; member is the
 * ".column" node for lookup, NULL for exists.
 */
static MrExpr *
tc_lookup(Tc *t, const MrPNode *call, const MrPNode *member)
{
	const char *fname = member ? "lookup" : "exists";
	const MrPNode *tab;
	const MrPNode **conds;
	MrLookup   *lk;
	MrExpr	   *e;
	int			nconds;
	int			i;

	if (call->nargs != 2)
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, call->pos, "function %s takes 2 arguments, got %d",
					 fname, call->nargs);
		mr_hint(t->ctx, "Write %s(schema.table, column == value and ...)%s.", fname,
				member ? ".column" : "");
		return NULL;
	}
	lk = mr_alloc(t->ctx, sizeof(MrLookup));
	if (lk == NULL)
		return NULL;
	lk->pos = member ? member->pos : call->pos;
	lk->check = t->check->id;

	/* the table: name or schema.name */
	tab = call->args[0];
	if (tab->kind == MR_P_IDENT)
	{
		lk->table = mr_strdup(t->ctx, tab->str, tab->str_len);
		if (lk->table == NULL)
			return NULL;
	}
	else if (tab->kind == MR_P_MEMBER && tab->args[0]->kind == MR_P_IDENT)
	{
		lk->schema = mr_strdup(t->ctx, tab->args[0]->str, tab->args[0]->str_len);
		lk->table = mr_strdup(t->ctx, tab->str, tab->str_len);
		if (lk->schema == NULL || lk->table == NULL)
			return NULL;
	}
	else
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, tab->pos, "argument 1 of %s must be a table name", fname);
		mr_hint(t->ctx, "Write schema.table or table, without quotes.");
		return NULL;
	}
	if (!add_lookup(t, lk))
		return NULL;

	/* the conditions: column op value, joined by and */
	nconds = count_conds(call->args[1]);
	conds = mr_salloc(t->ctx, sizeof(MrPNode *) * (size_t) nconds);
	if (conds == NULL)
		return NULL;
	collect_conds(call->args[1], conds);
	lk->nconds = nconds;
	lk->conds = mr_alloc(t->ctx, sizeof(MrCond) * (size_t) nconds);
	if (lk->conds == NULL)
		return NULL;
	for (i = 0; i < nconds; i++)
	{
		const MrPNode *c = conds[i];
		MrCond	   *mc = &lk->conds[i];

		if (c->kind != MR_P_BINARY || !is_cmp(c->op) || c->args[0]->kind != MR_P_IDENT)
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, c->pos,
						 "condition of %s must have the form column op value", fname);
			mr_hint(t->ctx, "Compare a column of the table with a value, such as plate == p, and join conditions with and.");
			return NULL;
		}
		mc->column = mr_strdup(t->ctx, c->args[0]->str, c->args[0]->str_len);
		if (mc->column == NULL)
			return NULL;
		mc->op = c->op;
		if (!resolve_column(t, lk, mc->column, &mc->column_type))
			return NULL;
		mc->value = tc_expr(t, c->args[1]);
		if (mc->value == NULL)
			return NULL;
		if (!types_compatible(mc->column_type, mc->value->type))
		{
			char		cb[32];
			char		vb[32];

			mr_fail_expr(t->ctx, MR_ERR_RULE, c->op_pos,
						 "cannot compare column \"%s\" of type %s with %s", mc->column,
						 mr_type_name(mc->column_type, cb, sizeof(cb)),
						 mr_type_name(mc->value->type, vb, sizeof(vb)));
			return NULL;
		}
		if (!check_compare(t, c->op, c->op_pos, mc->column_type, mc->value->type))
			return NULL;
	}

	if (member != NULL)
	{
		lk->column = mr_strdup(t->ctx, member->str, member->str_len);
		if (lk->column == NULL || !resolve_column(t, lk, lk->column, &lk->column_type))
			return NULL;
		e = new_expr(t, MR_E_LOOKUP, member, lk->column_type);
	}
	else
	{
		lk->column_type = type_of(MR_TYPE_BOOL);
		e = new_expr(t, MR_E_EXISTS, call, type_of(MR_TYPE_BOOL));
	}
	if (e == NULL)
		return NULL;
	e->u.lookup = lk;
	return e;
}

/* ----------
 * Operators
 * ----------
 */

/* Binary operators: boolean, comparison, in, arithmetic */
static MrExpr *
tc_binary(Tc *t, const MrPNode *n)
{
	MrExprKind	op = n->op;
	MrExpr	   *l;
	MrExpr	   *r;
	MrExpr	   *e;
	MrType		result = type_of(MR_TYPE_BOOL);
	char		lb[32];
	char		rb[32];
	MrTypeKind	lk;
	MrTypeKind	rk;

	l = tc_expr(t, n->args[0]);
	if (l == NULL)
		return NULL;
	r = tc_expr(t, n->args[1]);
	if (r == NULL)
		return NULL;
	lk = l->type.kind;
	rk = r->type.kind;

	switch (op)
	{
		case MR_E_AND:
		case MR_E_OR:
			if (!accepts(K(MR_TYPE_BOOL), l->type) || !accepts(K(MR_TYPE_BOOL), r->type))
			{
				MrExpr	   *bad = accepts(K(MR_TYPE_BOOL), l->type) ? r : l;

				mr_fail_expr(t->ctx, MR_ERR_RULE, bad->pos, "argument of %s must be bool, not %s",
							 mr_op_name(op), mr_type_name(bad->type, lb, sizeof(lb)));
				return NULL;
			}
			break;

		case MR_E_EQ:
		case MR_E_NE:
		case MR_E_LT:
		case MR_E_LE:
		case MR_E_GT:
		case MR_E_GE:
			if (!check_compare(t, op, n->op_pos, l->type, r->type))
				return NULL;
			break;

		case MR_E_IN:
			if (rk != MR_TYPE_LIST && rk != MR_TYPE_ANY)
			{
				mr_fail_expr(t->ctx, MR_ERR_RULE, r->pos, "right operand of in must be a list, not %s",
							 mr_type_name(r->type, rb, sizeof(rb)));
				mr_hint(t->ctx, "Write x in [a, b] or x in payload.<list field>.");
				return NULL;
			}
			if (lk == MR_TYPE_LIST ||
				(rk == MR_TYPE_LIST && !kinds_compatible(lk, r->type.elem)))
			{
				mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "cannot look for %s in %s",
							 mr_type_name(l->type, lb, sizeof(lb)),
							 mr_type_name(r->type, rb, sizeof(rb)));
				return NULL;
			}
			break;

		case MR_E_ADD:
		case MR_E_SUB:
		case MR_E_MUL:
		case MR_E_DIV:
		case MR_E_MOD:
			{
				unsigned	ok;

				if (op == MR_E_ADD)
					ok = K_NUMERIC | K(MR_TYPE_TEXT) | K(MR_TYPE_DATE);
				else if (op == MR_E_SUB)
					ok = K_NUMERIC | K(MR_TYPE_DATE);
				else
					ok = K_NUMERIC;

				if (!accepts(ok, l->type) || !accepts(ok, r->type))
					result.kind = MR_TYPE_NULL; /* error below */
				else if (lk == MR_TYPE_ANY || rk == MR_TYPE_ANY)
					result = type_of(MR_TYPE_ANY);
				else if (lk == MR_TYPE_INT && rk == MR_TYPE_INT)
					result = type_of(MR_TYPE_INT);
				else if (is_numeric(lk) && is_numeric(rk))
					result = type_of(MR_TYPE_DECIMAL);
				else if (op == MR_E_ADD && lk == MR_TYPE_TEXT && rk == MR_TYPE_TEXT)
					result = type_of(MR_TYPE_TEXT);
				else if (lk == MR_TYPE_DATE && rk == MR_TYPE_INT)
					result = type_of(MR_TYPE_DATE);
				else if (op == MR_E_SUB && lk == MR_TYPE_DATE && rk == MR_TYPE_DATE)
					result = type_of(MR_TYPE_INT);
				else
					result.kind = MR_TYPE_NULL;

				if (result.kind == MR_TYPE_NULL)
				{
					mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos,
								 "operator %s cannot be applied to %s and %s", mr_op_name(op),
								 mr_type_name(l->type, lb, sizeof(lb)),
								 mr_type_name(r->type, rb, sizeof(rb)));
					if (op == MR_E_ADD && (lk == MR_TYPE_INT && rk == MR_TYPE_DATE))
						mr_hint(t->ctx, "Write the date first: date + days.");
					else if (op == MR_E_ADD && (lk == MR_TYPE_TEXT || rk == MR_TYPE_TEXT))
						mr_hint(t->ctx, "Text can only be joined to text with +.");
					return NULL;
				}
			}
			break;

		default:
			return NULL;
	}

	e = new_expr(t, op, n, result);
	if (e == NULL || !alloc_args(t, e, 2))
		return NULL;
	e->args[0] = l;
	e->args[1] = r;
	return e;
}

/* not x, -x */
static MrExpr *
tc_unary(Tc *t, const MrPNode *n)
{
	MrExpr	   *a = tc_expr(t, n->args[0]);
	MrExpr	   *e;
	char		buf[32];

	if (a == NULL)
		return NULL;
	if (n->op == MR_E_NOT)
	{
		if (!accepts(K(MR_TYPE_BOOL), a->type))
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, a->pos, "argument of not must be bool, not %s",
						 mr_type_name(a->type, buf, sizeof(buf)));
			return NULL;
		}
		e = new_expr(t, MR_E_NOT, n, type_of(MR_TYPE_BOOL));
	}
	else
	{
		if (!accepts(K_NUMERIC, a->type))
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "operator - cannot be applied to %s",
						 mr_type_name(a->type, buf, sizeof(buf)));
			return NULL;
		}
		e = new_expr(t, MR_E_NEG, n, a->type);
	}
	if (e == NULL || !alloc_args(t, e, 1))
		return NULL;
	e->args[0] = a;
	return e;
}

/* list[int] */
static MrExpr *
tc_index(Tc *t, const MrPNode *n)
{
	MrExpr	   *base = tc_expr(t, n->args[0]);
	MrExpr	   *idx;
	MrExpr	   *e;
	MrType		result;
	char		buf[32];

	if (base == NULL || (idx = tc_expr(t, n->args[1])) == NULL)
		return NULL;
	if (base->type.kind == MR_TYPE_LIST)
		result = type_of(base->type.elem);
	else if (base->type.kind == MR_TYPE_ANY)
		result = type_of(MR_TYPE_ANY);
	else
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->op_pos, "cannot index a value of type %s",
					 mr_type_name(base->type, buf, sizeof(buf)));
		mr_hint(t->ctx, "Only lists can be indexed, as in payload.plates[0].");
		return NULL;
	}
	if (!accepts(K(MR_TYPE_INT), idx->type))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, idx->pos, "list index must be int, not %s",
					 mr_type_name(idx->type, buf, sizeof(buf)));
		return NULL;
	}
	e = new_expr(t, MR_E_INDEX, n, result);
	if (e == NULL || !alloc_args(t, e, 2))
		return NULL;
	e->args[0] = base;
	e->args[1] = idx;
	return e;
}

/* A list literal: one element kind, int and decimal giving decimal */
static MrExpr *
tc_list(Tc *t, const MrPNode *n)
{
	MrExpr	   *e;
	MrTypeKind	elem = MR_TYPE_NULL;	/* nothing but nulls so far */
	bool		any = false;
	char		ab[32];
	char		bb[32];
	int			i;

	e = new_expr(t, MR_E_LIST, n, list_of(MR_TYPE_ANY));
	if (e == NULL || !alloc_args(t, e, n->nargs))
		return NULL;
	for (i = 0; i < n->nargs; i++)
	{
		MrExpr	   *a = tc_expr(t, n->args[i]);
		MrTypeKind	k;

		if (a == NULL)
			return NULL;
		e->args[i] = a;
		k = a->type.kind;
		if (k == MR_TYPE_LIST)
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, a->pos, "lists of lists are not supported");
			return NULL;
		}
		if (k == MR_TYPE_NULL)
			continue;
		if (k == MR_TYPE_ANY)
		{
			any = true;
			continue;
		}
		if (elem == MR_TYPE_NULL || elem == k)
			elem = k;
		else if (is_numeric(elem) && is_numeric(k))
			elem = MR_TYPE_DECIMAL;
		else
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, a->pos,
						 "list elements must have one type, not %s and %s",
						 mr_type_name(type_of(elem), ab, sizeof(ab)),
						 mr_type_name(a->type, bb, sizeof(bb)));
			return NULL;
		}
	}
	e->type = list_of((any || elem == MR_TYPE_NULL) ? MR_TYPE_ANY : elem);
	return e;
}

/* ----------
 * Calls
 * ----------
 */

/* A bound variable's name must be new: not a root, not already bound */
static bool
check_binder(Tc *t, const char *fname, const MrPNode *v)
{
	char		buf[MR_EXCERPT_BYTES + 4];
	int			i;

	if (v->kind != MR_P_IDENT)
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, v->pos, "argument 2 of %s must be a variable name", fname);
		mr_hint(t->ctx, "Write %s(list, x, ...) and use x in the last argument.", fname);
		return false;
	}
	for (i = 0; i < lengthof(root_names); i++)
	{
		if (name_is(v, root_names[i]))
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, v->pos, "\"%s\" cannot be used as a variable name",
						 root_names[i]);
			mr_hint(t->ctx, "Choose another name; payload, applicant, application and materials are built in.");
			return false;
		}
	}
	for (i = 0; i < t->nbound; i++)
	{
		if (t->bound[i].len == v->str_len && memcmp(t->bound[i].name, v->str, v->str_len) == 0)
		{
			mr_fail_expr(t->ctx, MR_ERR_RULE, v->pos, "variable \"%s\" is already bound",
						 excerpt(buf, sizeof(buf), v));
			mr_hint(t->ctx, "Nested bindings need distinct names.");
			return false;
		}
	}
	if (t->nbound >= MR_MAX_VARS)
	{
		mr_fail_expr(t->ctx, MR_ERR_LIMIT, v->pos,
					 "too many nested variable bindings (more than %d)", MR_MAX_VARS);
		return false;
	}
	return true;
}

/*
 * all/any/none(list, x, pred), count/sum/min/max(list[, x, expr]).
 * Fills e->args (list, body) and e->var; body_mask is what the body (or,
 * for the one-argument form, the list's elements) may be.
 */
static bool
tc_quantifier(Tc *t, const MrPNode *n, const char *fname, MrExpr *e, unsigned body_mask,
			  const char *want_list)
{
	MrExpr	   *list = tc_expr(t, n->args[0]);
	MrExpr	   *body;
	MrType		elem;
	char		buf[32];
	char		want[96];
	int			slot;

	if (list == NULL)
		return false;
	if (list->type.kind != MR_TYPE_LIST && list->type.kind != MR_TYPE_ANY)
	{
		if (n->nargs == 1 && want_list != NULL)
			arg_error(t, fname, 1, list, want_list);
		else
			arg_error(t, fname, 1, list, "a list");
		return false;
	}
	elem = type_of(list->type.kind == MR_TYPE_LIST ? list->type.elem : MR_TYPE_ANY);

	if (n->nargs == 1)
	{
		if (!accepts(body_mask, elem))
		{
			arg_error(t, fname, 1, list, want_list);
			return false;
		}
		if (!alloc_args(t, e, 1))
			return false;
		e->args[0] = list;
		e->type = elem;
		return true;
	}

	if (!check_binder(t, fname, n->args[1]))
		return false;
	slot = t->nbound;
	t->bound[slot].name = n->args[1]->str;
	t->bound[slot].len = n->args[1]->str_len;
	t->bound[slot].type = elem;
	t->nbound++;
	if (t->nbound > t->check->nvars)
		t->check->nvars = t->nbound;
	body = tc_expr(t, n->args[2]);
	t->nbound--;
	if (body == NULL)
		return false;
	if (!accepts(body_mask, body->type))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, body->pos, "argument 3 of %s must be %s, not %s",
					 fname, mask_name(body_mask, want, sizeof(want)),
					 mr_type_name(body->type, buf, sizeof(buf)));
		return false;
	}
	if (!alloc_args(t, e, 2))
		return false;
	e->args[0] = list;
	e->args[1] = body;
	e->var = slot;
	e->type = body->type;
	return true;
}

/* A text literal argument (the regex of matches, the name of material) */
static bool
literal_arg(Tc *t, const MrPNode *n, int argno, const char *fname)
{
	if (n->args[argno - 1]->kind == MR_P_TEXT)
		return true;
	mr_fail_expr(t->ctx, MR_ERR_RULE, n->args[argno - 1]->pos,
				 "argument %d of %s must be a text literal", argno, fname);
	if (strcmp(fname, "matches") == 0)
		mr_hint(t->ctx, "The pattern is compiled when the rules load; write it in quotes, such as matches(payload.plate, '^[A-Z]').");
	else if (strcmp(fname, "licence_valid") == 0)
		mr_hint(t->ctx, "Name the licence type in quotes, such as licence_valid('muck-transport-cert', applicant.id).");
	else
		mr_hint(t->ctx, "Name the material in quotes, such as material('contract').");
	return false;
}

/* A function call: arity, then each argument */
static MrExpr *
tc_call(Tc *t, const MrPNode *n)
{
	MrFunc		func;
	const FuncInfo *fi = NULL;
	MrExpr	   *e;
	char		buf[MR_EXCERPT_BYTES + 4];
	const char *fname;
	const char *guess;
	int			i;

	if (name_is(n, "exists"))
		return tc_lookup(t, n, NULL);
	if (name_is(n, "lookup"))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "lookup(...) must be followed by .column");
		mr_hint(t->ctx, "Write lookup(table, conditions).column, or use exists(table, conditions) for a yes/no test.");
		return NULL;
	}
	if (!mr_lookup_func(n->str, n->str_len, &func))
	{
		mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "unknown function \"%s\"", excerpt(buf, sizeof(buf), n));
		guess = mr_suggest(n->str, n->str_len, callable_names, lengthof(callable_names));
		if (guess != NULL)
			mr_hint(t->ctx, "Did you mean \"%s\"?", guess);
		return NULL;
	}
	for (i = 0; i < lengthof(funcs); i++)
		if (funcs[i].func == func)
			fi = &funcs[i];
	fname = fi->name;
	if (n->nargs < fi->minargs || n->nargs > fi->maxargs ||
		(fi->minargs == 1 && fi->maxargs == 3 && n->nargs == 2))
	{
		if (fi->maxargs == 0)
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "function %s takes no arguments, got %d",
						 fname, n->nargs);
		else if (fi->minargs == fi->maxargs)
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "function %s takes %d argument%s, got %d",
						 fname, fi->minargs, fi->minargs == 1 ? "" : "s", n->nargs);
		else
			mr_fail_expr(t->ctx, MR_ERR_RULE, n->pos, "function %s takes %d or %d arguments, got %d",
						 fname, fi->minargs, fi->maxargs, n->nargs);
		return NULL;
	}

	e = new_expr(t, MR_E_CALL, n, type_of(MR_TYPE_BOOL));
	if (e == NULL)
		return NULL;
	e->u.func = func;

	switch (func)
	{
		case MR_F_ALL:
		case MR_F_ANY:
		case MR_F_NONE:
			if (!tc_quantifier(t, n, fname, e, K(MR_TYPE_BOOL), NULL))
				return NULL;
			e->type = type_of(MR_TYPE_BOOL);
			return e;
		case MR_F_COUNT:
			if (!tc_quantifier(t, n, fname, e, n->nargs == 1 ? ~0u : K(MR_TYPE_BOOL), NULL))
				return NULL;
			e->type = type_of(MR_TYPE_INT);
			return e;
		case MR_F_SUM:
			if (!tc_quantifier(t, n, fname, e, K_NUMERIC, "a list of int or decimal"))
				return NULL;
			return e;
		case MR_F_MIN:
		case MR_F_MAX:
			if (!tc_quantifier(t, n, fname, e, K_ORDERED,
							   "a list of int, decimal, text, date or timestamp"))
				return NULL;
			return e;
		case MR_F_MATERIAL:
			if (!literal_arg(t, n, 1, fname))
				return NULL;
			if (mr_index_find(&t->ctx->materials, n->args[0]->str, n->args[0]->str_len) < 0)
			{
				const char **cands = mr_salloc(t->ctx, sizeof(char *) * (size_t) (t->svc->nmaterials + 1));

				if (cands == NULL)
					return NULL;
				for (i = 0; i < t->svc->nmaterials; i++)
					cands[i] = t->svc->materials[i].name;
				mr_fail_expr(t->ctx, MR_ERR_RULE, n->args[0]->pos, "unknown material \"%s\"",
							 excerpt(buf, sizeof(buf), n->args[0]));
				guess = mr_suggest(n->args[0]->str, n->args[0]->str_len, cands, t->svc->nmaterials);
				if (guess != NULL)
					mr_hint(t->ctx, "Did you mean \"%s\"?", guess);
				else
					mr_hint(t->ctx, "Declare the material under materials before using it in a rule.");
				return NULL;
			}
			break;
		case MR_F_MATCHES:
			if (!literal_arg(t, n, 2, fname))
				return NULL;
			break;
		case MR_F_LICENCE_VALID:
			if (!literal_arg(t, n, 1, fname))
				return NULL;
			{
				const MrPNode *ty = n->args[0];
				int			line;
				int			column;
				size_t		j;
				bool		ok = ty->str_len > 0 && ty->str_len <= MR_MAX_NAME_BYTES;

				for (j = 0; j < ty->str_len && ok; j++)
					ok = (ty->str[j] >= 'a' && ty->str[j] <= 'z') ||
						(ty->str[j] >= '0' && ty->str[j] <= '9') ||
						(j > 0 && (ty->str[j] == '-' || ty->str[j] == '_'));
				if (!ok)
				{
					mr_fail_expr(t->ctx, MR_ERR_RULE, ty->pos, "invalid licence type \"%s\"",
								 excerpt(buf, sizeof(buf), ty));
					mr_hint(t->ctx, "A licence type is lower-case letters, digits, \"_\" and \"-\", such as 'muck-transport-cert'.");
					return NULL;
				}
				mr_expr_position(t->ctx, ty->pos, &line, &column);
				if (!mr_add_licence_ref(t->ctx, t->svc, mr_strdup(t->ctx, ty->str, ty->str_len),
										line, column))
					return NULL;
			}
			break;
		default:
			break;
	}

	/* ordinary functions: check each argument */
	if (!alloc_args(t, e, n->nargs))
		return NULL;
	for (i = 0; i < n->nargs; i++)
	{
		e->args[i] = tc_expr(t, n->args[i]);
		if (e->args[i] == NULL)
			return NULL;
	}
	switch (func)
	{
		case MR_F_LEN:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT) | K(MR_TYPE_LIST)))
				return NULL;
			e->type = type_of(MR_TYPE_INT);
			break;
		case MR_F_HAS:
			e->type = type_of(MR_TYPE_BOOL);
			break;
		case MR_F_MATCHES:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT)))
				return NULL;
			e->type = type_of(MR_TYPE_BOOL);
			break;
		case MR_F_LOWER:
		case MR_F_UPPER:
		case MR_F_TRIM:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT)))
				return NULL;
			e->type = type_of(MR_TYPE_TEXT);
			break;
		case MR_F_TODAY:
			e->type = type_of(MR_TYPE_DATE);
			break;
		case MR_F_NOW:
			e->type = type_of(MR_TYPE_TIMESTAMP);
			break;
		case MR_F_DATE:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT) | K_DAYLIKE))
				return NULL;
			e->type = type_of(MR_TYPE_DATE);
			break;
		case MR_F_DAYS_BETWEEN:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_DATE)) ||
				!check_arg(t, fname, 2, e->args[1], K(MR_TYPE_DATE)))
				return NULL;
			e->type = type_of(MR_TYPE_INT);
			break;
		case MR_F_WORKING_DAYS_BETWEEN:
			if (!check_arg(t, fname, 1, e->args[0], K_DAYLIKE) ||
				!check_arg(t, fname, 2, e->args[1], K_DAYLIKE))
				return NULL;
			e->type = type_of(MR_TYPE_INT);
			break;
		case MR_F_ADD_DAYS:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_DATE)) ||
				!check_arg(t, fname, 2, e->args[1], K(MR_TYPE_INT)))
				return NULL;
			e->type = type_of(MR_TYPE_DATE);
			break;
		case MR_F_AGE_YEARS:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_DATE)) ||
				(n->nargs == 2 && !check_arg(t, fname, 2, e->args[1], K(MR_TYPE_DATE))))
				return NULL;
			e->type = type_of(MR_TYPE_INT);
			break;
		case MR_F_USCC_VALID:
		case MR_F_IDCARD_VALID:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT)))
				return NULL;
			e->type = type_of(MR_TYPE_BOOL);
			break;
		case MR_F_IDCARD_BIRTH_DATE:
			if (!check_arg(t, fname, 1, e->args[0], K(MR_TYPE_TEXT)))
				return NULL;
			e->type = type_of(MR_TYPE_DATE);
			break;
		case MR_F_MATERIAL:
			e->type = type_of(MR_TYPE_BOOL);
			break;
		case MR_F_LICENCE_VALID:
			if (!check_arg(t, fname, 2, e->args[1], K(MR_TYPE_TEXT)) ||
				(n->nargs == 3 && !check_arg(t, fname, 3, e->args[2], K(MR_TYPE_DATE))))
				return NULL;
			e->type = type_of(MR_TYPE_BOOL);
			break;
		default:
			break;
	}
	return e;
}

/* ----------
 * Dispatch
 * ----------
 */

/* Type-check a parse node (recursion depth is bounded by the parser) */
static MrExpr *
tc_expr(Tc *t, const MrPNode *n)
{
	MrExpr	   *e;

	switch (n->kind)
	{
		case MR_P_NULL:
			return new_expr(t, MR_E_NULL, n, type_of(MR_TYPE_NULL));
		case MR_P_BOOL:
			e = new_expr(t, MR_E_BOOL, n, type_of(MR_TYPE_BOOL));
			if (e != NULL)
				e->u.b = n->bval;
			return e;
		case MR_P_INT:
			e = new_expr(t, MR_E_INT, n, type_of(MR_TYPE_INT));
			if (e != NULL)
				e->u.i = n->ival;
			return e;
		case MR_P_DECIMAL:
		case MR_P_TEXT:
			e = new_expr(t, n->kind == MR_P_TEXT ? MR_E_TEXT : MR_E_DECIMAL, n,
						 type_of(n->kind == MR_P_TEXT ? MR_TYPE_TEXT : MR_TYPE_DECIMAL));
			if (e == NULL)
				return NULL;
			e->u.str.s = mr_strdup(t->ctx, n->str, n->str_len);
			e->u.str.len = n->str_len;
			return e->u.str.s ? e : NULL;
		case MR_P_LIST:
			return tc_list(t, n);
		case MR_P_IDENT:
			return tc_ident(t, n);
		case MR_P_MEMBER:
			return tc_member(t, n);
		case MR_P_INDEX:
			return tc_index(t, n);
		case MR_P_CALL:
			return tc_call(t, n);
		case MR_P_BINARY:
			return tc_binary(t, n);
		case MR_P_UNARY:
			return tc_unary(t, n);
	}
	return NULL;
}

/*
 * mr_typecheck_check builds check->expr from the parse tree of its rule,
 * or returns false with the error set.
 */
bool
mr_typecheck_check(MrCtx *ctx, MrService *svc, MrCheck *check, const MrPNode *tree)
{
	Tc			t;
	MrExpr	   *e;
	char		buf[32];

	memset(&t, 0, sizeof(t));
	t.ctx = ctx;
	t.svc = svc;
	t.check = check;
	check->nvars = 0;
	e = tc_expr(&t, tree);
	if (e == NULL)
		return false;
	if (e->type.kind != MR_TYPE_BOOL && e->type.kind != MR_TYPE_ANY)
	{
		mr_fail_expr(ctx, MR_ERR_RULE, e->pos, "check rule must be a boolean expression, not %s",
					 mr_type_name(e->type, buf, sizeof(buf)));
		mr_hint(ctx, "A rule states what must hold, such as payload.count > 0.");
		return false;
	}
	check->expr = e;
	return true;
}

/*
 * mr_typecheck_value builds check->expr from a parse tree whatever its
 * type (the callers of "from:", "waived_if:" and "benefit:" compare the
 * type with what they need), or returns false with the error set.
 */
bool
mr_typecheck_value(MrCtx *ctx, MrService *svc, MrCheck *check, const MrPNode *tree)
{
	Tc			t;
	MrExpr	   *e;

	memset(&t, 0, sizeof(t));
	t.ctx = ctx;
	t.svc = svc;
	t.check = check;
	check->nvars = 0;
	e = tc_expr(&t, tree);
	if (e == NULL)
		return false;
	check->expr = e;
	return true;
}

/*
 * mr_typecheck_date builds check->expr for an expression whose value is a
 * date (the licence's valid_until), or returns false with the error set.
 */
bool
mr_typecheck_date(MrCtx *ctx, MrService *svc, MrCheck *check, const MrPNode *tree)
{
	char		buf[32];

	if (!mr_typecheck_value(ctx, svc, check, tree))
		return false;
	if (check->expr->type.kind != MR_TYPE_DATE && check->expr->type.kind != MR_TYPE_ANY)
	{
		mr_fail_expr(ctx, MR_ERR_RULE, check->expr->pos, "valid_until must be a date expression, not %s",
					 mr_type_name(check->expr->type, buf, sizeof(buf)));
		mr_hint(ctx, "Give the licence's last day, such as payload.end_date or add_days(today(), 365).");
		return false;
	}
	return true;
}
