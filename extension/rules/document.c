/*-------------------------------------------------------------------------
 *
 * document.c
 *	  Validate one YAML service document and build its MrService.
 *
 * Every key of the document is known here; an unknown key anywhere is an
 * error (with a "did you mean" hint), because a misspelt optional key that
 * is silently ignored is a rule that silently does not apply.  Sections are
 * validated in a fixed order (service, name, department, kind, time_limit,
 * auto_approve, fields, materials, checks, licence, renews, steps, tests)
 * so that later sections can rely on earlier ones: time_limit needs the
 * kind, checks need fields and materials, the licence's data and
 * valid_until need the fields, renews needs the licence, tests need the
 * check ids.
 *
 * Scalars are typed by mr_yaml_value's explicit lists everywhere: a quoted
 * "12" is text and is refused where an integer is expected, and a plain 123
 * is an integer and is refused where text is expected (with a hint to
 * quote it).  For an optional key, an explicit null is the same as leaving
 * the key out.
 *
 * IDENTIFICATION
 *	  extension/rules/document.c
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mr_internal.h"

static const char *const service_keys[] = {
	"service", "name", "department", "kind", "time_limit", "auto_approve",
	"fields", "materials", "checks", "licence", "renews", "steps", "tests",
	"benefit", "open", "apply", "audience"
};
static const char *const time_limit_keys[] = {
	"statutory", "promised", "calendar", "warn_at", "extension"
};
static const char *const field_keys[] = {"type", "required", "from"};
static const char *const material_keys[] = {
	"required", "or_licence", "basis", "waived_if", "commitment"
};
static const char *const check_key_names[] = {"id", "rule", "message", "on_fail", "basis"};
static const char *const licence_keys[] = {
	"type", "name", "number", "valid_days", "valid_until", "data", "type_code",
	"issuer_code"
};
static const char *const number_placeholders[] = {"yyyy", "yy", "mm", "seq:N", "service"};
static const char *const kind_names[] = {"licence", "public_service", "filing", "policy"};
static const char *const on_fail_names[] = {"reject", "manual"};
static const char *const step_names[] = {"accept", "review", "decide", "deliver"};
static const char *const type_names[] = {
	"int", "decimal", "numeric", "text", "bool", "date", "timestamp"
};

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

static bool valid_licence_type(MrCtx *ctx, const MrYNode *v);
static bool compile_expr(MrCtx *ctx, MrService *svc, MrCheck *check,
						 const MrYNode *rule, bool want_date);

/* Steps of each kind, as indexes into step_names */
static const int kind_steps[4][4] = {
	{MR_STEP_ACCEPT, MR_STEP_REVIEW, MR_STEP_DECIDE, MR_STEP_DELIVER},
	{MR_STEP_ACCEPT, MR_STEP_DECIDE, MR_STEP_DELIVER, -1},
	{MR_STEP_DECIDE, MR_STEP_DELIVER, -1, -1},
	{MR_STEP_DECIDE, MR_STEP_DELIVER, -1, -1}
};
static const int kind_nsteps[4] = {4, 3, 2, 2};
static const char *const kind_article[4] = {"a licence", "a public service", "a filing", "a policy"};
static const char *const kind_step_list[4] = {
	"accept, review, decide and deliver",
	"accept, decide and deliver",
	"decide and deliver",
	"decide and deliver"
};

/*
 * mr_kind_name returns the YAML spelling of a service kind.
 */
const char *
mr_kind_name(MrKind kind)
{
	if ((int) kind < 0 || (int) kind >= lengthof(kind_names))
		return "unknown";
	return kind_names[kind];
}

/*
 * mr_field_index returns the index of a declared payload field, or -1.
 */
int
mr_field_index(const MrService *svc, const char *name)
{
	int			i;

	for (i = 0; i < svc->nfields; i++)
		if (strcmp(svc->fields[i].name, name) == 0)
			return i;
	return -1;
}

/* ----------
 * Generic mapping access and typed getters
 * ----------
 */

/* Value of key in a mapping, or NULL; *keynode gets the key node */
static const MrYNode *
map_get(const MrYNode *map, const char *key, const MrYNode **keynode)
{
	int			i;
	size_t		len = strlen(key);

	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];

		if (k->len == len && memcmp(k->value, key, len) == 0)
		{
			if (keynode)
				*keynode = k;
			return map->items[2 * i + 1];
		}
	}
	if (keynode)
		*keynode = NULL;
	return NULL;
}

/* As map_get, but an explicit null counts as absent */
static const MrYNode *
map_opt(const MrYNode *map, const char *key, const MrYNode **keynode)
{
	const MrYNode *v = map_get(map, key, keynode);

	if (v != NULL && v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_NULL)
		return NULL;
	return v;
}

/* Join names as "a, b or c" */
static void
join_names(char *buf, size_t buflen, const char *const *names, int n, const char *last)
{
	int			i;
	size_t		used = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
	{
		const char *sep = (i == 0) ? "" : (i == n - 1) ? last : ", ";
		size_t		need = strlen(sep) + strlen(names[i]);

		if (used + need + 1 > buflen)
			break;
		strcpy(buf + used, sep);
		used += strlen(sep);
		strcpy(buf + used, names[i]);
		used += strlen(names[i]);
	}
}

/* Refuse keys not in known[], suggesting the nearest or listing them all */
bool
mr_check_keys(MrCtx *ctx, const MrYNode *map, const char *const *known, int nknown,
		   const char *where)
{
	int			i;
	int			j;
	char		buf[MR_EXCERPT_BYTES + 4];
	char		list[200];

	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];
		const char *guess;
		bool		found = false;

		for (j = 0; j < nknown && !found; j++)
			found = (strlen(known[j]) == k->len && memcmp(known[j], k->value, k->len) == 0);
		if (found)
			continue;
		mr_fail_node(ctx, MR_ERR_RULE, k, "unknown key \"%s\" in %s",
					 mr_excerpt(buf, sizeof(buf), k->value, k->len), where);
		guess = mr_suggest(k->value, k->len, known, nknown);
		if (guess != NULL)
			mr_hint(ctx, "Did you mean \"%s\"?", guess);
		else
		{
			join_names(list, sizeof(list), known, nknown, " and ");
			mr_hint(ctx, "Valid keys are %s.", list);
		}
		return false;
	}
	return true;
}

/* The key of a required entry, or an error at the mapping */
static const MrYNode *
map_require(MrCtx *ctx, const MrYNode *map, const char *key, const char *where,
			const MrYNode **keynode)
{
	const MrYNode *v = map_get(map, key, keynode);

	if (v == NULL)
		mr_fail_node(ctx, MR_ERR_RULE, map, "missing required key \"%s\" in %s", key, where);
	return v;
}

/* "\"key\" must be X, not Y", with a hint for the usual quoting slips */
static bool
type_error(MrCtx *ctx, const char *key, const MrYNode *val, const char *want)
{
	char		buf[MR_EXCERPT_BYTES + 4];

	mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" must be %s, not %s", key, want,
				 mr_yaml_describe(val));
	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) == MR_YV_NULL)
		return false;
	mr_excerpt(buf, sizeof(buf), val->value, val->len);
	if (strcmp(want, "text") == 0 && val->style == MR_Y_PLAIN)
		mr_hint(ctx, "Quote the value to make it text: \"%s\".", buf);
	else if (val->style != MR_Y_PLAIN && val->type == MR_Y_SCALAR)
	{
		MrYNode		plain = *val;

		plain.style = MR_Y_PLAIN;
		if (mr_yaml_value(&plain) != MR_YV_TEXT)
			mr_hint(ctx, "Remove the quotes: \"%s\" is text.", buf);
	}
	else if (strcmp(want, "a boolean") == 0)
		mr_hint(ctx, "Use true or false.");
	return false;
}

/* A text value copied to the result arena; NULL value means absent */
static bool
get_text(MrCtx *ctx, const char *key, const MrYNode *val, const char **out)
{
	*out = NULL;
	if (val == NULL)
		return true;
	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) != MR_YV_TEXT)
		return type_error(ctx, key, val, "text");
	*out = mr_strdup(ctx, val->value, val->len);
	return *out != NULL;
}

/* Non-empty text */
static bool
get_name_text(MrCtx *ctx, const char *key, const MrYNode *val, const char **out)
{
	size_t		i;

	if (!get_text(ctx, key, val, out))
		return false;
	if (*out == NULL)
		return true;
	for (i = 0; i < val->len; i++)
		if (val->value[i] != ' ' && val->value[i] != '\t' && val->value[i] != '\n')
			return true;
	return mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" must not be empty", key);
}

/* An integer in [min, INT_MAX] */
static bool
get_int(MrCtx *ctx, const char *key, const MrYNode *val, int min, int *out)
{
	int64_t		v;

	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) != MR_YV_INT)
		return type_error(ctx, key, val, "an integer");
	if (!mr_yaml_parse_int(val, &v) || v > INT_MAX || v < INT_MIN)
		return mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" is out of range", key);
	if (v < min)
	{
		if (min == 0)
			return mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" must not be negative", key);
		return mr_fail_node(ctx, MR_ERR_RULE, val, "\"%s\" must be at least %d", key, min);
	}
	*out = (int) v;
	return true;
}

/* A boolean */
static bool
get_bool(MrCtx *ctx, const char *key, const MrYNode *val, bool *out)
{
	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) != MR_YV_BOOL)
		return type_error(ctx, key, val, "a boolean");
	*out = (val->value[0] == 't' || val->value[0] == 'T');
	return true;
}

/*
 * Is s a code of lower-case letters and digits, plus '_' and '-' where
 * allowed, at most MR_MAX_NAME_BYTES?  The first character is a letter or
 * '_' when first_letter is set, otherwise a letter or a digit.
 */
static bool
valid_code(const char *s, size_t len, bool allow_underscore, bool allow_hyphen, bool first_letter)
{
	size_t		i;

	if (len == 0 || len > MR_MAX_NAME_BYTES)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];
		bool		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			(allow_underscore && c == '_') || (allow_hyphen && c == '-');

		if (!ok)
			return false;
		if (i == 0)
		{
			if (first_letter && !((c >= 'a' && c <= 'z') || c == '_'))
				return false;
			if (!first_letter && (c == '-' || c == '_'))
				return false;
		}
	}
	return true;
}

/* Calendar names: ^[a-z0-9_-]+$, at most MR_MAX_NAME_BYTES */
static bool
valid_calendar(const char *s, size_t len)
{
	size_t		i;

	if (len == 0 || len > MR_MAX_NAME_BYTES)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/*
 * Index the names of an array of structs whose first member is the name
 * (MrField, MrMaterial, MrCheck).
 */
static bool
build_index(MrCtx *ctx, MrNameIndex *ix, const void *array, size_t stride, int n)
{
	const char **names;
	int			i;

	if (n == 0)
		return mr_index_build(ctx, ix, NULL, 0);
	names = mr_salloc(ctx, sizeof(char *) * (size_t) n);
	if (names == NULL)
		return false;
	for (i = 0; i < n; i++)
		names[i] = *(const char *const *) ((const char *) array + stride * (size_t) i);
	return mr_index_build(ctx, ix, names, n);
}

/* ----------
 * Sections
 * ----------
 */

/* kind: licence | public_service | filing */
static bool
build_kind(MrCtx *ctx, MrService *svc, const MrYNode *val)
{
	char		buf[MR_EXCERPT_BYTES + 4];
	const char *guess;
	int			i;

	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) != MR_YV_TEXT)
		return type_error(ctx, "kind", val, "text");
	for (i = 0; i < lengthof(kind_names); i++)
	{
		if (strcmp(val->value, kind_names[i]) == 0)
		{
			svc->kind = (MrKind) i;
			return true;
		}
	}
	mr_fail_node(ctx, MR_ERR_RULE, val, "unknown kind \"%s\"",
				 mr_excerpt(buf, sizeof(buf), val->value, val->len));
	guess = mr_suggest(val->value, val->len, kind_names, lengthof(kind_names));
	if (guess != NULL)
		mr_hint(ctx, "Did you mean \"%s\"? The kind is one of licence, public_service, filing or policy.", guess);
	else
		mr_hint(ctx, "The kind is one of licence, public_service, filing or policy.");
	return false;
}

/* time_limit: statutory, promised, calendar, warn_at, extension (needs the kind) */
static bool
build_time_limit(MrCtx *ctx, MrService *svc, const MrYNode *map)
{
	const MrYNode *v;
	const MrYNode *k;
	const MrYNode *promised_node;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (map->type != MR_Y_MAPPING)
		return type_error(ctx, "time_limit", map, "a mapping");
	if (!mr_check_keys(ctx, map, time_limit_keys, lengthof(time_limit_keys), "time_limit"))
		return false;

	if ((v = map_require(ctx, map, "statutory", "time_limit", &k)) == NULL ||
		!get_int(ctx, "statutory", v, 0, &svc->statutory_days))
		return false;
	if ((v = map_require(ctx, map, "promised", "time_limit", &k)) == NULL ||
		!get_int(ctx, "promised", v, 0, &svc->promised_days))
		return false;
	promised_node = v;
	if (svc->promised_days > svc->statutory_days)
	{
		mr_fail_node(ctx, MR_ERR_RULE, promised_node,
					 "promised time limit (%d days) exceeds the statutory limit (%d days)",
					 svc->promised_days, svc->statutory_days);
		mr_hint(ctx, "The promised limit (承诺时限) may be shorter than the statutory limit (法定时限), never longer.");
		return false;
	}

	svc->calendar = "cn";
	if ((v = map_opt(map, "calendar", &k)) != NULL)
	{
		if (!get_text(ctx, "calendar", v, &svc->calendar))
			return false;
		if (!valid_calendar(v->value, v->len))
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "invalid calendar name \"%s\"",
						 mr_excerpt(buf, sizeof(buf), v->value, v->len));
			mr_hint(ctx, "A calendar name is lower-case letters, digits, \"_\" and \"-\", such as \"cn\".");
			return false;
		}
	}

	svc->warn_ratio = 0.9;
	if ((v = map_opt(map, "warn_at", &k)) != NULL)
	{
		MrYValue	t = (v->type == MR_Y_SCALAR) ? mr_yaml_value(v) : MR_YV_TEXT;
		double		x = 0;
		double		scale = 1;
		const char *p;
		bool		neg = false;
		bool		frac = false;

		if (v->type != MR_Y_SCALAR || (t != MR_YV_INT && t != MR_YV_DECIMAL))
			return type_error(ctx, "warn_at", v, "a number");
		/* locale-free conversion of [-+]digits[.digits] */
		p = v->value;
		if (*p == '-' || *p == '+')
			neg = (*p++ == '-');
		for (; *p; p++)
		{
			if (*p == '.')
			{
				frac = true;
				continue;
			}
			if (frac)
			{
				scale /= 10;
				x += (*p - '0') * scale;
			}
			else if (x < 1e6)
				x = x * 10 + (*p - '0');
		}
		if (neg)
			x = -x;
		if (!(x > 0 && x <= 1))
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "\"warn_at\" must be greater than 0 and at most 1");
			mr_hint(ctx, "Give the share of the time limit after which an application is flagged, such as 0.9.");
			return false;
		}
		svc->warn_ratio = x;
	}

	svc->extension_days = (svc->kind == MR_KIND_LICENCE) ? 10 : 0;
	if ((v = map_opt(map, "extension", &k)) != NULL)
	{
		if (!get_int(ctx, "extension", v, 0, &svc->extension_days))
			return false;
		if (svc->kind == MR_KIND_LICENCE && svc->extension_days > 10)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v,
						 "time limit extension of %d working days exceeds the 10 allowed for a licence",
						 svc->extension_days);
			mr_hint(ctx, "Article 42 of the 行政许可法 allows one extension of at most 10 working days.");
			return false;
		}
		if (svc->kind != MR_KIND_LICENCE && svc->extension_days > 0)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "kind %s has no time limit extension",
						 mr_kind_name(svc->kind));
			mr_hint(ctx, "Only a licence may be extended (行政许可法 art. 42); set extension to 0 or leave it out.");
			return false;
		}
	}
	return true;
}

/* Parse a field type string: int, decimal, numeric, ..., or "[T]" */
static bool
parse_field_type(const char *s, size_t len, MrType *type)
{
	static const MrTypeKind kinds[] = {
		MR_TYPE_INT, MR_TYPE_DECIMAL, MR_TYPE_DECIMAL, MR_TYPE_TEXT,
		MR_TYPE_BOOL, MR_TYPE_DATE, MR_TYPE_TIMESTAMP
	};
	bool		list = false;
	int			i;

	while (len > 0 && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
	{
		list = true;
		s++;
		len -= 2;
		while (len > 0 && (*s == ' ' || *s == '\t'))
			s++, len--;
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
	}
	for (i = 0; i < lengthof(type_names); i++)
	{
		if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
		{
			if (list)
			{
				type->kind = MR_TYPE_LIST;
				type->elem = kinds[i];
			}
			else
			{
				type->kind = kinds[i];
				type->elem = MR_TYPE_ANY;
			}
			return true;
		}
	}
	return false;
}

/* The type of one field, with a hint for the usual misspellings */
static bool
build_field_type(MrCtx *ctx, const char *fname, const MrYNode *val, MrType *type)
{
	char		buf[MR_EXCERPT_BYTES + 4];
	const char *guess;
	const char *inner;
	size_t		ilen;

	if (val->type != MR_Y_SCALAR || mr_yaml_value(val) != MR_YV_TEXT)
	{
		mr_fail_node(ctx, MR_ERR_RULE, val, "type of field \"%s\" must be text, not %s",
					 fname, mr_yaml_describe(val));
		if (val->type == MR_Y_SEQUENCE)
			mr_hint(ctx, "Quote list types: \"[text]\".");
		else
			mr_hint(ctx, "Field types are int, decimal, text, bool, date, timestamp, or a list such as \"[text]\".");
		return false;
	}
	if (parse_field_type(val->value, val->len, type))
		return true;
	mr_fail_node(ctx, MR_ERR_RULE, val, "unknown field type \"%s\"",
				 mr_excerpt(buf, sizeof(buf), val->value, val->len));
	inner = val->value;
	ilen = val->len;
	if (ilen >= 2 && inner[0] == '[' && inner[ilen - 1] == ']')
	{
		guess = mr_suggest(inner + 1, ilen - 2, type_names, lengthof(type_names));
		if (guess != NULL)
		{
			mr_hint(ctx, "Did you mean \"[%s]\"?", guess);
			return false;
		}
	}
	else if ((guess = mr_suggest(inner, ilen, type_names, lengthof(type_names))) != NULL)
	{
		mr_hint(ctx, "Did you mean \"%s\"?", guess);
		return false;
	}
	if (strcmp(val->value, "string") == 0 || strcmp(val->value, "str") == 0)
		mr_hint(ctx, "Did you mean \"text\"?");
	else if (strcmp(val->value, "integer") == 0)
		mr_hint(ctx, "Did you mean \"int\"?");
	else if (strcmp(val->value, "boolean") == 0)
		mr_hint(ctx, "Did you mean \"bool\"?");
	else
		mr_hint(ctx, "Field types are int, decimal, text, bool, date, timestamp, or a list such as \"[text]\".");
	return false;
}

/* fields: name -> type, or name -> {type, required} */
static bool
build_fields(MrCtx *ctx, MrService *svc, const MrYNode *map)
{
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];
	char		where[MR_MAX_NAME_BYTES + 16];

	if (map->type != MR_Y_MAPPING)
		return type_error(ctx, "fields", map, "a mapping");
	svc->nfields = map->n;
	if (map->n == 0)
		return true;
	svc->fields = mr_alloc(ctx, sizeof(MrField) * (size_t) map->n);
	if (svc->fields == NULL)
		return false;
	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];
		const MrYNode *v = map->items[2 * i + 1];
		MrField    *f = &svc->fields[i];

		if (!valid_code(k->value, k->len, true, false, true))
		{
			mr_fail_node(ctx, MR_ERR_RULE, k, "invalid field name \"%s\"",
						 mr_excerpt(buf, sizeof(buf), k->value, k->len));
			mr_hint(ctx, "A field name is lower-case letters, digits and underscores, starts with a letter or underscore, and has at most 63 bytes.");
			return false;
		}
		f->name = mr_strdup(ctx, k->value, k->len);
		if (f->name == NULL)
			return false;
		f->line = k->line;
		f->column = k->column;
		f->required = false;
		if (v->type == MR_Y_MAPPING)
		{
			const MrYNode *t;
			const MrYNode *r;
			const MrYNode *rk;

			snprintf(where, sizeof(where), "field \"%s\"", f->name);
			if (!mr_check_keys(ctx, v, field_keys, lengthof(field_keys), where))
				return false;
			if ((t = map_require(ctx, v, "type", where, NULL)) == NULL)
				return false;
			if (!build_field_type(ctx, f->name, t, &f->type))
				return false;
			if ((r = map_opt(v, "required", NULL)) != NULL && !get_bool(ctx, "required", r, &f->required))
				return false;
			if ((r = map_opt(v, "from", &rk)) != NULL && !mr_build_from(ctx, svc, f, rk, r))
				return false;
		}
		else if (!build_field_type(ctx, f->name, v, &f->type))
			return false;
	}
	return build_index(ctx, &ctx->fields, svc->fields, sizeof(MrField), svc->nfields) &&
		mr_compile_fetches(ctx, svc);
}

/* materials: name -> {required, or_licence}, or name -> bool */
static bool
build_materials(MrCtx *ctx, MrService *svc, const MrYNode *map)
{
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];
	char		where[MR_MAX_NAME_BYTES + 16];

	if (map->type != MR_Y_MAPPING)
		return type_error(ctx, "materials", map, "a mapping");
	svc->nmaterials = map->n;
	if (map->n == 0)
		return true;
	svc->materials = mr_alloc(ctx, sizeof(MrMaterial) * (size_t) map->n);
	if (svc->materials == NULL)
		return false;
	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];
		const MrYNode *v = map->items[2 * i + 1];
		MrMaterial *m = &svc->materials[i];

		if (!valid_code(k->value, k->len, true, true, false))
		{
			mr_fail_node(ctx, MR_ERR_RULE, k, "invalid material name \"%s\"",
						 mr_excerpt(buf, sizeof(buf), k->value, k->len));
			mr_hint(ctx, "A material name is lower-case letters, digits, \"_\" and \"-\", starts with a letter or digit, and has at most 63 bytes.");
			return false;
		}
		m->name = mr_strdup(ctx, k->value, k->len);
		if (m->name == NULL)
			return false;
		m->line = k->line;
		m->verify_within = -1;
		if (v->type == MR_Y_MAPPING)
		{
			const MrYNode *r;
			const MrYNode *ol;
			const MrYNode *olk;

			snprintf(where, sizeof(where), "material \"%s\"", m->name);
			if (!mr_check_keys(ctx, v, material_keys, lengthof(material_keys), where))
				return false;
			if ((r = map_opt(v, "required", NULL)) != NULL && !get_bool(ctx, "required", r, &m->required))
				return false;
			if ((ol = map_opt(v, "or_licence", &olk)) != NULL)
			{
				if (!get_text(ctx, "or_licence", ol, &m->or_licence))
					return false;
				if (!valid_licence_type(ctx, ol) ||
					!mr_add_licence_ref(ctx, svc, m->or_licence, ol->line, ol->column))
					return false;
			}
			if ((r = map_opt(v, "basis", NULL)) != NULL &&
				!get_name_text(ctx, "basis", r, &m->basis))
				return false;
			if (!mr_build_material_extras(ctx, svc, m, v))
				return false;
		}
		else if (v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_BOOL)
			m->required = (v->value[0] == 't' || v->value[0] == 'T');
		else
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "material \"%s\" must be a mapping or a boolean, not %s",
						 m->name, mr_yaml_describe(v));
			mr_hint(ctx, "Write {required: true}, or true for short.");
			return false;
		}
	}
	return build_index(ctx, &ctx->materials, svc->materials, sizeof(MrMaterial),
					   svc->nmaterials) &&
		mr_compile_waivers(ctx, svc);
}

/*
 * Compile one check's rule: parse, then type-check.  want_date: the
 * licence's valid_until, whose result is a date instead of a boolean.
 */
static bool
compile_expr(MrCtx *ctx, MrService *svc, MrCheck *check, const MrYNode *rule,
			 bool want_date)
{
	MrPNode    *tree;
	bool		ok;

	ctx->rule = check->rule;
	ctx->rule_len = rule->len;
	ctx->rule_line = rule->line;
	ctx->rule_column = rule->column;
	ctx->rule_content_column = rule->content_column;
	ctx->rule_exact = rule->exact;
	ctx->rule_block = rule->block_exact;
	ctx->rule_block_line = rule->block_line;
	ctx->rule_block_indent = rule->block_indent;

	tree = mr_parse_expr(ctx, check->rule, rule->len);
	ok = (tree != NULL) &&
		(want_date ? mr_typecheck_date(ctx, svc, check, tree)
		 : mr_typecheck_check(ctx, svc, check, tree));

	ctx->rule = NULL;
	ctx->rule_len = 0;
	return ok;
}

/* checks: each {id, rule, message, on_fail}, compiled as it is read */
static bool
build_checks(MrCtx *ctx, MrService *svc, const MrYNode *seq)
{
	int			i;
	int			j;
	char		buf[MR_EXCERPT_BYTES + 4];
	const char **ids;
	const MrYNode **idnodes;
	int		   *firstdup;

	if (seq->type != MR_Y_SEQUENCE)
		return type_error(ctx, "checks", seq, "a sequence");
	svc->nchecks = seq->n;
	if (seq->n == 0)
		return true;
	svc->checks = mr_alloc(ctx, sizeof(MrCheck) * (size_t) seq->n);
	ids = mr_salloc(ctx, sizeof(char *) * (size_t) seq->n);
	idnodes = mr_salloc(ctx, sizeof(MrYNode *) * (size_t) seq->n);
	firstdup = mr_salloc(ctx, sizeof(int) * (size_t) seq->n);
	if (svc->checks == NULL || ids == NULL || idnodes == NULL || firstdup == NULL)
		return false;

	/* find repeated ids up front, so that each is one lookup below */
	for (i = 0; i < seq->n; i++)
	{
		const MrYNode *item = seq->items[i];
		const MrYNode *v = (item->type == MR_Y_MAPPING) ? map_get(item, "id", NULL) : NULL;

		if (v != NULL && v->type == MR_Y_SCALAR)
		{
			ids[i] = v->value;
			idnodes[i] = v;
		}
	}
	if (!mr_find_duplicates(ctx, ids, seq->n, firstdup))
		return false;

	for (i = 0; i < seq->n; i++)
	{
		const MrYNode *item = seq->items[i];
		const MrYNode *v;
		const MrYNode *k;
		MrCheck    *c = &svc->checks[i];

		if (item->type != MR_Y_MAPPING)
		{
			mr_fail_node(ctx, MR_ERR_RULE, item, "each check must be a mapping, not %s",
						 mr_yaml_describe(item));
			mr_hint(ctx, "Write each check as \"- id: ...\" with rule and on_fail.");
			return false;
		}

		/* the id first, so that every later error names the check */
		if ((v = map_require(ctx, item, "id", "check", &k)) == NULL ||
			!get_text(ctx, "id", v, &c->id))
			return false;
		if (!valid_code(v->value, v->len, true, true, false))
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "invalid check id \"%s\"",
						 mr_excerpt(buf, sizeof(buf), v->value, v->len));
			mr_hint(ctx, "A check id is lower-case letters, digits, \"_\" and \"-\", starts with a letter or digit, and has at most 63 bytes.");
			return false;
		}
		if (strcmp(c->id, "invalid_payload") == 0 || strcmp(c->id, "missing_material") == 0 ||
			strcmp(c->id, "policy_open") == 0)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "check id \"%s\" is reserved", c->id);
			mr_hint(ctx, "The codes invalid_payload, missing_material and policy_open belong to the built-in checks.");
			return false;
		}
		if ((j = firstdup[i]) >= 0)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "duplicate check id \"%s\"", c->id);
			mr_hint(ctx, "The id is already used at line %d; check ids must be unique in a service.",
					idnodes[j]->line);
			return false;
		}
		ctx->check = c->id;
		c->line = item->line;
		c->column = item->column;

		if (!mr_check_keys(ctx, item, check_key_names, lengthof(check_key_names), "check"))
			return false;

		if ((v = map_opt(item, "message", NULL)) != NULL && !get_text(ctx, "message", v, &c->message))
			return false;
		if ((v = map_opt(item, "basis", NULL)) != NULL && !get_name_text(ctx, "basis", v, &c->basis))
			return false;

		if ((v = map_require(ctx, item, "on_fail", "check", NULL)) == NULL)
			return false;
		if (v->type != MR_Y_SCALAR || mr_yaml_value(v) != MR_YV_TEXT)
			return type_error(ctx, "on_fail", v, "text");
		if (strcmp(v->value, "reject") == 0)
			c->on_fail = MR_ON_FAIL_REJECT;
		else if (strcmp(v->value, "manual") == 0)
			c->on_fail = MR_ON_FAIL_MANUAL;
		else
		{
			const char *guess = mr_suggest(v->value, v->len, on_fail_names, 2);

			mr_fail_node(ctx, MR_ERR_RULE, v, "unknown on_fail \"%s\"",
						 mr_excerpt(buf, sizeof(buf), v->value, v->len));
			if (guess)
				mr_hint(ctx, "Did you mean \"%s\"? Use reject or manual.", guess);
			else
				mr_hint(ctx, "Use reject or manual.");
			return false;
		}

		if ((v = map_require(ctx, item, "rule", "check", NULL)) == NULL ||
			!get_text(ctx, "rule", v, &c->rule))
			return false;
		c->line = v->line;
		c->column = v->column;
		if (!compile_expr(ctx, svc, c, v, false))
			return false;
		if (c->nvars > svc->max_vars)
			svc->max_vars = c->nvars;
		ctx->check = NULL;
	}
	return build_index(ctx, &ctx->checks, svc->checks, sizeof(MrCheck), svc->nchecks);
}

/*
 * mr_add_licence_ref records a licence type the service relies on (through
 * or_licence or licence_valid), so that the linter can warn about a type
 * no loaded service issues.
 */
bool
mr_add_licence_ref(MrCtx *ctx, MrService *svc, const char *type, int line, int column)
{
	MrLicenceRef *refs;

	refs = mr_alloc(ctx, sizeof(MrLicenceRef) * (size_t) (svc->nlicence_refs + 1));
	if (refs == NULL)
		return false;
	if (svc->nlicence_refs > 0)
		memcpy(refs, svc->licence_refs, sizeof(MrLicenceRef) * (size_t) svc->nlicence_refs);
	refs[svc->nlicence_refs].type = type;
	refs[svc->nlicence_refs].line = line;
	refs[svc->nlicence_refs].column = column;
	svc->licence_refs = refs;
	svc->nlicence_refs++;
	return true;
}

/* Column of byte offset off inside a single-line scalar, else its start */
static int
scalar_column(const MrYNode *node, size_t off)
{
	if (node->exact)
		return node->content_column + (int) mr_utf8_chars(node->value, off);
	return node->column;
}

/*
 * Parse a licence number template into parts: literal text and the
 * placeholders {yyyy} {yy} {mm} {seq:N} {service}.  Exactly one {seq:N}
 * (1 <= N <= 12) and a year ({yyyy} or {yy}) are required, because numbers
 * count per type and year.
 */
static bool
parse_number(MrCtx *ctx, MrLicence *lic, const MrYNode *node)
{
	const char *s = node->value;
	size_t		len = node->len;
	size_t		i = 0;
	int			nseq = 0;
	bool		year = false;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (len > 64)
	{
		mr_fail_node(ctx, MR_ERR_RULE, node, "licence number template is longer than 64 bytes");
		mr_hint(ctx, "Keep licence numbers short, such as \"ZTBA-{yyyy}-{seq:6}\".");
		return false;
	}
	/* at most one part per byte */
	lic->parts = mr_alloc(ctx, sizeof(MrNumberPart) * (len + 1));
	if (lic->parts == NULL)
		return false;
	while (i < len)
	{
		MrNumberPart *part = &lic->parts[lic->nparts];

		if (s[i] == '{')
		{
			size_t		close = i + 1;
			const char *name;
			size_t		nlen;

			while (close < len && s[close] != '}' && s[close] != '{')
				close++;
			if (close >= len || s[close] != '}')
			{
				mr_fail(ctx, MR_ERR_RULE, node->line, scalar_column(node, i),
						"unclosed placeholder in licence number \"%s\"",
						mr_excerpt(buf, sizeof(buf), s, len));
				mr_hint(ctx, "Close each placeholder with \"}\", such as {seq:6}.");
				return false;
			}
			name = s + i + 1;
			nlen = close - i - 1;
			if (nlen == 4 && memcmp(name, "yyyy", 4) == 0)
				part->kind = MR_NUM_YYYY, year = true;
			else if (nlen == 2 && memcmp(name, "yy", 2) == 0)
				part->kind = MR_NUM_YY, year = true;
			else if (nlen == 2 && memcmp(name, "mm", 2) == 0)
				part->kind = MR_NUM_MM;
			else if (nlen == 7 && memcmp(name, "service", 7) == 0)
				part->kind = MR_NUM_SERVICE;
			else if (nlen >= 4 && memcmp(name, "seq:", 4) == 0)
			{
				int			w = 0;
				size_t		j;
				bool		digits = nlen > 4 && nlen <= 7;

				for (j = 4; j < nlen && digits; j++)
				{
					if (name[j] < '0' || name[j] > '9')
						digits = false;
					else
						w = w * 10 + (name[j] - '0');
				}
				if (!digits || w < 1 || w > MR_SEQ_MAX_WIDTH)
				{
					mr_fail(ctx, MR_ERR_RULE, node->line, scalar_column(node, i),
							"sequence width in {%s} must be between 1 and %d",
							mr_excerpt(buf, sizeof(buf), name, nlen), MR_SEQ_MAX_WIDTH);
					mr_hint(ctx, "Write {seq:N} with N the number of digits, such as {seq:6}.");
					return false;
				}
				if (++nseq > 1)
				{
					mr_fail(ctx, MR_ERR_RULE, node->line, scalar_column(node, i),
							"licence number has more than one {seq:N}");
					mr_hint(ctx, "A number has one sequence, counted per licence type and year.");
					return false;
				}
				part->kind = MR_NUM_SEQ;
				part->width = w;
				lic->seq_width = w;
			}
			else
			{
				const char *guess = mr_suggest(name, nlen, number_placeholders,
											   lengthof(number_placeholders));

				mr_fail(ctx, MR_ERR_RULE, node->line, scalar_column(node, i),
						"unknown placeholder {%s} in licence number",
						mr_excerpt(buf, sizeof(buf), name, nlen));
				if (guess != NULL)
					mr_hint(ctx, "Did you mean {%s}? Placeholders are {yyyy}, {yy}, {mm}, {seq:N} and {service}.", guess);
				else
					mr_hint(ctx, "Placeholders are {yyyy}, {yy}, {mm}, {seq:N} and {service}.");
				return false;
			}
			i = close + 1;
		}
		else if (s[i] == '}')
		{
			mr_fail(ctx, MR_ERR_RULE, node->line, scalar_column(node, i),
					"unmatched \"}\" in licence number \"%s\"",
					mr_excerpt(buf, sizeof(buf), s, len));
			mr_hint(ctx, "Braces only surround placeholders, such as {yyyy}.");
			return false;
		}
		else
		{
			size_t		j = i;

			while (j < len && s[j] != '{' && s[j] != '}')
				j++;
			part->kind = MR_NUM_LITERAL;
			part->text = mr_strdup(ctx, s + i, j - i);
			if (part->text == NULL)
				return false;
			i = j;
		}
		lic->nparts++;
	}
	if (nseq == 0 || !year)
	{
		mr_fail_node(ctx, MR_ERR_RULE, node, "licence number \"%s\" needs %s",
					 mr_excerpt(buf, sizeof(buf), s, len),
					 nseq == 0 ? "a {seq:N}" : "a year, {yyyy} or {yy}");
		mr_hint(ctx, "Numbers count per licence type and year, such as \"ZTBA-{yyyy}-{seq:6}\".");
		return false;
	}
	return true;
}

/* A licence type code: like a service code */
static bool
valid_licence_type(MrCtx *ctx, const MrYNode *v)
{
	char		buf[MR_EXCERPT_BYTES + 4];

	if (valid_code(v->value, v->len, true, true, false))
		return true;
	mr_fail_node(ctx, MR_ERR_RULE, v, "invalid licence type \"%s\"",
				 mr_excerpt(buf, sizeof(buf), v->value, v->len));
	mr_hint(ctx, "A licence type is lower-case letters, digits, \"_\" and \"-\", such as \"muck-transport-cert\".");
	return false;
}

/* licence.data: a sequence of declared payload fields */
static bool
build_licence_data(MrCtx *ctx, MrService *svc, MrLicence *lic, const MrYNode *seq)
{
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (seq->type != MR_Y_SEQUENCE)
		return type_error(ctx, "data", seq, "a sequence");
	lic->ndata = 0;
	lic->data = mr_alloc(ctx, sizeof(int) * (size_t) (seq->n + 1));
	if (lic->data == NULL)
		return false;
	for (i = 0; i < seq->n; i++)
	{
		const MrYNode *item = seq->items[i];
		int			f;
		int			j;

		if (item->type != MR_Y_SCALAR || mr_yaml_value(item) != MR_YV_TEXT)
			return type_error(ctx, "data", item, "text");
		f = mr_index_find(&ctx->fields, item->value, item->len);
		if (f < 0)
		{
			const char **cands = mr_salloc(ctx, sizeof(char *) * (size_t) (svc->nfields + 1));
			const char *guess;

			if (cands == NULL)
				return false;
			for (j = 0; j < svc->nfields; j++)
				cands[j] = svc->fields[j].name;
			mr_fail_node(ctx, MR_ERR_RULE, item, "licence data names unknown field \"%s\"",
						 mr_excerpt(buf, sizeof(buf), item->value, item->len));
			guess = mr_suggest(item->value, item->len, cands, svc->nfields);
			if (guess != NULL)
				mr_hint(ctx, "Did you mean \"%s\"?", guess);
			else
				mr_hint(ctx, "List payload fields declared under fields.");
			return false;
		}
		f = mr_field_index(svc, mr_strdup(ctx, item->value, item->len));
		for (j = 0; j < lic->ndata; j++)
			if (lic->data[j] == f)
			{
				mr_fail_node(ctx, MR_ERR_RULE, item, "field \"%s\" is listed twice in licence data",
							 svc->fields[f].name);
				return false;
			}
		lic->data[lic->ndata++] = f;
	}
	return true;
}

/* licence: the e-licence issued on approval */
static bool
build_licence(MrCtx *ctx, MrService *svc, const MrYNode *key, const MrYNode *map)
{
	const MrYNode *v;
	const MrYNode *days;
	const MrYNode *until;
	const MrYNode *tc;
	const MrYNode *ic;
	MrLicence  *lic;
	size_t		i;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (map->type != MR_Y_MAPPING)
		return type_error(ctx, "licence", map, "a mapping");
	if (!mr_check_keys(ctx, map, licence_keys, lengthof(licence_keys), "licence"))
		return false;
	lic = mr_alloc(ctx, sizeof(MrLicence));
	if (lic == NULL)
		return false;
	lic->line = key->line;
	lic->valid_days = -1;

	if ((v = map_require(ctx, map, "type", "licence", NULL)) == NULL ||
		!get_text(ctx, "type", v, &lic->type) || !valid_licence_type(ctx, v))
		return false;
	lic->name = svc->name;
	if ((v = map_opt(map, "name", NULL)) != NULL && !get_name_text(ctx, "name", v, &lic->name))
		return false;
	if ((v = map_require(ctx, map, "number", "licence", NULL)) == NULL ||
		!get_text(ctx, "number", v, &lic->number) || !parse_number(ctx, lic, v))
		return false;

	/* exactly one of valid_days and valid_until: never a licence without an end */
	days = map_opt(map, "valid_days", NULL);
	until = map_opt(map, "valid_until", NULL);
	if (days != NULL && until != NULL)
	{
		mr_fail_node(ctx, MR_ERR_RULE, until, "licence has both valid_days and valid_until");
		mr_hint(ctx, "Give the validity as a number of days or as a date expression, not both.");
		return false;
	}
	if (days == NULL && until == NULL)
	{
		mr_fail_node(ctx, MR_ERR_RULE, map, "licence needs valid_days or valid_until");
		mr_hint(ctx, "Every licence has an end date: valid_days: 365, or valid_until: payload.end_date.");
		return false;
	}
	if (days != NULL && !get_int(ctx, "valid_days", days, 1, &lic->valid_days))
		return false;
	if (until != NULL)
	{
		MrCheck    *c = mr_alloc(ctx, sizeof(MrCheck));

		if (c == NULL || !get_text(ctx, "valid_until", until, &c->rule))
			return false;
		c->id = "licence.valid_until";
		c->on_fail = MR_ON_FAIL_MANUAL;
		c->line = until->line;
		c->column = until->column;
		if (!compile_expr(ctx, svc, c, until, true))
			return false;
		if (c->nvars > svc->max_vars)
			svc->max_vars = c->nvars;
		lic->valid_until = c;
	}

	if ((v = map_opt(map, "data", NULL)) != NULL && !build_licence_data(ctx, svc, lic, v))
		return false;

	/* the GB/T 36904 identifier needs both codes */
	tc = map_opt(map, "type_code", NULL);
	ic = map_opt(map, "issuer_code", NULL);
	if (tc != NULL)
	{
		bool		ok;

		if (!get_text(ctx, "type_code", tc, &lic->type_code))
			return false;
		ok = (tc->len == MR_TYPE_CODE_LEN);
		for (i = 0; i < tc->len && ok; i++)
			ok = (tc->value[i] >= '0' && tc->value[i] <= '9') ||
				(tc->value[i] >= 'A' && tc->value[i] <= 'Z');
		if (!ok)
		{
			mr_fail_node(ctx, MR_ERR_RULE, tc, "malformed licence type_code \"%s\"",
						 mr_excerpt(buf, sizeof(buf), tc->value, tc->len));
			mr_hint(ctx, "A GB/T 36904 licence type code has 21 digits and upper-case letters, such as \"11100000000013338W032\".");
			return false;
		}
	}
	if (ic != NULL)
	{
		if (!get_text(ctx, "issuer_code", ic, &lic->issuer_code))
			return false;
		if (!mr_uscc_valid(ic->value, ic->len))
		{
			mr_fail_node(ctx, MR_ERR_RULE, ic, "issuer_code \"%s\" is not a valid unified social credit code",
						 mr_excerpt(buf, sizeof(buf), ic->value, ic->len));
			mr_hint(ctx, "Give the issuing agency's 18-character code (GB 32100), whose last character is its check character.");
			return false;
		}
	}
	if ((tc == NULL) != (ic == NULL))
	{
		mr_fail_node(ctx, MR_ERR_RULE, tc != NULL ? tc : ic, "licence has %s without %s",
					 tc != NULL ? "type_code" : "issuer_code",
					 tc != NULL ? "issuer_code" : "type_code");
		mr_hint(ctx, "The GB/T 36904 identifier needs both the licence type code and the issuer's code; give both or neither.");
		return false;
	}
	svc->licence = lic;
	return true;
}

/* renews: the licence type an approval of this service renews (art. 50) */
static bool
build_renews(MrCtx *ctx, MrService *svc, const MrYNode *v)
{
	if (!get_text(ctx, "renews", v, &svc->renews) || !valid_licence_type(ctx, v))
		return false;
	if (svc->licence == NULL || strcmp(svc->licence->type, svc->renews) != 0)
	{
		mr_fail_node(ctx, MR_ERR_RULE, v, "service renews \"%s\" but does not issue it",
					 svc->renews);
		mr_hint(ctx, "A renewal (行政许可法 art. 50) issues a new licence of the same type: add a licence section with type: %s.",
				svc->renews);
		return false;
	}
	return true;
}

/* The kind's full step sequence, without step limits */
static void
default_steps(MrService *svc, MrStep *steps)
{
	int			i;

	for (i = 0; i < kind_nsteps[svc->kind]; i++)
	{
		steps[i].step = (MrStepName) kind_steps[svc->kind][i];
		steps[i].name = step_names[steps[i].step];
		steps[i].limit_days = -1;
		steps[i].line = 0;
	}
	svc->nsteps = kind_nsteps[svc->kind];
	svc->steps = steps;
}

/* steps: a subsequence of the kind's steps that keeps decide and deliver */
static bool
build_steps(MrCtx *ctx, MrService *svc, const MrYNode *map)
{
	MrStep	   *steps;
	int			i;
	int			j;
	int			prev = -1;
	const char *prevname = NULL;
	bool		seen[4] = {false, false, false, false};
	char		buf[MR_EXCERPT_BYTES + 4];

	steps = mr_alloc(ctx, sizeof(MrStep) * 4);
	if (steps == NULL)
		return false;
	if (map == NULL)
	{
		default_steps(svc, steps);
		return true;
	}
	if (map->type != MR_Y_MAPPING)
		return type_error(ctx, "steps", map, "a mapping");

	svc->steps = steps;
	svc->nsteps = 0;
	for (i = 0; i < map->n; i++)
	{
		const MrYNode *k = map->items[2 * i];
		const MrYNode *v = map->items[2 * i + 1];
		int			step = -1;
		bool		in_kind = false;
		MrStep	   *s;

		for (j = 0; j < 4; j++)
			if (strlen(step_names[j]) == k->len && memcmp(step_names[j], k->value, k->len) == 0)
				step = j;
		if (step < 0)
		{
			const char *guess = mr_suggest(k->value, k->len, step_names, 4);

			mr_fail_node(ctx, MR_ERR_RULE, k, "unknown step \"%s\"",
						 mr_excerpt(buf, sizeof(buf), k->value, k->len));
			if (guess)
				mr_hint(ctx, "Did you mean \"%s\"? The steps of %s are %s.", guess,
						kind_article[svc->kind], kind_step_list[svc->kind]);
			else
				mr_hint(ctx, "The steps of %s are %s.", kind_article[svc->kind],
						kind_step_list[svc->kind]);
			return false;
		}
		for (j = 0; j < kind_nsteps[svc->kind]; j++)
			if (kind_steps[svc->kind][j] == step)
				in_kind = true;
		if (!in_kind)
		{
			mr_fail_node(ctx, MR_ERR_RULE, k, "kind %s has no step \"%s\"",
						 mr_kind_name(svc->kind), step_names[step]);
			if (svc->kind == MR_KIND_FILING)
				mr_hint(ctx, "A filing has at most 1+1 steps: decide and deliver.");
			else
				mr_hint(ctx, "A public service has at most 2+1 steps: accept, decide and deliver.");
			return false;
		}
		if (step <= prev)
		{
			mr_fail_node(ctx, MR_ERR_RULE, k, "step \"%s\" must come before \"%s\"",
						 step_names[step], prevname);
			mr_hint(ctx, "The steps of %s run in the order %s.", kind_article[svc->kind],
					kind_step_list[svc->kind]);
			return false;
		}
		prev = step;
		prevname = step_names[step];
		seen[step] = true;

		s = &steps[svc->nsteps++];
		s->step = (MrStepName) step;
		s->name = step_names[step];
		s->line = k->line;
		s->limit_days = -1;
		if (v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_NULL)
			continue;
		if (v->type != MR_Y_SCALAR || mr_yaml_value(v) != MR_YV_INT)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "step \"%s\" must be an integer or null, not %s",
						 step_names[step], mr_yaml_describe(v));
			mr_hint(ctx, "Give the step's limit in working days, or null for no limit of its own.");
			return false;
		}
		if (!get_int(ctx, step_names[step], v, 0, &s->limit_days))
			return false;
	}
	for (j = MR_STEP_DECIDE; j <= MR_STEP_DELIVER; j++)
	{
		if (!seen[j])
		{
			mr_fail_node(ctx, MR_ERR_RULE, map, "steps must include \"%s\"", step_names[j]);
			mr_hint(ctx, "A service may leave out accept or review, but never decide or deliver.");
			return false;
		}
	}
	return true;
}

/*
 * mr_build_service validates one document and returns its service, or
 * NULL with the error set.
 */
MrService *
mr_build_service(MrCtx *ctx, const MrYDoc *doc)
{
	const MrYNode *root = doc->root;
	const MrYNode *v;
	const MrYNode *k;
	MrService  *svc;
	char		buf[MR_EXCERPT_BYTES + 4];

	ctx->service = NULL;
	ctx->check = NULL;
	memset(&ctx->fields, 0, sizeof(MrNameIndex));
	memset(&ctx->materials, 0, sizeof(MrNameIndex));
	memset(&ctx->checks, 0, sizeof(MrNameIndex));
	ctx->pending_from = NULL;
	ctx->pending_waiver = NULL;
	if (root == NULL)
	{
		mr_fail(ctx, MR_ERR_RULE, doc->line, 1, "service document is empty");
		return NULL;
	}
	if (root->type != MR_Y_MAPPING)
	{
		mr_fail_node(ctx, MR_ERR_RULE, root, "service document must be a mapping, not %s",
					 mr_yaml_describe(root));
		mr_hint(ctx, "Each YAML document describes one service, starting with \"service: <code>\".");
		return NULL;
	}
	svc = mr_alloc(ctx, sizeof(MrService));
	if (svc == NULL)
		return NULL;
	svc->src_offset = doc->offset;
	svc->src_length = doc->length;
	svc->line = doc->line;

	/* name the service in every error, as early as we can */
	v = map_get(root, "service", NULL);
	if (v != NULL && v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_TEXT &&
		valid_code(v->value, v->len, false, true, false))
		ctx->service = v->value;

	if (!mr_check_keys(ctx, root, service_keys, lengthof(service_keys), "service document"))
		return NULL;

	if ((v = map_require(ctx, root, "service", "service document", &k)) == NULL ||
		!get_text(ctx, "service", v, &svc->code))
		return NULL;
	if (!valid_code(v->value, v->len, false, true, false))
	{
		mr_fail_node(ctx, MR_ERR_RULE, v, "invalid service code \"%s\"",
					 mr_excerpt(buf, sizeof(buf), v->value, v->len));
		mr_hint(ctx, "A service code is lower-case letters, digits and \"-\", starts with a letter or digit, and has at most 63 bytes.");
		return NULL;
	}
	ctx->service = svc->code;

	if ((v = map_require(ctx, root, "name", "service document", NULL)) == NULL ||
		!get_name_text(ctx, "name", v, &svc->name))
		return NULL;
	if ((v = map_opt(root, "department", NULL)) != NULL &&
		!get_text(ctx, "department", v, &svc->department))
		return NULL;
	if ((v = map_require(ctx, root, "kind", "service document", NULL)) == NULL ||
		!build_kind(ctx, svc, v))
		return NULL;
	if ((v = map_require(ctx, root, "time_limit", "service document", NULL)) == NULL ||
		!build_time_limit(ctx, svc, v))
		return NULL;
	svc->auto_approve = false;
	if ((v = map_opt(root, "auto_approve", NULL)) != NULL &&
		!get_bool(ctx, "auto_approve", v, &svc->auto_approve))
		return NULL;
	if ((v = map_opt(root, "fields", NULL)) != NULL && !build_fields(ctx, svc, v))
		return NULL;
	if ((v = map_opt(root, "materials", NULL)) != NULL && !build_materials(ctx, svc, v))
		return NULL;
	if ((v = map_opt(root, "checks", NULL)) != NULL && !build_checks(ctx, svc, v))
		return NULL;
	if ((v = map_opt(root, "licence", &k)) != NULL && !build_licence(ctx, svc, k, v))
		return NULL;
	if ((v = map_opt(root, "renews", &k)) != NULL && !build_renews(ctx, svc, v))
		return NULL;
	if (!mr_build_policy(ctx, svc, root))
		return NULL;
	if (!build_steps(ctx, svc, map_opt(root, "steps", NULL)))
		return NULL;
	if ((v = map_opt(root, "tests", NULL)) != NULL && !mr_build_tests(ctx, svc, v))
		return NULL;
	return svc;
}
