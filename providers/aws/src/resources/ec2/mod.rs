//! EC2 resource types.

pub mod instance;
pub mod internet_gateway;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod subnet;
pub mod vpc;
pub mod vpc_security_group_rule;
