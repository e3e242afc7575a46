//! Ignore rules: driftctl's `.driftignore` syntax, plus attribute-level rules.
//!
//! Why this syntax: users migrating from driftctl already have `.driftignore`
//! files, and its gitignore-like form is well known:
//!
//! ```text
//! # comments and blank lines are skipped
//! aws_s3_bucket.logs-bucket          # one resource: <type>.<id>
//! aws_instance.*                     # every resource of a type (`*` is a wildcard)
//! !aws_instance.i-0123456789abcdef0  # re-include (the last matching rule wins)
//! aws_s3_bucket.my\.dotted\.bucket   # a dot inside an id is escaped
//! aws_instance.*.tags.LastPatched    # one attribute path of matching resources
//! ```
//!
//! Attribute paths are the ones driftd reports (`tags.Name`,
//! `metadata_options.http_tokens`); a rule matches a path and everything below it.

use crate::glob::Wildcard;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    negate: bool,
    /// Compiled once, at parse.
    segments: Vec<Wildcard>,
}

/// A set of rules, in order (later rules win).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

/// Split on unescaped dots; `\.` is a literal dot.
fn split_segments(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                out.last_mut().unwrap().push('.');
                chars.next();
            }
            '.' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Glob match with `*` (any run of characters) and `?` (one character);
/// everything else literal (globset, see `crate::glob`).
pub use crate::glob::wildcard;

impl IgnoreRules {
    /// Parse rules from text (a `.driftignore` file or a config list joined
    /// by newlines). Errors name the origin and line.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Vec<String>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, body) = match line.strip_prefix('!') {
                Some(b) => (true, b.trim()),
                None => (false, line),
            };
            let mut segments = split_segments(body);
            if segments.len() == 1 && segments[0] == "*" {
                segments.push("*".into());
            }
            if segments.len() < 2 || segments.iter().take(2).any(String::is_empty) {
                errors.push(format!(
                    "{origin}:{}: `{line}` is not a rule: expected <type>.<id>[.<attribute path>], e.g. aws_instance.i-0abc or aws_instance.*.tags.Name",
                    n + 1
                ));
                continue;
            }
            rules.push(Rule {
                negate,
                segments: segments.iter().map(|s| Wildcard::new(s)).collect(),
            });
        }
        if errors.is_empty() {
            Ok(Self { rules })
        } else {
            Err(errors)
        }
    }

    /// Rules of `self` followed by those of `other` (which win on conflict).
    pub fn extend(&mut self, other: &IgnoreRules) {
        self.rules.extend(other.rules.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Is the whole resource ignored?
    pub fn ignores_resource(&self, rtype: &str, id: &str) -> bool {
        let mut ignored = false;
        for r in self.rules.iter().filter(|r| r.segments.len() == 2) {
            if r.segments[0].matches(rtype) && r.segments[1].matches(id) {
                ignored = !r.negate;
            }
        }
        ignored
    }

    /// Is this attribute path (segments) of the resource ignored?
    pub fn ignores_attribute(&self, rtype: &str, id: &str, path: &[String]) -> bool {
        if self.ignores_resource(rtype, id) {
            return true;
        }
        let mut ignored = false;
        for r in self.rules.iter().filter(|r| r.segments.len() > 2) {
            let attr = &r.segments[2..];
            if r.segments[0].matches(rtype)
                && r.segments[1].matches(id)
                && attr.len() <= path.len()
                && attr.iter().zip(path).all(|(p, s)| p.matches(s))
            {
                ignored = !r.negate;
            }
        }
        ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn driftctl_syntax() {
        let r = IgnoreRules::parse(
            "# comment\n\naws_instance.*\n!aws_instance.i-keep\naws_s3_bucket.my\\.bucket\n",
            ".driftignore",
        )
        .unwrap();
        assert!(r.ignores_resource("aws_instance", "i-1"));
        assert!(!r.ignores_resource("aws_instance", "i-keep"));
        assert!(r.ignores_resource("aws_s3_bucket", "my.bucket"));
        assert!(!r.ignores_resource("aws_s3_bucket", "other"));
    }

    #[test]
    fn star_alone_ignores_everything() {
        let r = IgnoreRules::parse("*", "x").unwrap();
        assert!(r.ignores_resource("aws_instance", "i-1"));
    }

    #[test]
    fn attribute_rules_match_prefixes() {
        let r = IgnoreRules::parse("aws_instance.*.tags.Last*\naws_s3_bucket.b.versioning", "x")
            .unwrap();
        assert!(r.ignores_attribute("aws_instance", "i-1", &p("tags.LastPatched")));
        assert!(!r.ignores_attribute("aws_instance", "i-1", &p("tags.Name")));
        assert!(!r.ignores_resource("aws_instance", "i-1"));
        assert!(r.ignores_attribute("aws_s3_bucket", "b", &p("versioning.enabled")));
    }

    #[test]
    fn bad_rules_name_origin_and_line() {
        let e = IgnoreRules::parse("ok.x\njustonesegment\n", ".driftignore").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with(".driftignore:2:"), "{}", e[0]);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a*d", "abc"));
    }
}
