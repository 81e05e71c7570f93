#!/bin/sh
# make demo and make bench write only to the cluster pg_virtualenv made for
# them: their inner half refuses any other database unless MIAOPI_DEMO_FORCE=1
# (nothing is run here: each refusal happens before the first connection).
status=0
for runner in test/demo/run-demo.sh test/bench/run-bench.sh; do
	for env in "PGDATABASE=production" "PGHOST=db.example.org" "PGPORT=1"; do
		out=$(env $env sh "$runner" --in-cluster 2>&1)
		rc=$?
		if [ $rc = 1 ] && echo "$out" | grep -q "refusing to run"; then
			echo "ok - throwaway: $runner --in-cluster with $env refuses"
		else
			echo "not ok - throwaway: $runner --in-cluster with $env: rc $rc: $out"
			status=1
		fi
	done
done
# the guard itself, told explicitly
out=$(PGDATABASE=production MIAOPI_DEMO_FORCE=1 sh -c '. test/throwaway.sh; miaopi_require_throwaway x demo && echo passed' 2>&1)
if echo "$out" | grep -q passed; then
	echo "ok - throwaway: MIAOPI_DEMO_FORCE=1 lets it run where the environment points"
else
	echo "not ok - throwaway: MIAOPI_DEMO_FORCE=1 did not: $out"
	status=1
fi
exit $status
