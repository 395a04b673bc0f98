# Two hosts (runs on the lab host): `xl pause' of a protected guest for
# 30 s. Protection waits (no checkpoint, heartbeats go on, B does not
# promote), says "paused", and carries on after `xl unpause'; exactly one
# copy runs throughout.
. "$PAIR_LIB"
name=gp1
idx=34
PAUSE_S=${PAUSE_S:-30}
start_receiver
PROTECT_FLAGS="-F -d" protect_a_to_b $name $idx 10 >/dev/null
must_on A "xl pause $name" >/dev/null
paused() { [ "$(on A "json_field state /run/xrepl/$name.primary.json")" = paused ]; }
wait_until 10 paused || fail "A's status does not say paused"
before=$(acked A $name)
sleep "$PAUSE_S"
during=$(acked A $name)
[ $((during - before)) -le 1 ] || fail "$((during - before)) checkpoints of a paused guest"
on A "[ -e /run/xrepl/$name.primary.pid ]" || fail "protection ended while paused: $(on A tail -n 3 /run/protect.log)"
on B "grep -q 'failover\|primary lost' /run/receive.log" && fail "B took the pause for a lost primary"
must_on A "xl unpause $name" >/dev/null
t0=$(now)
going() { [ "$(acked A $name)" -ge $((during + 10)) ]; }
wait_until 60 going || fail "no checkpoints after unpause: $(on A tail -n 3 /run/protect.log)"
took=$(since "$t0")
left=$(copies $name)
echo "copies: $left"
a_state=$(printf '%s\n' $left | sed -n "s/^A:$name://p")
# a live domain: r or b or neither, s while a checkpoint suspends it
[ "$(echo "$left" | wc -w)" = 2 ] && [ -n "$a_state" ] &&
	case "$a_state" in *[pcd]*) false ;; esac &&
	case "$left" in *"B:$name--incoming:"*) true ;; *) false ;; esac ||
	fail "not exactly one running copy and its backup: $left"
on A "runs_on $name 20" || fail "the guest does not run after unpause"
on A "grep -q 'paused: checkpoints wait' /run/protect.log" || fail "A's log does not say it waited"
timing "pair-guest-pause paused_seconds=$PAUSE_S acked_before=$before acked_paused=$during seconds_to_10_more=$took"
