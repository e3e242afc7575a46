//! AWS SDK errors in words: `code: message (hint)`.
//!
//! Why: an SDK error's cause chain ends, for every error the SDK has no
//! type for (`AccessDenied` on `GetBucketLocation`, `NoSuchBucket` on
//! `GetObject`), in its error metadata, whose `Display` is a struct dump
//! (`Error { code: "AccessDenied", message: "...", aws_request_id: ... }`),
//! after two wrappers that say nothing ("service error", "unhandled error
//! (AccessDenied)"). Users need AWS's code and message, once, and what to do.

use std::error::Error;

use aws_smithy_types::error::ErrorMetadata;

/// One error chain: the messages worth showing, in order, and the AWS error
/// codes met on the way.
pub struct Chain {
    pub parts: Vec<String>,
    pub codes: Vec<String>,
}

/// Walk a cause chain: AWS error metadata becomes `code: message`; the SDK's
/// empty wrappers are dropped; each distinct message appears once.
pub fn chain(e: &(dyn Error + 'static)) -> Chain {
    let mut parts: Vec<String> = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    let mut wrappers: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = if let Some(meta) = err.downcast_ref::<ErrorMetadata>() {
            if let Some(c) = meta.code() {
                codes.push(c.to_string());
            }
            match (meta.code(), meta.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => String::new(),
            }
        } else {
            let t = err.to_string();
            let first = t.lines().next().unwrap_or("").trim().to_string();
            if first == "service error" || first.starts_with("unhandled error") {
                wrappers.push(first);
                String::new()
            } else {
                if let Some((code, _)) = first.split_once(": ") {
                    if is_code(code) {
                        codes.push(code.to_string());
                    }
                }
                first
            }
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        parts = wrappers;
    }
    Chain { parts, codes }
}

/// An AWS error code: one CamelCase word (`AccessDenied`, `NoSuchKey`,
/// `InvalidGroup.NotFound`).
fn is_code(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && s.chars().any(|c| c.is_ascii_lowercase())
}

/// What a user can do about an AWS error code.
pub fn hint(codes: &[String]) -> Option<&'static str> {
    codes.iter().find_map(|c| {
        Some(match c.as_str() {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Forbidden"
            | "AllAccessDisabled" => {
                "driftd's credentials lack a permission: check the IAM policy of the role it runs as, and any bucket policy or SCP"
            }
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
                "the credentials have expired: refresh them"
            }
            "InvalidClientTokenId" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AuthFailure"
            | "UnrecognizedClientException" => {
                "the credentials are not valid for this account or endpoint"
            }
            "NoSuchBucket" => "check the bucket name and the region",
            "NoSuchKey" => "check the key (the object does not exist)",
            "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => {
                "the bucket is in another region: set the stack's state_region"
            }
            _ => return None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn service_error(code: &str, message: &str) -> SdkError<GetObjectError, Response> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message(message)
            .custom("aws_request_id", "req-1")
            .build();
        SdkError::service_error(
            GetObjectError::generic(meta),
            Response::new(StatusCode::try_from(403).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn unhandled_errors_read_code_message_and_hint() {
        let e = service_error("AccessDenied", "Access Denied");
        let d = crate::errors::describe(&e);
        assert!(
            d.starts_with("AccessDenied: Access Denied (driftd's credentials lack a permission"),
            "{d}"
        );
        assert!(
            !d.contains("Error {") && !d.contains("service error"),
            "{d}"
        );
        let d =
            crate::errors::describe(&service_error("NoSuchBucket", "The bucket does not exist"));
        assert_eq!(
            d,
            "NoSuchBucket: The bucket does not exist (check the bucket name and the region)"
        );
    }

    #[test]
    fn modeled_errors_keep_their_words() {
        let e: SdkError<GetObjectError, Response> = SdkError::service_error(
            GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder()
                    .message("The specified key does not exist.")
                    .build(),
            ),
            Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()),
        );
        let d = crate::errors::describe(&e);
        assert!(
            d.starts_with("NoSuchKey: The specified key does not exist. (check the key"),
            "{d}"
        );
    }
}
