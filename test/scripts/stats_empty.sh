#!/bin/sh
# Statistics over an empty database: every miaopi.stats_* view answers with
# zero rows (no services), then with one row of zeros per service and NULL
# rates (a service, no applications); replay() of it returns nothing.  Never
# an error, never a division by zero.
set -e
db=miaopi_stats_empty
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION miaopi"
status=0
views="stats_service stats_daily stats_checks stats_time_limits stats_channels"
for v in $views; do
	n=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "SELECT count(*) FROM (SELECT * FROM miaopi.$v) v" 2>&1)
	if [ "$n" = 0 ]; then
		echo "ok - stats_empty: miaopi.$v over an empty database: 0 rows"
	else
		echo "not ok - stats_empty: miaopi.$v over an empty database: $n"
		status=1
	fi
done
src='service: empty-lab
name: 空
kind: licence
time_limit: {statutory: 20, promised: 5}
fields: {}
checks:
  - {id: always, rule: "true", on_fail: manual}'
psql -qX -v ON_ERROR_STOP=1 -v src="$src" -d $db >/dev/null <<'SQL'
SELECT 1 FROM miaopi.load_rules(:'src');
SQL
got=$(psql -qXAt -v ON_ERROR_STOP=1 -v src="$src" -d $db 2>&1 <<'SQL'
SELECT concat_ws(' ', submitted, approved_by_machine, rejected, pending, average_steps IS NULL,
	machine_approval_rate IS NULL, same_day_rate IS NULL, online_rate IS NULL,
	within_promised_rate IS NULL, licences_issued) FROM miaopi.stats_service;
SELECT concat_ws(' ', decided, promised_ratio, within_promised_rate IS NULL, open, yellow) FROM miaopi.stats_time_limits;
SELECT concat_ws(' ', check_id, evaluated, failed, fail_rate IS NULL) FROM miaopi.stats_checks ORDER BY ordinal;
SELECT count(*) FROM miaopi.stats_daily;
SELECT count(*) FROM miaopi.stats_channels;
SELECT count(*) FROM miaopi.replay(:'src');
SQL
)
want='0 0 0 0 t t t t t 0
0 0.2500 t 0 0
always 0 0 t
0
0
0'
if [ "$got" = "$want" ]; then
	echo "ok - stats_empty: a service without applications: zeros and NULL rates, replay returns nothing"
else
	echo "not ok - stats_empty: a service without applications:"
	echo "$got"
	status=1
fi
psql -qX -d postgres -c "DROP DATABASE $db"
exit $status
