/*-------------------------------------------------------------------------
 *
 * codes.c
 *	  SQL wrappers of the code checks the rule language also offers:
 *	  unified social credit codes (GB 32100-2015) and resident ID numbers
 *	  (GB 11643-1999).  The algorithms live in extension/rules/check.c.
 *
 * IDENTIFICATION
 *	  extension/codes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"

#include "mr.h"

/* SQL: miaopi.uscc_valid(code text) */
PG_FUNCTION_INFO_V1(miaopi_uscc_valid);
Datum
miaopi_uscc_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(mr_uscc_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* SQL: miaopi.idcard_valid(number text) */
PG_FUNCTION_INFO_V1(miaopi_idcard_valid);
Datum
miaopi_idcard_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(mr_idcard_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* SQL: miaopi.idcard_birth_date(number text): null for an invalid number */
PG_FUNCTION_INFO_V1(miaopi_idcard_birth_date);
Datum
miaopi_idcard_birth_date(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			y,
				m,
				d;

	if (!mr_idcard_birth_date(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &y, &m, &d))
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(date2j(y, m, d) - POSTGRES_EPOCH_JDATE);
}
