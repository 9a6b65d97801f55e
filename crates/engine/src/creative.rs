//! Creative decisioning: which variant of a campaign fits this request and slot, which of
//! those to show (rotation), and what each variant delivered.
//!
//! # Eligibility
//! A variant ([`Creative`]) fits when its format is the slot's, its duration fits the slot
//! (at most the slot's — possibly ad-load-shortened — length and one of its required
//! durations), the request's `geo.country` is one of its markets and its
//! `content.language` (else, when the content's language is not given,
//! `device.language`) one of its languages (an empty list allows all), and its optional
//! targeting expression is true for the request. Markets and languages are dictionary
//! encoded at publish (a country under both its ISO 3166-1 alpha-2 and alpha-3 codes),
//! and the request's country and language are encoded once per decision.
//!
//! Each campaign of 2 to [`INDEXED_VARIANTS`] variants keeps an index: one bit per
//! variant in masks by format, by video length, by market code (plus the variants with no
//! market), by language code (plus those with none) and of the targeted variants. A
//! choice intersects the slot's and the request's masks — a few word operations and
//! two lookups in tables of the campaign's own codes, instead of checking every variant
//! — then evaluates only the eligible variants' targeting expressions, and draws over
//! the eligible mask (when every variant is eligible, a binary search over running
//! sums). Other campaigns check each variant; that scan is also the reference the
//! index is tested against.
//!
//! # Rotation
//! Among the fitting variants, [`Rotation`] chooses with one seeded draw per (request,
//! campaign): `even` uniformly, `weighted` by each creative's weight, `sequential` the
//! household's next variant of the storyline (the one after the last it saw, in list
//! order), `optimized` by the bandit's shares. The optimized shares are Thompson
//! sampling in batch form (randomized probability matching): at each tick, for every
//! optimized campaign whose counts moved, [`THOMPSON_DRAWS`] joint draws from the
//! variants' Beta posteriors estimate each variant's probability of being the best, and
//! the share is `(1 − floor) · P(best) + floor / n`. Choosing a variant with probability
//! `P(best)` is exactly what per-request Thompson sampling does in expectation, at the
//! cost of a weighted draw over integers on the decide path instead of one Beta sample
//! per variant (two gamma samples each: about 1 µs for 20 variants). Posteriors use an
//! empirical-Bayes prior centred on the campaign's pooled rate (strength
//! [`PRIOR_STRENGTH`]). Successes are clicks (`ctr` goal) or attributed conversions
//! (`cvr`), per impression.
//!
//! # Feedback per variant
//! Impressions are counted on record. A click names its impression: a ring of recent
//! impressions (`impression id → variant`, one word per slot) finds its variant. A
//! conversion's credits name campaigns; within a campaign the credit goes to the variant
//! of the household's latest touch of that campaign, kept in a bounded map swept after
//! its time-to-live. Both are approximations documented in `docs/engine.md`: a click
//! older than the ring's horizon, or a conversion after the touch's time-to-live, counts
//! for the campaign but for no variant.
//!
//! # Synchronization
//! Every atomic here is a self-contained counter or value; nothing is published through
//! one, so all are `Relaxed`:
//! - `VariantStats::{impressions, clicks, conversions_micro, value_micros}`: `fetch_add`
//!   on record and tick, loads for reports and the bandit;
//! - `VariantStats::weight`: the bandit's share in units of 2⁻²⁴, stored by tick, loaded by
//!   decide. A decision racing a tick may mix old and new weights of one campaign: each is
//!   a valid weight, so the draw is still over eligible variants only; the same for
//!   `Creatives::{weights, cumulative_weights}` (the campaign's copy and its running sums,
//!   stored beside each share): mixed sums may not ascend, and the binary search over
//!   them, used only when every variant is eligible, still ends on a variant;
//! - `RotationState::computed_at`: the campaign's impression total when shares were last
//!   computed (tick only);
//! - the click ring's words, `impression tag (32) | variant number (32)`, one `store` per
//!   impression and one `load` per click, so a slot is never read half-written;
//! - the touch map's words, `variant number (32) | seconds since the epoch (32)`.

use crate::campaign::{Creative, Format, Rotation, RotationGoal};
use crate::decide::mix64;
use adloop_core::{CampaignId, CreativeId, Money, Timestamp};
use adloop_targeting::{Expr, Request};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use smallvec::SmallVec;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Joint posterior draws per tick to estimate each variant's probability of being best.
pub const THOMPSON_DRAWS: u32 = 512;
/// Strength (pseudo-impressions) of the prior centred on the campaign's pooled rate.
pub const PRIOR_STRENGTH: f64 = 10.0;
/// One share in the weights the decide path draws from.
const SHARE_ONE: f64 = (1u32 << 24) as f64;

/// A variant's delivery and outcomes, shared by every snapshot that holds it (keyed by
/// campaign and creative id, so a publish keeps its counts).
#[derive(Debug)]
pub(crate) struct VariantStats {
    /// Dense number (from 1) naming the variant in the click ring and the touch map.
    pub(crate) number: u32,
    pub(crate) campaign: CampaignId,
    pub(crate) creative: CreativeId,
    pub(crate) impressions: AtomicU64,
    pub(crate) clicks: AtomicU64,
    /// Attributed conversions × 10⁶ (credits are fractional).
    pub(crate) conversions_micro: AtomicU64,
    pub(crate) value_micros: AtomicI64,
    /// The bandit's share × 2²⁴ (0 before the first computation).
    pub(crate) weight: AtomicU32,
}

impl VariantStats {
    pub(crate) fn new(number: u32, campaign: CampaignId, creative: CreativeId) -> Self {
        VariantStats {
            number,
            campaign,
            creative,
            impressions: AtomicU64::new(0),
            clicks: AtomicU64::new(0),
            conversions_micro: AtomicU64::new(0),
            value_micros: AtomicI64::new(0),
            weight: AtomicU32::new(0),
        }
    }

    fn successes(&self, goal: RotationGoal) -> f64 {
        // Relaxed: counters (module docs).
        match goal {
            RotationGoal::Ctr => self.clicks.load(Ordering::Relaxed) as f64,
            RotationGoal::Cvr => self.conversions_micro.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    /// Credits `credit` of a conversion worth `value` to this variant.
    pub(crate) fn credit(&self, credit: f64, value: Option<Money>) {
        let credit = credit.clamp(0.0, 1.0);
        // Relaxed: counters (module docs).
        self.conversions_micro
            .fetch_add((credit * 1e6).round() as u64, Ordering::Relaxed);
        if let Some(v) = value {
            // The one place a conversion value is split by a fractional credit: rounded
            // to the nearest micro.
            let share = (v.micros() as f64 * credit).round() as i64;
            self.value_micros.fetch_add(share, Ordering::Relaxed);
        }
    }
}

/// Campaign-level rotation state that survives publishes.
#[derive(Debug, Default)]
pub(crate) struct RotationState {
    computed_at: AtomicU64,
}

/// What the eligibility scan reads of each variant, packed (40 bytes) and contiguous so 20
/// variants take a few cache lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hot {
    pub(crate) id: CreativeId,
    duration_s: u32,
    weight: u32,
    format: Format,
    /// Lists markets, languages or targeting.
    restricted: bool,
    /// Has a targeting expression (checked on the cold [`Variant`]).
    targeted: bool,
    /// Market and language code sets, one bit per code id modulo 64 (`0`: unrestricted);
    /// exact for ids below 64, a filter above (then the cold list decides).
    market_bits: u64,
    language_bits: u64,
}

/// Whether code `code` may be in a set with `bits` (see [`Hot`]); `exact` checks the list.
#[inline]
fn code_fits(bits: u64, code: u16, exact: impl FnOnce() -> bool) -> bool {
    bits == 0 || (code != u16::MAX && bits & (1 << (code & 63)) != 0 && (code < 64 || exact()))
}

fn code_bits(codes: &[u16]) -> u64 {
    codes
        .iter()
        .filter(|c| **c != u16::MAX)
        .fold(0, |bits, c| bits | 1 << (c & 63))
}

/// A creative compiled for the decide path (the cold part; see [`Hot`]).
#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) id: CreativeId,
    pub(crate) format: Format,
    pub(crate) duration_s: u32,
    weight: u32,
    markets: SmallVec<[u16; 4]>,
    languages: SmallVec<[u16; 2]>,
    targeting: Option<Box<Expr>>,
    pub(crate) stats: Arc<VariantStats>,
}

/// The slot a creative must fit: format, longest duration, required durations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot<'a> {
    pub(crate) format: Format,
    /// Longest video that fits (`u32::MAX`: no limit).
    pub(crate) max_s: u32,
    pub(crate) required: &'a [u32],
}

impl Slot<'_> {
    /// Whether a creative of `format` lasting `duration_s` fits: the slot's format and, for
    /// video, no longer than the slot and one of its required durations (if it has any).
    #[inline]
    pub(crate) fn admits(&self, format: Format, duration_s: u32) -> bool {
        format == self.format
            && (format == Format::Display
                || (duration_s <= self.max_s
                    && (self.required.is_empty() || self.required.contains(&duration_s))))
    }
}

/// The request's market and language as dictionary codes (`u16::MAX`: absent or unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) country: u16,
    pub(crate) language: u16,
}

impl Facts {
    pub(crate) const NONE: Facts = Facts {
        country: u16::MAX,
        language: u16::MAX,
    };
}

/// Market and language codes of one snapshot: each code (at most [`MAX_CODE_LEN`]
/// bytes) packed into a `u64` — countries upper-case with a tag bit, languages lower-case
/// — in a sorted table, so a request's value is encoded by a binary search, without
/// hashing or allocating.
///
/// A country listed by its ISO 3166-1 alpha-2 code (`"US"`, as creatives usually list
/// markets) is entered under its alpha-3 code (`"USA"`, as OpenRTB's `geo.country` gives
/// it) too, and the other way round, with the same id.
#[derive(Debug, Default)]
pub(crate) struct Codes {
    sorted: Vec<(u64, u16)>,
    /// Ids given so far.
    ids: u16,
}

/// ISO 3166-1 countries, alpha-2 then alpha-3, sorted by alpha-2 (from the iso-codes
/// database): a market listed either way matches a request giving the other.
const COUNTRIES: &str = concat!(
    "ADANDAEAREAFAFGAGATGAIAIAALALBAMARMAOAGOAQATAARARGASASMATAUTAUAUSAWABWAXALAAZAZE",
    "BABIHBBBRBBDBGDBEBELBFBFABGBGRBHBHRBIBDIBJBENBLBLMBMBMUBNBRNBOBOLBQBESBRBRABSBHS",
    "BTBTNBVBVTBWBWABYBLRBZBLZCACANCCCCKCDCODCFCAFCGCOGCHCHECICIVCKCOKCLCHLCMCMRCNCHN",
    "COCOLCRCRICUCUBCVCPVCWCUWCXCXRCYCYPCZCZEDEDEUDJDJIDKDNKDMDMADODOMDZDZAECECUEEEST",
    "EGEGYEHESHERERIESESPETETHFIFINFJFJIFKFLKFMFSMFOFROFRFRAGAGABGBGBRGDGRDGEGEOGFGUF",
    "GGGGYGHGHAGIGIBGLGRLGMGMBGNGINGPGLPGQGNQGRGRCGSSGSGTGTMGUGUMGWGNBGYGUYHKHKGHMHMD",
    "HNHNDHRHRVHTHTIHUHUNIDIDNIEIRLILISRIMIMNININDIOIOTIQIRQIRIRNISISLITITAJEJEYJMJAM",
    "JOJORJPJPNKEKENKGKGZKHKHMKIKIRKMCOMKNKNAKPPRKKRKORKWKWTKYCYMKZKAZLALAOLBLBNLCLCA",
    "LILIELKLKALRLBRLSLSOLTLTULULUXLVLVALYLBYMAMARMCMCOMDMDAMEMNEMFMAFMGMDGMHMHLMKMKD",
    "MLMLIMMMMRMNMNGMOMACMPMNPMQMTQMRMRTMSMSRMTMLTMUMUSMVMDVMWMWIMXMEXMYMYSMZMOZNANAM",
    "NCNCLNENERNFNFKNGNGANINICNLNLDNONORNPNPLNRNRUNUNIUNZNZLOMOMNPAPANPEPERPFPYFPGPNG",
    "PHPHLPKPAKPLPOLPMSPMPNPCNPRPRIPSPSEPTPRTPWPLWPYPRYQAQATREREUROROURSSRBRURUSRWRWA",
    "SASAUSBSLBSCSYCSDSDNSESWESGSGPSHSHNSISVNSJSJMSKSVKSLSLESMSMRSNSENSOSOMSRSURSSSSD",
    "STSTPSVSLVSXSXMSYSYRSZSWZTCTCATDTCDTFATFTGTGOTHTHATJTJKTKTKLTLTLSTMTKMTNTUNTOTON",
    "TRTURTTTTOTVTUVTWTWNTZTZAUAUKRUGUGAUMUMIUSUSAUYURYUZUZBVAVATVCVCTVEVENVGVGBVIVIR",
    "VNVNMVUVUTWFWLFWSWSMYEYEMYTMYTZAZAFZMZMBZWZWE",
);

/// The other ISO 3166-1 code of `code` (alpha-3 for alpha-2 and back), any case.
fn country_alias(code: &str) -> Option<&'static str> {
    let code = code.to_ascii_uppercase();
    (0..COUNTRIES.len() / 5)
        .map(|i| {
            (
                &COUNTRIES[i * 5..i * 5 + 2],
                &COUNTRIES[i * 5 + 2..i * 5 + 5],
            )
        })
        .find_map(|(alpha2, alpha3)| match code.len() {
            2 if alpha2 == code => Some(alpha3),
            3 if alpha3 == code => Some(alpha2),
            _ => None,
        })
}

/// Longest market or language code accepted, in bytes.
pub(crate) const MAX_CODE_LEN: usize = 8;

fn pack_code(value: &str, country: bool) -> Option<u64> {
    if value.is_empty() || value.len() > MAX_CODE_LEN {
        return None;
    }
    let mut word = 0u64;
    for c in value.bytes() {
        let c = if country {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        word = word << 8 | u64::from(c);
    }
    // Bit 63 is never set by ASCII codes shorter than 8 bytes… nor by 8-byte ones, whose
    // first byte is below 0x80: it tags countries apart from languages.
    Some(word ^ u64::from(country) << 63)
}

impl Codes {
    fn intern(&mut self, code: &str, country: bool) -> u16 {
        let Some(key) = pack_code(code, country) else {
            return u16::MAX;
        };
        match self.sorted.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => self.sorted[i].1,
            Err(i) => {
                let id = self.ids.min(u16::MAX - 1);
                self.ids = self.ids.saturating_add(1);
                self.sorted.insert(i, (key, id));
                if let Some(alias) = country.then(|| country_alias(code)).flatten()
                    && let Some(key) = pack_code(alias, true)
                    && let Err(i) = self.sorted.binary_search_by_key(&key, |e| e.0)
                {
                    self.sorted.insert(i, (key, id));
                }
                id
            }
        }
    }

    /// Encodes a request's value (`u16::MAX` when unknown).
    fn lookup(&self, value: &str, country: bool) -> u16 {
        pack_code(value, country)
            .and_then(|key| {
                self.sorted
                    .binary_search_by_key(&key, |e| e.0)
                    .ok()
                    .map(|i| self.sorted[i].1)
            })
            .unwrap_or(u16::MAX)
    }

    /// Encodes the request's market, its first string `geo.country`, and its language,
    /// the first string `content.language`, else (content language not given)
    /// `device.language`; one pass over the request's attributes.
    pub(crate) fn facts(&self, attributes: &Request) -> Facts {
        let (mut country, mut content, mut device) = (None, None, None);
        for (name, mut values) in attributes.attributes() {
            // Lengths first: most attributes are none of these, and differ in length.
            let slot = match name.len() {
                11 if name == "geo.country" => &mut country,
                16 if name == "content.language" => &mut content,
                15 if name == "device.language" => &mut device,
                _ => continue,
            };
            *slot = values.find_map(|v| match v {
                adloop_targeting::ValueRef::Str(s) => Some(s),
                _ => None,
            });
        }
        Facts {
            country: country.map_or(u16::MAX, |c| self.lookup(c, true)),
            language: content
                .or(device)
                .map_or(u16::MAX, |l| self.lookup(l, false)),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.sorted.capacity() * std::mem::size_of::<(u64, u16)>()
    }
}

/// A campaign's variants and rotation, as the decide path reads them.
#[derive(Debug)]
pub(crate) struct Creatives {
    hot: Box<[Hot]>,
    /// The bandit's shares (× 2²⁴), contiguous for the draw; copied from and written
    /// beside each variant's `VariantStats::weight`.
    weights: Box<[AtomicU32]>,
    /// Running sums of `weights`, written beside them by tick, so a draw over every
    /// variant is a binary search (optimized rotation only; else empty).
    cumulative_weights: Box<[AtomicU64]>,
    pub(crate) variants: Box<[Variant]>,
    /// Running sums of the static weights (weighted rotation's draw).
    cumulative: Box<[u64]>,
    /// The one format of every variant (`None`: mixed formats).
    single_format: Option<Format>,
    /// The longest variant.
    max_video_s: u32,
    pub(crate) rotation: Rotation,
    /// Whether any variant has markets, languages or targeting (else the request's facts
    /// are not needed).
    pub(crate) restricted: bool,
    pub(crate) state: Arc<RotationState>,
    /// The variants by what decides their fit, as bit masks: for 2 to
    /// [`INDEXED_VARIANTS`] variants (else `choose` checks each; boxed, so campaigns
    /// without one stay small).
    index: Option<Box<Index>>,
    /// Each variant's dense number (`VariantStats::number`), contiguous for the storyline.
    numbers: Box<[u32]>,
}

/// Most variants a campaign's [`Index`] covers (one bit each in a `u64`).
pub(crate) const INDEXED_VARIANTS: usize = 64;

/// A campaign's variants indexed by format, duration, market and language: bit `i` of
/// each mask is variant `i`. `choose` intersects the masks for the slot and the
/// request's facts instead of checking every variant, then evaluates only the
/// eligible variants' targeting expressions.
#[derive(Debug, Default)]
struct Index {
    /// Every variant.
    all: u64,
    /// Display variants (their duration is not checked).
    display: u64,
    /// Video variants.
    video: u64,
    /// The longest video variant.
    video_max_s: u32,
    /// Variants with no market restriction, with no language restriction.
    any_market: u64,
    any_language: u64,
    /// Variants with a targeting expression.
    targeted: u64,
    /// Video variants by duration: `(seconds, variants of exactly that length)`,
    /// ascending.
    durations: Box<[(u32, u64)]>,
    /// `(code, variants listing it)`, sorted by code: markets then languages, split at
    /// `languages_at`.
    codes: Box<[(u16, u64)]>,
    languages_at: usize,
}

/// The variants of `table` (sorted by code) that list `code`.
#[inline]
fn listing(table: &[(u16, u64)], code: u16) -> u64 {
    if code == u16::MAX {
        return 0;
    }
    // Tables are short (a few codes per campaign): a linear pass beats a binary search.
    if table.len() <= 8 {
        table.iter().find(|e| e.0 == code).map_or(0, |e| e.1)
    } else {
        table
            .binary_search_by_key(&code, |e| e.0)
            .map_or(0, |i| table[i].1)
    }
}

/// The `k`-th (from 0) set bit of `mask`; `mask` has more than `k` bits set.
#[inline]
fn nth_bit(mut mask: u64, k: u32) -> usize {
    for _ in 0..k {
        mask &= mask - 1;
    }
    mask.trailing_zeros() as usize
}

impl Index {
    /// Indexes `variants` (at most [`INDEXED_VARIANTS`]).
    fn new(variants: &[Variant]) -> Index {
        debug_assert!(variants.len() <= INDEXED_VARIANTS);
        let mut ix = Index::default();
        let mut durations: Vec<(u32, u64)> = Vec::new();
        let mut markets: Vec<(u16, u64)> = Vec::new();
        let mut languages: Vec<(u16, u64)> = Vec::new();
        let add = |table: &mut Vec<(u16, u64)>, code: u16, bit: u64| match table
            .binary_search_by_key(&code, |e| e.0)
        {
            Ok(i) => table[i].1 |= bit,
            Err(i) => table.insert(i, (code, bit)),
        };
        for (i, v) in variants.iter().enumerate() {
            let bit = 1u64 << i;
            ix.all |= bit;
            match v.format {
                Format::Display => ix.display |= bit,
                Format::Video => {
                    ix.video |= bit;
                    ix.video_max_s = ix.video_max_s.max(v.duration_s);
                    match durations.binary_search_by_key(&v.duration_s, |e| e.0) {
                        Ok(j) => durations[j].1 |= bit,
                        Err(j) => durations.insert(j, (v.duration_s, bit)),
                    }
                }
            }
            // As the scan's code sets: a list of only unknown codes restricts nothing
            // (validation never lets one through).
            let markets_known = v.markets.iter().filter(|c| **c != u16::MAX);
            if markets_known.clone().next().is_none() {
                ix.any_market |= bit;
            }
            for c in markets_known {
                add(&mut markets, *c, bit);
            }
            let languages_known = v.languages.iter().filter(|c| **c != u16::MAX);
            if languages_known.clone().next().is_none() {
                ix.any_language |= bit;
            }
            for c in languages_known {
                add(&mut languages, *c, bit);
            }
            if v.targeting.is_some() {
                ix.targeted |= bit;
            }
        }
        ix.durations = durations.into_boxed_slice();
        ix.languages_at = markets.len();
        markets.extend(languages);
        ix.codes = markets.into_boxed_slice();
        ix
    }

    /// The variants that fit `slot`, the request's `facts` and (for targeted variants)
    /// its `attributes`.
    #[inline]
    fn eligible(
        &self,
        variants: &[Variant],
        slot: &Slot<'_>,
        facts: Facts,
        attributes: &Request,
    ) -> u64 {
        let mut mask = match slot.format {
            Format::Display => self.display,
            Format::Video if self.video_max_s <= slot.max_s && slot.required.is_empty() => {
                self.video
            }
            Format::Video => self
                .durations
                .iter()
                .take_while(|(d, _)| *d <= slot.max_s)
                .filter(|(d, _)| slot.required.is_empty() || slot.required.contains(d))
                .fold(0, |m, (_, bits)| m | bits),
        };
        if mask & !self.any_market != 0 {
            mask &= self.any_market | listing(&self.codes[..self.languages_at], facts.country);
        }
        if mask & !self.any_language != 0 {
            mask &= self.any_language | listing(&self.codes[self.languages_at..], facts.language);
        }
        let mut targeted = mask & self.targeted;
        while targeted != 0 {
            let i = targeted.trailing_zeros() as usize;
            targeted &= targeted - 1;
            if !variants[i]
                .targeting
                .as_ref()
                .is_none_or(|e| e.matches(attributes))
            {
                mask &= !(1 << i);
            }
        }
        mask
    }
}

impl Creatives {
    /// Heap bytes of the compiled variants, their rotation arrays and index: what
    /// [`Engine::memory`](crate::Engine::memory) counts per campaign (the per-variant
    /// counters shared across snapshots and creative targeting expressions excluded).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::{size_of, size_of_val};
        let spilled = |v: &Variant| {
            (if v.markets.spilled() {
                size_of_val(&*v.markets)
            } else {
                0
            }) + if v.languages.spilled() {
                size_of_val(&*v.languages)
            } else {
                0
            }
        };
        size_of_val(&*self.hot)
            + size_of_val(&*self.weights)
            + size_of_val(&*self.cumulative_weights)
            + size_of_val(&*self.variants)
            + self.variants.iter().map(spilled).sum::<usize>()
            + size_of_val(&*self.cumulative)
            + size_of_val(&*self.numbers)
            + self.index.as_ref().map_or(0, |i| {
                size_of::<Index>() + size_of_val(&*i.durations) + size_of_val(&*i.codes)
            })
    }

    /// Compiles `creatives`; `stats` finds (or creates) each variant's surviving counters.
    pub(crate) fn compile(
        creatives: &[Creative],
        rotation: Rotation,
        state: Arc<RotationState>,
        codes: &mut Codes,
        mut stats: impl FnMut(CreativeId) -> Arc<VariantStats>,
    ) -> Result<Creatives, (usize, String)> {
        let mut variants = Vec::with_capacity(creatives.len());
        let mut restricted = false;
        for (i, c) in creatives.iter().enumerate() {
            let targeting = if c.targeting.trim().is_empty() {
                None
            } else {
                let e = adloop_targeting::parse(&c.targeting).map_err(|e| (i, e.to_string()))?;
                Some(Box::new(e))
            };
            restricted |= !c.markets.is_empty() || !c.languages.is_empty() || targeting.is_some();
            variants.push(Variant {
                id: c.id,
                format: c.format,
                duration_s: c.duration_s,
                weight: c.weight,
                markets: c.markets.iter().map(|m| codes.intern(m, true)).collect(),
                languages: c.languages.iter().map(|l| codes.intern(l, false)).collect(),
                targeting,
                stats: stats(c.id),
            });
        }
        let hot = variants
            .iter()
            .map(|v: &Variant| Hot {
                id: v.id,
                duration_s: v.duration_s,
                weight: v.weight,
                format: v.format,
                restricted: !v.markets.is_empty()
                    || !v.languages.is_empty()
                    || v.targeting.is_some(),
                targeted: v.targeting.is_some(),
                // Validated codes always intern to an id, so a listed set is never 0.
                market_bits: if v.markets.is_empty() {
                    0
                } else {
                    code_bits(&v.markets)
                },
                language_bits: if v.languages.is_empty() {
                    0
                } else {
                    code_bits(&v.languages)
                },
            })
            .collect();
        // Relaxed: a copy of the shares (module docs).
        let weights: Box<[AtomicU32]> = variants
            .iter()
            .map(|v| AtomicU32::new(v.stats.weight.load(Ordering::Relaxed)))
            .collect();
        let optimized = matches!(rotation, Rotation::Optimized { .. });
        let cumulative_weights = weights
            .iter()
            .take(if optimized { weights.len() } else { 0 })
            .scan(0u64, |sum, w| {
                // Relaxed: a copy of the shares (module docs).
                *sum += u64::from(w.load(Ordering::Relaxed));
                Some(AtomicU64::new(*sum))
            })
            .collect();
        let cumulative = variants
            .iter()
            .scan(0u64, |sum, v| {
                *sum += u64::from(v.weight);
                Some(*sum)
            })
            .collect();
        let single_format = variants
            .first()
            .map(|v| v.format)
            .filter(|f| variants.iter().all(|v| v.format == *f));
        let max_video_s = variants.iter().map(|v| v.duration_s).max().unwrap_or(0);
        let index = (2..=INDEXED_VARIANTS)
            .contains(&variants.len())
            .then(|| Box::new(Index::new(&variants)));
        let numbers = variants.iter().map(|v| v.stats.number).collect();
        Ok(Creatives {
            index,
            numbers,
            hot,
            weights,
            cumulative_weights,
            cumulative,
            single_format,
            max_video_s,
            variants: variants.into_boxed_slice(),
            rotation,
            restricted,
            state,
        })
    }

    /// The position of creative `id`.
    #[inline]
    pub(crate) fn position(&self, id: CreativeId) -> Option<usize> {
        self.hot.iter().position(|h| h.id == id)
    }

    /// Whether the variant at `i` fits the slot and the request.
    #[inline]
    fn fits(&self, i: usize, slot: &Slot<'_>, facts: Facts, attributes: &Request) -> bool {
        let h = &self.hot[i];
        slot.admits(h.format, h.duration_s)
            && (!h.restricted
                || (code_fits(h.market_bits, facts.country, || {
                    self.variants[i].markets.contains(&facts.country)
                }) && code_fits(h.language_bits, facts.language, || {
                    self.variants[i].languages.contains(&facts.language)
                }) && (!h.targeted
                    || self.variants[i]
                        .targeting
                        .as_ref()
                        .is_none_or(|e| e.matches(attributes)))))
    }

    /// Chooses the variant to show, or `None` when none fits.
    ///
    /// `draw` is the decision's seeded random word for this campaign; `last_shown` is the
    /// variant number the household saw last (sequential rotation only). Chooses exactly
    /// as [`Creatives::choose_by_scan`] does, from the index's eligible mask.
    #[inline]
    pub(crate) fn choose(
        &self,
        slot: &Slot<'_>,
        facts: Facts,
        attributes: &Request,
        draw: u64,
        last_shown: Option<u32>,
    ) -> Option<&Variant> {
        // Every variant fits when they share the slot's format, are unrestricted and short
        // enough: no mask needed.
        if !self.restricted
            && self.single_format == Some(slot.format)
            && (slot.format == Format::Display
                || (self.max_video_s <= slot.max_s && slot.required.is_empty()))
        {
            return self.variants.get(self.draw_all(draw, last_shown));
        }
        let Some(index) = &self.index else {
            return self.choose_by_scan(slot, facts, attributes, draw, last_shown);
        };
        let mask = index.eligible(&self.variants, slot, facts, attributes);
        let pick = if mask == index.all && mask != 0 {
            self.draw_all(draw, last_shown)
        } else {
            self.draw_among(mask, draw, last_shown)?
        };
        self.variants.get(pick)
    }

    /// The position after the household's last variant of the storyline (0 without one).
    #[inline]
    fn after(&self, last_shown: Option<u32>) -> usize {
        last_shown
            .and_then(|l| self.numbers.iter().position(|n| *n == l))
            .map_or(0, |i| i + 1)
    }

    /// The rotation's choice when every variant fits (the campaign has at least one).
    #[inline]
    fn draw_all(&self, draw: u64, last_shown: Option<u32>) -> usize {
        let n = self.variants.len();
        let uniform = |draw: u64| ((u128::from(draw) * n as u128) >> 64) as usize;
        match self.rotation {
            Rotation::Even => uniform(draw),
            Rotation::Sequential => self.after(last_shown) % n,
            Rotation::Weighted => {
                let total = self.cumulative[n - 1];
                if total == 0 {
                    uniform(draw)
                } else {
                    let target = ((u128::from(draw) * u128::from(total)) >> 64) as u64;
                    self.cumulative.partition_point(|&c| c <= target).min(n - 1)
                }
            }
            Rotation::Optimized { .. } => {
                // Relaxed: shares written by tick (module docs). A decision racing a tick
                // may read old and new sums, out of order: the search still ends on a
                // variant, and every variant is eligible here.
                let total = self.cumulative_weights[n - 1].load(Ordering::Relaxed);
                if total == 0 {
                    uniform(draw)
                } else {
                    let target = ((u128::from(draw) * u128::from(total)) >> 64) as u64;
                    self.cumulative_weights
                        .partition_point(|c| c.load(Ordering::Relaxed) <= target)
                        .min(n - 1)
                }
            }
        }
    }

    /// The rotation's choice among the variants of `mask` (`None` when it is empty).
    #[inline]
    fn draw_among(&self, mask: u64, draw: u64, last_shown: Option<u32>) -> Option<usize> {
        let count = mask.count_ones();
        if count <= 1 {
            return (count == 1).then_some(mask.trailing_zeros() as usize);
        }
        let weight = |i: usize| -> u64 {
            match self.rotation {
                Rotation::Even | Rotation::Sequential => 1,
                Rotation::Weighted => u64::from(self.hot[i].weight),
                // Relaxed: a share written by tick (module docs).
                Rotation::Optimized { .. } => u64::from(self.weights[i].load(Ordering::Relaxed)),
            }
        };
        let uniform = || nth_bit(mask, ((u128::from(draw) * u128::from(count)) >> 64) as u32);
        Some(match self.rotation {
            Rotation::Even => uniform(),
            Rotation::Sequential => {
                let next = self.after(last_shown);
                let later = if next >= 64 { 0 } else { mask & (!0 << next) };
                (if later != 0 { later } else { mask }).trailing_zeros() as usize
            }
            Rotation::Weighted | Rotation::Optimized { .. } => {
                let mut total = 0u64;
                let mut bits = mask;
                while bits != 0 {
                    total += weight(bits.trailing_zeros() as usize);
                    bits &= bits - 1;
                }
                if total == 0 {
                    // No weight yet (before the first tick, or all weights zero): uniform.
                    uniform()
                } else {
                    let mut target = ((u128::from(draw) * u128::from(total)) >> 64) as u64;
                    // The last eligible variant when a racing tick moved the weights.
                    let mut chosen = 63 - mask.leading_zeros() as usize;
                    let mut bits = mask;
                    while bits != 0 {
                        let i = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let w = weight(i);
                        if target < w {
                            chosen = i;
                            break;
                        }
                        target -= w;
                    }
                    chosen
                }
            }
        })
    }

    /// Chooses as [`Creatives::choose`] does by checking every variant's fit: the path
    /// for campaigns without an index (one variant, or more than [`INDEXED_VARIANTS`]),
    /// and the reference the index is tested against.
    pub(crate) fn choose_by_scan(
        &self,
        slot: &Slot<'_>,
        facts: Facts,
        attributes: &Request,
        draw: u64,
        last_shown: Option<u32>,
    ) -> Option<&Variant> {
        let mut eligible: SmallVec<[(u16, u32); 32]> = SmallVec::new();
        let mut total = 0u64;
        for i in 0..self.hot.len() {
            if !self.fits(i, slot, facts, attributes) {
                continue;
            }
            let w = match self.rotation {
                Rotation::Even | Rotation::Sequential => 1,
                Rotation::Weighted => self.hot[i].weight,
                // Relaxed: a share written by tick (module docs).
                Rotation::Optimized { .. } => self.weights[i].load(Ordering::Relaxed),
            };
            total += u64::from(w);
            eligible.push((i as u16, w));
        }
        let pick = match (eligible.len(), self.rotation) {
            (0, _) => return None,
            (1, _) => eligible[0].0,
            (_, Rotation::Sequential) => {
                let next = last_shown
                    .and_then(|n| self.variants.iter().position(|v| v.stats.number == n))
                    .map_or(0, |i| i + 1);
                eligible
                    .iter()
                    .find(|(i, _)| usize::from(*i) >= next)
                    .unwrap_or(&eligible[0])
                    .0
            }
            // No weight yet (before the first tick, or all weights zero): uniform.
            (n, _) if total == 0 => eligible[((u128::from(draw) * n as u128) >> 64) as usize].0,
            _ => {
                let mut target = ((u128::from(draw) * u128::from(total)) >> 64) as u64;
                let mut chosen = eligible[eligible.len() - 1].0;
                for &(i, w) in &eligible {
                    if target < u64::from(w) {
                        chosen = i;
                        break;
                    }
                    target -= u64::from(w);
                }
                chosen
            }
        };
        self.variants.get(usize::from(pick))
    }

    /// The share each variant is expected to get among all variants (for reports).
    pub(crate) fn shares(&self) -> Vec<f64> {
        let n = self.variants.len().max(1) as f64;
        match self.rotation {
            Rotation::Even | Rotation::Sequential => vec![1.0 / n; self.variants.len()],
            Rotation::Weighted => {
                let total: f64 = self.variants.iter().map(|v| f64::from(v.weight)).sum();
                self.variants
                    .iter()
                    .map(|v| {
                        if total > 0.0 {
                            f64::from(v.weight) / total
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
            Rotation::Optimized { .. } => {
                // Relaxed: shares written by tick (module docs).
                let w: Vec<f64> = self
                    .variants
                    .iter()
                    .map(|v| f64::from(v.stats.weight.load(Ordering::Relaxed)))
                    .collect();
                let total: f64 = w.iter().sum();
                if total > 0.0 {
                    w.iter().map(|x| x / total).collect()
                } else {
                    vec![1.0 / n; self.variants.len()]
                }
            }
        }
    }

    /// Recomputes the optimized shares when the campaign's counts moved since the last
    /// computation; seeded by `seed`, the campaign and its counts, so a replay gives the
    /// same shares.
    pub(crate) fn update_shares(&self, seed: u64, campaign: CampaignId) {
        let Rotation::Optimized { goal, exploration } = self.rotation else {
            return;
        };
        let n = self.variants.len();
        // Relaxed: counters (module docs).
        let trials: Vec<f64> = self
            .variants
            .iter()
            .map(|v| v.stats.impressions.load(Ordering::Relaxed) as f64)
            .collect();
        let successes: Vec<f64> = self
            .variants
            .iter()
            .zip(&trials)
            .map(|(v, t)| v.stats.successes(goal).min(*t))
            .collect();
        let fingerprint = trials.iter().sum::<f64>() as u64
            ^ (successes.iter().sum::<f64>() as u64).rotate_left(32);
        let fingerprint = fingerprint.wrapping_add(1);
        // Relaxed: tick-only bookkeeping (module docs).
        if self.state.computed_at.swap(fingerprint, Ordering::Relaxed) == fingerprint
            && self
                .variants
                .iter()
                .any(|v| v.stats.weight.load(Ordering::Relaxed) > 0)
        {
            return;
        }
        let p_best = thompson_p_best(
            &successes,
            &trials,
            mix64(seed ^ mix64(campaign.get()) ^ fingerprint),
        );
        let floor = exploration.clamp(0.0, 1.0);
        let mut sum = 0u64;
        for (((v, w), c), p) in self
            .variants
            .iter()
            .zip(&*self.weights)
            .zip(&*self.cumulative_weights)
            .zip(p_best)
        {
            let share = (((1.0 - floor) * p + floor / n as f64) * SHARE_ONE).round() as u32;
            sum += u64::from(share);
            // Relaxed: shares read by decide and reports (module docs).
            v.stats.weight.store(share, Ordering::Relaxed);
            w.store(share, Ordering::Relaxed);
            c.store(sum, Ordering::Relaxed);
        }
    }
}

/// Each arm's probability of having the highest rate under its Beta posterior, estimated
/// from [`THOMPSON_DRAWS`] joint draws (empirical-Bayes prior at the pooled rate).
pub(crate) fn thompson_p_best(successes: &[f64], trials: &[f64], seed: u64) -> Vec<f64> {
    let n = successes.len();
    if n == 0 {
        return Vec::new();
    }
    let pooled = (successes.iter().sum::<f64>() + 1.0) / (trials.iter().sum::<f64>() + 2.0);
    let (a0, b0) = (pooled * PRIOR_STRENGTH, (1.0 - pooled) * PRIOR_STRENGTH);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut wins = vec![0u32; n];
    for _ in 0..THOMPSON_DRAWS {
        let mut best = (f64::NEG_INFINITY, 0);
        for i in 0..n {
            let x = sample_beta(
                &mut rng,
                a0 + successes[i],
                b0 + (trials[i] - successes[i]).max(0.0),
            );
            if x > best.0 {
                best = (x, i);
            }
        }
        wins[best.1] += 1;
    }
    wins.iter()
        .map(|w| f64::from(*w) / f64::from(THOMPSON_DRAWS))
        .collect()
}

fn sample_normal(rng: &mut SmallRng) -> f64 {
    // Box–Muller; u1 in (0, 1] so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gamma(shape, 1) by Marsaglia and Tsang (2000); shapes below 1 by the boost
/// `Gamma(a + 1) · U^(1/a)`.
fn sample_gamma(rng: &mut SmallRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = 1.0 - rng.random::<f64>();
        return sample_gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = sample_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u: f64 = 1.0 - rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
pub(crate) fn sample_beta(rng: &mut SmallRng, a: f64, b: f64) -> f64 {
    let x = sample_gamma(rng, a.max(1e-6));
    let y = sample_gamma(rng, b.max(1e-6));
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

/// Recent impressions' variants, for crediting clicks (see the module docs).
#[derive(Debug)]
pub(crate) struct ClickRing {
    slots: Box<[AtomicU64]>,
    shift: u32,
}

impl ClickRing {
    pub(crate) fn new(slots_log2: u32) -> Self {
        let slots_log2 = slots_log2.clamp(4, 30);
        ClickRing {
            slots: (0..1usize << slots_log2)
                .map(|_| AtomicU64::new(0))
                .collect(),
            shift: slots_log2,
        }
    }

    fn place(&self, impression: u64) -> (usize, u64) {
        let index = (impression & ((1 << self.shift) - 1)) as usize;
        let tag = (impression >> self.shift) & 0xffff_ffff;
        (index, tag)
    }

    pub(crate) fn remember(&self, impression: u64, variant: u32) {
        let (i, tag) = self.place(impression);
        // Relaxed: a self-contained word (module docs).
        self.slots[i].store(tag << 32 | u64::from(variant), Ordering::Relaxed);
    }

    pub(crate) fn variant_of(&self, impression: u64) -> Option<u32> {
        let (i, tag) = self.place(impression);
        // Relaxed: a self-contained word (module docs).
        let w = self.slots[i].load(Ordering::Relaxed);
        (w >> 32 == tag && w as u32 != 0).then_some(w as u32)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * 8
    }
}

/// The latest variant each household saw of each campaign (bounded, swept by age).
#[derive(Debug)]
pub(crate) struct Touches {
    map: papaya::HashMap<(u64, CampaignId), AtomicU64>,
    max_keys: usize,
}

impl Touches {
    pub(crate) fn new(max_keys: usize) -> Self {
        Touches {
            map: papaya::HashMap::builder()
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            max_keys,
        }
    }

    fn secs(now: Timestamp) -> u64 {
        (now.as_millis().max(0) / 1_000).min(i64::from(u32::MAX)) as u64
    }

    /// Remembers that `household` saw `variant` of `campaign` at `now`; a full map keeps
    /// the households it knows and skips new ones.
    pub(crate) fn touch(&self, household: u64, campaign: CampaignId, variant: u32, now: Timestamp) {
        let map = self.map.pin();
        let word = u64::from(variant) << 32 | Self::secs(now);
        match map.get(&(household, campaign)) {
            // Relaxed: a self-contained word (module docs).
            Some(w) => w.store(word, Ordering::Relaxed),
            None if map.len() < self.max_keys => {
                map.get_or_insert_with((household, campaign), || AtomicU64::new(word))
                    .store(word, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// The variant of the household's latest touch of `campaign`, unless that touch is
    /// older than `ttl_s` seconds before `now` (expired touches count as absent whether or
    /// not a sweep has removed them yet).
    pub(crate) fn last(
        &self,
        household: u64,
        campaign: CampaignId,
        now: Timestamp,
        ttl_s: u64,
    ) -> Option<u32> {
        let from = Self::secs(now).saturating_sub(ttl_s);
        let map = self.map.pin();
        // Relaxed: a self-contained word (module docs).
        map.get(&(household, campaign))
            .map(|w| w.load(Ordering::Relaxed))
            .filter(|w| w & 0xffff_ffff >= from)
            .map(|w| (w >> 32) as u32)
            .filter(|n| *n != 0)
    }

    /// Forgets touches older than `ttl_s` seconds before `now`.
    pub(crate) fn sweep(&self, now: Timestamp, ttl_s: u64) -> usize {
        let before = self.map.len();
        let from = Self::secs(now).saturating_sub(ttl_s);
        // Relaxed: self-contained words (module docs).
        self.map
            .pin()
            .retain(|_, w| w.load(Ordering::Relaxed) & 0xffff_ffff >= from);
        before.saturating_sub(self.map.len())
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn entries(&self) -> Vec<(u64, CampaignId, u64)> {
        let map = self.map.pin();
        // Relaxed: self-contained words (module docs).
        let mut v: Vec<_> = map
            .iter()
            .map(|((h, c), w)| (*h, *c, w.load(Ordering::Relaxed)))
            .collect();
        v.sort_unstable();
        v
    }

    pub(crate) fn restore(&self, entries: &[(u64, CampaignId, u64)]) {
        let map = self.map.pin();
        for (h, c, w) in entries.iter().take(self.max_keys) {
            map.insert((*h, *c), AtomicU64::new(*w));
        }
    }
}

/// One creative variant's delivery, outcomes and current share (see
/// [`Engine::creative_report`](crate::Engine::creative_report)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CreativeReport {
    /// The campaign.
    pub campaign: CampaignId,
    /// The variant.
    pub creative: CreativeId,
    /// The campaign's rotation mode.
    pub rotation: Rotation,
    /// Impressions recorded.
    pub impressions: u64,
    /// Clicks recorded on those impressions (found through the click ring).
    pub clicks: u64,
    /// Conversions credited to the variant under the attribution model (fractional).
    pub conversions: f64,
    /// Conversion value credited to the variant.
    pub attributed_value: Money,
    /// The share of the campaign's traffic the rotation now gives this variant when every
    /// variant fits (for `optimized`, the bandit's current share including the floor).
    pub share: f64,
}

impl CreativeReport {
    pub(crate) fn of(v: &Variant, rotation: Rotation, share: f64) -> Self {
        let s = &v.stats;
        // Relaxed: counters (module docs).
        CreativeReport {
            campaign: s.campaign,
            creative: s.creative,
            rotation,
            impressions: s.impressions.load(Ordering::Relaxed),
            clicks: s.clicks.load(Ordering::Relaxed),
            conversions: s.conversions_micro.load(Ordering::Relaxed) as f64 / 1e6,
            attributed_value: Money::from_micros(s.value_micros.load(Ordering::Relaxed)),
            share,
        }
    }

    /// Click-through rate per impression (0 without impressions).
    pub fn ctr(&self) -> f64 {
        self.clicks as f64 / self.impressions.max(1) as f64
    }

    /// Conversions per impression (0 without impressions).
    pub fn cvr(&self) -> f64 {
        self.conversions / self.impressions.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(creatives: &[Creative], rotation: Rotation) -> (Creatives, Codes) {
        let mut codes = Codes::default();
        let mut n = 0;
        let c = Creatives::compile(creatives, rotation, Arc::default(), &mut codes, |id| {
            n += 1;
            Arc::new(VariantStats::new(n, CampaignId::new(1), id))
        })
        .unwrap();
        (c, codes)
    }

    const VIDEO: Slot<'static> = Slot {
        format: Format::Video,
        max_s: u32::MAX,
        required: &[],
    };

    fn request(country: &str, language: &str) -> Request {
        let mut r = Request::new();
        r.push_str("geo.country", country);
        r.push_str("content.language", language);
        r
    }

    #[test]
    fn markets_languages_targeting_format_and_length() {
        let all = [
            Creative::video(1, 30)
                .markets(["us", "CA"])
                .languages(["en"]),
            Creative::video(2, 30).markets(["DE"]).languages(["de"]),
            Creative::video(3, 15).targeting("device.type = 3"),
            Creative::display(4),
        ];
        let (c, codes) = set(&all, Rotation::Even);
        let fits = |r: &Request, slot: &Slot<'_>| -> Vec<u64> {
            let f = codes.facts(r);
            (0..c.variants.len())
                .filter(|i| c.fits(*i, slot, f, r))
                .map(|i| c.variants[i].id.get())
                .collect()
        };
        let us = request("US", "EN");
        assert_eq!(fits(&us, &VIDEO), vec![1]);
        assert_eq!(fits(&request("de", "de"), &VIDEO), vec![2]);
        assert_eq!(fits(&request("FR", "fr"), &VIDEO), Vec::<u64>::new());
        let mut tv = request("FR", "fr");
        tv.push_int("device.type", 3);
        assert_eq!(fits(&tv, &VIDEO), vec![3]);
        // Shortened by the slot (or the member's ad load): only the 15-second cut fits.
        let mut tv_us = us.clone();
        tv_us.push_int("device.type", 3);
        assert_eq!(fits(&tv_us, &VIDEO), vec![1, 3]);
        assert_eq!(fits(&tv_us, &Slot { max_s: 20, ..VIDEO }), vec![3]);
        assert_eq!(
            fits(
                &tv_us,
                &Slot {
                    required: &[30],
                    ..VIDEO
                }
            ),
            vec![1]
        );
        let banner = Slot {
            format: Format::Display,
            ..VIDEO
        };
        assert_eq!(fits(&us, &banner), vec![4]);
        // A request without a country fits no market-restricted creative.
        assert_eq!(fits(&Request::new(), &VIDEO), Vec::<u64>::new());
    }

    #[test]
    fn facts_take_the_content_language_else_the_device_language() {
        let all = [
            Creative::video(1, 30).markets(["US"]).languages(["en"]),
            Creative::video(2, 30).languages(["de"]),
        ];
        let (_, codes) = set(&all, Rotation::Even);
        let (us, en, de) = (codes.lookup("US", true), codes.lookup("en", false), {
            codes.lookup("de", false)
        });
        let mut r = Request::new();
        r.push_int("device.type", 3);
        r.push_str("device.language", "DE");
        r.push_str("geo.country", "us");
        assert_eq!(
            codes.facts(&r),
            Facts {
                country: us,
                language: de
            }
        );
        r.push_str("content.language", "en");
        r.push_str("content.language", "de");
        assert_eq!(
            codes.facts(&r),
            Facts {
                country: us,
                language: en
            }
        );
        // Countries by either ISO 3166-1 code: OpenRTB gives alpha-3.
        let mut r = Request::new();
        r.push_str("geo.country", "usa");
        assert_eq!(codes.facts(&r).country, us);
        let (_, codes) = set(
            &[Creative::video(1, 30).markets(["DEU", "at"])],
            Rotation::Even,
        );
        assert_eq!(codes.lookup("de", true), codes.lookup("DEU", true));
        assert_eq!(codes.lookup("AUT", true), codes.lookup("AT", true));
        assert_ne!(codes.lookup("AT", true), codes.lookup("DE", true));
        assert_eq!(codes.lookup("US", true), u16::MAX);
        assert_eq!(country_alias("gbr"), Some("GB"));
        assert_eq!(country_alias("XK"), None);
        // Ids stay dense (exact code sets below 64 ids) whatever the aliases.
        assert_eq!(codes.ids, 2);
        // A content language no creative lists is still the content's: no fallback.
        let mut r = Request::new();
        r.push_str("content.language", "fr");
        r.push_str("device.language", "en");
        assert_eq!(codes.facts(&r).language, u16::MAX);
        assert_eq!(codes.facts(&Request::new()), Facts::NONE);
    }

    fn counts(c: &Creatives, r: &Request, draws: u64, last: Option<u32>) -> Vec<u64> {
        let mut n = vec![0u64; c.variants.len()];
        for d in 0..draws {
            let v = c.choose(&VIDEO, Facts::NONE, r, mix64(d), last).unwrap();
            n[c.variants.iter().position(|x| x.id == v.id).unwrap()] += 1;
        }
        n
    }

    #[test]
    fn even_weighted_and_sequential_rotation() {
        let r = Request::new();
        let all: Vec<Creative> = (1..=4)
            .map(|i| Creative::video(i, 15).weight(i as u32))
            .collect();
        let (even, _) = set(&all, Rotation::Even);
        for n in counts(&even, &r, 40_000, None) {
            assert!((9_000..11_000).contains(&n), "{n}");
        }
        let (weighted, _) = set(&all, Rotation::Weighted);
        let n = counts(&weighted, &r, 40_000, None);
        for (i, n) in n.iter().enumerate() {
            let expected = 40_000.0 * (i + 1) as f64 / 10.0;
            assert!((*n as f64 - expected).abs() < 0.06 * expected, "{i}: {n}");
        }
        let (story, _) = set(&all, Rotation::Sequential);
        let next = |last: Option<u32>| {
            story
                .choose(&VIDEO, Facts::NONE, &r, 7, last)
                .unwrap()
                .id
                .get()
        };
        assert_eq!(next(None), 1);
        assert_eq!(next(Some(1)), 2);
        assert_eq!(next(Some(3)), 4);
        assert_eq!(next(Some(4)), 1); // the storyline starts over
        // A variant that does not fit is skipped, in order.
        let slot = Slot {
            required: &[30],
            ..VIDEO
        };
        let mixed = [
            Creative::video(1, 15),
            Creative::video(2, 30),
            Creative::video(3, 30),
        ];
        let (story, _) = set(&mixed, Rotation::Sequential);
        assert_eq!(
            story
                .choose(&slot, Facts::NONE, &r, 0, Some(1))
                .unwrap()
                .id
                .get(),
            2
        );
        assert_eq!(
            story
                .choose(&slot, Facts::NONE, &r, 0, Some(3))
                .unwrap()
                .id
                .get(),
            2
        );
    }

    #[test]
    fn optimized_shares_follow_the_posterior_with_a_floor() {
        let all: Vec<Creative> = (1..=3).map(|i| Creative::video(i, 15)).collect();
        let rotation = Rotation::Optimized {
            goal: RotationGoal::Cvr,
            exploration: 0.3,
        };
        let (c, _) = set(&all, rotation);
        // Before any feedback: uniform.
        let n = counts(&c, &Request::new(), 3_000, None);
        assert!(n.iter().all(|n| (800..1_200).contains(n)), "{n:?}");
        for (v, conv) in c.variants.iter().zip([10.0, 40.0, 10.0]) {
            v.stats.impressions.store(2_000, Ordering::Relaxed);
            v.stats.credit(1.0, None);
            v.stats
                .conversions_micro
                .store((conv * 1e6) as u64, Ordering::Relaxed);
        }
        c.update_shares(1, CampaignId::new(1));
        let shares = c.shares();
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        // The clear winner gets everything but the floor; the others keep floor / n.
        assert!(shares[1] > 0.75, "{shares:?}");
        assert!(shares[0] >= 0.099 && shares[2] >= 0.099, "{shares:?}");
        let n = counts(&c, &Request::new(), 10_000, None);
        assert!(n[1] > 7_000, "{n:?}");
        // Deterministic: the same counts give the same shares.
        let again = c.shares();
        c.state.computed_at.store(0, Ordering::Relaxed);
        c.update_shares(1, CampaignId::new(1));
        assert_eq!(c.shares(), again);
    }

    mod index_matches_the_scan {
        use super::*;
        use proptest::prelude::*;

        const MARKETS: [&str; 4] = ["US", "CA", "DE", "FR"];
        const LANGUAGES: [&str; 3] = ["en", "de", "fr"];
        const TARGETING: [&str; 3] = ["", "device.type = 3", "device.type != 3"];
        const DURATIONS: [u32; 4] = [6, 15, 30, 60];

        /// One variant: (display?, duration, market bits, language bits, targeting,
        /// weight, bandit share).
        type Spec = (bool, usize, u8, u8, usize, u32, u32);

        fn variant() -> impl Strategy<Value = Spec> {
            (
                prop::bool::weighted(0.2),
                0..DURATIONS.len(),
                prop_oneof![Just(0u8), 0u8..16],
                prop_oneof![Just(0u8), 0u8..8],
                prop_oneof![3 => Just(0usize), 1 => 0..TARGETING.len()],
                prop_oneof![Just(0u32), 1u32..5],
                prop_oneof![Just(0u32), 1u32..1_000_000],
            )
        }

        fn pick<'a>(all: &[&'a str], bits: u8) -> Vec<&'a str> {
            all.iter()
                .enumerate()
                .filter(|(i, _)| bits & 1 << i != 0)
                .map(|(_, c)| *c)
                .collect()
        }

        fn compile(specs: &[Spec], rotation: Rotation) -> (Creatives, Codes) {
            let creatives: Vec<Creative> = specs
                .iter()
                .enumerate()
                .map(|(i, (display, d, m, l, t, w, _))| {
                    let id = i as u64 + 1;
                    let c = if *display {
                        Creative::display(id)
                    } else {
                        Creative::video(id, DURATIONS[*d])
                    };
                    c.markets(pick(&MARKETS, *m))
                        .languages(pick(&LANGUAGES, *l))
                        .targeting(TARGETING[*t])
                        .weight(*w)
                })
                .collect();
            let mut codes = Codes::default();
            let mut n = 0;
            let c = Creatives::compile(&creatives, rotation, Arc::default(), &mut codes, |id| {
                n += 1;
                let stats = VariantStats::new(n, CampaignId::new(1), id);
                // Relaxed: not shared yet.
                stats
                    .weight
                    .store(specs[n as usize - 1].6, Ordering::Relaxed);
                Arc::new(stats)
            })
            .unwrap();
            (c, codes)
        }

        fn rotation() -> impl Strategy<Value = Rotation> {
            prop_oneof![
                Just(Rotation::Even),
                Just(Rotation::Weighted),
                Just(Rotation::Sequential),
                Just(Rotation::Optimized {
                    goal: RotationGoal::Cvr,
                    exploration: 0.1
                }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            /// Whatever the variants, slot and request, the index chooses what checking
            /// every variant chooses (up to 70 variants: past the index too).
            #[test]
            fn choices_agree(
                specs in prop_oneof![
                    4 => prop::collection::vec(variant(), 0..24),
                    1 => prop::collection::vec(variant(), 60..71),
                ],
                rotation in rotation(),
                country in prop::option::of(0usize..6),
                language in prop::option::of(0usize..5),
                device in prop::option::of(2i64..5),
                display in prop::bool::weighted(0.2),
                max_s in prop_oneof![Just(u32::MAX), 0u32..70],
                required in prop_oneof![
                    2 => Just(vec![]),
                    1 => prop::collection::vec(prop::sample::select(vec![6u32, 15, 30, 60, 45]), 1..3),
                ],
                draws in prop::collection::vec(any::<u64>(), 8),
                last in prop::option::of(0u32..75),
                plain in prop::bool::weighted(0.3),
            ) {
                // Often every variant fits: unrestricted video in an open slot.
                let (specs, display, max_s, required) = if plain {
                    let specs: Vec<Spec> =
                        specs.iter().map(|s| (false, s.1, 0, 0, 0, s.5, s.6)).collect();
                    (specs, false, u32::MAX, vec![])
                } else {
                    (specs, display, max_s, required)
                };
                let (c, codes) = compile(&specs, rotation);
                let mut r = Request::new();
                let countries = ["US", "can", "DEU", "fr", "JP", "toolongcode"];
                let languages = ["en", "DE", "fr", "ja", ""];
                if let Some(i) = country {
                    r.push_str("geo.country", countries[i]);
                }
                if let Some(i) = language {
                    r.push_str("content.language", languages[i]);
                }
                if let Some(d) = device {
                    r.push_int("device.type", d);
                }
                let slot = Slot {
                    format: if display { Format::Display } else { Format::Video },
                    max_s,
                    required: &required,
                };
                let facts = codes.facts(&r);
                // Draws landing exactly on the running sums of the weights (a boundary
                // of the weighted draw over every variant).
                let weights: Vec<u64> = specs
                    .iter()
                    .map(|s| u64::from(match rotation {
                        Rotation::Weighted => s.5,
                        _ => s.6,
                    }))
                    .collect();
                let total: u64 = weights.iter().sum();
                let boundaries = weights.iter().scan(0u64, |sum, w| {
                    *sum += w;
                    Some(*sum)
                });
                let boundaries: Vec<u64> = boundaries
                    .filter(|s| *s > 0 && *s < total)
                    .take(8)
                    .map(|s| (u128::from(s) << 64).div_ceil(u128::from(total)) as u64)
                    .collect();
                for draw in draws.into_iter().chain(boundaries).chain([0, u64::MAX]) {
                    let fast = c.choose(&slot, facts, &r, draw, last).map(|v| v.id);
                    let scan = c.choose_by_scan(&slot, facts, &r, draw, last).map(|v| v.id);
                    prop_assert_eq!(fast, scan);
                }
            }
        }
    }

    #[test]
    fn the_hot_record_stays_small() {
        assert!(std::mem::size_of::<Hot>() <= 40);
    }

    #[test]
    fn beta_samples_have_the_right_mean() {
        let mut rng = SmallRng::seed_from_u64(3);
        for (a, b) in [(2.0, 8.0), (0.5, 0.5), (30.0, 3_000.0)] {
            let mean = (0..20_000)
                .map(|_| sample_beta(&mut rng, a, b))
                .sum::<f64>()
                / 20_000.0;
            let expected = a / (a + b);
            assert!(
                (mean - expected).abs() < 0.02 * expected.max(0.05),
                "{a} {b}: {mean}"
            );
        }
    }

    #[test]
    fn click_ring_and_touches() {
        let ring = ClickRing::new(4);
        ring.remember(5, 9);
        assert_eq!(ring.variant_of(5), Some(9));
        assert_eq!(ring.variant_of(21), None); // same slot, other impression
        ring.remember(21, 3);
        assert_eq!(ring.variant_of(5), None); // overwritten: beyond the horizon
        let t = Touches::new(2);
        let now = Timestamp::from_millis(1_700_000_000_000);
        t.touch(1, CampaignId::new(1), 4, now);
        t.touch(1, CampaignId::new(1), 5, now);
        t.touch(2, CampaignId::new(1), 6, now);
        t.touch(3, CampaignId::new(1), 7, now); // full: skipped
        assert_eq!(t.last(1, CampaignId::new(1), now, 50), Some(5));
        assert_eq!(t.last(3, CampaignId::new(1), now, 50), None);
        // Expired on read, before any sweep removes it.
        let later = now + adloop_core::DurationMs::from_secs(51);
        assert_eq!(t.last(1, CampaignId::new(1), later, 50), None);
        assert_eq!(t.last(1, CampaignId::new(1), later, 51), Some(5));
        assert_eq!(
            t.sweep(now + adloop_core::DurationMs::from_secs(100), 50),
            2
        );
    }
}
