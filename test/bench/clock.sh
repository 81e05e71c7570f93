#!/bin/sh
# Speed of the calendar and the clock, as ratios against plain SQL measured
# in the same run (issue 3; never a timed test):
#   1. 1,000,000 add_working_days(ts, 20) in one SELECT, against
#      1,000,000 ts + interval '20 days'                       (target <= 3x)
#   2. SELECT light, count(*) FROM miaopi.clock GROUP BY 1 over 1,000,000
#      open applications, against SELECT count(*) FROM miaopi.application
#                                                               (target <= 4x)
# Each query runs 3 times after a warm-up; the best time counts.  Parallel
# query is off so both sides use one core.
#
# The 1,000,000 applications are inserted through the decision trigger (real
# payloads and reasons, all queued for a human), then spread over 20 days of
# submissions and a mix of pending, accepted, reviewed and paused states by
# one bulk UPDATE with the guard disabled (a superuser path: otherwise only
# miaopi's functions move applications).
#
# make bench runs it after the insert benchmarks.  Alone: inside a cluster
# where miaopi is installed, e.g.
#   pg_virtualenv test/bench/clock.sh          (N=200000 test/bench/clock.sh for a quick run)
set -e
db=${BENCH_DB:-miaopi_bench}
n=${N:-1000000}
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -v n=$n -d $db <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET max_parallel_workers_per_gather = 0;

CREATE FUNCTION best_ms(q text, reps int DEFAULT 3) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	best numeric;
	t timestamptz;
BEGIN
	t := clock_timestamp();
	EXECUTE q;		-- warm-up (reps 0: the only run, and timed)
	IF reps = 0 THEN
		RETURN round(extract(epoch FROM clock_timestamp() - t) * 1000, 1);
	END IF;
	FOR i IN 1..reps LOOP
		t := clock_timestamp();
		EXECUTE q;
		best := least(best, extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
	RETURN round(best, 1);
END
$$;

-- 1. add_working_days against interval arithmetic, one timestamp a minute over ~2 years
CREATE TEMP TABLE r1 AS
SELECT best_ms(format($q$SELECT count(miaopi.add_working_days(ts, 20)) FROM generate_series(
	'2025-01-01 00:00+08'::timestamptz, '2025-01-01 00:00+08'::timestamptz + (%s - 1) * interval '1 minute',
	interval '1 minute') ts$q$, :n)) AS calendar_ms,
	best_ms(format($q$SELECT count(ts + interval '20 days') FROM generate_series(
	'2025-01-01 00:00+08'::timestamptz, '2025-01-01 00:00+08'::timestamptz + (%s - 1) * interval '1 minute',
	interval '1 minute') ts$q$, :n)) AS interval_ms;
SELECT format('add_working_days(ts, 20) x %s: %s ms; ts + interval ''20 days'': %s ms; ratio %s (target <= 3)',
	:n, calendar_ms, interval_ms, round(calendar_ms / interval_ms, 2)) AS "1. calendar" FROM r1;

-- 2. the clock over open applications
SELECT count(*) FROM miaopi.load_rules($y$
service: bench-licence
name: 建筑垃圾（渣土）运输许可
department: 市城市管理委员会
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 3, decide: 5, deliver: 1}
fields:
  vehicle_count: {type: int, required: true}
  plates: {type: "[text]", required: true}
  start_date: {type: date, required: true}
  end_date: date
checks:
  - {id: uscc, rule: uscc_valid(applicant.id), message: 统一社会信用代码无效, on_fail: reject}
  - {id: count, rule: len(payload.plates) == payload.vehicle_count, message: 车辆数量与车牌不符, on_fail: reject}
  - id: period
    rule: not has(payload.end_date) or days_between(payload.start_date, payload.end_date) <= 365
    on_fail: manual
---
service: bench-public
name: 公共服务
kind: public_service
time_limit: {statutory: 10, promised: 3}
auto_approve: false
fields:
  vehicle_count: {type: int, required: true}
  plates: {type: "[text]", required: true}
  start_date: {type: date, required: true}
  end_date: date
checks:
  - {id: uscc, rule: uscc_valid(applicant.id), message: 统一社会信用代码无效, on_fail: reject}
  - {id: count, rule: len(payload.plates) == payload.vehicle_count, message: 车辆数量与车牌不符, on_fail: reject}
$y$) \g /dev/null

-- Real applications, decided by the trigger (all queued for a human: auto_approve false),
-- submitted over the 20 days before 2026-06-15
SELECT format('INSERT of %s applications through the decision trigger: %s ms', :n,
	best_ms(format($q$INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
	SELECT CASE WHEN i %% 3 = 0 THEN 'bench-public' ELSE 'bench-licence' END,
		'91350100M000100Y43', '某运输公司',
		jsonb_build_object('vehicle_count', 2, 'plates', jsonb_build_array('闽A12345', '闽A54321'),
			'start_date', '2026-07-01', 'end_date', '2027-05-31'),
		'{transport_contract,road_permit}'
	FROM generate_series(1, %s) i$q$, :n), 0)) AS "insert";
-- That INSERT ran once (reps 0 is the warm-up only); give each row its own submission time
-- and a workflow state.  Applications only move through miaopi's functions, so
-- this bulk set-up is a superuser path: the guard is disabled while it runs.
ALTER TABLE miaopi.application DISABLE TRIGGER application_guard;
UPDATE miaopi.application a SET
	submitted_at = x.sub, status = x.st, accepted_at = x.acc,
	promised_due = CASE WHEN x.acc IS NOT NULL THEN miaopi.add_working_days(x.acc, x.promised_days) END,
	statutory_due = CASE WHEN x.acc IS NOT NULL THEN miaopi.add_working_days(x.acc, x.statutory_days) END,
	step_due = CASE WHEN x.acc IS NOT NULL THEN miaopi.add_working_days(x.acc, 3) END,
	paused_at = CASE WHEN x.st = 'supplement' THEN x.acc + interval '1 day' END
FROM (SELECT b.id, g.sub, h.st, s.promised_days, s.statutory_days,
		CASE WHEN h.st = 'pending' THEN NULL ELSE g.sub + interval '2 hours' END AS acc
	  FROM miaopi.application b
	  JOIN miaopi.service s ON s.code = b.service_code
	  CROSS JOIN LATERAL (SELECT '2026-06-15 10:00+08'::timestamptz - (b.id % 28800) * interval '1 minute' AS sub,
		CASE b.id % 10 WHEN 0 THEN 'supplement' WHEN 1 THEN 'reviewed' WHEN 2 THEN 'reviewed'
			WHEN 3 THEN 'pending' WHEN 4 THEN 'pending' WHEN 5 THEN 'pending' WHEN 6 THEN 'pending'
			ELSE 'accepted' END AS st0) g
	  CROSS JOIN LATERAL (SELECT CASE WHEN g.st0 = 'reviewed' AND s.kind <> 'licence' THEN 'accepted'
		ELSE g.st0 END AS st) h) x
WHERE a.id = x.id;
ALTER TABLE miaopi.application ENABLE TRIGGER application_guard;
VACUUM FULL miaopi.application;

VACUUM ANALYZE miaopi.application;
SET miaopi.clock_now = '2026-06-15 10:00+08';
SELECT light, count(*) FROM miaopi.clock GROUP BY 1 ORDER BY 1;
SELECT pg_size_pretty(pg_relation_size('miaopi.application')) AS "table size",
	pg_relation_size('miaopi.application') / count(*) AS "bytes per row" FROM miaopi.application;
-- count(*) is measured as a sequential scan, reading every row as the clock
-- must; after VACUUM the planner may count from the primary key alone
-- (index-only scan), which is reported too.
SET enable_indexonlyscan = off;
CREATE TEMP TABLE r2 AS
SELECT best_ms('SELECT light, count(*) FROM miaopi.clock GROUP BY 1') AS clock_ms,
	best_ms('SELECT count(*) FROM miaopi.application') AS count_ms,
	(SELECT count(*) FROM miaopi.application WHERE closed_at IS NULL) AS open;
RESET enable_indexonlyscan;
SELECT format('clock GROUP BY light over %s open applications: %s ms; count(*) (sequential scan): %s ms; ratio %s (target <= 4)',
	open, clock_ms, count_ms, round(clock_ms / count_ms, 2)) AS "2. clock" FROM r2;
SELECT format('for reference: count(*) as planned now: %s ms; SELECT status, count(*) ... GROUP BY 1 (plain column): %s ms',
	best_ms('SELECT count(*) FROM miaopi.application'),
	best_ms('SELECT status, count(*) FROM miaopi.application GROUP BY 1')) AS "2b. reference" FROM r2;
SELECT format('sweep() over %s open applications: %s ms recording the crossings, then %s ms with nothing new',
	open, best_ms('SELECT miaopi.sweep()', 0), best_ms('SELECT miaopi.sweep()', 1)) AS "3. sweep" FROM r2;
-- the figures for run-bench.sh's closing table
\pset format unaligned
\pset tuples_only on
SELECT 'BENCH|calendar: add_working_days(ts, 20) / ts + interval, ' || :n || ' rows|'
	|| round(calendar_ms / interval_ms, 2) || '|≤ 3' FROM r1;
SELECT 'BENCH|clock: GROUP BY light / count(*), ' || open || ' open|'
	|| round(clock_ms / count_ms, 2) || '|≤ 4' FROM r2;
SQL
psql -qX -d postgres -c "DROP DATABASE $db"
