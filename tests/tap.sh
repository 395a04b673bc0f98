# Minimal TAP helpers for shell tests: . "$srcdir/tests/tap.sh"
tap_n=0
# check DESCRIPTION COMMAND...: one TAP result for one command's exit status
check() {
	local what=$1
	shift
	tap_n=$((tap_n + 1))
	if "$@"; then
		echo "ok $tap_n - $what"
	else
		echo "not ok $tap_n - $what"
	fi
}
tap_done() {
	echo "1..$tap_n"
	exit 0
}
