#!/bin/sh
# make demo: start a throwaway cluster, load every file in rules/, submit a few
# hundred applications and print what miaopi decided (test/demo/demo.sql).
#
# MIAOPI_DESTDIR: use a build installed with "make install DESTDIR=..." instead
# of the system-wide install (Debian's extension_destdir setting).
set -e
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.."

if [ "$1" = "--in-cluster" ]; then
	# Inside pg_virtualenv: one psql include per rules file, whatever exists.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for f in rules/*.yaml; do
		[ -f "$f" ] || continue
		printf '\\echo %s\n\\set src `cat %s`\nSELECT * FROM miaopi.load_rules(:'"'"'src'"'"');\n' \
			"$f" "$f"
	done >"$tmp/load_rules.sql"
	exec psql -X -q -v ON_ERROR_STOP=1 -v load_rules="$tmp/load_rules.sql" \
		-f test/demo/demo.sql postgres
fi

set -- -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
	-o cron.use_background_workers=on -o max_worker_processes=16
if [ -n "$MIAOPI_DESTDIR" ]; then
	set -- -o "extension_destdir=$MIAOPI_DESTDIR" "$@"
fi
exec pg_virtualenv -t "$@" "$self" --in-cluster
