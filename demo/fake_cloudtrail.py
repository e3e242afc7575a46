#!/usr/bin/env python3
"""A loopback fake of CloudTrail LookupEvents for the driftd demo.

    demo/fake_cloudtrail.py --port 5001 --events demo/.world/cloudtrail-events.json

moto does not implement LookupEvents, so the demo serves its own, speaking
the real JSON 1.1 protocol: `POST /` with `X-Amz-Target:
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents` (or the
Rust SDK's `CloudTrail_20131101.LookupEvents`) and `Content-Type:
application/x-amz-json-1.1`; one `ResourceName` lookup attribute; the answer
is `Events[]` (newest first, `CloudTrailEvent` as a JSON string) with
`NextToken` paging. The events are the ones demo/seed.py's drift step wrote
(one CloudTrail record per out-of-band change); the file is read on every
request, so the server can start before the drift is applied. Only the
loopback interface is served.
"""

import argparse
import json
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGETS = {
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
    "CloudTrail_20131101.LookupEvents",
}


def epoch(t):
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def lookup(events, request):
    attrs = request.get("LookupAttributes") or []
    if len(attrs) != 1 or attrs[0].get("AttributeKey") != "ResourceName":
        return 400, {"__type": "InvalidLookupAttributesException",
                     "message": "exactly one ResourceName lookup attribute"}
    name = attrs[0].get("AttributeValue", "")
    start = float(request.get("StartTime", 0))
    end = float(request.get("EndTime", float("inf")))
    size = min(int(request.get("MaxResults", 50)), 50)
    offset = int(request.get("NextToken") or 0)
    matching = [e for e in events if e["resource"] == name and start <= epoch(e["record"]["eventTime"]) <= end]
    matching.sort(key=lambda e: e["record"]["eventTime"], reverse=True)
    page = matching[offset:offset + size]
    out = {"Events": [{
        "EventId": e["record"]["eventID"],
        "EventName": e["record"]["eventName"],
        "ReadOnly": "true" if e["record"].get("readOnly") else "false",
        "EventTime": epoch(e["record"]["eventTime"]),
        "EventSource": e["record"]["eventSource"],
        "Resources": [{"ResourceType": e.get("type", ""), "ResourceName": e["resource"]}],
        "CloudTrailEvent": json.dumps(e["record"]),
    } for e in page]}
    if offset + size < len(matching):
        out["NextToken"] = str(offset + size)
    return 200, out


def handler(events_path):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target", "")
            ctype = self.headers.get("Content-Type", "")
            if target not in TARGETS or not ctype.startswith("application/x-amz-json-1.1"):
                status, out = 400, {"__type": "UnknownOperationException", "message": f"target {target!r}"}
            else:
                try:
                    request = json.loads(body or b"{}")
                except ValueError:
                    request = None
                if not isinstance(request, dict):
                    status, out = 400, {"__type": "SerializationException", "message": "not a JSON object"}
                else:
                    status, out = lookup(load(events_path), request)
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-RequestId", "demo-fake-cloudtrail")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--events", required=True, help="the JSON list of events demo/seed.py writes")
    a = p.parse_args()
    ThreadingHTTPServer(("127.0.0.1", a.port), handler(a.events)).serve_forever()


if __name__ == "__main__":
    main()
