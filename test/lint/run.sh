#!/bin/bash
#
# test/lint/run.sh: run miaopi-lint over every error case and every valid
# file, and compare the output with test/lint/expected/.
#
#   test/lint/run.sh            run the tests (after "make miaopi-lint")
#   test/lint/run.sh --update   rewrite expected/ from the current output
#   VALGRIND=1 test/lint/run.sh run every linter call under valgrind
#
# cases/NAME.yaml must fail with exactly expected/NAME.out (exit status 1).
# warn/NAME.yaml must pass with exactly the warnings of expected/warn-NAME.out.
# valid/NAME.yaml must lint clean (no output, exit status 0).  Cases too big
# or too deep to commit (10,000-deep YAML, an 8 MB source, 10,000 nested
# parentheses...) are generated here into a temporary directory.  Each
# linter call runs in the directory of its file, so the output names the
# file without a path.
#
# Prints "N passed, M failed" and exits non-zero if anything failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lint=${LINT:-$root/miaopi-lint}
update=0
if [ "${1:-}" = "--update" ]; then
	update=1
fi

if [ ! -x "$lint" ]; then
	echo "run.sh: $lint not found; run \"make miaopi-lint\" first" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

wrap=()
if [ "${VALGRIND:-0}" = 1 ]; then
	mkdir "$tmp/vg"
	wrap=(valgrind -q --error-exitcode=99 --leak-check=full
		  --show-leak-kinds=definite,indirect,possible
		  --errors-for-leak-kinds=definite,indirect,possible
		  --log-file="$tmp/vg/%p.log")
fi

pass=0
fail=0

# run_case NAME DIR EXPECTED_STATUS ARGS...: run the linter in DIR and
# compare its output (stdout and stderr) with expected/NAME.out
run_case() {
	local name=$1 dir=$2 want=$3
	shift 3
	local out="$tmp/$name.out" expected="$here/expected/$name.out" status problem=""

	(cd "$dir" && "${wrap[@]}" "$lint" "$@") >"$out" 2>&1
	status=$?

	if [ "$update" = 1 ]; then
		cp "$out" "$expected"
	fi
	if [ "$status" != "$want" ]; then
		problem="exit status $status, expected $want"
	elif [ ! -f "$expected" ]; then
		problem="no expected output $expected"
	elif ! diff -u "$expected" "$out" >"$tmp/diff"; then
		problem="output differs"
	fi
	if [ "${VALGRIND:-0}" = 1 ] && [ -n "$(cat "$tmp"/vg/*.log 2>/dev/null)" ]; then
		problem="${problem:+$problem; }valgrind reported errors"
		cat "$tmp"/vg/*.log
	fi
	rm -f "$tmp"/vg/*.log 2>/dev/null

	if [ -z "$problem" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name: $problem"
		if [ -f "$tmp/diff" ] && [ "$problem" = "output differs" ]; then
			cat "$tmp/diff"
		fi
	fi
	rm -f "$tmp/diff"
}

# Committed error cases
for f in "$here"/cases/*.yaml; do
	name=$(basename "$f" .yaml)
	run_case "$name" "$here/cases" 1 "$name.yaml"
done

# Warnings: accepted (exit status 0), with exactly expected/warn-NAME.out
for f in "$here"/warn/*.yaml; do
	name=$(basename "$f" .yaml)
	run_case "warn-$name" "$here/warn" 0 "$name.yaml"
done

# Valid files lint clean, alone and together (-v summary)
for f in "$here"/valid/*.yaml; do
	name=$(basename "$f" .yaml)
	run_case "valid-$name" "$here/valid" 0 "$name.yaml"
done
(cd "$here/valid" && ls *.yaml) >"$tmp/valid.list"
run_case "valid-verbose" "$here/valid" 0 -v $(cat "$tmp/valid.list")

# Generated cases
gen="$tmp/gen"
mkdir "$gen"
{
	printf 'service: deep\nfields: '
	head -c 10000 /dev/zero | tr '\0' '['
	head -c 10000 /dev/zero | tr '\0' ']'
	printf '\n'
} >"$gen/yaml-deep-nesting.yaml"
run_case yaml-deep-nesting "$gen" 1 yaml-deep-nesting.yaml

{
	printf 'service: deep\nname:\n'
	for i in $(seq 1 200); do
		printf '%*sa:\n' "$i" ''
	done
} >"$gen/yaml-deep-block.yaml"
run_case yaml-deep-block "$gen" 1 yaml-deep-block.yaml

{
	printf 'service: big\n# '
	head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' 'x'
	printf '\n'
} >"$gen/source-too-large.yaml"
run_case source-too-large "$gen" 1 source-too-large.yaml

{
	printf 'service: long\nname: '
	head -c 70000 /dev/zero | tr '\0' 'x'
	printf '\n'
} >"$gen/scalar-too-long.yaml"
run_case scalar-too-long "$gen" 1 scalar-too-long.yaml

{
	printf 'service: many\nfields: ['
	for i in $(seq 1 5500); do
		printf 'a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,\n'
	done
	printf 'a]\n'
} >"$gen/yaml-too-many-nodes.yaml"
run_case yaml-too-many-nodes "$gen" 1 yaml-too-many-nodes.yaml

{
	printf 'service: parens\nname: p\nkind: filing\ntime_limit: {statutory: 1, promised: 1}\n'
	printf 'checks:\n  - id: deep\n    on_fail: reject\n    rule: '
	head -c 10000 /dev/zero | tr '\0' '('
	printf 'true'
	head -c 10000 /dev/zero | tr '\0' ')'
	printf '\n'
} >"$gen/rule-deep-parens.yaml"
run_case rule-deep-parens "$gen" 1 rule-deep-parens.yaml

{
	printf 'service: nots\nname: p\nkind: filing\ntime_limit: {statutory: 1, promised: 1}\n'
	printf 'checks:\n  - id: deep\n    on_fail: reject\n    rule: |\n      '
	for i in $(seq 1 3000); do printf -- '- '; done
	printf '1 > 0\n'
} >"$gen/rule-deep-unary.yaml"
run_case rule-deep-unary "$gen" 1 rule-deep-unary.yaml

# Command line
run_case usage-no-files "$here" 2
run_case usage-bad-option "$here" 2 -x cases/unknown-kind.yaml
run_case unreadable-file "$here" 2 cases/no-such-file.yaml
run_case quiet "$here/cases" 1 -q unknown-kind.yaml field-type-unknown.yaml
run_case several-files "$here" 1 valid/two-services.yaml cases/unknown-kind.yaml cases/rule-unknown-field.yaml

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
