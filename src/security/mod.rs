//! Edge security (placeholder doc; see final version).

pub mod acl;
pub mod cidr;
pub mod digest;
