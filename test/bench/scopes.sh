#!/bin/sh
# What scopes cost the INSERT (issue 6: <= 2%; never a timed test).
#
# One pgbench run interleaves two scripts transaction by transaction, so
# both see the same machine: the muck filing INSERTed as a login-less member
# of miaopi_agency, whose submit scope miaopi checks (memoised per backend),
# and the same INSERT as the superuser, for whom miaopi checks no scope.
# Both scripts start with a SET ROLE, so they pay the same for it, and the
# alternation defeats the one-entry memo: this is the check's dearer path.
# The figure is latency(superuser) / latency(agency) from pgbench's
# per-transaction log, as for the INSERT ratios of run-bench.sh.
#
# Inside the bench cluster (after setup.sql, which it runs itself when
# bench.pool is missing): PSQL defaults to psql -X -q postgres.
set -e
cd "$(dirname "$0")/../.."
PSQL=${PSQL:-psql -X -q postgres}
BENCH_SECONDS=${BENCH_SECONDS:-30}
PGOPTIONS="${PGOPTIONS:--c miaopi.clock_now=2026-12-01T10:00:00+08:00}"
export PGOPTIONS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$($PSQL -At -c "SELECT to_regclass('bench.pool') IS NULL")" = t ]; then
	awk -f test/bench/nolookup.awk rules/muck-transport-filing.yaml >"$tmp/nolookup.yaml"
	$PSQL -v ON_ERROR_STOP=1 -v muck_src="$(cat rules/muck-transport-filing.yaml)" \
		-v nolookup_src="$(cat "$tmp/nolookup.yaml")" -f test/bench/setup.sql >/dev/null
fi
$PSQL -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT miaopi.create_roles();
DO $$BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_agency') THEN
		CREATE ROLE bench_agency IN ROLE miaopi_agency;
	END IF;
END$$;
-- what the muck rules' lookups read, and the pool the script reads
GRANT USAGE ON SCHEMA registry, bench TO miaopi_agency;
GRANT SELECT ON ALL TABLES IN SCHEMA registry TO miaopi_agency;
GRANT SELECT ON bench.pool TO miaopi_agency;
SQL

for who in bench_agency postgres; do
	cat >"$tmp/$who.sql" <<EOF2
\\set i random(1, 10000)
SET ROLE $who;
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
SELECT 'muck-transport-filing', applicant_id, applicant_name, payload, materials, 'online'
FROM bench.pool WHERE i = :i;
EOF2
done
scripts="-f $tmp/bench_agency.sql@1 -f $tmp/postgres.sql@1"
pgbench -n -M prepared -c 2 -j 2 -T 3 $scripts postgres >/dev/null 2>&1
(cd "$tmp" && pgbench -n -M prepared -c 2 -j 2 -T "$BENCH_SECONDS" -l --log-prefix=tx \
	$scripts postgres >/dev/null 2>&1)
cat "$tmp"/tx.* >"$tmp/txlog"
# log lines: client tx_no latency_us script_no time_epoch time_us
ratio=$(awk '{ n[$4]++; s[$4] += $3 } END { if (n[0] && n[1]) printf "%.3f", (s[1] / n[1]) / (s[0] / n[0]) }' "$tmp/txlog")
failed=$($PSQL -At -c "SELECT count(*) FILTER (WHERE status <> 'approved') FROM miaopi.application WHERE service_code = 'muck-transport-filing'")
echo "BENCH|scopes: INSERT with scopes checked / without (superuser)|${ratio:-n/a}|>= 0.98"
[ "$failed" = 0 ] || echo "# scopes bench: $failed muck filings were not approved (lookups unreadable?)"
