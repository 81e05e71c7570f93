#!/bin/sh
# Speed of the audit ledger (issue 7), printed as BENCH|measure|value|target
# lines; nothing here asserts a timing.
#   1. INSERT of muck filings through the decision trigger with the hash
#      (miaopi.ledger_hash on) against the same build without it (off), in
#      one interleaved pgbench run: throughput ratio (target >= 0.95)
#   2. sweep() over N (1,000,000) open applications recording its first
#      crossings, now hashed and chained (target <= 10 s)
#   3. seal() of 100,000 new rows (target <= 2 s)
#   4. seal() with nothing new over everything sealed (target <= 50 ms)
#   5. verify_ledger() over everything (target <= 30 s)
# Alone, inside a cluster where miaopi is installed:
#   pg_virtualenv -t test/bench/ledger.sh        (N=200000 for a quick run)
set -e
cd "$(dirname "$0")/../.."
db=${BENCH_DB:-miaopi_ledger_bench}
n=${N:-1000000}
secs=${BENCH_SECONDS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="psql -X -q -v ON_ERROR_STOP=1 -d $db"

psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null

# 1. INSERT with and without the hash
awk -f test/bench/nolookup.awk rules/muck-transport-filing.yaml >"$tmp/nolookup.yaml"
PGOPTIONS="-c miaopi.clock_now=2026-12-01T10:00:00+08:00" $P -v muck_src="$(cat rules/muck-transport-filing.yaml)" \
	-v nolookup_src="$(cat "$tmp/nolookup.yaml")" -f test/bench/setup.sql >/dev/null
for mode in on off; do
	cat >"$tmp/hash_$mode.sql" <<SQL
\\set i random(1, 10000)
SET miaopi.ledger_hash = $mode;
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
SELECT 'muck-transport-filing', applicant_id, applicant_name, payload, materials, 'online'
FROM bench.pool WHERE i = :i;
SQL
done
export PGOPTIONS="-c miaopi.clock_now=2026-12-01T10:00:00+08:00"
pgbench -n -M prepared -c 2 -j 2 -T 3 -f "$tmp/hash_on.sql@1" -f "$tmp/hash_off.sql@1" $db >/dev/null 2>&1
(cd "$tmp" && pgbench -n -M prepared -c 2 -j 2 -T "$secs" -l --log-prefix=tx \
	-f "$tmp/hash_on.sql@1" -f "$tmp/hash_off.sql@1" $db >/dev/null 2>&1)
unset PGOPTIONS
# per-script mean latency (log: client tx latency_us script epoch us); ratio = latency(off) / latency(on)
cat "$tmp"/tx.* | awk '{ s[$4] += $3; c[$4]++ }
	END { on = s[0] / c[0]; off = s[1] / c[1];
		printf "BENCH|ledger: INSERT with hash / without (throughput; %.1f us vs %.1f us, %d + %d tx)|%.3f|>= 0.95\n",
			on, off, c[0], c[1], off / on }'
hashed=$($P -At -c "SELECT count(*) FILTER (WHERE hash IS NOT NULL) || ' hashed, ' || count(*) FILTER (WHERE hash IS NULL) || ' not' FROM miaopi.application")
echo "# insert run: $hashed"

# 2. sweep() over n open applications (the set-up of test/bench/clock.sh)
psql -qX -d postgres -c "DROP DATABASE $db" -c "CREATE DATABASE $db" >/dev/null
$P -v n=$n <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
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
$y$);
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT CASE WHEN i % 3 = 0 THEN 'bench-public' ELSE 'bench-licence' END,
	'91350100M000100Y43', '某运输公司',
	jsonb_build_object('vehicle_count', 2, 'plates', jsonb_build_array('闽A12345', '闽A54321'),
		'start_date', '2026-07-01', 'end_date', '2027-05-31'),
	'{transport_contract,road_permit}'
FROM generate_series(1, :n) i;
-- a superuser set-up path, as in clock.sh: spread submissions and states.
-- The rows no longer match their hashes, so verify_ledger() below reports
-- those that sweep() leaves without an event.
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
SQL

$P -At -v n=$n <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET miaopi.clock_now = '2026-06-15 10:00+08';
CREATE TEMP TABLE t (what text, ms numeric, n bigint);
CREATE FUNCTION pg_temp.timed(what text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	r bigint;
BEGIN
	EXECUTE q INTO r;
	INSERT INTO t VALUES (what, round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1), r);
END
$$;
SELECT pg_temp.timed('sweep', 'SELECT miaopi.sweep()');
SELECT format('BENCH|ledger: sweep() over %s open applications, first crossings (%s events hashed, s)|%s|<= 10',
	:n, n, round(ms / 1000, 2)) FROM t WHERE what = 'sweep';
SELECT pg_temp.timed('seal all', 'SELECT miaopi.seal()');
SELECT format('# seal() of everything so far: %s entries in %s ms', n, ms) FROM t WHERE what = 'seal all';
SET miaopi.clock_now = '2026-06-16 10:00+08';
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT 'bench-public', '91350100M000100Y43', '某运输公司',
	jsonb_build_object('vehicle_count', 2, 'plates', jsonb_build_array('闽A12345', '闽A54321'),
		'start_date', '2026-07-01', 'end_date', '2027-05-31'),
	'{transport_contract,road_permit}'
FROM generate_series(1, 100000) i;
SELECT pg_temp.timed('seal 100k', 'SELECT miaopi.seal()');
SELECT format('BENCH|ledger: seal() of %s new rows (s)|%s|<= 2', n, round(ms / 1000, 2)) FROM t WHERE what = 'seal 100k';
SELECT pg_temp.timed('empty seal', 'SELECT miaopi.seal()');
SELECT pg_temp.timed('empty seal', 'SELECT miaopi.seal()');
SELECT pg_temp.timed('empty seal', 'SELECT miaopi.seal()');
SELECT format('BENCH|ledger: seal() with nothing new over %s sealed rows (ms, best of 3)|%s|<= 50',
	(SELECT count(*) FROM miaopi.ledger_entry), min(ms)) FROM t WHERE what = 'empty seal';
SELECT pg_temp.timed('verify', 'SELECT count(*) FROM miaopi.verify_ledger()');
SELECT format('BENCH|ledger: verify_ledger() over %s rows (s; %s problems: rows the set-up edited)|%s|<= 30',
	(SELECT count(*) FROM miaopi.ledger_entry), n, round(ms / 1000, 2)) FROM t WHERE what = 'verify';
SQL
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
