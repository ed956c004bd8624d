//! The last minutes of each backend and server, for the stats page's pictures: a sampler reads the counters at a
//! fixed period and keeps the last [`KEEP`] readings of each row's request count and total-time histogram; the page
//! draws, per interval between two readings, the request rate and the p50 / p90 / p99 of the requests that ended in
//! it (the difference of two cumulative histograms), as inline SVG.
//!
//! Percentiles are estimated as Prometheus's `histogram_quantile` does: linear interpolation inside the bucket
//! that holds the rank, so they are as fine as the buckets ([`crate::histogram::BUCKETS`]).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::histogram::{HistogramSnapshot, BUCKETS};
use crate::stats::{RowKind, Stats};

/// Readings kept per row: 30 intervals (five minutes at the default 10 s period).
pub const KEEP: usize = 31;

/// One reading of a row.
#[derive(Debug, Clone)]
struct Reading {
    /// Seconds since the sampler started.
    at: f64,
    /// Requests (sessions) so far.
    requests: u64,
    /// The total-time histogram so far.
    total: HistogramSnapshot,
}

/// One interval between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When the interval ended (seconds since the sampler started).
    pub at: f64,
    /// How long it lasted, in seconds.
    pub seconds: f64,
    /// Requests per second.
    pub rate: f64,
    /// The 50th, 90th and 99th percentiles of the total time of the requests that ended in the interval, in
    /// seconds (`None` when none did).
    pub p50: Option<f64>,
    /// See `p50`.
    pub p90: Option<f64>,
    /// See `p50`.
    pub p99: Option<f64>,
}

/// The readings of every backend and server, by (proxy, server) name (`BACKEND` for the backend row).
#[derive(Debug, Default)]
pub struct History {
    rows: HashMap<(String, String), Vec<Reading>>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records a reading of every backend and server row of `stats` taken `at` seconds after the start. Rows that
    /// are gone are forgotten.
    pub fn record(&mut self, at: f64, stats: &Stats) {
        let mut seen = Vec::new();
        for row in stats.rows().filter(|r| r.kind != RowKind::Frontend) {
            let Some(t) = &row.timings else { continue };
            let key = (row.pxname.clone(), row.svname.clone());
            let list = self.rows.entry(key.clone()).or_default();
            list.push(Reading {
                at,
                requests: row.stot,
                total: t.total.clone(),
            });
            if list.len() > KEEP {
                list.remove(0);
            }
            seen.push(key);
        }
        self.rows.retain(|k, _| seen.contains(k));
    }

    /// How many readings of one row are kept.
    pub fn readings(&self, proxy: &str, server: &str) -> usize {
        self.rows
            .get(&(proxy.to_string(), server.to_string()))
            .map_or(0, Vec::len)
    }

    /// The intervals of one row, oldest first.
    pub fn points(&self, proxy: &str, server: &str) -> Vec<Point> {
        let Some(list) = self.rows.get(&(proxy.to_string(), server.to_string())) else {
            return Vec::new();
        };
        list.windows(2)
            .filter_map(|w| {
                let dt = w[1].at - w[0].at;
                if dt <= 0.0 {
                    return None;
                }
                let delta = diff(&w[0].total, &w[1].total);
                Some(Point {
                    at: w[1].at,
                    seconds: dt,
                    rate: w[1].requests.saturating_sub(w[0].requests) as f64 / dt,
                    p50: quantile(0.5, &delta),
                    p90: quantile(0.9, &delta),
                    p99: quantile(0.99, &delta),
                })
            })
            .collect()
    }
}

/// The cumulative bucket counts of the observations between two readings.
fn diff(a: &HistogramSnapshot, b: &HistogramSnapshot) -> [u64; 15] {
    let mut d = [0u64; 15];
    for (i, slot) in d.iter_mut().enumerate() {
        *slot = b.cumulative[i].saturating_sub(a.cumulative[i]);
    }
    d
}

/// The `q` quantile of cumulative bucket counts, interpolated linearly inside its bucket; the last finite bound
/// when the rank falls in `+Inf`.
fn quantile(q: f64, cumulative: &[u64; 15]) -> Option<f64> {
    let count = cumulative[14];
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let i = cumulative.iter().position(|&c| c as f64 >= rank)?;
    if i >= BUCKETS.len() {
        return Some(BUCKETS[BUCKETS.len() - 1]);
    }
    let (lower, below) = if i == 0 {
        (0.0, 0)
    } else {
        (BUCKETS[i - 1], cumulative[i - 1])
    };
    let inside = (cumulative[i] - below) as f64;
    let frac = if inside > 0.0 {
        (rank - below as f64) / inside
    } else {
        1.0
    };
    Some(lower + (BUCKETS[i] - lower) * frac)
}

/// Width and height of a picture, in pixels.
const W: f64 = 180.0;
const H: f64 = 40.0;

/// A duration for the pictures' labels: `850us`, `12.5ms`, `1.20s`.
fn secs(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0}us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}

/// A polyline of `values` (absent ones break the line) scaled to `max`, over the time span of `points`.
fn polyline(out: &mut String, points: &[Point], values: &[Option<f64>], max: f64, class: &str) {
    let (t0, t1) = (points[0].at, points[points.len() - 1].at);
    let span = (t1 - t0).max(1e-9);
    let mut run = Vec::new();
    let flush = |run: &mut Vec<String>, out: &mut String| {
        if !run.is_empty() {
            let _ = write!(
                out,
                "<polyline class=\"{class}\" points=\"{}\"/>",
                run.join(" ")
            );
            run.clear();
        }
    };
    for (p, v) in points.iter().zip(values) {
        match v {
            Some(v) => {
                let y = H - (v / max).min(1.0) * (H - 2.0) - 1.0;
                if points.len() == 1 {
                    // One interval: a level line across the picture.
                    run.push(format!("0.0,{y:.1}"));
                    run.push(format!("{W:.1},{y:.1}"));
                } else {
                    let x = (p.at - t0) / span * W;
                    run.push(format!("{x:.1},{y:.1}"));
                }
            }
            None => flush(&mut run, out),
        }
    }
    flush(&mut run, out);
}

/// Two inline SVG pictures of a row's last minutes: requests per second, and the p50 / p90 / p99 total times.
/// Empty until two readings exist.
pub fn svg(points: &[Point]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let covered = points[points.len() - 1].at - points[0].at + points[0].seconds;
    let span = if covered >= 90.0 {
        format!("last {:.0} min", covered / 60.0)
    } else {
        format!("last {covered:.0} s")
    };
    let mut out = String::new();
    let rates: Vec<Option<f64>> = points.iter().map(|p| Some(p.rate)).collect();
    let max_rate = points.iter().map(|p| p.rate).fold(0.0, f64::max);
    let last = points[points.len() - 1];
    let _ = write!(
        out,
        "<svg class=\"spark\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><title>requests per second, {span}: now {:.1}, peak {:.1}</title><rect width=\"{W}\" height=\"{H}\"/>",
        last.rate, max_rate
    );
    polyline(&mut out, points, &rates, max_rate.max(1e-9), "rate");
    let _ = write!(
        out,
        "<text x=\"2\" y=\"10\">{:.1}/s</text></svg>",
        last.rate
    );
    let max_p = points
        .iter()
        .filter_map(|p| p.p99.or(p.p90).or(p.p50))
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "<svg class=\"spark\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><title>total time p50 / p90 / p99, {span}: now {} / {} / {}</title><rect width=\"{W}\" height=\"{H}\"/>",
        last.p50.map_or("-".into(), secs),
        last.p90.map_or("-".into(), secs),
        last.p99.map_or("-".into(), secs)
    );
    for (class, get) in [
        ("p99", (|p: &Point| p.p99) as fn(&Point) -> Option<f64>),
        ("p90", |p: &Point| p.p90),
        ("p50", |p: &Point| p.p50),
    ] {
        let v: Vec<Option<f64>> = points.iter().map(get).collect();
        polyline(&mut out, points, &v, max_p.max(1e-9), class);
    }
    let _ = write!(
        out,
        "<text x=\"2\" y=\"10\">p99 {}</text></svg>",
        last.p99.map_or("-".into(), secs)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;
    use crate::stats::{ProxyStats, Row, Timings};
    use std::time::Duration;

    fn stats(requests: u64, h: &Histogram) -> Stats {
        let t = Timings {
            queue: h.snapshot(),
            total: h.snapshot(),
            connect: h.snapshot(),
            response: h.snapshot(),
        };
        Stats {
            proxies: vec![ProxyStats {
                name: "app".into(),
                servers: vec![Row {
                    pxname: "app".into(),
                    svname: "s1".into(),
                    kind: RowKind::Server,
                    stot: requests,
                    timings: Some(t),
                    ..Row::default()
                }],
                ..ProxyStats::default()
            }],
            ..Stats::default()
        }
    }

    #[test]
    fn rates_and_percentiles_per_interval() {
        let h = Histogram::new();
        let mut hist = History::new();
        hist.record(0.0, &stats(0, &h));
        // 100 requests in 10 s: 90 at 3 ms, 10 at 200 ms.
        for _ in 0..90 {
            h.observe(Duration::from_millis(3));
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(200));
        }
        hist.record(10.0, &stats(100, &h));
        // Then 10 s without a request.
        hist.record(20.0, &stats(100, &h));
        let p = hist.points("app", "s1");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].rate, 10.0);
        // p50 and p90 fall in the (2.5 ms, 5 ms] bucket, p99 in (100 ms, 250 ms].
        let p50 = p[0].p50.unwrap();
        assert!((0.0025..=0.005).contains(&p50), "{p50}");
        assert!((0.0025..=0.005).contains(&p[0].p90.unwrap()));
        assert!((0.1..=0.25).contains(&p[0].p99.unwrap()));
        assert_eq!((p[1].rate, p[1].p50), (0.0, None));
        let svg = svg(&p);
        assert!(svg.contains("<polyline class=\"rate\""), "{svg}");
        assert!(svg.contains("now 0.0, peak 10.0"), "{svg}");
        assert!(svg.contains("<polyline class=\"p99\""), "{svg}");
        assert_eq!(hist.points("app", "gone"), vec![]);
    }

    #[test]
    fn keeps_the_last_readings_and_forgets_removed_rows() {
        let h = Histogram::new();
        let mut hist = History::new();
        for i in 0..(KEEP + 10) {
            hist.record(i as f64, &stats(i as u64, &h));
        }
        assert_eq!(hist.points("app", "s1").len(), KEEP - 1);
        hist.record(100.0, &Stats::default());
        assert!(hist.points("app", "s1").is_empty());
        assert_eq!(svg(&[]), "");
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let mut c = [0u64; 15];
        // 10 observations in the first bucket (0, 0.5 ms].
        c.iter_mut().for_each(|x| *x = 10);
        assert_eq!(quantile(0.5, &c), Some(0.00025));
        let mut c = [0u64; 15];
        c[14] = 4; // all in +Inf
        assert_eq!(quantile(0.5, &c), Some(10.0));
        assert_eq!(quantile(0.5, &[0; 15]), None);
    }
}
