#!/bin/sh
# Analysts' queries belong on a replica: make a hot standby of this cluster
# with pg_basebackup (a second cluster on another port, its socket in a
# temporary directory, started with pg_ctl), wait until it has replayed a
# database with a few thousand applications, and read every miaopi.stats_*
# view and a replay() there.  Each must answer exactly as on the primary.
set -e
db=miaopi_standby
bindir=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
tmp=$(mktemp -d)
port=$((${PGPORT:-5432} + 1000))
status=0

# pg_ctl refuses to run as root: run the standby as postgres then.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
cleanup() {
	if [ -f "$tmp/data/postmaster.pid" ]; then
		as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$tmp"

psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION miaopi"
psql -qX -v ON_ERROR_STOP=1 -v n=3000 -d $db -f test/bench/stats-data.sql >/dev/null
# a sweep so that deadline events, lights and crossings exist too
psql -qX -v ON_ERROR_STOP=1 -d $db -c "SET miaopi.clock_now = '2026-12-01 10:00+08'" \
	-c "SELECT miaopi.sweep()" >/dev/null

# The standby: the primary's data directory, this run's own settings
as_owner "$bindir/pg_basebackup" -h "${PGHOST:-localhost}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" \
	-D "$tmp/data" -R -X stream -c fast
settings=$(psql -qXAt -d postgres -c "SELECT string_agg(format('%s = %L', name, setting), E'\n')
	FROM pg_settings WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
		'max_prepared_transactions', 'max_locks_per_transaction', 'extension_destdir')")
cat >"$tmp/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$tmp'
hot_standby = on
fsync = off
$settings
CONF
printf 'local all all trust\n' >"$tmp/pg_hba.conf"
cp "$tmp/postgresql.conf" "$tmp/data/postgresql.conf"
cp "$tmp/pg_hba.conf" "$tmp/data/pg_hba.conf"
[ "$(id -u)" = 0 ] && chown postgres "$tmp/data/postgresql.conf" "$tmp/data/pg_hba.conf"
as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/standby.log" -w start >/dev/null

standby() {
	as_owner psql -qXAt -h "$tmp" -p "$port" -U "${PGUSER:-postgres}" -d $db "$@"
}
lsn=$(psql -qXAt -d postgres -c "SELECT pg_current_wal_lsn()")
i=0
until [ "$(standby -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)" = t ]; do
	i=$((i + 1))
	if [ $i -gt 120 ]; then
		echo "not ok - standby: did not replay up to $lsn in 60 s"
		cat "$tmp/standby.log"
		exit 1
	fi
	sleep 0.5
done
[ "$(standby -c 'SELECT pg_is_in_recovery()')" = t ] ||
	{ echo "not ok - standby: the copy is not in recovery"; exit 1; }

# Every view, in full, on both sides (the clock pinned, as in the data)
pin="SET miaopi.clock_now = '2026-12-01 10:00+08';"
for v in stats_service stats_daily stats_checks stats_time_limits stats_channels; do
	q="$pin SELECT count(*) || ' ' || md5(coalesce(string_agg(v::text, ',' ORDER BY v::text), '')) FROM miaopi.$v v"
	p=$(psql -qXAt -d $db -c "$q" | tail -1)
	s=$(standby -c "$q" 2>&1 | tail -1)
	if [ "$p" = "$s" ] && [ "${p%% *}" -gt 0 ]; then
		echo "ok - standby: miaopi.$v reads the same on the hot standby (${p%% *} rows)"
	else
		echo "not ok - standby: miaopi.$v: primary '$p', standby '$s'"
		status=1
	fi
done

# replay() is read-only: it runs on the standby too
src=$(psql -qXAt -d $db -c "SELECT replace(source, 'payload.n >= 8', 'payload.n >= 20')
	FROM miaopi.ruleset r JOIN miaopi.service s ON s.current_ruleset = r.id WHERE s.code = 'stats-public'")
q="SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM miaopi.replay(\$src\$$src\$src\$) r"
p=$(psql -qXAt -d $db -c "$q")
s=$(standby -c "$q" 2>&1)
if [ "$p" = "$s" ] && [ "${p%% *}" -gt 0 ]; then
	echo "ok - standby: replay() gives the same ${p%% *} changes on the hot standby"
else
	echo "not ok - standby: replay(): primary '$p', standby '$s'"
	status=1
fi
exit $status
