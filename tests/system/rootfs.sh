#!/usr/bin/env bash
# Build (once) a cached Debian root file system for system tests, and print its path.
#
#   tests/system/rootfs.sh --name NAME --arch amd64|arm64 [--packages "pkg pkg ..."]
#                          [--suite bookworm] [--cache-dir DIR] [--mirror URL]
#
#   --name       what the tree is for; the cache is /var/cache/movinet-ci/<name> unless
#                --cache-dir (or MOVINET_CI_CACHE=/some/dir, then <dir>/<name>) says otherwise
#   --arch       amd64, or arm64 (run through QEMU user emulation: this script installs
#                qemu-user-static and registers it with binfmt_misc, mounting it if absent)
#   --packages   extra Debian packages to install (space or comma separated)
#
# Prints the root file system's path on stdout (progress goes to stderr), e.g.
#   root=$(tests/system/rootfs.sh --name arm64-bookworm --arch arm64 --packages "python3 python3-venv")
# The tree is rebuilt only when this script, the arch, the suite or the package list change
# (a key file inside it records them). It is built in a temporary directory beside the cache
# and renamed into place, so an interrupted build never leaves a half tree behind; a lock
# lets several jobs ask for the same tree at once. Needs root (debootstrap); installs
# debootstrap itself when missing. Treat the tree as read-only: copy it or lay an overlay
# on it for each run (callers own their mounts).
set -euo pipefail

NAME="" ARCH="" PACKAGES="" SUITE=bookworm CACHE_DIR="" MIRROR=http://deb.debian.org/debian
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=${2:-}; shift 2 ;;
        --arch) ARCH=${2:-}; shift 2 ;;
        --packages) PACKAGES=${2:-}; shift 2 ;;
        --suite) SUITE=${2:-}; shift 2 ;;
        --cache-dir) CACHE_DIR=${2:-}; shift 2 ;;
        --mirror) MIRROR=${2:-}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "rootfs.sh: unknown option $1" >&2; usage ;;
    esac
done
[ -n "$NAME" ] || { echo "rootfs.sh: --name is required" >&2; exit 2; }
case "$ARCH" in amd64|arm64) ;; *) echo "rootfs.sh: --arch must be amd64 or arm64" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "rootfs.sh: needs root (debootstrap, binfmt_misc)" >&2; exit 1; }
CACHE_DIR=${CACHE_DIR:-${MOVINET_CI_CACHE:-/var/cache/movinet-ci}/$NAME}

log() { echo "rootfs.sh: $*" >&2; }

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2 ||
        { apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
          DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2; }
}

# arm64 programs run on an x86 host through qemu-aarch64-static, registered with the F flag
# (the kernel opens the interpreter at registration, so it works inside any chroot).
ensure_arm64_emulation() {
    [ "$(uname -m)" = aarch64 ] && return
    command -v qemu-aarch64-static >/dev/null || { log "installing qemu-user-static"; apt_install qemu-user-static; }
    local misc=/proc/sys/fs/binfmt_misc
    [ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc"
    if [ ! -e "$misc/qemu-aarch64" ]; then
        log "registering qemu-aarch64 with binfmt_misc"
        grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf > "$misc/register"
    fi
    grep -qx enabled "$misc/qemu-aarch64" || echo 1 > "$misc/qemu-aarch64"
}

[ "$ARCH" = arm64 ] && ensure_arm64_emulation
command -v debootstrap >/dev/null || { log "installing debootstrap"; apt_install debootstrap; }

packages=$(echo "$PACKAGES" | tr ', ' '\n\n' | sed '/^$/d' | sort -u | paste -sd, -)
key=$(printf '%s\n' "$ARCH" "$SUITE" "$MIRROR" "$packages" | cat - "$0" | sha256sum | cut -d' ' -f1)

mkdir -p "$(dirname "$CACHE_DIR")"
exec 9>"$CACHE_DIR.lock"
flock 9
if [ -f "$CACHE_DIR/.movinet-rootfs-key" ] && [ "$(cat "$CACHE_DIR/.movinet-rootfs-key")" = "$key" ]; then
    echo "$CACHE_DIR"
    exit 0
fi

tmp=$(mktemp -d "$CACHE_DIR.build.XXXXXX")
# An if, not `[ ] &&`: under set -e a false test as the trap's last command becomes the exit status.
cleanup() { if [ -n "${tmp:-}" ]; then rm -rf --one-file-system "$tmp"; fi; }
trap cleanup EXIT
log "building $SUITE/$ARCH in $CACHE_DIR (packages: ${packages:-none}); several minutes on first use"
debootstrap --arch="$ARCH" --variant=minbase ${packages:+--include="$packages"} \
    "$SUITE" "$tmp" "$MIRROR" > "$tmp.log" 2>&1 ||
    { tail -20 "$tmp.log" >&2; rm -f "$tmp.log"; log "debootstrap failed"; exit 1; }
rm -f "$tmp.log"
# Small and reproducible: no downloaded .debs; apt's package lists stay so that a later
# `apt-get install` inside works offline from a local repository too.
rm -rf "$tmp/var/cache/apt/archives/"*.deb
echo "$key" > "$tmp/.movinet-rootfs-key"

if [ -e "$CACHE_DIR" ]; then
    mv "$CACHE_DIR" "$CACHE_DIR.old.$$"
    rm -rf --one-file-system "$CACHE_DIR.old.$$"
fi
mv "$tmp" "$CACHE_DIR"
tmp=""
log "ready: $CACHE_DIR"
echo "$CACHE_DIR"
