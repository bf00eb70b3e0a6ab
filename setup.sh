#!/usr/bin/env bash
# Set up the app: a virtual environment with its packages, and the default model.
#
#   ./setup.sh            runtime packages + default model (A0-Stream int8), label map, demo clip
#   ./setup.sh --dev      also the test and lint tools (Xvfb, xdotool, Tk, Chromium from apt), test clips
#   ./setup.sh --tflite   also .venv-tflite: the same app on tflite-runtime 2.14 (numpy<2)
#   ./setup.sh --no-fetch skip the model download
#   ./setup.sh --install-service kiosk|logger    then run it at boot as a systemd service (sudo)
#   ./setup.sh --uninstall-service kiosk|logger  stop and remove that service (config, logs stay)
#
# On Raspberry Pi OS it installs python3-picamera2 with apt (the camera library is not on
# PyPI), builds the venv with --system-site-packages so it can see it, and keeps numpy at
# the system's major version. Elsewhere it needs no sudo. Safe and quick to run again.
# MOVINET_ASSETS_DIR=/path/to/folder makes it install the model files from that folder
# instead of the network (offline / air-gapped installs).
set -euo pipefail
cd "$(dirname "$0")"

DEV=0
TFLITE=0
FETCH=1
SERVICE_ACTION=""
SERVICE_NAME=""
while [ $# -gt 0 ]; do
    arg=$1; shift
    case "$arg" in
        --install-service|--uninstall-service)
            SERVICE_ACTION=${arg#--}; SERVICE_NAME=${1:-}; [ $# -gt 0 ] && shift
            case "$SERVICE_NAME" in
                kiosk|logger) ;;
                *) echo "setup.sh: $arg needs kiosk or logger" >&2; exit 2 ;;
            esac ;;
        --dev) DEV=1 ;;
        --tflite) TFLITE=1 ;;
        --no-fetch) FETCH=0 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (see ./setup.sh --help)" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
say() { if [ -t 1 ]; then printf '\033[1m==> %s\033[0m\n' "$*"; else printf '==> %s\n' "$*"; fi; }

is_raspberry_pi_os() {
    [ -f /etc/rpi-issue ] || grep -qs "Raspberry Pi" /proc/device-tree/model
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --uninstall-service needs none of the set-up below: the installer is standard library
# only, so the system Python runs it even with no venv left.
if [ "$SERVICE_ACTION" = uninstall-service ]; then
    say "Removing the $SERVICE_NAME service (needs sudo)"
    as_root "$(command -v python3)" -m app.service uninstall "$SERVICE_NAME"
    exit 0
fi

# venv_with DIR REQUIREMENTS... : create DIR if needed and install the requirement files
# into it, skipping pip entirely when nothing changed since the last run.
venv_with() {
    local venv=$1; shift
    local venv_flags=() constraints=()
    if is_raspberry_pi_os; then
        venv_flags+=(--system-site-packages)
        constraints=(-c "$venv/constraints.txt")
    fi
    if [ ! -x "$venv/bin/python" ]; then
        say "Creating $venv"
        "$PYTHON" -m venv "${venv_flags[@]}" "$venv"
    fi
    if is_raspberry_pi_os; then
        write_pi_constraints "$venv/constraints.txt"
    fi
    local stamp="$venv/.installed" want
    want=$(cat "$@" "${constraints[@]:1}" 2>/dev/null | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "$venv is up to date"
        return
    fi
    say "Installing $* into $venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    local req_flags=()
    for req in "$@"; do req_flags+=(-r "$req"); done
    "$venv/bin/python" -m pip install --quiet "${req_flags[@]}" "${constraints[@]}"
    echo "$want" > "$stamp"
}

# Raspberry Pi OS: picamera2 from apt is built against the system numpy. Bookworm ships
# numpy 1.24, so pip must not pull numpy 2 (or an OpenCV that needs it) into the venv.
write_pi_constraints() {
    local system_numpy
    system_numpy=$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)' 2>/dev/null || echo "")
    if [ "${system_numpy%%.*}" = "1" ]; then
        printf 'numpy==%s\nopencv-python-headless<4.12\n' "$system_numpy" > "$1"
    elif [ -n "$system_numpy" ]; then
        printf 'numpy==%s\n' "$system_numpy" > "$1"
    else
        : > "$1"
    fi
}

# Platforms the app's packages have no wheels for get one line saying what to do, before
# apt or pip run, instead of a page of pip errors.
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
check_platform() {
    local python=$1 facts bits machine version libc
    if ! facts=$("$python" -c 'import platform, struct, sys
print(struct.calcsize("P") * 8, platform.machine(), "%d.%d" % sys.version_info[:2], platform.libc_ver()[1] or "-")' 2>/dev/null)
    then
        echo "setup.sh: cannot run $python: install Python 3.11 or later (sudo apt install python3 python3-venv)" >&2
        exit 1
    fi
    read -r bits machine version libc <<<"$facts"
    if [ "$bits" != 64 ]; then
        echo "setup.sh: this is a 32-bit system ($machine): LiteRT and OpenCV publish no 32-bit wheels; install Raspberry Pi OS (64-bit), Bookworm or Trixie" >&2
        exit 1
    fi
    if ! version_at_least "$version" 3.11; then
        echo "setup.sh: Python $version is too old (the app needs 3.11 or later): upgrade to Raspberry Pi OS Bookworm or Trixie, or run PYTHON=python3.11 ./setup.sh" >&2
        exit 1
    fi
    if [ "$machine" = aarch64 ] && [ "$libc" != - ] && ! version_at_least "$libc" 2.34; then
        echo "setup.sh: glibc $libc is too old for LiteRT's arm64 wheels (they need 2.34): upgrade to Raspberry Pi OS Bookworm or Trixie" >&2
        exit 1
    fi
}

is_raspberry_pi_os && PYTHON=/usr/bin/python3  # the venv must use the Python that picamera2 was built for
check_platform "$PYTHON"

if is_raspberry_pi_os; then
    # picamera2 (camera, previews), venv support (not on every Lite image) and the font
    # the overlay is drawn with; only the missing ones, so a re-run needs no sudo.
    missing=()
    for package in python3-picamera2 python3-venv fonts-dejavu-core; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    # picamera2 before 0.3.20 cannot bound a capture (a stalled camera hangs the app), and
    # the app refuses it: apt-get install upgrades an installed package to the candidate.
    picamera2_version=$(dpkg-query -W -f='${Version}' python3-picamera2 2>/dev/null || true)
    if [ -n "$picamera2_version" ] && dpkg --compare-versions "$picamera2_version" lt 0.3.20; then
        missing+=(python3-picamera2)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "Installing ${missing[*]} with apt (needs sudo)"
        as_root apt-get update
        as_root apt-get install -y "${missing[@]}"
    fi
fi

# --dev: system tools the preview window's test drives (a virtual X server and a key
# presser) and Tk, the headless browser the web view's test drives, the MQTT broker
# and openssl the MQTT tests start (each test runs its own mosquitto on a free loopback
# port), and systemd-analyze, from apt when missing; as root without sudo.
install_dev_system_packages() {
    local missing=()
    command -v Xvfb >/dev/null || missing+=(xvfb)
    command -v xdotool >/dev/null || missing+=(xdotool)
    command -v chromium >/dev/null || missing+=(chromium)
    [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
    command -v openssl >/dev/null || missing+=(openssl)
    # systemd-analyze checks the installed units (tests/test_systemd_units.py); Debian's
    # systemd package has it, and installing it starts nothing where systemd is not PID 1.
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    # the webcam stand-in (tests/fakes/v4l2) is a C library the tests compile against linux/videodev2.h
    { command -v cc >/dev/null && [ -e /usr/include/linux/videodev2.h ]; } || missing+=(gcc libc6-dev linux-libc-dev)
    if ! "$PYTHON" -c 'import tkinter' 2>/dev/null; then
        if [ "$("$PYTHON" -c 'import sys; print(sys.base_prefix)')" = /usr ]; then
            missing+=(python3-tk)  # Debian's own Python gets Tk from apt
        else
            echo "setup.sh: $PYTHON has no tkinter; the window preview and its test need it" >&2
        fi
    fi
    [ ${#missing[@]} -eq 0 ] && return
    if ! command -v apt-get >/dev/null; then
        echo "setup.sh: the tests need ${missing[*]}: please install them" >&2
        return
    fi
    say "Installing ${missing[*]} with apt (for the tests)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if [ "$DEV" = 1 ]; then
    install_dev_system_packages
fi

requirements=(requirements.txt)
[ "$DEV" = 1 ] && requirements+=(requirements-dev.txt)
venv_with .venv "${requirements[@]}"

if [ "$TFLITE" = 1 ]; then
    version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    if [ "$version" != "3.11" ]; then
        echo "setup.sh: --tflite needs Python 3.11 (tflite-runtime 2.14 has no wheel for $version): leave it out, the default LiteRT runtime needs no tflite-runtime" >&2
        exit 1
    fi
    venv_with .venv-tflite "${requirements[@]}" requirements-tflite.txt
fi

if [ "$FETCH" = 1 ]; then
    say "Fetching the default model, label map and demo clip"
    .venv/bin/python -m app models fetch
fi

# The tests' model and clips: from the network into tests/assets (git-ignored), unless an
# offline folder is given, which the tests then read directly (tests/helpers.py).
if [ "$FETCH" = 1 ] && [ "$DEV" = 1 ] && [ -z "${MOVINET_ASSETS_DIR:-}" ]; then
    say "Fetching the test clips into tests/assets"
    .venv/bin/python tests/fetch_assets.py
fi

# The unit, its config and the service user; then enable and start it (docs/services.md: "Run as a
# service"). Options such as --console go to `sudo .venv/bin/python -m app.service`.
if [ "$SERVICE_ACTION" = install-service ]; then
    say "Installing the $SERVICE_NAME service (needs sudo)"
    as_root "$PWD/.venv/bin/python" -m app.service install "$SERVICE_NAME"
    say "Done. Status: systemctl status movinet-$SERVICE_NAME"
    exit 0
fi

say "Done. Try: .venv/bin/python -m app demo"
