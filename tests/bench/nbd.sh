#!/bin/bash
# nbd.sh BUILDDIR: fio's nbd engine against qemu-nbd and against xrepl
# disk-server, same image, same client, one after the other; prints MB/s
# and IOPS per workload and disk-server's share of qemu-nbd's throughput.
set -euo pipefail
build=$1
runtime=${BENCH_SECONDS:-10}
dir=$(mktemp -d /var/tmp/xrepl-bench-nbd.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
for tool in qemu-nbd fio; do
	command -v $tool >/dev/null || { echo "nbd.sh: $tool missing (setup.sh installs it)" >&2; exit 1; }
done
truncate -s 512M "$dir/img"
dd if=/dev/urandom of="$dir/img" bs=1M count=512 conv=notrunc status=none

serve() {
	rm -f "$dir/sock"
	case $1 in
	qemu-nbd) qemu-nbd -f raw -t -e 4 --cache=writeback --aio=threads -k "$dir/sock" "$dir/img" & ;;
	disk-server) "$build/tools/xrepl" disk-server "$dir/img" --socket "$dir/sock" & ;;
	esac
	for _ in $(seq 50); do [ -S "$dir/sock" ] && return; sleep 0.1; done
	echo "nbd.sh: $1 did not start" >&2
	exit 1
}

# run NAME RW BS QD: "MB/s IOPS" (reads and writes summed)
run() {
	fio --name="$1" --ioengine=nbd --uri="nbd+unix:///?socket=$dir/sock" \
		--rw="$2" --bs="$3" --iodepth="$4" --size=512M --runtime="$runtime" \
		--time_based --output-format=terse --terse-version=3 |
		awk -F';' '/^3;/ { printf "%.1f %.0f\n", ($7 + $48) * 1024 / 1e6, $8 + $49 }'
}

workloads="randread:4k:16 randwrite:4k:16 read:1M:4 write:1M:4"
declare -A result
for server in qemu-nbd disk-server; do
	serve $server
	for w in $workloads; do
		IFS=: read -r rw bs qd <<<"$w"
		result[$server:$w]=$(run "$server-$rw" "$rw" "$bs" "$qd")
	done
	kill %1
	wait %1 2>/dev/null || true
done
printf '%-16s %14s %14s %14s %14s %7s\n' workload "qemu-nbd MB/s" "IOPS" "xrepl MB/s" "IOPS" ratio
for w in $workloads; do
	read -r qb qi <<<"${result[qemu-nbd:$w]}"
	read -r xb xi <<<"${result[disk-server:$w]}"
	printf '%-16s %14s %14s %14s %14s %7s\n' "$w" "$qb" "$qi" "$xb" "$xi" \
		"$(awk -v a="$xb" -v b="$qb" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
done
