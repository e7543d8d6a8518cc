//! Ablation reports across the grid points of a sweep: one line per grid value.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use activepref_core::io::write_atomic_bytes;

use crate::{
    AggregateCurve, Reached, ReportError, ReportOptions, aggregate, load_runs, plot_curves,
    summary_rows,
};

/// One grid point of a sweep: its label (`beta=0.1`) and its results directory.
#[derive(Clone, Debug)]
pub struct GridPoint {
    pub label: String,
    pub dir: PathBuf,
}

/// Writes `<out>/<policy>.png`, `.svg` for every policy other than the baseline that every grid
/// point ran (one line per grid point, plus the first grid point's baseline in grey), and
/// `<out>/ablation.md` with each grid point's final values and savings against its own baseline.
pub fn write_ablation_report(
    title: &str,
    points: &[GridPoint],
    out: &Path,
    opts: &ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    let runs: Vec<_> = points
        .iter()
        .map(|p| load_runs(&p.dir))
        .collect::<Result<_, _>>()?;
    let Some(first) = runs.first() else {
        return Ok(vec![]);
    };
    let mut policies: Vec<String> = opts.policy_order.clone();
    for r in first {
        if !policies.contains(&r.policy) {
            policies.push(r.policy.clone());
        }
    }
    policies
        .retain(|p| *p != opts.baseline && runs.iter().all(|rs| rs.iter().any(|r| &r.policy == p)));
    // Metrics every grid point measured (NaN throughout: left out, as in the per-point reports).
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
    std::fs::create_dir_all(out).map_err(|error| ReportError::Io {
        action: "create",
        path: out.to_path_buf(),
        error,
    })?;
    let mut written = vec![];
    let mut md = format!(
        "# Ablation: {title}\n\nOne line per grid point; savings are against each grid point's own `{}` runs.\n",
        opts.baseline
    );
    for policy in &policies {
        let mut panels = vec![];
        for (metric, metric_title) in &metrics {
            let mut curves: Vec<AggregateCurve> = vec![];
            let find =
                |rs: &[crate::RunCurves], p: &str| -> Result<Option<AggregateCurve>, ReportError> {
                    Ok(aggregate(rs, metric, opts.smoothing_window)?
                        .into_iter()
                        .find(|c| c.policy == p))
                };
            if let Some(mut base) = find(first, &opts.baseline)? {
                base.policy = format!("{} ({})", opts.baseline, points[0].label);
                curves.push(base);
            }
            for (point, rs) in points.iter().zip(&runs) {
                if let Some(mut c) = find(rs, policy)? {
                    c.policy = format!("{policy} {}", point.label);
                    curves.push(c);
                }
            }
            panels.push((metric_title.clone(), curves));
        }
        for ext in ["png", "svg"] {
            let path = out.join(format!("{policy}.{ext}"));
            plot_curves(
                &format!("{title}: {policy} across the grid"),
                &panels,
                &path,
            )?;
            written.push(path);
        }
        let _ = writeln!(md, "\n## {policy}\n");
        let _ = writeln!(
            md,
            "| grid point | metric | seeds | final value (± s.e.) | reaches `{}`'s final at | label saving | 95% bootstrap interval |",
            opts.baseline
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for (point, rs) in points.iter().zip(&runs) {
            let mut o = opts.clone();
            o.metrics = metrics.clone();
            for row in summary_rows(rs, &o)?
                .into_iter()
                .filter(|r| &r.policy == policy)
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
                    "| {} | {} | {} | {:.4} ± {:.4} | {at} | {saving} | {iv} |",
                    point.label, row.metric, row.seeds, row.final_mean, row.final_stderr
                );
            }
        }
    }
    let md_path = out.join("ablation.md");
    write_atomic_bytes(&md_path, md.as_bytes()).map_err(|error| ReportError::Io {
        action: "write",
        path: md_path.clone(),
        error,
    })?;
    written.push(md_path);
    Ok(written)
}
