//! `cost.md` and `cost.{png,svg}`: the learning curves against what the labels cost
//! (`loop.oracle.cost` or `pair_loop.oracle.cost`, issue 23), for runs whose files record
//! `label_cost` (the cumulative price of the labels each round's model was trained on).
//!
//! A policy that saves labels need not save cost: if it prefers long comparisons, each of its
//! labels is dearer. The table puts the two savings side by side. Costs differ between seeds (each
//! seed picks other comparisons), so a curve's point is (seed-mean cost, seed-mean metric) at one
//! round, the rounds being shared by all seeds of a policy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::plot::{XAxis, plot_curves_against};
use crate::tables::percent;
use crate::write::write_text;
use crate::{AggregateCurve, ReportError, ReportOptions, RunCurves};

/// A figure panel: its title and its curves, one per policy in display order.
type Panel = (String, Vec<AggregateCurve>);

/// The run-file column the cost report reads.
const COLUMN: &str = "label_cost";

/// One policy's cumulative cost per round over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PolicyCost {
    /// Seed-mean cost per round.
    pub mean: Vec<f64>,
    /// Standard error (ddof 0) of the cost per round.
    pub stderr: Vec<f64>,
}

/// Each policy's cost per round, for the policies all of whose runs record a finite `label_cost`
/// in every round; and the policies left out because some run lacks it. `None` when no run
/// records a cost at all.
pub(crate) fn policy_costs(
    runs: &[RunCurves],
) -> Option<(BTreeMap<String, PolicyCost>, Vec<String>)> {
    let priced = |r: &RunCurves| {
        r.signals
            .get(COLUMN)
            .is_some_and(|v| v.iter().all(|x| x.is_finite()))
    };
    if !runs.iter().any(priced) {
        return None;
    }
    let mut by_policy: BTreeMap<&str, Vec<&RunCurves>> = BTreeMap::new();
    for r in runs {
        by_policy.entry(&r.policy).or_default().push(r);
    }
    let (mut costs, mut unpriced) = (BTreeMap::new(), vec![]);
    for (policy, rs) in by_policy {
        if !rs.iter().all(|r| priced(r)) {
            unpriced.push(policy.to_string());
            continue;
        }
        let n = rs.len() as f64;
        let rounds = rs.iter().map(|r| r.labels.len()).min().unwrap_or(0);
        let at = |t: usize| rs.iter().map(move |r| r.signals[COLUMN][t]);
        let mean: Vec<f64> = (0..rounds).map(|t| at(t).sum::<f64>() / n).collect();
        let stderr = (0..rounds)
            .map(|t| (at(t).map(|c| (c - mean[t]).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt())
            .collect();
        costs.insert(policy.to_string(), PolicyCost { mean, stderr });
    }
    Some((costs, unpriced))
}

/// The Markdown of `cost.md`: per metric, each priced policy's final labels and cost, its cost
/// per label, where its smoothed seed-mean curve first reaches (≥) the baseline's final value,
/// and the label and cost savings there (first reach, whatever `saving:` says). `panels` are
/// the report's (title, ordered seed-aggregated curves) per metric of `opts.metrics`.
pub(crate) fn cost_markdown(
    opts: &ReportOptions,
    panels: &[Panel],
    costs: &BTreeMap<String, PolicyCost>,
    unpriced: &[String],
) -> String {
    let b = &opts.baseline;
    let mut md = String::from("# Label cost\n\n");
    md.push_str(&crate::departures_markdown(opts));
    let _ = writeln!(
        md,
        "Each label was priced by the oracle's `cost`; a run file's `label_cost` is the cumulative price of the labels each round's model was trained on (pool setting: the labelled set, dropped ties included, as they were asked; pair setting: the acquired pairs). Curves are smoothed per run with a trailing mean of {} and averaged over seeds; costs are seed-means per round (± standard error, ddof 0). \"Reaches\" is the first round whose seed-mean curve is ≥ `{b}`'s final value; the label saving there is `1 − labels / {b}'s final labels`, the cost saving `1 − cost / {b}'s final cost`. A policy whose labels are dearer than `{b}`'s saves less cost than labels.\n",
        activepref_core::error::counted(opts.smoothing_window, "round", "rounds")
    );
    for (title, curves) in panels {
        let _ = writeln!(md, "## {title}\n");
        let Some(base) = curves.iter().find(|c| c.policy == *b) else {
            let _ = writeln!(md, "No `{b}` runs: no savings to compute.\n");
            continue;
        };
        let target = *base.mean.last().expect("non-empty curve");
        let base_labels = *base.labels.last().expect("non-empty curve");
        let base_cost = costs
            .get(b)
            .and_then(|c| c.mean.last().copied())
            .unwrap_or(f64::NAN);
        md.push_str("| policy | seeds | labels at end | cost at end (± s.e.) | cost per label | final value | reaches baseline's final at (labels, cost) | label saving | cost saving |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for c in curves {
            let Some(cost) = costs.get(&c.policy) else {
                continue;
            };
            let last = c.labels.len().min(cost.mean.len()) - 1;
            let labels = c.labels[last];
            let reach = c.mean[..=last].iter().position(|&v| v >= target);
            let (at, label_saving, cost_saving) = match reach {
                Some(i) => (
                    format!("{}, {:.1}", c.labels[i], cost.mean[i]),
                    Some(crate::saving::fraction_saved(c.labels[i], base_labels)),
                    base_cost
                        .is_finite()
                        .then(|| 1.0 - cost.mean[i] / base_cost),
                ),
                None => ("not reached".to_string(), None, None),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {labels} | {} | {:.3} | {:.4} | {at} | {} | {} |",
                c.policy,
                c.seeds,
                crate::tables::mean_stderr_to(1, cost.mean[last], cost.stderr[last], c.seeds),
                cost.mean[last] / labels.max(1) as f64,
                c.mean[last],
                percent(label_saving),
                if reach.is_some() && cost_saving.is_none() {
                    format!("no `{b}` cost")
                } else {
                    percent(cost_saving)
                },
            );
        }
        md.push('\n');
    }
    if !unpriced.is_empty() {
        let _ = writeln!(
            md,
            "Left out: {} (no `label_cost`: the whole-dataset bound, which acquires nothing, or runs made before the column existed or without `loop.oracle.cost` / `pair_loop.oracle.cost`). To price runs made before the column existed, run them again into a fresh directory (`activepref run <file> --fresh`).",
            unpriced.join(", ")
        );
    }
    md
}

/// Writes `cost.md` and `cost.{png,svg}` into `report` when the runs record a cost; returns the
/// files written (none otherwise). `panels` are the report's curves per metric
/// ([`cost_markdown`]).
///
/// # Errors
/// A figure or file that cannot be drawn or written.
pub(crate) fn write_cost_report(
    runs: &[RunCurves],
    opts: &ReportOptions,
    panels: &[Panel],
    report: &Path,
    title: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    let Some((costs, unpriced)) = policy_costs(runs) else {
        return Ok(vec![]);
    };
    let md_path = report.join("cost.md");
    write_text(&md_path, &cost_markdown(opts, panels, &costs, &unpriced))?;
    let mut files = vec![md_path];
    // The figure draws the priced policies only.
    let panels: Vec<Panel> = panels
        .iter()
        .map(|(t, curves)| {
            let priced = curves
                .iter()
                .filter(|c| costs.contains_key(&c.policy))
                .cloned()
                .collect();
            (t.clone(), priced)
        })
        .collect();
    let means: BTreeMap<String, Vec<f64>> = costs
        .iter()
        .map(|(p, c)| (p.clone(), c.mean.clone()))
        .collect();
    for ext in ["png", "svg"] {
        let path = report.join(format!("cost.{ext}"));
        plot_curves_against(
            &format!("{title}: against label cost"),
            &panels,
            &path,
            XAxis::Cost(&means),
        )?;
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &str, seed: u64, ll: &[f64], cost: &[f64]) -> RunCurves {
        RunCurves {
            policy: policy.into(),
            seed,
            labels: (0..ll.len()).map(|t| 10 + 10 * t).collect(),
            metrics: BTreeMap::from([("test_log_likelihood".to_string(), ll.to_vec())]),
            diagnostics: BTreeMap::new(),
            signals: BTreeMap::from([(COLUMN.to_string(), cost.to_vec())]),
        }
    }

    /// Random: 10, 20, 30 labels at 1 per label, ending at −0.50. BALD reaches −0.50 at round 1
    /// (20 labels: label saving 1 − 20/30 = 33.3%), but its labels cost 1.2 (seed 1) and 1.4
    /// (seed 2) each: 24 and 28 at round 1, mean 26 (sd 2, s.e. 2 / √2 ≈ 1.41), so its cost
    /// saving is 1 − 26/30 = 13.3%. At the end: 36 and 42, mean 39 ± 2.1 (s.e.), 1.3 per label.
    #[test]
    fn the_table_by_hand() {
        let runs = [
            run("random", 1, &[-0.7, -0.6, -0.5], &[10.0, 20.0, 30.0]),
            run("bald", 1, &[-0.6, -0.5, -0.45], &[12.0, 24.0, 36.0]),
            run("bald", 2, &[-0.6, -0.5, -0.45], &[14.0, 28.0, 42.0]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "bald".into()]);
        opts.metrics = vec![("test_log_likelihood".into(), "Test LL".into())];
        let (costs, unpriced) = policy_costs(&runs).unwrap();
        assert!(unpriced.is_empty());
        assert_eq!(costs["bald"].mean, vec![13.0, 26.0, 39.0]);
        assert!((costs["bald"].stderr[1] - 2.0 / 2f64.sqrt()).abs() < 1e-12);
        let panels = crate::write::metric_panels(&runs, &opts).unwrap();
        let md = cost_markdown(&opts, &panels, &costs, &unpriced);
        opts.departures = vec!["early stopping read 7 comparisons.".into()];
        let said = "**Not the paper's configuration:** early stopping read 7 comparisons.\n\n";
        let with = cost_markdown(&opts, &panels, &costs, &unpriced);
        assert!(
            with.starts_with(&format!("# Label cost\n\n{said}")),
            "{with}"
        );
        assert_eq!(with.replacen(said, "", 1), md);
        assert!(
            md.contains(
                "| random | 1 | 30 | 30.0 ± — (one seed) | 1.000 | -0.5000 | 30, 30.0 | 0.0% | 0.0% |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| bald | 2 | 30 | 39.0 ± 2.1 | 1.300 | -0.4500 | 20, 26.0 | 33.3% | 13.3% |"
            ),
            "{md}"
        );
        // A run without the column leaves its policy out, named.
        let mut old = run("badge", 1, &[-0.7, -0.6, -0.5], &[]);
        old.signals.clear();
        let runs = [runs[0].clone(), old];
        let (costs, unpriced) = policy_costs(&runs).unwrap();
        assert_eq!((costs.len(), unpriced), (1, vec!["badge".to_string()]));
        // No run with a cost: no report.
        assert!(policy_costs(&runs[1..]).is_none());
    }

    /// The figure's points sit at the seed-mean costs.
    #[test]
    fn the_figure_is_drawn_against_cost() {
        let tmp = tempfile::Builder::new()
            .prefix("activepref-cost-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let runs = [
            run("random", 1, &[-0.7, -0.6, -0.5], &[10.0, 20.0, 30.0]),
            run("bald", 1, &[-0.6, -0.5, -0.45], &[12.0, 24.0, 36.0]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec![]);
        opts.metrics = vec![("test_log_likelihood".into(), "Test LL".into())];
        let panels = crate::write::metric_panels(&runs, &opts).unwrap();
        let files = write_cost_report(&runs, &opts, &panels, dir, "exp").unwrap();
        assert_eq!(files.len(), 3);
        let svg = std::fs::read_to_string(dir.join("cost.svg")).unwrap();
        assert!(svg.contains("cumulative label cost") && svg.contains("exp: against label cost"));
    }
}
