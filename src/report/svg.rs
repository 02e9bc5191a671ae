//! Bar charts as inline SVG, written as text: the page needs no script, no font file and no
//! image from elsewhere, and prints as sharp as the text around it.
//!
//! Two shapes: [`columns`] (one stacked column per category, e.g. per day) and [`rows`] (one
//! stacked horizontal bar per category, e.g. per reason). Every text that goes in passes
//! through [`escape`] (an attribute through [`escape_attribute`]); a bar carries a `<title>` with its exact figure.

use crate::markup::{escape, escape_attribute};

/// The drawing's width in SVG units; the page scales it to the column (`width: 100%`).
const WIDTH: u32 = 720;
/// Room for the y axis labels of [`columns`].
const AXIS_LEFT: u32 = 44;
const RIGHT: u32 = 12;
/// Height of the plotting area of [`columns`].
const PLOT_HEIGHT: u32 = 170;
/// Room above the plot for the legend.
const LEGEND_HEIGHT: u32 = 24;
/// Room below the plot for the category labels.
const LABELS_HEIGHT: u32 = 22;
/// One bar of [`rows`], with its gap.
const ROW_HEIGHT: u32 = 22;
/// Room for a category name of [`rows`].
const ROW_LABEL_WIDTH: u32 = 230;
/// Room after the longest bar for its total.
const ROW_TOTAL_WIDTH: u32 = 56;

/// One stacked part of every bar: a name for the legend, a fill colour, a value per category.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub values: Vec<u64>,
}

/// The smallest 1, 2 or 5 times a power of ten at or above `max` (at least 1): the top of the
/// scale, so the middle tick is a round number too.
fn scale_top(max: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for step in [1, 2, 5] {
            let top = power.saturating_mul(step);
            if top >= max.max(1) || top == u64::MAX {
                return top;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// The total of every category.
fn totals(categories: usize, series: &[Series]) -> Vec<u64> {
    (0..categories)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect()
}

/// The legend from `y` down, wrapping to a new line where an entry would pass the right edge;
/// returns the SVG and the height it takes.
fn legend(series: &[Series], y: u32) -> (String, u32) {
    // Legend entries are short words; a fixed advance per character keeps them apart.
    const CHAR_WIDTH: u32 = 7;
    const LINE: u32 = 16;
    let mut out = String::new();
    let (mut x, mut y) = (AXIS_LEFT, y);
    for s in series {
        let width = 14 + CHAR_WIDTH * s.name.chars().count() as u32 + 16;
        if x > AXIS_LEFT && x + width > WIDTH - RIGHT {
            x = AXIS_LEFT;
            y += LINE;
        }
        out.push_str(&format!(
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" class="legend">{}</text>"#,
            y,
            escape_attribute(&s.color),
            x + 14,
            y + 9,
            escape(&s.name)
        ));
        x += width;
    }
    (out, y + LINE)
}

/// Scales `value` of `top` to `length` units.
fn scaled(value: u64, top: u64, length: u32) -> f64 {
    value as f64 / top.max(1) as f64 * f64::from(length)
}

/// One stacked column per label (`labels[i]` under column i, `full[i]` in its tooltip).
pub fn columns(title: &str, labels: &[String], full: &[String], series: &[Series]) -> String {
    let n = labels.len().max(1) as u32;
    let (legend, legend_height) = legend(series, 4);
    let legend_height = legend_height.max(LEGEND_HEIGHT);
    let height = legend_height + PLOT_HEIGHT + LABELS_HEIGHT;
    let top = scale_top(totals(labels.len(), series).into_iter().max().unwrap_or(0));
    let plot_width = WIDTH - AXIS_LEFT - RIGHT;
    let slot = f64::from(plot_width) / f64::from(n);
    let bar = (slot * 0.7).max(1.0);
    let base = legend_height + PLOT_HEIGHT;
    let mut out = format!(
        r#"<svg viewBox="0 0 {WIDTH} {height}" role="img" class="chart"><title>{}</title>"#,
        escape(title)
    );
    out.push_str(&legend);
    for tick in [0, top / 2, top] {
        let y = f64::from(base) - scaled(tick, top, PLOT_HEIGHT);
        out.push_str(&format!(
            r#"<line x1="{AXIS_LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" class="grid"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{tick}</text>"#,
            WIDTH - RIGHT,
            AXIS_LEFT - 4,
            y + 3.5
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        let x = f64::from(AXIS_LEFT) + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = f64::from(base);
        let name = full.get(i).unwrap_or(label);
        for s in series {
            let value = s.values.get(i).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let h = scaled(value, top, PLOT_HEIGHT);
            y -= h;
            out.push_str(&format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{} {}: {value}</title></rect>"#,
                escape_attribute(&s.color),
                escape(name),
                escape(&s.name)
            ));
        }
        out.push_str(&format!(
            r#"<text x="{:.1}" y="{}" class="axis" text-anchor="middle">{}</text>"#,
            x + bar / 2.0,
            base + 14,
            escape(label)
        ));
    }
    out.push_str("</svg>");
    out
}

/// One stacked horizontal bar per label, its total at its end.
pub fn rows(title: &str, labels: &[String], series: &[Series]) -> String {
    let sums = totals(labels.len(), series);
    let top = sums.iter().copied().max().unwrap_or(0).max(1);
    let (legend, legend_height) = legend(series, 4);
    let show_legend = series.len() > 1;
    let head = if show_legend { legend_height + 4 } else { 4 };
    let height = head + ROW_HEIGHT * labels.len().max(1) as u32 + 4;
    let length = WIDTH - ROW_LABEL_WIDTH - ROW_TOTAL_WIDTH;
    let mut out = format!(
        r#"<svg viewBox="0 0 {WIDTH} {height}" role="img" class="chart"><title>{}</title>"#,
        escape(title)
    );
    if show_legend {
        out.push_str(&legend);
    }
    for (i, label) in labels.iter().enumerate() {
        let y = head + ROW_HEIGHT * i as u32;
        out.push_str(&format!(
            r#"<text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
            ROW_LABEL_WIDTH - 6,
            y + 14,
            escape(label)
        ));
        let mut x = f64::from(ROW_LABEL_WIDTH);
        for s in series {
            let value = s.values.get(i).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let w = scaled(value, top, length);
            out.push_str(&format!(
                r#"<rect x="{x:.1}" y="{}" width="{w:.1}" height="{}" fill="{}"><title>{} {}: {value}</title></rect>"#,
                y + 3,
                ROW_HEIGHT - 6,
                escape_attribute(&s.color),
                escape(label),
                escape(&s.name)
            ));
            x += w;
        }
        out.push_str(&format!(
            r#"<text x="{:.1}" y="{}" class="label">{}</text>"#,
            x + 5.0,
            y + 14,
            sums.get(i).copied().unwrap_or(0)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_on_a_round_number() {
        assert_eq!(scale_top(0), 1);
        assert_eq!(scale_top(3), 5);
        assert_eq!(scale_top(7), 10);
        assert_eq!(scale_top(11), 20);
        assert_eq!(scale_top(205), 500);
        assert_eq!(scale_top(u64::MAX), u64::MAX);
    }

    #[test]
    fn charts_escape_their_text_and_skip_empty_parts() {
        let series = vec![Series {
            name: "a<b".into(),
            color: "#123456".into(),
            values: vec![0, 2],
        }];
        let svg = columns("t&", &["1".into(), "2".into()], &[], &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && svg.contains("t&amp;"));
        assert!(!svg.contains("a<b"));
        assert_eq!(svg.matches("<rect").count(), 1 + 1, "legend and one bar");
        let svg = rows("r", &["<x>".into()], &series);
        assert!(svg.contains("&lt;x&gt;"));
        assert!(!svg.contains("<x>"));
    }
}
