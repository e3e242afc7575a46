#!/usr/bin/env python3
"""Check the demo's JSON report for what the quickstart promises.

    demo/check_report.py demo/.world/report.json            # the drifted world
    demo/check_report.py demo/.world/report.json --no-drift # the untouched world

The drifted world must show changed, missing and unmanaged drift (changed
drift on a route table, an EBS volume, a lifecycle and a logging
configuration among it), a decision on every drift, who changed each
changed drift (`changed_by`), the app stack's reconcile dry-run calls, and the proposed
code changes (patches with a diff, an import and a removal); the untouched
world must compare clean (no drift, nothing unknown, every stack ok). The
JSON report is checked, never the wording of the text one. Exits 1 with every
problem listed.
"""

import json
import sys


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    no_drift = "--no-drift" in sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        report = json.load(f)

    problems = []
    summary = report.get("summary", {})
    stacks = report.get("stacks", [])
    if not stacks:
        problems.append("the report has no stacks")
    for st in stacks:
        if st.get("status") != "ok":
            problems.append(f"stack {st.get('name')}: status {st.get('status')} ({st.get('errors')})")
        if st.get("unknown"):
            problems.append(f"stack {st.get('name')}: unknown resources {st['unknown']}")
    for scope in report.get("unmanaged", []):
        if scope.get("status") != "ok":
            problems.append(f"unmanaged scope {scope.get('region')}: status {scope.get('status')}")

    drifts = [d for st in stacks for d in st.get("drifts", [])]
    drifts += [d for scope in report.get("unmanaged", []) for d in scope.get("drifts", [])]

    if no_drift:
        if drifts or summary.get("drifts", 0) != 0:
            problems.append(f"the untouched world shows drift: {json.dumps(drifts)[:2000]}")
    else:
        kinds = {d.get("kind") for d in drifts}
        for kind in ("changed", "missing", "unmanaged"):
            if kind not in kinds:
                problems.append(f"no {kind} drift in the report")
        # The world's network, volume and bucket configurations drift too.
        changed_types = {d.get("type") for d in drifts if d.get("kind") == "changed"}
        for rtype in ("aws_route_table", "aws_ebs_volume", "aws_s3_bucket_lifecycle_configuration",
                      "aws_s3_bucket_logging"):
            if rtype not in changed_types:
                problems.append(f"no changed {rtype} in the report")
        for d in drifts:
            dec = d.get("decision") or {}
            if dec.get("action") not in ("reconcile", "pull_request", "report_only", "ignored"):
                problems.append(f"no decision for {d.get('address') or d.get('id')}")
        # Attribution: the drift step recorded a CloudTrail event per change
        # (demo/fake_cloudtrail.py serves them): every changed drift says who.
        for d in drifts:
            if d.get("kind") == "changed" and not (d.get("changed_by") or {}).get("principal"):
                problems.append(f"no changed_by on changed drift {d.get('address') or d.get('id')}"
                                f" ({d.get('unattributed')})")
        if not any(d.get("changed_by") for d in drifts if d.get("kind") != "changed"):
            problems.append("no changed_by on any missing or unmanaged drift")
        actions = [a for st in stacks for a in st.get("actions", [])]
        dry = [a for a in actions if a.get("dry_run") and a.get("outcome") == "dry_run" and a.get("operation")]
        if not dry:
            problems.append("no reconcile dry-run call in the report (the app stack runs reconcile = \"dry_run\")")
        if any(not a.get("dry_run") for a in actions):
            problems.append("an action in the demo was not a dry run")
        # The PR step runs in local patch mode: the proposed code changes
        # hold a changed attribute, an import and a removal.
        patches = [p for st in stacks for key in ("opened", "updated", "unchanged")
                   for p in (st.get("pull_requests") or {}).get(key, [])]
        if not patches:
            problems.append("no proposed code change (pull request patch) in the report")
        text = ""
        for p in patches:
            try:
                with open(p, encoding="utf-8") as f:
                    text += f.read()
            except OSError as e:
                problems.append(f"patch {p} named in the report cannot be read: {e}")
        for what, needle in (("an import block", "+import {"), ("a removed block", "+removed {"),
                             ("a diff", "\n+++ b/")):
            if needle not in text:
                problems.append(f"the proposed code changes hold no {what}")

    for p in problems:
        print(f"demo check: {p}", file=sys.stderr)
    if problems:
        return 1
    what = "no drift" if no_drift else f"{len(drifts)} drifts, kinds and decisions as promised"
    print(f"demo check: ok ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
