//! Conversions between f32 and bf16 over whole slices (`model.precision: bf16`'s roundings of
//! inputs, activations, gradients and weights), on every thread and at the widest vector width
//! the CPU has.
//!
//! `half` converts bf16 slices with plain element loops (its comment: "until there's any bf16
//! SIMD support"), built for the crate's target: on the default x86-64 target that is SSE2, four
//! lanes. The loops here run the same per-element functions, [`bf16::from_f32`] (round to
//! nearest, ties to even; a NaN comes out quiet) and [`bf16::to_f32`] (exact for every non-NaN
//! value), inside copies compiled ahead for AVX-512 and for AVX2, one of which is chosen at run
//! time ([`VectorIsa::widest`]). Both functions are integer operations on the bits, and a target
//! feature changes instruction selection only, so every value is `half`'s on every path (tested
//! on each path the CPU has: every 65,537th f32 bit pattern, the rounding boundaries, and every
//! bf16).

use activepref_core::simd::VectorIsa;
use half::bf16;
use rayon::prelude::*;

/// Elements per task of the parallel conversions.
const BLOCK: usize = 1 << 16;

/// `dst = bf16(src)` element by element, on every thread.
///
/// # Panics
///
/// If the slices differ in length.
pub(crate) fn round_into(src: &[f32], dst: &mut [bf16]) {
    in_blocks(src, dst, round);
}

/// `values` rounded to bf16 into the front of `buffer` (grown as needed), returned.
pub(crate) fn fill_bf16<'a>(buffer: &'a mut Vec<bf16>, values: &[f32]) -> &'a [bf16] {
    if buffer.len() < values.len() {
        buffer.resize(values.len(), bf16::ZERO);
    }
    let out = &mut buffer[..values.len()];
    round_into(values, out);
    out
}

/// `dst = f32(src)` element by element (exact), on every thread.
///
/// # Panics
///
/// If the slices differ in length.
pub(crate) fn widen_into(src: &[bf16], dst: &mut [f32]) {
    in_blocks(src, dst, widen);
}

/// `convert` on matching [`BLOCK`]-element blocks of `src` and `dst`, on every thread, with the
/// widest vector set.
fn in_blocks<S: Sync, D: Send>(
    src: &[S],
    dst: &mut [D],
    convert: impl Fn(VectorIsa, &[S], &mut [D]) + Sync,
) {
    assert_eq!(src.len(), dst.len(), "equal lengths");
    let kernel = VectorIsa::widest();
    dst.par_chunks_mut(BLOCK)
        .zip(src.par_chunks(BLOCK))
        .for_each(|(d, s)| convert(kernel, s, d));
}

/// `dst = f32(src)` on the calling thread (a caller that already splits its work).
pub(crate) fn widen_slice(src: &[bf16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "equal lengths");
    widen(VectorIsa::widest(), src, dst);
}

/// `dst = bf16(src)` on the calling thread (a caller that already splits its work).
pub(crate) fn round_slice(src: &[f32], dst: &mut [bf16]) {
    assert_eq!(src.len(), dst.len(), "equal lengths");
    round(VectorIsa::widest(), src, dst);
}

/// `xs[i] = f32(bf16(xs[i]))` on the calling thread: each value replaced by the bf16 value it
/// rounds to.
pub(crate) fn round_in_place(xs: &mut [f32]) {
    round_each(VectorIsa::widest(), xs);
}

/// `dst = bf16(src)` on the calling thread, in `isa`'s copy of the loop.
fn round(isa: VectorIsa, src: &[f32], dst: &mut [bf16]) {
    isa.run(
        #[inline(always)]
        || {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = bf16::from_f32(s);
            }
        },
    );
}

/// `dst = f32(src)` on the calling thread, in `isa`'s copy of the loop.
fn widen(isa: VectorIsa, src: &[bf16], dst: &mut [f32]) {
    isa.run(
        #[inline(always)]
        || {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s.to_f32();
            }
        },
    );
}

/// `xs[i] = f32(bf16(xs[i]))` on the calling thread, in `isa`'s copy of the loop.
fn round_each(isa: VectorIsa, xs: &mut [f32]) {
    isa.run(
        #[inline(always)]
        || {
            for x in xs.iter_mut() {
                *x = bf16::from_f32(*x).to_f32();
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 65,537th f32 bit pattern (`(i << 16) | i`: every upper half with every sign,
    /// exponent, zero, subnormal, infinity and NaN) and the values around each rounding boundary
    /// (low halves `0000`, `7fff`, `8000`, `8001`, `ffff` under odd and even upper halves),
    /// padded to a length that is not a multiple of 16, so that the vector loops have a tail.
    fn patterns() -> Vec<f32> {
        let mut bits: Vec<u32> = (0..=u32::MAX).step_by(65_537).collect();
        for hi in [
            0x3f80u32, 0x3f81, 0x7f7f, 0x7f80, 0x7fc0, 0x8001, 0xff80, 0x0000, 0x0001,
        ] {
            for lo in [0x0000u32, 0x7fff, 0x8000, 0x8001, 0xffff] {
                bits.push(hi << 16 | lo);
            }
        }
        while bits.len() % 16 != 7 {
            bits.push(0x4049_0fdb);
        }
        bits.into_iter().map(f32::from_bits).collect()
    }

    #[test]
    fn rounding_equals_halfs_element_conversion_on_every_kernel() {
        let src = patterns();
        for kernel in VectorIsa::available() {
            let mut dst = vec![bf16::ZERO; src.len()];
            round(kernel, &src, &mut dst);
            let mut in_place = src.clone();
            round_each(kernel, &mut in_place);
            for ((s, d), p) in src.iter().zip(&dst).zip(&in_place) {
                let want = bf16::from_f32(*s);
                let at = format!("{kernel:?} {:#010x}", s.to_bits());
                assert_eq!(d.to_bits(), want.to_bits(), "{at}");
                assert_eq!(p.to_bits(), want.to_f32().to_bits(), "{at}");
            }
            // Ties go to even: 1 + 2⁻⁸ (a tie) rounds down to 1, 1 + 3 · 2⁻⁸ up to 1 + 2⁻⁶.
            let mut two = [bf16::ZERO; 2];
            round(kernel, &[1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0], &mut two);
            assert_eq!([two[0].to_f32(), two[1].to_f32()], [1.0, 1.0 + 1.0 / 64.0]);
        }
    }

    #[test]
    fn widening_is_half_s_on_every_bf16_and_kernel() {
        // Every bf16, then a few again so that the length is not a multiple of 16.
        let src: Vec<bf16> = (0..=u16::MAX)
            .chain(0x3f80..0x3f87)
            .map(bf16::from_bits)
            .collect();
        for kernel in VectorIsa::available() {
            let mut dst = vec![0f32; src.len()];
            widen(kernel, &src, &mut dst);
            for (s, d) in src.iter().zip(&dst) {
                let at = format!("{kernel:?} {:#06x}", s.to_bits());
                assert_eq!(d.to_bits(), s.to_f32().to_bits(), "{at}");
            }
        }
    }

    #[test]
    fn parallel_conversions_equal_the_element_loop() {
        let src: Vec<f32> = (0..3 * BLOCK + 11)
            .map(|i| (i as f32 * 0.377).sin() * 1e3)
            .collect();
        let mut rounded = Vec::new();
        let got = fill_bf16(&mut rounded, &src).to_vec();
        assert!(got.iter().zip(&src).all(|(g, s)| *g == bf16::from_f32(*s)));
        let mut wide = vec![0f32; src.len()];
        widen_into(&got, &mut wide);
        assert!(wide.iter().zip(&got).all(|(w, g)| *w == g.to_f32()));
    }
}
