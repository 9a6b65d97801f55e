//! Ranked slots priced by GSP or VCG.

use crate::auction::{SplitMix64, key_index, rank_key, tier_rank, winner_price};
use crate::candidate::{Eval, evaluate};
use crate::outcome::{keep, lend};
use crate::{
    AuctionConfig, Candidate, Error, LossReason, Outcome, RankedPricing, RankedSlots,
    SameAdvertiserRule, TierPolicy,
};
use smallvec::SmallVec;

pub(crate) fn run(
    cfg: &AuctionConfig,
    slots: &RankedSlots<'_>,
    candidates: &[Candidate],
    seed: u64,
    out: &mut Outcome,
) -> Result<(), Error> {
    let mut evals = lend(&mut out.scratch.evals);
    let mut order = lend(&mut out.scratch.order);
    let result = run_with(cfg, slots, candidates, seed, out, &mut evals, &mut order);
    keep(&mut out.scratch.evals, evals);
    keep(&mut out.scratch.order, order);
    result
}

/// [`run`] with its evaluation and ranking buffers.
fn run_with(
    cfg: &AuctionConfig,
    slots: &RankedSlots<'_>,
    candidates: &[Candidate],
    seed: u64,
    out: &mut Outcome,
    evals: &mut SmallVec<[Eval; 32]>,
    order: &mut SmallVec<[u128; 32]>,
) -> Result<(), Error> {
    let strict = cfg.tiers == TierPolicy::Strict;
    let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
    let hard = slots.floors.hard.micros();
    let soft = slots.floors.soft.map(|s| s.micros());
    let alphas = slots.factors;
    let slot_count = alphas.len();
    let mut rng = SplitMix64::new(seed);

    evals.reserve(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        let e = evaluate(c, hard);
        if e.eligible() {
            order.push(rank_key(tier_rank(strict, c), e.ecpm, rng.next_u64(), i));
        }
        evals.push(e);
    }
    order.sort_unstable_by(|a, b| b.cmp(a));

    // The ranked list after advertiser dedup, one past the last slot (it prices the last).
    let mut kept: SmallVec<[usize; 17]> = SmallVec::new();
    for &k in order.iter() {
        if kept.len() > slot_count {
            break;
        }
        let i = key_index(k);
        if exclude
            && kept
                .iter()
                .any(|&p| candidates[p].advertiser == candidates[i].advertiser)
        {
            continue;
        }
        kept.push(i);
    }
    let placed = kept.len().min(slot_count);
    let same_tier_value = |k: usize, j: usize| -> i64 {
        match kept.get(j) {
            Some(&i)
                if tier_rank(strict, &candidates[i]) == tier_rank(strict, &candidates[kept[k]]) =>
            {
                evals[i].ecpm
            }
            _ => 0,
        }
    };
    for k in 0..placed {
        let i = kept[k];
        let e = &evals[i];
        let price = match cfg.ranked_pricing {
            RankedPricing::Gsp => winner_price(
                cfg,
                e,
                soft,
                same_tier_value(k, k + 1),
                cfg.increment.micros(),
            ),
            RankedPricing::Vcg => {
                let mut total: i128 = 0;
                for j in k..slot_count {
                    let next_alpha = alphas.get(j + 1).copied().unwrap_or(0);
                    let v = same_tier_value(k, j + 1);
                    total += i128::from(alphas[j] - next_alpha) * i128::from(v);
                }
                let per_unit = (total / i128::from(alphas[k])) as i64;
                winner_price(cfg, e, soft, per_unit, 0)
            }
        };
        let c = &candidates[i];
        out.place(k, c.key, c.tier, e.ecpm, price, c.duration_s);
    }

    let last = kept[..placed].last().copied();
    for (i, (c, e)) in candidates.iter().zip(evals.iter()).enumerate() {
        if kept[..placed].contains(&i) {
            continue;
        }
        let reason = match (e.reason, last) {
            (Some(r), _) => r,
            (None, None) => LossReason::Outbid,
            (None, Some(l)) => {
                if exclude
                    && kept[..placed]
                        .iter()
                        .any(|&p| candidates[p].advertiser == c.advertiser)
                {
                    LossReason::SameAdvertiser
                } else if tier_rank(strict, c) < tier_rank(strict, &candidates[l]) {
                    LossReason::LowerTier
                } else if e.ecpm == evals[l].ecpm {
                    LossReason::TieBreak
                } else {
                    LossReason::Outbid
                }
            }
        };
        out.lose(c.key, reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{
        Auction, AuctionConfig, Candidate, Floors, LossReason, Outcome, RankedPricing, RankedSlots,
        Tier,
    };
    use adloop_core::Cpm;

    fn run(config: AuctionConfig, factors: &[u32], floors: Floors, cands: &[Candidate]) -> Outcome {
        let mut out = Outcome::new();
        Auction::new(config)
            .unwrap()
            .run_ranked(&RankedSlots { factors, floors }, cands, 11, &mut out)
            .unwrap();
        out
    }

    const GSP0: AuctionConfig = AuctionConfig {
        increment: Cpm::ZERO,
        ..crate::config::DEFAULT_CONFIG
    };
    const VCG0: AuctionConfig = AuctionConfig {
        ranked_pricing: RankedPricing::Vcg,
        ..GSP0
    };

    /// Total payment Σ α_k · price_k in units of currency.
    fn weighted_total(out: &Outcome, factors: &[u32]) -> f64 {
        out.placements()
            .iter()
            .map(|p| f64::from(factors[usize::from(p.slot)]) * p.price.micros() as f64 / 1e6)
            .sum()
    }

    #[test]
    fn two_slot_textbook_example() {
        // values 10, 4, 2; α = 200, 100 (Edelman–Ostrovsky–Schwarz style).
        let cands = [cand(0, 1, 1000), cand(1, 2, 400), cand(2, 3, 200)];
        let f = [200, 100];
        // GSP: slot 1 pays 4, slot 2 pays 2 per unit; total 200·4 + 100·2 = 1000.
        let gsp = run(GSP0, &f, Floors::NONE, &cands);
        assert_eq!(placed(&gsp), vec![(0, 0, cents(400)), (1, 1, cents(200))]);
        assert_eq!(weighted_total(&gsp, &f), 1000.0);
        // VCG: slot 1 pays ((200−100)·4 + (100−0)·2)/200 = 600/200 = 3;
        //      slot 2 pays (100·2)/100 = 2; total 600 + 200 = 800.
        let vcg = run(VCG0, &f, Floors::NONE, &cands);
        assert_eq!(placed(&vcg), vec![(0, 0, cents(300)), (1, 1, cents(200))]);
        assert_eq!(weighted_total(&vcg, &f), 800.0);
        assert_eq!(vcg.loss_reason(2), Some(LossReason::Outbid));
    }

    #[test]
    fn three_slot_vcg_rounds_down() {
        let cands = [
            cand(0, 1, 1000),
            cand(1, 2, 400),
            cand(2, 3, 200),
            cand(3, 4, 100),
        ];
        let f = [300, 200, 100];
        let vcg = run(VCG0, &f, Floors::NONE, &cands);
        // slot 1: (100·4 + 100·2 + 100·1)/300 = 700/300 = 2.333333… → 2_333_333 micros
        // slot 2: (100·2 + 100·1)/200 = 1.50; slot 3: 100·1/100 = 1.00
        assert_eq!(
            placed(&vcg),
            vec![(0, 0, 2_333_333), (1, 1, cents(150)), (2, 2, cents(100))]
        );
        // GSP: 4, 2, 1 per unit.
        let gsp = run(GSP0, &f, Floors::NONE, &cands);
        assert_eq!(
            placed(&gsp),
            vec![(0, 0, cents(400)), (1, 1, cents(200)), (2, 2, cents(100))]
        );
    }

    #[test]
    fn tiers_price_separately_and_increment_applies() {
        let d = crate::config::DEFAULT_CONFIG;
        let cands = [
            tiered(0, 1, 100, Tier::GUARANTEED),
            tiered(1, 2, 900, Tier::OPEN),
            tiered(2, 3, 800, Tier::OPEN),
            tiered(3, 4, 50, Tier::HOUSE),
        ];
        let out = run(
            d,
            &[3, 2],
            Floors::hard(Cpm::from_micros(cents(20))),
            &cands,
        );
        // slot 1: guaranteed, next ranked is open → max(0, floor 0.20) + 0.01 = 0.21
        // slot 2: open 9.00, next is 8.00 (open) → 8.01
        assert_eq!(placed(&out), vec![(0, 0, cents(21)), (1, 1, cents(801))]);
        assert_eq!(out.loss_reason(2), Some(LossReason::Outbid));
        assert_eq!(out.loss_reason(3), Some(LossReason::LowerTier));
    }

    #[test]
    fn one_slot_per_advertiser() {
        let d = crate::config::DEFAULT_CONFIG;
        let cands = [cand(0, 1, 1000), cand(1, 1, 900), cand(2, 2, 500)];
        let out = run(d, &[2, 1], Floors::NONE, &cands);
        // key 1 shares advertiser 1 with key 0: dropped. slot 1: 5.00 + 0.01; slot 2 alone: 0.01
        assert_eq!(placed(&out), vec![(0, 0, cents(501)), (1, 2, cents(1))]);
        assert_eq!(out.loss_reason(1), Some(LossReason::SameAdvertiser));
    }

    #[test]
    fn vcg_respects_floors() {
        let cands = [cand(0, 1, 1000), cand(1, 2, 400)];
        let out = run(
            VCG0,
            &[200, 100],
            Floors::hard(Cpm::from_micros(cents(300))),
            &cands,
        );
        // slot 1: (100·4 + 100·0)/200 = 2 → floor 3; slot 2: 0 → floor 3.
        assert_eq!(placed(&out), vec![(0, 0, cents(300)), (1, 1, cents(300))]);
    }

    #[test]
    fn bad_factors_are_rejected() {
        let auction = Auction::default();
        let mut out = Outcome::new();
        for factors in [&[][..], &[0][..], &[2, 2][..], &[1, 2][..]] {
            let r = auction.run_ranked(
                &RankedSlots {
                    factors,
                    floors: Floors::NONE,
                },
                &[],
                0,
                &mut out,
            );
            assert!(
                matches!(r, Err(crate::Error::InvalidSlotFactors { .. })),
                "{factors:?}"
            );
        }
    }
}
