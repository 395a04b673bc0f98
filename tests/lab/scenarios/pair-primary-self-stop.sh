# Two hosts (runs on the lab host): a fault on a healthy primary (its
# output buffer's IFB is deleted under it, so the next epoch's barrier
# fails) ends protection: A tells B (fault), B destroys its copy and does
# not promote, the guest runs on at A, xrepl protect exits 1 saying why.
. "$PAIR_LIB"
name=ps1
idx=35
start_receiver
PROTECT_FLAGS="-F -d" protect_a_to_b $name $idx 10 >/dev/null
t0=$(now)
must_on A 'ip link del "$(ip -o link show type ifb | sed -n "s/^[0-9]*: \(xr-[^:@]*\).*/\1/p" | head -n 1)"' >/dev/null
rc=$(protect_ended $name 60) || fail "xrepl protect still runs 60 s after the fault"
took=$(since "$t0")
on A tail -n 4 /run/protect.log
[ "$rc" = 1 ] || fail "xrepl protect exited $rc after a fault, not 1"
st=$(on A "json_field state /run/xrepl/$name.primary.json")
[ "$st" = failed ] || fail "A's status says '$st', not failed"
on A "grep -q 'buffering failed\\|release failed' /run/protect.log" || fail "A's log does not name the fault"
on B "grep -q 'the primary stopped protection (fault)' /run/receive.log" ||
	fail "B was not told: $(on B tail -n 3 /run/receive.log)"
sleep 10
on B "grep -q failover /run/receive.log" && fail "B failed over after the primary's fault"
left=$(copies $name)
case "$left" in "A:$name:"*" ") ;; *) fail "not one copy, on A: $left" ;; esac
[ "$(echo "$left" | wc -w)" = 1 ] || fail "not one copy, on A: $left"
on A "runs_on $name 30" || fail "the guest does not run on at A"
timing "pair-primary-self-stop seconds_to_end=$took acked=$(acked A $name)"
