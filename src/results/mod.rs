//! Result files: serde models of the reference's JSON schemas (PascalCase, same nesting) plus
//! ollabench's added fields, provenance, and atomic writes.
