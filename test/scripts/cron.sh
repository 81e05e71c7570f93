#!/bin/sh
# pg_cron really runs miaopi.sweep(): schedule it in database postgres (where
# cron.database_name points), wait until a run succeeded and recorded a
# deadline crossing, check each crossing was recorded once, unschedule.
#
# pg_cron 1.5 and later take '2 seconds'; older ones (Debian 12 ships 1.4)
# only run on minute boundaries, so there the wait is bounded at 75 s.
set -e
db=postgres
q() { psql -qtAX -v ON_ERROR_STOP=1 -d $db "$@"; }

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS miaopi CASCADE;
CREATE EXTENSION miaopi;
-- an application accepted in 2025: long overdue by the real clock the job uses
SET miaopi.clock_now = '2025-09-26 10:00+08';
SELECT count(*) FROM miaopi.load_rules($y$
service: cron-licence
name: 定时检查
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 2, decide: 3, deliver: 1}
fields: {}
checks: []
$y$);
WITH a AS (INSERT INTO miaopi.application (service_code, applicant_id, payload)
		VALUES ('cron-licence', 'x', '{}') RETURNING id)
SELECT miaopi.act(id, 'accept') FROM a;
SQL

version=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")
case $version in
	1.[0-4]*) schedule='* * * * *'; limit=75 ;;
	*) schedule='2 seconds'; limit=30 ;;
esac
jobid=$(q -c "SELECT cron.schedule('miaopi-sweep-test', '$schedule', 'SELECT miaopi.sweep()')")
echo "# pg_cron $version: job $jobid runs SELECT miaopi.sweep() every '$schedule' (waiting at most ${limit}s)"

waited=0
result=f
while [ $waited -lt $limit ]; do
	result=$(q -c "SELECT EXISTS (SELECT 1 FROM cron.job_run_details WHERE jobid = $jobid AND status = 'succeeded')
		AND EXISTS (SELECT 1 FROM miaopi.event WHERE action = 'deadline')")
	[ "$result" = t ] && break
	sleep 1
	waited=$((waited + 1))
done
# let a second run (if the schedule is fast) prove nothing is recorded twice
[ "$result" = t ] && [ "$limit" -le 30 ] && sleep 3

q -c "SELECT cron.unschedule($jobid)" >/dev/null
q -c "SELECT '# run ' || runid || ': ' || status || ' ' || coalesce(return_message, '')
	FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid"
q -c "SELECT '# ' || (detail->>'light') || ' (' || (detail->>'cause') || coalesce(' ' || (detail->>'step'), '') || ') by ' || actor
	FROM miaopi.event WHERE action = 'deadline' ORDER BY id"
twice=$(q -c "SELECT count(*) FROM (SELECT application_id, detail->>'light', detail->>'cause', detail->>'step'
	FROM miaopi.event WHERE action = 'deadline' GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d")
q -c "DROP EXTENSION miaopi CASCADE"

if [ "$result" = t ] && [ "$twice" = 0 ]; then
	echo "ok - cron: pg_cron ran miaopi.sweep() after ${waited}s and each crossing was recorded once"
else
	echo "not ok - cron: no successful sweep with a recorded crossing within ${limit}s (or a crossing recorded twice: $twice)"
	exit 1
fi
