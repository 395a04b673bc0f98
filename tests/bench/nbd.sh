#!/bin/bash
# nbd.sh BUILDDIR: fio's nbd engine against qemu-nbd, against xrepl
# disk-server, and against disk-server replicating every write to a local
# replica with an epoch committed every 100 ms (tests/bench/disk-replicate:
# the disk half of xrepl protect and xrepl receive); same image, same
# client, one after the other. Prints MB/s and IOPS per workload and each
# one's share of qemu-nbd's throughput.
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
	replicating)
		rm -f "$dir/ctl" "$dir/replica"
		"$build/tools/xrepl" disk-server "$dir/img" --socket "$dir/sock" --control "$dir/ctl" &
		for _ in $(seq 50); do [ -S "$dir/ctl" ] && break; sleep 0.1; done
		"$build/tests/bench/disk-replicate" "$dir/ctl" "$dir/replica" 100 >"$dir/replicate.out" &
		replicator=$!
		for _ in $(seq 600); do grep -q synced "$dir/replicate.out" && break; sleep 0.1; done
		grep -q synced "$dir/replicate.out" || { echo "nbd.sh: the replica did not sync" >&2; exit 1; }
		;;
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

workloads=${BENCH_WORKLOADS:-"randread:4k:16 randwrite:4k:16 read:1M:4 write:1M:4"}
declare -A result
for server in qemu-nbd disk-server replicating; do
	# every server starts with nothing dirty in the page cache
	sync
	serve $server
	for w in $workloads; do
		IFS=: read -r rw bs qd <<<"$w"
		result[$server:$w]=$(run "$server-$rw" "$rw" "$bs" "$qd")
	done
	# disk-replicate ends with an epoch, while the server still runs: the
	# replica then holds every write
	if [ $server = replicating ]; then
		kill $replicator
		wait $replicator || echo "nbd.sh: disk-replicate failed" >&2
	fi
	kill $(jobs -p)
	wait 2>/dev/null || true
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
printf '%-16s %14s %8s %14s %8s %6s %14s %8s %6s\n' workload "qemu-nbd MB/s" IOPS \
	"xrepl MB/s" IOPS ratio "replic. MB/s" IOPS ratio
for w in $workloads; do
	read -r qb qi <<<"${result[qemu-nbd:$w]}"
	read -r xb xi <<<"${result[disk-server:$w]}"
	read -r rb ri <<<"${result[replicating:$w]}"
	printf '%-16s %14s %8s %14s %8s %6s %14s %8s %6s\n' "$w" "$qb" "$qi" "$xb" "$xi" \
		"$(ratio "$xb" "$qb")" "$rb" "$ri" "$(ratio "$rb" "$qb")"
done
echo "replication: $(tr '\n' ' ' <"$dir/replicate.out")"
cmp "$dir/img" "$dir/replica" >/dev/null 2>&1 &&
	echo "replica: identical to the image" ||
	echo "replica: DIFFERS from the image"
