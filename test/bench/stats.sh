#!/bin/sh
# Statistics views and replay over a year of applications (issue 9), run by
# run-bench.sh inside the bench cluster, in a database of its own:
#   - each miaopi.stats_* view read in full over N applications (default
#     1,000,000; test/bench/stats-data.sql), best of 3 after a warm-up
#     (target <= 2 s each);
#   - replay() of a changed threshold over one service's applications, as
#     applications decided per second (target >= 50,000/s, no lookups).
# Prints BENCH lines for the report, nothing is asserted.
#   N=200000 sh test/bench/stats.sh     a quicker run, inside a cluster
set -e
cd "$(dirname "$0")/../.."
db=${BENCH_STATS_DB:-miaopi_stats_bench}
n=${N:-1000000}
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION miaopi"
started=$(date +%s)
psql -qX -v ON_ERROR_STOP=1 -v n="$n" -d $db -f test/bench/stats-data.sql >/dev/null
echo "generated $n applications over a year in $(( $(date +%s) - started )) s"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL'
SET client_min_messages = warning;
SET miaopi.clock_now = '2026-12-01 10:00+08';
\pset footer off
SELECT status, count(*), count(*) FILTER (WHERE decided_by = 'miaopi') AS by_machine
FROM miaopi.application GROUP BY 1 ORDER BY 1;
SELECT pg_size_pretty(pg_total_relation_size('miaopi.application')) AS "application, with indexes";

CREATE FUNCTION pg_temp.best_ms(q text, reps int DEFAULT 3) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	best numeric;
	t timestamptz;
BEGIN
	EXECUTE q;		-- warm-up
	FOR i IN 1..reps LOOP
		t := clock_timestamp();
		EXECUTE q;
		best := least(best, extract(epoch FROM clock_timestamp() - t) * 1000);
	END LOOP;
	RETURN round(best, 1);
END
$$;

-- the same machine's speed at a plain aggregation over the same rows, measured
-- in the same run: the views' times divided by it do not depend on how busy
-- the (shared) machine is
CREATE TEMP TABLE base AS
SELECT pg_temp.best_ms('SELECT status, count(*) FROM miaopi.application GROUP BY 1') AS ms;
CREATE TEMP TABLE r AS
SELECT v, pg_temp.best_ms(format('SELECT * FROM miaopi.%I', v)) AS ms
FROM unnest(ARRAY['stats_service', 'stats_daily', 'stats_checks', 'stats_time_limits', 'stats_channels']) v;

-- replay: the public service's threshold moves from 8 to 10
SELECT count(*) AS replayed FROM miaopi.application WHERE service_code = 'stats-public' \gset
CREATE TEMP TABLE rp AS
SELECT pg_temp.best_ms($q$SELECT count(*) FROM miaopi.replay($y$
service: stats-public
name: 住房公积金提取（统计）
department: 市住房公积金中心
kind: public_service
time_limit: {statutory: 10, promised: 3}
auto_approve: true
fields:
  n: {type: int, required: true}
  q: {type: int, required: true}
  opt: int
materials:
  form: {required: true}
checks:
  - {id: enough, rule: payload.n >= 10, message: 余额不足, on_fail: reject}
  - {id: quality, rule: payload.q >= 15, message: 需人工核实, on_fail: manual}
$y$)$q$, 2) AS ms;

\pset format unaligned
\pset tuples_only on
SELECT format('BENCH|%s over %s applications|%s s|≤ 2 s', v,
	to_char((SELECT count(*) FROM miaopi.application), 'FM9,999,999'), round(ms / 1000, 2)) FROM r ORDER BY v;
SELECT format('BENCH|reference: SELECT status, count(*) GROUP BY 1 over the same rows|%s s|(reference)',
	round(ms / 1000, 2)) FROM base;
SELECT format('BENCH|%s / that reference|%s×|(diagnostic)', v, round(r.ms / base.ms, 1))
FROM r, base ORDER BY v;
SELECT format('BENCH|replay() of a changed threshold, %s applications, no lookups|%s /s|≥ 50,000 /s',
	to_char(:replayed, 'FM9,999,999'), to_char(:replayed / (ms / 1000), 'FM9,999,999')) FROM rp;
SQL
psql -qX -d postgres -c "DROP DATABASE $db"
