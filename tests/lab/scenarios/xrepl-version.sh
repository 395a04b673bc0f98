# This tree's xrepl, installed in dom0, reads the hypervisor's version
# through libxenctrl, and agrees with xl.
. /lab/lib.sh
out=$(xrepl version 2>&1) || fail "xrepl version failed: $out"
echo "$out"
want=$(xl info | awk '$1 == "xen_major" { ma = $3 } $1 == "xen_minor" { mi = $3 } END { print ma "." mi }')
echo "$out" | grep -q "^xen $want" || fail "xrepl says '$out', xl says $want"
timing "xrepl-version xen=$want"
