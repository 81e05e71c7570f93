/*-------------------------------------------------------------------------
 *
 * check.c
 *	  Pure validity checks of Chinese identification codes.
 *
 * mr_uscc_valid: the Unified Social Credit Code (统一社会信用代码) of
 * GB 32100-2015.  Eighteen characters from the 31-symbol set
 * 0-9 A-H J-N P-R T U W-Y (no I, O, S, V, Z); position 18 is the check
 * character: with weights W_i = 3^(i-1) mod 31 and S = sum of value(c_i) *
 * W_i over positions 1..17, c_18 = charset[(31 - S mod 31) mod 31].  The
 * embedded GB 11714 organisation-code check is not enforced, as in the
 * common validators (hutool, python-stdnum).  Lower case is refused: codes
 * are issued in upper case.
 *
 * mr_idcard_valid: the citizen identity number (公民身份号码) of
 * GB 11643-1999, which is all that can be checked without an
 * administrative-division table: an 18-character number is 17 digits
 * (6 address, 8 birth date YYYYMMDD, 3 sequence) and a check character
 * from ISO 7064 MOD 11-2 ("10X98765432"[S mod 11] with weights
 * 2^(18-i) mod 11); only an upper-case X is accepted.  The 15-digit
 * first-generation number (6 address, YYMMDD in the 1900s, 3 sequence) has
 * no check character.  Either way the birth date must exist in the
 * Gregorian calendar.
 *
 * Test vectors: shared/data/uscc_vectors.csv and idcard_vectors.csv.
 *
 * IDENTIFICATION
 *	  extension/rules/check.c
 *
 *-------------------------------------------------------------------------
 */
#include "mr.h"

static const char uscc_charset[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int uscc_weights[17] = {
	1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
};
static const int idcard_weights[17] = {
	7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
};
static const char idcard_check[] = "10X98765432";

/* Value of a USCC character, or -1 */
static int
uscc_value(char c)
{
	int			i;

	for (i = 0; i < 31; i++)
		if (uscc_charset[i] == c)
			return i;
	return -1;
}

/*
 * mr_uscc_valid checks a Unified Social Credit Code (GB 32100-2015).
 */
bool
mr_uscc_valid(const char *s, size_t len)
{
	int			sum = 0;
	int			i;
	int			check;

	if (s == NULL || len != 18)
		return false;
	for (i = 0; i < 17; i++)
	{
		int			v = uscc_value(s[i]);

		if (v < 0)
			return false;
		sum += v * uscc_weights[i];
	}
	check = (31 - sum % 31) % 31;
	return s[17] == uscc_charset[check];
}

/* Gregorian leap year */
static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Is y-m-d a real Gregorian date (years 1..9999)? */
static bool
valid_date(int y, int m, int d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			max;

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && is_leap(y))
		max = 29;
	return d <= max;
}

/* Decimal value of n digits at s (already known to be digits) */
static int
digits(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * mr_idcard_birth_date checks a 15- or 18-character identity number and
 * returns its birth date; false if the number is not valid.
 */
bool
mr_idcard_birth_date(const char *s, size_t len, int *year, int *month, int *day)
{
	int			y;
	int			m;
	int			d;
	size_t		i;
	size_t		ndigits = (len == 18) ? 17 : len;

	if (s == NULL || (len != 15 && len != 18))
		return false;
	for (i = 0; i < ndigits; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	if (len == 18)
	{
		int			sum = 0;

		for (i = 0; i < 17; i++)
			sum += (s[i] - '0') * idcard_weights[i];
		if (s[17] != idcard_check[sum % 11])
			return false;
		y = digits(s + 6, 4);
		m = digits(s + 10, 2);
		d = digits(s + 12, 2);
	}
	else
	{
		y = 1900 + digits(s + 6, 2);
		m = digits(s + 8, 2);
		d = digits(s + 10, 2);
	}
	if (!valid_date(y, m, d))
		return false;
	if (year)
		*year = y;
	if (month)
		*month = m;
	if (day)
		*day = d;
	return true;
}

/*
 * mr_idcard_valid checks a citizen identity number (GB 11643-1999).
 */
bool
mr_idcard_valid(const char *s, size_t len)
{
	return mr_idcard_birth_date(s, len, NULL, NULL, NULL);
}
