//! Auction core for adloop: priority tiers, floors, second and first price, GSP/VCG ranked slots and optimal CTV ad pods, in exact integer money.
//!
//! This crate is being built; see the project issues for its contract.
#![deny(missing_docs)]
