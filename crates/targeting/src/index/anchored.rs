//! The anchored partition: conjunctions that name a selective positive `in` list are
//! found through that list and then checked literal by literal.
//!
//! A conjunction `a in (v1, …, vk) and rest` is true exactly when the request has some
//! `vi` for `a` and `rest` holds. So the conjunction is posted once under each `(a, vi)`
//! (its *anchor* postings) with only `rest` to check; a request visits the postings of
//! its own values and checks those candidates, nothing else. A conjunction posted under
//! two values the request has is checked at most twice (a key already matched is
//! skipped), and keys are deduplicated by the caller's key bitset.
//!
//! Under each value, conjunctions are grouped by their *gate* (see [`Group`]): a request
//! probes a group's gate slots once and skips the group, or sets its keys outright when
//! nothing else is left to check, without reading the bodies. Without gates, a popular
//! anchor value (a Zipf-popular segment on the engine's workload) costs one body check
//! per conjunction filed under it.
//!
//! Checks are dictionary-encoded: a short `in` list is stored as presence-table slots
//! and tested against a per-request presence table (an epoch per dictionary id, so
//! nothing is cleared between requests); a long one is tested by scanning it against
//! the table or, when it is much longer than the request's values, by binary search of
//! each request value in the sorted list.

use crate::{
    ast::Value,
    index::{
        Dictionaries, Encoded, NO_ID,
        normalize::{Atom, Lit},
    },
};

/// Check word bits: negated literal.
const NEG: u32 = 1 << 31;
/// Check kinds, bits 29..31.
const KIND_SHIFT: u32 = 29;
const KIND_MASK: u32 = 3;
/// A short `in` list: one word per id, each a presence-table slot; [`MORE`] set on all
/// but the last.
const KIND_INLINE: u32 = 0;
/// A long `in` list: the header (attribute) is followed by `start, len` into `lists`.
const KIND_LIST: u32 = 1;
/// A range with 32-bit bounds: the header is followed by `lo, hi`.
const KIND_RANGE32: u32 = 2;
/// Any other range: the header is followed by an index into `ranges`.
const KIND_RANGE: u32 = 3;
/// In an inline word: another id of the same list follows.
const MORE: u32 = 1 << 28;
/// Presence slot or attribute id, bits 0..28.
const PAYLOAD: u32 = MORE - 1;
/// Longest `in` list stored inline.
const MAX_INLINE: usize = 4;
/// Passing groups buffered by [`Anchored::run`] before they are resolved.
const PASS_BLOCK: usize = 64;
/// Request values per attribute assumed when ordering checks by cost.
const ASSUMED_REQUEST_VALUES: f64 = 16.0;

#[derive(Debug)]
struct AnchorAttr {
    attr: u32,
    /// `groups[starts[id]..starts[id + 1]]` are the groups of the conjunctions anchored
    /// on value `id`.
    starts: Vec<u32>,
}

/// The conjunctions anchored on one value that share a *gate*: the presence slots of
/// their two most selective short positive `in` literals, one of at most two values
/// (`gates[0]`, `gates[1]`) and one of one value (`gates[2]`); the always-marked slot
/// stands in for a missing one. A request skips the whole group unless `(gates[0] or
/// gates[1]) and gates[2]` are marked, without touching a body: on the engine's
/// workload (device pair and country) three groups in four are skipped by three probes
/// and the rest match outright. `word` holds flags and a 28-bit payload:
/// - [`SINGLE`]: one conjunction, the payload is its body offset (or its key ordinal
///   with [`KEYS`]): most groups of sparse values cost no posting;
/// - otherwise the payload indexes `postings`: a count, then that many body offsets
///   (key ordinals with [`KEYS`]);
/// - [`KEYS`]: the conjunctions have no check beyond anchor and gate;
/// - bits 28..30: the gate literals' words at the start of each body, skipped.
#[derive(Debug, Clone, Copy)]
struct Group {
    gates: [u32; 3],
    word: u32,
}

/// [`Group`] flag: one conjunction, stored in the group itself.
const SINGLE: u32 = 1 << 31;
/// [`Group`] flag: postings are key ordinals, nothing left to check.
const KEYS: u32 = 1 << 30;
/// [`Group`] payload bits; anchored bodies and postings stay below this.
pub(crate) const GROUP_PAYLOAD: u32 = (1 << 28) - 1;

/// A conjunction handed to [`Anchored::build`]: its key ordinal, the index of its anchor
/// literal and its literals.
pub(crate) struct AnchoredRow<'a> {
    pub(crate) key_ord: u32,
    pub(crate) anchor: usize,
    pub(crate) lits: Vec<(u32, Lit<'a>)>,
}

/// Conjunctions found through an anchor value, then checked one by one.
///
/// `bodies` holds each conjunction once as `[key ordinal, length, checks…]`: its other
/// literals (but the anchor and the gate), cheapest and most selective first, as check
/// words (see the `KIND_` constants). Per anchor value, its conjunctions are split into
/// [`Group`]s by gate, so a request skips a whole group with one presence probe (on the
/// engine's workload, the country: three groups of four) without touching the bodies;
/// `postings` holds each group's body offsets.
#[derive(Debug, Default)]
pub(crate) struct Anchored {
    attrs: Vec<AnchorAttr>,
    /// All groups, value after value, then a sentinel whose `start` ends the last one.
    groups: Vec<Group>,
    postings: Vec<u32>,
    bodies: Vec<u32>,
    /// Sorted dictionary ids of long `in` lists.
    lists: Vec<u32>,
    ranges: Vec<(i64, i64)>,
    rows: usize,
    /// Offset of each attribute's ids in the presence table.
    base: Vec<u32>,
    /// The presence slot every request marks: the gate of conjunctions without one.
    always: u32,
    presence_len: usize,
    /// Scan long `in` lists with the AVX-512 kernel (`avx512::any_marked`): set by the
    /// index only when the CPU has AVX-512 F, BW and VL.
    simd_lists: bool,
}

/// Estimated share of requests for which a positive `in` literal is true, from the
/// dictionary alone: list length over the values expressions name for the attribute.
pub(crate) fn selectivity(dicts: &Dictionaries, attr: u32, lit: &Lit<'_>) -> f64 {
    match lit.atom {
        Atom::In(values) if !lit.negated => {
            values.len() as f64 / dicts.value_count(attr).max(1) as f64
        }
        _ => 1.0,
    }
}

/// Estimated work of checking a literal, in presence-table probes.
fn check_cost(lit: &Lit<'_>) -> f64 {
    match lit.atom {
        Atom::In(v) if v.len() <= MAX_INLINE => v.len() as f64,
        Atom::In(v) => {
            let n = v.len() as f64;
            n.min(ASSUMED_REQUEST_VALUES * n.log2().max(1.0))
        }
        Atom::Range(..) => 2.0,
    }
}

/// Estimated work per request of an anchored row: the anchor's selectivity times the
/// cost of checking all its other literals.
pub(crate) fn anchored_cost(p_anchor: f64, lits: &[(u32, Lit<'_>)], anchor: usize) -> f64 {
    let body: f64 = lits
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != anchor)
        .map(|(_, (_, l))| check_cost(l))
        .sum();
    p_anchor * (4.0 + body)
}

/// Whether check words can address every attribute and presence slot (28 bits).
pub(crate) fn anchorable(dicts: &Dictionaries) -> bool {
    let slots: usize = (0..dicts.attr_count())
        .map(|a| dicts.value_count(a as u32))
        .sum();
    slots <= PAYLOAD as usize && dicts.attr_count() <= PAYLOAD as usize
}

/// Words a conjunction's body takes at most.
pub(crate) fn body_words(lits: &[(u32, Lit<'_>)]) -> usize {
    2 + lits
        .iter()
        .map(|(_, l)| match l.atom {
            Atom::In(v) if v.len() <= MAX_INLINE => v.len().max(1),
            _ => 3,
        })
        .sum::<usize>()
}

impl Anchored {
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn entries(&self) -> usize {
        self.postings.len()
    }

    /// Lets long `in` lists be scanned 16 ids at a time with AVX-512 gathers of their
    /// presence slots (the sequential list loads overlap, where a binary search per
    /// request value waits on one dependent load after another), when the CPU can
    /// (`avx512::lanes_available`).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn set_simd_lists(&mut self) {
        self.simd_lists = super::avx512::lanes_available();
    }

    pub(crate) fn presence_len(&self) -> usize {
        self.presence_len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.attrs
            .iter()
            .map(|a| a.starts.capacity() * 4 + 32)
            .sum::<usize>()
            + self.groups.capacity() * std::mem::size_of::<Group>()
            + self.postings.capacity() * 4
            + self.bodies.capacity() * 4
            + self.lists.capacity() * 4
            + self.ranges.capacity() * 16
            + self.base.capacity() * 4
    }

    /// Posts each row under its anchor literal's values; dictionaries are final and the
    /// caller has checked with [`body_words`] that the bodies fit `u32` offsets.
    pub(crate) fn build(rows: Vec<AnchoredRow<'_>>, dicts: &Dictionaries) -> Anchored {
        let mut out = Anchored {
            rows: rows.len(),
            ..Anchored::default()
        };
        let mut base = 0u32;
        for a in 0..dicts.attr_count() {
            out.base.push(base);
            base += dicts.value_count(a as u32) as u32;
        }
        out.always = base;
        out.presence_len = base as usize + 1;

        // Each row's body once, then (anchor attr, value id, gate slots, gate words,
        // body offset).
        let always = out.always;
        let mut filed: Vec<(u32, u32, [u32; 3], u32, u32)> = Vec::new();
        let mut order: Vec<(bool, u64, usize)> = Vec::new();
        let mut gates: Vec<(u64, usize, [u32; 2], u32)> = Vec::new();
        for row in &rows {
            let (_, anchor) = row.lits[row.anchor];
            let attr = dicts.attribute_id(anchor.attr);
            let Atom::In(values) = anchor.atom else {
                unreachable!("anchors are positive `in` literals")
            };
            // The gate: the two most selective positive `in` literals of one or two
            // values among the others.
            gates.clear();
            for (i, (_, lit)) in row.lits.iter().enumerate() {
                let Atom::In(values) = lit.atom else { continue };
                if i == row.anchor || lit.negated || values.len() > 2 {
                    continue;
                }
                let a = dicts.attribute_id(lit.attr);
                let ids = sorted_ids(dicts, a, values);
                let base = out.base[a as usize];
                let slots = match ids.as_slice() {
                    [x] => [base + x, base + x],
                    [x, y] => [base + x, base + y],
                    _ => continue,
                };
                let p = ids.len() as f64 / dicts.value_count(a).max(1) as f64;
                gates.push(((p * 1e9) as u64, i, slots, ids.len() as u32));
            }
            gates.sort_unstable();
            // The most selective one, then the most selective other one such that one
            // of the two has a single value (it goes to `gates[2]`).
            if let Some(j) = gates
                .iter()
                .skip(1)
                .position(|g| g.3 == 1 || gates[0].3 == 1)
            {
                gates.swap(1, j + 1);
            }
            gates.truncate(2);
            if gates.len() == 2 && gates[0].3 == 2 && gates[1].3 == 2 {
                gates.truncate(1);
            }
            if let [a, b] = gates.as_mut_slice()
                && a.3 == 1
                && b.3 == 2
            {
                std::mem::swap(a, b);
            }
            if let [g] = gates.as_slice()
                && g.3 == 1
            {
                gates.insert(0, (0, usize::MAX, [always; 2], 0));
            }
            let mut gate = [always; 3];
            let mut skip = 0;
            if let Some(g) = gates.first() {
                gate[..2].copy_from_slice(&g.2);
            }
            if let Some(g) = gates.get(1) {
                gate[2] = g.2[0];
            }
            for g in &gates {
                skip += g.3;
            }
            let at = out.bodies.len() as u32;
            for v in values {
                let id = lookup(dicts, attr, v);
                if id != NO_ID {
                    filed.push((attr, id, gate, skip, at));
                }
            }
            // A conjunction fails at its first false check, so checks go in ascending
            // order of cost over the chance of being false; negated literals (usually
            // true) go last. The gate literals come first, so a gated group skips them.
            order.clear();
            for (i, (_, lit)) in row.lits.iter().enumerate() {
                if i == row.anchor {
                    continue;
                }
                if let Some(j) = gates.iter().position(|g| g.1 == i) {
                    order.push((false, j as u64, i));
                    continue;
                }
                let a = dicts.attribute_id(lit.attr);
                let cost = check_cost(lit);
                let p_true = if lit.negated {
                    1.0
                } else {
                    selectivity(dicts, a, lit).min(0.99)
                };
                let rank = ((cost / (1.0 - p_true) * 1e3) as u64).saturating_add(2);
                order.push((lit.negated, rank, i));
            }
            order.sort_unstable();
            out.bodies.push(row.key_ord);
            out.bodies.push(0);
            for &(_, _, i) in &order {
                out.encode_check(dicts, &row.lits[i].1);
            }
            out.bodies[at as usize + 1] = out.bodies.len() as u32 - at - 2;
        }
        filed.sort_unstable();
        filed.dedup();
        // Filed entries are sorted by (attribute, id, gate): each attribute's groups are
        // contiguous and its values' ranges follow each other. `starts[id]` is set at a
        // value's first group; unset ones (values no conjunction is anchored on) take
        // the next start.
        let mut attr_slot: Vec<u32> = vec![u32::MAX; dicts.attr_count()];
        for group in filed.chunk_by(|x, y| (x.0, x.1, x.2, x.3) == (y.0, y.1, y.2, y.3)) {
            let (attr, id, gates, skip, _) = group[0];
            let slot = &mut attr_slot[attr as usize];
            if *slot == u32::MAX {
                *slot = out.attrs.len() as u32;
                out.attrs.push(AnchorAttr {
                    attr,
                    starts: vec![u32::MAX; dicts.value_count(attr) + 1],
                });
            }
            let starts = &mut out.attrs[*slot as usize].starts;
            if starts[id as usize] == u32::MAX {
                starts[id as usize] = out.groups.len() as u32;
            }
            let keys = group.iter().all(|f| out.bodies[f.4 as usize + 1] == skip);
            let entry = |f: &(u32, u32, [u32; 3], u32, u32)| {
                if keys { out.bodies[f.4 as usize] } else { f.4 }
            };
            let mut word = skip << 28 | if keys { KEYS } else { 0 };
            if let [f] = group {
                word |= SINGLE | entry(f);
            } else {
                word |= out.postings.len() as u32;
                out.postings.push(group.len() as u32);
                for f in group {
                    let e = entry(f);
                    out.postings.push(e);
                }
            }
            out.groups.push(Group { gates, word });
            // The attribute's groups end here so far.
            let starts = &mut out.attrs[attr_slot[attr as usize] as usize].starts;
            *starts.last_mut().unwrap_or(&mut 0) = out.groups.len() as u32;
        }
        for a in &mut out.attrs {
            let starts = &mut a.starts;
            for v in (0..starts.len() - 1).rev() {
                if starts[v] == u32::MAX {
                    starts[v] = starts[v + 1];
                }
            }
        }
        // Grown by pushing: drop the spare capacity (audience 10k: 209.5 bytes per
        // expression, 165.4 after).
        out.groups.shrink_to_fit();
        out.postings.shrink_to_fit();
        out.bodies.shrink_to_fit();
        out.lists.shrink_to_fit();
        out.ranges.shrink_to_fit();
        out
    }

    fn encode_check(&mut self, dicts: &Dictionaries, lit: &Lit<'_>) {
        let attr = dicts.attribute_id(lit.attr);
        let neg = if lit.negated { NEG } else { 0 };
        match lit.atom {
            Atom::In(values) => {
                let ids = sorted_ids(dicts, attr, values);
                if ids.is_empty() {
                    // Never true: a list whose values no request can carry.
                    self.bodies.push(neg | KIND_LIST << KIND_SHIFT | attr);
                    self.bodies.push(0);
                    self.bodies.push(0);
                } else if ids.len() <= MAX_INLINE {
                    let base = self.base[attr as usize];
                    let last = ids.len() - 1;
                    for (i, id) in ids.iter().enumerate() {
                        let more = if i < last { MORE } else { 0 };
                        self.bodies
                            .push(neg | KIND_INLINE << KIND_SHIFT | more | (base + id));
                    }
                } else {
                    self.bodies.push(neg | KIND_LIST << KIND_SHIFT | attr);
                    self.bodies.push(self.lists.len() as u32);
                    self.bodies.push(ids.len() as u32);
                    self.lists.extend_from_slice(&ids);
                }
            }
            Atom::Range(lo, hi) => match (i32::try_from(lo), i32::try_from(hi)) {
                (Ok(lo), Ok(hi)) => {
                    self.bodies.push(neg | KIND_RANGE32 << KIND_SHIFT | attr);
                    self.bodies.push(lo as u32);
                    self.bodies.push(hi as u32);
                }
                _ => {
                    self.bodies.push(neg | KIND_RANGE << KIND_SHIFT | attr);
                    self.bodies.push(self.ranges.len() as u32);
                    self.ranges.push((lo, hi));
                }
            },
        }
    }

    /// Marks the request's values in `presence` with `epoch`.
    pub(crate) fn mark(&self, enc: &Encoded<'_>, presence: &mut [u32], epoch: u32) {
        presence[self.always as usize] = epoch;
        for (attr, &base) in self.base.iter().enumerate() {
            for &id in enc.ids(attr as u32) {
                presence[(base + id) as usize] = epoch;
            }
        }
    }

    /// Sets the key bit of every anchored conjunction true for the request.
    ///
    /// Two passes: the gate probes append the indices of passing groups to a small
    /// buffer without a branch on the outcome (a group's gate fails or passes at
    /// random, so that branch mispredicted about once per group), then the passing
    /// groups are resolved.
    #[inline(never)]
    pub(crate) fn run(&self, enc: &Encoded<'_>, presence: &[u32], epoch: u32, keybits: &mut [u64]) {
        self.warm(enc);
        let mut passed = [0u32; PASS_BLOCK];
        let mut n = 0usize;
        for a in &self.attrs {
            for &id in enc.ids(a.attr) {
                let Some(&lo) = a.starts.get(id as usize) else {
                    continue;
                };
                let hi = a.starts[id as usize + 1];
                for (i, group) in (lo..hi).zip(&self.groups[lo as usize..hi as usize]) {
                    let [g0, g1, g2] = group.gates.map(|x| presence[x as usize] == epoch);
                    passed[n % PASS_BLOCK] = i;
                    n += usize::from((g0 | g1) & g2);
                    if n == PASS_BLOCK {
                        self.resolve(&passed, enc, presence, epoch, keybits);
                        n = 0;
                    }
                }
            }
        }
        self.resolve(&passed[..n], enc, presence, epoch, keybits);
    }

    /// Loads each request value's `starts` entry, then its first group, before
    /// [`Anchored::run`] walks them: the loads of one pass do not wait on each other, so
    /// their cache misses overlap, where the walk meets them one value at a time (its
    /// loop over a value's groups, of varying length, ends the processor's run-ahead).
    /// Measured alternating in one process: audience 100k and the engine's decide
    /// workload at 100k 9% faster, audience 10k 1.5%, broad level.
    fn warm(&self, enc: &Encoded<'_>) {
        let mut firsts = 0u32;
        for a in &self.attrs {
            for &id in enc.ids(a.attr) {
                if let Some(&lo) = a.starts.get(id as usize) {
                    firsts ^= lo;
                }
            }
        }
        let mut gates = 0u32;
        for a in &self.attrs {
            for &id in enc.ids(a.attr) {
                if let Some(g) = a
                    .starts
                    .get(id as usize)
                    .and_then(|&lo| self.groups.get(lo as usize))
                {
                    gates ^= g.gates[0];
                }
            }
        }
        // Keeps the loads: their values are not needed, only their lines.
        std::hint::black_box((firsts, gates));
    }

    /// Sets the keys of the groups `passed` (their gates hold) whose rows hold.
    fn resolve(
        &self,
        passed: &[u32],
        enc: &Encoded<'_>,
        presence: &[u32],
        epoch: u32,
        keybits: &mut [u64],
    ) {
        // As in `warm`: the block's bodies (first words) and postings (first entries)
        // are loaded together first. The engine's decide workload at 100k: 9% faster,
        // audience 1-2%, broad level (alternating in one process).
        let mut first = 0u32;
        for &i in passed {
            let word = self.groups[i as usize].word;
            let payload = (word & GROUP_PAYLOAD) as usize;
            first ^= match (word & SINGLE != 0, word & KEYS != 0) {
                (true, true) => 0,
                (true, false) => self.bodies.get(payload).copied().unwrap_or(0),
                (false, _) => self.postings.get(payload + 1).copied().unwrap_or(0),
            };
        }
        std::hint::black_box(first);
        for &i in passed {
            let word = self.groups[i as usize].word;
            let payload = word & GROUP_PAYLOAD;
            let skip = ((word >> 28) & 3) as usize;
            match (word & SINGLE != 0, word & KEYS != 0) {
                (true, true) => keybits[(payload >> 6) as usize] |= 1 << (payload & 63),
                (true, false) => self.check(payload as usize, skip, enc, presence, epoch, keybits),
                (false, keys) => {
                    let p = payload as usize;
                    let n = self.postings[p] as usize;
                    let postings = &self.postings[p + 1..p + 1 + n];
                    if keys {
                        for &k in postings {
                            keybits[(k >> 6) as usize] |= 1 << (k & 63);
                        }
                    } else {
                        for &at in postings {
                            self.check(at as usize, skip, enc, presence, epoch, keybits);
                        }
                    }
                }
            }
        }
    }

    /// Checks the body at `at` from word `skip` on, unless its key is already set.
    #[inline]
    fn check(
        &self,
        at: usize,
        skip: usize,
        enc: &Encoded<'_>,
        presence: &[u32],
        epoch: u32,
        keybits: &mut [u64],
    ) {
        let k = self.bodies[at] as usize;
        let bit = 1u64 << (k & 63);
        if keybits[k >> 6] & bit != 0 {
            return;
        }
        let len = self.bodies[at + 1] as usize;
        let body = &self.bodies[at + 2 + skip..at + 2 + len];
        if self.body(body, enc, presence, epoch) {
            keybits[k >> 6] |= bit;
        }
    }

    /// Whether every check in `body` holds.
    #[inline]
    fn body(&self, mut body: &[u32], enc: &Encoded<'_>, presence: &[u32], epoch: u32) -> bool {
        while let [head, rest @ ..] = body {
            let payload = head & PAYLOAD;
            let (hit, next) = match (head >> KIND_SHIFT) & KIND_MASK {
                KIND_INLINE => {
                    let mut hit = presence[payload as usize] == epoch;
                    let mut word = *head;
                    let mut next = rest;
                    while word & MORE != 0 {
                        let [w, after @ ..] = next else {
                            return false;
                        };
                        hit |= presence[(w & PAYLOAD) as usize] == epoch;
                        word = *w;
                        next = after;
                    }
                    (hit, next)
                }
                KIND_LIST => {
                    let [start, len, next @ ..] = rest else {
                        return false;
                    };
                    let list = &self.lists[*start as usize..(*start + *len) as usize];
                    let have = enc.ids(payload);
                    #[cfg(target_arch = "x86_64")]
                    // A list shorter than a vector is scanned faster by the scalar
                    // loop below (no call, and it stops at the first marked id).
                    let simd = self.simd_lists && list.len() >= 16 && list.len() <= 64 * have.len();
                    #[cfg(not(target_arch = "x86_64"))]
                    let simd = false;
                    let hit = if simd {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `simd_lists` is set only when the CPU has the
                        // features `any_marked` is compiled for (`set_simd_lists`).
                        unsafe {
                            super::avx512::any_marked(
                                list,
                                self.base[payload as usize],
                                presence,
                                epoch,
                            )
                        }
                        #[cfg(not(target_arch = "x86_64"))]
                        false
                    } else if list.len() <= 4 * have.len() {
                        let base = self.base[payload as usize];
                        list.iter()
                            .any(|&id| presence[(base + id) as usize] == epoch)
                    } else {
                        have.iter().any(|id| list.binary_search(id).is_ok())
                    };
                    (hit, next)
                }
                KIND_RANGE32 => {
                    let [lo, hi, next @ ..] = rest else {
                        return false;
                    };
                    let (lo, hi) = (*lo as i32 as i64, *hi as i32 as i64);
                    (enc.ints(payload).iter().any(|&x| lo <= x && x <= hi), next)
                }
                _ => {
                    let [i, next @ ..] = rest else {
                        return false;
                    };
                    let (lo, hi) = self.ranges[*i as usize];
                    (enc.ints(payload).iter().any(|&x| lo <= x && x <= hi), next)
                }
            };
            if hit == (head & NEG != 0) {
                return false;
            }
            body = next;
        }
        true
    }
}

/// The dictionary ids of `values`, sorted and deduplicated, values no expression
/// names left out.
fn sorted_ids(dicts: &Dictionaries, attr: u32, values: &[Value]) -> Vec<u32> {
    let mut ids: Vec<u32> = values
        .iter()
        .map(|v| lookup(dicts, attr, v))
        .filter(|&id| id != NO_ID)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn lookup(dicts: &Dictionaries, attr: u32, v: &Value) -> u32 {
    match v {
        Value::Int(x) => dicts.lookup_int(attr, *x),
        Value::Str(s) => dicts.lookup_str(attr, s),
    }
}
