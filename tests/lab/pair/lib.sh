# Helpers for two-host lab scenarios (tests/lab/scenarios/pair-*.sh), which
# run on the lab host: . "$PAIR_LIB"
#
# Hosts A and B are two QEMU processes, each a Xen 4.17 host with this
# build in its dom0. Their links (QEMU tap NICs on bridges in a network
# namespace of the lab's, $PAIR_NS) are
#   replication  A 10.0.1.1 (fd01::1), B 10.0.1.2 (fd01::2), dom0's repl0
#   guest LAN    dom0's lan0 in xenbr0: A 192.0.2.1, B 192.0.2.2, guests
#                192.0.2.(10+N), the observer 192.0.2.250 (fd00::250)
#   management   A 10.0.3.1, B 10.0.3.2, the lab host 10.0.3.254
# The observer is a network namespace of its own on the guest LAN,
# outside both hosts. Commands in a dom0 go through its guest agent on a
# virtio serial port, which no link cut touches.
#
#   on A|B CMD              run CMD (bash, with /lab/lib.sh's helpers) in a
#                           dom0; its output and exit status come back
#   on_bg A|B LOG CMD       start CMD in the background there (output in LOG)
#   observer CMD...         run CMD in the observer's namespace
#   labhost CMD...          run CMD on the lab host's management network
#   cut_link LINK / restore_link LINK
#                           LINK: replication, lan A|B, mgmt A|B, or A|B
#                           (all of a host's links): the NICs lose their
#                           carrier, as if the cables were pulled
#   silence replication / unsilence replication
#                           the switch drops every frame of the link; the
#                           NICs keep their carrier (a silent partition)
#   shape replication NETEM-ARGS... / unshape replication
#                           netem on both dom0s' replication NIC, so each
#                           direction gets the ARGS ("delay 5ms rate
#                           100mbit" is 10 ms RTT); the lab host's kernel
#                           has no netem
#   power off A|B           pull the plug: QEMU is killed, nothing inside
#                           is warned; the host's disk keeps what reached it
#   power on A|B            boot it again and wait for its agent
#   events_mark A|B / events_since A|B MARK
#                           what the host wrote to /dev/lab-events (a line
#                           stream kept on the lab host across power cuts)
#   watch_counter IP FILE   the observer reads the guest's counter into FILE
#   copies NAME             every domain NAME or NAME--incoming on A and B,
#                           as "HOST:DOMAIN:STATE" words
#   protect_ended NAME SECONDS
#                           until A's xrepl protect of NAME has exited;
#                           prints its exit status
#   guest_ctl INDEX CMD     from A's dom0 to the guest's port 9: crash,
#                           poweroff or reboot
#   fail WHY, timing K=V... as in the one-host lab
PAIR_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LABCTL=$PAIR_DIR/labctl.py

# What a failure leaves to read: both dom0s' xrepl logs and domains (a host
# that is powered off just does not answer).
dump_hosts() {
	local h
	for h in A B; do
		echo "--- $h: xl list, /run/*.log tails, kills and memory"
		ON_TIMEOUT=20 on $h "xl list 2>&1 | tail -n +2; for f in /run/protect.log /run/receive.log /run/xrepl/*.json; do [ -e \$f ] && { echo \"== \$f\"; tail -n 12 \$f; }; done;
			dmesg | grep -iE 'out of memory|killed process|segfault|general protection' | tail -n 5; free -m | sed -n 2p" 2>&1 |
			sed 's/^/  /'
	done
}

fail() {
	echo "$*" >"$RESULT"
	echo "scenario $SCENARIO failed: $*"
	dump_hosts
	exit 1
}

timing() { echo "@@TIMING $SCENARIO $*"; }

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# wait_until SECONDS COMMAND...: polls COMMAND every 0.2 s
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

host_index() {
	case $1 in
	A) echo 1 ;;
	B) echo 2 ;;
	*) echo "pair lib: no host '$1' (A or B)" >&2; return 1 ;;
	esac
}

on() {
	local h=$1
	shift
	python3 "$LABCTL" exec "$PAIR_RUN/$h.qga" --timeout "${ON_TIMEOUT:-600}" -- \
		"SCENARIO=$SCENARIO RESULT=/run/result.$SCENARIO; . /lab/lib.sh; $*"
}

on_bg() {
	local h=$1 log=$2
	shift 2
	on "$h" "setsid -f bash -c $(printf %q ". /lab/lib.sh; $*") >$log 2>&1 </dev/null"
}

observer() { ip netns exec "$PAIR_OBS" "$@"; }
labhost() { ip netns exec "$PAIR_NS" "$@"; }

qmp() { python3 "$LABCTL" qmp "$PAIR_RUN/$1.qmp" "$2" "$3" >/dev/null; }

# set_nic HOST LINK on|off: the NIC's carrier, as its dom0 sees it
set_nic() {
	local up=true
	[ "$3" = off ] && up=false
	qmp "$1" set_link "{\"name\": \"nic-$2\", \"up\": $up}"
}

link_op() {
	local state=$1 what=$2 h=${3:-}
	case $what in
	replication) set_nic A repl "$state" && set_nic B repl "$state" ;;
	lan | mgmt) set_nic "$h" "$what" "$state" ;;
	A | B) for l in repl lan mgmt; do set_nic "$what" "$l" "$state" || return 1; done ;;
	*) echo "pair lib: no link '$what'" >&2; return 1 ;;
	esac
}
cut_link() { link_op off "$@"; }
restore_link() { link_op on "$@"; }

silence() {
	[ "$1" = replication ] || { echo "pair lib: silence replication only" >&2; return 1; }
	labhost ip link set a-repl down && labhost ip link set b-repl down
}
unsilence() {
	labhost ip link set a-repl up && labhost ip link set b-repl up
}

shape() {
	[ "$1" = replication ] || { echo "pair lib: shape replication only" >&2; return 1; }
	shift
	on A tc qdisc replace dev repl0 root netem "$@" &&
		on B tc qdisc replace dev repl0 root netem "$@"
}
unshape() {
	on A tc qdisc del dev repl0 root 2>/dev/null
	on B tc qdisc del dev repl0 root 2>/dev/null
	return 0
}

# stamp: each line prefixed with the lab host's unix time
stamp() {
	local l
	while IFS= read -r l || [ -n "$l" ]; do
		printf '%s %s\n' "$EPOCHREALTIME" "${l//$'\r'/}"
	done
}

host_up() { [ -s "$PAIR_RUN/$1.pid" ] && kill -0 "$(cat "$PAIR_RUN/$1.pid")" 2>/dev/null; }
host_down() { ! host_up "$1"; }

# boot HOST: starts its QEMU (from the pair's images and its own disk)
boot() {
	local h=$1 n l mac
	n=$(host_index "$h") || return 1
	local x=${h,,}
	local qemu=(qemu-system-x86_64 -accel "${LAB_ACCEL:-tcg,thread=multi}"
		-cpu "${LAB_CPU:-qemu64,+svm,+npt}" -m "$PAIR_MEM" -smp "$PAIR_SMP"
		-display none -no-reboot -nodefaults -pidfile "$PAIR_RUN/$h.pid"
		-kernel "$LAB_DIR/xen.elf"
		-append "console=com1 com1=115200,8n1 dom0_mem=$PAIR_DOM0_MEM,max:$PAIR_DOM0_MEM console_timestamps=boot"
		-initrd "$LAB_DIR/vmlinuz console=hvc0 loglevel=4 lab.host=$h,$PAIR_RUN/initrd.cpio"
		-drive "file=$PAIR_RUN/$h-data.img,format=raw,if=none,id=data"
		-device virtio-blk-pci,drive=data,serial=lab-data
		-device virtio-serial-pci
		-chardev "socket,id=qga,path=$PAIR_RUN/$h.qga,server=on,wait=off"
		-device virtserialport,chardev=qga,name=org.qemu.guest_agent.0
		-chardev "file,id=events,path=$PAIR_RUN/$h.events,append=on"
		-device virtserialport,chardev=events,name=lab.events
		-qmp "unix:$PAIR_RUN/$h.qmp,server=on,wait=off")
	for l in 1:repl 2:lan 3:mgmt; do
		mac=52:54:00:0a:0${l%%:*}:0$n
		qemu+=(-netdev "tap,id=net-${l#*:},ifname=$x-${l#*:},script=no,downscript=no"
			-device "virtio-net-pci,netdev=net-${l#*:},id=nic-${l#*:},mac=$mac")
	done
	rm -f "$PAIR_RUN/$h.pid" "$PAIR_RUN/$h.qga" "$PAIR_RUN/$h.qmp"
	echo "$EPOCHREALTIME @@POWER-ON $h" >>"$PAIR_RUN/$h.log"
	# in a process group of its own, so that a host a scenario powers on
	# outlives the scenario's group being killed at its end, and holding
	# none of the caller's files (bash keeps a redirected caller's output
	# open on a high descriptor: the scenario's log would never end)
	set -m
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
		done
		labhost "${qemu[@]}" -serial stdio 2>&1 | stamp >>"$PAIR_RUN/$h.log"
	) </dev/null >/dev/null 2>&1 &
	set +m
}

# wait_booted HOST SECONDS: until its agent answers
wait_booted() {
	python3 "$LABCTL" ping "$PAIR_RUN/$1.qga" --timeout "$2" &&
		on "$1" 'mountpoint -q /var/lib/xrepl' ||
		{ echo "host $1 did not come up: $(grep -a '@@WARN' "$PAIR_RUN/$1.log" | tail -n 3)"; return 1; }
}

power() {
	local t0
	case $1 in
	off)
		host_up "$2" || return 0
		kill -9 "$(cat "$PAIR_RUN/$2.pid")"
		wait_until 30 host_down "$2" || return 1
		echo "$EPOCHREALTIME @@POWER-OFF $2" >>"$PAIR_RUN/$2.log"
		;;
	on)
		host_up "$2" && return 0
		t0=$(now)
		boot "$2" && wait_booted "$2" 300 || return 1
		timing "boot host=$2 seconds=$(since "$t0")"
		;;
	*) echo "pair lib: power on|off A|B" >&2; return 1 ;;
	esac
}

# must_on A|B CMD: on, and a failure ends the scenario with dom0's reason
must_on() {
	local out rc
	out=$(on "$@")
	rc=$?
	printf '%s\n' "$out"
	[ $rc = 0 ] && return 0
	fail "on $1: $(printf '%s\n' "$out" | sed -n 's/^scenario [^ ]* failed: //p' | tail -n 1)"
}

# start_receiver: xrepl receive --listen on B's replication address
# ($RECEIVE_FLAGS added), its ACKs traced in B:/run/ack.trace
start_receiver() {
	on_bg B /run/receive.log "XREPL_LOG=info exec xrepl receive --listen 10.0.1.2:7800 --ack-trace /run/ack.trace $RECEIVE_FLAGS"
	on B 'wait_for 20 sh -c "ss -ltn | grep -q 10.0.1.2:7800"' ||
		fail "xrepl receive does not listen on B: $(on B tail -n 3 /run/receive.log)"
}

# protect_a_to_b NAME INDEX EPOCHS: boots guest NAME on A (192.0.2.(10+INDEX),
# with the cfg line $GUEST_EXTRA, after running $GUEST_SETUP there),
# protects it to B's xrepl receive ($PROTECT_FLAGS, $INTERVAL_MS) and waits
# for EPOCHS acknowledged epochs. A guest that TCG's nested SVM kills is
# replaced, both hosts cleaned first (the backup took the dead primary's
# guest over); any other stop fails the scenario.
protect_a_to_b() {
	local name=$1 idx=$2 epochs=$3 attempt i n
	for attempt in 1 2 3 4 5; do
		on A "${GUEST_SETUP:-true}" || fail "guest setup on A failed"
		must_on A "start_guest $name $idx ${GUEST_EXTRA:+$(printf %q "$GUEST_EXTRA")}" >/dev/null
		must_on A "rm -f /run/xrepl/$name.primary.json; PROTECT_FLAGS=$(printf %q "${PROTECT_FLAGS:-}") \
			INTERVAL_MS=${INTERVAL_MS:-100} protect_to_host $name b" >/dev/null
		t_protect=$(now)
		for i in $(seq 200); do
			n=$(acked A "$name")
			[ "${n:-0}" -ge "$epochs" ] && on A "! guest_crashed_now $name" && return 0
			on A "[ -e /run/xrepl/$name.primary.pid ] && ! guest_crashed_now $name" || break
			sleep 2
		done
		{
			echo "attempt $attempt: protection ended early, acked=${n:-0}"
			on A 'show_logs'
			on B 'tail -n 15 /run/receive.log'
		} >&2
		on A "guest_crashed_now $name" ||
			fail "fewer than $epochs acknowledged checkpoints: $(on A tail -n 1 /run/protect.log)"
		on A lab_reset
		on B lab_reset
		start_receiver
	done
	fail "the guest died under protection in 5 attempts"
}

# first_tick A|B NAME: the first "DOMU: tick P" the promoted guest prints
# after its resume (its console log on that host starts with the restore).
# The guest writes tick N to its disk, then counts N, then prints it: a
# replica whose last tick is K resumed consistently iff K is P-1 or P.
first_tick() {
	local log=/var/log/xen/console/guest-$2--incoming.log
	on "$1" "wait_for 60 grep -q 'DOMU: tick' $log &&
		sed -n 's/.*DOMU: tick \([0-9]*\).*/\1/p' $log | head -n 1"
}

# acked A|B NAME: the primary's acknowledged epochs, from its status file
acked() { on "$1" "json_field acked /run/xrepl/$2.primary.json"; }

guest_ip() { echo "192.0.2.$((10 + $1))"; }
guest_mac() { printf '00:16:3e:00:01:%02x\n' "$1"; }

events_mark() { stat -c %s "$PAIR_RUN/$1.events" 2>/dev/null || echo 0; }
events_since() { tail -c +$(($2 + 1)) "$PAIR_RUN/$1.events"; }

copies() {
	local h
	for h in A B; do
		on $h "xl list 2>/dev/null" | awk -v n="$1" -v h=$h \
			'$1 == n || $1 == n "--incoming" { printf "%s:%s:%s ", h, $1, $5 }'
	done
}

# one_copy_and_backup NAME: prints where NAME's copies are; true iff they
# are the guest on A and its backup on B, nothing more
one_copy_and_backup() {
	local left
	left=$(copies "$1")
	echo "copies: $left"
	[ "$(echo "$left" | wc -w)" = 2 ] &&
		case "$left" in "A:$1:"*" B:$1--incoming:"*) true ;; *) false ;; esac
}

# watch_counter IP FILE: from the observer, the guest's counter (port 8)
# every 0.2 s, "<unix time> <value, or - if none came>" lines in FILE, in
# the background ($poller) once the first value came
watch_counter() {
	(while :; do
		v=$(observer nc -w 5 "$1" 8 </dev/null 2>/dev/null | tr -dc 0-9)
		echo "$EPOCHREALTIME ${v:--}"
		sleep 0.2
	done) >"$2" &
	poller=$!
	wait_until 30 grep -qs ' [0-9]' "$2" || fail "the observer cannot read the guest's counter"
}

protect_ended() {
	wait_until "$2" on A "grep -q '^@@EXIT' /run/protect.log" || return 1
	on A "sed -n 's/^@@EXIT //p' /run/protect.log"
}

guest_ctl() { on A "echo $2 | nc -w 2 $(guest_ip "$1") 9"; }

# witness start|stop: corosync-qnetd, the cluster's tie-breaker, on the lab
# host's management address (a third machine, as a site would have it)
witness() {
	local cmd="corosync-qnetd -f -d -s off -l 10.0.3.254"
	case $1 in
	start)
		pgrep -f "^$cmd" >/dev/null && return 0
		labhost setsid $cmd >>"$PAIR_RUN/qnetd.log" 2>&1 </dev/null &
		wait_until 10 pgrep -f "^$cmd" >/dev/null
		;;
	stop)
		pkill -f "^$cmd" || return 0
		wait_until 10 eval "! pgrep -f '^$cmd' >/dev/null"
		;;
	*) echo "pair lib: witness start|stop" >&2; return 1 ;;
	esac
}

# cluster_start: the witness, then corosync and corosync-qdevice on both
# hosts (tests/lab/pair/corosync.conf); true once both are quorate with
# all three votes
cluster_start() {
	local h
	witness start
	for h in A B; do
		on $h cluster_up || return 1
	done
	wait_until 120 quorum_is A "Yes 3" && wait_until 60 quorum_is B "Yes 3"
}

# quorum_is HOST "Yes|No VOTES": as corosync-quorumtool shows HOST's view
quorum_is() { [ "$(on "$1" quorum_view)" = "$2" ]; }

# counter_went_back FILE: true (printing where) if the counter a
# watch_counter FILE recorded ever went down: a second copy answered, or a
# copy that lost what the observer saw
counter_went_back() {
	awk '$2 != "-" { if (last != "" && $2 + 0 < last + 0) { print "at " $1 ": " last " then " $2; found = 1; exit } last = $2 }
		END { exit !found }' "$1"
}

# protect_in_cluster NAME INDEX: the cluster started, then guest NAME on A
# (a 64 MiB disk on block-xrepl, made after $GUEST_SETUP if set) protected
# to B's receiver, both sides with --quorum corosync
protect_in_cluster() {
	local img=/var/lib/xrepl/$1.img
	cluster_start || fail "the cluster is not quorate: A sees $(on A quorum_view), B $(on B quorum_view)"
	RECEIVE_FLAGS="--quorum corosync" start_receiver
	GUEST_SETUP="${GUEST_SETUP:-true} && truncate -s 64M $img" \
		GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
		PROTECT_FLAGS="--quorum corosync" protect_a_to_b "$1" "$2" 10 >/dev/null
}

# longest_gap FILE FROM TO: the longest wait between two answers in a
# watch_counter FILE, over FROM..TO (lab host times), in seconds
longest_gap() {
	awk -v t="$2" -v h="$3" '$2 != "-" && $1 <= h {
		if (last && $1 > t && $1 - last > g) g = $1 - last; last = $1 }
		END { printf "%.2f", g }' "$1"
}
