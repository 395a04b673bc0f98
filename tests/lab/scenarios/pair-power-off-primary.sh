# Two hosts and their cluster (runs on the lab host; see
# pair-partition-replication): A's power is pulled twice in one boot,
# first with xrepl on both hosts under --quorum corosync, then without a
# quorum source. Each time B runs the guest on its own, from a checkpoint
# the observer's counter never goes back from; the two failover times are
# printed side by side: the difference is what waiting out a cut-off
# primary's quorum costs (the grace). The cluster's Pacemaker-driven form
# (promotion by the resource agent, fencing) is not built yet.
. "$PAIR_LIB"
img=/var/lib/xrepl/po.img

# leg NAME INDEX QUORUM_FLAGS: protect, pull A's power, until B runs it
leg() {
	local name=$1 idx=$2 flags=$3 t0
	on B "pkill -f '^xrepl receive'; rm -f /run/receive.log"
	RECEIVE_FLAGS="$flags" start_receiver
	GUEST_SETUP="truncate -s 64M $img" \
		GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
		PROTECT_FLAGS="$flags" protect_a_to_b $name $idx 10 >/dev/null
	watch_counter "$(guest_ip $idx)" "$EXPORT/counter-$name.log"
	t0=$(now)
	power off A || fail "cannot pull A's power"
	failed_over() { on B "grep -q 'failover: $name runs as domain' /run/receive.log"; }
	wait_until 150 failed_over || fail "B did not run $name within 150 s: $(on B tail -n 3 /run/receive.log)"
	t_leg=$(since "$t0")
	on B "grep 'primary lost\|may run here\|failover:' /run/receive.log"
	read_b() { awk -v t="$t0" '$1 > t && $2 != "-" { found = 1 } END { exit !found }' "$EXPORT/counter-$name.log"; }
	wait_until 60 read_b || fail "the observer does not reach $name at B"
	kill "$poller"
	where=$(counter_went_back "$EXPORT/counter-$name.log") && fail "the observer's counter went back $where"
	on B "xl destroy $name"
	power on A || fail "A does not boot again"
}

cluster_start || fail "the cluster is not quorate: A sees $(on A quorum_view), B $(on B quorum_view)"
leg pq 47 "--quorum corosync"
t_quorum=$t_leg
on B "grep -q 'may run here: this host is quorate' /run/receive.log" || fail "B did not ask the quorum"
on B cluster_down
witness stop
leg pn 48 ""
t_none=$t_leg
timing "pair-power-off-primary failover_seconds_quorum=$t_quorum failover_seconds_no_quorum=$t_none"
