#!/usr/bin/env bash
# Daemon idle memory: run `driftd daemon` against the replay endpoint with a
# scan every second, and print its resident size (VmRSS, and VmHWM: the peak)
# after 1, 10 and N scans, while idle between two scans. The issue's target:
# at most 30 MB idle after 100 scans. Figures only, never a pass/fail timing.
#
#   bench/daemon_idle.sh                 # 1,000 instances, 100 scans
#   bench/daemon_idle.sh 10000 100       # scale, scans
#
# Environment: BENCH_PROFILE=release|debug (default release; built if absent),
# BENCH_WORKDIR=DIR (default target/driftd-bench/daemon-idle).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCALE="${1:-1000}"
SCANS="${2:-100}"
PROFILE="${BENCH_PROFILE:-release}"
BIN="$ROOT/target/$PROFILE"
WORKDIR="${BENCH_WORKDIR:-$ROOT/target/driftd-bench/daemon-idle}"
if [ ! -x "$BIN/driftd" ] || [ ! -x "$BIN/driftd-bench" ]; then
    if [ "$PROFILE" = release ]; then cargo build --release -p driftd -p driftd-bench; else cargo build -p driftd -p driftd-bench; fi
fi
mkdir -p "$WORKDIR"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

# The world (state, expected report) from the replay benchmark's own prepare
# step: one quick `minimal` run writes it.
"$BIN/driftd-bench" --replay --scales "$SCALE" --latencies 0 --scenarios minimal \
    --workdir "$WORKDIR" >/dev/null
DIR="$WORKDIR/n$SCALE"

# The replay server, with its token buckets off (a scan a second is this
# benchmark's own load, not a client's behaviour under test).
python3 - "$DIR/serve.json" <<'EOF'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["settings"]["limits"]["enabled"] = False
json.dump(s, open(p, "w"))
EOF
exec 3< <(sleep 100000)
"$BIN/driftd-bench" __replay-serve "$DIR/serve.json" <&3 >"$DIR/port.txt" 2>"$DIR/serve.log" &
SERVER=$!
DAEMON=""
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
    kill "$SERVER" 2>/dev/null || true
    # Only these two: a bare `wait` would also wait for the stdin sleeper.
    wait "$SERVER" 2>/dev/null || true
    [ -z "$DAEMON" ] || wait "$DAEMON" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 300); do grep -q PORT "$DIR/port.txt" 2>/dev/null && break; sleep 0.1; done
PORT="$(sed -n 's/^PORT //p' "$DIR/port.txt")"
[ -n "$PORT" ] || { echo "replay server did not start; see $DIR/serve.log" >&2; exit 2; }

LISTEN_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$DIR/daemon.toml" <<EOF
[scan]
attempt_timeout = 120

[daemon]
listen = "127.0.0.1:$LISTEN_PORT"

[[stacks]]
name = "bench"
state = "bench.tfstate"
regions = ["us-east-1"]
endpoint_url = "http://127.0.0.1:$PORT"
schedule = "* * * * * *"
EOF
(cd "$DIR" && exec "$BIN/driftd" --log warn daemon --config daemon.toml >"$DIR/daemon.log" 2>&1) &
DAEMON=$!

scans() {
    curl -s "http://127.0.0.1:$LISTEN_PORT/metrics" 2>/dev/null |
        awk '/^driftd_scans_total\{/ {n += $NF} END {print n + 0}'
}
rss() { awk -v k="$1:" '$1 == k {print $2 / 1024}' "/proc/$DAEMON/status"; }

printf '| scans | VmRSS (MB) | VmHWM, peak (MB) |\n|---:|---:|---:|\n'
for want in 1 10 "$SCANS"; do
    while [ "$(scans)" -lt "$want" ]; do
        kill -0 "$DAEMON" 2>/dev/null || { echo "daemon exited; see $DIR/daemon.log" >&2; exit 2; }
        sleep 0.05
    done
    # Idle: just after a scan finished, before the next one starts.
    sleep 0.3
    printf '| %s | %.1f | %.1f |\n' "$(scans)" "$(rss VmRSS)" "$(rss VmHWM)"
done
echo "scale $SCALE instances; daemon log: $DIR/daemon.log" >&2
