//! Conversions between f32 and bf16 over whole slices, compiled for the widest vector unit the
//! CPU has (`model.precision: bf16`'s roundings of inputs, activations, gradients and weights).
//!
//! `half` converts bf16 slices with plain element loops (its comment: "until there's any bf16
//! SIMD support"), built for the crate's target: on the default x86-64 target that is SSE2, four
//! lanes. These functions run the same per-element functions, [`bf16::from_f32`] (round to
//! nearest, ties to even; NaN kept quiet) and [`bf16::to_f32`] (exact), inside functions compiled
//! for AVX-512 or AVX2, chosen at run time. A target feature changes instruction selection only,
//! so every value is `half`'s (tested on every 65,537th bit pattern and on the rounding
//! boundaries).

use half::bf16;

/// `dst[i] = bf16(src[i])`.
///
/// # Panics
///
/// If the slices differ in length.
pub(crate) fn round_slice(src: &[f32], dst: &mut [bf16]) {
    assert_eq!(src.len(), dst.len(), "equal lengths");
    widest(|| {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = bf16::from_f32(s);
        }
    });
}

/// `dst[i] = f32(src[i])` (exact).
///
/// # Panics
///
/// If the slices differ in length.
pub(crate) fn widen_slice(src: &[bf16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "equal lengths");
    widest(|| {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
    });
}

/// `xs[i] = f32(bf16(xs[i]))`: each value replaced by the bf16 value it rounds to.
pub(crate) fn round_in_place(xs: &mut [f32]) {
    widest(|| {
        for x in xs.iter_mut() {
            *x = bf16::from_f32(*x).to_f32();
        }
    });
}

/// Runs `f` compiled for AVX-512 (F and BW) or AVX2 where the CPU has them, else as built.
#[inline(always)]
fn widest(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has AVX-512F and AVX-512BW (checked just above).
            return unsafe { on_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { on_avx2(f) };
        }
    }
    f();
}

/// `f` inlined into a function compiled for AVX-512 (16 f32 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn on_avx512(f: impl FnOnce()) {
    f();
}

/// `f` inlined into a function compiled for AVX2 (8 f32 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn on_avx2(f: impl FnOnce()) {
    f();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 65,537th f32 bit pattern (signs, zeros, subnormals, infinities, NaNs) and the
    /// values around each rounding boundary (`…7fff`, `…8000`, `…8001` low halves, odd and even
    /// upper halves).
    fn patterns() -> Vec<f32> {
        let mut bits: Vec<u32> = (0..=u32::MAX).step_by(65_537).collect();
        for hi in [
            0x3f80u32, 0x3f81, 0x7f7f, 0x7f80, 0x7fc0, 0x8001, 0xff80, 0x0000, 0x0001,
        ] {
            for lo in [0x0000u32, 0x7fff, 0x8000, 0x8001, 0xffff] {
                bits.push(hi << 16 | lo);
            }
        }
        // An odd length, so that the vector loops have a tail.
        bits.push(0x4049_0fdb);
        bits.into_iter().map(f32::from_bits).collect()
    }

    #[test]
    fn rounding_equals_halfs_element_conversion() {
        let src = patterns();
        let mut dst = vec![bf16::ZERO; src.len()];
        round_slice(&src, &mut dst);
        let mut in_place = src.clone();
        round_in_place(&mut in_place);
        for ((s, d), p) in src.iter().zip(&dst).zip(&in_place) {
            let want = bf16::from_f32(*s);
            assert_eq!(d.to_bits(), want.to_bits(), "{:#010x}", s.to_bits());
            assert_eq!(
                p.to_bits(),
                want.to_f32().to_bits(),
                "{:#010x}",
                s.to_bits()
            );
        }
        // Ties go to even: 1 + 2⁻⁸ (a tie) rounds down to 1, 1 + 3 · 2⁻⁸ up to 1 + 2⁻⁶.
        let mut two = [bf16::ZERO; 2];
        round_slice(&[1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0], &mut two);
        assert_eq!([two[0].to_f32(), two[1].to_f32()], [1.0, 1.0 + 1.0 / 64.0]);
    }

    #[test]
    fn widening_is_exact_on_every_bf16() {
        let src: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
        let mut dst = vec![0f32; src.len()];
        widen_slice(&src, &mut dst);
        for (s, d) in src.iter().zip(&dst) {
            assert_eq!(d.to_bits(), s.to_f32().to_bits(), "{:#06x}", s.to_bits());
        }
    }
}
