//! Audience-segment matching for adloop: a boolean targeting language and a compiled index that finds every matching campaign in microseconds.
//!
//! This crate is being built; see the project issues for its contract.
#![deny(missing_docs)]
