#!/bin/sh
# Installs what `python3 -m venv` needs on a bare Debian/Ubuntu machine.
set -eu
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "tui-orch: python3-venv is missing and this user cannot install it; run: apt-get install python3-venv" >&2
        exit 1
    fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-pip >/dev/null
