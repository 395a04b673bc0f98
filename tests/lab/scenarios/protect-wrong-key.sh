# A backup holding another key refuses the primary (TLS 1.3 PSK) before any domain
# exists; the primary says why, exits non-zero, and its guest runs on.
. /lab/lib.sh
name=pk1
rm -f /run/$name-a.key /run/$name-b.key
xrepl genkey /run/$name-a.key && xrepl genkey /run/$name-b.key || fail "xrepl genkey failed"
start_guest "$name" 5 || fail "guest did not boot"
protect_to_localhost "$name" /run/$name-a.key /run/$name-b.key
wait_for 60 sh -c "! kill -0 $ppid 2>/dev/null" || fail "xrepl protect did not give up"
wait "$ppid"
rc=$?
show_logs
[ $rc != 0 ] || fail "xrepl protect exited 0 against a wrong key"
grep -q "authentication failed" /run/protect.log ||
	fail "the primary did not say authentication failed"
grep -q "the peer does not hold our key" /run/receive.log ||
	fail "the backup did not log the refusal"
xl list | grep -q -- "$name--incoming" && fail "a backup domain was created"
[ ! -e "/run/xrepl/$name.primary.pid" ] || fail "the primary left its pid file"
runs_on "$name" 20 || fail "the guest stopped running"
timing "wrong-key refused=yes backup_domain=none"
xl destroy "$name"
# what TLS costs dom0's emulated CPU (no AES instructions: ChaCha20), with
# OpenSSL encrypting and with the kernel (kTLS, the tls module) sending
channel() {
	env "$@" xrepl bench channel --mib 32 >/run/channel.log 2>&1 ||
		fail "xrepl bench channel $*: $(cat /run/channel.log)"
	field() { sed -n "s/^$1 \([^ ]*\).*/\1/p" /run/channel.log; }
	timing "channel $* cipher=$(field cipher) kernel_tls=$(field 'kernel TLS')" \
		"handshake_ms=$(field handshake) tls_MBps=$(field 'through TLS')" \
		"clear_MBps=$(field 'in the clear')"
}
channel XREPL_TLS_KTLS=0
channel XREPL_TLS_KTLS=1
grep -q '^kernel TLS sends' /run/channel.log ||
	fail "kernel TLS was asked for and not used: $(cat /run/channel.log)"
