//! Holdout assignment by a stable hash, and lift with its confidence interval.

use adloop_core::{CampaignId, Money};
use serde::{Deserialize, Serialize};

/// The splitmix64 finalizer: a fixed, documented 64-bit mixer (the same on every platform
/// and release, unlike a randomly seeded hasher), so holdout groups never move.
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The experiment arm of an identity for a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    /// Shown the campaign's ads.
    Treatment,
    /// Held out: the engine records a ghost impression instead of showing the ad.
    Control,
}

/// The holdout arm of `identity` (the join identity: household id by default) for
/// `campaign` with holdout fraction `fraction`.
///
/// `u = mix64(mix64(identity ⊕ salt) ⊕ mix64(campaign + φ))`, read as a uniform number in
/// `[0, 1)`; the identity is in control when `u < fraction`. Stable across processes and
/// releases, independent between campaigns, and monotone in the fraction (raising `h` only
/// moves identities from treatment to control). A fraction ≤ 0 (or NaN) means no holdout.
#[inline]
pub fn holdout(identity: u64, campaign: CampaignId, fraction: f64, salt: u64) -> Group {
    if fraction.is_nan() || fraction <= 0.0 {
        return Group::Treatment;
    }
    let h = mix64(mix64(identity ^ salt) ^ mix64(campaign.0.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    // The top 53 bits as a double in [0, 1).
    let u = (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    if u < fraction {
        Group::Control
    } else {
        Group::Treatment
    }
}

/// Counts of one experiment arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmTotals {
    /// Identities exposed (a real impression for treatment, a ghost for control).
    pub identities: u64,
    /// Identities that converted (for the campaign's advertiser) after their first exposure.
    pub converters: u64,
    /// Conversions after first exposure (non-duplicate).
    pub conversions: u64,
    /// Value of those conversions.
    pub value: Money,
}

impl ArmTotals {
    /// Converters per exposed identity, if any were exposed.
    pub fn conversion_rate(&self) -> Option<f64> {
        (self.identities > 0).then(|| self.converters as f64 / self.identities as f64)
    }
}

/// Incrementality of one campaign with a holdout (ghost-ads design).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiftReport {
    /// The campaign.
    pub campaign: CampaignId,
    /// The holdout fraction it was registered with.
    pub holdout_fraction: f64,
    /// The exposed treatment arm.
    pub treatment: ArmTotals,
    /// The ghost-exposed control arm.
    pub control: ArmTotals,
    /// Spend on the treatment arm (real impressions).
    pub spend: Money,
    /// Identities that appeared in both arms (an inconsistent split; they count in the first).
    pub arm_conflicts: u64,
}

/// A lift estimate with its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    /// `(CR_t − CR_c) / CR_c`.
    pub lift: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

impl LiftReport {
    /// Lift with a 95% interval from the log of the rate ratio (delta method):
    /// `se(ln RR) = √(1/x_t − 1/n_t + 1/x_c − 1/n_c)`, interval `exp(ln RR ± 1.96·se) − 1`.
    /// `None` when either arm has no identities or no converters.
    pub fn lift(&self) -> Option<Lift> {
        let (nt, xt) = (
            self.treatment.identities as f64,
            self.treatment.converters as f64,
        );
        let (nc, xc) = (
            self.control.identities as f64,
            self.control.converters as f64,
        );
        if nt == 0.0 || nc == 0.0 || xt == 0.0 || xc == 0.0 {
            return None;
        }
        let ln_rr = (xt / nt).ln() - (xc / nc).ln();
        let se = (1.0 / xt - 1.0 / nt + 1.0 / xc - 1.0 / nc).max(0.0).sqrt();
        Some(Lift {
            lift: ln_rr.exp() - 1.0,
            low: (ln_rr - Z95 * se).exp() - 1.0,
            high: (ln_rr + Z95 * se).exp() - 1.0,
        })
    }

    /// Converters in treatment beyond what the control rate predicts:
    /// `x_t − CR_c · n_t`. `None` without control identities.
    pub fn incremental_conversions(&self) -> Option<f64> {
        let cr_c = self.control.conversion_rate()?;
        Some(self.treatment.converters as f64 - cr_c * self.treatment.identities as f64)
    }

    /// Conversion value in treatment beyond what the control predicts per identity.
    /// The one place money becomes a float here: micros as `f64`, rounded back to micros.
    pub fn incremental_value(&self) -> Option<Money> {
        if self.control.identities == 0 {
            return None;
        }
        let per_control = self.control.value.micros() as f64 / self.control.identities as f64;
        let expected = per_control * self.treatment.identities as f64;
        Some(Money::from_micros(
            (self.treatment.value.micros() as f64 - expected).round() as i64,
        ))
    }

    /// Incremental return on ad spend: incremental value / treatment spend.
    pub fn iroas(&self) -> Option<f64> {
        let value = self.incremental_value()?;
        (self.spend.micros() > 0).then(|| value.micros() as f64 / self.spend.micros() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_is_stable_and_near_its_fraction() {
        let c = CampaignId(7);
        let control = (0..100_000u64)
            .filter(|&i| holdout(i, c, 0.1, 0) == Group::Control)
            .count();
        assert!((9_500..10_500).contains(&control), "{control}");
        assert_eq!(holdout(42, c, 0.1, 0), holdout(42, c, 0.1, 0));
        assert_eq!(holdout(42, c, 0.0, 0), Group::Treatment);
        assert_eq!(holdout(42, c, 1.0, 0), Group::Control);
        // Monotone in the fraction.
        for i in 0..1_000 {
            if holdout(i, c, 0.1, 0) == Group::Control {
                assert_eq!(holdout(i, c, 0.2, 0), Group::Control);
            }
        }
    }

    #[test]
    fn lift_matches_hand_computation() {
        let r = LiftReport {
            campaign: CampaignId(1),
            holdout_fraction: 0.5,
            treatment: ArmTotals {
                identities: 1000,
                converters: 120,
                conversions: 130,
                value: Money::from_micros(1_300),
            },
            control: ArmTotals {
                identities: 1000,
                converters: 100,
                conversions: 100,
                value: Money::from_micros(1_000),
            },
            spend: Money::from_micros(100),
            arm_conflicts: 0,
        };
        let l = r.lift().unwrap();
        assert!((l.lift - 0.2).abs() < 1e-12);
        let se = (1.0 / 120.0 - 1.0 / 1000.0 + 1.0 / 100.0 - 1.0 / 1000.0f64).sqrt();
        assert!((l.low - ((1.2f64).ln() - Z95 * se).exp() + 1.0).abs() < 1e-12);
        assert!(l.low < 0.2 && l.high > 0.2);
        assert_eq!(r.incremental_conversions(), Some(20.0));
        assert_eq!(r.incremental_value(), Some(Money::from_micros(300)));
        assert_eq!(r.iroas(), Some(3.0));
    }
}
