//! Engine state files from arbitrary bytes: [`EngineBuilder::load`] returns an error or a
//! working engine, never panics, and never allocates without bound (libFuzzer's
//! `-rss_limit_mb`, 2 GiB by default, fails any input that tries).
//!
//! The first input byte picks the mode:
//! - raw: the bytes are the file;
//! - sealed: the bytes are the payload of a well-formed frame (right magic, version,
//!   length and checksum), so the decoder itself is fuzzed, past the checksum;
//! - mutated: a real state (a few campaigns, decisions and impressions, saved) with
//!   arbitrary byte edits in its payload, re-sealed with a correct checksum: structurally
//!   almost valid files, the hardest case for validation.
//!
//! A state that loads must then decide, record, tick, save, and load again to the same
//! generation and campaigns.

use super::engine_ops::{T0, builder, campaign, request};
use adloop::core::{Money, Timestamp, codec};
use adloop::{Engine, Event};
use arbitrary::{Result, Unstructured};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    if let Err(reload) = run_strict(data) {
        panic!("{reload}");
    }
}

/// The check; `Err` carries the message of a saved state that did not load again.
fn run_strict(data: &[u8]) -> std::result::Result<(), String> {
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(());
    };
    match mode % 3 {
        0 => load_and_exercise(rest),
        1 => {
            let (magic, version) = frame_of(&reference_state());
            load_and_exercise(&codec::seal(&magic, version, rest))
        }
        _ => mutated(&mut Unstructured::new(rest)).unwrap_or(Ok(())),
    }
}

/// The magic number and version of the engine's state frames, read from a real file.
fn frame_of(file: &[u8]) -> ([u8; 8], u32) {
    let magic = file[..8].try_into().expect("8 bytes of magic");
    let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes of version"));
    (magic, version)
}

/// A small saved engine: two campaigns, a few decisions and impressions.
fn reference_state() -> Vec<u8> {
    scenario(&mut Unstructured::new(&[0x5a; 64])).expect("fixed bytes suffice")
}

/// Builds an engine from the input, runs a few operations and saves it.
fn scenario(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let engine = builder().build().expect("default engine");
    let campaigns = (1..=u.int_in_range(1..=3)?)
        .map(|id| campaign(u, id))
        .collect::<Result<Vec<_>>>()?;
    let _ = engine.publish(campaigns);
    let now = Timestamp::from_millis(T0);
    for _ in 0..u.int_in_range(0..=4)? {
        let decision = engine.decide(&request(u)?, now);
        for p in &decision.placements {
            let _ = engine.record(Event::Impression {
                receipt: p.receipt,
                time: now,
            });
        }
    }
    engine.tick(now);
    Ok(engine.save().expect("state saves"))
}

fn mutated(u: &mut Unstructured<'_>) -> Result<std::result::Result<(), String>> {
    let file = scenario(u)?;
    let (magic, version) = frame_of(&file);
    let mut payload = file[codec::HEADER_LEN..].to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        if payload.is_empty() {
            break;
        }
        let at = u.choose_index(payload.len())?;
        match u.int_in_range(0u8..=5)? {
            0 => payload.truncate(at),
            1 => {
                let len = u.int_in_range(1..=8)?.min(payload.len() - at);
                payload.drain(at..at + len);
            }
            2 => {
                let bytes: [u8; 4] = u.arbitrary()?;
                payload.splice(at..at, bytes);
            }
            3 => payload[at] = 0xff,
            _ => payload[at] = u.arbitrary()?,
        }
    }
    Ok(load_and_exercise(&codec::seal(&magic, version, &payload)))
}

/// Loads `file`; if that works, uses the engine, saves it and loads the save again.
/// Panics on a broken property; `Err` when the saved state does not load again.
fn load_and_exercise(file: &[u8]) -> std::result::Result<(), String> {
    let Ok(engine) = builder().state_limit(1 << 20).load(file) else {
        return Ok(());
    };
    exercise(&engine);
    let saved = engine.save().expect("a loaded engine saves");
    let again = builder()
        .load(&saved)
        .map_err(|e| format!("a state saved by a loaded engine does not load: {e}"))?;
    assert_eq!(again.generation(), engine.generation(), "generation");
    assert_eq!(again.campaigns(), engine.campaigns(), "campaigns");
    Ok(())
}

/// Uses every operation of a loaded engine; none may panic.
fn exercise(engine: &Engine) {
    let now = Timestamp::from_millis(T0 + 1_000);
    let mut u = Unstructured::new(&[0x33; 64]);
    let Ok(request) = request(&mut u) else {
        return;
    };
    let decision = engine.decide(&request, now);
    for p in &decision.placements {
        let _ = engine.record(Event::Impression {
            receipt: p.receipt,
            time: now,
        });
    }
    for c in engine.campaigns() {
        if let Some(s) = engine.spend(c.id) {
            // A state that loads was validated: no negative money in its ledgers.
            assert!(
                s.spent >= Money::ZERO,
                "campaign {}: negative spend {s:?}",
                c.id
            );
            assert!(
                s.reserved >= Money::ZERO,
                "campaign {}: negative reservations",
                c.id
            );
        }
        let _ = engine.summary(c.id);
        let _ = engine.lift(c.id);
    }
    engine.tick(now);
    let _ = engine.report();
    let _ = engine.memory();
}
