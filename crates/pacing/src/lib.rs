//! Pacing for adloop: lock-free budget ledgers that never overspend, pacing controllers and frequency caps.
#![deny(missing_docs)]

mod budget_store;
mod controller;
mod curve;
mod error;
mod frequency;
mod ledger;
mod sync;

pub use crate::{
    budget_store::{BudgetStore, BudgetStoreSnapshot, InProcessBudgetStore},
    controller::{
        Admission, Asap, BidShadingPacer, BidShadingSettings, BidShadingState, ImpressionGoalPacer,
        ImpressionGoalSettings, ImpressionGoalState, Observation, Pacer, PacerState,
        PacingController, PacingMode, PacingPlan, PidPacer, PidSettings, PidState, ThrottlePacer,
        ThrottleSettings, ThrottleState,
    },
    curve::{MAX_CURVE_POINTS, MAX_FORECAST_BINS, TargetCurve, TrafficForecast},
    error::Error,
    frequency::{
        CapScope, CapWindow, FrequencyCap, FrequencySnapshot, FrequencyStore, Identities,
        IdentityKind, InProcessFrequencyStore, MAX_SLIDING_CAP,
    },
    ledger::{
        BudgetConfig, BudgetLedger, Expired, Flight, LedgerSnapshot, LedgerTotals,
        MAX_DAILY_BUDGET, MAX_OUTSTANDING_LIMIT, Reservation, ReservationState, Spend,
    },
};
