//! Alignment exactly as `terraform fmt` does it (hclwrite's `formatCells`).
//!
//! Why only alignment: the editor changes a few bytes and must leave the rest
//! alone, but an added, removed or lengthened line changes how `terraform fmt`
//! aligns its neighbours. hclwrite splits a file into lines with up to three
//! cells: a *lead* (indentation and key), an *assign* cell (from the first
//! `=` to the end of the line, when the brackets after it balance) and a
//! trailing *comment*. Consecutive lines with an assign cell form a chain
//! whose `=` signs are aligned one space after the longest lead; then
//! consecutive lines with a trailing comment form a chain whose comments are
//! aligned one space after the longest content. Any other line (blank, a
//! comment alone, `tags = {`, `}`) ends a chain. A heredoc belongs to the line
//! that opens it. Widths count characters, not bytes.
//!
//! [`align`] applies exactly those two rules to a whole file; the editor uses
//! it only on files that were already aligned (`align(old) == old`), so a
//! file that `terraform fmt` left clean stays clean, and a hand-formatted
//! one keeps its bytes. The fixture corpus `tests/fixtures/fmt/` (inputs and
//! expected outputs produced by `terraform fmt` itself) proves it.

/// One logical line: a physical line, or a heredoc from its opener through
/// its terminator.
struct Line {
    text: String,
    /// Byte offset of the assign cell's `=` in `text`.
    eq: Option<usize>,
    /// Byte offset of the trailing comment in `text`.
    comment: Option<usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Code,
    /// Inside a quoted string (templates nest through `stack`).
    Str,
}

/// Scan one physical line of code. Returns (first top-level `=` offset with
/// balanced brackets after it, trailing comment offset, heredoc marker
/// opened at the end of the line, whether the line ends inside a construct
/// (string or block comment) that continues on the next one).
fn scan(line: &str, stack: &mut Vec<Ctx>, in_block_comment: &mut bool) -> Scanned {
    let b = line.as_bytes();
    let mut i = 0;
    let mut first_eq: Option<usize> = None;
    let mut depth_at_eq = 0i32;
    let mut depth = 0i32;
    let mut comment = None;
    let mut heredoc = None;
    let mut tokens_before = 0usize;
    let opaque_start = *in_block_comment || stack.last() == Some(&Ctx::Str);
    while i < b.len() {
        if *in_block_comment {
            if b[i..].starts_with(b"*/") {
                *in_block_comment = false;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        let ctx = stack.last().copied().unwrap_or(Ctx::Code);
        match ctx {
            Ctx::Str => {
                if b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if (b[i] == b'$' || b[i] == b'%') && b.get(i + 1) == Some(&b'{') {
                    if b.get(i.wrapping_sub(1)) == Some(&b[i]) {
                        // `$${` / `%%{`: an escaped, literal sequence.
                        i += 2;
                        continue;
                    }
                    stack.push(Ctx::Code);
                    depth += 1;
                    i += 2;
                    continue;
                }
                if b[i] == b'"' {
                    stack.pop();
                    depth -= 1;
                }
                i += 1;
            }
            Ctx::Code => {
                let c = b[i];
                if c == b'#' || b[i..].starts_with(b"//") {
                    if tokens_before > 0 {
                        comment = Some(i);
                    }
                    break;
                }
                if b[i..].starts_with(b"/*") {
                    let start = i;
                    match line[i + 2..].find("*/") {
                        Some(e) => {
                            let end = i + 2 + e + 2;
                            if line[end..].trim().is_empty() && tokens_before > 0 {
                                comment = Some(start);
                                break;
                            }
                            i = end;
                            tokens_before += 1;
                            continue;
                        }
                        None => {
                            *in_block_comment = true;
                            i += 2;
                            continue;
                        }
                    }
                }
                if b[i..].starts_with(b"<<") {
                    let rest = &line[i + 2..];
                    let rest = rest.strip_prefix('-').unwrap_or(rest);
                    let id: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !id.is_empty() && rest[id.len()..].trim().is_empty() {
                        heredoc = Some(id);
                        break;
                    }
                }
                match c {
                    b'"' => {
                        stack.push(Ctx::Str);
                        depth += 1;
                    }
                    b'{' | b'[' | b'(' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if stack.len() > 1 {
                            // End of a template interpolation.
                            stack.pop();
                        }
                    }
                    b']' | b')' => depth -= 1,
                    b'=' => {
                        let next = b.get(i + 1).copied();
                        let prev = if i > 0 { b[i - 1] } else { b' ' };
                        let single = next != Some(b'=')
                            && next != Some(b'>')
                            && !matches!(prev, b'=' | b'!' | b'<' | b'>');
                        if single && first_eq.is_none() && tokens_before > 0 {
                            first_eq = Some(i);
                            depth_at_eq = depth;
                        }
                    }
                    _ => {}
                }
                if !c.is_ascii_whitespace() {
                    tokens_before += 1;
                }
                i += 1;
            }
        }
    }
    let eq = first_eq.filter(|_| depth == depth_at_eq && !opaque_start);
    Scanned {
        eq,
        comment: comment.filter(|_| !opaque_start),
        heredoc,
        opaque: opaque_start,
    }
}

struct Scanned {
    eq: Option<usize>,
    comment: Option<usize>,
    heredoc: Option<String>,
    opaque: bool,
}

fn lines(text: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut stack: Vec<Ctx> = Vec::new();
    let mut in_block_comment = false;
    let mut heredoc: Option<String> = None;
    for phys in text.split_inclusive('\n') {
        if let Some(marker) = &heredoc {
            let last = out.last_mut().expect("a heredoc has an opener");
            last.text.push_str(phys);
            if phys.trim() == marker {
                heredoc = None;
            }
            continue;
        }
        let s = scan(phys, &mut stack, &mut in_block_comment);
        if s.opaque {
            out.push(Line {
                text: phys.to_string(),
                eq: None,
                comment: None,
            });
            continue;
        }
        heredoc = s.heredoc.clone();
        out.push(Line {
            text: phys.to_string(),
            eq: s.eq,
            comment: if s.heredoc.is_some() { None } else { s.comment },
        });
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Align `=` signs and trailing comments exactly as `terraform fmt` does.
pub fn align(text: &str) -> String {
    let mut ls = lines(text);
    // Assign chains.
    let mut i = 0;
    while i < ls.len() {
        if ls[i].eq.is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < ls.len() && ls[i].eq.is_some() {
            i += 1;
        }
        let chain = &mut ls[start..i];
        let max = chain
            .iter()
            .map(|l| width(l.text[..l.eq.expect("chain")].trim_end()))
            .max()
            .unwrap_or(0);
        for l in chain.iter_mut() {
            let eq = l.eq.expect("chain");
            let lead = l.text[..eq].trim_end().to_string();
            let pad = max - width(&lead) + 1;
            let new = format!("{lead}{}{}", " ".repeat(pad), &l.text[eq..]);
            let shift = new.len() as isize - l.text.len() as isize;
            l.comment = l.comment.map(|c| (c as isize + shift) as usize);
            l.eq = Some(lead.len() + pad);
            l.text = new;
        }
    }
    // Comment chains.
    let mut i = 0;
    while i < ls.len() {
        if ls[i].comment.is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < ls.len() && ls[i].comment.is_some() {
            i += 1;
        }
        let chain = &mut ls[start..i];
        let max = chain
            .iter()
            .map(|l| width(l.text[..l.comment.expect("chain")].trim_end()))
            .max()
            .unwrap_or(0);
        for l in chain.iter_mut() {
            let c = l.comment.expect("chain");
            let content = l.text[..c].trim_end().to_string();
            let pad = max - width(&content) + 1;
            l.text = format!("{content}{}{}", " ".repeat(pad), &l.text[c..]);
        }
    }
    ls.into_iter().map(|l| l.text).collect()
}

/// Whether `text` is aligned as `terraform fmt` aligns it.
pub fn is_aligned(text: &str) -> bool {
    align(text) == text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_break_on_multi_line_values_and_blank_lines() {
        let src = "resource \"a\" \"b\" {\n  ami = \"a\"\n  instance_type = \"t3\"\n  tags = {\n    Name = \"x\"\n    \"Cöst\" = \"y\" # c\n    Longer = \"z\" # cc\n  }\n  policy = <<EOF\n  a = b\nEOF\n  zz = 1\n\n  yyy = 2\n}\n";
        let want = "resource \"a\" \"b\" {\n  ami           = \"a\"\n  instance_type = \"t3\"\n  tags = {\n    Name   = \"x\"\n    \"Cöst\" = \"y\" # c\n    Longer = \"z\" # cc\n  }\n  policy = <<EOF\n  a = b\nEOF\n  zz     = 1\n\n  yyy = 2\n}\n";
        assert_eq!(align(src), want);
        assert!(is_aligned(want));
    }

    #[test]
    fn operators_and_strings_are_not_assignments() {
        let src = "locals {\n  a = x == \"=\" ? 1 : 2\n  bb = { for k, v in m : k => v }\n  c = \"${x}=y\"\n}\n";
        let want = "locals {\n  a  = x == \"=\" ? 1 : 2\n  bb = { for k, v in m : k => v }\n  c  = \"${x}=y\"\n}\n";
        assert_eq!(align(src), want);
    }
}
