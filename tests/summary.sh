#!/bin/sh
# summary.sh FILE.trs...: prints "N passed, N failed, N skipped" over the
# results of the tests whose .trs files are named (every TAP result counts
# once); a test with no .trs did not run, which is a failure. Exits 1 if
# anything failed.
missing=0
present=
for trs in "$@"; do
	if [ -f "$trs" ]; then
		present="$present $trs"
	else
		echo "MISSING: ${trs%.trs} produced no result"
		missing=$((missing + 1))
	fi
done
# shellcheck disable=SC2086
cat $present </dev/null | awk -v missing="$missing" '
	/^:test-result: (PASS|XFAIL)/ { p++ }
	/^:test-result: (FAIL|XPASS|ERROR)/ { f++ }
	/^:test-result: SKIP/ { s++ }
	END {
		f += missing
		printf "%d passed, %d failed, %d skipped\n", p, f, s
		exit f > 0
	}'
