use crate::Error;
use adloop_core::Cpm;
use serde::{Deserialize, Serialize};

/// How winners pay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PriceMode {
    /// Second price (single slot), or the [`RankedPricing`] / [`PodPricing`] rule for
    /// several slots. Bidding one's true value is optimal in the single-slot auction.
    #[default]
    SecondPrice,
    /// Every winner pays its own effective bid.
    FirstPrice,
}

/// The second-price rule for ranked slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RankedPricing {
    /// Generalized second price: slot k pays the next ranked bid (plus the increment).
    #[default]
    Gsp,
    /// Vickrey–Clarke–Groves: slot k pays the externality it imposes on those below it.
    Vcg,
}

/// The second-price rule for ad pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PodPricing {
    /// Each placed ad pays the next lower same-tier bid among all eligible candidates
    /// (plus the increment), at least its floor, at most its bid.
    #[default]
    Gsp,
    /// Each placed ad pays the value its presence takes from the others: the optimal pod
    /// without it minus the rest of the chosen pod, within its tier.
    Vcg,
}

/// Whether candidates of one advertiser compete with each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SameAdvertiserRule {
    /// An advertiser never sets its own price: only the best candidate of each advertiser
    /// takes part in pricing, and (in ranked slots) an advertiser takes at most one slot;
    /// the others lose with [`LossReason::SameAdvertiser`](crate::LossReason::SameAdvertiser)
    /// when their advertiser placed.
    #[default]
    Exclude,
    /// Candidates of one advertiser compete like any others.
    Compete,
}

/// How tiers order candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TierPolicy {
    /// A higher tier always beats a lower one; only same-tier bids set prices. In a pod,
    /// the objective is lexicographic: first the total value of the highest tier, then
    /// the next, and so on.
    #[default]
    Strict,
    /// Tiers are ignored: everything competes on eCPM.
    PriceOnly,
}

/// The auction's rules, built once and reused for every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuctionConfig {
    /// First or second price.
    pub mode: PriceMode,
    /// Added to the second price (default one cent CPM); never lifts a price above the
    /// winner's bid. Not applied by the VCG rules.
    pub increment: Cpm,
    /// Whether one advertiser's candidates set each other's price.
    pub same_advertiser: SameAdvertiserRule,
    /// The rule for ranked slots.
    pub ranked_pricing: RankedPricing,
    /// The rule for ad pods.
    pub pod_pricing: PodPricing,
    /// How tiers order candidates.
    pub tiers: TierPolicy,
}

/// The defaults, usable in `const` contexts.
pub(crate) const DEFAULT_CONFIG: AuctionConfig = AuctionConfig {
    mode: PriceMode::SecondPrice,
    increment: Cpm::from_micros(10_000),
    same_advertiser: SameAdvertiserRule::Exclude,
    ranked_pricing: RankedPricing::Gsp,
    pod_pricing: PodPricing::Gsp,
    tiers: TierPolicy::Strict,
};

impl Default for AuctionConfig {
    /// Second price, one cent CPM increment, same advertiser excluded from pricing, GSP
    /// for ranked slots and pods, strict tiers.
    fn default() -> Self {
        DEFAULT_CONFIG
    }
}

impl AuctionConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), Error> {
        if self.increment.micros() < 0 || self.increment > crate::MAX_ECPM {
            return Err(Error::InvalidConfig {
                field: "increment",
                reason: "must be between zero and MAX_ECPM",
            });
        }
        Ok(())
    }
}
