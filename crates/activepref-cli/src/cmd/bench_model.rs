//! `activepref bench-model`: model compute on this machine (train, score, encode), and the
//! measurements `bench-round` shares.

use std::path::PathBuf;
use std::time::Instant;

use activepref_benches::{cpu_model, sgemm_gflops};
use activepref_model::{ComputeDevice, Precision, TrainConfig};
use anyhow::anyhow;

use super::bench_knn::timed;
use crate::say;

/// The arguments of `activepref bench-model`: the paper's reward model by default.
#[derive(clap::Args, Debug)]
pub struct BenchModelArgs {
    /// Pair-feature dimension.
    #[arg(long, default_value_t = 4_096, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub dim: usize,
    /// Ensemble members.
    #[arg(long, default_value_t = 5, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub members: usize,
    /// Labelled pairs trained on (one epoch, batch 32).
    #[arg(long, default_value_t = 2_400, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub pairs: usize,
    /// Rows scored by every member.
    #[arg(long, default_value_t = 16_384, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub rows: usize,
    /// The MiniLM model directory (scripts/fetch-minilm.sh).
    #[arg(long, value_name = "DIR", default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// Leave out the encoder row.
    #[arg(long)]
    pub skip_encode: bool,
    /// Compute device: cpu (burn's flex backend), or vulkan, libtorch, libtorch_cuda or cuda in a
    /// build with the `vulkan`, `tch` or `cuda` feature (README, "Backends").
    #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
    pub device: ComputeDevice,
}

/// Trains `members` of the paper's MLP (the default config) on `pairs` random pairs of width
/// `dim` for one epoch, batch 32, AdamW at the paper's defaults: the ensemble and the seconds. The
/// epoch-end validation pass runs on 32 pairs, so it costs next to nothing. On a GPU a short fit
/// runs first, untimed, so that kernel compilation is not counted.
pub(super) fn one_epoch_fit(
    members: usize,
    dim: usize,
    pairs: usize,
    device: ComputeDevice,
    precision: Precision,
) -> anyhow::Result<(activepref_model::FittedEnsemble, f64)> {
    use activepref_benches::random_split;
    let cfg = activepref_model::EnsembleConfig {
        members,
        train: TrainConfig {
            max_epochs: 1,
            // Never within one epoch: the only validation pass is the epoch end's (the largest
            // interval the config accepts).
            eval_every_steps: 1 << 30,
            ..TrainConfig::default()
        },
        device,
        precision,
        ..activepref_model::EnsembleConfig::default()
    };
    let train = random_split(pairs, dim, 1);
    let validation = random_split(32, dim, 2);
    // A fit of 4 batches on the same shapes runs first, untimed, so that one-time costs (a GPU
    // compiling its kernels at their first use; on the CPU the pool's threads starting and the
    // allocator's first pages) do not land in the timed fits (without it, one run read 10 s a
    // fit where the runs after it read 0.4–1.2 s, AMD Zen 4).
    let warm = random_split(4 * cfg.train.batch_size, dim, 5);
    cfg.fit(&warm, &validation, 9, 0)?;
    let (fitted, secs) = timed(|| cfg.fit(&train, &validation, 9, 0));
    Ok((fitted?, secs))
}

/// Layer widths of the paper's MLP (the default config) on `dim`-wide input: `[dim, 2048, 256, 1]`.
pub(super) fn mlp_widths(dim: usize) -> Vec<usize> {
    let hidden = activepref_model::RewardMlpConfig::default().hidden;
    std::iter::once(dim).chain(hidden).chain([1]).collect()
}

/// FLOPs (2 per multiply-add) of one member's forward pass over one row.
pub(super) fn forward_flops(dim: usize) -> f64 {
    let w = mlp_widths(dim);
    w.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum()
}

/// activepref's side of `scripts/bench-vs-torch.sh`: training, scoring and the encoder on the
/// shapes of `scripts/torch_peer.py`, printed as `key value` lines.
pub fn bench_model(args: &BenchModelArgs) -> anyhow::Result<()> {
    crate::bounded("--dim", args.dim, 1, 65_536)?;
    crate::bounded("--members", args.members, 1, 1_000)?;
    crate::bounded("--pairs", args.pairs, 1, 10_000_000)?;
    crate::bounded("--rows", args.rows, 1, 10_000_000)?;
    let burn_device = args
        .device
        .burn_device()
        .map_err(|e| anyhow!("--device: {e}"))?;
    say!("cpu {}", cpu_model().replace(' ', "_"));
    say!("threads {}", rayon::current_num_threads());
    say!("kernels {}", activepref_benches::kernel_class());
    say!("sgemm_gflops {:.1}", sgemm_gflops(2_048));
    let (fitted, secs) = one_epoch_fit(
        args.members,
        args.dim,
        args.pairs,
        args.device,
        Precision::F32,
    )?;
    say!("train_secs {secs:.3}");
    // Scoring: every member's reward on `rows` rows, the best of two passes.
    let x = activepref_benches::random_matrix(args.rows, args.dim, (-1.0, 1.0), 3);
    let flops = (args.rows * args.members) as f64 * forward_flops(args.dim);
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t = Instant::now();
        std::hint::black_box(fitted.rewards(&x));
        best = best.min(t.elapsed().as_secs_f64());
    }
    say!("score_secs {best:.3}");
    say!("score_gflops {:.1}", flops / best / 1e9);
    if !args.skip_encode {
        use activepref_encode::TextEncoder;
        let mut enc = TextEncoder::load(&args.model, &burn_device)
            .map_err(|e| anyhow!("{e} (run scripts/fetch-minilm.sh)"))?;
        let words: Vec<u32> = (2000..2000 + 64 * 126)
            .map(|i| 1000 + (i * 7919 % 28000) as u32)
            .collect();
        let inputs: Vec<Vec<u32>> = words.chunks(126).map(|w| enc.wrap(w)).collect();
        enc.batch_size = 32;
        enc.encode_ids(&inputs[..8])?;
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            enc.encode_ids(&inputs)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        say!("encode_sentences_per_sec {:.1}", 64.0 / best);
    }
    Ok(())
}
