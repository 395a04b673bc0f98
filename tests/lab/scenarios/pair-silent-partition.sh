# Two hosts (runs on the lab host): the replication link drops every frame
# silently (carrier stays up). Both sides notice within the heartbeat
# timeout (plus 5 s: A's status and B's log are polled through the guest
# agents, and a TCG host is slow) and nothing hangs: A stops protection
# (backup lost), runs on and tries B again every 5 s; B fails over. With no
# quorum source that is two running copies: the quorum issue's subject.
# When the link heals, B refuses to receive the guest it now runs (a second
# copy there would be one more to fail over), and xrepl protect on A ends
# saying so.
. "$PAIR_LIB"
name=sp1
idx=37
TIMEOUT_MS=5000
start_receiver
PROTECT_FLAGS="-F -d --timeout $TIMEOUT_MS" protect_a_to_b $name $idx 10 >/dev/null
t0=$(now)
silence replication
a_done() { [ "$(on A "json_field state /run/xrepl/$name.primary.json")" = backup-lost ]; }
b_lost() { on B "grep -q 'primary lost' /run/receive.log"; }
b_done() { on B "grep -q 'failover: $name runs' /run/receive.log"; }
wait_until 60 a_done || fail "A did not notice within 60 s: $(on A tail -n 2 /run/protect.log)"
t_a=$(since "$t0")
wait_until 60 b_lost || fail "B did not notice within 60 s: $(on B tail -n 2 /run/receive.log)"
t_b=$(since "$t0")
wait_until 60 b_done || fail "B did not fail over within 60 s of noticing: $(on B tail -n 2 /run/receive.log)"
t_run=$(since "$t0")
on A "grep -q 'trying its backup again' /run/protect.log" ||
	fail "A does not try its backup again: $(on A tail -n 2 /run/protect.log)"
on B "grep -v 'All records' /run/receive.log | tail -n 3"
limit=$((TIMEOUT_MS / 1000 + 5))
awk -v a="$t_a" -v b="$t_b" -v l="$limit" 'BEGIN { exit !(a <= l && b <= l) }' ||
	fail "noticed after ${t_a} s (A) and ${t_b} s (B); the timeout is $((TIMEOUT_MS / 1000)) s"
t_heal=$(now)
unsilence replication
rc=$(protect_ended $name 60) || fail "xrepl protect on A still runs 60 s after the link healed"
t_end=$(since "$t_heal")
on A "grep -v 'All records' /run/protect.log | tail -n 3"
[ "$rc" = 1 ] && on A "grep -q 'refused the guest: $name was failed over' /run/protect.log" ||
	fail "A did not end on B's refusal (exit $rc)"
left=$(copies $name)
echo "copies: $left"
case $left in *"B:$name--incoming"*) fail "B received a second copy of the guest it runs: $left" ;; esac
on B "xl destroy $name"
timing "pair-silent-partition a_noticed_seconds=$t_a b_noticed_seconds=$t_b b_runs_seconds=$t_run timeout_ms=$TIMEOUT_MS refused_after_heal_seconds=$t_end"
