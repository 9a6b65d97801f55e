//! OpenRTB 2.6 BidRequest decoding: never a panic, every limit holds on what is
//! accepted, the mapping is deterministic, and the BidResponse written for it is valid
//! JSON that echoes the request id.
//!
//! The first input byte picks the mode: raw bytes as the document (seeded with the
//! fixtures and a dictionary), or a document generated from the OpenRTB field names with
//! values of the right and of the wrong types.

use super::engine_ops::{T0, base_campaign, builder, creative};
use adloop::auction::Tier;
use adloop::core::Timestamp;
use adloop::openrtb::{RtbLimits, RtbRequest, deal_id, parse_bid_request, write_bid_response};
use adloop::{Decision, Engine, Format, MAX_SLOTS, Opportunity};
use arbitrary::{Result, Unstructured};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        check(rest, &RtbLimits::default());
        let mut u = Unstructured::new(data.get(data.len().saturating_sub(6)..).unwrap_or(&[]));
        if let Ok(limits) = small_limits(&mut u) {
            check(rest, &limits);
        }
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(doc) = request(&mut u) else { return };
        let text = doc.to_string();
        check(text.as_bytes(), &RtbLimits::default());
        if let Ok(limits) = small_limits(&mut u) {
            check(text.as_bytes(), &limits);
        }
    }
}

fn small_limits(u: &mut Unstructured<'_>) -> Result<RtbLimits> {
    Ok(RtbLimits {
        max_bytes: usize::from(u.arbitrary::<u16>()?),
        max_imps: u.int_in_range(0..=4)?,
        max_deals: u.int_in_range(0..=3)?,
        max_data: u.int_in_range(0..=3)?,
        max_segments: u.int_in_range(0..=6)?,
        max_list: u.int_in_range(0..=4)?,
        max_string: u.int_in_range(0..=12)?,
    })
}

fn check(json: &[u8], limits: &RtbLimits) {
    let parsed = parse_bid_request(json, "USD", limits);
    if json.len() > limits.max_bytes {
        assert!(parsed.is_err(), "a document over max_bytes was accepted");
        return;
    }
    let Ok(request) = parsed else { return };
    obeys_limits(&request, limits);

    let again = parse_bid_request(json, "USD", limits).expect("parsed once, parses again");
    assert_eq!(
        format!("{again:?}"),
        format!("{request:?}"),
        "mapping is not deterministic"
    );

    // The response to "no bids anywhere" is valid JSON and echoes the id.
    let decisions = vec![Decision::default(); request.imps.len()];
    let response = write_bid_response(&request, &decisions, "seat-1", "USD", |_| None);
    let value: Value = serde_json::from_str(&response)
        .unwrap_or_else(|e| panic!("bid response is not JSON ({e}): {response}"));
    if let Some(id) = value.get("id") {
        assert_eq!(id.as_str(), Some(request.id.as_str()), "response id");
    }

    // End to end: decide every opportunity on an engine with campaigns, answer.
    if *limits == RtbLimits::default() {
        decide_and_respond(&request);
    }
}

/// One engine for the whole process: four campaigns (video, display, a deal, targeted).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = builder().build().expect("default engine");
        let mut campaigns: Vec<_> = (1..=4).map(base_campaign).collect();
        campaigns[1].creatives = vec![creative(20, Format::Display, 0)];
        campaigns[2].deals = vec![deal_id("deal-7"), deal_id("1")];
        campaigns[2].tier = Tier::DEAL;
        campaigns[3].targeting = "segment in (1, 42) or geo.country = \"US\"".into();
        campaigns[3].creatives.push(creative(41, Format::Video, 30));
        engine.publish(campaigns).expect("valid campaigns");
        engine
    })
}

fn decide_and_respond(request: &RtbRequest) {
    let engine = engine();
    let now = Timestamp::from_millis(T0);
    let decisions: Vec<Decision> = request
        .imps
        .iter()
        .map(|imp| engine.decide(&imp.request, now))
        .collect();
    let response = engine.bid_response(request, &decisions);
    // Release every reservation before the next input.
    engine.tick(Timestamp::from_millis(T0 + 2 * 86_400_000));
    let value: Value = serde_json::from_str(&response)
        .unwrap_or_else(|e| panic!("bid response is not JSON ({e}): {response}"));
    let placements: usize = decisions.iter().map(|d| d.placements.len()).sum();
    let bids: Vec<&Value> = value
        .get("seatbid")
        .and_then(Value::as_array)
        .map(|seats| {
            seats
                .iter()
                .filter_map(|s| s.get("bid").and_then(Value::as_array))
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(bids.len(), placements, "one bid per placement: {response}");
    let imp_ids: Vec<&str> = request
        .imps
        .iter()
        .flat_map(|i| i.imp_ids.iter().map(String::as_str))
        .collect();
    for bid in bids {
        let impid = bid.get("impid").and_then(Value::as_str).unwrap_or("");
        assert!(
            imp_ids.contains(&impid),
            "bid for unknown imp {impid:?}: {response}"
        );
        let price = bid.get("price").and_then(Value::as_f64);
        assert!(
            price.is_some_and(|p| p.is_finite() && p >= 0.0),
            "bid price {price:?}: {response}"
        );
    }
}

fn obeys_limits(r: &RtbRequest, limits: &RtbLimits) {
    assert!(!r.imps.is_empty(), "an accepted request has an imp");
    assert!(r.imps.len() <= limits.max_imps, "more imps than max_imps");
    assert!(
        r.id.len() <= limits.max_string,
        "request id longer than max_string"
    );
    for imp in &r.imps {
        assert!(!imp.imp_ids.is_empty(), "an opportunity without imp ids");
        assert!(
            imp.imp_ids.len() <= MAX_SLOTS,
            "more imp ids than pod slots"
        );
        for id in &imp.imp_ids {
            assert!(
                id.len() <= limits.max_string,
                "imp id longer than max_string"
            );
        }
        let q = &imp.request;
        assert!(
            q.deals.len() <= limits.max_deals,
            "more deals than max_deals"
        );
        assert!(q.floor.micros() >= 0, "negative floor");
        for d in &q.deals {
            assert!(d.floor.micros() >= 0, "negative deal floor");
            assert!(
                d.fixed_price.is_none_or(|p| p.micros() >= 0),
                "negative fixed price"
            );
            assert!(
                imp.deal_names.iter().any(|(id, _)| *id == d.id),
                "deal {:?} without its name",
                d.id
            );
        }
        assert!(
            q.blocked_categories.len() <= limits.max_list,
            "bcat over max_list"
        );
        assert!(
            q.blocked_domains.len() <= limits.max_list,
            "badv over max_list"
        );
        let segments = q.attributes.values("segment").count();
        assert!(
            segments <= limits.max_segments,
            "{segments} segments over the limit"
        );
        match &q.opportunity {
            Opportunity::Pod(pod) => {
                assert!(
                    (1..=MAX_SLOTS as u32).contains(&pod.max_slots),
                    "pod of {} slots",
                    pod.max_slots
                );
                assert!(pod.max_duration_s > 0, "pod of zero seconds");
                assert!(
                    !pod.required_durations_s.contains(&0),
                    "zero required duration"
                );
                if imp.imp_ids.len() > 1 {
                    assert_eq!(
                        pod.max_slots as usize,
                        imp.imp_ids.len(),
                        "structured pod slots"
                    );
                }
            }
            Opportunity::Ranked { factors, .. } => {
                assert!(factors.len() <= MAX_SLOTS, "too many ranked slots");
            }
            _ => {}
        }
    }
}

// ---- generated documents ------------------------------------------------------------

/// A value of a random JSON type, for fields given the wrong type.
fn wrong(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => Value::Null,
        1 => json!(u.arbitrary::<bool>()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(-1),
        4 => json!(f64::from(u.arbitrary::<i32>()?) / 7.0),
        5 => json!(u.arbitrary::<String>()?),
        6 => json!([]),
        _ => json!({}),
    })
}

/// Usually `value`, sometimes a value of another type.
fn or_wrong(u: &mut Unstructured<'_>, value: Value) -> Result<Value> {
    if u.ratio(1u8, 12)? {
        wrong(u)
    } else {
        Ok(value)
    }
}

fn text(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => json!(u.arbitrary::<String>()?),
        1 => json!(u.arbitrary::<u64>()?.to_string()),
        2 => json!(""),
        _ => json!(*u.choose(&["1", "42", "US", "abc", "deal-7", "pod-1"])?),
    })
}

fn number(u: &mut Unstructured<'_>, small: u32) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => json!(u.arbitrary::<i64>()?),
        1 => json!(u64::MAX),
        2 => json!(-3),
        3 => json!(1.5),
        4 => json!(0),
        _ => json!(u.int_in_range(1..=small)?),
    })
}

fn price(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => json!(-0.5),
        1 => json!(1e300),
        2 => json!(
            u.arbitrary::<f64>()
                .map(|f| if f.is_finite() { f } else { 0.0 })?
        ),
        3 => json!(0),
        _ => json!(f64::from(u.int_in_range(0u16..=2000)?) / 100.0),
    })
}

/// Inserts `key` with probability 3/4.
fn field(
    u: &mut Unstructured<'_>,
    obj: &mut Map<String, Value>,
    key: &str,
    make: impl FnOnce(&mut Unstructured<'_>) -> Result<Value>,
) -> Result<()> {
    if u.ratio(3u8, 4)? {
        let v = make(u)?;
        let v = or_wrong(u, v)?;
        obj.insert(key.to_owned(), v);
    }
    Ok(())
}

fn list(
    u: &mut Unstructured<'_>,
    max: usize,
    mut make: impl FnMut(&mut Unstructured<'_>) -> Result<Value>,
) -> Result<Value> {
    let n = u.int_in_range(0..=max)?;
    Ok(Value::Array(
        (0..n).map(|_| make(u)).collect::<Result<_>>()?,
    ))
}

fn video(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut v = Map::new();
    field(u, &mut v, "maxduration", |u| number(u, 60))?;
    if u.arbitrary()? {
        field(u, &mut v, "poddur", |u| number(u, 120))?;
        field(u, &mut v, "maxseq", |u| number(u, 10))?;
    }
    field(u, &mut v, "rqddurs", |u| list(u, 4, |u| number(u, 30)))?;
    if u.arbitrary()? {
        field(u, &mut v, "podid", |u| Ok(json!(*u.choose(&["p1", "p2"])?)))?;
        field(u, &mut v, "slotinpod", |u| {
            Ok(json!(u.int_in_range(-1i8..=3)?))
        })?;
    }
    Ok(Value::Object(v))
}

fn imp(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut imp = Map::new();
    field(u, &mut imp, "id", text)?;
    if u.arbitrary()? {
        field(u, &mut imp, "video", video)?;
    } else {
        field(u, &mut imp, "banner", |_| Ok(json!({"w": 300, "h": 250})))?;
    }
    field(u, &mut imp, "bidfloor", price)?;
    field(u, &mut imp, "bidfloorcur", |u| {
        Ok(json!(*u.choose(&["USD", "EUR", ""])?))
    })?;
    if u.arbitrary()? {
        field(u, &mut imp, "pmp", |u| {
            let deals = list(u, 3, |u| {
                let mut d = Map::new();
                field(u, &mut d, "id", text)?;
                field(u, &mut d, "bidfloor", price)?;
                field(u, &mut d, "at", |u| number(u, 3))?;
                Ok(Value::Object(d))
            })?;
            Ok(json!({"private_auction": u.int_in_range(0u8..=2)?, "deals": deals}))
        })?;
    }
    Ok(Value::Object(imp))
}

fn request(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut root = Map::new();
    field(u, &mut root, "id", text)?;
    field(u, &mut root, "imp", |u| list(u, 5, imp))?;
    field(u, &mut root, "user", |u| {
        let mut user = Map::new();
        field(u, &mut user, "id", text)?;
        field(u, &mut user, "ext", |u| {
            Ok(json!({"household": or_wrong(u, json!("hh-1"))?}))
        })?;
        field(u, &mut user, "data", |u| {
            list(u, 3, |u| {
                let segs = list(u, 4, |u| Ok(json!({"id": text(u)?})))?;
                Ok(json!({"segment": segs}))
            })
        })?;
        field(u, &mut user, "geo", |u| Ok(json!({"country": text(u)?})))?;
        Ok(Value::Object(user))
    })?;
    field(u, &mut root, "device", |u| {
        let mut d = Map::new();
        field(u, &mut d, "devicetype", |u| number(u, 7))?;
        field(u, &mut d, "os", text)?;
        field(u, &mut d, "ifa", text)?;
        field(u, &mut d, "geo", |u| {
            Ok(
                json!({"country": text(u)?, "region": text(u)?, "metro": text(u)?, "city": text(u)?}),
            )
        })?;
        Ok(Value::Object(d))
    })?;
    let place = if u.arbitrary()? { "site" } else { "app" };
    field(u, &mut root, place, |u| {
        let mut p = Map::new();
        field(u, &mut p, "cat", |u| list(u, 3, text))?;
        field(u, &mut p, "publisher", |u| Ok(json!({"id": text(u)?})))?;
        field(u, &mut p, "content", |u| {
            Ok(json!({"genre": text(u)?, "cat": list(u, 3, text)?}))
        })?;
        Ok(Value::Object(p))
    })?;
    field(u, &mut root, "bcat", |u| list(u, 4, text))?;
    field(u, &mut root, "badv", |u| list(u, 4, text))?;
    field(u, &mut root, "ext", |u| {
        Ok(json!({"adloop": {"trace": or_wrong(u, json!(true))?}}))
    })?;
    Ok(Value::Object(root))
}
