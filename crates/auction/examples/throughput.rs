//! Throughput probe for the targets, in wall time *and* in process CPU time, so
//! the figures stay meaningful on a machine shared with other work (CPU time counts only
//! the cycles this process ran). The criterion bench (`benches/auction.rs` at the
//! repository root) gives the ratios against baselines.
//!
//! `cargo run --release -p adloop-auction --example throughput -- [N]` (N candidates,
//! default 8): single-slot second price over N, and a pod of 4 (120 s) from N.
use adloop_auction::{
    AdvertiserDomain, Auction, Bid, Candidate, Categories, Floors, Outcome, PodSpec,
};
use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId};
use std::hint::black_box;
use std::time::Instant;

/// User + system CPU time of this process in ns (Linux `/proc/self/stat`, 10 ms ticks).
fn cpu_ns() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) * 1e7
}

fn main() {
    let mut s = 1u64;
    let mut r = |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let n: usize = std::env::args()
        .nth(1)
        .map_or(8, |a| a.parse().expect("N must be a number"));
    let sets: Vec<Vec<Candidate>> = (0..256)
        .map(|_| {
            (0..n)
                .map(|k| {
                    Candidate::new(
                        k as u32,
                        CampaignId(k as u64),
                        CreativeId(r(1000)),
                        AdvertiserId(r(n as u64 / 2 + 1)),
                        Bid::Cpm(Cpm::from_micros(500_000 + r(10_000_000) as i64)),
                    )
                    .with_multiplier(0.6 + r(400) as f64 / 1000.0)
                    .with_duration_s([15, 30, 45, 60][r(4) as usize])
                    .with_categories(Categories::new(&[r(12) as u32]).unwrap())
                    .with_domain(AdvertiserDomain(r(n as u64 / 2 + 1)))
                })
                .collect()
        })
        .collect();
    let a = Auction::default();
    let mut out = Outcome::new();
    let floors = Floors::hard(Cpm::from_micros(1_000_000));
    for round in 0..3 {
        let iters = 16_000_000 / n;
        let t = Instant::now();
        let c0 = cpu_ns();
        for i in 0..iters {
            a.run_single(&floors, black_box(&sets[i % 256]), i as u64, &mut out)
                .unwrap();
            black_box(&out);
        }
        let single = t.elapsed().as_nanos() as f64 / iters as f64;
        let single_cpu = (cpu_ns() - c0) / iters as f64;
        let t = Instant::now();
        let mut acc = 0i64;
        for i in 0..iters {
            for c in black_box(&sets[i % 256]) {
                acc += c.effective_ecpm().map_or(0, |c| c.micros());
            }
        }
        black_box(acc);
        let ecpm = t.elapsed().as_nanos() as f64 / iters as f64;
        let mut pods = String::new();
        for (slots, seconds) in [(4u16, 120u32), (8, 240)] {
            let pod = PodSpec {
                floors,
                ..PodSpec::new(slots, seconds)
            };
            let piters = 400_000 / n.max(8);
            let t = Instant::now();
            let c0 = cpu_ns();
            for i in 0..piters {
                a.run_pod(&pod, black_box(&sets[i % 256]), i as u64, &mut out)
                    .expect("valid pod");
            }
            let wall = t.elapsed().as_nanos() as f64 / piters as f64;
            let cpu = (cpu_ns() - c0) / piters as f64;
            pods.push_str(&format!(
                ", pod{slots}/{seconds}s {wall:.0} ns (cpu {cpu:.0})"
            ));
        }
        println!(
            "round {round} n={n}: single {single:.0} ns (cpu {single_cpu:.0}), eCPM alone {ecpm:.0} ns{pods}"
        );
    }
}
