//! Validated, typed options: the layer between `cli` (clap's flags) and the scenarios. What is
//! here has been checked, so the layers below never re-validate strings; the reference's
//! defaults live in [`defaults`], once, and the enums every layer shares live here too.

pub mod capacity;
pub mod defaults;
pub mod download;
pub mod load;
pub mod single_user;
pub mod suite;
pub mod target;
pub mod think;
pub mod tokens_per_second;

pub use download::DownloadPolicy;
pub use load::LoadOptions;
pub use single_user::SingleUserOptions;
pub use suite::{Scenario, SuiteOptions};
pub use target::{
    normalize_endpoint, parse_duration, simulator_setting, ApiKind, DurationError, TargetOptions,
    TargetSpec, DEFAULT_ENDPOINT,
};
pub use think::Think;
pub use tokens_per_second::TpsOptions;

/// Each item once, in the order first given: list flags may name a value twice.
fn first_of_each<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut unique = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique
}
