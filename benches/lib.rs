//! # activepref-benches
//!
//! Owns **performance measurement**: the criterion benches of the whole pipeline (`cargo bench
//! --workspace`: data loading, the MiniLM encoder, acquisition policies, BAL-PM's kNN index at paper
//! scale) and the fixtures and machine facts they share with `activepref bench-knn` (CPU model,
//! measured single-precision GEMM rate). Speed targets live here and in those reports, never in tests.

#![warn(missing_docs)]

use activepref_acquire::PoolState;
use activepref_core::{FeatureMatrix, PoolSplit, PromptFeatures};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Comparisons in the paper's TL;DR pool (specs/balpm.md §1).
pub const PAPER_POOL: usize = 92_858;
/// The paper's prompt-feature width (OpenHermes-2.5-Mistral-7B features, specs/balpm.md §1.2).
pub const PAPER_DIM: usize = 4_096;
/// BAL-PM's initial labelled set and batch size in the paper.
pub const PAPER_BATCH: usize = 320;

/// A BAL-PM selection problem: uniform random prompt vectors in `[0, 1)^dim` (the issue's
/// side-by-side setting), every distinct prompt repeated `dup` times, `labelled` labelled rows
/// first and `pool` unlabelled rows after them, and random BALD scores.
pub struct SelectionFixture {
    /// Prompt features of every row (`pool + labelled` rows, `dim` wide, each distinct vector
    /// stored once).
    pub prompts: PromptFeatures,
    /// Unlabelled row indices (`labelled..pool + labelled`).
    pub unlabelled: Vec<usize>,
    /// Labelled row indices (`0..labelled`).
    pub labelled: Vec<usize>,
    /// A BALD score per unlabelled row, uniform in `[0, 0.05)` nats.
    pub bald: Vec<f64>,
}

/// `rows × dim` values uniform in `[lo, hi)`, filled in parallel chunks of 1,024 rows, each from
/// its own stream (the same matrix for any thread count).
///
/// # Panics
///
/// If `lo` or `hi` is not finite (a value would not be).
pub fn random_matrix(rows: usize, dim: usize, (lo, hi): (f32, f32), seed: u64) -> FeatureMatrix {
    let mut data = vec![0f32; rows * dim];
    std::thread::scope(|s| {
        let per = 1_024 * dim.max(1);
        let chunks: Vec<(usize, &mut [f32])> = data.chunks_mut(per).enumerate().collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(chunks.len().max(1));
        let mut buckets: Vec<Vec<(usize, &mut [f32])>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, c) in chunks {
            buckets[i % workers].push((i, c));
        }
        for bucket in buckets {
            s.spawn(move || {
                for (i, c) in bucket {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((i as u64 + 1) << 20));
                    c.iter_mut()
                        .for_each(|v| *v = lo + (hi - lo) * rng.random::<f32>());
                }
            });
        }
    });
    FeatureMatrix::new(rows, dim, data).expect("finite")
}

/// `n` labelled comparisons with random `dim`-wide pair features in [−1, 1) and random labels
/// (no prompt features): training and scoring workloads of the paper's shapes.
pub fn random_split(n: usize, dim: usize, seed: u64) -> PoolSplit {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    PoolSplit {
        pair_a: random_matrix(n, dim, (-1.0, 1.0), seed ^ 0xa),
        pair_b: random_matrix(n, dim, (-1.0, 1.0), seed ^ 0xb),
        prompt: FeatureMatrix::new(n, 0, vec![]).expect("empty").into(),
        prompt_id: (0..n as u32).collect(),
        a_preferred: (0..n).map(|_| rng.random::<bool>()).collect(),
        score: None,
        latent_gap: None,
        lengths: None,
    }
}

/// A random split of `n` comparisons whose `2n` response rows (`pair_a` then `pair_b`) are
/// `⌈2n · distinct⌉` distinct random rows, each used equally often (±1) in shuffled positions,
/// within and across `pair_a` and `pair_b`, as TL;DR's summaries repeat across comparisons.
/// `distinct = 1` is [`random_split`] itself.
///
/// # Panics
///
/// If `distinct` is not in `(0, 1]`.
pub fn random_split_repeating(n: usize, dim: usize, distinct: f64, seed: u64) -> PoolSplit {
    use rand::seq::SliceRandom;
    assert!(distinct > 0.0 && distinct <= 1.0, "distinct in (0, 1]");
    if distinct == 1.0 {
        return random_split(n, dim, seed);
    }
    let u = ((2 * n) as f64 * distinct).ceil().max(1.0) as usize;
    let table = random_matrix(u, dim, (-1.0, 1.0), seed ^ 0xd);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids: Vec<usize> = (0..2 * n).map(|i| i % u).collect();
    ids.shuffle(&mut rng);
    let mut split = random_split(0, dim, seed);
    split.pair_a = table.gather(&ids[..n]);
    split.pair_b = table.gather(&ids[n..]);
    split.prompt = FeatureMatrix::new(n, 0, vec![]).expect("empty").into();
    split.prompt_id = (0..n as u32).collect();
    split.a_preferred = (0..n).map(|_| rng.random::<bool>()).collect();
    split
}

impl SelectionFixture {
    /// A random fixture: `pool` unlabelled and `labelled` labelled rows, `dim`-wide prompt vectors
    /// uniform in `[0, 1)` with each distinct vector repeated `dup` times (`dup = 0` counts as 1).
    pub fn random(pool: usize, labelled: usize, dim: usize, dup: usize, seed: u64) -> Self {
        let rows = pool + labelled;
        let distinct = rows.div_ceil(dup.max(1));
        let table = random_matrix(distinct, dim, (0.0, 1.0), seed);
        let row_of: Vec<u32> = (0..rows).map(|i| (i % distinct) as u32).collect();
        let prompts =
            PromptFeatures::from_owned_table(table, row_of).expect("rows within the table");
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
        let bald = (0..pool).map(|_| rng.random::<f64>() * 0.05).collect();
        Self {
            prompts,
            unlabelled: (labelled..rows).collect(),
            labelled: (0..labelled).collect(),
            bald,
        }
    }

    /// The [`PoolState`] a policy sees: the fixture's rows and BALD scores, no kNN index or
    /// prediction.
    pub fn state(&self) -> PoolState<'_> {
        PoolState::new(&self.unlabelled, &self.bald, &self.labelled, &self.prompts)
    }
}

/// The CPU model from `/proc/cpuinfo` (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The kernel class the `gemm` crate (and so burn's CPU matmul, the dense scoring path and the kNN
/// index) runs on this CPU, with the CPU's bf16 and AMX support, for reading a side-by-side ratio:
/// e.g. `AVX-512 (gemm f32 avx512f microkernel); no AVX512-BF16, no AMX; tanh: vectorised fdlibm
/// …; encoder GELU: vectorised libm erff, Avx512 …; attention softmax exp: vectorised glibc expf …`.
pub fn kernel_class() -> String {
    #[cfg(target_arch = "x86_64")]
    let (gemm, extras) = {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let has = |f: &str| cpuinfo.split_whitespace().any(|w| w == f);
        let gemm = match activepref_model::f32_gemm_class() {
            "avx512f" => "AVX-512 (gemm f32 avx512f microkernel)",
            "fma" => "AVX2+FMA (gemm f32 fma microkernel)",
            _ => "SSE (gemm f32 scalar/SSE microkernel)",
        };
        let yes_no = |b: bool, what: &str| format!("{}{what}", if b { "" } else { "no " });
        let extras = format!(
            "{}, {}",
            yes_no(has("avx512_bf16"), "AVX512-BF16"),
            yes_no(has("amx_bf16"), "AMX")
        );
        (gemm, extras)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (gemm, extras) = (
        "gemm crate's portable kernel",
        String::from("no AVX512-BF16, no AMX"),
    );
    let tanh = if activepref_model::tanh::fast_tanh_matches_libm() {
        "vectorised fdlibm (bit-identical to libm)"
    } else {
        "the C library's tanhf (scalar)"
    };
    let gelu = format!("{:?}", activepref_core::simd::VectorIsa::widest());
    let exp = match activepref_encode::softmax::ExpKernel::detect() {
        activepref_encode::softmax::ExpKernel::Libm => "the C library's expf (scalar)".to_string(),
        activepref_encode::softmax::ExpKernel::Vectorised(isa) => {
            format!("vectorised glibc expf, {isa:?} (bit-identical to libm)")
        }
    };
    format!(
        "{gemm}; {extras}; bf16 GEMM: {}; tanh: {tanh}; encoder GELU: vectorised libm erff, {gelu} (bit-identical); attention softmax exp: {exp}",
        activepref_model::bf16_kernel()
    )
}

/// Single-precision GEMM rate of this machine in GFLOP/s: the best of three `n × n × n` products
/// with the `gemm` crate on all rayon threads (the kernel burn's CPU backend and the kNN index use).
pub fn sgemm_gflops(n: usize) -> f64 {
    let a = vec![1.0f32 / n as f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0f32; n * n];
    let threads = rayon::current_num_threads();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        // SAFETY: three n × n row-major buffers, strides within bounds.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / best / 1e9
}
