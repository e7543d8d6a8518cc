//! Unit tests of the report crate.

use super::*;
use std::collections::BTreeMap;

fn run(policy: &str, seed: u64, values: &[f64]) -> RunCurves {
    RunCurves {
        policy: policy.into(),
        seed,
        labels: (1..=values.len()).map(|i| i * 10).collect(),
        metrics: BTreeMap::from([("m".to_string(), values.to_vec())]),
        diagnostics: BTreeMap::new(),
        signals: BTreeMap::new(),
    }
}

#[test]
fn trailing_mean_with_min_periods_one() {
    assert_eq!(
        smooth(&[1.0, 2.0, 6.0, 3.0], 3),
        vec![1.0, 1.5, 3.0, 11.0 / 3.0]
    );
    assert_eq!(smooth(&[1.0, 2.0], 1), vec![1.0, 2.0]);
}

#[test]
fn mean_and_population_standard_error() {
    let runs = [run("a", 1, &[1.0, 2.0]), run("a", 2, &[3.0, 2.0])];
    let agg = aggregate(&runs, "m", 1).unwrap();
    assert_eq!(agg[0].mean, vec![2.0, 2.0]);
    // std (ddof 0) of {1, 3} is 1; / √2.
    assert_eq!(agg[0].stderr, vec![1.0 / 2f64.sqrt(), 0.0]);
}

#[test]
fn label_efficiency_on_hand_made_curves() {
    // Baseline (random) ends at −0.50 with 50 labels.
    let runs = [
        run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
        run("good", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
        run("bad", 1, &[-0.80, -0.75, -0.70, -0.65, -0.60]),
    ];
    let agg = aggregate(&runs, "m", 1).unwrap();
    let get = |p: &str| agg.iter().find(|c| c.policy == p).unwrap();
    // good first reaches −0.50 at round 3 (−0.49 ≥ −0.50), labelled size 30: saving 1 − 30/50 = 40%.
    assert_eq!(
        label_efficiency(get("good"), -0.50, 50, SavingDefinition::FirstReach),
        Reached::At {
            labels: 30,
            saving: 0.4
        }
    );
    assert_eq!(
        label_efficiency(get("bad"), -0.50, 50, SavingDefinition::FirstReach),
        Reached::NotReached
    );
    assert_eq!(
        label_efficiency(get("random"), -0.50, 50, SavingDefinition::FirstReach),
        Reached::At {
            labels: 50,
            saving: 0.0
        }
    );
    // With smoothing 3 the target is random's smoothed final (−0.58 − 0.53 − 0.50)/3 = −0.5367;
    // good's smoothed curve is −0.68, −0.615, −0.5733, −0.5033, −0.4733: it reaches the target
    // at round 4 (40 labels, saving 20%), one round later than unsmoothed.
    let sm = aggregate(&runs, "m", 3).unwrap();
    let target = *sm
        .iter()
        .find(|c| c.policy == "random")
        .unwrap()
        .mean
        .last()
        .unwrap();
    assert!((target - (-0.58 - 0.53 - 0.50) / 3.0).abs() < 1e-12);
    let good = sm.iter().find(|c| c.policy == "good").unwrap();
    let Reached::At { labels, saving } =
        label_efficiency(good, target, 50, SavingDefinition::FirstReach)
    else {
        panic!()
    };
    assert_eq!(labels, 40);
    assert!((saving - 0.2).abs() < 1e-12);
}

#[test]
fn summary_reports_not_reached() {
    let runs = [
        run("random", 1, &[-0.7, -0.5]),
        run("bad", 1, &[-0.9, -0.8]),
    ];
    let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "bad".into()]);
    opts.metrics = vec![("m".into(), "M".into())];
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| M | random | 1 | -0.5000 ± — (one seed) | 20 | 0.0% |"),
        "{md}"
    );
    assert!(
        md.contains("| M | bad | 1 | -0.8000 ± — (one seed) | not reached | — |"),
        "{md}"
    );
}

#[test]
fn one_seed_on_both_sides_has_no_bootstrap_interval() {
    // Every resample of one seed is that seed: an interval [40.0%, 40.0%] would read as
    // certainty, so the table says why there is none, and the CSV leaves it empty.
    let runs = [
        run("random", 1, &[-0.7, -0.5]),
        run("good", 1, &[-0.5, -0.4]),
    ];
    let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "good".into()]);
    opts.metrics = vec![("m".into(), "M".into())];
    opts.bootstrap = 200;
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| M | good | 1 | -0.4000 ± — (one seed) | 10 | 50.0% | — (one seed each) |"),
        "{md}"
    );
    let csv = summary_csv(&runs, &opts).unwrap();
    assert!(
        csv.contains("m,M,good,1,-0.4,0,random,10,0.5,,,\n"),
        "{csv}"
    );
    // A second baseline seed: resamples differ, so the interval is there.
    let runs = [
        runs[0].clone(),
        run("random", 2, &[-0.6, -0.5]),
        runs[1].clone(),
    ];
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| M | good | 1 | -0.4000 ± — (one seed) | 10 | 50.0% | ["),
        "{md}"
    );
}

#[test]
fn a_baseline_that_reaches_its_own_final_early_is_noted() {
    // random: −0.7, −0.5, −0.6, −0.5: it reaches its final −0.5 at 20 of 40 labels, a 50%
    // "saving" against itself; the note says so under the table.
    let runs = [run("random", 1, &[-0.7, -0.5, -0.6, -0.5])];
    let mut opts = ReportOptions::new(1, "random", vec!["random".into()]);
    opts.metrics = vec![("m".into(), "M".into())];
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| M | random | 1 | -0.5000 ± — (one seed) | 20 | 50.0% |"),
        "{md}"
    );
    assert!(
        md.contains("\n`random` reaches its own final value before its final size on M at 20 labels (50.0%): its curve is flat (or noisy) from there, so on that metric a saving up to that much is what the baseline shows against itself; read the other policies' savings against it, not against 0%.\n"),
        "{md}"
    );
    // Reached only at its final size: no note.
    let runs = [run("random", 1, &[-0.7, -0.5])];
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(!md.contains("against itself"), "{md}");
}

/// A departure from the paper's configuration is stated under the summary's title and in the
/// LaTeX table's comments, and the tables themselves are unchanged.
#[test]
fn departures_are_stated_in_both_summaries() {
    let runs = [
        run("random", 1, &[-0.7, -0.5]),
        run("bald", 1, &[-0.6, -0.4]),
    ];
    let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "bald".into()]);
    opts.metrics = vec![("m".into(), "M".into())];
    let (md, tex) = (
        summary_markdown(&runs, &opts).unwrap(),
        summary_latex(&runs, &opts, "c").unwrap(),
    );
    assert!(!md.contains("Not the paper's") && !tex.contains("Not the paper's"));
    opts.departures = vec!["early stopping read 7 comparisons.".into()];
    let md2 = summary_markdown(&runs, &opts).unwrap();
    let tex2 = summary_latex(&runs, &opts, "c").unwrap();
    let said = "**Not the paper's configuration:** early stopping read 7 comparisons.\n\n";
    assert_eq!(md2.replacen(said, "", 1), md, "{md2}");
    let said = "% Not the paper's configuration: early stopping read 7 comparisons.\n";
    assert_eq!(tex2.replacen(said, "", 1), tex, "{tex2}");
}

#[test]
fn both_definitions_and_the_interval_reach_the_tables() {
    // Two seeds of each: random ends at −0.50 (both seeds), good is the README's worked
    // example on both seeds, so every resample gives the same saving.
    let runs = [
        run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
        run("random", 2, &[-0.71, -0.61, -0.58, -0.53, -0.50]),
        run("good_one", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
        run("good_one", 2, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
    ];
    let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "good_one".into()]);
    opts.metrics = vec![("m".into(), "Test LL".into())];
    opts.bootstrap = 50;
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| Test LL | good_one | 2 | -0.4600 ± 0.0000 | 30 | 40.0% | [40.0%, 40.0%] |"),
        "{md}"
    );
    opts.saving = SavingDefinition::PaperScript;
    let md = summary_markdown(&runs, &opts).unwrap();
    assert!(
        md.contains("| Test LL | good_one | 2 | -0.4600 ± 0.0000 | 30 | 60.0% | [60.0%, 60.0%] |"),
        "{md}"
    );
    assert!(md.contains("saving: paper_script"), "{md}");
    // Strictly above its own final value never happens for a curve that ends at its best, so
    // under the paper's definition the baseline's own row is "not reached".
    opts.bootstrap = 0;
    let tex = summary_latex(&runs, &opts, "Savings of good_one.").unwrap();
    let golden = "% Made by `activepref report`; needs \\usepackage{booktabs}.
\\begin{table}[t]
\\centering
\\begin{tabular}{llrrr}
\\toprule
Metric & Policy & Final value & Labels to match & Saving \\\\
\\midrule
Test LL & random & $-0.5000 \\pm 0.0000$ & n.r. & -- \\\\
 & good\\_one & $-0.4600 \\pm 0.0000$ & 30 & 60.0\\% \\\\
\\bottomrule
\\end{tabular}
\\caption{Savings of good\\_one.}
\\end{table}
";
    assert_eq!(tex, golden);
}

#[test]
fn summary_csv_is_the_table_in_numbers() {
    // The worked example of `both_definitions_and_the_interval_reach_the_tables`, plus a
    // policy that never reaches the baseline's final value.
    let runs = [
        run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
        run("random", 2, &[-0.71, -0.61, -0.58, -0.53, -0.50]),
        run("good_one", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
        run("good_one", 2, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
        run("bad", 1, &[-0.9, -0.9, -0.9, -0.9, -0.8]),
    ];
    let order = vec!["random".into(), "good_one".into(), "bad".into()];
    let mut opts = ReportOptions::new(1, "random", order);
    opts.metrics = vec![("m".into(), "Test LL, final".into())];
    opts.bootstrap = 50;
    let csv = summary_csv(&runs, &opts).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "metric,title,policy,seeds,final_mean,final_stderr,baseline,reached_labels,saving,saving_low,saving_high,bootstrap_reached"
    );
    // First reach at 30 of random's 50 labels: saving 0.4; every resample agrees.
    assert_eq!(
        lines[2],
        "m,\"Test LL, final\",good_one,2,-0.46,0,random,30,0.4,0.4,0.4,1"
    );
    assert_eq!(lines[3], "m,\"Test LL, final\",bad,1,-0.8,0,random,,,,,0");
    assert_eq!(lines.len(), 4);
}

#[test]
fn metric_titles() {
    assert_eq!(metric_title("ood_brier"), "OOD test Brier score");
    assert_eq!(metric_title("test_accuracy"), "Test accuracy");
    assert_eq!(
        metric_title("heldout_log_likelihood"),
        "Held-out log-likelihood"
    );
}

#[test]
fn diagnostics_average_over_the_seeds_that_have_a_value() {
    let mut a = run("p", 1, &[0.0, 0.0, 0.0]);
    let mut b = run("p", 2, &[0.0, 0.0, 0.0]);
    a.diagnostics
        .insert("batch_unique_prompts".into(), vec![4.0, 2.0, f64::NAN]);
    b.diagnostics
        .insert("batch_unique_prompts".into(), vec![2.0, 2.0, f64::NAN]);
    let c = &aggregate_diagnostic(&[a, b], "batch_unique_prompts")[0];
    assert_eq!(
        (c.labels.clone(), c.mean.clone()),
        (vec![10, 20], vec![3.0, 2.0])
    );
    assert_eq!(c.stderr, vec![1.0 / 2f64.sqrt(), 0.0]);
}

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-report-{name}-"))
        .tempdir()
        .unwrap()
}

/// A report goes only into a directory of its own: a `report` that is a link to elsewhere (whose
/// files were overwritten) or a file is refused with one line; a missing one is created.
#[test]
fn a_report_directory_that_is_a_link_or_a_file_is_refused() {
    let tmp = scratch("own-dir");
    let dir = tmp.path();
    let fresh = dir.join("a/report");
    own_dir(&fresh).unwrap();
    assert!(fresh.is_dir());
    own_dir(&fresh).unwrap();
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("link")).unwrap();
    let e = own_dir(&dir.join("link")).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: is a symbolic link, and activepref writes a report only into a directory of its own; move it away and report again",
            dir.join("link").display()
        )
    );
    std::fs::write(dir.join("file"), "x").unwrap();
    let e = own_dir(&dir.join("file")).unwrap_err().to_string();
    assert!(e.contains(": is a file, and activepref"), "{e}");
}

/// A sweep manifest's variants are `<grid>/<point>`: one naming `../victim` sent the report
/// outside the results root.
#[test]
fn a_sweep_manifest_variant_outside_the_root_is_refused() {
    let tmp = scratch("manifest");
    let dir = tmp.path();
    std::fs::write(
        dir.join(activepref_experiment::results_dir::SWEEP_MANIFEST),
        r#"{ "variants": ["beta/beta=0.1", "../victim"] }"#,
    )
    .unwrap();
    let e = results::report_results(dir, results::ReportOverrides::default(), &mut vec![])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not activepref's sweep manifest (variant \"../victim\" is not <grid>/<point>)"),
        "{e}"
    );
    assert!(!dir.join("../victim").exists());
}
