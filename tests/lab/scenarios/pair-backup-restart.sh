# Two hosts (runs on the lab host): B's xrepl receive is restarted twice
# while a guest on A is protected (disk on block-xrepl, output buffered):
# stopped first (SIGTERM, as `systemctl restart' does: B destroys its copy,
# tells A, and keeps what its replica was last committed under), then
# killed (SIGKILL: nothing is said, the copy is left paused). Each time A
# runs the guest on unprotected and tries B again every 5 s, and
# protection resumes by itself once a receiver listens again, B destroying
# what a killed receiver left. After the stop the disk's sync sends only
# what changed since (the dirty chunks); after the kill the replica's state
# is gone, B hashes its replica and only the chunks that differ go (a
# checksum resync), not the disk's random 16 MiB again. Both byte counts
# are printed. B never runs the guest, and after each restart exactly one
# copy runs, with its backup.
. "$PAIR_LIB"
name=br1
idx=39
img=/var/lib/xrepl/$name.img
disk=$((64 << 20))
start_receiver
GUEST_SETUP="head -c 16M /dev/urandom >$img && truncate -s 64M $img" \
	GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=$img' ]" \
	protect_a_to_b $name $idx 10 >/dev/null

sessions() { on A "grep -c 'protecting $name (domain' /run/protect.log"; }
status() { on A "json_field $1 /run/xrepl/$name.primary.json"; }

# restart SIGNAL: ends B's receiver with SIGNAL, starts another once A runs
# the guest unprotected, and waits for 5 checkpoints of a new session
restart() {
	local sig=$1 n0 t0 took
	n0=$(sessions)
	t0=$(now)
	on B "pkill -$sig -f '^xrepl receive'"
	on B "wait_for 60 sh -c '! pgrep -f \"^xrepl receive\" >/dev/null'" ||
		fail "B's receiver still runs 60 s after SIG$sig"
	on B "grep -q 'failover:' /run/receive.log" && fail "B ran the guest on SIG$sig"
	wait_until 60 on A "grep -q 'trying its backup again' /run/protect.log" ||
		fail "A does not try B again after SIG$sig: $(on A tail -n 3 /run/protect.log)"
	on A "runs_on $name 10" || fail "the guest does not run on A while B is down"
	start_receiver
	again() {
		[ "$(sessions)" -gt "$n0" ] && [ "$(status state)" = protecting ] &&
			[ "$(status acked)" -ge 5 ] 2>/dev/null
	}
	wait_until 240 again ||
		fail "protection did not resume after SIG$sig: $(on A tail -n 5 /run/protect.log)"
	took=$(since "$t0")
	on A "grep -v 'All records' /run/protect.log | tail -n 4"
	on B "grep -q 'failover:' /run/receive.log" && fail "B ran the guest after SIG$sig"
	one_copy_and_backup $name ||
		fail "not one copy and its backup after SIG$sig (copies above)"
	sent=$(status sent_bytes)
	timing "pair-backup-restart signal=$sig seconds_to_protected_again=$took disk_sent_bytes=${sent:-?} disk_bytes=$disk"
}

restart TERM
[ "${sent:-$disk}" -lt $((4 << 20)) ] ||
	fail "the resync after a receiver's stop sent $sent bytes, not just what changed"
restart KILL
[ "${sent:-$disk}" -lt $((4 << 20)) ] ||
	fail "the sync after a receiver was killed sent $sent bytes, not just what differs"
on B "grep -q 'hashed for a checksum resync' /run/receive.log" ||
	fail "B did not hash its replica after its receiver was killed"
on B "grep -q 'left by a receiver that was killed' /run/receive.log" ||
	fail "B did not destroy the copy its killed receiver left"
