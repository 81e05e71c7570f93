#!/bin/sh
# A lookup never probes an index its snapshot may not use yet (pg_index.
# indcheckxmin), and probes it directly once it may.
#
# Session A holds a REPEATABLE READ snapshot in which register row k = 'a'.
# Session B (psql \!) updates the row to k = 'b' (a HOT update: no index on k
# yet) and then creates the index on k.  The old version is still visible to
# A, so the build sees a broken HOT chain: it indexes 'b' at the chain's root
# and marks the index indcheckxmin.  Probed through that index, A would follow
# the entry 'b' to the chain and find the version A sees, k = 'a', and count
# it as a register row with k = 'b'.  The planner skips such an index for such
# a snapshot; so must a lookup: A's application is rejected (A's snapshot has
# no row with k = 'b'), and the next application after A commits, with a
# fresh snapshot, finds the row through the index.
set -e
db=miaopi_indcheckxmin
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db <<'SQL' >/dev/null
CREATE EXTENSION miaopi;
CREATE SCHEMA reg;
CREATE TABLE reg.permit (k text NOT NULL, holder text NOT NULL) WITH (fillfactor = 50);
INSERT INTO reg.permit VALUES ('a', 'x');
SELECT * FROM miaopi.load_rules($y$
service: xmin-filing
name: 索引可见性
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  k: {type: text, required: true}
checks:
  - {id: permit, rule: "exists(reg.permit, k == payload.k)", on_fail: reject}
$y$);
SQL
out=$(psql -qtAX -v ON_ERROR_STOP=1 -d $db 2>&1 <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'A sees: ' || string_agg(k, ',') FROM reg.permit;
\! psql -qX -v ON_ERROR_STOP=1 -d $db -c "UPDATE reg.permit SET k = 'b'" -c "CREATE INDEX permit_k ON reg.permit (k)"
\! psql -qtAX -d $db -c "SELECT 'index: ' || CASE WHEN indcheckxmin THEN 'indcheckxmin' ELSE 'usable' END FROM pg_index WHERE indexrelid = 'reg.permit_k'::regclass"
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('xmin-filing', 'old-snapshot', '{"k": "b"}')
RETURNING 'old snapshot: ' || decision || ' ' || (reasons -> 0 ->> 'result');
COMMIT;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('xmin-filing', 'new-snapshot', '{"k": "b"}')
RETURNING 'new snapshot: ' || decision || ' ' || (reasons -> 0 ->> 'result');
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
echo "$out" | sed 's/^/# /'
expected='A sees: a
index: indcheckxmin
old snapshot: reject fail
new snapshot: approve pass'
if [ "$out" = "$expected" ]; then
	echo "ok - indcheckxmin: a lookup skips an index its snapshot may not use, and probes it once it may"
else
	echo "not ok - indcheckxmin: a lookup read through an index its snapshot may not use"
	exit 1
fi
