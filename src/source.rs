//! Fetching state files: local paths and globs, S3 objects and prefixes.
//!
//! Why here and not in the provider: where state lives (a file, the S3
//! backend) is the engine's concern and independent of what the state
//! describes. Both kinds of location share one wildcard syntax: `*` and `?`
//! stay within a path segment, `**` crosses segments, so
//! `s3://tf-state/prod/**.tfstate` and `states/**/*.tfstate` work alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

use driftd_aws::AwsSchema;

use crate::config::StateLocation;
use crate::encryption::Decryptor;
use crate::glob::PathPattern;
use crate::state::{self, StateFile};

/// Bounds on reading one location's state.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// The whole read of one location (listing, every file or object, all
    /// retries) must finish within this.
    pub timeout: Duration,
    /// Attempts per S3 object whose body download failed half-way.
    pub attempts: u32,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            attempts: 5,
        }
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Match `text` against a path pattern (`*`, `?` within a segment; `**` across).
pub fn path_match(pattern: &str, text: &str) -> bool {
    PathPattern::new(pattern).matches(text)
}

/// The literal directory (or key prefix) before the first wildcard.
fn literal_prefix(pattern: &str) -> &str {
    let first = pattern.find(['*', '?']).unwrap_or(pattern.len());
    match pattern[..first].rfind('/') {
        Some(i) => &pattern[..=i],
        None => "",
    }
}

/// Every entry under `dir` that is not a directory (regular files, and
/// anything else: symlinks, FIFOs, sockets; those are checked when matched).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // Symlinks are not followed (a symlinked directory is one entry).
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.map_err(std::io::Error::from)?;
        if !entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

/// Read a local state file without ever blocking on a FIFO or a device:
/// the file type is checked before opening (following symlinks), the open
/// does not wait (`O_NONBLOCK`), and the opened file is checked again.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let shown = path.display();
    let (mut file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: cannot read the state file: {e}"))?;
    Ok(bytes)
}

/// Open a regular file (see [`read_regular`]); its length.
fn open_regular(path: &Path) -> Result<(std::fs::File, u64), String> {
    let shown = path.display();
    let not_regular = |ft: std::fs::FileType| {
        use std::os::unix::fs::FileTypeExt as _;
        let what = if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_block_device() || ft.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        };
        format!("{shown}: cannot read the state file: it is {what}, not a regular file (driftd reads state only from regular files)")
    };
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{shown}: cannot read the state file: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("{shown}: cannot read the state file: {e}"))?
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("{shown}: cannot read the state file: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// One local state file: parsed on the reader thread, straight from the
/// file (a plain version 4 state of a stack without `encryption`), or its
/// bytes, to decrypt and parse (with exact errors) on the caller's side.
enum LocalFile {
    Parsed(StateFile),
    Bytes(Vec<u8>),
}

/// Read one local file: streamed into its parsed form when `stream`, else
/// (or when that does not give a valid plain state) its bytes.
fn read_local(path: &Path, stream: bool) -> Result<LocalFile, String> {
    let shown = path.display().to_string();
    if stream {
        let (file, _) = open_regular(path)?;
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        if let Some(parsed) = state::parse_reader(&shown, reader) {
            return Ok(LocalFile::Parsed(parsed));
        }
    }
    read_regular(path).map(LocalFile::Bytes)
}

/// Load every state file of one location, within `limits.timeout`; `dec`
/// opens OpenTofu encrypted ones.
pub async fn load(
    location: &StateLocation,
    s3: Option<&aws_sdk_s3::Client>,
    limits: &ReadLimits,
    dec: &Decryptor,
    schema: &AwsSchema,
) -> Result<Vec<StateFile>, String> {
    let read = async {
        match location {
            StateLocation::Local(path) => {
                // Read on a thread of its own, not a runtime thread: a file
                // system that never answers (a hung NFS mount) can then
                // neither stall the scan past the deadline nor keep the
                // process from exiting. Files come over one at a time, so a
                // glob of many states holds one file's bytes at once.
                let path = path.clone();
                let (tx, mut rx) = tokio::sync::mpsc::channel(1);
                // Without `encryption`, plain states are parsed as they are
                // read, never held as bytes next to their parsed form.
                let stream = !dec.is_configured();
                std::thread::Builder::new()
                    .name("driftd-state-read".into())
                    .spawn({
                        // Each compared instance is projected as it is parsed.
                        let schema = schema.clone();
                        move || state::with_schema(&schema, || load_local(&path, stream, &tx))
                    })
                    .map_err(|e| format!("{location}: cannot start a reader thread: {e}"))?;
                let mut out = Vec::new();
                while let Some(file) = rx.recv().await {
                    match file? {
                        (_, LocalFile::Parsed(f)) => out.push(f),
                        (name, LocalFile::Bytes(bytes)) => {
                            out.push(parse(&name, &bytes, dec, schema).await?)
                        }
                    }
                }
                Ok(out)
            }
            StateLocation::S3 { bucket, key } => {
                let client = s3.ok_or("no S3 client for an s3:// location")?;
                load_s3(client, bucket, key, limits.attempts, dec, schema).await
            }
        }
    };
    tokio::time::timeout(limits.timeout, read)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{location}: reading the state timed out after {}s (is the file or the S3 endpoint stuck?)",
                limits.timeout.as_secs_f64()
            ))
        })
}

/// Decrypt (if it is an OpenTofu envelope) then parse one state file.
async fn parse(
    name: &str,
    bytes: &[u8],
    dec: &Decryptor,
    schema: &AwsSchema,
) -> Result<StateFile, String> {
    let plain = dec.open(name, bytes).await?;
    state::with_schema(schema, || state::parse(name, &plain)).map_err(|e| e.to_string())
}

type RawFile = Result<(String, LocalFile), String>;

/// Send the bytes of every state file of a local location (a path or a
/// glob), in order, then stop; an error is sent once and ends the read.
fn load_local(path: &Path, stream: bool, tx: &tokio::sync::mpsc::Sender<RawFile>) {
    let send = |f: RawFile| tx.blocking_send(f).is_ok();
    let shown = path.display().to_string();
    if !has_wildcard(&shown) {
        if path.is_dir() {
            send(Err(format!(
                "{shown} is a directory: name the state file, or use a glob such as {}/**/*.tfstate",
                shown.trim_end_matches('/')
            )));
            return;
        }
        send(read_local(path, stream).map(|b| (shown, b)));
        return;
    }
    let matched = match matching(&shown) {
        Ok(m) => m,
        Err(e) => {
            send(Err(e));
            return;
        }
    };
    for p in matched {
        let file = read_local(Path::new(&p), stream).map(|b| (p, b));
        let failed = file.is_err();
        if !send(file) || failed {
            return;
        }
    }
}

/// The files a glob matches, sorted; none is an error.
fn matching(shown: &str) -> Result<Vec<String>, String> {
    let root = literal_prefix(shown).to_string();
    let mut files = Vec::new();
    walk(
        Path::new(if root.is_empty() { "." } else { &root }),
        &mut files,
    )
    .map_err(|e| format!("{shown}: cannot list {root}: {e}"))?;
    let pattern = PathPattern::new(shown);
    let mut matched: Vec<String> = files
        .into_iter()
        .map(|p| p.display().to_string())
        .filter(|p| pattern.matches(p))
        .collect();
    matched.sort();
    if matched.is_empty() {
        return Err(format!("{shown}: no state file matches this pattern"));
    }
    Ok(matched)
}

/// A state file larger than this is not read whole by the first pass
/// ([`skim_local`]): the pass is skipped, and its scope's calls wait for
/// the full parse as they would without it.
pub const SKIM_MAX_BYTES: u64 = 256 << 20;

/// The current managed resources of `types` in the plain local state files
/// of `location`, by a first, quick pass over each ([`state::skim`]), run on
/// the caller's thread. `None` when a file is not one that pass reads (an S3
/// location, a file that is missing, over [`SKIM_MAX_BYTES`], encrypted or
/// invalid): the scan then decides those calls from the full parse, which
/// also reports what is wrong.
pub fn skim_local(
    location: &StateLocation,
    types: &'static [&'static str],
    schema: &AwsSchema,
) -> Option<Vec<driftd_core::StateResource>> {
    let StateLocation::Local(path) = location else {
        return None;
    };
    let shown = path.display().to_string();
    let files = if has_wildcard(&shown) {
        matching(&shown).ok()?
    } else {
        vec![shown]
    };
    let mut out = Vec::new();
    for f in files {
        if std::fs::metadata(&f).ok()?.len() > SKIM_MAX_BYTES {
            return None;
        }
        let bytes = read_regular(Path::new(&f)).ok()?;
        out.extend(state::skim(&f, &bytes, types, schema)?);
    }
    Some(out)
}

async fn load_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    attempts: u32,
    dec: &Decryptor,
    schema: &AwsSchema,
) -> Result<Vec<StateFile>, String> {
    let keys = if has_wildcard(key) {
        let prefix = literal_prefix(key);
        let pattern = PathPattern::new(key);
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
                    .filter(|k| pattern.matches(k))
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
        let bytes = get_object(client, bucket, &k, attempts).await?;
        out.push(parse(&url, &bytes, dec, schema).await?);
    }
    Ok(out)
}

/// One state object's bytes. The SDK retries the request; a body that breaks
/// off half-way (a truncated download) is retried here, like any transient
/// error, `attempts` times in all with a short backoff between.
async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    attempts: u32,
) -> Result<Vec<u8>, String> {
    let url = format!("s3://{bucket}/{key}");
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        let obj = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| {
            format!("{url}: cannot read the state object: {} (check the bucket, key, region and s3:GetObject permission)", driftd_aws::errors::describe(&e))
        })?;
        match obj.body.collect().await {
            Ok(b) => return Ok(b.into_bytes().into()),
            Err(e) if attempt < attempts => {
                tracing::warn!(object = %url, attempt, error = %driftd_aws::errors::describe(&e), "state download broke off, retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                attempt += 1;
            }
            Err(e) => {
                return Err(format!(
                    "{url}: reading the object body failed after {attempts} attempt(s): {}",
                    driftd_aws::errors::describe(&e)
                ))
            }
        }
    }
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
