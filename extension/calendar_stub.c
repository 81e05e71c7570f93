/*-------------------------------------------------------------------------
 *
 * calendar_stub.c
 *	  Weak stand-ins for calendar.c while it is being written: plain-week
 *	  arithmetic in Asia/Shanghai.  The real definitions override these;
 *	  delete this file once calendar.c has landed.
 *
 * IDENTIFICATION
 *	  extension/calendar_stub.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "calendar.h"

#define WEAK __attribute__((weak))

WEAK DateADT
miaopi_calendar_local_date(const char *calendar, TimestampTz ts)
{
	Timestamp	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
															  CStringGetTextDatum("Asia/Shanghai"),
															  TimestampTzGetDatum(ts)));

	return (DateADT) (local / USECS_PER_DAY - (local < 0 && local % USECS_PER_DAY ? 1 : 0));
}

static bool
weekday(DateADT d)
{
	int			dow = j2day(d + POSTGRES_EPOCH_JDATE);	/* 0 = Sunday */

	return dow != 0 && dow != 6;
}

WEAK bool
miaopi_is_working_day(const char *calendar, DateADT day, bool *provisional)
{
	return weekday(day);
}

WEAK int
miaopi_working_days_between_dates(const char *calendar, DateADT a, DateADT b,
								  bool *provisional)
{
	int			n = 0;
	DateADT		d;

	for (d = a + 1; d <= b; d++)
		n += weekday(d);
	return n;
}

WEAK int
miaopi_working_days_between(const char *calendar, TimestampTz a, TimestampTz b,
							bool *provisional)
{
	return miaopi_working_days_between_dates(calendar,
											 miaopi_calendar_local_date(calendar, a),
											 miaopi_calendar_local_date(calendar, b),
											 provisional);
}

WEAK TimestampTz
miaopi_add_working_days(const char *calendar, TimestampTz start, int n,
						bool *provisional)
{
	DateADT		d = miaopi_calendar_local_date(calendar, start);

	while (n > 0)
	{
		d++;
		n -= weekday(d);
	}
	/* end of day d in Shanghai (UTC+8): midnight of d + 1, local */
	return (TimestampTz) (d + 1) * USECS_PER_DAY - 8 * USECS_PER_HOUR;
}
