//! One simulated day of a streaming ad tier, run through the real [`adloop::Engine`].
//!
//! Shared by `examples/marketplace/main.rs` (the CLI) and `tests/marketplace.rs` (the same
//! code at a small scale, asserting the acceptance properties), so the test checks exactly
//! what the example prints.
//!
//! # The loop
//! 1. `adloop-sim` generates the world: viewers in households with Zipf segments, a day of
//!    opportunities on the streaming diurnal curve, campaigns (budgets, bids, targeting,
//!    caps, holdouts), the open market's highest competing bid per opportunity, and the
//!    ground-truth conversion model (baseline conversions plus a known incremental effect
//!    per exposure).
//! 2. Every campaign is mapped onto an engine [`Campaign`] and published.
//! 3. The day runs in one-minute steps. Within a step, `threads` workers split the step's
//!    opportunities and each calls [`Engine::decide_into`] (timed into an HDR histogram),
//!    records the impression, draws a click from the campaign's true click-through rate
//!    and draws the exposure's incremental conversions from the truth model. Between
//!    steps the main thread feeds every conversion that has happened (baseline and
//!    incremental, in time order) to [`Engine::record`] and calls [`Engine::tick`]
//!    (pacing control step, reservation expiry, attribution).
//! 4. The report reads spend from the ledgers, attributed conversions per model from
//!    [`Engine::report`], holdout lift from [`Engine::lift`], and compares them with the
//!    simulator's truth ([`TruthTally`]).
//!
//! # The open market
//! The exchange's best outside bid on an opportunity becomes the request's floor (never
//! below the publisher's reserve): a campaign must beat it to win, and the second-price
//! auction charges the higher of the runner-up and that bid. When nothing of ours beats
//! it, the exchange buys the opportunity; when there is no outside bid either, it goes
//! unsold.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adloop::attribution::{Conversion, ConversionKind, LiftReport, Model};
use adloop::auction::Tier;
use adloop::core::{
    AdvertiserId, CampaignId, ConversionId, Cpm, CreativeId, DurationMs, Money, Timestamp,
};
use adloop::pacing::{
    BidShadingSettings, CapScope, CapWindow, FrequencyCap, IdentityKind, PacingMode, TargetCurve,
    ThrottleSettings,
};
use adloop::targeting::AttrSlot;
use adloop::{AdRequest, Bid, Budget, Campaign, Decision, Engine, Event, Flight, Format};
use adloop_sim::{
    CampaignConfig, CampaignTruth, ConversionConfig, ConversionModel, DiurnalCurve, Interval,
    IntervalChart, LineChart, OpenAuction, Opportunity, Population, PopulationConfig, SimBid,
    SimCampaign, SimCapScope, SimConversion, SimTier, TruthTally, check_svg, generate_campaigns,
};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// 2023-11-13 00:00 UTC, a Monday: the simulated day.
pub(crate) const DAY_START: Timestamp = Timestamp::from_millis(1_699_833_600_000);

/// What to simulate.
#[derive(Clone, Debug)]
pub(crate) struct SimConfig {
    /// Seed of everything (world, engine, workers).
    pub(crate) seed: u64,
    /// Viewers.
    pub(crate) users: usize,
    /// Ad opportunities in the day.
    pub(crate) opportunities: u64,
    /// Campaigns.
    pub(crate) campaigns: usize,
    /// Decide threads.
    pub(crate) threads: usize,
    /// Total daily budget over the value of the whole supply at the median bid.
    pub(crate) demand_ratio: f64,
    /// Share of campaigns with a holdout group.
    pub(crate) holdout_share: f64,
    /// The publisher's reserve price (the floor when no outside bidder shows up).
    pub(crate) reserve: Cpm,
    /// Simulated time between engine ticks.
    pub(crate) step: DurationMs,
    /// Campaigns drawn in the spend-vs-target plot.
    pub(crate) sampled_curves: usize,
}

impl SimConfig {
    /// `scale` × the default world (200k viewers, 2M opportunities, 500 campaigns).
    pub(crate) fn scaled(scale: f64, seed: u64, threads: usize) -> SimConfig {
        let scale = scale.max(1e-4);
        SimConfig {
            seed,
            users: ((200_000.0 * scale) as usize).max(100),
            opportunities: ((2_000_000.0 * scale) as u64).max(1_000),
            campaigns: ((500.0 * scale) as usize).max(10),
            threads: threads.max(1),
            demand_ratio: 1.0,
            holdout_share: 0.10,
            reserve: Cpm::from_micros(1_000_000),
            step: DurationMs::MINUTE,
            sampled_curves: 6,
        }
    }
}

/// How a campaign paces (the example's mapping of the simulator's `even_pacing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pacing {
    /// As fast as possible.
    Asap,
    /// Probabilistic throttling to the traffic-shaped target (Agarwal et al. 2014).
    Throttle,
    /// Adaptive bid shading to the same target (Balseiro & Gur 2019).
    BidShading,
}

impl Pacing {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pacing::Asap => "asap",
            Pacing::Throttle => "throttle",
            Pacing::BidShading => "bid-shading",
        }
    }
}

/// One campaign's results.
#[derive(Clone, Debug)]
pub(crate) struct CampaignRow {
    pub(crate) id: CampaignId,
    pub(crate) advertiser: AdvertiserId,
    pub(crate) tier: &'static str,
    pub(crate) bid: String,
    pub(crate) pacing: Pacing,
    pub(crate) full_day: bool,
    pub(crate) daily_budget: Money,
    pub(crate) lifetime_budget: Money,
    /// Charged by the engine's ledger.
    pub(crate) spent: Money,
    /// Still reserved (decided, never recorded): zero when every receipt was recorded.
    pub(crate) reserved: Money,
    /// The sum of the prices of the impressions this simulation recorded.
    pub(crate) recorded_spend: Money,
    pub(crate) impressions: u64,
    pub(crate) ghost_impressions: u64,
    pub(crate) clicks: u64,
    /// Attributed conversions per model, in [`Model::ALL`] order.
    pub(crate) attributed: [f64; 5],
    pub(crate) truth: CampaignTruth,
    pub(crate) holdout: f64,
    pub(crate) lift: Option<LiftEstimate>,
}

impl CampaignRow {
    /// Spent over the day's budget.
    pub(crate) fn delivery(&self) -> f64 {
        let budget = self.daily_budget.min(self.lifetime_budget);
        self.spent.micros() as f64 / budget.micros().max(1) as f64
    }
}

/// Measured lift of a holdout campaign next to the truth.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiftEstimate {
    pub(crate) report: LiftReport,
    /// The engine's estimate with its 95% interval, when both arms have converters.
    pub(crate) lift: Option<adloop::attribution::Lift>,
    /// The same estimate's family-wise (Bonferroni) interval over all measured campaigns.
    pub(crate) family: Option<(f64, f64)>,
    /// The true lift for conversions after first exposure (what the ghost-ads design
    /// estimates).
    pub(crate) true_lift: f64,
}

/// Per-thread totals of the simulation.
#[derive(Debug)]
struct Worker {
    rng: StdRng,
    request: AdRequest,
    decision: Decision,
    slots: Slots,
    latency_ns: Histogram<u64>,
    tally: TruthTally,
    conversions: Vec<SimConversion>,
    /// Per campaign index: recorded spend (micros), impressions, clicks.
    spend: Vec<i64>,
    impressions: Vec<u64>,
    clicks: Vec<u64>,
    revenue_by_hour: [i64; 24],
    impressions_by_hour: [u64; 24],
    filled: u64,
    exchange: u64,
    ghosts: u64,
    record_errors: u64,
    first_error: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Slots {
    segment: AttrSlot,
    country: AttrSlot,
    region: AttrSlot,
    device_type: AttrSlot,
    os: AttrSlot,
    genre: AttrSlot,
    hour: AttrSlot,
    dow: AttrSlot,
    publisher: AttrSlot,
}

/// Everything the run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) config: SimConfig,
    pub(crate) generate_time: Duration,
    pub(crate) simulate_time: Duration,
    /// Time the maintenance thread spent reporting conversions and ticking.
    pub(crate) maintenance_time: Duration,
    pub(crate) households: usize,
    pub(crate) opportunities: u64,
    pub(crate) filled: u64,
    pub(crate) exchange: u64,
    pub(crate) ghosts: u64,
    pub(crate) impressions: u64,
    pub(crate) clicks: u64,
    pub(crate) revenue: Money,
    pub(crate) revenue_by_hour: [Money; 24],
    pub(crate) impressions_by_hour: [u64; 24],
    pub(crate) baseline_conversions: u64,
    pub(crate) incremental_conversions: u64,
    pub(crate) record_errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) latency_ns: Histogram<u64>,
    pub(crate) rows: Vec<CampaignRow>,
    /// Sampled campaigns' spent fraction of the daily budget per step: (hour, fraction).
    pub(crate) curves: Vec<SpendCurve>,
    /// Cumulative traffic share of the day by hour: the paced campaigns' target.
    pub(crate) target_curve: Vec<(f64, f64)>,
    /// Expected share of each hour's traffic.
    pub(crate) hourly_share: [f64; 24],
}

/// One sampled campaign's spend over the day.
#[derive(Clone, Debug)]
pub(crate) struct SpendCurve {
    pub(crate) campaign: CampaignId,
    pub(crate) pacing: Pacing,
    /// (hour of day, spent / daily budget) after each tick.
    pub(crate) points: Vec<(f64, f64)>,
}

/// One acceptance property and whether it held.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs the day. `progress` is called after every step with the opportunities done.
pub(crate) fn run(config: &SimConfig, progress: &mut dyn FnMut(u64)) -> Result<Outcome, Error> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let population = Population::generate(
        &PopulationConfig {
            users: config.users,
            ..PopulationConfig::default()
        },
        &mut rng,
    )?;
    let campaign_config = CampaignConfig {
        campaigns: config.campaigns,
        period_start: DAY_START,
        holdout_share: config.holdout_share,
        ..CampaignConfig::default()
    }
    .sized_for(config.opportunities, config.demand_ratio);
    let sim_campaigns = generate_campaigns(&campaign_config, &population, &mut rng)?;
    let truth_model = ConversionModel::new(
        &ConversionConfig::default(),
        &population,
        &sim_campaigns,
        &mut rng,
    )?;
    let curve = DiurnalCurve::streaming();
    let opportunities = population.day_of_opportunities(
        &curve,
        DAY_START,
        DurationMs::ZERO,
        config.opportunities,
        &mut rng,
    );
    let open_market = OpenAuction::ctv_default();
    let floors: Vec<Cpm> = opportunities
        .iter()
        .map(|_| {
            open_market
                .highest_competing_cpm(&mut rng)
                .map_or(config.reserve, |bid| bid.max(config.reserve))
        })
        .collect();
    let outside_bid: Vec<bool> = floors.iter().map(|f| *f > config.reserve).collect();
    let day_end = DAY_START + DurationMs::DAY;
    let baseline = truth_model.baseline_conversions(&population, DAY_START, day_end, &mut rng);
    // True click-through rates: CPC campaigns click at the rate their goal was priced at;
    // the rest draw from the same lognormal (median 0.4%).
    let ctr_dist = LogNormal::new(0.004f64.ln(), 0.5)?;
    let ctr: Vec<f64> = sim_campaigns
        .iter()
        .map(|c| match c.bid {
            SimBid::Cpc(cpc) if cpc.micros() > 0 => {
                (c.max_cpm.micros() as f64 / 1_000.0 / cpc.micros() as f64).clamp(0.0, 1.0)
            }
            _ => ctr_dist.sample(&mut rng).min(1.0),
        })
        .collect();

    let pacing: Vec<Pacing> = sim_campaigns
        .iter()
        .map(|c| match (c.even_pacing, c.id.get() % 2) {
            (false, _) => Pacing::Asap,
            (true, 1) => Pacing::Throttle,
            (true, _) => Pacing::BidShading,
        })
        .collect();
    let campaigns: Vec<Campaign> = sim_campaigns
        .iter()
        .zip(&pacing)
        .map(|(c, &p)| to_engine_campaign(c, p, &curve))
        .collect::<Result<_, _>>()?;
    let index_of: HashMap<CampaignId, usize> = sim_campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let engine = Engine::builder().seed(config.seed).build()?;
    engine.publish(campaigns)?;
    let generate_time = started.elapsed();

    // Campaigns whose spend is drawn: the biggest full-day budgets of each pacing mode.
    let sampled = sample_campaigns(&sim_campaigns, &pacing, config.sampled_curves);
    let mut curves: Vec<SpendCurve> = sampled
        .iter()
        .map(|&i| SpendCurve {
            campaign: sim_campaigns[i].id,
            pacing: pacing[i],
            points: vec![(0.0, 0.0)],
        })
        .collect();

    let started = Instant::now();
    let n = sim_campaigns.len();
    let mut workers: Vec<Worker> = (0..config.threads)
        .map(|t| Worker::new(config.seed, t, n, &truth_model))
        .collect::<Result<_, _>>()?;
    let world = World {
        engine: &engine,
        population: &population,
        truth: &truth_model,
        index_of: &index_of,
        ctr: &ctr,
        day_end,
    };
    let mut feed = Feed {
        engine: &engine,
        baseline: &baseline,
        next_baseline: 0,
        pending: BinaryHeap::new(),
        store: Vec::new(),
        next_id: 1,
    };
    let mut maintenance_time = Duration::ZERO;
    let mut next = 0usize;
    let mut now = DAY_START;
    // The step whose conversions and tick are still due, with the opportunities done by then.
    let mut due: Option<(Timestamp, usize)> = None;
    while now < day_end || due.is_some() {
        let step_end = (now + config.step).min(day_end);
        let end = if now < day_end {
            next + opportunities[next..].partition_point(|o| o.at < step_end)
        } else {
            next
        };
        let batch = &opportunities[next..end];
        let per = batch.len().div_ceil(config.threads).max(1);
        let mut failed: Option<adloop::Error> = None;
        std::thread::scope(|scope| {
            for (k, (worker, part)) in workers.iter_mut().zip(batch.chunks(per)).enumerate() {
                let first = next + k * per;
                let world = &world;
                let floors = &floors[first..first + part.len()];
                let outside = &outside_bid[first..first + part.len()];
                scope.spawn(move || worker.run(world, part, first, floors, outside));
            }
            // Meanwhile this thread is the ad server's maintenance thread: it reports the
            // previous step's conversions and ticks, while the workers decide.
            if let Some((due_end, done)) = due.take() {
                let t = Instant::now();
                if let Err(e) = feed.until(due_end) {
                    failed = Some(e);
                }
                engine.tick(due_end);
                maintenance_time += t.elapsed();
                let hour = due_end.duration_since(DAY_START).as_millis() as f64 / 3_600_000.0;
                for c in &mut curves {
                    let id = c.campaign;
                    if let (Some(spend), Some(&i)) = (engine.spend(id), index_of.get(&id)) {
                        let budget = sim_campaigns[i].daily_budget.micros().max(1) as f64;
                        c.points.push((hour, spend.spent.micros() as f64 / budget));
                    }
                }
                progress(done as u64);
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        for w in &mut workers {
            feed.extend(w.conversions.drain(..));
        }
        if now < day_end {
            due = Some((step_end, end));
            next = end;
            now = step_end;
        }
    }
    // Past the allowed lateness: every conversion of the day is final.
    engine.tick(day_end + DurationMs::from_hours(2));
    let simulate_time = started.elapsed();

    // Merge the workers.
    let mut tally = truth_model.tally(DAY_START, day_end);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut spend = vec![0i64; n];
    let mut impressions = vec![0u64; n];
    let mut clicks = vec![0u64; n];
    let (mut revenue_by_hour, mut impressions_by_hour) = ([0i64; 24], [0u64; 24]);
    let (mut filled, mut exchange, mut ghosts, mut record_errors) = (0, 0, 0, 0);
    let mut first_error = None;
    for w in workers {
        tally.merge(w.tally);
        latency.add(&w.latency_ns)?;
        for i in 0..n {
            spend[i] += w.spend[i];
            impressions[i] += w.impressions[i];
            clicks[i] += w.clicks[i];
        }
        for h in 0..24 {
            revenue_by_hour[h] += w.revenue_by_hour[h];
            impressions_by_hour[h] += w.impressions_by_hour[h];
        }
        filled += w.filled;
        exchange += w.exchange;
        ghosts += w.ghosts;
        record_errors += w.record_errors;
        first_error = first_error.or(w.first_error);
    }

    let report = engine.report();
    let counts: HashMap<CampaignId, &adloop::attribution::Counts> = report
        .campaigns
        .iter()
        .map(|r| (r.campaign, &r.counts))
        .collect();
    let mut rows = Vec::with_capacity(n);
    for (i, c) in sim_campaigns.iter().enumerate() {
        let spend_report = engine
            .spend(c.id)
            .ok_or("a published campaign has no ledger")?;
        let truth = tally
            .campaign(&truth_model, c.id)
            .ok_or("the truth model lost a campaign")?;
        let counted = counts.get(&c.id);
        let lift = (c.holdout > 0.0)
            .then(|| engine.lift(c.id))
            .flatten()
            .map(|report| LiftEstimate {
                report,
                lift: report.lift(),
                family: None,
                true_lift: truth.true_lift_after_exposure,
            });
        rows.push(CampaignRow {
            id: c.id,
            advertiser: c.advertiser,
            tier: tier_name(c.tier),
            bid: match c.bid {
                SimBid::Cpm(cpm) => format!("cpm {cpm}"),
                SimBid::Cpc(m) => format!("cpc {m}"),
                SimBid::Cpa(m) => format!("cpa {m}"),
            },
            pacing: pacing[i],
            full_day: c.flight_start <= DAY_START && c.flight_end >= day_end,
            daily_budget: c.daily_budget,
            lifetime_budget: c.lifetime_budget,
            spent: spend_report.spent,
            reserved: spend_report.reserved,
            recorded_spend: Money::from_micros(spend[i]),
            impressions: impressions[i],
            ghost_impressions: counted.map_or(0, |c| c.ghost_impressions),
            clicks: clicks[i],
            attributed: counted.map_or([0.0; 5], |c| c.attributed),
            truth,
            holdout: c.holdout,
            lift,
        });
    }
    // Family-wise 95% intervals over the campaigns whose lift could be measured.
    let measured = rows
        .iter()
        .filter(|r| r.lift.is_some_and(|l| l.lift.is_some()))
        .count();
    if measured > 0 {
        let z = normal_quantile(1.0 - 0.025 / measured as f64);
        for row in &mut rows {
            if let Some(l) = &mut row.lift {
                l.family = log_ratio_interval(&l.report, z);
            }
        }
    }

    let mut target_curve = Vec::with_capacity(97);
    for q in 0..=96 {
        let h = q as f64 / 4.0;
        let share = curve.share_between(DurationMs::ZERO, DurationMs::from_mins(q * 15));
        target_curve.push((h, if q == 96 { 1.0 } else { share }));
    }
    Ok(Outcome {
        config: config.clone(),
        generate_time,
        simulate_time,
        maintenance_time,
        households: population.households().len(),
        opportunities: opportunities.len() as u64,
        filled,
        exchange,
        ghosts,
        impressions: impressions.iter().sum(),
        clicks: clicks.iter().sum(),
        revenue: Money::from_micros(revenue_by_hour.iter().sum()),
        revenue_by_hour: revenue_by_hour.map(Money::from_micros),
        impressions_by_hour,
        baseline_conversions: baseline.len() as u64,
        incremental_conversions: rows.iter().map(|r| r.truth.realized_incremental).sum(),
        record_errors,
        first_error,
        latency_ns: latency,
        rows,
        curves,
        target_curve,
        hourly_share: curve.hourly_shares(),
    })
}

/// Reports conversions to the engine in time order: the day's baseline conversions
/// (sorted) merged with the incremental ones the workers draw (a min-heap).
struct Feed<'a> {
    engine: &'a Engine,
    baseline: &'a [SimConversion],
    next_baseline: usize,
    pending: BinaryHeap<Reverse<(Timestamp, usize)>>,
    store: Vec<SimConversion>,
    next_id: u64,
}

impl Feed<'_> {
    fn extend(&mut self, conversions: impl Iterator<Item = SimConversion>) {
        for c in conversions {
            self.pending.push(Reverse((c.at, self.store.len())));
            self.store.push(c);
        }
    }

    /// Records every conversion before `end`.
    fn until(&mut self, end: Timestamp) -> Result<(), adloop::Error> {
        loop {
            let b = self.baseline.get(self.next_baseline).filter(|c| c.at < end);
            let p = self.pending.peek().filter(|Reverse((at, _))| *at < end);
            let c = match (b, p) {
                (Some(b), Some(Reverse((at, _)))) if b.at <= *at => {
                    self.next_baseline += 1;
                    *b
                }
                (_, Some(_)) => match self.pending.pop() {
                    Some(Reverse((_, i))) => self.store[i],
                    None => break,
                },
                (Some(b), None) => {
                    self.next_baseline += 1;
                    *b
                }
                (None, None) => break,
            };
            self.engine.record(Event::Conversion(Conversion {
                id: ConversionId::new(self.next_id),
                time: c.at,
                user: c.user,
                household: c.household,
                advertiser: c.advertiser,
                kind: ConversionKind::Purchase,
                value: Some(c.value),
                order_id: None,
            }))?;
            self.next_id += 1;
        }
        Ok(())
    }
}

/// What every worker reads.
struct World<'a> {
    engine: &'a Engine,
    population: &'a Population,
    truth: &'a ConversionModel,
    index_of: &'a HashMap<CampaignId, usize>,
    ctr: &'a [f64],
    day_end: Timestamp,
}

impl Worker {
    fn new(
        seed: u64,
        thread: usize,
        campaigns: usize,
        truth: &ConversionModel,
    ) -> Result<Worker, Error> {
        let mut request = AdRequest::default();
        let a = &mut request.attributes;
        use adloop_sim::vocab::attr;
        let slots = Slots {
            segment: a.slot(attr::SEGMENT),
            country: a.slot(attr::COUNTRY),
            region: a.slot(attr::REGION),
            device_type: a.slot(attr::DEVICE_TYPE),
            os: a.slot(attr::DEVICE_OS),
            genre: a.slot(attr::GENRE),
            hour: a.slot(attr::HOUR),
            dow: a.slot(attr::DOW),
            publisher: a.slot(attr::PUBLISHER),
        };
        Ok(Worker {
            rng: StdRng::seed_from_u64(
                seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(thread as u64 + 1)),
            ),
            request,
            decision: Decision::default(),
            slots,
            latency_ns: Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
            tally: truth.tally(DAY_START, DAY_START + DurationMs::DAY),
            conversions: Vec::new(),
            spend: vec![0; campaigns],
            impressions: vec![0; campaigns],
            clicks: vec![0; campaigns],
            revenue_by_hour: [0; 24],
            impressions_by_hour: [0; 24],
            filled: 0,
            exchange: 0,
            ghosts: 0,
            record_errors: 0,
            first_error: None,
        })
    }

    fn run(
        &mut self,
        world: &World<'_>,
        opportunities: &[Opportunity],
        first: usize,
        floors: &[Cpm],
        outside_bid: &[bool],
    ) {
        for (k, o) in opportunities.iter().enumerate() {
            self.fill_request(world.population, o, (first + k) as u64 + 1, floors[k]);
            let t = Instant::now();
            world
                .engine
                .decide_into(&self.request, o.at, &mut self.decision);
            let ns = t.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
            self.latency_ns.saturating_record(ns.max(1));
            self.ghosts += self.decision.ghosts.len() as u64;
            if self.decision.placements.is_empty() {
                self.exchange += u64::from(outside_bid[k]);
                continue;
            }
            self.filled += 1;
            for p in &self.decision.placements {
                if let Err(e) = world.engine.record(Event::Impression {
                    receipt: p.receipt,
                    time: o.at,
                }) {
                    self.record_errors += 1;
                    self.first_error.get_or_insert_with(|| e.to_string());
                    continue;
                }
                let Some(&i) = world.index_of.get(&p.campaign) else {
                    continue;
                };
                self.spend[i] += p.price.micros();
                self.impressions[i] += 1;
                self.revenue_by_hour[usize::from(o.hour)] += p.price.micros();
                self.impressions_by_hour[usize::from(o.hour)] += 1;
                self.tally
                    .record_exposure(world.truth, p.campaign, o.household, o.at);
                if self.rng.random_bool(world.ctr[i]) {
                    let delay = DurationMs::from_millis(self.rng.random_range(2_000..60_000));
                    match world.engine.record(Event::Click {
                        impression: p.receipt.impression,
                        time: o.at + delay,
                    }) {
                        Ok(()) => self.clicks[i] += 1,
                        Err(e) => {
                            self.record_errors += 1;
                            self.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                for c in world.truth.conversions_from_exposure(
                    p.campaign,
                    o.household,
                    o.user,
                    o.at,
                    &mut self.rng,
                ) {
                    self.tally.record_conversion(&c);
                    if c.at < world.day_end {
                        self.conversions.push(c);
                    }
                }
            }
        }
    }

    /// The engine request of a simulated opportunity, reusing this worker's buffers.
    fn fill_request(&mut self, population: &Population, o: &Opportunity, id: u64, floor: Cpm) {
        let user = &population.users()[o.user_index];
        let (r, s) = (&mut self.request, &self.slots);
        r.id = id;
        r.user = Some(o.user);
        r.household = Some(o.household);
        r.floor = floor;
        let long_form = matches!(user.device_type, "tv" | "console");
        r.opportunity = adloop::Opportunity::Single {
            format: Format::Video,
            max_duration_s: if long_form { 60 } else { 30 },
        };
        let a = &mut r.attributes;
        a.clear();
        for seg in &user.segments {
            a.push_int_at(s.segment, seg.get() as i64);
        }
        a.push_str_at(s.country, user.country);
        a.push_str_at(s.region, user.region);
        a.push_str_at(s.device_type, user.device_type);
        a.push_str_at(s.os, user.os);
        a.push_str_at(s.genre, o.genre);
        a.push_int_at(s.hour, i64::from(o.hour));
        a.push_int_at(s.dow, i64::from(o.dow));
        a.push_str_at(s.publisher, user.publisher);
    }
}

/// Maps a simulated campaign onto the engine's campaign model.
///
/// Built as the JSON an ad-ops team would publish, so fields this example does not use
/// keep their documented defaults.
fn to_engine_campaign(
    c: &SimCampaign,
    pacing: Pacing,
    curve: &DiurnalCurve,
) -> Result<Campaign, Error> {
    let traffic = || TargetCurve::Custom {
        points: traffic_target(curve, c.flight_start, c.flight_end),
    };
    let pacing = match pacing {
        Pacing::Asap => PacingMode::Asap,
        Pacing::Throttle => PacingMode::Throttle {
            curve: traffic(),
            settings: ThrottleSettings::default(),
        },
        Pacing::BidShading => PacingMode::BidShading {
            curve: traffic(),
            // Spend deviations are measured in the campaign's own bid per impression.
            settings: BidShadingSettings {
                value_scale: Some(c.max_cpm.per_impression().max(Money::from_micros(1))),
                ..BidShadingSettings::default()
            },
        },
    };
    let bid = match c.bid {
        SimBid::Cpm(cpm) => Bid::Cpm(cpm),
        SimBid::Cpc(m) => Bid::Cpc(m),
        SimBid::Cpa(m) => Bid::Cpa(m),
    };
    let tier = match c.tier {
        SimTier::House => Tier::HOUSE,
        SimTier::Open => Tier::OPEN,
        SimTier::Deal => Tier::DEAL,
        SimTier::Guaranteed => Tier::GUARANTEED,
        SimTier::Sponsorship => Tier::SPONSORSHIP,
    };
    let caps: Vec<FrequencyCap> = c
        .frequency_caps
        .iter()
        .map(|cap| FrequencyCap {
            scope: CapScope::Campaign,
            identity: match cap.scope {
                SimCapScope::User => IdentityKind::User,
                SimCapScope::Household => IdentityKind::Household,
            },
            max_impressions: cap.max,
            window: CapWindow::Fixed { window: cap.window },
        })
        .collect();
    let json = serde_json::json!({
        "id": c.id,
        "advertiser": c.advertiser,
        "advertiser_domain": c.advertiser_domain,
        "budget": Budget { daily: Some(c.daily_budget), lifetime: Some(c.lifetime_budget) },
        "flight": Flight { start: c.flight_start, end: c.flight_end },
        "pacing": pacing,
        "bid": bid,
        "tier": tier,
        "frequency_caps": caps,
        "categories": c.categories,
        "targeting": c.targeting,
        "creatives": [{
            "id": CreativeId::new(c.id.get() * 10),
            "format": Format::Video,
            "duration_s": c.creative_seconds,
        }],
        "holdout": c.holdout,
    });
    Ok(serde_json::from_value(json)?)
}

/// The share of the flight's traffic seen by each instant, as pacing curve points:
/// (fraction of the flight elapsed, fraction of its traffic so far), 24 segments.
fn traffic_target(curve: &DiurnalCurve, start: Timestamp, end: Timestamp) -> Vec<[f64; 2]> {
    let offset = |t: Timestamp| t.duration_since(DAY_START);
    let span = end.duration_since(start).as_millis().max(1);
    let total = curve.share_between(offset(start), offset(end)).max(1e-12);
    let mut points = vec![[0.0, 0.0]];
    let mut last = 0.0f64;
    for k in 1..24 {
        let t = start + DurationMs::from_millis(span * k / 24);
        let share = (curve.share_between(offset(start), offset(t)) / total).clamp(last, 1.0);
        points.push([k as f64 / 24.0, share]);
        last = share;
    }
    points.push([1.0, 1.0]);
    points
}

/// Up to `count` full-day campaigns with the largest budgets, spread over pacing modes.
fn sample_campaigns(campaigns: &[SimCampaign], pacing: &[Pacing], count: usize) -> Vec<usize> {
    let day_end = DAY_START + DurationMs::DAY;
    let mut by_mode: Vec<Vec<usize>> = vec![Vec::new(); 3];
    for (i, c) in campaigns.iter().enumerate() {
        if c.flight_start <= DAY_START && c.flight_end >= day_end && c.holdout == 0.0 {
            by_mode[pacing[i] as usize].push(i);
        }
    }
    for list in &mut by_mode {
        list.sort_by_key(|&i| Reverse(campaigns[i].daily_budget));
    }
    let mut out = Vec::new();
    for round in 0.. {
        if out.len() >= count || by_mode.iter().all(|l| l.len() <= round) {
            break;
        }
        // Throttle and bid shading first: they have a target to follow.
        for mode in [1, 2, 0] {
            if out.len() < count
                && let Some(&i) = by_mode[mode].get(round)
            {
                out.push(i);
            }
        }
    }
    out
}

fn tier_name(tier: SimTier) -> &'static str {
    match tier {
        SimTier::House => "house",
        SimTier::Open => "open",
        SimTier::Deal => "deal",
        SimTier::Guaranteed => "guaranteed",
        SimTier::Sponsorship => "sponsorship",
    }
}

/// The lift interval `exp(ln RR ± z·se) − 1` of the engine's estimator at any `z`.
fn log_ratio_interval(r: &LiftReport, z: f64) -> Option<(f64, f64)> {
    let (nt, xt) = (r.treatment.identities as f64, r.treatment.converters as f64);
    let (nc, xc) = (r.control.identities as f64, r.control.converters as f64);
    if nt == 0.0 || nc == 0.0 || xt == 0.0 || xc == 0.0 {
        return None;
    }
    let ln_rr = (xt / nt).ln() - (xc / nc).ln();
    let se = (1.0 / xt - 1.0 / nt + 1.0 / xc - 1.0 / nc).max(0.0).sqrt();
    Some(((ln_rr - z * se).exp() - 1.0, (ln_rr + z * se).exp() - 1.0))
}

/// Φ⁻¹(p) for p in (0.5, 1), by bisection on the complementary error function.
fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 10.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if 1.0 - 0.5 * erfc(mid / std::f64::consts::SQRT_2) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// erfc(x) for x ≥ 0 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * poly.exp()
}

fn units(m: Money) -> f64 {
    m.micros() as f64 / 1e6
}

/// The printed report.
pub(crate) fn report_text(o: &Outcome) -> String {
    let mut s = String::new();
    let c = &o.config;
    let _ = writeln!(
        s,
        "world: {} viewers in {} households, {} campaigns, {} opportunities, seed {}, {} threads",
        c.users, o.households, c.campaigns, o.opportunities, c.seed, c.threads
    );
    let _ = writeln!(
        s,
        "time: generate {:.1} s, simulate {:.1} s ({:.0} decisions/s; maintenance thread busy {:.1} s)",
        o.generate_time.as_secs_f64(),
        o.simulate_time.as_secs_f64(),
        o.opportunities as f64 / o.simulate_time.as_secs_f64().max(1e-9),
        o.maintenance_time.as_secs_f64()
    );
    let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
    let _ = writeln!(s, "\n== delivery");
    let _ = writeln!(
        s,
        "fill rate          {:>6.1}%  ({} of {} opportunities; exchange won {:.1}%, unsold {:.1}%)",
        pct(o.filled, o.opportunities),
        o.filled,
        o.opportunities,
        pct(o.exchange, o.opportunities),
        pct(o.opportunities - o.filled - o.exchange, o.opportunities)
    );
    let _ = writeln!(
        s,
        "revenue            {:>10}  ({} impressions, {} clicks, CTR {:.2}%, {} ghost impressions)",
        o.revenue.to_string(),
        o.impressions,
        o.clicks,
        pct(o.clicks, o.impressions),
        o.ghosts
    );
    let ecpm = units(o.revenue) * 1_000.0 / o.impressions.max(1) as f64;
    let _ = writeln!(s, "eCPM               {ecpm:>10.2}");
    let q = |p: f64| o.latency_ns.value_at_quantile(p) as f64 / 1e3;
    let _ = writeln!(
        s,
        "decide latency     p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs ({} decisions)",
        q(0.5),
        q(0.99),
        q(0.999),
        o.latency_ns.max() as f64 / 1e3,
        o.latency_ns.len()
    );
    let budget: Money = o
        .rows
        .iter()
        .map(|r| r.daily_budget.min(r.lifetime_budget))
        .sum();
    let _ = writeln!(
        s,
        "spend / budget     {} / {} ({:.1}%)",
        o.revenue,
        budget,
        100.0 * units(o.revenue) / units(budget).max(1e-9)
    );
    let _ = writeln!(
        s,
        "\nby pacing mode     campaigns  delivery p10 / median / p90  fully spent"
    );
    for mode in [Pacing::Asap, Pacing::Throttle, Pacing::BidShading] {
        let mut d: Vec<f64> = o
            .rows
            .iter()
            .filter(|r| r.pacing == mode && r.full_day)
            .map(CampaignRow::delivery)
            .collect();
        if d.is_empty() {
            continue;
        }
        d.sort_by(f64::total_cmp);
        let at = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
        let full = d.iter().filter(|&&x| x >= 0.99).count();
        let _ = writeln!(
            s,
            "  {:<16} {:>9}  {:>7.1}% / {:>5.1}% / {:>5.1}%  {:>11}",
            mode.name(),
            d.len(),
            100.0 * at(0.1),
            100.0 * at(0.5),
            100.0 * at(0.9),
            full
        );
    }

    let mut by_delivery: Vec<&CampaignRow> = o.rows.iter().collect();
    by_delivery.sort_by(|a, b| b.delivery().total_cmp(&a.delivery()).then(a.id.cmp(&b.id)));
    let header = "  campaign  tier         bid              pacing       budget        spent  delivery   impr";
    let line = |s: &mut String, r: &CampaignRow| {
        let _ = writeln!(
            s,
            "  {:>8}  {:<11}  {:<15}  {:<11} {:>9.2} {:>12.2} {:>8.1}% {:>6}",
            r.id.get(),
            r.tier,
            r.bid,
            r.pacing.name(),
            units(r.daily_budget.min(r.lifetime_budget)),
            units(r.spent),
            100.0 * r.delivery(),
            r.impressions
        );
    };
    let k = 5.min(by_delivery.len());
    let _ = writeln!(s, "\ntop {k} campaigns by delivery vs budget\n{header}");
    for r in &by_delivery[..k] {
        line(&mut s, r);
    }
    let _ = writeln!(s, "bottom {k} campaigns by delivery vs budget\n{header}");
    for r in &by_delivery[by_delivery.len() - k..] {
        line(&mut s, r);
    }

    let _ = writeln!(s, "\n== measurement");
    let true_incremental: u64 = o.rows.iter().map(|r| r.truth.realized_incremental).sum();
    let expected: f64 = o.rows.iter().map(|r| r.truth.expected_incremental).sum();
    let _ = writeln!(
        s,
        "conversions fed to the engine: {} ({} baseline, {} caused by ads)",
        o.baseline_conversions + o.incremental_conversions,
        o.baseline_conversions,
        o.incremental_conversions
    );
    let _ = writeln!(
        s,
        "truly incremental conversions (the simulator's ground truth): {true_incremental} (expected {expected:.1})"
    );
    let _ = writeln!(
        s,
        "attributed conversions per model, per campaign vs its true incremental conversions:"
    );
    let _ = writeln!(
        s,
        "  model              attributed  vs truth  abs. error/truth  campaigns within ±50%"
    );
    let with_truth: Vec<&CampaignRow> = o
        .rows
        .iter()
        .filter(|r| r.truth.realized_incremental >= 10)
        .collect();
    for (m, model) in Model::ALL.iter().enumerate() {
        let total: f64 = o.rows.iter().map(|r| r.attributed[m]).sum();
        let abs_error: f64 = o
            .rows
            .iter()
            .map(|r| (r.attributed[m] - r.truth.realized_incremental as f64).abs())
            .sum();
        let close = with_truth
            .iter()
            .filter(|r| {
                let t = r.truth.realized_incremental as f64;
                (r.attributed[m] - t).abs() <= 0.5 * t
            })
            .count();
        let _ = writeln!(
            s,
            "  {:<15} {:>13.1}  {:>7.2}x  {:>16.2}  {:>10} of {}",
            model.name(),
            total,
            total / (true_incremental.max(1) as f64),
            abs_error / (true_incremental.max(1) as f64),
            close,
            with_truth.len()
        );
    }
    let _ = writeln!(
        s,
        "  (every model splits the same touched conversions, so totals agree; baseline conversions of exposed households are credited too)"
    );

    let holdouts: Vec<&CampaignRow> = o.rows.iter().filter(|r| r.holdout > 0.0).collect();
    let exposed: Vec<&CampaignRow> = holdouts
        .iter()
        .copied()
        .filter(|r| r.lift.is_some_and(|l| l.report.treatment.identities > 0))
        .collect();
    let _ = writeln!(
        s,
        "\nholdout lift (ghost ads; converting households after first exposure): {} holdout campaigns, {} delivered",
        holdouts.len(),
        exposed.len()
    );
    let _ = writeln!(
        s,
        "  campaign  holdout  treated  control  conv t/c  true lift  measured   95% interval      family-wise 95%     incr. est/true  last-touch"
    );
    for r in &exposed {
        let Some(l) = r.lift else { continue };
        let t = &l.report.treatment;
        let cc = &l.report.control;
        let measured = match (l.lift, l.family) {
            (Some(m), Some((lo, hi))) => format!(
                "{:>+8.2}  [{:>+5.2}, {:>+6.2}]  [{:>+5.2}, {:>+6.2}]",
                m.lift, m.low, m.high, lo, hi
            ),
            _ => format!("{:>8}  {:<34}", "n/a", "(no converter in an arm)"),
        };
        let _ = writeln!(
            s,
            "  {:>8}  {:>6.0}%  {:>7}  {:>7}  {:>4}/{:<3}  {:>+9.2}  {}  {:>6.1}/{:<6}  {:>10.1}",
            r.id.get(),
            100.0 * r.holdout,
            t.identities,
            cc.identities,
            t.converters,
            cc.converters,
            l.true_lift,
            measured,
            l.lift
                .and(l.report.incremental_conversions())
                .unwrap_or(f64::NAN),
            r.truth.realized_incremental,
            r.attributed[0],
        );
    }
    s
}

/// Writes the plots, the per-campaign CSV (`campaigns.csv`) and the per-hour CSV
/// (`hourly.csv`) to `dir`; returns the plot paths.
pub(crate) fn write_files(o: &Outcome, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir)?;
    let mut plots = Vec::new();

    let spend = dir.join("spend.svg");
    let mut chart = LineChart::new("Cumulative spend vs target, sampled campaigns")
        .x_label("hour of day (UTC)")
        .y_label("spent / daily budget");
    for c in &o.curves {
        chart = chart.series(
            format!("campaign {} ({})", c.campaign.get(), c.pacing.name()),
            c.points.iter().copied(),
        );
    }
    chart = chart.dashed_series("target: share of traffic", o.target_curve.iter().copied());
    chart.write_svg(&spend)?;
    plots.push(spend);

    let revenue = dir.join("revenue.svg");
    let total = units(o.revenue);
    LineChart::new("Revenue per hour")
        .x_label("hour of day (UTC)")
        .y_label("revenue per hour")
        .series(
            "revenue",
            o.revenue_by_hour
                .iter()
                .enumerate()
                .map(|(h, m)| (h as f64 + 0.5, units(*m))),
        )
        .dashed_series(
            "day's revenue × traffic share",
            o.hourly_share
                .iter()
                .enumerate()
                .map(|(h, share)| (h as f64 + 0.5, share * total)),
        )
        .write_svg(&revenue)?;
    plots.push(revenue);

    let lift = dir.join("lift.svg");
    let mut chart =
        IntervalChart::new("Holdout lift: measured (95% interval) vs true").y_label("lift");
    for r in &o.rows {
        if let Some(LiftEstimate {
            lift: Some(m),
            true_lift,
            ..
        }) = r.lift
        {
            chart.push(Interval {
                label: format!("c{}", r.id.get()),
                estimate: m.lift,
                low: m.low,
                high: m.high,
                truth: Some(true_lift),
            });
        }
    }
    chart.write_svg(&lift)?;
    plots.push(lift);

    let mut csv = csv::Writer::from_path(dir.join("campaigns.csv"))?;
    csv.write_record([
        "campaign",
        "advertiser",
        "tier",
        "bid",
        "pacing",
        "full_day",
        "daily_budget",
        "lifetime_budget",
        "spent",
        "delivery",
        "impressions",
        "clicks",
        "ghost_impressions",
        "last_touch",
        "first_touch",
        "linear",
        "time_decay",
        "position_based",
        "true_incremental",
        "expected_incremental",
        "true_effect_per_exposure",
        "holdout",
        "lift",
        "lift_low",
        "lift_high",
        "true_lift",
    ])?;
    for r in &o.rows {
        let lift = r.lift.and_then(|l| l.lift);
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        let mut record = vec![
            r.id.get().to_string(),
            r.advertiser.get().to_string(),
            r.tier.to_owned(),
            r.bid.clone(),
            r.pacing.name().to_owned(),
            r.full_day.to_string(),
            r.daily_budget.to_string(),
            r.lifetime_budget.to_string(),
            r.spent.to_string(),
            format!("{:.4}", r.delivery()),
            r.impressions.to_string(),
            r.clicks.to_string(),
            r.ghost_impressions.to_string(),
        ];
        record.extend(r.attributed.iter().map(|a| format!("{a:.3}")));
        record.extend([
            r.truth.realized_incremental.to_string(),
            format!("{:.3}", r.truth.expected_incremental),
            format!("{:.5}", r.truth.effect_per_exposure),
            format!("{:.3}", r.holdout),
            opt(lift.map(|l| l.lift)),
            opt(lift.map(|l| l.low)),
            opt(lift.map(|l| l.high)),
            opt(r.lift.map(|l| l.true_lift)),
        ]);
        csv.write_record(&record)?;
    }
    csv.flush()?;

    let mut hourly = csv::Writer::from_path(dir.join("hourly.csv"))?;
    hourly.write_record(["hour", "impressions", "revenue", "ecpm", "traffic_share"])?;
    for h in 0..24 {
        let imps = o.impressions_by_hour[h];
        let revenue = o.revenue_by_hour[h];
        hourly.write_record([
            h.to_string(),
            imps.to_string(),
            revenue.to_string(),
            format!("{:.4}", units(revenue) * 1_000.0 / imps.max(1) as f64),
            format!("{:.5}", o.hourly_share[h]),
        ])?;
    }
    hourly.flush()?;
    Ok(plots)
}

/// The acceptance properties, given the plot files written.
pub(crate) fn acceptance(o: &Outcome, plots: &[PathBuf]) -> Vec<Check> {
    let mut checks = Vec::new();

    let over: Vec<String> = o
        .rows
        .iter()
        .filter(|r| {
            let limit = r.daily_budget.min(r.lifetime_budget);
            r.spent > limit || r.spent + r.reserved > limit
        })
        .map(|r| format!("campaign {} spent {} of {}", r.id, r.spent, r.daily_budget))
        .collect();
    checks.push(Check {
        name: "no campaign overspends",
        passed: over.is_empty(),
        detail: if over.is_empty() {
            format!(
                "{} campaigns, spent + reserved ≤ min(daily, lifetime) budget for each",
                o.rows.len()
            )
        } else {
            over.join("; ")
        },
    });

    let mismatched: Vec<String> = o
        .rows
        .iter()
        .filter(|r| r.spent != r.recorded_spend || !r.reserved.is_zero())
        .map(|r| {
            format!(
                "campaign {}: ledger {} vs recorded {} (reserved {})",
                r.id, r.spent, r.recorded_spend, r.reserved
            )
        })
        .collect();
    checks.push(Check {
        name: "every impression charged exactly once",
        passed: mismatched.is_empty() && o.record_errors == 0,
        detail: if mismatched.is_empty() && o.record_errors == 0 {
            format!(
                "{} impressions, ledger spend = sum of recorded prices for every campaign",
                o.impressions
            )
        } else {
            format!(
                "{} record errors (first: {:?}); {}",
                o.record_errors,
                o.first_error,
                mismatched.join("; ")
            )
        },
    });

    let measured: Vec<&CampaignRow> = o
        .rows
        .iter()
        .filter(|r| r.lift.is_some_and(|l| l.family.is_some()))
        .collect();
    let holdouts = o.rows.iter().filter(|r| r.holdout > 0.0).count();
    let mut missed = Vec::new();
    let mut covered95 = 0;
    for r in &measured {
        let Some(l) = r.lift else { continue };
        if let Some(m) = l.lift
            && m.low <= l.true_lift
            && l.true_lift <= m.high
        {
            covered95 += 1;
        }
        if let Some((lo, hi)) = l.family
            && !(lo <= l.true_lift && l.true_lift <= hi)
        {
            missed.push(format!(
                "campaign {}: true {:+.3} outside [{:+.3}, {:+.3}]",
                r.id, l.true_lift, lo, hi
            ));
        }
    }
    checks.push(Check {
        name: "lift interval covers the true lift for the holdout campaigns",
        passed: !measured.is_empty() && missed.is_empty(),
        detail: if measured.is_empty() {
            format!("no holdout campaign of {holdouts} had converters in both arms")
        } else if missed.is_empty() {
            format!(
                "family-wise 95% (Bonferroni over {}) intervals cover all {} measured of {} holdout campaigns; the per-campaign 95% intervals cover {} of {}",
                measured.len(),
                measured.len(),
                holdouts,
                covered95,
                measured.len()
            )
        } else {
            missed.join("; ")
        },
    });

    let bad: Vec<String> = plots
        .iter()
        .filter_map(|p| match std::fs::read_to_string(p) {
            Ok(text) => check_svg(&text)
                .err()
                .map(|e| format!("{}: {e}", p.display())),
            Err(e) => Some(format!("{}: {e}", p.display())),
        })
        .collect();
    checks.push(Check {
        name: "every plot file exists and is a valid SVG",
        passed: !plots.is_empty() && bad.is_empty(),
        detail: if bad.is_empty() {
            plots
                .iter()
                .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            bad.join("; ")
        },
    });
    checks
}
