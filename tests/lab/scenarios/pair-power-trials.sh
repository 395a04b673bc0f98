# Two hosts (runs on the lab host): $TRIALS times (1 in CI, 20 in make
# check-lab-long), a guest on A, disk on block-xrepl and output buffered,
# is protected to B, and A's power is pulled at a random moment (0 to 15 s
# after protection is up) while the observer probes the guest. Every time:
#  - B resumes from a checkpoint no older than the last release A recorded
#    (A's netbuf trace leaves A over lab.events as it is written);
#  - B's replica holds ticks 1..k and nothing else, and the resumed guest
#    prints p first with k = p-1 or p (the promoted guest is held paused
#    while the replica is read);
#  - no reply the observer saw before the failover came out of an epoch B
#    had not acknowledged (commit-check.py against B's ack trace).
# One line per trial, then a summary.
. "$PAIR_LIB"
TRIALS=${TRIALS:-1}
name=pt1
idx=25
ip=$(guest_ip $idx)
ip6=fd00::$((10 + idx))
mac=$(guest_mac $idx)
img=/var/lib/xrepl/$name.img

ticks() { on "$1" "head -c 512000 $2 | tr -c '[:alnum:] \n' '\n' | sed -n 's/^tick \([0-9]*\)$/\1/p' | sort -n"; }
failed_over() { on B "grep -q 'failover: $name runs as domain' /run/receive.log"; }

# trial N: one power cut; prints its line, returns 1 if a check failed
trial() {
	local n=$1 mark delay t_cut checkpoint released k p r_ticks verdict why=
	local out=$EXPORT/trial-$n
	mkdir -p "$out"
	power on A >/dev/null || fail "A does not boot again"
	on A lab_reset
	on B 'lab_reset; rm -f /run/ack.trace'
	start_receiver
	mark=$(events_mark A)
	GUEST_SETUP="truncate -s 64M $img" \
		GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
		PROTECT_FLAGS="--netbuf-trace /dev/lab-events" protect_a_to_b $name $idx 5 >/dev/null

	observer tcpdump -i obs0 -U -s 160 -w "$out/observer.pcap" \
		"ether host $mac or arp or (icmp and dst host 192.0.2.250)" 2>/dev/null &
	on_bg A /dev/null ping -q -i 0.2 192.0.2.250
	on_bg B /dev/null ping -q -i 0.2 192.0.2.250
	observer python3 "$PAIR_DIR/probe.py" 600 "$ip" "$ip6" >/dev/null 2>&1 &
	must_on B "xl pause $name--incoming" >/dev/null
	delay=$((RANDOM % 15)).$((RANDOM % 10))
	sleep "$delay"
	t_cut=$(now)
	power off A || fail "cannot pull A's power"
	wait_until 120 failed_over || { on B tail -n 20 /run/receive.log; fail "trial $n: B did not take over"; }
	pkill -f "probe.py 600 $ip"
	pkill -f "tcpdump -i obs0"
	on B pkill -x ping

	checkpoint=$(on B "sed -n 's/.*failover: $name runs as domain [0-9]* from checkpoint \([0-9]*\).*/\1/p' /run/receive.log")
	events_since A "$mark" >"$out/barriers.trace"
	on B cat /run/ack.trace >"$out/ack.trace"
	released=$(awk '$2 == "release" { n = $3 } END { print n + 0 }' "$out/barriers.trace")
	[ "${checkpoint:-0}" -ge "$released" ] || why="$why resumed-before-release"
	r_ticks=$(ticks B "$img" | tr '\n' ' ')
	k=$(ticks B "$img" | tail -n 1)
	[ -n "$k" ] && [ "$r_ticks" = "$(seq -s ' ' 1 "$k") " ] || why="$why replica-not-1..k($r_ticks)"
	verdict=$(python3 "$PAIR_DIR/commit-check.py" --until "$(awk -v t="$t_cut" 'BEGIN { printf "%.6f", t + 1 }')" \
		"$out/observer.pcap" "$out/barriers.trace" "$out/ack.trace" "$mac" "$ip" "$ip6") ||
		why="$why output-commit($(echo "$verdict" | head -n 2 | tr '\n' ' '))"
	must_on B "xl unpause $name" >/dev/null
	p=$(first_tick B $name)
	[ -n "$p" ] && [ -n "$k" ] && { [ "$k" = "$p" ] || [ "$k" = $((p - 1)) ]; } ||
		why="$why first-tick-${p:-none}-vs-replica-$k"
	on B "xl destroy $name"
	echo "TRIAL $n delay_s=$delay a_released=$released checkpoint=$checkpoint replica_tick=$k first_tick_after=$p commit=$(echo "$verdict" | head -n 1 | sed -n 's/^\(checked=[0-9]* violations=[0-9]*\).*/\1/p' | tr ' ' ,) ${why:-ok}"
	timing "pair-power-trial n=$n delay_s=$delay checkpoint=$checkpoint a_released=$released replica_tick=$k first_tick_after=$p ${why:+failed}"
	[ -z "$why" ]
}

ok=0
for n in $(seq "$TRIALS"); do
	trial "$n" && ok=$((ok + 1))
done
echo "SUMMARY trials=$TRIALS passed=$ok"
timing "pair-power-trials trials=$TRIALS passed=$ok"
[ "$ok" = "$TRIALS" ] || fail "$((TRIALS - ok)) of $TRIALS power cuts broke an invariant (see the TRIAL lines)"
