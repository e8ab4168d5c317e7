#!/usr/bin/env bash
# The project's copy of the UAPI header (kernel/include/uapi/linux/shadowpt.h)
# must be byte-identical to include/uapi/linux/shadowpt.h as created by the
# patch series. The file is rebuilt from the series alone: each patch's
# section for that path is cut out and applied with patch -p1 in a scratch
# directory. Exit 77 (meson: skipped) while no patch in the series adds it.
#
# Usage: check-uapi-copy.sh [KERNEL_DIR]   (default: this script's ../)
set -euo pipefail

kdir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
copy=$kdir/include/uapi/linux/shadowpt.h
series=$kdir/patches/series
path=include/uapi/linux/shadowpt.h

[[ -f $copy ]] || {
	echo "missing $copy"
	exit 1
}
if [[ ! -f $series ]]; then
	echo "SKIP: no $series yet"
	exit 77
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/tree"
found=0
while read -r name _; do
	[[ -z $name || $name == \#* ]] && continue
	p=$kdir/patches/$name
	[[ -f $p ]] || {
		echo "series lists missing patch $name"
		exit 1
	}
	# The section of the patch that belongs to $path.
	awk -v path="$path" '
		/^diff --git / { keep = ($3 == "a/" path || $4 == "b/" path); }
		/^-- $/ && keep { exit }
		keep { print }
	' "$p" >"$scratch/section.patch"
	[[ -s $scratch/section.patch ]] || continue
	found=1
	if ! (cd "$scratch/tree" && patch -p1 --batch --forward --no-backup-if-mismatch \
		-r - -s -i "$scratch/section.patch"); then
		echo "FAIL: the $path part of $name does not apply"
		exit 1
	fi
done <"$series"

if ((!found)); then
	echo "SKIP: no patch in the series touches $path"
	exit 77
fi
if [[ ! -f $scratch/tree/$path ]]; then
	echo "FAIL: the series deletes $path"
	exit 1
fi
if cmp "$copy" "$scratch/tree/$path"; then
	echo "ok: $copy is identical to the series' $path"
else
	diff -u "$copy" "$scratch/tree/$path" || true
	echo "FAIL: kernel/include/uapi/linux/shadowpt.h differs from the series' $path"
	exit 1
fi
