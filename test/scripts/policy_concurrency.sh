#!/bin/sh
# Two sessions push the same policy version (apply: auto) at once: every
# applicant still has exactly one match of that version and at most one
# application filed, and both sessions finish without an error.
set -e
db=miaopi_policy_concurrency
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION miaopi;
CREATE TABLE public.firm (uscc text PRIMARY KEY, staff int);
INSERT INTO public.firm SELECT 'F' || g, g % 200 FROM generate_series(1, 4000) g;
SET miaopi.clock_now = '2026-12-01 10:00+08';
SELECT count(*) FROM miaopi.load_rules($y$
service: race-grant
name: 并发
kind: policy
time_limit: {statutory: 20, promised: 5}
auto_approve: true
apply: auto
open: {from: 2026-01-01}
audience: {table: public.firm, key: uscc}
benefit: "payload.staff * 100"
fields:
  staff: {type: int, from: "lookup(public.firm, uscc == applicant.id).staff"}
checks:
  - id: staff
    rule: payload.staff >= 100
    on_fail: reject
$y$) \g /dev/null
SQL
push() { psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "SET miaopi.clock_now = '2026-12-01 10:00+08'" -c "SELECT miaopi.push('race-grant')"; }
push >/tmp/race1.$$ 2>&1 &
p1=$!
push >/tmp/race2.$$ 2>&1 &
p2=$!
rc=0
wait $p1 || rc=1
wait $p2 || rc=1
a=$(cat /tmp/race1.$$); b=$(cat /tmp/race2.$$)
rm -f /tmp/race1.$$ /tmp/race2.$$
res=$(psql -qXAt -d $db -c "SELECT count(*), count(DISTINCT applicant_id), count(application_id),
	(SELECT count(*) FROM miaopi.application), (SELECT count(DISTINCT applicant_id) FROM miaopi.application)
	FROM miaopi.policy_match")
psql -qX -d postgres -c "DROP DATABASE $db"
echo "# push results: $a and $b; matches, applicants, filed, applications, applicants filed: $res"
if [ $rc = 0 ] && [ "$res" = "4000|4000|2000|2000|2000" ] && [ $((a + b)) = 4000 ]; then
	echo "ok - policy_concurrency: two pushes at once record one match per applicant and file each application once"
else
	echo "not ok - policy_concurrency: expected 4000|4000|2000|2000|2000 and pushes adding up to 4000"
	exit 1
fi
