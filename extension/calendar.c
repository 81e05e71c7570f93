/*-------------------------------------------------------------------------
 *
 * calendar.c
 *	  Working-day calendars: per-backend cache of miaopi.calendar and
 *	  miaopi.calendar_day, and working-day arithmetic over them.
 *
 * A calendar is a plain week (the weekend is a set of ISO day numbers)
 * overridden, day by day, by calendar_day rows: 'holiday' takes a day off,
 * 'workday' makes a weekend day a working day (调休).  Rows after the
 * calendar's published_through are not in force yet: past that date the
 * plain week applies and every answer that looks there is flagged
 * provisional.  A NULL published_through means every row is in force and
 * nothing is provisional.
 *
 * Each calendar is compiled once per backend into the range [lo, hi) its
 * rows cover, with two arrays: prefix[i], the number of working days in
 * [lo, lo + i), and working[k], the offset of the k-th working day.
 * Outside the range the plain week is periodic, so counts and searches are
 * closed-form there.  Every operation is O(1): no SPI, no loop over days
 * (except at most one week), whatever n is.
 *
 * Local dates: a timestamptz belongs to a day in the calendar's own time
 * zone, not the session's.  Each calendar remembers one window of UTC
 * instants over which its UTC offset is constant (from
 * pg_next_dst_boundary), so converting a timestamp is an addition for the
 * zones that matter (Asia/Shanghai has had a fixed offset since 1991).
 *
 * The end of a day is 23:59:59.999999 local time.  A deadline is due until
 * the last microsecond of its day, prints as that day in the calendar's
 * zone, and "now > due" means overdue; local midnight of the next day
 * would print as the wrong day and does not exist in some zones.
 *
 * Cache lifecycle: entries live in "miaopi calendar cache", a child of
 * CacheMemoryContext.  A statement-level trigger on both tables calls
 * CacheInvalidateRelcacheByRelid (miaopi_invalidate, cache.c); the relcache
 * callback only sets calendar_cache_stale (it must not touch catalogs,
 * allocate or fail), and the next lookup resets the whole context and
 * bumps calendar_generation.  Callers never hold an entry across another
 * lookup, and fn_extra caches trust an entry only while its generation is
 * current and no invalidation is pending.  A calendar that is about to be
 * built in an aborted transaction is harmless: the abort replays the
 * transaction's invalidations locally, which marks the cache stale.
 *
 * IDENTIFICATION
 *	  extension/calendar.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "calendar.h"
#include "miaopi.h"

/* A calendar may span at most this many days of rows (about 2,700 years) */
#define CALENDAR_MAX_SPAN	1000000

typedef struct MiaopiCalendar
{
	struct MiaopiCalendar *next;
	char	   *name;
	char	   *tzname;
	pg_tz	   *tz;
	uint8		weekend;		/* bit d - 1 set: ISO day d is a rest day */
	int			week_working;	/* working days in a plain week */
	bool		has_published;
	DateADT		published_through;
	DateADT		lo;				/* the rows cover [lo, hi) */
	DateADT		hi;
	int32	   *prefix;			/* prefix[i]: working days in [lo, lo + i) */
	int32	   *working;		/* working[k]: offset from lo of k-th one */
	int			defect_year;	/* first year of the range with none, or 0 */
	/* UTC instants in [win_lo, win_hi) are win_off microseconds east */
	TimestampTz win_lo;
	TimestampTz win_hi;
	int64		win_off;
} MiaopiCalendar;

/* What the SQL functions keep in fn_extra */
typedef struct CalendarFnCache
{
	uint64		generation;
	MiaopiCalendar *calendar;
	int			len;
	char		name[FLEXIBLE_ARRAY_MEMBER];
} CalendarFnCache;

static MemoryContext calendar_cxt = NULL;
static MiaopiCalendar *calendars = NULL;
static bool calendar_cache_stale = false;
static bool calendar_callback_registered = false;
static uint64 calendar_generation = 1;
static Oid	calendar_relid = InvalidOid;
static Oid	calendar_day_relid = InvalidOid;

/*
 * Relcache callback: flag the cache stale when either calendar table
 * changed (or everything is being flushed).  Nothing else may happen here.
 */
static void
calendar_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == calendar_relid ||
		relid == calendar_day_relid)
		calendar_cache_stale = true;
}

/* ISO day of the week of d: 1 = Monday ... 7 = Sunday (2000-01-01 = 6) */
static inline int
isodow(int64 d)
{
	int			r = (int) ((d + 5) % 7);

	if (r < 0)
		r += 7;
	return r + 1;
}

/* Is d a working day under the plain week? */
static inline bool
week_is_working(const MiaopiCalendar *c, int64 d)
{
	return (c->weekend & (1 << (isodow(d) - 1))) == 0;
}

/* Working days in [a, b) under the plain week; a <= b */
static int64
week_count(const MiaopiCalendar *c, int64 a, int64 b)
{
	int64		n = b - a;
	int64		count = (n / 7) * c->week_working;
	int			rem = (int) (n % 7);
	int			dow = isodow(a);

	while (rem-- > 0)
	{
		if ((c->weekend & (1 << (dow - 1))) == 0)
			count++;
		dow = dow % 7 + 1;
	}
	return count;
}

/* The n-th (n >= 1) working day on or after d under the plain week */
static int64
week_nth(const MiaopiCalendar *c, int64 d, int64 n)
{
	int64		r;

	Assert(c->week_working > 0 && n >= 1);
	d += 7 * ((n - 1) / c->week_working);
	r = (n - 1) % c->week_working + 1;
	for (;;)
	{
		if (week_is_working(c, d) && --r == 0)
			return d;
		d++;
	}
}

/* Is d a working day in calendar c? */
static bool
cal_is_working(const MiaopiCalendar *c, int64 d)
{
	if (d >= c->lo && d < c->hi)
		return c->prefix[d - c->lo + 1] != c->prefix[d - c->lo];
	return week_is_working(c, d);
}

/* Working days in [a, b) in calendar c; a <= b */
static int64
cal_count(const MiaopiCalendar *c, int64 a, int64 b)
{
	int64		count = 0;
	int64		e;

	if (a < c->lo)
	{
		e = Min(b, (int64) c->lo);
		count += week_count(c, a, e);
		a = e;
	}
	if (a < b && a < c->hi)
	{
		e = Min(b, (int64) c->hi);
		count += c->prefix[e - c->lo] - c->prefix[a - c->lo];
		a = e;
	}
	if (a < b)
		count += week_count(c, a, b);
	return count;
}

/* The n-th (n >= 1) working day on or after d in calendar c */
static int64
cal_nth(const MiaopiCalendar *c, int64 d, int64 n)
{
	int64		avail;

	if (d < c->lo)
	{
		avail = week_count(c, d, c->lo);
		if (n <= avail)
			return week_nth(c, d, n);
		n -= avail;
		d = c->lo;
	}
	if (d < c->hi)
	{
		int32		base = c->prefix[d - c->lo];

		avail = c->prefix[c->hi - c->lo] - base;
		if (n <= avail)
			return c->lo + c->working[base + n - 1];
		n -= avail;
		d = c->hi;
	}
	return week_nth(c, d, n);
}

/* Raise the error for a date or timestamp that left the supported range */
static void
out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp out of range"),
			 errdetail("The working-day result lies outside the range of timestamp with time zone.")));
}

/* Convert a timestamptz to pg_time_t seconds, rounding down */
static pg_time_t
floor_time_t(TimestampTz ts)
{
	int64		secs = ts / USECS_PER_SEC;

	if (ts < 0 && secs * USECS_PER_SEC != ts)
		secs--;
	return (pg_time_t) secs +
		((pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
}

/*
 * tz_offset returns the UTC offset (microseconds east) of calendar c's zone
 * at instant ts, refreshing the calendar's constant-offset window on a miss.
 */
static int64
tz_offset(MiaopiCalendar *c, TimestampTz ts)
{
	pg_time_t	t;
	pg_time_t	boundary = 0;
	long int	before_gmtoff;
	long int	after_gmtoff;
	int			before_isdst;
	int			after_isdst;
	int			r;

	if (ts >= c->win_lo && ts < c->win_hi)
		return c->win_off;

	t = floor_time_t(ts);
	r = pg_next_dst_boundary(&t, &before_gmtoff, &before_isdst, &boundary,
							 &after_gmtoff, &after_isdst, c->tz);
	if (r < 0)
	{
		/* the zone library could not say; fall back to a full conversion */
		struct pg_tm tm;
		fsec_t		fsec;
		int			tzoff;

		if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, c->tz) != 0)
			out_of_range();
		return -(int64) tzoff * USECS_PER_SEC;
	}

	c->win_lo = ts;
	c->win_hi = (r == 0) ? DT_NOEND :
		((int64) boundary -
		 (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) * USECS_PER_SEC;
	c->win_off = (int64) before_gmtoff * USECS_PER_SEC;
	return c->win_off;
}

/* Local date of ts in calendar c's zone */
static int64
cal_local_date(MiaopiCalendar *c, TimestampTz ts)
{
	int64		local;
	int64		d;

	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot count working days from or to an infinite timestamp"),
				 errhint("Give a finite timestamp.")));
	local = ts + tz_offset(c, ts);
	d = local / USECS_PER_DAY;
	if (local < 0 && d * USECS_PER_DAY != local)
		d--;
	return d;
}

/*
 * cal_end_of_day returns 23:59:59.999999 of local day d in calendar c's
 * zone, as a timestamptz.
 */
static TimestampTz
cal_end_of_day(MiaopiCalendar *c, int64 d)
{
	Timestamp	local;
	TimestampTz utc;
	struct pg_tm tm;
	int			tzoff;

	if (d < DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE ||
		d >= TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE - 1)
		out_of_range();
	local = (d + 1) * USECS_PER_DAY - 1;

	/* Fast path: the offset of the remembered window holds there */
	if (c->win_lo < c->win_hi)
	{
		utc = local - c->win_off;
		if (utc >= c->win_lo && utc < c->win_hi)
			return utc;
	}

	/* Slow path: let the zone library resolve the local time */
	j2date((int) (d + POSTGRES_EPOCH_JDATE), &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 59;
	tm.tm_isdst = -1;
	tzoff = DetermineTimeZoneOffset(&tm, c->tz);
	utc = local + (int64) tzoff * USECS_PER_SEC;
	if (!IS_VALID_TIMESTAMP(utc))
		out_of_range();
	(void) tz_offset(c, utc);
	return utc;
}

/* The year of day d */
static int
year_of(int64 d)
{
	int			y,
				m,
				dd;

	j2date((int) (d + POSTGRES_EPOCH_JDATE), &y, &m, &dd);
	return y;
}

/* Day number of January 1 of year y */
static int64
jan1(int y)
{
	return (int64) date2j(y, 1, 1) - POSTGRES_EPOCH_JDATE;
}

/*
 * calendar_build compiles calendar "name" from the tables, or raises
 * "does not exist".  The entry is built in a scratch context and adopted by
 * the cache only once complete, so a failure leaks nothing.
 */
static MiaopiCalendar *
calendar_build(const char *name)
{
	Oid			argtypes[2] = {TEXTOID, DATEOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	MemoryContext scratch;
	MemoryContext oldcxt;
	MiaopiCalendar *c;
	int			nrows;
	int			i;
	int64		span;
	DateADT    *days = NULL;
	bool	   *workday = NULL;
	bool		isnull;
	Datum		d;
	MiaopiOwnerSwitch owner;

	if (calendar_cxt == NULL)
		calendar_cxt = AllocSetContextCreate(CacheMemoryContext,
											 "miaopi calendar cache",
											 ALLOCSET_SMALL_SIZES);
	calendar_relid = miaopi_relid("calendar");
	calendar_day_relid = miaopi_relid("calendar_day");

	scratch = AllocSetContextCreate(CurrentMemoryContext,
									"miaopi calendar build",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(scratch);
	c = palloc0(sizeof(MiaopiCalendar));
	c->name = pstrdup(name);

	/*
	 * Read as the owner, restricted, with a pinned search_path and qualified
	 * operators: the cache serves every role of this backend, so nothing of
	 * the caller's (its privileges, its operators) may shape what it holds.
	 */
	miaopi_become_owner(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT timezone, weekend, published_through"
							  " FROM miaopi.calendar WHERE name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read miaopi.calendar");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("calendar \"%s\" does not exist", name),
				 errdetail("There is no row named \"%s\" in miaopi.calendar.", name),
				 errhint("Use a calendar listed in miaopi.calendar, such as \"cn\", or INSERT the calendar first.")));

	/* Copy what the first query returned out of SPI memory */
	MemoryContextSwitchTo(scratch);
	c->tzname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;

		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT,
						  &elems, &enulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			int			dow = enulls[i] ? 0 : DatumGetInt32(elems[i]);

			if (dow >= 1 && dow <= 7)
				c->weekend |= (uint8) (1 << (dow - 1));
		}
	}
	for (i = 1; i <= 7; i++)
		if ((c->weekend & (1 << (i - 1))) == 0)
			c->week_working++;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	c->has_published = !isnull;
	if (!isnull)
		c->published_through = DatumGetDateADT(d);
	if (c->has_published && DATE_NOT_FINITE(c->published_through))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("calendar \"%s\" has an infinite published_through", name),
				 errhint("Set published_through to the last day of the last notice loaded, or to NULL.")));

	c->tz = c->tzname ? pg_tzset(c->tzname) : NULL;
	if (c->tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" of calendar \"%s\" is not recognized",
						c->tzname ? c->tzname : "", name),
				 errhint("Set miaopi.calendar.timezone to a name from pg_timezone_names, such as \"Asia/Shanghai\".")));

	/* The rows in force, in day order */
	values[1] = DateADTGetDatum(c->published_through);
	nulls[1] = c->has_published ? ' ' : 'n';
	if (SPI_execute_with_args("SELECT day, kind OPERATOR(pg_catalog.=) 'workday'"
							  " FROM miaopi.calendar_day"
							  " WHERE calendar OPERATOR(pg_catalog.=) $1"
							  " AND ($2 IS NULL OR day OPERATOR(pg_catalog.<=) $2)"
							  " ORDER BY day",
							  2, argtypes, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read miaopi.calendar_day");
	nrows = (int) SPI_processed;
	MemoryContextSwitchTo(scratch);
	if (nrows > 0)
	{
		days = palloc(sizeof(DateADT) * nrows);
		workday = palloc(sizeof(bool) * nrows);
	}
	for (i = 0; i < nrows; i++)
	{
		days[i] = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1, &isnull));
		workday[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 2, &isnull));
		if (DATE_NOT_FINITE(days[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calendar \"%s\" has a row for an infinite day", name),
					 errhint("Delete that row from miaopi.calendar_day.")));
	}
	SPI_finish();
	miaopi_restore_user(&owner);

	/* The range the rows cover */
	if (nrows > 0)
	{
		c->lo = days[0];
		c->hi = c->has_published ? c->published_through + 1 : days[nrows - 1] + 1;
	}
	else
		c->lo = c->hi = c->has_published ? c->published_through + 1 : 0;
	span = (int64) c->hi - c->lo;
	if (span > CALENDAR_MAX_SPAN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("calendar \"%s\" spans too many days", name),
				 errdetail("Its rows run from %s to %s, more than %d days.",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(c->lo))),
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(c->hi - 1))),
						   CALENDAR_MAX_SPAN),
				 errhint("Delete rows far in the past or the future from miaopi.calendar_day.")));

	/* Compile prefix counts and the index of working days */
	c->prefix = palloc(sizeof(int32) * (span + 1));
	c->working = palloc(sizeof(int32) * (span + 1));
	c->prefix[0] = 0;
	{
		int			row = 0;
		int32		k = 0;
		int64		off;

		for (off = 0; off < span; off++)
		{
			int64		day = c->lo + off;
			bool		w = week_is_working(c, day);

			if (row < nrows && days[row] == day)
				w = workday[row++];
			if (w)
				c->working[k++] = (int32) off;
			c->prefix[off + 1] = k;
		}
	}

	/* A year without a single working day would make searches endless */
	if (c->week_working == 0 && span == 0)
		c->defect_year = -1;	/* every year; named at use */
	else if (span > 0)
	{
		int			y;
		int			ylast = year_of(c->hi - 1);

		for (y = year_of(c->lo); y <= ylast; y++)
		{
			if (cal_count(c, jan1(y), jan1(y + 1)) == 0)
			{
				c->defect_year = y;
				break;
			}
		}
		if (c->defect_year == 0 && c->week_working == 0)
			c->defect_year = ylast + 1;
	}

	c->win_lo = c->win_hi = 0;

	/* Adopt the entry */
	MemoryContextSwitchTo(oldcxt);
	{
		MiaopiCalendar *keep = MemoryContextAlloc(calendar_cxt, sizeof(MiaopiCalendar));

		memcpy(keep, c, sizeof(MiaopiCalendar));
		keep->name = MemoryContextStrdup(calendar_cxt, c->name);
		keep->tzname = MemoryContextStrdup(calendar_cxt, c->tzname);
		keep->prefix = MemoryContextAlloc(calendar_cxt, sizeof(int32) * (span + 1));
		memcpy(keep->prefix, c->prefix, sizeof(int32) * (span + 1));
		keep->working = MemoryContextAlloc(calendar_cxt,
										   sizeof(int32) * (c->prefix[span] + 1));
		memcpy(keep->working, c->working, sizeof(int32) * c->prefix[span]);
		keep->next = calendars;
		calendars = keep;
		c = keep;
	}
	MemoryContextDelete(scratch);
	return c;
}

/*
 * calendar_lookup returns the compiled calendar "name", building it on
 * first use.  The pointer is valid until the next lookup.
 */
static MiaopiCalendar *
calendar_lookup(const char *name)
{
	MiaopiCalendar *c;

	if (!calendar_callback_registered)
	{
		CacheRegisterRelcacheCallback(calendar_relcache_callback, (Datum) 0);
		calendar_callback_registered = true;
	}
	if (calendar_cache_stale)
	{
		calendar_cache_stale = false;
		calendars = NULL;
		if (calendar_cxt != NULL)
			MemoryContextReset(calendar_cxt);
		calendar_generation++;
	}
	for (c = calendars; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return calendar_build(name);
}

/*
 * miaopi_calendar_generation changes whenever the calendar cache is (or is
 * about to be) rebuilt; 0 while a rebuild is pending, which no caller has
 * stored.
 */
uint64
miaopi_calendar_generation(void)
{
	return calendar_cache_stale ? 0 : calendar_generation;
}

/*
 * calendar_arg returns the calendar named by text argument argno of an SQL
 * function, remembering it in fn_extra while the cache generation holds.
 */
static MiaopiCalendar *
calendar_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	CalendarFnCache *fc = (CalendarFnCache *) fcinfo->flinfo->fn_extra;
	MiaopiCalendar *c;

	if (fc != NULL && !calendar_cache_stale &&
		fc->generation == calendar_generation &&
		fc->len == len && memcmp(fc->name, s, len) == 0)
		return fc->calendar;

	c = calendar_lookup(text_to_cstring(t));
	if (fc == NULL || fc->len < len)
	{
		fc = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								offsetof(CalendarFnCache, name) + len + 1);
		fcinfo->flinfo->fn_extra = fc;
	}
	fc->generation = calendar_generation;
	fc->calendar = c;
	fc->len = len;
	memcpy(fc->name, s, len);
	return c;
}

/* Refuse a calendar with a year without working days */
static void
calendar_check_usable(const MiaopiCalendar *c, int64 day)
{
	int			year;

	if (c->defect_year == 0)
		return;
	year = c->defect_year > 0 ? c->defect_year : year_of(day);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("calendar \"%s\" has no working day in %d", c->name, year),
			 c->week_working == 0 ?
			 errdetail("Its weekend holds all seven days, and no workday row in miaopi.calendar_day covers %d.", year) :
			 errdetail("The holiday rows in miaopi.calendar_day cover every working day of %d.", year),
			 errhint("Remove a day from the calendar's weekend, or add workday rows to miaopi.calendar_day.")));
}

/* Refuse a negative or absurd number of working days */
static void
check_days(int n)
{
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of working days must not be negative"),
				 errdetail("The number given was %d.", n),
				 errhint("Count from an earlier start instead of counting backwards.")));
	if (n > MIAOPI_MAX_WORKING_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of working days is too large"),
				 errdetail("The number given was %d; at most %d working days can be added.",
						   n, MIAOPI_MAX_WORKING_DAYS),
				 errhint("Time limits are counted in working days; check the unit.")));
}

/* Is day d past the calendar's published_through? */
static inline bool
past_published(const MiaopiCalendar *c, int64 d)
{
	return c->has_published && d > c->published_through;
}

/* The day n working days after local day ds (n = 0: ds itself) */
static int64
cal_add(const MiaopiCalendar *c, int64 ds, int n)
{
	check_days(n);
	calendar_check_usable(c, ds);
	if (n == 0)
		return ds;
	return cal_nth(c, ds + 1, n);
}

/* Working days after day da up to and including day db (negative if db < da) */
static int64
cal_between(const MiaopiCalendar *c, int64 da, int64 db)
{
	if (db >= da)
		return cal_count(c, da + 1, db + 1);
	return -cal_count(c, db + 1, da + 1);
}

/* ---------------------------------------------------------------------
 * C interface (calendar.h)
 * ---------------------------------------------------------------------
 */

/*
 * miaopi_is_working_day says whether day is a working day in calendar.
 */
bool
miaopi_is_working_day(const char *calendar, DateADT day, bool *provisional)
{
	MiaopiCalendar *c = calendar_lookup(calendar);

	if (provisional && past_published(c, day))
		*provisional = true;
	if (DATE_NOT_FINITE(day))
		return false;
	return cal_is_working(c, day);
}

/*
 * miaopi_add_working_days returns the end (23:59:59.999999 local) of the
 * n-th working day after start's local day in the calendar's zone.
 */
TimestampTz
miaopi_add_working_days(const char *calendar, TimestampTz start, int n,
						bool *provisional)
{
	MiaopiCalendar *c = calendar_lookup(calendar);
	int64		t;

	if (TIMESTAMP_NOT_FINITE(start))
	{
		check_days(n);
		return start;
	}
	t = cal_add(c, cal_local_date(c, start), n);
	if (provisional && past_published(c, t))
		*provisional = true;
	return cal_end_of_day(c, t);
}

/*
 * miaopi_add_working_days_date returns the n-th working day after day.
 */
DateADT
miaopi_add_working_days_date(const char *calendar, DateADT day, int n,
							 bool *provisional)
{
	MiaopiCalendar *c = calendar_lookup(calendar);
	int64		t;

	if (DATE_NOT_FINITE(day))
	{
		check_days(n);
		return day;
	}
	t = cal_add(c, day, n);
	if (!IS_VALID_DATE(t))
		out_of_range();
	if (provisional && past_published(c, t))
		*provisional = true;
	return (DateADT) t;
}

/*
 * miaopi_working_days_between counts the working days after a's local day
 * up to and including b's local day; negative when b's day is earlier.
 */
int
miaopi_working_days_between(const char *calendar, TimestampTz a,
							TimestampTz b, bool *provisional)
{
	MiaopiCalendar *c = calendar_lookup(calendar);
	int64		da = cal_local_date(c, a);
	int64		db = cal_local_date(c, b);

	if (provisional && past_published(c, Max(da, db)))
		*provisional = true;
	return (int) cal_between(c, da, db);
}

/*
 * miaopi_working_days_between_dates is the same count between two dates.
 */
int
miaopi_working_days_between_dates(const char *calendar, DateADT a, DateADT b,
								  bool *provisional)
{
	MiaopiCalendar *c = calendar_lookup(calendar);

	if (DATE_NOT_FINITE(a) || DATE_NOT_FINITE(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot count working days from or to an infinite date"),
				 errhint("Give a finite date.")));
	if (provisional && past_published(c, Max(a, b)))
		*provisional = true;
	return (int) cal_between(c, a, b);
}

/*
 * miaopi_calendar_local_date returns the date of ts in the calendar's zone.
 */
DateADT
miaopi_calendar_local_date(const char *calendar, TimestampTz ts)
{
	MiaopiCalendar *c = calendar_lookup(calendar);

	return (DateADT) cal_local_date(c, ts);
}

/*
 * miaopi_calendar_timezone returns the calendar's time zone.
 */
pg_tz *
miaopi_calendar_timezone(const char *calendar)
{
	return calendar_lookup(calendar)->tz;
}

/*
 * miaopi_calendar_past_published says whether ts's local day lies past the
 * calendar's published_through (so anything counted up to it is provisional).
 */
bool
miaopi_calendar_past_published(const char *calendar, TimestampTz ts)
{
	MiaopiCalendar *c = calendar_lookup(calendar);

	if (!c->has_published)
		return false;
	if (TIMESTAMP_IS_NOEND(ts))
		return true;
	if (TIMESTAMP_IS_NOBEGIN(ts))
		return false;
	return cal_local_date(c, ts) > c->published_through;
}

/*
 * miaopi_working_days_split counts a..b and b..c with one lookup and three
 * date conversions (the clock calls it for every row it shows).
 */
void
miaopi_working_days_split(const char *calendar, TimestampTz a, TimestampTz b,
						  TimestampTz c, int *ab, int *bc)
{
	MiaopiCalendar *cal = calendar_lookup(calendar);
	int64		db = cal_local_date(cal, b);

	*ab = (int) cal_between(cal, cal_local_date(cal, a), db);
	*bc = (int) cal_between(cal, db, cal_local_date(cal, c));
}

/*
 * miaopi_calendar_any_past_published says whether the local day of any of
 * ts[0..n-1] lies past published_through; DT_NOBEGIN entries are skipped.
 */
bool
miaopi_calendar_any_past_published(const char *calendar, const TimestampTz *ts,
								   int n)
{
	MiaopiCalendar *c = calendar_lookup(calendar);
	int			i;

	if (!c->has_published)
		return false;
	for (i = 0; i < n; i++)
	{
		if (TIMESTAMP_IS_NOBEGIN(ts[i]))
			continue;
		if (TIMESTAMP_IS_NOEND(ts[i]) || cal_local_date(c, ts[i]) > c->published_through)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/* SQL: miaopi.is_working_day(day date, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_is_working_day_sql);
Datum
miaopi_is_working_day_sql(PG_FUNCTION_ARGS)
{
	DateADT		day = PG_GETARG_DATEADT(0);
	MiaopiCalendar *c = calendar_arg(fcinfo, 1);

	if (DATE_NOT_FINITE(day))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(cal_is_working(c, day));
}

/* SQL: miaopi.add_working_days(start timestamptz, n int, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_add_working_days_sql);
Datum
miaopi_add_working_days_sql(PG_FUNCTION_ARGS)
{
	TimestampTz start = PG_GETARG_TIMESTAMPTZ(0);
	int32		n = PG_GETARG_INT32(1);
	MiaopiCalendar *c = calendar_arg(fcinfo, 2);

	if (TIMESTAMP_NOT_FINITE(start))
	{
		check_days(n);
		PG_RETURN_TIMESTAMPTZ(start);
	}
	PG_RETURN_TIMESTAMPTZ(cal_end_of_day(c, cal_add(c, cal_local_date(c, start), n)));
}

/* SQL: miaopi.add_working_days(start date, n int, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_add_working_days_date_sql);
Datum
miaopi_add_working_days_date_sql(PG_FUNCTION_ARGS)
{
	DateADT		start = PG_GETARG_DATEADT(0);
	int32		n = PG_GETARG_INT32(1);
	MiaopiCalendar *c = calendar_arg(fcinfo, 2);
	int64		t;

	if (DATE_NOT_FINITE(start))
	{
		check_days(n);
		PG_RETURN_DATEADT(start);
	}
	t = cal_add(c, start, n);
	if (!IS_VALID_DATE(t))
		out_of_range();
	PG_RETURN_DATEADT((DateADT) t);
}

/* SQL: miaopi.working_days_between(a timestamptz, b timestamptz, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_working_days_between_sql);
Datum
miaopi_working_days_between_sql(PG_FUNCTION_ARGS)
{
	TimestampTz a = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz b = PG_GETARG_TIMESTAMPTZ(1);
	MiaopiCalendar *c = calendar_arg(fcinfo, 2);

	PG_RETURN_INT32((int32) cal_between(c, cal_local_date(c, a), cal_local_date(c, b)));
}

/* SQL: miaopi.working_days_between(a date, b date, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_working_days_between_date_sql);
Datum
miaopi_working_days_between_date_sql(PG_FUNCTION_ARGS)
{
	DateADT		a = PG_GETARG_DATEADT(0);
	DateADT		b = PG_GETARG_DATEADT(1);
	MiaopiCalendar *c = calendar_arg(fcinfo, 2);

	if (DATE_NOT_FINITE(a) || DATE_NOT_FINITE(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot count working days from or to an infinite date"),
				 errhint("Give a finite date.")));
	PG_RETURN_INT32((int32) cal_between(c, a, b));
}

/* SQL: miaopi.is_provisional(day date, calendar text) */
PG_FUNCTION_INFO_V1(miaopi_is_provisional_sql);
Datum
miaopi_is_provisional_sql(PG_FUNCTION_ARGS)
{
	DateADT		day = PG_GETARG_DATEADT(0);
	MiaopiCalendar *c = calendar_arg(fcinfo, 1);

	if (DATE_IS_NOBEGIN(day))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(c->has_published &&
				   (DATE_IS_NOEND(day) || day > c->published_through));
}
