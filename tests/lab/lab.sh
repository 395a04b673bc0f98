#!/bin/bash
# lab.sh: the real-Xen lab. Debian's Xen 4.17 and a Debian dom0 boot under
# QEMU (TCG), this tree's build is installed into dom0, and scenarios run
# there.
#
#   lab.sh build                         build or reuse the images
#   lab.sh check [-r ROOT] [-o OUT] [SCENARIO...]
#                                        boot once, run the scenarios (all of
#                                        tests/lab/scenarios/ by default),
#                                        print PASS/FAIL and @@TIMING lines;
#                                        exit 1 on any failure, missing
#                                        result or timeout; pair-* scenarios
#                                        run afterwards on two hosts booted
#                                        for them (pair.sh)
#   lab.sh shell [-r ROOT]               boot to an interactive dom0 shell on
#                                        this terminal (Ctrl-a x quits)
#
# -r ROOT  a tree copied onto dom0's / (make install DESTDIR=ROOT)
# -o OUT   where files scenarios leave in $EXPORT land (one folder each)
# Env: LAB_DIR (image cache, default /var/tmp/xrepl-lab), LAB_TIMEOUT
# (whole boot, s, default 2400), LAB_SCENARIO_TIMEOUT (s, default 900;
# passed on to dom0 with the scenarios' knobs CYCLES and FAILOVERS),
# LAB_MEM (3G), LAB_DOM0_MEM (1024M), LAB_ACCEL (tcg,thread=multi; single
# is no steadier and much slower), LAB_CPU (qemu64,+svm,+npt: NPT gives Xen
# HAP for PVH guests; -cpu max crashes the PV dom0 under TCG).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_DIR=${LAB_DIR:-/var/tmp/xrepl-lab}
TIMEOUT=${LAB_TIMEOUT:-2400}
CPU=${LAB_CPU:-qemu64,+svm,+npt}
MEM=${LAB_MEM:-3G}
DOM0_MEM=${LAB_DOM0_MEM:-1024M}

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

"$HERE/images.sh"
[ "$cmd" = build ] && exit 0

if [ $# -eq 0 ]; then
	set -- $(cd "$HERE/scenarios" && ls *.sh | sed 's/\.sh$//')
fi
pair=()
one=()
for s in "$@"; do
	[ -f "$HERE/scenarios/$s.sh" ] || { echo "lab.sh: no scenario '$s' in $HERE/scenarios" >&2; exit 2; }
	case $s in
	pair-*) pair+=("$s") ;;
	*) one+=("$s") ;;
	esac
done
if [ "$cmd" = check ] && [ ${#one[@]} = 0 ]; then
	exec "$HERE/pair.sh" check ${ROOT:+-r "$ROOT"} ${OUT:+-o "$OUT"} "${pair[@]}"
fi
set -- "${one[@]}"

mkdir -p "$LAB_DIR/logs"
work=$(mktemp -d "$LAB_DIR/logs/.run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The job archive: scenarios, their order, and this tree's build.
mkdir -p "$work/job/lab/scenarios" "$work/job/job"
cp "$HERE"/scenarios/*.sh "$work/job/lab/scenarios/"
rm -f "$work/job/lab/scenarios"/pair-*.sh
echo "$*" >"$work/job/job/scenarios"
# the scenarios' knobs: dom0 sees no other environment of ours
for v in LAB_SCENARIO_TIMEOUT CYCLES FAILOVERS; do
	if [ -n "${!v:-}" ]; then
		printf '%s=%q\n' "$v" "${!v}"
	fi
done >"$work/job/job/env"
[ -n "$ROOT" ] && cp -a "$ROOT/." "$work/job/"
(cd "$work/job" && find . | cpio -o -H newc --quiet) >"$work/job.cpio"
# Linux unpacks concatenated cpio archives in order.
cat "$LAB_DIR/dom0.cpio" "$work/job.cpio" >"$work/initrd.cpio"

dom0_cmd="console=hvc0 loglevel=4"
[ "$cmd" = shell ] && dom0_cmd="$dom0_cmd lab.shell"
truncate -s 4G "$work/export.img"
qemu=(qemu-system-x86_64 -accel "${LAB_ACCEL:-tcg,thread=multi}" -cpu "$CPU" -m "$MEM" -smp 2
	-display none -no-reboot -nic none
	-kernel "$LAB_DIR/xen.elf"
	-append "console=com1 com1=115200,8n1 dom0_mem=$DOM0_MEM,max:$DOM0_MEM console_timestamps=boot"
	-initrd "$LAB_DIR/vmlinuz $dom0_cmd,$work/initrd.cpio"
	-drive "file=$work/export.img,format=raw,if=none,id=export"
	-device virtio-blk-pci,drive=export,serial=lab-export)

export_files() {
	[ -n "$OUT" ] || return 0
	if [ -z "$(head -c 512 "$work/export.img" | tr -d '\0')" ]; then
		echo "lab: dom0 exported nothing"
		return 1
	fi
	tar -C "$OUT" --no-overwrite-dir -xf "$work/export.img"
	echo "lab: exported files in $OUT:"
	find "$OUT" -type f -printf '  %10s  %P\n' | sort -k2
}

if [ "$cmd" = shell ]; then
	set +e
	timeout --foreground -k 10 "$TIMEOUT" "${qemu[@]}" -serial mon:stdio
	export_files
	exit 0
fi
[ "$cmd" = check ] || usage

log=$LAB_DIR/logs/run-$(date +%Y%m%d-%H%M%S).log
echo "lab: scenarios: $*"
echo "lab: serial log: $log"
t0=${EPOCHREALTIME/./}
stamp() {
	local l n
	while IFS= read -r l || [ -n "$l" ]; do
		n=${EPOCHREALTIME/./}
		printf '%7d.%03d %s\n' $(((n - t0) / 1000000)) $(((n - t0) / 1000 % 1000)) "${l//$'\r'/}"
	done
}
set +e
timeout -k 10 "$TIMEOUT" "${qemu[@]}" -monitor none -serial stdio </dev/null 2>&1 |
	stamp | tee "$log" |
	grep --line-buffered -E '^ *[0-9.]+ (PASS |FAIL |@@TIMING |@@SCENARIO-BEGIN |@@WARN )' |
	grep --line-buffered -v ' + '
qrc=${PIPESTATUS[0]}
set -e

ok=1
[ "$qrc" = 124 ] && { echo "lab: QEMU timed out after ${TIMEOUT}s"; ok=0; }
grep -q '@@LAB-DONE' "$log" || { echo "lab: dom0 did not finish (no @@LAB-DONE)"; ok=0; }
grep -q '@@EXPORT-DONE' "$log" || echo "lab: warning: dom0 did not export /export"
export_files || true
echo "lab: results:"
for s in "$@"; do
	line=$(grep -m 1 -E "^ *[0-9.]+ (PASS $s\$|FAIL $s: )" "$log" | sed -E 's/^ *[0-9.]+ //' || true)
	if [ -z "$line" ]; then
		line="FAIL $s: no result (dom0 died or the boot timed out)"
	fi
	echo "  $line"
	case $line in
	PASS*) ;;
	*)
		ok=0
		echo "  --- last lines of $s:"
		sed -n "/@@SCENARIO-BEGIN $s /,/@@SCENARIO-END $s /p" "$log" | tail -n 25 | sed 's/^/  | /'
		;;
	esac
done
grep -E '\(XEN\).*(Panic|FATAL)|Kernel panic' "$log" | head -n 5 | sed 's/^/lab: /' || true
if [ ${#pair[@]} -gt 0 ]; then
	"$HERE/pair.sh" check ${ROOT:+-r "$ROOT"} ${OUT:+-o "$OUT"} "${pair[@]}" || ok=0
fi
[ $ok = 1 ]
