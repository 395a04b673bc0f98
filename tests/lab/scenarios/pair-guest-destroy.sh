# Two hosts (runs on the lab host): `xl destroy' of a protected guest on a
# healthy primary ends protection at once: B is told (destroyed), destroys
# its copy and never runs it; no copy is left anywhere; A's status says
# guest-destroyed and xrepl protect exits 0. Then `xl save' of another
# protected guest: protection ends before the guest suspends for it (a
# checkpoint would resume it in the middle of the save), B is told (moved)
# and destroys its copy, the save succeeds, and `xl restore' runs the one
# copy there is.
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

# B's receiver listens on: it serves the next primary too
name=gd2
idx=35
PROTECT_FLAGS="-F -d" protect_a_to_b $name $idx 10 >/dev/null
t0=$(now)
out=$(on A "xl save $name /var/lib/xrepl/$name.save 2>&1") ||
	fail "xl save of a protected guest failed: $out"
rc=$(protect_ended $name 60) || fail "xrepl protect still runs 60 s after xl save"
took=$(since "$t0")
on A tail -n 3 /run/protect.log
[ "$rc" = 0 ] || fail "xrepl protect exited $rc after xl save"
st=$(on A "json_field state /run/xrepl/$name.primary.json")
[ "$st" = guest-saved-or-migrated ] || fail "A's status says '$st' after xl save"
on B "grep -q 'the primary stopped protection (moved)' /run/receive.log" ||
	fail "B was not told: $(on B tail -n 3 /run/receive.log)"
on B "grep -q failover /run/receive.log" && fail "B failed over after xl save"
left=$(copies $name)
[ -z "$left" ] || fail "copies of $name are left after xl save: $left"
must_on A "xl restore /var/lib/xrepl/$name.save" >/dev/null
runs_on_a() { case "$(copies $name)" in "A:$name:"*[rb]*) true ;; *) false ;; esac; }
wait_until 30 runs_on_a || fail "the saved guest does not run again after xl restore"
left=$(copies $name)
[ "$(echo $left | wc -w)" = 1 ] || fail "not one copy after xl restore: $left"
timing "pair-guest-save seconds_to_end=$took copies_after_restore=$left"
