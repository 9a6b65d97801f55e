//! The per-event lookup of interned campaign and advertiser indices: an open-addressing
//! table from a `u64` id to its `u32` index, a few instructions per hit where the
//! `ahash` `HashMap` beside it (the persisted form) takes ~40.
//!
//! Every impression looks its campaign up and every event its advertiser (to prefetch its
//! key bucket), so this sits on the hot path. Ids below [`DENSE`] (small database ids,
//! the common case) are looked up in a plain array indexed by id, grown to the largest
//! such id seen (at most 256 KiB); larger ids in an open-addressing table. Ids are only
//! ever added (interned indices never change), so the table needs no deletion; it
//! doubles at load 1/2, and its hash takes a per-table random seed (from `ahash`'s
//! per-process randomness) like the store's tables, so colliding ids are not predictable
//! from outside.

use ahash::RandomState;

/// Index of an empty entry.
const EMPTY: u32 = u32::MAX;

/// Ids below this are kept in the dense array.
const DENSE: u64 = 1 << 16;

/// `u64` id → `u32` index (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct IdIndex {
    /// Id → index for ids below [`DENSE`] ([`EMPTY`]: not interned).
    dense: Vec<u32>,
    ids: Vec<u64>,
    /// [`EMPTY`] for a free entry.
    values: Vec<u32>,
    len: usize,
    seed: u64,
}

impl IdIndex {
    /// An empty index.
    pub(crate) fn new() -> IdIndex {
        IdIndex {
            dense: Vec::new(),
            ids: vec![0; 16],
            values: vec![EMPTY; 16],
            len: 0,
            seed: RandomState::new().hash_one(0x1d_u64),
        }
    }

    /// Entry where a probe for `id` starts: the top bits of splitmix64's finalizer of
    /// the seeded id (full avalanche, whatever the seed). One multiply by a random
    /// seed, alone or folded (as the store's tables hash), was tried: with some seeds,
    /// dense ids (campaigns 0..500) formed long linear-probing runs (~100 more
    /// instructions per event in one run of ten).
    #[inline]
    fn home(&self, id: u64) -> usize {
        let mut h = id ^ self.seed;
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        // `values.len()` is a power of two ≥ 16.
        (h >> (64 - self.values.len().trailing_zeros())) as usize
    }

    /// The index of `id`, if interned.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        if id < DENSE {
            return self.dense.get(id as usize).copied().filter(|&v| v != EMPTY);
        }
        let mask = self.values.len() - 1;
        let mut i = self.home(id);
        loop {
            let v = self.values[i];
            if v == EMPTY {
                return None;
            }
            if self.ids[i] == id {
                return Some(v);
            }
            i = (i + 1) & mask;
        }
    }

    /// Records `id → value` (`id` must not be present; `value` is not [`EMPTY`]).
    pub(crate) fn insert(&mut self, id: u64, value: u32) {
        debug_assert!(value != EMPTY && self.get(id).is_none());
        if id < DENSE {
            let i = id as usize;
            if i >= self.dense.len() {
                self.dense
                    .resize((i + 1).next_power_of_two().max(64), EMPTY);
            }
            self.dense[i] = value;
            return;
        }
        if (self.len + 1) * 2 > self.values.len() {
            let old_ids = std::mem::take(&mut self.ids);
            let old_values = std::mem::take(&mut self.values);
            let n = old_values.len() * 2;
            self.ids = vec![0; n];
            self.values = vec![EMPTY; n];
            for (&k, &v) in old_ids.iter().zip(&old_values) {
                if v != EMPTY {
                    self.put(k, v);
                }
            }
        }
        self.put(id, value);
        self.len += 1;
    }

    fn put(&mut self, id: u64, value: u32) {
        let mask = self.values.len() - 1;
        let mut i = self.home(id);
        while self.values[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.ids[i] = id;
        self.values[i] = value;
    }
}

impl<'a> FromIterator<(&'a u64, &'a u32)> for IdIndex {
    fn from_iter<I: IntoIterator<Item = (&'a u64, &'a u32)>>(iter: I) -> IdIndex {
        let mut x = IdIndex::new();
        for (&k, &v) in iter {
            if x.get(k).is_none() && v != EMPTY {
                x.insert(k, v);
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hash_map_through_growth() {
        let mut x = IdIndex::new();
        let mut m = HashMap::new();
        let mut s = 0x2545_f491_4f6c_dd1d_u64;
        for n in 0..5_000u32 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Dense small ids, strided ids, random ones and ones around the dense
            // array's edge, with repeats.
            let id = match n % 5 {
                0 => u64::from(n),
                1 => u64::from(n) << 32,
                2 => s,
                3 => DENSE - 50 + s % 100,
                _ => s % 64,
            };
            if m.contains_key(&id) {
                continue;
            }
            m.insert(id, n);
            x.insert(id, n);
        }
        for (&k, &v) in &m {
            assert_eq!(x.get(k), Some(v));
        }
        for k in [u64::MAX, 1 << 63, 12_345_678_901, DENSE - 1, DENSE, 40_000] {
            assert_eq!(x.get(k), m.get(&k).copied());
        }
        let y: IdIndex = m.iter().collect();
        for (&k, &v) in &m {
            assert_eq!(y.get(k), Some(v));
        }
    }
}
