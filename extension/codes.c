/*-------------------------------------------------------------------------
 *
 * codes.c
 *	  SQL wrappers of the code checks the rule language also offers:
 *	  unified social credit codes (GB 32100-2015) and resident ID numbers
 *	  (GB 11643-1999).  The algorithms live in extension/rules/check.c.
 *
 *	  Also the ISO/IEC 7064 MOD 37,36 check character of the e-licence
 *	  identifier (GB/T 36904), which only the issuer needs, so it lives here.
 *	  The hybrid system with M = 36 over 0-9 A-Z (values 0..35):
 *		  P = 36; for each character a: S = (P + a) mod 36, S = 36 if 0,
 *		  P = 2S mod 37; check = (37 - P) mod 36.
 *	  Vectors, computed by hand:
 *		  "A" (a = 10): S = 46 mod 36 = 10, P = 20, check = 17 = 'H'.
 *		  "1": S = 37 mod 36 = 1, P = 2, check = 35 = 'Z'.
 *		  "Z" (a = 35): S = 71 mod 36 = 35, P = 70 mod 37 = 33, check = 4 = '4'.
 *		  "AB": after A, P = 20; B = 11: S = 31, P = 62 mod 37 = 25,
 *		  check = 12 = 'C'.
 *	  and the published example of python-stdnum's iso7064.mod_37_36,
 *	  "A12425GABC1234002" -> 'M' (test/sql/licences.sql checks all of them).
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

#include "licence.h"
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

/* Value of a MOD 37,36 character (0-9, A-Z), or -1 */
static int
mod37_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return -1;
}

/*
 * miaopi_mod37_36_check returns the ISO/IEC 7064 MOD 37,36 check character
 * of s (len bytes of 0-9 A-Z), or '\0' if s is empty or has another
 * character.
 */
char
miaopi_mod37_36_check(const char *s, size_t len)
{
	static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	int			p = 36;
	size_t		i;

	if (len == 0)
		return '\0';
	for (i = 0; i < len; i++)
	{
		int			a = mod37_value(s[i]);
		int			sum;

		if (a < 0)
			return '\0';
		sum = (p + a) % 36;
		if (sum == 0)
			sum = 36;
		p = (2 * sum) % 37;
	}
	return alphabet[(37 - p) % 36];
}

/* SQL: miaopi.mod37_36_check(text): the check character, null if invalid */
PG_FUNCTION_INFO_V1(miaopi_mod37_36_check_sql);
Datum
miaopi_mod37_36_check_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char		c = miaopi_mod37_36_check(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

	if (c == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(&c, 1));
}

/*
 * SQL: miaopi.licence_identifier_valid(text): a GB/T 36904 identifier
 * whose last character is the MOD 37,36 check of its undotted parts.
 */
PG_FUNCTION_INFO_V1(miaopi_licence_identifier_valid);
Datum
miaopi_licence_identifier_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *undotted;
	int			n = 0;
	int			i;

	/* at least "x.c": a body, a dot, and the check character */
	if (len < 3 || s[len - 2] != '.')
		PG_RETURN_BOOL(false);
	undotted = palloc(len);
	for (i = 0; i < len - 2; i++)
	{
		if (s[i] == '.')
		{
			/* no empty part */
			if (i == 0 || s[i - 1] == '.')
				PG_RETURN_BOOL(false);
			continue;
		}
		undotted[n++] = s[i];
	}
	PG_RETURN_BOOL(miaopi_mod37_36_check(undotted, n) == s[len - 1]);
}
