#!/usr/bin/env bash
# Instructions per managed resource of one `driftd scan` (the CLI, release
# build) at 1,000 instances on the replay endpoint, counted by
# `valgrind --tool=callgrind`: the noise-free figure to compare between
# commits (bench/RESULTS.md). No latency, no throttling.
#
#   bench/callgrind.sh              # 1,000 instances (the recorded figure)
#   bench/callgrind.sh 2500         # another scale
#
# Environment: BENCH_CARGO=CMD (build command instead of `cargo`; e.g. a
# wrapper sharing build slots), BENCH_WORKDIR=DIR (default target/driftd-bench),
# BENCH_NO_BUILD=1 (use the binaries as they are).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
N="${1:-1000}"
WORKDIR="${BENCH_WORKDIR:-$ROOT/target/driftd-bench}/callgrind-n$N"
BIN="$ROOT/target/release"
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 2; }
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    ${BENCH_CARGO:-cargo} build --release -p driftd-bench -p driftd
fi

rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
cd "$WORKDIR"
# The proportional world (bench/src/replay/model.rs `Spec::proportional`).
G=$(( N / 10 > 0 ? N / 10 : 1 )); B=$(( N / 50 > 0 ? N / 50 : 1 )); V=$(( N / 1000 > 0 ? N / 1000 : 1 ))
SPEC="{\"seed\":42,\"instances\":$N,\"groups\":$G,\"buckets\":$B,\"vpcs\":$V}"
echo "$SPEC" > spec.json
cat > serve.json <<EOF
{"spec": $SPEC,
 "settings": {"latency": {"base_ms": 0, "per_item_us": 0, "ops": {}},
              "limits": {"enabled": false, "ec2_burst": 100, "ec2_refill": 20, "s3_burst": 5500, "s3_refill": 5500},
              "dilation": 1, "default_page": 0}}
EOF
"$BIN/driftd-bench" __replay-prepare spec.json .
MANAGED=$(( N + G + B + V + 3 * 4 * V ))

# The server lives until its stdin closes (fd 3 below).
mkfifo in
"$BIN/driftd-bench" __replay-serve serve.json < in > port &
SERVER=$!
exec 3>in
cleanup() { exec 3>&- || true; wait "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do grep -q PORT port 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^PORT //p' port)
[ -n "$PORT" ] || { echo "replay server did not start" >&2; exit 2; }
cat > driftd.toml <<EOF
[scan]
attempt_timeout = 600

[[stacks]]
name = "bench"
state = "bench.tfstate"
regions = ["us-east-1"]
endpoint_url = "http://127.0.0.1:$PORT"
EOF

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
set +e
valgrind --tool=callgrind --callgrind-out-file=callgrind.out --trace-children=no \
    "$BIN/driftd" scan --quiet --output json --config driftd.toml > report.json 2> valgrind.log
code=$?
set -e
if [ "$code" != 2 ]; then
    echo "driftd scan exited $code (expected 2: drift found); see $WORKDIR/valgrind.log" >&2
    exit 2
fi
IR=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' callgrind.out | head -1)
[ -n "$IR" ] || IR=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' callgrind.out | head -1)
echo "instances $N, managed resources $MANAGED"
echo "instructions (Ir): $IR"
awk -v ir="$IR" -v m="$MANAGED" 'BEGIN { printf "instructions per managed resource: %.0f\n", ir / m }'
echo "top functions: callgrind_annotate $WORKDIR/callgrind.out | head -40" >&2
