#!/usr/bin/env bash
# The app on the Pi's own CPUs: arm64 Debian Bookworm under QEMU user emulation.
#
#   sudo tests/system/arm64.sh [--cpus "cortex-a72 cortex-a53 cortex-a76"] [--branches "debian pi-os"]
#   sudo tests/system/arm64.sh --rootfs-only    # only build (or find) the root file system
#
# For each set-up branch, in a fresh copy of a cached arm64 root file system
# (tests/system/rootfs.sh), with this working tree copied in as a user would clone it:
#   debian  plain Debian: `./setup.sh` as the README says (docs/install.md);
#   pi-os   Raspberry Pi OS as setup.sh detects it (/etc/rpi-issue), with a stand-in
#           python3-picamera2 .deb (tests/fakes/picamera2) in a local apt repository,
#           so setup.sh takes its apt, --system-site-packages and numpy-pinning path;
# then, for each CPU (cortex-a72: Pi 4/400/CM4, cortex-a53: Pi 3/Zero 2 W, cortex-a76:
# Pi 5), with a /proc/cpuinfo matching that CPU bound over QEMU's (which shows the x86
# host's, and the runtime's CPU detection then crashes): `python -m app demo`, the
# shared clips through `classify --json` compared with this machine's x86 run
# (tests/system/compare_scores.py states the tolerances), and the runtime tests (which
# runtime the CPU gets, loading the model under it). The engine and preprocessing tests
# run on one CPU per branch, its "full" CPU: debian on cortex-a76 (the Pi 5's kernels:
# dotprod, fp16; CompiledModel and interpreter), pi-os on cortex-a72 (the Pi 4's and
# Pi 3's kernels; the interpreter), or the first CPU given when that one is not; the
# other CPUs would repeat the same code on the same kernels. On pi-os also a snapshot
# from the stand-in Pi camera, on its full CPU.
#
# Needs root (chroot, mounts), this machine's .venv (the x86 reference; ./setup.sh makes
# it) and the assets folder (MOVINET_ASSETS_DIR, default ../shared/assets). Caches live
# in /var/cache/movinet-ci (MOVINET_CI_CACHE): the root file system and pip's downloads.
# Every mount is undone on exit, whatever happens. Emulated timings say nothing about a
# Pi's speed. Exit status: 0 when every run passed.
set -euo pipefail
PROJECT=$(cd "$(dirname "$0")/../.." && pwd)
CPUS="cortex-a72 cortex-a53 cortex-a76"
BRANCHES="debian pi-os"
ROOTFS_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cpus) CPUS=${2:-}; shift 2 ;;
        --branches) BRANCHES=${2:-}; shift 2 ;;
        --rootfs-only) ROOTFS_ONLY=1; shift ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "arm64.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "arm64.sh: needs root (chroot and mounts): sudo $0" >&2; exit 1; }
ASSETS=$(cd "${MOVINET_ASSETS_DIR:-$PROJECT/../shared/assets}" 2>/dev/null && pwd) ||
    { echo "arm64.sh: no assets folder: set MOVINET_ASSETS_DIR" >&2; exit 1; }
[ -x "$PROJECT/.venv/bin/python" ] || { echo "arm64.sh: needs the x86 .venv for reference: run ./setup.sh" >&2; exit 1; }
CACHE=${MOVINET_CI_CACHE:-/var/cache/movinet-ci}
# Compared with x86 (classify --json --context 0): 22 and 50 steps. Not the GIF: on its first step, which
# has no history, arm and x86 already differ by 0.56 in a score (measured on cortex-a76),
# so the pixels the model gets differ there, not the model.
CLIPS=(carving_ice_172.mp4 arm_wrestling.mp4)
TESTS=(tests/test_engine.py tests/test_engine_generic.py tests/test_preprocess.py tests/test_runtime.py)
CPU_TESTS=(tests/test_runtime.py)  # on every CPU; TESTS on each branch's full CPU
# Emulation runs a step some 10-50x slower: the long clips and the 800-step drift test run
# natively only (the same code on every CPU); each test still runs, on the short clips.
EMULATED_SELECTION="not bounded_context_keeps and not (carving_ice_360 or arm_wrestling or cleaning_pool or shooting_basketball)"
STEP_TIMEOUT=1200  # seconds: no emulated step may hang CI

say() { printf '==> [arm64] %s\n' "$*"; }

rootfs_started=$SECONDS
ROOTFS=$("$PROJECT/tests/system/rootfs.sh" --name arm64-bookworm --arch arm64 \
    --packages "python3 python3-venv python3-numpy ca-certificates fonts-dejavu-core")
say "root file system ready in $((SECONDS - rootfs_started)) s (cached after the first build)"
[ "$ROOTFS_ONLY" = 0 ] || exit 0

WORK=$(mkdir -p "$CACHE/tmp" && mktemp -d "$CACHE/tmp/arm64.XXXXXX")
MOUNTS=()
mount_and_track() {  # mount_and_track TARGET MOUNT-ARGS...: mount, and remember to undo it
    local target=$1; shift
    mount "$@" "$target"
    MOUNTS+=("$target")
}
unmount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTS[i]}" 2>/dev/null || umount -R -l "${MOUNTS[i]}" 2>/dev/null || true
    done
    MOUNTS=()
}
unmount_last() {
    umount "${MOUNTS[-1]}"
    unset 'MOUNTS[-1]'
}
JOBS=()
cleanup() {
    local job
    for job in "${JOBS[@]}"; do kill "${job%%:*}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    unmount_all
    # --one-file-system: never descend into a mount that somehow survived.
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A /proc/cpuinfo as the real board shows it: one block per host processor (the runtime's
# CPU library reads the count from sysfs, which is the host's), the CPU's part number and
# its feature flags (no atomics or dotprod before the Pi 5).
write_cpuinfo() {
    local cpu=$1 out=$2 features part variant revision model
    case "$cpu" in
        cortex-a72) features="fp asimd evtstrm crc32 cpuid"; part=0xd08; variant=0x0; revision=3
                    model="Raspberry Pi 4 Model B Rev 1.4" ;;
        cortex-a53) features="fp asimd evtstrm crc32 cpuid"; part=0xd03; variant=0x0; revision=4
                    model="Raspberry Pi Zero 2 W Rev 1.0" ;;
        cortex-a76) features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
                    part=0xd0b; variant=0x4; revision=1; model="Raspberry Pi 5 Model B Rev 1.0" ;;
        *) echo "arm64.sh: no cpuinfo for $cpu" >&2; return 1 ;;
    esac
    local n
    : > "$out"
    for ((n = 0; n < $(nproc --all); n++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$n" "$features" >> "$out"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision" >> "$out"
    done
    printf 'Revision\t: 000000\nSerial\t\t: 0000000000000000\nModel\t\t: %s\n' "$model" >> "$out"
}

# The stand-in camera package: the modules the tests use (tests/fakes: picamera2 and the
# libcamera it imports), installed where Debian's packages put them, depending on the
# system numpy as the real one does.
build_picamera2_repo() {
    local repo=$1 pkg
    pkg=$(mktemp -d "$WORK/deb.XXXXXX")
    mkdir -p "$pkg/DEBIAN" "$pkg/usr/lib/python3/dist-packages" "$repo"
    cp -r "$PROJECT/tests/fakes/picamera2" "$PROJECT/tests/fakes/libcamera" "$pkg/usr/lib/python3/dist-packages/"
    find "$pkg" -name __pycache__ -prune -exec rm -rf {} +
    cat > "$pkg/DEBIAN/control" <<EOF
Package: python3-picamera2
Version: 0.3.99+standin
Architecture: all
Maintainer: movinet-pi CI <ci@localhost>
Depends: python3-numpy
Description: stand-in for the Raspberry Pi camera library (tests/fakes)
EOF
    dpkg-deb --root-owner-group --build "$pkg" "$repo/python3-picamera2.deb" >/dev/null
    (
        cd "$repo"
        dpkg-deb --field python3-picamera2.deb
        echo "Filename: ./python3-picamera2.deb"
        echo "Size: $(stat -c %s python3-picamera2.deb)"
        echo "SHA256: $(sha256sum python3-picamera2.deb | cut -d' ' -f1)"
        echo
    ) > "$repo/Packages"
}

# pip inside must reach the same package index as out here: its config files, the CA
# bundle, and any local folder they point to.
copy_pip_setup() {
    local root=$1 conf dir
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    for conf in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
        [ -f "$conf" ] || continue
        mkdir -p "$root$(dirname "${conf/#$HOME//root}")"
        cp "$conf" "$root${conf/#$HOME//root}"
        for dir in $(grep -oE '(file://)?/[^[:space:]]+' "$conf" | sed 's|^file://||'); do
            while [ ! -d "$dir" ] && [ "$dir" != / ]; do dir=$(dirname "$dir"); done
            # A local index's pages (.../simple) link to files beside them.
            [ "$(basename "$dir")" = simple ] && dir=$(dirname "$dir")
            if [ "$dir" != / ] && ! printf '%s\n' "${MOUNTS[@]}" | grep -qx "$root$dir"; then
                mkdir -p "$root$dir"
                mount_and_track "$root$dir" --bind -o ro "$dir"
            fi
        done
    done
}

# prepare_root BRANCH: sets ROOT to a fresh writable copy of the cached tree (an overlay,
# or a plain copy where overlays are not available), with the project and system mounts.
# (Not run in $(...): the mounts it records must reach the cleanup.)
prepare_root() {
    local branch=$1 base="$WORK/$1"
    local root="$base/root"
    ROOT=$root
    mkdir -p "$base/upper" "$base/work" "$root"
    if ! mount_and_track "$root" -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$base/upper,workdir=$base/work" 2>/dev/null; then
        cp -a "$ROOTFS/." "$root/"
    fi
    mount_and_track "$root/proc" -t proc proc
    mount_and_track "$root/sys" --bind /sys
    mount_and_track "$root/dev" --rbind /dev  # with /dev/pts and /dev/shm (Python's semaphores)
    mount --make-rslave "$root/dev"  # so unmounting ours never propagates to the host's
    mkdir -p "$root/assets" "$root/root/.cache/pip" "$CACHE/pip-arm64"
    mount_and_track "$root/assets" --bind -o ro "$ASSETS"
    mount_and_track "$root/root/.cache/pip" --bind "$CACHE/pip-arm64"
    copy_pip_setup "$root"
    # The project as a fresh clone would have it: tracked and new files, none ignored
    # (without git: all but the venvs and downloads).
    mkdir -p "$root/movinet"
    if git -C "$PROJECT" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$PROJECT" ls-files -z --cached --others --exclude-standard |
            (cd "$PROJECT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$root/movinet"
    else
        tar -C "$PROJECT" --exclude='./.venv*' --exclude='./models/*.tflite' --exclude='./tests/assets' -cf - . |
            tar -xf - -C "$root/movinet"
    fi
    if [ "$branch" = pi-os ]; then
        echo "Raspberry Pi reference 2024-11-19 (stand-in written by tests/system/arm64.sh)" > "$root/etc/rpi-issue"
        build_picamera2_repo "$root/srv/standin-apt"
        echo "deb [trusted=yes] file:/srv/standin-apt ./" > "$root/etc/apt/sources.list.d/standin.list"
    fi
}

# inside ROOT CPU COMMAND...: run a shell command in the project inside the emulated Pi.
# (pip skips compiling every installed module, the slowest part of set-up under emulation;
# Python compiles what it imports.)
inside() {
    local root=$1 cpu=$2; shift 2
    local pass=()
    local var
    for var in $(compgen -e); do
        case "$var" in PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY) pass+=("$var=${!var}") ;; esac
    done
    QEMU_CPU=$cpu timeout "$STEP_TIMEOUT" chroot "$root" /usr/bin/env -i \
        HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 CI=true \
        QEMU_CPU="$cpu" MOVINET_ASSETS_DIR=/assets "${pass[@]}" PIP_NO_COMPILE=1 \
        /bin/bash -o pipefail -c "cd /movinet && $*"
}

x86_reference() {
    local out=$1
    (cd "$PROJECT" && MOVINET_ASSETS_DIR="$ASSETS" .venv/bin/python -m app classify --json --context 0 \
        "${CLIPS[@]/#/$ASSETS/clips/}") > "$out"
    sed -i "s|$ASSETS/clips/||" "$out"
}

FAILED=()
check() {  # check WHAT COMMAND...: run it, record a failure without stopping the matrix
    local what=$1; shift
    local started=$SECONDS
    if "$@"; then
        say "ok   $what ($((SECONDS - started)) s)"
    else
        local status=$?
        say "FAIL $what (exit $status$([ "$status" = 132 ] && echo ': Illegal instruction'))"
        FAILED+=("$what")
    fi
}

# full_cpu BRANCH: the CPU on which the branch runs every test module (see the top).
full_cpu() {
    local preferred
    case "$1" in debian) preferred=cortex-a76 ;; *) preferred=cortex-a72 ;; esac
    case " $CPUS " in *" $preferred "*) echo "$preferred" ;; *) echo "${CPUS%% *}" ;; esac
}

run_cpu() {
    local root=$1 branch=$2 cpu=$3 started=$SECONDS
    write_cpuinfo "$cpu" "$WORK/$branch/cpuinfo-$cpu"
    mount_and_track "$root/proc/cpuinfo" --bind "$WORK/$branch/cpuinfo-$cpu"
    check "$branch $cpu: demo" inside "$root" "$cpu" '.venv/bin/python -m app demo | tail -6'
    check "$branch $cpu: scores agree with x86" compare_with_x86 "$root" "$branch" "$cpu"
    if [ "$cpu" = "$(full_cpu "$branch")" ]; then
        check "$branch $cpu: engine, preprocessing and runtime tests" \
            inside "$root" "$cpu" ".venv/bin/python -m pytest -q -p no:cacheprovider -k '$EMULATED_SELECTION' ${TESTS[*]} 2>&1 | tail -15"
        if [ "$branch" = pi-os ]; then
            check "$branch $cpu: snapshot from the Pi camera (stand-in from apt)" inside "$root" "$cpu" \
                '.venv/bin/python -m app snapshot --source picam --seconds 2 -o /tmp/snapshot.png && test -s /tmp/snapshot.png'
        fi
    else
        check "$branch $cpu: runtime tests" \
            inside "$root" "$cpu" ".venv/bin/python -m pytest -q -p no:cacheprovider -k '$EMULATED_SELECTION' ${CPU_TESTS[*]} 2>&1 | tail -15"
    fi
    say "$branch $cpu: $((SECONDS - started)) s"
    unmount_last
}

compare_with_x86() {
    local root=$1 branch=$2 cpu=$3 out="$WORK/$2/arm64-$3.jsonl"
    inside "$root" "$cpu" ".venv/bin/python -m app classify --json --context 0 ${CLIPS[*]/#//assets/clips/}" > "$out" || return
    sed -i 's|/assets/clips/||' "$out"
    python3 "$PROJECT/tests/system/compare_scores.py" "$WORK/x86.jsonl" "$out"
}

setup_branch() {
    local root=$1 branch=$2 cpu=$3
    write_cpuinfo "$cpu" "$WORK/$branch/cpuinfo-setup"
    mount_and_track "$root/proc/cpuinfo" --bind "$WORK/$branch/cpuinfo-setup"
    # The README's install, then the test tools (setup.sh --dev would also pull Chromium
    # and Xvfb for tests that do not run here).
    inside "$root" "$cpu" './setup.sh && .venv/bin/python -m pip install --quiet pytest' || return
    if [ "$branch" = pi-os ]; then
        inside "$root" "$cpu" '.venv/bin/python -c "
import numpy, picamera2, subprocess
system = subprocess.check_output([\"/usr/bin/python3\", \"-c\", \"import numpy; print(numpy.__version__)\"], text=True).strip()
assert numpy.__version__ == system, (numpy.__version__, system)
assert picamera2.__file__.startswith(\"/usr/lib/python3/dist-packages/\"), picamera2.__file__
print(\"venv sees picamera2 from apt and the system numpy\", system)
"' || return
    fi
}

# run_branch BRANCH: set up one branch and run every CPU on it. In its own process with
# its own mounts (undone by its own trap), so the branches can run side by side.
run_branch() {
    local branch=$1 cpu
    MOUNTS=()
    FAILED=()
    trap 'unmount_all; [ ${#FAILED[@]} -eq 0 ] || printf "%s\n" "${FAILED[@]}" > "$WORK/$branch.failed"' EXIT
    trap 'exit 130' INT TERM
    say "$branch: preparing the root file system"
    prepare_root "$branch"
    check "$branch: ./setup.sh (under $first_cpu)" setup_branch "$ROOT" "$branch" "$first_cpu"
    if [ ${#FAILED[@]} -eq 0 ]; then
        unmount_last  # setup's cpuinfo
        for cpu in $CPUS; do
            run_cpu "$ROOT" "$branch" "$cpu"
        done
    fi
    touch "$WORK/$branch.finished"
}

say "x86 reference run of ${CLIPS[*]}"
x86_reference "$WORK/x86.jsonl"
first_cpu=${CPUS%% *}
# Branches side by side when there are cores for it (each emulation uses about one).
JOBS=()
for branch in $BRANCHES; do
    if [ "$(nproc)" -ge 2 ]; then
        run_branch "$branch" > "$WORK/$branch.log" 2>&1 &
        JOBS+=("$!:$branch")
    else
        (run_branch "$branch")
    fi
done
for job in "${JOBS[@]}"; do
    wait "${job%%:*}" || true
    cat "$WORK/${job#*:}.log"
done
JOBS=()
FAILED=()
for branch in $BRANCHES; do
    [ -s "$WORK/$branch.failed" ] && mapfile -t -O "${#FAILED[@]}" FAILED < "$WORK/$branch.failed"
    [ -e "$WORK/$branch.finished" ] || FAILED+=("$branch: did not finish")
done

if [ ${#FAILED[@]} -gt 0 ]; then
    say "FAILED: ${FAILED[*]}"
    exit 1
fi
say "all passed: branches $BRANCHES, CPUs $CPUS (emulated: these timings are not a Pi's)"
