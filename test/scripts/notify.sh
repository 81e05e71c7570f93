#!/bin/sh
# sweep() sends NOTIFY miaopi_deadline with a JSON payload for each crossing
# it records, and nothing when run again.
set -e
db=miaopi_notify
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
out=$(psql -qX -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2025-09-26 10:00+08';
SELECT count(*) FROM miaopi.load_rules($y$
service: notify-licence
name: 通知
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
fields: {}
checks: []
$y$) \g /dev/null
WITH a AS (INSERT INTO miaopi.application (service_code, applicant_id, payload)
		VALUES ('notify-licence', 'x', '{}') RETURNING id)
SELECT miaopi.act(id, 'accept') FROM a \g /dev/null
SET miaopi.clock_now = '2025-10-31 10:00+08';
LISTEN miaopi_deadline;
SELECT miaopi.sweep() AS first_sweep;
SELECT miaopi.sweep() AS second_sweep;
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
echo "$out" | sed -e 's/PID [0-9]*/PID n/' -e 's/^/# /'
notes=$(echo "$out" | grep -c 'Asynchronous notification "miaopi_deadline" with payload')
red=$(echo "$out" | grep -c '"event": "red", "cause": "promised", "due": "2025-10-10T23:59:59.999999+08:00"')
overdue=$(echo "$out" | grep -c '"event": "overdue", "cause": "statutory", "due": "2025-10-30T23:59:59.999999+08:00"')
if [ "$notes" = 2 ] && [ "$red" = 1 ] && [ "$overdue" = 1 ]; then
	echo "ok - notify: sweep sent one NOTIFY miaopi_deadline per crossing, none on the second run"
else
	echo "not ok - notify: expected 2 notifications (red, overdue), got $notes"
	exit 1
fi
