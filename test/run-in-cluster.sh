#!/bin/sh
# Inside pg_virtualenv: regression tests, then pgTAP, then the scripted tests (test/scripts/*.sh).
set -e
status=0
make installcheck || { cat regression.diffs 2>/dev/null | head -200; status=1; }
psql -q -X -c "CREATE EXTENSION IF NOT EXISTS pgtap" postgres >/dev/null
pg_prove -d postgres --failures test/pgtap/*.sql || status=1
passed=0
failed=0
for t in test/scripts/*.sh; do
	[ -f "$t" ] || continue
	echo "# $t"
	if sh "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		status=1
	fi
done
echo "scripts: $passed passed, $failed failed"
exit $status
