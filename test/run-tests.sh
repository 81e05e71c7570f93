#!/bin/sh
# Run pg_regress and the pgTAP suite in a throwaway cluster with pg_cron loaded.
set -e
cd "$(dirname "$0")/.."
exec pg_virtualenv -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
	-o cron.use_background_workers=on -o max_worker_processes=16 \
	test/run-in-cluster.sh
