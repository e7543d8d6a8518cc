//! Statistics across seeds: smoothing, mean ± standard error (ddof 0), the label-efficiency
//! figure, batch diagnostics (specs/balpm.md §5.2–5.4).

use std::collections::BTreeMap;

use crate::{Reached, ReportError, RunCurves, SavingDefinition, label_saving};

/// A metric's seed-aggregated curve for one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateCurve {
    /// The policy label.
    pub policy: String,
    /// Labelled-set size per point.
    pub labels: Vec<usize>,
    /// Seed-mean per point.
    pub mean: Vec<f64>,
    /// Standard error of the mean per point (ddof 0: population std / √n).
    pub stderr: Vec<f64>,
    /// The number of seeds (runs) averaged.
    pub seeds: usize,
}

/// Trailing mean over `window` points with `min_periods = 1`.
pub fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let w = window.max(1);
    (0..values.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(w);
            values[lo..=i].iter().sum::<f64>() / (i + 1 - lo) as f64
        })
        .collect()
}

/// A policy's labelled-set sizes and its smoothed curve per seed.
pub type SeedCurves = (Vec<usize>, Vec<Vec<f64>>);

/// Each policy's smoothed per-seed curves of `metric`: policy → (labelled-set sizes, one curve
/// per seed in file order).
///
/// # Errors
/// [`ReportError::LabelSchedule`] when two seeds of a policy differ in labelled-set sizes;
/// [`ReportError::MissingMetric`] when a run has no column `metric`.
pub fn smoothed_curves(
    runs: &[RunCurves],
    metric: &str,
    window: usize,
) -> Result<BTreeMap<String, SeedCurves>, ReportError> {
    let mut by_policy: BTreeMap<&str, Vec<&RunCurves>> = BTreeMap::new();
    for r in runs {
        by_policy.entry(&r.policy).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (policy, runs) in by_policy {
        let labels = runs[0].labels.clone();
        if let Some(r) = runs.iter().find(|r| r.labels != labels) {
            return Err(ReportError::LabelSchedule {
                policy: policy.to_string(),
                seed: r.seed,
                first: runs[0].seed,
            });
        }
        let curves: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| {
                r.metrics
                    .get(metric)
                    .map(|v| smooth(v, window))
                    .ok_or_else(|| ReportError::MissingMetric {
                        policy: policy.to_string(),
                        seed: r.seed,
                        metric: metric.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        out.insert(policy.to_string(), (labels, curves));
    }
    Ok(out)
}

/// Mean and standard error (ddof 0) across seeds of each policy's smoothed curve, one curve per
/// policy in alphabetical order.
///
/// # Errors
/// As [`smoothed_curves`].
pub fn aggregate(
    runs: &[RunCurves],
    metric: &str,
    window: usize,
) -> Result<Vec<AggregateCurve>, ReportError> {
    let mut out = vec![];
    for (policy, (labels, curves)) in smoothed_curves(runs, metric, window)? {
        let n = curves.len() as f64;
        let mean: Vec<f64> = (0..labels.len())
            .map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / n)
            .collect();
        let stderr = (0..labels.len())
            .map(|i| {
                (curves.iter().map(|c| (c[i] - mean[i]).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt()
            })
            .collect();
        out.push(AggregateCurve {
            policy,
            labels,
            mean,
            stderr,
            seeds: curves.len(),
        });
    }
    Ok(out)
}

/// Where `curve` first reaches `target` under `definition`, and the saving relative to
/// `baseline_final_labels` ([`label_saving`] on the seed-mean).
pub fn label_efficiency(
    curve: &AggregateCurve,
    target: f64,
    baseline_final_labels: usize,
    definition: SavingDefinition,
) -> Reached {
    label_saving(
        &curve.mean,
        &curve.labels,
        target,
        baseline_final_labels,
        definition,
    )
}

/// Each policy's batch diagnostic `column`: per round, the mean and standard error (ddof 0) over
/// the seeds that have a value; rounds without any value are left out.
pub fn aggregate_diagnostic(runs: &[RunCurves], column: &str) -> Vec<AggregateCurve> {
    let mut by_policy: BTreeMap<&str, Vec<&RunCurves>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.diagnostics.contains_key(column)) {
        by_policy.entry(&r.policy).or_default().push(r);
    }
    by_policy
        .into_iter()
        .map(|(policy, rs)| {
            let mut c = AggregateCurve {
                policy: policy.to_string(),
                labels: vec![],
                mean: vec![],
                stderr: vec![],
                seeds: rs.len(),
            };
            for (i, &labels) in rs[0].labels.iter().enumerate() {
                let v: Vec<f64> = rs
                    .iter()
                    .filter_map(|r| r.diagnostics[column].get(i).copied())
                    .filter(|v| v.is_finite())
                    .collect();
                if v.is_empty() {
                    continue;
                }
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                c.labels.push(labels);
                c.mean.push(mean);
                c.stderr.push(
                    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt(),
                );
            }
            c
        })
        .filter(|c| !c.labels.is_empty())
        .collect()
}
