# xrepl unprotect stops protection cleanly: the primary exits 0 and says
# so, the backup domain is destroyed, the guest runs on, nothing is left in
# /run/xrepl but the final status, and xrepl status shows the figures.
# Protection runs with --adaptive: the interval stays within 25..400 ms.
. /lab/lib.sh
name=pu1
PROTECT_FLAGS=--adaptive
xrepl genkey /run/$name.key || fail "xrepl genkey failed"
protect_with_retries "$name" 7 10 300 protect_to_localhost "$name" /run/$name.key
xrepl status | tee /run/status.txt
grep -q "^$name (primary): protecting" /run/status.txt || fail "xrepl status does not show $name"
xrepl status --json "$name" | grep -q '"role": "primary"' || fail "xrepl status --json lacks the primary"
xrepl unprotect "$name" || fail "xrepl unprotect failed"
wait "$ppid"
rc=$?
show_logs
[ $rc = 0 ] || fail "xrepl protect exited $rc after unprotect"
wait_for 30 sh -c "! xl list | grep -q -- '$name--incoming'" || fail "the backup domain is still there"
[ "$(json_field state "/run/xrepl/$name.primary.json")" = stopped ] || fail "status is not 'stopped'"
ls /run/xrepl/$name.*.pid 2>/dev/null && fail "pid files left behind"
pgrep -f '^xrepl receive' && fail "xrepl receive still runs"
runs_on "$name" 20 || fail "the guest stopped running"
case $(guest_state "$name") in *p*|*s*) fail "the guest is left paused" ;; esac
interval=$(json_field interval_ms "/run/xrepl/$name.primary.json")
[ "$interval" -ge 25 ] && [ "$interval" -le 400 ] ||
	fail "--adaptive chose an interval of $interval ms, outside 25..400"
timing "unprotect adaptive_interval_ms=$interval acked=$(json_field acked "/run/xrepl/$name.primary.json") left_behind=none"
xl destroy "$name"
