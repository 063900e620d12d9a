//! Dependency-free SVG line plots (objective vs iterations, oracle calls or wall time; several
//! runs overlaid; a shaded band for the spread over seeds).
//!
//! Hand-written rather than `plotters`: the output is small, deterministic text that needs no
//! fonts, and the few features we need (log axes, bands, legend) fit in one file.

use std::fmt::Write as _;

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One curve.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The curve (x, y); non-finite points and, on log axes, non-positive ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// Optional shaded band (x, low, high), e.g. min/max over seeds.
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A plain curve.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
        }
    }
}

/// A line plot.
#[derive(Debug, Clone, Default)]
pub struct LinePlot {
    /// Title.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The curves.
    pub series: Vec<Series>,
}

struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn t(&self, v: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            0.5
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        if self.log {
            let (a, b) = (self.lo.floor() as i64, self.hi.ceil() as i64);
            let stride = ((b - a) / 8).max(1);
            (a..=b)
                .filter(|e| (e - a) % stride == 0)
                .map(|e| (10f64.powi(e as i32), format!("1e{e}")))
                .filter(|(v, _)| {
                    let l = v.log10();
                    l >= self.lo - 1e-9 && l <= self.hi + 1e-9
                })
                .collect()
        } else {
            let span = (self.hi - self.lo).max(f64::MIN_POSITIVE);
            let raw = span / 6.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * mag)
                .find(|s| *s >= raw)
                .unwrap_or(10.0 * mag);
            let mut v = (self.lo / step).ceil() * step;
            let mut out = Vec::new();
            while v <= self.hi + step * 1e-9 && out.len() < 20 {
                out.push((v, fmt_tick(v, step)));
                v += step;
            }
            out
        }
    }
}

fn fmt_tick(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let d = (-step.log10().floor()) as usize;
        format!("{v:.d$}")
    }
}

fn axis(values: impl Iterator<Item = f64>, log: bool) -> Axis {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        if !v.is_finite() || (log && v <= 0.0) {
            continue;
        }
        let v = if log { v.log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return Axis {
            lo: 0.0,
            hi: 1.0,
            log,
        };
    }
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    if !log {
        let pad = 0.03 * (hi - lo);
        lo -= pad;
        hi += pad;
    }
    Axis { lo, hi, log }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl LinePlot {
    /// Render as a standalone SVG document.
    pub fn render(&self) -> String {
        let (w, h) = (760.0, 460.0);
        let (ml, mr, mt, mb) = (78.0, 190.0, 40.0, 56.0);
        let (pw, ph) = (w - ml - mr, h - mt - mb);
        let ok = |x: f64, y: f64| {
            x.is_finite() && y.is_finite() && (!self.log_x || x > 0.0) && (!self.log_y || y > 0.0)
        };
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| ok(p.0, p.1)).map(|p| p.0));
        let ax = axis(xs, self.log_x);
        let ys = self.series.iter().flat_map(|s| {
            s.points
                .iter()
                .filter(|p| ok(p.0, p.1))
                .map(|p| p.1)
                .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
        });
        let ay = axis(ys, self.log_y);
        let px = |x: f64| ml + ax.t(x) * pw;
        let py = |y: f64| mt + (1.0 - ay.t(y)) * ph;

        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = write!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            ml + pw / 2.0,
            esc(&self.title)
        );
        for (v, label) in ax.ticks() {
            let x = px(v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
                mt + ph,
                mt + ph + 16.0
            );
        }
        for (v, label) in ay.ticks() {
            let y = py(v);
            let _ = write!(
                s,
                r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
                ml + pw,
                ml - 6.0,
                y + 4.0
            );
        }
        let _ = write!(
            s,
            r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            ml + pw / 2.0,
            h - 14.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        for (i, ser) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let band: Vec<_> = ser
                .band
                .iter()
                .filter(|b| ok(b.0, b.1) && ok(b.0, b.2))
                .collect();
            if band.len() >= 2 {
                let mut d = String::new();
                for (k, b) in band.iter().enumerate() {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if k == 0 { "M" } else { "L" },
                        px(b.0),
                        py(b.2)
                    );
                }
                for b in band.iter().rev() {
                    let _ = write!(d, "L{:.1},{:.1} ", px(b.0), py(b.1));
                }
                let _ = write!(
                    s,
                    r#"<path d="{d}Z" fill="{color}" fill-opacity="0.18" stroke="none"/>"#
                );
            }
            let pts: Vec<String> = ser
                .points
                .iter()
                .filter(|p| ok(p.0, p.1))
                .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
                .collect();
            if pts.len() == 1 {
                let _ = write!(
                    s,
                    r#"<circle cx="{}" r="3" fill="{color}"/>"#,
                    pts[0].replace(',', "\" cy=\"")
                );
            } else if !pts.is_empty() {
                let _ = write!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
                    pts.join(" ")
                );
            }
            let ly = mt + 8.0 + 18.0 * i as f64;
            let lx = ml + pw + 12.0;
            let _ = write!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
                lx + 22.0,
                lx + 28.0,
                ly + 4.0,
                esc(&ser.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_log_plot_with_band_and_skips_bad_points() {
        let mut a = Series::new(
            "a<b",
            vec![(0.0, 1.0), (1.0, 1e-3), (2.0, 0.0), (3.0, f64::NAN)],
        );
        a.band = vec![(0.0, 0.5, 2.0), (1.0, 1e-4, 1e-2)];
        let p = LinePlot {
            title: "t".into(),
            x_label: "iteration".into(),
            y_label: "f - f*".into(),
            log_x: false,
            log_y: true,
            series: vec![a, Series::new("single", vec![(1.0, 0.1)])],
        };
        let svg = p.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("<circle"));
        assert!(svg.contains("1e-3"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn linear_ticks_are_round() {
        let a = Axis {
            lo: 0.0,
            hi: 97.0,
            log: false,
        };
        let t: Vec<String> = a.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(t, vec!["0", "20", "40", "60", "80"]);
    }
}
