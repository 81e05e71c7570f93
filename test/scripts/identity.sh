#!/bin/sh
# Application ids come only from the identity sequence, also under
# concurrent inserts: four sessions inserting at once all succeed with
# distinct ids, while a session choosing an id (OVERRIDING SYSTEM VALUE)
# is refused and takes nothing from anyone.
set -e
db=miaopi_identity
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION miaopi;
SELECT miaopi.load_rules($y$
service: id-lab
name: 编号
kind: filing
time_limit: {statutory: 3, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
$y$);
SQL
tmp=/tmp/miaopi-identity.$$
cat >$tmp.insert.sql <<'EOF2'
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('id-lab', 'a', '{"n": 1}');
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'id-lab', 'b' || g, '{"n": 2}' FROM generate_series(1, 3) g;
EOF2
# a session that tries to pre-claim the ids the others are about to get
cat >$tmp.claim.sql <<'EOF2'
DO $$
DECLARE
	next bigint := (SELECT pg_catalog.max(id) FROM miaopi.application) + 2;
BEGIN
	INSERT INTO miaopi.application (id, service_code, applicant_id, payload) OVERRIDING SYSTEM VALUE
	VALUES (next, 'id-lab', 'claim', '{"n": 1}');
	RAISE EXCEPTION 'claimed %', next;
EXCEPTION WHEN insufficient_privilege THEN
	INSERT INTO claim_refused VALUES (next);
END
$$;
EOF2
psql -qX -d $db -c "CREATE TABLE claim_refused (id bigint)"
pgbench -n -c 4 -j 2 -t 200 -f $tmp.insert.sql@4 -f $tmp.claim.sql@1 $db >$tmp.out 2>&1 && rc=0 || rc=$?
result=$(psql -qXAt -d $db -c "SELECT concat_ws(' ', count(*), count(DISTINCT id), count(*) FILTER (WHERE applicant_id = 'claim'), (SELECT count(*) FROM claim_refused), max(id) = (SELECT last_value FROM miaopi.application_id_seq)) FROM miaopi.application")
psql -qX -d postgres -c "DROP DATABASE $db"
set -- $result
status=0
# every insert transaction stored 4 rows, none failed; no claim got through
if [ $rc = 0 ] && [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" -gt 0 ] && [ "$5" = t ] && \
	[ $(( $1 + $4 * 4 )) = 3200 ] && ! grep -q "ERROR" $tmp.out; then
	echo "ok - identity: $1 applications from 4 concurrent sessions, distinct ids from the sequence; $4 chosen ids refused"
else
	cat $tmp.out
	echo "not ok - identity: pgbench exit $rc, rows/distinct/claimed/refused/seq: $result"
	status=1
fi
rm -f $tmp.insert.sql $tmp.claim.sql $tmp.out
exit $status
