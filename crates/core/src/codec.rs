//! The one place adloop turns state into bytes and back.
//!
//! Encoding is serde over [bincode 2](https://docs.rs/bincode) with its standard
//! configuration; nothing outside this module names bincode, so the format can be
//! swapped in one place. Persisted files are wrapped in a frame:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic number (chosen by the caller, e.g. `b"ADLOOPv1"`) |
//! | 8 | 4 | format version, little-endian `u32` |
//! | 12 | 8 | payload length in bytes, little-endian `u64` |
//! | 20 | 4 | CRC-32 (IEEE) of the payload, little-endian |
//! | 24 | n | payload |
//!
//! [`open`] checks every field before the payload is decoded, so a truncated, foreign
//! or corrupt file is a typed [`Error`] and never a partial load. Decoding is bounded by
//! a byte limit, so a hostile length prefix cannot make it allocate without bound.
//!
//! ```
//! use adloop_core::codec;
//!
//! let state = vec![(1u64, "spend".to_string())];
//! let file = codec::encode_framed(b"EXAMPLE1", 3, &state)?;
//! let back: Vec<(u64, String)> = codec::decode_framed(b"EXAMPLE1", 3, &file, 1 << 20)?;
//! assert_eq!(back, state);
//! assert!(codec::decode_framed::<Vec<(u64, String)>>(b"EXAMPLE1", 3, &file[..10], 1 << 20).is_err());
//! # Ok::<(), adloop_core::Error>(())
//! ```

use crate::Error;
use serde::{Serialize, de::DeserializeOwned};

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 24;

/// What [`open`] read from a frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// Format version stored in the header.
    pub version: u32,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// CRC-32 of the payload.
    pub checksum: u32,
}

// Bincode's own allocation guard; the payload-length check below is the tighter one.
const BINCODE_LIMIT: usize = 1 << 32;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BINCODE_LIMIT>()
}

/// Encodes `value` as an unframed payload.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| Error::Encode(e.to_string()))
}

/// Decodes a payload written by [`encode`]. The whole input must be consumed, and it may
/// be at most `limit` bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, Error> {
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            what: "payload",
            size: bytes.len() as u64,
            limit: limit as u64,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| Error::Decode(e.to_string()))?;
    if read != bytes.len() {
        return Err(Error::Decode(format!(
            "{} trailing bytes after the value (read {read} of {})",
            bytes.len() - read,
            bytes.len()
        )));
    }
    Ok(value)
}

/// Wraps `payload` in a frame with `magic` and `version`.
pub fn seal(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks a frame's header and checksum and returns its payload.
///
/// The frame must carry `magic`, exactly `version`, a payload of at most `limit` bytes
/// whose length matches the header, and a matching CRC-32.
pub fn open<'a>(
    magic: &[u8; 8],
    version: u32,
    bytes: &'a [u8],
    limit: usize,
) -> Result<(&'a [u8], FrameInfo), Error> {
    let header = bytes.get(..HEADER_LEN).ok_or(Error::Truncated {
        what: "frame header",
        needed: HEADER_LEN as u64,
        available: bytes.len() as u64,
    })?;
    let field = |range: std::ops::Range<usize>| -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..range.len()].copy_from_slice(&header[range]);
        out
    };
    let found_magic = field(0..8);
    if &found_magic != magic {
        return Err(Error::BadMagic {
            expected: *magic,
            found: found_magic,
        });
    }
    let found_version = u32::from_le_bytes(field(8..12)[..4].try_into().unwrap_or([0; 4]));
    if found_version != version {
        return Err(Error::UnsupportedVersion {
            found: found_version,
            supported: version,
        });
    }
    let payload_len = u64::from_le_bytes(field(12..20));
    let stored = u32::from_le_bytes(field(20..24)[..4].try_into().unwrap_or([0; 4]));
    if payload_len > limit as u64 {
        return Err(Error::TooLarge {
            what: "payload",
            size: payload_len,
            limit: limit as u64,
        });
    }
    let available = (bytes.len() - HEADER_LEN) as u64;
    if available < payload_len {
        return Err(Error::Truncated {
            what: "payload",
            needed: payload_len,
            available,
        });
    }
    if available > payload_len {
        return Err(Error::Decode(format!(
            "{} unexpected bytes after the payload",
            available - payload_len
        )));
    }
    let payload = &bytes[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Err(Error::ChecksumMismatch { stored, computed });
    }
    Ok((
        payload,
        FrameInfo {
            version: found_version,
            payload_len,
            checksum: stored,
        },
    ))
}

/// [`encode`] then [`seal`].
pub fn encode_framed<T: Serialize + ?Sized>(
    magic: &[u8; 8],
    version: u32,
    value: &T,
) -> Result<Vec<u8>, Error> {
    Ok(seal(magic, version, &encode(value)?))
}

/// [`open`] then [`decode`].
pub fn decode_framed<T: DeserializeOwned>(
    magic: &[u8; 8],
    version: u32,
    bytes: &[u8],
    limit: usize,
) -> Result<T, Error> {
    let (payload, _) = open(magic, version, bytes, limit)?;
    decode(payload, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MAGIC: &[u8; 8] = b"ADLTEST1";

    fn sample() -> BTreeMap<u64, (i64, String)> {
        (0..50)
            .map(|i| (i, (i as i64 * -7, format!("c{i}"))))
            .collect()
    }

    #[test]
    fn round_trip() {
        let file = encode_framed(MAGIC, 1, &sample()).unwrap();
        let back: BTreeMap<u64, (i64, String)> = decode_framed(MAGIC, 1, &file, 1 << 20).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn every_kind_of_damage_is_a_typed_error() {
        let file = encode_framed(MAGIC, 1, &sample()).unwrap();
        let dec = |b: &[u8]| decode_framed::<BTreeMap<u64, (i64, String)>>(MAGIC, 1, b, 1 << 20);
        assert!(matches!(
            dec(&file[..5]),
            Err(Error::Truncated {
                what: "frame header",
                ..
            })
        ));
        assert!(matches!(
            dec(&file[..file.len() - 1]),
            Err(Error::Truncated {
                what: "payload",
                ..
            })
        ));
        let mut bad = file.clone();
        bad[0] ^= 1;
        assert!(matches!(dec(&bad), Err(Error::BadMagic { .. })));
        let mut bad = file.clone();
        bad[8] = 9;
        assert!(matches!(
            dec(&bad),
            Err(Error::UnsupportedVersion {
                found: 9,
                supported: 1
            })
        ));
        let mut bad = file.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(matches!(dec(&bad), Err(Error::ChecksumMismatch { .. })));
        let mut bad = file.clone();
        bad.push(0);
        assert!(matches!(dec(&bad), Err(Error::Decode(_))));
        assert!(matches!(
            decode_framed::<BTreeMap<u64, (i64, String)>>(MAGIC, 1, &file, 16),
            Err(Error::TooLarge { .. })
        ));
        // A valid frame around a payload of the wrong shape.
        let wrong = seal(MAGIC, 1, &[0xff; 3]);
        assert!(matches!(dec(&wrong), Err(Error::Decode(_))));
    }

    #[test]
    fn hostile_length_prefix_does_not_allocate_unbounded() {
        // A payload claiming a vector of 2^60 elements.
        let mut payload = vec![0xff];
        payload.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let frame = seal(MAGIC, 1, &payload);
        assert!(decode_framed::<Vec<u64>>(MAGIC, 1, &frame, 1 << 20).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_framed::<BTreeMap<u64, (i64, String)>>(MAGIC, 1, &bytes, 1 << 20);
            let _ = decode::<Vec<String>>(&bytes, 1 << 20);
        }

        #[test]
        fn any_single_byte_flip_is_detected(pos in 0usize..10_000, bit in 0u8..8) {
            let file = encode_framed(MAGIC, 1, &sample()).unwrap();
            let mut bad = file.clone();
            let p = pos % bad.len();
            bad[p] ^= 1 << bit;
            prop_assert!(decode_framed::<BTreeMap<u64, (i64, String)>>(MAGIC, 1, &bad, 1 << 20).is_err());
        }
    }
}
