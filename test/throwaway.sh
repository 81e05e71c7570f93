# test/throwaway.sh: sourced by test/demo/run-demo.sh and test/bench/run-bench.sh
# in their "--in-cluster" half, before anything is written.
#
# make demo and make bench create objects, load rules, insert hundreds of
# thousands of rows and drop databases of their own.  They only ever do that
# inside the cluster pg_virtualenv created for this run: the outer half starts
# pg_virtualenv, which points PGHOST/PGPORT/PGDATABASE at a new cluster that
# is thrown away on exit.  The inner half refuses to run anywhere else, for
# instance when someone calls "run-demo.sh --in-cluster" by hand with PGHOST
# or PGDATABASE naming a real server, unless MIAOPI_DEMO_FORCE=1 says so.
#
# A pg_virtualenv cluster is recognised by the marker file pg_virtualenv
# writes next to its configuration (.by_pg_virtualenv) and by its port being
# the one PGPORT names, on localhost, database postgres.
miaopi_require_throwaway() {
	if [ "${MIAOPI_DEMO_FORCE:-}" = 1 ]; then
		echo "MIAOPI_DEMO_FORCE=1: running against ${PGHOST:-local socket}:${PGPORT:-5432}/${PGDATABASE:-$USER} as told" >&2
		return 0
	fi
	conf="${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}/${PGVERSION:-none}/regress"
	if [ -f "$conf/.by_pg_virtualenv" ] &&
		[ "${PGHOST:-}" = localhost ] && [ "${PGDATABASE:-}" = postgres ] &&
		[ -n "${PGPORT:-}" ] &&
		[ "$(pg_conftool -s "$PGVERSION" regress show port 2>/dev/null)" = "$PGPORT" ]; then
		return 0
	fi
	cat >&2 <<MSG
$1: refusing to run: PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGDATABASE=${PGDATABASE:-}
is not the throwaway cluster pg_virtualenv starts for this command.
Run "make $2" (or $1 without --in-cluster), which starts one; to run against
this database anyway (it will be changed), set MIAOPI_DEMO_FORCE=1.
MSG
	exit 1
}
