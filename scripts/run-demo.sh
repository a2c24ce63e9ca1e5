#!/bin/sh
# Start three fulcrum-echo demo backends (127.0.0.1:3001..3003, named echo-1..3)
# and fulcrum in front of them with examples/quickstart.yaml. Ctrl-C stops all.
# Usage: scripts/run-demo.sh BUILD_DIR
set -u

BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD_DIR in
/*) ;;
*) BUILD_DIR=$(pwd)/$BUILD_DIR ;;
esac
ECHO_BIN=$BUILD_DIR/fulcrum-echo
FULCRUM_BIN=$BUILD_DIR/fulcrum
CONFIG=$ROOT/examples/quickstart.yaml

for bin in "$ECHO_BIN" "$FULCRUM_BIN"; do
	if [ ! -x "$bin" ]; then
		echo "run-demo: $bin not found; build first (make build)" >&2
		exit 1
	fi
done
if [ ! -f "$CONFIG" ]; then
	echo "run-demo: $CONFIG not found" >&2
	exit 1
fi

PIDS=""
FPID=""
cleanup() {
	trap - INT TERM EXIT
	# fulcrum first (SIGTERM = graceful shutdown), then the backends
	if [ -n "$FPID" ]; then
		kill -TERM "$FPID" 2>/dev/null
		wait "$FPID" 2>/dev/null
	fi
	for pid in $PIDS; do
		kill "$pid" 2>/dev/null
	done
	for pid in $PIDS; do
		wait "$pid" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for i in 1 2 3; do
	"$ECHO_BIN" -port "300$i" -name "echo-$i" &
	PIDS="$PIDS $!"
done

# wait (up to ~5 s) until the backends accept, so the first request does not fail
i=0
while [ $i -lt 50 ]; do
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null http://127.0.0.1:3001/health &&
			curl -s -o /dev/null http://127.0.0.1:3002/health &&
			curl -s -o /dev/null http://127.0.0.1:3003/health && break
	else
		sleep 0.3
		break
	fi
	sleep 0.1
	i=$((i + 1))
done

echo "try: curl localhost:8080"
# fulcrum runs in the background and the shell waits for it, so that a signal to
# this script (Ctrl-C, or kill from make) runs the traps at once; they pass it on
# to fulcrum as SIGTERM and then stop the backends.
"$FULCRUM_BIN" -c "$CONFIG" &
FPID=$!
wait "$FPID"
status=$?
FPID=""
exit $status
