#!/bin/sh
# deps.sh — install what the build, the tests (and with "bench", the benchmark)
# need on Debian, only if something is missing. Safe to run again.
set -e
pkgs="build-essential cmake pkg-config node-llhttp libyaml-dev libcmocka-dev libssl-dev \
      libnghttp2-dev liburing-dev libjansson-dev prometheus python3 python3-websockets python3-grpcio openssl curl \
      clang clang-format groff-base nghttp2-client python3-h2 libc-ares-dev dnsmasq-base libhiredis-dev redis-server"
if [ "$1" = "bench" ]; then
	# nghttp2-client: h2load, the HTTP/2 load of the h2_tls phase
	pkgs="$pkgs wrk haproxy nginx-light nghttp2-client"
fi
# headless, for the status page's e2e test (tests/e2e/test_status_page.py)
pkgs="$pkgs chromium"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian starts nginx/haproxy services on install; we only want the binaries.
if [ "$1" = "bench" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
