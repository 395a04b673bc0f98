#!/bin/bash
# The xrepl command line: help, version, errors.
. "$srcdir/tests/tap.sh"
xrepl=$builddir/tools/xrepl
out=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$out" "$tmp"' EXIT

"$xrepl" --help >"$out" 2>&1
check "--help exits 0" test $? = 0
check "--help lists version" grep -q '^  version ' "$out"
check "--help points at the man page" grep -q 'xrepl(8)' "$out"

"$xrepl" --version >"$out" 2>&1
check "--version prints the package version" grep -qx "xrepl $PACKAGE_VERSION" "$out"

"$xrepl" >"$out" 2>&1
check "no subcommand exits 1" test $? = 1
check "no subcommand prints usage" grep -q '^Usage: xrepl <cmd>' "$out"

"$xrepl" frobnicate >"$out" 2>&1
check "unknown subcommand exits 1" test $? = 1
check "unknown subcommand is named" grep -q "invalid subcommand \`frobnicate'" "$out"

"$xrepl" version --help >"$out" 2>&1
check "version --help exits 0" test $? = 0

"$xrepl" version >"$out" 2>&1
rc=$?
check "version prints the xrepl version" grep -qx "xrepl $PACKAGE_VERSION" "$out"
if [ -e /proc/xen/privcmd ]; then
	check "version in dom0 prints the Xen version" grep -q '^xen [0-9]' "$out"
else
	check "version outside Xen exits 1" test $rc = 1
	check "version outside Xen names /proc/xen/privcmd" \
		grep -q 'not a Xen control domain: /proc/xen/privcmd is missing' "$out"
fi

key=$(mktemp -u)
"$xrepl" genkey "$key" >"$out" 2>&1
check "genkey writes a key file" test -s "$key"
check "the key file is mode 0600" test "$(stat -c %a "$key")" = 600
check "the key is 64 hex digits" grep -qxE '[0-9a-f]{64}' "$key"
"$xrepl" genkey "$key" >"$out" 2>&1
check "genkey never overwrites" test $? = 1
check "genkey names the existing file" grep -q "cannot create key file $key: File exists" "$out"
rm -f "$key"

"$xrepl" bench codec /nonexistent.xlstream >"$out" 2>&1
check "bench on a missing file exits 1" test $? = 1
check "bench names the missing file" grep -q '/nonexistent.xlstream: No such file' "$out"

"$xrepl" protect -n -d guest backup >"$out" 2>&1
check "protect -n -d without -F is refused" grep -q 'add -F to mean it' "$out"
"$xrepl" receive --stdio --disk-map nothing >"$out" 2>&1
check "receive refuses a --disk-map without =" grep -q "disk-map wants FROM=TO, not .nothing'" "$out"
"$xrepl" receive --stdio --disk-buffer 0 >"$out" 2>&1
check "receive refuses a zero --disk-buffer" grep -q 'disk-buffer must be' "$out"
"$xrepl" protect -F -d --netbuf-limit 0 guest backup >"$out" 2>&1
check "protect refuses a zero netbuf limit" grep -q 'netbuf-limit must be' "$out"
"$xrepl" protect -F -d --netbuf-trace /nonexistent/dir/trace -k /dev/null guest backup >"$out" 2>&1
check "protect names an unwritable netbuf trace" \
	grep -q 'cannot open /nonexistent/dir/trace' "$out"
"$xrepl" protect -F -n -d -k /nonexistent/key guest backup >"$out" 2>&1
check "protect names a missing key file" \
	grep -q 'cannot open key file /nonexistent/key' "$out"
"$xrepl" protect -F -n -d --compress gzip guest backup >"$out" 2>&1
check "protect names an unknown compression" grep -q "unknown compression \`gzip'" "$out"
"$xrepl" disk-server >"$out" 2>&1
check "disk-server without an image exits 1" test $? = 1
check "disk-server without an image prints usage" grep -q 'Usage: xrepl disk-server' "$out"
"$xrepl" disk-server img --socket a --listen 1 >"$out" 2>&1
check "disk-server wants one of --socket and --listen" grep -q 'Usage: xrepl disk-server' "$out"
key=$(mktemp -u)
"$xrepl" genkey "$key" >/dev/null 2>&1
"$xrepl" receive --stdio -k "$key" --ack-trace /nonexistent/dir/trace </dev/null >"$out" 2>&1
check "receive names an unwritable ack trace" \
	grep -q 'cannot open /nonexistent/dir/trace' "$out"
chmod 644 "$key"
"$xrepl" receive --stdio -k "$key" </dev/null >"$out" 2>&1
check "a key file others may read is refused" test $? = 1
check "the refusal names the mode" grep -q "key file $key is open to group or others (mode 0644): chmod 600 it" "$out"
chmod 600 "$key"
# protocol 3's HELLO, in the clear: refused before anything else happens
printf '\001\000\000\000\044\000\000\000\003\000\000\000%032d' 0 |
	"$xrepl" receive --stdio -k "$key" >"$out" 2>&1
check "a peer in the clear is refused" test $? = 1
check "the refusal says it does not speak TLS 1.3" \
	grep -q "the peer does not speak TLS 1.3 (wrong version number)" "$out"
"$xrepl" receive --stdio --cert "$tmp/c.pem" </dev/null >"$out" 2>&1
check "a certificate without its key and CA is refused" \
	grep -q -- "--cert, --cert-key and --ca go together" "$out"
"$xrepl" receive --stdio -k "$key" --cert a --cert-key b --ca c </dev/null >"$out" 2>&1
check "a key and a certificate at once are refused" \
	grep -q -- "a pre-shared key or a certificate, not both" "$out"
"$xrepl" receive --stdio --cert /nonexistent.pem --cert-key b --ca c </dev/null >"$out" 2>&1
check "an unreadable certificate is named" grep -q "certificate /nonexistent.pem:" "$out"
"$xrepl" bench channel --mib 16 >"$out" 2>&1
check "bench channel measures TLS and the clear" \
	grep -q "^through TLS [0-9]* MB/s" "$out"
check "bench channel names the cipher" grep -q "^cipher TLS_" "$out"
check "bench channel says whether the kernel encrypted" \
	grep -qxE "kernel TLS (sends|no)" "$out"
"$xrepl" bench channel --mib 0 >"$out" 2>&1
check "bench channel refuses --mib 0" grep -q -- "--mib takes 1 to" "$out"
"$xrepl" receive --stdio -k "$key" --replica-dir relative </dev/null >"$out" 2>&1
check "receive wants an absolute --replica-dir" grep -q "replica-dir wants an absolute path" "$out"
"$xrepl" receive --stdio -k "$key" --quorum paxos </dev/null >"$out" 2>&1
check "receive names an unknown quorum source" grep -q -- "--quorum paxos: unknown (corosync or none)" "$out"
"$xrepl" receive --stdio -k "$key" --quorum-peer hostb </dev/null >"$out" 2>&1
check "a quorum peer without --quorum corosync is refused" \
	grep -q -- "--quorum-peer and --quorum-grace need --quorum corosync" "$out"
"$xrepl" protect -F -n -d -k "$key" --quorum corosync guest backup </dev/null >"$out" 2>&1
check "protect --quorum corosync without corosync exits 1" test $? = 1
check "protect --quorum corosync without corosync says so" \
	grep -q -- "--quorum corosync: corosync does not answer" "$out"
"$xrepl" protect -F -n -d -k "$key" guest 127.0.0.1:1 </dev/null >"$out" 2>&1
check "protect without a quorum warns of split brain" \
	grep -q "warning: nothing prevents split brain" "$out"

# a flood of connections that never authenticate forks 64 receivers, no more
port=$((20000 + $$ % 20000))
XREPL_RUN_DIR=$(mktemp -d -p "$tmp") "$xrepl" receive --listen "127.0.0.1:$port" -k "$key" --timeout 20000 >/dev/null 2>"$out" &
rpid=$!
for i in $(seq 50); do
	ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " && break
	sleep 0.1
done
for i in $(seq 70); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" && held+=("$fd")
done
for i in $(seq 50); do
	grep -q 'a connection refused: 64 receivers run already' "$out" && break
	sleep 0.1
done
check "receive --listen runs at most 64 receivers" \
	grep -q 'a connection refused: 64 receivers run already' "$out"
check "... and refuses the rest, not forking them" \
	test "$(pgrep -c -P $rpid)" = 64
for fd in "${held[@]}"; do exec {fd}>&-; done
# stopped PID: gone, or a zombie (it waits only for this shell's wait)
stopped() { [ ! -e "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat")" = Z ]; }
kill $rpid
for i in $(seq 100); do
	stopped $rpid && break
	sleep 0.1
done
check "receive --listen stops on SIGTERM while its receivers end" stopped $rpid
pkill -9 -P $rpid
kill -9 $rpid 2>/dev/null
wait $rpid
rm -f "$key"

"$xrepl" switchover >"$out" 2>&1
check "switchover wants a domain" grep -q 'Usage: xrepl switchover' "$out"
XREPL_RUN_DIR=$(mktemp -d -p "$tmp") "$xrepl" switchover nosuch >"$out" 2>&1
check "switchover of an unprotected domain exits 1" test $? = 1
check "switchover says no primary runs" grep -q 'no xrepl primary process for domain nosuch' "$out"
"$xrepl" receive >"$out" 2>&1
check "receive needs --stdio or --listen" grep -q 'Usage: xrepl receive' "$out"
XREPL_RUN_DIR=$(mktemp -d -p "$tmp") "$xrepl" failover nosuch >"$out" 2>&1
check "failover of an unknown domain exits 1" test $? = 1
check "failover says no receiver runs" grep -q 'no xrepl backup process for domain nosuch' "$out"

# status reads each array of a status file as far as it goes
rd=$(mktemp -d -p "$tmp")
echo '{"domain": "g", "role": "primary", "state": "protecting", "epochs": 5, "netbuf": [{"vif": "vif3.0", "held_packets": 1, "held_bytes": 2, "released_packets": 3, "released_bytes": 4, "dropped_packets": 0}], "disks": [{"vdev": "xvda", "sent_bytes": 4096}], "split_brain_guard": "none"}' >"$rd/g.primary.json"
echo '{"domain": "h", "role": "backup", "state": "receiving", "epochs": 5, "disks": [{"vdev": "xvdb", "replica": "/r.img", "committed": 5, "held_bytes": 0, "spilled_bytes": 0, "applied_writes": 7}]}' >"$rd/h.backup.json"
XREPL_RUN_DIR=$rd "$xrepl" status >"$out" 2>&1
check "status shows a primary's replicated disk" grep -q 'disk xvda: 4096 bytes of changes sent' "$out"
check "status shows a backup's replica" grep -q 'disk xvdb: replica /r.img at epoch 5, 0 bytes held, 0 spilled, 7 writes applied' "$out"
check "status lists only vifs under netbuf" test "$(grep -c ': held' "$out")" = 1
check "status says nothing guards a guest from split brain" \
	grep -q 'nothing prevents split brain' "$out"
sed 's/"domain": "g"/"domain": "g2"/' "$rd/g.primary.json" >"$rd/g2.primary.json"
XREPL_RUN_DIR=$rd "$xrepl" status g >"$out" 2>&1
check "status DOMAIN shows that domain only, not its prefix's others" \
	test "$(grep -c '^g' "$out")" = 1
XREPL_RUN_DIR=$rd "$xrepl" status nosuch >"$out" 2>&1
check "status of an unknown domain exits 1" test $? = 1
check "status of an unknown domain says so" grep -q "nothing in $rd about nosuch" "$out"
XREPL_RUN_DIR=$rd "$xrepl" status --json >"$out" 2>&1
check "status --json is one JSON array of every status" \
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert [x["domain"] for x in d] == ["g", "g2", "h"]' "$out"
XREPL_RUN_DIR=$(mktemp -d -p "$tmp") "$xrepl" status --json >"$out" 2>&1
check "status --json with nothing protected is an empty array" test "$(cat "$out")" = "[]"
XREPL_RUN_DIR=$rd "$xrepl" status --metrics >"$out" 2>&1
check "status --metrics: every line a comment or a labelled sample" \
	sh -c "! grep -vE '^# (HELP|TYPE) xrepl_[a-z_]+ |^xrepl_[a-z_]+\{[^}]*\} [0-9.e+-]+\$' '$out'"
check "status --metrics: one TYPE per family" \
	test "$(grep -c '^# TYPE xrepl_epochs_total counter' "$out")" = 1
check "status --metrics: epochs per guest and role" \
	grep -q '^xrepl_epochs_total{domain="h",role="backup"} 5$' "$out"
check "status --metrics: held output per vif" \
	grep -q '^xrepl_output_held_bytes{domain="g",role="primary",vif="vif3.0"} 2$' "$out"
check "status --metrics: the state and the guard as labels" \
	grep -q '^xrepl_state{domain="g2",role="primary",state="protecting",split_brain_guard="none"} 1$' "$out"
rm -rf "$rd"

check "man page renders without warnings" \
	sh -c "! MANWIDTH=80 man --warnings -l '$srcdir/tools/man/xrepl.8' 2>&1 >/dev/null | grep ."
tap_done
