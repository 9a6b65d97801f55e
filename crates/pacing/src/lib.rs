//! Pacing for adloop: lock-free budget ledgers that never overspend, pacing controllers and frequency caps.
#![deny(missing_docs)]

mod budget_store;
mod error;
mod ledger;
mod sync;

pub use crate::{
    budget_store::{BudgetStore, BudgetStoreSnapshot, InProcessBudgetStore},
    error::Error,
    ledger::{
        BudgetConfig, BudgetLedger, Expired, Flight, LedgerSnapshot, LedgerTotals,
        MAX_DAILY_BUDGET, MAX_OUTSTANDING_LIMIT, Reservation, ReservationState, Spend,
    },
};
