/*-------------------------------------------------------------------------
 *
 * fuzz_rules.c
 *	  libFuzzer target for the rule compiler (extension/rules/).
 *
 * The first byte picks the mode:
 *
 * - even: the whole input is a YAML rule source (run-fuzz prefixes YAML
 *	 seeds with a newline, an even byte, so they stay valid YAML);
 * - odd: the rest of the input is the rule of one check inside a fixed,
 *	 valid service document, embedded as a literal block scalar, so that
 *	 the fuzzer spends its time in the expression lexer, parser and type
 *	 checker instead of in YAML syntax.  Control characters that would end
 *	 the block are blanked out.
 *
 * No resolver is passed, as in the linter.  Besides crashes, leaks and
 * undefined behaviour (the sanitizers), the target checks invariants of the
 * result: an error is fully formed (kind set, message lower-case without a
 * trailing period, on one line and valid UTF-8, hint a sentence, positions
 * inside the source); a compiled program has node positions inside its
 * rule, variable slots below nvars, lookups indexed consistently, and a
 * boolean (or unresolved) result type.  A violation aborts.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_rules.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
			abort(); \
		} \
	} while (0)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc_head[] =
"service: fuzz-service\n"
"name: 模糊测试\n"
"kind: licence\n"
"time_limit: {statutory: 20, promised: 10}\n"
"fields:\n"
"  n: int\n"
"  d: decimal\n"
"  t: text\n"
"  b: bool\n"
"  day: date\n"
"  ts: timestamp\n"
"  li: \"[int]\"\n"
"  ld: \"[decimal]\"\n"
"  lt: \"[text]\"\n"
"  lb: \"[bool]\"\n"
"  ldate: \"[date]\"\n"
"  lts: \"[timestamp]\"\n"
"materials:\n"
"  m1: true\n"
"  m2: {required: false}\n"
"checks:\n"
"  - id: c\n"
"    on_fail: reject\n"
"    rule: |2-\n";

static const char doc_tail[] =
"tests:\n"
"  - name: t\n"
"    applicant: {id: x}\n"
"    expect: manual\n"
"    failed: [c]\n";

/* Is s[0..len) valid UTF-8?  (A small copy: mr_utf8_valid is internal.) */
static int
utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		size_t		w;
		size_t		k;

		if (p[i] < 0x80)
		{
			i++;
			continue;
		}
		if (p[i] >= 0xC2 && p[i] <= 0xDF)
			w = 2;
		else if (p[i] >= 0xE0 && p[i] <= 0xEF)
			w = 3;
		else if (p[i] >= 0xF0 && p[i] <= 0xF4)
			w = 4;
		else
			return 0;
		if (i + w > len)
			return 0;
		for (k = 1; k < w; k++)
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
		i += w;
	}
	return 1;
}

static void
check_text(const char *s, size_t bufsize, int message)
{
	size_t		len = strnlen(s, bufsize);

	CHECK(len < bufsize);
	CHECK(utf8_ok(s, len));
	CHECK(strchr(s, '\n') == NULL);
	if (message)
	{
		CHECK(len > 0);
		CHECK(!(s[0] >= 'A' && s[0] <= 'Z'));
		CHECK(s[len - 1] != '.');
	}
	else if (len > 0)
	{
		CHECK(!(s[0] >= 'a' && s[0] <= 'z'));
		CHECK(s[len - 1] == '.' || s[len - 1] == '?');
	}
}

static void
check_error(const MrError *err, const char *src, size_t len)
{
	size_t		lines = 1;
	size_t		i;

	CHECK(err->kind != MR_ERR_NONE);
	check_text(err->message, sizeof(err->message), 1);
	check_text(err->hint, sizeof(err->hint), 0);
	CHECK(strnlen(err->service, sizeof(err->service)) < sizeof(err->service));
	CHECK(strnlen(err->check, sizeof(err->check)) < sizeof(err->check));
	/* libyaml also breaks lines at CR, NEL, LS and PS; over-count them */
	for (i = 0; i < len; i++)
		if (src[i] == '\n' || src[i] == '\r' || (unsigned char) src[i] == 0x85 ||
			(unsigned char) src[i] == 0xA8 || (unsigned char) src[i] == 0xA9)
			lines++;
	CHECK(err->line >= 0 && (size_t) err->line <= lines + 1);
	CHECK(err->column >= 0);
	CHECK(err->line == 0 || err->column > 0);
	CHECK(err->expr_column >= 0 && err->expr_column <= 65537);
}

static void
check_expr(const MrExpr *e, const MrService *svc, const MrCheck *c, size_t rulelen, int depth)
{
	char		buf[32];
	int			i;

	CHECK(e != NULL);
	CHECK(depth <= MR_MAX_EXPR_DEPTH + 1);
	CHECK(e->pos >= 0 && e->len >= 0 && (size_t) e->pos + (size_t) e->len <= rulelen);
	CHECK(e->nargs >= 0 && (e->nargs == 0 || e->args != NULL));
	CHECK(mr_type_name(e->type, buf, sizeof(buf)) == buf && buf[0] != '\0');
	switch (e->kind)
	{
		case MR_E_TEXT:
		case MR_E_DECIMAL:
			CHECK(e->u.str.s != NULL && strlen(e->u.str.s) == e->u.str.len);
			break;
		case MR_E_FIELD:
			CHECK(e->u.field >= 0 && e->u.field < svc->nfields);
			break;
		case MR_E_VAR:
			CHECK(e->u.var >= 0 && e->u.var < c->nvars && e->u.var < MR_MAX_VARS);
			break;
		case MR_E_CALL:
			CHECK(strcmp(mr_func_name(e->u.func), "unknown") != 0);
			CHECK(e->var < c->nvars);
			if (e->var >= 0)
				CHECK(e->nargs == 2);
			break;
		case MR_E_EXISTS:
		case MR_E_LOOKUP:
			CHECK(e->u.lookup != NULL);
			CHECK(e->u.lookup->index >= 0 && e->u.lookup->index < svc->nlookups);
			CHECK(svc->lookups[e->u.lookup->index] == e->u.lookup);
			CHECK(e->u.lookup->table != NULL && e->u.lookup->nconds >= 1);
			CHECK((e->kind == MR_E_LOOKUP) == (e->u.lookup->column != NULL));
			CHECK(strcmp(e->u.lookup->check, c->id) == 0);
			for (i = 0; i < e->u.lookup->nconds; i++)
			{
				CHECK(e->u.lookup->conds[i].column != NULL);
				CHECK(e->u.lookup->conds[i].op >= MR_E_EQ && e->u.lookup->conds[i].op <= MR_E_GE);
				check_expr(e->u.lookup->conds[i].value, svc, c, rulelen, depth + 1);
			}
			break;
		default:
			break;
	}
	for (i = 0; i < e->nargs; i++)
		check_expr(e->args[i], svc, c, rulelen, depth + 1);
}

static void
check_ruleset(const MrRuleset *rs, size_t len)
{
	int			s;
	int			i;

	CHECK(rs->nservices > 0);
	for (s = 0; s < rs->nservices; s++)
	{
		const MrService *svc = rs->services[s];

		CHECK(svc->code != NULL && svc->code[0] != '\0' && strlen(svc->code) <= MR_MAX_NAME_BYTES);
		CHECK(svc->name != NULL);
		CHECK(svc->promised_days <= svc->statutory_days);
		CHECK(svc->src_offset <= len && svc->src_length <= len - svc->src_offset);
		CHECK(svc->nsteps >= 2 && svc->nsteps <= 4);
		CHECK(svc->max_vars >= 0 && svc->max_vars <= MR_MAX_VARS);
		CHECK(strcmp(mr_kind_name(svc->kind), "unknown") != 0);
		for (i = 0; i < svc->nfields; i++)
			CHECK(mr_field_index(svc, svc->fields[i].name) <= i);
		for (i = 0; i < svc->nchecks; i++)
		{
			const MrCheck *c = &svc->checks[i];

			CHECK(c->expr != NULL && c->rule != NULL);
			CHECK(c->nvars >= 0 && c->nvars <= svc->max_vars);
			CHECK(c->expr->type.kind == MR_TYPE_BOOL || c->expr->type.kind == MR_TYPE_ANY);
			check_expr(c->expr, svc, c, strlen(c->rule), 0);
		}
		for (i = 0; i < svc->nlookups; i++)
			CHECK(svc->lookups[i] != NULL && svc->lookups[i]->index == i);
		for (i = 0; i < svc->ntests; i++)
		{
			CHECK(svc->tests[i].payload_json != NULL && svc->tests[i].payload_json[0] == '{');
			CHECK(svc->tests[i].applicant_id != NULL);
		}
	}
}

/* Build the one-check document around an expression */
static char *
embed_rule(const uint8_t *rule, size_t rlen, size_t *outlen)
{
	size_t		cap = sizeof(doc_head) + sizeof(doc_tail) + 8 * (rlen + 1);
	char	   *out = malloc(cap);
	size_t		n = 0;
	size_t		i;

	if (out == NULL)
		return NULL;
	memcpy(out, doc_head, sizeof(doc_head) - 1);
	n = sizeof(doc_head) - 1;
	memcpy(out + n, "      ", 6);
	n += 6;
	for (i = 0; i < rlen; i++)
	{
		unsigned char c = rule[i];

		if (c == '\n')
		{
			memcpy(out + n, "\n      ", 7);
			n += 7;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7F)
			c = ' ';
		out[n++] = (char) c;
	}
	out[n++] = '\n';
	memcpy(out + n, doc_tail, sizeof(doc_tail) - 1);
	n += sizeof(doc_tail) - 1;
	*outlen = n;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MrArena    *arena;
	MrRuleset  *rs;
	MrError		err;
	char	   *src;
	size_t		len;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
	{
		src = malloc(size);
		if (src == NULL)
			return 0;
		memcpy(src, data, size);
		len = size;
	}
	else
	{
		src = embed_rule(data + 1, size - 1, &len);
		if (src == NULL)
			return 0;
	}

	arena = mr_arena_create();
	if (arena == NULL)
	{
		free(src);
		return 0;
	}
	memset(&err, 0x7F, sizeof(err));	/* mr_compile must set all of it */
	rs = mr_compile(arena, src, len, NULL, &err);
	if (rs == NULL)
		check_error(&err, src, len);
	else
	{
		CHECK(err.kind == MR_ERR_NONE);
		check_ruleset(rs, len);
	}
	mr_arena_destroy(arena);
	free(src);
	return 0;
}
