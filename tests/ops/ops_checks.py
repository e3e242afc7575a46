#!/usr/bin/env python3
"""Structural checks of driftd's operations assets, called by tests/ops/check.sh.

Each subcommand prints what is wrong and exits 1, or exits 0. Paths are
relative to the repository root (check.sh runs from there). Needs PyYAML;
`config` needs tomllib (Python 3.11+) or tomli; `iam-lint` needs parliament.
"""

import argparse
import json
import os
import re
import sys

# The metrics driftd exports, with their labels (docs/operations.md#metrics).
# job/instance are added by the scrape or the Pushgateway push.
METRICS = {
    "driftd_build_info": {"version"},
    "driftd_drifted_resources": {"stack", "type", "kind", "criticality"},
    "driftd_unmanaged_resources": {"region", "type"},
    "driftd_unknown_resources": {"stack"},
    "driftd_scan_duration_seconds": {"stack"},
    "driftd_last_successful_scan_timestamp_seconds": {"stack"},
    "driftd_scans_total": {"stack", "status"},
    "driftd_scans_skipped_total": {"stack"},
    "driftd_aws_api_requests_total": {"service", "operation", "outcome"},
    "driftd_reconcile_actions_total": {"stack", "outcome"},
    "driftd_pull_requests_total": {"stack", "action"},
    "driftd_oldest_drift_age_seconds": {"stack"},
    "driftd_last_scan_status": {"stack", "status"},
    # The daemon with [events] only.
    "driftd_events_received_total": {"outcome"},
    "driftd_event_to_report_seconds": set(),
    "driftd_events_lag_seconds": set(),
    "driftd_events_poison_messages": set(),
    "driftd_event_rescans_total": {"mode"},
    "driftd_event_rescanned_resources_total": set(),
}
HISTOGRAMS = {"driftd_scan_duration_seconds", "driftd_event_to_report_seconds"}
TARGET_LABELS = {"job", "instance"}
# Label values driftd can produce; a matcher on any other value never matches.
LABEL_VALUES = {
    ("driftd_drifted_resources", "kind"): {"changed", "missing"},
    ("driftd_drifted_resources", "criticality"): {"critical", "non_critical"},
    ("driftd_scans_total", "status"): {"ok", "incomplete", "failed"},
    ("driftd_last_scan_status", "status"): {"ok", "incomplete", "failed"},
    ("driftd_aws_api_requests_total", "outcome"): {
        "success", "throttled", "client_error", "server_error", "transport_error"},
    ("driftd_reconcile_actions_total", "outcome"): {"succeeded", "failed", "dry_run", "skipped"},
    ("driftd_pull_requests_total", "action"): {"opened", "updated", "closed"},
    ("driftd_events_received_total", "outcome"): {"change", "irrelevant", "poison"},
    ("driftd_event_rescans_total", "mode"): {"resource", "stack"},
}

DASHBOARD = "dashboards/driftd-grafana.json"
RULES = "dashboards/driftd-alerts.yml"
RUNBOOK_DOC = "docs/operations.md"
K8S_DIR = "deploy/kubernetes"
IMAGE_USER = 65532
DATA_DIR = "/var/lib/driftd"


class Problems:
    def __init__(self):
        self.items = []

    def __call__(self, msg):
        self.items.append(msg)

    def exit(self, ok_msg=None):
        for m in self.items:
            print(f"  {m}")
        if not self.items and ok_msg:
            print(f"  {ok_msg}")
        sys.exit(1 if self.items else 0)


def load_yaml_docs(path):
    import yaml
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --------------------------------------------------------------------- PromQL

SELECTOR_RE = re.compile(r"\b(driftd_[a-z0-9_]+)\s*(\{([^}]*)\})?")
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
BY_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def base_metric(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)], suffix
    return name, ""


def check_expr(expr, where, problems):
    """Every driftd_* name is an exported metric; matchers and by() use its labels."""
    used_labels = set(TARGET_LABELS)
    found = False
    for m in SELECTOR_RE.finditer(expr):
        found = True
        name, suffix = base_metric(m.group(1))
        if name not in METRICS:
            problems(f"{where}: unknown metric {m.group(1)}")
            continue
        if name in HISTOGRAMS and not suffix:
            problems(f"{where}: histogram {name} used without _bucket/_sum/_count")
        labels = METRICS[name] | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
        used_labels |= labels
        for lm in MATCHER_RE.finditer(m.group(3) or ""):
            label, op, value = lm.groups()
            if label not in labels:
                problems(f"{where}: {m.group(1)} has no label {label!r}")
                continue
            allowed = LABEL_VALUES.get((name, label))
            if allowed is None or value.startswith("$"):
                continue
            if op in ("=", "!=") and value not in allowed:
                problems(f"{where}: {label}={value!r} is not a value driftd exports")
            elif op in ("=~", "!~"):
                for alt in value.split("|"):
                    if alt not in allowed:
                        problems(f"{where}: {label}=~ alternative {alt!r} is not a value driftd exports")
    for bm in BY_RE.finditer(expr):
        for label in (x.strip() for x in bm.group(1).split(",")):
            if label and label not in used_labels | {"le"}:
                problems(f"{where}: grouping label {label!r} is not a label of the metrics used")
    return found


def grafana_to_promql(expr):
    """Replace Grafana variables so promtool can parse a dashboard query."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    expr = expr.replace("${window}", "1h").replace("$window", "1h")
    expr = expr.replace("${stack}", ".*").replace("$stack", ".*")
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr!r}")
    return expr


# ------------------------------------------------------------------ dashboard

def dashboard_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for sub in p.get("panels", []) or []:
            yield sub


def cmd_dashboard(args):
    problems = Problems()
    with open(DASHBOARD) as f:
        dash = json.load(f)
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems(f"schemaVersion {dash.get('schemaVersion')!r}: expected >= 36")
    if not dash.get("uid") or not dash.get("title"):
        problems("dashboard needs a uid and a title")
    if "__inputs" in dash:
        problems("__inputs present: use the `datasource` variable instead")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems("templating needs a `datasource` variable of type datasource, query prometheus")
    stack = variables.get("stack")
    stack_query = stack and stack.get("query")
    if isinstance(stack_query, dict):
        stack_query = stack_query.get("query")
    if not stack or stack_query != "label_values(driftd_scans_total, stack)":
        problems("templating needs a `stack` variable from label_values(driftd_scans_total, stack)")
    elif stack.get("datasource", {}).get("uid") != "${datasource}":
        problems("`stack` variable must query ${datasource}")

    ids = set()
    cells = {}
    exprs = []
    for p in dashboard_panels(dash):
        pid = p.get("id")
        title = p.get("title", "?")
        if pid in ids:
            problems(f"duplicate panel id {pid}")
        ids.add(pid)
        g = p.get("gridPos", {})
        x, y, w, h = g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0)
        if w <= 0 or h <= 0 or x < 0 or x + w > 24:
            problems(f"panel {title!r}: gridPos {g} outside the 24-column grid")
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                if (cx, cy) in cells:
                    problems(f"panel {title!r} overlaps panel {cells[(cx, cy)]!r}")
                    break
                cells[(cx, cy)] = title
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems(f"panel {title!r}: datasource must be ${{datasource}}")
        targets = p.get("targets") or []
        if not targets:
            problems(f"panel {title!r}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems(f"panel {title!r}: duplicate refIds {refs}")
        for t in targets:
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems(f"panel {title!r} target {t.get('refId')}: datasource must be ${{datasource}}")
            expr = t.get("expr", "")
            where = f"panel {title!r} {t.get('refId')}"
            if not check_expr(expr, where, problems):
                problems(f"{where}: query uses no driftd metric")
            exprs.append((where, expr))

    # PromQL syntax: every query as a recording rule through promtool.
    if args.promql_out:
        import yaml
        rules = []
        for i, (where, expr) in enumerate(exprs):
            try:
                rules.append({"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)})
            except ValueError as e:
                problems(f"{where}: {e}")
        with open(args.promql_out, "w") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
    problems.exit(f"{len(ids)} panels, {len(exprs)} queries")


# ---------------------------------------------------------------------- rules

def github_anchors(markdown):
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            text = re.sub(r"`", "", m.group(1)).strip().lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            anchors.add(slug)
    return anchors


def cmd_rules(args):
    import yaml
    problems = Problems()
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    with open(RUNBOOK_DOC) as f:
        anchors = github_anchors(f.read())
    groups = doc.get("groups", [])
    if [g.get("name") for g in groups] != ["driftd"]:
        problems("expected exactly one rule group, named driftd")
    required = {"DriftdCriticalDrift", "DriftdDriftUnresolved", "DriftdScanStale",
                "DriftdScanFailing", "DriftdReconcileFailing", "DriftdAwsThrottlingHigh"}
    seen = set()
    for g in groups:
        for r in g.get("rules", []):
            name = r.get("alert") or r.get("record")
            seen.add(name)
            check_expr(r.get("expr", ""), f"rule {name}", problems)
            if "alert" not in r:
                continue
            sev = r.get("labels", {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                problems(f"{name}: severity label {sev!r}")
            ann = r.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    problems(f"{name}: missing annotation {key}")
            url = ann.get("runbook_url", "")
            if "/docs/operations.md#" not in url:
                problems(f"{name}: runbook_url {url!r} does not point to docs/operations.md")
            else:
                anchor = url.rsplit("#", 1)[1]
                if anchor not in anchors:
                    problems(f"{name}: docs/operations.md has no section #{anchor}")
                if anchor != name.lower():
                    problems(f"{name}: runbook anchor #{anchor} should be #{name.lower()}")
    for name in sorted(required - seen):
        problems(f"missing alert {name}")
    # Every alert is exercised by the unit tests, firing and silent.
    with open(args.tests) as f:
        tests = yaml.safe_load(f)
    firing, silent = set(), set()
    for t in tests.get("tests", []):
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else silent).add(a.get("alertname"))
    # The tests' input is what driftd exports: exported names and labels only,
    # and every counter starts at 0 (driftd creates each counter series of each
    # stack at 0 at start-up, so a first failure is an increase).
    series_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{(.*)\})?$")
    for t in tests.get("tests", []):
        for s in t.get("input_series", []):
            m = series_re.match(s.get("series", "").strip())
            if not m or not m.group(1).startswith("driftd_"):
                continue
            name, suffix = base_metric(m.group(1))
            where = f"test {t.get('name')!r}: {s.get('series')}"
            if name not in METRICS:
                problems(f"{where}: driftd does not export {m.group(1)}")
                continue
            labels = {lm.group(1) for lm in MATCHER_RE.finditer(m.group(3) or "")}
            allowed = METRICS[name] | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
            if labels - allowed:
                problems(f"{where}: labels {sorted(labels - allowed)} are not driftd's")
            if METRICS[name] - labels:
                problems(f"{where}: missing labels {sorted(METRICS[name] - labels)}")
            # A daemon's counters start at 0 (the first sample, "_" being no
            # sample yet). A CronJob's push (instance "all" or "shard-N") is
            # made after its run, so its first value may be that run's count.
            values = [v for v in str(s.get("values", "")).split() if not v.startswith("_")]
            first = values[0] if values else "0"
            instance = dict((lm.group(1), lm.group(3)) for lm in MATCHER_RE.finditer(m.group(3) or "")).get("instance", "")
            pushed = re.fullmatch(r"all|shard-\d+", instance) is not None
            if name.endswith("_total") and not pushed and not (first == "0" or first.startswith("0+") or first.startswith("0x")):
                problems(f"{where}: a counter must start at 0, as driftd exports it (values {s.get('values')!r})")
    for name in sorted(n for n in seen if n and n.startswith("Driftd")):
        if name not in firing:
            problems(f"{name}: no test case where it fires")
        if name not in silent:
            problems(f"{name}: no test case where it stays silent")
    problems.exit(f"{len(seen)} rules, runbooks and tests present")


# ----------------------------------------------------------------- kubernetes

def pod_specs(doc):
    kind = doc.get("kind")
    spec = doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [spec.get("template", {}).get("spec", {})]
    if kind == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})]
    if kind == "Pod":
        return [spec]
    return []


def manifest_files():
    return sorted(os.path.join(K8S_DIR, f) for f in os.listdir(K8S_DIR)
                  if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")


def cmd_k8s_security(args):
    problems = Problems()
    images = set()
    pods = 0
    for path in manifest_files():
        for doc in load_yaml_docs(path):
            name = f"{os.path.basename(path)}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            if doc.get("kind") == "Secret":
                problems(f"{name}: no Secret belongs in the repository")
            if "namespace" in doc.get("metadata", {}):
                problems(f"{name}: metadata.namespace set (the kustomization sets it)")
            for pod in pod_specs(doc):
                pods += 1
                psc = pod.get("securityContext", {})
                if psc.get("runAsNonRoot") is not True:
                    problems(f"{name}: pod securityContext.runAsNonRoot must be true")
                if psc.get("runAsUser") != IMAGE_USER:
                    problems(f"{name}: pod securityContext.runAsUser must be {IMAGE_USER}")
                if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                    problems(f"{name}: pod seccompProfile must be RuntimeDefault")
                if pod.get("automountServiceAccountToken") is not False:
                    problems(f"{name}: automountServiceAccountToken must be false (IRSA injects its own token)")
                if pod.get("serviceAccountName") != "driftd":
                    problems(f"{name}: serviceAccountName must be driftd")
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                for c in pod.get("containers", []) + pod.get("initContainers", []):
                    cname = f"{name} container {c.get('name')}"
                    images.add(c.get("image"))
                    sc = c.get("securityContext", {})
                    if sc.get("readOnlyRootFilesystem") is not True:
                        problems(f"{cname}: readOnlyRootFilesystem must be true")
                    if sc.get("allowPrivilegeEscalation") is not False:
                        problems(f"{cname}: allowPrivilegeEscalation must be false")
                    if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                        problems(f"{cname}: capabilities.drop must include ALL")
                    if sc.get("capabilities", {}).get("add"):
                        problems(f"{cname}: no capabilities may be added")
                    if sc.get("privileged"):
                        problems(f"{cname}: privileged")
                    if sc.get("runAsNonRoot") is not True or sc.get("runAsUser", IMAGE_USER) != IMAGE_USER:
                        problems(f"{cname}: runAsNonRoot/runAsUser")
                    if sc.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
                        problems(f"{cname}: seccompProfile")
                    res = c.get("resources", {})
                    if not res.get("requests", {}).get("cpu") or not res.get("requests", {}).get("memory"):
                        problems(f"{cname}: resources.requests cpu and memory required")
                    if not res.get("limits", {}).get("memory"):
                        problems(f"{cname}: resources.limits.memory required")
                    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
                    if DATA_DIR not in mounts:
                        problems(f"{cname}: nothing mounted at {DATA_DIR}")
                    if "/tmp" not in mounts:
                        problems(f"{cname}: nothing mounted at /tmp (read-only root filesystem)")
                    for m in mounts.values():
                        if m["name"] not in volumes:
                            problems(f"{cname}: mount {m['name']} has no volume")
                    args_ = c.get("args", [])
                    if "--config" not in args_ or args_[args_.index("--config") + 1] != "/etc/driftd/driftd.toml":
                        problems(f"{cname}: --config /etc/driftd/driftd.toml expected")
                    if mounts.get("/etc/driftd", {}).get("readOnly") is not True:
                        problems(f"{cname}: /etc/driftd must be mounted read-only")
                    env = {e["name"]: e for e in c.get("env", [])}
                    ref = env.get("GITHUB_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
                    if ref != {"name": "driftd-github", "key": "token", "optional": True}:
                        problems(f"{cname}: GITHUB_TOKEN must come from secret driftd-github key token, optional")
                    for e in env.values():
                        if "value" in e and re.search(r"(?i)token|secret|password|key", e["name"]):
                            problems(f"{cname}: {e['name']} has a literal value")
                    check_mode(doc, pod, c, cname, problems)
    if pods == 0:
        problems("no pod templates found")
    if len(images) != 1:
        problems(f"all pods should run the same image, found {sorted(images)}")
    problems.exit(f"{pods} pod templates hardened")


def flag(args_, name):
    return args_[args_.index(name) + 1] if name in args_ and args_.index(name) + 1 < len(args_) else None


def check_mode(doc, pod, c, cname, problems):
    kind = doc.get("kind")
    args_ = c.get("args", [])
    if kind == "Deployment":
        spec = doc["spec"]
        if args_[:1] != ["daemon"] or flag(args_, "--listen") != "0.0.0.0:9090":
            problems(f"{cname}: expected `daemon ... --listen 0.0.0.0:9090`")
        if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
            problems(f"{cname}: the daemon needs replicas 1 and strategy Recreate")
        if (pod.get("terminationGracePeriodSeconds") or 0) < 300 + 30:
            problems(f"{cname}: terminationGracePeriodSeconds must cover the 300 s drain")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        if ports.get("http-metrics") != 9090:
            problems(f"{cname}: containerPort 9090 named http-metrics expected")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") != "http-metrics":
                problems(f"{cname}: {probe} must GET {path} on http-metrics")
    elif kind == "CronJob":
        spec = doc["spec"]
        job = spec["jobTemplate"]["spec"]
        if args_[:1] != ["scan"]:
            problems(f"{cname}: expected `scan`")
        for needed in ("--exit-zero-on-drift", "--quiet"):
            if needed not in args_:
                problems(f"{cname}: {needed} expected")
        if flag(args_, "--pushgateway") is None or flag(args_, "--output") != "json":
            problems(f"{cname}: --pushgateway URL and --output json expected")
        if spec.get("concurrencyPolicy") != "Forbid":
            problems(f"{cname}: concurrencyPolicy must be Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if key not in spec:
                problems(f"{cname}: {key} missing")
        if "activeDeadlineSeconds" not in job:
            problems(f"{cname}: activeDeadlineSeconds missing")
        if pod.get("restartPolicy") != "Never":
            problems(f"{cname}: restartPolicy must be Never")
        if job.get("completionMode") == "Indexed":
            shards = flag(args_, "--shard-count")
            if not shards or not (job.get("completions") == job.get("parallelism") == int(shards)):
                problems(f"{cname}: completions, parallelism and --shard-count must agree")
            if "--shard-index" in args_:
                problems(f"{cname}: leave --shard-index to JOB_COMPLETION_INDEX")
        elif job.get("backoffLimit", 6) > 1:
            problems(f"{cname}: backoffLimit must be 0 or 1")


def cmd_k8s_structure(args):
    """What kubernetes-validate cannot check: the ServiceMonitor (a CRD) and the Kustomization."""
    problems = Problems()
    docs = {}
    for path in manifest_files():
        for doc in load_yaml_docs(path):
            docs.setdefault(doc.get("kind"), []).append((path, doc))
    services = docs.get("Service", [])
    monitors = docs.get("ServiceMonitor", [])
    if len(services) != 1 or len(monitors) != 1:
        problems("expected one Service and one ServiceMonitor")
    else:
        _, svc = services[0]
        _, sm = monitors[0]
        if sm.get("apiVersion") != "monitoring.coreos.com/v1":
            problems(f"ServiceMonitor apiVersion {sm.get('apiVersion')!r}")
        if not sm.get("metadata", {}).get("name"):
            problems("ServiceMonitor has no name")
        unknown = set(sm.get("spec", {})) - {"selector", "endpoints", "namespaceSelector", "jobLabel",
                                             "targetLabels", "podTargetLabels", "sampleLimit"}
        if unknown:
            problems(f"ServiceMonitor spec: unexpected keys {sorted(unknown)}")
        want = sm.get("spec", {}).get("selector", {}).get("matchLabels", {})
        have = svc.get("metadata", {}).get("labels", {})
        if not want or any(have.get(k) != v for k, v in want.items()):
            problems(f"ServiceMonitor selector {want} does not match the Service's labels {have}")
        ports = {p.get("name") for p in svc.get("spec", {}).get("ports", [])}
        endpoints = sm.get("spec", {}).get("endpoints", [])
        if not endpoints:
            problems("ServiceMonitor has no endpoints")
        for ep in endpoints:
            if ep.get("port") not in ports:
                problems(f"ServiceMonitor endpoint port {ep.get('port')!r} is not a Service port {ports}")
            if ep.get("path", "/metrics") != "/metrics":
                problems(f"ServiceMonitor endpoint path {ep.get('path')!r}")
        deploy = [d for _, d in docs.get("Deployment", [])]
        if deploy:
            pod_labels = deploy[0]["spec"]["template"]["metadata"]["labels"]
            sel = svc["spec"].get("selector", {})
            if any(pod_labels.get(k) != v for k, v in sel.items()):
                problems("Service selector does not match the daemon's pod labels")

    import yaml
    with open(os.path.join(K8S_DIR, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    if kust.get("kind") != "Kustomization" or kust.get("namespace") != "driftd":
        problems("kustomization.yaml: kind Kustomization with namespace driftd expected")
    kinds = set()
    for res in kust.get("resources", []):
        path = os.path.join(K8S_DIR, res)
        if not os.path.isfile(path):
            problems(f"kustomization.yaml: resource {res} does not exist")
            continue
        for doc in load_yaml_docs(path):
            kinds.add(doc.get("kind"))
            if doc.get("apiVersion", "").startswith("monitoring.coreos.com"):
                problems(f"kustomization.yaml: {res} needs a CRD; keep it out of the default resources")
    if "Deployment" in kinds and "CronJob" in kinds:
        problems("kustomization.yaml: the daemon and a CronJob would both scan and act")
    for needed in ("Namespace", "ServiceAccount", "ConfigMap"):
        if needed not in kinds:
            problems(f"kustomization.yaml: no {needed}")
    # The NetworkPolicy lets through every documented credential source:
    # IMDS and the EKS Pod Identity agent (both plain HTTP on port 80), STS
    # and the AWS APIs on 443, and DNS.
    for path, np in docs.get("NetworkPolicy", []):
        def allows(ip, port, proto="TCP"):
            for rule in np.get("spec", {}).get("egress", []):
                ports = rule.get("ports")
                port_ok = not ports or any(
                    p.get("port") == port and p.get("protocol", "TCP") == proto for p in ports)
                to = rule.get("to")
                ip_ok = not to or any(
                    t.get("ipBlock", {}).get("cidr") in (ip + "/32", ip + "/128") for t in to)
                if port_ok and ip_ok:
                    return True
            return False
        for ip, port, what in [("169.254.169.254", 80, "instance metadata (IMDS)"),
                               ("169.254.170.23", 80, "the EKS Pod Identity agent"),
                               ("fd00:ec2::254", 80, "instance metadata over IPv6"),
                               ("fd00:ec2::23", 80, "the EKS Pod Identity agent over IPv6"),
                               ("203.0.113.10", 443, "AWS APIs and STS (HTTPS)")]:
            if not allows(ip, port):
                problems(f"{path}: egress to {what} ({ip}:{port}) is blocked")
        if not allows("203.0.113.53", 53, "UDP"):
            problems(f"{path}: DNS egress is blocked")
    if not docs.get("NetworkPolicy"):
        problems("no NetworkPolicy")
    problems.exit("ServiceMonitor, Kustomization and NetworkPolicy consistent")


# --------------------------------------------------------------------- config

def cmd_config(args):
    problems = Problems()
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    cms = [d for p in manifest_files() for d in load_yaml_docs(p) if d.get("kind") == "ConfigMap"]
    if len(cms) != 1 or "driftd.toml" not in cms[0].get("data", {}):
        problems("expected one ConfigMap with a driftd.toml key")
        problems.exit()
    text = cms[0]["data"]["driftd.toml"]
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problems(f"driftd.toml: {e}")
        problems.exit()
    stacks = cfg.get("stacks", [])
    if len(stacks) < 2:
        problems("driftd.toml: two example stacks expected")
    for s in stacks:
        name = s.get("name", "?")
        states = s.get("state")
        states = [states] if isinstance(states, str) else (states or [])
        if not states or not all(x.startswith("s3://") for x in states):
            problems(f"stack {name}: state should be s3:// locations")
        if not s.get("regions"):
            problems(f"stack {name}: regions missing")
        if len(str(s.get("schedule", "")).split()) != 5:
            problems(f"stack {name}: schedule must be a 5-field crontab expression")
    if re.search(r"(?i)(token|secret|password|aws_secret_access_key)\s*=", text):
        problems("driftd.toml: looks like it contains a secret")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        ignore = cms[0]["data"].get(".driftignore")
        if ignore is not None:
            with open(os.path.join(os.path.dirname(args.out), ".driftignore"), "w") as f:
                f.write(ignore)
    problems.exit(f"{len(stacks)} stacks")


# ------------------------------------------------------------------ Dockerfile

def cmd_dockerfile(args):
    problems = Problems()
    with open("Dockerfile") as f:
        text = f.read()
    lines = [ln.strip() for ln in text.splitlines()]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    if len(froms) < 2:
        problems("multi-stage build expected")
    elif not re.search(r"rust:(\$\{RUST_VERSION\}|1\.95)-slim-bookworm", froms[0]):
        problems(f"builder should be rust:1.95-slim-bookworm: {froms[0]}")
    elif "gcr.io/distroless/cc-debian12:nonroot" not in froms[-1]:
        problems(f"final stage should be distroless cc-debian12:nonroot: {froms[-1]}")
    if not re.search(r"ARG RUST_VERSION=1\.95\b", text):
        problems("ARG RUST_VERSION=1.95 expected")
    expect = {
        "cargo build --release --locked -p driftd": "the release build",
        'ENTRYPOINT ["/usr/local/bin/driftd"]': "the entrypoint",
        'CMD ["daemon", "--config", "/etc/driftd/driftd.toml"]': "the default command",
        "USER 65532:65532": "the nonroot user",
        "EXPOSE 9090": "the metrics port",
        "config/driftd.example.toml /etc/driftd/driftd.example.toml": "the example config",
        "org.opencontainers.image.source": "OCI labels",
    }
    for needle, what in expect.items():
        if needle not in text:
            problems(f"Dockerfile: {what} ({needle!r}) missing")
    if not os.path.isfile("config/driftd.example.toml"):
        problems("config/driftd.example.toml does not exist")
    with open(".dockerignore") as f:
        ignored = {ln.strip().rstrip("/") for ln in f if ln.strip() and not ln.startswith("#")}
    for needed in ("target", ".git", "demo/.world", "bench/.world"):
        if needed not in ignored:
            problems(f".dockerignore: {needed} not excluded")
    for needed in ("config", "src", "Cargo.toml", "Cargo.lock", "providers"):
        if needed in ignored:
            problems(f".dockerignore: {needed} is needed by the build")
    problems.exit("Dockerfile contract holds")


# ------------------------------------------------------------------------ IAM

READ_ONLY = re.compile(r"^(ec2:Describe\w+|s3:Get\w+|s3:List\w+|ec2:GetEbsEncryptionByDefault|kms:Decrypt|cloudtrail:LookupEvents)$")


def actions(stmt):
    a = stmt.get("Action", [])
    return [a] if isinstance(a, str) else a


def cmd_iam(args):
    problems = Problems()
    scan = json.load(open("deploy/iam/driftd-scan-policy.json"))
    rec = json.load(open("deploy/iam/driftd-reconcile-policy.json"))
    hist = json.load(open("deploy/iam/driftd-history-policy.json"))
    for name, pol in (("scan", scan), ("reconcile", rec), ("history", hist)):
        if pol.get("Version") != "2012-10-17":
            problems(f"{name}: Version 2012-10-17 expected")
        sids = [s.get("Sid") for s in pol.get("Statement", [])]
        if None in sids or len(set(sids)) != len(sids):
            problems(f"{name}: every statement needs a unique Sid")
    scan_actions = {a for s in scan["Statement"] if s["Effect"] == "Allow" for a in actions(s)}
    for a in sorted(scan_actions):
        if not READ_ONLY.match(a):
            problems(f"scan policy: {a} is not read-only")
    for a in ("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeVolumes",
              "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "s3:ListAllMyBuckets",
              "s3:GetBucketLocation", "s3:GetBucketTagging", "s3:GetBucketVersioning",
              "s3:GetEncryptionConfiguration", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock",
              "s3:GetObject", "s3:ListBucket", "kms:Decrypt", "cloudtrail:LookupEvents"):
        if a not in scan_actions:
            problems(f"scan policy: {a} missing")
    for s in scan["Statement"]:
        if "kms:Decrypt" in actions(s):
            via = json.dumps(s.get("Condition", {}))
            if "kms:ViaService" not in via or "s3." not in via:
                problems("scan policy: kms:Decrypt must be conditioned on kms:ViaService s3")
    # History: driftd's own objects only, never the state or scanned buckets.
    for s in hist["Statement"]:
        res = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        for a in actions(s):
            if a not in ("s3:ListBucket", "s3:GetObject", "s3:PutObject"):
                problems(f"history policy: {a} not needed by the history store")
        for r in res:
            if "*" in r.replace("/history/*", "") or "tf-state" in r:
                problems(f"history policy: {r} is broader than the history bucket/prefix")
    rec_allow = [s for s in rec["Statement"] if s["Effect"] == "Allow"]
    for s in rec_allow:
        for a in actions(s):
            if a.startswith("ec2:") and "aws:ResourceTag/ManagedBy" not in json.dumps(s.get("Condition", {})):
                problems(f"reconcile policy {s['Sid']}: {a} without the ManagedBy tag condition")
            if "*" in a:
                problems(f"reconcile policy {s['Sid']}: wildcard action {a}")
        res = s.get("Resource")
        if res == "*" or res == ["*"]:
            problems(f"reconcile policy {s['Sid']}: Resource * on a write")
    # Events ([events]): exactly the queue consumer's actions, on the queue only.
    ev = json.load(open("deploy/iam/driftd-events-policy.json"))
    ev_actions = sorted(a for s in ev["Statement"] if s["Effect"] == "Allow" for a in actions(s))
    # The calls the consumer makes: ReceiveMessage, DeleteMessageBatch
    # (sqs:DeleteMessage), ChangeMessageVisibility (poison back-off).
    want = sorted(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"])
    if ev_actions != want:
        problems(f"events policy: actions {ev_actions}, expected exactly {want}")
    for s in ev["Statement"]:
        res = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        for r in res:
            if not r.startswith("arn:aws:sqs:") or r.endswith("*"):
                problems(f"events policy: {r} is broader than the events queue")
    # The README's IAM section shows the same grants (attribution, events).
    readme = open("README.md", encoding="utf-8").read()
    iam = readme[readme.find("## IAM permissions"):]
    iam = iam[:iam.find("\n## ", 3)]
    if '"cloudtrail:LookupEvents"' not in iam:
        problems("README IAM section: cloudtrail:LookupEvents missing")
    # ... and exactly the scan policy's live read actions.
    live = set()
    for s in scan["Statement"]:
        if s.get("Sid", "").startswith("Live"):
            live |= set(actions(s))
    live_block = iam[iam.find('"Sid": "LiveRead"'):]
    live_block = live_block[:live_block.find("]}")]
    shown_live = set(re.findall(r'"((?:ec2|s3):\w+)"', live_block))
    if shown_live != live:
        problems(f"README IAM section: read actions differ from the scan policy: "
                 f"missing {sorted(live - shown_live)}, extra {sorted(shown_live - live)}")
    shown = sorted(set(re.findall(r'"(sqs:\w+)"', iam)))
    if shown != want:
        problems(f"README IAM section: SQS actions {shown}, the events policy has {want}")
    problems.exit("scan read-only, history scoped, reconcile tag-scoped, events queue-scoped")


def cmd_iam_lint(args):
    """parliament: unknown actions, resource/action mismatches, unknown condition keys."""
    from parliament import analyze_policy_string
    # Findings reviewed and accepted, documented in deploy/iam/README.md.
    accepted = {
        ("driftd-reconcile-policy.json", "RESOURCE_POLICY_PRIVILEGE_ESCALATION"),
    }
    problems = Problems()
    for name in sorted(f for f in os.listdir("deploy/iam") if f.endswith(".json")):
        with open(os.path.join("deploy/iam", name)) as f:
            policy = analyze_policy_string(f.read())
        for finding in policy.findings:
            if (name, finding.issue) in accepted:
                continue
            problems(f"{name}: {finding.issue} {finding.detail}")
    problems.exit("no unexpected findings")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dashboard")
    p.add_argument("--promql-out", help="write the queries as a rules file for promtool")
    p.set_defaults(fn=cmd_dashboard)
    p = sub.add_parser("rules")
    p.add_argument("--tests", default="dashboards/driftd-alerts_test.yml")
    p.set_defaults(fn=cmd_rules)
    sub.add_parser("k8s-security").set_defaults(fn=cmd_k8s_security)
    sub.add_parser("k8s-structure").set_defaults(fn=cmd_k8s_structure)
    p = sub.add_parser("config")
    p.add_argument("--out", help="write driftd.toml (and .driftignore) here")
    p.set_defaults(fn=cmd_config)
    sub.add_parser("dockerfile").set_defaults(fn=cmd_dockerfile)
    sub.add_parser("iam").set_defaults(fn=cmd_iam)
    sub.add_parser("iam-lint").set_defaults(fn=cmd_iam_lint)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
