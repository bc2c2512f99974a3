#!/bin/sh
# Installs what the test lab (tests/lab/lab.py) needs on Debian/Ubuntu, only when missing:
# docker.io (dockerd, containerd, runc), openssh-server (sshd), busybox-static, iproute2,
# tmux (the console's end-to-end test drives it in a tmux pane), and etcd-server (the lab's
# three-member etcd cluster, for state shared by several controllers).
# POSIX sh: `make test` runs it with sh. Services that the packages bring are not started.
set -eu

missing=""
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

# another Docker Engine package (e.g. docker-ce) is as good as docker.io
if ! { command -v dockerd && command -v containerd && command -v runc; } >/dev/null 2>&1; then
    missing="$missing docker.io"
fi
if ! { command -v sshd && command -v ssh-keygen; } >/dev/null 2>&1; then
    missing="$missing openssh-server"
fi
installed busybox-static || missing="$missing busybox-static"  # a static busybox for the image
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
command -v etcd >/dev/null 2>&1 || missing="$missing etcd-server"

if [ -z "$missing" ]; then
    echo "tui-orch lab packages: all present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "tui-orch lab: missing packages:$missing; run as root: apt-get install$missing" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tui-orch lab: missing packages:$missing; this script knows only apt-get (Debian/Ubuntu)" >&2
    exit 1
fi

# Keep the packages' services (a system dockerd with its docker0 bridge, sshd on :22) from
# starting: policy-rc.d answering 101 is Debian's way to say "do not start services now".
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# tui-orch lab install: start no services\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "tui-orch lab packages: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "tui-orch lab packages: installed$missing"
