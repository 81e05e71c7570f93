/*-------------------------------------------------------------------------
 *
 * doctests.c
 *	  The tests: section of a service document, and payloads as JSON.
 *
 * A test is an application the host submits (without storing it) when the
 * rules load; a test whose decision differs from expect refuses the load.
 * This file only validates the tests and renders each payload mapping as
 * JSON text for the host's jsonb input function.
 *
 * Payload scalars follow the same resolution lists as the rest of the
 * document (mr_yaml_value): plain true/false spellings become JSON
 * booleans, null spellings null, [-+]?[0-9]+ and [-+]?[0-9]+.[0-9]+
 * numbers (normalised to JSON syntax: no '+', no leading zeros), and
 * everything else, including every quoted scalar, a JSON string.  So a
 * plain 2026-12-01 is the string "2026-12-01", which the host reads as a
 * date where the field is declared as one.
 *
 * IDENTIFICATION
 *	  extension/rules/doctests.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr_internal.h"

static const char *const test_keys[] = {
	"name", "applicant", "payload", "materials", "licences", "commitments", "channel",
	"now", "expect", "failed"
};
static const char *const applicant_keys[] = {"id", "name"};
static const char *const expect_names[] = {"approve", "reject", "manual"};

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* A growable malloc'd text buffer; oom is sticky */
typedef struct JsonBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} JsonBuf;

/* Append n bytes, growing the buffer by doubling */
static void
buf_append(JsonBuf *buf, const char *s, size_t n)
{
	if (buf->oom)
		return;
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		cap = buf->cap ? buf->cap : 256;
		char	   *p;

		while (buf->len + n + 1 > cap)
		{
			if (cap > ((size_t) -1) / 2)
			{
				buf->oom = true;
				return;
			}
			cap *= 2;
		}
		p = realloc(buf->data, cap);
		if (p == NULL)
		{
			buf->oom = true;
			return;
		}
		buf->data = p;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, s, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

/* Append a C string */
static void
buf_puts(JsonBuf *buf, const char *s)
{
	buf_append(buf, s, strlen(s));
}

/* A JSON string literal; the text is valid UTF-8 (libyaml checked it) */
static void
json_string(JsonBuf *buf, const char *s, size_t len)
{
	size_t		i;
	size_t		start = 0;
	char		esc[8];

	buf_puts(buf, "\"");
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		const char *rep = NULL;

		switch (c)
		{
			case '"':
				rep = "\\\"";
				break;
			case '\\':
				rep = "\\\\";
				break;
			case '\n':
				rep = "\\n";
				break;
			case '\r':
				rep = "\\r";
				break;
			case '\t':
				rep = "\\t";
				break;
			case '\b':
				rep = "\\b";
				break;
			case '\f':
				rep = "\\f";
				break;
			default:
				if (c < 0x20)
				{
					snprintf(esc, sizeof(esc), "\\u%04x", c);
					rep = esc;
				}
				break;
		}
		if (rep != NULL)
		{
			buf_append(buf, s + start, i - start);
			buf_puts(buf, rep);
			start = i + 1;
		}
	}
	buf_append(buf, s + start, len - start);
	buf_puts(buf, "\"");
}

/* A YAML number in JSON syntax: drop '+' and leading zeros */
static void
json_number(JsonBuf *buf, const char *s, size_t len)
{
	size_t		i = 0;

	if (s[0] == '-')
	{
		buf_puts(buf, "-");
		i++;
	}
	else if (s[0] == '+')
		i++;
	while (i + 1 < len && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9')
		i++;
	buf_append(buf, s + i, len - i);
}

/* Render a YAML node as JSON (depth is bounded by MR_MAX_YAML_DEPTH) */
static void
json_node(JsonBuf *buf, const MrYNode *node)
{
	int			i;

	switch (node->type)
	{
		case MR_Y_MAPPING:
			buf_puts(buf, "{");
			for (i = 0; i < node->n; i++)
			{
				if (i > 0)
					buf_puts(buf, ", ");
				json_string(buf, node->items[2 * i]->value, node->items[2 * i]->len);
				buf_puts(buf, ": ");
				json_node(buf, node->items[2 * i + 1]);
			}
			buf_puts(buf, "}");
			return;
		case MR_Y_SEQUENCE:
			buf_puts(buf, "[");
			for (i = 0; i < node->n; i++)
			{
				if (i > 0)
					buf_puts(buf, ", ");
				json_node(buf, node->items[i]);
			}
			buf_puts(buf, "]");
			return;
		case MR_Y_SCALAR:
			break;
	}
	switch (mr_yaml_value(node))
	{
		case MR_YV_NULL:
			buf_puts(buf, "null");
			break;
		case MR_YV_BOOL:
			buf_puts(buf, (node->value[0] == 't' || node->value[0] == 'T') ? "true" : "false");
			break;
		case MR_YV_INT:
		case MR_YV_DECIMAL:
			json_number(buf, node->value, node->len);
			break;
		case MR_YV_TEXT:
			json_string(buf, node->value, node->len);
			break;
	}
}

/* Render a payload mapping as JSON text in the result arena */
static const char *
render_payload(MrCtx *ctx, const MrYNode *map)
{
	JsonBuf		buf;
	const char *out;

	memset(&buf, 0, sizeof(buf));
	json_node(&buf, map);
	if (buf.oom)
	{
		free(buf.data);
		mr_fail_nomem(ctx);
		return NULL;
	}
	out = mr_strdup(ctx, buf.data, buf.len);
	free(buf.data);
	return out;
}

/* A required or optional text entry */
static bool
test_text(MrCtx *ctx, const MrYNode *map, const char *key, const char *where,
		  bool required, const char **out)
{
	const MrYNode *v = NULL;
	const MrYNode *k;
	char		buf[MR_EXCERPT_BYTES + 4];
	int			i;
	bool		null_value;

	*out = NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->value, key) == 0)
			v = map->items[2 * i + 1];
	k = v;
	null_value = (v != NULL && v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_NULL);
	if (v == NULL || (null_value && !required))
	{
		if (required)
			return mr_fail_node(ctx, MR_ERR_RULE, map, "missing required key \"%s\" in %s", key, where);
		return true;
	}
	if (k->type != MR_Y_SCALAR || mr_yaml_value(k) != MR_YV_TEXT)
	{
		mr_fail_node(ctx, MR_ERR_RULE, k, "\"%s\" must be text, not %s", key, mr_yaml_describe(k));
		if (k->type == MR_Y_SCALAR && !null_value)
			mr_hint(ctx, "Quote the value to make it text: \"%s\".",
					mr_excerpt(buf, sizeof(buf), k->value, k->len));
		return false;
	}
	*out = mr_strdup(ctx, k->value, k->len);
	return *out != NULL;
}

/* A sequence of text, e.g. materials: [a, b] */
static bool
test_text_list(MrCtx *ctx, const char *key, const MrYNode *seq, int *n, const char ***out)
{
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];

	*n = 0;
	*out = NULL;
	if (seq->type != MR_Y_SEQUENCE)
		return mr_fail_node(ctx, MR_ERR_RULE, seq, "\"%s\" must be a sequence of text, not %s",
							key, mr_yaml_describe(seq));
	if (seq->n == 0)
		return true;
	*out = mr_alloc(ctx, sizeof(char *) * (size_t) seq->n);
	if (*out == NULL)
		return false;
	for (i = 0; i < seq->n; i++)
	{
		const MrYNode *item = seq->items[i];

		if (item->type != MR_Y_SCALAR || mr_yaml_value(item) != MR_YV_TEXT)
		{
			mr_fail_node(ctx, MR_ERR_RULE, item, "each item of \"%s\" must be text, not %s",
						 key, mr_yaml_describe(item));
			if (item->type == MR_Y_SCALAR)
				mr_hint(ctx, "Quote the value to make it text: \"%s\".",
						mr_excerpt(buf, sizeof(buf), item->value, item->len));
			return false;
		}
		(*out)[i] = mr_strdup(ctx, item->value, item->len);
		if ((*out)[i] == NULL)
			return false;
	}
	*n = seq->n;
	return true;
}

/* Value of a key, null counting as absent */
static const MrYNode *
test_get(const MrYNode *map, const char *key)
{
	int			i;

	for (i = 0; i < map->n; i++)
	{
		const MrYNode *v = map->items[2 * i + 1];

		if (strcmp(map->items[2 * i]->value, key) == 0)
			return (v->type == MR_Y_SCALAR && mr_yaml_value(v) == MR_YV_NULL) ? NULL : v;
	}
	return NULL;
}

/* Check that every id in failed names a check of the service or a code */
static bool
check_failed_ids(MrCtx *ctx, const MrService *svc, const MrYNode *seq, const MrTest *t)
{
	int			i;
	int			j;
	char		buf[MR_EXCERPT_BYTES + 4];

	for (i = 0; i < t->nfailed; i++)
	{
		const char *id = t->failed[i];
		size_t		len = strlen(id);
		const char *guess;
		const char **cands;

		if (strcmp(id, "invalid_payload") == 0 || strcmp(id, "missing_material") == 0 ||
			(svc->kind == MR_KIND_POLICY && strcmp(id, "policy_open") == 0) ||
			mr_index_find(&ctx->checks, id, len) >= 0)
			continue;
		mr_fail_node(ctx, MR_ERR_RULE, seq->items[i], "unknown check id \"%s\" in failed",
					 mr_excerpt(buf, sizeof(buf), id, len));
		/* suggest among check ids and the two built-in codes */
		cands = mr_salloc(ctx, sizeof(char *) * (size_t) (svc->nchecks + 2));
		if (cands == NULL)
			return false;
		for (j = 0; j < svc->nchecks; j++)
			cands[j] = svc->checks[j].id;
		cands[j++] = "invalid_payload";
		cands[j++] = "missing_material";
		guess = mr_suggest(id, len, cands, j);
		if (guess)
			mr_hint(ctx, "Did you mean \"%s\"?", guess);
		else
			mr_hint(ctx, "List ids of this service's checks, or invalid_payload or missing_material.");
		return false;
	}
	return true;
}

/*
 * mr_build_tests validates the tests: sequence of a service (its checks are
 * already built) and fills svc->tests.
 */
bool
mr_build_tests(MrCtx *ctx, MrService *svc, const MrYNode *seq)
{
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (seq->type != MR_Y_SEQUENCE)
	{
		mr_fail_node(ctx, MR_ERR_RULE, seq, "\"tests\" must be a sequence, not %s",
					 mr_yaml_describe(seq));
		return false;
	}
	svc->ntests = seq->n;
	if (seq->n == 0)
		return true;
	svc->tests = mr_alloc(ctx, sizeof(MrTest) * (size_t) seq->n);
	if (svc->tests == NULL)
		return false;
	for (i = 0; i < seq->n; i++)
	{
		const MrYNode *item = seq->items[i];
		const MrYNode *v;
		MrTest	   *t = &svc->tests[i];
		int			j;
		bool		found;

		if (item->type != MR_Y_MAPPING)
		{
			mr_fail_node(ctx, MR_ERR_RULE, item, "each test must be a mapping, not %s",
						 mr_yaml_describe(item));
			return false;
		}
		t->line = item->line;
		if (!mr_check_keys(ctx, item, test_keys, lengthof(test_keys), "test"))
			return false;
		if (!test_text(ctx, item, "name", "test", true, &t->name))
			return false;

		/* applicant: {id, name} */
		for (j = 0, v = NULL; j < item->n; j++)
			if (strcmp(item->items[2 * j]->value, "applicant") == 0)
				v = item->items[2 * j + 1];
		if (v == NULL)
			return mr_fail_node(ctx, MR_ERR_RULE, item, "missing required key \"applicant\" in test");
		if (v->type != MR_Y_MAPPING)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "\"applicant\" must be a mapping, not %s",
						 mr_yaml_describe(v));
			mr_hint(ctx, "Write applicant: {id: ..., name: ...}.");
			return false;
		}
		if (!mr_check_keys(ctx, v, applicant_keys, lengthof(applicant_keys), "applicant"))
			return false;
		if (!test_text(ctx, v, "id", "applicant", true, &t->applicant_id) ||
			!test_text(ctx, v, "name", "applicant", false, &t->applicant_name))
			return false;

		v = test_get(item, "payload");
		if (v == NULL)
			t->payload_json = "{}";
		else if (v->type != MR_Y_MAPPING)
		{
			mr_fail_node(ctx, MR_ERR_RULE, v, "\"payload\" must be a mapping, not %s",
						 mr_yaml_describe(v));
			return false;
		}
		else if ((t->payload_json = render_payload(ctx, v)) == NULL)
			return false;

		if ((v = test_get(item, "materials")) != NULL &&
			!test_text_list(ctx, "materials", v, &t->nmaterials, &t->materials))
			return false;
		/* the licence types the applicant holds, valid, in this test */
		if ((v = test_get(item, "licences")) != NULL &&
			!test_text_list(ctx, "licences", v, &t->nlicences, &t->licences))
			return false;
		if ((v = test_get(item, "commitments")) != NULL &&
			!test_text_list(ctx, "commitments", v, &t->ncommitments, &t->commitments))
			return false;
		if (!test_text(ctx, item, "channel", "test", false, &t->channel) ||
			!test_text(ctx, item, "now", "test", false, &t->now))
			return false;

		for (j = 0, v = NULL; j < item->n; j++)
			if (strcmp(item->items[2 * j]->value, "expect") == 0)
				v = item->items[2 * j + 1];
		if (v == NULL)
			return mr_fail_node(ctx, MR_ERR_RULE, item, "missing required key \"expect\" in test");
		if (v->type != MR_Y_SCALAR || mr_yaml_value(v) != MR_YV_TEXT)
			return mr_fail_node(ctx, MR_ERR_RULE, v, "\"expect\" must be text, not %s",
								mr_yaml_describe(v));
		found = false;
		for (j = 0; j < lengthof(expect_names); j++)
		{
			if (strcmp(v->value, expect_names[j]) == 0)
			{
				t->expect = (MrExpect) j;
				found = true;
			}
		}
		if (!found)
		{
			const char *guess = mr_suggest(v->value, v->len, expect_names, lengthof(expect_names));

			mr_fail_node(ctx, MR_ERR_RULE, v, "unknown expect \"%s\"",
						 mr_excerpt(buf, sizeof(buf), v->value, v->len));
			if (guess)
				mr_hint(ctx, "Did you mean \"%s\"? Use approve, reject or manual.", guess);
			else
				mr_hint(ctx, "Use approve, reject or manual.");
			return false;
		}

		if ((v = test_get(item, "failed")) != NULL)
		{
			t->has_failed = true;
			if (!test_text_list(ctx, "failed", v, &t->nfailed, &t->failed) ||
				!check_failed_ids(ctx, svc, v, t))
				return false;
		}
	}
	return true;
}
