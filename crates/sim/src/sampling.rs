//! Small sampling helpers shared by the generators.

use rand::{Rng, RngExt};

/// Walker/Vose alias table: O(1) draws from a fixed discrete distribution.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AliasTable {
    probability: Box<[f64]>,
    alias: Box<[u32]>,
}

impl AliasTable {
    /// A table over `weights` (non-negative, finite, positive sum, fewer than 2³² items);
    /// `None` otherwise.
    pub(crate) fn new(weights: &[f64]) -> Option<Self> {
        let n = weights.len();
        if n == 0 || n > u32::MAX as usize {
            return None;
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return None;
        }
        let sum: f64 = weights.iter().sum();
        if !(sum > 0.0 && sum.is_finite()) {
            return None;
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut alias = vec![0u32; n];
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for (i, &p) in scaled.iter().enumerate() {
            if p < 1.0 {
                small.push(i as u32)
            } else {
                large.push(i as u32)
            }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s as usize] = l;
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            scaled[i as usize] = 1.0;
        }
        Some(AliasTable {
            probability: scaled.into_boxed_slice(),
            alias: alias.into_boxed_slice(),
        })
    }

    /// One index, distributed as the weights.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let i = rng.random_range(0..self.probability.len());
        if rng.random::<f64>() < self.probability[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// A draw from a small weighted table of `(value, weight)` pairs (linear scan).
pub(crate) fn pick_weighted<'a, R: Rng + ?Sized>(
    table: &[(&'a str, f64)],
    rng: &mut R,
) -> (usize, &'a str) {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut u = rng.random::<f64>() * total;
    for (i, (value, weight)) in table.iter().enumerate() {
        if u < *weight {
            return (i, value);
        }
        u -= weight;
    }
    let last = table.len() - 1;
    (last, table[last].0)
}

/// `k` distinct indices from a weighted table, drawn without replacement
/// (successive draws, rejecting repeats; `k` is capped at the table size).
pub(crate) fn pick_distinct<R: Rng + ?Sized>(
    table: &[(&str, f64)],
    k: usize,
    rng: &mut R,
) -> Vec<usize> {
    let k = k.min(table.len());
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    let mut guard = 0;
    while chosen.len() < k && guard < 10_000 {
        guard += 1;
        let (i, _) = pick_weighted(table, rng);
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    // Astronomically unlikely fallback: fill in table order.
    for i in 0..table.len() {
        if chosen.len() >= k {
            break;
        }
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn alias_table_matches_weights() {
        let weights = [1.0, 0.0, 3.0, 6.0];
        let table = AliasTable::new(&weights).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, w) in weights.iter().enumerate() {
            let expected = w / 10.0;
            let observed = counts[i] as f64 / 100_000.0;
            assert!(
                (observed - expected).abs() < 0.01,
                "{i}: {observed} vs {expected}"
            );
        }
        assert!(AliasTable::new(&[]).is_none());
        assert!(AliasTable::new(&[0.0, 0.0]).is_none());
        assert!(AliasTable::new(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn distinct_picks_are_distinct() {
        let table = [("a", 1.0), ("b", 100.0), ("c", 1.0)];
        let mut rng = StdRng::seed_from_u64(1);
        let picks = pick_distinct(&table, 3, &mut rng);
        let mut sorted = picks.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
        assert_eq!(pick_distinct(&table, 9, &mut rng).len(), 3);
    }
}
