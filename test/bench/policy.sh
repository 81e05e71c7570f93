#!/bin/sh
# Speed of less-to-submit and policies (issue 10; never a timed test):
#   1. push() of a policy (apply: confirm) over an audience of 100,000
#      companies, two lookups each (from: fields)             (target <= 5 s)
#   2. match() for one company over 20 open policies, two lookups each,
#      mean of 500 calls                                    (target <= 2 ms)
#   3. index probes a from: field adds to the INSERT: idx_scan of the
#      looked-up table's index per INSERT, counted by the statistics of
#      one transaction of 2,000 INSERTs                    (target <= 1)
#   4. push() of the same version again (nothing changed: no new match)
# Prints BENCH|measure|value|target lines for the runner.  Alone: inside a
# cluster where miaopi is installed, e.g.  pg_virtualenv test/bench/policy.sh
# (N=20000 test/bench/policy.sh for a quick run).
set -e
db=${BENCH_DB:-miaopi_policy_bench}
n=${N:-100000}
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -qX -At -v ON_ERROR_STOP=1 -v n=$n -d $db <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00+08';
CREATE SCHEMA ent;
-- USCCs are ASCII codes: byte order ("C") is their natural order, and the cheapest
CREATE TABLE ent.company (uscc text COLLATE "C" PRIMARY KEY, employees int NOT NULL, status text NOT NULL);
CREATE TABLE ent.insurance (uscc text COLLATE "C" PRIMARY KEY, insured int NOT NULL, arrears boolean NOT NULL);
INSERT INTO ent.company SELECT 'C' || lpad(g::text, 7, '0'), g % 500, 'active' FROM generate_series(1, :n) g;
INSERT INTO ent.insurance SELECT 'C' || lpad(g::text, 7, '0'), g % 450, g % 31 = 0 FROM generate_series(1, :n) g;
VACUUM ANALYZE ent.company, ent.insurance;

-- 20 open policies of the same shape, different thresholds
SELECT count(*) FROM generate_series(1, 20) i,
	LATERAL miaopi.load_rules(format($y$
service: bench-grant-%s
name: 补贴 %s
kind: policy
time_limit: {statutory: 20, promised: 5}
auto_approve: true
apply: confirm
open: {from: 2026-01-01, until: 2026-12-31}
audience: {table: ent.company, key: uscc}
benefit: "payload.insured * 1500"
fields:
  employees: {type: int, from: "lookup(ent.company, uscc == applicant.id).employees"}
  insured: {type: int, from: "lookup(ent.insurance, uscc == applicant.id).insured"}
checks:
  - id: staff
    rule: payload.employees >= %s and payload.insured >= 10
    on_fail: reject
$y$, i, i, i * 10)) \g /dev/null

CREATE TEMP TABLE result (measure text, value numeric, target text);
-- CPU seconds this backend has used (utime + stime of /proc/<pid>/stat, in
-- clock ticks of 1/100 s): on a busy shared machine the wall clock mostly
-- measures the other users, the CPU time what push() itself costs
CREATE FUNCTION pg_temp.cpu_s() RETURNS numeric LANGUAGE sql AS $$
	SELECT (f[12]::numeric + f[13]::numeric) / 100   -- fields 14 and 15, counted from the state (3)
	FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2), ' ') AS f) s
$$;
DO $$
DECLARE
	t0 timestamptz;
	c0 numeric;
	k bigint;
	i int;
BEGIN
	c0 := pg_temp.cpu_s();
	t0 := clock_timestamp();
	k := miaopi.push('bench-grant-1');
	INSERT INTO result VALUES ('policy: push over ' || k || ' audience rows, two lookups each (s)',
		round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2), '<= 5');
	INSERT INTO result VALUES ('policy: the same push, CPU seconds of its backend',
		round(pg_temp.cpu_s() - c0, 2), '<= 5');
	t0 := clock_timestamp();
	k := miaopi.push('bench-grant-1');
	INSERT INTO result VALUES ('policy: push of the same version again, ' || k || ' new matches (s)',
		round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2), 'info');
	PERFORM count(*) FROM miaopi.match('C0000777');	-- warm the caches
	c0 := pg_temp.cpu_s();
	t0 := clock_timestamp();
	FOR i IN 1..500 LOOP
		PERFORM count(*) FROM miaopi.match('C' || lpad((i * 97 % 90000 + 1)::text, 7, '0'));
	END LOOP;
	INSERT INTO result VALUES ('policy: match() over 20 open policies (ms)',
		round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000 / 500, 3), '<= 2');
	INSERT INTO result VALUES ('policy: the same match(), CPU ms of its backend',
		round((pg_temp.cpu_s() - c0) * 1000 / 500, 3), '<= 2');
END $$;

-- index probes per INSERT with one from: field, counted in one transaction
SELECT count(*) FROM miaopi.load_rules($y$
service: bench-fetch
name: 取数备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  employees: {type: int, from: "lookup(ent.company, uscc == applicant.id).employees"}
checks:
  - id: staff
    rule: payload.employees >= 0
    on_fail: reject
$y$) \g /dev/null
BEGIN;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'bench-fetch', 'C' || lpad(g::text, 7, '0'), '{}' FROM generate_series(1, 2000) g;
INSERT INTO result
SELECT 'policy: index probes a from: field adds per INSERT',
	   round(pg_stat_get_xact_numscans('ent.company_pkey'::regclass)::numeric / 2000, 2), '<= 1';
COMMIT;
SELECT 'BENCH|' || measure || '|' || value || '|' || target FROM result;
SQL
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
# this machine is shared: say how busy it was
echo "BENCH|policy: load average (1 min) at the end of the run|$(cut -d' ' -f1 /proc/loadavg)|info"
