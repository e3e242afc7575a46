//! A stateful fake of CloudTrail's `LookupEvents`, on loopback, speaking the
//! real JSON 1.1 protocol (moto does not implement LookupEvents): `POST /`
//! with `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`,
//! (or the Rust SDK's `CloudTrail_20131101.LookupEvents`),
//! `Content-Type: application/x-amz-json-1.1`; the answer has `Events[]` with
//! `CloudTrailEvent` as a JSON string, newest first, and `NextToken` paging.
//! Faults: `throttle_next` answers the next N requests with HTTP 400
//! `ThrottlingException`; `delay` holds each answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// The target botocore sends (its `targetPrefix`)...
pub const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
/// ... and the one the Rust SDK sends (the Smithy service shape name); the
/// service accepts both.
pub const SDK_TARGET: &str = "CloudTrail_20131101.LookupEvents";

/// One stored event.
#[derive(Debug, Clone)]
pub struct Stored {
    pub resource: String,
    /// Seconds since the epoch.
    pub time: f64,
    pub record: Value,
}

#[derive(Default)]
pub struct State {
    pub events: Vec<Stored>,
    /// (resource looked up, when), for every LookupEvents request answered or throttled.
    pub requests: Vec<(String, Instant)>,
    pub throttle_next: usize,
    pub throttled: usize,
    pub delay: Duration,
    /// Events per page (the real maximum is 50).
    pub page_size: usize,
}

pub struct FakeCloudTrail {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A CloudTrail record of a write call (`userIdentity` of an assumed role).
pub fn record(
    event_name: &str,
    role: &str,
    session: &str,
    user_agent: &str,
    console: bool,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:".to_string() + session,
            "arn": format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}"),
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                "arn": format!("arn:aws:iam::123456789012:role/{role}")}}
        },
        "eventSource": "ec2.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": user_agent,
        "readOnly": false,
        "sessionCredentialFromConsole": if console { "true" } else { "false" },
        "managementEvent": true,
        "recipientAccountId": "123456789012"
    })
}

impl FakeCloudTrail {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            page_size: 50,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let st2 = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        async move { serve(st, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// Store an event for `resource`, `ago` before now, with a fresh event id.
    pub fn add(&self, resource: &str, ago: Duration, mut record: Value) -> String {
        let mut st = self.state.lock().unwrap();
        let id = format!("ev-{:04}-{resource}", st.events.len());
        let time = now_secs() - ago.as_secs_f64();
        record["eventID"] = json!(id);
        record["eventTime"] = json!(chrono::DateTime::from_timestamp(time as i64, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string());
        st.events.push(Stored {
            resource: resource.into(),
            time,
            record,
        });
        id
    }

    pub fn requests_for(&self, resource: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.requests.iter().filter(|(r, _)| r == resource).count()
    }
}

fn answer(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", "fake-request-id")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn serve(
    st: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if req_is_bad(&target, &ctype) {
        return Ok(answer(
            400,
            json!({"__type": "UnknownOperationException", "message": format!("target `{target}`")}),
        ));
    }
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let resource = input["LookupAttributes"][0]["AttributeValue"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let key = input["LookupAttributes"][0]["AttributeKey"]
        .as_str()
        .unwrap_or("");
    let delay = {
        let mut s = st.lock().unwrap();
        s.requests.push((resource.clone(), Instant::now()));
        if s.throttle_next > 0 {
            s.throttle_next -= 1;
            s.throttled += 1;
            return Ok(answer(
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
            ));
        }
        s.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if key != "ResourceName" || input["LookupAttributes"].as_array().map(Vec::len) != Some(1) {
        return Ok(answer(
            400,
            json!({"__type": "InvalidLookupAttributesException", "message": "one ResourceName attribute"}),
        ));
    }
    let start = input["StartTime"].as_f64().unwrap_or(0.0);
    let end = input["EndTime"].as_f64().unwrap_or(f64::MAX);
    let max = input["MaxResults"].as_u64().unwrap_or(50).min(50) as usize;
    let offset: usize = input["NextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let s = st.lock().unwrap();
    let mut matching: Vec<&Stored> = s
        .events
        .iter()
        .filter(|e| e.resource == resource && e.time >= start && e.time <= end)
        .collect();
    matching.sort_by(|a, b| b.time.partial_cmp(&a.time).unwrap());
    let page = max.min(s.page_size);
    let events: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page)
        .map(|e| {
            let ro = e.record["readOnly"].as_bool().unwrap_or(false);
            json!({
                "EventId": e.record["eventID"],
                "EventName": e.record["eventName"],
                "ReadOnly": if ro { "true" } else { "false" },
                "AccessKeyId": "ASIAEXAMPLE",
                "EventTime": e.time,
                "EventSource": e.record["eventSource"],
                "Username": e.record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"],
                "Resources": [{"ResourceType": "AWS::EC2::Instance", "ResourceName": e.resource}],
                "CloudTrailEvent": e.record.to_string(),
            })
        })
        .collect();
    let mut out = json!({"Events": events});
    if offset + page < matching.len() {
        out["NextToken"] = json!((offset + page).to_string());
    }
    Ok(answer(200, out))
}

fn req_is_bad(target: &str, ctype: &str) -> bool {
    (target != TARGET && target != SDK_TARGET) || !ctype.starts_with("application/x-amz-json-1.1")
}
