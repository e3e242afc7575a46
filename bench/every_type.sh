#!/usr/bin/env bash
# The call table of one scan of a world with every type moto can serve:
# starts moto on a free local port, builds and runs `every_type`
# (bench/src/bin/every_type.rs), stops moto on exit.
#
#   bench/every_type.sh
#
# Environment:
#   BENCH_PROFILE=release|debug   build profile (default debug: the world is small)
#   BENCH_WORKDIR=DIR             state, config, moto log, results (default target/driftd-bench-every-type)
#   CARGO=...                     the cargo command (default cargo)
# Exit status: 0 every operation equal to the minimal set (or by exactly its
# known excess, listed under the table), 1 another difference, 2 an error.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PROFILE="${BENCH_PROFILE:-debug}"
WORKDIR="${BENCH_WORKDIR:-$ROOT/target/driftd-bench-every-type}"
CARGO="${CARGO:-cargo}"
MOTO_WANT="5.1.22"

have="$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || true)"
if [ "$have" != "$MOTO_WANT" ] || ! command -v moto_server >/dev/null 2>&1; then
    echo "moto[server]==$MOTO_WANT is needed (found: ${have:-none}); bench/run.sh installs it" >&2
    exit 2
fi

if [ "$PROFILE" = "release" ]; then
    $CARGO build --release -p driftd-bench --bin every_type
    BIN="$ROOT/target/release/every_type"
else
    $CARGO build -p driftd-bench --bin every_type
    BIN="$ROOT/target/debug/every_type"
fi

mkdir -p "$WORKDIR"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
moto_server -H 127.0.0.1 -p "$PORT" >"$WORKDIR/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() {
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/moto-api/"; then break; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto_server exited; see $WORKDIR/moto.log" >&2
        exit 2
    fi
    sleep 0.2
done
echo "moto $MOTO_WANT on 127.0.0.1:$PORT (pid $MOTO_PID), workdir $WORKDIR" >&2

# Never talk to real AWS: dummy credentials, no instance metadata.
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

set +e
"$BIN" --endpoint "http://127.0.0.1:$PORT" --workdir "$WORKDIR" | tee "$WORKDIR/results.md"
status=${PIPESTATUS[0]}
set -e
echo "results: $WORKDIR/results.md (exit $status)" >&2
exit "$status"
