# Two hosts (runs on the lab host): a guest on A protected to B with its
# output buffered; B's power is pulled. Nothing closes the connection: A
# must notice the silence (the heartbeat timeout), stop protection saying
# why, release what it held and keep the guest running; asked not to try
# the backup again (pair-backup-restart shows it does by default), xrepl
# protect exits. The observer pings the guest every 50 ms throughout and
# measures how long no reply came.
. "$PAIR_LIB"
name=pb2
idx=23
ip=$(guest_ip $idx)
TIMEOUT_MS=${TIMEOUT_MS:-5000}

start_receiver
PROTECT_FLAGS="-F -d --timeout $TIMEOUT_MS --reconnect 0" protect_a_to_b $name $idx 20
observer ping -D -i 0.05 -W 30 "$ip" >"$EXPORT/ping.log" 2>&1 &
wait_until 30 grep -q 'bytes from' "$EXPORT/ping.log" || fail "the observer cannot ping the guest"
sleep 3
t_cut=$(now)
power off B || fail "cannot pull B's power"
stopped() { [ "$(on A "json_field state /run/xrepl/$name.primary.json")" = backup-lost ]; }
wait_until 60 stopped || fail "A did not notice B's loss within 60 s: $(on A tail -n 2 /run/protect.log)"
t_noticed=$(since "$t_cut")
on A "wait_for 20 sh -c '! [ -e /run/xrepl/$name.primary.pid ]'" || fail "xrepl protect did not exit"
log=$(on A cat /run/protect.log)
echo "$log" | tail -n 5
echo "$log" | grep -q 'backup lost: no \(heartbeat\|ACK\)' ||
	fail "A did not say it lost B to silence: $(echo "$log" | grep 'backup lost')"
on A "runs_on $name 30" || fail "the guest does not run on"
on A "ip -o link show type ifb | grep -q xr-" && fail "a netbuf IFB is left on A"
sleep 3
pkill -f "ping -D -i 0.05 -W 30 $ip"
# the longest silence the observer saw after the cut
gap=$(sed -n 's/^\[\([0-9.]*\)\] .*bytes from.*/\1/p' "$EXPORT/ping.log" |
	awk -v t="$t_cut" '{ if (prev && $1 > t && $1 - prev > g) g = $1 - prev; prev = $1 } END { printf "%.2f", g }')
limit=$(awk -v t="$TIMEOUT_MS" 'BEGIN { printf "%.1f", t / 1000 + 5 }')
awk -v g="$gap" -v l="$limit" 'BEGIN { exit !(g > 0 && g <= l) }' ||
	fail "the observer got no reply for ${gap}s (the heartbeat timeout is $((TIMEOUT_MS / 1000))s)"
timing "pair-backup-lost noticed_seconds=$t_noticed observer_gap_seconds=$gap timeout_ms=$TIMEOUT_MS acked=$(acked A $name)"
