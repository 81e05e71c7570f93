/*-------------------------------------------------------------------------
 *
 * lesssubmit.c
 *	  "Less to submit": fields fetched from agency data (from:), the credit
 *	  lane (waived_if:), commitments (commitment:) and kind policy.
 *
 * Each of these is an expression or a small mapping hung on a section that
 * document.c already validates.  document.c calls in here at three points:
 * while reading a field or a material (the raw YAML nodes are remembered in
 * the scratch arena), once the section's names are indexed (the
 * expressions are compiled, so that they may name any declared field), and
 * after the checks (the policy keys, which only kind policy may carry).
 *
 * An expression here is compiled into an MrCheck that is not one of the
 * service's checks: it has an id for messages ("from:<field>",
 * "waived_if:<material>", "benefit"), a rule, a typed program and its own
 * variable slots, and its lookups are the service's lookups like any
 * other, so the host prepares and invalidates them with the rest.
 *
 * What "from:" means, precisely (the rules that are load errors):
 *	- the field's value is the expression's value, whatever the client
 *	  sent; so a field with from: cannot also be "required: true" (required
 *	  means the applicant must send it), and
 *	- the expression must read agency data: it must contain a lookup() or
 *	  exists(); an expression over the client's own values only is an
 *	  ordinary field asked of the applicant;
 *	- it may read payload fields declared before it (including earlier
 *	  fetched ones, which are filled in file order), never itself or a
 *	  later fetched field, whose value would still be the client's;
 *	- its type must be the field's type (an int expression fills a decimal
 *	  field); list fields cannot be fetched.
 *
 * IDENTIFICATION
 *	  extension/rules/lesssubmit.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "mr_internal.h"

static const char *const commitment_keys[] = {"verify_within"};
static const char *const open_keys[] = {"from", "until"};
static const char *const audience_keys[] = {"table", "key"};
static const char *const apply_names[] = {"auto", "confirm", "form"};
static const char *const policy_only_keys[] = {"benefit", "open", "apply", "audience"};

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/*
 * mr_apply_name returns the YAML spelling of a policy's apply mode.
 */
const char *
mr_apply_name(MrApply apply)
{
	if ((int) apply < 0 || (int) apply >= lengthof(apply_names))
		return "unknown";
	return apply_names[apply];
}

/* Value of key in a mapping (explicit null counts as absent), or NULL */
static const MrYNode *
get_opt(const MrYNode *map, const char *key, const MrYNode **keynode)
{
	size_t		len = strlen(key);
	int			i;

	if (keynode)
		*keynode = NULL;
	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];
		const MrYNode *v = map->items[2 * i + 1];

		if (k->len == len && memcmp(k->value, key, len) == 0)
		{
			if (keynode)
				*keynode = k;
			if (v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_NULL)
				return NULL;
			return v;
		}
	}
	return NULL;
}

/* A non-empty text scalar, or an error naming key */
static bool
want_text(MrCtx *ctx, const char *key, const MrYNode *val)
{
	if (val->type == MR_Y_SCALAR && mr_yaml_value(val) == MR_YV_TEXT && val->len > 0)
		return true;
	mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" must be text, not %s", key,
				 mr_yaml_describe(val));
	if (val->type == MR_Y_SCALAR)
		mr_hint(ctx, "Quote the expression: %s: \"...\".", key);
	return false;
}

/* The scratch slot array for pending nodes, allocated on first use */
static const MrYNode **
pending_slots(MrCtx *ctx, const MrYNode ***slots, int n)
{
	if (*slots == NULL && n > 0)
		*slots = mr_salloc(ctx, sizeof(MrYNode *) * (size_t) n);
	return *slots;
}

/*
 * Compile the expression of node into a detached check with the given id;
 * *type gets its type.
 */
static MrCheck *
compile_detached(MrCtx *ctx, MrService *svc, const char *id, const MrYNode *node)
{
	MrCheck    *c = mr_alloc(ctx, sizeof(MrCheck));
	MrPNode    *tree;
	bool		ok;

	if (c == NULL)
		return NULL;
	c->id = mr_strdup(ctx, id, strlen(id));
	c->rule = mr_strdup(ctx, node->value, node->len);
	if (c->id == NULL || c->rule == NULL)
		return NULL;
	c->on_fail = MR_ON_FAIL_MANUAL;
	c->line = node->line;
	c->column = node->column;

	ctx->rule = c->rule;
	ctx->rule_len = node->len;
	ctx->rule_line = node->line;
	ctx->rule_column = node->column;
	ctx->rule_content_column = node->content_column;
	ctx->rule_exact = node->exact;
	ctx->rule_block = node->block_exact;
	ctx->rule_block_line = node->block_line;
	ctx->rule_block_indent = node->block_indent;

	tree = mr_parse_expr(ctx, c->rule, node->len);
	ok = (tree != NULL) && mr_typecheck_value(ctx, svc, c, tree);

	if (ok && c->nvars > svc->max_vars)
		svc->max_vars = c->nvars;
	return ok ? c : NULL;
}

/* Does e read agency data (lookup or exists) anywhere? */
static bool
reads_lookup(const MrExpr *e)
{
	int			i;

	if (e == NULL)
		return false;
	if (e->kind == MR_E_LOOKUP || e->kind == MR_E_EXISTS)
		return true;
	for (i = 0; i < e->nargs; i++)
		if (reads_lookup(e->args[i]))
			return true;
	return false;
}

/* The first payload field read by e whose index is >= from_index */
static const MrExpr *
reads_field_from(const MrExpr *e, int from_index, const MrService *svc)
{
	const MrExpr *r;
	int			i;

	if (e == NULL)
		return NULL;
	if (e->kind == MR_E_FIELD && e->u.field >= from_index && svc->fields[e->u.field].from != NULL)
		return e;
	if (e->kind == MR_E_EXISTS || e->kind == MR_E_LOOKUP)
	{
		for (i = 0; i < e->u.lookup->nconds; i++)
			if ((r = reads_field_from(e->u.lookup->conds[i].value, from_index, svc)) != NULL)
				return r;
	}
	for (i = 0; i < e->nargs; i++)
		if ((r = reads_field_from(e->args[i], from_index, svc)) != NULL)
			return r;
	return NULL;
}

/* ----------
 * from:
 * ----------
 */

/* Pending from: nodes, one slot per field (scratch) */
static const MrYNode **
from_slots(MrCtx *ctx, MrService *svc)
{
	return pending_slots(ctx, &ctx->pending_from, svc->nfields);
}

/*
 * mr_build_from remembers a field's "from:" (key and value) to compile
 * once every field is declared.  The field's required flag is known.
 */
bool
mr_build_from(MrCtx *ctx, MrService *svc, MrField *field, const MrYNode *key,
			  const MrYNode *val)
{
	const MrYNode **slots;
	char		tbuf[32];

	if (!want_text(ctx, "from", val))
		return false;
	if (field->required)
	{
		mr_fail_node(ctx, MR_ERR_RULE, key,
					 "field \"%s\" is fetched with from: and cannot also be required from the client",
					 field->name);
		mr_hint(ctx, "Remove required: the applicant is never asked for a fetched field; when its source has no row the field is missing and a check that needs it goes to a person.");
		return false;
	}
	if (field->type.kind == MR_TYPE_LIST)
	{
		mr_fail_node(ctx, MR_ERR_RULE, key, "field \"%s\" of type %s cannot be fetched with from:",
					 field->name, mr_type_name(field->type, tbuf, sizeof(tbuf)));
		mr_hint(ctx, "A lookup reads one value; fetch a scalar field.");
		return false;
	}
	slots = from_slots(ctx, svc);
	if (slots == NULL)
		return false;
	slots[field - svc->fields] = val;
	/* mark it now, so that earlier from: expressions see it is fetched */
	field->from = (MrCheck *) 1;
	return true;
}

/*
 * mr_compile_fetches compiles every remembered from: expression, in file
 * order, and checks its type against the field's.
 */
bool
mr_compile_fetches(MrCtx *ctx, MrService *svc)
{
	int			i;
	char		id[MR_MAX_NAME_BYTES + 8];

	if (ctx->pending_from == NULL)
		return true;
	for (i = 0; i < svc->nfields; i++)
	{
		MrField    *f = &svc->fields[i];
		const MrYNode *node = ctx->pending_from[i];
		const MrExpr *bad;
		MrCheck    *c;
		MrTypeKind	k;
		char		fb[32];
		char		eb[32];

		if (node == NULL)
			continue;
		snprintf(id, sizeof(id), "from:%s", f->name);
		c = compile_detached(ctx, svc, id, node);
		if (c == NULL)
			return false;
		if (!reads_lookup(c->expr))
		{
			mr_fail_expr(ctx, MR_ERR_RULE, c->expr->pos,
						 "from: of field \"%s\" must fetch its value with lookup()", f->name);
			mr_hint(ctx, "Write from: \"lookup(schema.table, key == applicant.id).column\"; a value the applicant gives is an ordinary field.");
			return false;
		}
		if ((bad = reads_field_from(c->expr, i, svc)) != NULL)
		{
			mr_fail_expr(ctx, MR_ERR_RULE, bad->pos,
						 "from: of field \"%s\" reads field \"%s\", which is not fetched yet",
						 f->name, svc->fields[bad->u.field].name);
			mr_hint(ctx, "Fetched fields are filled in the order they are declared; a from: may read only fields declared before it.");
			return false;
		}
		k = c->expr->type.kind;
		if (!(k == MR_TYPE_ANY || k == f->type.kind ||
			  (f->type.kind == MR_TYPE_DECIMAL && k == MR_TYPE_INT)))
		{
			mr_fail_expr(ctx, MR_ERR_RULE, c->expr->pos,
						 "from: of field \"%s\" gives %s, but the field is %s", f->name,
						 mr_type_name(c->expr->type, eb, sizeof(eb)),
						 mr_type_name(f->type, fb, sizeof(fb)));
			mr_hint(ctx, "Declare the field with the type of the column it is fetched from, or fetch a column of the field's type.");
			return false;
		}
		f->from = c;
	}
	ctx->rule = NULL;
	ctx->rule_len = 0;
	return true;
}

/* ----------
 * Materials: waived_if: and commitment:
 * ----------
 */

/*
 * mr_build_material_extras reads waived_if (remembered, compiled later) and
 * commitment from a material's mapping.
 */
bool
mr_build_material_extras(MrCtx *ctx, MrService *svc, MrMaterial *mat, const MrYNode *map)
{
	const MrYNode *v;
	const MrYNode *k;
	const MrYNode **slots;
	char		where[MR_MAX_NAME_BYTES + 32];

	mat->verify_within = -1;
	if ((v = get_opt(map, "waived_if", &k)) != NULL)
	{
		if (!want_text(ctx, "waived_if", v))
			return false;
		slots = pending_slots(ctx, &ctx->pending_waiver, svc->nmaterials);
		if (slots == NULL)
			return false;
		slots[mat - svc->materials] = v;
	}
	if ((v = get_opt(map, "commitment", &k)) != NULL)
	{
		const MrYNode *n;
		int64_t		days;

		snprintf(where, sizeof(where), "commitment of material \"%s\"", mat->name);
		if (v->type != MR_Y_MAPPING)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "\"commitment\" must be a mapping, not %s",
						 mr_yaml_describe(v));
			mr_hint(ctx, "Write commitment: {verify_within: 20}, the working days the agency has to verify.");
			return false;
		}
		if (!mr_check_keys(ctx, v, commitment_keys, lengthof(commitment_keys), where))
			return false;
		if ((n = get_opt(v, "verify_within", NULL)) == NULL)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "missing required key \"verify_within\" in %s", where);
			mr_hint(ctx, "Give the working days the agency has to verify what was committed.");
			return false;
		}
		if (n->type != MR_Y_SCALAR || mr_yaml_value(n) != MR_YV_INT ||
			!mr_yaml_parse_int(n, &days))
		{
			mr_fail_node(ctx, MR_ERR_RULE, n, "\"verify_within\" must be an integer, not %s",
						 mr_yaml_describe(n));
			return false;
		}
		if (days < 1 || days > 3650)
		{
			mr_fail_node(ctx, MR_ERR_RULE, n, "\"verify_within\" must be between 1 and 3650 working days");
			return false;
		}
		if (!mat->required)
		{
			mr_fail_node(ctx, MR_ERR_RULE, k, "material \"%s\" is not required and cannot be committed",
						 mat->name);
			mr_hint(ctx, "A commitment (告知承诺) stands in for a required material; make it required or drop the commitment.");
			return false;
		}
		mat->verify_within = (int) days;
	}
	return true;
}

/*
 * mr_compile_waivers compiles every remembered waived_if expression; each
 * must be boolean.
 */
bool
mr_compile_waivers(MrCtx *ctx, MrService *svc)
{
	int			i;
	char		id[MR_MAX_NAME_BYTES + 16];

	if (ctx->pending_waiver == NULL)
		return true;
	for (i = 0; i < svc->nmaterials; i++)
	{
		MrMaterial *m = &svc->materials[i];
		const MrYNode *node = ctx->pending_waiver[i];
		MrCheck    *c;
		char		tb[32];

		if (node == NULL)
			continue;
		snprintf(id, sizeof(id), "waived_if:%s", m->name);
		c = compile_detached(ctx, svc, id, node);
		if (c == NULL)
			return false;
		if (c->expr->type.kind != MR_TYPE_BOOL && c->expr->type.kind != MR_TYPE_ANY)
		{
			mr_fail_expr(ctx, MR_ERR_RULE, c->expr->pos,
						 "waived_if of material \"%s\" must be a boolean expression, not %s",
						 m->name, mr_type_name(c->expr->type, tb, sizeof(tb)));
			mr_hint(ctx, "State when the material is not needed, such as lookup(registry.credit, uscc == applicant.id).grade == 'A'.");
			return false;
		}
		m->waived_if = c;
	}
	ctx->rule = NULL;
	ctx->rule_len = 0;
	return true;
}

/* ----------
 * kind: policy
 * ----------
 */

/* Is s (len bytes) a real calendar date YYYY-MM-DD? */
static bool
valid_iso_date(const char *s, size_t len)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;
	size_t		i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/* One date of open: */
static bool
get_open_date(MrCtx *ctx, const MrYNode *map, const char *key, const char **out)
{
	const MrYNode *v = get_opt(map, key, NULL);
	char		buf[MR_EXCERPT_BYTES + 4];

	*out = NULL;
	if (v == NULL)
		return true;
	if (v->type != MR_Y_SCALAR || !valid_iso_date(v->value, v->len))
	{
		mr_fail_node(ctx, MR_ERR_RULE, v, "open.%s must be a date, not \"%s\"", key,
					 v->type == MR_Y_SCALAR ? mr_excerpt(buf, sizeof(buf), v->value, v->len)
					 : mr_yaml_describe(v));
		mr_hint(ctx, "Write the date as YYYY-MM-DD, such as 2026-01-01.");
		return false;
	}
	*out = mr_strdup(ctx, v->value, v->len);
	return *out != NULL;
}

/* audience: {table: schema.table, key: column}, resolved when there is a resolver */
static bool
build_audience(MrCtx *ctx, MrPolicy *pol, const MrYNode *map)
{
	const MrYNode *t;
	const MrYNode *k;
	const char *dot;
	char		msg[256];
	MrType		type;
	MrErrorKind kind;
	char		tb[32];

	if (map->type != MR_Y_MAPPING)
	{
		mr_fail_node(ctx, MR_ERR_RULE, map, "\"audience\" must be a mapping, not %s",
					 mr_yaml_describe(map));
		mr_hint(ctx, "Write audience: {table: registry.company, key: uscc}.");
		return false;
	}
	if (!mr_check_keys(ctx, map, audience_keys, lengthof(audience_keys), "audience"))
		return false;
	if ((t = get_opt(map, "table", NULL)) == NULL || (k = get_opt(map, "key", NULL)) == NULL)
	{
		mr_fail_node(ctx, MR_ERR_RULE, map, "missing required key \"%s\" in audience",
					 get_opt(map, "table", NULL) == NULL ? "table" : "key");
		mr_hint(ctx, "Write audience: {table: registry.company, key: uscc}.");
		return false;
	}
	if (!want_text(ctx, "table", t) || !want_text(ctx, "key", k))
		return false;
	dot = memchr(t->value, '.', t->len);
	if (dot != NULL)
	{
		pol->audience_schema = mr_strdup(ctx, t->value, (size_t) (dot - t->value));
		pol->audience_table = mr_strdup(ctx, dot + 1, t->len - (size_t) (dot - t->value) - 1);
	}
	else
		pol->audience_table = mr_strdup(ctx, t->value, t->len);
	pol->audience_key = mr_strdup(ctx, k->value, k->len);
	if (pol->audience_table == NULL || pol->audience_key == NULL ||
		(dot != NULL && pol->audience_schema == NULL))
		return false;
	if (ctx->resolver == NULL || ctx->resolver->column_type == NULL)
		return true;
	memset(msg, 0, sizeof(msg));
	kind = ctx->resolver->column_type(ctx->resolver->ctx, pol->audience_schema,
									  pol->audience_table, pol->audience_key, &type,
									  msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	if (kind != MR_ERR_NONE)
	{
		mr_fail_node(ctx, kind, kind == MR_ERR_UNDEFINED_COLUMN ? k : t, "%s",
					 msg[0] ? msg : "cannot resolve the audience table");
		mr_hint(ctx, "The audience is a table the loading role may read, with a text column holding the applicant id.");
		return false;
	}
	if (type.kind != MR_TYPE_TEXT)
	{
		mr_fail_node(ctx, MR_ERR_RULE, k, "audience key \"%s\" must be a text column, not %s",
					 pol->audience_key, mr_type_name(type, tb, sizeof(tb)));
		mr_hint(ctx, "The key holds the applicant id (统一社会信用代码), which is text.");
		return false;
	}
	return true;
}

/*
 * mr_build_policy reads benefit, open, apply and audience: required for
 * kind policy, refused on every other kind.
 */
bool
mr_build_policy(MrCtx *ctx, MrService *svc, const MrYNode *root)
{
	const MrYNode *v;
	const MrYNode *k;
	MrPolicy   *pol;
	char		buf[MR_EXCERPT_BYTES + 4];
	char		tb[32];
	int			i;

	if (svc->kind != MR_KIND_POLICY)
	{
		for (i = 0; i < lengthof(policy_only_keys); i++)
		{
			if (get_opt(root, policy_only_keys[i], &k) != NULL || k != NULL)
			{
				mr_fail_node(ctx, MR_ERR_RULE, k, "\"%s\" is only for kind policy",
							 policy_only_keys[i]);
				mr_hint(ctx, "Set kind: policy for a business-support policy (惠企政策), or remove the key.");
				return false;
			}
		}
		return true;
	}
	for (i = 0; i < lengthof(policy_only_keys); i++)
	{
		if (get_opt(root, policy_only_keys[i], NULL) == NULL)
		{
			mr_fail_node(ctx, MR_ERR_RULE, root, "missing required key \"%s\" in a policy",
						 policy_only_keys[i]);
			mr_hint(ctx, "A policy gives benefit, open, apply and audience.");
			return false;
		}
	}
	pol = mr_alloc(ctx, sizeof(MrPolicy));
	if (pol == NULL)
		return false;
	pol->line = root->line;

	/* apply */
	v = get_opt(root, "apply", NULL);
	for (i = 0; i < lengthof(apply_names); i++)
		if (v->type == MR_Y_SCALAR && strcmp(v->value, apply_names[i]) == 0)
			break;
	if (i == lengthof(apply_names))
	{
		mr_fail_node(ctx, MR_ERR_RULE, v, "unknown apply \"%s\"",
					 v->type == MR_Y_SCALAR ? mr_excerpt(buf, sizeof(buf), v->value, v->len)
					 : mr_yaml_describe(v));
		mr_hint(ctx, "Use auto (免申即享), confirm (one-click confirmation) or form (a pre-filled application).");
		return false;
	}
	pol->apply = (MrApply) i;

	/* open */
	v = get_opt(root, "open", NULL);
	if (v->type != MR_Y_MAPPING)
	{
		mr_fail_node(ctx, MR_ERR_RULE, v, "\"open\" must be a mapping, not %s", mr_yaml_describe(v));
		mr_hint(ctx, "Write open: {from: 2026-01-01, until: 2026-12-31}.");
		return false;
	}
	if (!mr_check_keys(ctx, v, open_keys, lengthof(open_keys), "open") ||
		!get_open_date(ctx, v, "from", &pol->open_from) ||
		!get_open_date(ctx, v, "until", &pol->open_until))
		return false;
	if (pol->open_from != NULL && pol->open_until != NULL &&
		strcmp(pol->open_until, pol->open_from) < 0)
	{
		mr_fail_node(ctx, MR_ERR_RULE, get_opt(v, "until", NULL),
					 "open.until (%s) is before open.from (%s)", pol->open_until, pol->open_from);
		mr_hint(ctx, "A policy is open from its first day to its last; swap the dates.");
		return false;
	}

	/* audience */
	if (!build_audience(ctx, pol, get_opt(root, "audience", NULL)))
		return false;

	/* benefit: a decimal (or integer) expression */
	v = get_opt(root, "benefit", NULL);
	if (!want_text(ctx, "benefit", v))
		return false;
	pol->benefit = compile_detached(ctx, svc, "benefit", v);
	if (pol->benefit == NULL)
		return false;
	if (pol->benefit->expr->type.kind != MR_TYPE_DECIMAL &&
		pol->benefit->expr->type.kind != MR_TYPE_INT &&
		pol->benefit->expr->type.kind != MR_TYPE_ANY)
	{
		mr_fail_expr(ctx, MR_ERR_RULE, pol->benefit->expr->pos,
					 "benefit must be a decimal expression, not %s",
					 mr_type_name(pol->benefit->expr->type, tb, sizeof(tb)));
		mr_hint(ctx, "The benefit is the amount granted, such as payload.rd_expense * 0.1.");
		return false;
	}
	ctx->rule = NULL;
	ctx->rule_len = 0;
	svc->policy = pol;
	return true;
}
