//! EC2 resource types.

pub mod instance;
pub mod security_group;
pub mod security_group_rule;
pub mod vpc;
pub mod vpc_security_group_rule;
