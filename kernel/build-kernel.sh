#!/usr/bin/env bash
# Build (or fetch from the cache) the shadowpt test kernel.
#
# Usage: kernel/build-kernel.sh [--nodebug] [--unpatched]
#   Prints progress and timings on stderr and, as the LAST line on stdout,
#   the path of the bzImage. Next to it in the same directory:
#   config (the merged .config), headers/include (make headers_install),
#   build.log, inputs (what the cache key was computed from).
#   --nodebug    also merge kernel/config/shadowpt-nodebug.config: the same
#                kernel without KASAN and lockdep (for overhead figures)
#   --unpatched  no patch series at all (the baseline kernel), in its own
#                source tree so that switching does not rebuild everything
#
# Base: Debian's linux-source-6.12 (/usr/src/linux-source-6.12.tar.xz).
# Patches: kernel/patches/series (quilt style: one file name per line,
# '#' comments), each applied with `patch -p1`; any failing hunk is fatal.
# Config: `make tinyconfig` + kernel/config/shadowpt-test.config, merged
# with scripts/kconfig/merge_config.sh -n and verified symbol by symbol.
#
# Cache: $SHADOWPT_KERNEL_CACHE (default /var/cache/shadowpt/kernel, or
# ~/.cache/shadowpt/kernel when that cannot be created)/<key>/
# where <key> = sha256 over the series, the listed patches, the config
# fragment, this script, the tarball identity (name/size/mtime) and the
# compiler version. A hit returns at once. A miss rebuilds incrementally in
# a persistent tree: work/src-<tarball-id>/ (a git repo of the pristine
# source; files touched by the previous or the new series are rewritten
# only when their content changes, so untouched files keep their mtimes) and
# work/out-<config-key>/ (the O= output directory). An flock on
# <cache>/.lock serialises concurrent invocations.
#
# Environment: SHADOWPT_KERNEL_CACHE, SHADOWPT_KERNEL_JOBS (default nproc),
#   SHADOWPT_KERNEL_TARBALL, SHADOWPT_PATCH_DIR (default kernel/patches),
#   SHADOWPT_KERNEL_VERBOSE=1 (stream make output to stderr).
#
# Needs (Debian 12): build-essential bc bison flex libelf-dev libssl-dev
#   cpio kmod xz-utils git util-linux (flock) patch, and linux-source-6.12
#   (installed here with apt-get when the tarball is missing and we are root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
patchdir=${SHADOWPT_PATCH_DIR:-$here/patches}
fragment=$here/config/shadowpt-test.config
flavor=
unpatched=0
while (($#)); do
	case $1 in
	--nodebug) flavor=$here/config/shadowpt-nodebug.config ;;
	--unpatched) unpatched=1 ;;
	*)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	shift
done
tarball=${SHADOWPT_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
cache=${SHADOWPT_KERNEL_CACHE:-/var/cache/shadowpt/kernel}
if [[ -z ${SHADOWPT_KERNEL_CACHE:-} ]] && ! mkdir -p "$cache" 2>/dev/null; then
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/shadowpt/kernel # not root
fi
jobs=${SHADOWPT_KERNEL_JOBS:-$(nproc)}
export ARCH=x86_64
export LC_ALL=C

log() { printf '[build-kernel %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

t_start=$SECONDS

[[ -f $fragment ]] || die "config fragment missing: $fragment"
[[ -z $flavor || -f $flavor ]] || die "config fragment missing: $flavor"

# Every tool a build from scratch runs, checked even when the tree is warm
# and make would not run them: a newcomer's cold build needs them all
# (scripts/deps.sh test installs them; the fresh suite proves it).
missing=()
for tool in make gcc ld objcopy flex bison bc perl rsync tar xz patch git flock awk sed; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -f /usr/include/gelf.h ]] || missing+=("gelf.h (libelf-dev, for objtool)")
((${#missing[@]} == 0)) || die "missing build tools: ${missing[*]} (run scripts/deps.sh test)"

if [[ ! -f $tarball ]]; then
	if [[ $tarball == /usr/src/linux-source-6.12.tar.xz && $(id -u) == 0 ]]; then
		log "$tarball missing: apt-get install linux-source-6.12"
		DEBIAN_FRONTEND=noninteractive apt-get install -y linux-source-6.12 >&2 ||
			die "apt-get install linux-source-6.12 failed"
	fi
	[[ -f $tarball ]] || die "kernel source tarball missing: $tarball (apt-get install linux-source-6.12)"
fi

# --- the patch list -------------------------------------------------------
patches=()
if ((!unpatched)) && [[ -f $patchdir/series ]]; then
	while read -r name _; do
		[[ -z $name || $name == \#* ]] && continue
		[[ -f $patchdir/$name ]] || die "series lists $name but $patchdir/$name does not exist"
		patches+=("$name")
	done <"$patchdir/series"
fi

# --- cache key --------------------------------------------------------------
tar_id="$(basename "$tarball") $(stat -c '%s %Y' "$tarball")"
cc_id=$(gcc --version | head -n1)
inputs=$(
	printf 'tarball: %s\ncompiler: %s\n' "$tar_id" "$cc_id"
	printf 'script: %s\n' "$(sha256sum <"$self" | cut -d' ' -f1)"
	printf 'fragment: %s\n' "$(sha256sum <"$fragment" | cut -d' ' -f1)"
	if [[ -n $flavor ]]; then
		printf 'flavor %s: %s\n' "$(basename "$flavor")" "$(sha256sum <"$flavor" | cut -d' ' -f1)"
	fi
	if ((unpatched)); then
		printf 'unpatched\n'
	elif [[ -f $patchdir/series ]]; then
		printf 'series: %s\n' "$(sha256sum <"$patchdir/series" | cut -d' ' -f1)"
	fi
	for p in ${patches[@]+"${patches[@]}"}; do
		printf 'patch %s: %s\n' "$p" "$(sha256sum <"$patchdir/$p" | cut -d' ' -f1)"
	done
)
key=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
config_key=$(printf '%s\n%s\n%s\n%s\n%s\n' "$tar_id" "$cc_id" "$(sha256sum <"$fragment")" \
	"$( [[ -z $flavor ]] || sha256sum <"$flavor")" "$unpatched" | sha256sum | cut -c1-12)
tar_key=$(printf '%s\n' "$tar_id" | sha256sum | cut -c1-12)
((unpatched)) && tar_key=$tar_key-base
result=$cache/$key

if [[ -f $result/complete && -f $result/bzImage ]]; then
	log "cache hit: $result (${#patches[@]} patches)"
	echo "$result/bzImage"
	exit 0
fi

mkdir -p "$cache/work"
exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for the build lock $cache/.lock (another build is running)"
	flock 9
fi
if [[ -f $result/complete && -f $result/bzImage ]]; then
	log "cache hit after waiting for the lock: $result"
	echo "$result/bzImage"
	exit 0
fi

log "cache miss: key $key, ${#patches[@]} patches, config key $config_key"
src=$cache/work/src-$tar_key
out=$cache/work/out-$config_key
git_q() { git -C "$src" -c core.quotepath=off "$@"; }

# --- pristine source as a git repo ------------------------------------------
if [[ ! -f $src/.git/shadowpt-base-ok ]]; then
	t0=$SECONDS
	log "extracting $tarball into $src (one-time)"
	rm -rf "$src"
	mkdir -p "$src"
	tar -C "$src" --strip-components=1 -xf "$tarball"
	git_q init -q
	git_q config core.autocrlf false
	git_q config gc.auto 0
	git_q -c core.excludesFile=/dev/null add -A -f .
	git_q -c user.name=shadowpt -c user.email=shadowpt@localhost \
		commit -q -m "pristine $(basename "$tarball")"
	git_q tag -f base >/dev/null
	touch "$src/.git/shadowpt-base-ok"
	log "extracted and committed in $((SECONDS - t0)) s"
fi

# --- apply the series, rewriting only files whose content changes -----------
t0=$SECONDS
# Paths a patch touches (p1 names of both sides, renames included).
patch_paths() {
	if grep -q '^diff --git ' "$1"; then
		sed -n -e 's/^diff --git a\/\([^ ]*\) b\/\([^ ]*\)$/\1\n\2/p' \
			-e 's/^\(rename\|copy\) \(from\|to\) \(.*\)$/\3/p' "$1"
	else
		sed -n -e 's/^\(+++\|---\) [^\/]*\/\([^\t ]*\).*$/\2/p' "$1" |
			grep -v -x 'dev/null'
	fi | grep -v -x -e '' || true
}
scratch=$(mktemp -d "$cache/work/apply.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
{
	# Whatever differs from base now (the previous series, or stray edits).
	git_q diff --name-only base --
	git_q ls-files --others --exclude-standard -z | tr '\0' '\n'
	git_q ls-files --others --ignored --exclude-standard -z | tr '\0' '\n'
	for p in ${patches[@]+"${patches[@]}"}; do patch_paths "$patchdir/$p"; done
} | sort -u >"$scratch/paths"
mkdir "$scratch/tree"
# Base versions of all those paths into the scratch tree.
while IFS= read -r f; do
	if git_q cat-file -e "base:$f" 2>/dev/null; then
		mkdir -p "$scratch/tree/$(dirname "$f")"
		git_q show "base:$f" >"$scratch/tree/$f"
		if [[ $(git_q ls-tree base -- "$f" | cut -d' ' -f1) == 100755 ]]; then
			chmod +x "$scratch/tree/$f"
		fi
	fi
done <"$scratch/paths"
for p in ${patches[@]+"${patches[@]}"}; do
	if ! pout=$(cd "$scratch/tree" && patch -p1 --batch --forward \
		--no-backup-if-mismatch -r - -i "$patchdir/$p" 2>&1); then
		printf '%s\n' "$pout" >&2
		die "patch $p does not apply (patch -p1 failed; see above)"
	fi
	if grep -q -e 'with fuzz' -e 'offset' <<<"$pout"; then
		log "note: $p applied with offset/fuzz:"
		printf '%s\n' "$pout" | grep -e 'with fuzz' -e 'offset' >&2
	fi
done
# Sync: only rewrite a file whose content (or existence) changed.
changed=0
while IFS= read -r f; do
	if [[ -f $scratch/tree/$f ]]; then
		if ! cmp -s "$scratch/tree/$f" "$src/$f"; then
			mkdir -p "$src/$(dirname "$f")"
			rm -f "$src/$f"
			cp --preserve=mode "$scratch/tree/$f" "$src/$f"
			changed=$((changed + 1))
		fi
	elif [[ -e $src/$f ]]; then
		rm -f "$src/$f"
		changed=$((changed + 1))
	fi
done <"$scratch/paths"
log "applied ${#patches[@]} patches; $changed files rewritten; $((SECONDS - t0)) s"

# --- configure --------------------------------------------------------------
t0=$SECONDS
mkdir -p "$out"
mk() { make -C "$src" O="$out" LOCALVERSION= KBUILD_BUILD_USER=shadowpt \
	KBUILD_BUILD_HOST=shadowpt "$@"; }
with_patch=0
while IFS= read -r f; do
	case $f in
	*Kconfig*) grep -qs '^config SHADOWPT$' "$src/$f" && with_patch=1 ;;
	esac
done <"$scratch/paths"
# Effective fragment: drop "# needs-patch" settings unless the series
# defines CONFIG_SHADOWPT; strip the tag.
eff=$scratch/fragment.config
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+=[^#]*[^#[:space:]])[[:space:]]*#[[:space:]]*needs-patch ]]; then
		((with_patch)) && printf '%s\n' "${BASH_REMATCH[1]}"
	else
		printf '%s\n' "$line"
	fi
done < <(cat "$fragment" ${flavor:+"$flavor"}) >"$eff.all"
# A later line for the same symbol (the flavor's) replaces an earlier one.
awk '{ s = $0; sub(/^# /, "", s); sub(/[= ].*/, "", s)
	if (s ~ /^CONFIG_/) { if (!(s in at)) order[n++] = s; at[s] = $0 }
	else other[m++] = $0 }
	END { for (i = 0; i < m; i++) print other[i]; for (i = 0; i < n; i++) print at[order[i]] }' \
	"$eff.all" >"$eff"
if ((with_patch)); then
	log "series defines CONFIG_SHADOWPT: requiring it"
else
	log "series does not define CONFIG_SHADOWPT: needs-patch settings skipped"
fi
mk tinyconfig >"$scratch/config.log" 2>&1 || {
	cat "$scratch/config.log" >&2
	die "make tinyconfig failed"
}
(cd "$src" && scripts/kconfig/merge_config.sh -n -O "$out" "$out/.config" "$eff") \
	>>"$scratch/config.log" 2>&1 || {
	cat "$scratch/config.log" >&2
	die "merge_config.sh failed"
}
missing=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		grep -qxF "$line" "$out/.config" ||
			missing+=("$line (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$out/.config" || echo absent))")
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		if grep -qE "^${BASH_REMATCH[1]}=" "$out/.config"; then
			missing+=("$line (got: $(grep -E "^${BASH_REMATCH[1]}=" "$out/.config"))")
		fi
	fi
done <"$eff"
if ((${#missing[@]})); then
	log "these requested settings did not survive the merge (missing dependencies?):"
	printf '    %s\n' "${missing[@]}" >&2
	die "config verification failed"
fi
log "configured and verified in $((SECONDS - t0)) s"

# --- build ------------------------------------------------------------------
t0=$SECONDS
blog=$out/build.log
log "make -j$jobs bzImage (log: $blog)"
progress() {
	while sleep 60; do
		log "... still building, $(grep -c '^  [A-Z]' "$blog" 2>/dev/null || true) steps so far"
	done
}
if [[ ${SHADOWPT_KERNEL_VERBOSE:-0} == 1 ]]; then
	mk -j"$jobs" bzImage 2>&1 | tee "$blog" >&2 && rc=0 || rc=$?
else
	progress &
	ppid=$!
	mk -j"$jobs" bzImage >"$blog" 2>&1 && rc=0 || rc=$?
	kill "$ppid" 2>/dev/null || true
	wait "$ppid" 2>/dev/null || true
fi
if ((rc != 0)); then
	grep -E 'error|Error' "$blog" | head -n 40 >&2 || true
	tail -n 40 "$blog" >&2
	die "kernel build failed (full log: $blog)"
fi
t_build=$((SECONDS - t0))
log "bzImage built in $t_build s ($(grep -c '^  CC' "$blog" || true) CC steps)"

# --- headers_install, publish -----------------------------------------------
t0=$SECONDS
stage=$(mktemp -d "$cache/.stage-$key.XXXXXX")
mk headers_install INSTALL_HDR_PATH="$stage/headers" >"$scratch/headers.log" 2>&1 || {
	cat "$scratch/headers.log" >&2
	rm -rf "$stage"
	die "make headers_install failed"
}
if ((with_patch)) && [[ ! -f $stage/headers/include/linux/shadowpt.h ]]; then
	rm -rf "$stage"
	die "headers_install did not install linux/shadowpt.h"
fi
log "headers_install ok in $((SECONDS - t0)) s"
cp "$out/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$out/.config" "$stage/config"
cp "$blog" "$stage/build.log"
cp "$out/System.map" "$stage/System.map"
printf '%s\n' "$inputs" >"$stage/inputs"
printf 'build_seconds=%s\ntotal_seconds=%s\n' "$t_build" "$((SECONDS - t_start))" >"$stage/timings"
touch "$stage/complete"
chmod 755 "$stage"
rm -rf "$result"
mv "$stage" "$result"

# Keep the 6 most recent results and the 3 most recently used build trees
# (posix-extended: find's default emacs regex has no {16}, and matched none).
touch "$out"
{
	find "$cache" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}' -printf '%T@ %p\n' |
		sort -rn | tail -n +7
	find "$cache/work" -mindepth 1 -maxdepth 1 -type d -name 'out-*' -printf '%T@ %p\n' |
		sort -rn | tail -n +4
} | cut -d' ' -f2- | while IFS= read -r old; do
	log "pruning old cache entry $old"
	rm -rf "$old"
done

log "done in $((SECONDS - t_start)) s: $result/bzImage"
echo "$result/bzImage"
