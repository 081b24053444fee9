//! Pure analysis of measured runs, shared by the scenarios, `compare` and `report` alike:
//! [`scaling`] (multi-user efficiency, speedup, contention), [`trend`] (changes against a
//! baseline, noise, the regression gate's statistics) and [`verdict`] (the reference's
//! Performance Targets). Nothing here does I/O; everything works on [`crate::results`]' types.

pub mod capacity;
pub mod scaling;
pub mod trend;
pub mod verdict;
