//! The prefix report of the pair setting (specs/activeuf.md §5.4): held-out quality of fresh models
//! trained on the first k pairs each method acquired (`runs/*.prefix.csv`), against the static
//! baselines trained on all of theirs, drawn as horizontal lines; and the table "k labels of
//! method X match the full static dataset".
//!
//! A method *matches* a static baseline at the smallest evaluated k whose seed-mean is `≥` the
//! baseline's seed-mean on its whole dataset. Higher is better for both metrics (accuracy and
//! log-likelihood).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{
    AggregateCurve, ReportError, ReportOptions, RunCurves, aggregate, latex_escape, ordered,
    plot_curves, read_run, write_text,
};

/// The metrics of a prefix file, with their titles.
pub const PREFIX_METRICS: [(&str, &str); 2] = [
    ("prefix_accuracy", "Pair accuracy"),
    ("prefix_log_likelihood", "Log-likelihood"),
];

/// The `runs/*.prefix.csv` files of an experiment directory, sorted (none: an empty list).
fn prefix_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("runs")) else {
        return vec![];
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".prefix.csv"))
        .collect();
    files.sort();
    files
}

/// Reads every `runs/*.prefix.csv` of an experiment directory (none: an empty list).
///
/// # Errors
/// A prefix file that cannot be read or parsed ([`ReportError::Csv`],
/// [`ReportError::MissingColumn`], [`ReportError::Cell`], [`ReportError::NoRounds`]).
pub fn load_prefix_runs(dir: &Path) -> Result<Vec<RunCurves>, ReportError> {
    prefix_files(dir).iter().map(|f| read_run(f)).collect()
}

/// What the held-out pairs of a prefix file were ordered by (`latent` or `judge`).
fn target_of(file: &Path) -> String {
    csv::Reader::from_path(file)
        .ok()
        .and_then(|mut rd| {
            let at = rd.headers().ok()?.iter().position(|h| h == "target")?;
            rd.records().next()?.ok().map(|r| r[at].to_string())
        })
        .unwrap_or_else(|| "judge".into())
}

/// A baseline's whole-dataset value as a flat line over `labels`.
fn flat_line(curve: &AggregateCurve, labels: &[usize]) -> AggregateCurve {
    let last = curve.mean.len() - 1;
    AggregateCurve {
        policy: format!("{} (all {} pairs)", curve.policy, curve.labels[last]),
        labels: labels.to_vec(),
        mean: vec![curve.mean[last]; labels.len()],
        stderr: vec![curve.stderr[last]; labels.len()],
        seeds: curve.seeds,
    }
}

/// The static baselines of a report: the configured ones, else the report's baseline.
fn baselines(opts: &ReportOptions) -> Vec<String> {
    if opts.static_baselines.is_empty() {
        vec![opts.baseline.clone()]
    } else {
        opts.static_baselines.clone()
    }
}

/// The smallest k of `curve` whose mean is `≥ target`.
pub fn first_match(curve: &AggregateCurve, target: f64) -> Option<usize> {
    curve
        .labels
        .iter()
        .zip(&curve.mean)
        .find(|(_, m)| **m >= target)
        .map(|(k, _)| *k)
}

/// One metric's prefix table: the baselines' whole-dataset values and, per method, its final value
/// and where it matches each baseline.
pub struct PrefixTable {
    pub metric: &'static str,
    /// (baseline, whole-dataset seed-mean, its pair count).
    pub baselines: Vec<(String, f64, usize)>,
    pub rows: Vec<PrefixTableRow>,
}

/// A method's row of a [`PrefixTable`].
pub struct PrefixTableRow {
    pub policy: String,
    pub seeds: usize,
    pub final_mean: f64,
    pub final_stderr: f64,
    pub final_k: usize,
    /// Per baseline: the smallest k matching it, or `None`.
    pub matches: Vec<Option<usize>>,
}

/// The prefix tables of both metrics.
pub fn prefix_tables(
    runs: &[RunCurves],
    opts: &ReportOptions,
) -> Result<Vec<PrefixTable>, ReportError> {
    let statics = baselines(opts);
    PREFIX_METRICS
        .iter()
        .map(|&(metric, title)| {
            let curves = ordered(aggregate(runs, metric, 1)?, &opts.policy_order);
            let base: Vec<(String, f64, usize)> = statics
                .iter()
                .filter_map(|s| curves.iter().find(|c| &c.policy == s))
                .map(|b| {
                    (
                        b.policy.clone(),
                        b.mean[b.mean.len() - 1],
                        b.labels[b.labels.len() - 1],
                    )
                })
                .collect();
            let rows = curves
                .iter()
                .map(|c| {
                    let last = c.mean.len() - 1;
                    PrefixTableRow {
                        policy: c.policy.clone(),
                        seeds: c.seeds,
                        final_mean: c.mean[last],
                        final_stderr: c.stderr[last],
                        final_k: c.labels[last],
                        matches: base.iter().map(|(_, v, _)| first_match(c, *v)).collect(),
                    }
                })
                .collect();
            Ok(PrefixTable {
                metric: title,
                baselines: base,
                rows,
            })
        })
        .collect()
}

/// `prefix.md`: per metric, each method's final value and the k at which it matches each
/// baseline's whole-dataset value. `target` names what the held-out pairs are ordered by.
///
/// # Errors
/// As [`aggregate`] (with no smoothing).
pub fn prefix_markdown(
    runs: &[RunCurves],
    opts: &ReportOptions,
    target: &str,
) -> Result<String, ReportError> {
    let mut md = format!(
        "# Prefix evaluation\n\nA fresh model trained on each method's first k acquired pairs (loop order), scored on every response pair of the held-out prompts ordered by the {target}. \
A method *matches* a static baseline at the smallest k whose seed-mean is ≥ the baseline's on all of its pairs; the share is k over the baseline's pair count.\n"
    );
    for t in prefix_tables(runs, opts)? {
        let _ = write!(
            md,
            "\n## {} ({target})\n\n| method | seeds | all pairs |",
            t.metric
        );
        for (name, value, _) in &t.baselines {
            let _ = write!(md, " matches {name} ({value:.4}) at k |");
        }
        md.push_str("\n|---|---|---|");
        md.push_str(&"---|".repeat(t.baselines.len()));
        md.push('\n');
        for r in &t.rows {
            let _ = write!(
                md,
                "| {} | {} | {} (k = {}) |",
                r.policy,
                r.seeds,
                crate::tables::mean_stderr(r.final_mean, r.final_stderr, r.seeds),
                r.final_k
            );
            for (m, (_, _, full)) in r.matches.iter().zip(&t.baselines) {
                match m {
                    Some(k) => {
                        let _ = write!(md, " {k} ({:.0}%) |", 100.0 * *k as f64 / *full as f64);
                    }
                    None => md.push_str(" not reached |"),
                }
            }
            md.push('\n');
        }
    }
    Ok(md)
}

/// The same tables as LaTeX (`booktabs`), one `table` per metric.
pub fn prefix_latex(
    runs: &[RunCurves],
    opts: &ReportOptions,
    target: &str,
) -> Result<String, ReportError> {
    let mut tex = String::from("% Made by `activepref report`; needs \\usepackage{booktabs}.\n");
    for t in prefix_tables(runs, opts)? {
        let _ = writeln!(tex, "\\begin{{table}}[t]\n\\centering");
        let _ = writeln!(
            tex,
            "\\begin{{tabular}}{{lrr{}}}",
            "r".repeat(t.baselines.len())
        );
        let _ = writeln!(tex, "\\toprule");
        let _ = write!(tex, "Method & Seeds & All pairs");
        for (name, value, _) in &t.baselines {
            let _ = write!(tex, " & $k$ to match {} (${value:.3}$)", latex_escape(name));
        }
        let _ = writeln!(tex, " \\\\\n\\midrule");
        for r in &t.rows {
            let _ = write!(
                tex,
                "{} & {} & ${:.4} \\pm {:.4}$",
                latex_escape(&r.policy),
                r.seeds,
                r.final_mean,
                r.final_stderr
            );
            for (m, (_, _, full)) in r.matches.iter().zip(&t.baselines) {
                match m {
                    Some(k) => {
                        let _ = write!(tex, " & {k} ({:.0}\\%)", 100.0 * *k as f64 / *full as f64);
                    }
                    None => tex.push_str(" & n.r."),
                }
            }
            tex.push_str(" \\\\\n");
        }
        let _ = writeln!(
            tex,
            "\\bottomrule\n\\end{{tabular}}\n\\caption{{{} of a fresh model on each method's first $k$ acquired pairs, against the {}; $k$ at which it matches each static baseline's whole-dataset value (n.r.\\ = not reached).}}\n\\end{{table}}",
            t.metric,
            latex_escape(target)
        );
    }
    Ok(tex)
}

/// Writes `report/prefix.{png,svg,md,tex}` when the experiment has prefix files
/// (`runs/<policy>__seed<seed>.prefix.csv`, of the selected runs); returns what it wrote.
///
/// # Errors
/// A prefix file cannot be read or parsed, the curves cannot be aggregated ([`aggregate`]), or a
/// figure or file cannot be drawn or written.
pub fn write_prefix_report(
    dir: &Path,
    opts: &ReportOptions,
    title: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    let files: Vec<PathBuf> = prefix_files(dir)
        .into_iter()
        .filter(|f| crate::selected(f, opts.runs.as_deref()))
        .collect();
    let Some(first) = files.first() else {
        return Ok(vec![]);
    };
    let runs: Vec<RunCurves> = files
        .iter()
        .map(|f| read_run(f))
        .collect::<Result<_, _>>()?;
    let target = match target_of(first).as_str() {
        "latent" => "latent reward".to_string(),
        _ => "judge's scores".to_string(),
    };
    let statics = baselines(opts);
    let mut panels = vec![];
    for (metric, name) in PREFIX_METRICS {
        let mut curves = ordered(aggregate(&runs, metric, 1)?, &opts.policy_order);
        let grid: Vec<usize> = {
            let mut all: Vec<usize> = curves.iter().flat_map(|c| c.labels.clone()).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let lines: Vec<AggregateCurve> = curves
            .iter()
            .filter(|c| statics.contains(&c.policy))
            .map(|c| flat_line(c, &grid))
            .collect();
        // The static baselines appear as their whole-dataset lines only, as in the paper's figures.
        if !opts.static_baselines.is_empty() {
            curves.retain(|c| !statics.contains(&c.policy));
        }
        curves.extend(lines);
        panels.push((format!("{name} vs {target}"), curves));
    }
    let report = dir.join("report");
    let mut files = vec![];
    for ext in ["png", "svg"] {
        let path = report.join(format!("prefix.{ext}"));
        plot_curves(
            &format!("{title}: fresh models on loop-order prefixes"),
            &panels,
            &path,
        )?;
        files.push(path);
    }
    let md = report.join("prefix.md");
    write_text(&md, &prefix_markdown(&runs, opts, &target)?)?;
    files.push(md);
    let tex = report.join("prefix.tex");
    write_text(&tex, &prefix_latex(&runs, opts, &target)?)?;
    files.push(tex);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(policy: &str, seed: u64, labels: &[usize], acc: &[f64]) -> RunCurves {
        RunCurves {
            policy: policy.into(),
            seed,
            labels: labels.to_vec(),
            metrics: BTreeMap::from([
                ("prefix_accuracy".to_string(), acc.to_vec()),
                (
                    "prefix_log_likelihood".to_string(),
                    acc.iter().map(|a| a - 1.0).collect(),
                ),
            ]),
            diagnostics: BTreeMap::new(),
            signals: BTreeMap::new(),
        }
    }

    #[test]
    fn matches_are_the_first_prefix_at_or_above_the_static_full_value() {
        let k = [50, 100, 200, 400];
        let runs = [
            run("drts", 1, &k, &[0.60, 0.70, 0.74, 0.80]),
            run("drts", 2, &k, &[0.62, 0.72, 0.76, 0.80]),
            // Static MaxMin's full-data mean is 0.72.
            run("static-maxmin", 1, &k, &[0.55, 0.60, 0.66, 0.70]),
            run("static-maxmin", 2, &k, &[0.55, 0.60, 0.66, 0.74]),
            run("random", 1, &k, &[0.5, 0.5, 0.5, 0.5]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "drts".into()]);
        opts.static_baselines = vec!["static-maxmin".into()];
        let md = prefix_markdown(&runs, &opts, "latent").unwrap();
        // DRTS: mean 0.61, 0.71, 0.75 → first ≥ 0.72 at k = 200, half of static's 400 pairs.
        assert!(
            md.contains("| drts | 2 | 0.8000 ± 0.0000 (k = 400) | 200 (50%) |"),
            "{md}"
        );
        assert!(
            md.contains("| random | 1 | 0.5000 ± — (one seed) (k = 400) | not reached |"),
            "{md}"
        );
        assert!(md.contains("matches static-maxmin (0.7200) at k"), "{md}");
        let lines: Vec<&str> = md
            .lines()
            .filter(|l| l.starts_with("| static-maxmin"))
            .collect();
        assert_eq!(lines.len(), 2, "one row per metric");
        assert!(lines[0].ends_with("| 400 (100%) |"), "{}", lines[0]);
        let tex = prefix_latex(&runs, &opts, "latent reward").unwrap();
        assert!(
            tex.contains("drts & 2 & $0.8000 \\pm 0.0000$ & 200 (50\\%) \\\\"),
            "{tex}"
        );
        assert!(
            tex.contains("random & 1 & $0.5000 \\pm 0.0000$ & n.r. \\\\"),
            "{tex}"
        );
        assert!(
            tex.contains("$k$ to match static-maxmin ($0.720$)"),
            "{tex}"
        );
        assert_eq!(
            tex.matches("\\begin{table}").count(),
            2,
            "one table per metric"
        );
    }

    #[test]
    fn without_prefix_files_nothing_is_written() {
        let tmp = tempfile::Builder::new()
            .prefix("activepref-prefix-none-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("runs")).unwrap();
        let opts = ReportOptions::new(1, "random", vec![]);
        assert!(write_prefix_report(dir, &opts, "t").unwrap().is_empty());
    }
}
