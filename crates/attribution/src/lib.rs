//! Closed-loop attribution for adloop: impressions and clicks joined to conversions, attribution models, holdout lift and privacy-safe reports.
//!
//! This crate is being built; see the project issues for its contract.
#![deny(missing_docs)]
