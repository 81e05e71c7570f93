#!/bin/sh
# Speed of e-licences (issue 8), as ratios measured in one run:
#   1. INSERT throughput of muck-transport-filing with its licence: section
#      (a licence numbered, inserted and its event recorded inside every
#      INSERT) against the same rules without the section   (target >= 0.90)
#   2. licence_valid() calls a second in one backend, over 100 holders of
#      whom 50 hold a licence (the per-backend cache)   (target >= 200,000)
# The two services alternate in three rounds of pgbench (2 clients, 5 s
# each); the best round of each counts.  Alone, inside a cluster where miaopi
# is installed:  pg_virtualenv test/bench/licence.sh
set -e
db=${BENCH_DB:-miaopi_bench_licence}
secs=${SECS:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
with=$(cat "$here/rules/muck-transport-filing.yaml")
# the same rules without the licence section (and under another code)
without=$(sed -e '/^licence:/,/^tests:/{/^tests:/!d}' -e 's/^service: muck-transport-filing/service: muck-nolicence/' "$here/rules/muck-transport-filing.yaml")
psql -qX -v ON_ERROR_STOP=1 -d $db -v with="$with" -v without="$without" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
ALTER DATABASE $db SET miaopi.clock_now = '2026-12-01 10:00:00+08';
\i $here/test/fixtures/reference.sql
SELECT count(*) FROM miaopi.load_rules(:'with', false);
SELECT count(*) FROM miaopi.load_rules(:'without', false);
-- licences of 50 holders for the licence_valid() measure (one each)
INSERT INTO miaopi.licence (number, type, name, service_code, application_id, holder_id,
	holder_type, issued_at, valid_from, valid_until)
SELECT 'B-' || g, 'bench-cert', 'b', 'muck-nolicence', 0, 'h' || g, '999', now(),
	DATE '2026-01-01', DATE '2026-12-31' FROM generate_series(1, 50) g;
SQL
for svc in muck-transport-filing muck-nolicence; do
	cat > "$tmp/$svc.sql" <<EOF2
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials)
VALUES ('$svc', '91350103100079190E', '福州恒通渣土运输有限公司',
 '{"project_name": "仓山区城门镇安置房二期", "discharge_permit": "榕建废排2026-00421", "disposal_site": "红庙岭", "vehicle_count": 2, "plates": ["闽AE7514", "闽AF5433"], "start_date": "2026-12-01", "end_date": "2027-01-31"}',
 '{transport_contract,vehicle_list,disposal_agreement,road_permit}');
EOF2
done
best_with=0
best_without=0
for round in 1 2 3; do
	for svc in muck-transport-filing muck-nolicence; do
		tps=$(pgbench -n -c ${CLIENTS:-2} -j ${CLIENTS:-2} -T "$secs" -f "$tmp/$svc.sql" $db 2>/dev/null |
			sed -n 's/^tps = \([0-9.]*\).*/\1/p')
		if [ $svc = muck-transport-filing ]; then
			best_with=$(echo "$tps $best_with" | awk '{print ($1 > $2) ? $1 : $2}')
		else
			best_without=$(echo "$tps $best_without" | awk '{print ($1 > $2) ? $1 : $2}')
		fi
	done
done
approved=$(psql -qXtA -d $db -c "SELECT count(*) FILTER (WHERE status = 'approved') || '/' || count(*) FROM miaopi.application WHERE service_code = 'muck-transport-filing'")
issued=$(psql -qXtA -d $db -c "SELECT count(*) FROM miaopi.licence")
echo "# with licence: $best_with tps ($approved approved, $issued licences); without: $best_without tps"
echo "$best_with $best_without" | awk '{printf "BENCH|licence: INSERT with licence / without|%.2f|>= 0.90\n", $1 / $2}'

# licence_valid in one backend: 1,000,000 calls over 100 holders
ms=$(psql -qXtA -d $db <<'SQL' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | head -1
SET max_parallel_workers_per_gather = 0;
SELECT count(*) FROM generate_series(1, 1000) g
WHERE miaopi.licence_valid('bench-cert', 'h' || (g % 100), DATE '2026-12-05');
\timing on
SELECT count(*) FROM generate_series(1, 1000000) g
WHERE miaopi.licence_valid('bench-cert', 'h' || (g % 100), DATE '2026-12-05');
SELECT count(*) FROM generate_series(1, 1000000) g
WHERE miaopi.licence_valid('bench-cert', 'h' || (g % 100), DATE '2026-12-05');
SELECT count(*) FROM generate_series(1, 1000000) g
WHERE miaopi.licence_valid('bench-cert', 'h' || (g % 100), DATE '2026-12-05');
SQL
)
echo "# 1,000,000 licence_valid() calls: best $ms ms"
echo "$ms" | awk '{printf "BENCH|licence: licence_valid() calls a second, one backend|%d|>= 200000\n", 1000000 / ($1 / 1000)}'
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
