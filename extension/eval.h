/*-------------------------------------------------------------------------
 *
 * eval.h
 *	  The evaluator: runs a compiled program over one application.
 *
 * IDENTIFICATION
 *	  extension/eval.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_EVAL_H
#define MIAOPI_EVAL_H

#include "nodes/pg_list.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "cache.h"

/* One application, as the rules see it */
typedef struct MiaopiInput
{
	const char *applicant_id;
	int			applicant_id_len;
	const char *applicant_name; /* NULL when absent */
	int			applicant_name_len;
	Jsonb	   *payload;		/* must be a JSON object */
	Datum	   *materials;		/* text datums */
	bool	   *material_nulls;
	int			nmaterials;
	Datum	   *commitments;	/* text datums: materials committed (告知承诺) */
	bool	   *commitment_nulls;
	int			ncommitments;
	const char *channel;
	int			channel_len;
	TimestampTz submitted_at;
	TimestampTz now;			/* what today() and now() see */
	bool		doctest;		/* a rules test: licences come from held[] */
	int			nheld;
	const char **held;			/* licence types the applicant holds */
	bool		outcome_only;	/* decision and not_passed only: no
								 * explanations, reasons NULL (push) */
} MiaopiInput;

typedef struct MiaopiDecision
{
	MrExpect	decision;
	Jsonb	   *reasons;		/* one object per reason, in order */
	int			nreasons;
	char	  **not_passed;		/* ids (or codes) whose result is not pass */
	int			nnot_passed;
	List	   *licence_uses;	/* MiaopiLicenceUse: e-licences relied on */
	bool		has_valid_until;	/* approve with a licence: its last day */
	DateADT		valid_until;
	Jsonb	   *payload;		/* the payload with fetched (from:) fields
								 * filled in, or NULL when none is declared */
	int			verify_within;	/* working days to verify what was committed
								 * in lieu of a material, or -1 for none */
	bool		outside_open;	/* a policy evaluated outside its open window */
	Numeric		benefit;		/* a policy's benefit, NULL if it has none or
								 * it could not be computed (benefit_error) */
	char	   *benefit_error;
} MiaopiDecision;

extern void miaopi_evaluate(MiaopiProgram *prog, const MiaopiInput *in,
							MiaopiDecision *out);
extern const char *miaopi_expect_name(MrExpect e);	/* approve/reject/manual */

/*
 * The last day of the licence an approval of in would issue: true and
 * *until, or false with *why saying what was missing.
 */
extern bool miaopi_eval_valid_until(MiaopiProgram *prog, const MiaopiInput *in,
									DateADT *until, char **why);

/* Load-time checks on a program that need PostgreSQL (regexes) */
extern void miaopi_eval_validate(MiaopiProgram *prog);

/* Parse an ISO date / timestamptz without raising; false if invalid */
extern bool miaopi_parse_date(const char *s, int len, DateADT *result);
struct pg_tz;
extern bool miaopi_parse_timestamptz_in(const char *s, int len, struct pg_tz *tz,
										TimestampTz *result);

#endif							/* MIAOPI_EVAL_H */
