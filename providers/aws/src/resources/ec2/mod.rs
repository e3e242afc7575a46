//! EC2 resource types.

pub mod default_network_acl;
pub mod default_route_table;
pub mod default_subnet;
pub mod default_vpc;
pub mod eip;
pub mod eip_association;
pub mod instance;
pub mod internet_gateway;
pub mod main_route_table_association;
pub mod nat_gateway;
pub mod network_acl;
pub mod network_acl_association;
pub mod network_acl_rule;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod subnet;
pub mod vpc;
pub mod vpc_dhcp_options_association;
pub mod vpc_ipv4_cidr_block_association;
pub mod vpc_security_group_rule;
