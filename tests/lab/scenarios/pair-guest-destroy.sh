# Two hosts (runs on the lab host): `xl destroy' of a protected guest on a
# healthy primary ends protection at once: B is told (destroyed), destroys
# its copy and never runs it; no copy is left anywhere; A's status says
# guest-destroyed and xrepl protect exits 0.
. "$PAIR_LIB"
name=gd1
idx=33
start_receiver
PROTECT_FLAGS="-F -d" protect_a_to_b $name $idx 10 >/dev/null
t0=$(now)
must_on A "xl destroy $name" >/dev/null
rc=$(protect_ended $name 60) || fail "xrepl protect still runs 60 s after xl destroy"
took=$(since "$t0")
on A tail -n 3 /run/protect.log
[ "$rc" = 0 ] || fail "xrepl protect exited $rc after xl destroy"
st=$(on A "json_field state /run/xrepl/$name.primary.json")
[ "$st" = guest-destroyed ] || fail "A's status says '$st', not guest-destroyed"
on B "grep -q 'the primary stopped protection (destroyed)' /run/receive.log" ||
	fail "B was not told: $(on B tail -n 3 /run/receive.log)"
sleep 10
on B "grep -q failover /run/receive.log" && fail "B failed over after xl destroy"
left=$(copies $name)
[ -z "$left" ] || fail "copies of $name are left: $left"
on A "ip -o link show type ifb | grep -q xr-" && fail "a netbuf IFB is left on A"
timing "pair-guest-destroy seconds_to_end=$took acked=$(acked A $name)"
