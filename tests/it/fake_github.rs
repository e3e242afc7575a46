//! A stateful fake of the GitHub REST API, on loopback, for the pull request
//! tests: real HTTP through octocrab, with repository content kept in memory
//! so tests can assert the exact bytes on a branch.
//!
//! It implements just what driftd calls: git refs, commits, trees, blobs,
//! pulls (list by head/state, create, update, get), issue labels and
//! comments (list, create). `prefix` mimics GitHub Enterprise's `/api/v3`.
//!
//! Faults for the reliability tests: `fail_next` (502 for the next N
//! requests) and `fault` (a rule per request pattern: 5xx, a 403 rate limit
//! with `x-ratelimit-remaining: 0`, a 429 with `retry-after`, or a dropped
//! connection, before or after the request took effect).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Commit {
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
    /// The author as sent (name, email), for assertions.
    pub author: Value,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: String,
    pub merged: bool,
    pub labels: Vec<String>,
    pub comments: Vec<String>,
}

/// A fault the fake can answer with instead of the real answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GhFault {
    /// HTTP 502.
    ServerError,
    /// HTTP 403, `x-ratelimit-remaining: 0`, reset `reset_in` seconds from now.
    RateLimited { reset_in: u64 },
    /// HTTP 429 with `retry-after`.
    TooMany { retry_after: u64 },
    /// Close the connection without answering; the request had no effect.
    Drop,
    /// Do the request, then close the connection without answering (the
    /// client never learns it worked: a crash right after the call).
    DropAfter,
}

#[derive(Default)]
pub struct State {
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub refs: BTreeMap<String, String>,
    pub commits: HashMap<String, Commit>,
    /// tree sha -> path -> blob sha
    pub trees: HashMap<String, BTreeMap<String, String>>,
    pub blobs: HashMap<String, Vec<u8>>,
    pub pulls: Vec<Pull>,
    /// Commits created through the API.
    pub commits_created: usize,
    /// Every request: "METHOD /path?query".
    pub log: Vec<String>,
    /// Answer the next N requests with 502 (retries must cope).
    pub fail_next: usize,
    /// When set (GitHub App mode), repository calls need this token.
    pub installation_token: Option<String>,
    /// JWTs presented to the installation token endpoint.
    pub jwts: Vec<String>,
    /// (pattern in "METHOD /path", fault, how many more times).
    pub faults: Vec<(String, GhFault, usize)>,
    /// Faults answered, in order.
    pub faults_injected: Vec<GhFault>,
    counter: u64,
}

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    hex::encode(h.finalize())[..40].to_string()
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 15 == 0 {
            s.push('\n'); // GitHub wraps its base64
        }
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    fn put_tree(&mut self, files: BTreeMap<String, String>) -> String {
        let mut parts: Vec<u8> = Vec::new();
        for (p, s) in &files {
            parts.extend_from_slice(p.as_bytes());
            parts.push(b'=');
            parts.extend_from_slice(s.as_bytes());
            parts.push(b'\n');
        }
        let t = sha(&[b"tree", &parts]);
        self.trees.insert(t.clone(), files);
        t
    }

    fn put_blob(&mut self, content: Vec<u8>) -> String {
        let s = sha(&[b"blob", &content]);
        self.blobs.insert(s.clone(), content);
        s
    }

    fn put_commit(
        &mut self,
        tree: String,
        parents: Vec<String>,
        message: String,
        author: Value,
    ) -> String {
        self.counter += 1;
        let c = sha(&[
            b"commit",
            tree.as_bytes(),
            parents.join(",").as_bytes(),
            message.as_bytes(),
            self.counter.to_string().as_bytes(),
        ]);
        self.commits.insert(
            c.clone(),
            Commit {
                tree,
                parents,
                message,
                author,
            },
        );
        c
    }

    /// Files on a branch.
    pub fn files(&self, branch: &str) -> Option<BTreeMap<String, String>> {
        let c = self.refs.get(branch)?;
        let t = &self.commits[c].tree;
        Some(
            self.trees[t]
                .iter()
                .map(|(p, b)| {
                    (
                        p.clone(),
                        String::from_utf8_lossy(&self.blobs[b]).into_owned(),
                    )
                })
                .collect(),
        )
    }

    fn pull_json(&self, p: &Pull) -> Value {
        json!({
            "number": p.number,
            "title": p.title,
            "body": p.body,
            "state": p.state,
            "html_url": format!("https://github.example/{}/{}/pull/{}", self.owner, self.name, p.number),
            "head": {"ref": p.head, "label": format!("{}:{}", self.owner, p.head)},
            "base": {"ref": p.base},
            "merged_at": if p.merged { json!("2024-01-01T00:00:00Z") } else { Value::Null },
            "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        })
    }

    fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let q: HashMap<String, String> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (pct_decode(k), pct_decode(v))
            })
            .collect();
        let repo_prefix = format!("/repos/{}/{}", self.owner, self.name);
        let Some(rest) = path.strip_prefix(&repo_prefix) else {
            return not_found();
        };
        let rest = rest.trim_start_matches('/');
        let rest = pct_decode(rest);
        let seg: Vec<&str> = rest.split('/').collect();
        match (method, seg.as_slice()) {
            ("GET", [""]) => (
                StatusCode::OK,
                json!({"full_name": format!("{}/{}", self.owner, self.name), "default_branch": self.default_branch}),
            ),
            ("GET", ["git", "ref", "heads", ..]) => {
                let b = seg[3..].join("/");
                match self.refs.get(&b) {
                    Some(s) => (
                        StatusCode::OK,
                        json!({"ref": format!("refs/heads/{b}"), "object": {"sha": s, "type": "commit"}}),
                    ),
                    None => not_found(),
                }
            }
            ("POST", ["git", "refs"]) => {
                let r = body["ref"].as_str().unwrap_or("");
                let b = r.strip_prefix("refs/heads/").unwrap_or(r).to_string();
                let s = body["sha"].as_str().unwrap_or("").to_string();
                if self.refs.contains_key(&b) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Reference already exists"}),
                    );
                }
                if !self.commits.contains_key(&s) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Object does not exist"}),
                    );
                }
                self.refs.insert(b.clone(), s.clone());
                (StatusCode::CREATED, json!({"ref": r, "object": {"sha": s}}))
            }
            ("PATCH", ["git", "refs", "heads", ..]) => {
                let b = seg[3..].join("/");
                let s = body["sha"].as_str().unwrap_or("").to_string();
                if !self.refs.contains_key(&b) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Reference does not exist"}),
                    );
                }
                if body["force"] != json!(true) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Update is not a fast forward"}),
                    );
                }
                self.refs.insert(b.clone(), s.clone());
                (
                    StatusCode::OK,
                    json!({"ref": format!("refs/heads/{b}"), "object": {"sha": s}}),
                )
            }
            ("DELETE", ["git", "refs", "heads", ..]) => {
                let b = seg[3..].join("/");
                match self.refs.remove(&b) {
                    Some(_) => (StatusCode::NO_CONTENT, Value::Null),
                    None => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Reference does not exist"}),
                    ),
                }
            }
            ("GET", ["git", "commits", s]) => match self.commits.get(*s) {
                Some(c) => (
                    StatusCode::OK,
                    json!({"sha": s, "tree": {"sha": c.tree}, "message": c.message,
                           "parents": c.parents.iter().map(|p| json!({"sha": p})).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            ("GET", ["git", "trees", s]) => match self.trees.get(*s) {
                Some(t) => {
                    let mut entries = Vec::new();
                    let mut dirs = std::collections::BTreeSet::new();
                    for (p, b) in t {
                        let mut d = p.as_str();
                        while let Some((parent, _)) = d.rsplit_once('/') {
                            dirs.insert(parent.to_string());
                            d = parent;
                        }
                        entries
                            .push(json!({"path": p, "mode": "100644", "type": "blob", "sha": b}));
                    }
                    for d in dirs {
                        entries
                            .push(json!({"path": d, "mode": "040000", "type": "tree", "sha": "0"}));
                    }
                    let _ = q.get("recursive");
                    (
                        StatusCode::OK,
                        json!({"sha": s, "tree": entries, "truncated": false}),
                    )
                }
                None => not_found(),
            },
            ("GET", ["git", "blobs", s]) => match self.blobs.get(*s) {
                Some(b) => (
                    StatusCode::OK,
                    json!({"sha": s, "encoding": "base64", "content": b64(b)}),
                ),
                None => not_found(),
            },
            ("POST", ["git", "blobs"]) => {
                let content = body["content"].as_str().unwrap_or("").as_bytes().to_vec();
                let s = self.put_blob(content);
                (StatusCode::CREATED, json!({"sha": s}))
            }
            ("POST", ["git", "trees"]) => {
                let mut files = match body["base_tree"].as_str() {
                    Some(b) => match self.trees.get(b) {
                        Some(t) => t.clone(),
                        None => {
                            return (
                                StatusCode::UNPROCESSABLE_ENTITY,
                                json!({"message": "base_tree not found"}),
                            )
                        }
                    },
                    None => BTreeMap::new(),
                };
                for e in body["tree"].as_array().into_iter().flatten() {
                    let p = e["path"].as_str().unwrap_or("").to_string();
                    if let Some(c) = e["content"].as_str() {
                        let b = self.put_blob(c.as_bytes().to_vec());
                        files.insert(p, b);
                    } else if let Some(b) = e["sha"].as_str() {
                        files.insert(p, b.to_string());
                    } else {
                        files.remove(&p);
                    }
                }
                let t = self.put_tree(files);
                (StatusCode::CREATED, json!({"sha": t}))
            }
            ("POST", ["git", "commits"]) => {
                let tree = body["tree"].as_str().unwrap_or("").to_string();
                if !self.trees.contains_key(&tree) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "tree not found"}),
                    );
                }
                let parents = body["parents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect();
                let msg = body["message"].as_str().unwrap_or("").to_string();
                let c = self.put_commit(tree, parents, msg, body["author"].clone());
                self.commits_created += 1;
                (StatusCode::CREATED, json!({"sha": c}))
            }
            ("GET", ["pulls"]) => {
                let state = q.get("state").map(String::as_str).unwrap_or("open");
                let head = q.get("head").cloned();
                let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let mut v: Vec<Value> = self
                    .pulls
                    .iter()
                    .rev()
                    .filter(|p| state == "all" || p.state == state)
                    .filter(|p| {
                        head.is_none()
                            || head.as_deref() == Some(&format!("{}:{}", self.owner, p.head))
                    })
                    .map(|p| self.pull_json(p))
                    .collect();
                let start = (page - 1) * per;
                v = v.into_iter().skip(start).take(per).collect();
                (StatusCode::OK, Value::Array(v))
            }
            ("POST", ["pulls"]) => {
                let head = body["head"].as_str().unwrap_or("").to_string();
                if !self.refs.contains_key(&head) {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Validation Failed", "errors": [{"field": "head", "code": "invalid"}]}),
                    );
                }
                if self
                    .pulls
                    .iter()
                    .any(|p| p.head == head && p.state == "open")
                {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "A pull request already exists"}),
                    );
                }
                let number = self.pulls.len() as u64 + 1;
                let p = Pull {
                    number,
                    title: body["title"].as_str().unwrap_or("").into(),
                    body: body["body"].as_str().unwrap_or("").into(),
                    head,
                    base: body["base"].as_str().unwrap_or("").into(),
                    state: "open".into(),
                    merged: false,
                    labels: vec![],
                    comments: vec![],
                };
                let j = self.pull_json(&p);
                self.pulls.push(p);
                (StatusCode::CREATED, j)
            }
            ("GET", ["pulls", n]) => match self.pulls.iter().find(|p| p.number.to_string() == *n) {
                Some(p) => (StatusCode::OK, self.pull_json(p)),
                None => not_found(),
            },
            ("PATCH", ["pulls", n]) => {
                let Some(p) = self.pulls.iter_mut().find(|p| p.number.to_string() == *n) else {
                    return not_found();
                };
                if let Some(t) = body["title"].as_str() {
                    p.title = t.into();
                }
                if let Some(b) = body["body"].as_str() {
                    p.body = b.into();
                }
                if let Some(s) = body["state"].as_str() {
                    p.state = s.into();
                }
                let p = p.clone();
                (StatusCode::OK, self.pull_json(&p))
            }
            ("POST", ["issues", n, "labels"]) => {
                let Some(p) = self.pulls.iter_mut().find(|p| p.number.to_string() == *n) else {
                    return not_found();
                };
                for l in body["labels"].as_array().into_iter().flatten() {
                    let l = l.as_str().unwrap_or("").to_string();
                    if !p.labels.contains(&l) {
                        p.labels.push(l);
                    }
                }
                (
                    StatusCode::OK,
                    json!(p
                        .labels
                        .iter()
                        .map(|l| json!({"name": l}))
                        .collect::<Vec<_>>()),
                )
            }
            ("GET", ["issues", n, "comments"]) => {
                let Some(p) = self.pulls.iter().find(|p| p.number.to_string() == *n) else {
                    return not_found();
                };
                let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let v: Vec<Value> = p
                    .comments
                    .iter()
                    .enumerate()
                    .skip((page - 1) * per)
                    .take(per)
                    .map(|(i, c)| json!({"id": i + 1, "body": c}))
                    .collect();
                (StatusCode::OK, Value::Array(v))
            }
            ("POST", ["issues", n, "comments"]) => {
                let Some(p) = self.pulls.iter_mut().find(|p| p.number.to_string() == *n) else {
                    return not_found();
                };
                p.comments.push(body["body"].as_str().unwrap_or("").into());
                (
                    StatusCode::CREATED,
                    json!({"id": p.comments.len(), "body": body["body"]}),
                )
            }
            _ => not_found(),
        }
    }
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// A running fake; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeGithub {
    /// Base URL to configure as `api_url` (includes the prefix).
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGithub {
    /// Start a fake holding `owner/name` with `files` on `main`.
    pub async fn start(prefix: &str, repository: &str, files: &[(&str, &str)]) -> Self {
        let (owner, name) = repository.split_once('/').unwrap();
        let mut st = State {
            owner: owner.into(),
            name: name.into(),
            default_branch: "main".into(),
            ..Default::default()
        };
        let mut tree = BTreeMap::new();
        for (p, c) in files {
            let b = st.put_blob(c.as_bytes().to_vec());
            tree.insert(p.to_string(), b);
        }
        let t = st.put_tree(tree);
        let c = st.put_commit(t, vec![], "initial".into(), Value::Null);
        st.refs.insert("main".into(), c);
        let state = Arc::new(Mutex::new(st));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let prefix = prefix.trim_end_matches('/').to_string();
        let st2 = state.clone();
        let pfx = prefix.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st2.clone();
                let pfx = pfx.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        let pfx = pfx.clone();
                        async move { serve(st, &pfx, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeGithub {
            url: format!("http://{addr}{prefix}"),
            state,
        }
    }

    pub fn files(&self, branch: &str) -> Option<BTreeMap<String, String>> {
        self.state.lock().unwrap().files(branch)
    }

    pub fn file(&self, branch: &str, path: &str) -> Option<String> {
        self.files(branch)?.get(path).cloned()
    }

    pub fn pulls(&self) -> Vec<Pull> {
        self.state.lock().unwrap().pulls.clone()
    }

    pub fn branches(&self) -> Vec<String> {
        self.state.lock().unwrap().refs.keys().cloned().collect()
    }

    pub fn commits_created(&self) -> usize {
        self.state.lock().unwrap().commits_created
    }

    /// The message of the commit a branch points to.
    /// The author of the commit a branch points to.
    pub fn head_author(&self, branch: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        let c = st.refs.get(branch)?;
        Some(st.commits[c].author.clone())
    }

    pub fn head_message(&self, branch: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        let c = st.refs.get(branch)?;
        Some(st.commits[c].message.clone())
    }

    /// A human closes pull request `n` without merging it.
    pub fn human_close(&self, n: u64) {
        let mut st = self.state.lock().unwrap();
        let p = st.pulls.iter_mut().find(|p| p.number == n).unwrap();
        p.state = "closed".into();
    }

    /// Another commit lands on `main` (someone else's change).
    pub fn push_main(&self, path: &str, content: &str) {
        let mut st = self.state.lock().unwrap();
        let head = st.refs["main"].clone();
        let mut tree = st.trees[&st.commits[&head].tree].clone();
        let b = st.put_blob(content.as_bytes().to_vec());
        tree.insert(path.into(), b);
        let t = st.put_tree(tree);
        let c = st.put_commit(t, vec![head], "other change".into(), Value::Null);
        st.refs.insert("main".into(), c);
    }

    /// Expect GitHub App authentication: repository calls need the
    /// installation token handed out for a JWT.
    pub fn app_mode(&self) {
        self.state.lock().unwrap().installation_token = Some("not-yet-issued".into());
    }

    pub fn jwts(&self) -> Vec<String> {
        self.state.lock().unwrap().jwts.clone()
    }

    /// Answer the next `times` requests whose "METHOD /path" contains
    /// `pattern` with `fault`. Rules are tried in the order added.
    pub fn fault(&self, pattern: &str, fault: GhFault, times: usize) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push((pattern.into(), fault, times));
    }

    pub fn faults_injected(&self) -> Vec<GhFault> {
        self.state.lock().unwrap().faults_injected.clone()
    }

    /// A branch pointing at a new commit on `main` (as a run that died after
    /// pushing its branch, before opening the pull request, leaves it).
    pub fn push_branch(&self, branch: &str, path: &str, content: &str) {
        let mut st = self.state.lock().unwrap();
        let head = st.refs["main"].clone();
        let mut tree = st.trees[&st.commits[&head].tree].clone();
        let b = st.put_blob(content.as_bytes().to_vec());
        tree.insert(path.into(), b);
        let t = st.put_tree(tree);
        let c = st.put_commit(t, vec![head], "driftd: half-done run".into(), Value::Null);
        st.refs.insert(branch.into(), c);
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

/// An error makes hyper close the connection without an answer.
type Served = Result<Response<Full<Bytes>>, std::io::Error>;

fn dropped() -> Served {
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "fake GitHub: connection dropped",
    ))
}

async fn serve(st: Arc<Mutex<State>>, prefix: &str, req: Request<Incoming>) -> Served {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bearer = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or("")
        .to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut headers: Vec<(&str, String)> = Vec::new();
    let drop_after;
    let (status, out) = {
        let mut s = st.lock().unwrap();
        s.log.push(format!("{method} {path}?{query}"));
        let line = format!("{method} {path}");
        let fault = s
            .faults
            .iter_mut()
            .find(|(p, _, n)| *n > 0 && line.contains(p.as_str()))
            .map(|r| {
                r.2 -= 1;
                r.1
            });
        if let Some(f) = fault {
            s.faults_injected.push(f);
        }
        if fault == Some(GhFault::Drop) {
            return dropped();
        }
        drop_after = fault == Some(GhFault::DropAfter);
        if let Some(GhFault::RateLimited { reset_in }) = fault {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            headers.push(("x-ratelimit-limit", "5000".into()));
            headers.push(("x-ratelimit-remaining", "0".into()));
            headers.push(("x-ratelimit-reset", (now + reset_in).to_string()));
            (
                StatusCode::FORBIDDEN,
                json!({"message": "API rate limit exceeded for installation ID 1.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}),
            )
        } else if let Some(GhFault::TooMany { retry_after }) = fault {
            headers.push(("retry-after", retry_after.to_string()));
            (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "You have exceeded a secondary rate limit."}),
            )
        } else if fault == Some(GhFault::ServerError) {
            (StatusCode::BAD_GATEWAY, json!({"message": "Server Error"}))
        } else if s.fail_next > 0 {
            s.fail_next -= 1;
            (StatusCode::BAD_GATEWAY, json!({"message": "Server Error"}))
        } else if method == "POST"
            && path.strip_prefix(prefix).is_some_and(|p| {
                p.starts_with("/app/installations/") && p.ends_with("/access_tokens")
            })
        {
            // A JWT: three parts, RS256 header.
            if bearer.split('.').count() == 3
                && bearer.starts_with("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.")
            {
                s.jwts.push(bearer.clone());
                let t = "ghs_fake_installation_token".to_string();
                s.installation_token = Some(t.clone());
                (
                    StatusCode::CREATED,
                    json!({"token": t, "expires_at": "2099-01-01T00:00:00Z"}),
                )
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    json!({"message": "A JSON web token could not be decoded"}),
                )
            }
        } else if bearer.is_empty() || s.installation_token.as_ref().is_some_and(|t| *t != bearer) {
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Bad credentials"}),
            )
        } else {
            match path.strip_prefix(prefix) {
                Some(p) if prefix.is_empty() || p.starts_with('/') => {
                    s.handle(&method, p, &query, &body)
                }
                _ => not_found(),
            }
        }
    };
    let text = if out.is_null() {
        String::new()
    } else {
        out.to_string()
    };
    if drop_after {
        return dropped();
    }
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    Ok(b.body(Full::new(Bytes::from(text))).unwrap())
}
