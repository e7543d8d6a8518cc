//! The generative world behind both synthetic benchmarks: prompt clusters, duplicate prompts,
//! low-rank mixing, the hidden reward and Bradley–Terry label noise, and the splits drawn from it.

use super::*;

/// How big a split is: a number of distinct prompts, or an exact number of comparisons (prompts
/// are drawn until it is reached; the last prompt's comparisons are cut to fit).
#[derive(Clone, Copy)]
pub(crate) enum SplitSize {
    Prompts(usize),
    Comparisons(usize),
}

/// The prompt-mixing matrix `M` of step 3: dense, or the low-rank product `A Bᵀ`.
pub(crate) enum Mixing {
    /// `response_dim` rows of `prompt_dim` entries.
    Dense(Vec<Vec<f64>>),
    /// `a`: `response_dim` rows of `r`; `b`: `r` rows of `prompt_dim` (that is, `Bᵀ`).
    LowRank { a: Vec<Vec<f64>>, bt: Vec<Vec<f64>> },
}

/// The fixed random parts shared by all splits: cluster centres, mixing matrix, reward network.
pub(crate) struct World {
    pub(crate) centres: Vec<Vec<f64>>,
    mixing: Mixing,
    reward_u: Vec<Vec<f64>>, // hidden x response_dim
    reward_v: Vec<Vec<f64>>, // hidden x prompt_dim
    reward_a: Vec<f64>,
    pub(crate) shift_dir: Vec<f64>,
    /// Leading prompt coordinates copied into pair features.
    pair_prompt_dim: usize,
}

/// What every response to one prompt shares: the prompt, `M x` and the reward network's `v_h·x`.
/// Computed once per prompt instead of once per response.
pub(crate) struct PromptContext {
    pub(crate) x: Vec<f64>,
    mx: Vec<f64>,
    vx: Vec<f64>,
}

pub(crate) fn normal_vec(rng: &mut ChaCha8Rng, n: usize, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            sd * z
        })
        .collect()
}

impl World {
    pub(crate) fn new(cfg: &SyntheticPoolConfig, rng: &mut ChaCha8Rng) -> Self {
        let centres = (0..cfg.clusters)
            .map(|_| normal_vec(rng, cfg.prompt_dim, cfg.cluster_spread))
            .collect();
        let mix_sd = cfg.prompt_mixing / (cfg.prompt_dim as f64).sqrt();
        let mixing = if cfg.mixing_rank == 0 {
            Mixing::Dense(
                (0..cfg.response_dim)
                    .map(|_| normal_vec(rng, cfg.prompt_dim, mix_sd))
                    .collect(),
            )
        } else {
            let r = cfg.mixing_rank;
            let a = (0..cfg.response_dim)
                .map(|_| normal_vec(rng, r, 1.0 / (r as f64).sqrt()))
                .collect();
            let bt = (0..r)
                .map(|_| normal_vec(rng, cfg.prompt_dim, mix_sd))
                .collect();
            Mixing::LowRank { a, bt }
        };
        let u_sd = 1.0 / (cfg.response_dim as f64).sqrt();
        let v_sd = 1.0 / (cfg.prompt_dim as f64).sqrt() / cfg.cluster_spread.max(1.0);
        let reward_u = (0..cfg.reward_hidden)
            .map(|_| normal_vec(rng, cfg.response_dim, u_sd * 1.5))
            .collect();
        let reward_v = (0..cfg.reward_hidden)
            .map(|_| normal_vec(rng, cfg.prompt_dim, v_sd * 1.5))
            .collect();
        let reward_a = normal_vec(rng, cfg.reward_hidden, 1.0);
        let raw = normal_vec(rng, cfg.prompt_dim, 1.0);
        let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        let shift_dir = raw.iter().map(|v| v / norm).collect();
        let pair_prompt_dim = if cfg.pair_prompt_dim == 0 {
            cfg.prompt_dim
        } else {
            cfg.pair_prompt_dim
        };
        Self {
            centres,
            mixing,
            reward_u,
            reward_v,
            reward_a,
            shift_dir,
            pair_prompt_dim,
        }
    }

    /// `M x` and `v_h·x` for prompt `x`.
    pub(crate) fn context(&self, x: Vec<f64>) -> PromptContext {
        let mx = match &self.mixing {
            Mixing::Dense(m) => m.iter().map(|row| dot(row, &x)).collect(),
            Mixing::LowRank { a, bt } => {
                let z: Vec<f64> = bt.iter().map(|row| dot(row, &x)).collect();
                a.iter().map(|row| dot(row, &z)).collect()
            }
        };
        let vx = self.reward_v.iter().map(|v| dot(v, &x)).collect();
        PromptContext { x, mx, vx }
    }

    /// The latent reward of response `q` to the prompt of `ctx`.
    pub(crate) fn reward_in(
        &self,
        cfg: &SyntheticPoolConfig,
        ctx: &PromptContext,
        q: &[f64],
    ) -> f64 {
        let mut total = 0.0;
        for h in 0..self.reward_a.len() {
            let pre: f64 = dot(&self.reward_u[h], q) + ctx.vx[h];
            total += self.reward_a[h] * pre.tanh();
        }
        cfg.reward_scale * total / (self.reward_a.len() as f64).sqrt()
    }

    /// The joint feature `[x, M x + q]` (the first `pair_prompt_dim` coordinates of `x`), appended to `out`.
    pub(crate) fn pair_feature_into(&self, ctx: &PromptContext, q: &[f64], out: &mut Vec<f32>) {
        out.extend(ctx.x[..self.pair_prompt_dim].iter().map(|&v| v as f32));
        out.extend(ctx.mx.iter().zip(q).map(|(m, qi)| (m + qi) as f32));
    }

    /// A prompt vector: a cluster drawn by weight, plus within-cluster noise and `shift`.
    pub(crate) fn sample_prompt(
        &self,
        weights: &[f64],
        total: f64,
        shift: &[f64],
        within: &Normal<f64>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        let mut pick = rng.random::<f64>() * total;
        let mut k = 0;
        while k + 1 < weights.len() && pick >= weights[k] {
            pick -= weights[k];
            k += 1;
        }
        self.centres[k]
            .iter()
            .zip(shift)
            .map(|(c, s)| c + s + within.sample(rng))
            .collect()
    }

    /// One split. The random draws are made in one sequential stream (prompt, comparison count,
    /// then the comparisons' draws, [`comparison_draws`]), a chunk of prompts at a time; the
    /// arithmetic on them (mixing, rewards, features) then runs in parallel per prompt. Each value
    /// depends only on its own draws, so the output is the same for any thread count.
    pub(crate) fn split(
        &self,
        cfg: &SyntheticPoolConfig,
        size: SplitSize,
        weights: &[f64],
        shift: &[f64],
        first_prompt_id: u32,
        rng: &mut ChaCha8Rng,
    ) -> (PoolSplit, usize) {
        /// The draws of one prompt: its vector and, per comparison, (q_A, q_B, label uniform).
        type Draws = (Vec<f64>, Vec<(Vec<f64>, Vec<f64>, f64)>);
        const CHUNK: usize = 64;
        let total: f64 = weights.iter().sum();
        let extra = Poisson::new(cfg.comparisons_per_prompt - 1.0).ok();
        let within = Normal::new(0.0, cfg.within_spread).expect("validated spread");
        let d = self.pair_prompt_dim + cfg.response_dim;
        let per_prompt = cfg
            .comparisons_per_prompt
            .min(cfg.max_comparisons_per_prompt as f64);
        let (expected_rows, expected_prompts) = match size {
            SplitSize::Prompts(p) => ((p as f64 * per_prompt * 1.05) as usize + 16, p),
            SplitSize::Comparisons(c) => (c, (c as f64 / per_prompt * 1.05) as usize + 16),
        };
        let (mut pa, mut pb) = (
            Vec::with_capacity(expected_rows * d),
            Vec::with_capacity(expected_rows * d),
        );
        let mut table = Vec::with_capacity(expected_prompts * cfg.prompt_dim);
        let (mut row_of, mut ids, mut labels, mut lengths) = (vec![], vec![], vec![], vec![]);
        let (mut start, mut rows_drawn) = (0, 0);
        let more = |prompts: usize, rows: usize| match size {
            SplitSize::Prompts(p) => prompts < p,
            SplitSize::Comparisons(c) => rows < c,
        };
        while more(start, rows_drawn) {
            let mut draws: Vec<Draws> = Vec::with_capacity(CHUNK);
            while draws.len() < CHUNK && more(start + draws.len(), rows_drawn) {
                let x = self.sample_prompt(weights, total, shift, &within, rng);
                let n_extra: f64 = extra.map_or(0.0, |d: Poisson<f64>| d.sample(rng));
                let mut n = (1 + n_extra as usize).min(cfg.max_comparisons_per_prompt);
                if let SplitSize::Comparisons(c) = size {
                    n = n.min(c - rows_drawn);
                }
                rows_drawn += n;
                draws.push((x, comparison_draws(cfg, n, rng)));
            }
            let end = start + draws.len();
            let done: Vec<ChunkRows> = draws
                .into_par_iter()
                .map(|(x, comps)| self.chunk_rows(cfg, x, &comps))
                .collect();
            for (offset, (a, b, lab, x32, len)) in done.into_iter().enumerate() {
                let p = start + offset;
                pa.extend_from_slice(&a);
                pb.extend_from_slice(&b);
                table.extend_from_slice(&x32);
                row_of.extend(std::iter::repeat_n(p as u32, lab.len()));
                ids.extend(std::iter::repeat_n(first_prompt_id + p as u32, lab.len()));
                labels.extend(lab);
                lengths.extend(len);
            }
            start = end;
        }
        let mut split = assemble_split(cfg.prompt_dim, d, (pa, pb, table), row_of, ids, labels);
        split.lengths = cfg.lengths.map(|_| lengths);
        (split, start)
    }

    /// One prompt's rows: both pair features of each of its comparisons `(q_A, q_B, u)`, the
    /// label drawn from the Bradley–Terry probability of the hidden reward gap (`u < p_A`), and
    /// the prompt vector in f32.
    fn chunk_rows(
        &self,
        cfg: &SyntheticPoolConfig,
        x: Vec<f64>,
        comps: &[(Vec<f64>, Vec<f64>, f64)],
    ) -> ChunkRows {
        let d = self.pair_prompt_dim + cfg.response_dim;
        let ctx = self.context(x);
        let (mut a, mut b) = (
            Vec::with_capacity(comps.len() * d),
            Vec::with_capacity(comps.len() * d),
        );
        let mut lab = Vec::with_capacity(comps.len());
        let mut lengths = Vec::new();
        for (qa, qb, u) in comps {
            if let Some(l) = cfg.lengths {
                let prompt_sd = cfg.cluster_spread.hypot(cfg.within_spread);
                let z = if prompt_sd > 0.0 {
                    ctx.x[0] / prompt_sd
                } else {
                    0.0
                };
                let words = |median, z| SyntheticLengths::words(median, l.spread, z);
                lengths.push(ComparisonLength {
                    prompt_words: words(l.prompt_words, z),
                    response_a_words: words(l.response_words, qa[0]),
                    response_b_words: words(l.response_words, qb[0]),
                });
            }
            let gap = self.reward_in(cfg, &ctx, qa) - self.reward_in(cfg, &ctx, qb);
            let p_a = 1.0 / (1.0 + (-gap / cfg.label_temperature).exp());
            lab.push((*u < p_a, gap));
            self.pair_feature_into(&ctx, qa, &mut a);
            self.pair_feature_into(&ctx, qb, &mut b);
        }
        (
            a,
            b,
            lab,
            ctx.x.iter().map(|&v| v as f32).collect(),
            lengths,
        )
    }
}

/// One prompt's `n` comparisons `(q_A, q_B, label uniform)`, drawn in this order from `rng`: per
/// comparison `q_A`, `q_B` and the uniform (the default); or, with `responses_per_prompt = R ≥ 2`,
/// first the prompt's `R` response vectors, then per comparison two different indices among them
/// (`i` uniform in `0..R`, `j` uniform among the other `R − 1`) and the uniform.
fn comparison_draws(
    cfg: &SyntheticPoolConfig,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<(Vec<f64>, Vec<f64>, f64)> {
    let r = cfg.responses_per_prompt;
    if r < 2 {
        return (0..n)
            .map(|_| {
                let qa = normal_vec(rng, cfg.response_dim, 1.0);
                let qb = normal_vec(rng, cfg.response_dim, 1.0);
                (qa, qb, rng.random::<f64>())
            })
            .collect();
    }
    let responses: Vec<Vec<f64>> = (0..r)
        .map(|_| normal_vec(rng, cfg.response_dim, 1.0))
        .collect();
    (0..n)
        .map(|_| {
            let i = rng.random_range(0..r);
            let j = rng.random_range(0..r - 1);
            let j = if j >= i { j + 1 } else { j };
            (
                responses[i].clone(),
                responses[j].clone(),
                rng.random::<f64>(),
            )
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The split from its parts: pair features `pa`, `pb` (`rows × d`), the prompt table
/// (`prompts × prompt_dim`), each row's prompt (`row_of`), prompt ids, and labels with their
/// latent reward gaps.
fn assemble_split(
    prompt_dim: usize,
    d: usize,
    (pa, pb, table): (Vec<f32>, Vec<f32>, Vec<f32>),
    row_of: Vec<u32>,
    ids: Vec<u32>,
    labels: Vec<(bool, f64)>,
) -> PoolSplit {
    let rows = labels.len();
    let (labels, gaps): (Vec<bool>, Vec<f64>) = labels.into_iter().unzip();
    let prompts = table.len() / prompt_dim.max(1);
    let table = FeatureMatrix::new(prompts, prompt_dim, table).expect("finite synthetic features");
    PoolSplit {
        pair_a: FeatureMatrix::new(rows, d, pa).expect("finite synthetic features"),
        pair_b: FeatureMatrix::new(rows, d, pb).expect("finite synthetic features"),
        prompt: PromptFeatures::from_owned_table(table, row_of).expect("rows within the table"),
        prompt_id: ids,
        a_preferred: labels,
        score: None,
        latent_gap: Some(gaps),
        lengths: None,
    }
}
