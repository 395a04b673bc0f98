# Two hosts (runs on the lab host): B cannot build the guest's domain (a
# paused domain on B holds all but 64 MiB of its free memory). B says so to
# A at once; A's protection stops saying why, the guest runs on at A, and
# B is left with no domain of the guest's.
. "$PAIR_LIB"
name=rf1
idx=36
start_receiver
on B 'cfg=$(make_guest_cfg hog 40) && free=$(xl info free_memory) &&
	sed -i "s/^memory = .*/memory = $((free - 64))/" "$cfg" && xl create -p -q "$cfg"' ||
	fail "cannot fill B's memory"
echo "B's free memory: $(on B 'xl info free_memory') MiB"
must_on A "start_guest $name $idx" >/dev/null
t0=$(now)
must_on A "rm -f /run/xrepl/$name.primary.json; PROTECT_FLAGS='-F -d' protect_to_host $name b" >/dev/null
rc=$(protect_ended $name 120) || fail "xrepl protect still runs 120 s after it started"
took=$(since "$t0")
on A tail -n 3 /run/protect.log
on B "grep -v 'All records' /run/receive.log | tail -n 6"
[ "$rc" = 1 ] || fail "xrepl protect exited $rc, not 1"
on A "grep -q 'the backup stopped (fault): libxl could not build the backup domain' /run/protect.log" ||
	fail "A does not say that B could not build the domain"
st=$(on A "json_field state /run/xrepl/$name.primary.json")
[ "$st" = backup-stopped ] || fail "A's status says '$st', not backup-stopped"
on A "runs_on $name 30" || fail "the guest does not run on at A"
left=$(copies $name)
[ "$left" = "$(echo "$left" | grep -o "A:$name:[^ ]* ")" ] || fail "B keeps a domain: $left"
on B "xl destroy hog"
timing "pair-backup-restore-fails seconds_to_end=$took"
