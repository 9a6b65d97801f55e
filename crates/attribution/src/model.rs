//! The five attribution models over one conversion's eligible touches.

use crate::config::Model;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

pub(crate) const VIEW: u8 = 0;
pub(crate) const CLICK: u8 = 1;

/// One eligible touch handed to a model, decoded from the touch store (the campaign is an
/// index into the attributor's campaign table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Touch {
    pub(crate) time: i64,
    pub(crate) impression: u64,
    pub(crate) campaign: u32,
    /// [`VIEW`] or [`CLICK`].
    pub(crate) kind: u8,
}

impl Touch {
    /// The order every touch list is kept in: time, then impression id, then view before click.
    #[inline]
    pub(crate) fn order_key(&self) -> (i64, u64, u8) {
        (self.time, self.impression, self.kind)
    }
}

/// Credits per campaign index for one conversion, in first-credited order.
pub(crate) type Credits = SmallVec<[(u32, f64); 4]>;

/// Adds `credit` to `campaign`. A zero share (a time-decay weight that underflows, far
/// beyond the half-life) credits nothing, so it never shows up as a credited pair.
#[inline]
fn add(out: &mut Credits, campaign: u32, credit: f64) {
    if credit == 0.0 {
        return;
    }
    if let Some(slot) = out.iter_mut().find(|(c, _)| *c == campaign) {
        slot.1 += credit;
    } else {
        out.push((campaign, credit));
    }
}

/// Splits one conversion among `touches` (eligible, non-empty, sorted by
/// [`Touch::order_key`]) by `model`, appending to `out` (cleared first).
pub(crate) fn credit(model: Model, touches: &[Touch], half_life_ms: i64, out: &mut Credits) {
    out.clear();
    let n = touches.len();
    if n == 0 {
        return;
    }
    match model {
        Model::LastTouch => {
            // Sorted ascending, so the last click (or last touch) is the latest with the
            // higher impression id on equal times.
            let t = touches
                .iter()
                .rev()
                .find(|t| t.kind == CLICK)
                .unwrap_or(&touches[n - 1]);
            add(out, t.campaign, 1.0);
        }
        Model::FirstTouch => {
            let t = touches
                .iter()
                .find(|t| t.kind == CLICK)
                .unwrap_or(&touches[0]);
            add(out, t.campaign, 1.0);
        }
        Model::Linear => {
            let each = 1.0 / n as f64;
            for t in touches {
                add(out, t.campaign, each);
            }
        }
        Model::TimeDecay => {
            // Weights relative to the latest touch: the same ratios as 2^(−Δt/h) after
            // normalization, but the largest weight is 1 so nothing underflows to 0/0.
            let latest = touches[n - 1].time;
            let h = half_life_ms as f64;
            let mut sum = 0.0;
            for t in touches {
                sum += ((t.time - latest) as f64 / h).exp2();
            }
            for t in touches {
                add(out, t.campaign, ((t.time - latest) as f64 / h).exp2() / sum);
            }
        }
        Model::PositionBased => match n {
            1 => add(out, touches[0].campaign, 1.0),
            2 => {
                add(out, touches[0].campaign, 0.5);
                add(out, touches[1].campaign, 0.5);
            }
            _ => {
                let middle = 0.2 / (n - 2) as f64;
                add(out, touches[0].campaign, 0.4);
                for t in &touches[1..n - 1] {
                    add(out, t.campaign, middle);
                }
                add(out, touches[n - 1].campaign, 0.4);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(time: i64, impression: u64, campaign: u32, kind: u8) -> Touch {
        Touch {
            time,
            impression,
            campaign,
            kind,
        }
    }

    fn run(model: Model, touches: &[Touch]) -> Vec<(u32, f64)> {
        let mut out = Credits::new();
        credit(model, touches, 10, &mut out);
        let mut v = out.to_vec();
        v.sort_by_key(|x| x.0);
        v
    }

    #[test]
    fn click_beats_view_for_last_and_first_touch() {
        // A later view does not beat an earlier click.
        let touches = [t(10, 1, 1, CLICK), t(20, 2, 2, VIEW), t(30, 3, 3, VIEW)];
        assert_eq!(run(Model::LastTouch, &touches), vec![(1, 1.0)]);
        assert_eq!(run(Model::FirstTouch, &touches), vec![(1, 1.0)]);
        let views = [t(10, 1, 1, VIEW), t(20, 2, 2, VIEW)];
        assert_eq!(run(Model::LastTouch, &views), vec![(2, 1.0)]);
        assert_eq!(run(Model::FirstTouch, &views), vec![(1, 1.0)]);
    }

    #[test]
    fn equal_times_break_by_impression_id() {
        let touches = [t(10, 4, 1, VIEW), t(10, 9, 2, VIEW)];
        assert_eq!(run(Model::LastTouch, &touches), vec![(2, 1.0)]);
        assert_eq!(run(Model::FirstTouch, &touches), vec![(1, 1.0)]);
    }

    #[test]
    fn weighted_models_sum_to_one() {
        let touches = [
            t(10, 1, 1, VIEW),
            t(20, 2, 2, VIEW),
            t(30, 3, 1, CLICK),
            t(40, 4, 3, VIEW),
        ];
        assert_eq!(
            run(Model::Linear, &touches),
            vec![(1, 0.5), (2, 0.25), (3, 0.25)]
        );
        let pb = run(Model::PositionBased, &touches);
        assert_eq!(pb, vec![(1, 0.5), (2, 0.1), (3, 0.4)]);
        let td = run(Model::TimeDecay, &touches);
        let total: f64 = td.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-12);
        // Half-life 10 ms: each touch weighs twice the one 10 ms before it.
        let w = [1.0, 2.0, 4.0, 8.0];
        let s: f64 = w.iter().sum();
        assert!((td[0].1 - (w[0] + w[2]) / s).abs() < 1e-12);
        assert!((td[2].1 - w[3] / s).abs() < 1e-12);
        assert_eq!(run(Model::PositionBased, &touches[..1]), vec![(1, 1.0)]);
        assert_eq!(
            run(Model::PositionBased, &touches[..2]),
            vec![(1, 0.5), (2, 0.5)]
        );
    }
}
