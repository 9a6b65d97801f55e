//! Matching's inner loops compiled for AVX-512, for CPUs that have it (with VBMI2's
//! byte compress for the output loops).
//!
//! - [`apply_lane`] is the portable lane pass compiled with AVX-512 enabled: the
//!   multi-posting OR and the run loops then work on 512-bit vectors (`vpternlogq`
//!   folds `(a ^ m) | (b ^ m) | …` into few instructions).
//! - [`rows_to_keys`] and [`emit`] turn the set bits of a word into positions. The
//!   scalar copies take them one `trailing_zeros` at a time, four per loop step, so a
//!   word's loop runs a number of steps that depends on its bits, and that exit is
//!   mispredicted often on broad workloads (a few bits per word, varying). Here
//!   `vpcompressb` packs the positions of all set bits of a word into bytes in one
//!   instruction, and the loop body is the same for every word of up to 16 bits:
//!   widen 16 positions to 32-bit lanes, add the word's base, store all 16 lanes to a
//!   block and advance by the word's popcount. Only words of more than 16 set bits go
//!   round the loop again. The emission adds the first key (consecutive keys) or
//!   gathers the keys per word; row to key first packs a block's row positions, then
//!   gathers their key ordinals 16 lanes at a time.
//!
//! - [`any_marked`] scans an anchored body's long `in` list against the request's
//!   presence marks, 16 ids per gather.
//!
//! Every function here may be called only where [`available`] is true (the index
//! checks once, at build), or for [`apply_lane`] and [`any_marked`], where
//! [`lanes_available`] is; each pointer access is bounds-argued in its `SAFETY`
//! comment.

use std::arch::x86_64::{
    __m128i, __m512i, _mm512_add_epi32, _mm512_castsi512_si128, _mm512_cmpeq_epi32_mask,
    _mm512_cmplt_epu32_mask, _mm512_cvtepu8_epi32, _mm512_extracti32x4_epi32, _mm512_loadu_si512,
    _mm512_mask_i32gather_epi32, _mm512_maskz_compress_epi8, _mm512_maskz_loadu_epi32,
    _mm512_set_epi64, _mm512_set1_epi32, _mm512_setzero_si512, _mm512_storeu_si512,
};

use super::{
    EMIT_BLOCK, Encoded, Lane, Patches, ROW_KEY_STRIDE, apply_lane_body, live_words, or4_body,
};

/// Whether this CPU has every feature this module's functions are compiled for:
/// AVX-512 F, BW, VL and VBMI2, and BMI1, BMI2 and POPCNT for the scalar parts.
pub(super) fn available() -> bool {
    lanes_available() && std::is_x86_feature_detected!("avx512vbmi2")
}

/// Whether this CPU runs [`apply_lane`] and [`any_marked`], which need no VBMI2:
/// AVX-512 F, BW and VL, and BMI1, BMI2 and POPCNT (Skylake-SP and Cascade Lake have
/// these but not VBMI2's byte compress, which the output loops use).
pub(super) fn lanes_available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("popcnt")
}

/// The portable `apply_lane` compiled for AVX-512.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,bmi1,bmi2,popcnt")]
#[inline(never)]
pub(super) fn apply_lane(
    lane: &Lane,
    enc: &Encoded<'_>,
    result: &mut [u64],
    h: &mut [u64],
    patches: &mut Patches,
) {
    // A closure, not the function item: the call then inlines here and compiles with
    // this function's features (a function item passed on is called through a shim
    // compiled without them).
    #[allow(clippy::redundant_closure)]
    apply_lane_body(lane, enc, result, h, patches, |acc, init, m, a, b, c, d| {
        or4_body(acc, init, m, a, b, c, d)
    });
}

/// Bytes `0, 1, …, 63`: the positions `vpcompressb` packs.
#[inline]
#[target_feature(enable = "avx512f")]
fn iota() -> __m512i {
    _mm512_set_epi64(
        0x3f3e_3d3c_3b3a_3938,
        0x3736_3534_3332_3130,
        0x2f2e_2d2c_2b2a_2928,
        0x2726_2524_2322_2120,
        0x1f1e_1d1c_1b1a_1918,
        0x1716_1514_1312_1110,
        0x0f0e_0d0c_0b0a_0908,
        0x0706_0504_0302_0100,
    )
}

/// The positions of the set bits of `bits`, ascending, one per byte (zeros past the
/// last).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2")]
fn positions(bits: u64) -> __m512i {
    _mm512_maskz_compress_epi8(bits, iota())
}

/// Positions `16c..16c + 16` of `pos` (bytes) widened to 32-bit lanes, plus `base`.
#[inline]
#[target_feature(enable = "avx512f")]
fn widen(pos: __m512i, c: usize, base: i32) -> __m512i {
    let bytes: __m128i = match c {
        0 => _mm512_castsi512_si128(pos),
        1 => _mm512_extracti32x4_epi32::<1>(pos),
        2 => _mm512_extracti32x4_epi32::<2>(pos),
        _ => _mm512_extracti32x4_epi32::<3>(pos),
    };
    _mm512_add_epi32(_mm512_cvtepu8_epi32(bytes), _mm512_set1_epi32(base))
}

/// Lanes `0..min(n, 16)`.
#[inline]
fn lanes(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Rows (positions in `row_key`) gathered per pass of [`rows_to_keys`].
const ROW_BLOCK: usize = 1024;

/// Sets the key bit of every row set in `result`, as the scalar `rows_to_keys` does.
///
/// Two passes per block of rows: the surviving rows' `row_key` positions are packed
/// into the block, 16 per store and nothing loaded; then their key ordinals are
/// gathered 16 at a time, every lane used, and the bits set in one counted loop. A
/// gather per word instead (a few lanes each, then a store waiting on it) kept too few
/// `row_key` loads in flight: 5% slower on broad 100k.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,bmi1,bmi2,popcnt")]
#[inline(never)]
pub(super) fn rows_to_keys(result: &[u64], row_key: &[u32], keybits: &mut [u64]) {
    assert!(row_key.len() >= result.len() * ROW_KEY_STRIDE && row_key.len() <= i32::MAX as usize);
    // Positions of the block's rows, overwritten in place by their key ordinals.
    let mut block = [0u32; ROW_BLOCK + 64];
    let mut n = 0usize;
    let flush = |block: &mut [u32; ROW_BLOCK + 64], n: usize, keybits: &mut [u64]| {
        for c in (0..n).step_by(16) {
            // SAFETY: `c + 16 <= n + 15 < ROW_BLOCK + 64`: the 16 lanes read are in
            // `block`.
            let at = unsafe { _mm512_loadu_si512(block.as_ptr().add(c).cast()) };
            // SAFETY: the active lanes (those below `n`) hold positions `w * 65 + p`
            // stored by the loop below for set bits `p < 64` of words `w <
            // result.len()`, so they index `row_key` (asserted above); inactive lanes
            // are not read.
            let ords = unsafe {
                _mm512_mask_i32gather_epi32::<4>(
                    _mm512_setzero_si512(),
                    lanes(n - c),
                    at,
                    row_key.as_ptr().cast(),
                )
            };
            // SAFETY: the same 16 lanes of `block` as the load above.
            unsafe { _mm512_storeu_si512(block.as_mut_ptr().add(c).cast(), ords) };
        }
        for &k in &block[..n] {
            let k = k as usize;
            keybits[k >> 6] |= 1 << (k & 63);
        }
    };
    for (w, &bits) in result.iter().enumerate() {
        if n > ROW_BLOCK - 64 {
            flush(&mut block, n, keybits);
            n = 0;
        }
        let count = bits.count_ones() as usize;
        let pos = positions(bits);
        // Fits: `w * 65 + 64 < row_key.len() <= i32::MAX`.
        let base = (w * ROW_KEY_STRIDE) as i32;
        let mut c = 0;
        loop {
            // SAFETY: `n <= ROW_BLOCK - 64` (flushed above) and `16c <= 48`, so the
            // 16 lanes stored at `n + 16c` end within `block`'s `ROW_BLOCK + 64`
            // entries.
            unsafe {
                _mm512_storeu_si512(
                    block.as_mut_ptr().add(n + 16 * c).cast(),
                    widen(pos, c, base),
                );
            }
            c += 1;
            if 16 * c >= count {
                break;
            }
        }
        n += count;
    }
    flush(&mut block, n, keybits);
}

/// Writes the keys whose bits are set in `keybits` to `out` in ascending order and
/// clears `keybits`, as the scalar `emit` does; `keys` is padded to whole words of 64.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,bmi1,bmi2,popcnt")]
#[inline(never)]
pub(super) fn emit(keybits: &mut [u64], keys: &[u32], first_key: Option<u32>, out: &mut Vec<u32>) {
    assert!(keys.len() <= i32::MAX as usize);
    let mut block = [0u32; EMIT_BLOCK + 64];
    let mut n = 0usize;
    let key_words = keys.len() / 64;
    for (chunk_at, chunk) in keybits[..key_words].chunks_mut(64).enumerate() {
        // Visit only the words that hold keys (found without a branch per word).
        let mut live = live_words(chunk);
        while live != 0 {
            let j = live.trailing_zeros() as usize;
            live &= live.wrapping_sub(1);
            let w = 64 * chunk_at + j;
            if n > EMIT_BLOCK - 64 {
                out.extend_from_slice(&block[..n]);
                n = 0;
            }
            let word = std::mem::take(&mut chunk[j]);
            let count = word.count_ones() as usize;
            let pos = positions(word);
            let mut c = 0;
            loop {
                let v = match first_key {
                    // Keys `first, first + 1, …`: the ordinal gives the key.
                    Some(first) => widen(pos, c, first.wrapping_add(64 * w as u32) as i32),
                    None => {
                        // Fits: `64w + 63 < keys.len() <= i32::MAX`.
                        let idx = widen(pos, c, (64 * w) as i32);
                        // SAFETY: active lanes hold `64w + p` with `p < 64` and
                        // `w < keys.len() / 64`, so they index `keys`; inactive lanes
                        // are not read.
                        unsafe {
                            _mm512_mask_i32gather_epi32::<4>(
                                _mm512_setzero_si512(),
                                lanes(count - 16 * c),
                                idx,
                                keys.as_ptr().cast(),
                            )
                        }
                    }
                };
                // SAFETY: `n <= EMIT_BLOCK - 64` (flushed above) and `16c <= 48`, so
                // the 16 lanes stored at `n + 16c` end within `block`.
                unsafe { _mm512_storeu_si512(block.as_mut_ptr().add(n + 16 * c).cast(), v) };
                c += 1;
                if 16 * c >= count {
                    break;
                }
            }
            n += count;
        }
    }
    out.extend_from_slice(&block[..n]);
}

/// Whether any id of `list` has its presence slot `base + id` marked with `epoch`: the
/// anchored check of a long `in` list, 16 ids per step. Ids whose slot would fall past
/// `presence` are not read (and count as unmarked).
#[target_feature(enable = "avx512f")]
#[inline(never)]
pub(super) fn any_marked(list: &[u32], base: u32, presence: &[u32], epoch: u32) -> bool {
    assert!(presence.len() <= i32::MAX as usize);
    // Ids from `limit` on have no slot. Comparing the ids (not `base + id`, which could
    // wrap past `u32::MAX` into range) keeps every active slot below `presence.len()`.
    let limit = _mm512_set1_epi32(presence.len().saturating_sub(base as usize) as i32);
    let (base, epoch) = (
        _mm512_set1_epi32(base as i32),
        _mm512_set1_epi32(epoch as i32),
    );
    let (chunks, tail) = list.as_chunks::<16>();
    let marked = |ids: __m512i, lanes: u16| {
        let inside = lanes & _mm512_cmplt_epu32_mask(ids, limit);
        let slots = _mm512_add_epi32(ids, base);
        // SAFETY: an active lane has `id < presence.len() - base`, so its slot `base +
        // id` is below `presence.len() <= i32::MAX` (no wrap, a valid index).
        let p = unsafe {
            _mm512_mask_i32gather_epi32::<4>(
                _mm512_setzero_si512(),
                inside,
                slots,
                presence.as_ptr().cast(),
            )
        };
        _mm512_cmpeq_epi32_mask(p, epoch) & inside != 0
    };
    for chunk in chunks {
        // SAFETY: `chunk` is 16 `u32`s, the 64 bytes one unaligned load reads.
        let ids = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
        if marked(ids, u16::MAX) {
            return true;
        }
    }
    if tail.is_empty() {
        return false;
    }
    let lanes = lanes(tail.len());
    // SAFETY: the masked load reads only the first `tail.len()` lanes, all in `tail`.
    let ids = unsafe { _mm512_maskz_loadu_epi32(lanes, tail.as_ptr().cast()) };
    marked(ids, lanes)
}
