# The backup dies mid-protection: the primary notices (connection lost or
# heartbeat timeout), stops protection, says why, exits non-zero (asked not
# to try the backup again), and the guest keeps running.
. /lab/lib.sh
name=pb1
PROTECT_FLAGS="--reconnect 0"
xrepl genkey /run/$name.key || fail "xrepl genkey failed"
protect_with_retries "$name" 6 20 300 protect_to_localhost "$name" /run/$name.key
rpid=$(pgrep -f '^xrepl receive --stdio')
[ -n "$rpid" ] || fail "no xrepl receive process"
t0=$(now)
kill -9 $rpid
wait_for 30 sh -c "! kill -0 $ppid 2>/dev/null" || fail "the primary did not notice within 30 s"
wait "$ppid"
rc=$?
t_noticed=$(since "$t0")
show_logs
[ $rc != 0 ] || fail "xrepl protect exited 0 after losing its backup"
grep -q "backup lost" /run/protect.log || fail "the primary did not say the backup was lost"
state=$(json_field state "/run/xrepl/$name.primary.json")
[ "$state" = backup-lost ] || fail "status says '$state', not backup-lost"
runs_on "$name" 20 || fail "the guest stopped running"
s=$(guest_state "$name")
case $s in *p*|*s*) fail "the guest is left paused or suspended ($s)" ;; esac
wait_for 10 ping -c 1 -W 1 "$(guest_ip "$name")" >/dev/null || fail "the guest does not answer ping"
timing "backup-lost noticed_seconds=$t_noticed acked=$(json_field acked "/run/xrepl/$name.primary.json")"
for d in $(xl list | awk 'NR > 2 { print $1 }'); do xl destroy "$d"; done
