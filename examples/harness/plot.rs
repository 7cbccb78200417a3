//! `--plot FILE.svg`: the latency of each path by percentile (the
//! HdrHistogram picture: percentile on a log "nines" axis from 0 to
//! 99.999%) above its throughput in each 100 ms interval, drawn with
//! plotters' SVG backend.

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::report::{Report, Run};

/// The nines axis ends at 99.999%: five nines.
const NINES: f64 = 5.0;
/// Points per latency line.
const POINTS: usize = 250;
const SIZE: (u32, u32) = (960, 820);

/// The percentile (0 to 100) at `x` nines: `x = -log10(1 - p)`.
fn percentile(x: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-x))
}

/// An axis label at `x` nines: 0%, 90%, 99%, 99.9%, ...
fn nines_label(x: &f64) -> String {
    let p = percentile(*x);
    let digits = x.round().max(0.0) as usize;
    format!("{p:.*}%", digits.saturating_sub(2))
}

/// The latency line of one histogram: (nines, µs).
fn latency_line(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=POINTS)
        .map(|i| {
            let x = NINES * i as f64 / POINTS as f64;
            let q = percentile(x) / 100.0;
            (x, (h.value_at_quantile(q).max(1)) as f64 / 1000.0)
        })
        .collect()
}

fn color(i: usize) -> RGBColor {
    [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ][i % 3]
}

/// The SVG of the report's runs.
pub fn svg(report: &Report) -> Result<String, String> {
    let mut out = String::new();
    draw(report, &mut out).map_err(|e| format!("--plot: drawing failed: {e}"))?;
    Ok(out)
}

/// What the pictures are of: the workload and the settings that tell two
/// runs of it apart.
fn title(report: &Report) -> String {
    let mut what = format!("{:?}", report.workload).to_lowercase();
    if let (Some(d), Some(b)) = (report.depth, report.batch) {
        what += &format!(", depth {d}, batch {b}");
    }
    if let Some(rate) = report.rate {
        what += &format!(", {rate}/s");
    }
    if !report.setup.is_empty() {
        what += &format!(", {}", report.setup.join(" "));
    }
    what
}

fn draw(report: &Report, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 + 40);
    let what = title(report);
    let runs: Vec<&Run> = report.runs.iter().collect();

    let lines: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| latency_line(&r.histogram)).collect();
    let (lo, hi) = lines
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        });
    let (lo, hi) = if lo <= hi {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.001, 1.0)
    };
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{what}: latency by percentile"), ("sans-serif", 22))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..NINES, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&nines_label)
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .y_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .draw()?;
    for (i, (run, line)) in runs.iter().zip(lines).enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(line, c.stroke_width(2)))?
            .label(run.path)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let width = crate::recorder::INTERVAL.as_secs_f64();
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            let rates = &r.intervals_ops_per_sec;
            rates
                .iter()
                .enumerate()
                .map(|(i, &v)| (((i + 1) as f64 * width).min(r.seconds), v))
                .collect()
        })
        .collect();
    let end = series.iter().flatten().fold(width, |m, &(x, _)| m.max(x));
    let top_rate = series.iter().flatten().fold(1.0f64, |m, &(_, y)| m.max(y));
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!("{what}: operations per second, each 100 ms"),
            ("sans-serif", 22),
        )
        .margin(12)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..top_rate * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start (each point ends its interval)")
        .y_desc("ops/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    for (i, (run, points)) in runs.iter().zip(series).enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))?
            .label(run.path)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nines_axis() {
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&1.0), "90%");
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&3.0), "99.9%");
        assert_eq!(nines_label(&5.0), "99.999%");
        let mut h = crate::recorder::histogram();
        for v in 1..=100_000u64 {
            h.record(v).expect("record");
        }
        let line = latency_line(&h);
        assert_eq!(line.len(), POINTS + 1);
        assert!(line.windows(2).all(|w| w[0].1 <= w[1].1), "rises");
        let (x, us) = line[POINTS / NINES as usize * 2];
        assert!((x - 2.0).abs() < 1e-9);
        assert!(
            (us - 99.0).abs() < 0.5,
            "p99 of 1..=100000 ns is 99 µs: {us}"
        );
    }
}
