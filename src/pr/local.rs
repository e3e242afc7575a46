//! The same lifecycle for a local checkout: one patch file per branch.
//!
//! Why: for development, and for teams that push with their own tooling (or
//! cannot give driftd a GitHub token). Each branch becomes
//! `<patch_dir>/<branch with / as __>.patch`: the PR body as a preamble, then
//! a unified diff that `git apply` (or `patch -p1`) accepts. The same
//! fingerprint rules apply: an identical patch is left alone, a changed one
//! rewritten, and the patch of a drift that is gone is deleted.

use std::path::Path;

use super::editor::{self, Files};
use super::{body, groups, CodeOptions, GithubSettings, PrError, ProposedDrift, StackPrOutcome};

fn read_dir_files(root: &Path, rel: &str, files: &mut Files) -> Result<(), PrError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let rd = std::fs::read_dir(&dir)
        .map_err(|e| PrError::Io(format!("cannot read {}: {e}", dir.display())))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tf") || n.ends_with(".tfvars"))
        .collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let text = std::fs::read_to_string(&p)
            .map_err(|e| PrError::Io(format!("cannot read {}: {e}", p.display())))?;
        let key = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        files.insert(key, text);
    }
    Ok(())
}

/// Load the stack directory and its local modules; paths relative to `root`.
pub fn load(root: &Path) -> Result<Files, PrError> {
    let mut files = Files::new();
    let mut todo = vec![String::new()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        read_dir_files(root, &d, &mut files)?;
        todo.extend(editor::module_dirs(&files, &d));
    }
    Ok(files)
}

fn patch_name(branch: &str) -> String {
    format!("{}.patch", branch.replace('/', "__"))
}

/// The local side of [`super::sync_stack`].
pub fn sync(
    settings: &GithubSettings,
    stack: &str,
    path: &Path,
    patch_dir: &Path,
    options: &CodeOptions,
    drifts: &[ProposedDrift],
) -> Result<StackPrOutcome, PrError> {
    let mut out = StackPrOutcome::default();
    let files = load(path)?;
    std::fs::create_dir_all(patch_dir)
        .map_err(|e| PrError::Io(format!("cannot create {}: {e}", patch_dir.display())))?;
    let stack_branch = format!("{}/{}", settings.branch_prefix, super::slug(stack));
    let mine = patch_name(&stack_branch);
    let mine_prefix = format!("{}__", mine.trim_end_matches(".patch"));
    let groups = groups(settings, stack, drifts);
    let mut wanted = std::collections::BTreeSet::new();
    for g in &groups {
        let plan = editor::plan_with(&files, "", &g.drifts, options);
        out.needs_human.extend(plan.needs_human.iter().cloned());
        if plan.files.is_empty() {
            continue;
        }
        let fp = body::fingerprint(&g.drifts);
        let name = patch_name(&g.branch);
        wanted.insert(name.clone());
        let target = patch_dir.join(&name);
        let previous = std::fs::read_to_string(&target).ok();
        let mut text = format!(
            "{}\n\n{}\n",
            body::title(&g.subject, &g.drifts),
            body::render(stack, &g.branch, &g.drifts, &plan, &fp, previous.as_deref())
        );
        for (p, new) in &plan.files {
            match files.get(p) {
                Some(old) => text.push_str(&unified_diff(p, old, new)),
                None => text.push_str(&new_file_diff(p, new)),
            }
        }
        let shown = target.display().to_string();
        match std::fs::read_to_string(&target) {
            Ok(old) if body::parse_fingerprint(&old).as_deref() == Some(fp.as_str()) => {
                out.unchanged.push(shown);
                continue;
            }
            Ok(_) => out.updated.push(shown),
            Err(_) => out.opened.push(shown),
        }
        std::fs::write(&target, text)
            .map_err(|e| PrError::Io(format!("cannot write {}: {e}", target.display())))?;
    }
    // Drift gone: remove the stack's stale patches.
    if let Ok(rd) = std::fs::read_dir(patch_dir) {
        let mut stale: Vec<_> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| (*n == mine || n.starts_with(&mine_prefix)) && !wanted.contains(n))
            .collect();
        stale.sort();
        for n in stale {
            let p = patch_dir.join(&n);
            std::fs::remove_file(&p)
                .map_err(|e| PrError::Io(format!("cannot remove {}: {e}", p.display())))?;
            out.closed.push(p.display().to_string());
        }
    }
    out.needs_human.sort();
    out.needs_human.dedup();
    Ok(out)
}

/// A unified diff creating `path` (`git apply` format).
pub fn new_file_diff(path: &str, new: &str) -> String {
    let body = unified_diff(path, "", new);
    let hunks = body
        .split_once('\n')
        .and_then(|(_, r)| r.split_once('\n'))
        .and_then(|(_, r)| r.split_once('\n'))
        .map(|(_, r)| r)
        .unwrap_or("");
    format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n{hunks}"
    )
}

/// A unified diff of one file (`git apply` format, 3 lines of context).
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    // Longest common subsequence on lines (files are small).
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Edit script: (tag, line) with ' ', '-', '+'.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let mut out = format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n");
    let ctx = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| *t != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(ctx);
        let mut end = (changed[k] + ctx + 1).min(ops.len());
        while k + 1 < changed.len() && changed[k + 1] <= end + ctx {
            k += 1;
            end = (changed[k] + ctx + 1).min(ops.len());
        }
        k += 1;
        let old_start = ops[..start].iter().filter(|(t, _)| *t != '+').count();
        let new_start = ops[..start].iter().filter(|(t, _)| *t != '-').count();
        let old_len = ops[start..end].iter().filter(|(t, _)| *t != '+').count();
        let new_len = ops[start..end].iter().filter(|(t, _)| *t != '-').count();
        let at = |s: usize, l: usize| if l == 0 { s } else { s + 1 };
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            at(old_start, old_len),
            at(new_start, new_len)
        ));
        for (t, line) in &ops[start..end] {
            out.push(*t);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}
