//! Fetching state files: local paths and globs, S3 objects and prefixes.
//!
//! Why here and not in the provider: where state lives (a file, the S3
//! backend) is the engine's concern and independent of what the state
//! describes. Both kinds of location share one wildcard syntax: `*` and `?`
//! stay within a path segment, `**` crosses segments, so
//! `s3://tf-state/prod/**.tfstate` and `states/**/*.tfstate` work alike.

use std::path::{Path, PathBuf};

use crate::config::StateLocation;
use crate::encryption::Decryptor;
use crate::state::{self, StateFile};

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Match `text` against a path pattern (`*`, `?` within a segment; `**` across).
pub fn path_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                // `**/` may also match nothing at all
                if rest.first() == Some(&b'/') && go(&rest[1..], t) {
                    return true;
                }
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some(b'*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(&p[1..], &t[i..])),
            Some(b'?') => !t.is_empty() && t[0] != b'/' && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// The literal directory (or key prefix) before the first wildcard.
fn literal_prefix(pattern: &str) -> &str {
    let first = pattern.find(['*', '?']).unwrap_or(pattern.len());
    match pattern[..first].rfind('/') {
        Some(i) => &pattern[..=i],
        None => "",
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&entry.path(), out)?;
        } else if ft.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Load every state file of one location; `dec` opens OpenTofu encrypted ones.
pub async fn load(
    location: &StateLocation,
    s3: Option<&aws_sdk_s3::Client>,
    dec: &Decryptor,
) -> Result<Vec<StateFile>, String> {
    match location {
        StateLocation::Local(path) => load_local(path, dec).await,
        StateLocation::S3 { bucket, key } => {
            let client = s3.ok_or("no S3 client for an s3:// location")?;
            load_s3(client, bucket, key, dec).await
        }
    }
}

/// Decrypt (if it is an OpenTofu envelope) then parse one state file.
async fn parse(name: &str, bytes: &[u8], dec: &Decryptor) -> Result<StateFile, String> {
    let plain = dec.open(name, bytes).await?;
    state::parse(name, &plain).map_err(|e| e.to_string())
}

async fn load_local(path: &Path, dec: &Decryptor) -> Result<Vec<StateFile>, String> {
    let shown = path.display().to_string();
    if !has_wildcard(&shown) {
        if path.is_dir() {
            return Err(format!(
                "{shown} is a directory: name the state file, or use a glob such as {}/**/*.tfstate",
                shown.trim_end_matches('/')
            ));
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("{shown}: cannot read the state file: {e}"))?;
        return parse(&shown, &bytes, dec).await.map(|f| vec![f]);
    }
    let root = literal_prefix(&shown).to_string();
    let mut files = Vec::new();
    walk(
        Path::new(if root.is_empty() { "." } else { &root }),
        &mut files,
    )
    .map_err(|e| format!("{shown}: cannot list {root}: {e}"))?;
    let mut matched: Vec<String> = files
        .into_iter()
        .map(|p| p.display().to_string())
        .filter(|p| path_match(&shown, p))
        .collect();
    matched.sort();
    if matched.is_empty() {
        return Err(format!("{shown}: no state file matches this pattern"));
    }
    let mut out = Vec::new();
    for p in matched {
        let bytes = tokio::fs::read(&p)
            .await
            .map_err(|e| format!("{p}: cannot read the state file: {e}"))?;
        out.push(parse(&p, &bytes, dec).await?);
    }
    Ok(out)
}

async fn load_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    dec: &Decryptor,
) -> Result<Vec<StateFile>, String> {
    let keys = if has_wildcard(key) {
        let prefix = literal_prefix(key);
        let mut keys = Vec::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "s3://{bucket}/{key}: cannot list objects: {}",
                    driftd_aws::errors::describe(&e)
                )
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| path_match(key, k))
                    .map(str::to_string),
            );
        }
        if keys.is_empty() {
            return Err(format!(
                "s3://{bucket}/{key}: no state object matches this pattern"
            ));
        }
        keys.sort();
        keys
    } else {
        vec![key.to_string()]
    };
    let mut out = Vec::new();
    for k in keys {
        let url = format!("s3://{bucket}/{k}");
        let obj = client.get_object().bucket(bucket).key(&k).send().await.map_err(|e| {
            format!("{url}: cannot read the state object: {} (check the bucket, key, region and s3:GetObject permission)", driftd_aws::errors::describe(&e))
        })?;
        let bytes = obj
            .body
            .collect()
            .await
            .map_err(|e| format!("{url}: reading the object body failed: {e}"))?
            .into_bytes();
        out.push(parse(&url, &bytes, dec).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_path_segments() {
        assert!(path_match("prod/**.tfstate", "prod/net/terraform.tfstate"));
        assert!(path_match("prod/**/*.tfstate", "prod/a.tfstate"));
        assert!(path_match("prod/*.tfstate", "prod/a.tfstate"));
        assert!(!path_match("prod/*.tfstate", "prod/x/a.tfstate"));
        assert!(!path_match("prod/*.tfstate", "prod/a.tfstate.backup"));
        assert!(path_match("env:/*/app.tfstate", "env:/staging/app.tfstate"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix("prod/net/**.tfstate"), "prod/net/");
        assert_eq!(literal_prefix("*.tfstate"), "");
    }
}
