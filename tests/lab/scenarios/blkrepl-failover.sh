# A protected PVH guest whose disk is on block-xrepl: every second it writes
# "tick N" at sector N (synced) before its counter moves on. xrepl receive
# on this host keeps the replica in another file (--disk-map). The backup
# is stalled for a while so that the primary's disk runs ahead of the last
# acknowledged checkpoint, then the primary dies. The promoted guest is held
# paused (an extra pause on the incoming domain) while the replica is read:
# it must be, byte for byte, the primary's disk with exactly the ticks the
# checkpoint's memory says were written (its counter, read once it runs,
# allowing the one write that may have been in flight) and none of the
# later ones. Then the guest runs on, writing to the replica.
. /lab/lib.sh
EPOCHS=${EPOCHS:-30}
name=bf1
img=/var/lib/xrepl/$name.img
replica=/var/lib/xrepl/$name-replica.img
status=/run/xrepl/$name.primary.json
mkdir -p /var/lib/xrepl
ln -sf /usr/local/etc/xen/scripts/block-xrepl /etc/xen/scripts/block-xrepl
rm -f "$img" "$replica"
truncate -s 64M "$img"

# the ticks FILE holds (sectors 0..999), one number a line, sorted
ticks() { head -c 512000 "$1" | tr -c '[:alnum:] \n' '\n' | sed -n 's/^tick \([0-9]*\)$/\1/p' | sort -n; }
has_tick() { head -c 512000 "$1" | grep -qa "tick $2\$"; }

xrepl genkey /run/$name.key || fail "xrepl genkey failed"
DISKS= RECEIVE_FLAGS="--disk-map $img=$replica" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_with_retries "$name" 11 "$EPOCHS" 400 protect_to_localhost "$name" /run/$name.key
grep -q '"vdev": "xvda"' "$status" || fail "the primary does not replicate xvda: $(cat "$status")"
[ -f "$replica" ] || fail "the backup made no replica at $replica"
first=$(ticks "$img" | tail -n 1)
wait_for 90 has_tick "$replica" $((first + 2)) ||
	{ show_logs; fail "the replica never got tick $((first + 2)) (has: $(ticks "$replica" | tail -n 1))"; }

# Stall the backup: the primary's guest writes on, unacknowledged.
xl pause "$name--incoming" || fail "cannot pause the incoming domain"
rpid=$(pgrep -f "^xrepl receive --stdio -k /run/$name.key")
[ -n "$rpid" ] || fail "no xrepl receive process"
p_acked=$(json_field acked "$status")
kill -STOP "$rpid"
# two more ticks, if the primary's ACK timeout (5 s) allows
before=$(ticks "$img" | tail -n 1)
wait_for 4 has_tick "$img" $((before + 2)) || true
kill -STOP "$ppid"
xl destroy "$name"
kill -9 "$ppid"
t0=$(now)
kill -CONT "$rpid"
failed_over() { grep -q "failover: $name runs as domain" /run/receive.log; }
wait_for 120 failed_over || { show_logs; fail "the backup did not take over within 120 s"; }
t_failover=$(since "$t0")
checkpoint=$(sed -n "s/.*failover: $name runs as domain [0-9]* from checkpoint \([0-9]*\).*/\1/p" /run/receive.log)
grep -q "disk xvda: $replica holds epoch $checkpoint " /run/receive.log ||
	fail "the replica is not at checkpoint $checkpoint: $(grep 'disk xvda' /run/receive.log)"
case $(guest_state "$name") in *p*) ;; *) fail "the promoted guest runs before the replica was read" ;; esac

# The replica, held still.
p_ticks=$(ticks "$img" | tr '\n' ' ')
r_ticks=$(ticks "$replica" | tr '\n' ' ')
p_last=$(ticks "$img" | tail -n 1)
k=$(ticks "$replica" | tail -n 1)
[ -n "$k" ] || fail "the replica holds no tick"
[ "$r_ticks" = "$(seq -s ' ' 1 "$k") " ] || fail "the replica's ticks are not 1..$k: $r_ticks"
[ "$p_last" -ge $((k + 2)) ] ||
	fail "the primary's disk did not run ahead of the checkpoint (primary $p_last, replica $k)"
cmp -n $(((k + 1) * 512)) "$img" "$replica" || fail "sectors 0..$k differ from the primary's"
cmp -i $(((k + 1) * 512)) -n $(((1000 - k - 1) * 512)) "$replica" /dev/zero ||
	fail "the replica holds more than ticks 1..$k"
cmp -i 512000 "$img" "$replica" || fail "the replica differs beyond the ticks"

# What the checkpoint's memory says was written: the counter it resumes
# with. The guest may finish one more tick before the read (counter one
# ahead), or a write in flight at the checkpoint may be on the replica and
# is rewritten by the guest's block frontend (replica one ahead).
xl unpause "$name" || fail "cannot unpause the promoted guest"
read_tick() { c=$(net_tick "$name") && [ -n "$c" ]; }
wait_for 60 read_tick || { show_logs; fail "the promoted guest does not answer on its heartbeat port"; }
[ "$k" -ge $((c - 1)) ] && [ "$k" -le $((c + 1)) ] ||
	fail "memory resumed at tick $c but the replica holds ticks 1..$k"
wait_for 60 has_tick "$replica" $((c + 2)) || fail "the promoted guest's tick $((c + 2)) is not on the replica"
timing "blkrepl-failover seconds=$t_failover acked_before_stall=$p_acked checkpoint=$checkpoint primary_last_tick=$p_last replica_last_tick=$k memory_tick=$c"
cp /run/protect.log /run/receive.log "$EXPORT/" 2>/dev/null
xl destroy "$name"
wait_for 20 sh -c "! ls /run/xrepl/disks/*.pid >/dev/null 2>&1" || fail "a disk-server is left: $(ls /run/xrepl/disks)"
rm -f "$img" "$replica"
