-- Working-day calendar: the contract's functions, real cases, and every bad
-- input with its SQLSTATE and message, each changing nothing.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(44);
SET LOCAL timezone = 'Asia/Shanghai';

-- The objects
SELECT has_table('miaopi', 'calendar', 'table calendar exists');
SELECT has_table('miaopi', 'calendar_day', 'table calendar_day exists');
SELECT has_function('miaopi', 'is_working_day', ARRAY['date', 'text'], 'is_working_day(date, text)');
SELECT has_function('miaopi', 'add_working_days', ARRAY['timestamp with time zone', 'integer', 'text'],
	'add_working_days(timestamptz, int, text)');
SELECT has_function('miaopi', 'working_days_between',
	ARRAY['timestamp with time zone', 'timestamp with time zone', 'text'],
	'working_days_between(timestamptz, timestamptz, text)');
SELECT volatility_is('miaopi', 'add_working_days', ARRAY['timestamp with time zone', 'integer', 'text'],
	'stable', 'add_working_days reads tables: STABLE');
SELECT has_trigger('miaopi', 'calendar_day', 'calendar_day_invalidate_cache',
	'calendar_day changes invalidate the cache');
SELECT results_eq($$SELECT name, timezone, published_through FROM miaopi.calendar$$,
	$$VALUES ('cn'::text, 'Asia/Shanghai'::text, '2026-12-31'::date)$$,
	'calendar cn is installed, published through 2026');
SELECT is((SELECT count(*) FROM miaopi.calendar_day WHERE calendar = 'cn'), 108::bigint,
	'all 108 rows of cn_holidays.csv are shipped');

-- Real cases (licensing_law_time_limits.md worked examples)
SELECT is(miaopi.add_working_days('2025-09-26 10:00+08', 5), '2025-10-10 23:59:59.999999+08'::timestamptz,
	'National Day 2025: 5 working days after Fri 09-26 end on Fri 10-10');
SELECT is(miaopi.add_working_days('2025-09-26 10:00+08', 20), '2025-10-30 23:59:59.999999+08'::timestamptz,
	'National Day 2025: 20 working days (art. 42) end on Thu 10-30');
SELECT is(miaopi.add_working_days('2025-09-26 10:00+08', 30), '2025-11-13 23:59:59.999999+08'::timestamptz,
	'National Day 2025: 20+10 (art. 42 extension) end on Thu 11-13');
SELECT is(miaopi.add_working_days('2026-02-13 10:00+08', 20), '2026-03-19 23:59:59.999999+08'::timestamptz,
	'Spring Festival 2026: 20 working days after Fri 02-13 end on Thu 03-19');
SELECT is(miaopi.add_working_days('2024-12-31 10:00+08', 10), '2025-01-15 23:59:59.999999+08'::timestamptz,
	'New Year: 10 working days (art. 44) after 2024-12-31 end on 2025-01-15');
SELECT is(miaopi.add_working_days('2026-09-18 10:00+08', 20), '2026-10-22 23:59:59.999999+08'::timestamptz,
	'National Day 2026: 20 working days after Fri 09-18 end on Thu 10-22');
SELECT ok(miaopi.is_working_day('2025-09-28') AND miaopi.is_working_day('2025-10-11'),
	'the adjusted Sunday 2025-09-28 and Saturday 2025-10-11 are working days');
SELECT ok(NOT miaopi.is_working_day('2025-10-01') AND NOT miaopi.is_working_day('2025-10-08'),
	'2025-10-01 and 2025-10-08 are days off');
SELECT ok(miaopi.is_working_day('2026-02-14') AND miaopi.is_working_day('2026-02-28')
	AND NOT miaopi.is_working_day('2026-02-16'),
	'Spring Festival 2026: Saturdays 02-14 and 02-28 work, Monday 02-16 is off');
SELECT is(miaopi.working_days_between('2025-12-25'::date, '2026-01-09'), 10,
	'ten working days from 12-26 to 01-09 across New Year 2026');
SELECT is(miaopi.add_working_days('2025-10-10 23:30+08', 1), '2025-10-11 23:59:59.999999+08'::timestamptz,
	'23:30 Friday in Shanghai still counts from Friday');
SELECT is(miaopi.add_working_days('2025-10-10 23:30+00', 1), '2025-10-13 23:59:59.999999+08'::timestamptz,
	'23:30 Friday in UTC is Saturday in Shanghai and counts from Saturday');
SELECT is(miaopi.working_days_between('2025-09-26 10:00+08', miaopi.add_working_days('2025-09-26 10:00+08', 20)),
	20, 'working_days_between inverts add_working_days');
SELECT is(miaopi.add_working_days('2026-03-02 10:00+08', 0), '2026-03-02 23:59:59.999999+08'::timestamptz,
	'n = 0 is the end of the start day');
SELECT ok(miaopi.is_provisional('2027-01-01') AND NOT miaopi.is_provisional('2026-12-31'),
	'days past published_through are provisional');

-- Cache invalidation within the session
INSERT INTO miaopi.calendar (name, timezone, published_through) VALUES ('tap', 'UTC', '2030-12-31');
SELECT is(miaopi.add_working_days('2026-03-06'::date, 1, 'tap'), '2026-03-09'::date,
	'a new calendar is usable at once');
INSERT INTO miaopi.calendar_day VALUES ('tap', '2026-03-09', 'holiday', NULL);
SELECT is(miaopi.add_working_days('2026-03-06'::date, 1, 'tap'), '2026-03-10'::date,
	'a new holiday row is seen by the next statement');
UPDATE miaopi.calendar SET weekend = '{7}' WHERE name = 'tap';
SELECT is(miaopi.add_working_days('2026-03-06'::date, 1, 'tap'), '2026-03-07'::date,
	'a changed weekend is seen by the next statement');

-- Bad input: SQLSTATE and message, and nothing changed
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM miaopi.calendar) AS calendars,
	(SELECT count(*) FROM miaopi.calendar_day) AS days;
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', 5, 'xx')$$,
	'42704', 'calendar "xx" does not exist', 'unknown calendar in add_working_days is undefined_object');
SELECT throws_ok($$SELECT miaopi.is_working_day('2026-01-05', 'xx')$$,
	'42704', 'calendar "xx" does not exist', 'unknown calendar in is_working_day is undefined_object');
SELECT throws_ok($$SELECT miaopi.working_days_between('2026-01-05'::date, '2026-01-09', 'xx')$$,
	'42704', 'calendar "xx" does not exist', 'unknown calendar in working_days_between is undefined_object');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', -1)$$,
	'22023', 'number of working days must not be negative', 'negative n is invalid_parameter_value');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05'::date, -20)$$,
	'22023', 'number of working days must not be negative', 'negative n (date form) is invalid_parameter_value');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', 10001)$$,
	'22023', 'number of working days is too large', 'n above 10000 is invalid_parameter_value');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', 2147483647)$$,
	'22023', 'number of working days is too large', 'n = 2^31-1 is refused at once');
SELECT throws_ok($$SELECT miaopi.add_working_days('294276-12-01 00:00+00'::timestamptz, 100)$$,
	'22008', 'timestamp out of range', 'a result past the timestamp range is datetime_field_overflow');
SELECT throws_ok($$SELECT miaopi.working_days_between('-infinity', '2026-01-05 10:00+08')$$,
	'22008', 'cannot count working days from or to an infinite timestamp',
	'counting from -infinity is refused');
INSERT INTO miaopi.calendar (name, weekend) VALUES ('never', '{1,2,3,4,5,6,7}');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', 1, 'never')$$,
	'42P17', 'calendar "never" has no working day in 2026',
	'a calendar with no working day in a year is invalid_object_definition, not an endless loop');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05'::date, 10000, 'never')$$,
	'42P17', 'calendar "never" has no working day in 2026', 'whatever n is');
INSERT INTO miaopi.calendar (name, published_through) VALUES ('lost-year', '2030-12-31');
INSERT INTO miaopi.calendar_day
SELECT 'lost-year', d, 'holiday', NULL FROM generate_series('2030-01-01'::date, '2030-12-31', '1 day') d;
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05'::date, 1, 'lost-year')$$,
	'42P17', 'calendar "lost-year" has no working day in 2030',
	'a year of holiday rows is refused too');
INSERT INTO miaopi.calendar (name, timezone) VALUES ('mars', 'Mars/Olympus_Mons');
SELECT throws_ok($$SELECT miaopi.add_working_days('2026-01-05 10:00+08', 1, 'mars')$$,
	'22023', 'time zone "Mars/Olympus_Mons" of calendar "mars" is not recognized',
	'a calendar in an unknown time zone is refused');
SELECT throws_ok($$INSERT INTO miaopi.calendar_day VALUES ('cn', '2026-05-05', 'festival', NULL)$$,
	'23514', NULL, 'a calendar_day kind other than holiday or workday is a check_violation');
SELECT throws_ok($$INSERT INTO miaopi.calendar (name, weekend) VALUES ('eight', '{8}')$$,
	'23514', NULL, 'a weekend day outside 1..7 is a check_violation');
DELETE FROM miaopi.calendar WHERE name IN ('never', 'lost-year', 'mars');
SELECT results_eq($$SELECT (SELECT count(*) FROM miaopi.calendar), (SELECT count(*) FROM miaopi.calendar_day)$$,
	$$SELECT calendars, days FROM before$$,
	'the refused calls and inserts changed nothing');
SELECT is(miaopi.add_working_days('2026-02-13'::date, 20), '2026-03-19'::date,
	'cn still answers as before');

SELECT * FROM finish();
ROLLBACK;
