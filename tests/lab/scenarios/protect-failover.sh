# xrepl protect replicating a PVH guest to localhost (xrepl receive over a
# transport command, as xl remus -s '' does), network buffering on, for at
# least $EPOCHS acknowledged checkpoints; then the primary dies as the
# baseline's does (freeze, destroy the guest, kill): the backup must run
# under the guest's name with its counter continuing from at least the last
# acknowledged epoch. The dead primary's IFB goes with `xrepl unprotect'.
. /lab/lib.sh
EPOCHS=${EPOCHS:-100}
INTERVAL_MS=${INTERVAL_MS:-100}
name=pf1
status=/run/xrepl/$name.primary.json

field() { json_field "$@"; }
acked() { field acked "$status"; }
failed_over() {
	xl list "$name" >/dev/null 2>&1 && ! xl list 2>/dev/null | grep -q -- "$name--incoming"
}

xrepl genkey /run/$name.key || fail "xrepl genkey failed"
NETBUF= protect_with_retries "$name" 4 "$EPOCHS" 400 protect_to_localhost "$name" /run/$name.key
elapsed=$(since "$t_protect")
cp "$status" "$EXPORT/primary-status.json"
cat "$status"
timing "xrepl-protect epochs=$(acked) seconds=$elapsed interval_ms=$INTERVAL_MS pause_avg_ms=$(sed -n 's/.*"pause_ms": {"last": [0-9.]*, "avg": \([0-9.]*\), "max": \([0-9.]*\).*/\1 pause_max_ms=\2/p' "$status") ack_avg_ms=$(sed -n 's/.*"ack_latency_ms": {"last": [0-9.]*, "avg": \([0-9.]*\).*/\1/p' "$status") bytes_raw=$(field bytes_raw "$status") bytes_wire=$(field bytes_wire "$status")"

# Failover, as a dying primary host.
p_acked=$(acked)
# the primary's counter as late as possible (the console log lags)
p_tick=$(tick_of "$name")
kill -STOP "$ppid"
t0=$(now)
xl destroy "$name"
kill -9 "$ppid"
wait_for 120 failed_over || { show_logs; fail "the backup did not take over within 120 s"; }
t_failover=$(since "$t0")
read_tick() { tick=$(net_tick "$name") && [ -n "$tick" ]; }
advanced() { read_tick && [ "$tick" -gt "$b_first" ]; }
wait_for 60 read_tick || { show_logs; fail "the backup does not answer on its heartbeat port"; }
b_first=$tick
elapsed=$(since "$t0" | cut -d. -f1)
wait_for 30 advanced || fail "the backup's counter does not advance (stuck at $b_first)"
cp /run/protect.log /run/receive.log "$EXPORT/"
timing "failover seconds=$t_failover acked=$p_acked primary_last_tick=$p_tick backup_first_tick=$b_first"
[ "$b_first" -ge $((p_tick - 2)) ] ||
	fail "the backup resumed at tick $b_first, primary was at $p_tick"
[ "$b_first" -le $((p_tick + elapsed + 2)) ] ||
	fail "the backup's counter ($b_first) is ahead of the primary's ($p_tick + ${elapsed}s)"
grep -q "failover: $name runs as domain" /run/receive.log ||
	fail "the receiver did not report the failover"
xrepl unprotect "$name" | grep -q 'left for vifs that are gone' ||
	fail "xrepl unprotect did not remove the dead primary's IFB"
ip -o link show type ifb | grep -q ': xr-' && fail "an IFB is left: $(ip -o link show type ifb)"
xl destroy "$name"
