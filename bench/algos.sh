#!/bin/sh
# algos.sh BUILD_DIR [ITERS [MAX_CONNS]] — build bench/algo_bench.c against
# BUILD_DIR's libfulcrum_balance.a with cc -O2 and print ns/pick per algorithm
# at 8 and 8,192 servers (each server capped at MAX_CONNS when given).
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=$(find "$BUILD" -name libfulcrum_balance.a | head -n 1)
[ -n "$LIB" ] || { echo "algos.sh: no libfulcrum_balance.a under $BUILD (build it first)" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -std=c11 -I"$ROOT/include" "$ROOT/bench/algo_bench.c" "$LIB" -o "$OUT/algo_bench"
"$OUT/algo_bench" "${2:-2000000}" "${3:-0}"
