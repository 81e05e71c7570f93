/*-------------------------------------------------------------------------
 *
 * mr.h
 *	  miaopi rule compiler: YAML rule files to typed check programs.
 *
 * The rule compiler is pure C99 with no PostgreSQL dependency, so that it
 * can be fuzzed and linted standalone.  Everything it builds lives in one
 * MrArena; errors are returned as values (MrError), never raised.
 *
 * Pipeline: libyaml events -> YAML node tree (yaml.c) -> document
 * validation (document.c) -> expression parsing (expr_parse.c) -> name
 * resolution and type checking (typecheck.c).  The result of a successful
 * compile is an MrRuleset: one MrService per YAML document, each check
 * holding a typed expression tree (the "program") that the host evaluates.
 *
 * Lookup tables are resolved through a caller-supplied MrResolver.  The
 * linter and the fuzz target pass NULL, in which case every lookup column
 * has type MR_TYPE_ANY and is checked only when loading into a database.
 *
 * IDENTIFICATION
 *	  extension/rules/mr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_MR_H
#define MIAOPI_MR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on untrusted input */
#define MR_MAX_SOURCE_BYTES		(8 * 1024 * 1024)	/* whole load_rules source */
#define MR_MAX_SCALAR_BYTES		(64 * 1024)
#define MR_MAX_YAML_DEPTH		64
#define MR_MAX_EXPR_DEPTH		200		/* nesting inside one expression */
#define MR_MAX_NAME_BYTES		63		/* service codes, check ids, fields */
#define MR_MAX_VARS				16		/* nested all()/any() bindings */

/* ----------
 * Arena
 * ----------
 */
typedef struct MrArena MrArena;

extern MrArena *mr_arena_create(void);
extern void mr_arena_destroy(MrArena *arena);
extern void *mr_arena_alloc(MrArena *arena, size_t size);	/* zeroed, 8-aligned; NULL on OOM */
extern char *mr_arena_strndup(MrArena *arena, const char *s, size_t len);
extern size_t mr_arena_bytes(const MrArena *arena);

/* ----------
 * Errors
 * ----------
 */
typedef enum MrErrorKind
{
	MR_ERR_NONE = 0,
	MR_ERR_YAML,				/* not well-formed YAML */
	MR_ERR_RULE,				/* valid YAML, bad rule (unknown key, type...) */
	MR_ERR_LIMIT,				/* a size, depth or count limit was exceeded */
	MR_ERR_UNAVAILABLE,			/* key or function reserved for a later version */
	MR_ERR_UNDEFINED_TABLE,		/* resolver: no such lookup table */
	MR_ERR_UNDEFINED_COLUMN,	/* resolver: no such column */
	MR_ERR_PRIVILEGE,			/* resolver: table not readable */
	MR_ERR_NOMEM
} MrErrorKind;

typedef struct MrError
{
	MrErrorKind kind;
	int			line;			/* 1-based YAML line, 0 if unknown */
	int			column;			/* 1-based YAML column, 0 if unknown */
	int			expr_column;	/* 1-based column inside a check's rule, 0 if n/a */
	char		service[MR_MAX_NAME_BYTES + 1]; /* "" if not yet known */
	char		check[MR_MAX_NAME_BYTES + 1];	/* "" if not inside a check */
	char		message[256];	/* lower-case, no trailing period */
	char		hint[256];		/* a sentence, or "" */
} MrError;

/* ----------
 * Types
 * ----------
 */
typedef enum MrTypeKind
{
	MR_TYPE_ANY = 0,			/* unknown (unresolved lookup column) */
	MR_TYPE_NULL,				/* the literal null */
	MR_TYPE_BOOL,
	MR_TYPE_INT,				/* int64 */
	MR_TYPE_DECIMAL,			/* exact decimal (PostgreSQL numeric) */
	MR_TYPE_TEXT,
	MR_TYPE_DATE,
	MR_TYPE_TIMESTAMP,			/* timestamptz */
	MR_TYPE_LIST				/* list of elem */
} MrTypeKind;

typedef struct MrType
{
	MrTypeKind	kind;
	MrTypeKind	elem;			/* element kind when kind == MR_TYPE_LIST */
} MrType;

extern const char *mr_type_name(MrType type, char *buf, size_t buflen);	/* "int", "[text]" */

/* ----------
 * Expressions: the typed program of one check
 * ----------
 */
typedef enum MrExprKind
{
	/* literals */
	MR_E_NULL,
	MR_E_BOOL,					/* u.b */
	MR_E_INT,					/* u.i */
	MR_E_DECIMAL,				/* u.s: canonical text of the literal */
	MR_E_TEXT,					/* u.s (NUL-terminated UTF-8), u.len */
	MR_E_LIST,					/* args[0..nargs-1] */
	/* roots */
	MR_E_FIELD,					/* payload.<field>: u.field = index into fields */
	MR_E_APPLICANT_ID,
	MR_E_APPLICANT_NAME,
	MR_E_CHANNEL,
	MR_E_SUBMITTED_AT,
	MR_E_MATERIALS,				/* [text] */
	MR_E_VAR,					/* bound variable: u.var = slot */
	/* boolean */
	MR_E_OR,					/* args[0] or args[1], short-circuit */
	MR_E_AND,
	MR_E_NOT,
	/* comparison */
	MR_E_EQ,
	MR_E_NE,
	MR_E_LT,
	MR_E_LE,
	MR_E_GT,
	MR_E_GE,
	MR_E_IN,					/* args[0] in args[1] (a list) */
	/* arithmetic */
	MR_E_ADD,
	MR_E_SUB,
	MR_E_MUL,
	MR_E_DIV,
	MR_E_MOD,
	MR_E_NEG,
	/* postfix */
	MR_E_INDEX,					/* args[0][args[1]], 0-based */
	/* calls */
	MR_E_CALL,					/* u.func, args */
	MR_E_EXISTS,				/* u.lookup */
	MR_E_LOOKUP					/* u.lookup; value of lookup->column */
} MrExprKind;

typedef enum MrFunc
{
	MR_F_LEN,					/* len(text|list) -> int */
	MR_F_HAS,					/* has(path) -> bool; path may be missing */
	MR_F_MATCHES,				/* matches(text, 'regex' literal) -> bool */
	MR_F_LOWER,
	MR_F_UPPER,
	MR_F_TRIM,
	MR_F_TODAY,					/* today() -> date in the service calendar's zone */
	MR_F_NOW,					/* now() -> timestamp */
	MR_F_DATE,					/* date(text|timestamp) -> date */
	MR_F_DAYS_BETWEEN,			/* days_between(date, date) -> int (b - a) */
	MR_F_WORKING_DAYS_BETWEEN,	/* working_days_between(a, b) -> int */
	MR_F_ADD_DAYS,				/* add_days(date, int) -> date */
	MR_F_AGE_YEARS,				/* age_years(date [, date on]) -> int */
	MR_F_USCC_VALID,
	MR_F_IDCARD_VALID,
	MR_F_IDCARD_BIRTH_DATE,
	MR_F_ALL,					/* all(list, x, pred) */
	MR_F_ANY,
	MR_F_NONE,
	MR_F_COUNT,					/* count(list) or count(list, x, pred) */
	MR_F_SUM,					/* sum(list) or sum(list, x, expr) */
	MR_F_MIN,					/* min(list) or min(list, x, expr) */
	MR_F_MAX,
	MR_F_MATERIAL,				/* material('name') -> bool */
	MR_F_LICENCE_VALID			/* licence_valid('type', holder [, on date]) -> bool */
} MrFunc;

typedef struct MrLookup MrLookup;

typedef struct MrExpr
{
	MrExprKind	kind;
	MrType		type;			/* result type after type checking */
	int			pos;			/* 0-based byte offset of the node in check->rule */
	int			len;			/* byte length of the node's source text */
	int			nargs;
	struct MrExpr **args;
	int			var;			/* for all/any/none/count/sum/min/max with a
								 * binding: the slot bound; else -1 */
	union
	{
		bool		b;
		int64_t		i;
		struct
		{
			const char *s;
			size_t		len;
		}			str;		/* MR_E_TEXT, MR_E_DECIMAL */
		int			field;		/* MR_E_FIELD */
		int			var;		/* MR_E_VAR */
		MrFunc		func;		/* MR_E_CALL */
		MrLookup   *lookup;		/* MR_E_EXISTS, MR_E_LOOKUP */
	}			u;
} MrExpr;

/* One conjunct "column op expr" of exists() / lookup() */
typedef struct MrCond
{
	const char *column;
	MrExprKind	op;				/* MR_E_EQ .. MR_E_GE */
	MrType		column_type;	/* from the resolver, or ANY */
	MrExpr	   *value;
} MrCond;

struct MrLookup
{
	int			index;			/* position in service->lookups */
	const char *schema;			/* as written (unquoted identifiers) */
	const char *table;
	int			nconds;
	MrCond	   *conds;
	const char *column;			/* MR_E_LOOKUP: the column read; NULL for exists */
	MrType		column_type;
	const char *check;			/* id of the check it appears in */
	int			pos;			/* offset in that check's rule */
};

/* ----------
 * Service documents
 * ----------
 */
typedef enum MrKind
{
	MR_KIND_LICENCE,			/* 行政许可: accept, review, decide, deliver */
	MR_KIND_PUBLIC_SERVICE,		/* 公共服务: accept, decide, deliver */
	MR_KIND_FILING,				/* 备案: decide, deliver */
	MR_KIND_POLICY				/* 惠企政策: decide, deliver */
} MrKind;

/* How a policy's benefit reaches the enterprise */
typedef enum MrApply
{
	MR_APPLY_AUTO,				/* 免申即享: granted without applying */
	MR_APPLY_CONFIRM,			/* one-click confirmation */
	MR_APPLY_FORM				/* a pre-filled application */
} MrApply;

typedef enum MrOnFail
{
	MR_ON_FAIL_REJECT,
	MR_ON_FAIL_MANUAL
} MrOnFail;

typedef enum MrExpect
{
	MR_EXPECT_APPROVE,
	MR_EXPECT_REJECT,
	MR_EXPECT_MANUAL
} MrExpect;

struct MrCheck;

typedef struct MrField
{
	const char *name;
	MrType		type;
	bool		required;
	int			line;
	int			column;
	struct MrCheck *from;		/* "from:": the fetching expression compiled as
								 * a check of the field's type, or NULL; the
								 * host fills the field with its value before
								 * any check runs, replacing the client's */
} MrField;

typedef struct MrMaterial
{
	const char *name;
	bool		required;
	const char *or_licence;		/* licence type standing in for it, or NULL */
	const char *basis;			/* legal basis (the article), or NULL */
	int			line;
	struct MrCheck *waived_if;	/* "waived_if:" (credit lane): a boolean
								 * expression; not required when true */
	int			verify_within;	/* "commitment: {verify_within: N}": working
								 * days to verify a committed material; -1
								 * when the material cannot be committed */
} MrMaterial;

typedef struct MrCheck
{
	const char *id;
	const char *rule;			/* the expression source, NUL-terminated */
	const char *message;		/* may be NULL */
	const char *basis;			/* legal basis (the article), or NULL */
	MrOnFail	on_fail;
	MrExpr	   *expr;			/* typed, result type bool */
	int			nvars;			/* variable slots needed */
	int			line;			/* position of the rule scalar */
	int			column;
} MrCheck;

typedef enum MrStepName
{
	MR_STEP_ACCEPT,
	MR_STEP_REVIEW,
	MR_STEP_DECIDE,
	MR_STEP_DELIVER
} MrStepName;

typedef struct MrStep
{
	MrStepName	step;
	const char *name;			/* "accept", "review", "decide", "deliver" */
	int			limit_days;		/* working days, or -1 for no step limit */
	int			line;
} MrStep;

/* One piece of a licence number template */
typedef enum MrNumberPartKind
{
	MR_NUM_LITERAL,				/* text as written */
	MR_NUM_YYYY,				/* {yyyy}: year of issue, 4 digits */
	MR_NUM_YY,					/* {yy}: its last two digits */
	MR_NUM_MM,					/* {mm}: month of issue, 2 digits */
	MR_NUM_SEQ,					/* {seq:N}: per type and year, N digits */
	MR_NUM_SERVICE				/* {service}: the service code */
} MrNumberPartKind;

typedef struct MrNumberPart
{
	MrNumberPartKind kind;
	const char *text;			/* MR_NUM_LITERAL */
	int			width;			/* MR_NUM_SEQ: 1..12 */
} MrNumberPart;

#define MR_SEQ_MAX_WIDTH	12
#define MR_TYPE_CODE_LEN	21	/* GB/T 36904 licence type code */

/* The licence: section, issued on approval */
typedef struct MrLicence
{
	const char *type;			/* licence type code used by rules */
	const char *name;			/* the licence's name (defaults to the service's) */
	const char *number;			/* template, e.g. "ZTBA-{yyyy}-{seq:6}" */
	int			nparts;
	MrNumberPart *parts;
	int			seq_width;		/* N of {seq:N} */
	int			valid_days;		/* -1 when valid_until is given */
	MrCheck    *valid_until;	/* expression of type date, or NULL */
	int			ndata;
	int		   *data;			/* field indexes copied into the licence */
	const char *type_code;		/* GB/T 36904, or NULL */
	const char *issuer_code;	/* issuing agency's USCC, or NULL */
	int			line;
} MrLicence;

/* A licence type a service relies on (or_licence, licence_valid) */
typedef struct MrLicenceRef
{
	const char *type;
	int			line;
	int			column;
} MrLicenceRef;

typedef struct MrTest
{
	const char *name;
	const char *applicant_id;
	const char *applicant_name; /* may be NULL */
	const char *channel;		/* may be NULL */
	const char *now;			/* optional pinned clock, ISO text, or NULL */
	const char *payload_json;	/* the payload mapping rendered as JSON */
	int			nmaterials;
	const char **materials;
	int			nlicences;		/* licence types the applicant holds (valid) */
	const char **licences;
	int			ncommitments;	/* materials committed to (告知承诺) */
	const char **commitments;
	MrExpect	expect;
	bool		has_failed;		/* "failed:" given */
	int			nfailed;
	const char **failed;		/* ids expected not to pass */
	int			line;
} MrTest;

/* kind: policy: the keys that only a policy has */
typedef struct MrPolicy
{
	struct MrCheck *benefit;	/* decimal expression: the amount */
	const char *open_from;		/* ISO dates (YYYY-MM-DD), NULL = unbounded */
	const char *open_until;
	MrApply		apply;
	const char *audience_schema;	/* NULL when unqualified */
	const char *audience_table;
	const char *audience_key;	/* a text column: the applicant id */
	int			line;
} MrPolicy;

typedef struct MrService
{
	const char *code;
	const char *name;
	const char *department;		/* may be NULL */
	MrKind		kind;
	int			statutory_days;
	int			promised_days;
	const char *calendar;		/* default "cn" */
	double		warn_ratio;		/* time_limit.warn_at, default 0.9 */
	int			extension_days; /* time_limit.extension: licence default 10 */
	bool		auto_approve;	/* default false */
	int			nfields;
	MrField    *fields;
	int			nmaterials;
	MrMaterial *materials;
	int			nchecks;
	MrCheck    *checks;
	int			nsteps;			/* the kind's full sequence when absent */
	MrStep	   *steps;
	MrLicence  *licence;		/* NULL unless the service issues one */
	const char *renews;			/* licence type this service renews, or NULL */
	int			nlicence_refs;
	MrLicenceRef *licence_refs; /* licence types relied on, in file order */
	MrPolicy   *policy;			/* kind policy only, else NULL */
	int			ntests;
	MrTest	   *tests;
	int			nlookups;
	MrLookup  **lookups;
	int			max_vars;		/* max nvars over the checks */
	size_t		src_offset;		/* this document's bytes in the source */
	size_t		src_length;
	int			line;			/* first line of the document */
} MrService;

typedef struct MrRuleset
{
	int			nservices;
	MrService **services;
} MrRuleset;

/* ----------
 * Resolver for lookup tables (supplied by the host; may be NULL)
 * ----------
 *
 * column_type returns MR_ERR_NONE and sets *type, or one of
 * MR_ERR_UNDEFINED_TABLE, MR_ERR_UNDEFINED_COLUMN, MR_ERR_PRIVILEGE or
 * MR_ERR_RULE (unsupported column type) with a message in msg.  schema may be
 * NULL when the rule names an unqualified table.  It must not longjmp.
 */
typedef struct MrResolver
{
	void	   *ctx;
	MrErrorKind (*column_type) (void *ctx, const char *schema, const char *table,
								const char *column, MrType *type,
								char *msg, size_t msglen);
} MrResolver;

/* ----------
 * Entry points
 * ----------
 */

/*
 * Compile every document in src.  Returns NULL and fills *err on the first
 * error.  src need not be NUL-terminated and is not referenced afterwards.
 */
extern MrRuleset *mr_compile(MrArena *arena, const char *src, size_t len,
							 const MrResolver *resolver, MrError *err);

/* Lookup helpers */
extern int	mr_field_index(const MrService *svc, const char *name);
extern const char *mr_kind_name(MrKind kind);
extern const char *mr_apply_name(MrApply apply);
extern const char *mr_func_name(MrFunc func);
extern const char *mr_op_name(MrExprKind op);	/* "==", "and", ... */

/* Pure code checks (check.c) */
extern bool mr_uscc_valid(const char *s, size_t len);
extern bool mr_idcard_valid(const char *s, size_t len);
/* Birth date of a valid 15- or 18-digit number; false if invalid */
extern bool mr_idcard_birth_date(const char *s, size_t len, int *year, int *month, int *day);

#endif							/* MIAOPI_MR_H */
