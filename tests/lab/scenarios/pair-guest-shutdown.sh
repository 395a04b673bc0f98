# Two hosts (runs on the lab host): the protected guest's own end, on a
# healthy primary. With FULL (the long suite): an `xl shutdown' request
# reaches guest gs1 (disk on block-xrepl, output buffered) although
# checkpoints suspend it ten times a second, and gs3 reboots with
# on_reboot = "destroy"; always: guest gs2 crashes (a kernel panic). Each time protection ends at once with the reason,
# B destroys its copy and never runs it (still not 5 s later), xrepl
# protect applies the guest's on_crash/on_reboot (destroy: no copy
# anywhere), its status says what happened and it exits 0. Guest gs4,
# protected with --failover-on-crash, crashes too: A destroys it, B runs it
# from its last checkpoint, and exactly one copy is left, on B.
#
# The lab guest's kernel (Debian's, as a PVH guest) has no way to power a
# PVH domain off: on `xl shutdown' it prints "reboot: Power down" and runs
# on, so the poweroff's end of the domain cannot be shown here; gs1 shows
# that the request is not lost to a checkpoint's suspend request, and the
# reboot with on_reboot = "destroy" takes the same path a poweroff would.
. "$PAIR_LIB"

# guest_ends NAME INDEX HOW STOP STATE [XL.CFG-LINE]
guest_ends() {
	local name=$1 idx=$2 how=$3 stop=$4 state=$5 t0 took rc st left a_state
	local extra=${6:-"disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=/var/lib/xrepl/$name.img' ]"}
	GUEST_SETUP="truncate -s 64M /var/lib/xrepl/$name.img" \
		GUEST_EXTRA=$extra protect_a_to_b "$name" "$idx" 10 >/dev/null
	t0=$(now)
	case $how in
	reboot) must_on A "xl reboot $name" >/dev/null ;;
	*) guest_ctl "$idx" "$how" >/dev/null ;;
	esac
	rc=$(protect_ended "$name" 60) || fail "xrepl protect of $name still runs 60 s after the guest's $how"
	took=$(since "$t0")
	on A tail -n 3 /run/protect.log
	[ "$rc" = 0 ] || fail "xrepl protect exited $rc after the guest's $how"
	st=$(on A "json_field state /run/xrepl/$name.primary.json")
	[ "$st" = "$state" ] || fail "A's status says '$st' after the guest's $how, not $state"
	on A "grep -q 'checkpoints ($stop)' /run/protect.log" || fail "A's log does not say ($stop)"
	on B "grep -q 'the primary stopped protection ($stop)' /run/receive.log" ||
		fail "B was not told ($stop): $(on B tail -n 3 /run/receive.log)"
	sleep 5
	on B "grep -q 'failover' /run/receive.log" && fail "B failed over after the guest's $how"
	left=$(copies "$name")
	echo "copies 5 s later: ${left:-none}"
	case " $left" in *" B:"*) fail "B still has a copy of $name: $left" ;; esac
	# on_crash = "preserve" (the lab's) keeps a crashed domain, not running
	a_state=$(printf '%s\n' $left | sed -n "s/^A:$name://p")
	case $a_state in "" | *[csd]*) ;; *) fail "$name runs on A after its $how: $left" ;; esac
	timing "pair-guest-$how seconds_to_end=$took acked=$(acked A "$name") state=$st copies=${left:-none}"
	on A "xl destroy $name" 2>/dev/null
	on A lab_reset
	on B lab_reset
	start_receiver
}

# the request is taken although protection keeps suspending the guest
request_reaches() {
	local name=gs1 idx=31 t0 took
	GUEST_SETUP="truncate -s 64M /var/lib/xrepl/$name.img" \
		GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=/var/lib/xrepl/$name.img' ]" \
		protect_a_to_b "$name" "$idx" 10 >/dev/null
	t0=$(now)
	must_on A "xl shutdown $name" >/dev/null
	on A "wait_console $name 'reboot: Power down' 60" ||
		fail "the guest never took xl shutdown's request under protection: $(on A tail -n 3 /run/protect.log)"
	took=$(since "$t0")
	on A "[ -e /run/xrepl/$name.primary.pid ]" ||
		fail "protection ended on a request the guest took"
	timing "pair-guest-shutdown request_taken_seconds=$took"
	on A "xl destroy $name"
	protect_ended "$name" 60 >/dev/null || fail "xrepl protect still runs after xl destroy"
	on A lab_reset
	on B lab_reset
	start_receiver
}

# --failover-on-crash: a crash destroys the guest on A, and B runs it from
# its last checkpoint: one copy, on B. The lab's crash is the guest's own
# doing (its control port): when a checkpoint falls between the command
# and the panic, the copy on B replays the command and crashes too, which
# is still the one copy, on B
crash_fails_over() {
	local name=gs4 idx=34 t0 took rc st left
	GUEST_SETUP="truncate -s 64M /var/lib/xrepl/$name.img" \
		GUEST_EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,script=block-xrepl,target=/var/lib/xrepl/$name.img' ]" \
		PROTECT_FLAGS=--failover-on-crash protect_a_to_b "$name" "$idx" 10 >/dev/null
	t0=$(now)
	guest_ctl "$idx" crash >/dev/null
	rc=$(protect_ended "$name" 60) || fail "xrepl protect of $name still runs 60 s after the crash"
	on B "wait_for 60 grep -q 'failover: $name runs as domain' /run/receive.log" ||
		fail "B did not run the crashed guest: $(on B tail -n 3 /run/receive.log)"
	took=$(since "$t0")
	on A tail -n 2 /run/protect.log
	[ "$rc" = 0 ] || fail "xrepl protect exited $rc after the crash"
	st=$(on A "json_field state /run/xrepl/$name.primary.json")
	[ "$st" = resurrected-on-backup ] || fail "A's status says '$st' after the crash"
	on B "grep -q 'the guest crashed on the primary' /run/receive.log" ||
		fail "B does not say why it runs the guest"
	left=$(copies "$name")
	echo "copies: $left"
	case "$left" in "B:$name:"*) ;; *) fail "no copy on B after the crash: $left" ;; esac
	[ "$(echo "$left" | wc -w)" = 1 ] || fail "more than one copy after the crash: $left"
	timing "pair-guest-crash-failover seconds_to_running_on_b=$took copies=$left"
	on B "xl destroy $name"
	on A lab_reset
	on B lab_reset
	start_receiver
}

start_receiver
# pair-guest-reboot proves a request is not lost to a checkpoint, and the
# reboot's stop: these two in the long suite (FULL) only
if [ -n "${FULL:-}" ]; then
	request_reaches
	guest_ends gs3 33 reboot reboot guest-rebooting "on_reboot = 'destroy'"
fi
guest_ends gs2 32 crash crash guest-crashed
crash_fails_over
