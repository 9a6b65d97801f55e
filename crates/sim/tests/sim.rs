//! Integration tests of adloop-sim's public API.

use adloop_core::{Cpm, DurationMs, Money};
use adloop_sim::{
    DayNoise, DiurnalCurve, IntervalChart, LineChart, LogNormalMoney, OpenAuction, SimError,
    check_svg,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn assert_traits<T: Send + Sync + Unpin>() {}

#[test]
fn public_types_are_send_sync_unpin() {
    assert_traits::<DiurnalCurve>();
    assert_traits::<DayNoise>();
    assert_traits::<LogNormalMoney>();
    assert_traits::<OpenAuction>();
    assert_traits::<LineChart>();
    assert_traits::<IntervalChart>();
    assert_traits::<SimError>();
    assert_traits::<adloop_sim::Population>();
    assert_traits::<adloop_sim::Opportunity>();
    assert_traits::<adloop_sim::SimCampaign>();
    assert_traits::<adloop_sim::ConversionModel>();
    assert_traits::<adloop_sim::TruthTally>();
    assert_traits::<adloop_sim::CampaignTruth>();
    assert_traits::<adloop_sim::SimConversion>();
    assert_traits::<adloop_sim::TargetingExpr>();
}

#[test]
fn traffic_is_deterministic_per_seed() {
    let curve = DiurnalCurve::streaming();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let day = curve.noisy_day(&DayNoise::TYPICAL, &mut rng).unwrap();
        let total = DayNoise::TYPICAL.daily_total(200_000, &mut rng).unwrap();
        day.sample_counts(total, DurationMs::MINUTE, &mut rng)
            .unwrap()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}

#[test]
fn competing_bids_are_deterministic_per_seed() {
    let bids = LogNormalMoney::new(Money::from_micros(3_000_000), 0.7).unwrap();
    let open = OpenAuction::new(Cpm::from_micros(12_000_000), 0.5).unwrap();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..50)
            .map(|_| (bids.sample(&mut rng), open.highest_competing_cpm(&mut rng)))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn charts_write_valid_svg_files() {
    let dir = std::env::temp_dir().join(format!("adloop-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let curve = DiurnalCurve::streaming();
    let line = dir.join("traffic.svg");
    LineChart::new("Requests by hour")
        .x_label("hour")
        .y_label("relative rate")
        .series(
            "streaming",
            (0..=96).map(|q| (q as f64 / 4.0, curve.weight_at_hour(q as f64 / 4.0))),
        )
        .dashed_series("daily mean", vec![(0.0, 1.0), (24.0, 1.0)])
        .write_svg(&line)
        .unwrap();
    let lift = dir.join("lift.svg");
    IntervalChart::new("Lift")
        .y_label("lift")
        .interval("a", 0.1, 0.0, 0.2, Some(0.12))
        .write_svg(&lift)
        .unwrap();
    for path in [&line, &lift] {
        let text = std::fs::read_to_string(path).unwrap();
        check_svg(&text).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A plain reference implementation of the targeting grammar (recursive descent) and
/// evaluator, to check the generated expressions' shape independently of the engine.
mod grammar {
    use adloop_sim::AttrValue;

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Val {
        Int(i64),
        Str(String),
    }

    #[derive(Debug, Clone)]
    pub(crate) enum Expr {
        Or(Vec<Expr>),
        And(Vec<Expr>),
        Not(Box<Expr>),
        Const(bool),
        In(String, Vec<Val>),
        NotIn(String, Vec<Val>),
        All(String, Vec<Val>),
        Eq(String, Val),
        Ne(String, Val),
        Cmp(String, &'static str, i64),
        Between(String, i64, i64),
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Word(String),
        Int(i64),
        Str(String),
        Sym(&'static str),
    }

    fn lex(text: &str) -> Result<Vec<Tok>, String> {
        let b = text.as_bytes();
        let mut i = 0;
        let mut out = Vec::new();
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_whitespace() {
                i += 1;
            } else if c.is_ascii_alphabetic() || c == b'_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                out.push(Tok::Word(text[s..i].to_string()));
            } else if c.is_ascii_digit() || c == b'-' {
                let s = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Int(
                    text[s..i].parse().map_err(|e| format!("{e} at {s}"))?,
                ));
            } else if c == b'"' {
                let s = i + 1;
                let e = text[s..].find('"').ok_or("unterminated string")? + s;
                out.push(Tok::Str(text[s..e].to_string()));
                i = e + 1;
            } else {
                let two = text.get(i..i + 2).unwrap_or("");
                let sym = match two {
                    "<=" => "<=",
                    ">=" => ">=",
                    "!=" => "!=",
                    _ => match c {
                        b'(' => "(",
                        b')' => ")",
                        b',' => ",",
                        b'=' => "=",
                        b'<' => "<",
                        b'>' => ">",
                        _ => return Err(format!("bad char {:?} at {i}", c as char)),
                    },
                };
                i += sym.len();
                out.push(Tok::Sym(sym));
            }
        }
        Ok(out)
    }

    struct P {
        toks: Vec<Tok>,
        pos: usize,
    }

    impl P {
        fn peek_kw(&self, kw: &str) -> bool {
            matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
        }
        fn kw(&mut self, kw: &str) -> Result<(), String> {
            if self.peek_kw(kw) {
                self.pos += 1;
                Ok(())
            } else {
                Err(format!("expected {kw} at token {}", self.pos))
            }
        }
        fn sym(&mut self, s: &str) -> Result<(), String> {
            if self.toks.get(self.pos)
                == Some(&Tok::Sym(match s {
                    "(" => "(",
                    ")" => ")",
                    "," => ",",
                    _ => unreachable!(),
                }))
            {
                self.pos += 1;
                Ok(())
            } else {
                Err(format!("expected {s} at token {}", self.pos))
            }
        }
        fn or(&mut self) -> Result<Expr, String> {
            let mut v = vec![self.and()?];
            while self.peek_kw("or") {
                self.pos += 1;
                v.push(self.and()?);
            }
            Ok(if v.len() == 1 {
                v.pop().unwrap()
            } else {
                Expr::Or(v)
            })
        }
        fn and(&mut self) -> Result<Expr, String> {
            let mut v = vec![self.unary()?];
            while self.peek_kw("and") {
                self.pos += 1;
                v.push(self.unary()?);
            }
            Ok(if v.len() == 1 {
                v.pop().unwrap()
            } else {
                Expr::And(v)
            })
        }
        fn unary(&mut self) -> Result<Expr, String> {
            if self.peek_kw("not") {
                self.pos += 1;
                return Ok(Expr::Not(Box::new(self.unary()?)));
            }
            if self.peek_kw("true") {
                self.pos += 1;
                return Ok(Expr::Const(true));
            }
            if self.peek_kw("false") {
                self.pos += 1;
                return Ok(Expr::Const(false));
            }
            if self.toks.get(self.pos) == Some(&Tok::Sym("(")) {
                self.pos += 1;
                let e = self.or()?;
                self.sym(")")?;
                return Ok(e);
            }
            self.pred()
        }
        fn value(&mut self) -> Result<Val, String> {
            let v = match self.toks.get(self.pos) {
                Some(Tok::Int(i)) => Val::Int(*i),
                Some(Tok::Str(s)) => Val::Str(s.clone()),
                t => return Err(format!("expected value, got {t:?}")),
            };
            self.pos += 1;
            Ok(v)
        }
        fn int(&mut self) -> Result<i64, String> {
            match self.value()? {
                Val::Int(i) => Ok(i),
                v => Err(format!("expected int, got {v:?}")),
            }
        }
        fn list(&mut self) -> Result<Vec<Val>, String> {
            self.sym("(")?;
            let mut v = vec![self.value()?];
            while self.toks.get(self.pos) == Some(&Tok::Sym(",")) {
                self.pos += 1;
                v.push(self.value()?);
            }
            self.sym(")")?;
            Ok(v)
        }
        fn pred(&mut self) -> Result<Expr, String> {
            let attr = match self.toks.get(self.pos) {
                Some(Tok::Word(w)) => w.clone(),
                t => return Err(format!("expected attribute, got {t:?}")),
            };
            self.pos += 1;
            if self.peek_kw("in") {
                self.pos += 1;
                return Ok(Expr::In(attr, self.list()?));
            }
            if self.peek_kw("not") {
                self.pos += 1;
                self.kw("in")?;
                return Ok(Expr::NotIn(attr, self.list()?));
            }
            if self.peek_kw("all") {
                self.pos += 1;
                return Ok(Expr::All(attr, self.list()?));
            }
            if self.peek_kw("between") {
                self.pos += 1;
                let lo = self.int()?;
                self.kw("and")?;
                let hi = self.int()?;
                return Ok(Expr::Between(attr, lo, hi));
            }
            let op = match self.toks.get(self.pos) {
                Some(Tok::Sym(s)) => *s,
                t => return Err(format!("expected operator, got {t:?}")),
            };
            self.pos += 1;
            match op {
                "=" => Ok(Expr::Eq(attr, self.value()?)),
                "!=" => Ok(Expr::Ne(attr, self.value()?)),
                "<" | "<=" | ">" | ">=" => Ok(Expr::Cmp(attr, op, self.int()?)),
                _ => Err(format!("bad operator {op}")),
            }
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Expr, String> {
        let mut p = P {
            toks: lex(text)?,
            pos: 0,
        };
        let e = p.or()?;
        if p.pos != p.toks.len() {
            return Err(format!("trailing tokens at {}", p.pos));
        }
        Ok(e)
    }

    fn conv(v: &AttrValue) -> Val {
        match v {
            AttrValue::Int(i) => Val::Int(*i),
            AttrValue::Str(s) => Val::Str((*s).to_string()),
        }
    }

    /// A missing attribute has the empty set: `in`, `=`, `all`, comparisons and `between`
    /// are false for it, `not in` and `!=` true.
    pub(crate) fn eval(e: &Expr, attrs: &[(&str, AttrValue)]) -> bool {
        fn values<'a>(
            attrs: &'a [(&str, AttrValue)],
            name: &'a str,
        ) -> impl Iterator<Item = Val> + 'a {
            attrs
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, v)| conv(v))
        }
        let values = |name| values(attrs, name);
        match e {
            Expr::Or(v) => v.iter().any(|e| eval(e, attrs)),
            Expr::And(v) => v.iter().all(|e| eval(e, attrs)),
            Expr::Not(e) => !eval(e, attrs),
            Expr::Const(b) => *b,
            Expr::In(a, list) => values(a).any(|v| list.contains(&v)),
            Expr::NotIn(a, list) => {
                values(a).next().is_some() && values(a).all(|v| !list.contains(&v))
            }
            Expr::All(a, list) => list.iter().all(|x| values(a).any(|v| &v == x)),
            Expr::Eq(a, x) => values(a).any(|v| &v == x),
            Expr::Ne(a, x) => values(a).all(|v| &v != x),
            Expr::Cmp(a, op, k) => values(a).any(|v| match v {
                Val::Int(i) => match *op {
                    "<" => i < *k,
                    "<=" => i <= *k,
                    ">" => i > *k,
                    _ => i >= *k,
                },
                Val::Str(_) => false,
            }),
            Expr::Between(a, lo, hi) => {
                values(a).any(|v| matches!(v, Val::Int(i) if *lo <= i && i <= *hi))
            }
        }
    }
}

#[test]
fn every_generated_expression_follows_the_grammar_and_reaches_someone() {
    use adloop_sim::{CampaignConfig, Population, PopulationConfig, generate_campaigns, vocab};
    let mut rng = StdRng::seed_from_u64(21);
    let pop = Population::generate(
        &PopulationConfig {
            users: 5_000,
            ..Default::default()
        },
        &mut rng,
    )
    .unwrap();
    let campaigns = generate_campaigns(
        &CampaignConfig {
            campaigns: 300,
            ..Default::default()
        },
        &pop,
        &mut rng,
    )
    .unwrap();
    let ops = pop.day_of_opportunities(
        &DiurnalCurve::streaming(),
        adloop_core::Timestamp::from_millis(1_699_833_600_000),
        DurationMs::ZERO,
        2_000,
        &mut rng,
    );
    let attrs: Vec<_> = ops.iter().map(|o| o.attributes(&pop)).collect();
    let known = [
        vocab::attr::SEGMENT,
        vocab::attr::COUNTRY,
        vocab::attr::REGION,
        vocab::attr::DEVICE_TYPE,
        vocab::attr::DEVICE_OS,
        vocab::attr::GENRE,
        vocab::attr::HOUR,
        vocab::attr::DOW,
        vocab::attr::PUBLISHER,
    ];
    let mut reaches = Vec::new();
    for c in &campaigns {
        let expr = grammar::parse(&c.targeting).unwrap_or_else(|e| panic!("{}: {e}", c.targeting));
        for word in c
            .targeting
            .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
        {
            if word.contains('.')
                && !word.chars().next().is_some_and(|ch| ch.is_ascii_digit())
                && !word.starts_with("streamco")
            {
                assert!(
                    known.contains(&word),
                    "unknown attribute {word} in {}",
                    c.targeting
                );
            }
        }
        let reach =
            attrs.iter().filter(|a| grammar::eval(&expr, a)).count() as f64 / attrs.len() as f64;
        reaches.push(reach);
    }
    reaches.sort_by(f64::total_cmp);
    let median = reaches[reaches.len() / 2];
    let reached = reaches.iter().filter(|&&r| r > 0.0).count() as f64 / reaches.len() as f64;
    // Most campaigns find an audience; a typical one sees a few to tens of percent.
    assert!(reached > 0.85, "only {reached} of campaigns reach anyone");
    assert!((0.01..0.6).contains(&median), "median reach {median}");
    // Keywords may appear in any case.
    assert!(grammar::parse("segment IN (1, 2) AND NOT device.type = \"tv\"").is_ok());
    assert!(grammar::parse("segment in (1,").is_err());
}

/// Every generated expression parses with adloop-targeting's parser, and its reference
/// evaluator agrees with this file's plain evaluator on simulated requests.
#[test]
fn generated_expressions_parse_and_match_with_adloop_targeting() {
    use adloop_sim::{AttrValue, CampaignConfig, Population, PopulationConfig, generate_campaigns};
    let mut rng = StdRng::seed_from_u64(22);
    let pop = Population::generate(
        &PopulationConfig {
            users: 3_000,
            ..Default::default()
        },
        &mut rng,
    )
    .unwrap();
    let campaigns = generate_campaigns(
        &CampaignConfig {
            campaigns: 200,
            ..Default::default()
        },
        &pop,
        &mut rng,
    )
    .unwrap();
    let ops = pop.day_of_opportunities(
        &DiurnalCurve::streaming(),
        adloop_core::Timestamp::from_millis(1_699_833_600_000),
        DurationMs::ZERO,
        300,
        &mut rng,
    );
    let requests: Vec<_> = ops
        .iter()
        .map(|o| {
            let attrs = o.attributes(&pop);
            let mut request = adloop_targeting::Request::new();
            for (name, value) in &attrs {
                match value {
                    AttrValue::Int(i) => request.push_int(name, *i),
                    AttrValue::Str(s) => request.push_str(name, s),
                }
            }
            (attrs, request)
        })
        .collect();
    let mut matched = 0;
    for c in &campaigns {
        let theirs = adloop_targeting::parse(&c.targeting)
            .unwrap_or_else(|e| panic!("{}: {e}", c.targeting));
        let ours = grammar::parse(&c.targeting).unwrap();
        for (attrs, request) in &requests {
            let expected = grammar::eval(&ours, attrs);
            assert_eq!(
                theirs.matches(request),
                expected,
                "{} on {attrs:?}",
                c.targeting
            );
            matched += usize::from(expected);
        }
    }
    assert!(matched > 0);
}
