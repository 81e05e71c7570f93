/*-------------------------------------------------------------------------
 *
 * calendar.h
 *	  Working-day calendars: per-backend cache of miaopi.calendar and
 *	  miaopi.calendar_day, and working-day arithmetic.
 *
 * IDENTIFICATION
 *	  extension/calendar.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIAOPI_CALENDAR_H
#define MIAOPI_CALENDAR_H

#include "utils/date.h"
#include "utils/timestamp.h"

/* The most working days add_working_days accepts (about 40 years) */
#define MIAOPI_MAX_WORKING_DAYS 10000

/*
 * All of these raise ERROR for an unknown calendar.  *provisional (may be
 * NULL) is set true when any day consulted lies past the calendar's
 * published_through, and is never reset to false.
 */
extern bool miaopi_is_working_day(const char *calendar, DateADT day,
								  bool *provisional);

/* End of the n-th working day after start's local day (start day not counted) */
extern TimestampTz miaopi_add_working_days(const char *calendar, TimestampTz start,
										   int n, bool *provisional);

/* Working days after a's local day up to and including b's local day */
extern int	miaopi_working_days_between(const char *calendar, TimestampTz a,
										TimestampTz b, bool *provisional);

/* Working days after day a up to and including day b (negative if b < a) */
extern int	miaopi_working_days_between_dates(const char *calendar, DateADT a,
											  DateADT b, bool *provisional);

/* The calendar's time zone (valid until the next calendar lookup) */
struct pg_tz;
extern struct pg_tz *miaopi_calendar_timezone(const char *calendar);

/* Changes whenever the calendar cache is rebuilt (calendar.c) */
extern uint64 miaopi_calendar_generation(void);

/* Local date of ts in the calendar's time zone */
extern DateADT miaopi_calendar_local_date(const char *calendar, TimestampTz ts);

/* The n-th working day after day (day itself not counted) */
extern DateADT miaopi_add_working_days_date(const char *calendar, DateADT day,
											int n, bool *provisional);

/* Does ts's local day lie past the calendar's published_through? */
extern bool miaopi_calendar_past_published(const char *calendar, TimestampTz ts);

/*
 * With one calendar lookup: *ab = working days after a's local day up to
 * b's, *bc = the same from b to c (the clock's used and remaining days).
 */
extern void miaopi_working_days_split(const char *calendar, TimestampTz a,
									  TimestampTz b, TimestampTz c,
									  int *ab, int *bc);

/* Does any of the n timestamps (DT_NOBEGIN ones are skipped) lie past published_through? */
extern bool miaopi_calendar_any_past_published(const char *calendar,
											   const TimestampTz *ts, int n);

#endif							/* MIAOPI_CALENDAR_H */
