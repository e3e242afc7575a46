//! The provider interface of driftd.
//!
//! Why this crate exists: the engine (the `driftd` package) depends on the
//! providers, and the providers need a shared vocabulary for resources and
//! reads. Keeping that vocabulary here, free of any cloud SDK, avoids a
//! dependency cycle and keeps the engine testable without AWS.
//!
//! The model is deliberately small:
//! - a [`StateResource`] is one resource instance as Terraform state records it
//!   (raw attributes, exactly as written by the provider);
//! - a [`Desired`] is the provider's *canonical projection* of it: only the
//!   attributes that are compared, already normalized (sets sorted, defaults
//!   applied, rule blocks exploded into keyed sets);
//! - a [`Live`] is what the cloud returned, in the same canonical shape;
//! - an [`Inventory`] is the result of one read of one scope: per type either
//!   the complete set of live resources or the error that made it unknown.
//!
//! A live attribute that is *absent* from [`Live::attrs`] was not observable and
//! is never compared; a provider emits an explicit empty value (`{}`, `""`,
//! `false`) when the cloud says "nothing". This rule is what keeps a partial
//! read from turning into false drift.

use std::collections::BTreeMap;

pub mod canon;
pub mod compare;
pub mod registry;

pub use canon::Canon;

pub use registry::{ReadError, ReadErrorKind, Registry, ResourceType};

pub use serde_json::{Map, Value};

/// Attributes of a resource, keyed by Terraform attribute name.
pub type Attrs = Map<String, Value>;

/// One resource instance read from Terraform state (mode `managed` only).
#[derive(Debug, Clone, PartialEq)]
pub struct StateResource {
    /// The address exactly as Terraform prints it, e.g. `module.net.aws_instance.web[0]`.
    pub address: String,
    /// Resource type, e.g. `aws_instance`.
    pub rtype: String,
    /// The provider's id (`attributes.id`); empty if the state has none.
    pub id: String,
    /// Raw attributes as stored in the state.
    pub attrs: Attrs,
    /// Attribute paths the state marks sensitive (top-level names first).
    pub sensitive_paths: Vec<Vec<String>>,
    /// Set when the provider projected the resource while its state file was
    /// parsed ([`Schema::prepare`]): `attrs` is then empty, and what locates
    /// it is in [`Prepared::locating`] (read both with [`StateResource::raw`]).
    pub prepared: Option<Box<Prepared>>,
}

/// A resource projected as its state was parsed: what [`Desired`] is built
/// from, so that the raw attributes of 100,000 instances are never all held
/// at once (only those of the one being parsed).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The id the live read looks the resource up by.
    pub live_id: String,
    /// Canonical attributes, before the cross-resource rules of a scope
    /// (held frozen: [`Canon`]).
    pub attrs: Canon,
    /// The provider settings it was projected with.
    pub context: registry::ProjectContext,
    /// The raw attributes kept to locate it (its id, region, bucket, ...):
    /// a few pairs, not a map (a map's smallest node is 600 bytes).
    pub locating: Vec<(&'static str, Value)>,
}

impl StateResource {
    /// A raw attribute: from `attrs`, or, once the resource is prepared,
    /// from what was kept to locate it ([`Prepared::locating`]).
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.attrs.get(key).or_else(|| {
            self.prepared
                .as_ref()?
                .locating
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
    }
}

/// The canonical, comparable form of a resource the code manages.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub address: String,
    pub rtype: String,
    pub id: String,
    /// Canonical attributes to compare. A scan holds them frozen
    /// ([`Canon::freeze`]) between the projection and the comparison; read
    /// them with [`Canon::peek`] where a thawed copy need not be kept.
    pub attrs: Canon,
}

/// A live resource in canonical form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Live {
    pub id: String,
    pub attrs: Attrs,
    /// Created by AWS itself (a VPC's default security group): not reported as
    /// unmanaged unless the user asks for strict mode.
    pub auto_created: bool,
    /// Owned by another AWS service (an Auto Scaling group's instances): not
    /// reported as unmanaged unless strict.
    pub owned_by_service: Option<String>,
}

impl Live {
    /// Settle a live resource against its desired form: when the comparison
    /// finds nothing ([`compare::diff`] is empty), its attributes are dropped
    /// and `true` is returned. The comparison of the settled resource then
    /// finds nothing too (absent attributes are never compared), so the
    /// report is the same, and an in-sync resource costs its id only.
    ///
    /// Call it only where nothing later *changes* an attribute this resource
    /// already has (attributes *added* later are compared as usual), and
    /// only on managed resources (unmanaged ones keep their attributes, for
    /// import pull requests).
    pub fn settle(&mut self, desired: &Attrs, shape: impl Fn(&str) -> Shape) -> bool {
        let settled = compare::diff(desired, &self.attrs, shape).is_empty();
        if settled {
            self.attrs = Attrs::new();
        }
        settled
    }
}

/// The outcome of reading one resource type in one scope.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeRead {
    /// Every live resource of the type that the read was asked for (and all of
    /// them when unmanaged discovery was requested), keyed by id.
    Complete(BTreeMap<String, Live>),
    /// The read failed: every resource of this type is *unknown*.
    Failed(ReadError),
}

/// What one read of a scope returned, per resource type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub types: BTreeMap<String, TypeRead>,
    /// Resources whose own read failed while the rest of their type was read
    /// (one S3 bucket answering 403): type -> id -> reason. Those resources
    /// are *unknown*; the others of the type are compared as usual.
    pub failed: BTreeMap<String, BTreeMap<String, String>>,
    /// Resources a `Complete` listing may lack (a bucket whose region could
    /// not be read, so it may belong to this scope): type -> id -> reason.
    /// Unmanaged detection is incomplete for those ids; what was listed is
    /// still reported.
    pub gaps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Inventory {
    pub fn get(&self, rtype: &str) -> Option<&TypeRead> {
        self.types.get(rtype)
    }

    /// One resource: `Ok(Some)` read, `Ok(None)` not there (missing), `Err`
    /// unknown (its read, or its type's, failed or never ran).
    pub fn lookup(&self, rtype: &str, id: &str) -> Result<Option<&Live>, String> {
        if let Some(e) = self.failed.get(rtype).and_then(|m| m.get(id)) {
            return Err(e.clone());
        }
        match self.types.get(rtype) {
            Some(TypeRead::Complete(m)) => Ok(m.get(id)),
            Some(TypeRead::Failed(e)) => Err(e.message.clone()),
            None => Err("not read".into()),
        }
    }
}

/// What a scope read is asked for.
#[derive(Debug, Clone, Default)]
pub struct ReadRequest<'a> {
    /// Canonical desired resources in this scope (all stacks together).
    pub desired: &'a [Desired],
    /// Also list every resource of the discoverable types (for unmanaged).
    pub discover_unmanaged: bool,
}

/// How a top-level canonical attribute is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Compared whole (scalars, lists, a policy document).
    Leaf,
    /// A user map or keyed set (tags, rule sets): keys on either side count,
    /// so an added, removed or changed key is drift, reported per key.
    Map,
    /// A nested block: only the keys the state declares are compared.
    Block,
}

/// The pure half of a provider: which types it knows and how state projects
/// into canonical form. No network; cheap to build; easy to unit-test.
pub trait Schema: Send + Sync {
    /// Resource types this provider understands.
    fn supported_types(&self) -> &'static [&'static str];
    /// Types listed in full for unmanaged detection.
    fn discoverable_types(&self) -> &'static [&'static str];
    /// Project one resource as soon as its state is parsed (see
    /// [`Prepared`]); the default keeps the raw form for [`Schema::desired`].
    /// The result must equal what `desired` makes of the raw form.
    fn prepare(&self, _resource: &mut StateResource) {}
    /// The region each state resource lives in (same order as the input), when
    /// its attributes (or a related resource's) say so: an ARN, a `region`
    /// attribute. `None` means "the stack's first region".
    fn regions(&self, resources: &[StateResource]) -> Vec<Option<String>>;
    /// Project state resources (of supported types, all stacks of one scope
    /// together, so that cross-resource rules can apply) into canonical form:
    /// exactly one `Desired` per input resource, in the same order.
    fn desired(&self, resources: &[StateResource]) -> Vec<Desired>;
    /// [`Schema::desired`], freeing each resource's raw attributes as soon
    /// as it is projected (memory: the raw form and the canonical one of a
    /// large state never both exist in full).
    fn desired_freeing(&self, resources: &mut [StateResource]) -> Vec<Desired> {
        let out = self.desired(resources);
        for r in resources.iter_mut() {
            r.attrs = Attrs::new();
        }
        out
    }
    /// How a top-level attribute of a type is compared.
    fn shape(&self, rtype: &str, attr: &str) -> Shape;
    /// The provider's registry of resource types: what the engine consults
    /// instead of naming types (policy defaults, editor hints, scan inputs).
    fn registry(&self) -> Registry;
}

/// The live half of a provider: reads one scope (an account/endpoint and a region).
#[async_trait::async_trait]
pub trait Reader: Send + Sync {
    async fn read(&self, request: ReadRequest<'_>) -> Inventory;
}

/// One attribute difference between desired and live (canonical paths).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrDiff {
    pub path: Vec<String>,
    /// The state's value (`null`: not in state).
    pub expected: Value,
    /// The live value (`null`: not present live).
    pub actual: Value,
}

/// One API call that puts one attribute of one live resource back to the
/// state's value. Plain data: printed as-is in dry-run, written to the audit
/// log, then executed by the provider's [`Reconciler`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Action {
    #[serde(rename = "type")]
    pub rtype: String,
    pub id: String,
    /// Canonical attribute path this action repairs (`tags.Team`).
    pub attribute: String,
    /// `service:Operation`, as in IAM (`ec2:CreateTags`).
    pub operation: String,
    /// The request, in the API's own terms (for dry-run output and the audit log).
    pub params: Value,
    /// Live value before (masked when sensitive).
    pub before: Value,
    /// Value after: the state's (masked when sensitive).
    pub after: Value,
}

/// Why a drift cannot be reconciled automatically.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotReconcilable {
    #[error("no reconciler for {0}")]
    Unsupported(String),
    #[error("{0} can only change by stopping or replacing the resource")]
    Disruptive(String),
    #[error("{0}")]
    Other(String),
}

/// Puts live resources back to their state's values.
#[async_trait::async_trait]
pub trait Reconciler: Send + Sync {
    /// The calls that would repair these differences of one resource; an
    /// error when any of them cannot be repaired safely (then none is made).
    fn plan(&self, desired: &Desired, diffs: &[AttrDiff]) -> Result<Vec<Action>, NotReconcilable>;
    /// Make one call; the error's message is what the audit log and the
    /// report show.
    async fn apply(&self, action: &Action) -> Result<(), ReadError>;
}
