#!/usr/bin/env bash
# One-step set-up for a fresh Debian machine (Python 3.11, root, no display).
#   bash scripts/setup.sh run   -> install, then open the window with its daemon (the simulated
#                                  microscope unless --config names hardware); without a display
#                                  the daemon runs headless
#   bash scripts/setup.sh test  -> install, then run the whole test suite
# The virtual environment lives in .venv at the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"; shift || true

qt_libs="libgl1 libegl1 libfontconfig1 libdbus-1-3 libglib2.0-0 libxkbcommon0"
if [ "$mode" = run ] && [ -n "${DISPLAY:-}" ]; then  # the window on an X11 desktop (xcb plugin)
    qt_libs="$qt_libs libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0"
fi
missing=""
for pkg in $qt_libs; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "installing system libraries Qt needs:$missing" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

case "$mode" in
    run)  exec .venv/bin/magscope-app "$@" ;;  # the window, or the daemon headless
    test) exec .venv/bin/python -m pytest "$@" ;;
    *)    echo "usage: bash scripts/setup.sh run|test [args...]" >&2; exit 2 ;;
esac
