//! Attention probabilities, `softmax(scores / scale + key_bias)` over the keys, bit-identical to
//! burn's CPU backend and computed in one parallel pass.
//!
//! burn computes the scaled scores, the masked scores and the softmax as three tensor operations,
//! each allocating a `[batch, heads, tokens, tokens]` tensor; its softmax takes the row maximum,
//! then `exp(x − max)` with `f32::exp` (the C library's `expf`) one value at a time while summing
//! them in order, then multiplies by `1 / sum`. [`attention_probs`] does the same f32 operations in
//! the same order per row, in one pass over rows spread over rayon's pool, with `expf` vectorised
//! where that is provable: glibc's `expf` (2.27 and later; the FMA build, which glibc picks on a
//! CPU with FMA, as on Debian 12's x86-64) is a 32-entry table and a degree-3 polynomial in f64,
//! and [`exp_in_place`] runs a transcription of it with FMAs where glibc's binary has them. It is
//! used only on glibc targets and only when it agrees with the process's `expf` on a fixed sweep
//! of 65,538 inputs, checked once ([`fast_exp_matches_libm`]); otherwise every value goes to
//! `f32::exp`, so the probabilities equal burn's either way. A sweep is evidence, not proof; the
//! tests compare every kernel with `f32::exp` on every 251st bit pattern, and the transcription
//! with glibc 2.36's values on fixed inputs.

use std::sync::OnceLock;

use activepref_core::simd::VectorIsa;
use burn::tensor::{DType, Device, Tensor, TensorData, activation};
use rayon::prelude::*;

/// glibc's `__exp2f_data` (`sysdeps/ieee754/flt-32/e_exp2f_data.c`): `T[i] = 2^(i/32)` with the
/// exponent bits of `i/32` taken out, as bit patterns.
const TABLE: [u64; 32] = [
    0x3ff0_0000_0000_0000,
    0x3fef_d9b0_d315_8574,
    0x3fef_b558_6cf9_890f,
    0x3fef_9301_d012_5b51,
    0x3fef_72b8_3c7d_517b,
    0x3fef_5487_3168_b9aa,
    0x3fef_387a_6e75_6238,
    0x3fef_1e9d_f51f_dee1,
    0x3fef_06fe_0a31_b715,
    0x3fee_f1a7_373a_a9cb,
    0x3fee_dea6_4c12_3422,
    0x3fee_ce08_6061_892d,
    0x3fee_bfda_d536_2a27,
    0x3fee_b42b_569d_4f82,
    0x3fee_ab07_dd48_5429,
    0x3fee_a47e_b03a_5585,
    0x3fee_a09e_667f_3bcd,
    0x3fee_9f75_e8ec_5f74,
    0x3fee_a114_73eb_0187,
    0x3fee_a589_994c_ce13,
    0x3fee_ace5_422a_a0db,
    0x3fee_b737_b0cd_c5e5,
    0x3fee_c491_82a3_f090,
    0x3fee_d503_b23e_255d,
    0x3fee_e89f_995a_d3ad,
    0x3fee_ff76_f2fb_5e47,
    0x3fef_199b_dd85_529c,
    0x3fef_3720_dcef_9069,
    0x3fef_5818_dcfb_a487,
    0x3fef_7c97_337b_9b5f,
    0x3fef_a4af_a2a4_90da,
    0x3fef_d076_5b6e_4540,
];
/// `32 / ln 2`.
const INV_LN2_N: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// `1.5 · 2⁵²`: adding it rounds to an integer in the low mantissa bits.
const SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// The polynomial `C0·r³ + C1·r² + C2·r + 1` for `2^(r/32)`.
const C0: f64 = f64::from_bits(0x3ebc_6af8_4b91_2394);
const C1: f64 = f64::from_bits(0x3f2e_bfce_50fa_c4f3);
const C2: f64 = f64::from_bits(0x3f96_2e42_ff0c_52d6);

/// Whether `x` takes glibc `expf`'s main path (`|x| < 88`, by its top 12 bits).
#[inline(always)]
fn main_path(x: f32) -> bool {
    (x.to_bits() >> 20) & 0x7ff <= 0x42a
}

/// glibc's `__expf_fma` main path: `k = round(x·32/ln 2)`, `r = x·32/ln 2 − k`, `2^(k/32)` from
/// the table and the exponent bits, the polynomial in f64, with glibc's five FMAs (two in the
/// reduction, three in the polynomial), one rounding to f32. Defined (if meaningless) for every
/// input; the caller redoes the others.
#[inline(always)]
fn expf_main(x: f32) -> f32 {
    let xd = f64::from(x);
    let k = INV_LN2_N.mul_add(xd, SHIFT);
    let ki = k.to_bits();
    let kd = k - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd);
    let s = f64::from_bits(TABLE[(ki & 31) as usize].wrapping_add(ki << 47));
    let z = C0.mul_add(r, C1);
    let r2 = r * r;
    let y = r.mul_add(C2, 1.0);
    let y = z.mul_add(r2, y);
    (y * s) as f32
}

/// `xs[i] = expf_main(xs[i])`, a loop the compiler vectorises; then the values off the main path
/// through `f32::exp`.
#[inline(always)]
fn exp_blocks(xs: &mut [f32]) {
    const BLOCK: usize = 64;
    for block in xs.chunks_mut(BLOCK) {
        let mut original = [0f32; BLOCK];
        let original = &mut original[..block.len()];
        original.copy_from_slice(block);
        for x in block.iter_mut() {
            *x = expf_main(*x);
        }
        if !original.iter().fold(true, |all, &x| all & main_path(x)) {
            for (x, &o) in block.iter_mut().zip(original.iter()) {
                if !main_path(o) {
                    *x = o.exp();
                }
            }
        }
    }
}

/// Which `expf` [`exp_in_place`] runs on this CPU and C library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpKernel {
    /// The transcription, compiled for a vector set with FMA: 8 f64 lanes on AVX-512, 4 on AVX2
    /// ([`activepref_core::simd`]). [`ExpKernel::detect`] never hands out `Vectorised(Plain)`:
    /// it gives the same values, but each `mul_add` there is a call to the C library's `fma`.
    Vectorised(VectorIsa),
    /// `f32::exp` per value: no AVX2 with FMA, or the C library's `expf` is another one.
    Libm,
}

impl ExpKernel {
    /// The widest kernel this CPU runs whose values match the process's `expf`.
    pub fn detect() -> ExpKernel {
        // Another C library's `expf` (musl, macOS) is another algorithm: not even tried.
        match VectorIsa::widest() {
            isa @ (VectorIsa::Avx2 | VectorIsa::Avx512)
                if cfg!(target_env = "gnu") && fast_exp_matches_libm() =>
            {
                ExpKernel::Vectorised(isa)
            }
            _ => ExpKernel::Libm,
        }
    }

    /// `xs[i] = xs[i].exp()` on this kernel, on the calling thread.
    ///
    /// # Panics
    /// If the CPU lacks the kernel's instructions (use [`ExpKernel::detect`]). The vectorised
    /// kernels equal `f32::exp` only where [`fast_exp_matches_libm`] holds.
    pub fn run(self, xs: &mut [f32]) {
        match self {
            ExpKernel::Vectorised(isa) => isa.run(
                #[inline(always)]
                || exp_blocks(xs),
            ),
            ExpKernel::Libm => xs.iter_mut().for_each(|x| *x = x.exp()),
        }
    }
}

/// Inputs where glibc's algorithm built without FMA rounds differently from the FMA build (the
/// only two with magnitudes from 2⁻⁶ to 88, found by search), so the sweep tells the builds apart.
const FMA_WITNESSES: [u32; 2] = [0x4202_422f, 0xc27c_65d9];

/// Whether the transcription of glibc's `expf` reproduces this process's `f32::exp` on a fixed
/// sweep: 65,536 inputs with magnitudes from 2⁻⁶ to 88 (below, every `expf` rounds alike) and both
/// signs, plus the two `FMA_WITNESSES`; checked once, then cached.
pub fn fast_exp_matches_libm() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        let (lo, end) = (0x3c80_0000u32, 0x42b0_0000u32);
        let sweep = (0u32..1 << 16).map(|i| {
            // Magnitudes spread by a multiplicative hash, the sign from another bit of it.
            let h = i.wrapping_mul(2_654_435_761);
            f32::from_bits((lo + h % (end - lo)) | (h & 0x8000_0000))
        });
        sweep
            .chain(FMA_WITNESSES.map(f32::from_bits))
            // `black_box`: the compiler must not fold `exp` of a known input with its own `exp`.
            .all(|x| expf_main(x).to_bits() == std::hint::black_box(x).exp().to_bits())
    })
}

/// `xs[i] = xs[i].exp()` for every element, bit-identical to `f32::exp`, on the calling thread.
pub fn exp_in_place(xs: &mut [f32]) {
    ExpKernel::detect().run(xs);
}

/// Rows per parallel task of [`attention_probs`].
const ROWS_PER_TASK: usize = 64;

/// burn-flex's row maximum, `max = if x > max { x } else { max }` from −∞, in lanes: each lane
/// keeps that running maximum of its own elements, then the lanes and the tail are folded the
/// same way. The value equals the sequential scan's (the predicate skips NaN either way), up to
/// the sign of a zero maximum, which `exp(x − max)` cannot see.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    const LANES: usize = 16;
    let pick = |m: f32, x: f32| if x > m { x } else { m };
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in chunks.by_ref() {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = pick(*m, x);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| pick(m, x));
    lanes.into_iter().fold(tail, pick)
}

/// Rows softmaxed together by [`softmax_group`]: independent chains for the sequential maximum and
/// sum of each row, which would otherwise wait on one another's latency.
const GROUP: usize = 8;

/// `G` consecutive rows of attention probabilities from their raw scores, in place (`rows`:
/// `G × keys`, row `g` with key biases `biases[g]`): per row, `x / scale + bias`, then burn-flex's
/// softmax (maximum, `exp(x − max)` summed in order, times `1 / sum`). The rows' steps are
/// interleaved; each row's operations and their order are those of a row alone.
#[inline(always)]
fn softmax_group<const G: usize>(
    rows: &mut [f32],
    biases: [&[f32]; G],
    scale: f32,
    exp: ExpKernel,
) {
    let keys = rows.len() / G;
    let mut max = [f32::NEG_INFINITY; G];
    for ((row, bias), max) in rows.chunks_mut(keys).zip(biases).zip(&mut max) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x = *x / scale + b;
        }
        *max = row_max(row);
    }
    for (row, max) in rows.chunks_mut(keys).zip(max) {
        for x in row.iter_mut() {
            *x -= max;
        }
    }
    exp.run(rows);
    let mut sum = [0f32; G];
    for j in 0..keys {
        for g in 0..G {
            sum[g] += rows[g * keys + j];
        }
    }
    for (row, sum) in rows.chunks_mut(keys).zip(sum) {
        let inv = 1.0 / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

/// Rows of `keys` raw scores, `rows_per_item` rows per sequence, turned into attention
/// probabilities in place over rayon's pool: row `r` of sequence `i` becomes
/// `softmax(row / scale + bias[i·keys..(i+1)·keys])`, with burn-flex's operations in its order
/// (as [`attention_probs`]).
pub(crate) fn softmax_rows(
    values: &mut [f32],
    bias: &[f32],
    rows_per_item: usize,
    keys: usize,
    scale: f32,
) {
    let exp = ExpKernel::detect();
    let bias_of = |row: usize| {
        let item = row / rows_per_item;
        &bias[item * keys..(item + 1) * keys]
    };
    values
        .par_chunks_mut(ROWS_PER_TASK * keys)
        .enumerate()
        .for_each(|(task, chunk)| {
            let (first, len) = (task * ROWS_PER_TASK, chunk.len());
            let mut groups = chunk.chunks_exact_mut(GROUP * keys);
            for (i, group) in groups.by_ref().enumerate() {
                let row = first + i * GROUP;
                let biases = std::array::from_fn(|g| bias_of(row + g));
                softmax_group::<GROUP>(group, biases, scale, exp);
            }
            let rest = groups.into_remainder();
            let row = first + (len - rest.len()) / keys;
            for (g, one) in rest.chunks_mut(keys).enumerate() {
                softmax_group::<1>(one, [bias_of(row + g)], scale, exp);
            }
        });
}

/// Attention probabilities `softmax(scores / scale + key_bias, 3)`.
///
/// `scores`: `[batch, heads, tokens, tokens]` (query × key); `key_bias`: `[batch, 1, 1, tokens]`
/// (0 for a real token, a large negative number for padding); `scale`: `√(head width)`. Returns
/// `[batch, heads, tokens, tokens]`. On the CPU backend (f32, `key_bias` of exactly that shape)
/// bit-identical to burn's `activation::softmax(scores.div_scalar(scale) + key_bias, 3)`; other
/// devices, dtypes and bias shapes run exactly that.
///
/// # Panics
/// As burn's operations: if `key_bias` does not broadcast to `scores`.
pub fn attention_probs(scores: Tensor<4>, scale: f64, key_bias: Tensor<4>) -> Tensor<4> {
    let device = scores.device();
    let [batch, heads, tokens, keys] = scores.dims();
    // burn's device equality ignores autodiff; a tracked tensor must stay on burn's ops, and so
    // does any other bias shape (burn broadcasts it) and an empty key axis.
    if device != Device::flex()
        || device.is_autodiff()
        || scores.dtype() != DType::F32
        || key_bias.dtype() != DType::F32
        || key_bias.dims() != [batch, 1, 1, keys]
        || keys == 0
    {
        return activation::softmax(scores.div_scalar(scale) + key_bias, 3);
    }
    let shape = scores.shape();
    let mut values = scores
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor holds f32 values");
    let bias = key_bias
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor holds f32 values");
    // burn-flex converts an f64 scalar with `as f32`.
    softmax_rows(&mut values, &bias, heads * tokens, keys, scale as f32);
    Tensor::from_data(TensorData::new(values, shape), (&device, DType::F32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `row_max` against burn-flex's one-at-a-time scan on rows of every length up to 40 mixing
    /// NaN, ±0, ±∞ and finite values: the same maximum, up to the sign of a zero.
    #[test]
    fn the_lane_maximum_equals_the_sequential_scan() {
        let pool = [
            f32::NAN,
            0.0,
            -0.0,
            f32::NEG_INFINITY,
            f32::INFINITY,
            -3.5,
            2.25,
            1e-30,
        ];
        for len in 0..=40usize {
            for seed in 0..50usize {
                let row: Vec<f32> = (0..len)
                    .map(|i| pool[(i * 7 + seed * 13 + i * i * seed) % pool.len()])
                    .collect();
                let scan = row
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
                let lanes = row_max(&row);
                assert!(
                    lanes == scan && !lanes.is_nan(),
                    "length {len}, seed {seed}: {lanes} against {scan}"
                );
            }
        }
    }

    /// Bit patterns `0, stride, 2·stride, …` below 2³², through `kernel`, against `f32::exp`, bit
    /// for bit (values off the main path, NaN included, go to `f32::exp` itself). Patterns are
    /// made chunk by chunk, so a stride of 1 never holds all 2³² at once.
    fn exp_mismatches(kernel: ExpKernel, stride: u64) -> Vec<u32> {
        const CHUNK: u64 = 1 << 16;
        let count = (1u64 << 32).div_ceil(stride);
        (0..count.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let patterns =
                    (c * CHUNK..((c + 1) * CHUNK).min(count)).map(|i| (i * stride) as u32);
                let mut xs: Vec<f32> = patterns.clone().map(f32::from_bits).collect();
                kernel.run(&mut xs);
                patterns
                    .zip(xs)
                    .filter(|&(b, y)| y.to_bits() != f32::from_bits(b).exp().to_bits())
                    .map(|(b, _)| b)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every kernel this CPU runs that the start-up check would allow.
    fn kernels() -> Vec<ExpKernel> {
        let allowed = cfg!(target_env = "gnu") && fast_exp_matches_libm();
        std::iter::once(ExpKernel::Libm)
            .chain(
                VectorIsa::available()
                    .into_iter()
                    .filter(|isa| allowed && *isa != VectorIsa::Plain)
                    .map(ExpKernel::Vectorised),
            )
            .collect()
    }

    #[test]
    fn every_allowed_exp_kernel_equals_libm_on_a_sweep_of_bit_patterns() {
        for kernel in kernels() {
            let bad = exp_mismatches(kernel, 251);
            assert!(
                bad.is_empty(),
                "{kernel:?}: {} values differ, first {:#010x}",
                bad.len(),
                bad[0]
            );
        }
    }

    /// All 2³² inputs (about a minute per kernel on 2 cores): run by hand with `--ignored`.
    #[test]
    #[ignore]
    fn every_allowed_exp_kernel_equals_libm_on_every_f32() {
        for kernel in kernels() {
            let bad = exp_mismatches(kernel, 1);
            assert!(bad.is_empty(), "{kernel:?}: {} values differ", bad.len());
        }
    }

    /// `(x, expf(x))` as glibc 2.36's `expf` returned them at run time (Debian 12, x86-64 with
    /// FMA), bit patterns: the two FMA witnesses, both ends of the main path, softmax-like inputs.
    /// (At the witnesses the compiler's constant folding of `f32::exp` gives other values, one ulp
    /// away: glibc's `expf` is not correctly rounded there.)
    const GLIBC_2_36: [(u32, u32); 15] = [
        (0x4202_422f, 0x56fc_9f1c),
        (0xc27c_65d9, 0x11fa_2993),
        (0x42af_fae1, 0x7ef6_0990),
        (0xc2af_fae1, 0x0042_976d),
        (0x0000_0000, 0x3f80_0000),
        (0xbf00_0000, 0x3f1b_4598),
        (0xbf80_0000, 0x3ebc_5ab2),
        (0xc050_0000, 0x3d1e_d1b4),
        (0xc120_0000, 0x383e_6bce),
        (0xc188_fbe7, 0x331d_3aea),
        (0xc228_0000, 0x2129_b229),
        (0x3fc0_0000, 0x408f_69ff),
        (0x3c80_0000, 0x3f82_0405),
        (0xbc80_0000, 0x3f7c_07f5),
        (0x3ba3_d70a, 0x3f80_a440),
    ];

    /// The transcription against [`GLIBC_2_36`], whatever this host's C library is.
    #[test]
    fn the_transcription_returns_glibc_2_36s_values() {
        for (x, want) in GLIBC_2_36 {
            let got = expf_main(f32::from_bits(x)).to_bits();
            assert_eq!(got, want, "expf({:e})", f32::from_bits(x));
        }
    }

    #[test]
    fn attention_probs_are_bit_identical_to_burns_whatever_the_thread_count() {
        let device = Device::flex();
        // Two items, 3 heads, 37 tokens (a ragged last task), the second item with 5 padded keys.
        let (b, h, t) = (2, 3, 37);
        let mut s = 0x9e37_79b9_u32;
        let scores: Vec<f32> = (0..b * h * t * t)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 60.0
            })
            .collect();
        let bias: Vec<f32> = (0..b * t)
            .map(|i| if i >= 2 * t - 5 { -1.0e9 } else { 0.0 })
            .collect();
        let scores = Tensor::<4>::from_data(TensorData::new(scores, [b, h, t, t]), &device);
        let bias = Tensor::<4>::from_data(TensorData::new(bias, [b, 1, 1, t]), &device);
        let scale = 32f64.sqrt();
        let bits = |x: Tensor<4>| -> Vec<u32> {
            let v = x.into_data().try_into_vec::<f32>().unwrap();
            v.iter().map(|f| f.to_bits()).collect()
        };
        let burns = bits(activation::softmax(
            scores.clone().div_scalar(scale) + bias.clone(),
            3,
        ));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let ours = bits(pool.install(|| attention_probs(scores.clone(), scale, bias.clone())));
            assert!(
                ours == burns,
                "{threads} threads: probabilities differ from burn's"
            );
        }
        // A bias of another shape (one row for every item) goes to burn's broadcasting ops.
        let shared = Tensor::<4>::from_data(TensorData::new(vec![0f32; t], [1, 1, 1, t]), &device);
        assert!(
            bits(attention_probs(scores.clone(), scale, shared.clone()))
                == bits(activation::softmax(
                    scores.clone().div_scalar(scale) + shared,
                    3
                ))
        );
        // Padded keys get probability 0; each row sums to 1 within rounding.
        let p = attention_probs(scores, scale, bias)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let last_row = &p[p.len() - t..];
        assert!(last_row[t - 5..].iter().all(|&x| x == 0.0));
        let sum: f32 = last_row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
    }
}
