//! The label-efficiency table as Markdown (`summary.md`), numbers (`summary.csv`) and LaTeX
//! (`summary.tex`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{
    AggregateCurve, Reached, ReportError, ReportOptions, RunCurves, SavingDefinition,
    SavingInterval, Stream, aggregate, bootstrap_saving, label_efficiency, rng_for,
    smoothed_curves,
};

pub(crate) fn ordered(mut curves: Vec<AggregateCurve>, order: &[String]) -> Vec<AggregateCurve> {
    curves.sort_by_key(|c| {
        (
            order
                .iter()
                .position(|p| *p == c.policy)
                .unwrap_or(usize::MAX),
            c.policy.clone(),
        )
    });
    curves
}

/// `12.5%`, or `not reached`.
pub(crate) fn percent(v: Option<f64>) -> String {
    v.map_or_else(
        || "not reached".to_string(),
        |v| format!("{:.1}%", 100.0 * v),
    )
}

/// `mean ± s.e.` to 4 decimals; with one seed there is no spread to show, so the s.e. is a dash
/// (its formula would print a misleading ± 0.0000).
pub(crate) fn mean_stderr(mean: f64, stderr: f64, seeds: usize) -> String {
    mean_stderr_to(4, mean, stderr, seeds)
}

/// [`mean_stderr`] to `decimals` decimals.
pub(crate) fn mean_stderr_to(decimals: usize, mean: f64, stderr: f64, seeds: usize) -> String {
    if seeds < 2 {
        format!("{mean:.decimals$} ± — (one seed)")
    } else {
        format!("{mean:.decimals$} ± {stderr:.decimals$}")
    }
}

/// One row of the label-efficiency table.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The metric's title (`Test log-likelihood`).
    pub metric: String,
    /// The policy label.
    pub policy: String,
    /// The number of seeds averaged.
    pub seeds: usize,
    /// Final smoothed seed-mean.
    pub final_mean: f64,
    /// Standard error (ddof 0) of the final smoothed seed-mean.
    pub final_stderr: f64,
    /// Where the policy reaches the baseline's final value, and its saving.
    pub reached: Reached,
    /// The bootstrap interval of the saving (none when the report asks for no bootstrap, or when
    /// the policy and the baseline have one seed each).
    pub interval: Option<SavingInterval>,
}

/// The rows of the label-efficiency table: every metric, every policy in display order.
///
/// # Errors
/// As [`smoothed_curves`], or [`ReportError::NoBaseline`] when no run is of the baseline policy.
pub fn summary_rows(
    runs: &[RunCurves],
    opts: &ReportOptions,
) -> Result<Vec<SummaryRow>, ReportError> {
    let mut rows = vec![];
    for (metric, title) in &opts.metrics {
        let per_seed = smoothed_curves(runs, metric, opts.smoothing_window)?;
        let curves = ordered(
            aggregate(runs, metric, opts.smoothing_window)?,
            &opts.policy_order,
        );
        let base = curves
            .iter()
            .find(|c| c.policy == opts.baseline)
            .ok_or_else(|| ReportError::NoBaseline {
                baseline: opts.baseline.clone(),
            })?;
        let target = *base.mean.last().expect("non-empty curve");
        let base_final = *base.labels.last().expect("non-empty curve");
        for c in &curves {
            // With one seed on both sides every resample is the point itself: no interval (an
            // interval of width 0 would read as certainty).
            let resampled = c.seeds > 1 || base.seeds > 1;
            let interval = (opts.bootstrap > 0 && resampled).then(|| {
                // One generator per (metric, policy) row, so a row's interval does not depend on
                // which other policies or metrics the report holds.
                let mut rng = rng_for(
                    BOOTSTRAP_SEED,
                    Stream::Policy,
                    &[fnv(metric.as_bytes()), fnv(c.policy.as_bytes())],
                );
                let (labels, seeds) = &per_seed[&c.policy];
                let (base_labels, base_seeds) = &per_seed[&opts.baseline];
                bootstrap_saving(
                    seeds,
                    labels,
                    base_seeds,
                    base_labels,
                    c.policy == opts.baseline,
                    opts.saving,
                    opts.bootstrap,
                    &mut rng,
                )
            });
            rows.push(SummaryRow {
                metric: title.clone(),
                policy: c.policy.clone(),
                seeds: c.seeds,
                final_mean: *c.mean.last().expect("non-empty curve"),
                final_stderr: *c.stderr.last().expect("non-empty curve"),
                reached: label_efficiency(c, target, base_final, opts.saving),
                interval,
            });
        }
    }
    Ok(rows)
}

/// The label-efficiency table and the final values, as Markdown (`summary.md`).
///
/// # Errors
/// As [`summary_rows`].
pub fn summary_markdown(runs: &[RunCurves], opts: &ReportOptions) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let mut md = String::new();
    writeln!(md, "# Summary\n").ok();
    writeln!(
        md,
        "Curves are smoothed per run with a trailing mean of {}, then averaged over seeds (± standard error, ddof 0).\n",
        activepref_core::error::counted(opts.smoothing_window, "round", "rounds")
    )
    .ok();
    md.push_str(&departures_markdown(opts));
    let b = &opts.baseline;
    writeln!(md, "## Label efficiency against `{b}`\n").ok();
    match opts.saving {
        SavingDefinition::FirstReach => writeln!(md, "First labelled-set size at which a policy's seed-mean curve reaches (≥) `{b}`'s final value, and the saving `1 − size / {b}'s final size` (`saving: first_reach`)."),
        SavingDefinition::PaperScript => writeln!(md, "First round index i* (0-based) at which a policy's seed-mean curve strictly exceeds `{b}`'s final value, the labelled-set size at that round, and the paper script's saving `1 − i* / rounds` (`saving: paper_script`)."),
    }
    .ok();
    let ci = opts.bootstrap > 0;
    if ci {
        writeln!(md, "The interval is the 2.5th–97.5th percentile of the saving over {} bootstrap resamples of the seeds (policy and baseline resampled independently; \"not reached\" ranks lowest).", opts.bootstrap).ok();
    }
    writeln!(md).ok();
    let ci_head = if ci { " 95% bootstrap interval |" } else { "" };
    let ci_rule = if ci { "---|" } else { "" };
    writeln!(md, "| metric | policy | seeds | final value (± s.e.) | reaches baseline's final at | label saving |{ci_head}").ok();
    writeln!(md, "|---|---|---|---|---|---|{ci_rule}").ok();
    for r in &rows {
        let (at, saving) = match r.reached {
            Reached::At { labels, saving } => (labels.to_string(), percent(Some(saving))),
            Reached::NotReached => ("not reached".into(), "—".into()),
        };
        let iv = match (ci, r.interval) {
            (true, Some(iv)) => format!(" [{}, {}] |", percent(iv.low), percent(iv.high)),
            (true, None) => " — (one seed each) |".to_string(),
            (false, _) => String::new(),
        };
        writeln!(
            md,
            "| {} | {} | {} | {} | {at} | {saving} |{iv}",
            r.metric,
            r.policy,
            r.seeds,
            mean_stderr(r.final_mean, r.final_stderr, r.seeds)
        )
        .ok();
    }
    md.push_str(&baseline_against_itself(&rows, b));
    md.push_str(&missing_section(&opts.missing));
    Ok(md)
}

/// A note under the table when the baseline's own row shows a saving: its seed-mean curve
/// reached its final value before its final size (a plateau, or seed noise), so that much saving
/// on that metric is what the baseline shows against itself. Empty when it shows none.
fn baseline_against_itself(rows: &[SummaryRow], baseline: &str) -> String {
    let own: Vec<String> = rows
        .iter()
        .filter(|r| r.policy == baseline)
        .filter_map(|r| match r.reached {
            Reached::At { labels, saving } if saving > 0.0 => Some(format!(
                "{} at {labels} labels ({})",
                r.metric,
                percent(Some(saving))
            )),
            _ => None,
        })
        .collect();
    if own.is_empty() {
        return String::new();
    }
    format!(
        "\n`{baseline}` reaches its own final value before its final size on {}: its curve is flat (or noisy) from there, so on that metric a saving up to that much is what the baseline shows against itself; read the other policies' savings against it, not against 0%.\n",
        own.join("; ")
    )
}

/// The label-efficiency table as CSV (`report/summary.csv`, what `activepref.read_summary` reads):
/// one row per (metric, policy) with the metric's column name, the final smoothed seed-mean and
/// its standard error, the labelled-set size at which the policy reaches the baseline's final
/// value and the saving as a fraction (both empty when not reached), and the bootstrap interval
/// of the saving (empty when not computed or when that end did not reach).
///
/// # Errors
/// As [`summary_rows`].
pub fn summary_csv(runs: &[RunCurves], opts: &ReportOptions) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let column_of: BTreeMap<&str, &str> = opts
        .metrics
        .iter()
        .map(|(column, title)| (title.as_str(), column.as_str()))
        .collect();
    let mut w = csv::Writer::from_writer(vec![]);
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let header = [
        "metric",
        "title",
        "policy",
        "seeds",
        "final_mean",
        "final_stderr",
        "baseline",
        "reached_labels",
        "saving",
        "saving_low",
        "saving_high",
        "bootstrap_reached",
    ];
    let mut out = || -> Result<(), csv::Error> {
        w.write_record(header)?;
        for r in &rows {
            let (labels, saving) = match r.reached {
                Reached::At { labels, saving } => (labels.to_string(), saving.to_string()),
                Reached::NotReached => (String::new(), String::new()),
            };
            w.write_record([
                column_of.get(r.metric.as_str()).copied().unwrap_or(""),
                &r.metric,
                &r.policy,
                &r.seeds.to_string(),
                &r.final_mean.to_string(),
                &r.final_stderr.to_string(),
                &opts.baseline,
                &labels,
                &saving,
                &opt(r.interval.and_then(|iv| iv.low)),
                &opt(r.interval.and_then(|iv| iv.high)),
                &opt(r.interval.map(|iv| iv.reached)),
            ])?;
        }
        Ok(())
    };
    out().expect("writing CSV to memory cannot fail");
    let bytes = w.into_inner().expect("an in-memory CSV flushes");
    Ok(String::from_utf8(bytes).expect("the CSV holds UTF-8 text"))
}

/// A partial report's "Partial report" paragraph ([`ReportOptions::partial`]), then one "Not the
/// paper's configuration" paragraph per departure ([`ReportOptions::departures`]), for the head of
/// every Markdown report of the runs; empty for a whole report of the paper's configuration.
pub(crate) fn departures_markdown(opts: &ReportOptions) -> String {
    let partial = opts
        .partial
        .iter()
        .map(|p| format!("**Partial report:** {p}\n\n"));
    let departures = opts
        .departures
        .iter()
        .map(|d| format!("**Not the paper's configuration:** {d}\n\n"));
    partial.chain(departures).collect()
}

/// The summary's list of expected runs that it leaves out (empty when none is missing).
pub(crate) fn missing_section(missing: &[String]) -> String {
    if missing.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n## Runs left out\n\n{} of this configuration {} not in the tables and figures above; `activepref run` on the same file finishes or redoes {}:\n\n",
        activepref_core::error::counted(missing.len(), "expected run", "expected runs"),
        if missing.len() == 1 { "is" } else { "are" },
        if missing.len() == 1 { "it" } else { "them" }
    );
    for m in missing {
        let _ = writeln!(md, "- {m}");
    }
    md
}

/// `text` with LaTeX's special characters escaped.
pub(crate) fn latex_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '_' | '%' | '&' | '#' | '$' | '{' | '}' => format!("\\{c}"),
            '~' => "\\textasciitilde{}".into(),
            '^' => "\\textasciicircum{}".into(),
            '\\' => "\\textbackslash{}".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The same table as LaTeX (`booktabs`), ready for `\input{summary.tex}` in a paper.
///
/// # Errors
/// As [`summary_rows`].
pub fn summary_latex(
    runs: &[RunCurves],
    opts: &ReportOptions,
    caption: &str,
) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let ci = opts.bootstrap > 0;
    let pct =
        |v: Option<f64>| v.map_or_else(|| "n.r.".to_string(), |v| format!("{:.1}\\%", 100.0 * v));
    let mut tex = String::new();
    writeln!(
        tex,
        "% Made by `activepref report`; needs \\usepackage{{booktabs}}."
    )
    .ok();
    if let Some(p) = &opts.partial {
        writeln!(tex, "% Partial report: {p}").ok();
    }
    for d in &opts.departures {
        writeln!(tex, "% Not the paper's configuration: {d}").ok();
    }
    writeln!(tex, "\\begin{{table}}[t]\n\\centering").ok();
    writeln!(
        tex,
        "\\begin{{tabular}}{{ll{}}}",
        if ci { "rrrr" } else { "rrr" }
    )
    .ok();
    writeln!(tex, "\\toprule").ok();
    let ci_head = if ci { " & 95\\% CI" } else { "" };
    writeln!(
        tex,
        "Metric & Policy & Final value & Labels to match & Saving{ci_head} \\\\"
    )
    .ok();
    writeln!(tex, "\\midrule").ok();
    let mut previous = "";
    for r in &rows {
        if !previous.is_empty() && previous != r.metric {
            writeln!(tex, "\\midrule").ok();
        }
        let metric = if previous == r.metric {
            String::new()
        } else {
            latex_escape(&r.metric)
        };
        previous = &r.metric;
        let (at, saving) = match r.reached {
            Reached::At { labels, saving } => (labels.to_string(), pct(Some(saving))),
            Reached::NotReached => ("n.r.".into(), "--".into()),
        };
        let iv = match (ci, r.interval) {
            (true, Some(iv)) => format!(" & [{}, {}]", pct(iv.low), pct(iv.high)),
            (true, None) => " & --".to_string(),
            (false, _) => String::new(),
        };
        writeln!(
            tex,
            "{metric} & {} & ${:.4} \\pm {:.4}$ & {at} & {saving}{iv} \\\\",
            latex_escape(&r.policy),
            r.final_mean,
            r.final_stderr
        )
        .ok();
    }
    writeln!(tex, "\\bottomrule\n\\end{{tabular}}").ok();
    writeln!(
        tex,
        "\\caption{{{}}}\n\\end{{table}}",
        latex_escape(caption)
    )
    .ok();
    Ok(tex)
}

/// The fixed root seed of every report's bootstrap (a report is a pure function of its runs).
pub(crate) const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

/// FNV-1a of a name: a stable per-row stream index.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    activepref_core::io::fnv1a(bytes)
}
