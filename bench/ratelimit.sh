#!/bin/sh
# ratelimit.sh BUILD_DIR [TAKES] — build bench/ratelimit_bench.c against
# BUILD_DIR's static libraries with cc -O2 and print ns per take (1 and 2
# threads) and bytes per key of a table holding a million keys.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
lib() {
	l=$(find "$BUILD" -name "lib$1.a" | head -n 1)
	[ -n "$l" ] || { echo "ratelimit.sh: no lib$1.a under $BUILD (build it first)" >&2; exit 1; }
	echo "$l"
}
LIBS="$(lib fulcrum_proxy) $(lib fulcrum_http) $(lib fulcrum_core) $(lib fulcrum_balance) $(lib llhttp)"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -std=c11 -I"$ROOT/include" -I"$ROOT/src" "$ROOT/bench/ratelimit_bench.c" \
	$LIBS $(pkg-config --libs libnghttp2) -lpthread -o "$OUT/ratelimit_bench"
"$OUT/ratelimit_bench" "${2:-10000000}"
