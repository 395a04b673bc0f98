# The plug qdisc on an IFB fed by the guest vif's ingress (guest egress)
# holds the guest's ping reply until it is released.
. /lab/lib.sh
start_guest plug1 2 || fail "guest did not boot"
ip=$(guest_ip plug1)
vif=vif$(xl domid plug1).0
wait_for 30 ping -c 1 -W 1 "$ip" >/dev/null || fail "no ping reply before plugging"

ip link add ifbplug type ifb || fail "cannot create an IFB device"
ip link set ifbplug up
tc qdisc add dev ifbplug root plug limit 100000 || fail "cannot add a plug qdisc"
tc qdisc add dev "$vif" ingress || fail "cannot add an ingress qdisc on $vif"
tc filter add dev "$vif" parent ffff: protocol all pref 10 matchall \
	action mirred egress redirect dev ifbplug || fail "cannot redirect $vif to ifbplug"
tc qdisc change dev ifbplug root plug block

ping -c 1 -W 2 "$ip" >/dev/null && fail "a reply left while plugged"
held=$(tc -s qdisc show dev ifbplug | awk '/backlog/ { print $3; exit }')
timing "held packets=${held%p}"
[ "${held%p}" -ge 1 ] 2>/dev/null || fail "the plug qdisc holds nothing ($held)"

# The reply to a ping sent now must arrive only after the release: ping
# stamps the reply with the wall clock as it receives it (-D), and the
# release cannot come before the stamp taken just ahead of it.
t0=$(now)
ping -D -c 1 -W 10 "$ip" >/run/plug-ping.txt &
pid=$!
sleep 2
t_release=$(date +%s.%N)
t_release_up=$(now)
tc qdisc change dev ifbplug root plug release_indefinite
wait $pid || fail "no reply after release"
t_reply=$(sed -n 's/^\[\([0-9.]*\)\].*time=.*/\1/p' /run/plug-ping.txt)
timing "release_at=$(awk -v a="$t0" -v b="$t_release_up" 'BEGIN { printf "%.2f", b - a }')s rtt=$(sed -n 's/.*time=\([0-9.]*\).*/\1/p' /run/plug-ping.txt)ms"
[ -n "$t_reply" ] || fail "no reply stamp in: $(cat /run/plug-ping.txt)"
awk -v r="$t_release" -v p="$t_reply" 'BEGIN { exit !(p >= r) }' ||
	fail "the reply came before the release ($t_reply < $t_release)"

tc qdisc del dev "$vif" ingress
tc qdisc del dev ifbplug root
ip link del ifbplug
xl destroy plug1
