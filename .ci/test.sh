#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (Python packages, Debian's Chromium for the browser tests,
# g++ for the compiled kernels) and runs the whole suite. The README's second command; CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
# Chromium for the browser tests; a C++ compiler for the compiled CPU kernels (torch.compile's inductor backend:
# ffviz/method/fast/kernels.py, tested in tests/test_kernels.py)
if ! command -v chromium >/dev/null 2>&1 || ! echo 'int main(){}' | g++ -x c++ -o /dev/null - >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium g++ >/dev/null
fi
exec python -m pytest "$@"
