#!/bin/sh
# Installs every build and test dependency of btt from Debian 12 packages.
# Idempotent; run as root. Works on a minimal Debian (debootstrap --variant=minbase).
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: must run as root (it calls apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# iperf3, nftables: the LEDBAT test (a TCP bulk flow; per-protocol byte counters in a test
# namespace).
# postgresql: server binaries for scripts/pg-test-server.sh (the PostgreSQL store's tests run a
# private server in a temporary directory; the package's own cluster is neither used nor needed).
PKGS="
 ca-certificates build-essential cmake ninja-build pkg-config git
 clang llvm libclang-rt-14-dev
 libuv1-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev openssl
 libsodium-dev libsqlite3-dev libpq-dev libjansson-dev libcmocka-dev
 postgresql
 python3 python3-libtorrent python3-cryptography
 mktorrent transmission-cli transmission-daemon aria2 opentracker
 iproute2 procps psmisc xxd curl time bc
 iperf3 nftables
"

# Skip the network round-trip when everything is already there.
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

echo "install-deps: installing:$missing"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $PKGS
