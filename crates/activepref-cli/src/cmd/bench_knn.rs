//! `activepref bench-knn`: BAL-PM's kNN term at paper scale, side by side with the reference's
//! torch pass, on this machine, in one run. Each measurement runs in a fresh child process so that
//! its peak memory is its own.

use anyhow::anyhow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use activepref_acquire::{BalPm, BalPmConfig, BalPmTrace, PoolState, PromptKnnIndex, index_k_for};
use activepref_benches::{PAPER_BATCH, SelectionFixture, cpu_model, sgemm_gflops};
use activepref_data::synthetic::SyntheticPoolConfig;

use super::data::peak_rss_mib;
use crate::say;

/// The arguments of `activepref bench-knn`; the hidden `--part` runs one measurement in a child.
#[derive(clap::Args, Debug)]
pub struct BenchKnnArgs {
    /// Comparisons in the pool of the index measurement (the paper's TL;DR pool by default).
    #[arg(long, default_value_t = 92_858, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub pool: usize,
    /// Prompt-feature dimension (the paper's Hermes features: 4,096).
    #[arg(long, default_value_t = 4_096, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub dim: usize,
    /// Comparisons per distinct prompt in the index measurement (1 = worst case: all distinct).
    #[arg(long, default_value_t = 1, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub dup: usize,
    /// Pool sizes at which brute force, the index and torch are compared.
    #[arg(long, value_delimiter = ',', value_parser = crate::whole_number, allow_negative_numbers = true, default_value = "2048,4096")]
    pub brute: Vec<usize>,
    /// A Python with torch for the reference-style pass (scripts/knn_reference_pass.py).
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<PathBuf>,
    /// Also generate the paper-scale synthetic benchmark and time one selection on it.
    #[arg(long)]
    pub synthetic: bool,
    /// Where bench-knn.csv goes.
    #[arg(long, value_name = "DIR", default_value = "results/bench-knn")]
    pub out: PathBuf,
    /// Internal: run one measurement and print it.
    #[arg(long, value_name = "PART", hide = true)]
    pub part: Option<String>,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / 1048576.0
}

/// `f()` and the seconds it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Builds the index of `state`'s prompt table and selects one batch with it: the index, the
/// trace, and the build and selection seconds.
fn build_and_select(
    policy: &BalPm,
    state: PoolState<'_>,
    k: usize,
) -> anyhow::Result<(PromptKnnIndex, BalPmTrace, f64, f64)> {
    let (index, build) = timed(|| PromptKnnIndex::build(state.prompt_features.table(), k, &|_| {}));
    let (trace, select) = timed(|| {
        policy.select_traced(
            &PoolState {
                prompt_index: Some(&index),
                ..state
            },
            PAPER_BATCH,
        )
    });
    Ok((index, trace?, build, select))
}

/// Child mode: one measurement, printed as `key value` pairs on one line.
fn part(name: &str, args: &BenchKnnArgs) -> anyhow::Result<()> {
    let policy = BalPm::new(BalPmConfig::default());
    let k = index_k_for(policy.config.k);
    let line = match name {
        "gemm" => format!("gflops {:.1}", sgemm_gflops(2_048)),
        "index" => {
            let (fx, gen_secs) = timed(|| {
                SelectionFixture::random(
                    args.pool - PAPER_BATCH,
                    PAPER_BATCH,
                    args.dim,
                    args.dup,
                    9,
                )
            });
            let (index, trace, build, select) = build_and_select(&policy, fx.state(), k)?;
            let features = mib(fx.prompts.table_bytes());
            format!(
                "distinct {} gen_secs {gen_secs:.2} build_secs {build:.2} select_secs {select:.3} picks {} index_mib {:.1} features_mib {features:.1} peak_mib {:.1}",
                fx.prompts.table().rows(),
                trace.picks.len(),
                mib(index.memory_bytes()),
                peak_rss_mib().unwrap_or(f64::NAN)
            )
        }
        brute if brute.starts_with("brute") => {
            let n: usize = brute["brute".len()..]
                .parse()
                .map_err(|_| anyhow!("bad part {brute}"))?;
            let fx = SelectionFixture::random(n, PAPER_BATCH, args.dim, 1, 11);
            let (want, brute_secs) = timed(|| policy.select_traced(&fx.state(), PAPER_BATCH));
            let want = want?;
            let (_, got, build, select) = build_and_select(&policy, fx.state(), k)?;
            if got != want {
                return Err(anyhow!("indexed and brute-force batches differ at N = {n}"));
            }
            format!("brute_secs {brute_secs:.3} build_secs {build:.3} select_secs {select:.4}")
        }
        "synthetic" => {
            let cfg = SyntheticPoolConfig::paper_scale();
            let (bench, gen_secs) = timed(|| cfg.generate());
            let bench = bench?;
            let pair_bytes: usize = bench
                .splits()
                .iter()
                .map(|(_, s)| (s.pair_a.as_slice().len() + s.pair_b.as_slice().len()) * 4)
                .sum();
            let prompt_bytes: usize = bench
                .splits()
                .iter()
                .map(|(_, s)| s.prompt.table_bytes())
                .sum();
            // Round 0 of the paper: 320 labelled, the rest of the pool unlabelled.
            let labelled: Vec<usize> = (0..PAPER_BATCH).collect();
            let unlabelled: Vec<usize> = (PAPER_BATCH..bench.pool.len()).collect();
            let bald: Vec<f64> = (0..unlabelled.len())
                .map(|i| ((i * 7919) % 1000) as f64 * 1e-4)
                .collect();
            let state = PoolState::new(&unlabelled, &bald, &labelled, &bench.pool.prompt);
            let (index, _, build, select) = build_and_select(&policy, state, k)?;
            format!(
                "comparisons {} pool_prompts {} gen_secs {gen_secs:.2} build_secs {build:.2} select_secs {select:.3} features_mib {:.1} index_mib {:.1} peak_mib {:.1}",
                bench.splits().iter().map(|(_, s)| s.len()).sum::<usize>(),
                bench.pool.prompt.table().rows(),
                mib(pair_bytes + prompt_bytes),
                mib(index.memory_bytes()),
                peak_rss_mib().unwrap_or(f64::NAN)
            )
        }
        other => return Err(anyhow!("unknown bench part `{other}`")),
    };
    say!("{line}");
    Ok(())
}

/// Runs `activepref bench-knn --part <name>` with the same settings and parses its line.
fn child(name: &str, args: &BenchKnnArgs) -> anyhow::Result<Vec<(String, f64)>> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args([
            "--threads",
            &rayon::current_num_threads().to_string(),
            "bench-knn",
            "--part",
            name,
        ])
        .args([
            "--pool",
            &args.pool.to_string(),
            "--dim",
            &args.dim.to_string(),
            "--dup",
            &args.dup.to_string(),
        ])
        .output()
        .map_err(|e| anyhow!("cannot start {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(anyhow!(
            "bench part `{name}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    Ok(words
        .chunks(2)
        .filter_map(|w| Some((w.first()?.to_string(), w.get(1)?.parse().ok()?)))
        .collect())
}

fn get(v: &[(String, f64)], key: &str) -> f64 {
    v.iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |(_, x)| *x)
}

/// The reference-style torch pass on `n × d`, or `None` when no Python was given.
fn torch_pass(python: &Path, n: usize, d: usize) -> anyhow::Result<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/knn_reference_pass.py");
    let out = Command::new(python)
        .arg(&script)
        .args([
            n.to_string(),
            d.to_string(),
            "--threads".into(),
            rayon::current_num_threads().to_string(),
        ])
        .output()
        .map_err(|e| anyhow!("--python {}: cannot start ({e})", python.display()))?;
    if !out.status.success() {
        return Err(anyhow!(
            "--python {}: {} (does it have torch? `pip install torch`)",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "unexpected output from {}: `{}`",
                script.display(),
                text.trim()
            )
        })
}

/// The table `bench-knn` prints, and its CSV twin.
struct KnnTable {
    csv: String,
    dim: usize,
}

impl KnnTable {
    /// Prints the header.
    fn new(dim: usize) -> Self {
        say!(
            "{:<44} {:>7} {:>10} {:>10} {:>9} note",
            "measurement (D = dim)",
            "N",
            "ours (s)",
            "torch (s)",
            "speedup"
        );
        Self {
            csv: String::from("measurement,n,d,activepref_seconds,reference_seconds,ratio,note\n"),
            dim,
        }
    }

    /// One measurement: ours against the reference's (torch) seconds, where measured.
    fn row(&mut self, what: &str, n: usize, ours: f64, theirs: Option<f64>, note: &str) {
        let ratio = theirs.map(|t| t / ours);
        say!(
            "{what:<44} {n:>7} {:>10.3} {:>10} {:>9} {note}",
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.3}")),
            ratio.map_or("-".into(), |r| format!("{r:.1}x"))
        );
        self.csv.push_str(&format!(
            "{what},{n},{},{ours:.4},{},{},{note}\n",
            self.dim,
            theirs.map_or(String::new(), |t| format!("{t:.4}")),
            ratio.map_or(String::new(), |r| format!("{r:.2}"))
        ));
    }
}

/// `activepref bench-knn` (or, with the hidden `--part`, one measurement in a child).
pub fn run(args: &BenchKnnArgs) -> anyhow::Result<()> {
    match &args.part {
        Some(name) => part(name, args),
        None => bench_knn(args),
    }
}

fn bench_knn(args: &BenchKnnArgs) -> anyhow::Result<()> {
    crate::bounded("--pool", args.pool, PAPER_BATCH + 1, 10_000_000)?;
    crate::bounded("--dim", args.dim, 1, 65_536)?;
    crate::bounded("--dup", args.dup, 1, args.pool)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow!("{}: cannot create ({e})", args.out.display()))?;
    let threads = rayon::current_num_threads();
    let gemm = get(&child("gemm", args)?, "gflops");
    say!(
        "machine: {} ({threads} threads); sgemm 2048³ with the gemm crate: {gemm:.0} GFLOP/s",
        cpu_model()
    );
    let mut t = KnnTable::new(args.dim);
    for &n in &args.brute {
        brute_rows(args, n, &mut t)?;
    }
    index_rows(args, &mut t)?;
    if args.synthetic {
        synthetic_rows(args, &mut t)?;
    }
    let path = args.out.join("bench-knn.csv");
    crate::write_file(&path, t.csv.as_bytes())?;
    say!("wrote {}", path.display());
    Ok(())
}

/// Brute force, the index and torch at pool size `n`.
fn brute_rows(args: &BenchKnnArgs, n: usize, t: &mut KnnTable) -> anyhow::Result<()> {
    let v = child(&format!("brute{n}"), args)?;
    let torch = args
        .python
        .as_deref()
        .map(|p| torch_pass(p, n, args.dim))
        .transpose()?;
    t.row(
        "brute-force BAL-PM selection of 320",
        n,
        get(&v, "brute_secs"),
        torch,
        "today's exact all-pairs pass",
    );
    t.row(
        "indexed selection of 320 (index built)",
        n,
        get(&v, "select_secs"),
        torch,
        "per round",
    );
    t.row(
        "index build + indexed selection of 320",
        n,
        get(&v, "build_secs") + get(&v, "select_secs"),
        torch,
        "first round",
    );
    Ok(())
}

/// The index at the full pool size.
fn index_rows(args: &BenchKnnArgs, t: &mut KnnTable) -> anyhow::Result<()> {
    let v = child("index", args)?;
    let distinct = get(&v, "distinct") as usize;
    t.row(
        "index build",
        distinct,
        get(&v, "build_secs"),
        None,
        &format!(
            "{} distinct prompts, {:.0} MiB index",
            distinct,
            get(&v, "index_mib")
        ),
    );
    t.row(
        "indexed selection of 320 (index built)",
        args.pool,
        get(&v, "select_secs"),
        None,
        &format!("peak RSS {:.0} MiB", get(&v, "peak_mib")),
    );
    Ok(())
}

/// The paper-scale synthetic benchmark: generation, index, one selection.
fn synthetic_rows(args: &BenchKnnArgs, t: &mut KnnTable) -> anyhow::Result<()> {
    let v = child("synthetic", args)?;
    let (features, peak) = (get(&v, "features_mib"), get(&v, "peak_mib"));
    t.row(
        "generate the paper-scale synthetic benchmark",
        get(&v, "comparisons") as usize,
        get(&v, "gen_secs"),
        None,
        &format!("{features:.0} MiB of features"),
    );
    t.row(
        "index build (synthetic pool)",
        get(&v, "pool_prompts") as usize,
        get(&v, "build_secs"),
        None,
        "distinct pool prompts",
    );
    t.row(
        "indexed selection of 320 (synthetic pool)",
        92_858,
        get(&v, "select_secs"),
        None,
        &format!(
            "peak RSS {peak:.0} MiB = {:.2}x the feature data",
            peak / features
        ),
    );
    Ok(())
}
