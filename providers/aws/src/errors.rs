//! Readable AWS errors.
//!
//! Why: the SDK's full error context repeats itself and ends in `Debug`
//! dumps of nested structs; a report line or a log line needs the chain of
//! causes once, in words, and a hint at what to fix.

use std::error::Error;

/// The cause chain of an error, each distinct message once, `: `-joined,
/// with a hint for the errors users can fix themselves.
pub fn describe(e: &(dyn Error + 'static)) -> String {
    let crate::error_fmt::Chain { parts, codes } = crate::error_fmt::chain(e);
    let mut out = parts.join(": ");
    if out.len() > 600 {
        let mut cut = 600;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    let lower = out.to_ascii_lowercase();
    if lower.contains("no credentials")
        || lower.contains("credentials not loaded")
        || lower.contains("credential provider")
    {
        out.push_str(" (configure AWS credentials: environment variables, a profile, web identity / IRSA, or an instance role)");
    } else if lower.contains("dispatch failure")
        || lower.contains("connection refused")
        || lower.contains("timed out")
    {
        out.push_str(" (check the endpoint, the network path to AWS, and proxies)");
    } else if let Some(h) = crate::error_fmt::hint(&codes) {
        out.push_str(&format!(" ({h})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn each_cause_once_with_a_hint() {
        let e = E(
            "dispatch failure",
            Some(Box::new(E(
                "no credentials found in chain",
                Some(Box::new(E("no credentials found in chain", None))),
            ))),
        );
        let d = describe(&e);
        assert!(
            d.starts_with("dispatch failure: no credentials found in chain ("),
            "{d}"
        );
        assert_eq!(d.matches("no credentials").count(), 1, "{d}");
        assert!(d.contains("configure AWS credentials"));
    }
}
