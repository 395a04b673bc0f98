# Two hosts (runs on the lab host): a guest on A protected to B with
# network buffering; the observer, outside both hosts, probes it all the
# time (ping, ping -6, ARP, TCP) and captures what comes back. No reply may
# reach the observer before the backup has sent the ACK of the epoch that
# produced it: judged against B's own ack trace (B's clock), A's barriers
# (A's clock) and the capture (the lab host's clock), the clocks related by
# the stamps in the echo requests both dom0s send the observer meanwhile
# (tests/lab/pair/commit-check.py). The same data judged as if each epoch
# had been released one ACK early must fail, or the check could not catch
# a primary that releases on a wrong or forged ACK. $EPOCHS epochs under
# the probes: 300 in CI, 1000 in make check-lab-long.
. "$PAIR_LIB"
name=pn1
idx=21
EPOCHS=${EPOCHS:-300}
ip=$(guest_ip $idx)
ip6=fd00::$((10 + idx))
mac=$(guest_mac $idx)
cap=$EXPORT/observer.pcap

start_receiver
# every 30 ms: the epochs come sooner, and each is held all the same
INTERVAL_MS=30 PROTECT_FLAGS="-F -d --netbuf-trace /run/$name.trace" protect_a_to_b $name $idx 5

observer tcpdump -i obs0 -U -s 160 -w "$cap" \
	"ether host $mac or arp or (icmp and dst host 192.0.2.250)" 2>"$EXPORT/tcpdump.err" &
cap_pid=$!
wait_until 10 grep -q 'listening on' "$EXPORT/tcpdump.err" || fail "tcpdump did not start"
# both dom0s tell the observer their clocks
on_bg A /dev/null ping -q -i 0.2 192.0.2.250
on_bg B /dev/null ping -q -i 0.2 192.0.2.250
first=$(acked A $name)
ip netns exec "$PAIR_OBS" python3 "$PAIR_DIR/probe.py" 900 "$ip" "$ip6" >"$EXPORT/probes.txt" &
probe_pid=$!
enough() { [ "$(acked A $name)" -ge $((first + EPOCHS)) ] 2>/dev/null; }
wait_until 840 enough
kill -TERM "$probe_pid"
wait "$probe_pid" || fail "the probes did not run"
probes=$(cat "$EXPORT/probes.txt")
last=$(acked A $name)
sleep 1
kill "$cap_pid"
wait "$cap_pid" 2>/dev/null
on A pkill -x ping
on B pkill -x ping
echo "$probes; epochs $first..$last"

on A "cat /run/$name.trace" >"$EXPORT/barriers.trace"
on B cat /run/ack.trace >"$EXPORT/ack.trace"
[ $((last - first)) -ge "$EPOCHS" ] || fail "only $((last - first)) epochs under the probes, not $EPOCHS"

verdict=$(python3 "$PAIR_DIR/commit-check.py" "$cap" "$EXPORT/barriers.trace" \
	"$EXPORT/ack.trace" "$mac" "$ip" "$ip6")
rc=$?
echo "output commit: $verdict"
[ $rc = 0 ] || fail "output commit: $(echo "$verdict" | head -n 2 | tr '\n' ' ')"
for k in arp icmp4 icmp6 tcp; do
	case $verdict in *"$k:"*) ;; *) fail "no $k reply was judged: $verdict" ;; esac
done
early=$(python3 "$PAIR_DIR/commit-check.py" --shift 1 "$cap" "$EXPORT/barriers.trace" \
	"$EXPORT/ack.trace" "$mac" "$ip" "$ip6") &&
	fail "the check passes a primary that releases one ACK early: $early"
echo "one ACK early: $(echo "$early" | head -n 1)"

timing "pair-netbuf $(echo "$verdict" | head -n 1) early_violations=$(echo "$early" | sed -n '1s/.*violations=\([0-9]*\).*/\1/p') $(echo "$probes" | tr ' ' '\n' | sed -n 's/=/_sent_answered=/p' | tr '\n' ' ')"
must_on A "xrepl unprotect $name" >/dev/null
on B "wait_for 20 sh -c '! xl list $name--incoming >/dev/null 2>&1'" ||
	fail "B kept its copy after unprotect"
