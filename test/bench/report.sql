/*
 * test/bench/report.sql: print what `make bench` measured.
 */
\set ON_ERROR_STOP 1
\pset linestyle unicode
\pset border 2
\pset null '—'
\pset footer off
SET client_min_messages = warning;

-- Medians of the repeated timings
CREATE TEMP VIEW m AS
SELECT section, metric, unit, count(*) AS runs,
	   percentile_disc(0.5) WITHIN GROUP (ORDER BY value) AS median,
	   min(value) AS best, max(value) AS worst
FROM bench.result
GROUP BY section, metric, unit;

-- (a) per-script latency from pgbench's transaction log
CREATE TEMP VIEW tx AS
SELECT CASE script WHEN 0 THEN 'miaopi' WHEN 1 THEN 'plain' WHEN 2 THEN 'plpgsql' ELSE 'plain + stored decision' END AS target,
	   count(*) AS transactions,
	   round(avg(latency_us), 1) AS mean_latency_us,
	   percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_us) AS median_latency_us,
	   percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_us) AS p95_latency_us
FROM bench.txlog
GROUP BY script;

-- (b) decision_us of the rows the measured run inserted
CREATE TEMP VIEW dec AS
SELECT 'miaopi' AS target, count(*) AS rows,
	   round(100.0 * count(*) FILTER (WHERE status = 'approved') / nullif(count(*), 0), 1) AS approved_pct,
	   percentile_disc(0.5) WITHIN GROUP (ORDER BY decision_us) AS median_us,
	   percentile_disc(0.95) WITHIN GROUP (ORDER BY decision_us) AS p95_us
FROM miaopi.application
WHERE id > (SELECT value FROM bench.result WHERE metric = 'miaopi first id')
UNION ALL
SELECT 'plpgsql', count(*),
	   round(100.0 * count(*) FILTER (WHERE status = 'approved') / nullif(count(*), 0), 1),
	   percentile_disc(0.5) WITHIN GROUP (ORDER BY decision_us),
	   percentile_disc(0.95) WITHIN GROUP (ORDER BY decision_us)
FROM bench.plpgsql_application
WHERE id > (SELECT value FROM bench.result WHERE metric = 'plpgsql first id');

\echo
\echo '(a) pgbench, one interleaved run: per-script latency (µs) from the transaction log'
SELECT * FROM tx ORDER BY target;

\echo '(b) decision_us of the rows inserted by the measured run (µs)'
SELECT * FROM dec;

\echo '(c) load_rules of 200 services x 20 checks, (d) evaluate() in one backend (ms; median of 3)'
SELECT section, metric, median, best, worst, unit
FROM m
WHERE section IN ('c', 'd')
ORDER BY section, metric;

\echo
\echo '══ Summary ══'
CREATE TEMP TABLE summary AS
WITH v AS (
	SELECT (SELECT mean_latency_us FROM tx WHERE target = 'plain')
		   / nullif((SELECT mean_latency_us FROM tx WHERE target = 'miaopi'), 0) AS ratio,
		   (SELECT mean_latency_us FROM tx WHERE target = 'plain')
		   / nullif((SELECT mean_latency_us FROM tx WHERE target = 'plpgsql'), 0) AS ratio_plpgsql,
		   (SELECT median_latency_us FROM tx WHERE target = 'plain')::numeric
		   / nullif((SELECT median_latency_us FROM tx WHERE target = 'miaopi'), 0) AS ratio_median,
		   (SELECT mean_latency_us FROM tx WHERE target = 'plain')
		   / nullif((SELECT mean_latency_us FROM tx WHERE target = 'plain + stored decision'), 0) AS ratio_stored,
		   (SELECT median_us FROM dec WHERE target = 'miaopi') AS med,
		   (SELECT p95_us FROM dec WHERE target = 'miaopi') AS p95,
		   (SELECT median_us FROM dec WHERE target = 'plpgsql') AS med_plpgsql,
		   (SELECT median FROM m WHERE metric = 'load_rules 200x20') AS load_ms,
		   (SELECT median FROM m WHERE metric = 'calls per run') AS calls,
		   (SELECT median FROM m WHERE metric = 'evaluate without lookups') AS nolk_ms,
		   (SELECT median FROM m WHERE metric = 'evaluate with lookups') AS lk_ms
)
SELECT ord, measure, value, target,
	   CASE WHEN ok IS NULL THEN '' WHEN ok THEN 'meets' ELSE 'MISSES' END AS "vs target"
FROM v,
	LATERAL (VALUES
		(1.0, 'INSERT throughput, miaopi / plain', to_char(ratio, 'FM0.00'), '≥ 0.80', ratio >= 0.80),
		(1.5, 'the same from median latencies', to_char(ratio_median, 'FM0.00'), '(diagnostic)', NULL),
		(2, 'INSERT throughput, PL/pgSQL trigger / plain', to_char(ratio_plpgsql, 'FM0.00'), '(comparison)', NULL),
		(2.5, 'INSERT throughput, plain storing the decision columns / plain', to_char(ratio_stored, 'FM0.00'), '(diagnostic)', NULL),
		(3.0, 'decision_us median', med || ' µs', '≤ 30 µs', med <= 30),
		(4, 'decision_us p95', p95 || ' µs', '', NULL),
		(5, 'PL/pgSQL trigger decision_us median', med_plpgsql || ' µs', '(comparison)', NULL),
		(6, 'load_rules 200 services x 20 checks', round(load_ms) || ' ms', '≤ 1000 ms', load_ms <= 1000),
		(7, 'evaluate() without lookups', to_char(calls / nullif(nolk_ms, 0) * 1000, 'FM999,999,990') || ' /s',
			'≥ 100,000 /s', calls / nullif(nolk_ms, 0) * 1000 >= 100000),
		(8, 'evaluate() with lookups', to_char(calls / nullif(lk_ms, 0) * 1000, 'FM999,999,990') || ' /s',
			'≥ 30,000 /s', calls / nullif(lk_ms, 0) * 1000 >= 30000)
	) AS s(ord, measure, value, target, ok);
SELECT measure, value, target, "vs target" FROM summary ORDER BY ord;
SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('server_version') AS postgres;

-- The same figures as BENCH lines for the closing table of run-bench.sh
-- (psql -v bench_lines=FILE); diagnostics stay in the table above.
\pset format unaligned
\pset tuples_only on
\o :bench_lines
SELECT 'BENCH|' || measure || '|' || coalesce(value, '—') || '|' || target
FROM summary
WHERE target NOT LIKE '(diagnostic)'
ORDER BY ord;
\o
