//! The engine: the one concurrent request loop. It runs a plan (how many operations, how many
//! in flight) with cancellation, and hands back per-operation records in order.
