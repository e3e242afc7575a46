//! The pull request lifecycle on GitHub (and GitHub Enterprise).
//!
//! Why raw REST calls through octocrab: the git data API (trees, commits,
//! refs) has no typed builders in octocrab, and a few JSON calls are easier
//! to follow (and to fake in tests) than a mix of typed and untyped ones.
//! octocrab still provides auth and the base URL (including `/api/v3`).
//!
//! Retries are ours, not octocrab's: its built-in retry repeats 5xx and 429
//! at once, ignores `retry-after`, and never retries a 403 rate limit. Every
//! call goes through [`send`]: up to [`RetryPolicy::max_attempts`] attempts
//! on 5xx, 429, 403 with `x-ratelimit-remaining: 0` (or `retry-after`) and
//! dropped connections; it waits what GitHub asks (`retry-after`,
//! `x-ratelimit-reset`) up to a cap per wait, otherwise exponential backoff
//! with jitter, and gives up with a clear error when the total wait would
//! exceed its budget (a rate limit that resets in an hour fails the run's
//! pull requests now; the next run tries again). Retried writes cannot
//! duplicate anything: creating an existing branch moves it instead, and
//! opening a pull request that already exists for the branch returns it.
//!
//! One run, per branch: read the code at the base branch, plan the edit,
//! then open / update / leave / close the branch's pull request, as the
//! module docs of [`super`] describe. GitHub itself is the state (the PR
//! body carries the fingerprint), so driftd needs no database.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use octocrab::Octocrab;
use serde_json::{json, Value};

use super::body::{self, CLOSED_BY_DRIFTD};
use super::editor::{self, Files};
use super::{
    groups, CodeOptions, GithubAuth, GithubSettings, PrError, ProposedDrift, StackPrOutcome,
};

/// A repository, through octocrab.
pub struct Repo {
    oc: Octocrab,
    owner: String,
    name: String,
    retry: RetryPolicy,
}

/// How GitHub calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// First backoff (doubled per attempt, with jitter) when GitHub does not
    /// say how long to wait.
    pub base_delay: Duration,
    /// Longest single wait, even when GitHub asks for more.
    pub max_delay: Duration,
    /// Longest total wait for one call.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token is invalid or expired)",
        403 => " (the token lacks permission: it needs contents and pull requests write access; or a rate limit was hit)",
        404 => " (not found: check the repository name, the base branch, and that the token can see the repository)",
        422 => " (GitHub rejected the request)",
        _ => "",
    }
}

fn http_err(action: &str, status: u16, body: &Value) -> PrError {
    let message = body["message"].as_str().unwrap_or("no message");
    PrError::GitHub {
        action: action.into(),
        message: format!("{status} {message}{}", hint(status)),
    }
}

fn header<'a>(h: &'a hyper::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// How long GitHub asks to wait before the next attempt, if it is a
/// retryable answer at all (`Some(None)`: retry with backoff).
fn retry_wait(status: u16, h: &hyper::header::HeaderMap) -> Option<Option<Duration>> {
    let retry_after = header(h, "retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let exhausted = header(h, "x-ratelimit-remaining") == Some("0");
    let reset = header(h, "x-ratelimit-reset")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Duration::from_secs(t.saturating_sub(now) + 1)
        });
    match status {
        429 => Some(retry_after.or(reset)),
        403 if retry_after.is_some() => Some(retry_after),
        403 if exhausted => Some(reset),
        500..=599 => Some(retry_after),
        _ => None,
    }
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    // Full jitter between half and all of it: retries of many runs spread out.
    exp.mul_f64(0.5 + rand::random::<f64>() / 2.0)
        .min(policy.max_delay)
}

/// One GitHub call with retries. Returns the final status and JSON body
/// (`Null` when empty); non-2xx answers that are not retryable are returned
/// too, for the caller to interpret (404 on a branch means "no branch").
async fn send(
    oc: &Octocrab,
    policy: &RetryPolicy,
    action: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), PrError> {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let res = match method {
            Method::Get => oc._get(uri).await,
            Method::Post => oc._post(uri, body).await,
            Method::Patch => oc._patch(uri, body).await,
            Method::Delete => oc._delete(uri, body).await,
        };
        let (wait, why) = match res {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = oc.body_to_string(resp).await.unwrap_or_default();
                let json: Value = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                };
                match retry_wait(status, &headers) {
                    Some(asked) if attempt < policy.max_attempts => {
                        let why = http_err(action, status, &json).to_string();
                        match asked {
                            Some(d)
                                if d > policy.max_delay || waited + d > policy.max_total_wait =>
                            {
                                return Err(PrError::GitHub {
                                    action: action.into(),
                                    message: format!(
                                        "{status} {}: GitHub asks to wait {} s, more than driftd waits in one run ({} s); giving up for now, the next run retries",
                                        json["message"].as_str().unwrap_or("rate limited"),
                                        d.as_secs(),
                                        policy.max_delay.min(policy.max_total_wait.saturating_sub(waited)).as_secs()
                                    ),
                                });
                            }
                            Some(d) => (d, why),
                            None => (backoff(policy, attempt), why),
                        }
                    }
                    Some(_) => {
                        return Err(match http_err(action, status, &json) {
                            PrError::GitHub { action, message } => PrError::GitHub {
                                action,
                                message: format!(
                                    "{message} (after {attempt} attempts in {} s)",
                                    started.elapsed().as_secs()
                                ),
                            },
                            other => other,
                        });
                    }
                    None => return Ok((status, json)),
                }
            }
            Err(e @ (octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. }))
                if attempt < policy.max_attempts =>
            {
                (backoff(policy, attempt), format!("transport error: {e}"))
            }
            Err(e) => {
                return Err(PrError::GitHub {
                    action: action.into(),
                    message: format!("{e} (after {attempt} attempts)"),
                })
            }
        };
        if waited + wait > policy.max_total_wait {
            return Err(PrError::GitHub {
                action: action.into(),
                message: format!(
                    "{why}; still failing after {attempt} attempts and {} s of waiting",
                    waited.as_secs()
                ),
            });
        }
        tracing::warn!(action, attempt, wait_ms = wait.as_millis() as u64, error = %why, "GitHub call failed, retrying");
        tokio::time::sleep(wait).await;
        waited += wait;
    }
}

/// A 2xx answer's body, or the error.
fn ok_or_err(action: &str, (status, body): (u16, Value)) -> Result<Value, PrError> {
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(http_err(action, status, &body))
    }
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Build an octocrab client for the settings (for a GitHub App: exchange
/// a signed JWT for an installation token first; it lasts an hour, longer
/// than one run).
pub async fn client(settings: &GithubSettings) -> Result<Octocrab, PrError> {
    // octocrab and the AWS SDK bring different rustls crypto providers: pick
    // one explicitly (idempotent), or building a client panics.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let build = |token: String| {
        Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|e| PrError::Auth(format!("invalid api_url {}: {e}", settings.api_url)))?
            .personal_token(token)
            // Retries are ours (see the module docs): none inside octocrab.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .build()
            .map_err(|e| PrError::Auth(e.to_string()))
    };
    match &settings.auth {
        GithubAuth::Token(t) => build(t.clone()),
        GithubAuth::App {
            app_id,
            installation_id,
            private_key_pem,
        } => {
            let jwt = app_jwt(*app_id, private_key_pem, chrono::Utc::now().timestamp())?;
            let app = build(jwt)?;
            let uri = format!("/app/installations/{installation_id}/access_tokens");
            let v = send(&app, &RetryPolicy::default(), "", Method::Post, &uri, None)
                .await
                .and_then(|r| ok_or_err("", r))
                .map_err(|e| match e {
                    PrError::GitHub { message, .. } => PrError::Auth(format!(
                        "cannot get a token for GitHub App {app_id}, installation {installation_id}: {message} (check app_id, installation_id and that the key belongs to the App)"
                    )),
                    other => other,
                })?;
            let token = v["token"].as_str().ok_or_else(|| {
                PrError::Auth("GitHub answered without an installation token".into())
            })?;
            build(token.to_string())
        }
    }
}

/// A GitHub App JWT (RS256), valid from a minute ago for nine minutes.
pub fn app_jwt(app_id: u64, private_key_pem: &str, now: i64) -> Result<String, PrError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()).map_err(|e| {
        PrError::Auth(format!(
            "the GitHub App private key is not a PEM private key: {e:?}"
        ))
    })?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| PrError::Auth(format!("unsupported GitHub App private key: {e}")))?;
    let signer = signing
        .choose_scheme(&[rustls::SignatureScheme::RSA_PKCS1_SHA256])
        .ok_or_else(|| PrError::Auth("the GitHub App private key must be an RSA key".into()))?;
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64url(
        json!({"iat": now - 60, "exp": now + 540, "iss": app_id.to_string()})
            .to_string()
            .as_bytes(),
    );
    let input = format!("{header}.{claims}");
    let sig = signer
        .sign(input.as_bytes())
        .map_err(|e| PrError::Auth(format!("signing the GitHub App JWT: {e}")))?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

fn b64url(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        if c.len() > 1 {
            s.push(T[(n >> 6) as usize & 63] as char);
        }
        if c.len() > 2 {
            s.push(T[n as usize & 63] as char);
        }
    }
    s
}

impl Repo {
    pub fn new(oc: Octocrab, repository: &str) -> Result<Self, PrError> {
        let (owner, name) = repository
            .split_once('/')
            .ok_or_else(|| PrError::Code(format!("`{repository}` is not owner/name")))?;
        Ok(Self {
            oc,
            owner: owner.into(),
            name: name.into(),
            retry: RetryPolicy::default(),
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.name)
    }

    async fn call(
        &self,
        action: &str,
        method: Method,
        rest: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), PrError> {
        send(&self.oc, &self.retry, action, method, &self.url(rest), body).await
    }

    async fn get(&self, action: &str, rest: &str) -> Result<Value, PrError> {
        ok_or_err(action, self.call(action, Method::Get, rest, None).await?)
    }

    async fn post(&self, action: &str, rest: &str, body: &Value) -> Result<Value, PrError> {
        ok_or_err(
            action,
            self.call(action, Method::Post, rest, Some(body)).await?,
        )
    }

    async fn patch(&self, action: &str, rest: &str, body: &Value) -> Result<Value, PrError> {
        ok_or_err(
            action,
            self.call(action, Method::Patch, rest, Some(body)).await?,
        )
    }

    /// The commit a branch points to, or `None` when it does not exist.
    pub async fn branch_sha(&self, branch: &str) -> Result<Option<String>, PrError> {
        let action = format!("reading branch {branch}");
        match self
            .call(
                &action,
                Method::Get,
                &format!("git/ref/heads/{branch}"),
                None,
            )
            .await?
        {
            (404, _) => Ok(None),
            r => Ok(ok_or_err(&action, r)?["object"]["sha"]
                .as_str()
                .map(str::to_string)),
        }
    }

    /// The `.tf` and `.tfvars` files under `dir` at `commit`, plus the local
    /// module directories they use (recursively).
    pub async fn load_code(&self, commit: &str, dir: &str) -> Result<Files, PrError> {
        let c = self
            .get("reading the base commit", &format!("git/commits/{commit}"))
            .await?;
        let tree = c["tree"]["sha"].as_str().unwrap_or_default().to_string();
        let t = self
            .get(
                "listing the repository tree",
                &format!("git/trees/{tree}?recursive=1"),
            )
            .await?;
        if t["truncated"].as_bool() == Some(true) {
            return Err(PrError::Code("the repository tree is too large for one listing (GitHub truncated it); use a local checkout (code.path) for this stack".into()));
        }
        let blobs: BTreeMap<String, String> = t["tree"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "blob")
            .filter_map(|e| {
                Some((
                    e["path"].as_str()?.to_string(),
                    e["sha"].as_str()?.to_string(),
                ))
            })
            .filter(|(p, _)| p.ends_with(".tf") || p.ends_with(".tfvars"))
            .collect();
        let mut files = Files::new();
        let mut todo = vec![dir.to_string()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            if d.starts_with("..") {
                continue; // outside the repository
            }
            for (p, sha) in blobs.iter().filter(|(p, _)| editor_parent(p) == d) {
                let b = self
                    .get("reading a file", &format!("git/blobs/{sha}"))
                    .await?;
                let content = match b["encoding"].as_str() {
                    Some("base64") => base64_decode(b["content"].as_str().unwrap_or(""))
                        .ok_or_else(|| PrError::Code(format!("{p}: undecodable blob")))?,
                    _ => b["content"].as_str().unwrap_or("").as_bytes().to_vec(),
                };
                let text = String::from_utf8(content)
                    .map_err(|_| PrError::Code(format!("{p} is not UTF-8")))?;
                files.insert(p.clone(), text);
            }
            todo.extend(editor::module_dirs(&files, &d));
        }
        if files.keys().all(|p| editor_parent(p) != dir) {
            return Err(PrError::Code(format!(
                "no .tf files in `{}` of {}/{}: check the stack's code.directory",
                dir, self.owner, self.name
            )));
        }
        Ok(files)
    }

    /// A commit on `parent` replacing `files`; returns its sha.
    pub async fn commit(
        &self,
        parent: &str,
        files: &BTreeMap<String, String>,
        message: &str,
        settings: &GithubSettings,
    ) -> Result<String, PrError> {
        let c = self
            .get("reading the base commit", &format!("git/commits/{parent}"))
            .await?;
        let base_tree = c["tree"]["sha"].as_str().unwrap_or_default();
        let entries: Vec<Value> = files
            .iter()
            .map(|(p, t)| json!({"path": p, "mode": "100644", "type": "blob", "content": t}))
            .collect();
        let tree = self
            .post(
                "creating a tree",
                "git/trees",
                &json!({"base_tree": base_tree, "tree": entries}),
            )
            .await?;
        let who = json!({"name": settings.committer_name, "email": settings.committer_email});
        let commit = self
            .post(
                "creating a commit",
                "git/commits",
                &json!({
                    "message": message,
                    "tree": tree["sha"],
                    "parents": [parent],
                    "author": who,
                    "committer": who,
                }),
            )
            .await?;
        commit["sha"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| PrError::GitHub {
                action: "creating a commit".into(),
                message: "no sha in the answer".into(),
            })
    }

    /// Point `branch` at `sha`, creating it or force-moving it.
    pub async fn set_branch(&self, branch: &str, sha: &str) -> Result<(), PrError> {
        if self.branch_sha(branch).await?.is_some() {
            self.patch(
                &format!("updating branch {branch}"),
                &format!("git/refs/heads/{branch}"),
                &json!({"sha": sha, "force": true}),
            )
            .await?;
        } else {
            let action = format!("creating branch {branch}");
            let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
            match self
                .call(&action, Method::Post, "git/refs", Some(&body))
                .await?
            {
                // It exists after all (an earlier attempt whose answer was
                // lost, or a concurrent run): move it instead.
                (422, _) if self.branch_sha(branch).await?.is_some() => {
                    self.patch(
                        &format!("updating branch {branch}"),
                        &format!("git/refs/heads/{branch}"),
                        &json!({"sha": sha, "force": true}),
                    )
                    .await?;
                }
                r => {
                    ok_or_err(&action, r)?;
                }
            }
        }
        Ok(())
    }

    pub async fn delete_branch(&self, branch: &str) -> Result<(), PrError> {
        let action = format!("deleting branch {branch}");
        let (s, _) = self
            .call(
                &action,
                Method::Delete,
                &format!("git/refs/heads/{branch}"),
                None,
            )
            .await?;
        // 422: already gone.
        if (200..300).contains(&s) || s == 404 || s == 422 {
            Ok(())
        } else {
            Err(PrError::GitHub {
                action: format!("deleting branch {branch}"),
                message: format!("HTTP {s}"),
            })
        }
    }

    /// Pull requests whose head is `branch` (any state), newest first.
    pub async fn pulls_for(&self, branch: &str) -> Result<Vec<Value>, PrError> {
        let head = format!("{}:{branch}", self.owner);
        let v = self
            .get(
                "listing pull requests",
                &format!(
                    "pulls?head={}&state=all&per_page=100&sort=created&direction=desc",
                    enc(&head)
                ),
            )
            .await?;
        let mut v: Vec<Value> = v.as_array().cloned().unwrap_or_default();
        // Only this exact branch (defensive: forks may share a name).
        v.retain(|p| p["head"]["ref"].as_str() == Some(branch));
        v.sort_by_key(|p| std::cmp::Reverse(p["number"].as_u64().unwrap_or(0)));
        Ok(v)
    }

    /// Every open pull request of the repository.
    pub async fn open_pulls(&self) -> Result<Vec<Value>, PrError> {
        let mut out = Vec::new();
        for page in 1..=50u32 {
            let v = self
                .get(
                    "listing open pull requests",
                    &format!("pulls?state=open&per_page=100&page={page}"),
                )
                .await?;
            let batch = v.as_array().cloned().unwrap_or_default();
            let n = batch.len();
            out.extend(batch);
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    pub async fn create_pull(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Value, PrError> {
        let action = format!("opening a pull request for {branch}");
        let req = json!({"title": title, "head": branch, "base": base, "body": body, "maintainer_can_modify": true});
        match self
            .call(&action, Method::Post, "pulls", Some(&req))
            .await?
        {
            // One already exists for the branch: an earlier attempt whose
            // answer was lost (or a concurrent run) opened it. Use it.
            (422, e) => match self
                .pulls_for(branch)
                .await?
                .into_iter()
                .find(|p| p["state"] == "open")
            {
                Some(p) => {
                    tracing::info!(branch, pr = %p["number"], "pull request already open for the branch: reusing it");
                    Ok(p)
                }
                None => Err(http_err(&action, 422, &e)),
            },
            r => ok_or_err(&action, r),
        }
    }

    pub async fn update_pull(&self, number: u64, patch: &Value) -> Result<Value, PrError> {
        self.patch(
            &format!("updating pull request #{number}"),
            &format!("pulls/{number}"),
            patch,
        )
        .await
    }

    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), PrError> {
        if labels.is_empty() {
            return Ok(());
        }
        self.post(
            &format!("labelling pull request #{number}"),
            &format!("issues/{number}/labels"),
            &json!({"labels": labels}),
        )
        .await
        .map(|_| ())
    }

    /// Whether pull request `number` already has a comment with `body`.
    async fn has_comment(&self, number: u64, body: &str) -> Result<bool, PrError> {
        for page in 1..=10u32 {
            let v = self
                .get(
                    &format!("reading the comments of pull request #{number}"),
                    &format!("issues/{number}/comments?per_page=100&page={page}"),
                )
                .await?;
            let batch = v.as_array().cloned().unwrap_or_default();
            if batch.iter().any(|c| c["body"].as_str() == Some(body)) {
                return Ok(true);
            }
            if batch.len() < 100 {
                break;
            }
        }
        Ok(false)
    }

    /// Comment once: a comment is not idempotent on GitHub's side, so
    /// every attempt first checks whether an earlier one (whose answer was
    /// lost) already took effect.
    pub async fn comment(&self, number: u64, body: &str) -> Result<(), PrError> {
        let action = format!("commenting on pull request #{number}");
        let once = RetryPolicy {
            max_attempts: 1,
            ..self.retry.clone()
        };
        let uri = self.url(&format!("issues/{number}/comments"));
        let req = json!({"body": body});
        let mut last = None;
        for attempt in 1..=self.retry.max_attempts {
            if self.has_comment(number, body).await? {
                return Ok(());
            }
            match send(&self.oc, &once, &action, Method::Post, &uri, Some(&req)).await {
                Ok((s, _)) if (200..300).contains(&s) => return Ok(()),
                Ok((s, v)) if retry_wait(s, &hyper::header::HeaderMap::new()).is_none() => {
                    return Err(http_err(&action, s, &v))
                }
                Ok((s, v)) => last = Some(http_err(&action, s, &v)),
                Err(e) => last = Some(e),
            }
            if attempt < self.retry.max_attempts {
                tokio::time::sleep(backoff(&self.retry, attempt)).await;
            }
        }
        Err(last.unwrap_or_else(|| PrError::GitHub {
            action,
            message: "no attempt made".into(),
        }))
    }
}

fn editor_parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Standard base64 (GitHub wraps lines with `\n`).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn labels_for(settings: &GithubSettings, drifts: &[&ProposedDrift]) -> Vec<String> {
    let mut l = settings.labels.clone();
    if drifts.iter().any(|d| d.critical) && !l.iter().any(|x| x == "severity/critical") {
        l.push("severity/critical".into());
    }
    l
}

fn pr_url(p: &Value) -> String {
    p["html_url"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("#{}", p["number"]))
}

/// The GitHub side of [`super::sync_stack`].
#[allow(clippy::too_many_arguments)]
pub async fn sync(
    settings: &GithubSettings,
    stack: &str,
    repository: &str,
    base_branch: &str,
    directory: &str,
    options: &CodeOptions,
    drifts: &[ProposedDrift],
) -> Result<StackPrOutcome, PrError> {
    sync_inner(
        settings,
        stack,
        repository,
        base_branch,
        directory,
        options,
        drifts,
    )
    .await
    .map_err(|e| enterprise_hint(settings, e))
}

/// A 404 from a GitHub Enterprise host configured without `/api/v3` (the
/// web server answers, not the API): say so.
fn enterprise_hint(settings: &GithubSettings, e: PrError) -> PrError {
    let url = settings.api_url.trim_end_matches('/');
    let github_com = url == super::config::DEFAULT_API_URL;
    match e {
        PrError::GitHub { action, message }
            if message.starts_with("404") && !github_com && !url.contains("/api/") =>
        {
            PrError::GitHub {
                action,
                message: format!(
                    "{message}; github.api_url is `{url}`: GitHub Enterprise Server serves its REST API under /api/v3, set api_url = \"{url}/api/v3\""
                ),
            }
        }
        other => other,
    }
}

async fn sync_inner(
    settings: &GithubSettings,
    stack: &str,
    repository: &str,
    base_branch: &str,
    directory: &str,
    options: &CodeOptions,
    drifts: &[ProposedDrift],
) -> Result<StackPrOutcome, PrError> {
    let repo = Repo::new(client(settings).await?, repository)?;
    let mut out = StackPrOutcome::default();
    let prefix = format!("{}/", settings.branch_prefix);
    let stack_branch = format!("{}/{}", settings.branch_prefix, super::slug(stack));
    let is_ours = |b: &str| b == stack_branch || b.starts_with(&format!("{stack_branch}/"));

    let open = repo.open_pulls().await?;
    let mut open_count = open
        .iter()
        .filter(|p| {
            p["head"]["ref"]
                .as_str()
                .is_some_and(|b| b.starts_with(&prefix))
        })
        .count();

    let groups = groups(settings, stack, drifts);
    let wanted: std::collections::BTreeSet<&str> =
        groups.iter().map(|g| g.branch.as_str()).collect();

    // The stack's open PRs whose branch is no longer wanted: closed after
    // the wanted ones are proposed (so that a PR superseded by another
    // grouping can link its successor), but counted as gone for the cap now.
    let stale: Vec<&Value> = open
        .iter()
        .filter(|p| {
            let b = p["head"]["ref"].as_str().unwrap_or("");
            is_ours(b)
                && !wanted.contains(b)
                && body::parse_fingerprint(p["body"].as_str().unwrap_or("")).is_some()
        })
        .collect();
    open_count = open_count.saturating_sub(stale.len());
    // Branch -> the URL of its PR in this run, for "superseded by".
    let mut proposed_at: BTreeMap<String, String> = BTreeMap::new();

    let mut files = None;
    let mut base_sha = String::new();
    if !groups.is_empty() {
        base_sha = repo.branch_sha(base_branch).await?.ok_or_else(|| {
            PrError::Code(format!(
            "base branch `{base_branch}` not found in {repository}: check the stack's code.base_branch"
        ))
        })?;
        files = Some(repo.load_code(&base_sha, directory).await?);
    }

    for g in &groups {
        let files = files.as_ref().expect("loaded when there are groups");
        let plan = editor::plan_with(files, directory, &g.drifts, options);
        let fp = body::fingerprint(&g.drifts);
        out.needs_human.extend(plan.needs_human.iter().cloned());
        let pulls = repo.pulls_for(&g.branch).await?;
        let existing_open = pulls.iter().find(|p| p["state"] == "open");
        let title = body::title(&g.subject, &g.drifts);
        let previous = existing_open.and_then(|p| p["body"].as_str());
        let text = body::render(stack, &g.branch, &g.drifts, &plan, &fp, previous);
        let labels = labels_for(settings, &g.drifts);

        if let Some(p) = existing_open {
            let n = p["number"].as_u64().unwrap_or(0);
            let old = body::parse_fingerprint(p["body"].as_str().unwrap_or(""));
            if old.as_deref() == Some(fp.as_str()) {
                proposed_at.insert(g.branch.clone(), pr_url(p));
                out.unchanged.push(pr_url(p));
                continue;
            }
            if plan.files.is_empty() {
                // Nothing left to change in code: the drift needs humans only.
                repo.comment(n, "driftd: the drift changed and nothing in it can be changed in code any more (see the needs-a-human list in the report). Closing.").await?;
                repo.update_pull(
                    n,
                    &json!({"state": "closed", "body": format!("{text}\n{CLOSED_BY_DRIFTD}\n")}),
                )
                .await?;
                repo.delete_branch(&g.branch).await?;
                out.closed.push(pr_url(p));
                continue;
            }
            let msg = body::commit_message(&g.subject, &g.drifts, &plan);
            let sha = repo.commit(&base_sha, &plan.files, &msg, settings).await?;
            repo.set_branch(&g.branch, &sha).await?;
            let p = repo
                .update_pull(n, &json!({"title": title, "body": text}))
                .await?;
            repo.add_labels(n, &labels).await?;
            tracing::info!(stack, branch = %g.branch, pr = n, "updated: drift changed");
            proposed_at.insert(g.branch.clone(), pr_url(&p));
            out.updated.push(pr_url(&p));
            continue;
        }

        // No open PR. Respect a human's "no" to this exact drift.
        let rejected = pulls.iter().find(|p| {
            let b = p["body"].as_str().unwrap_or("");
            p["state"] == "closed"
                && body::parse_fingerprint(b).as_deref() == Some(fp.as_str())
                && (p["merged_at"].is_null() && !b.contains(CLOSED_BY_DRIFTD)
                    || !p["merged_at"].is_null())
        });
        if let Some(p) = rejected {
            if p["merged_at"].is_null() {
                out.respected_human_close.push(g.branch.clone());
            } else {
                // Merged with this very drift: waiting for apply/refresh.
                out.unchanged.push(pr_url(p));
            }
            continue;
        }
        if plan.files.is_empty() {
            // Nothing expressible in code: listed under needs_human only.
            continue;
        }
        if open_count >= settings.max_open_prs {
            tracing::info!(stack, branch = %g.branch, "held back: max_open_prs reached");
            out.held_back.push(g.branch.clone());
            continue;
        }
        let msg = body::commit_message(&g.subject, &g.drifts, &plan);
        let sha = repo.commit(&base_sha, &plan.files, &msg, settings).await?;
        repo.set_branch(&g.branch, &sha).await?;
        let p = repo
            .create_pull(&g.branch, base_branch, &title, &text)
            .await?;
        let n = p["number"].as_u64().unwrap_or(0);
        repo.add_labels(n, &labels).await?;
        tracing::info!(stack, branch = %g.branch, pr = n, "opened");
        open_count += 1;
        proposed_at.insert(g.branch.clone(), pr_url(&p));
        out.opened.push(pr_url(&p));
    }

    // Close the stale PRs: superseded when their drift is now proposed on
    // another branch (group_by changed), else the drift is gone.
    for p in stale {
        let b = p["head"]["ref"].as_str().unwrap_or("");
        let body = p["body"].as_str().unwrap_or("");
        let n = p["number"].as_u64().unwrap_or(0);
        let resources: std::collections::BTreeSet<String> = body::parse_metadata(body)
            .map(|m| m.drifts.into_iter().map(|d| d.resource).collect())
            .unwrap_or_default();
        let successors: Vec<String> = groups
            .iter()
            .filter(|g| {
                g.drifts
                    .iter()
                    .any(|d| resources.contains(&d.display_name()))
            })
            .map(|g| {
                proposed_at
                    .get(&g.branch)
                    .cloned()
                    .unwrap_or_else(|| format!("branch `{}` (not opened in this run)", g.branch))
            })
            .collect();
        let message = if successors.is_empty() {
            "driftd: the drift this pull request proposed is gone (reconciled, or the code changed another way). Closing it and deleting its branch.".to_string()
        } else {
            format!(
                "driftd: superseded by {} (the drift is now grouped differently: `github.group_by` changed). Closing this one and deleting its branch.",
                successors.join(", ")
            )
        };
        repo.comment(n, &message).await?;
        repo.update_pull(
            n,
            &json!({"state": "closed", "body": format!("{body}\n{CLOSED_BY_DRIFTD}\n")}),
        )
        .await?;
        repo.delete_branch(b).await?;
        tracing::info!(
            stack,
            branch = b,
            pr = n,
            superseded = !successors.is_empty(),
            "closed"
        );
        out.closed.push(pr_url(p));
    }
    out.needs_human.sort();
    out.needs_human.dedup();
    Ok(out)
}
