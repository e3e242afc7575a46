//! A fault-injecting HTTP proxy in front of moto, on loopback.
//!
//! Requests whose body or target contains one of the `fail` patterns are
//! answered with an HTTP 500 (an AWS `InternalError`) without reaching moto;
//! everything else is forwarded. One request per connection (the proxy adds
//! `Connection: close`), which is all the SDK needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FaultProxy {
    pub url: String,
    pub injected: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[head_end..].to_vec();
    Some((head, body))
}

impl FaultProxy {
    pub async fn start(upstream: &str, fail: Vec<String>) -> FaultProxy {
        Self::start_with(upstream, fail, std::time::Duration::ZERO).await
    }

    /// Like `start`, and every forwarded request is delayed by `delay`.
    pub async fn start_with(
        upstream: &str,
        fail: Vec<String>,
        delay: std::time::Duration,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let injected = Arc::new(AtomicU64::new(0));
        let counter = injected.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, fail, counter) = (upstream.clone(), fail.clone(), counter.clone());
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut client).await else {
                        return;
                    };
                    let first_line = head.lines().next().unwrap_or("").to_string();
                    let text = format!("{first_line}\n{}", String::from_utf8_lossy(&body));
                    if fail.iter().any(|f| text.contains(f.as_str())) {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let msg = "<Response><Errors><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>x</RequestID></Response>";
                        let resp = format!(
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                            msg.len()
                        );
                        let _ = client.write_all(resp.as_bytes()).await;
                        return;
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let Ok(mut up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut new_head: String = head
                        .trim_end()
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .map(|l| format!("{l}\r\n"))
                        .collect();
                    new_head.push_str("Connection: close\r\n\r\n");
                    if up.write_all(new_head.as_bytes()).await.is_err()
                        || up.write_all(&body).await.is_err()
                    {
                        return;
                    }
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp).await;
                    let _ = client.write_all(&resp).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        FaultProxy {
            url,
            injected,
            task,
        }
    }
}
