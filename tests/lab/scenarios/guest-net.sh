# A PVH guest boots, answers ping and a TCP echo from dom0.
. /lab/lib.sh
start_guest net1 1 || fail "guest did not boot"
ip=$(guest_ip net1)
t0=$(now)
wait_for 30 ping -c 1 -W 1 "$ip" >/dev/null || fail "no ping reply from $ip"
timing "first-ping seconds=$(since "$t0")"
rtt=$(ping -c 5 -i 0.2 -W 2 "$ip" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
[ -n "$rtt" ] || fail "ping to $ip lost replies"
timing "ping avg_ms=$rtt"
reply=$(echo "echo-$$" | nc -q 2 -w 5 "$ip" 7)
[ "$reply" = "echo-$$" ] || fail "TCP echo from $ip:7 returned '$reply'"
xl destroy net1
