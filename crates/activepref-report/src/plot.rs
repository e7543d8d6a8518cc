//! Learning-curve plots with plotters: one panel per metric, mean line and ± s.e. band per policy.
//! The font is embedded (DejaVu Sans), so PNG and SVG render the same on a headless machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::{AggregateCurve, ReportError};

/// The Okabe–Ito palette (Okabe & Ito 2008), readable with every common colour-vision deficiency;
/// the first policy (usually the random baseline) is grey.
const PALETTE: [RGBColor; 8] = [
    RGBColor(110, 110, 110),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(0, 0, 0),
];

/// How a policy's mean line is drawn: colour from the palette, and a dash pattern that changes
/// every 8 policies, so that 10, 16 or 24 policies still get distinct (colour, dash) pairs and a
/// greyscale print keeps the first 8 apart by shade.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineLook {
    /// The line's colour (Okabe–Ito palette, the first grey).
    pub colour: RGBColor,
    /// `None`: solid; `Some((dash, gap))` in pixels.
    pub dash: Option<(u32, u32)>,
}

/// The look of the `k`-th policy's line.
pub fn line_look(k: usize) -> LineLook {
    const DASHES: [Option<(u32, u32)>; 3] = [None, Some((10, 5)), Some((3, 4))];
    LineLook {
        colour: PALETTE[k % PALETTE.len()],
        dash: DASHES[(k / PALETTE.len()) % DASHES.len()],
    }
}

fn ensure_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The bytes are a valid TrueType font shipped by the `dejavu` crate.
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).ok();
    });
}

/// The resolution of PNG figures: 300 dpi, what journals ask for. The layout is designed at
/// 96 dpi (a panel is 560 × 440 px there, 5.8 × 4.6 in), so a PNG panel is 1750 × 1375 px.
pub const PNG_DPI: f64 = 300.0;
/// The resolution the layout's pixel sizes are given in (and the SVG's user units).
const LAYOUT_DPI: f64 = 96.0;

/// What a figure's x axis measures.
#[derive(Clone, Copy, Debug)]
pub enum XAxis<'a> {
    /// Labelled comparisons: each curve's own `labels`.
    Labels,
    /// The oracle's cumulative cost (`label_cost`): policy → one seed-mean cost per point of
    /// that policy's curves.
    Cost(&'a BTreeMap<String, Vec<f64>>),
}

impl XAxis<'_> {
    /// The x position of each point of `c` (a policy without costs has none).
    fn of(&self, c: &AggregateCurve) -> Vec<f64> {
        match self {
            XAxis::Labels => c.labels.iter().map(|&l| l as f64).collect(),
            XAxis::Cost(costs) => costs.get(&c.policy).cloned().unwrap_or_default(),
        }
    }

    /// The axis description.
    fn desc(&self) -> &'static str {
        match self {
            XAxis::Labels => "labelled comparisons",
            XAxis::Cost(_) => "cumulative label cost (seed-mean)",
        }
    }
}

/// Draws `panels` (title, curves) side by side into `path` (`.png` at [`PNG_DPI`], or `.svg`),
/// against labelled comparisons. The file is written atomically: a reader, or a report killed
/// half-way, never sees half a figure. Panels share their x range, so curves of different panels
/// line up.
///
/// # Errors
/// An extension other than `.png`/`.svg`, a drawing error, or an I/O error naming the file (and
/// saying so when the disk is full).
pub fn plot_curves(
    title: &str,
    panels: &[(String, Vec<AggregateCurve>)],
    path: &Path,
) -> Result<(), ReportError> {
    plot_curves_against(title, panels, path, XAxis::Labels)
}

/// [`plot_curves`] with the x axis `axis`.
///
/// # Errors
/// As [`plot_curves`].
pub fn plot_curves_against(
    title: &str,
    panels: &[(String, Vec<AggregateCurve>)],
    path: &Path,
    axis: XAxis<'_>,
) -> Result<(), ReportError> {
    ensure_font();
    let n = panels.len().max(1) as f64;
    let draw_err = |why: String| ReportError::Draw {
        path: path.to_path_buf(),
        why,
    };
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => {
            let scale = Scale(PNG_DPI / LAYOUT_DPI);
            let (w, h) = (scale.px(560.0 * n), scale.px(440.0));
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            draw(
                BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
                title,
                panels,
                (scale, axis),
            )
            .map_err(draw_err)?;
            encode_png(&rgb, w, h).map_err(|e| draw_err(e.to_string()))?
        }
        Some("svg") => {
            let mut svg = String::new();
            draw(
                SVGBackend::with_string(&mut svg, ((560.0 * n) as u32, 440)).into_drawing_area(),
                title,
                panels,
                (Scale(1.0), axis),
            )
            .map_err(draw_err)?;
            svg.into_bytes()
        }
        _ => {
            return Err(ReportError::PlotFormat {
                path: path.to_path_buf(),
            });
        }
    };
    activepref_core::io::write_atomic_bytes(path, &bytes).map_err(|error| ReportError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}

/// An 8-bit RGB image as PNG bytes, with its resolution ([`PNG_DPI`]) in the `pHYs` chunk.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Flat colours and lines: per-row filter choice and the best deflate keep a 300-dpi figure
    // small (a few hundred KB instead of 2 MB).
    enc.set_compression(png::Compression::Best);
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let per_metre = (PNG_DPI / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// A tick label for a cost axis: whole units on an axis that reaches 100 (`whole`), two
/// decimals on a shorter one, the same for every tick of the axis.
fn cost_tick(x: &f64, whole: bool) -> String {
    if *x < 0.0 {
        String::new()
    } else if whole {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// A panel's caption size (points, at 96 dpi).
const CAPTION_PT: f64 = 20.0;
/// The margin around a panel's chart (96-dpi pixels).
const PANEL_MARGIN: f64 = 12.0;
/// The height of the x-axis labels and description (96-dpi pixels).
const X_LABEL_AREA: f64 = 40.0;
/// One legend row's height (96-dpi pixels, at its 13-point font).
const LEGEND_ROW: f64 = 19.0;
/// The margin between the legend and the plot's edge (96-dpi pixels).
const LEGEND_MARGIN: f64 = 10.0;
/// The legend box's own padding (96-dpi pixels).
const LEGEND_PADDING: f64 = 10.0;

/// Layout sizes are in 96-dpi pixels and points; `Scale` turns them into the output's
/// resolution (1 for SVG, the PNG's dpi / 96).
#[derive(Clone, Copy, Debug)]
struct Scale(f64);

impl Scale {
    /// `v` 96-dpi pixels in output pixels.
    fn px(self, v: f64) -> u32 {
        (v * self.0).round() as u32
    }

    /// The sans-serif font at `v` points (96 dpi) in output pixels.
    fn font(self, v: f64) -> (&'static str, f64) {
        ("sans-serif", v * self.0)
    }
}

/// A plotters error as the one-line text the caller wraps.
fn as_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[(String, Vec<AggregateCurve>)],
    (scale, axis): (Scale, XAxis<'_>),
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (px, font) = (|v| scale.px(v), |v| scale.font(v));
    root.fill(&WHITE).map_err(as_text)?;
    // A little room above the title, so that its ascenders are not cut at the edge.
    let root = root.margin(px(6.0), 0, 0, 0);
    let root = root.titled(title, font(18.0)).map_err(as_text)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    // One x range for every panel, so that the same labelled-set size sits at the same place.
    let (x0, x1) = panels
        .iter()
        .flat_map(|(_, curves)| curves.iter())
        .flat_map(|c| axis.of(c))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    for ((title, curves), area) in panels.iter().zip(areas.iter()) {
        if x0.is_finite() {
            draw_panel(area, title, curves, (x0, x1), (scale, axis))?;
        }
    }
    root.present().map_err(as_text)
}

/// A tick label for the labelled-set axis: whole labels only (a tick at 12.5 labels would be
/// misleading), none below 0.
fn label_tick(x: &f64) -> String {
    Quantity::Count.tick(x)
}

/// What a panel's y axis measures, read from its title: its description and the values it can
/// take. The band reserved under the data for the legend can reach below what a quantity can be
/// (a fraction correct of −0.2); such ticks are left unlabelled rather than printed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Quantity {
    /// A mean log-likelihood in nats per comparison, at most 0.
    LogLikelihood,
    /// Accuracy: a fraction correct, in [0, 1].
    Fraction,
    /// The Brier score: a mean squared error of a probability, in [0, 1].
    SquaredError,
    /// Distinct prompts: a whole number, at least 0.
    Count,
    /// A mean absolute score or reward gap per pair, at least 0.
    Gap,
}

impl Quantity {
    /// The quantity a panel titled `title` plots (log-likelihood unless the title says otherwise).
    fn of_title(title: &str) -> Self {
        let t = title.to_lowercase();
        if t.contains("accuracy") {
            Self::Fraction
        } else if t.contains("brier") {
            Self::SquaredError
        } else if t.contains("prompts") {
            Self::Count
        } else if t.contains("gap") {
            Self::Gap
        } else {
            Self::LogLikelihood
        }
    }

    /// The y axis' description.
    fn desc(self) -> &'static str {
        match self {
            Self::LogLikelihood => "nats per comparison",
            Self::Fraction => "fraction correct",
            Self::SquaredError => "mean squared error",
            Self::Count => "distinct prompts",
            Self::Gap => "mean |difference| per pair",
        }
    }

    /// The closed range of values the quantity can take.
    fn bounds(self) -> (f64, f64) {
        match self {
            Self::LogLikelihood => (f64::NEG_INFINITY, 0.0),
            Self::Fraction | Self::SquaredError => (0.0, 1.0),
            Self::Count | Self::Gap => (0.0, f64::INFINITY),
        }
    }

    /// A tick label: plotters' own for a value the quantity can take (whole numbers only for a
    /// count), none otherwise.
    fn tick(self, x: &f64) -> String {
        let (lo, hi) = self.bounds();
        // Ticks sit on round values; the tolerance absorbs their floating-point sums.
        let inside = *x >= lo - 1e-9 && *x <= hi + 1e-9;
        let whole = (x - x.round()).abs() < 1e-9;
        match self {
            _ if !inside => String::new(),
            Self::Count if whole => format!("{:.0}", x.clamp(lo, hi) + 0.0),
            Self::Count => String::new(),
            // A tick a rounding error below 0 (or -0.0) is 0, not "-0.0".
            _ => <RangedCoordf64 as ValueFormatter<f64>>::format(&(x.clamp(lo, hi) + 0.0)),
        }
    }
}

/// The y range of a panel: every curve's mean ± s.e., padded by 5%, and extended downwards by
/// a band as tall as the legend, so that the legend (lower right) never covers a curve. `plot_px`
/// is the plotting area's height and `legend_px` the legend's, in pixels.
fn y_range(curves: &[AggregateCurve], plot_px: f64, legend_px: f64) -> Option<(f64, f64)> {
    let ys = curves.iter().flat_map(|c| {
        c.mean
            .iter()
            .zip(&c.stderr)
            .flat_map(|(m, s)| [m - s, m + s])
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !y0.is_finite() {
        return None;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (lo, hi) = (y0 - pad, y1 + pad);
    // The legend's share of the plot, at most two thirds: the data keep the rest.
    let share = (legend_px / plot_px.max(1.0)).clamp(0.0, 2.0 / 3.0);
    Some((lo - share / (1.0 - share) * (hi - lo), hi))
}

/// One panel: axes, every curve with its band, and the legend below the data.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    curves: &[AggregateCurve],
    (x0, x1): (f64, f64),
    (scale, axis): (Scale, XAxis<'_>),
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let (px, font) = (|v| scale.px(v), |v| scale.font(v));
    // The plot's height: the panel less its caption, margins and x labels; the legend's: one
    // row per curve plus its margins.
    let plot_px = f64::from(area.dim_in_pixel().1)
        - f64::from(px(CAPTION_PT * 1.3 + 2.0 * PANEL_MARGIN + X_LABEL_AREA));
    let legend_px = f64::from(px(LEGEND_ROW)) * curves.len() as f64
        + f64::from(px(2.0 * LEGEND_MARGIN + LEGEND_PADDING));
    let Some((y0, y1)) = y_range(curves, plot_px, legend_px) else {
        return Ok(());
    };
    let quantity = Quantity::of_title(title);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(CAPTION_PT))
        .margin(px(PANEL_MARGIN))
        .x_label_area_size(px(X_LABEL_AREA))
        .y_label_area_size(px(60.0))
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), y0..y1)
        .map_err(as_text)?;
    let y_tick = move |y: &f64| quantity.tick(y);
    let mut mesh = chart.configure_mesh();
    let whole = x1 >= 100.0;
    let cost_format = move |x: &f64| cost_tick(x, whole);
    let x_tick: &dyn Fn(&f64) -> String = match axis {
        XAxis::Labels => &label_tick,
        XAxis::Cost(_) => &cost_format,
    };
    mesh.x_desc(axis.desc())
        .x_label_formatter(x_tick)
        .bold_line_style(BLACK.mix(0.12).stroke_width(px(1.0)))
        .light_line_style(BLACK.mix(0.04).stroke_width(px(1.0)))
        .axis_style(BLACK.mix(0.6).stroke_width(px(1.0)))
        .y_label_formatter(&y_tick)
        .y_desc(quantity.desc())
        .label_style(font(13.0))
        .axis_desc_style(font(14.0))
        .draw()
        .map_err(as_text)?;
    for (k, c) in curves.iter().enumerate() {
        draw_curve(&mut chart, c, line_look(k), (scale, axis))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(font(13.0))
        .legend_area_size(px(30.0))
        .margin(px(LEGEND_MARGIN))
        .draw()
        .map_err(as_text)
}

/// One curve: its mean line (solid or dashed) over a band of ± one standard error, and its
/// legend entry `<policy> (n=<seeds>)`.
fn draw_curve<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    c: &AggregateCurve,
    look: LineLook,
    (scale, axis): (Scale, XAxis<'_>),
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let px = |v| scale.px(v);
    let colour = look.colour;
    let xs = axis.of(c);
    let mut band: Vec<(f64, f64)> = xs
        .iter()
        .zip(c.mean.iter().zip(&c.stderr))
        .map(|(&x, (m, s))| (x, m + s))
        .collect();
    band.extend(
        xs.iter()
            .zip(c.mean.iter().zip(&c.stderr))
            .rev()
            .map(|(&x, (m, s))| (x, m - s)),
    );
    chart
        .draw_series(std::iter::once(Polygon::new(
            band,
            colour.mix(0.18).filled(),
        )))
        .map_err(as_text)?;
    let points: Vec<(f64, f64)> = xs.into_iter().zip(c.mean.iter().copied()).collect();
    let style = colour.stroke_width(px(2.0));
    let dash = look.dash.map(|(d, g)| (px(d as f64), px(g as f64)));
    let legend_len = px(24.0) as i32;
    let label = format!("{} (n={})", c.policy, c.seeds);
    let legend = move |(x, y): (i32, i32)| -> DynElement<'static, DB, (i32, i32)> {
        match dash {
            None => PathElement::new(vec![(x, y), (x + legend_len, y)], style).into_dyn(),
            Some((dash, gap)) => {
                DashedPathElement::new(vec![(x, y), (x + legend_len, y)], dash, gap, style)
                    .into_dyn()
            }
        }
    };
    match dash {
        None => chart.draw_series(LineSeries::new(points, style)),
        Some((dash, gap)) => chart.draw_series(DashedLineSeries::new(points, dash, gap, style)),
    }
    .map_err(as_text)?
    .label(label)
    .legend(legend);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg() {
        let tmp = tempfile::Builder::new()
            .prefix("activepref-plot-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let curve = AggregateCurve {
            policy: "random".into(),
            labels: vec![10, 20, 30],
            mean: vec![-0.7, -0.6, -0.55],
            stderr: vec![0.02, 0.01, 0.01],
            seeds: 3,
        };
        let panels = vec![("Test".to_string(), vec![curve])];
        plot_curves("exp", &panels, &dir.join("c.png")).unwrap();
        plot_curves("exp", &panels, &dir.join("c.svg")).unwrap();
        let png = std::fs::read(dir.join("c.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // 300 dpi: one panel of 5.83 x 4.58 in is 1750 x 1375 px, and pHYs says 11811 px/m.
        let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        assert_eq!((be(16), be(20)), (1750, 1375));
        let phys = png.windows(4).position(|w| w == b"pHYs").unwrap();
        assert_eq!(
            (be(phys + 4), be(phys + 8), png[phys + 12]),
            (11_811, 11_811, 1)
        );
        // Written atomically: no temporary file is left beside the figures.
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("random (n=3)") && svg.contains("exp"));
        assert!(plot_curves("exp", &panels, &dir.join("c.jpg")).is_err());
    }

    #[test]
    fn sixteen_policies_get_sixteen_distinct_looks() {
        let looks: Vec<LineLook> = (0..16).map(line_look).collect();
        for i in 0..16 {
            for j in 0..i {
                assert_ne!(looks[i], looks[j], "policies {j} and {i} look alike");
            }
        }
        assert_eq!(
            looks[0].colour,
            RGBColor(110, 110, 110),
            "the baseline stays grey"
        );
        assert_eq!((looks[0].dash, looks[8].dash), (None, Some((10, 5))));
    }

    #[test]
    fn ticks_outside_what_a_quantity_can_be_are_unlabelled() {
        let acc = Quantity::of_title("Test accuracy");
        assert_eq!(acc, Quantity::Fraction);
        let ticks: Vec<String> = [-0.2, -0.1, 0.0, 0.5, 0.65, 1.0, 1.1]
            .iter()
            .map(|x| acc.tick(x))
            .collect();
        assert_eq!(ticks, ["", "", "0.0", "0.5", "0.65", "1.0", ""]);
        let ll = Quantity::of_title("OOD test log-likelihood");
        assert_eq!(
            (ll.tick(&-0.7), ll.tick(&0.1)),
            ("-0.7".into(), String::new())
        );
        let count = Quantity::of_title("Distinct prompts acquired (cumulative)");
        let counts: Vec<String> = [-20.0, -0.0, 12.5, 300.0]
            .iter()
            .map(|x| count.tick(x))
            .collect();
        assert_eq!(counts, ["", "0", "", "300"]);
        let gap = Quantity::of_title("Judge-score gap of acquired pairs");
        assert_eq!(
            (gap.tick(&-0.5), gap.tick(&2.0)),
            (String::new(), "2.0".into())
        );
        assert_eq!(Quantity::of_title("Test Brier score").bounds(), (0.0, 1.0));
    }

    #[test]
    fn an_accuracy_panel_prints_no_negative_fraction() {
        let tmp = tempfile::tempdir().unwrap();
        // Eight policies: the legend's band reaches far below 0.
        let curves: Vec<AggregateCurve> = (0..8)
            .map(|k| AggregateCurve {
                policy: format!("p{k}"),
                labels: vec![10, 20],
                mean: vec![0.05, 0.8 + 0.01 * k as f64],
                stderr: vec![0.01, 0.01],
                seeds: 2,
            })
            .collect();
        let panels = vec![("Test accuracy".to_string(), curves)];
        let path = tmp.path().join("a.svg");
        plot_curves("exp", &panels, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next().map(str::trim))
            .collect();
        assert!(
            labels.contains(&"0.0") && labels.contains(&"0.8"),
            "{labels:?}"
        );
        assert!(!labels.iter().any(|l| l.starts_with('-')), "{labels:?}");
    }
}
