#!/bin/sh
# run.sh BUILD_DIR — the side-by-side benchmark behind `make bench`:
# fulcrum vs HAProxy vs nginx, same backends, same wrk load (see bench/README.md).
# This wrapper raises the fd limit, checks the tools, and is the last-resort
# cleanup: bench.py records every pid it starts in $BENCH_TMP/pids and kills
# them itself; the trap below kills whatever is left if bench.py dies.
set -u
BUILD_DIR=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)

for t in python3 wrk; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "bench: $t not found (make bench installs wrk, haproxy, nginx-light, nghttp2-client)" >&2
		exit 1
	fi
done
for t in haproxy nginx; do
	command -v "$t" >/dev/null 2>&1 || echo "bench: $t not found: it will be skipped" >&2
done


# 5,000 idle connections plus the proxies' own: raise the fd limit as far as allowed.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BENCH_TMP=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
export BENCH_TMP

cleanup() {
	if [ -f "$BENCH_TMP/pids" ]; then
		while read -r pid; do
			# bench.py starts each process in its own process group
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
		done <"$BENCH_TMP/pids"
		sleep 0.3
		while read -r pid; do
			kill -KILL -- "-$pid" 2>/dev/null || true
		done <"$BENCH_TMP/pids"
	fi
	[ "${BENCH_KEEP_TMP:-0}" = 1 ] || rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

# bench.py runs in the background so that a signal to this script alone (not
# only a Ctrl-C to the whole process group) reaches it: it then stops what it
# started, prints nothing more, and the EXIT trap sweeps up anything left.
python3 "$HERE/bench.py" "$BUILD_DIR" &
PY=$!
trap 'kill -TERM $PY 2>/dev/null; wait $PY; exit 130' INT TERM HUP
wait $PY
