//! Ablation reports across the grid points of a sweep: one line per grid value.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{
    AggregateCurve, Reached, ReportError, ReportOptions, aggregate, load_runs_of, plot_curves,
    summary_rows,
};

/// One grid point of a sweep: its label (`beta=0.1`) and its results directory.
#[derive(Clone, Debug, Default)]
pub struct GridPoint {
    /// The grid point's label, as its directory is named (`beta=0.1`).
    pub label: String,
    /// Its results directory (holding `runs/<policy>__seed<seed>.csv`).
    pub dir: PathBuf,
    /// The (policy label, seed) runs to read (None: every run file of `dir`).
    pub runs: Option<Vec<(String, u64)>>,
    /// Expected runs of this point that are not shown (`balpm seed 23: not finished`); a point
    /// whose runs are all missing is left out of the figures and tables and listed instead.
    pub missing: Vec<String>,
    /// Settings of this point's configuration that depart from the paper's
    /// ([`ReportOptions::departures`] of its own report); `ablation.md` and `ablation.tex` state
    /// them, naming the point.
    pub departures: Vec<String>,
}

/// Writes `<out>/<policy>.png`, `.svg` for every policy other than the baseline that every grid
/// point ran (one line per grid point, plus the baseline policy's curve of the grid point named by
/// [`ReportOptions::ablation_baseline`], or of the first grid point in the file's order, in grey), and
/// `<out>/ablation.md` with each grid point's final values and savings against its own baseline.
/// Returns the files written (none when no grid point has a run).
///
/// # Errors
/// A grid point's run files cannot be read ([`load_runs_of`]), a metric cannot be aggregated or
/// tabulated (different label schedules, a missing column, no baseline runs), or a figure or file
/// cannot be drawn or written.
pub fn write_ablation_report(
    title: &str,
    points: &[GridPoint],
    out: &Path,
    opts: &ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    let Some(grid) = Grid::gather(points, opts)? else {
        return Ok(vec![]);
    };
    crate::write::own_dir(out)?;
    let mut written = vec![];
    let mut tex = String::from("% Made by `activepref report`; needs \\usepackage{booktabs}.\n");
    let mut md = format!(
        "# Ablation: {title}\n\nOne line per grid point; savings are against each grid point's own `{}` runs.\n",
        opts.baseline
    );
    for (point, d) in departures_by_point(&grid.points, points) {
        let _ = write!(md, "\n**Not the paper's configuration** ({point}): {d}\n");
        let _ = writeln!(tex, "% Not the paper's configuration ({point}): {d}");
    }
    for policy in &grid.policies {
        let panels = grid.panels(policy, opts)?;
        for ext in ["png", "svg"] {
            let path = out.join(format!("{policy}.{ext}"));
            plot_curves(
                &format!("{title}: {policy} across the grid"),
                &panels,
                &path,
            )?;
            written.push(path);
        }
        grid.tables(title, policy, opts, &mut md, &mut tex)?;
    }
    md.push_str(&crate::missing_section(&grid.missing(points)));
    let tex_path = out.join("ablation.tex");
    crate::write_text(&tex_path, &tex)?;
    written.push(tex_path);
    let md_path = out.join("ablation.md");
    crate::write_text(&md_path, &md)?;
    written.push(md_path);
    Ok(written)
}

/// Each departure from the paper's configuration among the reported grid points (`reported`),
/// in the order first met, with the points it holds at: `every grid point` when it holds at
/// every point of the grid (`all`, unreported ones included), else `grid point a, b`.
fn departures_by_point(reported: &[&GridPoint], all: &[GridPoint]) -> Vec<(String, String)> {
    let mut seen: Vec<&String> = vec![];
    for d in reported.iter().flat_map(|p| &p.departures) {
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    seen.into_iter()
        .map(|d| {
            let at: Vec<&str> = reported
                .iter()
                .filter(|p| p.departures.contains(d))
                .map(|p| p.label.as_str())
                .collect();
            let scope = if at.len() == all.len() {
                "every grid point".to_string()
            } else {
                format!("grid point {}", at.join(", "))
            };
            (scope, d.clone())
        })
        .collect()
}

/// The grid points with finished runs, their runs, and what an ablation report shows of them.
struct Grid<'a> {
    /// Grid points with at least one finished run (or from before run lists), in file order.
    points: Vec<&'a GridPoint>,
    /// Each point's runs.
    runs: Vec<Vec<crate::RunCurves>>,
    /// The point whose baseline runs are drawn in every figure.
    reference: usize,
    /// The policies every point ran, baseline excluded, in plot order.
    policies: Vec<String>,
    /// The metrics every point measured (column, title).
    metrics: Vec<(String, String)>,
}

impl<'a> Grid<'a> {
    /// Reads every point's runs; None when no point has any.
    fn gather(points: &'a [GridPoint], opts: &ReportOptions) -> Result<Option<Self>, ReportError> {
        // Points without any finished run are listed, not drawn.
        let points: Vec<&GridPoint> = points
            .iter()
            .filter(|p| p.runs.as_ref().is_none_or(|r| !r.is_empty()))
            .collect();
        let runs: Vec<_> = points
            .iter()
            .map(|p| load_runs_of(&p.dir, p.runs.as_deref()))
            .collect::<Result<_, _>>()?;
        // The grid point whose baseline runs are drawn in every figure: the one the config
        // names, else the first in the file's order.
        let reference = opts
            .ablation_baseline
            .as_deref()
            .and_then(|l| points.iter().position(|p| p.label == l))
            .unwrap_or(0);
        let Some(first) = runs.first() else {
            return Ok(None);
        };
        let mut policies: Vec<String> = opts.policy_order.clone();
        for r in first {
            if !policies.contains(&r.policy) {
                policies.push(r.policy.clone());
            }
        }
        policies.retain(|p| {
            *p != opts.baseline && runs.iter().all(|rs| rs.iter().any(|r| &r.policy == p))
        });
        // Metrics every grid point measured (NaN throughout: left out, as in the per-point
        // reports).
        let metrics: Vec<(String, String)> = opts
            .metrics
            .iter()
            .filter(|(m, _)| {
                runs.iter().all(|rs| {
                    rs.iter().any(|r| {
                        r.metrics
                            .get(m)
                            .is_some_and(|v| v.iter().any(|x| x.is_finite()))
                    })
                })
            })
            .cloned()
            .collect();
        Ok(Some(Self {
            points,
            runs,
            reference,
            policies,
            metrics,
        }))
    }

    /// One panel per metric: the reference point's baseline and `policy` at every grid point.
    fn panels(
        &self,
        policy: &str,
        opts: &ReportOptions,
    ) -> Result<Vec<(String, Vec<AggregateCurve>)>, ReportError> {
        let (points, runs, reference) = (&self.points, &self.runs, self.reference);
        let mut panels = vec![];
        for (metric, metric_title) in &self.metrics {
            let mut curves: Vec<AggregateCurve> = vec![];
            let find =
                |rs: &[crate::RunCurves], p: &str| -> Result<Option<AggregateCurve>, ReportError> {
                    Ok(aggregate(rs, metric, opts.smoothing_window)?
                        .into_iter()
                        .find(|c| c.policy == p))
                };
            if let Some(mut base) = find(&runs[reference], &opts.baseline)? {
                base.policy = format!("{} ({})", opts.baseline, points[reference].label);
                curves.push(base);
            }
            for (point, rs) in points.iter().zip(runs.iter()) {
                if let Some(mut c) = find(rs, policy)? {
                    c.policy = format!("{policy} {}", point.label);
                    curves.push(c);
                }
            }
            panels.push((metric_title.clone(), curves));
        }
        Ok(panels)
    }

    /// `policy`'s rows of the Markdown and LaTeX tables: one per (grid point, metric).
    fn tables(
        &self,
        title: &str,
        policy: &str,
        opts: &ReportOptions,
        md: &mut String,
        tex: &mut String,
    ) -> Result<(), ReportError> {
        let _ = writeln!(md, "\n## {policy}\n");
        let _ = writeln!(
            tex,
            "\\begin{{table}}[t]\n\\centering\n\\begin{{tabular}}{{llrrrr}}\n\\toprule"
        );
        let _ = writeln!(
            tex,
            "Grid point & Metric & Final value & Labels to match & Saving & 95\\% CI \\\\\n\\midrule"
        );
        let _ = writeln!(
            md,
            "| grid point | metric | seeds | final value (± s.e.) | reaches `{}`'s final at | label saving | 95% bootstrap interval |",
            opts.baseline
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for (point, rs) in self.points.iter().zip(&self.runs) {
            let mut o = opts.clone();
            o.metrics = self.metrics.clone();
            for row in summary_rows(rs, &o)?
                .into_iter()
                .filter(|r| r.policy == policy)
            {
                let (at, saving) = match row.reached {
                    Reached::At { labels, saving } => {
                        (labels.to_string(), format!("{:.1}%", 100.0 * saving))
                    }
                    Reached::NotReached => ("not reached".into(), "—".into()),
                };
                let pct = |v: Option<f64>| {
                    v.map_or("not reached".to_string(), |v| format!("{:.1}%", 100.0 * v))
                };
                let iv = row.interval.map_or("—".to_string(), |iv| {
                    format!("[{}, {}]", pct(iv.low), pct(iv.high))
                });
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {at} | {saving} | {iv} |",
                    point.label,
                    row.metric,
                    row.seeds,
                    crate::tables::mean_stderr(row.final_mean, row.final_stderr, row.seeds)
                );
                let tex_pct = |v: &str| {
                    v.replace('%', "\\%")
                        .replace("not reached", "n.r.")
                        .replace('—', "--")
                };
                let _ = writeln!(
                    tex,
                    "{} & {} & ${:.4} \\pm {:.4}$ & {} & {} & {} \\\\",
                    crate::latex_escape(&point.label),
                    crate::latex_escape(&row.metric),
                    row.final_mean,
                    row.final_stderr,
                    tex_pct(&at),
                    tex_pct(&saving),
                    tex_pct(&iv)
                );
            }
        }
        let _ = writeln!(
            tex,
            "\\bottomrule\n\\end{{tabular}}\n\\caption{{{}: {} across the grid; savings against each grid point's own {} runs (n.r. = not reached).}}\n\\end{{table}}",
            crate::latex_escape(title),
            crate::latex_escape(policy),
            crate::latex_escape(&opts.baseline)
        );
        Ok(())
    }

    /// The expected runs the report leaves out: grid points shown by none of their runs (no
    /// finished run, or why the point could not be reported where `missing` says it), and each
    /// shown point's missing runs.
    fn missing(&self, all: &[GridPoint]) -> Vec<String> {
        all.iter()
            .filter(|p| p.runs.as_ref().is_some_and(Vec::is_empty))
            .map(|p| match p.missing.as_slice() {
                [] => format!("grid point {}: no finished run", p.label),
                why => format!("grid point {}: {}", p.label, why.join("; ")),
            })
            .chain(self.points.iter().flat_map(|p| {
                p.missing
                    .iter()
                    .map(move |m| format!("grid point {}: {m}", p.label))
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `runs/<policy>__seed<seed>.csv` with a `test_log_likelihood` curve.
    fn write_run(dir: &Path, policy: &str, seed: u64, values: &[f64]) {
        std::fs::create_dir_all(dir.join("runs")).unwrap();
        let mut text = String::from("policy,seed,round,labels,test_log_likelihood\n");
        for (i, v) in values.iter().enumerate() {
            text.push_str(&format!("{policy},{seed},{i},{},{v}\n", 10 * (i + 1)));
        }
        std::fs::write(dir.join(format!("runs/{policy}__seed{seed}.csv")), text).unwrap();
    }

    #[test]
    fn departures_name_their_grid_points_in_the_order_met() {
        let p = |label: &str, d: &[&str]| GridPoint {
            label: label.into(),
            departures: d.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let said = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let all = vec![p("a", &["y", "x"]), p("b", &["x"]), p("c", &[])];
        let reported: Vec<&GridPoint> = all.iter().collect();
        assert_eq!(
            departures_by_point(&reported, &all),
            said(&[("grid point a", "y"), ("grid point a, b", "x")])
        );
        // At every point: said once.
        let all = vec![p("a", &["x"]), p("b", &["x"])];
        let reported: Vec<&GridPoint> = all.iter().collect();
        assert_eq!(
            departures_by_point(&reported, &all),
            said(&[("every grid point", "x")])
        );
        // A point without a finished run (not reported) may not have it: not "every".
        let all = vec![p("a", &["x"]), p("b", &[])];
        assert_eq!(
            departures_by_point(&[&all[0]], &all),
            said(&[("grid point a", "x")])
        );
    }

    #[test]
    fn one_line_and_one_row_per_grid_point() {
        let tmp = tempfile::Builder::new()
            .prefix("activepref-ablation-")
            .tempdir()
            .unwrap();
        let root = tmp.path();
        let (a, b) = (root.join("beta/beta=1"), root.join("beta/beta=0.1"));
        for dir in [&a, &b] {
            write_run(dir, "random", 1, &[-0.7, -0.6, -0.5]);
        }
        // At β = 1 the method reaches random's final −0.5 at 20 labels (saving 1 − 20/30); at
        // β = 0.1 never.
        write_run(&a, "method", 1, &[-0.65, -0.5, -0.45]);
        write_run(&b, "method", 1, &[-0.8, -0.7, -0.6]);
        let points = vec![
            GridPoint {
                label: "beta=1".into(),
                dir: a,
                ..Default::default()
            },
            GridPoint {
                label: "beta=0.1".into(),
                dir: b,
                departures: vec!["early stopping read 7 comparisons.".into()],
                ..Default::default()
            },
        ];
        let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "method".into()]);
        opts.metrics = vec![("test_log_likelihood".into(), "Test LL".into())];
        opts.bootstrap = 0;
        let out = root.join("beta/ablation");
        let files = write_ablation_report("t (beta)", &points, &out, &opts).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["method.png", "method.svg", "ablation.tex", "ablation.md"]
        );
        let md = std::fs::read_to_string(out.join("ablation.md")).unwrap();
        assert!(
            md.contains("| beta=1 | Test LL | 1 | -0.4500 ± — (one seed) | 20 | 33.3% | — |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| beta=0.1 | Test LL | 1 | -0.6000 ± — (one seed) | not reached | — | — |"
            ),
            "{md}"
        );
        // Only β = 0.1 departs from the paper's configuration, and the report says which point.
        assert!(
            md.contains("\n**Not the paper's configuration** (grid point beta=0.1): early stopping read 7 comparisons.\n"),
            "{md}"
        );
        let tex = std::fs::read_to_string(out.join("ablation.tex")).unwrap();
        assert!(
            tex.contains("\n% Not the paper's configuration (grid point beta=0.1): early stopping read 7 comparisons.\n"),
            "{tex}"
        );
        let svg = std::fs::read_to_string(out.join("method.svg")).unwrap();
        for label in [
            "random (beta=1)",
            "method beta=1",
            "method beta=0.1",
            "t (beta): method across the grid",
        ] {
            assert!(svg.contains(label), "{label} missing from the figure");
        }
        // The config names the grid point whose baseline is the reference line.
        opts.ablation_baseline = Some("beta=0.1".into());
        write_ablation_report("t (beta)", &points, &out, &opts).unwrap();
        let svg = std::fs::read_to_string(out.join("method.svg")).unwrap();
        assert!(svg.contains("random (beta=0.1)") && !svg.contains("random (beta=1)"));
        let tex = std::fs::read_to_string(out.join("ablation.tex")).unwrap();
        assert!(
            tex.contains("beta=1 & Test LL & $-0.4500 \\pm 0.0000$ & 20 & 33.3\\% & -- \\\\"),
            "{tex}"
        );
    }
}
