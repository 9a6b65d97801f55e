//! The contract in plain code: every conversion against every touch, in nested loops.
//!
//! Quadratic in the number of events and written for clarity, not speed: it is what the
//! streaming join ([`Attributor`](crate::Attributor)) and the batch entry point are tested
//! and fuzzed against, and a way for a researcher to check a small stream by hand. Every
//! event counts as on time (no lateness, no eviction, no touch cap), so compare it with
//! streams whose events all arrive within the allowed lateness.

use crate::config::Config;
use crate::event::{Conversion, Event, Impression};
use crate::join::Outcome;
use crate::{Model, config::JoinKey};
use std::collections::{BTreeMap, HashSet};

/// What [`reference_attribution`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceResult {
    /// Conversion id → its outcome and, when attributed, campaign id → credit (only
    /// non-zero credits are listed; an attributed conversion's credits sum to 1).
    pub conversions: BTreeMap<u64, (Outcome, BTreeMap<u64, f64>)>,
    /// Clicks whose impression is unknown, a ghost, or more than the maximum click delay
    /// before them.
    pub orphan_clicks: u64,
}

/// A touch: time, impression id, click (else view), campaign, advertiser, identity.
#[derive(Clone, Copy)]
struct Touch {
    time: i64,
    impression: u64,
    click: bool,
    campaign: u64,
    advertiser: u64,
    identity: u64,
}

/// Attributes `events` under `config` (join key, click and view windows, maximum click
/// delay, half-life, model) by the contract's rules, one conversion at a time.
pub fn reference_attribution(events: &[Event], config: &Config) -> ReferenceResult {
    let join: &JoinKey = &config.join_key;
    // An impression id counts once, as its first impression (the join counts repeats as
    // duplicates); ghost impressions (holdout controls) are no touch.
    let mut ids = HashSet::new();
    let imps: Vec<&Impression> = events
        .iter()
        .filter_map(|e| match e {
            Event::Impression(i) if ids.insert(i.id) => Some(i),
            _ => None,
        })
        .filter(|i| !i.ghost)
        .collect();
    let touch = |i: &Impression, time: i64, click: bool| Touch {
        time,
        impression: i.id.0,
        click,
        campaign: i.campaign.0,
        advertiser: i.advertiser.0,
        identity: join.identity(i.user, i.household),
    };
    let mut touches: Vec<Touch> = imps
        .iter()
        .map(|i| touch(i, i.time.as_millis(), false))
        .collect();
    let max_delay = config.max_click_delay.as_millis();
    let mut orphan_clicks = 0;
    for e in events {
        let Event::Click(c) = e else { continue };
        let ct = c.time.as_millis();
        match imps.iter().find(|i| i.id == c.impression) {
            Some(i) if ct >= i.time.as_millis() && ct - i.time.as_millis() <= max_delay => {
                touches.push(touch(i, ct, true));
            }
            _ => orphan_clicks += 1,
        }
    }
    let mut convs: Vec<&Conversion> = events
        .iter()
        .filter_map(|e| match e {
            Event::Conversion(c) => Some(c),
            _ => None,
        })
        .collect();
    convs.sort_by_key(|c| (c.time, c.id));
    let (click_window, view_window) = (
        config.click_window.as_millis(),
        config.view_window.as_millis(),
    );
    let half_life = config.half_life.as_millis() as f64;
    let mut seen_orders = HashSet::new();
    let mut out = BTreeMap::new();
    for c in convs {
        if let Some(o) = c.order_id
            && !seen_orders.insert((c.advertiser, o))
        {
            out.insert(c.id.0, (Outcome::Duplicate, BTreeMap::new()));
            continue;
        }
        let ct = c.time.as_millis();
        let me = join.identity(c.user, c.household);
        let mut eligible: Vec<Touch> = touches
            .iter()
            .copied()
            .filter(|t| {
                let window = if t.click { click_window } else { view_window };
                t.advertiser == c.advertiser.0
                    && t.identity == me
                    && t.time <= ct
                    && ct - t.time <= window
            })
            .collect();
        if eligible.is_empty() {
            out.insert(c.id.0, (Outcome::Unattributed, BTreeMap::new()));
            continue;
        }
        eligible.sort_by_key(|t| (t.time, t.impression, t.click));
        let n = eligible.len();
        let mut credits: BTreeMap<u64, f64> = BTreeMap::new();
        // A zero share is no credit (only credited pairs are reported).
        let mut give = |campaign: u64, x: f64| {
            if x != 0.0 {
                *credits.entry(campaign).or_default() += x;
            }
        };
        // Last and first touch prefer clicks; equal times go to the higher (last) or
        // lower (first) impression id.
        let clicks: Vec<&Touch> = eligible.iter().filter(|t| t.click).collect();
        let pool: Vec<&Touch> = if clicks.is_empty() {
            eligible.iter().collect()
        } else {
            clicks
        };
        match config.model {
            Model::LastTouch => {
                if let Some(t) = pool.iter().max_by_key(|t| (t.time, t.impression)) {
                    give(t.campaign, 1.0);
                }
            }
            Model::FirstTouch => {
                if let Some(t) = pool.iter().min_by_key(|t| (t.time, t.impression)) {
                    give(t.campaign, 1.0);
                }
            }
            Model::Linear => {
                for t in &eligible {
                    give(t.campaign, 1.0 / n as f64);
                }
            }
            Model::TimeDecay => {
                let w: Vec<f64> = eligible
                    .iter()
                    .map(|t| 2f64.powf(-((ct - t.time) as f64) / half_life))
                    .collect();
                let s: f64 = w.iter().sum();
                for (t, w) in eligible.iter().zip(&w) {
                    give(t.campaign, w / s);
                }
            }
            Model::PositionBased => {
                for (k, t) in eligible.iter().enumerate() {
                    let x = match n {
                        1 => 1.0,
                        2 => 0.5,
                        _ if k == 0 || k == n - 1 => 0.4,
                        _ => 0.2 / (n - 2) as f64,
                    };
                    give(t.campaign, x);
                }
            }
        }
        out.insert(c.id.0, (Outcome::Attributed, credits));
    }
    ReferenceResult {
        conversions: out,
        orphan_clicks,
    }
}
