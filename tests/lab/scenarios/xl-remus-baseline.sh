# The anchor every xrepl scenario is compared with in the same boot:
# Debian's own `xl remus -F -n -d` replicating a PVH guest to localhost for
# at least $CHECKPOINTS checkpoints, then failover as a dying host would
# (freeze the sender, destroy the primary, kill the sender): the backup must
# run under the guest's name with its console counter continuing.
. /lab/lib.sh
CHECKPOINTS=${CHECKPOINTS:-60}
INTERVAL_MS=${INTERVAL_MS:-100}
name=rb1

# stamp: prefixes each line with the wall clock (bash's, no fork per line)
stamp() {
	local l
	while IFS= read -r l; do
		printf '%s %s\n' "$EPOCHREALTIME" "$l"
	done
}

checkpoints() { grep -c 'Domain now suspended' /run/remus.log 2>/dev/null; }
enough_checkpoints() { [ "$(checkpoints)" -ge "$CHECKPOINTS" ]; }
primary_lost() { guest_crashed "$name" || ! kill -0 "$xlpid" 2>/dev/null; }
# backup_tick: the backup's heartbeat. Asked over the network: xenconsoled
# does not always pick up the console of a domain restored under another
# name.
backup_tick() { net_tick "$name"; }
failed_over() {
	xl list "$name" >/dev/null 2>&1 && ! xl list 2>/dev/null | grep -q -- "$name--incoming"
}

# replicate: 0 when enough checkpoints were taken, 2 when the guest or the
# sender died on the way (TCG's nested SVM makes busy PVH guests
# triple-fault now and then: retry with a fresh guest), 1 otherwise.
replicate() {
	rm -f /run/remus.log /run/remus.bytes "$(console_log "$name--incoming")"
	xl remus -F -n -d -i "$INTERVAL_MS" -s '' "$name" \
		"bash -c 'tee >(wc -c >/run/remus.bytes) | exec xl migrate-receive -r -e'" \
		> >(stamp >/run/remus.log) 2>&1 &
	xlpid=$!
	t_start=$(now)
	until enough_checkpoints; do
		primary_lost && return 2
		[ "$(since "$t_start" | cut -d. -f1)" -ge 300 ] && return 1
		sleep 0.5
	done
	return 0
}

for attempt in 1 2 3 4 5; do
	start_guest "$name" 3 || fail "guest did not boot"
	replicate
	rc=$?
	[ $rc = 0 ] && break
	echo "attempt $attempt: replication ended early (rc=$rc), state '$(guest_state "$name")'"
	grep -v progress /run/remus.log | tail -n 10
	xl dmesg | tail -n 5
	kill -9 "$xlpid" 2>/dev/null
	for d in $(xl list | awk 'NR > 2 { print $1 }'); do xl destroy "$d"; done
	[ $rc = 1 ] && fail "fewer than $CHECKPOINTS checkpoints in 300 s"
done
[ $rc = 0 ] || fail "the guest died under replication in 5 attempts"
elapsed=$(since "$t_start")
n=$(checkpoints)

# Per-checkpoint figures from libxc's progress lines, stamped as xl printed
# them: the period from one suspend to the next.
cp /run/remus.log "$EXPORT/xl-remus.log"
period=$(awk '/Domain now suspended/ {
		if (prev) printf "%.1f\n", ($1 - prev) * 1000
		prev = $1
	}' /run/remus.log | sort -n | awk '{ d[NR] = $1; s += $1 }
	END {
		printf "periods=%d mean_ms=%.0f p50_ms=%.0f p95_ms=%.0f max_ms=%.0f", \
			NR, s / NR, d[int((NR + 1) / 2)], d[int(NR * 0.95)], d[NR]
	}')
timing "xl-remus checkpoints=$n seconds=$elapsed interval_ms=$INTERVAL_MS"
timing "xl-remus-period $period"

# Failover, as a dying primary host: nothing more leaves the sender.
helper=$(pgrep -P "$xlpid" -f libxl-save-helper)
# the primary's counter as late as possible (the console log lags)
p_tick=$(tick_of "$name")
kill -STOP "$xlpid" $helper
t0=$(now)
xl destroy "$name"
kill -9 "$xlpid" $helper
wait_for 120 failed_over || fail "the backup did not take over within 120 s"
t_failover=$(since "$t0")
cp /var/log/xen/console/* "$EXPORT/"
# sets $tick: the backup's counter, if it answers
read_tick() { tick=$(backup_tick) && [ -n "$tick" ]; }
advanced() { read_tick && [ "$tick" -gt "$b_first" ]; }
wait_for 60 read_tick || fail "the backup does not answer on its heartbeat port"
b_first=$tick
elapsed=$(since "$t0" | cut -d. -f1)
wait_for 30 advanced ||
	fail "the backup's counter does not advance (stuck at $b_first)"
bytes=$(cat /run/remus.bytes 2>/dev/null || echo 0)
timing "failover seconds=$t_failover primary_last_tick=$p_tick backup_first_tick=$b_first stream_bytes=$bytes"
[ "$b_first" -ge $((p_tick - 2)) ] ||
	fail "the backup resumed at tick $b_first, primary was at $p_tick"
# the counter ticks once a second: no more than that since the freeze
[ "$b_first" -le $((p_tick + elapsed + 2)) ] ||
	fail "the backup's counter ($b_first) is ahead of the primary's ($p_tick + ${elapsed}s)"
wait_for 20 ping -c 1 -W 1 "$(guest_ip "$name")" >/dev/null ||
	fail "the backup does not answer ping"
xl destroy "$name"
