use thiserror::Error;

/// Everything that can go wrong in `adloop-core`: parsing money, overflow, and decoding
/// persisted state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A decimal amount could not be parsed.
    #[error("invalid money amount {input:?} at byte {position}: {reason}")]
    InvalidMoney {
        /// The text that was parsed (cut to 64 bytes).
        input: String,
        /// Byte offset of the offending character.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// An arithmetic result does not fit in the micro-unit range.
    #[error("money overflow in {operation}")]
    Overflow {
        /// The operation that overflowed.
        operation: &'static str,
    },
    /// The input is shorter than its header or its declared payload.
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// Which part is cut short.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The input does not start with the expected magic number.
    #[error("bad magic number: expected {expected:?}, found {found:?}")]
    BadMagic {
        /// The magic this reader expects.
        expected: [u8; 8],
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The input was written by an unsupported format version.
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The payload checksum does not match: the file is corrupt.
    #[error("checksum mismatch: header says {stored:#010x}, payload hashes to {computed:#010x}")]
    ChecksumMismatch {
        /// CRC-32 stored in the header.
        stored: u32,
        /// CRC-32 of the payload read.
        computed: u32,
    },
    /// The input is larger than the configured limit.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Which part is too large.
        what: &'static str,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The payload could not be decoded into the expected type.
    #[error("decoding failed: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(String),
}
