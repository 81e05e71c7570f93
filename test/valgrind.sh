#!/bin/sh
# make valgrind: the whole suite of test/run-in-cluster.sh (pg_regress, pgTAP,
# test/scripts) against a server whose every process runs under valgrind
# memcheck, then every valgrind error whose stack passes through miaopi.so.
# Takes about ten times as long as the suite itself; not part of make test.
#
#   MIAOPI_DESTDIR   test a build installed with "make install DESTDIR=..."
#   VALGRIND_LOGS    where the per-process logs go (default: a new /tmp dir)
#
# How: pg_virtualenv makes the throwaway cluster; the inner half points the
# cluster's pg_ctl.conf at a wrapper that starts postgres under valgrind and
# restarts it.  Clusters the scripts start themselves (the publisher of
# replication.sh, the standby of standby.sh) run without valgrind.  The
# server is a release build, so memcheck sees malloc'd blocks, not palloc
# chunks: it finds reads of uninitialised or freed memory and overruns of
# malloc'd blocks, not every overrun inside a memory context.
set -e
cd "$(dirname "$0")/.."
if [ "$1" != "--in-cluster" ]; then
	command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
	set -- -o shared_preload_libraries=pg_cron -o cron.database_name=postgres \
		-o cron.use_background_workers=on -o max_worker_processes=16 -o jit=off
	if [ -n "$MIAOPI_DESTDIR" ]; then
		set -- -o "extension_destdir=$MIAOPI_DESTDIR" "$@"
	fi
	exec pg_virtualenv -t "$@" "$0" --in-cluster
fi

. test/throwaway.sh
miaopi_require_throwaway "$0" valgrind
logs=${VALGRIND_LOGS:-$(mktemp -d /tmp/miaopi-valgrind.XXXXXX)}
mkdir -p "$logs"
chmod 1777 "$logs"
bindir=$(pg_config --bindir)
cat >"$logs/postgres" <<EOF
#!/bin/sh
# pg_ctl asks the binary its version before starting it
case "\$1" in -V|--version) exec $bindir/postgres "\$@" ;; esac
exec valgrind --quiet --trace-children=yes --error-exitcode=0 \\
	--log-file=$logs/vg.%p.log $bindir/postgres "\$@"
EOF
chmod 755 "$logs/postgres"
conf="${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}/$PGVERSION/regress"
sed -i '/^pg_ctl_options/d' "$conf/pg_ctl.conf"
echo "pg_ctl_options = '-p $logs/postgres -t 600'" >>"$conf/pg_ctl.conf"
pg_ctlcluster "$PGVERSION" regress restart
echo "# the server runs under valgrind: logs in $logs"

# Scripts that choreograph sessions with pauses stretch them by this much
export MIAOPI_TIME_SCALE=${MIAOPI_TIME_SCALE:-10}
status=0
test/run-in-cluster.sh || status=1

# Backends write their log as they exit; the postmaster's is complete at stop.
pg_ctlcluster "$PGVERSION" regress stop || true
processes=$(ls "$logs"/vg.*.log | wc -l)
errors=$(grep -l "miaopi\.so" "$logs"/vg.*.log 2>/dev/null || true)
if [ -n "$errors" ]; then
	for f in $errors; do
		echo "== $f"
		cat "$f"
	done
	echo "valgrind: errors through miaopi.so in $(echo "$errors" | wc -l) of $processes processes" >&2
	status=1
else
	others=$(grep -c "^==[0-9]*== [A-Z]" "$logs"/vg.*.log | awk -F: '$2 > 0' | wc -l)
	echo "valgrind: $processes processes, no error through miaopi.so ($others with errors elsewhere: $logs)"
fi
# pg_virtualenv stops and drops the cluster: let it find one running
sed -i '/^pg_ctl_options/d' "$conf/pg_ctl.conf"
pg_ctlcluster "$PGVERSION" regress start || true
exit $status
