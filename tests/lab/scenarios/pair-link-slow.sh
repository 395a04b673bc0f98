# Two hosts (runs on the lab host): the guest's pause per checkpoint must
# not grow with the replication link (invariant 3: the guest is paused for
# the copy into the primary's memory, never for the transfer). The same
# guest, disk on block-xrepl and output buffered, is protected twice in one
# boot: over the link as it is, then over netem's 100 Mbit/s with 10 ms of
# round trip (5 ms each way). Figures from the primary's status, side by
# side.
. "$PAIR_LIB"
name=ps1
idx=24
img=/var/lib/xrepl/$name.img
EPOCHS=${EPOCHS:-40}

acked_at_least() { [ "$(acked A $name)" -ge "$1" ] 2>/dev/null; }

# run LABEL: protect until EPOCHS more are acknowledged, then unprotect
run() {
	local n0 st
	n0=$(acked A $name)
	wait_until 600 acked_at_least $((${n0:-0} + EPOCHS)) ||
		fail "$1: fewer than $EPOCHS epochs in 600 s"
	st=$(on A "cat /run/xrepl/$name.primary.json")
	echo "$1: $st" | cut -c1-400
	must_on A "xrepl unprotect $name" >/dev/null
	on B "wait_for 30 sh -c '! xl list $name--incoming >/dev/null 2>&1'" || fail "$1: B kept its copy"
	pause_avg=$(echo "$st" | sed -n 's/.*"pause_ms": {"last": [0-9.]*, "avg": \([0-9.]*\), "max": \([0-9.]*\)}.*/\1/p')
	pause_max=$(echo "$st" | sed -n 's/.*"pause_ms": {"last": [0-9.]*, "avg": \([0-9.]*\), "max": \([0-9.]*\)}.*/\2/p')
	ack_avg=$(echo "$st" | sed -n 's/.*"ack_latency_ms": {"last": [0-9.]*, "avg": \([0-9.]*\).*/\1/p')
	epochs=$(echo "$st" | sed -n 's/.*"acked": \([0-9]*\).*/\1/p')
	uptime=$(echo "$st" | sed -n 's/.*"uptime_s": \([0-9.]*\).*/\1/p')
	wire=$(echo "$st" | sed -n 's/.*"bytes_wire": \([0-9]*\).*/\1/p')
	timing "pair-link-slow link=$1 epochs=$epochs seconds=$uptime pause_avg_ms=$pause_avg pause_max_ms=$pause_max ack_avg_ms=$ack_avg bytes_wire=$wire"
}

start_receiver
GUEST_SETUP="truncate -s 64M $img" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_a_to_b $name $idx 1
run unshaped
fast=$pause_avg
shape replication delay 5ms rate 100mbit || fail "cannot shape the replication link"
rtt=$(on A 'ping -c 5 -i 0.2 -q 10.0.1.2' | sed -n 's/.* = [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
echo "replication RTT now ${rtt} ms"
must_on A "rm -f /run/xrepl/$name.primary.json; protect_to_host $name b" >/dev/null
run shaped
unshape replication
awk -v f="$fast" -v s="$pause_avg" 'BEGIN { exit !(s <= f * 1.5 + 20) }' ||
	fail "the pause grew with the link: ${fast} ms unshaped, ${pause_avg} ms at 100 Mbit/s, 10 ms RTT"
timing "pair-link-slow pause_ratio=$(awk -v f="$fast" -v s="$pause_avg" 'BEGIN { printf "%.2f", s / f }') rtt_ms=$rtt"
