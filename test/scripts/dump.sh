#!/bin/sh
# pg_dump keeps services, rulesets, applications, events, scopes and added
# calendar days, and both restores bring them back exactly, with no manual
# step: "pg_dump db | psql newdb" and "pg_dump -Fc" + "pg_restore".  Every
# application comes back as it was decided, by the machine or by people (none
# is decided again), the identity sequences continue, and the copy keeps
# deciding and moving applications.
set -e
src=miaopi_dump_src
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS miaopi_dump_plain" \
	-c "DROP DATABASE IF EXISTS miaopi_dump_custom" -c "CREATE DATABASE $src"
psql -qX -v ON_ERROR_STOP=1 -d $src >/dev/null <<'SQL'
CREATE EXTENSION miaopi;
SELECT miaopi.create_roles();
SELECT miaopi.load_rules($y$
service: dump-lab
name: 转储
department: 市数据局
kind: public_service
time_limit: {statutory: 3, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
  - {id: positive, rule: payload.n > 0, on_fail: reject}
---
service: dump-licence
name: 转储许可
department: 市数据局
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$);
-- a second version decides the later applications
SELECT miaopi.load_rules(replace(source, 'payload.n < 10', 'payload.n < 20'))
FROM miaopi.ruleset WHERE service_code = 'dump-lab';
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'dump-lab', 'a' || g, jsonb_build_object('n', g - 3) FROM generate_series(1, 30) g;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'dump-licence', 'l' || g, jsonb_build_object('n', g) FROM generate_series(1, 4) g;
-- people decide some: accept everything pending, then review and decide
SELECT miaopi.act(id, 'accept') FROM miaopi.application WHERE status = 'pending';
SELECT miaopi.act(id, 'approve') FROM miaopi.application WHERE service_code = 'dump-lab' AND status = 'accepted' AND applicant_id IN ('a23', 'a24');
SELECT miaopi.act(id, 'reject', '不符合条件') FROM miaopi.application WHERE service_code = 'dump-lab' AND applicant_id = 'a25';
SELECT miaopi.act(id, 'review') FROM miaopi.application WHERE service_code = 'dump-licence';
SET SESSION AUTHORIZATION miaopi_reviewer;
SELECT miaopi.act(id, 'approve') FROM miaopi.application WHERE service_code = 'dump-licence' AND applicant_id = 'l1';
RESET SESSION AUTHORIZATION;
SELECT miaopi.pause(id, 'inspection') FROM miaopi.application WHERE service_code = 'dump-licence' AND applicant_id = 'l2';
INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_reviewer', 'act', '市数据局');
INSERT INTO miaopi.calendar_day VALUES ('cn', '2027-01-01', 'holiday', '元旦');
SQL

# Every column of every row miaopi keeps, in id order
fingerprint="SELECT concat_ws(' | ',
	(SELECT md5(string_agg(a::text, ',' ORDER BY a.id)) FROM miaopi.application a),
	(SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM miaopi.event e),
	(SELECT md5(string_agg(r::text, ',' ORDER BY r.id)) FROM miaopi.ruleset r),
	(SELECT md5(string_agg(s::text, ',' ORDER BY s.code)) FROM miaopi.service s),
	(SELECT md5(string_agg(s::text, ',' ORDER BY s::text)) FROM miaopi.scope s),
	(SELECT md5(string_agg(d::text, ',' ORDER BY d.calendar, d.day)) FROM miaopi.calendar_day d),
	(SELECT string_agg(decided_by || ':' || status, ',' ORDER BY decided_by, status) FROM (SELECT DISTINCT decided_by, status FROM miaopi.application WHERE decided_by IS NOT NULL) x))"
counts="SELECT concat_ws('/', (SELECT count(*) FROM miaopi.service), (SELECT count(*) FROM miaopi.ruleset), (SELECT count(*) FROM miaopi.application), (SELECT count(*) FROM miaopi.event), (SELECT count(*) FROM miaopi.scope), (SELECT count(*) FROM miaopi.calendar_day))"
before=$(psql -qXAt -d $src -c "$fingerprint")
cbefore=$(psql -qXAt -d $src -c "$counts")
next_id=$(psql -qXAt -d $src -c "SELECT max(id) + 1 FROM miaopi.application")
next_event=$(psql -qXAt -d $src -c "SELECT max(id) + 1 FROM miaopi.event")
current=$(psql -qXAt -d $src -c "SELECT current_ruleset FROM miaopi.service WHERE code = 'dump-lab'")
pending=$(psql -qXAt -d $src -c "SELECT id FROM miaopi.application WHERE service_code = 'dump-lab' AND status = 'accepted' ORDER BY id LIMIT 1")

status=0
tmp=/tmp/miaopi-dump.$$
pg_dump -Fc -f $tmp.dump $src 2>$tmp.dump-err
pg_dump $src >$tmp.sql 2>>$tmp.dump-err
if [ -s $tmp.dump-err ]; then
	cat $tmp.dump-err
	echo "not ok - dump: pg_dump warns"
	status=1
fi

for format in plain custom; do
	dst=miaopi_dump_$format
	psql -qX -d postgres -c "CREATE DATABASE $dst"
	if [ $format = plain ]; then
		psql -qX -v ON_ERROR_STOP=1 -d $dst -f $tmp.sql >/dev/null 2>$tmp.out && rc=0 || rc=$?
	else
		pg_restore -d $dst $tmp.dump >$tmp.out 2>&1 && rc=0 || rc=$?
	fi
	after=$(psql -qXAt -d $dst -c "$fingerprint")
	cafter=$(psql -qXAt -d $dst -c "$counts")
	if [ $rc = 0 ] && [ ! -s $tmp.out ] && [ "$before" = "$after" ] && [ "$cbefore" = "$cafter" ]; then
		echo "ok - dump: a $format restore brings back every row exactly ($cafter)"
	else
		cat $tmp.out
		echo "# before $cbefore: $before"
		echo "# after  $cafter: $after"
		echo "not ok - dump: a $format restore (exit $rc) differs"
		status=1
	fi
	# the copy keeps deciding with the current ruleset, and the ids continue
	next=$(psql -qXAt -d $dst -c "INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('dump-lab', 'z', '{\"n\": 15}') RETURNING id || ' ' || status || ' ' || ruleset_id")
	moved=$(psql -qXAt -d $dst -c "SELECT miaopi.act($pending, 'approve')" -c "SELECT min(id) FROM miaopi.event WHERE application_id = $pending AND action = 'approve'")
	if [ "$next" = "$next_id approved $current" ] && [ "$moved" = "approved
$next_event" ]; then
		echo "ok - dump: after a $format restore a new application is $next and act() records event $next_event"
	else
		echo "not ok - dump: after a $format restore: new application '$next' (want '$next_id approved $current'), act '$moved' (want event $next_event)"
		status=1
	fi
done

rm -f $tmp.dump $tmp.sql $tmp.out $tmp.dump-err
psql -qX -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE miaopi_dump_plain" -c "DROP DATABASE miaopi_dump_custom"
psql -qX -d postgres -c "DROP ROLE IF EXISTS miaopi_admin, miaopi_agency, miaopi_reviewer, miaopi_analyst" 2>/dev/null || true
exit $status
