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

# The reply to a ping sent now must arrive only after the release.
t0=$(now)
ping -c 1 -W 10 "$ip" >/run/plug-ping.txt &
pid=$!
sleep 2
t_release=$(now)
tc qdisc change dev ifbplug root plug release_indefinite
wait $pid || fail "no reply after release"
t_reply=$(awk -v t0="$t0" -F'time=' '/time=/ { split($2, a, " "); printf "%.3f", t0 + a[1] / 1000 }' /run/plug-ping.txt)
timing "release_at=$(awk -v a="$t0" -v b="$t_release" 'BEGIN { printf "%.2f", b - a }')s rtt=$(sed -n 's/.*time=\([0-9.]*\).*/\1/p' /run/plug-ping.txt)ms"
awk -v r="$t_release" -v p="$t_reply" 'BEGIN { exit !(p >= r - 0.05) }' ||
	fail "the reply came before the release"

tc qdisc del dev "$vif" ingress
tc qdisc del dev ifbplug root
ip link del ifbplug
xl destroy plug1
