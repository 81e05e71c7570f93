/*-------------------------------------------------------------------------
 *
 * mr_internal.h
 *	  Declarations shared by the rule compiler's own files.
 *
 * Nothing here is part of the interface to the host (that is mr.h).  The
 * compiler works in two arenas: the caller's result arena, which holds the
 * MrRuleset and everything it points to, and a scratch arena for the YAML
 * node tree and the expression parse trees, destroyed when mr_compile
 * returns.  All state of one compile lives in an MrCtx passed down
 * explicitly; there are no globals.
 *
 * Errors: the first call to mr_fail() fills the caller's MrError; every
 * function then returns false (or NULL) up to mr_compile.  mr_hint() adds
 * a hint to the error just recorded.
 *
 * IDENTIFICATION
 *	  extension/rules/mr_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_MR_INTERNAL_H
#define MIAOPI_MR_INTERNAL_H

#include <stdarg.h>

#include "mr.h"

/*
 * YAML and expression nodes allowed in one compile.  A realistic service
 * document has a few thousand; the cap keeps an 8 MB source from turning
 * into gigabytes of tree.
 */
#define MR_MAX_NODES			500000

/* Longest user text quoted inside an error message, in bytes */
#define MR_EXCERPT_BYTES		40

#ifdef __GNUC__
#define MR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MR_PRINTF(f, a)
#endif

/* ----------
 * YAML node tree (yaml.c)
 * ----------
 */
typedef enum MrYType
{
	MR_Y_SCALAR,
	MR_Y_SEQUENCE,
	MR_Y_MAPPING
} MrYType;

typedef enum MrYStyle
{
	MR_Y_PLAIN,
	MR_Y_SINGLE_QUOTED,
	MR_Y_DOUBLE_QUOTED,
	MR_Y_LITERAL,
	MR_Y_FOLDED
} MrYStyle;

/* What a scalar means under our explicit resolution lists */
typedef enum MrYValue
{
	MR_YV_NULL,
	MR_YV_BOOL,
	MR_YV_INT,
	MR_YV_DECIMAL,
	MR_YV_TEXT
} MrYValue;

typedef struct MrYNode
{
	MrYType		type;
	MrYStyle	style;			/* scalars only */
	int			line;			/* 1-based, of the node's first character */
	int			column;			/* 1-based, in characters */
	bool		exact;			/* scalar is single-line and its value is
								 * the source text starting at content_column */
	int			content_column; /* column of the value's first character */
	bool		block_exact;	/* literal block scalar whose lines are the
								 * source lines from block_line, each
								 * indented by block_indent spaces */
	int			block_line;
	int			block_indent;
	const char *value;			/* scalars: NUL-terminated copy */
	size_t		len;
	int			n;				/* sequence items, or mapping pairs */
	struct MrYNode **items;		/* mapping: key0, value0, key1, value1, ... */
	struct MrYNode *next;		/* sibling link while building */
} MrYNode;

typedef struct MrYDoc
{
	MrYNode    *root;
	size_t		offset;			/* byte range of the document in the source */
	size_t		length;
	int			line;
	struct MrYDoc *next;
} MrYDoc;

/* A sorted index of names (names.c) */
typedef struct MrNameIndex
{
	int			n;
	struct NameRef *refs;
} MrNameIndex;

/* ----------
 * Compile context
 * ----------
 */
typedef struct MrCtx
{
	MrArena    *arena;			/* result */
	MrArena    *scratch;		/* YAML tree, parse trees */
	MrError    *err;
	bool		failed;
	bool		hint_open;		/* mr_hint may add to the error */
	const MrResolver *resolver;
	const char *src;
	size_t		srclen;
	long		nodes;			/* against MR_MAX_NODES */
	/* context for errors */
	const char *service;		/* code, once validated */
	const char *check;			/* id, inside a check */
	/* the service being built: its declared names, for rules and tests */
	MrNameIndex fields;
	MrNameIndex materials;
	MrNameIndex checks;
	/* from: and waived_if: nodes waiting for their section's index */
	const MrYNode **pending_from;	/* per field, or NULL */
	const MrYNode **pending_waiver; /* per material, or NULL */
	/* the rule being compiled, to place expression errors in the file */
	const char *rule;
	size_t		rule_len;
	int			rule_line;
	int			rule_column;	/* start of the scalar */
	int			rule_content_column;
	bool		rule_exact;
	bool		rule_block;		/* literal block scalar, see MrYNode */
	int			rule_block_line;
	int			rule_block_indent;
} MrCtx;

/* ----------
 * Expression parse tree (expr_parse.c), input of typecheck.c
 * ----------
 */
typedef enum MrPKind
{
	MR_P_NULL,
	MR_P_BOOL,
	MR_P_INT,
	MR_P_DECIMAL,				/* str: canonical text */
	MR_P_TEXT,					/* str: decoded value */
	MR_P_LIST,					/* args */
	MR_P_IDENT,					/* str */
	MR_P_MEMBER,				/* args[0] . str (at name_pos) */
	MR_P_INDEX,					/* args[0] [ args[1] ] */
	MR_P_CALL,					/* str ( args ) */
	MR_P_BINARY,				/* args[0] op args[1] */
	MR_P_UNARY					/* op args[0]: MR_E_NEG or MR_E_NOT */
} MrPKind;

typedef struct MrPNode
{
	MrPKind		kind;
	MrExprKind	op;
	int			pos;			/* byte range in the rule */
	int			len;
	int			op_pos;			/* operator token, member name, or call's "(" */
	int			depth;			/* height of this subtree */
	const char *str;
	size_t		str_len;
	int64_t		ival;
	bool		bval;
	int			nargs;
	struct MrPNode **args;
} MrPNode;

/* ----------
 * Prototypes
 * ----------
 */

/* error.c */
extern bool mr_fail(MrCtx *ctx, MrErrorKind kind, int line, int column,
					const char *fmt,...) MR_PRINTF(5, 6);
extern bool mr_fail_node(MrCtx *ctx, MrErrorKind kind, const MrYNode *node,
						 const char *fmt,...) MR_PRINTF(4, 5);
extern bool mr_fail_expr(MrCtx *ctx, MrErrorKind kind, int pos,
						 const char *fmt,...) MR_PRINTF(4, 5);
extern void mr_expr_position(const MrCtx *ctx, int pos, int *line, int *column);
extern void mr_hint(MrCtx *ctx, const char *fmt,...) MR_PRINTF(2, 3);
extern bool mr_check_keys(MrCtx *ctx, const MrYNode *map, const char *const *known,
						  int nknown, const char *where);
extern bool mr_fail_nomem(MrCtx *ctx);
extern void *mr_alloc(MrCtx *ctx, size_t size);
extern void *mr_salloc(MrCtx *ctx, size_t size);
extern char *mr_strdup(MrCtx *ctx, const char *s, size_t len);
extern bool mr_count_node(MrCtx *ctx, int line, int column, int pos);
extern const char *mr_suggest(const char *word, size_t len,
							  const char *const *cands, int ncands);
extern const char *mr_excerpt(char *buf, size_t buflen, const char *s, size_t len);
extern size_t mr_utf8_chars(const char *s, size_t len);
extern bool mr_utf8_valid(const char *s, size_t len);

/* names.c */
extern bool mr_find_duplicates(MrCtx *ctx, const char *const *names, int n, int *firstdup);
extern bool mr_index_build(MrCtx *ctx, MrNameIndex *ix, const char *const *names, int n);
extern int	mr_index_find(const MrNameIndex *ix, const char *s, size_t len);

/* yaml.c */
extern MrYDoc *mr_yaml_parse(MrCtx *ctx, int *ndocs);
extern MrYValue mr_yaml_value(const MrYNode *node);
extern const char *mr_yaml_describe(const MrYNode *node);
extern bool mr_yaml_parse_int(const MrYNode *node, int64_t *out);

/* document.c */
extern MrService *mr_build_service(MrCtx *ctx, const MrYDoc *doc);
extern bool mr_add_licence_ref(MrCtx *ctx, MrService *svc, const char *type,
							   int line, int column);

/* doctests.c */
extern bool mr_build_tests(MrCtx *ctx, MrService *svc, const MrYNode *node);

/* expr_parse.c */
extern MrPNode *mr_parse_expr(MrCtx *ctx, const char *rule, size_t len);

/* typecheck.c */
extern bool mr_typecheck_check(MrCtx *ctx, MrService *svc, MrCheck *check,
							   const MrPNode *tree);
extern bool mr_typecheck_date(MrCtx *ctx, MrService *svc, MrCheck *check,
							  const MrPNode *tree);
extern bool mr_typecheck_value(MrCtx *ctx, MrService *svc, MrCheck *check,
							   const MrPNode *tree);
extern bool mr_lookup_func(const char *name, size_t len, MrFunc *func);

/* lesssubmit.c: from:, waived_if:, commitment: and kind policy */
extern bool mr_build_from(MrCtx *ctx, MrService *svc, MrField *field,
						  const MrYNode *key, const MrYNode *val);
extern bool mr_compile_fetches(MrCtx *ctx, MrService *svc);
extern bool mr_build_material_extras(MrCtx *ctx, MrService *svc, MrMaterial *mat,
									 const MrYNode *map);
extern bool mr_compile_waivers(MrCtx *ctx, MrService *svc);
extern bool mr_build_policy(MrCtx *ctx, MrService *svc, const MrYNode *root);

#endif							/* MIAOPI_MR_INTERNAL_H */
