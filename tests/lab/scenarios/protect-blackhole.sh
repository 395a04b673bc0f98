# xrepl protect -b: checkpoints taken and encoded, then dropped (no backup):
# what protection costs the guest, without the network. Stops cleanly.
. /lab/lib.sh
name=pz1
status=/run/xrepl/$name.primary.json
start_blackhole() {
	XREPL_LOG=info xrepl protect -b -F -n -d -i 100 "$name" >/run/protect.log 2>&1 &
	ppid=$!
}
protect_with_retries "$name" 9 30 300 start_blackhole
xl list | grep -q -- "$name--incoming" && fail "a backup domain exists"
cat "$status"
timing "blackhole epochs=$(json_field acked "$status") pause_avg_ms=$(sed -n 's/.*"pause_ms": {"last": [0-9.]*, "avg": \([0-9.]*\), "max": \([0-9.]*\).*/\1 pause_max_ms=\2/p' "$status") bytes_raw=$(json_field bytes_raw "$status") bytes_wire=$(json_field bytes_wire "$status")"
xrepl unprotect "$name" || fail "xrepl unprotect failed"
wait "$ppid" || fail "xrepl protect -b exited $? after unprotect"
runs_on "$name" 20 || fail "the guest stopped running"
xl destroy "$name"
