#!/bin/sh
# The audit ledger across sessions and outside PostgreSQL:
#  1. a Python script (test/ledger_check.py) recomputes every application's
#     and event's hash and every block's Merkle root and hash from psql output;
#  2. a row committed after a seal that ran while it was in flight is sealed
#     by the next seal: none left out, none in two blocks;
#  3. two concurrent seals: the second waits for the first, then seals
#     nothing twice;
#  4. pg_dump -Fc + pg_restore and pg_dump | psql bring the ledger back, and
#     the digests taken before the dump verify the copies.
set -e
cd "$(dirname "$0")/../.."
db=miaopi_ledger_src
status=0
ok() { echo "ok - ledger: $1"; }
fail() { echo "not ok - ledger: $1"; status=1; }
q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "$1"; }

psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS ${db}_fc" \
	-c "DROP DATABASE IF EXISTS ${db}_plain" -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
SET miaopi.clock_now = '2026-12-01T10:00:00+08:00';
SELECT miaopi.load_rules($y$
service: ledger-script
name: 账本测试
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  n: {type: int, required: true}
  note: text
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$);
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
SELECT 'ledger-script', 'a' || g, CASE WHEN g % 3 = 0 THEN '某公司 ' || g END,
	jsonb_build_object('n', g * 2 - 3, 'note', '«引号» "q" \ ' || g), ARRAY['合同', 'm' || g]
FROM generate_series(1, 30) g;
-- every kind of JSON the canonical form writes as jsonb's text output:
-- escapes, control characters, nesting, numbers, empty containers and keys
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES
	('ledger-script', 'json1', jsonb_build_object('n', 1,
		'note', E'tab\there\nline\r \b\f \u0001\u001f \u007f "q" \\ / 渣土 «»',
		'deep', '{"a": [1, 2.50, -0.0, 1e3, 0.000001, true, false, null, {}, [], {"x": {"y": []}}], "": "empty key", "b": {}}'::jsonb)),
	('ledger-script', 'json2', '{"n": 2, "note": "", "list": [[[]]], "big": 123456789012345678901234567890.123}'),
	('ledger-script', 'json3', jsonb_build_object('n', 3, 'note', repeat('長', 50) || E'\n' || repeat('x', 50)));
SELECT miaopi.act(id, 'accept') FROM miaopi.application WHERE status = 'pending';
SELECT miaopi.act(id, 'review', '初审 ' || id) FROM miaopi.application WHERE status = 'accepted' AND id % 2 = 0;
SET miaopi.clock_now = '2027-01-20T10:00:00+08:00';
SELECT miaopi.sweep();
SELECT miaopi.seal();
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('ledger-script', 'b', '{"n": 1}');
SELECT miaopi.seal();
SQL

# 1. recompute outside PostgreSQL
us='((extract(epoch FROM %s) * 1000000)::bigint)::text'
ts() { printf "$us" "$1"; }
export_sql="
SELECT json_build_object('type', 'application', 'id', id::text, 'service_code', service_code,
	'applicant_id', applicant_id, 'applicant_name', applicant_name, 'payload', payload::text,
	'materials', to_json(materials), 'channel', channel, 'submitted_at', $(ts submitted_at),
	'status', status, 'decision', decision, 'decided_at', $(ts decided_at), 'decided_by', decided_by,
	'ruleset_id', ruleset_id::text, 'reasons', reasons::text, 'accepted_at', $(ts accepted_at),
	'promised_due', $(ts promised_due), 'statutory_due', $(ts statutory_due), 'closed_at', $(ts closed_at),
	'step_due', $(ts step_due), 'paused_at', $(ts paused_at), 'paused_days', paused_days::text,
	'clock_flags', clock_flags::text, 'hash', encode(hash, 'hex'),
	'newest_state', (SELECT encode(e.state, 'hex') FROM miaopi.event e
		WHERE e.application_id = a.id AND e.state IS NOT NULL ORDER BY e.id DESC LIMIT 1))
FROM miaopi.application a
UNION ALL
SELECT json_build_object('type', 'event', 'id', id::text, 'application_id', application_id::text,
	'at', $(ts at), 'action', action, 'actor', actor, 'session_actor', session_actor,
	'from_status', from_status, 'to_status', to_status, 'comment', comment, 'detail', detail::text,
	'state', encode(state, 'hex'), 'prev_hash', encode(prev_hash, 'hex'), 'hash', encode(hash, 'hex'))
FROM miaopi.event
UNION ALL
SELECT json_build_object('type', 'block', 'id', b.id::text, 'sealed_at', $(ts b.sealed_at),
	'entries', b.entries::text, 'root', encode(b.root, 'hex'), 'prev_hash', encode(b.prev_hash, 'hex'),
	'hash', encode(b.hash, 'hex'),
	'leaves', (SELECT json_agg(json_build_object('kind', l.kind, 'row_id', l.row_id, 'hash', encode(l.hash, 'hex'))
		ORDER BY l.leaf) FROM miaopi.ledger_entry l WHERE l.block_id = b.id))
FROM miaopi.ledger_block b"
q "$export_sql" >/tmp/miaopi-ledger.$$.json
if out=$(python3 test/ledger_check.py </tmp/miaopi-ledger.$$.json); then
	ok "python recomputes the hashes and the Merkle roots ($out)"
else
	echo "$out"
	fail "python recomputation"
fi
# ... and notices a changed byte
sed 's/"channel" : "online"/"channel" : "window"/' /tmp/miaopi-ledger.$$.json >/tmp/miaopi-ledger-bad.$$.json
if python3 test/ledger_check.py </tmp/miaopi-ledger-bad.$$.json >/dev/null; then
	fail "python recomputation does not notice an edited channel"
else
	ok "python recomputation notices an edited channel"
fi
rm -f /tmp/miaopi-ledger.$$.json /tmp/miaopi-ledger-bad.$$.json

# 2. a row in flight while a seal runs is sealed by the next one (the
# in-flight transaction stays open 4 s, times MIAOPI_TIME_SCALE: make
# valgrind runs every process many times slower)
hold=$((4 * ${MIAOPI_TIME_SCALE:-1}))
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL &
BEGIN;
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('ledger-script', 'late', '{"n": 2}');
SELECT pg_sleep($hold);
COMMIT;
SQL
late=$!
i=0
until [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep($hold)%' AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ]; do
	i=$((i + 1)); [ $i -lt $((100 * ${MIAOPI_TIME_SCALE:-1})) ] || break; sleep 0.1
done
q "INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('ledger-script', 'early', '{\"n\": 3}')" >/dev/null
first=$(q "SELECT miaopi.seal()")
sealed_early=$(q "SELECT count(*) FROM miaopi.ledger_entry l JOIN miaopi.application a ON l.kind = 'application' AND l.row_id = a.id WHERE a.applicant_id = 'early'")
mark=$(q "SELECT sealed_through < (SELECT max(id) FROM miaopi.application) FROM miaopi.ledger_mark WHERE kind = 'application'")
wait $late
second=$(q "SELECT miaopi.seal()")
late_block=$(q "SELECT l.block_id = (SELECT max(id) FROM miaopi.ledger_block) FROM miaopi.ledger_entry l JOIN miaopi.application a ON l.kind = 'application' AND l.row_id = a.id WHERE a.applicant_id = 'late'")
left_out=$(q "SELECT (SELECT count(*) FROM miaopi.application a WHERE NOT EXISTS (SELECT FROM miaopi.ledger_entry l WHERE l.kind = 'application' AND l.row_id = a.id)) + (SELECT count(*) FROM miaopi.event e WHERE NOT EXISTS (SELECT FROM miaopi.ledger_entry l WHERE l.kind = 'event' AND l.row_id = e.id))")
if [ "$first" = 1 ] && [ "$sealed_early" = 1 ] && [ "$mark" = t ] && [ "$second" = 1 ] && [ "$late_block" = t ] && [ "$left_out" = 0 ]; then
	ok "a row committed after a seal that ran while it was in flight lands in the next block; none left out"
else
	fail "commit after seal: first $first early $sealed_early mark-held-back $mark second $second late-in-next $late_block left-out $left_out"
fi

# 3. two seals at once: the second waits, then finds nothing new
q "INSERT INTO miaopi.application (service_code, applicant_id, payload) SELECT 'ledger-script', 'c' || g, '{\"n\": 1}' FROM generate_series(1, 5) g" >/dev/null
psql -qXAt -v ON_ERROR_STOP=1 -d $db >/tmp/miaopi-seal1.$$ <<'SQL' &
BEGIN;
SELECT miaopi.seal();
SELECT pg_sleep(3);
COMMIT;
SQL
s1=$!
i=0
until [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "SELECT miaopi.seal()" >/tmp/miaopi-seal2.$$ &
s2=$!
waited=no
i=0
while [ $i -lt 50 ]; do
	if [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT miaopi.seal()' AND wait_event_type = 'Lock' AND wait_event = 'advisory'")" = 1 ]; then
		waited=yes; break
	fi
	i=$((i + 1)); sleep 0.1
done
wait $s1 $s2
r1=$(head -1 /tmp/miaopi-seal1.$$)
r2=$(cat /tmp/miaopi-seal2.$$)
rm -f /tmp/miaopi-seal1.$$ /tmp/miaopi-seal2.$$
blocks=$(q "SELECT count(*) = max(id) AND sum(entries) = (SELECT count(*) FROM miaopi.ledger_entry) FROM miaopi.ledger_block")
if [ "$waited" = yes ] && [ "$r1" = 5 ] && [ "$r2" = 0 ] && [ "$blocks" = t ]; then
	ok "two concurrent seals: the second waits, then seals nothing twice"
else
	fail "concurrent seals: waited $waited, first $r1, second $r2, blocks consistent $blocks"
fi
problems=$(q "SELECT count(*) FROM miaopi.verify_ledger()")
[ "$problems" = 0 ] && ok "verify_ledger finds the source intact" || fail "verify_ledger on the source: $problems problems"

# 4. dumps bring the ledger back; the digests taken before verify the copies
digests=$(q "SELECT jsonb_agg(d) FROM (SELECT jsonb_build_object('block', id, 'hash', encode(hash, 'hex')) AS d FROM miaopi.ledger_block) s")
pg_dump -Fc -f /tmp/miaopi-ledger-dump.$$ $db 2>/dev/null
psql -qX -d postgres -c "CREATE DATABASE ${db}_fc" -c "CREATE DATABASE ${db}_plain" >/dev/null
PGOPTIONS="-c session_replication_role=replica" pg_restore -d ${db}_fc /tmp/miaopi-ledger-dump.$$ 2>/dev/null || true
pg_dump $db 2>/dev/null | PGOPTIONS="-c session_replication_role=replica" psql -qX -d ${db}_plain >/dev/null 2>&1 || true
rm -f /tmp/miaopi-ledger-dump.$$
for copy in ${db}_fc ${db}_plain; do
	res=$(psql -qXAt -d $copy -c "SELECT count(*) FROM miaopi.verify_ledger('$digests')" \
		-c "SELECT count(*) FROM miaopi.ledger_block" 2>&1 | tr '\n' ' ')
	nb=$(q "SELECT count(*) FROM miaopi.ledger_block")
	if [ "$res" = "0 $nb " ]; then
		ok "$copy: the restored copy verifies against the digests taken before the dump"
	else
		fail "$copy: verify_ledger on the copy: $res (blocks in the source: $nb)"
	fi
done
after=$(psql -qXAt -d ${db}_fc -c "SELECT miaopi.seal()" -c "SELECT count(*) FROM miaopi.verify_ledger('$digests')" | tr '\n' ' ')
[ "$after" = "0 0 " ] && ok "a seal on the copy finds nothing left out" || fail "seal on the copy: $after"

psql -qX -d postgres -c "DROP DATABASE $db" -c "DROP DATABASE ${db}_fc" -c "DROP DATABASE ${db}_plain" >/dev/null
exit $status
