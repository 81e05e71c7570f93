/*-------------------------------------------------------------------------
 *
 * yaml.c
 *	  Parse a rule source with libyaml's event API into a node tree.
 *
 * We never use yaml_parser_load: the document API registers anchors before
 * their children, so "&a [*a]" becomes a cyclic graph, and aliases expand
 * into billion-laughs bombs.  Instead each event becomes a node in the
 * scratch arena and is deleted at once.  The tree is plain data with
 * 1-based lines and columns (libyaml's marks are 0-based and count
 * characters, not bytes); nothing of libyaml survives this file.
 *
 * Refused here, because rules never need them and each is an attack or a
 * trap: anchors and aliases, explicit tags, collections nested deeper than
 * MR_MAX_YAML_DEPTH (counted on *_START events, since libyaml 0.2.5 has no
 * limit of its own), scalars longer than MR_MAX_SCALAR_BYTES or containing
 * NUL, non-scalar mapping keys and duplicate mapping keys (libyaml does not
 * detect them).
 *
 * Each document's byte range is recorded so that the host can store the
 * text of one service.  The ranges partition the source: a document runs
 * from the end of the previous one to its own end, and the last one to the
 * end of the source, so comments travel with the document above them.
 *
 * Scalars are untyped in the tree; mr_yaml_value resolves a plain scalar's
 * meaning from explicit lists of spellings (YAML 1.2 core schema subset).
 *
 * IDENTIFICATION
 *	  extension/rules/yaml.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "mr_internal.h"

typedef struct YamlState
{
	MrCtx	   *ctx;
	/* libyaml marks count characters; this cursor maps them to bytes */
	size_t		cur_char;
	size_t		cur_byte;
	/* open collections */
	int			depth;
	MrYNode    *stack[MR_MAX_YAML_DEPTH];
	MrYNode    *head[MR_MAX_YAML_DEPTH];	/* first child */
	MrYNode    *tail[MR_MAX_YAML_DEPTH];	/* last child */
	/* documents */
	MrYDoc	   *docs;
	MrYDoc	   *last;
	int			ndocs;
	size_t		prev_end;		/* byte offset where the last document ended */
} YamlState;

/* Map a libyaml character index to a byte offset in the source */
static size_t
byte_offset(YamlState *st, size_t char_index)
{
	const unsigned char *s = (const unsigned char *) st->ctx->src;
	size_t		len = st->ctx->srclen;

	while (st->cur_char < char_index && st->cur_byte < len)
	{
		unsigned char c = s[st->cur_byte];
		size_t		w = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC0) ? 2 : 1;

		st->cur_byte += w;
		if (st->cur_byte > len)
			st->cur_byte = len;
		st->cur_char++;
	}
	while (st->cur_char > char_index && st->cur_byte > 0)
	{
		st->cur_byte--;
		while (st->cur_byte > 0 && (s[st->cur_byte] & 0xC0) == 0x80)
			st->cur_byte--;
		st->cur_char--;
	}
	return st->cur_byte;
}

/* 1-based line and column of a byte offset (for libyaml reader errors) */
static void
offset_position(const MrCtx *ctx, size_t offset, int *line, int *column)
{
	size_t		i;
	int			l = 1;
	int			c = 1;

	if (offset > ctx->srclen)
		offset = ctx->srclen;
	for (i = 0; i < offset; i++)
	{
		unsigned char ch = (unsigned char) ctx->src[i];

		if (ch == '\n' || (ch == '\r' && (i + 1 >= ctx->srclen || ctx->src[i + 1] != '\n')))
		{
			l++;
			c = 1;
		}
		else if (ch != '\r' && (ch & 0xC0) != 0x80)
			c++;
	}
	*line = l;
	*column = c;
}

/* Turn libyaml's error state into an MrError */
static void
parser_error(MrCtx *ctx, const yaml_parser_t *parser)
{
	int			line;
	int			column;
	const char *problem = parser->problem ? parser->problem : "unknown error";

	switch (parser->error)
	{
		case YAML_MEMORY_ERROR:
			mr_fail_nomem(ctx);
			return;
		case YAML_READER_ERROR:
			offset_position(ctx, parser->problem_offset, &line, &column);
			mr_fail(ctx, MR_ERR_YAML, line, column, "invalid YAML: %s", problem);
			mr_hint(ctx, "Rule files must be UTF-8 text without control characters.");
			return;
		default:
			mr_fail(ctx, MR_ERR_YAML, (int) parser->problem_mark.line + 1,
					(int) parser->problem_mark.column + 1, "invalid YAML: %s", problem);
			if (parser->context != NULL)
			{
				const char *what = parser->context;

				/* "while parsing a flow sequence" -> "the flow sequence" */
				if (strncmp(what, "while parsing ", 14) == 0)
					what += 14;
				else if (strncmp(what, "while scanning ", 15) == 0)
					what += 15;
				if (strncmp(what, "a ", 2) == 0)
					what += 2;
				else if (strncmp(what, "an ", 3) == 0)
					what += 3;
				mr_hint(ctx, "Check the %s that starts at line %d, column %d.", what,
						(int) parser->context_mark.line + 1,
						(int) parser->context_mark.column + 1);
			}
			return;
	}
}

/* Refuse anchors and tags on a node event */
static bool
check_properties(YamlState *st, const yaml_mark_t *mark, const yaml_char_t *anchor,
				 const yaml_char_t *tag)
{
	char		buf[MR_EXCERPT_BYTES + 4];

	if (anchor != NULL)
	{
		mr_fail(st->ctx, MR_ERR_YAML, (int) mark->line + 1, (int) mark->column + 1,
				"anchors are not allowed in rule files (found \"&%s\")",
				mr_excerpt(buf, sizeof(buf), (const char *) anchor, strlen((const char *) anchor)));
		mr_hint(st->ctx, "Write the value out in full; anchors and aliases are refused because they can expand without limit.");
		return false;
	}
	if (tag != NULL)
	{
		mr_fail(st->ctx, MR_ERR_YAML, (int) mark->line + 1, (int) mark->column + 1,
				"explicit tags are not allowed in rule files (found \"%s\")",
				mr_excerpt(buf, sizeof(buf), (const char *) tag, strlen((const char *) tag)));
		mr_hint(st->ctx, "Remove the tag; quote a value to make it text.");
		return false;
	}
	return true;
}

/* Allocate a node at a mark */
static MrYNode *
new_node(YamlState *st, MrYType type, const yaml_mark_t *mark)
{
	MrYNode    *node;

	if (!mr_count_node(st->ctx, (int) mark->line + 1, (int) mark->column + 1, -1))
		return NULL;
	node = mr_salloc(st->ctx, sizeof(MrYNode));
	if (node == NULL)
		return NULL;
	node->type = type;
	node->line = (int) mark->line + 1;
	node->column = (int) mark->column + 1;
	return node;
}

/* Attach a finished or opening node to its parent, or make it the root */
static bool
attach(YamlState *st, MrYNode *node)
{
	MrYNode    *parent;
	int			d = st->depth - 1;

	if (st->depth == 0)
	{
		if (st->last == NULL)
			return true;		/* cannot happen: nodes live in documents */
		st->last->root = node;
		return true;
	}
	parent = st->stack[d];
	if (parent->type == MR_Y_MAPPING && parent->n % 2 == 0 && node->type != MR_Y_SCALAR)
	{
		mr_fail_node(st->ctx, MR_ERR_YAML, node, "mapping keys must be scalars");
		mr_hint(st->ctx, "Use a plain name as the key.");
		return false;
	}
	if (st->tail[d] == NULL)
		st->head[d] = node;
	else
		st->tail[d]->next = node;
	st->tail[d] = node;
	parent->n++;
	return true;
}

/* Order mapping keys by value, then by position */
static int
key_cmp(const void *a, const void *b)
{
	const MrYNode *ka = *(const MrYNode *const *) a;
	const MrYNode *kb = *(const MrYNode *const *) b;
	size_t		n = ka->len < kb->len ? ka->len : kb->len;
	int			c = memcmp(ka->value, kb->value, n);

	if (c != 0)
		return c;
	if (ka->len != kb->len)
		return ka->len < kb->len ? -1 : 1;
	if (ka->line != kb->line)
		return ka->line < kb->line ? -1 : 1;
	if (ka->column != kb->column)
		return ka->column < kb->column ? -1 : 1;
	return 0;
}

/* Report the earliest repeated key of a finished mapping */
static bool
check_duplicates(YamlState *st, MrYNode *map)
{
	MrYNode   **keys;
	MrYNode    *dup = NULL;
	MrYNode    *first = NULL;
	int			i;
	char		buf[MR_EXCERPT_BYTES + 4];

	if (map->n < 2)
		return true;
	keys = mr_salloc(st->ctx, sizeof(MrYNode *) * (size_t) map->n);
	if (keys == NULL)
		return false;
	for (i = 0; i < map->n; i++)
		keys[i] = map->items[2 * i];
	qsort(keys, (size_t) map->n, sizeof(MrYNode *), key_cmp);
	for (i = 1; i < map->n; i++)
	{
		if (keys[i]->len == keys[i - 1]->len &&
			memcmp(keys[i]->value, keys[i - 1]->value, keys[i]->len) == 0)
		{
			/* keys[i - 1] is the first of its group only if not preceded */
			if (i >= 2 && keys[i - 2]->len == keys[i]->len &&
				memcmp(keys[i - 2]->value, keys[i]->value, keys[i]->len) == 0)
				continue;
			if (dup == NULL || keys[i]->line < dup->line ||
				(keys[i]->line == dup->line && keys[i]->column < dup->column))
			{
				dup = keys[i];
				first = keys[i - 1];
			}
		}
	}
	if (dup == NULL)
		return true;
	mr_fail_node(st->ctx, MR_ERR_YAML, dup, "duplicate key \"%s\"",
				 mr_excerpt(buf, sizeof(buf), dup->value, dup->len));
	mr_hint(st->ctx, "The key is already used at line %d, column %d.", first->line, first->column);
	return false;
}

/* Close the innermost collection: children list to array, then checks */
static bool
close_collection(YamlState *st)
{
	int			d = st->depth - 1;
	MrYNode    *node = st->stack[d];
	MrYNode    *child;
	int			i = 0;

	if (node->n > 0)
	{
		node->items = mr_salloc(st->ctx, sizeof(MrYNode *) * (size_t) node->n);
		if (node->items == NULL)
			return false;
		for (child = st->head[d]; child != NULL; child = child->next)
			node->items[i++] = child;
	}
	st->depth--;
	if (node->type == MR_Y_MAPPING)
	{
		node->n /= 2;			/* libyaml always pairs keys with values */
		if (!check_duplicates(st, node))
			return false;
	}
	return true;
}

/*
 * For a literal block scalar, check that value line k is source line
 * (header line + 1 + k) minus a fixed indentation, so that errors inside a
 * multi-line rule can point at the exact character.  header is the byte
 * offset of the "|" indicator.
 */
static void
map_literal_block(YamlState *st, MrYNode *node, size_t header)
{
	const char *src = st->ctx->src;
	size_t		srclen = st->ctx->srclen;
	const char *v = node->value;
	size_t		vlen = node->len;
	size_t		p = header;
	size_t		vpos = 0;
	long		indent = -1;

	/* skip the rest of the header line */
	while (p < srclen && src[p] != '\n')
		p++;
	if (p >= srclen)
		return;
	p++;

	/* every value line but the empty tail after a final newline */
	while (vpos < vlen)
	{
		const char *nl = memchr(v + vpos, '\n', vlen - vpos);
		size_t		seglen = nl ? (size_t) (nl - (v + vpos)) : vlen - vpos;
		size_t		eol = p;
		size_t		linelen;
		size_t		i;

		if (p > srclen)
			return;
		while (eol < srclen && src[eol] != '\n')
			eol++;
		linelen = eol - p;
		if (linelen > 0 && src[p + linelen - 1] == '\r')
			linelen--;
		if (seglen == 0)
		{
			for (i = 0; i < linelen; i++)
				if (src[p + i] != ' ')
					return;
		}
		else
		{
			if (indent < 0)
			{
				if (linelen < seglen)
					return;
				indent = (long) (linelen - seglen);
			}
			if (linelen != (size_t) indent + seglen)
				return;
			for (i = 0; i < (size_t) indent; i++)
				if (src[p + i] != ' ')
					return;
			if (memcmp(src + p + indent, v + vpos, seglen) != 0)
				return;
		}
		vpos += seglen + (nl ? 1 : 0);
		p = eol + 1;
	}
	if (indent < 0)
		return;
	node->block_exact = true;
	node->block_line = node->line + 1;
	node->block_indent = (int) indent;
}

/* Build a scalar node from its event */
static bool
add_scalar(YamlState *st, const yaml_event_t *ev)
{
	MrCtx	   *ctx = st->ctx;
	MrYNode    *node;
	const char *value = (const char *) ev->data.scalar.value;
	size_t		len = ev->data.scalar.length;

	if (!check_properties(st, &ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag))
		return false;
	if (len > MR_MAX_SCALAR_BYTES)
	{
		mr_fail(ctx, MR_ERR_LIMIT, (int) ev->start_mark.line + 1, (int) ev->start_mark.column + 1,
				"scalar is too long (%lu bytes; the limit is %d)",
				(unsigned long) len, MR_MAX_SCALAR_BYTES);
		return false;
	}
	if (len > 0 && memchr(value, '\0', len) != NULL)
	{
		mr_fail(ctx, MR_ERR_YAML, (int) ev->start_mark.line + 1, (int) ev->start_mark.column + 1,
				"scalar contains a NUL character");
		mr_hint(ctx, "Remove the \\0 escape; rule text cannot contain NUL.");
		return false;
	}
	node = new_node(st, MR_Y_SCALAR, &ev->start_mark);
	if (node == NULL)
		return false;
	switch (ev->data.scalar.style)
	{
		case YAML_SINGLE_QUOTED_SCALAR_STYLE:
			node->style = MR_Y_SINGLE_QUOTED;
			break;
		case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
			node->style = MR_Y_DOUBLE_QUOTED;
			break;
		case YAML_LITERAL_SCALAR_STYLE:
			node->style = MR_Y_LITERAL;
			break;
		case YAML_FOLDED_SCALAR_STYLE:
			node->style = MR_Y_FOLDED;
			break;
		default:
			node->style = MR_Y_PLAIN;
			break;
	}
	node->value = mr_arena_strndup(ctx->scratch, value, len);
	if (node->value == NULL)
		return mr_fail_nomem(ctx);
	node->len = len;

	/*
	 * A one-line plain or quoted scalar whose value is the source text
	 * itself lets errors inside a rule point at the exact character.
	 */
	node->content_column = node->column;
	if (ev->start_mark.line == ev->end_mark.line &&
		(node->style == MR_Y_PLAIN || node->style == MR_Y_SINGLE_QUOTED ||
		 node->style == MR_Y_DOUBLE_QUOTED))
	{
		size_t		start = byte_offset(st, ev->start_mark.index);

		if (node->style != MR_Y_PLAIN)
		{
			start++;
			node->content_column++;
		}
		if (start <= ctx->srclen && len <= ctx->srclen - start &&
			memcmp(ctx->src + start, value, len) == 0)
			node->exact = true;
	}
	else if (node->style == MR_Y_LITERAL)
		map_literal_block(st, node, byte_offset(st, ev->start_mark.index));
	return attach(st, node);
}

/* Open a sequence or mapping */
static bool
open_collection(YamlState *st, const yaml_event_t *ev, MrYType type)
{
	MrYNode    *node;
	const yaml_char_t *anchor;
	const yaml_char_t *tag;

	if (type == MR_Y_MAPPING)
	{
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	else
	{
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	if (!check_properties(st, &ev->start_mark, anchor, tag))
		return false;
	if (st->depth >= MR_MAX_YAML_DEPTH)
	{
		mr_fail(st->ctx, MR_ERR_LIMIT, (int) ev->start_mark.line + 1,
				(int) ev->start_mark.column + 1,
				"nesting is deeper than %d levels", MR_MAX_YAML_DEPTH);
		mr_hint(st->ctx, "Rule documents need only a few levels of nesting.");
		return false;
	}
	node = new_node(st, type, &ev->start_mark);
	if (node == NULL)
		return false;
	if (!attach(st, node))
		return false;
	st->stack[st->depth] = node;
	st->head[st->depth] = NULL;
	st->tail[st->depth] = NULL;
	st->depth++;
	return true;
}

/* Handle one event; *done is set at the end of the stream */
static bool
handle_event(YamlState *st, const yaml_event_t *ev, bool *done)
{
	MrCtx	   *ctx = st->ctx;
	MrYDoc	   *doc;
	size_t		end;

	switch (ev->type)
	{
		case YAML_STREAM_START_EVENT:
		case YAML_NO_EVENT:
			return true;
		case YAML_STREAM_END_EVENT:
			if (st->last != NULL)
				st->last->length = ctx->srclen - st->last->offset;
			*done = true;
			return true;
		case YAML_DOCUMENT_START_EVENT:
			doc = mr_salloc(ctx, sizeof(MrYDoc));
			if (doc == NULL)
				return false;
			doc->offset = st->prev_end;
			doc->line = (int) ev->start_mark.line + 1;
			if (st->last == NULL)
				st->docs = doc;
			else
				st->last->next = doc;
			st->last = doc;
			st->ndocs++;
			return true;
		case YAML_DOCUMENT_END_EVENT:
			end = byte_offset(st, ev->end_mark.index);
			if (st->last != NULL && end >= st->last->offset)
			{
				st->last->length = end - st->last->offset;
				st->prev_end = end;
			}
			return true;
		case YAML_ALIAS_EVENT:
			mr_fail(ctx, MR_ERR_YAML, (int) ev->start_mark.line + 1,
					(int) ev->start_mark.column + 1, "aliases are not allowed in rule files");
			mr_hint(ctx, "Write the value out in full; anchors and aliases are refused because they can expand without limit.");
			return false;
		case YAML_SCALAR_EVENT:
			return add_scalar(st, ev);
		case YAML_SEQUENCE_START_EVENT:
			return open_collection(st, ev, MR_Y_SEQUENCE);
		case YAML_MAPPING_START_EVENT:
			return open_collection(st, ev, MR_Y_MAPPING);
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (st->depth == 0)
				return true;	/* cannot happen with a conforming parser */
			return close_collection(st);
	}
	return true;
}

/*
 * mr_yaml_parse parses ctx->src into a list of documents, or returns NULL
 * with the error set.  A source without documents returns NULL without an
 * error and *ndocs = 0.
 */
MrYDoc *
mr_yaml_parse(MrCtx *ctx, int *ndocs)
{
	yaml_parser_t parser;
	yaml_event_t event;
	YamlState	st;
	MrYDoc	   *doc;
	size_t		bom = 0;
	bool		done = false;
	bool		ok = false;

	*ndocs = 0;
	memset(&st, 0, sizeof(st));
	memset(&event, 0, sizeof(event));
	st.ctx = ctx;

	/*
	 * libyaml 0.2.5 with an explicit encoding counts a byte order mark as a
	 * column, so the first line's mapping ends at the second line.  Parse
	 * after the BOM; the first document still starts at byte 0.
	 */
	if (ctx->srclen >= 3 && memcmp(ctx->src, "\xEF\xBB\xBF", 3) == 0)
	{
		bom = 3;
		ctx->src += bom;
		ctx->srclen -= bom;
	}

	if (!yaml_parser_initialize(&parser))
	{
		ctx->src -= bom;
		ctx->srclen += bom;
		mr_fail_nomem(ctx);
		return NULL;
	}
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *) ctx->src, ctx->srclen);

	while (!done)
	{
		if (!yaml_parser_parse(&parser, &event))
		{
			parser_error(ctx, &parser);
			goto error;
		}
		if (!handle_event(&st, &event, &done))
			goto error;
		yaml_event_delete(&event);
	}
	ok = true;

error:
	yaml_event_delete(&event);
	yaml_parser_delete(&parser);
	ctx->src -= bom;
	ctx->srclen += bom;
	if (!ok)
		return NULL;
	for (doc = st.docs; doc != NULL; doc = doc->next)
	{
		if (doc == st.docs)
			doc->length += bom;
		else
			doc->offset += bom;
	}
	*ndocs = st.ndocs;
	return st.docs;
}

/*
 * mr_yaml_value resolves what a scalar means.  Quoted and block scalars
 * are always text; plain scalars follow explicit spelling lists.
 */
MrYValue
mr_yaml_value(const MrYNode *node)
{
	const char *v = node->value;
	size_t		len = node->len;
	size_t		i = 0;
	size_t		digits;

	if (node->style != MR_Y_PLAIN)
		return MR_YV_TEXT;
	if (len == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
		strcmp(v, "NULL") == 0 || strcmp(v, "~") == 0)
		return MR_YV_NULL;
	if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0 ||
		strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
		return MR_YV_BOOL;
	if (v[0] == '-' || v[0] == '+')
		i++;
	digits = i;
	while (i < len && v[i] >= '0' && v[i] <= '9')
		i++;
	if (i == digits)
		return MR_YV_TEXT;
	if (i == len)
		return MR_YV_INT;
	if (v[i] != '.')
		return MR_YV_TEXT;
	i++;
	digits = i;
	while (i < len && v[i] >= '0' && v[i] <= '9')
		i++;
	if (i == digits || i != len)
		return MR_YV_TEXT;
	return MR_YV_DECIMAL;
}

/*
 * mr_yaml_describe names what a node is, for "must be X, not Y" messages.
 */
const char *
mr_yaml_describe(const MrYNode *node)
{
	if (node->type == MR_Y_MAPPING)
		return "a mapping";
	if (node->type == MR_Y_SEQUENCE)
		return "a sequence";
	switch (mr_yaml_value(node))
	{
		case MR_YV_NULL:
			return "null";
		case MR_YV_BOOL:
			return "a boolean";
		case MR_YV_INT:
			return "an integer";
		case MR_YV_DECIMAL:
			return "a decimal number";
		case MR_YV_TEXT:
			break;
	}
	return "text";
}

/*
 * mr_yaml_parse_int converts an integer scalar; false if it is not one or
 * does not fit in int64.
 */
bool
mr_yaml_parse_int(const MrYNode *node, int64_t *out)
{
	const char *v = node->value;
	bool		neg = false;
	uint64_t	acc = 0;
	uint64_t	limit;

	if (node->type != MR_Y_SCALAR || mr_yaml_value(node) != MR_YV_INT)
		return false;
	if (*v == '-' || *v == '+')
		neg = (*v++ == '-');
	limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
	for (; *v; v++)
	{
		unsigned	d = (unsigned) (*v - '0');

		if (acc > (limit - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	if (neg)
		*out = (acc == (uint64_t) INT64_MAX + 1) ? INT64_MIN : -(int64_t) acc;
	else
		*out = (int64_t) acc;
	return true;
}
