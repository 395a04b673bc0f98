# Two hosts and their cluster (runs on the lab host; see
# pair-partition-replication): every link of A fails (carrier lost), so A
# reaches neither B nor the witness. A, no longer quorate, keeps its output
# held and pauses its guest; B, quorate with the witness's vote, promotes
# only once A's node has been out of its membership for the grace. The lab
# host asks both hosts through their agents (a serial port, not the
# network) in turn: A must be seen paused before B is seen running the
# guest, so that there is a moment known to have had no copy running.
# When A's links return its copy stays paused (xrepl never resumes a copy
# the backup may run), and the observer's counter never went back.
. "$PAIR_LIB"
name=pi1
idx=44
protect_in_cluster $name $idx
watch_counter "$(guest_ip $idx)" "$EXPORT/counter.log"
for h in A B; do on_bg $h /run/quorum.log quorum_watch; done

a_paused() { on A "[ \"\$(json_field state /run/xrepl/$name.primary.json)\" = isolated ]"; }
b_runs() { on B "s=\$(guest_state $name); [ -n \"\$s\" ] && case \$s in *p*) false ;; esac"; }
t0=$(now)
cut_link A
t_a= t_b= between=0
while [ -z "$t_b" ] && [ "$(awk -v s="$(since "$t0")" 'BEGIN { print (s < 150) }')" = 1 ]; do
	[ -z "$t_a" ] && a_paused && t_a=$(since "$t0")
	if b_runs; then
		t_b=$(since "$t0")
	elif [ -n "$t_a" ]; then
		between=1
	fi
	sleep 0.2
done
on A "grep 'backup lost\|says no' /run/protect.log"
on B "grep 'primary lost\|may run here\|failover:' /run/receive.log"
[ -n "$t_b" ] || fail "B did not run the guest within 150 s: $(on B tail -n 3 /run/receive.log)"
[ -n "$t_a" ] || fail "B runs the guest, and A's was not seen paused first: $(on A tail -n 3 /run/protect.log)"
[ $between = 1 ] || fail "A's guest was not seen paused while B's copy was not running yet"
on A "grep -q 'not quorate' /run/protect.log" || fail "A does not say it lost quorum"
case $(on A "guest_state $name") in *p*) ;; *) fail "A's copy is not paused: $(on A "guest_state $name")" ;; esac

restore_link A
read_b() { awk -v t="$t0" '$1 > t && $2 != "-" { found = 1 } END { exit !found }' "$EXPORT/counter.log"; }
wait_until 60 read_b || fail "the observer does not reach the guest at B"
sleep 5
kill "$poller"
case $(on A "guest_state $name") in *p*) ;; *) fail "A's copy runs again once its links returned" ;; esac
echo "copies: $(copies $name)"
where=$(counter_went_back "$EXPORT/counter.log") && fail "the observer's counter went back $where"
# each host's own clock: its carrier and quorum, as they changed
for h in A B; do echo "$h: <uptime> <mgmt0 carrier> <quorate> <votes>"; on $h "pkill -f 'quorum_watc[h]'; cat /run/quorum.log"; done
a_stale=$(on A "awk '\$2 == 0 && !c { c = \$1 } c && \$3 == \"No\" { printf \"%.1f\", \$1 - c; exit }' /run/quorum.log")
timing "pair-isolate-primary a_paused_seconds=$t_a b_runs_seconds=$t_b a_quorate_after_cut_seconds=${a_stale:-?}"
