#!/bin/sh
# make demo: start a throwaway cluster and tell miaopi's story in sections,
# test/demo/NN-name.sql, run in file-name order in ONE psql session (so a
# section may use what an earlier one set: psql variables, settings, roles).
#
#   10-setup       the agencies' reference data, every file in rules/
#   20-decisions   a few thousand applications decided inside their INSERT
#   30-workflow    the human path: supplement, pause, extension, refusal, sweep()
#   40-stats       every statistics view, and a replay of a rules change
#   50-..          sections added by other features (licences, policies, ledger)
#
# A section that needs an object a build may not have yet checks for it
# (to_regclass / to_regprocedure) and skips itself with a one-line note.
#
# MIAOPI_DESTDIR: use a build installed with "make install DESTDIR=..." instead
# of the system-wide install (Debian's extension_destdir setting).
# MIAOPI_DEMO_FORCE=1: allow "--in-cluster" against a database that is not
# the throwaway cluster (see test/throwaway.sh).
set -e
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.."

if [ "$1" = "--in-cluster" ]; then
	. test/throwaway.sh
	miaopi_require_throwaway "$0" demo
	# One psql include per rules file, whatever exists.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for f in rules/*.yaml; do
		[ -f "$f" ] || continue
		printf '\\echo %s\n\\set src `cat %s`\nSELECT * FROM miaopi.load_rules(:'"'"'src'"'"');\n' \
			"$f" "$f"
	done >"$tmp/load_rules.sql"
	shift
	set --
	for f in test/demo/[0-9][0-9]-*.sql; do
		[ -f "$f" ] && set -- "$@" -f "$f"
	done
	started=$(date +%s)
	psql -X -q -v ON_ERROR_STOP=1 -v load_rules="$tmp/load_rules.sql" "$@" postgres
	echo
	echo "The story took $(( $(date +%s) - started )) s. The cluster is thrown away on exit."
	exit 0
fi

set -- -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
	-o cron.use_background_workers=on -o max_worker_processes=16
if [ -n "$MIAOPI_DESTDIR" ]; then
	set -- -o "extension_destdir=$MIAOPI_DESTDIR" "$@"
fi
exec pg_virtualenv -t "$@" "$self" --in-cluster
