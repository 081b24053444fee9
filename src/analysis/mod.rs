//! Pure analysis of measured runs, shared by the scenarios, `compare` and `report` alike:
//! [`scaling`] (multi-user efficiency, speedup, contention), [`trend`] (changes against a
//! baseline, noise, the regression gate's statistics), [`verdict`] (the reference's
//! Performance Targets), [`headroom`] (decode against the GPU's memory-bandwidth ceiling),
//! [`slo`] (objectives, goodput and attainment of `load` steps) and [`capacity`] (the
//! bracketing search for the highest load that meets them).
//! Nothing here does I/O; everything works on [`crate::results`]' types.

pub mod capacity;
pub mod headroom;
pub mod scaling;
pub mod slo;
pub mod trend;
pub mod verdict;
