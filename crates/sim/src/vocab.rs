//! The attribute vocabulary the simulator generates and targets.
//!
//! These are the attribute names and values of the targeting language as the simulator
//! uses them; an engine turning a simulated request into targeting attributes must use
//! the same names (see [`attr`]).

/// Targeting attribute names, exactly as written in generated expressions.
///
/// | name | kind | values |
/// |---|---|---|
/// | `segment` | int, multi-valued | audience segment ids `0..segment_domain` |
/// | `geo.country` | string | [`COUNTRIES`] (ISO 3166-1 alpha-2) |
/// | `geo.region` | string | [`REGIONS`] (ISO 3166-2 style, `"US-CA"`) |
/// | `device.type` | string | [`DEVICE_TYPES`] |
/// | `device.os` | string | [`OPERATING_SYSTEMS`] |
/// | `content.genre` | string | [`GENRES`] |
/// | `hour` | int | local hour of day `0..=23` |
/// | `dow` | int | local day of week `0..=6`, **0 = Monday** … 6 = Sunday |
/// | `publisher` | string | [`PUBLISHERS`] |
pub mod attr {
    /// Audience segment ids (ints; a request carries many).
    pub const SEGMENT: &str = "segment";
    /// Country code.
    pub const COUNTRY: &str = "geo.country";
    /// Region code.
    pub const REGION: &str = "geo.region";
    /// Device type.
    pub const DEVICE_TYPE: &str = "device.type";
    /// Operating system / platform.
    pub const DEVICE_OS: &str = "device.os";
    /// Genre of the content being watched.
    pub const GENRE: &str = "content.genre";
    /// Local hour of day, `0..=23`.
    pub const HOUR: &str = "hour";
    /// Local day of week, `0..=6`, 0 = Monday.
    pub const DOW: &str = "dow";
    /// The app or site that sent the request.
    pub const PUBLISHER: &str = "publisher";
}

/// Countries, with the share of households in each.
pub const COUNTRIES: [(&str, f64); 6] = [
    ("US", 0.55),
    ("CA", 0.10),
    ("GB", 0.12),
    ("DE", 0.10),
    ("FR", 0.08),
    ("BR", 0.05),
];

/// Regions by country (index matches [`COUNTRIES`]), with relative weights within it.
pub const REGIONS: [&[(&str, f64)]; 6] = [
    &[
        ("US-CA", 0.18),
        ("US-TX", 0.13),
        ("US-FL", 0.10),
        ("US-NY", 0.09),
        ("US-PA", 0.06),
        ("US-IL", 0.06),
        ("US-OH", 0.05),
        ("US-GA", 0.05),
        ("US-WA", 0.04),
        ("US-OTHER", 0.24),
    ],
    &[
        ("CA-ON", 0.39),
        ("CA-QC", 0.22),
        ("CA-BC", 0.14),
        ("CA-AB", 0.12),
        ("CA-OTHER", 0.13),
    ],
    &[
        ("GB-ENG", 0.84),
        ("GB-SCT", 0.08),
        ("GB-WLS", 0.05),
        ("GB-NIR", 0.03),
    ],
    &[
        ("DE-NW", 0.22),
        ("DE-BY", 0.16),
        ("DE-BW", 0.13),
        ("DE-BE", 0.04),
        ("DE-OTHER", 0.45),
    ],
    &[
        ("FR-IDF", 0.19),
        ("FR-ARA", 0.12),
        ("FR-NAQ", 0.09),
        ("FR-OCC", 0.09),
        ("FR-OTHER", 0.51),
    ],
    &[
        ("BR-SP", 0.22),
        ("BR-MG", 0.10),
        ("BR-RJ", 0.08),
        ("BR-OTHER", 0.60),
    ],
];

/// Device types, with the share of viewers whose main device it is.
pub const DEVICE_TYPES: [(&str, f64); 5] = [
    ("tv", 0.52),
    ("phone", 0.20),
    ("tablet", 0.09),
    ("desktop", 0.12),
    ("console", 0.07),
];

/// Operating systems by device type (index matches [`DEVICE_TYPES`]), with weights.
pub const OPERATING_SYSTEMS: [&[(&str, f64)]; 5] = [
    &[
        ("roku", 0.32),
        ("tizen", 0.18),
        ("firetv", 0.17),
        ("webos", 0.11),
        ("androidtv", 0.12),
        ("tvos", 0.10),
    ],
    &[("ios", 0.52), ("android", 0.48)],
    &[("ipados", 0.60), ("android", 0.40)],
    &[("windows", 0.70), ("macos", 0.27), ("linux", 0.03)],
    &[("playstation", 0.55), ("xbox", 0.45)],
];

/// Content genres, with their overall share of viewing.
pub const GENRES: [(&str, f64); 10] = [
    ("drama", 0.20),
    ("comedy", 0.16),
    ("reality", 0.11),
    ("documentary", 0.07),
    ("kids", 0.10),
    ("sports", 0.09),
    ("news", 0.06),
    ("thriller", 0.09),
    ("animation", 0.06),
    ("scifi", 0.06),
];

/// Publishers (the service's own apps), by device type (index matches [`DEVICE_TYPES`]).
pub const PUBLISHERS: [&str; 5] = [
    "streamco.ctv",
    "streamco.mobile",
    "streamco.mobile",
    "streamco.web",
    "streamco.console",
];

/// Competitive categories (IAB content taxonomy 1.0 tier-1 codes) and their names.
pub const CATEGORIES: [(&str, &str); 12] = [
    ("IAB2", "automotive"),
    ("IAB3", "business"),
    ("IAB8", "food & drink"),
    ("IAB13", "personal finance"),
    ("IAB19", "technology"),
    ("IAB20", "travel"),
    ("IAB22", "shopping"),
    ("IAB7", "health & fitness"),
    ("IAB1", "arts & entertainment"),
    ("IAB17", "sports"),
    ("IAB18", "style & fashion"),
    ("IAB5", "education"),
];
