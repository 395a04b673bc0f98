# xrepl protect -b: checkpoints taken and encoded, then dropped (no backup):
# what protection costs the guest, without the network. Stops cleanly.
. /lab/lib.sh
name=pz1
status=/run/xrepl/$name.primary.json
for attempt in 1 2 3 4 5; do
	start_guest "$name" 9 || fail "guest did not boot"
	domid=$(xl domid "$name")
	XREPL_LOG=info xrepl protect -b -F -n -d -i 100 "$name" >/run/protect.log 2>&1 &
	ppid=$!
	wait_acked "$name" 30 300 && ! guest_crashed_now "$domid" && break
	cat /run/protect.log
	crashed=no
	guest_crashed_now "$domid" && crashed=yes
	kill -9 "$ppid" 2>/dev/null
	for d in $(xl list | awk 'NR > 2 { print $1 }'); do xl destroy "$d"; done
	[ $crashed = yes ] || fail "blackhole protection stopped before 30 epochs: $(tail -n 1 /run/protect.log)"
done
kill -0 "$ppid" 2>/dev/null || fail "the guest died under protection in 5 attempts"
xl list | grep -q -- "$name--incoming" && fail "a backup domain exists"
cat "$status"
timing "blackhole epochs=$(json_field acked "$status") pause_avg_ms=$(sed -n 's/.*"pause_ms": {"last": [0-9.]*, "avg": \([0-9.]*\), "max": \([0-9.]*\).*/\1 pause_max_ms=\2/p' "$status") bytes_raw=$(json_field bytes_raw "$status") bytes_wire=$(json_field bytes_wire "$status")"
xrepl unprotect "$name" || fail "xrepl unprotect failed"
wait "$ppid" || fail "xrepl protect -b exited $? after unprotect"
runs_on "$name" 20 || fail "the guest stopped running"
xl destroy "$name"
