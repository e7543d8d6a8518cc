//! `stopping.md`: where each configured stopping rule would have stopped every run, the
//! labels that saves and what it costs (issue 23). Rules are evaluated on the per-round signals
//! the run files record ([`crate::read::SIGNALS`]); the runs themselves never stop early.

use std::fmt::Write as _;

use activepref_loop::stopping::{RoundSignals, StoppingRule};

use crate::{ReportOptions, RunCurves};

/// The largest-BALD column of a run file: the pool's (`pool_max_bald`) or, in a pair run file
/// (held-out metrics), the batch's (`batch_max_bald`).
fn bald_column(run: &RunCurves) -> &'static str {
    if run.metrics.keys().any(|m| m.starts_with("heldout_")) {
        "batch_max_bald"
    } else {
        "pool_max_bald"
    }
}

/// The run-file column a rule reads besides `labels`, or `None` for the budget.
fn column_of(rule: &StoppingRule, run: &RunCurves) -> Option<&'static str> {
    match rule {
        StoppingRule::MaxUncertainty { .. } => Some(bald_column(run)),
        StoppingRule::StablePredictions { .. } => Some("stopping_agreement"),
        StoppingRule::ValidationPlateau { .. } => Some("validation_loss"),
        StoppingRule::Budget { .. } => None,
    }
}

/// Where one rule stops one run: the round index, or `None` when it never fires.
fn stop_round(rule: &StoppingRule, run: &RunCurves) -> Option<usize> {
    let column = |name: &str, t: usize| {
        run.signals
            .get(name)
            .and_then(|v| v.get(t).copied())
            .unwrap_or(f64::NAN)
    };
    let rounds: Vec<RoundSignals> = (0..run.labels.len())
        .map(|t| RoundSignals {
            labels: run.labels[t],
            pool_max_bald: column(bald_column(run), t),
            agreement: column("stopping_agreement", t),
            validation_loss: column("validation_loss", t),
        })
        .collect();
    rule.first_stop(&rounds)
}

/// The rule as the table names it (`budget, labels 400`).
fn describe(rule: &StoppingRule) -> String {
    match rule {
        StoppingRule::Budget { labels } => format!("budget, labels {labels}"),
        StoppingRule::MaxUncertainty { below } => format!("max_uncertainty, below {below}"),
        StoppingRule::StablePredictions { kappa, window } => {
            format!("stable_predictions, kappa {kappa}, window {window}")
        }
        StoppingRule::ValidationPlateau {
            patience,
            min_delta,
        } => format!("validation_plateau, patience {patience}, min_delta {min_delta}"),
    }
}

/// The Markdown table of every rule × policy, over the runs' seeds. A run where a rule never
/// fires counts as stopping at its last round (nothing saved, nothing lost). The metric is the
/// first of `opts.metrics`, read unsmoothed at the stopping round and at the last one.
pub(crate) fn stopping_markdown(runs: &[RunCurves], opts: &ReportOptions) -> String {
    let (metric, title) = opts.metrics.first().cloned().unwrap_or_default();
    let mut md = String::from("# Stopping rules\n\n");
    md.push_str(&crate::departures_markdown(opts));
    let _ = writeln!(
        md,
        "Each rule is evaluated after every round of every run; the runs went on to their last round, so this table says what stopping would have saved and cost. A run where a rule never fires counts as stopping at its last round. Means over seeds; \"{title}\" is read unsmoothed at the stopping round and at the end, and \"change by going on\" is end − stop (positive: the labels after the stop still helped).\n"
    );
    // Priced runs (`label_cost`) also say what the stop saves in cost.
    let priced = runs.iter().any(|r| {
        r.signals
            .get("label_cost")
            .is_some_and(|v| v.iter().any(|x| x.is_finite()))
    });
    let (cost_head, cost_rule) = if priced {
        (" cost saved |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        md,
        "| rule | policy | runs stopped | labels at stop | labels saved |{cost_head} {title} at stop | at the end | change by going on |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|{cost_rule}---|---|---|");
    let mut policies: Vec<&str> = runs.iter().map(|r| r.policy.as_str()).collect();
    policies.sort_by_key(|p| {
        (
            opts.policy_order
                .iter()
                .position(|o| o == p)
                .unwrap_or(usize::MAX),
            p.to_string(),
        )
    });
    policies.dedup();
    let (mut predating, mut unmeasured) = (Vec::new(), Vec::new());
    for rule in &opts.stopping {
        for policy in &policies {
            let mine: Vec<&RunCurves> = runs.iter().filter(|r| r.policy == *policy).collect();
            let missing = mine.iter().find_map(|r| {
                let column = column_of(rule, r)?;
                match r.signals.get(column) {
                    None => Some((column, true)),
                    Some(v) if v.iter().all(|x| x.is_nan()) => Some((column, false)),
                    Some(_) => None,
                }
            });
            if let Some((column, absent)) = missing {
                let mark = if absent { "—" } else { "n/a" };
                let cost_mark = if priced {
                    format!(" {mark} |")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    md,
                    "| {} | {policy} | {mark} | {mark} | {mark} |{cost_mark} {mark} | {mark} | {mark} |",
                    describe(rule)
                );
                let list = if absent {
                    &mut predating
                } else {
                    &mut unmeasured
                };
                list.push(format!("{policy} ({column})"));
                continue;
            }
            md.push_str(&measured_row(rule, policy, &mine, &metric, priced));
        }
    }
    footnotes(&mut md, unmeasured, predating);
    md
}

/// The stopping.md row of `rule` for `policy`, over its runs `mine`: runs stopped, labels at the
/// stop and saved, cost saved (when `priced`), and `metric` at the stop and at the end.
fn measured_row(
    rule: &StoppingRule,
    policy: &str,
    mine: &[&RunCurves],
    metric: &str,
    priced: bool,
) -> String {
    let n = mine.len() as f64;
    let (mut stopped, mut at_labels, mut saved, mut at_value, mut end_value) =
        (0usize, 0.0, 0.0, 0.0, 0.0);
    let mut cost_saved = 0.0;
    for run in mine {
        let last = run.labels.len() - 1;
        let t = stop_round(rule, run);
        stopped += usize::from(t.is_some());
        let t = t.unwrap_or(last);
        at_labels += run.labels[t] as f64 / n;
        saved += run.labels[last].saturating_sub(run.labels[t]) as f64 / n;
        // NaN for a run without costs: the cell then says so.
        let cost = |i: usize| {
            run.signals
                .get("label_cost")
                .and_then(|v| v.get(i).copied())
                .unwrap_or(f64::NAN)
        };
        cost_saved += (cost(last) - cost(t)) / n;
        let values = run.metrics.get(metric);
        let value = |i: usize| values.and_then(|v| v.get(i).copied()).unwrap_or(f64::NAN);
        at_value += value(t) / n;
        end_value += value(last) / n;
    }
    format!(
        "| {} | {policy} | {stopped}/{} | {at_labels:.0} | {saved:.0} |{} {at_value:.4} | {end_value:.4} | {:+.4} |\n",
        describe(rule),
        mine.len(),
        match (priced, cost_saved.is_finite()) {
            (false, _) => String::new(),
            (true, true) => format!(" {cost_saved:.1} |"),
            (true, false) => " — |".to_string(),
        },
        end_value - at_value
    )
}

/// The notes under the table: rules without values (`unmeasured`) and run files that predate the
/// columns they read (`predating`).
fn footnotes(md: &mut String, mut unmeasured: Vec<String>, mut predating: Vec<String>) {
    if !unmeasured.is_empty() {
        unmeasured.sort();
        unmeasured.dedup();
        let _ = writeln!(
            md,
            "\nn/a : runs that record no value of the column a rule reads: {}. An anchored pair-setting refit has no validation set, so no validation loss.",
            unmeasured.join(", ")
        );
    }
    if !predating.is_empty() {
        predating.dedup();
        let _ = writeln!(
            md,
            "\n— : run files written before the column these rules read: {}. Run them again into a fresh directory (`activepref run <file> --fresh`) to evaluate them.",
            predating.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(seed: u64, loss: &[f64], ll: &[f64]) -> RunCurves {
        RunCurves {
            policy: "bald".into(),
            seed,
            labels: (0..loss.len()).map(|t| 40 + 40 * t).collect(),
            metrics: BTreeMap::from([("test_log_likelihood".to_string(), ll.to_vec())]),
            diagnostics: BTreeMap::new(),
            signals: BTreeMap::from([("validation_loss".to_string(), loss.to_vec())]),
        }
    }

    /// Two seeds, a plateau rule with patience 1: seed 1 stops after round 2 (its loss rises),
    /// at 120 labels, saving 40 of 160, at −0.55 against −0.50 at the end; seed 2 never stops
    /// (160 labels, nothing saved). Means: 140 labels, 20 saved, −0.525 at stop, −0.5 at the end.
    #[test]
    fn the_table_by_hand() {
        let runs = [
            run(1, &[0.7, 0.6, 0.65, 0.64], &[-0.7, -0.6, -0.55, -0.5]),
            run(2, &[0.7, 0.6, 0.5, 0.4], &[-0.7, -0.6, -0.55, -0.5]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec![]);
        opts.metrics = vec![("test_log_likelihood".into(), "Test LL".into())];
        opts.stopping = vec![StoppingRule::ValidationPlateau {
            patience: 1,
            min_delta: 0.0,
        }];
        let md = stopping_markdown(&runs, &opts);
        assert!(
            md.contains("| validation_plateau, patience 1, min_delta 0 | bald | 1/2 | 140 | 20 | -0.5250 | -0.5000 | +0.0250 |"),
            "{md}"
        );
        // A departure from the paper's configuration is stated under the title, table unchanged.
        opts.departures = vec!["early stopping read 7 comparisons.".into()];
        let said = "**Not the paper's configuration:** early stopping read 7 comparisons.\n\n";
        let with = stopping_markdown(&runs, &opts);
        assert!(
            with.starts_with(&format!("# Stopping rules\n\n{said}")),
            "{with}"
        );
        assert_eq!(with.replacen(said, "", 1), md);
        opts.departures.clear();
        // Run files without `stopping_agreement` (written before it existed) are named, not
        // shown as "never stopped".
        opts.stopping = vec![StoppingRule::StablePredictions {
            kappa: 0.9,
            window: 1,
        }];
        let md = stopping_markdown(&runs, &opts);
        assert!(
            md.contains("| bald | — |") && md.contains("bald (stopping_agreement)"),
            "{md}"
        );
        // A pair run file: the batch's largest BALD (round 0 trained on no label never stops:
        // labels 0 here), and no validation loss under an anchored refit (n/a, not "never").
        let mut pair = run(1, &[f64::NAN; 4], &[-0.7, -0.6, -0.55, -0.5]);
        pair.labels = vec![0, 32, 64, 96];
        pair.metrics = BTreeMap::from([(
            "heldout_log_likelihood".to_string(),
            vec![-0.7, -0.6, -0.55, -0.5],
        )]);
        opts.metrics = vec![("heldout_log_likelihood".into(), "Held-out LL".into())];
        pair.signals
            .insert("batch_max_bald".into(), vec![0.001, 0.2, 0.04, f64::NAN]);
        opts.stopping = vec![
            StoppingRule::MaxUncertainty { below: 0.05 },
            StoppingRule::ValidationPlateau {
                patience: 1,
                min_delta: 0.0,
            },
        ];
        let md = stopping_markdown(&[pair.clone()], &opts);
        assert!(
            md.contains("| max_uncertainty, below 0.05 | bald | 1/1 | 64 | 32 | -0.5500 | -0.5000 | +0.0500 |"),
            "{md}"
        );
        assert!(
            md.contains("| validation_plateau, patience 1, min_delta 0 | bald | n/a |")
                && md.contains("bald (validation_loss)"),
            "{md}"
        );
        // A priced pair run: the stop at round 2 (64 labels, cost 130) saves 200 − 130 = 70.
        let mut priced = pair.clone();
        priced
            .signals
            .insert("label_cost".into(), vec![0.0, 65.0, 130.0, 200.0]);
        opts.stopping.truncate(1);
        let md = stopping_markdown(&[priced], &opts);
        assert!(
            md.contains("| labels saved | cost saved |")
                && md.contains(
                    "| max_uncertainty, below 0.05 | bald | 1/1 | 64 | 32 | 70.0 | -0.5500 |"
                ),
            "{md}"
        );
    }
}
