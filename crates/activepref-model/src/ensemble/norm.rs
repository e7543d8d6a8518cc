//! The gradient-clipping norm of the dense trainer's large tensors, independent of the thread
//! count: `‖g‖₂` as f64 sums of squares over fixed chunks of [`CHUNK`] elements, computed in
//! parallel and added in chunk order.
//!
//! Within a chunk, lane `j` of 8 sums the squares of elements `j, j + 8, …` in order (each value
//! widened to f64, squared, then added: two roundings, no fused multiply-add), the elements past
//! the last whole group of 8 are summed apart, and lanes and rest are added in a fixed tree.
//! With AVX-512 the eight lanes are one register (`vcvtps2pd`, `vmulpd`, `vaddpd`: the same IEEE
//! operations in the same order); elsewhere the same loop is compiled for the widest vector set
//! ([`VectorIsa`]). The compiler did not vectorise that loop on its own: it ran as eight scalar
//! chains, about a tenth of a bf16 training step on the paper's first layer.

use activepref_core::simd::VectorIsa;
use half::bf16;
use rayon::prelude::*;

/// Elements per parallel task: large enough to amortise scheduling, small enough to balance.
pub(crate) const CHUNK: usize = 1 << 16;

/// A value the norm reads: widened to f32 exactly.
trait Element: Copy + Sync {
    fn f32(self) -> f32;
}

impl Element for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
}

impl Element for bf16 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self.to_f32()
    }
}

/// `‖g‖₂` of f32 values (see the module docs).
pub(crate) fn deterministic_norm(g: &[f32]) -> f64 {
    norm_of(g, chunk_sum_squares)
}

/// `‖g‖₂` of bf16 values widened to f32 (exact): the value [`deterministic_norm`] gives for the
/// widened values, to the bit (bf16 training's weight gradients, which stay bf16 until AdamW
/// reads them).
pub(crate) fn deterministic_norm_bf16(g: &[bf16]) -> f64 {
    norm_of(g, chunk_sum_squares_bf16)
}

fn norm_of<T: Sync>(g: &[T], chunk: impl Fn(&[T]) -> f64 + Sync + Send) -> f64 {
    let partial: Vec<f64> = g.par_chunks(CHUNK).map(chunk).collect();
    partial.iter().sum::<f64>().sqrt()
}

/// Σ x² of one chunk (see the module docs).
pub(crate) fn chunk_sum_squares(x: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if VectorIsa::Avx512.is_supported() {
        // SAFETY: the CPU has AVX-512F (checked just above), which implies AVX2.
        return unsafe { avx512::chunk_sum_squares(x) };
    }
    portable(x)
}

/// [`chunk_sum_squares`] of bf16 values widened to f32 (the same lanes, rest and order, so the
/// same value).
fn chunk_sum_squares_bf16(x: &[bf16]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if VectorIsa::Avx512.is_supported() {
        // SAFETY: as in `chunk_sum_squares`.
        return unsafe { avx512::chunk_sum_squares_bf16(x) };
    }
    portable(x)
}

/// The chunk's sum by its definition, in the widest vector set's copy of the loop.
fn portable<T: Element>(x: &[T]) -> f64 {
    VectorIsa::widest().run(
        #[inline(always)]
        || {
            let mut lanes = [0f64; 8];
            let mut groups = x.chunks_exact(8);
            for group in &mut groups {
                for (acc, &v) in lanes.iter_mut().zip(group) {
                    let v = f64::from(v.f32());
                    *acc += v * v;
                }
            }
            combine(&lanes, rest(groups.remainder()))
        },
    )
}

/// The f64 sum of the squares of the elements past the last whole group of 8, in order.
#[inline(always)]
fn rest<T: Element>(x: &[T]) -> f64 {
    x.iter()
        .map(|&v| f64::from(v.f32()) * f64::from(v.f32()))
        .sum()
}

/// A chunk's sum from its lanes and rest, in the fixed order.
#[inline(always)]
fn combine(lanes: &[f64; 8], rest: f64) -> f64 {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + rest
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{bf16, combine, rest};
    use std::arch::x86_64::*;

    /// The chunk's sum with the eight lanes in one register.
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX2.
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn chunk_sum_squares(x: &[f32]) -> f64 {
        let mut groups = x.chunks_exact(8);
        let mut acc = _mm512_setzero_pd();
        for g in &mut groups {
            // SAFETY: `g` holds 8 f32 (32 bytes); the load is unaligned.
            let v = _mm512_cvtps_pd(unsafe { _mm256_loadu_ps(g.as_ptr()) });
            acc = _mm512_add_pd(acc, _mm512_mul_pd(v, v));
        }
        finish(acc, rest(groups.remainder()))
    }

    /// [`chunk_sum_squares`] on bf16 values: each widened by a 16-bit shift, then to f64. A
    /// signalling NaN comes out of the f64 conversion quiet with its payload, which is what
    /// `half`'s widening (quiet NaN, same payload) then the conversion give: the same f64 for
    /// every bf16.
    ///
    /// # Safety
    /// As [`chunk_sum_squares`].
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn chunk_sum_squares_bf16(x: &[bf16]) -> f64 {
        let mut groups = x.chunks_exact(8);
        let mut acc = _mm512_setzero_pd();
        for g in &mut groups {
            // SAFETY: `g` holds 8 bf16 (16 bytes); the load is unaligned.
            let bits = unsafe { _mm_loadu_si128(g.as_ptr().cast()) };
            let wide = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits));
            let v = _mm512_cvtps_pd(_mm256_castsi256_ps(wide));
            acc = _mm512_add_pd(acc, _mm512_mul_pd(v, v));
        }
        finish(acc, rest(groups.remainder()))
    }

    #[target_feature(enable = "avx512f")]
    fn finish(acc: __m512d, rest: f64) -> f64 {
        let mut lanes = [0f64; 8];
        // SAFETY: `lanes` holds 8 f64 (64 bytes); the store is unaligned.
        unsafe { _mm512_storeu_pd(lanes.as_mut_ptr(), acc) };
        combine(&lanes, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The norms follow their definition to the bit: per [`CHUNK`], lane `j` sums the squares of
    /// elements `j, j + 8, …` of the whole groups of 8, the rest is summed apart, lanes and rest
    /// are added in a fixed tree, then the chunks in order. bf16 values and their f32
    /// widening give that value, with chunks that end inside a group of 8, on the vector path
    /// and the portable loop.
    #[test]
    fn norms_follow_their_lane_definition_bit_for_bit() {
        fn by_definition(g: &[f32]) -> f64 {
            let chunk = |c: &[f32]| {
                let whole = c.len() / 8 * 8;
                let mut lanes = [0f64; 8];
                for (i, &v) in c[..whole].iter().enumerate() {
                    lanes[i % 8] += f64::from(v) * f64::from(v);
                }
                let rest: f64 = c[whole..]
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum();
                ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
                    + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
                    + rest
            };
            g.chunks(CHUNK).map(chunk).sum::<f64>().sqrt()
        }
        for n in [5, 1029, CHUNK + 2_051] {
            let g16: Vec<bf16> = (0..n)
                .map(|i| bf16::from_f32(((i * 37 % 101) as f32 - 50.0) * 7e-3))
                .collect();
            let g: Vec<f32> = g16.iter().map(|v| v.to_f32()).collect();
            let want = by_definition(&g).to_bits();
            assert_eq!(deterministic_norm(&g).to_bits(), want, "f32, {n} values");
            assert_eq!(
                deterministic_norm_bf16(&g16).to_bits(),
                want,
                "bf16, {n} values"
            );
        }
    }

    /// Every bf16 (NaNs, infinities and subnormals included), each in a lane and in the rest:
    /// the vector path gives the portable loop's bits.
    #[test]
    fn every_bf16_sums_as_the_portable_loop_does() {
        for bits in 0..=u16::MAX {
            let x = [bf16::from_bits(bits); 9];
            let wide = x.map(bf16::to_f32);
            let want = portable(&x).to_bits();
            let at = format!("{bits:#06x}");
            assert_eq!(chunk_sum_squares_bf16(&x).to_bits(), want, "{at}");
            assert_eq!(chunk_sum_squares(&wide).to_bits(), want, "{at}");
        }
    }
}
