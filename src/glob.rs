//! Glob matching on `globset`, with driftd's two syntaxes:
//!
//! - [`Wildcard`] (ignore rules, policy rules): `*` is any run of
//!   characters, `?` one character; everything else is literal.
//! - [`PathPattern`] (state locations): `*` and `?` within a path segment,
//!   `**` across segments (`**/` may match nothing).
//!
//! In both, `[`, `]`, `{`, `}` and `\` are literal (ids and addresses such
//! as `aws_instance.web[0]`): they are escaped before the glob is compiled.
//! Note: globset matches bytes, so `?` is one byte: the same as one
//! character for ASCII text (ids, addresses, keys), not for other text.

use std::cell::RefCell;
use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

/// Escape everything globset treats specially except `*` and `?`.
fn escape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if matches!(c, '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn build(glob: &str, literal_separator: bool) -> Option<GlobMatcher> {
    GlobBuilder::new(glob)
        .literal_separator(literal_separator)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

/// A compiled `*` / `?` wildcard.
#[derive(Debug, Clone)]
pub struct Wildcard {
    pattern: String,
    matcher: Option<GlobMatcher>,
}

impl PartialEq for Wildcard {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Wildcard {
    pub fn new(pattern: &str) -> Self {
        let matcher = pattern.contains(['*', '?']).then(|| {
            // `**` would mean "across segments": a run of `*` is one `*` here.
            let mut collapsed = String::with_capacity(pattern.len());
            for c in pattern.chars() {
                if !(c == '*' && collapsed.ends_with('*')) {
                    collapsed.push(c);
                }
            }
            build(&escape(&collapsed), false).expect("an escaped wildcard always compiles")
        });
        Self {
            pattern: pattern.to_string(),
            matcher,
        }
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            Some(m) => m.is_match(text),
            // No wildcard: plain equality.
            None => self.pattern == text,
        }
    }
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Wildcard>> = RefCell::new(HashMap::new());
}

/// Match `text` against a wildcard (compiled once per thread and pattern).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.entry(pattern.to_string())
            .or_insert_with(|| Wildcard::new(pattern))
            .matches(text)
    })
}

/// A compiled state-location pattern.
#[derive(Debug, Clone)]
pub struct PathPattern {
    set: GlobSet,
}

impl PathPattern {
    /// Compile a path pattern. A `**` that is not a whole segment (`prod/**.tfstate`,
    /// `a**b`) matches any run of characters, `/` included: it becomes two
    /// globs, one without a `/` (`*`) and one across segments (`*/**/*`).
    pub fn new(pattern: &str) -> Self {
        let escaped = escape(pattern);
        // Runs of three or more stars are `**`.
        let mut s = String::with_capacity(escaped.len());
        for c in escaped.chars() {
            if !(c == '*' && s.ends_with("**")) {
                s.push(c);
            }
        }
        let mut variants = Vec::new();
        expand(String::new(), &s, &mut variants);
        let mut b = GlobSetBuilder::new();
        for glob in variants {
            if let Ok(g) = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
            {
                b.add(g);
            }
        }
        Self {
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.set.is_match(text)
    }
}

/// The globset forms of a path pattern, `**` by `**`: a whole segment
/// `**` is globset's own; any other one matches any run of characters
/// (`*`, or `*/**/*` across segments), and `**/` may match nothing.
fn expand(done: String, rest: &str, out: &mut Vec<String>) {
    let Some(i) = rest.find("**") else {
        out.push(done + rest);
        return;
    };
    let (before, after) = (&rest[..i], &rest[i + 2..]);
    let head = done + before;
    let at_boundary = head.is_empty() || head.ends_with('/');
    if at_boundary && (after.is_empty() || after.starts_with('/')) {
        expand(format!("{head}**"), after, out);
        return;
    }
    expand(format!("{head}*"), after, out);
    expand(format!("{head}*/**/*"), after, out);
    if let Some(after_slash) = after.strip_prefix('/') {
        // `**/` matching nothing at all.
        expand(head, after_slash, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_braces_and_backslashes_are_literal() {
        assert!(wildcard("aws_instance.web[0]", "aws_instance.web[0]"));
        assert!(wildcard("aws_instance.web[*]", "aws_instance.web[12]"));
        assert!(!wildcard("aws_instance.web[0]", "aws_instance.web0"));
        assert!(wildcard("a{b,c}*", "a{b,c}d"));
        assert!(!wildcard("a{b,c}*", "ab"));
        assert!(wildcard("x\\y*", "x\\yz"));
        assert!(wildcard(
            "module.m[\"k\"].*",
            "module.m[\"k\"].aws_s3_bucket.b"
        ));
        assert!(PathPattern::new("st[1]/*.tfstate").matches("st[1]/a.tfstate"));
        assert!(!PathPattern::new("st[1]/*.tfstate").matches("st1/a.tfstate"));
    }

    #[test]
    fn star_crosses_everything_in_wildcards() {
        assert!(wildcard("a*", "a/b.c"));
        assert!(wildcard("**", ""));
        assert!(wildcard("a**c", "abc"));
        assert!(wildcard("?", "/"));
        assert!(!wildcard("?", ""));
        assert!(!wildcard("a", "A"));
    }

    #[test]
    fn double_star_inside_a_segment_crosses_segments() {
        let p = |pat: &str, t: &str| PathPattern::new(pat).matches(t);
        assert!(p("a**b", "ab"));
        assert!(p("a**b", "a/x/yb"));
        assert!(p("prod/**", "prod/a/b"));
        assert!(p("**/x.tfstate", "x.tfstate"));
        assert!(p("**/x.tfstate", "a/b/x.tfstate"));
        assert!(!p("a/*", "a/b/c"));
        assert!(p("a/***.t", "a/b/c.t"));
        assert!(p("a**/b", "ab"));
        assert!(p("a**/b", "ax/y/b"));
        assert!(!p("a**/b", "axb"));
    }
}
