#!/bin/sh
# push() sends one NOTIFY miaopi_policy with a JSON payload per batch of
# matches it records, and nothing when the same version is pushed again.
set -e
db=miaopi_policy_notify
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
out=$(psql -qX -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00+08';
CREATE TABLE public.firm (uscc text PRIMARY KEY, staff int);
INSERT INTO public.firm SELECT 'F' || g, g % 200 FROM generate_series(1, 2500) g;
SELECT count(*) FROM miaopi.load_rules($y$
service: notify-grant
name: 通知
kind: policy
time_limit: {statutory: 20, promised: 5}
auto_approve: true
apply: confirm
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
LISTEN miaopi_policy;
SELECT miaopi.push('notify-grant') AS first_push;
SELECT miaopi.push('notify-grant') AS second_push;
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
echo "$out" | sed -e 's/PID [0-9]*/PID n/' -e 's/^/# /'
notes=$(echo "$out" | grep -c 'Asynchronous notification "miaopi_policy" with payload')
b1=$(echo "$out" | grep -c '"batch": 1, "matched": 1000, "eligible": 500, "first_match": 1, "last_match": 1000, "apply": "confirm"')
b3=$(echo "$out" | grep -c '"batch": 3, "matched": 500, "eligible": 201, "first_match": 2001, "last_match": 2500')
if [ "$notes" = 3 ] && [ "$b1" = 1 ] && [ "$b3" = 1 ]; then
	echo "ok - policy_notify: push sent one NOTIFY miaopi_policy per batch of 1000, none for the same version again"
else
	echo "not ok - policy_notify: expected 3 notifications (batches of 1000, 1000, 500), got $notes"
	exit 1
fi
