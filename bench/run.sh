#!/usr/bin/env bash
# driftd scan benchmark: starts moto on a free local port, builds and runs the
# benchmark, stops moto on exit. Arguments go to the benchmark binary, e.g.
#
#   bench/run.sh                                          # the issue's scale
#   bench/run.sh --instances 2000 --groups 200 --buckets 50   # a quick run
#   bench/run.sh --replay                                 # the replay endpoint, no moto
#   bench/run.sh --replay --scales 1000,10000,100000 --latencies 0,50,200
#
# Environment:
#   BENCH_PROFILE=release|debug   build profile (default release)
#   BENCH_WORKDIR=DIR             state, config, moto log, results (default target/driftd-bench)
#   DRIFTD_CARGO_LOCK=FILE        lock file every cargo command is run under
#                                 (default /tmp/driftd-cargo.lock; shared build tree)
#   DRIFTD_BENCH_<FLAG>=...       same as --<flag> (see `driftd-bench --help`)
#   BENCH_CARGO=CMD               run this instead of `flock $DRIFTD_CARGO_LOCK cargo`
#                                 (e.g. a wrapper that shares build slots)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PROFILE="${BENCH_PROFILE:-release}"
WORKDIR="${BENCH_WORKDIR:-$ROOT/target/driftd-bench}"
LOCK="${DRIFTD_CARGO_LOCK:-/tmp/driftd-cargo.lock}"
MOTO_WANT="5.1.22"

cargo_locked() {
    if [ -n "${BENCH_CARGO:-}" ]; then
        $BENCH_CARGO "$@"
    elif command -v flock >/dev/null 2>&1; then
        flock "$LOCK" cargo "$@"
    else
        cargo "$@"
    fi
}

REPLAY=0
for a in "$@"; do [ "$a" = "--replay" ] && REPLAY=1; done

build() {
    if [ "$PROFILE" = "release" ]; then
        cargo_locked build --release -p driftd-bench -p driftd
        BIN="$ROOT/target/release"
    else
        cargo_locked build -p driftd-bench -p driftd
        BIN="$ROOT/target/debug"
    fi
}

if [ "$REPLAY" = 1 ]; then
    # The replay endpoint is part of the benchmark binary: no moto.
    build
    mkdir -p "$WORKDIR"
    export AWS_EC2_METADATA_DISABLED=true
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
    set +e
    "$BIN/driftd-bench" --workdir "$WORKDIR/replay" --driftd-bin "$BIN/driftd" "$@" | tee "$WORKDIR/results-replay.md"
    status=${PIPESTATUS[0]}
    set -e
    echo "results: $WORKDIR/results-replay.md (exit $status: 0 all targets met, 1 a target missed, 2 error)" >&2
    exit "$status"
fi

# moto, pinned.
have="$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || true)"
if [ "$have" != "$MOTO_WANT" ] || ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto[server]==$MOTO_WANT (found: ${have:-none})" >&2
    python3 -m pip install -q "moto[server]==$MOTO_WANT"
fi
MOTO_VERSION="$(python3 -c 'import moto; print(moto.__version__)')"

# Build (the benchmark and the driftd CLI, for the CLI cross-check row).
build

# A fresh moto on a free loopback port.
mkdir -p "$WORKDIR"
rm -f "$WORKDIR/bench.tfstate" "$WORKDIR/driftd.toml" "$WORKDIR/world.json"
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
echo "moto $MOTO_VERSION on 127.0.0.1:$PORT (pid $MOTO_PID), workdir $WORKDIR" >&2

# Never talk to real AWS: dummy credentials, no instance metadata.
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

set +e
"$BIN/driftd-bench" \
    --endpoint "http://127.0.0.1:$PORT" \
    --moto-version "$MOTO_VERSION" \
    --driftd-bin "$BIN/driftd" \
    --workdir "$WORKDIR" \
    "$@" | tee "$WORKDIR/results.md"
status=${PIPESTATUS[0]}
set -e
echo "results: $WORKDIR/results.md (exit $status: 0 all targets met, 1 a target missed, 2 error)" >&2
exit "$status"
