//! Attribute conversions in a CSV of events to the campaigns that earned them.
//!
//! ```text
//! cargo run --release --example attribute -- EVENTS.csv [--model M] [--key household|user]
//!     [--click-window-ms N] [--view-window-ms N] [--half-life-ms N]
//! ```
//!
//! EVENTS.csv has the header `time_ms,event,id,user,household,advertiser,campaign,value_micros,order_id`.
//! `event` is `impression`, `click` or `conversion`. For a click, `id` is the impression it
//! belongs to and the identity columns may be empty; for a conversion, `campaign` is empty;
//! `value_micros` and `order_id` (any string) may be empty. Rows may come in any order.
//! Conversions are read as purchases (the file has no kind column).
//!
//! stdout: `conversion_id,campaign,credit`, one row per credited (conversion, campaign),
//! credit with 6 decimals, sorted by conversion id then campaign. stderr: every malformed
//! row with its line number (the row is skipped), then a per-campaign summary.

use adloop::attribution::Click;
use adloop::attribution::{
    Config, Conversion, ConversionKind, Event, Impression, JoinKey, Model, OrderId, Outcome,
    attribute_batch,
};
use adloop::core::{
    AdvertiserId, CampaignId, ConversionId, CreativeId, DurationMs, HouseholdId, ImpressionId,
    Money, Timestamp, UserId,
};
use clap::Parser;
use std::collections::HashMap;
use std::io::{BufWriter, Write};

#[derive(Parser, Debug)]
#[command(about = "Attribute conversions in an events CSV to campaigns")]
struct Args {
    /// The events CSV.
    events: std::path::PathBuf,
    /// last-touch, first-touch, linear, time-decay or position-based.
    #[arg(long, default_value = "last-touch")]
    model: String,
    /// household or user.
    #[arg(long, default_value = "household")]
    key: String,
    /// Click window in milliseconds (default 7 days).
    #[arg(long)]
    click_window_ms: Option<i64>,
    /// View window in milliseconds (default 1 day).
    #[arg(long)]
    view_window_ms: Option<i64>,
    /// Time-decay half-life in milliseconds (default 7 days).
    #[arg(long)]
    half_life_ms: Option<i64>,
}

const HEADER: [&str; 9] = [
    "time_ms",
    "event",
    "id",
    "user",
    "household",
    "advertiser",
    "campaign",
    "value_micros",
    "order_id",
];

/// Parses one data row; `orders` interns order-id strings exactly (no hash collisions).
fn parse_row(row: &csv::StringRecord, orders: &mut HashMap<String, u64>) -> Result<Event, String> {
    if row.len() != HEADER.len() {
        return Err(format!(
            "expected {} fields, found {}",
            HEADER.len(),
            row.len()
        ));
    }
    let field = |i: usize| row.get(i).unwrap_or("").trim();
    let int = |i: usize| -> Result<u64, String> {
        let s = field(i);
        if s.is_empty() {
            return Err(format!("{} is empty", HEADER[i]));
        }
        s.parse::<u64>()
            .map_err(|_| format!("{} {s:?} is not a non-negative integer", HEADER[i]))
    };
    let time = field(0)
        .parse::<i64>()
        .map(Timestamp::from_millis)
        .map_err(|_| format!("time_ms {:?} is not an integer", field(0)))?;
    let id = int(2)?;
    match field(1) {
        "impression" => Ok(Event::Impression(Impression {
            id: ImpressionId(id),
            time,
            user: UserId(int(3)?),
            household: HouseholdId(int(4)?),
            advertiser: AdvertiserId(int(5)?),
            campaign: CampaignId(int(6)?),
            creative: CreativeId(0),
            cost: Money::ZERO,
            ghost: false,
        })),
        "click" => Ok(Event::Click(Click {
            impression: ImpressionId(id),
            time,
        })),
        "conversion" => {
            if !field(6).is_empty() {
                return Err("campaign must be empty for a conversion".to_string());
            }
            let value = match field(7) {
                "" => None,
                s => {
                    Some(Money::from_micros(s.parse::<i64>().map_err(|_| {
                        format!("value_micros {s:?} is not an integer")
                    })?))
                }
            };
            let order_id = match field(8) {
                "" => None,
                s => {
                    let next = orders.len() as u64;
                    Some(OrderId(*orders.entry(s.to_string()).or_insert(next)))
                }
            };
            Ok(Event::Conversion(Conversion {
                id: ConversionId(id),
                time,
                user: UserId(int(3)?),
                household: HouseholdId(int(4)?),
                advertiser: AdvertiserId(int(5)?),
                kind: ConversionKind::Purchase,
                value,
                order_id,
            }))
        }
        other => Err(format!(
            "event {other:?} is not impression, click or conversion"
        )),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let model: Model = args.model.parse()?;
    let key = match args.key.as_str() {
        "household" => JoinKey::Household,
        "user" => JoinKey::User,
        other => anyhow::bail!("--key {other:?}: must be household or user"),
    };
    let mut config = Config::default().model(model).join_key(key);
    if let Some(ms) = args.click_window_ms {
        config = config.click_window(DurationMs::from_millis(ms));
    }
    if let Some(ms) = args.view_window_ms {
        config = config.view_window(DurationMs::from_millis(ms));
    }
    if let Some(ms) = args.half_life_ms {
        config = config.half_life(DurationMs::from_millis(ms));
    }
    config.validate()?;

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(&args.events)?;
    let mut events = Vec::new();
    let mut orders = HashMap::new();
    let mut malformed = 0u64;
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                eprintln!("line {line}: unreadable row: {e}");
                malformed += 1;
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if first {
            first = false;
            let header: Vec<&str> = record.iter().map(str::trim).collect();
            if header != HEADER {
                anyhow::bail!(
                    "line {line}: header must be {}, found {}",
                    HEADER.join(","),
                    header.join(",")
                );
            }
            continue;
        }
        match parse_row(&record, &mut orders) {
            Ok(e) => events.push(e),
            Err(why) => {
                eprintln!("line {line}: {why}; row skipped");
                malformed += 1;
            }
        }
    }
    if first {
        anyhow::bail!("{}: empty file (no header)", args.events.display());
    }

    let n_events = events.len();
    let out = attribute_batch(config, events)?;
    let mut rows: Vec<(u64, u64, f64)> = out
        .attributions
        .iter()
        .filter(|a| a.outcome == Outcome::Attributed)
        .flat_map(|a| {
            a.credits
                .iter()
                .map(move |c| (a.conversion.id.0, c.campaign.0, c.credit))
        })
        .collect();
    rows.sort_by_key(|a| (a.0, a.1));
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    writeln!(w, "conversion_id,campaign,credit")?;
    for (conversion, campaign, credit) in &rows {
        writeln!(w, "{conversion},{campaign},{credit:.6}")?;
    }
    w.flush()?;

    let s = &out.report.stats;
    eprintln!(
        "{n_events} events read, {malformed} malformed rows skipped; model {model}; \
         {} conversions: {} attributed, {} unattributed, {} duplicate; {} orphan clicks",
        s.finalized_conversions,
        s.attributed_conversions,
        s.unattributed_conversions,
        s.duplicate_conversions,
        s.orphan_clicks
    );
    eprintln!(
        "campaign,impressions,clicks,touched_conversions,attributed_conversions,attributed_value"
    );
    for c in &out.report.campaigns {
        eprintln!(
            "{},{},{},{},{:.6},{}",
            c.campaign,
            c.counts.impressions,
            c.counts.clicks,
            c.counts.touched_conversions,
            c.counts.attributed_conversions(model),
            c.counts.attributed_value(model)
        );
    }
    Ok(())
}
