//! The touch store: two time-ordered arenas of compact touches (views and clicks), chained
//! per (identity, advertiser) key, evicted by dropping whole chunks from the front.
//!
//! - A stored touch is 24 bytes: impression id, time as a `u32` offset from its chunk's base,
//!   campaign index, the arena reference of the key's previous touch, and the key's slot.
//!   Views and clicks live in separate arenas because they expire at different horizons
//!   (the view keep time vs the click window).
//! - An arena is a deque of chunks. A chunk holds at most [`CHUNK`] touches and spans at
//!   most the arena's `span_ms` of event time; logical indices are `chunk number × CHUNK +
//!   offset`, so finding a touch is a shift and a mask. A reference (`u32`) is a logical
//!   index minus the arena's `origin`; when references would run out the arena is
//!   *rebased* (every stored reference rewritten, once per ~4·10⁹ touches).
//! - The key table is open addressing with linear probing over inline 16-byte buckets
//!   (identity, interned advertiser, newest view), so finding a key is one cache miss; the
//!   bucket index is the key's *slot*, stored in each of its touches (a click finds its
//!   key through its view). The newest click of the few keys with clicks sits in a side
//!   map. Each touch links to the key's previous touch of the same kind (arrival order), so
//!   a conversion walks only its own key's touches, newest first.
//! - The impression index is open addressing too: 8-byte entries (view reference, 32-bit
//!   hash fingerprint) in cache-line groups of 8, probed group by group, so a lookup
//!   compares eight fingerprints per line and an unsuccessful one (every new impression's
//!   duplicate check) reads about one line; the arena is read only when a fingerprint
//!   matches. A new impression's duplicate check and its insert are one probe.
//! - Both tables map a hash to a bucket by multiply-shift (order preserving), so a rebuild
//!   walking the old table writes the new one almost sequentially.
//! - `Attributor::ingest_all` prefetches the buckets an event will probe some events
//!   before joining it ([`Store::warm_view`], [`Store::warm_slot`]).
//! - Eviction drops a front chunk once its newest touch is older than the horizon: no
//!   per-touch work, no per-key work. Key buckets and impression-index entries that point
//!   only into dropped chunks are *stale*: recognized by a range check (no memory access),
//!   skipped by lookups and reused by inserts; a rebuild (when a table fills, or after
//!   evictions amounting to a share of its live entries if that shrinks it by more than
//!   1/32) drops them
//!   and, for the key table, rewrites the `slot` of every stored touch in one sequential
//!   pass.

use crate::model::{CLICK, Touch, VIEW};
use ahash::RandomState;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// "No touch": the end of a chain.
pub(crate) const NONE: u32 = u32::MAX;
/// Campaign index of a touch dropped by the per-key limit (unreachable, awaiting eviction).
const DROPPED: u32 = u32::MAX;
/// Advertiser index of a free key slot.
const FREE: u32 = u32::MAX;
const CHUNK_SHIFT: u32 = 13;
/// Touches per chunk (logical; a chunk sealed early by time holds fewer).
pub(crate) const CHUNK: u64 = 1 << CHUNK_SHIFT;
/// References per arena before a rebase.
const REF_LIMIT: u64 = u32::MAX as u64 - 2 * CHUNK;

/// One stored touch, 24 bytes, alignment 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    /// Impression id, low and high halves (two `u32` keep the alignment at 4).
    imp: [u32; 2],
    /// Time minus the chunk's base.
    dt: u32,
    /// Campaign index, or [`DROPPED`].
    campaign: u32,
    /// The key's previous touch in this arena, or [`NONE`].
    prev: u32,
    /// The key's slot.
    slot: u32,
}

/// A touch read back from an arena.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loaded {
    pub(crate) time: i64,
    pub(crate) impression: u64,
    pub(crate) campaign: u32,
    pub(crate) prev: u32,
    pub(crate) slot: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Chunk {
    /// `time = base + dt`.
    base: i64,
    /// Time of the chunk's first touch (for sealing by span).
    first: i64,
    /// Latest time in the chunk (for eviction).
    max: i64,
    /// Touches of this chunk dropped by the per-key limit (already counted).
    dropped: u32,
    touches: Vec<Stored>,
}

#[derive(Clone, Debug, Default)]
struct Arena {
    chunks: VecDeque<Chunk>,
    /// Chunk number of `chunks[0]` (the next chunk's number when empty).
    front: u64,
    /// Logical index of reference 0.
    origin: u64,
    /// A chunk spanning more event time than this is sealed.
    span_ms: i64,
    /// Touches in `chunks`.
    len: u64,
    /// A full-size buffer of a dropped chunk, reused for the next one (no allocation,
    /// no fresh pages to fault in, no growth copies in steady state).
    spare: Vec<Stored>,
}

impl Arena {
    #[inline]
    fn start(&self) -> u64 {
        self.front << CHUNK_SHIFT
    }

    #[inline]
    fn end(&self) -> u64 {
        match self.chunks.back() {
            Some(c) => {
                ((self.front + self.chunks.len() as u64 - 1) << CHUNK_SHIFT)
                    + c.touches.len() as u64
            }
            None => self.start(),
        }
    }

    /// The lowest live reference: `r` is live iff `r != NONE && r >= live_from()`.
    #[inline]
    fn live_from(&self) -> u64 {
        self.start() - self.origin
    }

    /// `true` if `r` refers to a touch in a chunk not yet dropped.
    #[inline]
    fn is_live(&self, r: u32) -> bool {
        r != NONE && self.origin + u64::from(r) >= self.start()
    }

    #[inline]
    fn locate(&self, r: u32) -> Option<(usize, usize)> {
        if r == NONE {
            return None;
        }
        let l = self.origin + u64::from(r);
        let k = (l >> CHUNK_SHIFT).checked_sub(self.front)? as usize;
        let off = (l & (CHUNK - 1)) as usize;
        let c = self.chunks.get(k)?;
        (off < c.touches.len()).then_some((k, off))
    }

    #[inline]
    fn get(&self, r: u32) -> Option<Loaded> {
        let (k, off) = self.locate(r)?;
        let c = &self.chunks[k];
        let s = &c.touches[off];
        Some(Loaded {
            time: c.base.saturating_add(i64::from(s.dt)),
            impression: u64::from(s.imp[0]) | u64::from(s.imp[1]) << 32,
            campaign: s.campaign,
            prev: s.prev,
            slot: s.slot,
        })
    }

    /// Appends a touch; returns its reference. The caller has made room (see
    /// [`Arena::needs_rebase`]).
    #[inline]
    fn push(&mut self, time: i64, imp: u64, campaign: u32, prev: u32, slot: u32) -> u32 {
        let fits = self.chunks.back().is_some_and(|c| {
            let d = i128::from(time) - i128::from(c.base);
            (c.touches.len() as u64) < CHUNK
                && (0..=i128::from(u32::MAX)).contains(&d)
                && time.saturating_sub(c.first) <= self.span_ms
        });
        if !fits {
            if let Some(c) = self.chunks.back_mut()
                && c.touches.len() < c.touches.capacity() / 2
            {
                c.touches.shrink_to_fit();
            }
            let touches = if self.spare.capacity() > 0 {
                std::mem::take(&mut self.spare)
            } else {
                Vec::with_capacity(64)
            };
            self.chunks.push_back(Chunk {
                base: time.saturating_sub(1 << 31),
                first: time,
                max: time,
                dropped: 0,
                touches,
            });
        }
        let number = self.front + self.chunks.len() as u64 - 1;
        let c = self.chunks.back_mut().expect("a chunk was just ensured");
        let logical = (number << CHUNK_SHIFT) + c.touches.len() as u64;
        c.max = c.max.max(time);
        c.touches.push(Stored {
            imp: [imp as u32, (imp >> 32) as u32],
            dt: (time - c.base) as u32,
            campaign,
            prev,
            slot,
        });
        self.len += 1;
        (logical - self.origin) as u32
    }

    /// `true` when the next push could need a reference past [`REF_LIMIT`]. Bounds
    /// `end() + CHUNK` from above by the end of the chunk after the last one (no look
    /// into the last chunk: this runs once per event), so it answers `true` at most a
    /// chunk earlier than needed.
    #[inline]
    fn needs_rebase(&self, limit: u64) -> bool {
        ((self.front + self.chunks.len() as u64 + 1) << CHUNK_SHIFT) - self.origin >= limit
    }

    /// Drops the front chunk; returns (touches, of which already counted as dropped).
    fn pop_front(&mut self) -> Option<(u64, u64)> {
        let mut c = self.chunks.pop_front()?;
        self.front += 1;
        let n = c.touches.len() as u64;
        self.len -= n;
        if c.touches.capacity() as u64 == CHUNK && self.spare.capacity() == 0 {
            c.touches.clear();
            self.spare = c.touches;
        }
        // Validated on load (dropped ≤ touches); clamped anyway so counters never wrap.
        Some((n, u64::from(c.dropped).min(n)))
    }

    /// Sets the origin to the first live touch; returns the map from old to new references
    /// (stale ones become [`NONE`]) after rewriting the arena's own links.
    fn rebase(&mut self) -> impl Fn(u32) -> u32 + use<> {
        let old = self.origin;
        let new = self.start();
        let map = move |r: u32| {
            if r == NONE {
                return NONE;
            }
            let l = old + u64::from(r);
            if l < new { NONE } else { (l - new) as u32 }
        };
        for c in &mut self.chunks {
            for t in &mut c.touches {
                t.prev = map(t.prev);
            }
        }
        self.origin = new;
        map
    }

    fn bytes(&self) -> u64 {
        let touches: u64 = self
            .chunks
            .iter()
            .map(|c| (c.touches.capacity() * std::mem::size_of::<Stored>()) as u64)
            .sum();
        touches
            + (self.spare.capacity() * std::mem::size_of::<Stored>()) as u64
            + (self.chunks.capacity() * std::mem::size_of::<Chunk>()) as u64
    }
}

/// One (identity, advertiser) key, stored inline in the key table: 16 bytes. The newest
/// click of the few keys with clicks is in `Store::click_heads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    identity: [u32; 2],
    /// Interned advertiser index, or [`FREE`] for an empty bucket.
    adv: u32,
    /// Newest view reference.
    view: u32,
}

const EMPTY_SLOT: Slot = Slot {
    identity: [0, 0],
    adv: FREE,
    view: NONE,
};

impl Slot {
    #[inline]
    fn identity(&self) -> u64 {
        u64::from(self.identity[0]) | u64::from(self.identity[1]) << 32
    }
}

/// One impression-index entry: a view reference and the top 32 bits of the id's hash
/// (compared before the arena is read, and the bucket position on a rebuild). 8 bytes,
/// stored split across an [`ImpGroup`]'s two arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ImpEntry {
    /// [`NONE`]: empty. A reference into a dropped chunk: stale, reusable.
    r: u32,
    /// Never 0 (an empty entry's), so a fingerprint match implies a used entry.
    fp: u32,
}

/// Entries per impression-index group: one 64-byte cache line.
const GROUP: usize = 8;

/// One cache line of the impression index. Probing goes group by group (linear probing
/// over lines): within a group the used entries are a prefix (an insert takes the first
/// free or stale entry on its path, and entries never become empty again), so a lookup
/// checks all eight fingerprints at once and stops at the first group with an empty
/// entry. An unsuccessful lookup, which every new impression's duplicate check is, reads
/// about one line even at 6/7 load, where per-entry linear probing scans ~8 entries and
/// often two lines. References and fingerprints are in separate arrays so the eight
/// comparisons are plain vector compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
struct ImpGroup {
    r: [u32; GROUP],
    fp: [u32; GROUP],
}

const EMPTY_GROUP: ImpGroup = ImpGroup {
    r: [NONE; GROUP],
    fp: [0; GROUP],
};

impl ImpGroup {
    /// Bit `j` set: entry `j` has fingerprint `fp` (so it is used: `fp` is never 0).
    #[inline]
    fn matches(&self, fp: u32) -> u32 {
        lanes_equal(&self.fp, fp)
    }

    /// Bit `j` set: entry `j` is empty or stale (a reference below `live_from`, i.e. into
    /// a dropped chunk).
    #[inline]
    fn vacant(&self, live_from: u32) -> u32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `lanes_equal`.
        unsafe {
            sse_vacant(&self.r, live_from)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let mut m = 0;
            for (j, &r) in self.r.iter().enumerate() {
                // `NONE + 1` wraps to 0: empty entries count too.
                m |= u32::from(r.wrapping_add(1) <= live_from) << j;
            }
            m
        }
    }

    /// Bit `j` set: entry `j` refers to `r` (with `r` = [`NONE`]: is empty).
    #[inline]
    fn matches_r(&self, r: u32) -> u32 {
        lanes_equal(&self.r, r)
    }

    /// `true` if the group has an empty entry (probes end here).
    #[inline]
    fn has_empty(&self) -> bool {
        self.r[GROUP - 1] == NONE
    }

    /// The used entries (a prefix).
    #[inline]
    fn used(&self) -> impl Iterator<Item = ImpEntry> + '_ {
        self.r
            .iter()
            .zip(&self.fp)
            .take_while(|(r, _)| **r != NONE)
            .map(|(&r, &fp)| ImpEntry { r, fp })
    }

    #[inline]
    fn set(&mut self, j: usize, e: ImpEntry) {
        self.r[j] = e.r;
        self.fp[j] = e.fp;
    }
}

/// Bit `j` set: `a[j] == x` (fingerprints or references of a group).
#[inline]
fn lanes_equal(a: &[u32; GROUP], x: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sse_matches` only needs SSE2, which every x86-64 CPU has (it is in the
    // target's baseline); it reads nothing but the array it is given.
    unsafe {
        sse_matches(a, x)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0;
        for (j, &y) in a.iter().enumerate() {
            m |= u32::from(y == x) << j;
        }
        m
    }
}

/// [`lanes_equal`] in SSE2: two 4-lane compares and two sign-bit masks, where the
/// compiler's scalar loop took ~28 instructions per group (callgrind).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn sse_matches(a: &[u32; GROUP], x: u32) -> u32 {
    use core::arch::x86_64::{_mm_cmpeq_epi32, _mm_set1_epi32};
    let f = _mm_set1_epi32(x as i32);
    let [lo, hi] = sse_halves(a);
    sse_mask(_mm_cmpeq_epi32(lo, f), _mm_cmpeq_epi32(hi, f))
}

/// [`ImpGroup::vacant`] in SSE2: `r + 1 ≤ live_from` (unsigned; `NONE + 1` wraps to 0,
/// so empty entries count) as the complement of a signed `>` with both sides' top bit
/// flipped (SSE2 has no unsigned compare).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn sse_vacant(a: &[u32; GROUP], live_from: u32) -> u32 {
    use core::arch::x86_64::{_mm_add_epi32, _mm_cmpgt_epi32, _mm_set1_epi32, _mm_xor_si128};
    let bias = _mm_set1_epi32(i32::MIN);
    let one = _mm_set1_epi32(1);
    let l = _mm_xor_si128(_mm_set1_epi32(live_from as i32), bias);
    let [lo, hi] = sse_halves(a);
    let gt = |v| _mm_cmpgt_epi32(_mm_xor_si128(_mm_add_epi32(v, one), bias), l);
    !sse_mask(gt(lo), gt(hi)) & 0xff
}

/// The eight lanes of a group's array as two SSE2 vectors (`_mm_set_epi32` of adjacent
/// elements compiles to one vector load each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn sse_halves(a: &[u32; GROUP]) -> [core::arch::x86_64::__m128i; 2] {
    use core::arch::x86_64::_mm_set_epi32;
    let v = a.map(|x| x as i32);
    [
        _mm_set_epi32(v[3], v[2], v[1], v[0]),
        _mm_set_epi32(v[7], v[6], v[5], v[4]),
    ]
}

/// Bit `j` set where lane `j` of the two compare results (all ones or all zeros) is set.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn sse_mask(lo: core::arch::x86_64::__m128i, hi: core::arch::x86_64::__m128i) -> u32 {
    use core::arch::x86_64::{_mm_castsi128_ps, _mm_movemask_ps};
    let lo = _mm_movemask_ps(_mm_castsi128_ps(lo)) as u32;
    let hi = _mm_movemask_ps(_mm_castsi128_ps(hi)) as u32;
    lo | hi << 4
}

/// Where [`Store::add_view_at`] puts a new view's impression-index entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vacancy {
    at: usize,
    fp: u32,
    /// An empty bucket (else a stale one, reused).
    empty: bool,
}

/// A table rebuilds once more than this share of its buckets is used...
const MAX_LOAD: (usize, usize) = (4, 5);

/// Buckets for a rebuilt table holding `live` entries, `old` buckets before: 3/2 of the
/// entries (load 2/3), but [`step_up`] of the old size when the table is growing (live
/// entries, not stale ones, fill 70% of it), so a table filling up rebuilds O(log n) times, not
/// every 20% of growth, while a steady-state table (stale entries filled it) stays tight.
/// Small tables (under [`ROOMY`] buckets, a few hundred KiB) get 3× their entries and
/// double when growing: short probes and few rebuilds where the memory is negligible.
fn grown(live: usize, old: usize) -> usize {
    let growing = live * 10 >= old * 7;
    if live * 3 < ROOMY {
        let n = if growing {
            (live * 3).max(old * 2)
        } else {
            live * 3
        };
        return n.clamp(64, ROOMY);
    }
    let tight = live * 3 / 2;
    if growing {
        tight.max(step_up(old))
    } else {
        tight
    }
}

/// A growing table's next size: doubling while it is under [`BIG`] entries (few rebuilds
/// while a stream fills the store), then 3/2 (a table that just grew holds up to 1/3 more
/// memory than needed until enough evictions rebuild it tight, so big steps cost memory).
fn step_up(old: usize) -> usize {
    if old < BIG { old * 2 } else { old * 3 / 2 }
}

/// A turnover rebuild is skipped unless the rebuilt table is smaller by more than
/// 1/32 of its size (it would only drop stale entries, which inserts reuse anyway).
const SHRINK: (usize, usize) = (31, 32);

#[inline]
fn shrinks(new: usize, old: usize) -> bool {
    new * SHRINK.1 < old * SHRINK.0
}

/// [`SHRINK`] for the key table: its rebuild also rewrites every stored touch's slot, so
/// a turnover rebuild waits for a shrink of more than 1/16. At 10M events / 1M
/// households this skips the rebuild that tightened the table grown while filling
/// (3.82M to 3.61M buckets, 5.25M slots rewritten): key-rebuild samples 943 -> 374,
/// ~1.08x last-touch CPU time (nine pairs); 47.1 bytes per touch at 90% (was 46.4), at
/// most 47.2 over the second half (was 47.1).
const SHRINK_KEYS: (usize, usize) = (15, 16);

#[inline]
fn shrinks_keys(new: usize, old: usize) -> bool {
    new * SHRINK_KEYS.1 < old * SHRINK_KEYS.0
}

/// See [`step_up`]: 2²² entries (32 MiB of impression index, 64 MiB of key table).
const BIG: usize = 1 << 22;

/// See [`grown`].
const ROOMY: usize = 1 << 15;

/// The impression index's [`grown`]: line-sized groups keep probes short at a higher load,
/// so a rebuilt index holds 7/5 of its entries (load 5/7) and rebuilds at 6/7 full.
fn grown_imps(live: usize, old: usize) -> usize {
    if live * 3 < ROOMY {
        return grown(live, old);
    }
    let tight = live * IMPS_TIGHT.0 / IMPS_TIGHT.1;
    // Growing: live entries alone fill 4/5 (above the rebuilt load of 5/7, below the
    // 6/7 that triggers a rebuild).
    // Above BIG it grows by 4/3, not 3/2: a rebuilt index is already at load 5/7, and
    // the step it grows by is memory carried until the next rebuild (the bytes per
    // touch peak while a store fills up).
    if live * 5 >= old * 4 {
        let step = if old < BIG { old * 2 } else { old * 4 / 3 };
        tight.max(step)
    } else {
        tight
    }
}

/// [`grown`] for a table with a capacity-hint floor (`floor` > 0; 0: no hint). From
/// the floor up to twice it, a growing table (live entries over `growing` of it) grows
/// by 5/4, not by [`step_up`]'s doubling below [`BIG`]: the caller said the store
/// settles near the floor, so one that outgrows it by a little must not carry a table
/// twice the size (a key hint 10% low took the second half's bytes per touch to 56.0
/// with doubling). Past twice the floor the hint was far too low and the table grows
/// as without one (5/4 steps all the way from a hint 1,000× low took 34 rebuilds and
/// rehashed 4.3× the final keys, against 14 and 1.3× with no hint). Below the floor the
/// floor is the size.
fn grown_floor(
    live: usize,
    old: usize,
    floor: usize,
    growing: (usize, usize),
    tight: (usize, usize),
    unhinted: impl Fn(usize, usize) -> usize,
) -> usize {
    let near_floor = floor > 0 && old >= floor && old < floor.saturating_mul(2);
    if near_floor && live * growing.1 >= old * growing.0 {
        (live * tight.0 / tight.1).max(old * 5 / 4)
    } else {
        unhinted(live, old).max(floor)
    }
}

/// [`grown_floor`] for the key table.
fn grown_keys(live: usize, old: usize, floor: usize) -> usize {
    grown_floor(live, old, floor, (7, 10), (3, 2), grown)
}

/// [`grown_floor`] for the impression index.
fn grown_imps_floor(live: usize, old: usize, floor: usize) -> usize {
    grown_floor(live, old, floor, (4, 5), IMPS_TIGHT, grown_imps)
}

/// A rebuilt impression index holds this multiple of its entries (load 5/7). A
/// steady-state index is rebuilt when stale entries fill it to 6/7: at load 3/4 after a
/// rebuild (4/3, rounds 2-4) that came every ~0.7M new impressions at 10M events / 1M
/// households, three 54 MB rebuilds per pass; from 5/7 the room to 6/7 is 1.4× as
/// large. 1.02× last-touch CPU time (eight pairs), +0.5 bytes per touch at 90% (46.4),
/// the second half's most unchanged (47.1).
const IMPS_TIGHT: (usize, usize) = (7, 5);
/// The impression index rebuilds once more than this share of its entries is used.
const IMPS_MAX_LOAD: (usize, usize) = (6, 7);

#[inline]
fn over_load_imps(used: usize, entries: usize) -> bool {
    used * IMPS_MAX_LOAD.1 >= entries * IMPS_MAX_LOAD.0
}

#[inline]
fn over_load(used: usize, buckets: usize) -> bool {
    used * MAX_LOAD.1 >= buckets * MAX_LOAD.0
}

/// Bucket of a 64-bit hash in a table of `n` (Lemire's multiply-shift range reduction:
/// order-preserving, so a rebuild that walks the old table inserts nearly sequentially).
#[inline]
fn home64(h: u64, n: usize) -> usize {
    ((u128::from(h) * n as u128) >> 64) as usize
}

#[inline]
fn home32(fp: u32, n: usize) -> usize {
    ((u64::from(fp) * n as u64) >> 32) as usize
}

/// The touch store (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "StoreRepr", try_from = "StoreRepr")]
pub(crate) struct Store {
    views: Arena,
    clicks: Arena,
    /// (identity, advertiser) → key: open addressing with linear probing, no deletion
    /// between rebuilds (a rebuild drops stale keys and rewrites the touches' `slot`).
    keys: Vec<Slot>,
    keys_used: usize,
    /// Key slot → newest click (clicks are a few percent of touches, so the head lives
    /// here rather than in every key's bucket). Remapped with the key table.
    click_heads: HashMap<u32, u32, RandomState>,
    /// Impression id → view: open addressing with linear probing; stale buckets are
    /// reused by inserts and dropped by rebuilds.
    imps: Vec<ImpGroup>,
    /// Entries used (live or stale).
    imps_used: usize,
    /// Per-store random seeds (tables are rebuilt when a state is loaded).
    hasher: Seeds,
    /// Touches evicted since the tables were last rebuilt.
    evicted_since_keys: u64,
    evicted_since_imps: u64,
    /// Evictions after which a table is rebuilt (dropping stale entries, shrinking when
    /// traffic fell): a share of its live entries at the last rebuild, not of its size,
    /// so a table that doubled while filling is tightened after the same turnover.
    keys_turnover: u64,
    imps_turnover: u64,
    /// Touches dropped by a forced rebase (not yet reported).
    pub(crate) forced_drops: u64,
    ref_limit: u64,
    /// The smallest key table and impression index (buckets, entries) a rebuild makes:
    /// the configuration's capacity hint ([`Store::reserve`]; 0 without one).
    min_keys: usize,
    min_imps: usize,
}

/// Random seeds of the two table hashes (from `ahash`'s per-process randomness, so
/// bucket positions are not predictable from outside).
#[derive(Clone, Copy, Debug)]
struct Seeds {
    a: u64,
    b: u64,
}

impl Seeds {
    fn new() -> Seeds {
        let r = RandomState::new();
        Seeds {
            a: r.hash_one(0x5eed_u64),
            // Top bit set: never zero, whatever it is xored with below 2^63.
            b: r.hash_one(0xface_u64) | 1 << 63,
        }
    }
}

/// Asks the CPU to start loading the cache line holding `x` without waiting for it: a hint
/// with no architectural effect. Unlike a plain load, a prefetch retires at once, so a
/// loop can have dozens of cache (and TLB) misses in flight instead of stalling once the
/// reorder buffer fills behind the first one. A no-op off x86-64.
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has (it is in the target's
    // baseline); a prefetch never faults and does not access memory architecturally, and
    // the pointer comes from a live reference anyway.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// A table of `n` copies of `empty` whose pages the kernel is asked to back with huge
/// pages (see [`advise_huge`]) before they are first touched.
fn table<T: Copy>(n: usize, empty: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge(v.as_ptr() as usize, n * std::mem::size_of::<T>());
    v.resize(n, empty);
    v
}

/// 2 MiB, the x86-64 huge page.
const HUGE_PAGE: usize = 2 << 20;

/// Asks Linux to back the whole 2 MiB pages inside `[addr, addr + len)` with transparent
/// huge pages (`madvise(MADV_HUGEPAGE)`; THP is commonly in `madvise` mode, so without
/// this the tables get 4 KiB pages). Every event probes the key table and the impression
/// index at random, ~110 MB between them at 10M events / 1M households: with 4 KiB
/// pages nearly every probe is also a TLB miss and a page walk, the pipeline's prefetches
/// queue behind the walks, and faulting in a rebuilt table takes one fault per 4 KiB.
/// Measured 1.15x last-touch at that scale (docs/attribution.md, round 4). Tables under
/// two huge pages are left alone; elsewhere than Linux this does nothing. Advice only:
/// if the kernel has no huge page at hand it uses small ones.
fn advise_huge(addr: usize, len: usize) {
    if len < 2 * HUGE_PAGE {
        return;
    }
    let start = addr.next_multiple_of(HUGE_PAGE);
    let end = (addr + len) / HUGE_PAGE * HUGE_PAGE;
    if end <= start {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `[start, end)` lies inside `[addr, addr + len)`, an allocation this store
    // owns (a vector's capacity, not yet initialized or shared with anything), and
    // `MADV_HUGEPAGE` only changes how the kernel backs those pages, never their contents
    // or validity; a failure (an older kernel, THP disabled) is harmless and ignored.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

/// The 128-bit product of `x` and `y`, folded to 64 bits (the wyhash/foldhash mixer).
#[inline]
fn fold_mul(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ (p >> 64) as u64
}

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hash of a key: two folded multiplies (a few instructions; ahash costs several times more).
#[inline]
fn hash_key(h: &Seeds, identity: u64, adv: u32) -> u64 {
    fold_mul(fold_mul(identity ^ h.a, u64::from(adv) ^ h.b), MIX)
}

/// Top 32 bits of an impression id's hash, lowest bit set (never 0, an empty entry's).
#[inline]
fn fingerprint(h: &Seeds, imp: u64) -> u32 {
    (fold_mul(fold_mul(imp ^ h.a, h.b), MIX) >> 32) as u32 | 1
}

impl Store {
    /// An empty store sealing view chunks past `view_span_ms` and click chunks past
    /// `click_span_ms` of event time.
    pub(crate) fn new(view_span_ms: i64, click_span_ms: i64) -> Store {
        let mut s = Store {
            views: Arena::default(),
            clicks: Arena::default(),
            keys: Vec::new(),
            keys_used: 0,
            click_heads: HashMap::default(),
            imps: Vec::new(),
            imps_used: 0,
            hasher: Seeds::new(),
            evicted_since_keys: 0,
            evicted_since_imps: 0,
            keys_turnover: 0,
            imps_turnover: 0,
            forced_drops: 0,
            ref_limit: REF_LIMIT,
            min_keys: 0,
            min_imps: 0,
        };
        s.set_spans(view_span_ms, click_span_ms);
        s
    }

    /// Sets the chunk spans (they come from the configuration, which is not persisted).
    pub(crate) fn set_spans(&mut self, view_span_ms: i64, click_span_ms: i64) {
        self.views.span_ms = view_span_ms.max(1);
        self.clicks.span_ms = click_span_ms.max(1);
    }

    /// Sizes the tables for `keys` live keys and `imps` stored impressions (the
    /// configuration's capacity hint): the key table at 8/5 buckets per key (load 5/8,
    /// roomier than the 2/3 a rebuild leaves: with a hint it is never rebuilt to
    /// grow, so stale keys fill it to 4/5 before a rebuild purges them, and a new key's
    /// unsuccessful probe runs shorter; ~1.07x last-touch against 3/2, +0.7 bytes per
    /// touch), the impression index at the load a rebuild leaves (7/5 entries per
    /// impression), and no rebuild makes either smaller, so a store filling up to that
    /// scale never rebuilds a table to grow. 0: no floor (tables grow from small).
    pub(crate) fn reserve(&mut self, keys: usize, imps: usize) {
        // No overflow: `Config::validate` caps both at `MAX_CAPACITY_HINT` (2²⁶).
        self.min_keys = if keys == 0 { 0 } else { (keys * 8 / 5).max(64) };
        self.min_imps = if imps == 0 {
            0
        } else {
            (imps * IMPS_TIGHT.0 / IMPS_TIGHT.1).max(64)
        };
        if self.keys.len() < self.min_keys {
            self.rebuild_keys(0);
        }
        if self.imps.len() * GROUP < self.min_imps {
            self.rebuild_imps_live();
        }
    }

    /// Lowers the rebase threshold (tests exercise rebasing with small streams).
    #[cfg(test)]
    pub(crate) fn set_ref_limit(&mut self, limit: u64) {
        self.ref_limit = limit.clamp(4 * CHUNK, REF_LIMIT);
    }

    /// The stored, non-dropped view of impression `imp`.
    #[inline]
    pub(crate) fn find_view(&self, imp: u64) -> Option<Loaded> {
        let n = self.imps.len();
        if n == 0 {
            return None;
        }
        let fp = fingerprint(&self.hasher, imp);
        let mut g = home32(fp, n);
        loop {
            let group = &self.imps[g];
            if let Some(t) = self.match_view(group, fp, imp) {
                return Some(t);
            }
            if group.has_empty() {
                return None;
            }
            g += 1;
            if g == n {
                g = 0;
            }
        }
    }

    /// The stored, non-dropped view of `imp` among `group`'s entries with fingerprint `fp`.
    #[inline]
    fn match_view(&self, group: &ImpGroup, fp: u32, imp: u64) -> Option<Loaded> {
        let mut m = group.matches(fp);
        while m != 0 {
            let r = group.r[m.trailing_zeros() as usize];
            m &= m - 1;
            if let Some(t) = self.views.get(r)
                && t.impression == imp
                && t.campaign != DROPPED
            {
                return Some(t);
            }
        }
        None
    }

    /// Looks impression `imp` up for storing a new view: its stored, non-dropped view if
    /// any (a duplicate), else a [`Vacancy`] for [`Store::add_view_at`], the first stale or
    /// empty entry on the probe path (one probe where `find_view` then an insert would
    /// take two). Makes room first (rebase, table growth), so the vacancy stays valid
    /// until the view is added, whatever key-table work comes between.
    #[inline]
    pub(crate) fn probe_new_view(&mut self, imp: u64) -> Result<Vacancy, Loaded> {
        if self.views.needs_rebase(self.ref_limit) {
            self.rebase_views();
        }
        self.probe_imp(imp)
    }

    /// [`Store::probe_new_view`] without the rebase check (references must stay put).
    #[inline]
    fn probe_imp(&mut self, imp: u64) -> Result<Vacancy, Loaded> {
        if over_load_imps(self.imps_used + 1, self.imps.len() * GROUP) {
            self.rebuild_imps_live();
        }
        let fp = fingerprint(&self.hasher, imp);
        let n = self.imps.len();
        // References stay below 2^32 (rebased before), so live_from fits.
        let live_from = u32::try_from(self.views.live_from()).unwrap_or(NONE);
        let mut g = home32(fp, n);
        let mut vacancy = None;
        loop {
            let group = &self.imps[g];
            if let Some(t) = self.match_view(group, fp, imp) {
                return Err(t);
            }
            if vacancy.is_none() {
                let v = group.vacant(live_from);
                if v != 0 {
                    let j = v.trailing_zeros() as usize;
                    vacancy = Some(Vacancy {
                        at: g * GROUP + j,
                        fp,
                        empty: group.r[j] == NONE,
                    });
                }
            }
            if group.has_empty()
                && let Some(v) = vacancy
            {
                // (A group with an empty entry always set `vacancy` above.)
                return Ok(v);
            }
            g += 1;
            if g == n {
                g = 0;
            }
        }
    }

    /// Starts loading the impression-index bucket where a probe for `imp` starts (see
    /// `Attributor::warm`).
    #[inline]
    pub(crate) fn warm_view(&self, imp: u64) {
        let n = self.imps.len();
        if n > 0 {
            let g = home32(fingerprint(&self.hasher, imp), n);
            prefetch(&self.imps[g]);
            // At load 5/7 to 6/7 (stale entries count) a group is often full and the
            // probe reads the next one: with huge pages (no page walk per line) the
            // second prefetch gave 1.01-1.17x (five pairs); with 4 KiB pages, none.
            prefetch(&self.imps[(g + 1).min(n - 1)]);
        }
    }

    /// Starts loading the key-table bucket where a probe for (identity, adv) starts.
    #[inline]
    pub(crate) fn warm_slot(&self, identity: u64, adv: u32) {
        let n = self.keys.len();
        if n > 0 {
            let i = home64(hash_key(&self.hasher, identity, adv), n);
            prefetch(&self.keys[i]);
            // A probe often runs on into the next line: at load 2/3 to 4/5 (stale keys
            // count) an unsuccessful linear probe, which every new key's is, reads ~2 to
            // ~4 lines of four buckets. Prefetching the second line too gave 1.07-1.14x
            // (four pairs); a third line, no clear gain.
            prefetch(&self.keys[(i + 4).min(n - 1)]);
        }
    }

    /// The newest view of key `slot` ([`NONE`] if none, or if `slot` is out of range: a
    /// slot remembered across a key-table rebuild may be), for warming a conversion's
    /// chain walk ahead of its finalization (`Attributor::warm_conversion`).
    #[inline]
    pub(crate) fn view_head(&self, slot: u32) -> u32 {
        self.keys.get(slot as usize).map_or(NONE, |s| s.view)
    }

    /// Starts loading view `r`'s record (a hint: a dropped or unknown reference is ignored).
    #[inline]
    pub(crate) fn warm_view_ref(&self, r: u32) {
        if let Some((k, off)) = self.views.locate(r) {
            prefetch(&self.views.chunks[k].touches[off]);
        }
    }

    /// The view before `r` in its key's chain if `r` is stored and not older than
    /// `stop` (a chain walk reads on past it), else [`NONE`].
    #[inline]
    pub(crate) fn prev_view_ref(&self, r: u32, stop: i64) -> u32 {
        match self.views.get(r) {
            Some(t) if t.time >= stop && t.prev < r => t.prev,
            _ => NONE,
        }
    }

    /// The slot of key (identity, advertiser index), if stored.
    #[inline]
    pub(crate) fn find_slot(&self, identity: u64, adv: u32) -> Option<u32> {
        let n = self.keys.len();
        if n == 0 {
            return None;
        }
        let mut i = home64(hash_key(&self.hasher, identity, adv), n);
        loop {
            let s = &self.keys[i];
            if s.adv == FREE {
                return None;
            }
            if s.adv == adv && s.identity() == identity {
                return Some(i as u32);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// The slot of key (identity, advertiser index), created if missing.
    #[inline]
    pub(crate) fn slot_for(&mut self, identity: u64, adv: u32) -> u32 {
        if over_load(self.keys_used + 1, self.keys.len()) {
            self.rebuild_keys(1);
        }
        let n = self.keys.len();
        let mut i = home64(hash_key(&self.hasher, identity, adv), n);
        // The first stale bucket on the probe path (a key whose touches were all
        // evicted: no stored touch refers to it any more), reused for a new key.
        let mut stale = None;
        // `Arena::is_live` with the range computed once per probe.
        let live_from = self.views.live_from();
        loop {
            let s = self.keys[i];
            if s.adv == FREE {
                let at = match stale {
                    Some(at) => {
                        self.click_heads.remove(&(at as u32));
                        at
                    }
                    None => {
                        self.keys_used += 1;
                        i
                    }
                };
                self.keys[at] = Slot {
                    identity: [identity as u32, (identity >> 32) as u32],
                    adv,
                    view: NONE,
                };
                return at as u32;
            }
            if s.adv == adv && s.identity() == identity {
                return i as u32;
            }
            if stale.is_none()
                && (s.view == NONE || u64::from(s.view) < live_from)
                && self
                    .click_heads
                    .get(&(i as u32))
                    .is_none_or(|&c| !self.clicks.is_live(c))
            {
                stale = Some(i);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Rebuilds the key table without stale keys, sized for twice the live ones plus
    /// `extra`, and rewrites every stored touch's `slot`. Returns `false` if two buckets
    /// held the same key (only a corrupt persisted state can).
    fn rebuild_keys(&mut self, extra: usize) -> bool {
        self.evicted_since_keys = 0;
        let old = std::mem::take(&mut self.keys);
        let (views, clicks, heads) = (&self.views, &self.clicks, &self.click_heads);
        let live = |i: usize, s: &Slot| {
            s.adv != FREE
                && (views.is_live(s.view)
                    || heads.get(&(i as u32)).is_some_and(|&c| clicks.is_live(c)))
        };
        // Liveness once (a stale key's check is a click-head map lookup): `map` marks the
        // live buckets, then holds their new positions.
        let mut map: Vec<u32> = old
            .iter()
            .enumerate()
            .map(|(i, s)| if live(i, s) { 0 } else { NONE })
            .collect();
        let n_live = map.iter().filter(|&&m| m != NONE).count();
        let n = grown_keys(n_live + extra, old.len(), self.min_keys);
        let mut keys = table(n, EMPTY_SLOT);
        let mut unique = true;
        for (i, s) in old.iter().enumerate() {
            if map[i] == NONE {
                continue;
            }
            let mut j = home64(hash_key(&self.hasher, s.identity(), s.adv), n);
            while keys[j].adv != FREE {
                unique &= !(keys[j].adv == s.adv && keys[j].identity == s.identity);
                j += 1;
                if j == n {
                    j = 0;
                }
            }
            keys[j] = *s;
            map[i] = j as u32;
        }
        self.keys = keys;
        self.keys_used = n_live;
        // Evicted touches (about two per key) equal to the live keys: about half the
        // keys' touches have turned over.
        self.keys_turnover = (n_live as u64).max(64);
        let clicks = &self.clicks;
        self.click_heads = std::mem::take(&mut self.click_heads)
            .into_iter()
            .filter_map(|(k, c)| {
                let k = map.get(k as usize).copied().unwrap_or(NONE);
                (k != NONE && clicks.is_live(c)).then_some((k, c))
            })
            .collect();
        for arena in [&mut self.views, &mut self.clicks] {
            for c in &mut arena.chunks {
                for k in 0..c.touches.len() {
                    // The map reads are random (touches are in time order): prefetch
                    // a few touches ahead so their misses overlap.
                    if let Some(m) = c.touches.get(k + 16).and_then(|a| map.get(a.slot as usize)) {
                        prefetch(m);
                    }
                    let t = &mut c.touches[k];
                    t.slot = map.get(t.slot as usize).copied().unwrap_or(NONE);
                    if t.slot == NONE && t.campaign != DROPPED {
                        // Unreachable for a consistent store (a live touch's key has a
                        // live head); a corrupt state loses the touch, not memory safety.
                        t.campaign = DROPPED;
                        c.dropped += 1;
                    }
                }
            }
        }
        unique
    }

    /// Rebuilds the impression index through `remap` (a reference's new value, [`NONE`]
    /// to drop it), sized for 3/2 of the entries kept.
    fn rebuild_imps(&mut self, remap: impl Fn(u32) -> u32) {
        self.evicted_since_imps = 0;
        let old = std::mem::take(&mut self.imps);
        let n_live = old
            .iter()
            .flat_map(ImpGroup::used)
            .filter(|e| remap(e.r) != NONE)
            .count();
        let n = grown_imps_floor(n_live, old.len() * GROUP, self.min_imps).div_ceil(GROUP);
        let mut imps = table(n, EMPTY_GROUP);
        // Old groups in order, so homes rise (multiply-shift keeps order): writes go
        // almost sequentially through the new table.
        for e in old.iter().flat_map(ImpGroup::used) {
            let r = remap(e.r);
            if r == NONE {
                continue;
            }
            let mut g = home32(e.fp, n);
            while !imps[g].has_empty() {
                g += 1;
                if g == n {
                    g = 0;
                }
            }
            let group = &mut imps[g];
            let j = group.r.iter().position(|&x| x == NONE).unwrap_or(GROUP - 1);
            group.set(j, ImpEntry { r, fp: e.fp });
        }
        self.imps = imps;
        self.imps_used = n_live;
        self.imps_turnover = (n_live as u64 / 2).max(64);
    }

    /// [`Store::rebuild_imps`] dropping stale entries, the usual case, with group masks:
    /// a group's live entries are `!vacant`, a new group's first empty entry is the
    /// lowest bit of its empty mask (no per-entry iterator over the prefix).
    fn rebuild_imps_live(&mut self) {
        self.evicted_since_imps = 0;
        // References stay below 2^32 (rebased before); `NONE` would make all vacant.
        let live_from = u32::try_from(self.views.live_from()).unwrap_or(NONE);
        let old = std::mem::take(&mut self.imps);
        let live = |g: &ImpGroup| !g.vacant(live_from) & ((1 << GROUP) - 1);
        let n_live: usize = old.iter().map(|g| live(g).count_ones() as usize).sum();
        let n = grown_imps_floor(n_live, old.len() * GROUP, self.min_imps).div_ceil(GROUP);
        let mut imps = table(n, EMPTY_GROUP);
        // Old groups in order, so homes rise (multiply-shift keeps order): writes go
        // almost sequentially through the new table.
        for g in &old {
            let mut m = live(g);
            while m != 0 {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                let fp = g.fp[j];
                let mut h = home32(fp, n);
                loop {
                    let empty = imps[h].matches_r(NONE);
                    if empty != 0 {
                        imps[h].set(empty.trailing_zeros() as usize, ImpEntry { r: g.r[j], fp });
                        break;
                    }
                    h += 1;
                    if h == n {
                        h = 0;
                    }
                }
            }
        }
        self.imps = imps;
        self.imps_used = n_live;
        self.imps_turnover = (n_live as u64 / 2).max(64);
    }

    /// Stores a view of impression `imp` for `slot` (the caller checked it is not stored).
    #[cfg(test)]
    pub(crate) fn add_view(&mut self, slot: u32, time: i64, imp: u64, campaign: u32) {
        if let Ok(v) = self.probe_new_view(imp) {
            self.add_view_at(slot, time, imp, campaign, v);
        }
    }

    #[inline]
    fn put_imp(&mut self, v: Vacancy, r: u32) {
        self.imps_used += usize::from(v.empty);
        self.imps[v.at / GROUP].set(v.at % GROUP, ImpEntry { r, fp: v.fp });
    }

    /// Stores a view of impression `imp` for `slot` in the index bucket `v` from
    /// [`Store::probe_new_view`] (no impression-index work since).
    #[inline]
    pub(crate) fn add_view_at(
        &mut self,
        slot: u32,
        time: i64,
        imp: u64,
        campaign: u32,
        v: Vacancy,
    ) {
        let s = &mut self.keys[slot as usize];
        let r = self.views.push(time, imp, campaign, s.view, slot);
        s.view = r;
        self.put_imp(v, r);
    }

    /// Stores a click on impression `imp` for `slot`.
    pub(crate) fn add_click(&mut self, slot: u32, time: i64, imp: u64, campaign: u32) {
        if self.clicks.needs_rebase(self.ref_limit) {
            self.rebase_clicks();
        }
        let head = self.click_heads.entry(slot).or_insert(NONE);
        *head = self.clicks.push(time, imp, campaign, *head, slot);
    }

    /// Appends to `out` the touches of `slot` eligible for a conversion at `c` (views within
    /// `view_w`, clicks within `click_w`, both edges inclusive), newest first per kind.
    /// `lateness` bounds how far arrival order strays from time order: a chain walk stops
    /// at a touch older than `c − window − lateness`, since every touch stored before it
    /// is at most `lateness` newer. Each chain keeps its newest `cap` touches: older ones
    /// are unlinked and marked dropped; returns how many.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn collect(
        &mut self,
        slot: u32,
        c: i64,
        view_w: i64,
        click_w: i64,
        lateness: i64,
        cap: usize,
        out: &mut Vec<Touch>,
    ) -> u64 {
        let view = self.keys[slot as usize].view;
        let mut dropped = walk(&mut self.views, view, c, view_w, lateness, cap, VIEW, out);
        if let Some(&click) = self.click_heads.get(&slot) {
            dropped += walk(
                &mut self.clicks,
                click,
                c,
                click_w,
                lateness,
                cap,
                CLICK,
                out,
            );
        }
        dropped
    }

    /// Drops chunks whose newest view is older than `view_h` / newest click older than
    /// `click_h`; returns the touches evicted (not counting ones dropped earlier).
    pub(crate) fn evict(&mut self, view_h: i64, click_h: i64) -> u64 {
        let fresh = |a: &Arena, h: i64| a.chunks.front().is_none_or(|c| c.max >= h);
        if fresh(&self.views, view_h) && fresh(&self.clicks, click_h) {
            return 0;
        }
        let mut evicted = 0;
        for (arena, h) in [(&mut self.views, view_h), (&mut self.clicks, click_h)] {
            while arena.chunks.front().is_some_and(|c| c.max < h) {
                if let Some((n, d)) = arena.pop_front() {
                    evicted += n - d;
                }
            }
        }
        if self.views.len == 0 && self.clicks.len == 0 {
            // Nothing stored (the end of a stream, a long pause): every key and index
            // entry is stale, so the tables are reset instead of scanned and rebuilt.
            if self.keys.len() > 64 || self.keys_used > 0 {
                self.reset_tables();
            }
        } else if evicted > 0 {
            // After a full turnover, rebuild so the tables shrink when traffic falls (they
            // also rebuild when inserts fill them).
            self.evicted_since_keys += evicted;
            self.evicted_since_imps += evicted;
            if self.evicted_since_imps > self.imps_turnover {
                self.turnover_imps();
            }
            if self.evicted_since_keys > self.keys_turnover {
                self.turnover_keys();
            }
        }
        evicted
    }

    /// Empty tables (every key and index entry stale: nothing is stored).
    fn reset_tables(&mut self) {
        self.keys = vec![EMPTY_SLOT; 64];
        self.keys_used = 0;
        self.click_heads = HashMap::default();
        self.imps = vec![EMPTY_GROUP; 64 / GROUP];
        self.imps_used = 0;
        self.evicted_since_keys = 0;
        self.evicted_since_imps = 0;
        self.keys_turnover = 64;
        self.imps_turnover = 64;
    }

    /// The key table after a turnover of evictions: rebuilt if that shrinks it by more
    /// than [`SHRINK`], else left as it is (stale keys are reused by inserts, and a
    /// table that fills rebuilds anyway), which saves a pass over every stored touch.
    fn turnover_keys(&mut self) {
        let (views, clicks, heads) = (&self.views, &self.clicks, &self.click_heads);
        let live = self
            .keys
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                s.adv != FREE
                    && (views.is_live(s.view)
                        || heads.get(&(*i as u32)).is_some_and(|&c| clicks.is_live(c)))
            })
            .count();
        if shrinks_keys(
            grown_keys(live, self.keys.len(), self.min_keys),
            self.keys.len(),
        ) {
            self.rebuild_keys(0);
        } else {
            self.evicted_since_keys = 0;
            self.keys_turnover = (live as u64).max(64);
        }
    }

    /// The impression index after a turnover of evictions (see [`Store::turnover_keys`]).
    fn turnover_imps(&mut self) {
        let live_from = self.views.live_from();
        let live = self
            .imps
            .iter()
            .flat_map(ImpGroup::used)
            .filter(|e| u64::from(e.r) >= live_from)
            .count();
        let n = self.imps.len() * GROUP;
        if shrinks(grown_imps_floor(live, n, self.min_imps), n) {
            self.rebuild_imps_live();
        } else {
            self.evicted_since_imps = 0;
            self.imps_turnover = (live as u64 / 2).max(64);
        }
    }

    fn rebase_views(&mut self) {
        let map = self.views.rebase();
        for s in &mut self.keys {
            s.view = map(s.view);
        }
        self.rebuild_imps(&map);
        // More live touches than references: drop the oldest chunks (counted).
        while self.views.end() + 2 * CHUNK - self.views.origin >= self.ref_limit / 2 {
            match self.views.pop_front() {
                Some((n, d)) => self.forced_drops += n - d,
                None => break,
            }
        }
        if self.views.origin != self.views.start() {
            self.rebase_views();
        }
    }

    fn rebase_clicks(&mut self) {
        let map = self.clicks.rebase();
        self.click_heads.retain(|_, c| {
            *c = map(*c);
            *c != NONE
        });
        while self.clicks.end() + 2 * CHUNK - self.clicks.origin >= self.ref_limit / 2 {
            match self.clicks.pop_front() {
                Some((n, d)) => self.forced_drops += n - d,
                None => break,
            }
        }
        if self.clicks.origin != self.clicks.start() {
            self.rebase_clicks();
        }
    }

    /// Touches stored (dropped ones included until their chunk goes).
    pub(crate) fn touches(&self) -> u64 {
        self.views.len + self.clicks.len
    }

    /// Keys held (stale ones included until the next rebuild).
    pub(crate) fn keys(&self) -> u64 {
        self.keys_used as u64
    }

    /// Heap bytes by capacity: arenas, key table and impression index.
    pub(crate) fn bytes(&self) -> u64 {
        self.views.bytes()
            + self.clicks.bytes()
            + (self.keys.capacity() * std::mem::size_of::<Slot>()) as u64
            // hashbrown: a power of two of buckets at most 8/7 of the capacity, 9 bytes each.
            + (self.click_heads.capacity() as u64 * 8 / 7).next_power_of_two() * 9
            + (self.imps.capacity() * std::mem::size_of::<ImpGroup>()) as u64
    }

    /// The largest campaign index a stored touch refers to (for state validation).
    pub(crate) fn max_campaign(&self) -> Option<u32> {
        [&self.views, &self.clicks]
            .into_iter()
            .flat_map(|a| a.chunks.iter())
            .flat_map(|c| c.touches.iter())
            .map(|t| t.campaign)
            .filter(|&c| c != DROPPED)
            .max()
    }

    /// The largest advertiser index a key refers to (for state validation).
    pub(crate) fn max_advertiser(&self) -> Option<u32> {
        self.keys.iter().map(|s| s.adv).filter(|&a| a != FREE).max()
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn walk(
    arena: &mut Arena,
    head: u32,
    c: i64,
    window: i64,
    lateness: i64,
    cap: usize,
    kind: u8,
    out: &mut Vec<Touch>,
) -> u64 {
    let stop = c.saturating_sub(window);
    let mut r = head;
    let mut n = 0usize;
    let mut last = NONE;
    while let Some(t) = arena.get(r) {
        if t.time.saturating_add(lateness) < stop {
            break;
        }
        if n == cap {
            return cut(arena, last, r);
        }
        n += 1;
        if t.time <= c && c.saturating_sub(t.time) <= window {
            out.push(Touch {
                time: t.time,
                impression: t.impression,
                campaign: t.campaign,
                kind,
            });
        }
        // Links always point back; anything else is the end (or corrupt state).
        if t.prev >= r {
            break;
        }
        last = r;
        r = t.prev;
    }
    0
}

/// Unlinks the chain after `last` and marks `first` and every older touch of the chain
/// dropped; returns how many.
#[cold]
fn cut(arena: &mut Arena, last: u32, first: u32) -> u64 {
    if let Some((k, off)) = arena.locate(last) {
        arena.chunks[k].touches[off].prev = NONE;
    }
    let mut r = first;
    let mut dropped = 0;
    while let Some((k, off)) = arena.locate(r) {
        let c = &mut arena.chunks[k];
        let t = &mut c.touches[off];
        let prev = t.prev;
        t.prev = NONE;
        if t.campaign != DROPPED {
            t.campaign = DROPPED;
            c.dropped += 1;
            dropped += 1;
        }
        if prev >= r {
            break;
        }
        r = prev;
    }
    dropped
}

// ---- persistence ---------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct ArenaRepr {
    chunks: Vec<Chunk>,
    front: u64,
    origin: u64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoreRepr {
    views: ArenaRepr,
    clicks: ArenaRepr,
    /// The key table as it was (touches refer to its buckets).
    keys: Vec<Slot>,
    /// (key bucket, newest click).
    click_heads: Vec<(u32, u32)>,
}

impl From<Store> for StoreRepr {
    fn from(s: Store) -> StoreRepr {
        let arena = |a: Arena| ArenaRepr {
            chunks: a.chunks.into(),
            front: a.front,
            origin: a.origin,
        };
        StoreRepr {
            views: arena(s.views),
            clicks: arena(s.clicks),
            keys: s.keys,
            click_heads: s.click_heads.into_iter().collect(),
        }
    }
}

impl TryFrom<StoreRepr> for Store {
    type Error = &'static str;

    /// Validates every index and rebuilds both tables (with this process's hash seeds).
    fn try_from(r: StoreRepr) -> Result<Store, &'static str> {
        let n_keys = r.keys.len();
        let arena = |a: ArenaRepr| -> Result<Arena, &'static str> {
            if a.front >= 1 << 40 || a.origin > a.front << CHUNK_SHIFT {
                return Err("touch arena position out of range");
            }
            let mut len = 0;
            for c in &a.chunks {
                // `dropped` counts exactly the touches marked DROPPED (eviction subtracts
                // it from the chunk's length).
                if c.touches.len() as u64 > CHUNK
                    || c.dropped as usize
                        != c.touches.iter().filter(|t| t.campaign == DROPPED).count()
                    // A dropped touch is unreachable; a key-table rebuild may have
                    // unlinked it (slot NONE). Every other touch must name a stored key.
                    || c.touches
                        .iter()
                        .any(|t| t.slot as usize >= n_keys && !(t.campaign == DROPPED && t.slot == NONE))
                {
                    return Err("touch chunk out of range");
                }
                len += c.touches.len() as u64;
            }
            let arena = Arena {
                chunks: a.chunks.into(),
                front: a.front,
                origin: a.origin,
                span_ms: 1,
                len,
                spare: Vec::new(),
            };
            if arena.end() - arena.origin >= REF_LIMIT {
                return Err("touch arena references out of range");
            }
            Ok(arena)
        };
        let mut s = Store::new(1, 1);
        s.views = arena(r.views)?;
        s.clicks = arena(r.clicks)?;
        if n_keys as u64 >= u64::from(u32::MAX) {
            return Err("key table too large");
        }
        s.keys = r.keys;
        if r.click_heads.iter().any(|&(k, _)| k as usize >= n_keys) {
            return Err("click head of a missing key");
        }
        s.click_heads = r.click_heads.into_iter().collect();
        if !s.rebuild_keys(0) {
            return Err("key stored twice");
        }
        let mut refs = Vec::with_capacity(s.views.len as usize);
        for (k, c) in s.views.chunks.iter().enumerate() {
            let start = (s.views.front + k as u64) << CHUNK_SHIFT;
            for (off, t) in c.touches.iter().enumerate() {
                if t.campaign != DROPPED {
                    refs.push((start + off as u64 - s.views.origin) as u32);
                }
            }
        }
        s.rebuild_imps(|_| NONE);
        for r in refs {
            let Some(t) = s.views.get(r) else { continue };
            // The first stored wins, as on ingest.
            if let Ok(v) = s.probe_imp(t.impression) {
                s.put_imp(v, r);
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_touch_and_slot_are_compact() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
        assert_eq!(std::mem::size_of::<ImpEntry>(), 8);
        assert_eq!(std::mem::size_of::<ImpGroup>(), 64);
    }

    #[test]
    fn chunks_seal_by_count_and_span_and_drop_from_the_front() {
        let mut s = Store::new(1_000, 1_000);
        let k = s.slot_for(7, 0);
        for i in 0..(CHUNK + 10) {
            s.add_view(k, 100, i, 0);
        }
        assert_eq!(s.views.chunks.len(), 2, "full chunk sealed");
        s.add_view(k, 1_101, 1 << 40, 0);
        assert_eq!(s.views.chunks.len(), 3, "span exceeded");
        // Nothing older than 100: nothing goes; horizon 101 drops the two full chunks.
        assert_eq!(s.evict(100, 0), 0);
        assert_eq!(s.evict(101, 0), CHUNK + 10);
        // That many evictions rebuild the key table: look the key up again.
        let k = s.find_slot(7, 0).unwrap();
        assert!(s.find_view(5).is_none());
        assert!(s.find_view(1 << 40).is_some());
        let mut out = Vec::new();
        assert_eq!(s.collect(k, 1_101, 10_000, 10_000, 0, 100, &mut out), 0);
        assert_eq!(out.len(), 1, "the chain ends at the dropped chunk");
    }

    #[test]
    fn group_masks_match_the_scalar_definitions() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small values so lanes collide; the edges of the unsigned range too.
            match x % 5 {
                0 => NONE,
                1 => NONE - 1,
                2 => 0,
                _ => (x >> 32) as u32 % 8,
            }
        };
        for _ in 0..2_000 {
            let g = ImpGroup {
                r: std::array::from_fn(|_| next()),
                fp: std::array::from_fn(|_| next()),
            };
            for probe in [0, 1, 3, 7, NONE - 1, NONE] {
                let mut eq = 0;
                let mut vacant = 0;
                let mut refers = 0;
                for j in 0..GROUP {
                    eq |= u32::from(g.fp[j] == probe) << j;
                    vacant |= u32::from(g.r[j].wrapping_add(1) <= probe) << j;
                    refers |= u32::from(g.r[j] == probe) << j;
                }
                assert_eq!(g.matches(probe), eq, "{g:?} {probe}");
                assert_eq!(g.matches_r(probe), refers, "{g:?} {probe}");
                assert_eq!(g.vacant(probe), vacant, "{g:?} {probe}");
            }
        }
    }

    #[test]
    fn an_empty_store_resets_its_tables_and_a_turnover_rebuild_needs_a_shrink() {
        let mut s = Store::new(1_000, 1_000);
        for i in 0..3 * CHUNK {
            let k = s.slot_for(i % 1_000, 0);
            s.add_view(k, 100 + i as i64 / 64, i, 0);
        }
        let k = s.slot_for(1, 0);
        s.add_click(k, 200, 1, 0);
        assert!(s.keys.len() > 64 && s.imps.len() * GROUP > 64);
        // Everything evicted: the tables are reset without a scan.
        assert_eq!(s.evict(i64::MAX, i64::MAX), 3 * CHUNK + 1);
        assert_eq!(
            (s.keys.len(), s.keys_used, s.imps.len() * GROUP),
            (64, 0, 64)
        );
        assert!(s.click_heads.is_empty());
        let k = s.slot_for(5, 0);
        s.add_view(k, 10_000, 42, 0);
        assert_eq!(s.find_view(42).map(|v| v.slot), Some(k));
        // The key table's turnover threshold is 1/16 (its rebuild rewrites every
        // touch's slot), the index's 1/32.
        assert!(!shrinks_keys(94, 100) && shrinks_keys(93, 100));
        assert!(!shrinks(97, 100) && shrinks(96, 100));
        // A turnover that would not shrink the table by more than 1/32 keeps it.
        let before = s.keys.len();
        s.turnover_keys();
        assert_eq!(s.keys.len(), before);
        assert_eq!(s.find_slot(5, 0), Some(k));
    }

    #[test]
    fn a_capacity_hint_sizes_the_tables_once_and_is_their_floor() {
        let mut s = Store::new(1_000, 1_000);
        s.reserve(10_000, 20_000);
        let (keys, imps) = (s.keys.len(), s.imps.len() * GROUP);
        assert_eq!(keys, 16_000);
        assert!((28_000..28_000 + GROUP).contains(&imps));
        // Filling up to the hint rebuilds neither table (a rebuild allocates anew).
        let (kp, ip) = (s.keys.as_ptr(), s.imps.as_ptr());
        for i in 0..20_000u64 {
            let k = s.slot_for(i / 2, 0);
            s.add_view(k, 100 + i as i64 / 100, i, 0);
        }
        assert_eq!((s.keys.as_ptr(), s.imps.as_ptr()), (kp, ip), "no rebuild");
        for i in 0..20_000u64 {
            assert_eq!(s.find_view(i).map(|v| v.slot), s.find_slot(i / 2, 0));
        }
        // Evicting all but a few: turnover rebuilds keep the hinted size.
        let k = s.slot_for(1 << 40, 0);
        s.add_view(k, 5_000, 1 << 40, 0);
        assert!(s.evict(4_000, 4_000) > 0);
        s.turnover_keys();
        s.turnover_imps();
        assert_eq!((s.keys.len(), s.imps.len() * GROUP), (keys, imps));
        assert_eq!(
            s.find_view(1 << 40).map(|v| v.slot),
            s.find_slot(1 << 40, 0)
        );
        // Past the hint, the tables grow as without one.
        for i in 0..40_000u64 {
            let k = s.slot_for(i + (1 << 41), 0);
            s.add_view(k, 5_001, i + (1 << 41), 0);
        }
        assert!(s.keys.len() > keys && s.imps.len() * GROUP > imps);
        // ... by 5/4 at a time past the floor, not by doubling (below 2^22 entries).
        assert_eq!(grown_keys(2_800_000, 4_000_000, 4_000_000), 5_000_000);
        assert_eq!(grown_keys(2_800_000, 4_000_000, 0), 8_000_000);
        assert_eq!(grown_imps_floor(3_300_000, 4_000_000, 4_000_000), 5_000_000);
        assert_eq!(grown_imps_floor(3_300_000, 4_000_000, 0), 8_000_000);
        // Past twice the floor (a hint far too low) as without a hint.
        assert_eq!(grown_keys(2_800_000, 4_000_000, 1_000), 8_000_000);
        assert_eq!(grown_imps_floor(3_300_000, 4_000_000, 1_000), 8_000_000);
        // So growing from a hint 1,000x low takes no more rebuilds than from none.
        let rebuilds = |floor: usize| {
            let (mut size, mut n) = (floor.max(64), 0);
            for live in 0..=2_400_000usize {
                if live * 10 >= size * 7 {
                    size = grown_keys(live, size, floor);
                    n += 1;
                }
            }
            n
        };
        assert!(
            rebuilds(2_400) <= rebuilds(0) + 4,
            "{} vs {}",
            rebuilds(2_400),
            rebuilds(0)
        );
        // Below the floor the floor is the size; not growing, the tight size or the floor.
        assert_eq!(grown_keys(100, 64, 10_000), 10_000);
        assert_eq!(grown_keys(2_000_000, 4_000_000, 3_500_000), 3_500_000);
        for i in (0..40_000u64).step_by(97) {
            let id = i + (1 << 41);
            assert_eq!(s.find_view(id).map(|v| v.slot), s.find_slot(id, 0));
        }
    }

    #[test]
    fn grouped_impression_index_finds_reuses_and_rebuilds() {
        let mut s = Store::new(1_000, 1_000);
        let k = s.slot_for(1, 0);
        // Enough views for several rebuilds and probes across group boundaries.
        let n = 3 * CHUNK;
        for i in 0..n {
            let v = s.probe_new_view(i * 7).expect("new id");
            s.add_view_at(k, 100, i * 7, 0, v);
            assert!(s.probe_new_view(i * 7).is_err(), "a duplicate is found");
        }
        assert!(!over_load_imps(s.imps_used, s.imps.len() * GROUP));
        for i in 0..n {
            assert_eq!(s.find_view(i * 7).map(|v| v.impression), Some(i * 7));
            assert!(s.find_view(i * 7 + 1).is_none());
        }
        // Within a group, used entries are a prefix.
        for g in &s.imps {
            let used = g.used().count();
            assert!(g.r[used..].iter().all(|&r| r == NONE));
            assert!(g.fp[..used].iter().all(|&fp| fp != 0));
        }
        // Drop the first chunks: their entries go stale and are reused, not found.
        s.add_view(k, 5_000, 1 << 50, 0);
        s.evict(4_000, 4_000);
        let used = s.imps_used;
        for i in 0..n {
            assert!(s.find_view(i * 7).is_none(), "evicted view {i}");
            let v = s.probe_new_view(i * 7 + 3).expect("new id");
            s.add_view_at(k, 5_000, i * 7 + 3, 0, v);
        }
        assert!(s.imps_used <= used + n as usize);
        for i in 0..n {
            assert_eq!(s.find_view(i * 7 + 3).map(|v| v.time), Some(5_000));
        }
        assert!(s.find_view(1 << 50).is_some());
    }

    #[test]
    fn warming_helpers_follow_the_chain_a_walk_reads() {
        let mut s = Store::new(1_000_000, 1_000_000);
        let k = s.slot_for(3, 0);
        for i in 0..5u64 {
            s.add_view(k, 100 * i as i64, i, 0);
        }
        let mut r = s.view_head(k);
        let mut seen = Vec::new();
        while r != NONE {
            s.warm_view_ref(r);
            seen.push(s.views.get(r).map(|t| t.impression));
            r = s.prev_view_ref(r, 150);
        }
        // Newest first; the walk reads the first view older than `stop` and ends there.
        assert_eq!(seen, [Some(4), Some(3), Some(2), Some(1)]);
        assert_eq!(s.view_head(u32::MAX - 1), NONE, "a slot out of range");
        s.warm_view_ref(NONE);
    }

    #[test]
    fn times_far_apart_get_their_own_chunks() {
        let mut s = Store::new(i64::MAX, i64::MAX);
        let k = s.slot_for(1, 0);
        let times = [0, 1 << 40, -(1 << 40), i64::MAX - 5, i64::MIN + 5, 3];
        for (i, &t) in times.iter().enumerate() {
            s.add_view(k, t, i as u64, 0);
        }
        for (i, &t) in times.iter().enumerate() {
            assert_eq!(s.find_view(i as u64).map(|v| v.time), Some(t));
        }
    }

    #[test]
    fn per_key_limit_keeps_the_newest_and_counts_the_rest_once() {
        let mut s = Store::new(1_000_000, 1_000_000);
        // A key with no stored touch is free for reuse by the next `slot_for`, so each
        // key gets its first touch before the next key is looked up (as the join does).
        let k = s.slot_for(1, 0);
        s.add_view(k, 0, 0, 0);
        let other = s.slot_for(2, 0);
        s.add_view(other, 0, 100, 0);
        for i in 1..10 {
            s.add_view(k, i, i as u64, 0);
            s.add_view(other, i, 100 + i as u64, 0);
        }
        let mut out = Vec::new();
        assert_eq!(s.collect(k, 20, 100, 100, 0, 4, &mut out), 6);
        let ids: Vec<u64> = out.iter().map(|t| t.impression).collect();
        assert_eq!(ids, vec![9, 8, 7, 6]);
        assert!(s.find_view(5).is_none(), "a dropped view takes no clicks");
        assert!(s.find_view(6).is_some());
        out.clear();
        assert_eq!(
            s.collect(k, 20, 100, 100, 0, 4, &mut out),
            0,
            "counted once"
        );
        assert_eq!(out.len(), 4);
        out.clear();
        assert_eq!(s.collect(other, 20, 100, 100, 0, 100, &mut out), 0);
        assert_eq!(out.len(), 10, "other keys untouched");
    }

    #[test]
    fn rebase_keeps_every_live_touch_reachable() {
        let mut s = Store::new(1 << 40, 1 << 40);
        s.set_ref_limit(16 * CHUNK);
        let n = 40 * CHUNK;
        for i in 0..n {
            let t = i as i64;
            // Slots move when the key table is rebuilt: look the key up each time, as the
            // join does.
            let k = s.slot_for(i % 5, 1);
            s.add_view(k, t, i, 0);
            if i % 2 == 0 {
                s.add_click(k, t, i, 0);
            }
            s.evict(t - 1_000, t - 1_000);
        }
        assert!(s.views.origin > 0 && s.clicks.origin > 0, "rebased");
        assert_eq!(s.forced_drops, 0);
        assert!(s.touches() < 4 * CHUNK);
        let last = n - 1;
        let t = last as i64;
        assert_eq!(s.find_view(last).map(|v| v.time), Some(t));
        let mut out = Vec::new();
        let k = s.find_slot(last % 5, 1).unwrap();
        assert_eq!(s.find_view(last).map(|v| v.slot), Some(k));
        s.collect(k, t, 1_000, 1_000, 0, 1 << 20, &mut out);
        let want_views = (last - 1_000..=last).filter(|i| i % 5 == last % 5).count();
        let want_clicks = (last - 1_000..=last)
            .filter(|i| i % 5 == last % 5 && i % 2 == 0)
            .count();
        assert_eq!(out.iter().filter(|x| x.kind == VIEW).count(), want_views);
        assert_eq!(out.iter().filter(|x| x.kind == CLICK).count(), want_clicks);
    }

    #[test]
    fn persisted_store_round_trips_and_rejects_bad_indices() {
        let mut s = Store::new(1_000, 1_000);
        // Each key gets its first touch before the next lookup (an untouched key's
        // bucket is free for reuse).
        let a = s.slot_for(1, 0);
        s.add_view(a, 10, 1, 0);
        let b = s.slot_for(2, 3);
        s.add_view(b, 11, 2, 1);
        let a = s.find_slot(1, 0).expect("stored key");
        s.add_click(a, 12, 1, 0);
        let json = serde_json::to_string(&s).unwrap();
        let back: Store = serde_json::from_str(&json).unwrap();
        // Buckets move (new hash seeds); the links follow them.
        let (a2, b2) = (back.find_slot(1, 0).unwrap(), back.find_slot(2, 3).unwrap());
        assert_eq!(back.find_view(2).map(|v| v.slot), Some(b2));
        assert_eq!(back.find_view(1).map(|v| v.slot), Some(a2));
        let mut out = Vec::new();
        let mut back = back;
        back.collect(a2, 12, 100, 100, 0, 10, &mut out);
        assert_eq!(out.len(), 2);
        let _ = (a, b);
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].touches[0].slot = 9_999;
        assert!(Store::try_from(repr).is_err());
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].dropped = 5;
        assert!(Store::try_from(repr).is_err(), "more dropped than stored");
        // A dropped touch unlinked by a key-table rebuild (slot NONE) is what a loaded
        // store saves again: it must load, every time.
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].touches[0].campaign = DROPPED;
        repr.views.chunks[0].touches[0].slot = NONE;
        repr.views.chunks[0].dropped = 1;
        let reloaded = Store::try_from(repr).expect("an unlinked dropped touch loads");
        let again = Store::try_from(StoreRepr::from(reloaded)).expect("and reloads");
        assert!(
            again.find_view(1).is_none(),
            "the dropped view stays unreachable"
        );
        assert_eq!(again.find_view(2).map(|v| v.impression), Some(2));
        // A live touch must still name a stored key.
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].touches[0].slot = NONE;
        assert!(Store::try_from(repr).is_err(), "a live touch without a key");
        let mut repr = StoreRepr::from(s.clone());
        repr.views.origin = u64::MAX;
        assert!(Store::try_from(repr).is_err());
        // A cycle in a chain (corrupt links) ends the walk instead of looping.
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].touches[0].prev = 1;
        repr.views.chunks[0].touches[1].prev = 0;
        let mut cyclic = Store::try_from(repr).unwrap();
        let k = cyclic.find_slot(2, 3).unwrap();
        out.clear();
        cyclic.collect(k, 12, 100, 100, 0, 10, &mut out);
        assert!(out.len() <= 2);
        let mut repr = StoreRepr::from(s);
        let used = *repr.keys.iter().find(|k| k.adv != FREE).unwrap();
        let spare = repr.keys.iter().position(|k| k.adv == FREE).unwrap();
        repr.keys[spare] = used;
        assert!(Store::try_from(repr).is_err(), "a key stored twice");
    }
}
