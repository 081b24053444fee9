//! Scenarios: each is a plan for the engine plus the bookkeeping of one reference benchmark.
//! [`target`] resolves and connects to the server every scenario runs against.

pub mod single_user;
pub mod target;
pub mod test_connection;
pub mod tokens_per_second;
