/*-------------------------------------------------------------------------
 *
 * error.c
 *	  Error values, allocation helpers and spelling suggestions for the
 *	  rule compiler.
 *
 * Errors are values: the first mr_fail* call of a compile fills the
 * caller's MrError, and later calls are ignored, so a caller that returns
 * false on failure can never overwrite the error that stopped the compile.
 * Messages follow the PostgreSQL style: lower-case, no trailing period;
 * hints are sentences.  User text quoted in a message is cut to a short
 * excerpt on a UTF-8 boundary, with control characters replaced, so that a
 * message is always valid UTF-8 on one line.
 *
 * IDENTIFICATION
 *	  extension/rules/error.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "mr_internal.h"

/* Cut a buffer that vsnprintf may have truncated back to whole characters */
static void
trim_utf8(char *buf, size_t buflen)
{
	size_t		len = strlen(buf);
	size_t		start;
	size_t		need;
	unsigned char c;

	if (len + 1 < buflen || len == 0)
		return;
	/* find the start of the last character */
	start = len;
	while (start > 0 && ((unsigned char) buf[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
	{
		buf[0] = '\0';
		return;
	}
	c = (unsigned char) buf[start - 1];
	if (c < 0x80)
		return;
	need = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : 2;
	if (len - (start - 1) < need)
		buf[start - 1] = '\0';
}

static bool mr_vfail(MrCtx *ctx, MrErrorKind kind, int line, int column,
					 int expr_column, const char *fmt, va_list ap) MR_PRINTF(6, 0);

/* Record an error unless one is already recorded */
static bool
mr_vfail(MrCtx *ctx, MrErrorKind kind, int line, int column, int expr_column,
		 const char *fmt, va_list ap)
{
	MrError    *err = ctx->err;

	if (ctx->failed)
	{
		ctx->hint_open = false;
		return false;
	}
	ctx->failed = true;
	ctx->hint_open = true;
	err->kind = kind;
	err->line = line;
	err->column = column;
	err->expr_column = expr_column;
	if (ctx->service != NULL && strlen(ctx->service) <= MR_MAX_NAME_BYTES)
		strcpy(err->service, ctx->service);
	if (ctx->check != NULL && strlen(ctx->check) <= MR_MAX_NAME_BYTES)
		strcpy(err->check, ctx->check);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	trim_utf8(err->message, sizeof(err->message));
	err->hint[0] = '\0';
	return false;
}

/*
 * mr_fail records an error at a 1-based line and column (0 if unknown) and
 * returns false.
 */
bool
mr_fail(MrCtx *ctx, MrErrorKind kind, int line, int column, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	mr_vfail(ctx, kind, line, column, 0, fmt, ap);
	va_end(ap);
	return false;
}

/*
 * mr_fail_node records an error at a YAML node.
 */
bool
mr_fail_node(MrCtx *ctx, MrErrorKind kind, const MrYNode *node, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	mr_vfail(ctx, kind, node ? node->line : 0, node ? node->column : 0, 0, fmt, ap);
	va_end(ap);
	return false;
}

/*
 * mr_expr_position maps byte offset pos of the rule being compiled to a
 * file line and column.  When the rule scalar is the literal source text
 * on one line, or a literal block ("|") whose lines are the source lines,
 * that is the exact character; otherwise it is the start of the scalar.
 */
void
mr_expr_position(const MrCtx *ctx, int pos, int *line, int *column)
{
	*line = ctx->rule_line;
	*column = ctx->rule_column;
	if (pos < 0)
		pos = 0;
	if ((size_t) pos > ctx->rule_len)
		pos = (int) ctx->rule_len;
	if (ctx->rule_exact)
		*column = ctx->rule_content_column + (int) mr_utf8_chars(ctx->rule, (size_t) pos);
	else if (ctx->rule_block)
	{
		/* line k of a literal block is source line block_line + k */
		int			i;
		int			linestart = 0;

		*line = ctx->rule_block_line;
		for (i = 0; i < pos; i++)
		{
			if (ctx->rule[i] == '\n')
			{
				(*line)++;
				linestart = i + 1;
			}
		}
		*column = ctx->rule_block_indent + 1 +
			(int) mr_utf8_chars(ctx->rule + linestart, (size_t) (pos - linestart));
	}
}

/*
 * mr_fail_expr records an error at byte offset pos of the rule being
 * compiled, with expr_column = pos + 1 and the file position from
 * mr_expr_position.
 */
bool
mr_fail_expr(MrCtx *ctx, MrErrorKind kind, int pos, const char *fmt,...)
{
	va_list		ap;
	int			line;
	int			column;

	if (pos < 0)
		pos = 0;
	if ((size_t) pos > ctx->rule_len)
		pos = (int) ctx->rule_len;
	mr_expr_position(ctx, pos, &line, &column);
	va_start(ap, fmt);
	mr_vfail(ctx, kind, line, column, pos + 1, fmt, ap);
	va_end(ap);
	return false;
}

/*
 * mr_hint sets the hint of the error just recorded.
 */
void
mr_hint(MrCtx *ctx, const char *fmt,...)
{
	va_list		ap;

	if (!ctx->hint_open)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx->err->hint, sizeof(ctx->err->hint), fmt, ap);
	va_end(ap);
	trim_utf8(ctx->err->hint, sizeof(ctx->err->hint));
}

/*
 * mr_fail_nomem records an out-of-memory error.
 */
bool
mr_fail_nomem(MrCtx *ctx)
{
	return mr_fail(ctx, MR_ERR_NOMEM, 0, 0, "out of memory");
}

/*
 * mr_alloc allocates zeroed memory in the result arena; on failure it
 * records MR_ERR_NOMEM and returns NULL.
 */
void *
mr_alloc(MrCtx *ctx, size_t size)
{
	void	   *p = mr_arena_alloc(ctx->arena, size);

	if (p == NULL)
		mr_fail_nomem(ctx);
	return p;
}

/*
 * mr_salloc is mr_alloc for the scratch arena.
 */
void *
mr_salloc(MrCtx *ctx, size_t size)
{
	void	   *p = mr_arena_alloc(ctx->scratch, size);

	if (p == NULL)
		mr_fail_nomem(ctx);
	return p;
}

/*
 * mr_strdup copies len bytes into the result arena and NUL-terminates them.
 */
char *
mr_strdup(MrCtx *ctx, const char *s, size_t len)
{
	char	   *p = mr_arena_strndup(ctx->arena, s, len);

	if (p == NULL)
		mr_fail_nomem(ctx);
	return p;
}

/*
 * mr_count_node charges one node against MR_MAX_NODES.  pos >= 0 places
 * the error inside the current rule, otherwise at line and column.
 */
bool
mr_count_node(MrCtx *ctx, int line, int column, int pos)
{
	if (++ctx->nodes <= MR_MAX_NODES)
		return true;
	if (pos >= 0)
		mr_fail_expr(ctx, MR_ERR_LIMIT, pos,
					 "rule source is too complex (more than %d YAML and expression nodes)",
					 MR_MAX_NODES);
	else
		mr_fail(ctx, MR_ERR_LIMIT, line, column,
				"rule source is too complex (more than %d YAML and expression nodes)",
				MR_MAX_NODES);
	mr_hint(ctx, "Split the source into several loads.");
	return false;
}

/* Optimal string alignment distance, capped: returns 3 for anything > 2 */
static int
edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	int			d[3][65];
	size_t		i,
				j;
	int			rowmin;

	if (alen > 64 || blen > 64)
		return 3;
	if ((alen > blen ? alen - blen : blen - alen) > 2)
		return 3;
	for (j = 0; j <= blen; j++)
		d[0][j] = (int) j;
	for (i = 1; i <= alen; i++)
	{
		int		   *cur = d[i % 3];
		int		   *prev = d[(i - 1) % 3];
		int		   *prev2 = d[(i + 1) % 3];

		cur[0] = (int) i;
		rowmin = cur[0];
		for (j = 1; j <= blen; j++)
		{
			int			cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
			int			v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
				prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
			if (v < rowmin)
				rowmin = v;
		}
		if (rowmin > 2)
			return 3;
	}
	return d[alen % 3][blen] > 2 ? 3 : d[alen % 3][blen];
}

/*
 * mr_suggest returns the candidate closest to word within edit distance 2
 * (a transposition counts as one edit), or NULL.  Very short words only
 * get suggestions that differ by one edit, so "x" does not become "id".
 */
const char *
mr_suggest(const char *word, size_t len, const char *const *cands, int ncands)
{
	const char *best = NULL;
	int			bestd = 3;
	int			i;

	for (i = 0; i < ncands; i++)
	{
		size_t		clen = strlen(cands[i]);
		size_t		longer = clen > len ? clen : len;
		int			d = edit_distance(word, len, cands[i], clen);

		if (d == 0 || d > 2 || (size_t) (2 * d) > longer)
			continue;
		if (d < bestd)
		{
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

/*
 * mr_excerpt copies user text for quoting in a message: at most
 * MR_EXCERPT_BYTES bytes, cut on a character boundary and followed by
 * "..." when cut, with control characters shown as '?'.  buf must hold
 * MR_EXCERPT_BYTES + 4 bytes.
 */
const char *
mr_excerpt(char *buf, size_t buflen, const char *s, size_t len)
{
	size_t		n = 0;
	size_t		i = 0;
	bool		cut = false;

	if (buflen < MR_EXCERPT_BYTES + 4)
	{
		if (buflen > 0)
			buf[0] = '\0';
		return buf;
	}
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		w = 1;

		if (c >= 0xF0)
			w = 4;
		else if (c >= 0xE0)
			w = 3;
		else if (c >= 0xC0)
			w = 2;
		if (i + w > len || n + w > MR_EXCERPT_BYTES)
		{
			cut = (i < len);
			break;
		}
		if (w == 1)
			buf[n++] = (c < 0x20 || c == 0x7F || c >= 0x80) ? '?' : (char) c;
		else
		{
			size_t		k;
			bool		ok = true;

			for (k = 1; k < w; k++)
				if (((unsigned char) s[i + k] & 0xC0) != 0x80)
					ok = false;
			if (ok)
			{
				memcpy(buf + n, s + i, w);
				n += w;
			}
			else
			{
				buf[n++] = '?';
				w = 1;
			}
		}
		i += w;
	}
	if (cut)
	{
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/*
 * mr_utf8_chars counts the characters in the first len bytes of s (which
 * libyaml has already validated), as libyaml counts columns.
 */
size_t
mr_utf8_chars(const char *s, size_t len)
{
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/*
 * mr_utf8_valid checks that s is well-formed UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
bool
mr_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
		{
			if (i + 1 >= len || (p[i + 1] & 0xC0) != 0x80)
				return false;
			i += 2;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			if (i + 2 >= len || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80)
				return false;
			if (c == 0xE0 && p[i + 1] < 0xA0)
				return false;
			if (c == 0xED && p[i + 1] >= 0xA0)
				return false;
			i += 3;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			if (i + 3 >= len || (p[i + 1] & 0xC0) != 0x80 ||
				(p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80)
				return false;
			if (c == 0xF0 && p[i + 1] < 0x90)
				return false;
			if (c == 0xF4 && p[i + 1] >= 0x90)
				return false;
			i += 4;
		}
		else
			return false;
	}
	return true;
}
