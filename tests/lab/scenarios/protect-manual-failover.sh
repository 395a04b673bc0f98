# xrepl receive as a TCP daemon; then `xrepl failover DOMAIN' on the backup
# host takes over on demand, long before the (frozen) primary would be
# declared lost by its heartbeat timeout.
. /lab/lib.sh
name=pm1
failed_over() {
	xl list "$name" >/dev/null 2>&1 && ! xl list 2>/dev/null | grep -q -- "$name--incoming"
}
xrepl genkey /run/$name.key || fail "xrepl genkey failed"
XREPL_LOG=info xrepl receive --listen 127.0.0.1:7800 --timeout 600000 -k /run/$name.key \
	2>/run/receive.log &
daemon=$!
trap 'kill $daemon 2>/dev/null' EXIT
wait_for 10 sh -c "ss -ltn | grep -q 127.0.0.1:7800" || fail "xrepl receive does not listen"
start_tcp() {
	XREPL_LOG=info xrepl protect -F -n -d --timeout 600000 -k /run/$name.key "$name" 127.0.0.1:7800 \
		>/run/protect.log 2>&1 &
	ppid=$!
}
protect_with_retries "$name" 8 20 300 start_tcp
[ -e "/run/xrepl/$name.backup.pid" ] || fail "the receiver has no pid file"
p_tick=$(tick_of "$name")
[ -n "$p_tick" ] || fail "cannot read the primary's counter"
kill -STOP "$ppid"
xl destroy "$name"
t0=$(now)
xrepl failover "$name" || fail "xrepl failover failed"
wait_for 60 failed_over || { show_logs; fail "the backup did not take over within 60 s of xrepl failover"; }
t_failover=$(since "$t0")
runs_on "$name" 30 || { show_logs; fail "the backup does not run"; }
b_tick=$(net_tick "$name")
grep -q "failover requested" /run/receive.log || fail "the receiver did not log the request"
timing "manual-failover seconds=$t_failover primary_last_tick=$p_tick backup_tick=$b_tick"
[ "${b_tick:-0}" -ge $((p_tick - 2)) ] || fail "the backup resumed at $b_tick, primary was at $p_tick"
kill -9 "$ppid"
xl destroy "$name"
