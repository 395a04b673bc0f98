# Two hosts (runs on the lab host): faults and changes on a healthy primary
# that protection cannot cover end it, each time with A telling B (fault),
# B destroying its copy and not promoting, the guest running on at A and
# xrepl protect exiting 1 saying why: the output buffer's IFB deleted under
# it (the next epoch's barrier fails); then (FULL: the long suite),
# protected again, `xl mem-set' (the backup was not built for that
# memory); then, protected again, a vif plugged in with
# `xl network-attach' (its output would not be held).
. "$PAIR_LIB"
name=ps1
idx=35

# ends_on_fault WHAT LOG-PATTERN COMMAND: COMMAND on A ends protection
ends_on_fault() {
	local what=$1 pattern=$2 t0 took rc st left mark
	mark=$(on B "wc -l </run/receive.log")
	b_log() { on B "tail -n +$((mark + 1)) /run/receive.log"; }
	t0=$(now)
	must_on A "$3" >/dev/null
	rc=$(protect_ended $name 60) || fail "xrepl protect still runs 60 s after $what"
	took=$(since "$t0")
	on A tail -n 3 /run/protect.log
	[ "$rc" = 1 ] || fail "xrepl protect exited $rc after $what, not 1"
	st=$(on A "json_field state /run/xrepl/$name.primary.json")
	[ "$st" = failed ] || fail "A's status says '$st' after $what, not failed"
	on A "grep -q '$pattern' /run/protect.log" || fail "A's log does not name $what"
	told() { b_log | grep -q 'the primary stopped protection (fault)'; }
	wait_until 10 told || fail "B was not told of $what: $(b_log | tail -n 3)"
	sleep 5
	b_log | grep -q failover && fail "B failed over after $what"
	left=$(copies $name)
	case "$left" in "A:$name:"*" ") ;; *) fail "not one copy, on A, after $what: $left" ;; esac
	[ "$(echo "$left" | wc -w)" = 1 ] || fail "not one copy, on A, after $what: $left"
	on A "runs_on $name 30" || fail "the guest does not run on at A after $what"
	timing "pair-primary-self-stop fault=${what// /-} seconds_to_end=$took acked=$(acked A $name)"
}

# protect_again: the same running guest, protected anew
protect_again() {
	must_on A "rm -f /run/xrepl/$name.primary.json; PROTECT_FLAGS='-F -d' INTERVAL_MS=100 protect_to_host $name b" >/dev/null
	protected() { [ "$(acked A $name)" -ge 2 ] 2>/dev/null; }
	wait_until 120 protected || fail "the guest is not protected again: $(on A tail -n 3 /run/protect.log)"
}

start_receiver
PROTECT_FLAGS="-F -d" protect_a_to_b $name $idx 10 >/dev/null
ends_on_fault "a deleted IFB" 'buffering failed\|release failed' \
	'ip link del "$(ip -o link show type ifb | sed -n "s/^[0-9]*: \(xr-[^:@]*\).*/\1/p" | head -n 1)"'
# the same check as a vif's: the long suite (FULL) only
if [ -n "${FULL:-}" ]; then
	protect_again
	ends_on_fault "xl mem-set" 'memory target went from' "xl mem-set $name 112"
fi
protect_again
ends_on_fault "xl network-attach" "has 2 vif(s), not the 1" "xl network-attach $name bridge=xenbr0"
