#!/bin/sh
# A rules load during a storm of inserts never decides one application with a
# mix of two versions, and every application records the ruleset that decided it.
#
# Two pgbench clients insert applications while this script loads ten new
# versions of the same service.  Version N names its checks "*-vN", so an
# application decided by a mix would carry check ids of two versions.
set -e
db=miaopi_concurrency
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION miaopi;
CREATE FUNCTION rules(v int) RETURNS text LANGUAGE sql AS $$
  SELECT format($y$
service: storm
name: 并发测试
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: a-v%1$s, rule: payload.n >= 0, on_fail: reject}
  - {id: b-v%1$s, rule: payload.n < 1000000, on_fail: manual}
  - {id: c-v%1$s, rule: len(applicant.id) > 0, on_fail: reject}
$y$, v)
$$;
SELECT * FROM miaopi.load_rules(rules(1));
SQL

cat > /tmp/miaopi-storm.sql <<'EOF2'
\set n random(0, 1000)
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('storm', 'x', jsonb_build_object('n', :n));
EOF2

# The storm lasts 6 s, times MIAOPI_TIME_SCALE (make valgrind slows every
# process down): the ten loads must land inside it.
scale=${MIAOPI_TIME_SCALE:-1}
pgbench -n -c 2 -j 2 -T $((6 * scale)) -f /tmp/miaopi-storm.sql $db > /tmp/miaopi-storm.out 2>&1 &
bench=$!
sleep $scale
for v in 2 3 4 5 6 7 8 9 10 11; do
	psql -qX -v ON_ERROR_STOP=1 -d $db -c "SELECT version FROM miaopi.load_rules(rules($v))" >/dev/null
	sleep 0.3
done
wait $bench || { cat /tmp/miaopi-storm.out; exit 1; }

result=$(psql -qXAt -d $db <<'SQL'
SELECT count(*) AS apps,
       count(DISTINCT a.ruleset_id) AS versions,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM jsonb_array_elements(a.reasons) e
           WHERE e->>'check' NOT LIKE '%-v' || r.version)) AS mixed,
       count(*) FILTER (WHERE a.ruleset_id IS NULL OR r.id IS NULL) AS unrecorded
FROM miaopi.application a LEFT JOIN miaopi.ruleset r ON r.id = a.ruleset_id;
SQL
)
echo "concurrency: applications|versions|mixed|unrecorded = $result"
psql -qX -d postgres -c "DROP DATABASE $db"
apps=$(echo "$result" | cut -d'|' -f1)
versions=$(echo "$result" | cut -d'|' -f2)
mixed=$(echo "$result" | cut -d'|' -f3)
unrecorded=$(echo "$result" | cut -d'|' -f4)
if [ "$apps" -gt 100 ] && [ "$versions" -gt 2 ] && [ "$mixed" = 0 ] && [ "$unrecorded" = 0 ]; then
	echo "ok - concurrency: loads during an insert storm never mix versions"
else
	echo "not ok - concurrency"
	exit 1
fi
