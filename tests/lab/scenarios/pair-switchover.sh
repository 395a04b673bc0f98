# Two hosts (runs on the lab host): planned switchover, A -> B -> A. A guest
# on A, its disk on block-xrepl (16 MiB random) and its output buffered, is
# protected to B; both hosts run xrepl receive --listen. `xrepl switchover'
# on A: at a checkpoint the guest stays suspended on A, B runs it from that
# checkpoint, A's copy goes, and B protects the guest back to A by itself,
# A's disk already equal to B's (a checksum resync sends next to nothing).
# Then the same from B back to A. Checked each way: exactly one running
# copy and its backup on the other host; the counter the observer reads
# never goes back; the guest's disk still holds the random 16 MiB.
# Printed each way: the downtime xrepl switchover reports, how long the
# observer was cut off, the seconds until the guest was protected back,
# the disk bytes that protection back sent.
. "$PAIR_LIB"
name=so1
idx=44
ip=$(guest_ip $idx)
img=/var/lib/xrepl/$name.img

listen_on() {
	local h=$1 addr=$2
	on_bg "$h" /run/receive.log "XREPL_LOG=info exec xrepl receive --listen $addr:7800"
	on "$h" "wait_for 20 sh -c 'ss -ltn | grep -q $addr:7800'" ||
		fail "xrepl receive does not listen on $h: $(on "$h" tail -n 3 /run/receive.log)"
}

region() { on "$1" "dd if=$img bs=1M skip=1 count=16 2>/dev/null | sha256sum | cut -d' ' -f1"; }

# where_is FROM TO: the guest runs on TO, its backup on FROM, nothing more
where_is() {
	local left
	left=$(copies $name)
	[ "$(echo "$left" | wc -w)" = 2 ] &&
		case "$left" in
		*"$2:$name:"*) case "$left" in *"$1:$name--incoming:"*) true ;; *) false ;; esac ;;
		*) false ;;
		esac
}

protected_from() {
	[ "$(on "$1" "json_field acked /run/xrepl/$name.primary.json")" -ge 3 ] 2>/dev/null
}

# switch FROM TO: xrepl switchover on FROM; TO runs the guest, protected back
switch() {
	local from=$1 to=$2 out t0 down left sent cut
	t0=$(now)
	out=$(on "$from" "xrepl switchover $name 2>&1") ||
		fail "xrepl switchover on $from failed: $out"
	echo "$out"
	down=$(echo "$out" | sed -n 's/.*stood still \([0-9.]*\) ms.*/\1/p')
	[ -n "$down" ] || fail "xrepl switchover did not say how long the guest stood still: $out"
	t_switched=$(since "$t0")
	wait_until 60 on "$from" "! pgrep -f '^xrepl protect' >/dev/null" ||
		fail "$from's xrepl protect did not end after the switchover"
	on "$from" "[ ! -e /run/protect.log ] || grep -q '^@@EXIT 0' /run/protect.log" ||
		fail "$from's xrepl protect did not exit 0: $(on "$from" tail -n 3 /run/protect.log)"
	wait_until 240 protected_from "$to" ||
		fail "$to does not protect $name back to $from: $(on "$to" "grep -v 'All records' /run/receive.log | tail -n 8")"
	t_back=$(since "$t0")
	wait_until 60 where_is "$from" "$to" ||
		fail "after the switchover to $to: not one copy on $to and its backup on $from: $(copies $name)"
	on "$to" "grep -E 'protecting $name back|checksum resync|waiting for|refused|cannot' /run/receive.log | tail -n 5"
	sent=$(on "$to" "json_field sent_bytes /run/xrepl/$name.primary.json")
	[ "${sent:-$((64 << 20))}" -lt $((4 << 20)) ] ||
		fail "protection back to $from sent $sent disk bytes, not what differs"
	cut=$(awk -v t="$t0" '$1 > t && $2 != "-" && prev != "" && $1 - prev > max { max = $1 - prev }
		$2 != "-" { prev = $1 } END { printf "%.2f", max }' "$EXPORT/counter.log")
	timing "pair-switchover $from-to-$to downtime_ms=$down observer_cutoff_seconds=$cut switchover_seconds=$t_switched seconds_to_protected_back=$t_back disk_sent_bytes=$sent disk_bytes=$((64 << 20))"
}

# B's protections here are the ones B's receiver starts: no log of another's
on B "rm -f /run/protect.log"
start_receiver
listen_on A 10.0.1.1
GUEST_SETUP="truncate -s 64M $img && dd if=/dev/urandom of=$img bs=1M seek=1 count=16 conv=notrunc 2>/dev/null" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_a_to_b $name $idx 10 >/dev/null
random16=$(region A)

watch_counter "$ip" "$EXPORT/counter.log"

switch A B
[ "$(region B)" = "$random16" ] || fail "B's disk lost the random 16 MiB"
sleep 5
switch B A
[ "$(region A)" = "$random16" ] || fail "A's disk lost the random 16 MiB"
sleep 2
kill "$poller"
back=$(awk '$2 != "-" { if (prev != "" && $2 + 0 < prev + 0) { print prev " then " $2; exit } prev = $2 }' "$EXPORT/counter.log")
[ -z "$back" ] || fail "the counter the observer reads went back: $back"
on A "pkill -f '^xrepl protect'"
