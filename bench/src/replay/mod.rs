//! The replay AWS endpoint and the benchmark that runs on it.
//!
//! moto is the wall in the moto mode (its single 10,000-instance page takes
//! minutes); the replay endpoint answers from a generated world in AWS's XML
//! shapes, with real pagination, a latency model and EC2/S3-like token
//! buckets, so the figures are driftd's and the model's, not an emulator's.
//!
//! - [`model`]: the world from a seed, its Terraform state, the known drift;
//! - [`server`]: the HTTP endpoint (EC2 query protocol, S3 REST path style);
//! - [`limits`]: latency, token buckets, time dilation;
//! - [`scenarios`]: minimal call set, per-resource pattern (child side);
//! - [`run`]: the launcher (server process, scenario processes, report).

pub mod limits;
pub mod model;
pub mod run;
pub mod scenarios;
pub mod server;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use limits::{Bucket, Limits, Settings};

/// What the server process is started with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeParams {
    pub spec: model::Spec,
    pub settings: Settings,
}

/// The server child: generate the world, bind a free loopback port, print
/// `PORT <n>` on stdout, serve until stdin closes (the launcher's end).
pub fn serve_main(params_path: &str) -> Result<()> {
    let p: ServeParams = serde_json::from_slice(
        &std::fs::read(params_path).with_context(|| format!("reading {params_path}"))?,
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let world = model::World::generate(&p.spec);
        let state = server::State::new(world, p.settings);
        let addr = server::start(state).await?;
        println!("PORT {}", addr.port());
        std::io::stdout().flush()?;
        // Block (off the runtime) until the launcher closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        Ok::<_, anyhow::Error>(())
    })
}

/// Read the `PORT <n>` line of a server child.
pub fn read_port(r: &mut impl BufRead) -> Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    line.trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "replay server did not report its port (got `{}`)",
                line.trim()
            )
        })
}

/// A control request to the replay server (blocking, HTTP/1.1, loopback).
pub fn control(port: u16, method: &str, path: &str, body: &str) -> Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("bad control answer"))?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("control {path}: {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

/// Client-side pacing at the server's token-bucket model (one bucket per
/// operation, or per S3 bucket), so a pattern that respects AWS's documented
/// rates is measured at its best, never throttled.
pub struct Pacer {
    limits: Limits,
    dilation: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Pacer {
    pub fn new(limits: Limits, dilation: f64) -> Self {
        Self {
            limits,
            dilation: dilation.max(1e-9),
            buckets: Mutex::default(),
        }
    }

    /// Wait for a token of `key` (`ec2`: an EC2 action, else an S3 bucket).
    pub async fn wait(&self, key: &str, ec2: bool) {
        if !self.limits.enabled {
            return;
        }
        let (burst, refill) = if ec2 {
            (self.limits.ec2_burst, self.limits.ec2_refill)
        } else {
            (self.limits.s3_burst, self.limits.s3_refill)
        };
        // A margin under the server's model: requests paced exactly at the
        // refill rate can arrive bunched (scheduling jitter) and find the
        // server's bucket a fraction of a token short.
        let (burst, refill) = (burst * 0.9, refill * self.dilation * 0.95);
        let d = self
            .buckets
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| Bucket::new(burst))
            .wait(burst, refill, Instant::now());
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests;
