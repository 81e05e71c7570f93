#!/bin/sh
# Agency data that lives in another database.  A second cluster on this
# machine plays the owning agency (the vehicle register, 车管所): it
# publishes its table; miaopi's database subscribes to it and uses the
# subscription as a lookup table.
#   - a change committed on the publisher decides the next application on
#     the subscriber (fetched with from:, checked, stored in the payload);
#   - the cached program follows schema changes of the replica: the table is
#     dropped, re-created with its columns in another order and subscribed
#     again, in the middle of one session;
#   - a postgres_fdw foreign table of the same register works as a lookup
#     target (the SQL path), and the cost of a probe each way is printed.
# Runs inside pg_virtualenv (the subscriber); starts and stops the publisher.
set -e
bindir=$(pg_config --bindir)
pubdir=$(mktemp -d /tmp/miaopi-pub.XXXXXX)
pubport=$((PGPORT + 1000))
db=miaopi_replication
asuser=""
if [ "$(id -u)" = 0 ]; then
	chown postgres "$pubdir"
	asuser="runuser -u postgres --"
fi
cleanup() {
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db (FORCE)" >/dev/null 2>&1 || true
	$asuser "$bindir/pg_ctl" -D "$pubdir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$pubdir"
}
trap cleanup EXIT

$asuser "$bindir/initdb" -D "$pubdir/data" -A trust -U postgres >/dev/null
cat >>"$pubdir/data/postgresql.conf" <<EOF
port = $pubport
listen_addresses = ''
unix_socket_directories = '$pubdir'
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
fsync = off
EOF
$asuser "$bindir/pg_ctl" -D "$pubdir/data" -l "$pubdir/log" -w start >/dev/null
pub() { psql -qX -v ON_ERROR_STOP=1 -h "$pubdir" -p $pubport -U postgres -d agency "$@"; }
psql -qX -h "$pubdir" -p $pubport -U postgres -d postgres -c "CREATE DATABASE agency"

# The agency's own database: the register and its publication
pub <<'SQL'
CREATE SCHEMA registry;
CREATE TABLE registry.vehicle (plate text PRIMARY KEY, owner text NOT NULL, insured_until date NOT NULL);
INSERT INTO registry.vehicle VALUES
	('闽A10001', 'C1', '2027-06-30'),
	('闽A10002', 'C2', '2027-06-30');
INSERT INTO registry.vehicle
SELECT '闽B' || lpad(g::text, 5, '0'), 'C' || g, date '2027-01-01' + g % 300 FROM generate_series(1, 2000) g;
CREATE PUBLICATION vehicles FOR TABLE registry.vehicle;
SQL

conn="host=$pubdir port=$pubport user=postgres dbname=agency"
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PUBDIR="$pubdir" PUBPORT=$pubport
out=$(psql -qX -v ON_ERROR_STOP=1 -d $db -v conn="$conn" -v pubdir="$pubdir" -v pubport=$pubport 2>&1 <<'SQL'
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00+08';
CREATE SCHEMA registry;
CREATE TABLE registry.vehicle (plate text PRIMARY KEY, owner text NOT NULL, insured_until date NOT NULL);
CREATE SUBSCRIPTION vehicles CONNECTION :'conn' PUBLICATION vehicles;
CREATE PROCEDURE pg_temp.wait_for(q text) LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
	FOR i IN 1..600 LOOP
		EXECUTE q INTO ok;
		IF ok THEN RETURN; END IF;
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RAISE EXCEPTION 'timed out waiting for %', q;
END $$;
CALL pg_temp.wait_for($$SELECT count(*) = 2002 FROM registry.vehicle$$);
SELECT 'synced' AS initial_copy;

SELECT count(*) FROM miaopi.load_rules($y$
service: muck-vehicle
name: 渣土车辆备案
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  plate: {type: text, required: true}
  insured_until: {type: date, from: "lookup(registry.vehicle, plate == payload.plate).insured_until"}
checks:
  - id: insured
    rule: payload.insured_until >= today()
    on_fail: reject
$y$) \g /dev/null

INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('muck-vehicle', 'C1', '{"plate": "闽A10001"}') RETURNING 'before: ' || status || ' ' || (payload->>'insured_until') AS first;

-- the agency records a lapsed insurance; it replicates
\! psql -qX -h "$PUBDIR" -p "$PUBPORT" -U postgres -d agency -c "UPDATE registry.vehicle SET insured_until = '2026-11-30' WHERE plate = '闽A10001'"
CALL pg_temp.wait_for($$SELECT insured_until = '2026-11-30' FROM registry.vehicle WHERE plate = '闽A10001'$$);
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('muck-vehicle', 'C1', '{"plate": "闽A10001", "insured_until": "2099-01-01"}')
RETURNING 'after: ' || status || ' ' || (payload->>'insured_until') AS second;

-- the replica is re-created with its columns in another order and
-- subscribed again; this session's cached program must follow
DROP SUBSCRIPTION vehicles;
DROP TABLE registry.vehicle;
CREATE TABLE registry.vehicle (insured_until date NOT NULL, note text, owner text NOT NULL, plate text PRIMARY KEY);
CREATE SUBSCRIPTION vehicles CONNECTION :'conn' PUBLICATION vehicles;
CALL pg_temp.wait_for($$SELECT count(*) = 2002 FROM registry.vehicle$$);
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('muck-vehicle', 'C2', '{"plate": "闽A10002"}') RETURNING 'recreated: ' || status || ' ' || (payload->>'insured_until') AS third;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('muck-vehicle', 'C1', '{"plate": "闽A10001"}') RETURNING 'recreated: ' || status || ' ' || (payload->>'insured_until') AS fourth;

-- the same register through postgres_fdw (the SQL path of lookups)
CREATE EXTENSION postgres_fdw;
CREATE SERVER vehicle_agency FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host :'pubdir', port :'pubport', dbname 'agency');
CREATE USER MAPPING FOR CURRENT_USER SERVER vehicle_agency OPTIONS (user 'postgres');
CREATE SCHEMA remote;
CREATE FOREIGN TABLE remote.vehicle (plate text, owner text, insured_until date)
	SERVER vehicle_agency OPTIONS (schema_name 'registry', table_name 'vehicle');
SELECT count(*) FROM miaopi.load_rules($y$
service: muck-vehicle-fdw
name: 渣土车辆备案（外部表）
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
fields:
  plate: {type: text, required: true}
  insured_until: {type: date, from: "lookup(remote.vehicle, plate == payload.plate).insured_until"}
checks:
  - id: insured
    rule: payload.insured_until >= today()
    on_fail: reject
$y$) \g /dev/null
SELECT 'fdw: ' || (miaopi.evaluate('muck-vehicle-fdw', 'C2', '{"plate": "闽A10002"}')->>'decision')
	|| ' / ' || (miaopi.evaluate('muck-vehicle-fdw', 'C1', '{"plate": "闽A10001"}')->>'decision') AS fdw;

-- cost of one evaluation with one probe, each way (2000 plates, warm)
CREATE TEMP TABLE plates AS SELECT plate FROM registry.vehicle WHERE plate LIKE '闽B%';
SELECT count(miaopi.evaluate('muck-vehicle', 'x', jsonb_build_object('plate', plate))) FROM plates \g /dev/null
SELECT count(miaopi.evaluate('muck-vehicle-fdw', 'x', jsonb_build_object('plate', plate))) FROM plates \g /dev/null
CREATE TEMP TABLE timing (way text, us numeric);
DO $$
DECLARE t0 timestamptz; n int;
BEGIN
	t0 := clock_timestamp();
	SELECT count(miaopi.evaluate('muck-vehicle', 'x', jsonb_build_object('plate', plate))) INTO n FROM plates;
	INSERT INTO timing VALUES ('replica', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n);
	t0 := clock_timestamp();
	SELECT count(miaopi.evaluate('muck-vehicle-fdw', 'x', jsonb_build_object('plate', plate))) INTO n FROM plates;
	INSERT INTO timing VALUES ('fdw', extract(epoch FROM clock_timestamp() - t0) * 1e6 / n);
END $$;
SELECT 'cost: ' || string_agg(way || ' ' || round(us) || ' us', ', ' ORDER BY way DESC) AS cost FROM timing;
DROP SUBSCRIPTION vehicles;
SQL
)
echo "$out" | sed -e 's/^/# /'
fail=0
check() {
	if echo "$out" | grep -q -- "$1"; then
		echo "ok - replication: $2"
	else
		echo "not ok - replication: $2"
		fail=1
	fi
}
check "before: approved 2027-06-30" "an application is decided on the replicated register"
check "after: rejected 2026-11-30" "a change committed on the publisher decides the next application on the subscriber"
check "recreated: approved 2027-06-30" "the cached program follows the replica re-created with another column order"
check "recreated: rejected 2026-11-30" "and reads the right column after it"
check "fdw: approve / reject" "a postgres_fdw foreign table works as a lookup target"
exit $fail
