/*-------------------------------------------------------------------------
 *
 * expr_parse.c
 *	  Lexer and recursive-descent parser for check expressions.
 *
 * The parser turns a rule into an untyped parse tree (MrPNode, in the
 * scratch arena); typecheck.c resolves names and builds the typed MrExpr
 * program from it.  Precedence, low to high:
 *
 *		or
 *		and
 *		not
 *		== != < <= > >= in		(non-associative)
 *		+ -
 *		* / %
 *		unary -
 *		postfix .name and [index]
 *
 * Untrusted input is bounded twice: the recursion depth of the parser and
 * the height of the tree it builds are both capped at MR_MAX_EXPR_DEPTH, so
 * neither the type checker nor the host's evaluator, which recurse over the
 * tree, can be driven into a deep stack by a rule such as ten thousand
 * nested parentheses or a chain of ten thousand "+".
 *
 * Every node records its byte range in the rule for error positions.
 * Messages follow PostgreSQL's "syntax error at or near" form.
 *
 * IDENTIFICATION
 *	  extension/rules/expr_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "mr_internal.h"

typedef enum TokKind
{
	T_EOF,
	T_IDENT,
	T_INT,
	T_DECIMAL,
	T_STRING,
	T_AND,
	T_OR,
	T_NOT,
	T_IN,
	T_TRUE,
	T_FALSE,
	T_NULL,
	T_LBRACKET,
	T_RBRACKET,
	T_LPAREN,
	T_RPAREN,
	T_COMMA,
	T_DOT,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_PERCENT
} TokKind;

typedef struct Token
{
	TokKind		kind;
	int			pos;
	int			len;
	int64_t		ival;			/* T_INT */
	const char *str;			/* T_STRING: decoded; T_DECIMAL: canonical */
	size_t		str_len;
} Token;

typedef struct Parser
{
	MrCtx	   *ctx;
	const char *src;
	int			len;
	int			off;			/* next byte to scan */
	Token		tok;			/* current token */
	int			depth;			/* recursion depth */
} Parser;

static const struct
{
	const char *word;
	TokKind		kind;
}			keywords[] =
{
	{"and", T_AND},
	{"or", T_OR},
	{"not", T_NOT},
	{"in", T_IN},
	{"true", T_TRUE},
	{"false", T_FALSE},
	{"null", T_NULL}
};

static MrPNode *parse_or(Parser *p);

/* ----------
 * Lexer
 * ----------
 */

/* Identifiers are ASCII: [A-Za-z_][A-Za-z0-9_]* */
static bool
is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* An ASCII digit */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Report an unexpected character at offset pos, with a hint for the usual slips */
static bool
bad_char(Parser *p, int pos)
{
	const char *s = p->src + pos;
	char		buf[MR_EXCERPT_BYTES + 4];
	int			w = 1;
	unsigned char c = (unsigned char) *s;

	if (c >= 0xF0)
		w = 4;
	else if (c >= 0xE0)
		w = 3;
	else if (c >= 0xC0)
		w = 2;
	if (pos + w > p->len)
		w = p->len - pos;
	if ((s[0] == '&' && pos + 1 < p->len && s[1] == '&') ||
		(s[0] == '|' && pos + 1 < p->len && s[1] == '|'))
		w = 2;
	mr_fail_expr(p->ctx, MR_ERR_RULE, pos, "syntax error at or near \"%s\"",
				 mr_excerpt(buf, sizeof(buf), s, (size_t) w));
	if (c == '=')
		mr_hint(p->ctx, "Use == to compare values.");
	else if (c == '!')
		mr_hint(p->ctx, "Use not to negate a condition, or != to compare.");
	else if (c == '&')
		mr_hint(p->ctx, "Use and to combine conditions.");
	else if (c == '|')
		mr_hint(p->ctx, "Use or to combine conditions.");
	else if (c >= 0x80)
		mr_hint(p->ctx, "Names are ASCII; put other text in quotes.");
	return false;
}

/* Scan a quoted string starting at p->off (the quote) */
static bool
lex_string(Parser *p, Token *t)
{
	char		quote = p->src[p->off];
	int			i = p->off + 1;
	char	   *out;
	size_t		n = 0;
	char		buf[8];

	out = mr_salloc(p->ctx, (size_t) (p->len - p->off) + 1);
	if (out == NULL)
		return false;
	for (;;)
	{
		char		c;

		if (i >= p->len)
		{
			mr_fail_expr(p->ctx, MR_ERR_RULE, p->off, "unterminated string literal");
			mr_hint(p->ctx, "Close the string with %c.", quote);
			return false;
		}
		c = p->src[i];
		if (c == quote)
			break;
		if (c == '\\')
		{
			char		e = (i + 1 < p->len) ? p->src[i + 1] : '\0';

			switch (e)
			{
				case '\\':
				case '\'':
				case '"':
					out[n++] = e;
					break;
				case 'n':
					out[n++] = '\n';
					break;
				case 't':
					out[n++] = '\t';
					break;
				default:
					buf[0] = '\\';
					buf[1] = (e >= 0x20 && e < 0x7F) ? e : '?';
					buf[2] = '\0';
					mr_fail_expr(p->ctx, MR_ERR_RULE, i, "invalid escape sequence \"%s\" in string literal", buf);
					mr_hint(p->ctx, "Valid escapes are \\\\, \\', \\\", \\n and \\t.");
					return false;
			}
			i += 2;
			continue;
		}
		out[n++] = c;
		i++;
	}
	out[n] = '\0';
	if (!mr_utf8_valid(out, n))
		return mr_fail_expr(p->ctx, MR_ERR_RULE, p->off, "string literal is not valid UTF-8");
	t->kind = T_STRING;
	t->str = out;
	t->str_len = n;
	t->len = i + 1 - p->off;
	p->off = i + 1;
	return true;
}

/* Scan an integer or decimal literal */
static bool
lex_number(Parser *p, Token *t)
{
	int			start = p->off;
	int			i = start;
	uint64_t	acc = 0;
	bool		overflow = false;
	int			lead;
	char	   *canon;
	char		buf[MR_EXCERPT_BYTES + 4];

	while (i < p->len && is_digit(p->src[i]))
	{
		unsigned	d = (unsigned) (p->src[i] - '0');

		if (acc > ((uint64_t) INT64_MAX - d) / 10)
			overflow = true;
		else
			acc = acc * 10 + d;
		i++;
	}
	if (i + 1 < p->len && p->src[i] == '.' && is_digit(p->src[i + 1]))
	{
		i++;
		while (i < p->len && is_digit(p->src[i]))
			i++;
		/* canonical text: no leading zeros in the integer part */
		lead = start;
		while (lead + 1 < i && p->src[lead] == '0' && p->src[lead + 1] != '.')
			lead++;
		canon = mr_salloc(p->ctx, (size_t) (i - lead) + 1);
		if (canon == NULL)
			return false;
		memcpy(canon, p->src + lead, (size_t) (i - lead));
		canon[i - lead] = '\0';
		t->kind = T_DECIMAL;
		t->str = canon;
		t->str_len = (size_t) (i - lead);
	}
	else
	{
		if (overflow)
		{
			mr_fail_expr(p->ctx, MR_ERR_RULE, start, "integer literal %s is out of range",
						 mr_excerpt(buf, sizeof(buf), p->src + start, (size_t) (i - start)));
			mr_hint(p->ctx, "Integers are 64-bit; write a decimal such as 1.0 for larger numbers.");
			return false;
		}
		t->kind = T_INT;
		t->ival = (int64_t) acc;
	}
	t->len = i - start;
	p->off = i;
	return true;
}

/* Scan the next token into p->tok */
static bool
next_token(Parser *p)
{
	Token	   *t = &p->tok;
	const char *s = p->src;
	char		c;
	char		d;

	while (p->off < p->len &&
		   (s[p->off] == ' ' || s[p->off] == '\t' || s[p->off] == '\n' || s[p->off] == '\r'))
		p->off++;
	memset(t, 0, sizeof(*t));
	t->pos = p->off;
	if (p->off >= p->len)
	{
		t->kind = T_EOF;
		return true;
	}
	c = s[p->off];
	d = (p->off + 1 < p->len) ? s[p->off + 1] : '\0';

	if (is_ident_start(c))
	{
		int			i = p->off;
		int			k;

		while (i < p->len && (is_ident_start(s[i]) || is_digit(s[i])))
			i++;
		t->kind = T_IDENT;
		t->len = i - p->off;
		t->str = s + p->off;
		t->str_len = (size_t) t->len;
		for (k = 0; k < (int) (sizeof(keywords) / sizeof(keywords[0])); k++)
			if ((size_t) t->len == strlen(keywords[k].word) &&
				memcmp(t->str, keywords[k].word, (size_t) t->len) == 0)
				t->kind = keywords[k].kind;
		p->off = i;
		return true;
	}
	if (is_digit(c))
		return lex_number(p, t);
	if (c == '\'' || c == '"')
		return lex_string(p, t);

	t->len = 1;
	switch (c)
	{
		case '[':
			t->kind = T_LBRACKET;
			break;
		case ']':
			t->kind = T_RBRACKET;
			break;
		case '(':
			t->kind = T_LPAREN;
			break;
		case ')':
			t->kind = T_RPAREN;
			break;
		case ',':
			t->kind = T_COMMA;
			break;
		case '.':
			t->kind = T_DOT;
			break;
		case '+':
			t->kind = T_PLUS;
			break;
		case '-':
			t->kind = T_MINUS;
			break;
		case '*':
			t->kind = T_STAR;
			break;
		case '/':
			t->kind = T_SLASH;
			break;
		case '%':
			t->kind = T_PERCENT;
			break;
		case '=':
			if (d != '=')
				return bad_char(p, p->off);
			t->kind = T_EQ;
			t->len = 2;
			break;
		case '!':
			if (d != '=')
				return bad_char(p, p->off);
			t->kind = T_NE;
			t->len = 2;
			break;
		case '<':
			t->kind = (d == '=') ? T_LE : T_LT;
			t->len = (d == '=') ? 2 : 1;
			break;
		case '>':
			t->kind = (d == '=') ? T_GE : T_GT;
			t->len = (d == '=') ? 2 : 1;
			break;
		default:
			return bad_char(p, p->off);
	}
	p->off += t->len;
	return true;
}

/* ----------
 * Parser
 * ----------
 */

/* "syntax error at or near" the current token */
static bool
syntax_error(Parser *p)
{
	char		buf[MR_EXCERPT_BYTES + 4];

	if (p->tok.kind == T_EOF)
	{
		/* point just after the last character, not into trailing space */
		int			end = p->len;

		while (end > 0 && (p->src[end - 1] == ' ' || p->src[end - 1] == '\t' ||
						   p->src[end - 1] == '\n' || p->src[end - 1] == '\r'))
			end--;
		return mr_fail_expr(p->ctx, MR_ERR_RULE, end, "syntax error at end of rule");
	}
	return mr_fail_expr(p->ctx, MR_ERR_RULE, p->tok.pos, "syntax error at or near \"%s\"",
						mr_excerpt(buf, sizeof(buf), p->src + p->tok.pos, (size_t) p->tok.len));
}

/* Consume a token of the given kind, or fail with a hint naming it */
static bool
expect(Parser *p, TokKind kind, const char *what, int open_pos)
{
	if (p->tok.kind == kind)
		return next_token(p);
	syntax_error(p);
	if (open_pos >= 0)
	{
		int			line;
		int			column;

		mr_expr_position(p->ctx, open_pos, &line, &column);
		mr_hint(p->ctx, "Expected \"%s\" to match the \"%c\" at line %d, column %d.", what,
				p->src[open_pos], line, column);
	}
	else
		mr_hint(p->ctx, "Expected %s.", what);
	return false;
}

/* Report the depth limit */
static bool
too_deep(Parser *p, int pos)
{
	mr_fail_expr(p->ctx, MR_ERR_LIMIT, pos,
				 "expression is nested too deeply (more than %d levels)", MR_MAX_EXPR_DEPTH);
	mr_hint(p->ctx, "Simplify the rule, or split it into several checks.");
	return false;
}

/* A leaf node, charged against the node budget */
static MrPNode *
new_node(Parser *p, MrPKind kind, int pos, int len)
{
	MrPNode    *n;

	if (!mr_count_node(p->ctx, 0, 0, pos))
		return NULL;
	n = mr_salloc(p->ctx, sizeof(MrPNode));
	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->pos = pos;
	n->len = len;
	n->op_pos = pos;
	n->depth = 1;
	return n;
}

/* Node over children; enforces the height limit */
static MrPNode *
new_parent(Parser *p, MrPKind kind, MrExprKind op, int op_pos, MrPNode *a, MrPNode *b)
{
	MrPNode    *n;
	int			start = a->pos;
	int			end = (b ? b->pos + b->len : a->pos + a->len);
	int			depth = a->depth;

	if (b != NULL && b->depth > depth)
		depth = b->depth;
	if (op_pos < start)
		start = op_pos;
	if (depth + 1 > MR_MAX_EXPR_DEPTH)
	{
		too_deep(p, op_pos);
		return NULL;
	}
	n = new_node(p, kind, start, end - start);
	if (n == NULL)
		return NULL;
	n->op = op;
	n->op_pos = op_pos;
	n->depth = depth + 1;
	n->nargs = b ? 2 : 1;
	n->args = mr_salloc(p->ctx, sizeof(MrPNode *) * (size_t) n->nargs);
	if (n->args == NULL)
		return NULL;
	n->args[0] = a;
	if (b)
		n->args[1] = b;
	return n;
}

/*
 * Parse the items of "( args )" or "[ items ]" after the opening token,
 * through the closing one, whose offset goes to *close_pos.
 */
static bool
parse_list(Parser *p, TokKind close, const char *closetext, int open_pos,
		   MrPNode ***out, int *nout, int *maxdepth, int *close_pos)
{
	MrPNode   **items = NULL;
	int			n = 0;
	int			cap = 0;

	*maxdepth = 0;
	if (p->tok.kind == close)
	{
		*close_pos = p->tok.pos;
		*out = NULL;
		*nout = 0;
		return next_token(p);
	}
	for (;;)
	{
		MrPNode    *e = parse_or(p);

		if (e == NULL)
			return false;
		if (n == cap)
		{
			MrPNode   **bigger;

			cap = cap ? cap * 2 : 4;
			bigger = mr_salloc(p->ctx, sizeof(MrPNode *) * (size_t) cap);
			if (bigger == NULL)
				return false;
			if (n > 0)
				memcpy(bigger, items, sizeof(MrPNode *) * (size_t) n);
			items = bigger;
		}
		items[n++] = e;
		if (e->depth > *maxdepth)
			*maxdepth = e->depth;
		if (p->tok.kind == T_COMMA)
		{
			if (!next_token(p))
				return false;
			continue;
		}
		*close_pos = p->tok.pos;
		if (!expect(p, close, closetext, open_pos))
			return false;
		break;
	}
	*out = items;
	*nout = n;
	return true;
}

/* literal | name | name ( args ) | ( expr ) | [ items ] */
static MrPNode *
parse_primary(Parser *p)
{
	Token		t = p->tok;
	MrPNode    *n;
	int			maxdepth;
	int			close_pos;

	switch (t.kind)
	{
		case T_INT:
		case T_DECIMAL:
		case T_STRING:
		case T_TRUE:
		case T_FALSE:
		case T_NULL:
			n = new_node(p, t.kind == T_INT ? MR_P_INT :
						 t.kind == T_DECIMAL ? MR_P_DECIMAL :
						 t.kind == T_STRING ? MR_P_TEXT :
						 t.kind == T_NULL ? MR_P_NULL : MR_P_BOOL, t.pos, t.len);
			if (n == NULL)
				return NULL;
			n->ival = t.ival;
			n->bval = (t.kind == T_TRUE);
			n->str = t.str;
			n->str_len = t.str_len;
			return next_token(p) ? n : NULL;

		case T_IDENT:
			if (!next_token(p))
				return NULL;
			if (p->tok.kind != T_LPAREN)
			{
				n = new_node(p, MR_P_IDENT, t.pos, t.len);
				if (n == NULL)
					return NULL;
				n->str = t.str;
				n->str_len = t.str_len;
				return n;
			}
			n = new_node(p, MR_P_CALL, t.pos, t.len);
			if (n == NULL)
				return NULL;
			n->str = t.str;
			n->str_len = t.str_len;
			n->op_pos = p->tok.pos;
			if (!next_token(p) ||
				!parse_list(p, T_RPAREN, ")", n->op_pos, &n->args, &n->nargs,
							&maxdepth, &close_pos))
				return NULL;
			n->len = close_pos + 1 - t.pos;
			if (maxdepth + 1 > MR_MAX_EXPR_DEPTH)
			{
				too_deep(p, t.pos);
				return NULL;
			}
			n->depth = maxdepth + 1;
			return n;

		case T_LPAREN:
			if (!next_token(p))
				return NULL;
			n = parse_or(p);
			if (n == NULL)
				return NULL;
			if (p->tok.kind != T_RPAREN)
			{
				expect(p, T_RPAREN, ")", t.pos);
				return NULL;
			}
			/* the node now spans its parentheses */
			n->len = p->tok.pos + 1 - t.pos;
			n->pos = t.pos;
			return next_token(p) ? n : NULL;

		case T_LBRACKET:
			n = new_node(p, MR_P_LIST, t.pos, t.len);
			if (n == NULL || !next_token(p))
				return NULL;
			if (p->tok.kind == T_RBRACKET)
			{
				n->len = p->tok.pos + 1 - t.pos;
				return next_token(p) ? n : NULL;
			}
			if (!parse_list(p, T_RBRACKET, "]", t.pos, &n->args, &n->nargs,
							&maxdepth, &close_pos))
				return NULL;
			n->len = close_pos + 1 - t.pos;
			if (maxdepth + 1 > MR_MAX_EXPR_DEPTH)
			{
				too_deep(p, t.pos);
				return NULL;
			}
			n->depth = maxdepth + 1;
			return n;

		default:
			syntax_error(p);
			return NULL;
	}
}

/* primary { .name | [ expr ] } */
static MrPNode *
parse_postfix(Parser *p)
{
	MrPNode    *n = parse_primary(p);

	while (n != NULL)
	{
		if (p->tok.kind == T_DOT)
		{
			MrPNode    *m;

			if (!next_token(p))
				return NULL;

			/*
			 * Any word is a name after ".", keywords included, so that a
			 * field called "in" or "null" can still be read.
			 */
			if (p->tok.kind != T_IDENT && !(p->tok.kind >= T_AND && p->tok.kind <= T_NULL))
			{
				syntax_error(p);
				mr_hint(p->ctx, "Expected a name after \".\".");
				return NULL;
			}
			m = new_parent(p, MR_P_MEMBER, MR_E_NULL, p->tok.pos, n, NULL);
			if (m == NULL)
				return NULL;
			m->str = p->tok.str;
			m->str_len = p->tok.str_len;
			m->len = p->tok.pos + p->tok.len - m->pos;
			if (!next_token(p))
				return NULL;
			n = m;
		}
		else if (p->tok.kind == T_LBRACKET)
		{
			int			open = p->tok.pos;
			MrPNode    *idx;
			MrPNode    *m;

			if (!next_token(p))
				return NULL;
			p->depth++;
			if (p->depth > MR_MAX_EXPR_DEPTH)
			{
				too_deep(p, open);
				return NULL;
			}
			idx = parse_or(p);
			p->depth--;
			if (idx == NULL)
				return NULL;
			if (p->tok.kind != T_RBRACKET)
			{
				expect(p, T_RBRACKET, "]", open);
				return NULL;
			}
			m = new_parent(p, MR_P_INDEX, MR_E_INDEX, open, n, idx);
			if (m == NULL)
				return NULL;
			m->len = p->tok.pos + 1 - m->pos;
			if (!next_token(p))
				return NULL;
			n = m;
		}
		else
			break;
	}
	return n;
}

/* - unary | postfix; a sign on a numeric literal is folded into it */
static MrPNode *
parse_unary(Parser *p)
{
	int			pos;
	MrPNode    *operand;
	MrPNode    *n;

	if (p->tok.kind != T_MINUS)
		return parse_postfix(p);
	pos = p->tok.pos;
	if (!next_token(p))
		return NULL;
	if (++p->depth > MR_MAX_EXPR_DEPTH)
	{
		too_deep(p, pos);
		return NULL;
	}
	operand = parse_unary(p);
	p->depth--;
	if (operand == NULL)
		return NULL;

	/* fold the sign into a numeric literal */
	if (operand->kind == MR_P_INT)
	{
		operand->ival = -operand->ival;
		operand->len += operand->pos - pos;
		operand->pos = pos;
		return operand;
	}
	if (operand->kind == MR_P_DECIMAL)
	{
		char	   *s;

		if (operand->str[0] == '-')
		{
			operand->str++;
			operand->str_len--;
		}
		else
		{
			s = mr_salloc(p->ctx, operand->str_len + 2);
			if (s == NULL)
				return NULL;
			s[0] = '-';
			memcpy(s + 1, operand->str, operand->str_len + 1);
			operand->str = s;
			operand->str_len++;
		}
		operand->len += operand->pos - pos;
		operand->pos = pos;
		return operand;
	}
	n = new_parent(p, MR_P_UNARY, MR_E_NEG, pos, operand, NULL);
	return n;
}

/* unary { (* | / | %) unary } */
static MrPNode *
parse_mul(Parser *p)
{
	MrPNode    *left = parse_unary(p);

	while (left != NULL &&
		   (p->tok.kind == T_STAR || p->tok.kind == T_SLASH || p->tok.kind == T_PERCENT))
	{
		MrExprKind	op = p->tok.kind == T_STAR ? MR_E_MUL :
			p->tok.kind == T_SLASH ? MR_E_DIV : MR_E_MOD;
		int			op_pos = p->tok.pos;
		MrPNode    *right;

		if (!next_token(p) || (right = parse_unary(p)) == NULL)
			return NULL;
		left = new_parent(p, MR_P_BINARY, op, op_pos, left, right);
	}
	return left;
}

/* mul { (+ | -) mul } */
static MrPNode *
parse_add(Parser *p)
{
	MrPNode    *left = parse_mul(p);

	while (left != NULL && (p->tok.kind == T_PLUS || p->tok.kind == T_MINUS))
	{
		MrExprKind	op = p->tok.kind == T_PLUS ? MR_E_ADD : MR_E_SUB;
		int			op_pos = p->tok.pos;
		MrPNode    *right;

		if (!next_token(p) || (right = parse_mul(p)) == NULL)
			return NULL;
		left = new_parent(p, MR_P_BINARY, op, op_pos, left, right);
	}
	return left;
}

/* The comparison operator of a token, or MR_E_NULL */
static MrExprKind
cmp_op(TokKind kind)
{
	switch (kind)
	{
		case T_EQ:
			return MR_E_EQ;
		case T_NE:
			return MR_E_NE;
		case T_LT:
			return MR_E_LT;
		case T_LE:
			return MR_E_LE;
		case T_GT:
			return MR_E_GT;
		case T_GE:
			return MR_E_GE;
		case T_IN:
			return MR_E_IN;
		default:
			return MR_E_NULL;
	}
}

/* add [ op add ], with no second comparison: they do not associate */
static MrPNode *
parse_cmp(Parser *p)
{
	MrPNode    *left = parse_add(p);
	MrPNode    *right;
	MrExprKind	op;
	int			op_pos;

	if (left == NULL || (op = cmp_op(p->tok.kind)) == MR_E_NULL)
		return left;
	op_pos = p->tok.pos;
	if (!next_token(p) || (right = parse_add(p)) == NULL)
		return NULL;
	if (cmp_op(p->tok.kind) != MR_E_NULL)
	{
		mr_fail_expr(p->ctx, MR_ERR_RULE, p->tok.pos, "comparison operators cannot be chained");
		mr_hint(p->ctx, "Write a < b and b < c instead of a < b < c.");
		return NULL;
	}
	return new_parent(p, MR_P_BINARY, op, op_pos, left, right);
}

/* not not_expr | cmp */
static MrPNode *
parse_not(Parser *p)
{
	int			pos;
	MrPNode    *operand;

	if (p->tok.kind != T_NOT)
		return parse_cmp(p);
	pos = p->tok.pos;
	if (!next_token(p))
		return NULL;
	if (++p->depth > MR_MAX_EXPR_DEPTH)
	{
		too_deep(p, pos);
		return NULL;
	}
	operand = parse_not(p);
	p->depth--;
	if (operand == NULL)
		return NULL;
	return new_parent(p, MR_P_UNARY, MR_E_NOT, pos, operand, NULL);
}

/* not_expr { and not_expr } */
static MrPNode *
parse_and(Parser *p)
{
	MrPNode    *left = parse_not(p);

	while (left != NULL && p->tok.kind == T_AND)
	{
		int			op_pos = p->tok.pos;
		MrPNode    *right;

		if (!next_token(p) || (right = parse_not(p)) == NULL)
			return NULL;
		left = new_parent(p, MR_P_BINARY, MR_E_AND, op_pos, left, right);
	}
	return left;
}

/* and_expr { or and_expr }: a whole expression, one level deeper */
static MrPNode *
parse_or(Parser *p)
{
	MrPNode    *left;

	if (++p->depth > MR_MAX_EXPR_DEPTH)
	{
		too_deep(p, p->tok.pos);
		return NULL;
	}
	left = parse_and(p);
	while (left != NULL && p->tok.kind == T_OR)
	{
		int			op_pos = p->tok.pos;
		MrPNode    *right;

		if (!next_token(p) || (right = parse_and(p)) == NULL)
			return NULL;
		left = new_parent(p, MR_P_BINARY, MR_E_OR, op_pos, left, right);
	}
	p->depth--;
	return left;
}

/*
 * mr_parse_expr parses a whole rule, or returns NULL with the error set.
 */
MrPNode *
mr_parse_expr(MrCtx *ctx, const char *rule, size_t len)
{
	Parser		p;
	MrPNode    *tree;

	memset(&p, 0, sizeof(p));
	p.ctx = ctx;
	p.src = rule;
	p.len = (int) len;			/* scalars are at most MR_MAX_SCALAR_BYTES */
	if (!next_token(&p))
		return NULL;
	if (p.tok.kind == T_EOF)
	{
		mr_fail_expr(ctx, MR_ERR_RULE, 0, "rule is empty");
		mr_hint(ctx, "Write a boolean expression, such as payload.count > 0.");
		return NULL;
	}
	tree = parse_or(&p);
	if (tree == NULL)
		return NULL;
	if (p.tok.kind != T_EOF)
	{
		syntax_error(&p);
		if (p.tok.kind == T_RPAREN)
			mr_hint(ctx, "This \")\" has no matching \"(\".");
		return NULL;
	}
	return tree;
}
