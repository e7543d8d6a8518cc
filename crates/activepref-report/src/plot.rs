//! Learning-curve plots with plotters: one panel per metric, mean line and ± s.e. band per policy.
//! The font is embedded (DejaVu Sans), so PNG and SVG render the same on a headless machine.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::{AggregateCurve, ReportError};

const PALETTE: [RGBColor; 8] = [
    RGBColor(110, 110, 110), // first policy (usually the random baseline) in grey
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
];

/// The fixed palette for up to 8 policies; beyond that, the first stays grey and the others are
/// spread evenly around the hue circle so no two lines share a colour.
fn colour_for(k: usize, n: usize) -> RGBColor {
    if n <= PALETTE.len() || k == 0 {
        return PALETTE[k % PALETTE.len()];
    }
    let (r, g, b) = HSLColor((k - 1) as f64 / (n - 1) as f64, 0.7, 0.42).rgb();
    RGBColor(r, g, b)
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
    panels: &[(String, Vec<AggregateCurve>)],
    path: &Path,
) -> Result<(), ReportError> {
    ensure_font();
    let size = (560 * panels.len().max(1) as u32, 440);
    let result = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => draw(BitMapBackend::new(path, size).into_drawing_area(), panels),
        Some("svg") => draw(SVGBackend::new(path, size).into_drawing_area(), panels),
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
    panels: &[(String, Vec<AggregateCurve>)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
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
            .y_desc(if title.to_lowercase().contains("accuracy") {
                "fraction correct"
            } else {
                "nats per comparison"
            })
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(|x| e(&x))?;
        for (k, c) in curves.iter().enumerate() {
            let colour = colour_for(k, curves.len());
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
            chart
                .draw_series(LineSeries::new(
                    c.labels
                        .iter()
                        .map(|&l| l as f64)
                        .zip(c.mean.iter().copied()),
                    colour.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(format!("{} (n={})", c.policy, c.seeds))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
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
        plot_curves(&panels, &dir.join("c.png")).unwrap();
        plot_curves(&panels, &dir.join("c.svg")).unwrap();
        let png = std::fs::read(dir.join("c.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("random (n=3)"));
        assert!(plot_curves(&panels, &dir.join("c.jpg")).is_err());
    }
}
