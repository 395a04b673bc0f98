# xrepl protect with network buffering (no -n): the guest's replies to
# ping, ping -6, ARP and TCP leave dom0 only after the backup's ACK of the
# epoch that produced them. Proof: a capture on the bridge against the
# barrier and release times xrepl writes (--netbuf-trace). A reply to a
# probe sent at s was produced in an epoch whose barrier comes after s, so
# it may appear only after the release of the first epoch whose barrier is
# later than s. Also: per-packet latency protected vs unprotected, the
# counters in `xrepl status', nothing left after unprotect, and the buffer
# a killed primary leaves (holding everything) removed by `xrepl unprotect'.
. /lab/lib.sh
name=nb1
idx=6
mac=00:16:3e:00:01:06
trace=/run/$name.trace
cap=/run/$name.cap
PROBES_V4=${PROBES_V4:-40}
PROBES=${PROBES:-10}

ip -6 addr add fd00::1/64 dev xenbr0 nodad 2>/dev/null
xrepl genkey /run/$name.key || fail "xrepl genkey failed"
rm -f "$trace"
NETBUF= PROTECT_FLAGS="--netbuf-trace $trace" \
	protect_with_retries "$name" "$idx" 5 400 protect_to_localhost "$name" /run/$name.key
ip=$(guest_ip "$name")
ip6=fd00::$((10 + idx))
vif=$(ls "/sys/bus/xen-backend/devices/vif-$domid-0/net/")
ifb=xr-$vif

# What netbuf built, as tc and ip see it.
ip -d link show "$ifb" | grep -q ' ifb ' || fail "no IFB $ifb"
tc qdisc show dev "$ifb" | grep -q '^qdisc plug 1: root' ||
	fail "no plug qdisc on $ifb: $(tc qdisc show dev "$ifb")"
tc filter show dev "$vif" ingress | grep -q 'protocol all' ||
	fail "no all-protocol filter on $vif"
tc filter show dev "$vif" ingress | grep -q "Egress Redirect to device $ifb" ||
	fail "no redirect from $vif to $ifb"

# capture FILE: everything to and from the guest on the bridge, stamped
capture() {
	rm -f /run/tcpdump.err
	tcpdump -i xenbr0 -n -e -tt -l -U "ether host $mac or arp" >"$1" 2>/run/tcpdump.err &
	cap_pid=$!
	wait_for 10 grep -q 'listening on' /run/tcpdump.err || fail "tcpdump did not start"
}
stop_capture() {
	sleep 1
	kill "$cap_pid"
	wait "$cap_pid" 2>/dev/null
}

# probes KIND: one at a time, each waiting for its reply
probes() {
	local i lost=0
	for i in $(seq "$PROBES_V4"); do ping -c 1 -W 5 "$ip" >/dev/null || lost=$((lost + 1)); done
	[ "$1" = v4 ] && { echo $lost; return; }
	for i in $(seq "$PROBES"); do ping -6 -c 1 -W 5 "$ip6" >/dev/null || lost=$((lost + 1)); done
	for i in $(seq "$PROBES"); do
		ip neigh del "$ip" dev xenbr0 2>/dev/null
		ping -c 1 -W 5 "$ip" >/dev/null || lost=$((lost + 1))
	done
	for i in $(seq "$PROBES"); do
		[ "$(echo x | nc -q 1 -w 5 "$ip" 7)" = x ] || lost=$((lost + 1))
	done
	echo $lost
}

# pairs CAPTURE: "kind probe_time reply_time" for every reply of the guest
# to the last probe of its kind
pairs() {
	awk -v mac="$mac" '
	function kind(l) {
		if (l ~ /ICMP6, echo/) return "icmp6"
		if (l ~ /ICMP echo/) return "icmp4"
		if (l ~ /who-has|is-at/) return "arp"
		if (l ~ /Flags \[S\.?\]/) return "tcp"
		return ""
	}
	{
		k = kind($0)
		if (k == "") next
		if ($2 != mac && ($0 ~ /echo request|Request who-has|Flags \[S\],/))
			probe[k] = $1
		else if ($2 == mac && ($0 ~ /echo reply|Reply .* is-at|Flags \[S\.\]/) && (k in probe))
			print k, probe[k], $1
	}' "$1"
}

# percentiles of column 1 (ms): p50 p90 p99 max count
percentiles() {
	sort -n | awk '
	function at(q, i) { i = int(NR * q + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
	{ v[NR] = $1 }
	END {
		if (!NR) { print "none"; exit }
		printf "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f n=%d",
			at(0.5), at(0.9), at(0.99), v[NR], NR }'
}

# --- protected
capture "$cap"
lost=$(probes all)
stop_capture
pairs "$cap" >/run/$name.pairs
cp "$cap" "$trace" /run/$name.pairs "$EXPORT/"
echo "probes lost: $lost; replies by kind: $(cut -d' ' -f1 /run/$name.pairs | sort | uniq -c | tr '\n' ' ')"

# Each reply against the release of the first epoch barred after its probe.
verdict=$(awk '
	FNR == NR { if ($2 == "buffer") b[$3] = $1; else r[$3] = $1; if ($3 > n) n = $3; next }
	{
		e = 0
		for (i = 1; i <= n; i++) if ((i in b) && b[i] > $2) { e = i; break }
		if (!e || !(e in r)) { bad++; why = why " " $1 "@" $3 "(no release after its probe)"; next }
		if ($3 < r[e]) { bad++; why = why sprintf(" %s@%s(%.1fms before release %d)", $1, $3, (r[e] - $3) * 1000, e); next }
		ok++
		printf "%.3f\n", ($3 - r[e]) * 1000 > "/run/after-release.ms"
	}
	END { printf "checked=%d violations=%d%s\n", ok + bad, bad, why }' "$trace" /run/$name.pairs)
echo "output commit: $verdict"
case $verdict in
*" violations=0"*) ;;
*) fail "a reply left before its epoch was released: $verdict" ;;
esac
for k in icmp4 icmp6 arp tcp; do
	grep -q "^$k " /run/$name.pairs || fail "no $k reply from the guest in the capture"
done
[ "$lost" -le $(((PROBES_V4 + 3 * PROBES) / 10)) ] || fail "$lost probes lost"
timing "netbuf-commit $verdict epochs=$(grep -c release "$trace") after_release $(percentiles </run/after-release.ms)"
timing "latency protected kind=icmp4 $(awk '$1 == "icmp4" { print ($3 - $2) * 1000 }' /run/$name.pairs | percentiles) interval_ms=${INTERVAL_MS:-100}"
for k in icmp6 arp tcp; do
	timing "latency protected kind=$k $(awk -v k=$k '$1 == k { print ($3 - $2) * 1000 }' /run/$name.pairs | percentiles)"
done

xrepl status "$name" | tee /run/$name.status
grep -q "$vif: held [0-9]* packets .*released [1-9][0-9]* packets" /run/$name.status ||
	fail "xrepl status shows no netbuf counters for $vif"

# --- unprotect: everything goes, output flows at once
xrepl unprotect "$name" || fail "xrepl unprotect failed"
ip link show "$ifb" >/dev/null 2>&1 && fail "$ifb left behind"
tc qdisc show dev "$vif" ingress | grep -q ingress && fail "ingress qdisc left on $vif"

capture "$cap.free"
lost=$(probes v4)
stop_capture
pairs "$cap.free" >/run/$name.free.pairs
timing "latency unprotected kind=icmp4 $(awk '$1 == "icmp4" { print ($3 - $2) * 1000 }' /run/$name.free.pairs | percentiles)"

# --- a killed primary leaves everything held; unprotect releases it
rm -f "/run/xrepl/$name.primary.json"
NETBUF= protect_to_localhost "$name" /run/$name.key
wait_acked "$name" 2 200 || { show_logs; fail "second protection did not start"; }
kill -9 "$ppid"
pkill -9 -f '^xrepl receive' 2>/dev/null
ip link show "$ifb" >/dev/null 2>&1 || fail "no leftover $ifb after kill -9 (test broken?)"
ping -c 1 -W 2 "$ip" >/dev/null && fail "a reply left through the buffer of a killed primary"
xrepl unprotect "$name" || fail "xrepl unprotect did not remove the leftovers"
ip link show "$ifb" >/dev/null 2>&1 && fail "$ifb left behind after unprotect"
wait_for 10 ping -c 1 -W 1 "$ip" >/dev/null || fail "no reply after the leftovers were removed"
for d in $(xl list | awk 'NR > 2 && /--incoming/ { print $1 }'); do xl destroy "$d"; done
xl destroy "$name"
