//! Small self-contained SVG charts for the plan report (line, scatter and grouped bar charts
//! with axes, ticks, a legend, threshold lines and shaded intervals), written by hand so a
//! report opens offline in any browser and the project pulls no plotting stack.

use std::fmt::Write;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 300.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

/// Colours of successive series (colour-blind friendly, Okabe-Ito).
const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Line,
    Points,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

/// A horizontal threshold (an SLA) with its label.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub y: f64,
    pub label: String,
}

/// A shaded interval of x (a fault) with its label.
#[derive(Debug, Clone)]
pub struct Band {
    pub from_x: f64,
    pub to_x: f64,
    pub label: String,
}

/// A chart over two numeric axes.
#[derive(Debug, Clone, Default)]
pub struct XyChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub thresholds: Vec<Threshold>,
    pub bands: Vec<Band>,
    /// Labels drawn beside single points: (x, y, text).
    pub annotations: Vec<(f64, f64, String)>,
    /// Logarithmic x axis (costs spanning orders of magnitude).
    pub log_x: bool,
}

/// Bars of several series over named categories.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// (series name, one value per category; None leaves a gap).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    pub thresholds: Vec<Threshold>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart.
fn ticks(lo: f64, hi: f64, wanted: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / wanted.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut value = first;
    while value <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if value.abs() < step * 1e-9 {
            0.0
        } else {
            value
        });
        value += step;
    }
    out
}

/// A tick label: short, with an SI suffix for large values.
pub fn tick_label(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e9 {
        format!("{}G", trim(value / 1e9))
    } else if abs >= 1e6 {
        format!("{}M", trim(value / 1e6))
    } else if abs >= 1e4 {
        format!("{}k", trim(value / 1e3))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn open_svg(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12" role="img"><title>{t}</title><rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="20" font-size="14" font-weight="bold">{t}</text>"#,
        t = escape(title)
    );
}

/// Splits a legend name into lines of at most `width` characters at spaces (a word longer than
/// that is cut), at most three lines.
fn legend_lines(name: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in name.split(' ') {
        let word: String = word.chars().take(width).collect();
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines.truncate(3);
    lines
}

fn legend(out: &mut String, names: &[(String, usize, Mark)]) {
    let x = WIDTH - RIGHT + 14.0;
    let mut y = TOP + 10.0;
    for (name, colour, mark) in names {
        let colour = PALETTE[colour % PALETTE.len()];
        match mark {
            Mark::Points => {
                let _ = write!(
                    out,
                    r#"<circle cx="{}" cy="{y}" r="4" fill="{colour}"/>"#,
                    x + 8.0
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>"#,
                    x + 16.0
                );
            }
        }
        // The legend column is RIGHT - 36 px wide: about 40 characters at 11 px.
        for (i, line) in legend_lines(name, 40).iter().enumerate() {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" font-size="11">{}</text>"#,
                x + 22.0,
                y + 4.0 + i as f64 * 13.0,
                escape(line)
            );
            if i > 0 {
                y += 13.0;
            }
        }
        y += 18.0;
    }
}

impl XyChart {
    pub fn render(&self) -> String {
        let points = self.series.iter().flat_map(|s| s.points.iter().copied());
        let xs: Vec<f64> = points
            .clone()
            .map(|p| p.0)
            .chain(self.bands.iter().flat_map(|b| [b.from_x, b.to_x]))
            .filter(|x| x.is_finite() && (!self.log_x || *x > 0.0))
            .collect();
        let ys: Vec<f64> = points
            .map(|p| p.1)
            .chain(self.thresholds.iter().map(|t| t.y))
            .filter(|y| y.is_finite())
            .collect();
        let mut out = String::new();
        open_svg(&mut out, &self.title);
        if xs.is_empty() || ys.is_empty() {
            let _ = write!(
                out,
                r#"<text x="{LEFT}" y="{}">no data</text></svg>"#,
                HEIGHT / 2.0
            );
            return out;
        }
        let fold = |v: &[f64]| {
            v.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(*x), hi.max(*x))
                })
        };
        let (mut x_lo, mut x_hi) = fold(&xs);
        let (_, mut y_hi) = fold(&ys);
        let mut y_lo = fold(&ys).0.min(0.0);
        if self.log_x {
            x_lo = x_lo.log10().floor();
            x_hi = x_hi.log10().ceil().max(x_lo + 1.0);
        } else if x_hi - x_lo < 1e-9 {
            x_lo -= 1.0;
            x_hi += 1.0;
        }
        if y_hi - y_lo < 1e-9 {
            y_hi += 1.0;
            y_lo -= if y_lo < 0.0 { 1.0 } else { 0.0 };
        }
        y_hi += (y_hi - y_lo) * 0.08;
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let sx = |x: f64| {
            let x = if self.log_x { x.max(1e-300).log10() } else { x };
            LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w
        };
        let sy = |y: f64| TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h;
        for band in &self.bands {
            let (a, b) = (sx(band.from_x), sx(band.to_x.max(band.from_x)));
            let _ = write!(
                out,
                r##"<rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="#999" fill-opacity="0.18"><title>{}</title></rect><text x="{a:.1}" y="{}" font-size="9" fill="#555">{}</text>"##,
                (b - a).max(1.5),
                escape(&band.label),
                TOP + 9.0,
                escape(&band.label.chars().take(14).collect::<String>())
            );
        }
        // Axes and ticks.
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#333"/>"##,
            TOP + plot_h,
            LEFT + plot_w,
            TOP + plot_h,
            TOP + plot_h
        );
        let x_ticks: Vec<(f64, String)> = if self.log_x {
            (x_lo as i64..=x_hi as i64)
                .map(|e| (10f64.powi(e as i32), tick_label(10f64.powi(e as i32))))
                .collect()
        } else {
            ticks(x_lo, x_hi, 8)
                .into_iter()
                .map(|x| (x, tick_label(x)))
                .collect()
        };
        for (x, label) in x_ticks {
            let px = sx(x);
            let _ = write!(
                out,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{label}</text>"##,
                TOP + plot_h,
                TOP + plot_h + 16.0
            );
        }
        for y in ticks(y_lo, y_hi, 6) {
            let py = sy(y);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                py + 4.0,
                tick_label(y)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 10.0,
            escape(&self.x_label),
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for threshold in &self.thresholds {
            let py = sy(threshold.y);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#C00" stroke-dasharray="6 4" stroke-width="1.5"/><text x="{}" y="{:.1}" fill="#C00" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT + plot_w - 4.0,
                py - 5.0,
                escape(&threshold.label)
            );
        }
        let mut names = Vec::new();
        for (i, series) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let visible: Vec<(f64, f64)> = series
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
                .collect();
            if series.mark == Mark::Line && visible.len() > 1 {
                let path: Vec<String> = visible
                    .iter()
                    .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                    .collect();
                let _ = write!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                    path.join(" ")
                );
            }
            if series.mark == Mark::Points {
                for (x, y) in &visible {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}" fill-opacity="0.85"/>"#,
                        sx(*x),
                        sy(*y)
                    );
                }
            }
            names.push((series.name.clone(), i, series.mark));
        }
        for (x, y, text) in &self.annotations {
            if x.is_finite() && y.is_finite() {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                    sx(*x) + 6.0,
                    sy(*y) - 6.0,
                    escape(text)
                );
            }
        }
        legend(&mut out, &names);
        out.push_str("</svg>");
        out
    }
}

impl BarChart {
    pub fn render(&self) -> String {
        let mut out = String::new();
        open_svg(&mut out, &self.title);
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .chain(self.thresholds.iter().map(|t| t.y))
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() || self.categories.is_empty() {
            let _ = write!(
                out,
                r#"<text x="{LEFT}" y="{}">no data</text></svg>"#,
                HEIGHT / 2.0
            );
            return out;
        }
        let y_hi = values.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.08;
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let sy = |y: f64| TOP + plot_h - y / y_hi * plot_h;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#333"/>"##,
            TOP + plot_h,
            LEFT + plot_w,
            TOP + plot_h,
            TOP + plot_h
        );
        for y in ticks(0.0, y_hi, 6) {
            let py = sy(y);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                py + 4.0,
                tick_label(y)
            );
        }
        let group_w = plot_w / self.categories.len() as f64;
        let bar_w = (group_w * 0.8 / self.series.len().max(1) as f64).max(1.0);
        for (c, category) in self.categories.iter().enumerate() {
            let gx = LEFT + c as f64 * group_w;
            for (s, (name, values)) in self.series.iter().enumerate() {
                let Some(value) = values.get(c).copied().flatten() else {
                    continue;
                };
                let x = gx + group_w * 0.1 + s as f64 * bar_w;
                let _ = write!(
                    out,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    sy(value),
                    bar_w,
                    (sy(0.0) - sy(value)).max(0.0),
                    PALETTE[s % PALETTE.len()],
                    escape(name),
                    tick_label(value)
                );
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"#,
                gx + group_w / 2.0,
                TOP + plot_h + 16.0,
                escape(category)
            );
        }
        let _ = write!(
            out,
            r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for threshold in &self.thresholds {
            let py = sy(threshold.y);
            let _ = write!(
                out,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#C00" stroke-dasharray="6 4" stroke-width="1.5"/><text x="{}" y="{:.1}" fill="#C00" text-anchor="end">{}</text>"##,
                LEFT + plot_w,
                LEFT + plot_w - 4.0,
                py - 5.0,
                escape(&threshold.label)
            );
        }
        let names: Vec<(String, usize, Mark)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i, Mark::Line))
            .collect();
        legend(&mut out, &names);
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 0.9, 3), vec![0.0, 0.5]);
        assert_eq!(tick_label(20_000_000.0), "20M");
        assert_eq!(tick_label(1.5), "1.5");
    }

    #[test]
    fn a_chart_escapes_labels_and_draws_every_series() {
        let chart = XyChart {
            title: "a < b & c".into(),
            series: vec![
                Series {
                    name: "one".into(),
                    points: vec![(1.0, 2.0), (2.0, 3.0)],
                    mark: Mark::Line,
                },
                Series {
                    name: "two".into(),
                    points: vec![(1.0, 1.0)],
                    mark: Mark::Points,
                },
            ],
            thresholds: vec![Threshold {
                y: 2.5,
                label: "SLA".into(),
            }],
            ..XyChart::default()
        };
        let svg = chart.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt; b &amp; c"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "one point and one legend mark"
        );
    }

    #[test]
    fn long_legend_names_wrap_inside_the_legend_column() {
        let name = "dwd.bucket=768 p=768 dws.bucket=256 dws-p=256 policy=traffic";
        let lines = legend_lines(name, 40);
        assert_eq!(
            lines,
            vec![
                "dwd.bucket=768 p=768 dws.bucket=256",
                "dws-p=256 policy=traffic"
            ]
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 40));
    }
}
