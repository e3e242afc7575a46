//! Who made a change, from a CloudTrail record's `userIdentity`.
//!
//! Why: a drift review asks "who did this, and was it an emergency fix?".
//! The raw identity is an ARN such as
//! `arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@example.com`;
//! reviewers want "sso/Admin, user alice@example.com, via console".

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The resolved principal of one CloudTrail event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Principal {
    /// `assumed_role`, `sso`, `iam_user`, `root`, `service`,
    /// `federated_user` or `unknown`.
    pub kind: String,
    /// Short display name: `role/ops-admin`, `sso/AdministratorAccess`,
    /// `user/alice`, `root`, `service/autoscaling.amazonaws.com`.
    pub name: String,
    /// The role session name (assumed roles), or the user of an SSO session.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account_id: Option<String>,
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty()).map(str::to_string)
}

/// `AWSReservedSSO_AdministratorAccess_0123456789abcdef` -> `AdministratorAccess`.
pub fn sso_permission_set(role: &str) -> Option<String> {
    let rest = role.strip_prefix("AWSReservedSSO_")?;
    match rest.rsplit_once('_') {
        Some((set, suffix))
            if !set.is_empty()
                && !suffix.is_empty()
                && suffix.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Some(set.to_string())
        }
        _ => Some(rest.to_string()),
    }
}

/// Resolve a record's `userIdentity`.
pub fn resolve(record: &Value) -> Principal {
    let id = record.get("userIdentity").cloned().unwrap_or(Value::Null);
    let kind = s(&id, &["type"]).unwrap_or_default();
    let arn = s(&id, &["arn"]);
    let account_id = s(&id, &["accountId"]).or_else(|| s(record, &["recipientAccountId"]));
    let mk = |kind: &str, name: String, session: Option<String>| Principal {
        kind: kind.into(),
        name,
        session,
        arn: arn.clone(),
        account_id: account_id.clone(),
    };
    match kind.as_str() {
        "AssumedRole" => {
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let from_arn = arn
                .as_deref()
                .and_then(|a| a.split_once(":assumed-role/"))
                .map(|(_, rest)| rest.to_string());
            let (arn_role, session) = match from_arn.as_deref().and_then(|r| r.split_once('/')) {
                Some((r, sess)) => (Some(r.to_string()), Some(sess.to_string())),
                None => (from_arn.clone(), None),
            };
            let role = s(&id, &["sessionContext", "sessionIssuer", "userName"])
                .or(arn_role)
                .unwrap_or_else(|| "unknown".into());
            match sso_permission_set(&role) {
                Some(set) => mk("sso", format!("sso/{set}"), session),
                None => mk("assumed_role", format!("role/{role}"), session),
            }
        }
        "IAMUser" => {
            let user = s(&id, &["userName"])
                .or_else(|| {
                    arn.as_deref()
                        .and_then(|a| a.rsplit('/').next())
                        .map(String::from)
                })
                .unwrap_or_else(|| "unknown".into());
            mk("iam_user", format!("user/{user}"), None)
        }
        "Root" => mk("root", "root".into(), None),
        "AWSService" => {
            let by = s(&id, &["invokedBy"]).unwrap_or_else(|| "unknown".into());
            mk("service", format!("service/{by}"), None)
        }
        "FederatedUser" => {
            let user = arn
                .as_deref()
                .and_then(|a| a.split_once(":federated-user/"))
                .map(|(_, u)| u.to_string())
                .unwrap_or_else(|| "unknown".into());
            mk("federated_user", format!("federated/{user}"), None)
        }
        "" => mk("unknown", "unknown".into(), None),
        other => mk(
            "unknown",
            arn.clone().unwrap_or_else(|| other.to_string()),
            None,
        ),
    }
}

/// How the change was made: `console`, `terraform`, `cli`, `sdk`,
/// `service` or `unknown`.
pub fn channel(record: &Value) -> &'static str {
    let ua = s(record, &["userAgent"]).unwrap_or_default();
    let lower = ua.to_ascii_lowercase();
    let from_console = record
        .get("sessionCredentialFromConsole")
        .map(|v| v.as_str() == Some("true") || v.as_bool() == Some(true))
        .unwrap_or(false);
    if from_console
        || lower.contains("console.amazonaws.com")
        || lower.contains("console.aws.amazon.com")
        || lower == "aws internal"
        || lower.starts_with("signin.amazonaws.com")
    {
        "console"
    } else if lower.contains("terraform") || lower.contains("opentofu") {
        "terraform"
    } else if lower.contains("aws-cli") {
        "cli"
    } else if lower.contains("aws-sdk") || lower.contains("boto") || lower.contains("aws-internal")
    {
        "sdk"
    } else if s(record, &["userIdentity", "type"]).as_deref() == Some("AWSService")
        || lower.ends_with(".amazonaws.com")
    {
        "service"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assumed_role_gives_role_and_session() {
        let r = json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/ops-admin/jane",
            "accountId": "111122223333",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "ops-admin",
                "arn": "arn:aws:iam::111122223333:role/ops-admin"}}},
            "sessionCredentialFromConsole": "true"});
        let p = resolve(&r);
        assert_eq!(p.kind, "assumed_role");
        assert_eq!(p.name, "role/ops-admin");
        assert_eq!(p.session.as_deref(), Some("jane"));
        assert_eq!(channel(&r), "console");
    }

    #[test]
    fn sso_gives_permission_set_and_user() {
        let r = json!({"userIdentity": {"type": "AssumedRole",
            "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6789/alice@example.com",
            "sessionContext": {"sessionIssuer": {"userName": "AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6789"}}},
            "userAgent": "aws-cli/2.15.0 Python/3.11"});
        let p = resolve(&r);
        assert_eq!(p.kind, "sso");
        assert_eq!(p.name, "sso/AdministratorAccess");
        assert_eq!(p.session.as_deref(), Some("alice@example.com"));
        assert_eq!(channel(&r), "cli");
        // Without a hex suffix the whole rest is the permission set.
        assert_eq!(
            sso_permission_set("AWSReservedSSO_Dev").as_deref(),
            Some("Dev")
        );
        assert_eq!(sso_permission_set("ops-admin"), None);
    }

    #[test]
    fn iam_user_root_service_and_channels() {
        let u = json!({"userIdentity": {"type": "IAMUser", "userName": "bob",
            "arn": "arn:aws:iam::1:user/bob"},
            "userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.9.0 (+https://www.terraform.io) terraform-provider-aws/5.80.0"});
        assert_eq!(resolve(&u).name, "user/bob");
        assert_eq!(channel(&u), "terraform");
        let root = json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root"},
            "userAgent": "console.amazonaws.com"});
        assert_eq!(resolve(&root).name, "root");
        assert_eq!(channel(&root), "console");
        let svc = json!({"userIdentity": {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
            "userAgent": "autoscaling.amazonaws.com"});
        assert_eq!(resolve(&svc).name, "service/autoscaling.amazonaws.com");
        assert_eq!(channel(&svc), "service");
        let sdk = json!({"userIdentity": {"type": "IAMUser", "userName": "ci"},
            "userAgent": "aws-sdk-go-v2/1.30.0 os/linux"});
        assert_eq!(channel(&sdk), "sdk");
        assert_eq!(resolve(&json!({})).name, "unknown");
    }
}
