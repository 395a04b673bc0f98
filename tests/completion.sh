#!/bin/bash
# bash completion (tools/completion/xrepl) against this build's xrepl.
. "$srcdir/tests/tap.sh"
PATH=$builddir/tools:$PATH
. "$srcdir/tools/completion/xrepl"
rd=$(mktemp -d)
trap 'rm -rf "$rd"' EXIT
export XREPL_RUN_DIR=$rd

# complete WORD...: what _xrepl offers for the last word, sorted, one line
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_xrepl
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

check "subcommands from xrepl --help" test "$(complete_words xrepl s)" = "status switchover "
check "every subcommand offered" test "$(complete_words xrepl '' | wc -w)" -ge 12
check "protect's options from its --help" \
	test "$(complete_words xrepl protect --quo)" = "--quorum --quorum-peer "
check "receive's options from its --help" \
	test "$(complete_words xrepl receive --rep)" = "--replica-dir "
check "--quorum's sources" test "$(complete_words xrepl receive --quorum '')" = "corosync none "
check "--compress's modes" test "$(complete_words xrepl protect --compress x)" = "xbzrle xbzrle+lz4 "
check "the channel's options" \
	test "$(complete_words xrepl protect --c)" = "--ca --cache-size --cert --cert-key --compress "
check "bench's two measures" test "$(complete_words xrepl bench c)" = "channel codec "
touch "$rd/web.primary.json" "$rd/web2.backup.json" "$rd/db.backup.json" "$rd/web.primary.pid"
check "protected guests for status" test "$(complete_words xrepl status '')" = "db web web2 "
check "protected guests for failover, by prefix" test "$(complete_words xrepl failover we)" = "web web2 "
tap_done
