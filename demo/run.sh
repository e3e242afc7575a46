#!/usr/bin/env bash
# driftd demo: a small AWS world on a local moto server, its Terraform state,
# some out-of-band drift, then one scan.
#
#   ./demo/run.sh              # the demo: drift found, exits 0
#   ./demo/run.sh --no-drift   # an untouched world: no drift expected
#   DRIFTD=target/debug/driftd ./demo/run.sh   # use a prebuilt binary
#
# The JSON report is kept in demo/.world/report.json; CI checks it with
# demo/check_report.py (changed, missing and unmanaged drift, a decision per
# drift, who changed it (CloudTrail, served by demo/fake_cloudtrail.py), the
# reconcile dry-run calls; with --no-drift: no drift at all).
set -euo pipefail

MOTO_VERSION=5.1.22
cd "$(dirname "$0")/.."
world=demo/.world

if ! python3 -c "import sys, moto, moto.server; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "demo: installing moto[server]==$MOTO_VERSION"
  python3 -m pip install -q "moto[server]==$MOTO_VERSION"
fi

# Dummy credentials for moto, for seed.py and driftd alike.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

rm -rf "$world" && mkdir -p "$world"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"

python3 -m moto.server -H 127.0.0.1 -p "$port" >"$world/moto.log" 2>&1 &
moto_pid=$!
# A fake CloudTrail (LookupEvents) on loopback, serving the events the drift
# step records, for driftd's attribution ("changed by ..."): moto has none.
ct_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 demo/fake_cloudtrail.py --port "$ct_port" --events "$world/cloudtrail-events.json" >"$world/cloudtrail.log" 2>&1 &
ct_pid=$!
trap 'kill "$moto_pid" "$ct_pid" 2>/dev/null || true; wait "$moto_pid" "$ct_pid" 2>/dev/null || true' EXIT

echo "demo: starting moto on $endpoint"
for i in $(seq 60); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$endpoint/moto-api/" 2>/dev/null && break
  if [ "$i" = 60 ] || ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "demo: moto did not start; see $world/moto.log" >&2
    exit 1
  fi
  sleep 0.5
done

python3 demo/seed.py --endpoint "$endpoint" --out "$world" "$@"
printf '\n[attribution]\nendpoint_url = "http://127.0.0.1:%s"\n' "$ct_port" >>"$world/driftd.toml"

echo "demo: driftd scan --config $world/driftd.toml"
echo
status=0
if [ -n "${DRIFTD:-}" ]; then
  "$DRIFTD" scan --config "$world/driftd.toml" --report-file "$world/report.json" || status=$?
else
  cargo run --quiet --bin driftd -- scan --config "$world/driftd.toml" --report-file "$world/report.json" || status=$?
fi

# The pull request step runs in local patch mode (`code.path`): show the
# code changes driftd proposes (critical drift, an import, a removal).
patches=$(find "$world/code" -path '*/.driftd-patches/*.patch' 2>/dev/null | sort)
if [ -n "$patches" ]; then
  echo
  echo "demo: proposed code changes (local patch mode; a pull request each with [github] configured):"
  for p in $patches; do
    echo "--- ${p#"$world/"}"
    cat "$p"
  done
fi

if [ "$status" = 2 ] && [ "${1:-}" = "--no-drift" ]; then
  echo "demo: driftd found drift in the untouched world: a false positive (see $world/report.json)" >&2
  exit 1
fi
if [ "$status" = 2 ]; then
  echo "demo: driftd exited 2 (drift found): expected, the world was changed out of band."
  status=0
fi
exit "$status"
