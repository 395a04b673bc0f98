# Two hosts and their cluster (runs on the lab host; see
# pair-partition-replication): the witness (corosync-qnetd) stops. A and B
# still see each other, two votes of three: both stay quorate, nothing
# fails over and protection goes on, for longer than the grace and the
# heartbeat timeout together. The witness comes back and its vote with it.
. "$PAIR_LIB"
name=pw1
idx=45
cluster_start || fail "the cluster is not quorate: A sees $(on A quorum_view), B $(on B quorum_view)"
RECEIVE_FLAGS="--quorum corosync" start_receiver
PROTECT_FLAGS="--quorum corosync -F -d" protect_a_to_b $name $idx 10 >/dev/null
witness stop
wait_until 60 quorum_is A "Yes 2" || fail "A does not see the witness gone: $(on A quorum_view)"
n0=$(acked A $name)
sleep 20
n1=$(acked A $name)
echo "acked $n0 then $n1; A sees $(on A quorum_view), B $(on B quorum_view)"
quorum_is B "Yes 2" || fail "B is not quorate without the witness: $(on B quorum_view)"
[ "$n1" -gt $((n0 + 20)) ] 2>/dev/null || fail "protection did not go on: acked $n0, then $n1 20 s later"
on B "grep -q 'primary lost\|failover:' /run/receive.log" && fail "B took the witness's loss for the primary's"
one_copy_and_backup $name || fail "not one copy and its backup without the witness"
witness start
wait_until 120 quorum_is A "Yes 3" || fail "the witness's vote did not come back: $(on A quorum_view)"
timing "pair-witness-lost acked_in_20s=$((n1 - n0))"
