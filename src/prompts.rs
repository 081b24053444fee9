//! The prompt-length categories and their fixed prompt texts, shipped in the binary so that
//! runs stay comparable over time.
