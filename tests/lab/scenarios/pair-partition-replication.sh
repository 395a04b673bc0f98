# Two hosts and their cluster (runs on the lab host): corosync and
# corosync-qdevice on A and B over the management link, corosync-qnetd on
# the lab host as the witness; xrepl on both with --quorum corosync. Only
# the replication link fails (its frames dropped, carrier up): both hosts
# stay quorate and see each other. B does not promote (A's node is still a
# member after the grace) and destroys its copy; A asks the quorum, runs
# on and lets its held output out. When the link returns, protection
# resumes by itself, sending only what changed on the disk (not its random
# 16 MiB again). The observer's counter never goes back, and the guest
# never runs twice.
. "$PAIR_LIB"
name=pq1
idx=43
GUEST_SETUP="head -c 16M /dev/urandom >/var/lib/xrepl/$name.img" protect_in_cluster $name $idx
status() { on A "json_field $1 /run/xrepl/$name.primary.json"; }
[ "$(status split_brain_guard)" = corosync ] ||
	fail "A's status does not name corosync as its guard: $(on A grep -m1 split /run/protect.log)"
sessions() { on A "grep -c 'protecting $name (domain' /run/protect.log"; }
n0=$(sessions)
watch_counter "$(guest_ip $idx)" "$EXPORT/counter.log"

t0=$(now)
silence replication
b_decided() { on B "grep -q 'is not failed over\|failover: $name runs' /run/receive.log"; }
a_decided() { on A "grep -q 'may run on here:\|says no to running on' /run/protect.log"; }
wait_until 90 b_decided || fail "B did not decide within 90 s: $(on B tail -n 3 /run/receive.log)"
t_b=$(since "$t0")
wait_until 60 a_decided || fail "A did not decide within 60 s: $(on A tail -n 3 /run/protect.log)"
t_a=$(since "$t0")
on B "grep 'primary lost\|not failed over' /run/receive.log"
on A "grep 'backup lost\|may run on' /run/protect.log"
on B "grep -q 'failover: $name runs' /run/receive.log" && fail "B promoted the guest while A's host was a member"
on B "grep -q 'is a member of the cluster: its host runs' /run/receive.log" || fail "B does not say why it did not promote"
on A "grep -q 'may run on here:' /run/protect.log" || fail "A did not run on: $(on A tail -n 3 /run/protect.log)"
left=$(copies $name)
echo "copies: $left"
[ "$(echo "$left" | wc -w)" = 1 ] && case $left in "A:$name:"*) true ;; *) false ;; esac ||
	fail "not the guest on A alone while the link is down: $left"

t_heal=$(now)
unsilence replication
again() { [ "$(sessions)" -gt "$n0" ] && [ "$(status state)" = protecting ] && [ "$(status acked)" -ge 5 ] 2>/dev/null; }
wait_until 240 again || fail "protection did not resume after the link returned: $(on A tail -n 5 /run/protect.log)"
took=$(since "$t_heal")
sent=$(status sent_bytes)
[ "${sent:-99999999}" -lt $((4 << 20)) ] || fail "the resync sent ${sent:-?} bytes, not just what changed"
one_copy_and_backup $name || fail "not one copy and its backup once protected again"
sleep 2
kill "$poller"
where=$(counter_went_back "$EXPORT/counter.log") && fail "the observer's counter went back $where"
gap=$(longest_gap "$EXPORT/counter.log" "$t0" "$t_heal")
timing "pair-partition-replication b_declined_seconds=$t_b a_ran_on_seconds=$t_a protected_again_seconds=$took resync_bytes=$sent observer_longest_gap_before_heal_seconds=$gap"
