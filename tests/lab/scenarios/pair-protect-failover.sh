# Two hosts (runs on the lab host): a PVH guest on A, its disk on
# block-xrepl and its output buffered, protected to B over the replication
# link. A's power is pulled mid-protection, with no warning to anything on
# A. B notices the silence (heartbeat timeout, not an EOF), takes over from
# the last complete checkpoint, and the observer on the guest LAN reaches
# the guest at B without any step by anyone. Checked:
#  - the counter the observer reads continues from at least what it last
#    saw from A (output commit: nothing it saw can be lost);
#  - B resumed from a checkpoint no older than the last release A recorded
#    (A's netbuf trace streams out over lab.events as it is written);
#  - B's replica holds exactly the ticks the resumed memory counts (the
#    promoted guest is held paused while the replica is read: its backup
#    domain was paused once more before the power cut; what the memory
#    counts is the first tick it prints once resumed);
#  - the LAN finds the guest's MAC behind B's port, learnt from the RARP
#    frames B sends from it (Linux guests announce nothing themselves).
# Printed: the failover time and how long the observer was cut off.
. "$PAIR_LIB"
name=pf1
idx=22
ip=$(guest_ip $idx)
mac=$(guest_mac $idx)
img=/var/lib/xrepl/$name.img

# the ticks FILE holds on a dom0 (sectors 0..999), one number a line
ticks() { on "$1" "head -c 512000 $2 | tr -c '[:alnum:] \n' '\n' | sed -n 's/^tick \([0-9]*\)$/\1/p' | sort -n"; }

start_receiver
mark=$(events_mark A)
GUEST_SETUP="truncate -s 64M $img" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	PROTECT_FLAGS="--netbuf-trace /dev/lab-events" protect_a_to_b $name $idx 20
first=$(ticks A "$img" | tail -n 1)
replica_has() { ticks B "$img" | grep -qx "$1"; }
wait_until 90 replica_has $((first + 2)) || fail "B's replica never got tick $((first + 2))"

# the observer: the guest's counter (port 8) ten times a second, and a capture
observer tcpdump -i obs0 -U -w "$EXPORT/observer.pcap" "ether host $mac" 2>/dev/null &
watch_counter "$ip" "$EXPORT/counter.log"

must_on B "xl pause $name--incoming" >/dev/null
sleep $((RANDOM % 4 + 2))
t_cut=$(now)
power off A || fail "cannot pull A's power"
# A's last frames may still be on their way at t_cut; none after this
t_gone=$(now)
failed_over() { on B "grep -q 'failover: $name runs as domain' /run/receive.log"; }
wait_until 120 failed_over || { on B tail -n 20 /run/receive.log; fail "B did not take over within 120 s"; }
t_failover=$(since "$t_cut")
t_held=$(now)
log=$(on B "cat /run/receive.log")
checkpoint=$(echo "$log" | sed -n "s/.*failover: $name runs as domain [0-9]* from checkpoint \([0-9]*\).*/\1/p")
why=$(echo "$log" | grep -m 1 'primary lost')
echo "$why"
echo "$log" | grep -q "disk xvda: $img holds epoch $checkpoint " ||
	fail "the replica is not at checkpoint $checkpoint: $(echo "$log" | grep 'disk xvda')"
case $(on B "guest_state $name") in *p*) ;; *) fail "the promoted guest runs before its replica was read" ;; esac
a_released=$(events_since A "$mark" | awk '$2 == "release" { n = $3 } END { print n + 0 }')
[ "$checkpoint" -ge "$a_released" ] ||
	fail "B resumed from checkpoint $checkpoint, but A had released epoch $a_released"

r_ticks=$(ticks B "$img" | tr '\n' ' ')
k=$(ticks B "$img" | tail -n 1)
[ -n "$k" ] || fail "the replica holds no tick"
[ "$r_ticks" = "$(seq -s ' ' 1 "$k") " ] || fail "the replica's ticks are not 1..$k: $r_ticks"

must_on B "xl unpause $name" >/dev/null
t_unpause=$(now)
read_after() { awk -v t="$t_cut" '$1 > t && $2 != "-" { print $1, $2; exit }' "$EXPORT/counter.log"; }
counter_back() { [ -n "$(read_after)" ]; }
wait_until 60 counter_back || fail "the observer does not reach the guest at B"
sleep 2
kill "$poller"
c=$(read_after | cut -d' ' -f2)
t_back=$(read_after | cut -d' ' -f1)
before=$(awk -v t="$t_cut" '$1 <= t && $2 != "-" { v = $2; at = $1 } END { print at, v }' "$EXPORT/counter.log")
seen=${before#* }
[ "$c" -ge "$seen" ] || fail "the counter went back: the observer saw $seen from A, then $c from B"
p=$(first_tick B $name)
[ -n "$p" ] && { [ "$k" = "$p" ] || [ "$k" = $((p - 1)) ]; } ||
	fail "the resumed guest's first tick is ${p:-none}, but the replica holds ticks 1..$k"
wait_until 60 replica_has $((p + 2)) || fail "the promoted guest's tick $((p + 2)) is not on B's replica"

port=$(labhost bridge fdb show br br-lan | awk -v m="$mac" '$1 == m { print $3 }')
[ "$port" = b-lan ] || fail "the LAN finds the guest's MAC behind '${port:-nothing}', not B"
pkill -f "tcpdump -i obs0" 2>/dev/null
sleep 1
# what the LAN heard from the guest's MAC first once A's QEMU was gone
announce=$(observer tcpdump -r "$EXPORT/observer.pcap" -n -e -tt 2>/dev/null |
	awk -v t="$t_gone" -v c="$t_cut" -v m="$mac" '$1 > t && $2 == m {
		printf "%s after_failover_s=%.2f", ($0 ~ /Reverse Request/ ? "rarp" : "other"), $1 - c; exit }')
case $announce in rarp*) ;; *) fail "B did not announce the guest's MAC: ${announce:-nothing from it}" ;; esac
cutoff=$(awk -v a="${before%% *}" -v b="$t_back" 'BEGIN { printf "%.2f", b - a }')
held=$(awk -v a="$t_held" -v b="$t_unpause" 'BEGIN { printf "%.2f", b - a }')
timing "pair-failover failover_seconds=$t_failover observer_cutoff_seconds=$cutoff held_paused_seconds=$held cutoff_without_hold=$(awk -v c="$cutoff" -v h="$held" 'BEGIN { printf "%.2f", c - h }') checkpoint=$checkpoint a_released=$a_released replica_tick=$k first_tick_after=$p observer_first_from_b=$c observer_last_from_a=$seen announce=$(echo $announce | tr ' ' ,)"
on B "xl destroy $name"
