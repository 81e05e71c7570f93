#!/bin/sh
# The per-backend calendar and service caches follow changes committed by
# another backend: session A computes, session B changes the tables (psql \!),
# session A's next statement sees the change.
set -e
db=miaopi_cache
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL' >/dev/null
CREATE EXTENSION miaopi;
SELECT * FROM miaopi.load_rules($y$
service: cache-licence
name: 缓存
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 2, decide: 3, deliver: 1}
fields: {}
checks: []
$y$);
SET miaopi.clock_now = '2026-03-06 10:00+08';
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('cache-licence', 'x', '{}');
SQL
out=$(psql -qtAX -v ON_ERROR_STOP=1 -d $db 2>&1 <<SQL
SET miaopi.clock_now = '2026-03-06 10:00+08';
SELECT 'calendar before: ' || miaopi.add_working_days('2026-03-06'::date, 1);
SELECT 'step due before: ' || step_due::date FROM miaopi.clock;
\! psql -qX -d $db -c "INSERT INTO miaopi.calendar_day VALUES ('cn', '2026-03-09', 'holiday', '测试')"
SELECT 'calendar after: ' || miaopi.add_working_days('2026-03-06'::date, 1);
\! psql -qX -d $db -c "UPDATE miaopi.service SET steps = '[{\"step\": \"accept\", \"limit\": 3}, {\"step\": \"decide\", \"limit\": null}, {\"step\": \"deliver\", \"limit\": null}]'"
SELECT 'step due after: ' || step_due::date FROM miaopi.clock;
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
echo "$out" | sed 's/^/# /'
expected='calendar before: 2026-03-09
step due before: 2026-03-09
calendar after: 2026-03-10
step due after: 2026-03-12'
if [ "$out" = "$expected" ]; then
	echo "ok - cache: calendar and service changes in another backend reach this one"
else
	echo "not ok - cache: stale cache after another backend's change"
	exit 1
fi
