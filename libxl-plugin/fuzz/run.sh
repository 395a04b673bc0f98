#!/bin/bash
# run.sh BUILDDIR SECONDS [RUNS [TARGET...]]: builds seeds from the lab
# corpus (the head of each stream, and its encoded frames), from a real TLS
# handshake (each side's bytes) and by hand (wire frames, an NBD session,
# disk records), and runs each fuzzer (or each TARGET) for SECONDS, or
# until RUNS executions when RUNS is given (make fuzz-long).
# Exits non-zero on the first crash; the reproducer is left in BUILDDIR/fuzz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
seconds=$2
runs=${3:-}
shift 2
[ $# = 0 ] || shift
targets=${*:-stream decoder wire handshake nbd records}
limit=(-max_total_time="$seconds")
[ -z "$runs" ] || limit=(-runs="$runs")
corpus=${XREPL_CORPUS:-$here/../../../shared/corpus}
work=$build/fuzz
mkdir -p "$work/seeds-stream" "$work/seeds-decoder" "$work/seeds-wire" "$work/seeds-nbd" \
	"$work/seeds-records" "$work/seeds-handshake"
# a HELLO, then an EPOCH_END
printf '\001\000\000\000\004\000\000\000\004\000\000\000\007\000\000\000\010\000\000\000\001%07d' 0 >"$work/seeds-wire/hello"
"$build/fuzz-handshake-seed" "$work/seeds-handshake"
# an NBD client: flags, GO "", a 16-byte WRITE, a READ of it, DISC
x() { printf '\\x%02x' "$@"; }
req() { printf '%b' "\x25\x60\x95\x13\0\0\0$(x "$1")\0\0\0\0\0\0\0$(x "$2")\0\0\0\0\0\0\0\0\0\0\0$(x "$3")"; }
{
	printf '\0\0\0\3IHAVEOPT\0\0\0\7\0\0\0\6\0\0\0\0\0\0'
	req 1 1 16
	printf 'AAAAAAAAAAAAAAAA'
	req 0 2 16
	req 2 3 0
} >"$work/seeds-nbd/go-write-read"
# disk records: SIZE 64 KiB, a 16-byte WRITE, a ZERO, MARKED 1
printf '%b' '\5\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\1\0\0\0\20\0\0\0\0\0\0\0\0\0\0\0AAAAAAAAAAAAAAAA\2\0\0\0\0\2\0\0\0\1\0\0\0\0\0\0\4\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0' \
	>"$work/seeds-records/write-zero-mark"
for f in "$corpus"/*.zst; do
	[ -e "$f" ] || continue
	n=$(basename "$f" .xlstream.zst)
	zstd -dcq "$f" | head -c 65536 >"$work/seeds-stream/$n" || true
	"$build/fuzz-encode-seed" <"$work/seeds-stream/$n" >"$work/seeds-decoder/$n"
done
for t in $targets; do
	mkdir -p "$work/corpus-$t"
	if [ -n "$runs" ]; then
		echo "fuzz: $t to $runs runs"
	else
		echo "fuzz: $t for ${seconds}s"
	fi
	(cd "$work" && "$build/fuzz-$t" "${limit[@]}" \
		-max_len=70000 -print_final_stats=1 \
		"corpus-$t" "seeds-$t" 2>&1 | grep -E '^#[0-9]+.*DONE|^==|SUMMARY' | tail -n 4)
done
