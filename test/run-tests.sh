#!/bin/sh
# Run pg_regress and the pgTAP suite in a throwaway cluster with pg_cron loaded.
# MIAOPI_DESTDIR: test a build installed with "make install DESTDIR=..." instead
# of the system-wide install (uses Debian's extension_destdir setting).
set -e
cd "$(dirname "$0")/.."
set -- -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
	-o cron.use_background_workers=on -o max_worker_processes=16
if [ -n "$MIAOPI_DESTDIR" ]; then
	set -- -t -o "extension_destdir=$MIAOPI_DESTDIR" "$@"
fi
exec pg_virtualenv "$@" test/run-in-cluster.sh
