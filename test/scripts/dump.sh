#!/bin/sh
# pg_dump keeps services, rulesets, applications, events and added calendar
# days; a restore with session_replication_role = replica brings them back
# exactly, without deciding the applications again, and ids continue.
set -e
src=miaopi_dump_src
dst=miaopi_dump_dst
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $src"
psql -qX -v ON_ERROR_STOP=1 -d $src >/dev/null <<'SQL'
CREATE EXTENSION miaopi;
SELECT miaopi.load_rules($y$
service: dump-lab
name: 转储
kind: public_service
time_limit: {statutory: 3, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$);
SELECT miaopi.load_rules(replace(source, 'payload.n < 10', 'payload.n < 20')) FROM miaopi.ruleset;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'dump-lab', 'a' || g, jsonb_build_object('n', g - 3) FROM generate_series(1, 30) g;
SELECT miaopi.act(id, 'accept') FROM miaopi.application WHERE status = 'pending';
INSERT INTO miaopi.calendar_day VALUES ('cn', '2027-01-01', 'holiday', '元旦');
SQL
fingerprint="SELECT md5(string_agg(concat_ws(' ', id, status, decision, ruleset_id, reasons, accepted_at), ',' ORDER BY id)) FROM miaopi.application"
before=$(psql -qXAt -d $src -c "$fingerprint")
counts="SELECT concat_ws('/', (SELECT count(*) FROM miaopi.service), (SELECT count(*) FROM miaopi.ruleset), (SELECT count(*) FROM miaopi.application), (SELECT count(*) FROM miaopi.event), (SELECT count(*) FROM miaopi.calendar_day))"
cbefore=$(psql -qXAt -d $src -c "$counts")

pg_dump -Fc -f /tmp/miaopi-dump.$$ $src 2>/dev/null  # warns of the service/ruleset foreign-key cycle
psql -qX -d postgres -c "CREATE DATABASE $dst"
PGOPTIONS="-c session_replication_role=replica" pg_restore -d $dst /tmp/miaopi-dump.$$ 2>/tmp/miaopi-restore.$$ || true
rm -f /tmp/miaopi-dump.$$
after=$(psql -qXAt -d $dst -c "$fingerprint")
cafter=$(psql -qXAt -d $dst -c "$counts")
next=$(psql -qXAt -d $dst -c "INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('dump-lab', 'z', '{\"n\": 1}') RETURNING id || ' ' || status || ' ' || ruleset_id")
psql -qX -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst"
echo "dump: before $cbefore, after $cafter, next application: $next"
if [ "$before" = "$after" ] && [ "$cbefore" = "$cafter" ] && [ "$next" = "31 approved 2" ]; then
	echo "ok - dump: pg_dump and a replica-mode restore keep every application as decided"
else
	cat /tmp/miaopi-restore.$$
	echo "not ok - dump"
	rm -f /tmp/miaopi-restore.$$
	exit 1
fi
rm -f /tmp/miaopi-restore.$$
