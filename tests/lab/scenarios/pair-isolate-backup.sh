# Two hosts and their cluster (runs on the lab host; see
# pair-partition-replication): every link of B fails (carrier lost). A,
# quorate with the witness's vote, runs on and lets its held output out; B,
# not quorate, keeps its copy paused and waits, never running it. When
# B's links return, A's node is a member again: B destroys its copy, and
# A's next try protects the guest again with a resync. The observer's
# counter never goes back.
. "$PAIR_LIB"
name=pb1
idx=46
protect_in_cluster $name $idx
status() { on A "json_field $1 /run/xrepl/$name.primary.json"; }
sessions() { on A "grep -c 'protecting $name (domain' /run/protect.log"; }
n0=$(sessions)
watch_counter "$(guest_ip $idx)" "$EXPORT/counter.log"

t0=$(now)
cut_link B
a_ran_on() { on A "grep -q 'may run on here:' /run/protect.log"; }
wait_until 90 a_ran_on || fail "A did not run on within 90 s: $(on A tail -n 3 /run/protect.log)"
t_a=$(since "$t0")
b_waits() { on B "grep -q 'not quorate.*: waiting' /run/receive.log"; }
wait_until 60 b_waits || fail "B does not say it waits for quorum: $(on B tail -n 3 /run/receive.log)"
case $(on B "guest_state $name--incoming") in *p*) ;; *) fail "B's copy is not paused while it waits" ;; esac
on B "grep -q 'failover: $name runs' /run/receive.log" && fail "B ran the guest without quorum"

t_heal=$(now)
restore_link B
b_declined() { on B "grep -q 'is not failed over' /run/receive.log"; }
wait_until 120 b_declined || fail "B did not give its copy up once A was a member again: $(on B tail -n 3 /run/receive.log)"
on B "grep 'primary lost\|waiting\|not failed over' /run/receive.log"
again() { [ "$(sessions)" -gt "$n0" ] && [ "$(status state)" = protecting ] && [ "$(status acked)" -ge 5 ] 2>/dev/null; }
wait_until 240 again || fail "protection did not resume: $(on A tail -n 5 /run/protect.log)"
took=$(since "$t_heal")
one_copy_and_backup $name || fail "not one copy and its backup once protected again"
sleep 2
kill "$poller"
where=$(counter_went_back "$EXPORT/counter.log") && fail "the observer's counter went back $where"
gap=$(longest_gap "$EXPORT/counter.log" "$t0" "$t_heal")
timing "pair-isolate-backup a_ran_on_seconds=$t_a protected_again_seconds=$took observer_longest_gap_before_heal_seconds=$gap"
