//! Bad input gets exactly one line on stderr that names the file and the field, a non-zero exit
//! status, and never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

const GOOD: &str = "name: clitest
output_dir: OUT
benchmark: { kind: synthetic, pool_prompts: 80, validation_prompts: 30, test_prompts: 30, ood_prompts: 30 }
model: { members: 2, mlp: { hidden: [8], weight_init_std: 0.1 }, train: { lr: 0.003, max_epochs: 3 } }
loop: { initial_labels: 10, batch_size: 10, rounds: 2 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1]
";

/// A fresh scratch directory, removed when the returned `TempDir` is dropped.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("activepref-cli-")
        .tempdir()
        .unwrap()
}

/// Writes `yaml` into `dir` and runs `activepref <args> <file>`; returns (success, stdout, stderr).
fn activepref(dir: &Path, args: &[&str], yaml: &str) -> (bool, String, String) {
    let file = dir.join("exp.yaml");
    std::fs::write(
        &file,
        yaml.replace("OUT", &dir.join("out").display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .args(args)
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn assert_one_line_error(yaml: &str, must_contain: &[&str]) {
    let tmp = scratch();
    let (ok, _, err) = activepref(tmp.path(), &["validate"], yaml);
    assert!(!ok, "expected failure for:\n{yaml}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected, got:\n{err}"
    );
    assert!(
        err.starts_with("error: ") && err.contains("exp.yaml"),
        "{err}"
    );
    for s in must_contain {
        assert!(err.contains(s), "`{s}` missing from: {err}");
    }
}

#[test]
fn good_file_validates() {
    let tmp = scratch();
    let (ok, out, err) = activepref(tmp.path(), &["validate"], GOOD);
    assert!(ok, "{err}");
    assert!(
        out.contains(": ok")
            && out.contains("2 policies x 1 seed, 2 rounds, 10 initial + 10 per round, 2 members"),
        "{out}"
    );
    // Counts of one read in the singular.
    let one = GOOD
        .replace("members: 2", "members: 1")
        .replace("rounds: 2", "rounds: 1")
        .replace("  balpm: { policy: balpm, k: 5 }\n", "");
    let (ok, out, err) = activepref(tmp.path(), &["validate"], &one);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "1 policy x 1 seed, 1 round (10 initial labels, no batch acquired), 1 member\n"
        ),
        "{out}"
    );
}

/// With `--json` a failure is one JSON object on stdout (`ok: false` and the error line), and
/// still the one line on stderr and a failing exit status.
#[test]
fn json_failures_are_json_on_stdout() {
    let tmp = scratch();
    let (ok, out, err) = activepref(
        tmp.path(),
        &["validate", "--json"],
        &GOOD.replace("batch_size: 10", "batch_size: 100000"),
    );
    assert!(!ok);
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["ok"], false, "{out}");
    let line = doc["error"].as_str().unwrap();
    assert!(
        line.contains("loop.batch_size") && line.contains("exp.yaml"),
        "{line}"
    );
    assert_eq!(err.trim_end(), format!("error: {line}"));
    // Without --json stdout stays empty; another command's --json does the same.
    let (_, out, _) = activepref(tmp.path(), &["validate"], "name: [");
    assert!(out.is_empty(), "{out}");
    let (ok, out, _) = activepref(tmp.path(), &["sweep", "plan", "--json"], "name: [");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        !ok && doc["ok"] == false && doc["error"].as_str().is_some(),
        "{out}"
    );
}

/// `validate` and `sweep plan` check the `slurm:` section as `sweep slurm` would: a value on
/// two lines would write a second `#SBATCH` line into the job script.
#[test]
fn the_slurm_section_is_checked_by_validate() {
    let tmp = scratch();
    let bad = format!("{GOOD}slurm: {{ partition: \"gpu\\n#SBATCH --account=other\" }}\n");
    for cmd in [&["validate"][..], &["sweep", "plan"][..]] {
        let (ok, _, err) = activepref(tmp.path(), cmd, &bad);
        assert!(!ok, "{cmd:?}");
        assert!(
            err.contains(
                "exp.yaml: slurm.partition: is \"gpu\\n#SBATCH --account=other\"; must be one word"
            ),
            "{cmd:?}: {err}"
        );
    }
    assert_one_line_error(
        &format!("{GOOD}slurm: {{ time: forever }}\n"),
        &["slurm.time: is \"forever\"; must be a SLURM time limit"],
    );
    let (ok, _, err) = activepref(
        tmp.path(),
        &["validate"],
        &format!("{GOOD}slurm: {{ time: \"2-12:00:00\", mem: 64G }}\n"),
    );
    assert!(ok, "{err}");
}

#[test]
fn unknown_policy() {
    assert_one_line_error(
        &GOOD.replace("policy: random", "policy: randm"),
        &["policies.random", "unknown variant `randm`", "`bald`"],
    );
}

#[test]
fn malformed_yaml() {
    assert_one_line_error(
        &GOOD.replace("seeds: [1]", "seeds: [1"),
        &["line 9 column 8", "flow sequence"],
    );
}

#[test]
fn batch_larger_than_pool() {
    assert_one_line_error(
        &GOOD.replace("batch_size: 10", "batch_size: 100000"),
        &["loop.batch_size", "lower batch_size"],
    );
}

#[test]
fn validation_cap_of_zero_is_refused_and_a_cap_is_said() {
    let tmp = scratch();
    let capped = |n: &str| {
        GOOD.replace(
            "rounds: 2 }",
            &format!("rounds: 2, validation_size: {n} }}"),
        )
    };
    assert_one_line_error(
        &capped("0"),
        &["loop.validation_size", "at least 1", "leave it out"],
    );
    let (ok, out, err) = activepref(tmp.path(), &["validate"], &capped("7"));
    assert!(ok, "{err}");
    assert!(
        out.contains("early stopping on a seeded subset of 7 of the")
            && out.contains("the paper uses all"),
        "{out}"
    );
    assert_one_line_error(
        &capped("100000"),
        &[
            "loop.validation_size",
            "would change nothing",
            "leave it out",
        ],
    );
}

#[test]
fn k_larger_than_pool() {
    assert_one_line_error(
        &GOOD.replace("k: 5", "k: 100000"),
        &["policies.balpm.k", "lower k"],
    );
}

#[test]
fn zero_seeds() {
    assert_one_line_error(
        &GOOD.replace("seeds: [1]", "seeds: []"),
        &["seeds: is empty"],
    );
}

#[test]
fn missing_output_parent() {
    assert_one_line_error(
        &GOOD.replace("output_dir: OUT", "output_dir: /no/such/parent/out"),
        &["output_dir", "/no/such/parent"],
    );
}

/// `report` on a folder that holds a results directory two levels down (a project folder with
/// `results/<name>/`) is refused in one line, and nothing is written into it.
#[test]
fn report_on_a_folder_above_a_results_directory_writes_nothing() {
    let tmp = scratch();
    let (ok, _, err) = activepref(tmp.path(), &["run", "-q", "--no-report"], GOOD);
    assert!(ok, "{err}");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("results")).unwrap();
    let _ = std::fs::remove_dir_all(project.join("results/out"));
    std::fs::rename(tmp.path().join("out"), project.join("results/out")).unwrap();
    std::fs::write(project.join("notes.txt"), "mine").unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<_> = walk(d);
        v.sort();
        v
    };
    let before = listing(&project);
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .arg("report")
        .arg(&project)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_one_line(&err, &["a directory written by `activepref run`"]);
    assert_eq!(listing(&project), before, "nothing written");
}

/// Every file and folder under `d`, as paths.
fn walk(d: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(d)
        .map(|it| {
            it.filter_map(Result::ok)
                .flat_map(|e| {
                    let p = e.path();
                    let mut v = if p.is_dir() { walk(&p) } else { vec![] };
                    v.push(p);
                    v
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn missing_experiment_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .args(["run", "/no/such/file.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.starts_with("error: /no/such/file.yaml: cannot read")
            && err.trim_end().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn run_writes_results_and_report_then_resumes() {
    let tmp = scratch();
    let (ok, out, err) = activepref(tmp.path(), &["run", "-q"], GOOD);
    assert!(ok, "{err}");
    assert!(out.contains("clitest: 2 runs in "), "{out}");
    let dir = tmp.path().join("out");
    for f in [
        "config.resolved.yaml",
        "runs/random__seed1.csv",
        "runs/balpm__seed1.timings.csv",
        "report/curves.png",
        "report/curves.svg",
        "report/summary.md",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let (ok, out, _) = activepref(tmp.path(), &["run", "-q"], GOOD);
    assert!(ok && out.contains("2 runs (2 already finished"), "{out}");
}

/// Runs paused by `--max-rounds` get a partial report on request (a quick look at a long run
/// used to need the whole run): each run's rows so far, cut at the fewest rounds any finished,
/// in `partial/`; the rows are those the finished runs then write.
#[test]
fn paused_runs_get_a_partial_report() {
    let tmp = scratch();
    let yaml = GOOD.replace("rounds: 2 }", "rounds: 3 }");
    let (ok, out, err) = activepref(tmp.path(), &["run", "-q", "--max-rounds", "2"], &yaml);
    assert!(ok, "{err}");
    let dir = tmp.path().join("out");
    assert!(
        out.contains(&format!(
            "2 runs paused by --max-rounds; run the same command again to continue, or `activepref report {} --partial` for the curves so far",
            dir.display()
        )),
        "{out}"
    );
    // The ordinary report has no finished run to show.
    let report = |extra: &[&str]| {
        let mut args = vec!["report", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_with_env(&args, &[])
    };
    let (ok, _, err) = report(&[]);
    assert!(
        !ok && err.contains(&format!(
            "no finished run of this configuration yet (2 expected); 2 runs are paused or under way: `activepref run` on the same file finishes them, and `activepref report {} --partial` shows the rounds so far",
            dir.display()
        )),
        "{err}"
    );
    let (ok, _, err) = run_with_env(&["report", "--partial", tmp.path().to_str().unwrap()], &[]);
    assert!(
        !ok && err.contains("not a results directory (it has no config.resolved.yaml)"),
        "{err}"
    );
    let (ok, _, err) = report(&["--partial"]);
    assert!(ok, "{err}");
    let md = std::fs::read_to_string(dir.join("partial/report/summary.md")).unwrap();
    assert!(
        md.contains("**Partial report:** 2 of the 2 runs shown are unfinished, and every run is cut to its first 2 of 3 rounds, so the curves stop there"),
        "{md}"
    );
    assert!(!dir.join("report/summary.md").exists());
    let partial_rows = std::fs::read_to_string(dir.join("partial/runs/balpm__seed1.csv")).unwrap();
    assert_eq!(partial_rows.lines().count(), 3, "{partial_rows}");
    // Rows cut short by hand: that run is left out, named, and the others are shown.
    let balpm_rows = dir.join("runs/balpm__seed1.partial.csv");
    let kept = std::fs::read(&balpm_rows).unwrap();
    std::fs::write(&balpm_rows, &kept[..kept.len() - 5]).unwrap();
    let (ok, _, err) = report(&["--partial"]);
    assert!(ok, "{err}");
    // One run left to show: said in the singular.
    let md = std::fs::read_to_string(dir.join("partial/report/summary.md")).unwrap();
    assert!(
        md.contains("**Partial report:** the one run shown is unfinished, and every run is cut to its first 2 of 3 rounds"),
        "{md}"
    );
    assert!(
        err.contains("1 expected run left out of the partial report (balpm seed 1: its balpm__seed1.partial.csv has rows cut short or edited"),
        "{err}"
    );
    std::fs::write(&balpm_rows, &kept).unwrap();
    // Finished, the run file starts with the same rows and the partial file is gone.
    let (ok, _, err) = activepref(tmp.path(), &["run", "-q"], &yaml);
    assert!(ok, "{err}");
    let finished = std::fs::read_to_string(dir.join("runs/balpm__seed1.csv")).unwrap();
    assert!(
        finished.starts_with(&partial_rows),
        "{finished}\n{partial_rows}"
    );
    assert_eq!(finished.lines().count(), 4);
    assert!(!dir.join("runs/balpm__seed1.partial.csv").exists());
    let (ok, _, err) = report(&["--partial"]);
    assert!(
        !ok && err
            .contains("no unfinished run of this configuration has rows to show (2 finished)"),
        "{err}"
    );
    // --fresh clears the partial report with the rest of activepref's files.
    let (ok, _, err) = activepref(
        tmp.path(),
        &["run", "-q", "--fresh", "--max-rounds", "1"],
        &yaml,
    );
    assert!(ok, "{err}");
    assert!(!dir.join("partial").exists());
}

#[test]
fn policies_lists_the_registry() {
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .arg("policies")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for name in [
        "random",
        "bald",
        "balpm",
        "feature_shift: none",
        "k: 13",
        "batchbald",
        "power_bald",
        "deltaucb",
        "maxminlcb",
        "static_maxmin",
        // The ranges, as the checks state them.
        "ranges: k between 1 and the pool's size; beta in [0, 1e6]; d_tilde in (0, 1e6]; eps in (0, 1]",
        "ranges: group_size between 1 and the pool's size",
        "ranges: beta in [0, 1000]; threshold in [-1e6, 1e6]; decision_buffer in [0, 1e6]; tol in [0, 1e6]",
        "ranges: below in (0, ln 2 ≈ 0.693]",
        // The Thompson rules' draws and the pair loop's refits, with their defaults.
        "draw: member    the rewards of one ensemble member",
        "{ kind: from_scratch }",
        "{ kind: anchored, lr: 0.00005, batch_size: 64, max_samples: 6400, center_rewards: 0.01, lambda0: 1.0, decay_base: 0.9 }",
        "{ kind: per_label, labels_per_decay: 14.2 }",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
}

/// Runs `activepref <args>` with extra environment; returns (success, stdout, stderr).
fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn data_fixture(rel: &str) -> String {
    format!(
        "{}/../activepref-data/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn assert_one_line(err: &str, must_contain: &[&str]) {
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected, got:\n{err}"
    );
    for s in must_contain {
        assert!(err.contains(s), "`{s}` missing from: {err}");
    }
}

#[test]
fn inspect_prints_split_counts() {
    let (ok, out, err) = run_with_env(
        &[
            "inspect",
            "summarize-from-feedback",
            &data_fixture("summarize/comparisons.parquet"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("30 comparisons"), "{out}");
    let ood = out
        .lines()
        .find(|l| l.trim_start().starts_with("ood"))
        .unwrap();
    assert_eq!(
        ood.split_whitespace().take(3).collect::<Vec<_>>(),
        ["ood", "6", "3"],
        "{out}"
    );
}

#[test]
fn inspect_bad_input_is_one_line() {
    let (ok, _, err) = run_with_env(&["inspect", "tldr", "x.jsonl"], &[]);
    assert!(!ok);
    assert_one_line(
        &err,
        &[
            "error: invalid value 'tldr' for '<FORMAT>'",
            "[possible values: summarize-from-feedback, hh-rlhf, pairs, alpaca-eval, completions]",
        ],
    );
    let (ok, _, err) = run_with_env(&["inspect", "hh-rlhf", "/nonexistent/hh.jsonl.gz"], &[]);
    assert!(!ok);
    assert_one_line(&err, &["/nonexistent/hh.jsonl.gz: cannot read"]);
    let (ok, _, err) = run_with_env(&["inspect", "pairs", &data_fixture("pairs/pairs.csv")], &[]);
    assert!(!ok);
    assert_one_line(&err, &["field `prompt`: missing column", "--columns"]);
    // --features naming no store: said, not described as `"features": {}` with ok.
    let (ok, out, err) = run_with_env(
        &[
            "inspect",
            "--json",
            "summarize-from-feedback",
            &data_fixture("summarize/comparisons.parquet"),
            "--features",
            "/nonexistent-store",
        ],
        &[],
    );
    assert!(!ok);
    assert_one_line(
        &err,
        &["--features /nonexistent-store: holds none of this dataset's feature tables"],
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["ok"], false, "{out}");
}

/// `inspect <format> <dataset> --features <store> [--json]`: (success, stdout, stderr).
fn inspect_with_store(
    format: &str,
    dataset: &str,
    store: &Path,
    json: bool,
) -> (bool, String, String) {
    let store = store.to_str().unwrap();
    let mut a = vec!["inspect", format, dataset, "--features", store];
    if json {
        a.push("--json");
    }
    run_with_env(&a, &[])
}

/// `inspect --features` names the tables a run would still need: a store with the pool's
/// `pair_a` but not its `pair_b` (a new user's half-imported store was described as fine).
#[test]
fn inspect_names_the_feature_tables_a_run_still_needs() {
    let tmp = scratch();
    let store = tmp.path().join("store");
    let csv = tmp.path().join("pair.csv");
    std::fs::write(&csv, "id,0,1\na,0.5,1.5\n").unwrap();
    let (ok, _, err) = run_with_env(
        &[
            "import-features",
            &csv.display().to_string(),
            "--layout",
            "balpm-pair",
            "--split",
            "pool",
            "--out",
            &store.display().to_string(),
        ],
        &[],
    );
    assert!(ok, "{err}");
    std::fs::remove_file(store.join("pool/pair_b.safetensors")).unwrap();
    let dataset = data_fixture("summarize/comparisons.parquet");
    let args = |json: bool| inspect_with_store("summarize-from-feedback", &dataset, &store, json);
    let (ok, out, err) = args(true);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let missing: Vec<&str> = doc["features_missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // The fixture fills all four splits; the import wrote the pool's pair_a (and pair_b, removed).
    let mut expected = vec!["pool/pair_b".to_string(), "pool/prompt".to_string()];
    for split in ["validation", "test", "ood"] {
        expected.extend(["pair_a", "pair_b"].map(|t| format!("{split}/{t}")));
    }
    assert_eq!(missing, expected);
    let (ok, out, err) = args(false);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("  features missing: {} (a run needs pair_a and pair_b of every split and the pool's prompt; featurize or import them)", missing.join(", "))),
        "{out}"
    );
}

/// `inspect --features` on a candidate pool counts the responses a store covers: one made by
/// an interrupted featurize (here, every response but one) was described as fine.
#[test]
fn inspect_counts_the_candidate_responses_a_store_covers() {
    use activepref_data::assemble::candidate_ids;
    use activepref_data::feature_store::{FeatureTable, table_path};
    let tmp = scratch();
    let store = tmp.path().join("store");
    let rows = data_fixture("completions/rows.jsonl");
    let pool = activepref_data::sources::CandidateFormat::Completions
        .load(
            Path::new(&rows),
            activepref_data::formats::alpaca_eval::MissingPrompts::Keep,
        )
        .unwrap();
    let mut ids: Vec<String> = candidate_ids(&pool).into_iter().flatten().collect();
    let total = ids.len();
    ids.pop();
    let feats =
        activepref_core::FeatureMatrix::new(ids.len(), 2, vec![0.25; ids.len() * 2]).unwrap();
    FeatureTable::new(ids, feats, &store)
        .unwrap()
        .save(&table_path(&store, "candidates", "responses"))
        .unwrap();
    let args = |json: bool| inspect_with_store("completions", &rows, &store, json);
    let (ok, out, err) = args(true);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    // An empty store: the error gives the candidate layout, not the comparisons' one.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, err) = inspect_with_store("completions", &rows, &empty, false);
    assert!(
        !ok && err.contains("holds none of this dataset's feature tables (<store>/candidates/responses.safetensors); name the store `activepref featurize` wrote"),
        "{err}"
    );
    let want = format!(
        "candidates/responses covers {} of the pool's {total} responses",
        total - 1
    );
    assert_eq!(doc["features_missing"], serde_json::json!([want]), "{out}");
    let (ok, out, err) = args(false);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("  features missing: {want} (a run needs every candidate response's features; `activepref featurize` resumes, encoding only the missing ones)")),
        "{out}"
    );
}

/// import-features refuses an empty table, a score table of several columns and (without
/// --replace) a table the store holds; it overwrote one without a word.
#[test]
fn import_features_refuses_empty_tables_and_keeps_existing_ones() {
    let tmp = scratch();
    let dir = tmp.path();
    let out = dir.join("store").display().to_string();
    let csv = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let prompt = csv("prompt.csv", "id,0,1\na,0.5,1.5\nb,2.5,3.5\n");
    let import = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "import-features",
            file,
            "--layout",
            "balpm-prompt",
            "--split",
            "pool",
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        run_with_env(&args, &[])
    };
    let (ok, _, err) = import(&prompt, &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = import(&prompt, &[]);
    assert!(!ok);
    assert_one_line(
        &err,
        &["the store already holds this table; pass --replace"],
    );
    assert!(import(&prompt, &["--replace"]).0);
    let (ok, _, err) = import(&prompt, &["--table", "score"]);
    assert!(!ok);
    assert_one_line(
        &err,
        &["has 2 columns, but a score table holds one number per row"],
    );
}

#[test]
fn fetch_offline_without_cache_says_what_to_do() {
    let tmp = scratch();
    let home = tmp.path().join("hf-home");
    let home = home.display().to_string();
    let (ok, _, err) = run_with_env(
        &["fetch", "summarize-from-feedback"],
        &[("HF_HOME", &home), ("HF_HUB_OFFLINE", "1")],
    );
    assert!(!ok);
    assert_one_line(
        &err,
        &[
            "HF_HUB_OFFLINE is set",
            "openai/summarize_from_feedback",
            "hf-home/hub",
            "benchmark.path",
        ],
    );
    let (ok, _, err) = run_with_env(&["fetch", "tldr"], &[]);
    assert!(!ok);
    assert_one_line(&err, &["unknown dataset `tldr`", "summarize-from-feedback"]);
}

/// `--json` output is one JSON object with the same facts as the text.
fn json_of(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = run_with_env(args, &[]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[test]
fn policies_json_lists_every_registry() {
    let doc = json_of(&["policies", "--json"]);
    let names = |key: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Every registered policy, in the registry's order (the registry's own test pins the count).
    let pool: Vec<&str> = activepref_acquire::PolicySpec::all()
        .iter()
        .map(activepref_acquire::PolicySpec::name)
        .collect();
    let pair: Vec<&str> = activepref_acquire::PairPolicySpec::all()
        .iter()
        .map(activepref_acquire::PairPolicySpec::name)
        .collect();
    assert_eq!(names("pool_policies"), pool);
    assert_eq!(names("pair_policies"), pair);
    assert_eq!(names("thompson_draws"), ["uniform", "gaussian", "member"]);
    assert_eq!(names("pair_refits"), ["from_scratch", "anchored"]);
    assert_eq!(
        doc["pair_refits"][1]["defaults"]["max_samples"],
        serde_json::json!(6400)
    );
    assert_eq!(
        doc["anchor_decays"][1],
        serde_json::json!({ "kind": "reference", "scaler": 4308.0 })
    );
    assert_eq!(
        doc["stopping_rules"][2]["ranges"],
        serde_json::json!({ "kappa": "in (-1, 1]", "window": "between 1 and 1000000" })
    );
    assert_eq!(
        names("scores"),
        [
            "bald",
            "predictive",
            "aleatoric",
            "variance",
            "random",
            "latent_reward",
            "latent_reward_reference",
            "imported",
            "imported_low"
        ]
    );
    let balpm = doc["pool_policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "balpm")
        .unwrap();
    assert_eq!(balpm["defaults"]["k"], 13);
    assert_eq!(balpm["defaults"]["policy"], "balpm");
}

#[test]
fn validate_json_matches_the_text() {
    let tmp = scratch();
    let dir = tmp.path();
    let file = dir.join("json.yaml");
    std::fs::write(
        &file,
        GOOD.replace("OUT", &dir.join("out").display().to_string()),
    )
    .unwrap();
    let file = file.display().to_string();
    let doc = json_of(&["validate", "--json", &file]);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["setting"], "pool");
    assert_eq!(doc["policies"], serde_json::json!(["random", "balpm"]));
    assert_eq!(doc["loop"]["batch_size"], 10);
    let (_, text, _) = run_with_env(&["validate", &file], &[]);
    let pool = doc["benchmark"]["pool"].as_u64().unwrap();
    assert!(text.contains(&format!("pool {pool} /")), "{text}");
}

#[test]
fn inspect_json_has_the_split_counts() {
    let doc = json_of(&[
        "inspect",
        "--json",
        "summarize-from-feedback",
        &data_fixture("summarize/comparisons.parquet"),
    ]);
    assert_eq!(doc["comparisons"], 30);
    let ood = doc["splits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["split"] == "ood")
        .unwrap();
    assert_eq!(
        (ood["comparisons"].as_u64(), ood["prompts"].as_u64()),
        (Some(6), Some(3))
    );
}

#[test]
fn inspect_reads_a_datasets_directory_in_the_completions_layout() {
    let doc = json_of(&[
        "inspect",
        "--json",
        "completions",
        &data_fixture("completions/saved"),
    ]);
    assert_eq!(doc["format"], "completions");
    assert_eq!(
        (doc["files"].as_u64(), doc["prompts"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        doc["models"],
        serde_json::json!(["m-big", "m-small", "m-mid"])
    );
    assert_eq!(doc["responses"], 8);
    // By hand: (4.75 + 1.5 + 3.25 + 2 + 2 + 3.575 + 5 + 3) / 8.
    let mean = doc["judge_score"]["mean"].as_f64().unwrap();
    // One scale per prompt: "Name a colour." is scored from its annotations (5, 5, 3.575).
    assert!((mean - 31.075 / 8.0).abs() < 1e-6, "{mean}");
}

#[test]
fn no_command_prints_the_help_as_help() {
    // `activepref` alone (and `activepref sweep` alone) is a usage error that shows the help: it
    // keeps its lines, unlike the one-line usage errors.
    for args in [&[][..], &["sweep"][..]] {
        let (ok, _, err) = run_with_env(args, &[]);
        assert!(!ok, "{args:?}");
        assert!(err.lines().count() > 5, "{args:?}: {err}");
        assert!(err.contains("Usage: activepref"), "{args:?}: {err}");
    }
    let (_, _, err) = run_with_env(&[], &[]);
    assert!(
        err.lines().any(|l| l.trim_start().starts_with("run ")),
        "{err}"
    );
}

#[test]
fn help_lists_every_fixed_choice_and_completions_work() {
    let help = |cmd: &str| run_with_env(&[cmd, "--help"], &[]).1;
    let import = help("import-features");
    for v in [
        "balpm-pair",
        "balpm-prompt",
        "npy",
        "pool",
        "validation",
        "test",
        "ood",
        "pair_a",
        "pair_b",
        "prompt",
    ] {
        assert!(
            import.contains(v),
            "`{v}` missing from import-features --help:\n{import}"
        );
    }
    let featurize = help("featurize");
    for v in [
        "summarize-from-feedback",
        "hh-rlhf",
        "alpaca-eval",
        "completions",
        "pairs",
        "head",
        "tail",
        "cpu",
        "cuda",
        "libtorch",
        "libtorch_cuda",
        "vulkan",
    ] {
        assert!(
            featurize.contains(v),
            "`{v}` missing from featurize --help:\n{featurize}"
        );
    }
    assert!(help("bench-model").contains("libtorch"));
    // The bench runs end to end at tiny shapes (it once asked the model config for an evaluation
    // interval the config refuses).
    let (ok, out, err) = run_with_env(
        &[
            "bench-model",
            "--dim",
            "32",
            "--members",
            "2",
            "--pairs",
            "64",
            "--rows",
            "64",
            "--skip-encode",
        ],
        &[],
    );
    assert!(ok, "{err}");
    for key in ["sgemm_gflops ", "train_secs ", "score_gflops "] {
        assert!(out.lines().any(|l| l.starts_with(key)), "{key}: {out}");
    }
    // bench-round at tiny shapes with bf16 training: the header says which precision.
    let tiny_round = [
        "bench-round",
        "--rounds",
        "3",
        "--batch",
        "8",
        "--pool",
        "100",
        "--validation",
        "50",
        "--test",
        "50",
        "--ood",
        "10",
        "--dim",
        "32",
        "--members",
        "2",
        "--steps",
        "4",
        "--score-pairs",
        "64",
        "--labels",
        "8,16",
        "--precision",
        "bf16",
    ];
    let (ok, out, err) = run_with_env(&tiny_round, &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("training steps and validation passes in bf16")
            && out.contains("| **3 rounds** |"),
        "{out}"
    );
    // --against: a paused run's rounds next to their model, priced with the recorded work.
    let tmp = tempfile::Builder::new()
        .prefix("activepref-cli-against-")
        .tempdir()
        .unwrap();
    // A paused run's file with no `config.resolved.yaml` two levels up.
    let state = tmp
        .path()
        .join("paused/runs/activepref-cli-against.state.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(
        &state,
        r#"{"round":2,"acquired":[],"records":[{"round":0,"labels":8},{"round":1,"labels":16}],
            "timings":[{"round":0,"train_secs":0.5,"score_secs":0.25,"select_secs":0.0,"train_steps":2,"validation_passes":2,"kernels":"k"},
                       {"round":1,"train_secs":0.5,"score_secs":0.25,"select_secs":0.0,"kernels":"k"}]}"#,
    )
    .unwrap();
    let against = [&tiny_round[..], &["--against", state.to_str().unwrap()]].concat();
    let (ok, out, err) = run_with_env(&against, &[]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("| 0 | 8 | 1 | 1 | 0.5 / "))
            && out
                .lines()
                .any(|l| l.starts_with("| 1 | 16 | 4 (schedule) | 4 | 0.5 / "))
            && out.contains("| **2 rounds** | | | | | | **1.5 / "),
        "{out}"
    );
    // The run is not finished (2 of the bench's 3 rounds): its last round at the bound.
    assert!(
        out.contains("the whole run (3 rounds): the 2 recorded, ")
            && out.contains(" h real), then round 2 at the schedule's bound, "),
        "{out}"
    );
    // A run whose configuration the bench cannot model is refused, naming the flag or the cause.
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("runs")).unwrap();
    let paused = out.join("runs/balpm__seed1.state.json");
    std::fs::write(
        &paused,
        r#"{"round":1,"acquired":[],"records":[{"round":0,"labels":8}],"timings":[{"round":0,"train_secs":0.5,"score_secs":0.25,"select_secs":0.0}]}"#,
    )
    .unwrap();
    let resolved = out.join("config.resolved.yaml");
    for (model, says) in [
        (
            "{ members: 2, mlp: { hidden: [16] } }",
            "trained hidden layers [16] (tanh, ",
        ),
        ("{ members: 3 }", "trained with members 3 ("),
    ] {
        std::fs::write(
            &resolved,
            format!("name: t\nbenchmark: {{ kind: synthetic }}\nmodel: {model}\nseeds: [1]\n"),
        )
        .unwrap();
        let against = [&tiny_round[..], &["--against", paused.to_str().unwrap()]].concat();
        let (ok, _, err) = run_with_env(&against, &[]);
        assert!(
            !ok && err.contains(says) && err.lines().count() == 1,
            "{err}"
        );
    }
    let (ok, _, err) = run_with_env(
        &[
            "bench-round",
            "--pool",
            "200",
            "--rounds",
            "1",
            "--labels",
            "320",
        ],
        &[],
    );
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "error: --pool: 200 comparisons cannot supply 1 round of 320; raise --pool or lower --rounds"
    );
    let (ok, _, err) = run_with_env(&["bench-round", "--against", "summary.md"], &[]);
    assert!(!ok);
    assert!(
        err.starts_with("error: --against: summary.md: cannot read a run's recorded rounds"),
        "{err}"
    );
    // A list flag's bad item is the flag's error, not clap's "use `-- -1`" tip.
    for (cmd, flag) in [("bench-round", "--labels"), ("bench-knn", "--brute")] {
        for value in ["-1", "320,-1"] {
            let (ok, _, err) = run_with_env(&[cmd, flag, value], &[]);
            assert!(!ok);
            let placeholder = flag.trim_start_matches('-').to_uppercase();
            assert_eq!(
                err.lines().next().unwrap(),
                format!(
                    "error: invalid value '-1' for '{flag} <{placeholder}>': must be a whole number (0, 1, 2, ...)"
                )
            );
        }
    }
    let (ok, script, err) = run_with_env(&["completions", "bash"], &[]);
    assert!(ok, "{err}");
    assert!(
        script.contains("_activepref()") && script.contains("import-features"),
        "{script}"
    );
    let (ok, _, err) = run_with_env(
        &[
            "import-features",
            "x.npy",
            "--layout",
            "npz",
            "--split",
            "train",
            "--out",
            "o",
        ],
        &[],
    );
    assert!(!ok);
    assert_one_line(
        &err,
        &[
            "invalid value 'npz' for '--layout <LAYOUT>'",
            "balpm-pair, balpm-prompt, npy",
        ],
    );
}

/// A fresh directory of its own for a test that runs experiments, removed when dropped.
fn own_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-cli-{name}-"))
        .tempdir()
        .unwrap()
}

/// Runs `activepref <args>` in `cwd`; returns (exit code, stdout, stderr).
fn in_dir(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_run_in_a_pipe_logs_each_round_and_out_needs_no_results_folder() {
    // Issue 19: without a terminal a run printed nothing until it ended; `--out` failed in a
    // directory without `results/`.
    let tmp = own_dir("pipe");
    let dir = tmp.path();
    let yaml = GOOD.replace("output_dir: OUT\n", "");
    std::fs::write(dir.join("exp.yaml"), &yaml).unwrap();
    let (code, out, err) = in_dir(dir, &["run", "exp.yaml", "--out", "res"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote res/report/summary.md"), "{out}");
    assert!(out.contains("wrote res/report/results.parquet"), "{out}");
    for run in ["random__seed1", "balpm__seed1"] {
        for round in [1, 2] {
            let line = format!("{run}: round {round}/2 done;");
            assert!(err.contains(&line), "`{line}` missing from:\n{err}");
        }
    }
    assert!(
        err.contains("4/4 rounds in all") && err.contains("eta"),
        "{err}"
    );
    assert!(!dir.join("results").exists());
    // The curves behind the figure, as CSV: policy, labels, mean, s.e., seeds.
    let curve =
        std::fs::read_to_string(dir.join("res/report/curve-test_log_likelihood.csv")).unwrap();
    assert!(
        curve.starts_with("policy,labels,mean,stderr,seeds\nrandom,10,"),
        "{curve}"
    );
    assert_eq!(curve.lines().count(), 1 + 2 * 2);
    // The report's flags are checked exactly as their YAML twins.
    let (code, _, err) = in_dir(dir, &["report", "res", "--window", "0"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: --window: is 0; must be between 1 and 10000 (1 = no smoothing)\n"
    );
    // A window as long as the runs is a running mean of the whole curve: said, not refused.
    for window in ["2", "5"] {
        let (code, _, err) = in_dir(dir, &["report", "res", "--window", window]);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains(&format!(
                "the smoothing window ({window} rounds) is as long as each run (2 rounds) or longer"
            )) && err.contains("`activepref report res --window 1` or less"),
            "{err}"
        );
    }
    let (code, _, err) = in_dir(dir, &["report", "res", "--window", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("smoothing window"), "{err}");
    // --saving is spelt as in experiment files and reports; the hyphenated form is accepted too.
    for saving in ["paper_script", "paper-script", "first_reach", "first-reach"] {
        let (code, _, err) = in_dir(dir, &["report", "res", "--saving", saving]);
        assert_eq!(code, 0, "{saving}: {err}");
        let md = std::fs::read_to_string(dir.join("res/report/summary.md")).unwrap();
        let spelt = saving.replace('-', "_");
        assert!(
            md.contains(&format!("(`saving: {spelt}`)")),
            "{saving}: {md}"
        );
    }
    // --out is named as --out, its path as given (a folder called output_dir included).
    let (code, _, err) = in_dir(dir, &["run", "exp.yaml", "--out", "none/output_dir/res"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: --out: the parent directory `none/output_dir` does not exist; create it or choose another --out\n"
    );
    let (code, _, err) = in_dir(
        dir,
        &["report", "res", "--bootstrap", "18446744073709551615"],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with(
            "error: --bootstrap: is 18446744073709551615; must be between 0 and 1000000"
        ),
        "{err}"
    );
    // A negative or fractional count is the flag's error, not clap's "use `-- -1`" tip.
    for bad in ["-1", "2.5"] {
        let (code, _, err) = in_dir(dir, &["report", "res", "--window", bad]);
        assert_eq!(code, 2);
        assert_eq!(
            err.lines().next().unwrap(),
            format!(
                "error: invalid value '{bad}' for '--window <WINDOW>': must be a whole number (0, 1, 2, ...)"
            )
        );
    }
    // `output_dir: ""` would be the working directory, which it did not see as one: it wrote
    // a run there, beside the user's files. Refused.
    std::fs::write(dir.join("empty.yaml"), format!("output_dir: ''\n{yaml}")).unwrap();
    let (code, _, err) = in_dir(dir, &["run", "empty.yaml", "-q"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "error: empty.yaml: output_dir: is empty; name a directory, or leave output_dir out to write to results/<name>\n"
    );
    assert!(!dir.join("runs").exists());
    // `--out . --fresh` never clears the working directory (which holds the experiment file).
    let (code, _, err) = in_dir(dir, &["run", "exp.yaml", "--out", ".", "--fresh", "-q"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("did not write") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    assert!(dir.join("exp.yaml").exists() && dir.join("res/report/summary.md").exists());
}

#[test]
fn ctrl_c_says_how_to_resume_and_the_rerun_resumes() {
    // Issue 19: Ctrl-C exited 130 without a word about resuming.
    let tmp = own_dir("sigint");
    let dir = tmp.path();
    let yaml = GOOD
        .replace("output_dir: OUT\n", "")
        .replace("rounds: 2", "rounds: 6")
        .replace("pool_prompts: 80", "pool_prompts: 400")
        .replace("seeds: [1]", "seeds: [1, 2, 3, 4]");
    std::fs::write(dir.join("exp.yaml"), &yaml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .current_dir(dir)
        .args(["--threads", "1", "run", "exp.yaml", "--out", "res"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first round is saved, interrupt.
    let state = dir.join("res/runs/random__seed1.state.json");
    let start = std::time::Instant::now();
    while !state.exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if ok && out.status.code() == Some(130) {
        assert!(
            err.contains("interrupted: every finished round is saved; run the same command"),
            "{err}"
        );
        let (code, out, err) = in_dir(dir, &["run", "exp.yaml", "--out", "res", "-q"]);
        assert_eq!(code, 0, "{err}");
        // `exp: 8 runs (F already finished, R rounds resumed)`, zero counts left out: the work
        // before the signal counts.
        assert!(
            out.contains(" already finished") || out.contains(" resumed)"),
            "{out}"
        );
    } else {
        // The run ended before the signal arrived: nothing to check but a clean exit.
        assert!(out.status.success(), "{err}");
    }
}
