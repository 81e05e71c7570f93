#!/bin/sh
# Two load_rules of one service at once: the second waits for the first and
# becomes the next version (no duplicate key on (service_code, version)).
set -e
db=miaopi_loads
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION miaopi" >/dev/null
src='service: load-race
name: 并发
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
checks: []'
for round in 1 2; do
	# the first holds its transaction open for a second after loading
	psql -qXAt -v ON_ERROR_STOP=1 -d $db -v src="$src" >/tmp/miaopi-load-a.$$ 2>&1 <<'SQL' &
BEGIN;
SELECT version FROM miaopi.load_rules(:'src', false);
SELECT pg_sleep(1);
COMMIT;
SQL
	a=$!
	sleep 0.3
	echo "SELECT version FROM miaopi.load_rules(:'src', false);" |
		psql -qXAt -v ON_ERROR_STOP=1 -d $db -v src="$src" >/tmp/miaopi-load-b.$$ 2>&1 || true
	wait $a || true
	echo "round $round: first $(head -1 /tmp/miaopi-load-a.$$), second $(cat /tmp/miaopi-load-b.$$)"
done
versions=$(psql -qXAt -d $db -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM miaopi.ruleset")
current=$(psql -qXAt -d $db -c "SELECT r.version FROM miaopi.service s JOIN miaopi.ruleset r ON r.id = s.current_ruleset")
rm -f /tmp/miaopi-load-a.$$ /tmp/miaopi-load-b.$$
psql -qX -d postgres -c "DROP DATABASE $db"
if [ "$versions" = "1,2,3,4" ] && [ "$current" = 4 ]; then
	echo "ok - loads: concurrent loads of one service wait and take the next versions ($versions)"
else
	echo "not ok - loads: versions $versions, current $current"
	exit 1
fi
