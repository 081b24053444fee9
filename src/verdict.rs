//! Verdicts against the reference's Performance Targets table (T4 GPU + Azure Files Premium).
