//! The anchored partition: conjunctions that name a selective positive `in` list are
//! found through that list and then checked literal by literal.
//!
//! A conjunction `a in (v1, …, vk) and rest` is true exactly when the request has some
//! `vi` for `a` and `rest` holds. So the conjunction is filed once under each `(a, vi)`
//! (its *anchor* postings) with only `rest` to check; a request visits the postings of
//! its own values and checks those candidates, nothing else. A conjunction filed under
//! two values the request has is checked at most twice (a key already matched is
//! skipped), and keys are deduplicated by the caller's key bitset.
//!
//! Checks are dictionary-encoded: an `in` list holds dictionary ids and is tested
//! against a per-request presence table (an epoch per dictionary id, so nothing is
//! cleared between requests), or, when the list is much longer than the request's
//! values, by binary search of each request value in the sorted list.

use crate::{
    ast::Value,
    index::{
        Dictionaries, Encoded, NO_ID,
        normalize::{Atom, Lit},
    },
};

/// Check header bits: negated literal.
const NEG: u32 = 1 << 31;
/// Check kinds (bits 28..31 without [`NEG`]).
const KIND_SHIFT: u32 = 28;
const KIND_INLINE: u32 = 0;
const KIND_LIST: u32 = 1;
const KIND_RANGE32: u32 = 2;
const KIND_RANGE: u32 = 3;
/// Inline id count, bits 24..28.
const COUNT_SHIFT: u32 = 24;
/// Attribute id, bits 0..24.
const ATTR_MASK: u32 = (1 << COUNT_SHIFT) - 1;
/// Longest `in` list whose ids are stored inline in the check.
const MAX_INLINE: usize = 4;

#[derive(Debug)]
struct AnchorAttr {
    attr: u32,
    /// `code[starts[id]..starts[id + 1]]` holds the conjunctions anchored on value `id`.
    starts: Vec<usize>,
}

/// A conjunction handed to [`Anchored::build`]: its key ordinal, the index of its anchor
/// literal and its literals.
pub(crate) struct AnchoredRow<'a> {
    pub(crate) key_ord: u32,
    pub(crate) anchor: usize,
    pub(crate) lits: Vec<(u32, Lit<'a>)>,
}

/// Conjunctions found through an anchor value, then checked one by one.
///
/// `code` holds, per anchor value, its conjunctions one after another, each as
/// `[key ordinal, body length, body…]`; the body is the conjunction's other literals,
/// each a header word (negation, kind, inline count, attribute) and its payload:
/// inline presence-table slots for short `in` lists, `(start, len)` into `lists` for
/// long ones, or the range bounds. A conjunction anchored on `k` values is stored `k`
/// times so that a request reads each candidate's checks in one sequential stream.
#[derive(Debug, Default)]
pub(crate) struct Anchored {
    attrs: Vec<AnchorAttr>,
    code: Vec<u32>,
    /// Sorted dictionary ids of long `in` lists.
    lists: Vec<u32>,
    ranges: Vec<(i64, i64)>,
    rows: usize,
    entries: usize,
    /// Offset of each attribute's ids in the presence table.
    base: Vec<u32>,
    presence_len: usize,
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

/// Whether a conjunction can be anchored at all: every attribute id fits a check
/// header.
pub(crate) fn encodable(dicts: &Dictionaries, lits: &[(u32, Lit<'_>)]) -> bool {
    lits.iter()
        .all(|(_, l)| dicts.attribute_id(l.attr) <= ATTR_MASK)
}

impl Anchored {
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    pub(crate) fn presence_len(&self) -> usize {
        self.presence_len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.attrs
            .iter()
            .map(|a| a.starts.capacity() * 8 + 32)
            .sum::<usize>()
            + self.code.capacity() * 4
            + self.lists.capacity() * 4
            + self.ranges.capacity() * 16
            + self.base.capacity() * 4
    }

    /// Files each row under its anchor literal's values; dictionaries are final.
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
        out.presence_len = base as usize;

        // Each row's body once, then (anchor attr, value id, row) triples.
        let mut bodies: Vec<u32> = Vec::new();
        let mut body_at: Vec<(usize, usize)> = Vec::with_capacity(rows.len());
        let mut filed: Vec<(u32, u32, u32)> = Vec::new();
        let mut order: Vec<(bool, u64, usize)> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let (_, anchor) = row.lits[row.anchor];
            let attr = dicts.attribute_id(anchor.attr);
            let Atom::In(values) = anchor.atom else {
                unreachable!("anchors are positive `in` literals")
            };
            for v in values {
                let id = lookup(dicts, attr, v);
                if id != NO_ID {
                    filed.push((attr, id, r as u32));
                }
            }
            // Selective checks first (positive `in` by selectivity, then ranges), then
            // negated literals, which are usually true.
            order.clear();
            for (i, (_, lit)) in row.lits.iter().enumerate() {
                if i == row.anchor {
                    continue;
                }
                let a = dicts.attribute_id(lit.attr);
                let s = selectivity(dicts, a, lit);
                let len = match lit.atom {
                    Atom::In(v) => v.len() as u64,
                    Atom::Range(..) => 1,
                };
                let rank = ((s * 1e6) as u64) << 20 | len.min(1 << 20);
                order.push((lit.negated, rank, i));
            }
            order.sort_unstable();
            let start = bodies.len();
            for &(_, _, i) in &order {
                out.encode_check(dicts, &row.lits[i].1, &mut bodies);
            }
            body_at.push((start, bodies.len()));
        }
        filed.sort_unstable();
        filed.dedup();
        out.entries = filed.len();
        // Entries are sorted by (attribute, id): each attribute's code is contiguous and
        // its values' ranges follow each other. `starts[id]` is set at a value's first
        // entry; unset ones (values no conjunction is anchored on) take the next start.
        let mut attr_slot: Vec<u32> = vec![u32::MAX; dicts.attr_count()];
        for (i, &(attr, id, r)) in filed.iter().enumerate() {
            let slot = &mut attr_slot[attr as usize];
            if *slot == u32::MAX {
                *slot = out.attrs.len() as u32;
                out.attrs.push(AnchorAttr {
                    attr,
                    starts: vec![usize::MAX; dicts.value_count(attr) + 1],
                });
            }
            let starts = &mut out.attrs[*slot as usize].starts;
            if i == 0 || filed[i - 1].0 != attr || filed[i - 1].1 != id {
                starts[id as usize] = out.code.len();
            }
            let (lo, hi) = body_at[r as usize];
            out.code.push(rows[r as usize].key_ord);
            out.code.push((hi - lo) as u32);
            out.code.extend_from_slice(&bodies[lo..hi]);
            if filed.get(i + 1).is_none_or(|next| next.0 != attr) {
                *starts.last_mut().unwrap_or(&mut 0) = out.code.len();
                for v in (0..starts.len() - 1).rev() {
                    if starts[v] == usize::MAX {
                        starts[v] = starts[v + 1];
                    }
                }
            }
        }
        out
    }

    fn encode_check(&mut self, dicts: &Dictionaries, lit: &Lit<'_>, body: &mut Vec<u32>) {
        let attr = dicts.attribute_id(lit.attr);
        let neg = if lit.negated { NEG } else { 0 };
        match lit.atom {
            Atom::In(values) => {
                let mut ids: Vec<u32> = values
                    .iter()
                    .map(|v| lookup(dicts, attr, v))
                    .filter(|&id| id != NO_ID)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.len() <= MAX_INLINE {
                    let base = self.base[attr as usize];
                    body.push(
                        neg | KIND_INLINE << KIND_SHIFT | (ids.len() as u32) << COUNT_SHIFT | attr,
                    );
                    body.extend(ids.iter().map(|id| base + id));
                } else {
                    body.push(neg | KIND_LIST << KIND_SHIFT | attr);
                    body.push(self.lists.len() as u32);
                    body.push(ids.len() as u32);
                    self.lists.extend_from_slice(&ids);
                }
            }
            Atom::Range(lo, hi) => match (i32::try_from(lo), i32::try_from(hi)) {
                (Ok(lo), Ok(hi)) => {
                    body.push(neg | KIND_RANGE32 << KIND_SHIFT | attr);
                    body.push(lo as u32);
                    body.push(hi as u32);
                }
                _ => {
                    body.push(neg | KIND_RANGE << KIND_SHIFT | attr);
                    body.push(self.ranges.len() as u32);
                    self.ranges.push((lo, hi));
                }
            },
        }
    }

    /// Marks the request's values in `presence` with `epoch`.
    pub(crate) fn mark(&self, enc: &Encoded<'_>, presence: &mut [u32], epoch: u32) {
        for (attr, &base) in self.base.iter().enumerate() {
            for &id in enc.ids(attr as u32) {
                presence[(base + id) as usize] = epoch;
            }
        }
    }

    /// Sets the key bit of every anchored conjunction true for the request.
    #[inline(never)]
    pub(crate) fn run(&self, enc: &Encoded<'_>, presence: &[u32], epoch: u32, keybits: &mut [u64]) {
        for a in &self.attrs {
            for &id in enc.ids(a.attr) {
                let Some(&lo) = a.starts.get(id as usize) else {
                    continue;
                };
                let hi = a.starts[id as usize + 1];
                let mut code = &self.code[lo..hi];
                while let [key, len, rest @ ..] = code {
                    let (body, next) = rest.split_at((*len as usize).min(rest.len()));
                    code = next;
                    let k = *key as usize;
                    let bit = 1u64 << (k & 63);
                    if keybits[k >> 6] & bit == 0 && self.body(body, enc, presence, epoch) {
                        keybits[k >> 6] |= bit;
                    }
                }
            }
        }
    }

    /// Whether every check in `body` holds.
    #[inline]
    fn body(&self, mut body: &[u32], enc: &Encoded<'_>, presence: &[u32], epoch: u32) -> bool {
        while let [head, rest @ ..] = body {
            let attr = head & ATTR_MASK;
            let (hit, next) = match (head & !NEG) >> KIND_SHIFT {
                KIND_INLINE => {
                    let n = ((head >> COUNT_SHIFT) & 0xf) as usize;
                    let (ids, next) = rest.split_at(n.min(rest.len()));
                    let hit = ids.iter().any(|&slot| presence[slot as usize] == epoch);
                    (hit, next)
                }
                KIND_LIST => {
                    let [start, len, next @ ..] = rest else {
                        return false;
                    };
                    let list = &self.lists[*start as usize..(*start + *len) as usize];
                    let have = enc.ids(attr);
                    let hit = if list.len() <= 4 * have.len() {
                        let base = self.base[attr as usize];
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
                    (enc.ints(attr).iter().any(|&x| lo <= x && x <= hi), next)
                }
                _ => {
                    let [i, next @ ..] = rest else {
                        return false;
                    };
                    let (lo, hi) = self.ranges[*i as usize];
                    (enc.ints(attr).iter().any(|&x| lo <= x && x <= hi), next)
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

fn lookup(dicts: &Dictionaries, attr: u32, v: &Value) -> u32 {
    match v {
        Value::Int(x) => dicts.lookup_int(attr, *x),
        Value::Str(s) => dicts.lookup_str(attr, s),
    }
}
