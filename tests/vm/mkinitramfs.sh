#!/usr/bin/env bash
# Build the initramfs for the shadowpt VM tests.
#
# Usage: mkinitramfs.sh -o OUT.cpio.gz [-b SRC[:DEST]]... [-f SRC:DEST]...
#                       [-t 'NAME COMMAND...']... [-T SECONDS]
#   -b SRC[:DEST]  executable to include (default DEST /bin/<basename>). A
#                  dynamically linked one brings its ldd libraries and loader.
#   -f SRC:DEST    any other file.
#   -t 'NAME CMD'  a test: /init runs CMD with /bin/sh in /tmp, in the order
#                  given, each under a timeout of -T seconds (default 1200).
#
# /init (busybox) mounts proc, sysfs, devtmpfs and tmpfs, prints
#   SHADOWPT-VM: BOOTED <uptime>
#   SHADOWPT-VM: BEGIN <name>        before each test,
#   SHADOWPT-VM: RESULT <name> <rc>  after it (rc 124/137: timed out),
#   SHADOWPT-VM: DONE
# and then ends the VM with `reboot -f`: QEMU runs with -no-reboot, so the
# guest reset makes it exit at once. (`poweroff -f` only halts this kernel:
# its ACPI finds no S5 power-off handler; it remains as a fallback, and
# run-vm.sh stops QEMU 30 s after DONE in any case.)
# A kernel command line option spt_only=name1,name2 runs only those tests.
#
# Needs: busybox-static (/bin/busybox), cpio, gzip; ldd for dynamic binaries.
set -euo pipefail

out=
timeout_s=1200
bins=()
files=()
tests=()
busybox=${BUSYBOX:-/bin/busybox}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

while getopts "o:b:f:t:T:h" opt; do
	case $opt in
	o) out=$OPTARG ;;
	b) bins+=("$OPTARG") ;;
	f) files+=("$OPTARG") ;;
	t) tests+=("$OPTARG") ;;
	T) timeout_s=$OPTARG ;;
	*) usage ;;
	esac
done
[[ -n $out ]] || usage
[[ -x $busybox ]] || die "$busybox missing (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,usr/sbin}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"

# Copy a file to the same or given path inside the image.
put() {
	local src=$1 dest=$2
	[[ -f $src ]] || die "no such file: $src"
	mkdir -p "$stage$(dirname "$dest")"
	cp -L --preserve=mode "$src" "$stage$dest"
}

for spec in ${bins[@]+"${bins[@]}"}; do
	src=${spec%%:*}
	dest=/bin/$(basename "$src")
	[[ $spec == *:* ]] && dest=${spec#*:}
	put "$src" "$dest"
	# Shared libraries and the loader of a dynamic executable.
	if libs=$(ldd "$src" 2>/dev/null); then
		while read -r lib; do
			[[ -n $lib && -e $stage$lib ]] && continue
			[[ -n $lib ]] && put "$lib" "$lib"
		done < <(printf '%s\n' "$libs" | sed -n -e 's/.*=> \(\/[^ ]*\) (0x.*/\1/p' \
			-e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p')
	fi
done
for spec in ${files[@]+"${files[@]}"}; do
	[[ $spec == *:* ]] || die "-f wants SRC:DEST, got $spec"
	put "${spec%%:*}" "${spec#*:}"
done

: >"$stage/etc/shadowpt-tests"
for t in ${tests[@]+"${tests[@]}"}; do
	name=${t%% *}
	[[ $name =~ ^[A-Za-z0-9_.+-]+$ ]] || die "bad test name in '$t'"
	[[ $t == *" "* ]] || die "test '$t' has no command"
	printf '%s\n' "$t" >>"$stage/etc/shadowpt-tests"
done

cat >"$stage/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
echo "SHADOWPT-VM: BOOTED \$(cut -d' ' -f1 /proc/uptime) s"
only=\$(sed -n 's/.*spt_only=\([^ ]*\).*/\1/p' /proc/cmdline)
while read -r name cmd; do
	[ -z "\$name" ] && continue
	case ",\$only," in ,,|*",\$name,"*) ;; *) continue ;; esac
	echo "SHADOWPT-VM: BEGIN \$name"
	start=\$(cut -d' ' -f1 /proc/uptime)
	( cd /tmp && exec timeout -s KILL $timeout_s /bin/sh -c "\$cmd" ) </dev/null
	rc=\$?
	echo "SHADOWPT-VM: RESULT \$name \$rc (\$start .. \$(cut -d' ' -f1 /proc/uptime) s)"
done </etc/shadowpt-tests
sync
echo "SHADOWPT-VM: DONE \$(cut -d' ' -f1 /proc/uptime) s"
reboot -f
sleep 5
poweroff -f
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($(du -k "$out" | cut -f1) KiB, ${#tests[@]} tests)" >&2
