#!/bin/sh
# A 1.0 database with data, after ALTER EXTENSION miaopi UPDATE, has exactly
# the objects of a fresh 1.1 install (pg_dump --schema-only) and keeps its
# data: every application as decided, every event, ruleset and service.
set -e
old=miaopi_upgrade_old
new=miaopi_upgrade_new
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
	-c "CREATE DATABASE $old" -c "CREATE DATABASE $new" 2>/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $old >/dev/null <<'SQL'
CREATE EXTENSION miaopi VERSION '1.0';
SELECT miaopi.load_rules($y$
service: upgrade-lab
name: 升级
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$);
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'upgrade-lab', 'a' || g, jsonb_build_object('n', g - 3) FROM generate_series(1, 20) g;
SELECT miaopi.act(id, 'accept') FROM miaopi.application WHERE status = 'pending';
SQL
fingerprint="SELECT md5(string_agg(concat_ws(' ', id, service_code, applicant_id, payload, status, decision, ruleset_id, reasons, submitted_at, decided_at, accepted_at, promised_due, statutory_due), ',' ORDER BY id)) || ' ' || (SELECT md5(string_agg(concat_ws(' ', id, application_id, at, action, actor, from_status, to_status, detail), ',' ORDER BY id)) FROM miaopi.event) || ' ' || (SELECT md5(string_agg(concat_ws(' ', id, service_code, version, sha256), ',' ORDER BY id)) FROM miaopi.ruleset) FROM miaopi.application"
before=$(psql -qXAt -d $old -c "$fingerprint")
psql -qX -v ON_ERROR_STOP=1 -d $old -c "ALTER EXTENSION miaopi UPDATE"
psql -qX -v ON_ERROR_STOP=1 -d $new -c "CREATE EXTENSION miaopi"
after=$(psql -qXAt -d $old -c "$fingerprint")
version=$(psql -qXAt -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'miaopi'")
pg_dump --schema-only $old | grep -v "^\\\\\(un\)\?restrict " >/tmp/miaopi-upgraded.$$.sql
pg_dump --schema-only $new | grep -v "^\\\\\(un\)\?restrict " >/tmp/miaopi-fresh.$$.sql
status=0
if ! diff -u /tmp/miaopi-fresh.$$.sql /tmp/miaopi-upgraded.$$.sql; then
	echo "not ok - upgrade: the upgraded schema differs from a fresh $version install"
	status=1
fi
if [ "$before" != "$after" ]; then
	echo "not ok - upgrade: data changed ($before -> $after)"
	status=1
fi
# The upgraded database still decides.
next=$(psql -qXAt -d $old -c "INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('upgrade-lab', 'z', '{\"n\": 1}') RETURNING status")
[ "$next" = approved ] || { echo "not ok - upgrade: a new application after the update is $next"; status=1; }
# pg_dump leaves extension members out: compare them one by one too.
psql -qXAt -v ON_ERROR_STOP=1 -d $old -f test/fixtures/objects.sql >/tmp/miaopi-upgraded.$$.sql
psql -qXAt -v ON_ERROR_STOP=1 -d $new -f test/fixtures/objects.sql >/tmp/miaopi-fresh.$$.sql
if ! diff -u /tmp/miaopi-fresh.$$.sql /tmp/miaopi-upgraded.$$.sql; then
	echo "not ok - upgrade: the upgraded extension's objects differ from a fresh $version install"
	status=1
fi
members=$(wc -l </tmp/miaopi-fresh.$$.sql)
rm -f /tmp/miaopi-upgraded.$$.sql /tmp/miaopi-fresh.$$.sql
psql -qX -d postgres -c "DROP DATABASE $old" -c "DROP DATABASE $new"
[ $status = 0 ] && echo "ok - upgrade: 1.0 with data, updated to $version, equals a fresh install ($members objects) and keeps its data"
exit $status
