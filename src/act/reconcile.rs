//! Reconcile: plan the API calls that put the state's values back, run them
//! behind the brakes, verify each by re-reading, and write the audit log.

use std::collections::HashMap;

use driftd_aws::{ApiCalls, AwsReconciler, AwsSchema, ClientOptions, Clients, Target};
use driftd_core::registry::WholeSet;
use driftd_core::{Action, Reconciler, Schema as _, Value};
use tracing::{error, info, warn};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::decide::{self, Brake};
use crate::diff::{is_sensitive, SENSITIVE};
use crate::report::{ActionOutcome, ActionRecord, DriftKind, Report};
use crate::scan::Detail;

use super::verify::{still_drifted, verify};

/// One drift's planned actions.
pub struct Planned {
    pub stack: usize,
    pub drift: usize,
    pub detail: Detail,
    pub actions: Vec<Action>,
    pub dry_run: bool,
}

/// Plans reconciles, one reconciler (and one credential resolution) per target.
pub struct Planner<'a> {
    client: ClientOptions,
    calls: &'a ApiCalls,
    reconcilers: HashMap<Target, AwsReconciler>,
}

impl<'a> Planner<'a> {
    pub fn new(config: &'a Config, client: &ClientOptions, calls: &'a ApiCalls) -> Self {
        Self {
            client: crate::scan::client_options(config, client),
            calls,
            reconcilers: HashMap::new(),
        }
    }

    /// Plan one drift: its actions (verified later against what was asked
    /// for: ignored attributes as they are live), or why not.
    pub async fn plan(
        &mut self,
        kind: DriftKind,
        detail: &Detail,
    ) -> Result<(Detail, Vec<Action>), String> {
        let rec = match self.reconcilers.get(&detail.target) {
            Some(r) => r.clone(),
            None => {
                let r = AwsReconciler {
                    clients: Clients::new(&detail.target, &self.client, self.calls).await,
                };
                self.reconcilers.insert(detail.target.clone(), r.clone());
                r
            }
        };
        let diffs = decide::diffs_to_apply(kind, &detail.desired, &detail.diffs);
        // Whole-set writes (the registry's `whole_set_writes`: S3 tags) keep
        // ignored keys as they are live.
        let mut desired = detail.desired.clone();
        let whole = whole_sets(&desired.rtype);
        for x in detail
            .ignored
            .iter()
            .filter(|x| x.path.len() == 2 && whole.iter().any(|w| w.attribute == x.path[0]))
        {
            if let Some(Value::Object(tags)) = desired.attrs.get_mut(&x.path[0]) {
                match &x.actual {
                    Value::Null => {
                        tags.remove(&x.path[1]);
                    }
                    v => {
                        tags.insert(x.path[1].clone(), v.clone());
                    }
                }
            }
        }
        let actions = rec.plan(&desired, &diffs).map_err(|e| e.to_string())?;
        Ok((
            Detail {
                desired,
                ..detail.clone()
            },
            actions,
        ))
    }

    fn reconciler(&self, target: &Target) -> Option<AwsReconciler> {
        self.reconcilers.get(target).cloned()
    }
}

/// Run the planned actions: brakes, previous documents, audit log, apply,
/// verify. Every outcome is data in the stack's `actions`.
pub async fn execute(
    config: &Config,
    planner: &Planner<'_>,
    planned: Vec<Planned>,
    kill: bool,
    report: &mut Report,
) {
    let schema = AwsSchema {
        instance_attribute_reads: config.scan.instance_attribute_reads,
    };
    let audit = config.reconcile.audit_log.as_deref().map(AuditLog::new);
    let mut used = 0usize;
    for p in planned {
        let st_name = report.stacks[p.stack].name.clone();
        let address = report.stacks[p.stack].drifts[p.drift]
            .address
            .clone()
            .unwrap_or_default();
        let brake = decide::brake(
            p.dry_run,
            kill,
            used,
            p.actions.len(),
            config.reconcile.max_actions,
        );
        let mut records: Vec<ActionRecord> = Vec::new();
        let rec = planner.reconciler(&p.detail.target);
        let mut applied_paths = Vec::new();
        for a in &p.actions {
            let (params, before, after) = mask_action(a, &p.detail);
            let mut r = ActionRecord {
                address: address.clone(),
                rtype: a.rtype.clone(),
                id: a.id.clone(),
                attribute: a.attribute.clone(),
                operation: a.operation.clone(),
                params,
                before,
                after,
                outcome: ActionOutcome::Skipped,
                dry_run: p.dry_run,
                error: None,
                changed_by: report.stacks[p.stack].drifts[p.drift].changed_by.clone(),
            };
            match &brake {
                Brake::DryRun => r.outcome = ActionOutcome::DryRun,
                Brake::Stop(why) => r.error = Some(why.clone()),
                Brake::Go => {
                    // Whole-document writes: log the complete previous document,
                    // so the change can be undone; if it cannot be read, no action.
                    if let Some(fut) = rec.as_ref().map(|x| x.previous(a)) {
                        match fut.await {
                            Ok(Some(doc)) => {
                                let with_doc = Action {
                                    before: doc,
                                    ..a.clone()
                                };
                                r.before = mask_action(&with_doc, &p.detail).1;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                r.outcome = ActionOutcome::Failed;
                                r.error = Some(format!("not done: {e}"));
                                records.push(r);
                                continue;
                            }
                        }
                    }
                    if let Some(log) = &audit {
                        if let Err(e) = log.started(&st_name, &r) {
                            // No audit trail, no action.
                            r.outcome = ActionOutcome::Failed;
                            r.error = Some(e);
                            records.push(r);
                            continue;
                        }
                    }
                    used += 1;
                    match rec.as_ref().map(|x| x.apply(a)) {
                        Some(fut) => match fut.await {
                            Ok(()) => {
                                r.outcome = ActionOutcome::Succeeded;
                                applied_paths.push(a.attribute.clone());
                            }
                            Err(e) => {
                                r.outcome = ActionOutcome::Failed;
                                r.error = Some(e.message);
                            }
                        },
                        None => {
                            r.outcome = ActionOutcome::Failed;
                            r.error = Some("no client".into());
                        }
                    }
                }
            }
            records.push(r);
        }
        // Verify: re-read the resource; what we changed must no longer differ.
        if !applied_paths.is_empty() {
            let still = match &rec {
                Some(r) => verify(&schema, &p.detail, &r.clients, config.scan.concurrency).await,
                None => Err("no client".into()),
            };
            for r in records
                .iter_mut()
                .filter(|r| r.outcome == ActionOutcome::Succeeded)
            {
                match &still {
                    Err(e) => {
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some(format!("could not verify: {e}"));
                    }
                    Ok(paths) if still_drifted(paths, &r.attribute, &p.detail.desired) => {
                        r.outcome = ActionOutcome::Failed;
                        r.error = Some("still drifted when re-read after the change".into());
                    }
                    Ok(_) => {}
                }
            }
        }
        for r in &records {
            if let Some(log) = &audit {
                if let Err(e) = log.append(&st_name, r.outcome.as_str(), r) {
                    warn!(error = %e, "audit log write failed");
                }
            }
            if r.outcome == ActionOutcome::Failed {
                // At the default log level: a failed change needs a human.
                error!(stack = %st_name, address = %r.address, operation = %r.operation, error = r.error.as_deref().unwrap_or(""), "reconcile action failed");
            } else {
                info!(stack = %st_name, address = %r.address, operation = %r.operation, outcome = r.outcome.as_str(), dry_run = r.dry_run, "reconcile action");
            }
        }
        let st = &mut report.stacks[p.stack];
        // As before the split: the kill switch annotates even a dry run's reason.
        if kill || matches!(brake, Brake::Stop(_)) {
            if let Some(dec) = st.drifts[p.drift].decision.as_mut() {
                dec.reason = format!(
                    "{} (not done: {})",
                    dec.reason,
                    records[0].error.clone().unwrap_or_default()
                );
            }
        }
        st.actions.extend(records);
    }
}

/// The registry's whole-set writes of a type (none for an unknown type).
fn whole_sets(rtype: &str) -> &'static [WholeSet] {
    AwsSchema::default()
        .registry()
        .get(rtype)
        .map_or(&[], |t| t.whole_set_writes)
}

pub(crate) fn mask_action(a: &Action, detail: &Detail) -> (Value, Value, Value) {
    if let Some(w) = whole_sets(&a.rtype)
        .iter()
        .find(|w| w.attribute == a.attribute)
    {
        // A whole set (S3 tags): mask the values of sensitive keys only, so
        // the other entries of `before` can still be put back.
        let secret = |k: &str| {
            is_sensitive(
                &[w.attribute.to_string(), k.to_string()],
                &detail.sensitive_paths,
            )
        };
        return (
            mask_set(&a.params, w, &secret),
            mask_set(&a.before, w, &secret),
            mask_set(&a.after, w, &secret),
        );
    }
    // Compare joined paths: a tag key may itself contain dots (`db.password`).
    let first = a.attribute.split('.').next().unwrap_or("").to_string();
    let sensitive = is_sensitive(std::slice::from_ref(&first), &[])
        || detail.sensitive_paths.iter().any(|sp| {
            let joined = sp
                .iter()
                .filter(|s| s.parse::<u64>().is_err())
                .cloned()
                .collect::<Vec<_>>()
                .join(".");
            a.attribute == joined
                || a.attribute.starts_with(&format!("{joined}."))
                || joined.starts_with(&format!("{}.", a.attribute))
        });
    if sensitive {
        let s = Value::String(SENSITIVE.into());
        (s.clone(), s.clone(), s)
    } else {
        (a.params.clone(), a.before.clone(), a.after.clone())
    }
}

/// Mask sensitive values in a whole set: the call's parameters or previous
/// document (`{w.list: [{w.key, w.value}]}`, e.g. S3's `TagSet`) or a
/// `{key: value}` map (the state's set).
fn mask_set(v: &Value, w: &WholeSet, secret: &dyn Fn(&str) -> bool) -> Value {
    let masked = || Value::String(SENSITIVE.into());
    let mut v = v.clone();
    if let Some(set) = v.get_mut(w.list).and_then(Value::as_array_mut) {
        for t in set {
            let key = t[w.key].as_str().unwrap_or_default().to_string();
            if secret(&key) && t.get(w.value).is_some_and(|x| !x.is_null()) {
                t[w.value] = masked();
            }
        }
    } else if let Some(m) = v.as_object_mut() {
        for (k, x) in m.iter_mut() {
            if secret(k) && !x.is_null() {
                *x = masked();
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftd_core::Desired;
    use serde_json::json;

    #[test]
    fn sensitive_tag_keys_with_dots_are_masked() {
        let detail = Detail {
            target: Target {
                region: "us-east-1".into(),
                endpoint_url: None,
                assume_role_arn: None,
            },
            desired: Desired {
                address: "aws_instance.a".into(),
                rtype: "aws_instance".into(),
                id: "i-1".into(),
                attrs: Default::default(),
            },
            diffs: vec![],
            ignored: vec![],
            sensitive_paths: vec![vec!["tags".into(), "db.password".into()]],
        };
        let action = |attr: &str| Action {
            rtype: "aws_instance".into(),
            id: "i-1".into(),
            attribute: attr.into(),
            operation: "ec2:CreateTags".into(),
            params: json!({"Tags": [{"Key": "db.password", "Value": "hunter2"}]}),
            before: json!("hunter3"),
            after: json!("hunter2"),
        };
        let (p, b, a) = mask_action(&action("tags.db.password"), &detail);
        assert!(!format!("{p}{b}{a}").contains("hunter"));
        let (p, _, _) = mask_action(&action("tags.Team"), &detail);
        assert!(p.to_string().contains("hunter2"), "other tags are shown");
        let (p, _, _) = mask_action(&action("user_data"), &detail);
        assert_eq!(p, json!(SENSITIVE));

        // A whole tag set: only the sensitive tag's values are masked.
        let whole = Action {
            rtype: "aws_s3_bucket".into(),
            id: "b".into(),
            attribute: "tags".into(),
            operation: "s3:PutBucketTagging".into(),
            params: json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": "hunter2"}, {"Key": "Team", "Value": "web"}]}),
            before: json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": "hunter3"}, {"Key": "Team", "Value": "ops"}]}),
            after: json!({"db.password": "hunter2", "Team": "web"}),
        };
        let (p, b, a) = mask_action(&whole, &detail);
        assert!(!format!("{p}{b}{a}").contains("hunter"), "{p} {b} {a}");
        assert_eq!(
            b,
            json!({"Bucket": "b", "TagSet": [{"Key": "db.password", "Value": SENSITIVE}, {"Key": "Team", "Value": "ops"}]})
        );
        assert_eq!(a, json!({"db.password": SENSITIVE, "Team": "web"}));
        // The registry's whole-set declaration decides, not the call's name.
        let renamed = Action {
            operation: "other:Call".into(),
            ..whole.clone()
        };
        assert_eq!(mask_action(&renamed, &detail), mask_action(&whole, &detail));
        // One key of such a set is masked as any single value.
        let one = Action {
            attribute: "tags.Team".into(),
            ..whole
        };
        assert!(mask_action(&one, &detail).0.to_string().contains("hunter2"));
    }
}
