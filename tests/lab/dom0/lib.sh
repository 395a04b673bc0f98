# Helpers for lab scenarios: . /lab/lib.sh
# Scenarios run under bash with SCENARIO, EXPORT (a folder exported to the
# host) and RESULT set by run-scenarios.

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# fail WHY: ends the scenario with "FAIL <name>: WHY"
fail() {
	echo "$*" >"$RESULT"
	echo "scenario $SCENARIO failed: $*"
	exit 1
}

# timing key=value...: one @@TIMING line the host collects
timing() { echo "@@TIMING $SCENARIO $*"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s
wait_for() {
	local n=$(($1 * 5)) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ $i -ge $n ] && return 1
		sleep 0.2
	done
}

console_log() { echo "/var/log/xen/console/guest-$1.log"; }

# wait_console LOGNAME PATTERN SECONDS: xenconsoled logs every guest console
wait_console() {
	wait_for "$3" grep -q "$2" "$(console_log "$1")"
}

# last_tick LOGNAME: the guest's heartbeat counter as last printed
last_tick() {
	sed -n 's/.*DOMU: tick \([0-9]*\).*/\1/p' "$(console_log "$1")" 2>/dev/null | tail -n 1
}

# net_tick NAME: the heartbeat counter asked over the network (port 8)
net_tick() { nc -w 3 "$(guest_ip "$1")" 8 </dev/null 2>/dev/null | tr -dc 0-9; }

# tick_of NAME: the counter over the network, a few tries, else the console
tick_of() {
	local i t
	for i in 1 2 3 4 5; do
		t=$(net_tick "$1")
		[ -n "$t" ] && { echo "$t"; return; }
		sleep 0.3
	done
	last_tick "$1"
}

# runs_on NAME SECONDS: the guest's counter advances (asked over the network:
# xenconsoled stops logging a console across suspend and resume)
runs_on() {
	local first
	wait_for 10 sh -c "[ -n \"\$(nc -w 3 $(guest_ip "$1") 8 </dev/null 2>/dev/null)\" ]" || return 1
	first=$(net_tick "$1")
	wait_for "$2" sh -c "[ \"\$(nc -w 3 $(guest_ip "$1") 8 </dev/null 2>/dev/null | tr -dc 0-9)\" -gt ${first:-0} ] 2>/dev/null"
}

# guest_state NAME: xl's state letters (r b p s c d), empty if no such domain
guest_state() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'; }
# guest_crashed NAME|DOMID: gone, crashed, or triple-faulted (which Xen
# turns into a reboot request that nobody acts on while the guest is being
# saved). Asked twice, a second apart: `xl list' can miss a domain while
# another one is being created.
guest_crashed() {
	guest_crashed_now "$1" && sleep 1 && guest_crashed_now "$1"
}
guest_crashed_now() {
	local s id
	s=$(guest_state "$1")
	[ -z "$s" ] || [ "${s#*c}" != "$s" ] && return 0
	id=$(xl domid "$1" 2>/dev/null) || id=$1
	xl dmesg | grep -q " d${id}v[0-9]* Triple fault"
}

# make_guest_cfg NAME INDEX [EXTRA-LINE...]: a PVH guest with one vif on
# xenbr0 at 192.0.2.(10+INDEX); prints the cfg's path
make_guest_cfg() {
	local name=$1 idx=$2 cfg=/run/$1.cfg
	shift 2
	sed -e "s/@NAME@/$name/" -e "s/@IP@/192.0.2.$((10 + idx))/" \
		-e "s/@MAC@/00:16:3e:00:01:$(printf %02x "$idx")/" /lab/guest.cfg >"$cfg"
	for line in "$@"; do
		echo "$line" >>"$cfg"
	done
	echo "$cfg"
}

guest_ip() { sed -n 's/.*ip=\([0-9.]*\).*/\1/p' "/run/$1.cfg"; }

# start_guest NAME INDEX [EXTRA-LINE...]: creates the guest and waits for its
# userspace. Under TCG a PVH guest sometimes triple-faults; xl restarts it at
# boot, and a guest that crashes anyway is destroyed and created afresh.
start_guest() {
	local name=$1 cfg attempt t0
	cfg=$(make_guest_cfg "$@")
	for attempt in 1 2 3; do
		rm -f "$(console_log "$name")"
		t0=$(now)
		xl create -q "$cfg" || { xl destroy "$name" 2>/dev/null; continue; }
		if wait_console "$name" 'DOMU: up' 240; then
			timing "guest-up name=$name attempt=$attempt seconds=$(since "$t0")"
			return 0
		fi
		echo "guest $name did not come up (attempt $attempt): state '$(guest_state "$name")'"
		xl dmesg | tail -n 5
		xl destroy "$name" 2>/dev/null
	done
	return 1
}

# json_field KEY FILE: a scalar from one of xrepl's status files
json_field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" 2>/dev/null; }

# protect_to_localhost NAME KEYFILE [RECEIVE-KEYFILE]: xrepl protect NAME in
# the background (with $PROTECT_FLAGS; -n unless NETBUF is set, empty for
# network buffering; -d unless DISKS is set, empty for disk replication),
# with xrepl receive (and $RECEIVE_FLAGS) on this host as
# its transport; sets $ppid. Logs: /run/protect.log, /run/receive.log.
protect_to_localhost() {
	XREPL_LOG=info xrepl protect -F ${DISKS--d} ${NETBUF--n} -i "${INTERVAL_MS:-100}" $PROTECT_FLAGS -k "$2" -s '' "$1" \
		"XREPL_LOG=info exec xrepl receive --stdio -k ${3:-$2} $RECEIVE_FLAGS 2>/run/receive.log" \
		>/run/protect.log 2>&1 &
	ppid=$!
	# progress on the console, for runs that hang
	(
		while kill -0 $ppid 2>/dev/null; do
			sleep 20
			echo "[monitor $1] $(cat /run/xrepl/$1.primary.json 2>/dev/null | cut -c1-200)"
			echo "[monitor $1] protect: $(tail -n 1 /run/protect.log) receive: $(grep -v 'All records' /run/receive.log | tail -n 1)"
			echo "[monitor $1] $(xl list | awk 'NR > 1 { printf "%s:%s ", $1, $5 }') mem: $(awk '/MemAvailable/ { print $2 }' /proc/meminfo) kB"
		done
	) &
}

# protect_to_host NAME HOST: xrepl protect NAME in the background over TCP
# to xrepl receive --listen on HOST (the default key; buffering and disks
# unless $PROTECT_FLAGS says otherwise), every $INTERVAL_MS (100); sets
# $ppid. Log: /run/protect.log. For the two-host lab, where the lab host
# runs commands here and waits for their output to close.
protect_to_host() {
	{
		XREPL_LOG=info xrepl protect -i "${INTERVAL_MS:-100}" $PROTECT_FLAGS "$1" "$2"
		echo "@@EXIT $?"
	} </dev/null >/run/protect.log 2>&1 &
	ppid=$!
}

# wait_acked NAME N SECONDS: until the primary has N acknowledged epochs;
# fails at once if the primary ($ppid) exits first
wait_acked() {
	local i=0
	while [ $i -lt $(($3 * 2)) ]; do
		[ "$(json_field acked "/run/xrepl/$1.primary.json")" -ge "$2" ] 2>/dev/null && return 0
		kill -0 "$ppid" 2>/dev/null || return 1
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

# protect_with_retries NAME INDEX EPOCHS SECONDS COMMAND...: boots NAME
# (with the cfg line $GUEST_EXTRA, if set),
# runs COMMAND (which starts the primary in the background and sets $ppid)
# and waits for EPOCHS acknowledged epochs; sets $domid and $t_protect.
# A guest that crashes (TCG's nested SVM kills busy PVH guests now and
# then) is replaced by a fresh one, up to 5 times; any other stop fails.
protect_with_retries() {
	local name=$1 idx=$2 epochs=$3 secs=$4 attempt crashed
	shift 4
	for attempt in 1 2 3 4 5; do
		start_guest "$name" "$idx" ${GUEST_EXTRA:+"$GUEST_EXTRA"} || fail "guest did not boot"
		domid=$(xl domid "$name")
		rm -f "/run/xrepl/$name.primary.json"
		"$@"
		t_protect=$(now)
		wait_acked "$name" "$epochs" "$secs" && ! guest_crashed_now "$domid" && return 0
		echo "attempt $attempt: protection ended early, acked=$(json_field acked "/run/xrepl/$name.primary.json")"
		show_logs
		crashed=no
		guest_crashed_now "$domid" && crashed=yes
		kill -9 "$ppid" 2>/dev/null
		for d in $(xl list | awk 'NR > 2 { print $1 }'); do xl destroy "$d"; done
		[ $crashed = yes ] ||
			fail "fewer than $epochs acknowledged checkpoints: $(tail -n 1 /run/protect.log)"
	done
	fail "the guest died under protection in 5 attempts"
}

# lab_reset: no domain, no xrepl process, no probe, no disk image, no
# guest console log left, whatever the last scenario did
lab_reset() {
	local d
	pkill -f 'quorum_watc[h]' 2>/dev/null
	cluster_down
	pkill -9 -f '^xrepl (protect|receive)' 2>/dev/null
	find /run/xrepl -maxdepth 1 -type f -delete 2>/dev/null
	pkill -9 -x tcpdump 2>/dev/null
	pkill -9 -x ping 2>/dev/null
	for d in $(xl list 2>/dev/null | awk 'NR > 2 { print $1 }'); do
		xl destroy "$d" >/dev/null 2>&1
	done
	# disk images and replicas (in dom0's memory, or a pair host's disk)
	rm -f /var/lib/xrepl/*.img /var/lib/xrepl/*.state /var/lib/xrepl/*.dirty
	rm -f /var/log/xen/console/guest-*.log
}

# cluster_up: corosync and corosync-qdevice (the pair lab's cluster)
cluster_up() {
	mkdir -p /var/log/corosync /run/corosync-qdevice
	corosync || return 1
	# corosync answers a while after it forks
	wait_for 30 corosync-cmapctl -g totem.cluster_name >/dev/null 2>&1 &&
		corosync-qdevice
}

# cluster_down: whatever of the cluster runs here, stopped
cluster_down() {
	local p
	for p in corosync-qdevice corosync; do
		pgrep -f "^$p" >/dev/null || continue
		pkill -f "^$p"
		wait_for 10 sh -c "! pgrep -f '^$p' >/dev/null" || pkill -9 -f "^$p"
	done
	rm -f /dev/shm/qb-*
	return 0
}

# quorum_view: "Yes|No VOTES", this node's quorum and the votes it sees
quorum_view() {
	corosync-quorumtool -s 2>/dev/null |
		awk '/^Quorate:/ { q = $2 } /^Total votes:/ { v = $3 } END { print q, v }'
}

# quorum_watch: a line "<uptime> <mgmt0's carrier> Yes|No VOTES" whenever
# either changes, until killed (the pair lab's quorum timeline)
quorum_watch() {
	local last= v
	while :; do
		v="$(cat /sys/class/net/mgmt0/carrier 2>/dev/null) $(quorum_view)"
		[ "$v" != "$last" ] && echo "$(cut -d' ' -f1 /proc/uptime) $v"
		last=$v
		sleep 0.1
	done
}

show_logs() {
	echo "--- protect log"
	tail -n 15 /run/protect.log
	echo "--- receive log"
	grep -v 'All records' /run/receive.log 2>/dev/null | tail -n 15
}
