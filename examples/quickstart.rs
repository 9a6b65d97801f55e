//! Quick start: one engine, three campaigns, one decision, an impression and a conversion.
//!
//! `cargo run --release --example quickstart`

use adloop::attribution::Conversion;
use adloop::core::{DurationMs, HouseholdId, Timestamp, UserId};
use adloop::{AdRequest, Campaign, Engine, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. One engine per process, shared by every request thread (it is Send + Sync).
    let engine = Engine::builder().seed(42).build()?;

    // 2. Campaigns are plain serde data: money in micro-units, audiences in adloop's language.
    let campaign = |id: u64, bid: &str, audience: &str| -> serde_json::Result<Campaign> {
        serde_json::from_str(&format!(
            r#"{{"id": {id}, "advertiser": {id}, "advertiser_domain": "brand{id}.example",
                "budget": {{"daily": 50000000}}, "flight": {{"start": 0, "end": 4102444800000}},
                "bid": {bid}, "targeting": "{audience}", "categories": ["IAB{id}"],
                "creatives": [{{"id": {id}00, "format": "video", "duration_s": 15}}]}}"#
        ))
    };
    let generation = engine.publish(vec![
        campaign(
            1,
            r#"{"cpm": 12000000}"#,
            "segment in (12, 40) and device.type = 3",
        )?,
        campaign(2, r#"{"cpm": 9500000}"#, "segment = 12")?,
        campaign(3, r#"{"cpa": 25000000}"#, "segment = 99")?, // pays per subscription
    ])?;
    println!("published 3 campaigns as {generation}");

    // 3. A viewer in segment 12 on a connected TV (device type 3) asks for one video ad.
    let now = Timestamp::from_millis(1_764_400_000_000);
    let mut request = AdRequest::default();
    (request.id, request.user, request.household) =
        (1, Some(UserId::new(7)), Some(HouseholdId::new(70)));
    request.trace = true; // explain every campaign's fate: the delivery funnel
    request.attributes.push_int("segment", 12);
    request.attributes.push_int("device.type", 3);
    let decision = engine.decide(&request, now);
    println!("funnel: {:?}", decision.trace.as_ref().map(|t| t.funnel()));
    let ad = decision.placements.first().ok_or("nothing filled")?;
    println!(
        "winner: campaign {} at {} CPM (2nd price)",
        ad.campaign, ad.price_cpm
    );

    // 4. The player showed the ad: hand back the receipt. Only now is the budget charged.
    let shown = Event::Impression {
        receipt: ad.receipt,
        time: now,
    };
    engine.record(shown)?;
    println!("recording it twice: {}", engine.record(shown).unwrap_err());

    // 5. Two hours later the household subscribes; attribution joins it to the impression.
    let later = now + DurationMs::from_hours(2);
    let conversion: Conversion = serde_json::from_str(&format!(
        r#"{{"id": 1, "time": {}, "user": 7, "household": 70, "advertiser": {},
            "kind": "Subscription", "value": 9990000, "order_id": null}}"#,
        later.as_millis(),
        ad.advertiser
    ))?;
    engine.record(Event::Conversion(conversion))?;
    engine.tick(later + DurationMs::from_hours(2)); // past the allowed lateness: final

    // 6. The report: spend from the budget ledger, outcomes from attribution.
    let s = engine.summary(ad.campaign).ok_or("unknown campaign")?;
    println!(
        "campaign {}: spent {}, {} impression, {} attributed conversion ({:?}), CVR now {:.4}",
        s.campaign, s.spent, s.impressions, s.attributed_conversions, s.model, s.cvr
    );
    Ok(())
}
