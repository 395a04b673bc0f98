#!/bin/bash
# images.sh: builds (or reuses) the lab images under $LAB_DIR:
#   xen.elf    Debian's Xen 4.17, gunzipped to the multiboot ELF QEMU boots
#   vmlinuz    Debian's kernel, for dom0 and the guests
#   dom0.cpio  dom0's root: Debian bookworm (mmdebstrap) + xen-utils + the
#              runtime libraries xrepl links + pruned kernel modules + the
#              guest kernel/initramfs + our /init and helpers
# Each stage is skipped when its output exists and its inputs are unchanged.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/xrepl-lab}
XENVER=4.17
mkdir -p "$LAB_DIR"/{debs,stage}
cd "$LAB_DIR"
log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*"; }

# python3, tcpdump, iproute2, e2fsprogs, ping and nc: the two-host lab
# (pair.sh): its agent client, the observer and the hosts' data disks.
HOST_PKGS="qemu-system-x86 mmdebstrap cpio busybox-static kmod python3 tcpdump
	iproute2 e2fsprogs iputils-ping netcat-openbsd corosync-qnetd"
need=()
for p in $HOST_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ] || [ ! -e .apt-updated ]; then
	log "apt-get update"
	apt-get update -q >/dev/null
	touch .apt-updated
fi
if [ ${#need[@]} -gt 0 ]; then
	log "installing host packages: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}" >/dev/null
fi

KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$KPKG" ] || { echo "images.sh: cannot resolve linux-image-amd64" >&2; exit 1; }
KVER=${KPKG#linux-image-}
for p in "xen-hypervisor-$XENVER-amd64" "$KPKG"; do
	ls debs/"${p}"_*.deb >/dev/null 2>&1 && continue
	log "apt-get download $p"
	(cd debs && apt-get download -q "$p" 2>&1 | grep -v unsandboxed || true)
	ls debs/"${p}"_*.deb >/dev/null 2>&1 || { echo "images.sh: download of $p failed" >&2; exit 1; }
done
deb() { ls debs/"$1"_*.deb | head -1; }

if [ ! -s xen.elf ]; then
	rm -rf stage/hv && mkdir -p stage/hv
	dpkg -x "$(deb "xen-hypervisor-$XENVER-amd64")" stage/hv
	zcat stage/hv/boot/xen-$XENVER-amd64.gz >xen.elf.tmp && mv xen.elf.tmp xen.elf
fi
if [ ! -e "stage/kernel/lib/modules/$KVER/modules.dep" ]; then
	rm -rf stage/kernel && mkdir -p stage/kernel
	dpkg -x "$(deb "$KPKG")" stage/kernel
	depmod -b stage/kernel "$KVER"
fi
cp -u "stage/kernel/boot/vmlinuz-$KVER" vmlinuz

# tcpdump and the libraries xrepl is linked against ride along in dom0;
# qemu-guest-agent is how the two-host lab runs commands there; corosync
# and corosync-qdevice make its hosts a cluster (tests/lab/pair/lib.sh).
DOM0_PKGS="xen-utils-$XENVER,xenstore-utils,iproute2,bridge-utils,kmod,busybox,procps,mount,iputils-ping,netcat-openbsd,tcpdump,nbd-client,strace,liblz4-1,libnl-3-200,libnl-route-3-200,libssl3,qemu-guest-agent,corosync,corosync-qdevice"
if [ ! -s dom0-rootfs.tar ] || [ "$(cat dom0-rootfs.pkgs 2>/dev/null)" != "$DOM0_PKGS" ]; then
	log "mmdebstrap dom0 rootfs"
	src=/etc/apt/sources.list.d/debian.sources
	[ -e $src ] || src=/etc/apt/sources.list
	mmdebstrap -q --variant=essential --include="$DOM0_PKGS" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		bookworm dom0-rootfs.tmp.tar "$src"
	mv dom0-rootfs.tmp.tar dom0-rootfs.tar
	echo "$DOM0_PKGS" >dom0-rootfs.pkgs
	rm -f dom0.cpio
fi

DOM0_MODS="xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback
	xen-netback loop bridge veth ifb sch_plug sch_ingress sch_prio
	cls_u32 cls_basic cls_matchall act_mirred nbd virtio_pci virtio_blk
	virtio_net virtio_console sch_netem ext4 tls chacha20poly1305
	chacha_generic poly1305_generic"
GUEST_MODS="xen-netfront xen-blkfront ipv6"

# copy_modules ROOT MODULE...: the modules and their dependencies
copy_modules() {
	local root=$1 ko rel
	shift
	for m in "$@"; do
		modprobe -d "$LAB_DIR/stage/kernel" -S "$KVER" --show-depends "$m" |
			awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r ko; do
		rel=${ko#"$LAB_DIR"/stage/kernel/}
		mkdir -p "$root/usr/$(dirname "$rel")"
		cp "$ko" "$root/usr/$rel"
	done
	cp stage/kernel/lib/modules/"$KVER"/modules.{order,builtin,builtin.modinfo} \
		"$root/usr/lib/modules/$KVER/"
	depmod -b "$root" "$KVER"
}

# The cpio images depend on our own files too: rebuild when they change.
inputs=$(cat "$HERE/images.sh" "$HERE"/dom0/* "$HERE"/guest/* | md5sum | cut -d' ' -f1)
if [ ! -s dom0.cpio ] || [ "$(cat dom0.inputs 2>/dev/null)" != "$inputs" ]; then
	log "building guest initramfs"
	rm -rf guestroot && mkdir -p guestroot/{bin,proc,sys,dev,tmp,usr/lib/modules}
	ln -s usr/lib guestroot/lib
	cp /bin/busybox guestroot/bin/busybox
	copy_modules "$LAB_DIR/guestroot" $GUEST_MODS
	install -m 755 "$HERE/guest/init" guestroot/init
	(cd guestroot && find . | cpio -o -H newc --quiet) >guest.cpio

	log "assembling dom0 initramfs"
	rm -rf dom0root && mkdir dom0root
	tar -C dom0root -xf dom0-rootfs.tar
	rm -rf dom0root/var/cache/apt/* dom0root/var/lib/apt/lists/*
	copy_modules "$LAB_DIR/dom0root" $DOM0_MODS
	mkdir -p dom0root/lab
	cp vmlinuz dom0root/lab/vmlinuz
	cp guest.cpio dom0root/lab/guest.cpio
	echo $DOM0_MODS | tr ' ' '\n' >dom0root/lab/modules.txt
	install -m 755 "$HERE/dom0/init" dom0root/init
	install -m 644 "$HERE/dom0/lib.sh" dom0root/lab/lib.sh
	install -m 755 "$HERE/dom0/run-scenarios" dom0root/lab/run-scenarios
	install -m 755 "$HERE/dom0/pair-host" dom0root/lab/pair-host
	install -m 644 "$HERE"/guest/*.cfg dom0root/lab/
	(cd dom0root && find . | cpio -o -H newc --quiet) >dom0.cpio.tmp
	mv dom0.cpio.tmp dom0.cpio
	echo "$inputs" >dom0.inputs
	rm -rf dom0root guestroot
	log "dom0.cpio: $(du -h dom0.cpio | cut -f1)"
fi
{
	echo "host: $(. /etc/os-release; echo "$PRETTY_NAME") qemu $(dpkg-query -W -f='${Version}' qemu-system-x86)"
	for f in debs/*.deb; do dpkg-deb -f "$f" Package Version | paste -sd' '; done
	tar -xOf dom0-rootfs.tar ./var/lib/dpkg/status 2>/dev/null |
		awk '/^Package: xen-utils/ { p = $2 } p && /^Version:/ { print p, $2; p = "" }'
} >versions.txt
