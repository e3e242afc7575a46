//! The resource-type registry: one static description per type, consulted by
//! the whole engine (scan, diff, policy defaults, PR editor, docs checks).
//!
//! Why data first (as terraform-provider-aws's service registration and
//! Steampipe's table map do it): a type is a `static` [`ResourceType`], plain
//! data plus a few `fn` pointers, declared in that type's own file. A provider
//! exposes one static list of them; the engine never names a type, it asks
//! the list.

use crate::{Attrs, Shape, StateResource};

/// Whether a drift on an attribute can be put back by the reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// One API call repairs it in place.
    InPlace,
    /// Only a stop or a replacement would: refused at planning time.
    Disruptive,
    /// No reconciler call exists for it.
    No,
}

/// One compared top-level attribute of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    /// Canonical attribute name (Terraform's, nested single blocks without `[0]`).
    pub name: &'static str,
    /// How it is compared.
    pub shape: Shape,
    /// Its drift is critical by default (see the type's [`DefaultRule`]s, which
    /// are what the policy actually applies; this is the summary for docs).
    pub critical: bool,
    /// Whether the reconciler can repair it.
    pub fix: Fix,
}

impl AttrSpec {
    /// A compared attribute.
    pub const fn new(name: &'static str, shape: Shape, critical: bool, fix: Fix) -> Self {
        Self {
            name,
            shape,
            critical,
            fix,
        }
    }
}

/// A drift kind a default rule applies to (the engine maps it to its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Changed,
    Missing,
    Unmanaged,
}

/// One built-in policy rule for a type: matches drifts of this type whose
/// attribute matches one of `attributes` (wildcards; empty: any), of one of
/// `kinds` (empty: any), and makes them critical or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRule {
    /// Rule name, reported as `builtin:<name>`.
    pub name: &'static str,
    pub attributes: &'static [&'static str],
    pub kinds: &'static [RuleKind],
    pub critical: bool,
}

/// How the PR editor treats a drifted attribute of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorHint {
    /// A literal attribute (possibly inside nested blocks): edited in place.
    Plain,
    /// A keyed set exploded from repeated blocks (security group `ingress`):
    /// the editor adds, changes or removes the matching block.
    KeyedBlocks,
    /// Repeated nested blocks compared as a set keyed by the value of one of
    /// these arguments (`route` by `cidr_block`, lifecycle `rule` by `id`,
    /// NACL `ingress` by `rule_no`): a drift path `[block, key, rest..]` is
    /// edited inside the one block whose key argument is `key`. With no
    /// `rest`, the drift is the whole element: its arguments are set or
    /// removed to match the live value; the block is removed when it is gone
    /// live, and added (with the first key argument) when only one key
    /// argument exists.
    KeyedBy(&'static [&'static str]),
    /// Never edited automatically; the reason goes into the PR body.
    Refuse(&'static str),
}

/// How an unmanaged resource of a type is imported and written as code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportHints {
    /// The argument that carries the import id itself (`bucket` for a
    /// bucket); `None` when the id is not an argument (an instance id).
    pub id_argument: Option<&'static str>,
    /// The argument whose value names the resource (its Terraform name and
    /// the `name_prefix` rule), after the `Name` tag.
    pub name_argument: Option<&'static str>,
    /// Arguments written from the live form, in this order (when present and
    /// not empty).
    pub arguments: &'static [&'static str],
    /// Arguments written as nested blocks, in this order.
    pub blocks: &'static [&'static str],
    /// Arguments Terraform requires: without a live value the import needs
    /// a human.
    pub required: &'static [&'static str],
    /// Said in the pull request about what is not generated.
    pub note: &'static str,
}

/// A keyed set the reconciler writes whole, in one action whose attribute is
/// the set's own name (`tags`), and where that action carries it: its
/// parameters (and the previous document logged for it) hold a list
/// `list` of `{key: .., value: ..}` entries, its `after` the state's map.
/// The engine masks the values of sensitive keys there, one entry at a
/// time, so the other entries can still be put back; it names no call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeSet {
    /// The keyed-set attribute (`tags`).
    pub attribute: &'static str,
    /// The parameter holding the entries (`TagSet`).
    pub list: &'static str,
    /// The entry's key field (`Key`).
    pub key: &'static str,
    /// The entry's value field (`Value`).
    pub value: &'static str,
}

impl WholeSet {
    /// A whole-set write of `attribute`, carried in `list` of `{key, value}`.
    pub const fn new(
        attribute: &'static str,
        list: &'static str,
        key: &'static str,
        value: &'static str,
    ) -> Self {
        Self {
            attribute,
            list,
            key,
            value,
        }
    }
}

/// Everything the engine needs to know about one resource type.
#[derive(Debug, Clone, Copy)]
pub struct ResourceType {
    /// Terraform type name, e.g. `aws_instance`.
    pub name: &'static str,
    /// The compared attributes.
    pub attributes: &'static [AttrSpec],
    /// Listed in full when looking for unmanaged resources.
    pub discoverable: bool,
    /// Resources of this type in *other* stacks of a scope change how this
    /// scope's resources compare (standalone rules leave their group's sets),
    /// so the scan loads them from every stack, filtered or not.
    pub needed_from_other_stacks: bool,
    /// Keyed sets whose keys are written whole (S3 tags): a reconcile of a
    /// subset of keys sends the whole set, ignored keys kept as they are live,
    /// and the action's parameters carry the set (see [`WholeSet`]).
    pub whole_set_writes: &'static [WholeSet],
    /// Built-in policy rules, in order (after the engine's generic
    /// `missing-or-unmanaged`, before its generic `tags` and `descriptions`;
    /// a type rule must not match `tags*` or `description`).
    pub default_rules: &'static [DefaultRule],
    /// PR editor hints per top-level attribute (the rest: [`EditorHint::Plain`]).
    pub editor: &'static [(&'static str, EditorHint)],
    /// How an unmanaged resource of this type is written as an import (None:
    /// never proposed for import).
    pub import: Option<ImportHints>,
    /// IAM actions the live read needs.
    pub read_actions: &'static [&'static str],
    /// IAM actions the reconciler may call.
    pub write_actions: &'static [&'static str],
    /// The canonical projection of one state resource (cross-resource rules,
    /// like split S3 resources replacing inline blocks, are the provider's).
    pub project: fn(&StateResource, &ProjectContext) -> Attrs,
    /// The id live reads know the resource by (`bucket` for S3 types).
    pub live_id: fn(&StateResource) -> String,
}

/// Provider settings a projection may depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectContext {
    /// `disable_api_termination` is compared on every instance (`All`), only
    /// where state enables it (`Protected`), or never.
    pub termination_protection: TerminationReads,
}

/// See [`ProjectContext::termination_protection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminationReads {
    #[default]
    Protected,
    All,
    None,
}

impl ResourceType {
    /// The declared attribute, if compared.
    pub fn attribute(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The editor hint for a top-level attribute.
    pub fn editor_hint(&self, attr: &str) -> EditorHint {
        self.editor
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, h)| *h)
            .unwrap_or(EditorHint::Plain)
    }
}

/// A provider's registry: its one static list of types.
#[derive(Debug, Clone, Copy)]
pub struct Registry(pub &'static [&'static ResourceType]);

impl Registry {
    /// Every type, in registry order.
    pub fn types(&self) -> impl Iterator<Item = &'static ResourceType> + '_ {
        self.0.iter().copied()
    }

    /// One type by name.
    pub fn get(&self, name: &str) -> Option<&'static ResourceType> {
        self.types().find(|t| t.name == name)
    }

    /// Type names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        self.types().map(|t| t.name).collect()
    }

    /// Whether resources of `name` in other stacks are needed (see
    /// [`ResourceType::needed_from_other_stacks`]).
    pub fn needed_from_other_stacks(&self, name: &str) -> bool {
        self.get(name).is_some_and(|t| t.needed_from_other_stacks)
    }
}

/// Why a live read failed: a bounded set, so metric labels stay bounded and
/// matches are exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadErrorKind {
    AccessDenied,
    Throttled,
    Transport,
    NotFound,
    Other,
}

impl ReadErrorKind {
    /// A stable label (metrics).
    pub fn label(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::Throttled => "throttled",
            Self::Transport => "transport",
            Self::NotFound => "not_found",
            Self::Other => "other",
        }
    }
}

/// A failed read or call: its kind and the readable message (shown as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub kind: ReadErrorKind,
    pub message: String,
}

impl ReadError {
    /// An error of a kind.
    pub fn new(kind: ReadErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Classify a message by the AWS error codes and words it carries.
    pub fn classify(message: impl Into<String>) -> Self {
        let message = message.into();
        let m = message.to_ascii_lowercase();
        let kind = if m.contains("accessdenied")
            || m.contains("access denied")
            || m.contains("unauthorized")
            || m.contains("forbidden")
        {
            ReadErrorKind::AccessDenied
        } else if m.contains("throttl") || m.contains("slowdown") || m.contains("rate exceeded") {
            ReadErrorKind::Throttled
        } else if m.contains("dispatch failure")
            || m.contains("timed out")
            || m.contains("connection")
            || m.contains("deadline")
        {
            ReadErrorKind::Transport
        } else if m.contains("notfound") || m.contains("no such") || m.contains("nosuch") {
            ReadErrorKind::NotFound
        } else {
            ReadErrorKind::Other
        };
        Self { kind, message }
    }
}

impl From<String> for ReadError {
    fn from(message: String) -> Self {
        Self::classify(message)
    }
}

impl From<ReadError> for String {
    fn from(e: ReadError) -> Self {
        e.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_are_classified_into_bounded_kinds() {
        let k = |m: &str| ReadError::classify(m).kind;
        assert_eq!(
            k("DescribeInstances: UnauthorizedOperation"),
            ReadErrorKind::AccessDenied
        );
        assert_eq!(
            k("GetBucketPolicy: AccessDenied"),
            ReadErrorKind::AccessDenied
        );
        assert_eq!(
            k("RequestLimitExceeded: Throttling"),
            ReadErrorKind::Throttled
        );
        assert_eq!(k("dispatch failure: io error"), ReadErrorKind::Transport);
        assert_eq!(k("NoSuchBucket"), ReadErrorKind::NotFound);
        assert_eq!(k("boom"), ReadErrorKind::Other);
        assert_eq!(ReadError::classify("boom").to_string(), "boom");
    }
}
