//! Replays the fuzz campaigns' committed inputs under an ordinary `cargo test`: no
//! libFuzzer, no nightly, no cargo-fuzz.
//!
//! The property checks are the fuzz targets' own code (`fuzz/src/checks/`), included
//! here by path, so a crash kept in `fuzz/regressions/<target>/` fails this test exactly
//! as it failed the fuzzer. Each target also runs on tens to hundreds of seeded random inputs,
//! which keeps the checks compiling and exercised between campaigns. See
//! `docs/fuzzing.md`.

// The checks' entry points are `pub` for the fuzz crate; here they sit in a private
// module.
#![allow(unreachable_pub)]

#[path = "../fuzz/src/checks/mod.rs"]
mod checks;

use std::path::Path;

/// Seeded random inputs per target (SplitMix64, so the set is the same on every run);
/// fewer for the engine targets, whose inputs each build and drive a whole engine.
const RANDOM_INPUTS: u64 = 300;
const RANDOM_ENGINE_INPUTS: u64 = 60;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `check` on every file in `fuzz/regressions/<target>/`, then on seeded random
/// inputs; a failing regression file is named in the panic message.
fn replay(target: &str, check: fn(&[u8]), random_inputs: u64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("readable directory entry").path())
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.starts_with('.') && !name.ends_with(".md")
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    for path in &files {
        let data = std::fs::read(path).expect("readable regression file");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "regression input {} fails", path.display());
    }

    let mut state = target
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
    let mut data = Vec::new();
    for _ in 0..random_inputs {
        let len = (splitmix(&mut state) % 600) as usize;
        data.clear();
        while data.len() < len {
            data.extend_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        data.truncate(len);
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "{target}: seeded input of {len} bytes fails (write it to fuzz/regressions/{target}/ \
             to replay it under `cargo fuzz run`): {data:?}"
        );
    }
}

#[test]
fn money_parse() {
    replay("money_parse", checks::money_parse::run, RANDOM_INPUTS);
}

#[test]
fn targeting_parse() {
    replay(
        "targeting_parse",
        checks::targeting_parse::run,
        RANDOM_INPUTS,
    );
}

#[test]
fn targeting_index() {
    replay(
        "targeting_index",
        checks::targeting_index::run,
        RANDOM_INPUTS,
    );
}

#[test]
fn auction() {
    replay("auction", checks::auction::run, RANDOM_INPUTS);
}

#[test]
fn attribution() {
    replay("attribution", checks::attribution::run, RANDOM_INPUTS);
}

#[test]
fn openrtb() {
    replay("openrtb", checks::openrtb::run, RANDOM_INPUTS);
}

#[test]
fn engine_state() {
    replay(
        "engine_state",
        checks::engine_state::run,
        RANDOM_ENGINE_INPUTS,
    );
}

#[test]
fn engine_ops() {
    replay("engine_ops", checks::engine_ops::run, RANDOM_ENGINE_INPUTS);
}

/// Bugs the fuzzers found in component crates, reduced to a few lines of public API (or
/// replaying the input that found them). While a bug is open its test is `#[ignore]`d
/// (`cargo test --test fuzz_regressions -- --ignored` runs them) and the check steps
/// around it with a comment naming the test, so that campaigns keep exploring; once the
/// owning crate fixes it, the `#[ignore]` and the workaround go. All fixed so far.
mod known_bugs {
    use super::checks;
    use adloop_attribution::{
        Attributor, Click, Config, Conversion, ConversionKind, Event, Impression,
    };
    use adloop_core::{
        AdvertiserId, CampaignId, ConversionId, CreativeId, HouseholdId, ImpressionId, Money,
        Timestamp, UserId,
    };

    fn impression(id: u64, at: Timestamp) -> Event {
        Event::Impression(Impression {
            id: ImpressionId(id),
            time: at,
            user: UserId(1),
            household: HouseholdId(1),
            advertiser: AdvertiserId(1),
            campaign: CampaignId(1),
            creative: CreativeId(1),
            cost: Money::ZERO,
            ghost: false,
        })
    }

    /// Fixed in `aefdb59`: `Attributor::finish` promises to finalize every pending
    /// conversion, but one at `Timestamp::MAX` stayed pending (finalization needs
    /// `time < watermark`, and the watermark tops out at `i64::MAX`).
    #[test]
    fn conversion_at_max_time_is_finalized_by_finish() {
        let mut a = Attributor::new(Config::default()).expect("default config");
        a.ingest(Event::Conversion(Conversion {
            id: ConversionId(1),
            time: Timestamp::MAX,
            user: UserId(1),
            household: HouseholdId(1),
            advertiser: AdvertiserId(1),
            kind: ConversionKind::Purchase,
            value: None,
            order_id: None,
        }));
        a.finish();
        assert_eq!(a.pending_conversions(), 0);
        assert_eq!(a.take_attributions().len(), 1);
    }

    /// Fixed in `aefdb59`: the impression → click delay was computed as
    /// `click − impression` in plain `i64` arithmetic (`join.rs`, `resolve_click`), so an
    /// impression near `Timestamp::MIN` and a click near `Timestamp::MAX` overflowed it (a
    /// panic with overflow checks; otherwise the delay wrapped negative and the click was
    /// accepted as a touch).
    #[test]
    fn click_delay_does_not_overflow() {
        let mut a = Attributor::new(Config::default()).expect("default config");
        a.ingest(impression(1, Timestamp::from_millis(-1)));
        a.ingest(Event::Click(Click {
            impression: ImpressionId(1),
            time: Timestamp::MAX,
        }));
        a.finish();
        assert_eq!(
            a.stats().orphan_clicks,
            1,
            "a click 292 million years late is orphaned"
        );
    }

    /// Fixed in `e38c55f`: `Credit::credit` is documented in `(0, 1]`, but under time
    /// decay a touch far older than the half-life got weight `2^(−Δt/h)` = 0 and was
    /// emitted with credit 0 (`crates/attribution/src/model.rs`, `Model::TimeDecay`).
    #[test]
    fn time_decay_gives_no_zero_credits() {
        let config = Config::default()
            .half_life(adloop_core::DurationMs::from_millis(1))
            .model(adloop_attribution::Model::TimeDecay);
        let mut a = Attributor::new(config).expect("valid config");
        let t0 = 1_700_000_000_000;
        let mut first = impression(1, Timestamp::from_millis(t0));
        if let Event::Impression(i) = &mut first {
            i.campaign = CampaignId(2);
        }
        a.ingest(first);
        a.ingest(impression(2, Timestamp::from_millis(t0 + 3_600_000)));
        a.ingest(Event::Conversion(Conversion {
            id: ConversionId(1),
            time: Timestamp::from_millis(t0 + 7_200_000),
            user: UserId(1),
            household: HouseholdId(1),
            advertiser: AdvertiserId(1),
            kind: ConversionKind::Purchase,
            value: None,
            order_id: None,
        }));
        a.finish();
        let out = a.take_attributions();
        assert_eq!(out.len(), 1);
        for c in &out[0].credits {
            assert!(c.credit > 0.0, "zero credit: {:?}", out[0]);
        }
    }

    /// Fixed in `e38c55f`: an attribution state decoded from a sealed arbitrary payload
    /// passed `Attributor::from_bytes`, then the first ingest that raised the watermark
    /// panicked in `Store::evict` (`crates/attribution/src/store.rs`, `evicted += n - d`):
    /// a chunk had more dropped touches than stored ones.
    #[test]
    fn decoded_attribution_state_never_panics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/attribution/state-dropped-exceeds-stored"
        );
        let data = std::fs::read(path).expect("known-bug input");
        checks::attribution::run(&data);
    }
}
