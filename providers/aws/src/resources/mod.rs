//! One file per resource type. Each declares its [`crate::registry::AwsType`]:
//! the registry entry (compared attributes with shapes, criticality and
//! fixability, discovery, default policy rules, editor hints, IAM actions),
//! its state projection and the service call that provides its live data.
//! [`crate::registry::TYPES`] lists them all, once.

pub mod ec2;
pub mod s3;
