//! Sweeps end to end through the binary: the plan and its ids, `--only`, SLURM scripts, and a
//! sweep killed with SIGKILL and rerun.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A two-point sweep over BAL-PM's β on a tiny benchmark; `OUT` is the results root.
const SWEEP: &str = "name: sweeptest
output_dir: OUT
benchmark: { kind: synthetic, pool_prompts: 80, validation_prompts: 30, test_prompts: 30, ood_prompts: 30 }
model: { members: 2, mlp: { hidden: [8], weight_init_std: 0.1 }, train: { lr: 0.003, max_epochs: 3 } }
loop: { initial_labels: 10, batch_size: 10, rounds: ROUNDS }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1, 2]
sweep:
  beta:
    policies.balpm.beta: [0.1, 0.001]
slurm: { partition: short, time: \"02:00:00\", cpus_per_task: 2, mem: 4G, max_parallel: 3 }
";

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-sweep-{name}-"))
        .tempdir()
        .unwrap()
}

/// Writes the sweep file with its results root at `out`.
fn sweep_file(dir: &Path, out: &Path, rounds: usize) -> PathBuf {
    let file = dir.join("sweep.yaml");
    let text = SWEEP
        .replace("OUT", &out.display().to_string())
        .replace("ROUNDS", &rounds.to_string());
    std::fs::write(&file, text).unwrap();
    file
}

fn activepref(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Every finished run file under `root` as (relative path, text), sorted.
fn run_files(root: &Path) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.to_string_lossy().into_owned();
                if name.contains("/runs/")
                    && name.ends_with(".csv")
                    && !name.ends_with(".timings.csv")
                    && !name.ends_with(".partial.csv")
                {
                    let rel = p.strip_prefix(root).unwrap().display().to_string();
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plan_ids_are_stable_golden() {
    // The results root is a fixed absolute path (nothing is written), so the text is the same on
    // every machine; the ids are hashes of the resolved run configurations.
    let tmp = scratch("plan");
    let dir = tmp.path();
    let file = sweep_file(dir, Path::new("/tmp/activepref-plan-golden"), 2);
    let (ok, text, err) = activepref(&["sweep", "plan", &file.display().to_string()]);
    assert!(ok, "{err}");
    let text = text.replace(&file.display().to_string(), "sweep.yaml");
    let golden = "sweep.yaml: 2 grid points, 8 runs
id            grid point       policy    seed  results
GOLDEN
";
    let (head, rows): (Vec<&str>, Vec<&str>) = (
        text.lines().take(2).collect(),
        text.lines().skip(2).collect(),
    );
    assert_eq!(head.join("\n") + "\nGOLDEN\n", golden, "{text}");
    let expected = [
        ("beta/beta=0.1", "random", 1),
        ("beta/beta=0.1", "random", 2),
        ("beta/beta=0.1", "balpm", 1),
        ("beta/beta=0.1", "balpm", 2),
        ("beta/beta=0.001", "random", 1),
        ("beta/beta=0.001", "random", 2),
        ("beta/beta=0.001", "balpm", 1),
        ("beta/beta=0.001", "balpm", 2),
    ];
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    for (row, (variant, policy, seed)) in rows.iter().zip(expected) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cols[1..4], &[variant, policy, &seed.to_string()], "{row}");
        assert_eq!(cols[4], format!("/tmp/activepref-plan-golden/{variant}"));
    }
    assert_eq!(
        ids, GOLDEN_IDS,
        "run ids changed: they must be the same on every machine and run"
    );
    // Twice gives the same bytes; --json carries the same ids.
    let (_, again, _) = activepref(&["sweep", "plan", &file.display().to_string()]);
    assert_eq!(
        again.replace(&file.display().to_string(), "sweep.yaml"),
        text
    );
    let (_, json, _) = activepref(&["sweep", "plan", "--json", &file.display().to_string()]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let json_ids: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(json_ids, ids);
}

/// The ids of the golden plan (computed once; any change to them is a breaking change).
const GOLDEN_IDS: [&str; 8] = [
    "6778c4b5324e",
    "855807aecd5b",
    "d28ad049d52b",
    "725ac395f9b6",
    "631971a35d0d",
    "e7c687515ff2",
    "60f9a1aa0046",
    "d9bf42c45145",
];

#[test]
fn only_runs_one_run_with_the_bytes_of_the_full_sweep() {
    let tmp = scratch("only");
    let dir = tmp.path();
    let (full, one) = (dir.join("full"), dir.join("one"));
    let file_full = sweep_file(dir, &full, 2);
    let (ok, _, err) = activepref(&["run", "-q", &file_full.display().to_string()]);
    assert!(ok, "{err}");
    assert_eq!(run_files(&full).len(), 8);
    assert!(
        full.join("beta/ablation/balpm.png").exists()
            && full.join("beta/beta=0.1/report/summary.md").exists()
    );
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let file_one = sweep_file(&sub, &one, 2);
    let (_, plan, _) = activepref(&["sweep", "plan", &file_one.display().to_string()]);
    let row = plan
        .lines()
        .find(|l| {
            l.contains("beta/beta=0.001")
                && l.contains("balpm")
                && l.split_whitespace().nth(3) == Some("2")
        })
        .unwrap();
    let id = row.split_whitespace().next().unwrap();
    let (ok, _, err) = activepref(&["run", "-q", "--only", id, &file_one.display().to_string()]);
    assert!(ok, "{err}");
    let files = run_files(&one);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].0, "beta/beta=0.001/runs/balpm__seed2.csv");
    assert_eq!(
        files[0],
        run_files(&full)
            .into_iter()
            .find(|(n, _)| *n == files[0].0)
            .unwrap()
    );
    let (ok, _, err) = activepref(&["run", "--only", "nosuchid", &file_one.display().to_string()]);
    assert!(
        !ok && err.contains("--only: no run") && err.contains("sweep plan"),
        "{err}"
    );
    // The ablation table keeps the file's order (0.1 before 0.001, not the sorted one), and one
    // tidy table holds every grid point's rows.
    let ablation = std::fs::read_to_string(full.join("beta/ablation/ablation.md")).unwrap();
    let (a, b) = (
        ablation.find("| beta=0.1 |").unwrap(),
        ablation.find("| beta=0.001 |").unwrap(),
    );
    assert!(a < b, "{ablation}");
    assert!(full.join("results.parquet").is_file());
    // An unfinished sweep: the report says which runs it leaves out instead of averaging fewer
    // seeds without a word.
    std::fs::remove_file(full.join("beta/beta=0.001/runs/balpm__seed2.csv")).unwrap();
    let (ok, _, err) = activepref(&["report", &full.display().to_string()]);
    assert!(ok, "{err}");
    assert!(
        err.contains("1 expected run left out of the report (balpm seed 2: not finished)"),
        "{err}"
    );
    let summary = std::fs::read_to_string(full.join("beta/beta=0.001/report/summary.md")).unwrap();
    assert!(
        summary.contains("## Runs left out") && summary.contains("- balpm seed 2: not finished"),
        "{summary}"
    );
    let ablation = std::fs::read_to_string(full.join("beta/ablation/ablation.md")).unwrap();
    assert!(
        ablation.contains("- grid point beta=0.001: balpm seed 2: not finished"),
        "{ablation}"
    );
    // Without its manifest the root is still a sweep: its grid points' markers name them.
    std::fs::remove_file(full.join("activepref-sweep.json")).unwrap();
    std::fs::remove_file(full.join("beta/ablation/ablation.md")).unwrap();
    let (ok, _, err) = activepref(&["report", &full.display().to_string()]);
    assert!(ok, "{err}");
    assert!(full.join("beta/ablation/ablation.md").is_file());
    // A grid point whose baseline has no finished run: named, no report of its own half
    // written, every other point and the ablation reported, and the command fails at the end.
    let point = full.join("beta/beta=0.1");
    for seed in [1, 2] {
        std::fs::remove_file(point.join(format!("runs/random__seed{seed}.csv"))).unwrap();
    }
    std::fs::remove_dir_all(point.join("report")).unwrap();
    std::fs::remove_file(full.join("beta/ablation/ablation.md")).unwrap();
    std::fs::remove_file(full.join("beta/beta=0.001/report/summary.md")).unwrap();
    let (ok, _, err) = activepref(&["report", &full.display().to_string()]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "warning: grid point {}: not reported: no finished runs of the baseline policy `random`",
            point.display()
        )) && err
            .lines()
            .last()
            .unwrap()
            .starts_with("error: 1 grid point could not be reported")
            && err.trim_end().ends_with(&point.display().to_string()),
        "{err}"
    );
    assert!(!point.join("report").exists());
    assert!(full.join("beta/beta=0.001/report/summary.md").is_file());
    let ablation = std::fs::read_to_string(full.join("beta/ablation/ablation.md")).unwrap();
    assert!(
        ablation.contains(
            "- grid point beta=0.1: not reported (no finished runs of the baseline policy `random`"
        ),
        "{ablation}"
    );
    // No point with a finished run: the command fails, as for one experiment, instead of
    // exiting 0 with only a warning per point.
    for point in ["beta/beta=0.1", "beta/beta=0.001"] {
        std::fs::remove_dir_all(full.join(point).join("runs")).unwrap();
    }
    let (ok, _, err) = activepref(&["report", &full.display().to_string()]);
    assert!(
        !ok && err.contains(&format!(
            "error: {}: no grid point of this sweep has a finished run yet (2 grid points); `activepref run` on the sweep's file runs them",
            full.display()
        )),
        "{err}"
    );
}

#[test]
fn slurm_scripts_hold_one_task_per_run_id() {
    let tmp = scratch("slurm");
    let dir = tmp.path();
    let file = sweep_file(dir, &dir.join("results"), 2);
    let out = dir.join("slurm");
    let (ok, _, err) = activepref(&[
        "sweep",
        "slurm",
        &file.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--mem",
        "8G",
    ]);
    assert!(ok, "{err}");
    let (_, plan, _) = activepref(&["sweep", "plan", &file.display().to_string()]);
    let ids: Vec<&str> = plan
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let runs = std::fs::read_to_string(out.join("runs.txt")).unwrap();
    assert_eq!(runs.lines().collect::<Vec<_>>(), ids);
    let array = std::fs::read_to_string(out.join("array.sbatch")).unwrap();
    for line in [
        "#SBATCH --job-name=sweeptest",
        "#SBATCH --array=0-7%3",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=8G",
        "#SBATCH --time=02:00:00",
        "#SBATCH --partition=short",
        "id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\"",
    ] {
        assert!(array.contains(line), "`{line}` missing:\n{array}");
    }
    assert!(
        array.contains(&format!("run {} --only \"$id\" --quiet", file.display())),
        "{array}"
    );
    let merge = std::fs::read_to_string(out.join("merge.sbatch")).unwrap();
    assert!(
        merge.contains(&format!("report {}", dir.join("results").display())),
        "{merge}"
    );
    // The report job runs where the array runs (a cluster may require the partition), on its own
    // small resources.
    assert!(
        merge.contains("#SBATCH --partition=short\n")
            && merge.contains("#SBATCH --mem=4G\n")
            && merge.contains("#SBATCH --time=01:00:00\n"),
        "{merge}"
    );
    let submit = std::fs::read_to_string(out.join("submit.sh")).unwrap();
    assert!(
        submit.contains("sbatch --parsable array.sbatch")
            && submit.contains("--dependency=afterany:${array}"),
        "{submit}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(out.join("submit.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0o111
    );
}

/// `sweep slurm` rewrites its own scripts, never a user's file of the same name or a link; a
/// working directory with a space reaches `cd` as one word (it split into two).
#[test]
fn slurm_scripts_replace_only_their_own_files_and_quote_paths() {
    let tmp = scratch("slurm-own");
    let dir = tmp.path();
    let file = sweep_file(dir, &dir.join("results"), 2);
    let out = dir.join("slurm");
    let slurm = |cwd: &Path, out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_activepref"))
            .current_dir(cwd)
            .args(["sweep", "slurm", &file.display().to_string(), "--out"])
            .arg(out)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let spaced = dir.join("my runs");
    std::fs::create_dir_all(&spaced).unwrap();
    let (ok, err) = slurm(&spaced, &out);
    assert!(ok, "{err}");
    let array = std::fs::read_to_string(out.join("array.sbatch")).unwrap();
    assert!(
        array.contains(&format!("cd '{}'\n", spaced.display())),
        "{array}"
    );
    // Its own files again: rewritten.
    assert!(slurm(dir, &out).0);
    // A user's submit.sh: refused, and left as it was.
    std::fs::write(out.join("submit.sh"), "my own script\n").unwrap();
    let (ok, err) = slurm(dir, &out);
    assert!(!ok);
    assert_eq!(
        err,
        format!(
            "error: {}: is a file that sweep slurm did not write, and it replaces only its own files; choose another --out, or move it away\n",
            out.join("submit.sh").display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join("submit.sh")).unwrap(),
        "my own script\n"
    );
    // A link where a script goes: refused, its target untouched.
    std::fs::remove_file(out.join("submit.sh")).unwrap();
    std::fs::write(dir.join("precious.txt"), "mine\n").unwrap();
    std::fs::remove_file(out.join("array.sbatch")).unwrap();
    std::os::unix::fs::symlink(dir.join("precious.txt"), out.join("array.sbatch")).unwrap();
    let (ok, err) = slurm(dir, &out);
    assert!(
        !ok && err.contains("array.sbatch: is a symbolic link"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("precious.txt")).unwrap(),
        "mine\n"
    );
    // A log directory sbatch cannot name (#SBATCH lines are read without a shell).
    let (ok, err) = slurm(dir, &dir.join("out 2"));
    assert!(
        !ok && err.contains("which an #SBATCH --output line cannot carry"),
        "{err}"
    );
}

#[test]
fn a_sweep_killed_with_sigkill_resumes_to_the_same_files() {
    let tmp = scratch("kill");
    let dir = tmp.path();
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    let (w, k) = (dir.join("w"), dir.join("k"));
    std::fs::create_dir_all(&w).unwrap();
    std::fs::create_dir_all(&k).unwrap();
    let file_whole = sweep_file(&w, &whole, 10);
    let file_killed = sweep_file(&k, &killed, 10);
    let (ok, _, err) = activepref(&[
        "--threads",
        "1",
        "run",
        "-q",
        "--no-report",
        &file_whole.display().to_string(),
    ]);
    assert!(ok, "{err}");
    // Start the same sweep, wait until some run has checkpointed a round, then SIGKILL it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_activepref"))
        .args([
            "--threads",
            "1",
            "run",
            "-q",
            "--no-report",
            &file_killed.display().to_string(),
        ])
        .spawn()
        .unwrap();
    let started = Instant::now();
    let checkpointed = || {
        std::fs::read_dir(killed.join("beta/beta=0.1/runs"))
            .map(|it| {
                it.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().ends_with(".state.json"))
            })
            .unwrap_or(false)
    };
    while !checkpointed() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let was_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        was_running,
        "the sweep finished before it could be killed; make it longer"
    );
    assert!(
        run_files(&killed).len() < 8,
        "killed before every run finished"
    );
    let (ok, out, err) = activepref(&[
        "run",
        "-q",
        "--no-report",
        &file_killed.display().to_string(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(" resumed)") || out.contains("already finished"),
        "{out}"
    );
    assert_eq!(run_files(&killed), run_files(&whole));
}

/// `sweep plan` on the test sweep (in scratch folder `name`) with `from` replaced by `to`, which
/// must fail; returns its error output.
fn refused_plan(name: &str, from: &str, to: &str) -> String {
    let tmp = scratch(name);
    let dir = tmp.path();
    let file = dir.join("s.yaml");
    let text = SWEEP
        .replace("OUT", &dir.join("out").display().to_string())
        .replace("ROUNDS", "2");
    assert!(text.contains(from), "{from}");
    std::fs::write(&file, text.replace(from, to)).unwrap();
    let (ok, _, err) = activepref(&["sweep", "plan", &file.display().to_string()]);
    assert!(!ok, "{to}: accepted");
    err
}

#[test]
fn grid_points_that_give_the_same_runs_are_refused() {
    let err = refused_plan(
        "dupes",
        "policies.balpm.beta: [0.1, 0.001]",
        "report.smoothing_window: [1, 3]",
    );
    assert!(
        err.contains(
            "grid points `beta/smoothing_window=1` and `beta/smoothing_window=3` give the same runs"
        ),
        "{err}"
    );
}

/// A grid name is a folder under the sweep's root: `..` would put its results beside it.
#[test]
fn a_grid_name_of_dots_is_refused() {
    let err = refused_plan("dots", "  beta:\n", "  ..:\n");
    assert!(
        err.contains("sweep...: a grid name may use only") && err.contains("not dots alone"),
        "{err}"
    );
}

#[test]
fn the_papers_sweeps_can_be_planned_before_the_data_lands() {
    // Issue 20: `sweep plan` on balpm-tldr*.yaml stopped at "benchmark.path does not exist".
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in [
        "experiments/balpm-tldr.yaml",
        "experiments/balpm-tldr-ablations.yaml",
        "experiments/auf-ultrafeedback.yaml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
            .current_dir(&repo)
            .args(["sweep", "plan", file])
            .output()
            .unwrap();
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{file}: {err}");
        assert!(text.contains(" runs"), "{file}: {text}");
        assert!(
            err.contains("note: ")
                && err.contains("does not exist")
                && err.contains("`validate` and `run` need it"),
            "{file}: {err}"
        );
        // validate still needs the data.
        let out = Command::new(env!("CARGO_BIN_EXE_activepref"))
            .current_dir(&repo)
            .args(["validate", file])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("benchmark.path:"),
            "{file}: {err}"
        );
        // Every grid point shares the missing data: none is named (the first checked was).
        assert!(!err.contains("grid point"), "{file}: {err}");
    }
}

#[test]
fn the_ablation_baseline_must_name_a_grid_point() {
    let tmp = scratch("ablation-baseline");
    let dir = tmp.path();
    let file = dir.join("s.yaml");
    let text = SWEEP
        .replace("OUT", &dir.join("out").display().to_string())
        .replace("ROUNDS", "2")
        .replace(
            "seeds: [1, 2]",
            "seeds: [1, 2]\nreport: { ablation_baseline: beta=7 }",
        );
    std::fs::write(&file, &text).unwrap();
    let (ok, _, err) = activepref(&["sweep", "plan", &file.display().to_string()]);
    assert!(!ok);
    assert!(
        err.contains("report.ablation_baseline: `beta=7` is not a grid point of this sweep; name one of: beta=0.1, beta=0.001"),
        "{err}"
    );
    std::fs::write(&file, text.replace("beta=7", "beta=0.001")).unwrap();
    let (ok, _, err) = activepref(&["sweep", "plan", &file.display().to_string()]);
    assert!(ok, "{err}");
}

/// A grid over `loop.validation_size`: the capped point's own reports (summary, stopping) and the
/// grid's ablation report each say that it is not the paper's configuration, naming the point;
/// the uncapped point's reports say nothing.
#[test]
fn a_capped_grid_point_is_named_in_every_report() {
    let tmp = scratch("departures");
    let dir = tmp.path();
    let out = dir.join("out");
    let file = dir.join("s.yaml");
    let text = SWEEP
        .replace("OUT", &out.display().to_string())
        .replace("ROUNDS", "2")
        .replace(
            "seeds: [1, 2]",
            "seeds: [1]\nreport: { stopping: [{ rule: validation_plateau, patience: 1 }] }",
        )
        .replace(
            "beta:\n    policies.balpm.beta: [0.1, 0.001]",
            "vcap:\n    loop.validation_size: [null, 6]",
        );
    assert!(text.contains("validation_size"), "{text}");
    std::fs::write(&file, &text).unwrap();
    let (ok, _, err) = activepref(&["run", &file.display().to_string()]);
    assert!(ok, "{err}");
    let read = |rel: &str| std::fs::read_to_string(out.join(rel)).unwrap();
    let said =
        "early stopping read a seeded subset of 6 validation comparisons (`loop.validation_size`)";
    for rel in ["summary.md", "stopping.md", "summary.tex"] {
        let capped = read(&format!("vcap/validation_size=6/report/{rel}"));
        assert!(
            capped.contains(&format!("Not the paper's configuration: {said}"))
                || capped.contains(&format!("**Not the paper's configuration:** {said}")),
            "{rel}: {capped}"
        );
        let whole = read(&format!("vcap/validation_size=null/report/{rel}"));
        assert!(!whole.contains("Not the paper's"), "{rel}: {whole}");
    }
    let md = read("vcap/ablation/ablation.md");
    assert!(
        md.contains(&format!(
            "**Not the paper's configuration** (grid point validation_size=6): {said}"
        )),
        "{md}"
    );
    assert!(!md.contains("validation_size=null):"), "{md}");
    let tex = read("vcap/ablation/ablation.tex");
    assert!(
        tex.contains(&format!(
            "% Not the paper's configuration (grid point validation_size=6): {said}"
        )),
        "{tex}"
    );
}
