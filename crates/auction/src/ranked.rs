//! Ranked slots priced by GSP or VCG.

use crate::auction::{SplitMix64, key_index, rank_key, tier_rank, winner_price};
use crate::candidate::{Eval, evaluate};
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
    let strict = cfg.tiers == TierPolicy::Strict;
    let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
    let hard = slots.floors.hard.micros();
    let soft = slots.floors.soft.map(|s| s.micros());
    let alphas = slots.factors;
    let slot_count = alphas.len();
    let mut rng = SplitMix64::new(seed);

    let mut evals: SmallVec<[Eval; 32]> = SmallVec::with_capacity(candidates.len());
    let mut order: SmallVec<[u128; 32]> = SmallVec::new();
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
    for &k in &order {
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
    for (i, (c, e)) in candidates.iter().zip(&evals).enumerate() {
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
