#!/bin/sh
# make bench: measure miaopi in one throwaway cluster and print a summary
# (test/bench/README.md explains every number).  Nothing here asserts a
# timing: this 2-core machine is shared and noisy, so read ratios, not
# absolute numbers.
#
#   BENCH_SECONDS      length of the measured pgbench run (default 30)
#   BENCH_EVAL_CALLS   evaluate() calls per timed run (default 100000)
#   MIAOPI_DESTDIR     use a build installed with "make install DESTDIR=..."
#   MIAOPI_DEMO_FORCE  1: allow "--in-cluster" outside the throwaway cluster
#
# Besides its own parts (setup.sql, the pgbench scripts, measure.sql,
# report.sql, clock.sh), it runs every other test/bench/*.sh in the same
# cluster, in file-name order, with PSQL="psql -X -q postgres" and the
# PGOPTIONS below in the environment.  Such a script prints each figure as one
# line
#     BENCH|measure|value|target          e.g. BENCH|stats_service, 1M rows|0.41 s|<= 2 s
# and may print anything else as commentary.  Every BENCH line (the runner's
# own parts print theirs too) lands in the closing markdown table, with the
# machine it ran on: README's performance section copies that table.
set -e
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.."
BENCH_SECONDS=${BENCH_SECONDS:-30}
BENCH_EVAL_CALLS=${BENCH_EVAL_CALLS:-100000}

if [ "$1" != "--in-cluster" ]; then
	set -- -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
		-o cron.use_background_workers=on -o max_worker_processes=16 \
		-o synchronous_commit=off
	if [ -n "$MIAOPI_DESTDIR" ]; then
		set -- -o "extension_destdir=$MIAOPI_DESTDIR" "$@"
	fi
	export BENCH_SECONDS BENCH_EVAL_CALLS
	exec pg_virtualenv -t "$@" "$self" --in-cluster
fi

# ---- inside the cluster ----
. test/throwaway.sh
miaopi_require_throwaway "$0" bench
top=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The fixture's world is 2026-12-01: pin the clock miaopi (and the PL/pgSQL
# twin, through miaopi.now()) compare dates against.
PGOPTIONS="-c miaopi.clock_now=2026-12-01T10:00:00+08:00"
export PGOPTIONS
PSQL="psql -X -q -v ON_ERROR_STOP=1 postgres"

echo "== setup: extension, reference fixture, muck rules, 10,000 prebuilt filings"
# The INSERT measures deciding: the muck rules without their licence: section,
# as the PL/pgSQL twin checks without issuing anything.  What issuing the
# licence adds is test/bench/licence.sh's measure.
sed -e '/^licence:/,/^tests:/{/^tests:/!d}' rules/muck-transport-filing.yaml >"$tmp/muck.yaml"
awk -f test/bench/nolookup.awk rules/muck-transport-filing.yaml >"$tmp/nolookup.yaml"
$PSQL -v muck_src="$(cat "$tmp/muck.yaml")" \
	-v nolookup_src="$(cat "$tmp/nolookup.yaml")" -f test/bench/setup.sql

# (a) One pgbench run that interleaves the scripts transaction by transaction
# (each client picks a script at random, equal weights), rather than
# alternating short runs: both sides then see exactly the same machine, the
# same noise from other users of this box, the same checkpoints and the same
# table sizes.  Because the weights fix each script's share of transactions,
# per-script tps is not the measure; per-script mean latency is.  A client
# doing only script X would run 1/latency(X) transactions a second, so the
# throughput ratio miaopi/plain is latency(plain) / latency(miaopi), taken
# from pgbench's per-transaction log.
scripts="-f $top/test/bench/insert_miaopi.sql@1 -f $top/test/bench/insert_plain.sql@1
	-f $top/test/bench/insert_plpgsql.sql@1 -f $top/test/bench/insert_stored.sql@1"
echo "== warm-up: 3 s"
pgbench -n -M prepared -c 2 -j 2 -T 3 $scripts postgres >/dev/null 2>&1
$PSQL -c "INSERT INTO bench.result (section, metric, value)
	SELECT 'a', 'miaopi first id', coalesce(max(id), 0) FROM miaopi.application
	UNION ALL
	SELECT 'a', 'plpgsql first id', coalesce(max(id), 0) FROM bench.plpgsql_application"
echo "== pgbench: 2 clients, ${BENCH_SECONDS} s, synchronous_commit=off, scripts interleaved"
(cd "$tmp" && pgbench -n -M prepared -c 2 -j 2 -T "$BENCH_SECONDS" -l --log-prefix=tx \
	$scripts postgres 2>&1) | sed -n '/^SQL script/,$p'
cat "$tmp"/tx.* >"$tmp/txlog"
$PSQL -c "\\copy bench.txlog FROM '$tmp/txlog' (FORMAT text, DELIMITER ' ')"

echo "== load_rules and evaluate() in one backend"
reps=$(( (BENCH_EVAL_CALLS + 9999) / 10000 ))
$PSQL -v reps="$reps" -f test/bench/measure.sql

$PSQL -v bench_lines="$tmp/bench.report" -f test/bench/report.sql
cat "$tmp/bench.report" >"$tmp/bench.lines"

echo
echo "== the calendar and the clock (issue targets: <= 3x and <= 4x)"
BENCH_DB=miaopi_clock_bench sh test/bench/clock.sh | tee "$tmp/bench.out"
grep '^BENCH|' "$tmp/bench.out" >>"$tmp/bench.lines" || true

# Every other bench script, in the same cluster.
PSQL="psql -X -q postgres"
export PSQL
for f in test/bench/*.sh; do
	case "$(basename "$f")" in
		run-bench.sh | clock.sh | report-table.sh) continue ;;
	esac
	echo
	echo "== $f"
	if ! sh "$f" >"$tmp/bench.out" 2>&1; then
		cat "$tmp/bench.out"
		echo "BENCH|$(basename "$f" .sh): script failed|—|—" >>"$tmp/bench.lines"
		continue
	fi
	grep -v '^BENCH|' "$tmp/bench.out" || true
	grep '^BENCH|' "$tmp/bench.out" >>"$tmp/bench.lines" || true
done

# The report: every figure of this one run, side by side.
echo
echo "== Performance report (markdown; README's performance section copies it)"
echo
sh test/bench/report-table.sh "$tmp/bench.lines"
