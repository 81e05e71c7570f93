#!/bin/sh
# test/bench/report-table.sh FILE: the closing table of make bench.  FILE holds
# lines "BENCH|measure|value|target"; prints them as one markdown table with a
# "vs target" column (meets / MISSES, when the target is a comparison such as
# ">= 0.80" or "≤ 2 s" and the value starts with a number), then the machine.
# A part of run-bench.sh, not a bench script of its own: the runner skips it
# when it runs the other test/bench/*.sh.
set -e
awk -F'|' '
function num(s) {
	gsub(/,/, "", s)
	if (match(s, /-?[0-9]+(\.[0-9]+)?/) == 0) return ""
	return substr(s, RSTART, RLENGTH) + 0
}
BEGIN {
	print "| measure | value | target | vs target |"
	print "| --- | ---: | --- | --- |"
}
$1 == "BENCH" {
	v = $3; t = $4; verdict = ""
	op = ""
	if (t ~ /^ *(>=|≥)/) op = ">="
	else if (t ~ /^ *(<=|≤)/) op = "<="
	nv = num(v); nt = num(t)
	if (op != "" && nv != "" && nt != "") {
		if ((op == ">=" && nv >= nt) || (op == "<=" && nv <= nt)) verdict = "meets"
		else verdict = "MISSES"
	}
	printf "| %s | %s | %s | %s |\n", $2, v, t, verdict
}' "$1"
echo
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
pg=$(psql -X -At -c 'SHOW server_version' postgres 2>/dev/null || echo '?')
echo "Machine: ${cpu:-unknown CPU}, $(nproc) cores, ${mem:-? memory}, $(uname -sr); PostgreSQL $pg; $(date -u '+%Y-%m-%d %H:%M UTC')."
