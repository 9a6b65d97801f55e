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
//! - A key's slot holds its identity, interned advertiser and the newest view and click;
//!   each touch links to the key's previous touch of the same kind (arrival order), so a
//!   conversion walks only its own key's touches, newest first.
//! - Eviction drops a front chunk once its newest touch is older than the horizon: no
//!   per-touch work, no per-key work. Key slots and impression-index entries that point
//!   only at dropped chunks are *stale*: they are recognized by a range check, skipped,
//!   and removed by a sequential scan once enough touches were evicted (amortized O(1)).
//! - The impression index (`HashTable<u32>`, 5 bytes per bucket) maps an impression id to
//!   its view by reference; the id itself is read from the arena on the rare full-hash
//!   match, so the index stores no key.

use crate::model::{CLICK, Touch, VIEW};
use ahash::RandomState;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

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
            if let Some(c) = self.chunks.back_mut() {
                c.touches.shrink_to_fit();
            }
            self.chunks.push_back(Chunk {
                base: time.saturating_sub(1 << 31),
                first: time,
                max: time,
                dropped: 0,
                touches: Vec::with_capacity(64),
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

    /// `true` when the next push could need a reference past [`REF_LIMIT`].
    #[inline]
    fn needs_rebase(&self, limit: u64) -> bool {
        self.end() + CHUNK - self.origin >= limit
    }

    /// Drops the front chunk; returns (touches, of which already counted as dropped).
    fn pop_front(&mut self) -> Option<(u64, u64)> {
        let c = self.chunks.pop_front()?;
        self.front += 1;
        let n = c.touches.len() as u64;
        self.len -= n;
        Some((n, u64::from(c.dropped)))
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
        touches + (self.chunks.capacity() * std::mem::size_of::<Chunk>()) as u64
    }
}

/// One (identity, advertiser) key: 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    identity: [u32; 2],
    /// Interned advertiser index, or [`FREE`].
    adv: u32,
    /// Newest view and click references.
    view: u32,
    click: u32,
}

impl Slot {
    #[inline]
    fn identity(&self) -> u64 {
        u64::from(self.identity[0]) | u64::from(self.identity[1]) << 32
    }
}

/// The touch store (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "StoreRepr", try_from = "StoreRepr")]
pub(crate) struct Store {
    views: Arena,
    clicks: Arena,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// (identity, advertiser) → slot.
    keys: HashTable<u32>,
    /// Impression id → view reference (stale entries allowed, skipped by range check).
    imps: HashTable<u32>,
    hasher: RandomState,
    /// Touches evicted since the last scan for stale key slots.
    evicted_since_scan: u64,
    /// Touches dropped by a forced rebase (not yet reported).
    pub(crate) forced_drops: u64,
    ref_limit: u64,
}

#[inline]
fn hash_imp(h: &RandomState, imp: u64) -> u64 {
    h.hash_one(imp)
}

#[inline]
fn hash_key(h: &RandomState, identity: u64, adv: u32) -> u64 {
    h.hash_one((identity, adv))
}

impl Store {
    /// An empty store sealing view chunks past `view_span_ms` and click chunks past
    /// `click_span_ms` of event time.
    pub(crate) fn new(view_span_ms: i64, click_span_ms: i64) -> Store {
        let mut s = Store {
            views: Arena::default(),
            clicks: Arena::default(),
            slots: Vec::new(),
            free: Vec::new(),
            keys: HashTable::new(),
            imps: HashTable::new(),
            hasher: RandomState::new(),
            evicted_since_scan: 0,
            forced_drops: 0,
            ref_limit: REF_LIMIT,
        };
        s.set_spans(view_span_ms, click_span_ms);
        s
    }

    /// Sets the chunk spans (they come from the configuration, which is not persisted).
    pub(crate) fn set_spans(&mut self, view_span_ms: i64, click_span_ms: i64) {
        self.views.span_ms = view_span_ms.max(1);
        self.clicks.span_ms = click_span_ms.max(1);
    }

    /// Lowers the rebase threshold (tests exercise rebasing with small streams).
    #[cfg(test)]
    pub(crate) fn set_ref_limit(&mut self, limit: u64) {
        self.ref_limit = limit.clamp(4 * CHUNK, REF_LIMIT);
    }

    /// The stored, non-dropped view of impression `imp`.
    #[inline]
    pub(crate) fn find_view(&self, imp: u64) -> Option<Loaded> {
        let views = &self.views;
        let r = *self.imps.find(hash_imp(&self.hasher, imp), |&r| {
            views
                .get(r)
                .is_some_and(|t| t.impression == imp && t.campaign != DROPPED)
        })?;
        views.get(r)
    }

    /// The slot of key (identity, advertiser index), if stored.
    #[inline]
    pub(crate) fn find_slot(&self, identity: u64, adv: u32) -> Option<u32> {
        let slots = &self.slots;
        self.keys
            .find(hash_key(&self.hasher, identity, adv), |&s| {
                let x = &slots[s as usize];
                x.adv == adv && x.identity() == identity
            })
            .copied()
    }

    /// The slot of key (identity, advertiser index), created if missing.
    #[inline]
    pub(crate) fn slot_for(&mut self, identity: u64, adv: u32) -> u32 {
        let h = hash_key(&self.hasher, identity, adv);
        let Store {
            slots,
            keys,
            free,
            hasher,
            ..
        } = self;
        let entry = keys.entry(
            h,
            |&s| {
                let x = &slots[s as usize];
                x.adv == adv && x.identity() == identity
            },
            |&s| {
                let x = &slots[s as usize];
                hash_key(hasher, x.identity(), x.adv)
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => *o.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let slot = Slot {
                    identity: [identity as u32, (identity >> 32) as u32],
                    adv,
                    view: NONE,
                    click: NONE,
                };
                let s = match free.pop() {
                    Some(s) => {
                        slots[s as usize] = slot;
                        s
                    }
                    None => {
                        slots.push(slot);
                        (slots.len() - 1) as u32
                    }
                };
                v.insert(s);
                s
            }
        }
    }

    /// Stores a view of impression `imp` for `slot` (the caller checked it is not stored).
    pub(crate) fn add_view(&mut self, slot: u32, time: i64, imp: u64, campaign: u32) {
        if self.views.needs_rebase(self.ref_limit) {
            self.rebase_views();
        }
        let s = &mut self.slots[slot as usize];
        let r = self.views.push(time, imp, campaign, s.view, slot);
        s.view = r;
        if self.imps.len() == self.imps.capacity() {
            // About to grow: drop stale entries first, it may leave room.
            self.clean_imps();
        }
        let views = &self.views;
        let hasher = &self.hasher;
        self.imps.insert_unique(hash_imp(hasher, imp), r, |&r| {
            // Stale entries hash anywhere: they never match and are cleaned out.
            views.get(r).map_or(0, |t| hash_imp(hasher, t.impression))
        });
    }

    /// Stores a click on impression `imp` for `slot`.
    pub(crate) fn add_click(&mut self, slot: u32, time: i64, imp: u64, campaign: u32) {
        if self.clicks.needs_rebase(self.ref_limit) {
            self.rebase_clicks();
        }
        let s = &mut self.slots[slot as usize];
        s.click = self.clicks.push(time, imp, campaign, s.click, slot);
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
        let s = self.slots[slot as usize];
        let mut dropped = walk(&mut self.views, s.view, c, view_w, lateness, cap, VIEW, out);
        dropped += walk(
            &mut self.clicks,
            s.click,
            c,
            click_w,
            lateness,
            cap,
            CLICK,
            out,
        );
        dropped
    }

    /// Drops chunks whose newest view is older than `view_h` / newest click older than
    /// `click_h`; returns the touches evicted (not counting ones dropped earlier).
    pub(crate) fn evict(&mut self, view_h: i64, click_h: i64) -> u64 {
        let mut evicted = 0;
        for (arena, h) in [(&mut self.views, view_h), (&mut self.clicks, click_h)] {
            while arena.chunks.front().is_some_and(|c| c.max < h) {
                if let Some((n, d)) = arena.pop_front() {
                    evicted += n - d;
                }
            }
        }
        if evicted > 0 {
            self.evicted_since_scan += evicted;
            let live = self.views.len;
            if self.imps.len() as u64 > live + live / 4 + 1024 {
                self.clean_imps();
            }
            let in_use = (self.slots.len() - self.free.len()) as u64;
            if self.evicted_since_scan >= in_use.max(1024) {
                self.scan_slots();
            }
        }
        evicted
    }

    /// Removes impression-index entries of dropped chunks (a range check per entry, no
    /// arena access); shrinks the table when it is mostly empty.
    fn clean_imps(&mut self) {
        let views = &self.views;
        self.imps.retain(|&mut r| views.is_live(r));
        if self.imps.capacity() > 4 * self.imps.len() + 1024 {
            let hasher = &self.hasher;
            self.imps.shrink_to(2 * self.imps.len(), |&r| {
                views.get(r).map_or(0, |t| hash_imp(hasher, t.impression))
            });
        }
    }

    /// Frees key slots whose touches were all evicted (one sequential pass over the slots).
    fn scan_slots(&mut self) {
        self.evicted_since_scan = 0;
        for i in 0..self.slots.len() {
            let s = self.slots[i];
            if s.adv == FREE || self.views.is_live(s.view) || self.clicks.is_live(s.click) {
                continue;
            }
            let h = hash_key(&self.hasher, s.identity(), s.adv);
            if let Ok(e) = self.keys.find_entry(h, |&x| x as usize == i) {
                e.remove();
            }
            self.slots[i].adv = FREE;
            self.free.push(i as u32);
        }
        if self.keys.capacity() > 4 * self.keys.len() + 1024 {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.keys.shrink_to(2 * self.keys.len(), |&s| {
                let x = &slots[s as usize];
                hash_key(hasher, x.identity(), x.adv)
            });
        }
    }

    fn rebase_views(&mut self) {
        let map = self.views.rebase();
        for s in &mut self.slots {
            s.view = map(s.view);
        }
        self.imps.retain(|r| {
            *r = map(*r);
            *r != NONE
        });
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
        for s in &mut self.slots {
            s.click = map(s.click);
        }
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

    /// Keys in use.
    pub(crate) fn keys(&self) -> u64 {
        (self.slots.len() - self.free.len()) as u64
    }

    /// Heap bytes by capacity: arenas, slots, free list, key table and impression index.
    pub(crate) fn bytes(&self) -> u64 {
        fn table_bytes<T>(t: &HashTable<T>) -> u64 {
            let cap = t.capacity() as u64;
            if cap == 0 {
                return 0;
            }
            // hashbrown: buckets are a power of two at most 8/7 of the capacity; one control
            // byte per bucket plus one group of 16.
            let buckets = (cap * 8 / 7).max(4).next_power_of_two();
            buckets * (std::mem::size_of::<T>() as u64 + 1) + 16
        }
        self.views.bytes()
            + self.clicks.bytes()
            + (self.slots.capacity() * std::mem::size_of::<Slot>()) as u64
            + (self.free.capacity() * 4) as u64
            + table_bytes(&self.keys)
            + table_bytes(&self.imps)
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

    /// The largest advertiser index a key slot refers to (for state validation).
    pub(crate) fn max_advertiser(&self) -> Option<u32> {
        self.slots
            .iter()
            .map(|s| s.adv)
            .filter(|&a| a != FREE)
            .max()
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
        if t.time <= c && c - t.time <= window {
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
    slots: Vec<Slot>,
    free: Vec<u32>,
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
            slots: s.slots,
            free: s.free,
        }
    }
}

impl TryFrom<StoreRepr> for Store {
    type Error = &'static str;

    /// Validates every index and rebuilds the key table and the impression index.
    fn try_from(r: StoreRepr) -> Result<Store, &'static str> {
        let n_slots = r.slots.len();
        let arena = |a: ArenaRepr| -> Result<Arena, &'static str> {
            if a.front >= 1 << 40 || a.origin > a.front << CHUNK_SHIFT {
                return Err("touch arena position out of range");
            }
            let mut len = 0;
            for c in &a.chunks {
                if c.touches.len() as u64 > CHUNK
                    || c.touches.iter().any(|t| t.slot as usize >= n_slots)
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
            };
            if arena.end() - arena.origin >= REF_LIMIT {
                return Err("touch arena references out of range");
            }
            Ok(arena)
        };
        let mut s = Store::new(1, 1);
        s.views = arena(r.views)?;
        s.clicks = arena(r.clicks)?;
        s.slots = r.slots;
        s.free = r.free;
        if s.free
            .iter()
            .any(|&f| s.slots.get(f as usize).is_none_or(|x| x.adv != FREE))
            || s.slots.iter().filter(|x| x.adv == FREE).count() != s.free.len()
        {
            return Err("free key slots inconsistent");
        }
        for i in 0..s.slots.len() {
            let x = s.slots[i];
            if x.adv == FREE {
                continue;
            }
            if s.find_slot(x.identity(), x.adv).is_some() {
                return Err("key stored twice");
            }
            let h = hash_key(&s.hasher, x.identity(), x.adv);
            let (slots, hasher) = (&s.slots, &s.hasher);
            s.keys.insert_unique(h, i as u32, |&j| {
                let y = &slots[j as usize];
                hash_key(hasher, y.identity(), y.adv)
            });
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
        for r in refs {
            let Some(t) = s.views.get(r) else { continue };
            if s.find_view(t.impression).is_some() {
                continue; // the first stored wins, as on ingest
            }
            let (views, hasher) = (&s.views, &s.hasher);
            s.imps
                .insert_unique(hash_imp(hasher, t.impression), r, |&x| {
                    views.get(x).map_or(0, |t| hash_imp(hasher, t.impression))
                });
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
        assert_eq!(std::mem::size_of::<Slot>(), 20);
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
        assert!(s.find_view(5).is_none());
        assert!(s.find_view(1 << 40).is_some());
        let mut out = Vec::new();
        assert_eq!(s.collect(k, 1_101, 10_000, 10_000, 0, 100, &mut out), 0);
        assert_eq!(out.len(), 1, "the chain ends at the dropped chunk");
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
        let k = s.slot_for(1, 0);
        let other = s.slot_for(2, 0);
        for i in 0..10 {
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
        let keys: Vec<u32> = (0..5).map(|i| s.slot_for(i, 1)).collect();
        let n = 40 * CHUNK;
        for i in 0..n {
            let t = i as i64;
            s.add_view(keys[(i % 5) as usize], t, i, 0);
            if i % 2 == 0 {
                s.add_click(keys[(i % 5) as usize], t, i, 0);
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
        s.collect(
            keys[(last % 5) as usize],
            t,
            1_000,
            1_000,
            0,
            1 << 20,
            &mut out,
        );
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
        let a = s.slot_for(1, 0);
        let b = s.slot_for(2, 3);
        s.add_view(a, 10, 1, 0);
        s.add_view(b, 11, 2, 1);
        s.add_click(a, 12, 1, 0);
        let json = serde_json::to_string(&s).unwrap();
        let back: Store = serde_json::from_str(&json).unwrap();
        assert_eq!(back.find_view(2).map(|v| v.slot), Some(b));
        assert_eq!(back.find_slot(1, 0), Some(a));
        let mut out = Vec::new();
        let mut back = back;
        back.collect(a, 12, 100, 100, 0, 10, &mut out);
        assert_eq!(out.len(), 2);
        let mut repr = StoreRepr::from(s.clone());
        repr.views.chunks[0].touches[0].slot = 99;
        assert!(Store::try_from(repr).is_err());
        let mut repr = StoreRepr::from(s);
        repr.free.push(0);
        assert!(Store::try_from(repr).is_err());
    }
}
