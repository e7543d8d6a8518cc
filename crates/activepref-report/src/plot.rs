//! Learning-curve plots with plotters: one panel per metric, mean line and ± s.e. band per policy.
//! The font is embedded (DejaVu Sans), so PNG and SVG render the same on a headless machine.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
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

/// Draws `panels` (title, curves) side by side into `path` (`.png` or `.svg`).
pub fn plot_curves(
    title: &str,
    panels: &[(String, Vec<AggregateCurve>)],
    path: &Path,
) -> Result<(), ReportError> {
    ensure_font();
    let size = (560 * panels.len().max(1) as u32, 440);
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            title,
            panels,
        ),
        Some("svg") => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            panels,
        ),
        _ => {
            return Err(ReportError::PlotFormat {
                path: path.to_path_buf(),
            });
        }
    };
    result.map_err(|why| ReportError::Draw {
        path: path.to_path_buf(),
        why,
    })
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[(String, Vec<AggregateCurve>)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(|x| e(&x))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for ((title, curves), area) in panels.iter().zip(areas.iter()) {
        let xs = curves
            .iter()
            .flat_map(|c| c.labels.iter().map(|&l| l as f64));
        let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let ys = curves.iter().flat_map(|c| {
            c.mean
                .iter()
                .zip(&c.stderr)
                .flat_map(|(m, s)| [m - s, m + s])
        });
        let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if !x0.is_finite() || !y0.is_finite() {
            continue;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-6);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1.max(x0 + 1.0), (y0 - pad)..(y1 + pad))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("labelled comparisons")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc({
                let t = title.to_lowercase();
                if t.contains("accuracy") {
                    "fraction correct"
                } else if t.contains("brier") {
                    "mean squared error"
                } else if t.contains("prompts") {
                    "distinct prompts"
                } else if t.contains("gap") {
                    "mean |difference| per pair"
                } else {
                    "nats per comparison"
                }
            })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        for (k, c) in curves.iter().enumerate() {
            let look = line_look(k);
            let colour = look.colour;
            let mut band: Vec<(f64, f64)> = c
                .labels
                .iter()
                .zip(c.mean.iter().zip(&c.stderr))
                .map(|(&l, (m, s))| (l as f64, m + s))
                .collect();
            band.extend(
                c.labels
                    .iter()
                    .zip(c.mean.iter().zip(&c.stderr))
                    .rev()
                    .map(|(&l, (m, s))| (l as f64, m - s)),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    colour.mix(0.18).filled(),
                )))
                .map_err(|x| e(&x))?;
            let points: Vec<(f64, f64)> = c
                .labels
                .iter()
                .map(|&l| l as f64)
                .zip(c.mean.iter().copied())
                .collect();
            let style = colour.stroke_width(2);
            let label = format!("{} (n={})", c.policy, c.seeds);
            let legend = move |(x, y): (i32, i32)| -> DynElement<'static, DB, (i32, i32)> {
                match look.dash {
                    None => PathElement::new(vec![(x, y), (x + 24, y)], style).into_dyn(),
                    Some((dash, gap)) => {
                        DashedPathElement::new(vec![(x, y), (x + 24, y)], dash, gap, style)
                            .into_dyn()
                    }
                }
            };
            match look.dash {
                None => chart.draw_series(LineSeries::new(points, style)),
                Some((dash, gap)) => {
                    chart.draw_series(DashedLineSeries::new(points, dash, gap, style))
                }
            }
            .map_err(|x| e(&x))?
            .label(label)
            .legend(legend);
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("activepref-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
}
