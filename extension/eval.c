/*-------------------------------------------------------------------------
 *
 * eval.c
 *	  The evaluator: runs a compiled program over one application.
 *
 * The rule compiler (extension/rules/) hands us a typed expression tree per
 * check.  We walk it directly: the tree is small, already type-checked, and
 * every name in it is resolved to a field index, a variable slot or a lookup,
 * so no work at run time is spent on names.
 *
 * Values.  A Value is a small tagged union; text points into the payload
 * jsonb or into palloc'd memory, lists are arrays of Values.  A missing
 * optional field, a JSON null, a lookup that finds no row or an index out of
 * range all evaluate to the kind MR_TYPE_NULL ("missing").  has() tests for
 * it; every other consumer turns it into the check result "error", naming
 * the expression that was missing.  Genuine run-time errors (division by
 * zero, overflow, an unreadable lookup table) are errors too.  Neither ever
 * raises a PostgreSQL ERROR: a check that cannot be decided goes to a human,
 * it does not abort the agency's INSERT.
 *
 * Decision (DESIGN.md): every check is evaluated; invalid payload or a
 * missing required material rejects; then a failed "reject" check rejects;
 * else a failed "manual" check or any error queues for a human; else the
 * service's auto_approve decides.  The machine never approves on an error.
 *
 * IDENTIFICATION
 *	  extension/eval.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "calendar.h"
#include "eval.h"
#include "licence.h"
#include "lookup.h"

typedef struct EvalList EvalList;

typedef struct Value
{
	MrTypeKind	kind;			/* MR_TYPE_NULL means missing */
	union
	{
		bool		b;
		int64		i;
		Numeric		n;
		DateADT		d;
		TimestampTz ts;
		struct
		{
			const char *p;
			int			len;
		}			t;
		EvalList   *list;
	}			u;
} Value;

struct EvalList
{
	int			n;
	Value	   *items;
};

typedef struct EvalState
{
	MiaopiProgram *prog;
	MrService  *svc;
	const MiaopiInput *in;
	Value	   *fields;			/* per declared field */
	bool	   *field_invalid;	/* per declared field: present, wrong type */
	char	  **fetch_error;	/* per field: why its from: could not be read, or NULL */
	Value	   *vars;			/* variable slots */
	const MrCheck *check;		/* check being evaluated */
	bool		today_known;
	DateADT		today;
	StringInfoData errmsg;		/* why the current check is "error" */
	bool		failed;			/* errmsg holds an error */
	bool	   *covered;		/* per material: a valid e-licence stands in */
	List	   *uses;			/* MiaopiLicenceUse */
	MiaopiLookupRun lookups;	/* what this evaluation's probes hold open */
} EvalState;

static bool eval_expr(EvalState *st, const MrExpr *e, Value *out);
static bool valid_until_of(EvalState *st, DateADT *until, char **why, bool allow_past);
static bool eval_error(EvalState *st, const char *fmt,...) pg_attribute_printf(2, 3);

static const Value missing_value = {MR_TYPE_NULL};

/* ----------
 * Small helpers
 * ----------
 */

/* Record a run-time error for the current check; the first one wins */
static bool
eval_error(EvalState *st, const char *fmt,...)
{
	va_list		args;

	if (!st->failed)
	{
		resetStringInfo(&st->errmsg);
		for (;;)
		{
			int			needed;

			va_start(args, fmt);
			needed = appendStringInfoVA(&st->errmsg, fmt, args);
			va_end(args);
			if (needed == 0)
				break;
			enlargeStringInfo(&st->errmsg, needed);
		}
		st->failed = true;
	}
	return false;
}

/* The source text of an expression node, for messages */
static char *
expr_text(EvalState *st, const MrExpr *e)
{
	return pnstrdup(st->check->rule + e->pos, e->len);
}

/* Missing values may only flow into has(); anywhere else they are errors */
static bool
require(EvalState *st, const MrExpr *e, Value *v)
{
	if (!eval_expr(st, e, v))
		return false;
	if (v->kind == MR_TYPE_NULL)
		return eval_error(st, "%s is missing", expr_text(st, e));
	return true;
}

static Value
bool_value(bool b)
{
	Value		v;

	v.kind = MR_TYPE_BOOL;
	v.u.b = b;
	return v;
}

static Value
int_value(int64 i)
{
	Value		v;

	v.kind = MR_TYPE_INT;
	v.u.i = i;
	return v;
}

static Value
text_value(const char *p, int len)
{
	Value		v;

	v.kind = MR_TYPE_TEXT;
	v.u.t.p = p;
	v.u.t.len = len;
	return v;
}

static Value
date_value(DateADT d)
{
	Value		v;

	v.kind = MR_TYPE_DATE;
	v.u.d = d;
	return v;
}

static Numeric
value_numeric(const Value *v)
{
	if (v->kind == MR_TYPE_INT)
		return int64_to_numeric(v->u.i);
	return v->u.n;
}

/* Render a value for a reason's detail */
static char *
value_text(const Value *v)
{
	StringInfoData buf;
	int			i;

	switch (v->kind)
	{
		case MR_TYPE_NULL:
			return pstrdup("missing");
		case MR_TYPE_BOOL:
			return pstrdup(v->u.b ? "true" : "false");
		case MR_TYPE_INT:
			return psprintf(INT64_FORMAT, v->u.i);
		case MR_TYPE_DECIMAL:
			return numeric_normalize(v->u.n);
		case MR_TYPE_TEXT:
			{
				/* payload text is the applicant's: quote at most 40 characters */
				int			len = pg_mbcliplen(v->u.t.p, v->u.t.len, 40);

				return psprintf("'%.*s'%s", len, v->u.t.p,
								len < v->u.t.len ? "..." : "");
			}
		case MR_TYPE_DATE:
			return DatumGetCString(DirectFunctionCall1(date_out,
													   DateADTGetDatum(v->u.d)));
		case MR_TYPE_TIMESTAMP:
			return DatumGetCString(DirectFunctionCall1(timestamptz_out,
													   TimestampTzGetDatum(v->u.ts)));
		case MR_TYPE_LIST:
			initStringInfo(&buf);
			appendStringInfoChar(&buf, '[');
			for (i = 0; i < v->u.list->n && i < 10; i++)
			{
				if (i > 0)
					appendStringInfoString(&buf, ", ");
				appendStringInfoString(&buf, value_text(&v->u.list->items[i]));
			}
			if (v->u.list->n > 10)
				appendStringInfo(&buf, ", ... (%d items)", v->u.list->n);
			appendStringInfoChar(&buf, ']');
			return buf.data;
		case MR_TYPE_ANY:
			break;
	}
	return pstrdup("?");
}

/*
 * Parse an ISO 8601 date "YYYY-MM-DD" strictly, without raising.
 */
bool
miaopi_parse_date(const char *s, int len, DateADT *result)
{
	int			y = 0,
				m,
				d,
				i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	for (i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 ||
		d > day_tab[isleap(y)][m - 1])
		return false;
	*result = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * Is s (len bytes) an ISO 8601 date and time: YYYY-MM-DD, then optionally
 * [T ]HH:MM[:SS[.frac]] and a zone (Z, +HH, +HHMM, +HH:MM)?  Only this form
 * is read, so DateStyle cannot change what a payload means.
 */
static bool
iso_timestamp_syntax(const char *s, int len)
{
	int			i = 0;

#define DIGITS(n) \
	do { int k_; for (k_ = 0; k_ < (n); k_++, i++) \
			if (i >= len || s[i] < '0' || s[i] > '9') return false; } while (0)

	DIGITS(4);
	if (i >= len || s[i++] != '-')
		return false;
	DIGITS(2);
	if (i >= len || s[i++] != '-')
		return false;
	DIGITS(2);
	if (i == len)
		return true;
	if (s[i] != 'T' && s[i] != ' ')
		return false;
	i++;
	DIGITS(2);
	if (i >= len || s[i++] != ':')
		return false;
	DIGITS(2);
	if (i < len && s[i] == ':')
	{
		i++;
		DIGITS(2);
		if (i < len && s[i] == '.')
		{
			i++;
			DIGITS(1);
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
		}
	}
	if (i == len)
		return true;
	if (s[i] == 'Z' && i + 1 == len)
		return true;
	if (s[i] != '+' && s[i] != '-')
		return false;
	i++;
	DIGITS(2);
	if (i < len && s[i] == ':')
		i++;
	if (i < len)
		DIGITS(2);
	return i == len;
#undef DIGITS
}

/*
 * Parse an ISO 8601 timestamp without raising.  One without a zone is local
 * time in tz (the service calendar's zone), whatever the session's
 * TimeZone.
 */
bool
miaopi_parse_timestamptz_in(const char *s, int len, pg_tz *tz,
							TimestampTz *result)
{
	char		str[MAXDATELEN + 1];
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				offset;
	fsec_t		fsec;
	struct pg_tm tt;

	if (len <= 0 || len >= MAXDATELEN || !iso_timestamp_syntax(s, len))
		return false;
	memcpy(str, s, len);
	str[len] = '\0';
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;

	/* without a place for the offset, DecodeDateTime refuses a zone */
	if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, NULL) == 0)
	{
		if (dtype != DTK_DATE)
			return false;
		offset = DetermineTimeZoneOffset(&tt, tz);
		return tm2timestamp(&tt, fsec, &offset, result) == 0;
	}
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &offset) != 0 ||
		dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &offset, result) == 0;
}

/* ----------
 * Payload extraction and validation
 * ----------
 */

static const char *
json_kind_name(const JsonbValue *jv)
{
	switch (jv->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(jv->val.binary.data) ? "array" : "object";
		default:
			return "value";
	}
}

/* A JSON value for a message: strings quoted and shortened, else the kind */
static char *
json_value_text(const JsonbValue *jv)
{
	if (jv->type == jbvString)
	{
		int			len = pg_mbcliplen(jv->val.string.val, jv->val.string.len, 40);

		return psprintf("\"%.*s\"%s", len, jv->val.string.val,
						len < jv->val.string.len ? "..." : "");
	}
	return pstrdup(json_kind_name(jv));
}

/*
 * Convert one JSON scalar to a Value of the declared kind.  Returns false if
 * it does not fit.  Int fields take integral numbers that fit in int64.
 */
static bool
json_to_value(EvalState *st, const JsonbValue *jv, MrTypeKind kind, Value *out)
{
	out->kind = kind;
	switch (kind)
	{
		case MR_TYPE_BOOL:
			if (jv->type != jbvBool)
				return false;
			out->u.b = jv->val.boolean;
			return true;
		case MR_TYPE_INT:
			{
				Numeric		n;
				bool		err = false;
				Numeric		frac;

				if (jv->type != jbvNumeric)
					return false;
				n = jv->val.numeric;
				if (numeric_is_nan(n) || numeric_is_inf(n))
					return false;
				/* integral: n mod 1 == 0; in range: numeric -> int8 via text-free path */
				frac = numeric_mod_opt_error(n, int64_to_numeric(1), &err);
				if (err || DatumGetInt32(DirectFunctionCall2(numeric_cmp,
															 NumericGetDatum(frac),
															 NumericGetDatum(int64_to_numeric(0)))) != 0)
					return false;
				if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
													  NumericGetDatum(int64_to_numeric(PG_INT64_MAX)))) > 0 ||
					DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
													  NumericGetDatum(int64_to_numeric(PG_INT64_MIN)))) < 0)
					return false;
				out->u.i = DatumGetInt64(DirectFunctionCall1(numeric_int8,
															 NumericGetDatum(n)));
				return true;
			}
		case MR_TYPE_DECIMAL:
			if (jv->type != jbvNumeric)
				return false;
			out->u.n = jv->val.numeric;
			return true;
		case MR_TYPE_TEXT:
			if (jv->type != jbvString)
				return false;
			out->u.t.p = jv->val.string.val;
			out->u.t.len = jv->val.string.len;
			return true;
		case MR_TYPE_DATE:
			return jv->type == jbvString &&
				miaopi_parse_date(jv->val.string.val, jv->val.string.len, &out->u.d);
		case MR_TYPE_TIMESTAMP:
			return jv->type == jbvString &&
				miaopi_parse_timestamptz_in(jv->val.string.val, jv->val.string.len,
											miaopi_calendar_timezone(st->svc->calendar),
											&out->u.ts);
		default:
			return false;
	}
}

/*
 * Read and validate every declared field.  Bad fields become missing and get
 * an invalid_payload reason in *problems (one line each).
 */
static void
extract_fields(EvalState *st, List **problems)
{
	MrService  *svc = st->svc;
	JsonbContainer *root = &st->in->payload->root;
	int			f;

	st->fields = palloc(sizeof(Value) * Max(svc->nfields, 1));
	st->field_invalid = palloc0(sizeof(bool) * Max(svc->nfields, 1));
	for (f = 0; f < svc->nfields; f++)
	{
		MrField    *field = &svc->fields[f];
		JsonbValue	key;
		JsonbValue *jv;
		char		tbuf[64];

		st->fields[f] = missing_value;
		if (field->from != NULL)
			continue;			/* fetched below, whatever the client sent */
		key.type = jbvString;
		key.val.string.val = (char *) field->name;
		key.val.string.len = strlen(field->name);
		jv = findJsonbValueFromContainer(root, JB_FOBJECT, &key);

		if (jv == NULL || jv->type == jbvNull)
		{
			if (field->required)
				*problems = lappend(*problems,
									psprintf("field \"%s\" is required", field->name));
			continue;
		}

		if (field->type.kind == MR_TYPE_LIST)
		{
			JsonbContainer *arr;
			EvalList   *list;
			int			n,
						i;
			bool		ok = true;

			if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
			{
				st->field_invalid[f] = true;
				*problems = lappend(*problems,
									psprintf("field \"%s\" must be %s, not %s", field->name,
											 mr_type_name(field->type, tbuf, sizeof(tbuf)),
											 json_kind_name(jv)));
				continue;
			}
			arr = jv->val.binary.data;
			n = JsonContainerSize(arr);
			list = palloc(sizeof(EvalList));
			list->n = n;
			list->items = palloc(sizeof(Value) * Max(n, 1));
			for (i = 0; i < n; i++)
			{
				JsonbValue *ev = getIthJsonbValueFromContainer(arr, i);

				CHECK_FOR_INTERRUPTS();
				if (!json_to_value(st, ev, field->type.elem, &list->items[i]))
				{
					MrType		et = {field->type.elem, MR_TYPE_ANY};

					st->field_invalid[f] = true;
					*problems = lappend(*problems,
										psprintf("item %d of field \"%s\" must be %s, not %s",
												 i, field->name,
												 mr_type_name(et, tbuf, sizeof(tbuf)),
												 json_value_text(ev)));
					ok = false;
					break;
				}
			}
			if (ok)
			{
				st->fields[f].kind = MR_TYPE_LIST;
				st->fields[f].u.list = list;
			}
			continue;
		}

		if (!json_to_value(st, jv, field->type.kind, &st->fields[f]))
		{
			st->fields[f] = missing_value;
			st->field_invalid[f] = true;
			*problems = lappend(*problems,
								psprintf("field \"%s\" must be %s, not %s", field->name,
										 mr_type_name(field->type, tbuf, sizeof(tbuf)),
										 json_value_text(jv)));
		}
	}
}

/* Is name one of the n text datums (nulls skipped)? */
static bool
in_text_array(const Datum *items, const bool *nulls, int n, const char *name)
{
	int			len = strlen(name);
	int			i;

	for (i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls && nulls[i])
			continue;
		t = DatumGetTextPP(items[i]);
		if (VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), name, len) == 0)
			return true;
	}
	return false;
}

static bool
has_material(const MiaopiInput *in, const char *name)
{
	return in_text_array(in->materials, in->material_nulls, in->nmaterials, name);
}

/* Given, or stood in for by a valid e-licence of the applicant (or_licence) */
static bool
material_given(EvalState *st, const char *name)
{
	int			m;

	if (has_material(st->in, name))
		return true;
	if (st->covered == NULL)
		return false;
	for (m = 0; m < st->svc->nmaterials; m++)
		if (st->covered[m] && strcmp(st->svc->materials[m].name, name) == 0)
			return true;
	return false;
}

/*
 * The id of a valid e-licence of type held by holder on day, or 0.  A
 * rules test (doctest) holds exactly the types it declares (id -1), for
 * its own applicant, on every day.
 */
static int64
find_licence(EvalState *st, const char *type, int typelen, const char *holder,
			 int holderlen, DateADT day)
{
	int			i;

	if (!st->in->doctest)
		return miaopi_licence_find_valid(type, typelen, holder, holderlen, day);
	if (holderlen != st->in->applicant_id_len ||
		memcmp(holder, st->in->applicant_id, holderlen) != 0)
		return 0;
	for (i = 0; i < st->in->nheld; i++)
		if ((int) strlen(st->in->held[i]) == typelen &&
			memcmp(st->in->held[i], type, typelen) == 0)
			return -1;
	return 0;
}

/* Remember an e-licence the application relied on, once per purpose */
static void
add_use(EvalState *st, int64 licence_id, char *purpose)
{
	MiaopiLicenceUse *u;
	ListCell   *lc;

	foreach(lc, st->uses)
	{
		u = (MiaopiLicenceUse *) lfirst(lc);
		if (u->licence_id == licence_id && strcmp(u->purpose, purpose) == 0)
			return;
	}
	u = palloc(sizeof(MiaopiLicenceUse));
	u->licence_id = licence_id;
	u->purpose = purpose;
	st->uses = lappend(st->uses, u);
}

/* ----------
 * Comparison and arithmetic
 * ----------
 */

/*
 * Compare two present values of compatible kinds: <0, 0, >0.  Text compares
 * byte-wise (the C collation), so rules decide the same on every server.
 */
static int
compare_values(const Value *a, const Value *b)
{
	if (a->kind == MR_TYPE_INT && b->kind == MR_TYPE_INT)
		return (a->u.i > b->u.i) - (a->u.i < b->u.i);
	if ((a->kind == MR_TYPE_INT || a->kind == MR_TYPE_DECIMAL) &&
		(b->kind == MR_TYPE_INT || b->kind == MR_TYPE_DECIMAL))
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(value_numeric(a)),
												 NumericGetDatum(value_numeric(b))));
	if (a->kind == MR_TYPE_DATE && b->kind == MR_TYPE_TIMESTAMP)
		return timestamp_cmp_internal(date2timestamptz_opt_overflow(a->u.d, NULL), b->u.ts);
	if (a->kind == MR_TYPE_TIMESTAMP && b->kind == MR_TYPE_DATE)
		return timestamp_cmp_internal(a->u.ts, date2timestamptz_opt_overflow(b->u.d, NULL));

	switch (a->kind)
	{
		case MR_TYPE_BOOL:
			return (int) a->u.b - (int) b->u.b;
		case MR_TYPE_TEXT:
			{
				int			r = memcmp(a->u.t.p, b->u.t.p, Min(a->u.t.len, b->u.t.len));

				if (r != 0)
					return r;
				return (a->u.t.len > b->u.t.len) - (a->u.t.len < b->u.t.len);
			}
		case MR_TYPE_DATE:
			return (a->u.d > b->u.d) - (a->u.d < b->u.d);
		case MR_TYPE_TIMESTAMP:
			return (a->u.ts > b->u.ts) - (a->u.ts < b->u.ts);
		case MR_TYPE_LIST:
			{
				int			i;

				for (i = 0; i < a->u.list->n && i < b->u.list->n; i++)
				{
					int			r = compare_values(&a->u.list->items[i], &b->u.list->items[i]);

					if (r != 0)
						return r;
				}
				return (a->u.list->n > b->u.list->n) - (a->u.list->n < b->u.list->n);
			}
		default:
			return 0;
	}
}

static bool
values_equal(const Value *a, const Value *b)
{
	if (a->kind == MR_TYPE_NULL || b->kind == MR_TYPE_NULL)
		return false;
	if (a->kind == MR_TYPE_TEXT && b->kind == MR_TYPE_TEXT)
		return a->u.t.len == b->u.t.len && memcmp(a->u.t.p, b->u.t.p, a->u.t.len) == 0;
	return compare_values(a, b) == 0;
}

static bool
eval_compare(EvalState *st, const MrExpr *e, Value *out)
{
	Value		a,
				b;
	int			c;

	if (!require(st, e->args[0], &a) || !require(st, e->args[1], &b))
		return false;

	if (e->kind == MR_E_EQ || e->kind == MR_E_NE)
	{
		bool		eq = values_equal(&a, &b);

		*out = bool_value(e->kind == MR_E_EQ ? eq : !eq);
		return true;
	}
	c = compare_values(&a, &b);
	switch (e->kind)
	{
		case MR_E_LT:
			*out = bool_value(c < 0);
			break;
		case MR_E_LE:
			*out = bool_value(c <= 0);
			break;
		case MR_E_GT:
			*out = bool_value(c > 0);
			break;
		default:
			*out = bool_value(c >= 0);
			break;
	}
	return true;
}

static bool
eval_in(EvalState *st, const MrExpr *e, Value *out)
{
	Value		x,
				list;
	int			i;

	if (!require(st, e->args[0], &x) || !require(st, e->args[1], &list))
		return false;
	for (i = 0; i < list.u.list->n; i++)
	{
		if (values_equal(&x, &list.u.list->items[i]))
		{
			*out = bool_value(true);
			return true;
		}
	}
	*out = bool_value(false);
	return true;
}

static bool
date_in_range(DateADT d)
{
	return IS_VALID_DATE(d);
}

static bool
eval_arith(EvalState *st, const MrExpr *e, Value *out)
{
	Value		a,
				b;
	bool		err = false;

	if (!require(st, e->args[0], &a) || !require(st, e->args[1], &b))
		return false;

	/* dates */
	if (a.kind == MR_TYPE_DATE)
	{
		if (b.kind == MR_TYPE_DATE && e->kind == MR_E_SUB)
		{
			*out = int_value((int64) a.u.d - (int64) b.u.d);
			return true;
		}
		if (b.kind == MR_TYPE_INT && (e->kind == MR_E_ADD || e->kind == MR_E_SUB))
		{
			int64		d = (int64) a.u.d + (e->kind == MR_E_ADD ? b.u.i : -b.u.i);

			if (b.u.i > PG_INT32_MAX || b.u.i < -PG_INT32_MAX || !date_in_range((DateADT) d) ||
				d != (DateADT) d)
				return eval_error(st, "date out of range in %s", expr_text(st, e));
			*out = date_value((DateADT) d);
			return true;
		}
	}

	/* text concatenation */
	if (a.kind == MR_TYPE_TEXT && b.kind == MR_TYPE_TEXT && e->kind == MR_E_ADD)
	{
		char	   *p = palloc(a.u.t.len + b.u.t.len + 1);

		memcpy(p, a.u.t.p, a.u.t.len);
		memcpy(p + a.u.t.len, b.u.t.p, b.u.t.len);
		p[a.u.t.len + b.u.t.len] = '\0';
		*out = text_value(p, a.u.t.len + b.u.t.len);
		return true;
	}

	if (a.kind == MR_TYPE_INT && b.kind == MR_TYPE_INT)
	{
		int64		r = 0;

		switch (e->kind)
		{
			case MR_E_ADD:
				err = pg_add_s64_overflow(a.u.i, b.u.i, &r);
				break;
			case MR_E_SUB:
				err = pg_sub_s64_overflow(a.u.i, b.u.i, &r);
				break;
			case MR_E_MUL:
				err = pg_mul_s64_overflow(a.u.i, b.u.i, &r);
				break;
			case MR_E_DIV:
			case MR_E_MOD:
				if (b.u.i == 0)
					return eval_error(st, "division by zero in %s", expr_text(st, e));
				if (b.u.i == -1)
				{
					/* INT64_MIN / -1 overflows; x % -1 is 0 */
					if (e->kind == MR_E_MOD)
						r = 0;
					else
						err = pg_sub_s64_overflow(0, a.u.i, &r);
				}
				else
					r = (e->kind == MR_E_DIV) ? a.u.i / b.u.i : a.u.i % b.u.i;
				break;
			default:
				break;
		}
		if (err)
			return eval_error(st, "integer out of range in %s", expr_text(st, e));
		*out = int_value(r);
		return true;
	}

	if ((a.kind == MR_TYPE_INT || a.kind == MR_TYPE_DECIMAL) &&
		(b.kind == MR_TYPE_INT || b.kind == MR_TYPE_DECIMAL))
	{
		Numeric		na = value_numeric(&a),
					nb = value_numeric(&b),
					r = NULL;

		switch (e->kind)
		{
			case MR_E_ADD:
				r = numeric_add_opt_error(na, nb, &err);
				break;
			case MR_E_SUB:
				r = numeric_sub_opt_error(na, nb, &err);
				break;
			case MR_E_MUL:
				r = numeric_mul_opt_error(na, nb, &err);
				break;
			case MR_E_DIV:
				r = numeric_div_opt_error(na, nb, &err);
				break;
			case MR_E_MOD:
				r = numeric_mod_opt_error(na, nb, &err);
				break;
			default:
				break;
		}
		if (err || r == NULL)
			return eval_error(st, "cannot compute %s (division by zero or overflow)",
							  expr_text(st, e));
		out->kind = MR_TYPE_DECIMAL;
		out->u.n = r;
		return true;
	}

	return eval_error(st, "operator does not apply to %s", expr_text(st, e));
}

/* ----------
 * Functions
 * ----------
 */

static DateADT
eval_today(EvalState *st)
{
	if (!st->today_known)
	{
		st->today = miaopi_calendar_local_date(st->svc->calendar, st->in->now);
		st->today_known = true;
	}
	return st->today;
}

/* Trim ASCII white space and the ideographic space U+3000 at both ends */
static Value
trim_text(const Value *v)
{
	const char *p = v->u.t.p;
	int			len = v->u.t.len;

	for (;;)
	{
		if (len > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++, len--;
		else if (len >= 3 && memcmp(p, "\xE3\x80\x80", 3) == 0)
			p += 3, len -= 3;
		else
			break;
	}
	for (;;)
	{
		char		c = len > 0 ? p[len - 1] : 0;

		if (len > 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
			len--;
		else if (len >= 3 && memcmp(p + len - 3, "\xE3\x80\x80", 3) == 0)
			len -= 3;
		else
			break;
	}
	return text_value(p, len);
}

static int
age_in_years(DateADT birth, DateADT on)
{
	int			by,
				bm,
				bd,
				oy,
				om,
				od;

	j2date(birth + POSTGRES_EPOCH_JDATE, &by, &bm, &bd);
	j2date(on + POSTGRES_EPOCH_JDATE, &oy, &om, &od);
	return oy - by - ((om < bm || (om == bm && od < bd)) ? 1 : 0);
}

/* Quantifiers and aggregates over a list: all any none count sum min max */
static bool
eval_over_list(EvalState *st, const MrExpr *e, Value *out)
{
	MrFunc		f = e->u.func;
	Value		list;
	Value		acc = missing_value;
	int64		count = 0;
	int			i;

	if (!require(st, e->args[0], &list))
		return false;

	for (i = 0; i < list.u.list->n; i++)
	{
		Value	   *item = &list.u.list->items[i];
		Value		v;

		CHECK_FOR_INTERRUPTS();
		if (e->nargs == 2)
		{
			st->vars[e->var] = *item;
			if (!require(st, e->args[1], &v))
				return false;
		}
		else
		{
			v = *item;
			if (v.kind == MR_TYPE_NULL)
				return eval_error(st, "item %d of %s is missing", i,
								  expr_text(st, e->args[0]));
		}

		switch (f)
		{
			case MR_F_ALL:
				if (!v.u.b)
				{
					*out = bool_value(false);
					return true;
				}
				break;
			case MR_F_ANY:
				if (v.u.b)
				{
					*out = bool_value(true);
					return true;
				}
				break;
			case MR_F_NONE:
				if (v.u.b)
				{
					*out = bool_value(false);
					return true;
				}
				break;
			case MR_F_COUNT:
				if (e->nargs == 1 || v.u.b)
					count++;
				break;
			case MR_F_SUM:
				if (acc.kind == MR_TYPE_NULL)
					acc = v;
				else if (acc.kind == MR_TYPE_INT && v.kind == MR_TYPE_INT)
				{
					if (pg_add_s64_overflow(acc.u.i, v.u.i, &acc.u.i))
						return eval_error(st, "integer out of range in %s",
										  expr_text(st, e));
				}
				else
				{
					bool		err = false;

					acc.u.n = numeric_add_opt_error(value_numeric(&acc),
													value_numeric(&v), &err);
					acc.kind = MR_TYPE_DECIMAL;
					if (err)
						return eval_error(st, "overflow in %s", expr_text(st, e));
				}
				break;
			case MR_F_MIN:
				if (acc.kind == MR_TYPE_NULL || compare_values(&v, &acc) < 0)
					acc = v;
				break;
			case MR_F_MAX:
				if (acc.kind == MR_TYPE_NULL || compare_values(&v, &acc) > 0)
					acc = v;
				break;
			default:
				break;
		}
	}

	switch (f)
	{
		case MR_F_ALL:
		case MR_F_NONE:
			*out = bool_value(true);
			break;
		case MR_F_ANY:
			*out = bool_value(false);
			break;
		case MR_F_COUNT:
			*out = int_value(count);
			break;
		case MR_F_SUM:
			/* the sum of nothing is 0 */
			if (acc.kind == MR_TYPE_NULL)
				acc = int_value(0);
			if (e->type.kind == MR_TYPE_DECIMAL && acc.kind == MR_TYPE_INT)
			{
				acc.u.n = int64_to_numeric(acc.u.i);
				acc.kind = MR_TYPE_DECIMAL;
			}
			*out = acc;
			break;
		default:
			/* min/max of an empty list is missing */
			*out = acc;
			break;
	}
	return true;
}

static bool
eval_call(EvalState *st, const MrExpr *e, Value *out)
{
	Value		a,
				b;

	switch (e->u.func)
	{
		case MR_F_HAS:
			if (!eval_expr(st, e->args[0], &a))
				return false;
			*out = bool_value(a.kind != MR_TYPE_NULL);
			return true;

		case MR_F_LEN:
			if (!require(st, e->args[0], &a))
				return false;
			if (a.kind == MR_TYPE_LIST)
				*out = int_value(a.u.list->n);
			else
				*out = int_value(pg_mbstrlen_with_len(a.u.t.p, a.u.t.len));
			return true;

		case MR_F_MATCHES:
			{
				const MrExpr *pat = e->args[1];

				if (!require(st, e->args[0], &a))
					return false;
				*out = bool_value(RE_compile_and_execute(cstring_to_text_with_len(pat->u.str.s,
																				 pat->u.str.len),
														unconstify(char *, a.u.t.p), a.u.t.len,
														REG_ADVANCED, DEFAULT_COLLATION_OID,
														0, NULL));
				return true;
			}

		case MR_F_LOWER:
		case MR_F_UPPER:
			{
				char	   *s;

				if (!require(st, e->args[0], &a))
					return false;
				s = (e->u.func == MR_F_LOWER)
					? str_tolower(a.u.t.p, a.u.t.len, DEFAULT_COLLATION_OID)
					: str_toupper(a.u.t.p, a.u.t.len, DEFAULT_COLLATION_OID);
				*out = text_value(s, strlen(s));
				return true;
			}

		case MR_F_TRIM:
			if (!require(st, e->args[0], &a))
				return false;
			*out = trim_text(&a);
			return true;

		case MR_F_TODAY:
			*out = date_value(eval_today(st));
			return true;

		case MR_F_NOW:
			out->kind = MR_TYPE_TIMESTAMP;
			out->u.ts = st->in->now;
			return true;

		case MR_F_DATE:
			if (!require(st, e->args[0], &a))
				return false;
			if (a.kind == MR_TYPE_DATE)
				*out = a;
			else if (a.kind == MR_TYPE_TIMESTAMP)
				*out = date_value(miaopi_calendar_local_date(st->svc->calendar, a.u.ts));
			else
			{
				DateADT		d;

				if (!miaopi_parse_date(a.u.t.p, a.u.t.len, &d))
					return eval_error(st, "%s is not a date (YYYY-MM-DD): %s",
									  expr_text(st, e->args[0]), value_text(&a));
				*out = date_value(d);
			}
			return true;

		case MR_F_DAYS_BETWEEN:
			if (!require(st, e->args[0], &a) || !require(st, e->args[1], &b))
				return false;
			*out = int_value((int64) b.u.d - (int64) a.u.d);
			return true;

		case MR_F_WORKING_DAYS_BETWEEN:
			{
				DateADT		da,
							db;

				if (!require(st, e->args[0], &a) || !require(st, e->args[1], &b))
					return false;
				da = a.kind == MR_TYPE_DATE ? a.u.d
					: miaopi_calendar_local_date(st->svc->calendar, a.u.ts);
				db = b.kind == MR_TYPE_DATE ? b.u.d
					: miaopi_calendar_local_date(st->svc->calendar, b.u.ts);
				*out = int_value(miaopi_working_days_between_dates(st->svc->calendar,
																  da, db, NULL));
				return true;
			}

		case MR_F_ADD_DAYS:
			{
				int64		d;

				if (!require(st, e->args[0], &a) || !require(st, e->args[1], &b))
					return false;
				d = (int64) a.u.d + b.u.i;
				if (b.u.i > PG_INT32_MAX || b.u.i < -PG_INT32_MAX ||
					d != (DateADT) d || !date_in_range((DateADT) d))
					return eval_error(st, "date out of range in %s", expr_text(st, e));
				*out = date_value((DateADT) d);
				return true;
			}

		case MR_F_AGE_YEARS:
			{
				DateADT		on;

				if (!require(st, e->args[0], &a))
					return false;
				if (e->nargs == 2)
				{
					if (!require(st, e->args[1], &b))
						return false;
					on = b.u.d;
				}
				else
					on = eval_today(st);
				*out = int_value(age_in_years(a.u.d, on));
				return true;
			}

		case MR_F_USCC_VALID:
			if (!require(st, e->args[0], &a))
				return false;
			*out = bool_value(mr_uscc_valid(a.u.t.p, a.u.t.len));
			return true;

		case MR_F_IDCARD_VALID:
			if (!require(st, e->args[0], &a))
				return false;
			*out = bool_value(mr_idcard_valid(a.u.t.p, a.u.t.len));
			return true;

		case MR_F_IDCARD_BIRTH_DATE:
			{
				int			y,
							m,
							d;

				if (!require(st, e->args[0], &a))
					return false;
				if (!mr_idcard_birth_date(a.u.t.p, a.u.t.len, &y, &m, &d))
					return eval_error(st, "%s is not a valid resident ID number",
									  expr_text(st, e->args[0]));
				*out = date_value(date2j(y, m, d) - POSTGRES_EPOCH_JDATE);
				return true;
			}

		case MR_F_ALL:
		case MR_F_ANY:
		case MR_F_NONE:
		case MR_F_COUNT:
		case MR_F_SUM:
		case MR_F_MIN:
		case MR_F_MAX:
			return eval_over_list(st, e, out);

		case MR_F_MATERIAL:
			*out = bool_value(material_given(st, e->args[0]->u.str.s));
			return true;

		case MR_F_LICENCE_VALID:
			{
				Value		holder;
				Value		day;
				int64		id;

				if (!require(st, e->args[1], &holder))
					return false;
				if (e->nargs == 3)
				{
					if (!require(st, e->args[2], &day))
						return false;
				}
				else
					day = date_value(eval_today(st));
				id = find_licence(st, e->args[0]->u.str.s, e->args[0]->u.str.len,
								  holder.u.t.p, holder.u.t.len, day.u.d);
				if (id != 0)
					add_use(st, id, psprintf("check:%s", st->check->id));
				*out = bool_value(id != 0);
				return true;
			}
	}
	return eval_error(st, "function %s is not available in this version",
					  mr_func_name(e->u.func));
}

/* ----------
 * Lookups
 * ----------
 */

static Datum
value_to_datum(const Value *v)
{
	switch (v->kind)
	{
		case MR_TYPE_BOOL:
			return BoolGetDatum(v->u.b);
		case MR_TYPE_INT:
			return Int64GetDatum(v->u.i);
		case MR_TYPE_DECIMAL:
			return NumericGetDatum(v->u.n);
		case MR_TYPE_TEXT:
			return PointerGetDatum(cstring_to_text_with_len(v->u.t.p, v->u.t.len));
		case MR_TYPE_DATE:
			return DateADTGetDatum(v->u.d);
		case MR_TYPE_TIMESTAMP:
			return TimestampTzGetDatum(v->u.ts);
		default:
			return (Datum) 0;
	}
}

/* Convert a lookup result column to a Value of the column's kind */
static Value
datum_to_value(Datum d, MrTypeKind kind)
{
	Value		v;

	v.kind = kind;
	switch (kind)
	{
		case MR_TYPE_BOOL:
			v.u.b = DatumGetBool(d);
			break;
		case MR_TYPE_INT:
			v.u.i = DatumGetInt64(d);
			break;
		case MR_TYPE_DECIMAL:
			v.u.n = DatumGetNumeric(d);
			break;
		case MR_TYPE_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				v.u.t.p = VARDATA_ANY(t);
				v.u.t.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case MR_TYPE_DATE:
			v.u.d = DatumGetDateADT(d);
			break;
		case MR_TYPE_TIMESTAMP:
			v.u.ts = DatumGetTimestampTz(d);
			break;
		default:
			v.kind = MR_TYPE_NULL;
			break;
	}
	return v;
}

static bool
eval_lookup(EvalState *st, const MrExpr *e, Value *out)
{
	MrLookup   *lk = e->u.lookup;
	Datum	   *params = palloc(sizeof(Datum) * Max(lk->nconds, 1));
	bool		found,
				isnull;
	Datum		value;
	const char *errmsg = NULL;
	int			i;

	for (i = 0; i < lk->nconds; i++)
	{
		Value		v;

		if (!require(st, lk->conds[i].value, &v))
			return false;
		params[i] = value_to_datum(&v);
	}

	if (!miaopi_lookup_probe(&st->lookups, st->prog, lk, params, &found, &value, &isnull, &errmsg))
		return eval_error(st, "%s", errmsg);

	if (e->kind == MR_E_EXISTS)
		*out = bool_value(found);
	else if (!found || isnull)
		*out = missing_value;
	else
		*out = datum_to_value(value, lk->column_type.kind);
	return true;
}

/* ----------
 * The expression walker
 * ----------
 */
static bool
eval_expr(EvalState *st, const MrExpr *e, Value *out)
{
	int			i;

	check_stack_depth();

	switch (e->kind)
	{
		case MR_E_NULL:
			*out = missing_value;
			return true;
		case MR_E_BOOL:
			*out = bool_value(e->u.b);
			return true;
		case MR_E_INT:
			*out = int_value(e->u.i);
			return true;
		case MR_E_DECIMAL:
			out->kind = MR_TYPE_DECIMAL;
			out->u.n = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														   CStringGetDatum(e->u.str.s),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
			return true;
		case MR_E_TEXT:
			*out = text_value(e->u.str.s, e->u.str.len);
			return true;
		case MR_E_LIST:
			{
				EvalList   *list = palloc(sizeof(EvalList));

				list->n = e->nargs;
				list->items = palloc(sizeof(Value) * Max(e->nargs, 1));
				for (i = 0; i < e->nargs; i++)
					if (!eval_expr(st, e->args[i], &list->items[i]))
						return false;
				out->kind = MR_TYPE_LIST;
				out->u.list = list;
				return true;
			}
		case MR_E_FIELD:
			/* a value of the wrong type is an error, even inside has() */
			if (st->field_invalid[e->u.field])
				return eval_error(st, "payload.%s has the wrong type",
								  st->svc->fields[e->u.field].name);
			if (st->fetch_error && st->fetch_error[e->u.field])
				return eval_error(st, "payload.%s could not be fetched: %s",
								  st->svc->fields[e->u.field].name,
								  st->fetch_error[e->u.field]);
			*out = st->fields[e->u.field];
			return true;
		case MR_E_APPLICANT_ID:
			*out = text_value(st->in->applicant_id, st->in->applicant_id_len);
			return true;
		case MR_E_APPLICANT_NAME:
			*out = st->in->applicant_name
				? text_value(st->in->applicant_name, st->in->applicant_name_len)
				: missing_value;
			return true;
		case MR_E_CHANNEL:
			*out = text_value(st->in->channel, st->in->channel_len);
			return true;
		case MR_E_SUBMITTED_AT:
			out->kind = MR_TYPE_TIMESTAMP;
			out->u.ts = st->in->submitted_at;
			return true;
		case MR_E_MATERIALS:
			{
				EvalList   *list = palloc(sizeof(EvalList));
				int			n = 0;

				list->items = palloc(sizeof(Value) * Max(st->in->nmaterials, 1));
				for (i = 0; i < st->in->nmaterials; i++)
				{
					text	   *t;

					if (st->in->material_nulls && st->in->material_nulls[i])
						continue;
					t = DatumGetTextPP(st->in->materials[i]);
					list->items[n++] = text_value(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				list->n = n;
				out->kind = MR_TYPE_LIST;
				out->u.list = list;
				return true;
			}
		case MR_E_VAR:
			*out = st->vars[e->u.var];
			return true;

		case MR_E_OR:
		case MR_E_AND:
			{
				Value		a;

				if (!require(st, e->args[0], &a))
					return false;
				/* short-circuit: or stops at true, and at false */
				if (a.u.b == (e->kind == MR_E_OR))
				{
					*out = a;
					return true;
				}
				return require(st, e->args[1], out);
			}
		case MR_E_NOT:
			if (!require(st, e->args[0], out))
				return false;
			out->u.b = !out->u.b;
			return true;

		case MR_E_EQ:
		case MR_E_NE:
		case MR_E_LT:
		case MR_E_LE:
		case MR_E_GT:
		case MR_E_GE:
			return eval_compare(st, e, out);
		case MR_E_IN:
			return eval_in(st, e, out);

		case MR_E_ADD:
		case MR_E_SUB:
		case MR_E_MUL:
		case MR_E_DIV:
		case MR_E_MOD:
			return eval_arith(st, e, out);
		case MR_E_NEG:
			if (!require(st, e->args[0], out))
				return false;
			if (out->kind == MR_TYPE_INT)
			{
				if (out->u.i == PG_INT64_MIN)
					return eval_error(st, "integer out of range in %s", expr_text(st, e));
				out->u.i = -out->u.i;
			}
			else
			{
				bool		err = false;

				out->u.n = numeric_sub_opt_error(int64_to_numeric(0), out->u.n, &err);
			}
			return true;

		case MR_E_INDEX:
			{
				Value		list,
							idx;

				if (!require(st, e->args[0], &list) || !require(st, e->args[1], &idx))
					return false;
				if (idx.u.i < 0 || idx.u.i >= list.u.list->n)
					*out = missing_value;
				else
					*out = list.u.list->items[idx.u.i];
				return true;
			}

		case MR_E_CALL:
			return eval_call(st, e, out);
		case MR_E_EXISTS:
		case MR_E_LOOKUP:
			return eval_lookup(st, e, out);
	}
	return eval_error(st, "unsupported expression");
}

/* ----------
 * Explaining a failure
 * ----------
 */

/*
 * Say why a check evaluated to false: the first false conjunct, with the
 * values a comparison saw, or the first list item an all() rejected.  It
 * re-evaluates parts of the expression, but only on the failure path.
 */
static char *
explain_false(EvalState *st, const MrExpr *e)
{
	Value		a,
				b;

	switch (e->kind)
	{
		case MR_E_AND:
			if (eval_expr(st, e->args[0], &a) && a.kind == MR_TYPE_BOOL && !a.u.b)
				return explain_false(st, e->args[0]);
			return explain_false(st, e->args[1]);

		case MR_E_EQ:
		case MR_E_NE:
		case MR_E_LT:
		case MR_E_LE:
		case MR_E_GT:
		case MR_E_GE:
			if (eval_expr(st, e->args[0], &a) && eval_expr(st, e->args[1], &b))
			{
				bool		rhs_literal = e->args[1]->kind <= MR_E_TEXT;

				if (rhs_literal)
					return psprintf("%s is %s, expected %s %s",
									expr_text(st, e->args[0]), value_text(&a),
									mr_op_name(e->kind), value_text(&b));
				return psprintf("%s is %s, expected %s %s (%s)",
								expr_text(st, e->args[0]), value_text(&a),
								mr_op_name(e->kind), expr_text(st, e->args[1]),
								value_text(&b));
			}
			break;

		case MR_E_IN:
			if (eval_expr(st, e->args[0], &a))
				return psprintf("%s is %s, not in %s", expr_text(st, e->args[0]),
								value_text(&a), expr_text(st, e->args[1]));
			break;

		case MR_E_CALL:
			if ((e->u.func == MR_F_ALL || e->u.func == MR_F_NONE) && e->nargs == 2 &&
				eval_expr(st, e->args[0], &a) && a.kind == MR_TYPE_LIST)
			{
				int			i;

				for (i = 0; i < a.u.list->n; i++)
				{
					st->vars[e->var] = a.u.list->items[i];
					if (eval_expr(st, e->args[1], &b) && b.kind == MR_TYPE_BOOL &&
						b.u.b == (e->u.func == MR_F_NONE))
						return psprintf("%s %s for item %d: %s",
										expr_text(st, e->args[1]),
										e->u.func == MR_F_ALL ? "is false" : "is true",
										i, value_text(&a.u.list->items[i]));
				}
			}
			break;

		default:
			break;
	}
	return psprintf("%s is false", expr_text(st, e));
}

/* ----------
 * Less to submit: fetched fields, waivers, commitments, policies
 * ----------
 */

/* Run a detached expression (from:, waived_if:, benefit:) as its own check */
static bool
eval_detached(EvalState *st, const MrCheck *c, Value *out)
{
	const MrCheck *save = st->check;
	bool		ok;

	st->check = c;
	st->failed = false;
	ok = eval_expr(st, c->expr, out);
	st->check = save;
	return ok;
}

/* A Value as a JSON value for the payload (dates and timestamps in ISO 8601) */
static void
value_to_jsonb(const Value *v, JsonbValue *jv)
{
	const char *s;

	switch (v->kind)
	{
		case MR_TYPE_BOOL:
			jv->type = jbvBool;
			jv->val.boolean = v->u.b;
			return;
		case MR_TYPE_INT:
			jv->type = jbvNumeric;
			jv->val.numeric = int64_to_numeric(v->u.i);
			return;
		case MR_TYPE_DECIMAL:
			jv->type = jbvNumeric;
			jv->val.numeric = v->u.n;
			return;
		case MR_TYPE_TEXT:
			jv->type = jbvString;
			jv->val.string.val = (char *) v->u.t.p;
			jv->val.string.len = v->u.t.len;
			return;
		case MR_TYPE_DATE:
		case MR_TYPE_TIMESTAMP:
			s = JsonEncodeDateTime(NULL, v->kind == MR_TYPE_DATE ? DateADTGetDatum(v->u.d)
								   : TimestampTzGetDatum(v->u.ts),
								   v->kind == MR_TYPE_DATE ? DATEOID : TIMESTAMPTZOID, NULL);
			jv->type = jbvString;
			jv->val.string.val = (char *) s;
			jv->val.string.len = strlen(s);
			return;
		default:
			jv->type = jbvNull;
			return;
	}
}

/*
 * Fill every fetched field (from:) in declaration order, replacing whatever
 * the client sent; a source with no row, or one that cannot be read, leaves
 * the field missing.  Returns the payload with the fetched values merged in
 * (JSON null for a missing one), or NULL when the service fetches nothing or
 * build is false (the outcome only).
 */
static Jsonb *
fetch_fields(EvalState *st, bool build)
{
	MrService  *svc = st->svc;
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				jv;
	Jsonb	   *extra;
	bool		any = false;
	int			f;

	for (f = 0; f < svc->nfields; f++)
	{
		MrField    *field = &svc->fields[f];
		Value		v;

		if (field->from == NULL)
			continue;
		if (!any && build)
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		any = true;
		if (!eval_detached(st, field->from, &v))
		{
			/* not "no row" but an unreadable source: say so where it is used */
			if (st->fetch_error == NULL)
				st->fetch_error = palloc0(sizeof(char *) * svc->nfields);
			st->fetch_error[f] = pstrdup(st->errmsg.data);
			v = missing_value;
		}
		else if (v.kind == MR_TYPE_NULL)
			v = missing_value;
		else if (field->type.kind == MR_TYPE_DECIMAL && v.kind == MR_TYPE_INT)
		{
			int64		i = v.u.i;

			v.kind = MR_TYPE_DECIMAL;
			v.u.n = int64_to_numeric(i);
		}
		st->fields[f] = v;
		if (!build)
			continue;			/* the outcome only: no payload to store */
		k.type = jbvString;
		k.val.string.val = (char *) field->name;
		k.val.string.len = strlen(field->name);
		pushJsonbValue(&ps, WJB_KEY, &k);
		value_to_jsonb(&v, &jv);
		pushJsonbValue(&ps, WJB_VALUE, &jv);
	}
	if (!any || !build)
		return NULL;
	extra = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(st->in->payload),
											  JsonbPGetDatum(extra)));
}

/* Is a required material waived for this applicant (credit lane)? */
static bool
material_waived(EvalState *st, const MrMaterial *mat)
{
	Value		v;

	if (mat->waived_if == NULL)
		return false;
	/* an error or a missing value waives nothing: the material is asked for */
	return eval_detached(st, mat->waived_if, &v) && v.kind == MR_TYPE_BOOL && v.u.b;
}

/* Is today outside the policy's open window? */
static bool
outside_open(EvalState *st, const MrPolicy *pol)
{
	DateADT		today = eval_today(st);
	DateADT		d;

	if (pol->open_from != NULL &&
		miaopi_parse_date(pol->open_from, strlen(pol->open_from), &d) && today < d)
		return true;
	if (pol->open_until != NULL &&
		miaopi_parse_date(pol->open_until, strlen(pol->open_until), &d) && today > d)
		return true;
	return false;
}

/* A policy's benefit, or NULL with *error set */
static Numeric
eval_benefit(EvalState *st, const MrPolicy *pol, char **error)
{
	Value		v;

	*error = NULL;
	if (!eval_detached(st, pol->benefit, &v))
	{
		*error = pstrdup(st->errmsg.data);
		return NULL;
	}
	if (v.kind == MR_TYPE_NULL)
	{
		*error = psprintf("%s is missing", pol->benefit->rule);
		return NULL;
	}
	if (v.kind == MR_TYPE_INT)
		return int64_to_numeric(v.u.i);
	if (v.kind == MR_TYPE_DECIMAL)
		return v.u.n;
	*error = pstrdup("benefit is not a number");
	return NULL;
}

/* ----------
 * Reasons
 * ----------
 */

/*
 * Reasons are built as an in-memory JsonbValue array and converted once.
 * Each object's keys are laid out already in jsonb's order (shorter keys
 * first, then bytewise), so no sorting or de-duplicating pass is needed.
 */
typedef struct ReasonList
{
	JsonbValue *items;
	int			n;
	int			cap;
} ReasonList;

static void
set_string(JsonbValue *v, const char *s)
{
	if (s == NULL)
		v->type = jbvNull;
	else
	{
		v->type = jbvString;
		v->val.string.val = (char *) s;
		v->val.string.len = strlen(s);
	}
}

static void
add_reason(ReasonList *list, const char *check, const char *result,
		   const char *on_fail, const char *message, const char *detail,
		   const char *basis)
{
	/* in jsonb key order: basis (when given), check, detail, result, message, on_fail */
	static const char *const keys[6] = {"basis", "check", "detail", "result", "message", "on_fail"};
	const char *values[6];
	JsonbValue *obj;
	JsonbPair  *pairs;
	int			first = (basis != NULL) ? 0 : 1;
	int			npairs = 6 - first;
	int			i;

	values[0] = basis;
	values[1] = check;
	values[2] = detail;
	values[3] = result;
	values[4] = message;
	values[5] = on_fail;

	if (list->n == list->cap)
	{
		list->cap = list->cap ? list->cap * 2 : 8;
		list->items = list->items
			? repalloc(list->items, sizeof(JsonbValue) * list->cap)
			: palloc(sizeof(JsonbValue) * list->cap);
	}
	obj = &list->items[list->n++];
	pairs = palloc(sizeof(JsonbPair) * npairs);
	for (i = 0; i < npairs; i++)
	{
		set_string(&pairs[i].key, keys[first + i]);
		set_string(&pairs[i].value, values[first + i]);
		pairs[i].order = i;
	}
	obj->type = jbvObject;
	obj->val.object.nPairs = npairs;
	obj->val.object.pairs = pairs;
}

static Jsonb *
reasons_jsonb(ReasonList *list)
{
	JsonbValue	arr;

	arr.type = jbvArray;
	arr.val.array.nElems = list->n;
	arr.val.array.elems = list->items;
	arr.val.array.rawScalar = false;
	return JsonbValueToJsonb(&arr);
}

const char *
miaopi_expect_name(MrExpect e)
{
	switch (e)
	{
		case MR_EXPECT_APPROVE:
			return "approve";
		case MR_EXPECT_REJECT:
			return "reject";
		case MR_EXPECT_MANUAL:
			break;
	}
	return "manual";
}

/*
 * miaopi_evaluate decides one application with prog and fills *out.
 * Allocates in the current memory context.
 */
void
miaopi_evaluate(MiaopiProgram *prog, const MiaopiInput *in, MiaopiDecision *out)
{
	EvalState	st;
	MrService  *svc = prog->svc;
	ReasonList	reasons = {NULL, 0, 0};
	List	   *problems = NIL;
	ListCell   *lc;
	bool		any_reject = false,
				any_manual = false,
				missing_material = false;
	int			c,
				m;

	memset(&st, 0, sizeof(st));
	miaopi_lookup_begin(&st.lookups, prog);
	st.prog = prog;
	st.svc = svc;
	st.in = in;
	st.vars = palloc0(sizeof(Value) * Max(svc->max_vars, 1));
	initStringInfo(&st.errmsg);

	out->nreasons = 0;
	out->nnot_passed = 0;
	out->not_passed = palloc(sizeof(char *) *
							 (svc->nchecks + svc->nmaterials + svc->nfields + 3));

	out->payload = NULL;
	out->verify_within = -1;
	out->outside_open = false;
	out->benefit = NULL;
	out->benefit_error = NULL;

	/* the payload's declared shape, then what is fetched from agency data */
	extract_fields(&st, &problems);
	out->payload = fetch_fields(&st, !in->outcome_only);
	foreach(lc, problems)
	{
		add_reason(&reasons, "invalid_payload", "fail", "reject",
					"申请数据不符合要求", (char *) lfirst(lc), NULL);
		out->nreasons++;
		any_reject = true;
	}
	if (problems != NIL)
		out->not_passed[out->nnot_passed++] = "invalid_payload";

	/*
	 * Required materials, one reason for each that is missing.  A valid
	 * e-licence of the applicant of the or_licence type, on the submission
	 * date, stands in for the paper (一库共享), and is recorded as used.
	 */
	st.covered = palloc0(sizeof(bool) * Max(svc->nmaterials, 1));
	for (m = 0; m < svc->nmaterials; m++)
	{
		MrMaterial *mat = &svc->materials[m];

		if (has_material(in, mat->name))
			continue;
		if (mat->or_licence != NULL)
		{
			int64		id = find_licence(&st, mat->or_licence, strlen(mat->or_licence),
											  in->applicant_id, in->applicant_id_len,
											  eval_today(&st));

			if (id != 0)
			{
				st.covered[m] = true;
				add_use(&st, id, psprintf("material:%s", mat->name));
				continue;
			}
		}
		if (!mat->required)
			continue;
		if (material_waived(&st, mat))
			continue;
		if (mat->verify_within >= 0 &&
			in_text_array(in->commitments, in->commitment_nulls, in->ncommitments, mat->name))
		{
			/* committed (告知承诺): given now, verified within the days */
			out->verify_within = Max(out->verify_within, mat->verify_within);
			continue;
		}
		add_reason(&reasons, "missing_material", "fail", "reject",
					"缺少必要材料",
					mat->or_licence != NULL ?
					psprintf("required material \"%s\" is missing, and the applicant holds no valid e-licence \"%s\"",
							 mat->name, mat->or_licence) :
					psprintf("required material \"%s\" is missing", mat->name),
					mat->basis);
		out->nreasons++;
		missing_material = true;
	}
	if (missing_material)
	{
		out->not_passed[out->nnot_passed++] = "missing_material";
		any_reject = true;
	}

	/* a policy outside its open window is refused, with a reason */
	if (svc->policy != NULL && outside_open(&st, svc->policy))
	{
		add_reason(&reasons, "policy_open", "fail", "reject", "不在政策申报期内",
				   psprintf("the policy is open from %s until %s",
							svc->policy->open_from ? svc->policy->open_from : "any day",
							svc->policy->open_until ? svc->policy->open_until : "any day"),
				   NULL);
		out->nreasons++;
		out->not_passed[out->nnot_passed++] = "policy_open";
		out->outside_open = true;
		any_reject = true;
	}

	/* every check, in file order, no short-circuit across checks */
	for (c = 0; c < svc->nchecks; c++)
	{
		MrCheck    *check = &svc->checks[c];
		Value		v;
		const char *result;
		const char *detail = NULL;
		const char *on_fail = check->on_fail == MR_ON_FAIL_REJECT ? "reject" : "manual";

		CHECK_FOR_INTERRUPTS();
		st.check = check;
		st.failed = false;

		if (!eval_expr(&st, check->expr, &v))
		{
			result = "error";
			detail = pstrdup(st.errmsg.data);
		}
		else if (v.kind == MR_TYPE_NULL)
		{
			result = "error";
			detail = psprintf("%s is missing", check->rule);
		}
		else if (v.u.b)
			result = "pass";
		else
		{
			result = "fail";
			st.failed = false;
			if (!in->outcome_only)
				detail = explain_false(&st, check->expr);
		}

		if (strcmp(result, "pass") != 0)
		{
			out->not_passed[out->nnot_passed++] = (char *) check->id;
			if (result[0] == 'f' && check->on_fail == MR_ON_FAIL_REJECT)
				any_reject = true;
			else
				any_manual = true;
		}
		add_reason(&reasons, check->id, result, on_fail, check->message, detail,
				   check->basis);
		out->nreasons++;
	}
	if (svc->policy != NULL)
		out->benefit = eval_benefit(&st, svc->policy, &out->benefit_error);

	if (any_reject)
		out->decision = MR_EXPECT_REJECT;
	else if (any_manual || !svc->auto_approve)
		out->decision = MR_EXPECT_MANUAL;
	else
		out->decision = MR_EXPECT_APPROVE;

	/*
	 * An approval issues the licence: it needs its last day.  A valid_until
	 * that cannot be computed sends the application to a human; a licence
	 * without an end date is never issued.
	 */
	out->has_valid_until = false;
	if (out->decision == MR_EXPECT_APPROVE && svc->licence != NULL)
	{
		char	   *why = NULL;

		if (valid_until_of(&st, &out->valid_until, &why, false))
			out->has_valid_until = true;
		else
		{
			add_reason(&reasons, MIAOPI_LICENCE_UNTIL_CHECK, "error", "manual",
						"无法确定证照有效期", why, NULL);
			out->nreasons++;
			out->not_passed[out->nnot_passed++] = MIAOPI_LICENCE_UNTIL_CHECK;
			out->decision = MR_EXPECT_MANUAL;
		}
	}
	miaopi_lookup_finish(&st.lookups);

	/* push() needs only the outcome, not the reasons' JSON */
	out->reasons = in->outcome_only ? NULL : reasons_jsonb(&reasons);
	out->licence_uses = st.uses;
}

/*
 * The licence's last day: valid_days from the local issue day (counted as
 * the first), or the valid_until expression.  False with *why if missing,
 * or (unless allow_past: a person approves it knowingly) if it is before
 * the day of issue.
 */
static bool
valid_until_of(EvalState *st, DateADT *until, char **why, bool allow_past)
{
	const MrLicence *lic = st->svc->licence;
	Value		v;

	if (lic->valid_until == NULL)
	{
		*until = eval_today(st) + lic->valid_days - 1;
		return true;
	}
	st->check = lic->valid_until;
	st->failed = false;
	if (!eval_expr(st, lic->valid_until->expr, &v))
	{
		*why = psprintf("valid_until %s: %s", lic->valid_until->rule, st->errmsg.data);
		return false;
	}
	if (v.kind == MR_TYPE_NULL)
	{
		*why = psprintf("valid_until %s is missing", lic->valid_until->rule);
		return false;
	}
	if (v.u.d < eval_today(st) && !allow_past)
	{
		*why = psprintf("valid_until %s is before the day of issue", lic->valid_until->rule);
		return false;
	}
	*until = v.u.d;
	return true;
}

/*
 * miaopi_eval_valid_until computes the last day of the licence an approval
 * of in would issue now (act() approve), or false with *why.
 */
bool
miaopi_eval_valid_until(MiaopiProgram *prog, const MiaopiInput *in, DateADT *until,
						char **why)
{
	EvalState	st;
	List	   *problems = NIL;
	bool		ok;

	memset(&st, 0, sizeof(st));
	st.prog = prog;
	st.svc = prog->svc;
	st.in = in;
	st.vars = palloc0(sizeof(Value) * Max(prog->svc->max_vars, 1));
	initStringInfo(&st.errmsg);
	miaopi_lookup_begin(&st.lookups, prog);
	extract_fields(&st, &problems);
	ok = valid_until_of(&st, until, why, true);
	miaopi_lookup_finish(&st.lookups);
	return ok;
}

/*
 * Walk one expression for the load-time checks that need PostgreSQL.
 */
static void
validate_expr(const MrExpr *e)
{
	int			i;

	check_stack_depth();
	if (e->kind == MR_E_CALL && e->u.func == MR_F_MATCHES)
	{
		const MrExpr *pat = e->args[1];

		/* raises invalid_regular_expression; the caller's context names the check */
		(void) RE_compile_and_cache(cstring_to_text_with_len(pat->u.str.s, pat->u.str.len),
									REG_ADVANCED, DEFAULT_COLLATION_OID);
	}
	for (i = 0; i < e->nargs; i++)
		validate_expr(e->args[i]);
	if ((e->kind == MR_E_EXISTS || e->kind == MR_E_LOOKUP) && e->u.lookup)
		for (i = 0; i < e->u.lookup->nconds; i++)
			validate_expr(e->u.lookup->conds[i].value);
}

/* Error context for load-time validation: names the check */
static void
validate_context(void *arg)
{
	const MrCheck *check = (const MrCheck *) arg;

	errcontext("check \"%s\" at line %d: %s", check->id, check->line, check->rule);
}

/*
 * miaopi_eval_validate compiles every regular expression of the program so
 * that a bad one is a load error, not a run-time surprise.
 */
void
miaopi_eval_validate(MiaopiProgram *prog)
{
	ErrorContextCallback errcallback;
	int			c;

	errcallback.callback = validate_context;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	for (c = 0; c < prog->svc->nchecks; c++)
	{
		errcallback.arg = &prog->svc->checks[c];
		validate_expr(prog->svc->checks[c].expr);
	}
	if (prog->svc->licence != NULL && prog->svc->licence->valid_until != NULL)
	{
		errcallback.arg = prog->svc->licence->valid_until;
		validate_expr(prog->svc->licence->valid_until->expr);
	}
	/* and the detached expressions: from:, waived_if:, benefit: */
	for (c = 0; c < prog->svc->nfields; c++)
	{
		if ((errcallback.arg = prog->svc->fields[c].from) != NULL)
			validate_expr(prog->svc->fields[c].from->expr);
	}
	for (c = 0; c < prog->svc->nmaterials; c++)
	{
		if ((errcallback.arg = prog->svc->materials[c].waived_if) != NULL)
			validate_expr(prog->svc->materials[c].waived_if->expr);
	}
	if (prog->svc->policy != NULL)
	{
		errcallback.arg = prog->svc->policy->benefit;
		validate_expr(prog->svc->policy->benefit->expr);
	}
	error_context_stack = errcallback.previous;
}
