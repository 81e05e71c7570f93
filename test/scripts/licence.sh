#!/bin/sh
# Licence numbers are unique and gap-free per type and year under concurrent
# approvals: four pgbench clients approve filings by machine (inside the
# INSERT) while two psql sessions approve queued ones by hand (act), all of
# the same licence type; one client's transactions roll back half the time.
# Afterwards the numbers of the committed licences are exactly 1..N, each
# licence belongs to an approved application, and no approval lacks one.
set -e
db=miaopi_licence
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL' >/dev/null
CREATE EXTENSION miaopi;
SELECT * FROM miaopi.load_rules($y$
service: race-auto
name: 并发发证（自动）
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
licence:
  type: race-cert
  number: "RACE-{yyyy}-{seq:6}"
  valid_days: 365
---
service: race-manual
name: 并发发证（人工）
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: false
fields:
  n: {type: int, required: true}
licence:
  type: race-cert
  number: "RACE-{yyyy}-{seq:6}"
  valid_days: 365
$y$);
INSERT INTO miaopi.application (service_code, applicant_id, payload)
	SELECT 'race-manual', 'p' || g, jsonb_build_object('n', g) FROM generate_series(1, 200) g;
SQL

cat > /tmp/miaopi-licence-auto.sql <<'EOF2'
\set n random(0, 1000)
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('race-auto', 'a' || :n, jsonb_build_object('n', :n));
EOF2
cat > /tmp/miaopi-licence-abort.sql <<'EOF2'
\set n random(0, 1000)
\set keep random(0, 1)
BEGIN;
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('race-auto', 'r' || :n, jsonb_build_object('n', :n));
SELECT CASE WHEN :keep = 1 THEN 'COMMIT' ELSE 'ROLLBACK' END AS fin \gset
:fin;
EOF2

pgbench -n -c 4 -j 2 -T 6 -f /tmp/miaopi-licence-auto.sql $db > /tmp/miaopi-licence-auto.out 2>&1 &
b1=$!
pgbench -n -c 1 -j 1 -T 6 -f /tmp/miaopi-licence-abort.sql $db > /tmp/miaopi-licence-abort.out 2>&1 &
b2=$!
# two reviewers approving the queue by hand, odd and even ids
for parity in 0 1; do
	psql -qX -v ON_ERROR_STOP=1 -d $db -c "
		DO \$\$
		DECLARE r record;
		BEGIN
			FOR r IN SELECT id FROM miaopi.application
					 WHERE service_code = 'race-manual' AND id % 2 = $parity ORDER BY id LOOP
				PERFORM miaopi.act(r.id, 'approve');
				COMMIT;
			END LOOP;
		END \$\$" >/dev/null &
done
wait

result=$(psql -qXtA -d $db <<'SQL'
WITH n AS (
	SELECT substr(number, 11)::int AS seq FROM miaopi.licence WHERE type = 'race-cert')
SELECT format('%s %s %s %s %s',
	(SELECT count(*) FROM n),
	(SELECT count(DISTINCT seq) FROM n),
	(SELECT coalesce(max(seq), 0) FROM n),
	(SELECT count(*) FROM miaopi.application a
	  WHERE a.status = 'approved' AND NOT EXISTS
		(SELECT FROM miaopi.licence l WHERE l.application_id = a.id)),
	(SELECT count(*) FROM miaopi.licence l
	  WHERE NOT EXISTS (SELECT FROM miaopi.application a
						WHERE a.id = l.application_id AND a.status = 'approved')));
SQL
)
set -- $result
echo "# licences $1, distinct numbers $2, highest $3; approvals without a licence $4; licences without an approval $5"
psql -qX -d postgres -c "DROP DATABASE $db"
if [ "$1" -gt 200 ] && [ "$1" = "$2" ] && [ "$1" = "$3" ] && [ "$4" = 0 ] && [ "$5" = 0 ]; then
	echo "ok - licence: $1 concurrent approvals (machine, by hand, some rolled back) numbered 1..$1 without a gap or a repeat"
else
	echo "not ok - licence: numbers are not unique and gap-free, or an approval and its licence disagree"
	cat /tmp/miaopi-licence-auto.out /tmp/miaopi-licence-abort.out
	exit 1
fi
