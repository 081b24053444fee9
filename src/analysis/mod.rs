//! Pure analysis of measured runs, shared by the scenarios, `compare` and `report` alike:
//! [`scaling`] (multi-user efficiency, speedup, contention), [`trend`] (changes against a
//! baseline, noise, the regression gate's statistics), [`verdict`] (the reference's
//! Performance Targets) and [`headroom`] (decode against the GPU's memory-bandwidth ceiling).
//! Nothing here does I/O; everything works on [`crate::results`]' types.

pub mod headroom;
pub mod scaling;
pub mod trend;
pub mod verdict;
