//! GELU, `0.5 · x · (1 + erf(x / √2))`, bit-identical to burn's CPU backend, vectorised and
//! spread over rayon's pool.
//!
//! burn's CPU backend computes GELU with that formula and the `libm` crate's `erff` (FreeBSD's
//! `s_erff.c` over `e_expf.c`), one value at a time on one thread: about 20 ns per value, a
//! sixth of an encoder pass on 2 cores. [`gelu_in_place`] computes the same f32 operations in
//! the same order in loops the compiler vectorises (AVX-512 or AVX2, picked at run time), in two
//! halves: `|x / √2| < 1.25` (one quotient of polynomials, both of its branches computed and
//! selected) for every value, then `1.25 ≤ |x / √2| < 6` (two `expf`s, every branch computed and
//! selected) on those values alone, packed into whole vectors (AVX-512's compress store), so
//! each value pays for its own half; the rare inputs (`|x / √2| < 2⁻²⁸`, `|x / √2| ≥ 6`, inf,
//! NaN) go to the scalar formula. Rust never fuses a multiply and an add, so every value equals
//! the scalar one: a test checks every 251st f32 bit pattern on each kernel, scattered so that
//! every block mixes near, far and rare values, on pieces of uneven lengths, and all 2³² were
//! checked by hand (`--ignored`, 2026-12-02).
//!
//! On MiniLM-L6's feed-forward inputs 14% of the values take the far half; there the split
//! kernel is 1.8–2.0× faster than computing both halves for every value (an in-process A/B on an
//! Intel Xeon, AVX-512, 2026-12-02). Where every value is far it is about 15% slower.

use activepref_core::simd::VectorIsa;
use burn::tensor::{DType, Device, Tensor, TensorData, activation};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 16_384;
/// Values per block (see [`blocks`]).
const BLOCK: usize = 256;

/// burn's scalar GELU, the reference every value must equal.
#[inline(always)]
pub fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x / core::f32::consts::SQRT_2))
}

/// Whether `u = x / √2` (`ix`: its bits without the sign) takes `erff`'s common path,
/// `2⁻²⁸ ≤ |u| < 6`; the rest (tiny, large, inf, NaN) goes to the scalar formula.
#[inline(always)]
fn is_common(ix: u32) -> bool {
    (0x3180_0000..0x40c0_0000).contains(&ix)
}

/// `e_expf.c`'s `expf` for `|v| < 87.33` (no overflow, underflow or NaN branch), every branch
/// computed and selected; `2^k` scaling is one exact multiply there.
///
/// # Safety
/// `|v| < 87.33`: the argument reduction converts `v / ln 2` to `i32` unchecked.
#[inline(always)]
unsafe fn expf_common(v: f32) -> f32 {
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const P1: f32 = f32::from_bits(0x3e2a_aa8f);
    const P2: f32 = f32::from_bits(0xbb35_5215);
    let bits = v.to_bits();
    let negative = bits >> 31 != 0;
    let hx = bits & 0x7fff_ffff;
    let reduce = hx > 0x3eb1_7218;
    let far = hx > 0x3f85_1592;
    // SAFETY: the caller's `|v| < 87.33` puts this in (−127, 127); C truncates the same way.
    let k_far: i32 =
        unsafe { (INV_LN2 * v + if negative { -0.5 } else { 0.5 }).to_int_unchecked() };
    let k_near = if negative { -1 } else { 1 };
    let k = if !reduce {
        0
    } else if far {
        k_far
    } else {
        k_near
    };
    let kf = k as f32;
    let (hi, lo) = if reduce {
        (v - kf * LN2_HI, kf * LN2_LO)
    } else {
        (v, 0.0)
    };
    let x = if reduce { hi - lo } else { v };
    let xx = x * x;
    let c = x - xx * (P1 + xx * P2);
    let y = 1.0 + (x * c / (2.0 - c) - lo + hi);
    // 2^k is a normal power of two for -126 ≤ k ≤ 127, so scalbnf is this one multiply.
    let scaled = y * f32::from_bits(((0x7f + k) as u32) << 23);
    let tiny = hx <= 0x3900_0000;
    if tiny {
        1.0 + v
    } else if k == 0 {
        y
    } else {
        scaled
    }
}

// `s_erff.c`'s constants, by their bit patterns; the `pad`ded ones have zero leading
// coefficients up to the length of the table they share a Horner loop with.
const ERX: f32 = f32::from_bits(0x3f58_560b);
const PP: [f32; 5] = [
    f32::from_bits(0x3e03_75d4),
    f32::from_bits(0xbea6_6beb),
    f32::from_bits(0xbce9_528f),
    f32::from_bits(0xbbbd_1489),
    f32::from_bits(0xb7c7_56b1),
];
const QQ: [f32; 6] = [
    1.0,
    f32::from_bits(0x3ecb_bbce),
    f32::from_bits(0x3d85_2a63),
    f32::from_bits(0x3ba6_8116),
    f32::from_bits(0x390a_ee49),
    f32::from_bits(0xb684_e21a),
];
const PA: [f32; 7] = [
    f32::from_bits(0xbb1a_cdc6),
    f32::from_bits(0x3ed4_6805),
    f32::from_bits(0xbebe_9208),
    f32::from_bits(0x3ea2_fe54),
    f32::from_bits(0xbde3_1cc2),
    f32::from_bits(0x3d11_51b3),
    f32::from_bits(0xbb0d_f9c0),
];
const QA: [f32; 7] = [
    1.0,
    f32::from_bits(0x3dd9_f331),
    f32::from_bits(0x3f0a_5785),
    f32::from_bits(0x3d93_1ae7),
    f32::from_bits(0x3e01_3307),
    f32::from_bits(0x3c5f_6e13),
    f32::from_bits(0x3c44_5aa3),
];
const RA: [f32; 8] = [
    f32::from_bits(0xbc21_a093),
    f32::from_bits(0xbf31_a0b7),
    f32::from_bits(0xc128_f022),
    f32::from_bits(0xc279_8057),
    f32::from_bits(0xc322_658c),
    f32::from_bits(0xc338_9ae7),
    f32::from_bits(0xc2a2_932b),
    f32::from_bits(0xc11d_077e),
];
const SA: [f32; 9] = [
    1.0,
    f32::from_bits(0x419d_35ce),
    f32::from_bits(0x4309_a863),
    f32::from_bits(0x43d9_486f),
    f32::from_bits(0x4421_58c9),
    f32::from_bits(0x43d6_810b),
    f32::from_bits(0x42d9_451f),
    f32::from_bits(0x40d2_3f7c),
    f32::from_bits(0xbd77_7f97),
];
const RB: [f32; 7] = [
    f32::from_bits(0xbc21_a092),
    f32::from_bits(0xbf4c_9dd4),
    f32::from_bits(0xc18e_104b),
    f32::from_bits(0xc320_a2ea),
    f32::from_bits(0xc41f_6441),
    f32::from_bits(0xc480_230b),
    f32::from_bits(0xc3f1_c275),
];
const SB: [f32; 8] = [
    1.0,
    f32::from_bits(0x41f2_b459),
    f32::from_bits(0x43a2_e571),
    f32::from_bits(0x44c0_1759),
    f32::from_bits(0x4547_fdbb),
    f32::from_bits(0x451f_90ce),
    f32::from_bits(0x43ed_43a7),
    f32::from_bits(0xc1b3_8712),
];
const PP7: [f32; 7] = pad(&PP);
const QQ7: [f32; 7] = pad(&QQ);
const RB8: [f32; 8] = pad(&RB);
const SB9: [f32; 9] = pad(&SB);

/// Whether `|u| ≥ 1.25` (`ix` is `u`'s bits without the sign): `erff`'s branches through `expf`.
#[inline(always)]
fn is_far(ix: u32) -> bool {
    ix >= 0x3fa0_0000
}

/// `s_erff.c`'s `erff` for `2⁻²⁸ ≤ |u| < 1.25`, branch-free: `u + u·P(u²)/Q(u²)` below
/// 0.84375, else `1 − erfc` with `erfc = 1 − erx − P(s)/Q(s)` at `s = |u| − 1`. One quotient
/// serves both: a zero leading coefficient leaves Horner's rule exact (0·t + c = c for finite t),
/// so the shorter polynomials are padded and the coefficients selected per value.
#[inline(always)]
fn erff_near(u: f32) -> f32 {
    let ix = u.to_bits() & 0x7fff_ffff;
    let small = ix < 0x3f58_0000;
    let t = if small { u * u } else { u.abs() - 1.0 };
    let pq = horner_pick(t, &PP7, &PA, small) / horner_pick(t, &QQ7, &QA, small);
    let small_erf = u + u * pq;
    let erfc = 1.0 - ERX - pq;
    if small {
        small_erf
    } else {
        signed_erf(u, erfc)
    }
}

/// `s_erff.c`'s `erff` for `1.25 ≤ |u| < 6`, branch-free: `erfc = exp(−z² − 0.5625)·exp((z −
/// |u|)(z + |u|) + R/S)/|u|`, with (R, S) from table A below 1/0.35 and table B from there (B
/// padded as in [`erff_near`]).
///
/// # Safety
/// `1.25 ≤ |u| < 6`: both `expf` arguments must stay in [`expf_common`]'s range.
#[inline(always)]
unsafe fn erff_far(u: f32) -> f32 {
    let ix = u.to_bits() & 0x7fff_ffff;
    let a = u.abs();
    let s = 1.0 / (a * a);
    let near = ix < 0x4036_db6d;
    let r = horner_pick(s, &RA, &RB8, near);
    let big_s = horner_pick(s, &SA, &SB9, near);
    let zt = f32::from_bits(a.to_bits() & 0xffff_e000);
    // SAFETY: for 1.25 ≤ a < 6 the first argument lies in (−36.6, −2.1] and the second in
    // (−1, 0) (R/S is small and negative, (z − a)(z + a) ≤ 0).
    let erfc = unsafe {
        expf_common(-zt * zt - 0.5625) * expf_common((zt - a) * (zt + a) + r / big_s) / a
    };
    signed_erf(u, erfc)
}

/// `erf(u)` from `erfc(|u|)`, as `s_erff.c` returns it for `|u| ≥ 0.84375`.
#[inline(always)]
fn signed_erf(u: f32, erfc: f32) -> f32 {
    let y = 1.0 - erfc;
    if u.is_sign_negative() { -y } else { y }
}

/// `c` with zero leading coefficients up to `N` terms (Horner's rule gives the same value).
const fn pad<const M: usize, const N: usize>(c: &[f32; M]) -> [f32; N] {
    let mut out = [0f32; N];
    let mut i = 0;
    while i < M {
        out[i] = c[i];
        i += 1;
    }
    out
}

/// Horner's rule as `s_erff.c` writes it, `c[0] + t·(c[1] + t·(… + t·c[N−1]))` unfused, on
/// `a`'s coefficients where `first`, else on `b`'s (one select per step).
#[inline(always)]
fn horner_pick<const N: usize>(t: f32, a: &[f32; N], b: &[f32; N], first: bool) -> f32 {
    let mut acc = if first { a[N - 1] } else { b[N - 1] };
    for i in (0..N - 1).rev() {
        acc = (if first { a[i] } else { b[i] }) + t * acc;
    }
    acc
}

/// GELU of `x` for `2⁻²⁸ ≤ |x / √2| < 1.25`, given `u = x / √2`; some value
/// otherwise (overwritten by the caller). burn's formula, `0.5 · x · (1 + erf(x / √2))`, as in
/// [`gelu_scalar`] (no closure: the vectoriser needs every call inlined).
#[inline(always)]
fn gelu_near(x: f32, u: f32) -> f32 {
    0.5 * x * (1.0 + erff_near(u))
}

/// GELU of `x`, for `1.25 ≤ |x / √2| < 6`, with burn's formula as in [`gelu_near`].
///
/// # Safety
/// `x` in that range (see [`erff_far`]).
#[inline(always)]
unsafe fn gelu_far(x: f32) -> f32 {
    // SAFETY: the caller's range.
    0.5 * x * (1.0 + unsafe { erff_far(x / core::f32::consts::SQRT_2) })
}

/// A value's class in [`blocks`]: the near half of `erff`'s common path, a rare value (the
/// scalar formula), or the far half.
const NEAR: u8 = 0;
/// See [`NEAR`].
const RARE: u8 = 1;
/// See [`NEAR`].
const FAR: u8 = 2;

/// A value on the far branch, to pad the packed far values to whole vectors.
const FAR_PAD: f32 = 2.0;
/// The widest vector (AVX-512: 16 f32) the packed far values are padded to.
const LANES: usize = 16;

/// Every value of `xs` through [`gelu_scalar`], on the vectorised kernels where they apply.
///
/// The two halves of `erff`'s common path cost very differently: below `|x / √2| = 1.25` one
/// quotient of polynomials, from there two `expf`s and five divisions. Each block computes the
/// near half for every value, packs the far values (positions kept) into whole vectors, runs
/// the far half on those alone and puts them back; the rare values are then redone one by one.
/// Every value goes through the same f32 operations as `gelu_scalar`'s, whichever vector lane
/// or block it lands in.
#[inline(always)]
fn blocks(xs: &mut [f32], pack: impl Fn(&[u8], &[f32], &mut [f32], &mut [u32]) -> usize) {
    let mut original = [0f32; BLOCK];
    let mut far = [FAR_PAD; BLOCK + LANES];
    let mut at = [0u32; BLOCK];
    // Per value: NEAR, RARE or FAR.
    let mut class = [0u8; BLOCK];
    for block in xs.chunks_mut(BLOCK) {
        let (original, class) = (&mut original[..block.len()], &mut class[..block.len()]);
        original.copy_from_slice(block);
        // One vectorised pass: each value's class, and the near half for every value.
        for ((y, c), &x) in block.iter_mut().zip(class.iter_mut()).zip(original.iter()) {
            let u = x / core::f32::consts::SQRT_2;
            let ix = u.to_bits() & 0x7fff_ffff;
            *c = if !is_common(ix) {
                RARE
            } else if is_far(ix) {
                FAR
            } else {
                NEAR
            };
            *y = gelu_near(x, u);
        }
        let all_common = class.iter().fold(true, |all, &c| all & (c != RARE));
        let n = pack(class, original, &mut far, &mut at);
        let padded = n.next_multiple_of(LANES);
        far[n..padded].fill(FAR_PAD);
        // A loop of unknown length, which the compiler vectorises (its scalar remainder never
        // runs: the length is whole vectors).
        for x in far[..padded].iter_mut() {
            // SAFETY: packed values are common and far; the padding is FAR_PAD.
            *x = unsafe { gelu_far(*x) };
        }
        for (&y, &i) in far[..n].iter().zip(&at[..n]) {
            block[i as usize] = y;
        }
        if !all_common {
            for ((y, &x), &c) in block.iter_mut().zip(original.iter()).zip(class.iter()) {
                if c == RARE {
                    *y = gelu_scalar(x);
                }
            }
        }
    }
}

/// Packs the values of class [`FAR`] into `far` and their positions into `at`, in order;
/// returns how many. `far` and `at` are at least `original`'s length.
#[inline(always)]
fn pack(class: &[u8], original: &[f32], far: &mut [f32], at: &mut [u32]) -> usize {
    let mut n = 0;
    for (i, (&c, &x)) in class.iter().zip(original).enumerate() {
        // Branch-free: always write, advance only for a far value.
        far[n] = x;
        at[n] = i as u32;
        n += usize::from(c == FAR);
    }
    n
}

/// [`pack`] with AVX-512's compress stores, 16 values at a time.
///
/// # Safety
/// The CPU has AVX-512F; `far` and `at` are at least `original`'s length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_avx512(class: &[u8], original: &[f32], far: &mut [f32], at: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    assert!(far.len() >= original.len() && at.len() >= original.len());
    assert_eq!(class.len(), original.len());
    let whole = original.len() / 16 * 16;
    let mut n = 0;
    let step = _mm512_set1_epi32(16);
    let mut positions = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for i in (0..whole).step_by(16) {
        let mask = class[i..i + 16]
            .iter()
            .enumerate()
            .fold(0u16, |m, (j, &c)| m | (u16::from(c == FAR) << j));
        // SAFETY: 16 values from i < whole ≤ original.len(); at most 16 written from n ≤ i,
        // within far and at (both at least original.len() long).
        unsafe {
            let x = _mm512_loadu_ps(original.as_ptr().add(i));
            _mm512_mask_compressstoreu_ps(far.as_mut_ptr().add(n).cast(), mask, x);
            _mm512_mask_compressstoreu_epi32(at.as_mut_ptr().add(n).cast(), mask, positions);
        }
        positions = _mm512_add_epi32(positions, step);
        n += mask.count_ones() as usize;
    }
    let rest = pack(
        &class[whole..],
        &original[whole..],
        &mut far[n..],
        &mut at[n..],
    );
    for p in &mut at[n..n + rest] {
        *p += whole as u32;
    }
    n + rest
}

/// `xs[i] = gelu_scalar(xs[i])` on the calling thread, in `isa`'s compiled copy (16 lanes on
/// AVX-512, whose compress stores also pack the far values; 8 on AVX2). A target feature changes
/// instruction selection only, never a value ([`activepref_core::simd`]).
///
/// # Panics
/// If the CPU lacks `isa`'s instructions (use [`VectorIsa::widest`]).
pub fn gelu_on(isa: VectorIsa, xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == VectorIsa::Avx512 {
        return isa.run(
            #[inline(always)]
            || {
                // SAFETY: `run` runs this only on a CPU with AVX-512F; `blocks` passes buffers
                // of at least the block's length.
                blocks(xs, |c, o, f, a| unsafe { pack_avx512(c, o, f, a) })
            },
        );
    }
    isa.run(
        #[inline(always)]
        || blocks(xs, pack),
    )
}

/// `xs[i] = gelu_scalar(xs[i])` for every element, bit for bit, over rayon's pool in fixed
/// chunks (an element-wise map, so neither the thread count nor the kernel changes a value).
pub fn gelu_in_place(xs: &mut [f32]) {
    let isa = VectorIsa::widest();
    xs.par_chunks_mut(CHUNK).for_each(|c| gelu_on(isa, c));
}

/// GELU on a tensor of any shape.
///
/// On the CPU backend (`Device::flex()`, f32) the values are bit-identical to burn's
/// `activation::gelu` and computed by [`gelu_in_place`]; other devices and dtypes use
/// `activation::gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    // burn's device equality ignores autodiff; a tracked tensor must stay on burn's op.
    if device != Device::flex() || device.is_autodiff() || x.dtype() != DType::F32 {
        return activation::gelu(x);
    }
    let shape = x.shape();
    let mut values = x
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor holds f32 values");
    gelu_in_place(&mut values);
    Tensor::from_data(TensorData::new(values, shape), (&device, DType::F32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit patterns `(i · stride) · 0x9E37_79B1 mod 2³²` for `i · stride < 2³²`, through `kernel`,
    /// against the scalar, bit for bit (a NaN in goes to the scalar formula, so even its payload
    /// must match). The odd multiplier is a bijection of u32 (a stride of 1 still covers every
    /// pattern) that scatters neighbouring patterns over every binade, so each block of the
    /// kernel mixes near, far and rare values. The kernel runs on pieces of uneven lengths (1 to
    /// 257 values, most not whole vectors or blocks). Patterns are made chunk by chunk, so a
    /// stride of 1 never holds all 2³² at once.
    fn mismatches(kernel: VectorIsa, stride: u64) -> Vec<u32> {
        const CHUNK: u64 = 1 << 16;
        const PIECES: [usize; 8] = [255, 13, 1, 256, 16, 17, 257, 100];
        let count = (1u64 << 32).div_ceil(stride);
        (0..count.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| {
                let patterns: Vec<u32> = (c * CHUNK..((c + 1) * CHUNK).min(count))
                    .map(|i| ((i * stride) as u32).wrapping_mul(0x9E37_79B1))
                    .collect();
                let mut xs: Vec<f32> = patterns.iter().map(|&b| f32::from_bits(b)).collect();
                let mut rest = &mut xs[..];
                for &len in PIECES.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (piece, tail) = rest.split_at_mut(len.min(rest.len()));
                    gelu_on(kernel, piece);
                    rest = tail;
                }
                patterns
                    .into_iter()
                    .zip(xs)
                    .filter(|&(b, y)| y.to_bits() != gelu_scalar(f32::from_bits(b)).to_bits())
                    .map(|(b, _)| b)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_kernel_equals_burns_scalar_gelu_on_a_sweep_of_bit_patterns() {
        for kernel in VectorIsa::available() {
            let bad = mismatches(kernel, 251);
            assert!(
                bad.is_empty(),
                "{kernel:?}: {} values differ, first {:#010x}",
                bad.len(),
                bad[0]
            );
        }
    }

    #[test]
    fn every_kernel_equals_the_scalar_around_every_branch_point() {
        // erff's and expf's thresholds on u = x / √2 (s_erff.c, e_expf.c via 1.25 ≤ |u| < 6):
        // 2⁻²⁸, 0.84375, 1.25, 1/0.35, 6; and x = 0. 256 patterns of x on each side of each,
        // both signs, in one slice so that blocks mix them.
        let thresholds = [
            0x3180_0000u32,
            0x3f58_0000,
            0x3fa0_0000,
            0x4036_db6d,
            0x40c0_0000,
        ];
        let mut patterns = vec![0u32];
        for t in thresholds {
            let x = (f32::from_bits(t) * core::f32::consts::SQRT_2).to_bits();
            for b in x - 256..x + 256 {
                patterns.extend([b, b | 0x8000_0000]);
            }
        }
        for kernel in VectorIsa::available() {
            let mut xs: Vec<f32> = patterns.iter().map(|&b| f32::from_bits(b)).collect();
            gelu_on(kernel, &mut xs);
            let bad: Vec<u32> = patterns
                .iter()
                .zip(&xs)
                .filter(|&(&b, y)| y.to_bits() != gelu_scalar(f32::from_bits(b)).to_bits())
                .map(|(&b, _)| b)
                .collect();
            assert!(
                bad.is_empty(),
                "{kernel:?}: {} values differ, first {:#010x}",
                bad.len(),
                bad[0]
            );
        }
    }

    /// All 2³² inputs (about 100 s per kernel on 2 cores): run by hand with `--ignored`.
    #[test]
    #[ignore]
    fn every_kernel_equals_burns_scalar_gelu_on_every_f32() {
        for kernel in VectorIsa::available() {
            let bad = mismatches(kernel, 1);
            assert!(bad.is_empty(), "{kernel:?}: {} values differ", bad.len());
        }
    }

    /// Values over GELU's whole range, edge cases first: zeros of both signs, the branch points
    /// of `erff` (|x|/√2 around 0.84375, 1.25, 2.857 and 6), tiny and huge magnitudes.
    fn inputs(n: usize) -> Vec<f32> {
        let mut v = vec![
            0.0, -0.0, 1e-30, -1e-30, 1.19, -1.19, 1.77, -1.77, 4.04, -4.04, 8.49, -8.49, 12.0,
            -12.0, 1e30, -1e30,
        ];
        let mut s = 0x2545_f491_u32;
        while v.len() < n {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            v.push((s as f32 / u32::MAX as f32 - 0.5) * 20.0);
        }
        v
    }

    #[test]
    fn tensor_gelu_is_bit_identical_to_burns_whatever_the_thread_count() {
        let device = Device::flex();
        // Several chunks and a ragged last one.
        let n = 7 * (CHUNK / 2 + 11);
        let x = Tensor::<2>::from_data(TensorData::new(inputs(n), [n / 7, 7]), &device);
        let bits = |t: Tensor<2>| -> Vec<u32> {
            let v = t.into_data().try_into_vec::<f32>().unwrap();
            v.iter().map(|f| f.to_bits()).collect()
        };
        let burns = bits(activation::gelu(x.clone()));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let ours = bits(pool.install(|| gelu(x.clone())));
            assert!(ours == burns, "{threads} threads: GELU differs from burn's");
        }
        // A value that could fail: GELU(1) = 0.5·(1 + erf(1/√2)) ≈ 0.841345.
        let one = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device);
        let g = gelu(one).into_data().try_into_vec::<f32>().unwrap()[0];
        assert!((g - 0.841_344_7).abs() < 1e-6, "GELU(1) = {g}");
    }
}
