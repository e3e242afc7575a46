//! The service layer: paginated, batched SDK calls and each service's
//! "absent" error codes, shared by every resource type that needs them.
//!
//! Why below the types: one file per type must never mean one call per type
//! per resource. A type declares which listing or per-parent call provides
//! its live data; the service makes that call once per scope for all of them
//! (one `DescribeSecurityGroups` for groups and their standalone rules, one
//! `GetBucketVersioning` per bucket for `aws_s3_bucket` and
//! `aws_s3_bucket_versioning` together).

pub mod ec2;
pub mod s3;
