//! SVG charts for example reports, drawn with `plotters`' SVG backend.
//!
//! Two chart kinds cover what the examples show: [`LineChart`] (several named series of
//! `(x, y)` points with a legend — spend vs target, revenue per hour, pacing traces) and
//! [`IntervalChart`] (one point estimate with an error bar per item, optionally with the
//! true value beside it — measured lift vs true lift). Both render to a `String` or
//! write a file; neither exposes a `plotters` type.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::SimError;

const DEFAULT_SIZE: (u32, u32) = (960, 540);
const MAX_SERIES: usize = 64;
const MAX_POINTS: usize = 1_000_000;

/// One named line of a [`LineChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (e.g. a target or reference line) instead of solid.
    pub dashed: bool,
}

/// A line chart with several series and a legend.
///
/// ```
/// use adloop_sim::LineChart;
///
/// let svg = LineChart::new("Cumulative spend")
///     .x_label("hour")
///     .y_label("spend")
///     .series("campaign 7", vec![(0.0, 0.0), (12.0, 40.0), (24.0, 100.0)])
///     .dashed_series("target", vec![(0.0, 0.0), (24.0, 100.0)])
///     .to_svg_string()?;
/// adloop_sim::check_svg(&svg)?;
/// # Ok::<(), adloop_sim::SimError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    size: (u32, u32),
    series: Vec<Series>,
}

impl LineChart {
    /// An empty chart with a title, default size 960×540.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            size: DEFAULT_SIZE,
            series: Vec::new(),
        }
    }

    /// Sets the x-axis description.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y-axis description.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Sets the picture size in pixels (each side clamped to `[200, 4000]`).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width.clamp(200, 4_000), height.clamp(200, 4_000));
        self
    }

    /// Adds a solid series.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.add_series(name, points, false);
        self
    }

    /// Adds a dashed series (targets, references).
    pub fn dashed_series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.add_series(name, points, true);
        self
    }

    /// Adds a series in place (for building charts in a loop).
    pub fn add_series(
        &mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
        dashed: bool,
    ) -> &mut Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
            dashed,
        });
        self
    }

    /// The series added so far.
    pub fn series_list(&self) -> &[Series] {
        &self.series
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.series.len() > MAX_SERIES {
            return Err(SimError::invalid(
                "series",
                format!(
                    "{} series, at most {MAX_SERIES} fit in a legend",
                    self.series.len()
                ),
            ));
        }
        let total: usize = self.series.iter().map(|s| s.points.len()).sum();
        if total > MAX_POINTS {
            return Err(SimError::invalid(
                "series.points",
                format!("{total} points, at most {MAX_POINTS}"),
            ));
        }
        for s in &self.series {
            if let Some(i) = s
                .points
                .iter()
                .position(|(x, y)| !x.is_finite() || !y.is_finite())
            {
                return Err(SimError::invalid(
                    "series.points",
                    format!("series `{}` point {i} is not finite", s.name),
                ));
            }
        }
        Ok(())
    }

    /// Renders the chart as an SVG document.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] for a non-finite point, more than 64 series or
    /// more than a million points; [`SimError::Plot`] if the backend fails.
    pub fn to_svg_string(&self) -> Result<String, SimError> {
        self.validate()?;
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let x_range = padded_range(points.clone().map(|p| p.0), 0.0);
        let y_range = padded_range(points.map(|p| p.1), 0.05);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            self.draw(&root, x_range, y_range)
                .map_err(|reason| SimError::Plot {
                    title: self.title.clone(),
                    reason,
                })?;
        }
        Ok(svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, Shift>,
        x_range: Range<f64>,
        y_range: Range<f64>,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 30))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .light_line_style(WHITE.mix(0.0))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, s) in self.series.iter().enumerate() {
            let color = series_color(i);
            let style = color.stroke_width(2);
            let annotation = if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))
                    .map_err(|e| e.to_string())?
            } else {
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), style))
                    .map_err(|e| e.to_string())?
            };
            annotation.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    }

    /// Renders the chart and writes it to `path` (parent directories must exist).
    ///
    /// # Errors
    /// As [`to_svg_string`](Self::to_svg_string), plus [`SimError::Io`].
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), SimError> {
        write_file(path.as_ref(), &self.to_svg_string()?)
    }
}

/// One row of an [`IntervalChart`]: a point estimate, its interval, and optionally the
/// true value it estimates.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Category label on the x axis.
    pub label: String,
    /// Point estimate (drawn as a bar from zero and a dot).
    pub estimate: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// The true value, drawn as a marker beside the estimate when present.
    pub truth: Option<f64>,
}

/// Bars with error bars, one per labelled item, with optional true-value markers:
/// measured lift with its confidence interval vs the simulator's true lift.
///
/// ```
/// use adloop_sim::IntervalChart;
///
/// let svg = IntervalChart::new("Lift by campaign")
///     .y_label("lift")
///     .interval("c1", 0.12, 0.05, 0.19, Some(0.10))
///     .interval("c2", 0.03, -0.02, 0.08, Some(0.04))
///     .to_svg_string()?;
/// adloop_sim::check_svg(&svg)?;
/// # Ok::<(), adloop_sim::SimError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalChart {
    title: String,
    y_label: String,
    size: (u32, u32),
    items: Vec<Interval>,
}

impl IntervalChart {
    /// An empty chart with a title, default size 960×540.
    pub fn new(title: impl Into<String>) -> Self {
        IntervalChart {
            title: title.into(),
            y_label: String::new(),
            size: DEFAULT_SIZE,
            items: Vec::new(),
        }
    }

    /// Sets the y-axis description.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Sets the picture size in pixels (each side clamped to `[200, 4000]`).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width.clamp(200, 4_000), height.clamp(200, 4_000));
        self
    }

    /// Adds an item.
    pub fn interval(
        mut self,
        label: impl Into<String>,
        estimate: f64,
        low: f64,
        high: f64,
        truth: Option<f64>,
    ) -> Self {
        self.push(Interval {
            label: label.into(),
            estimate,
            low,
            high,
            truth,
        });
        self
    }

    /// Adds an item in place.
    pub fn push(&mut self, item: Interval) -> &mut Self {
        self.items.push(item);
        self
    }

    /// The items added so far.
    pub fn items(&self) -> &[Interval] {
        &self.items
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.items.len() > 1_000 {
            return Err(SimError::invalid(
                "intervals",
                format!("{} items, at most 1000", self.items.len()),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            let finite = item.estimate.is_finite()
                && item.low.is_finite()
                && item.high.is_finite()
                && item.truth.is_none_or(f64::is_finite);
            if !finite || item.low > item.high {
                return Err(SimError::invalid(
                    "intervals",
                    format!(
                        "item {i} (`{}`) needs finite values with low <= high",
                        item.label
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Renders the chart as an SVG document.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] for non-finite values, `low > high` or more than
    /// 1,000 items; [`SimError::Plot`] if the backend fails.
    pub fn to_svg_string(&self) -> Result<String, SimError> {
        self.validate()?;
        let values = self
            .items
            .iter()
            .flat_map(|it| [it.estimate, it.low, it.high, it.truth.unwrap_or(0.0), 0.0]);
        let y_range = padded_range(values.chain([0.0]), 0.08);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            self.draw(&root, y_range).map_err(|reason| SimError::Plot {
                title: self.title.clone(),
                reason,
            })?;
        }
        Ok(svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, Shift>,
        y_range: Range<f64>,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = self.items.len().max(1);
        let labels: Vec<String> = self.items.iter().map(|it| it.label.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 30))
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y_range)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(n.min(40))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(self.y_label.as_str())
            .y_label_formatter(&|v| tick_label(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| e.to_string())?;
        let bar = series_color(0);
        let truth_color = series_color(1);
        chart
            .draw_series(self.items.iter().enumerate().map(|(i, it)| {
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, it.estimate)],
                    bar.mix(0.35).filled(),
                )
            }))
            .map_err(|e| e.to_string())?
            .label("estimate with interval")
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 16, y + 5)], bar.mix(0.35).filled())
            });
        // Error bars: vertical whisker plus caps, drawn as paths.
        chart
            .draw_series(self.items.iter().enumerate().flat_map(|(i, it)| {
                let x = i as f64;
                let style = BLACK.stroke_width(2);
                [
                    PathElement::new(vec![(x, it.low), (x, it.high)], style),
                    PathElement::new(vec![(x - 0.12, it.low), (x + 0.12, it.low)], style),
                    PathElement::new(vec![(x - 0.12, it.high), (x + 0.12, it.high)], style),
                ]
            }))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                self.items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| Circle::new((i as f64, it.estimate), 4, BLACK.filled())),
            )
            .map_err(|e| e.to_string())?;
        if self.items.iter().any(|it| it.truth.is_some()) {
            chart
                .draw_series(self.items.iter().enumerate().filter_map(|(i, it)| {
                    it.truth.map(|t| {
                        PathElement::new(
                            vec![(i as f64 - 0.35, t), (i as f64 + 0.35, t)],
                            truth_color.stroke_width(3),
                        )
                    })
                }))
                .map_err(|e| e.to_string())?
                .label("true value")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], truth_color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }

    /// Renders the chart and writes it to `path` (parent directories must exist).
    ///
    /// # Errors
    /// As [`to_svg_string`](Self::to_svg_string), plus [`SimError::Io`].
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), SimError> {
        write_file(path.as_ref(), &self.to_svg_string()?)
    }
}

/// A compact tick label: no trailing zeros, no `-0`, thousands as plain digits.
fn tick_label(v: f64) -> String {
    if v.abs() < 1e-12 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 1.0 {
        2
    } else {
        4
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A colour-blind-friendlier palette (Okabe–Ito), then plotters' 99-colour palette.
fn series_color(i: usize) -> RGBColor {
    const OKABE_ITO: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(120, 120, 120),
        RGBColor(240, 228, 66),
    ];
    if let Some(c) = OKABE_ITO.get(i) {
        *c
    } else {
        let (r, g, b) = Palette99::pick(i).rgb();
        RGBColor(r, g, b)
    }
}

/// `[min, max]` of finite values, padded by `pad` of the span (and at least a unit span
/// when all values are equal; `0..1` when there are none).
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    if hi - lo < 1e-12 {
        let half = (lo.abs() * 0.1).max(0.5);
        return (lo - half)..(hi + half);
    }
    let margin = (hi - lo) * pad;
    (lo - margin)..(hi + margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_svg;

    #[test]
    fn line_chart_renders_every_series_and_legend() {
        let svg = LineChart::new("Spend <vs> target & more")
            .x_label("hour")
            .y_label("spend")
            .series("alpha", (0..24).map(|h| (h as f64, (h * h) as f64)))
            .series("beta", (0..24).map(|h| (h as f64, 3.0 * h as f64)))
            .dashed_series("target", vec![(0.0, 0.0), (23.0, 500.0)])
            .to_svg_string()
            .unwrap();
        check_svg(&svg).unwrap();
        for name in ["alpha", "beta", "target", "hour", "spend", "&lt;vs&gt;"] {
            assert!(svg.contains(name), "missing {name}");
        }
        assert!(svg.contains("polyline") || svg.contains("<path"));
    }

    #[test]
    fn empty_and_degenerate_charts_render() {
        check_svg(&LineChart::new("empty").to_svg_string().unwrap()).unwrap();
        let one = LineChart::new("one point").series("s", vec![(1.0, 1.0)]);
        check_svg(&one.to_svg_string().unwrap()).unwrap();
        check_svg(&IntervalChart::new("none").to_svg_string().unwrap()).unwrap();
    }

    #[test]
    fn rejects_non_finite_points() {
        let bad = LineChart::new("bad").series("s", vec![(0.0, f64::NAN)]);
        assert!(matches!(
            bad.to_svg_string(),
            Err(SimError::InvalidParameter { .. })
        ));
        let bad = IntervalChart::new("bad").interval("x", 1.0, 2.0, 0.0, None);
        assert!(bad.to_svg_string().is_err());
    }

    #[test]
    fn interval_chart_draws_labels_and_truth() {
        let svg = IntervalChart::new("Lift")
            .y_label("relative lift")
            .interval("campaign-1", 0.12, 0.05, 0.19, Some(0.10))
            .interval("campaign-2", -0.02, -0.08, 0.04, Some(0.0))
            .interval("campaign-3", 0.30, 0.10, 0.50, None)
            .to_svg_string()
            .unwrap();
        check_svg(&svg).unwrap();
        for name in [
            "campaign-1",
            "campaign-2",
            "campaign-3",
            "true value",
            "relative lift",
        ] {
            assert!(svg.contains(name), "missing {name}");
        }
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(tick_label(-0.0), "0");
        assert_eq!(tick_label(1e-15), "0");
        assert_eq!(tick_label(2500.0), "2500");
        assert_eq!(tick_label(0.05), "0.05");
        assert_eq!(tick_label(-0.1), "-0.1");
        assert_eq!(tick_label(12.5), "12.5");
    }

    #[test]
    fn write_svg_reports_the_path_on_failure() {
        let err = LineChart::new("x")
            .write_svg("/nonexistent-dir-adloop/x.svg")
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir-adloop/x.svg"));
    }
}
