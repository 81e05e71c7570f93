-- Working-day calendars: the shipped cn calendar, real holiday cases, time
-- zones, provisional days, cache invalidation and bad input.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';

-- The shipped calendar: the 2024-2026 notices, published through 2026
SELECT name, timezone, weekend, published_through FROM miaopi.calendar;
SELECT extract(year FROM day) AS year, kind, count(*)
FROM miaopi.calendar_day WHERE calendar = 'cn' GROUP BY 1, 2 ORDER BY 1, 2;

-- Working days per year (2027 is not published: the plain week)
SELECT y AS year,
	miaopi.working_days_between(make_date(y, 1, 1) - 1, make_date(y, 12, 31)) AS working_days,
	miaopi.is_provisional(make_date(y, 12, 31)) AS provisional
FROM generate_series(2024, 2027) y;

-- The worked examples of licensing_law_time_limits.md (start day excluded)
SELECT start, n, miaopi.add_working_days(start, n) AS deadline,
	to_char(miaopi.add_working_days(start, n), 'Dy') AS dow
FROM (VALUES ('2025-09-26'::date, 5), ('2025-09-26', 20), ('2025-09-26', 30),
			 ('2026-02-13', 20), ('2024-12-31', 10), ('2026-09-18', 20)) v(start, n);

-- The same as timestamps: the end of the deadline's day in Shanghai
SELECT miaopi.add_working_days('2025-09-26 09:30+08', 20) AS art42,
	miaopi.add_working_days('2025-09-26 09:30+08', 30) AS art42_extended,
	miaopi.add_working_days('2026-02-13 16:00+08', 20) AS spring_festival;

-- Spring Festival 2026: Sat 02-14 and Sat 02-28 work, 02-15..02-23 are off
SELECT d::date AS day, to_char(d, 'Dy') AS dow, miaopi.is_working_day(d::date) AS working
FROM generate_series('2026-02-13'::date, '2026-03-01', '1 day') d;

-- National Day 2025: Sun 09-28 and Sat 10-11 work, 10-01..10-08 are off
SELECT d::date AS day, to_char(d, 'Dy') AS dow, miaopi.is_working_day(d::date) AS working
FROM generate_series('2025-09-27'::date, '2025-10-12', '1 day') d;
SELECT miaopi.add_working_days('2025-09-26'::date, 1) AS sunday_0928,
	miaopi.add_working_days('2025-09-30'::date, 1) AS after_the_break,
	miaopi.working_days_between('2025-09-30'::date, '2025-10-10') AS across_the_break;

-- New Year: 2025-01-01 is off; 2026 begins with three days off and a working Sunday
SELECT miaopi.add_working_days('2024-12-31'::date, 1) AS jan2_2025,
	miaopi.add_working_days('2025-12-31'::date, 1) AS sunday_jan4_2026,
	miaopi.add_working_days('2025-12-31'::date, 2) AS jan5_2026,
	miaopi.working_days_between('2025-12-25'::date, '2026-01-09') AS across_new_year;

-- n = 0 is the end of the start's own day, working or not
SELECT miaopi.add_working_days('2026-02-15 10:00+08', 0) AS same_day,
	miaopi.add_working_days('2026-02-15'::date, 0) AS same_date;

-- working_days_between counts after a's day up to and including b's; b earlier: negative
SELECT miaopi.working_days_between('2025-09-26'::date, '2025-09-26') AS same_day,
	miaopi.working_days_between('2025-09-26'::date, '2025-10-10') AS forward,
	miaopi.working_days_between('2025-10-10'::date, '2025-09-26') AS backward,
	miaopi.working_days_between('2025-09-26 23:59+08'::timestamptz, '2025-09-28 00:01+08') AS hours_apart;

-- Time zone edge: 23:30 on a Friday in Shanghai is 15:30 UTC, still Friday;
-- 23:30 UTC on that Friday is already Saturday in Shanghai.  The calendar's
-- zone decides, whatever the session's.  Saturday 2025-10-11 is a working day.
SET timezone = 'UTC';
SELECT miaopi.add_working_days('2025-10-10 23:30+08', 1) AS from_friday_shanghai,
	miaopi.add_working_days('2025-10-10 23:30+00', 1) AS from_friday_utc,
	miaopi.working_days_between('2025-10-10 23:30+08', '2025-10-11 00:30+08') AS one_hour_later,
	miaopi.add_working_days('2026-03-06 23:30+08', 5) AS friday_night_plus_5;
SET timezone = 'Asia/Shanghai';
SELECT miaopi.add_working_days('2025-10-10 23:30+08', 1) AS from_friday_shanghai,
	miaopi.add_working_days('2025-10-10 23:30+00', 1) AS from_friday_utc,
	miaopi.add_working_days('2026-03-06 23:30+08', 5) AS friday_night_plus_5;

-- Against a naive day-by-day count over every start from 2023-12 to 2027-02
CREATE TEMP TABLE naive AS
SELECT d::date AS day, w AS working, sum(w::int) OVER (ORDER BY d) AS ordinal
FROM generate_series('2023-11-01'::date, '2027-12-31', '1 day') d,
	LATERAL (SELECT CASE WHEN d > '2026-12-31' THEN extract(isodow FROM d) < 6
			 ELSE coalesce((SELECT kind = 'workday' FROM miaopi.calendar_day
							WHERE calendar = 'cn' AND day = d::date),
						   extract(isodow FROM d) < 6) END AS w) x;
SELECT count(*) AS compared,
	count(*) FILTER (WHERE miaopi.add_working_days(s.day, n) IS DISTINCT FROM
					 (SELECT min(t.day) FROM naive t
					  WHERE t.working AND t.ordinal = s.ordinal + n)) AS add_mismatches,
	count(*) FILTER (WHERE miaopi.working_days_between(s.day, miaopi.add_working_days(s.day, n)) <> n)
		AS roundtrip_mismatches,
	count(*) FILTER (WHERE miaopi.add_working_days(s.day::timestamptz + interval '23 hours 59 minutes', n)
					 <> (miaopi.add_working_days(s.day, n) + 1)::timestamptz - interval '1 microsecond')
		AS timestamp_mismatches
FROM naive s, (VALUES (1), (2), (5), (10), (20), (30)) v(n)
WHERE s.day BETWEEN '2023-12-01' AND '2027-02-01';
SELECT count(*) AS compared,
	count(*) FILTER (WHERE miaopi.working_days_between(a.day, b.day) <> b.ordinal - a.ordinal)
		AS between_mismatches,
	count(*) FILTER (WHERE miaopi.is_working_day(a.day) <> a.working) AS day_mismatches
FROM naive a, naive b
WHERE a.day BETWEEN '2023-12-20' AND '2027-01-10' AND b.day = a.day + (a.day - '2023-12-01') % 97;

-- A date past published_through uses the plain week and is provisional;
-- rows after it are not in force until published_through moves
BEGIN;
INSERT INTO miaopi.calendar_day VALUES ('cn', '2027-01-04', 'holiday', '测试');
SELECT miaopi.is_working_day('2027-01-04') AS still_working,
	miaopi.add_working_days('2026-12-31'::date, 1) AS jan1_2027_provisional,
	miaopi.is_provisional('2026-12-31') AS dec31, miaopi.is_provisional('2027-01-01') AS jan1;
UPDATE miaopi.calendar SET published_through = '2027-12-31' WHERE name = 'cn';
SELECT miaopi.is_working_day('2027-01-04') AS now_off,
	miaopi.add_working_days('2026-12-31'::date, 2) AS skips_jan4,
	miaopi.is_provisional('2027-01-01') AS jan1;
ROLLBACK;
SELECT miaopi.is_working_day('2027-01-04') AS working_again,
	miaopi.add_working_days('2026-12-31'::date, 2) AS jan4_again;

-- Admins add calendars with plain INSERTs; the cache follows every change
INSERT INTO miaopi.calendar (name, timezone, weekend, published_through)
VALUES ('six-day', 'UTC', '{7}', '2030-12-31');
SELECT miaopi.add_working_days('2026-03-06'::date, 1, 'six-day') AS saturday,
	miaopi.working_days_between('2026-03-01'::date, '2026-03-08', 'six-day') AS one_week;
INSERT INTO miaopi.calendar_day VALUES ('six-day', '2026-03-07', 'holiday', '休息');
SELECT miaopi.add_working_days('2026-03-06'::date, 1, 'six-day') AS monday_now,
	miaopi.working_days_between('2026-03-01'::date, '2026-03-08', 'six-day') AS one_week;
UPDATE miaopi.calendar SET weekend = '{6,7}' WHERE name = 'six-day';
SELECT miaopi.working_days_between('2026-03-01'::date, '2026-03-08', 'six-day') AS five_days;
DELETE FROM miaopi.calendar_day WHERE calendar = 'six-day';
UPDATE miaopi.calendar SET name = 'five-day' WHERE name = 'six-day';
SELECT miaopi.working_days_between('2026-03-01'::date, '2026-03-08', 'five-day') AS renamed;

-- A calendar in a zone with daylight saving: deadlines end at local midnight
INSERT INTO miaopi.calendar (name, timezone) VALUES ('ny', 'America/New_York');
SET timezone = 'America/New_York';
SELECT miaopi.add_working_days('2026-03-06 12:00-05', 1, 'ny') AS across_dst_start,
	miaopi.add_working_days('2026-10-30 23:30-04', 1, 'ny') AS across_dst_end,
	miaopi.is_provisional('2099-01-01', 'ny') AS never_provisional;
SET timezone = 'Asia/Shanghai';

-- Infinite starts stay infinite; STRICT functions give NULL for NULL
SELECT miaopi.add_working_days('infinity'::timestamptz, 5) AS inf,
	miaopi.add_working_days('-infinity'::date, 5) AS minus_inf,
	miaopi.add_working_days(NULL::timestamptz, 5) AS null_start,
	miaopi.is_working_day(NULL) AS null_day,
	miaopi.is_working_day('infinity') AS inf_day;

-- Bad input
SELECT miaopi.add_working_days('2026-01-05 10:00+08', 5, 'xx');
SELECT miaopi.is_working_day('2026-01-05', 'xx');
SELECT miaopi.add_working_days('2026-01-05 10:00+08', -1);
SELECT miaopi.add_working_days('2026-01-05'::date, 10001);
SELECT miaopi.add_working_days('2026-01-05'::date, 2147483647);
SELECT miaopi.working_days_between('2026-01-05 10:00+08', 'infinity');
SELECT miaopi.add_working_days('294276-12-01 00:00+00'::timestamptz, 100);
-- a calendar without a single working day: refused, never an endless search
INSERT INTO miaopi.calendar (name, weekend) VALUES ('never', '{1,2,3,4,5,6,7}');
SELECT miaopi.add_working_days('2026-01-05 10:00+08', 1, 'never');
SELECT miaopi.is_working_day('2026-01-05', 'never') AS no_day_works,
	miaopi.working_days_between('2026-01-01'::date, '2026-12-31', 'never') AS none_in_2026;
-- a workday row gives 2026 a working day, but the years after it still have none
INSERT INTO miaopi.calendar_day VALUES ('never', '2026-06-01', 'workday', NULL);
SELECT miaopi.add_working_days('2026-01-05'::date, 1, 'never');
-- a year whose every working day is a holiday row
INSERT INTO miaopi.calendar (name, published_through) VALUES ('lost-year', '2030-12-31');
INSERT INTO miaopi.calendar_day
SELECT 'lost-year', d, 'holiday', '全年放假'
FROM generate_series('2030-01-01'::date, '2030-12-31', '1 day') d;
SELECT miaopi.add_working_days('2026-01-05'::date, 1, 'lost-year');
DELETE FROM miaopi.calendar_day WHERE calendar = 'lost-year' AND day = '2030-07-01';
SELECT miaopi.add_working_days('2029-12-31'::date, 1, 'lost-year') AS only_day_2030;
-- an unknown time zone
INSERT INTO miaopi.calendar (name, timezone) VALUES ('mars', 'Mars/Olympus_Mons');
SELECT miaopi.add_working_days('2026-01-05 10:00+08', 1, 'mars');
-- none of that changed cn
SELECT miaopi.add_working_days('2026-02-13'::date, 20) AS still_0319;

DELETE FROM miaopi.calendar WHERE name <> 'cn';
SELECT count(*) AS days_left FROM miaopi.calendar_day WHERE calendar <> 'cn';
