#!/bin/bash
# pair.sh: the two-host lab. Two Xen 4.17 hosts, A and B, boot in parallel
# under QEMU from the one-host lab's images, each with this build in its
# dom0 and a disk of its own; the pair-* scenarios run on the lab host and
# act on them through tests/lab/pair/lib.sh (commands in either dom0, link
# cuts, shaping, power cuts, an observer on the guest LAN).
#
#   pair.sh check [-r ROOT] [-o OUT] SCENARIO...
#                       boot A and B once, run the scenarios in order,
#                       print PASS/FAIL and @@TIMING lines; exit 1 on any
#                       failure or timeout
#   pair.sh shell [-r ROOT]
#                       boot A and B, then an interactive shell on the lab
#                       host with the helpers loaded (`on A xl list')
#
# -r ROOT  a tree copied onto both dom0s' / (make install DESTDIR=ROOT)
# -o OUT   where scenarios leave files ($EXPORT, one folder each)
# Env: LAB_DIR (images and logs, default /var/tmp/xrepl-lab),
# LAB_PAIR_MEM (each host, default 2G), LAB_PAIR_DOM0_MEM (1024M),
# LAB_PAIR_SMP (CPUs per host, default 1: two hosts of two TCG vCPUs on this
# machine's two cores pause a guest twice as long, and boot slower),
# LAB_SCENARIO_TIMEOUT (s, default 900), and the scenarios' own knobs
# (TRIALS for pair-power-trials).
#
# The links are QEMU tap NICs on bridges in a network namespace of the
# lab's (xrlab<pid>): a namespace keeps every frame inside this machine and
# leaves the host's own network alone, taps let the lab cut a link from
# QEMU's monitor (carrier lost) or drop its frames at the bridge (carrier
# kept), and bridges flood and learn as a real switch does, which is what
# a guest moving from A to B must cope with. The observer is a namespace
# of its own (xrobs<pid>) with one leg on the guest LAN.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_DIR=${LAB_DIR:-/var/tmp/xrepl-lab}
export PAIR_MEM=${LAB_PAIR_MEM:-2G}
export PAIR_DOM0_MEM=${LAB_PAIR_DOM0_MEM:-1024M}
export PAIR_SMP=${LAB_PAIR_SMP:-1}
TIMEOUT=${LAB_SCENARIO_TIMEOUT:-900}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
ROOT=
OUT=
while getopts r:o:h opt; do
	case $opt in
	r) ROOT=$(cd "$OPTARG" && pwd) ;;
	o) mkdir -p "$OPTARG" && OUT=$(cd "$OPTARG" && pwd) ;;
	h) usage 0 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
case $cmd in
check) [ $# -gt 0 ] || usage ;;
shell) ;;
*) usage ;;
esac
for s in "$@"; do
	[ -f "$HERE/scenarios/$s.sh" ] || { echo "pair.sh: no scenario '$s' in $HERE/scenarios" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "pair.sh: the lab needs root (network namespaces, taps)" >&2; exit 2; }
[ -c /dev/net/tun ] || { echo "pair.sh: no /dev/net/tun: the lab's links are taps" >&2; exit 2; }

"$HERE/images.sh"

export PAIR_RUN
PAIR_RUN=$LAB_DIR/logs/pair-$(date +%Y%m%d-%H%M%S)
mkdir -p "$PAIR_RUN"
export PAIR_NS=xrlab$$ PAIR_OBS=xrobs$$
export PAIR_LIB=$HERE/pair/lib.sh
. "$PAIR_LIB"
SCENARIO=pair-lab
RESULT=$PAIR_RUN/result.boot

teardown() {
	local h
	set +e
	for h in A B; do
		[ -s "$PAIR_RUN/$h.pid" ] && kill -9 "$(cat "$PAIR_RUN/$h.pid")" 2>/dev/null
	done
	for ns in "$PAIR_OBS" "$PAIR_NS"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "$PAIR_RUN"/*-data.img "$PAIR_RUN/initrd.cpio"
	wait 2>/dev/null
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Namespaces of runs that died without their teardown.
for ns in $(ip netns list | awk '/^xr(lab|obs)[0-9]+/ { print $1 }'); do
	pid=${ns#xrlab}
	pid=${pid#xrobs}
	kill -0 "$pid" 2>/dev/null && continue
	ip netns pids "$ns" | xargs -r kill -9 2>/dev/null
	ip netns del "$ns"
done

# The switches: one bridge per link; the lab host's management address.
ip netns add "$PAIR_NS"
ip netns add "$PAIR_OBS"
labhost ip link set lo up
for br in repl lan mgmt; do
	labhost ip link add "br-$br" type bridge mcast_snooping 0
	labhost ip link set "br-$br" up
	for h in a b; do
		labhost ip tuntap add dev "$h-$br" mode tap
		labhost ip link set "$h-$br" master "br-$br"
		labhost ip link set "$h-$br" up
	done
done
labhost ip addr add 10.0.3.254/24 dev br-mgmt
labhost ip link add obs-lan type veth peer name obs0 netns "$PAIR_OBS"
labhost ip link set obs-lan master br-lan up
observer ip link set lo up
observer ip link set obs0 address 52:54:00:0b:00:fa
observer ip addr add 192.0.2.250/24 dev obs0
observer ip addr add fd00::250/64 dev obs0 nodad
observer ip link set obs0 up

# Both dom0s boot the one-host lab's image plus this build and a key.
mkdir -p "$PAIR_RUN/job/etc/xrepl"
[ -n "$ROOT" ] && cp -a "$ROOT/." "$PAIR_RUN/job/"
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$PAIR_RUN/job/etc/xrepl/xrepl.key"
echo >>"$PAIR_RUN/job/etc/xrepl/xrepl.key"
chmod 600 "$PAIR_RUN/job/etc/xrepl/xrepl.key"
# the cluster's (cluster_start): one config, one authkey, on both hosts
mkdir -p "$PAIR_RUN/job/etc/corosync"
cp "$HERE/pair/corosync.conf" "$PAIR_RUN/job/etc/corosync/"
head -c 256 /dev/urandom >"$PAIR_RUN/job/etc/corosync/authkey"
chmod 400 "$PAIR_RUN/job/etc/corosync/authkey"
(cd "$PAIR_RUN/job" && find . | cpio -o -H newc --quiet) >"$PAIR_RUN/job.cpio"
cat "$LAB_DIR/dom0.cpio" "$PAIR_RUN/job.cpio" >"$PAIR_RUN/initrd.cpio"
rm -rf "$PAIR_RUN/job" "$PAIR_RUN/job.cpio"
for h in A B; do
	truncate -s 4G "$PAIR_RUN/$h-data.img"
	mkfs.ext4 -q -F -L data "$PAIR_RUN/$h-data.img"
done

echo "pair: run directory $PAIR_RUN (serial logs A.log, B.log)"
t0=$(now)
boot A
boot B
wait_booted A 300 || { echo "FAIL pair-lab: host A did not boot"; exit 1; }
wait_booted B 300 || { echo "FAIL pair-lab: host B did not boot"; exit 1; }
echo "@@TIMING pair-lab boot seconds=$(since "$t0")"

if [ "$cmd" = shell ]; then
	echo "pair: A and B are up; try: on A xl list; cut_link replication; power off B"
	bash --rcfile <(echo ". '$PAIR_LIB'; PS1='pair\$ '") -i || true
	exit 0
fi

# reset: what a scenario leaves must not leak into the next one
reset() {
	local h
	ip netns pids "$PAIR_OBS" | xargs -r kill -9 2>/dev/null
	witness stop
	unsilence 2>/dev/null
	for h in A B; do
		power on "$h" >/dev/null || return 1
		link_op on "$h" 2>/dev/null
		on "$h" 'tc qdisc del dev repl0 root 2>/dev/null; lab_reset' >/dev/null
	done
}

results=()
ok=1
cd "$PAIR_RUN"
for s in "$@"; do
	t_s=$(now)
	echo "@@SCENARIO-BEGIN $s"
	export SCENARIO=$s RESULT=$PAIR_RUN/result.$s EXPORT=${OUT:-$PAIR_RUN/out}/$s
	mkdir -p "$EXPORT"
	rm -f "$RESULT"
	# a session of its own, so that whatever it left running goes with it
	set +e
	rm -f "$PAIR_RUN/out.fifo"
	mkfifo "$PAIR_RUN/out.fifo"
	stamp <"$PAIR_RUN/out.fifo" >"$PAIR_RUN/$s.log" &
	stamp_pid=$!
	setsid timeout -k 10 "$TIMEOUT" bash "$HERE/scenarios/$s.sh" \
		>"$PAIR_RUN/out.fifo" 2>&1 </dev/null &
	spid=$!
	wait $spid
	rc=$?
	kill -9 -- -$spid 2>/dev/null
	wait $stamp_pid
	set -e
	grep -E '^[0-9.]+ (@@TIMING|@@WARN) ' "$PAIR_RUN/$s.log" | cut -d' ' -f2- || true
	if [ -s "$RESULT" ]; then
		line="FAIL $s: $(cat "$RESULT")"
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		line="FAIL $s: timed out after ${TIMEOUT}s"
	elif [ "$rc" != 0 ]; then
		line="FAIL $s: exited with status $rc"
	else
		line="PASS $s"
	fi
	echo "$line"
	echo "@@TIMING $s wall seconds=$(since "$t_s")"
	case $line in
	PASS*) ;;
	*)
		ok=0
		echo "  --- last lines of $s ($PAIR_RUN/$s.log):"
		tail -n 25 "$PAIR_RUN/$s.log" | cut -d' ' -f2- | sed 's/^/  | /'
		;;
	esac
	results+=("$line")
	reset || { echo "FAIL pair-lab: the hosts could not be reset after $s"; ok=0; break; }
done
echo "pair: results:"
printf '  %s\n' "${results[@]}"
grep -aE '\(XEN\).*(Panic|FATAL)|Kernel panic' "$PAIR_RUN"/[AB].log | head -n 5 | sed 's/^/pair: /' || true
[ $ok = 1 ]
