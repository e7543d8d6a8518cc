//! tanh over a slice, bit-identical to the system's `tanhf`, vectorised where that is provable.
//!
//! burn's CPU backend (and so training) computes tanh with `f32::tanh`, the C library's `tanhf`.
//! On glibc up to 2.40 that is fdlibm's `s_tanhf.c` over `s_expm1f.c`: about 13–22 ns per value,
//! a quarter of the time of a scoring or validation pass over the paper's MLP. [`tanh_in_place`]
//! computes the same f32 operations in the same order (fdlibm's argument reduction, polynomial
//! and reconstruction, every branch turned into a select) on blocks of 256 values, a loop the
//! compiler vectorises (AVX-512 or AVX2, picked at run time). The rare
//! inputs (0, |x| < 2⁻⁵⁵, |x| ≥ 22, inf, NaN) go to `f32::tanh`.
//!
//! Other C libraries (glibc ≥ 2.41's correctly rounded `tanhf`, musl, macOS) round some values
//! differently. So the fast kernel is used only when it agrees with the system's `tanhf` on a
//! fixed sweep of 65,536 inputs spread over its whole domain, checked once per process
//! ([`fast_tanh_matches_libm`]); otherwise every value goes to `f32::tanh`. A sweep is evidence,
//! not proof: a C library that differs only on rare inputs could pass it. Either way the output
//! equals `f32::tanh` bit for bit on the inputs checked by the tests (every 257th f32, and all
//! 2³² once, by hand: see the README), so scores stay identical to burn's forward.

use std::sync::OnceLock;

/// Values per block: a block whose values all take `tanhf`'s common path runs vectorised.
const BLOCK: usize = 256;

/// fdlibm `expm1f` for the two argument ranges `tanhf` uses on its common path, with every branch
/// computed and selected: `u = 2|x|` for 1 ≤ |x| < 22, `u = −2|x|` for 2⁻⁵⁵ ≤ |x| < 1.
///
/// # Safety
/// `|u| < 44` (finite): the argument reduction converts `u / ln 2` to `i32` unchecked.
#[inline(always)]
unsafe fn expm1f_tanh_range(u: f32) -> f32 {
    // fdlibm's constants, by their bit patterns.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
    const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
    const INVLN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const Q1: f32 = f32::from_bits(0xbd08_8889);
    const Q2: f32 = f32::from_bits(0x3ad0_0d01);
    const Q3: f32 = f32::from_bits(0xb8a6_70cd);
    const Q4: f32 = f32::from_bits(0x3686_7e54);
    const Q5: f32 = f32::from_bits(0xb457_edbb);
    let bits = u.to_bits();
    let negative = bits & 0x8000_0000 != 0;
    let hx = bits & 0x7fff_ffff;
    // Argument reduction: k = 0 (|u| ≤ ln2/2), k = ±1 (|u| < 1.5 ln2), else k = round(u/ln2).
    let reduce = hx > 0x3eb1_7218;
    let near = hx < 0x3f85_1592;
    // SAFETY: |u| < 44 (the caller's contract), so the value is far inside i32; C truncates
    // the same way.
    let k_far: i32 = unsafe { (INVLN2 * u + if negative { -0.5 } else { 0.5 }).to_int_unchecked() };
    let k_near = if negative { -1 } else { 1 };
    let k = if !reduce {
        0
    } else if near {
        k_near
    } else {
        k_far
    };
    let t_far = k_far as f32;
    let (hi_near, lo_near) = if negative {
        (u + LN2_HI, -LN2_LO)
    } else {
        (u - LN2_HI, LN2_LO)
    };
    let (hi_far, lo_far) = (u - t_far * LN2_HI, t_far * LN2_LO);
    let (hi, lo) = if near {
        (hi_near, lo_near)
    } else {
        (hi_far, lo_far)
    };
    let x_red = hi - lo;
    let c_red = (hi - x_red) - lo;
    let (x, c) = if reduce { (x_red, c_red) } else { (u, 0.0) };
    let tiny = hx < 0x3300_0000;
    let hfx = 0.5f32 * x;
    let hxs = x * hfx;
    let r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
    let t = 3.0f32 - r1 * hfx;
    let e0 = hxs * ((r1 - t) / (6.0f32 - x * t));
    let k0 = x - (x * e0 - hxs);
    let e = (x * (e0 - c) - c) - hxs;
    let km1 = 0.5f32 * (x - e) - 0.5f32;
    let kp1 = if x < -0.25f32 {
        -2.0f32 * (e - (x + 0.5f32))
    } else {
        1.0 + 2.0f32 * (x - e)
    };
    let scale = |y: f32| f32::from_bits((y.to_bits() as i32).wrapping_add(k << 23) as u32);
    let wide = scale(1.0 - (e - x)) - 1.0;
    let ks = k.clamp(0, 31);
    let t_small = f32::from_bits((0x3f80_0000i32 - (0x0100_0000i32 >> ks.min(24))) as u32);
    let small = scale(t_small - (e - x));
    let t_large = f32::from_bits(((0x7f - k.clamp(23, 56)) << 23) as u32);
    let large = scale((x - (e + t_large)) + 1.0);
    let r = if k == 0 {
        k0
    } else if k == -1 {
        km1
    } else if k == 1 {
        kp1
    } else if k <= -2 || k > 56 {
        wide
    } else if k < 23 {
        small
    } else {
        large
    };
    if tiny { u } else { r }
}

/// fdlibm `tanhf` on its common path (2⁻⁵⁵ ≤ |x| < 22), branch-free.
///
/// # Safety
/// `common(x)` holds (then `|2x| < 44`, as [`expm1f_tanh_range`] needs).
#[inline(always)]
unsafe fn tanhf_common(x: f32) -> f32 {
    let a = x.abs();
    let big = a >= 1.0;
    // SAFETY: |x| < 22 (the caller's contract), so |±2|x|| < 44.
    let t = unsafe { expm1f_tanh_range(if big { 2.0 * a } else { -2.0 * a }) };
    let z = if big {
        1.0 - 2.0 / (t + 2.0)
    } else {
        -t / (t + 2.0)
    };
    if x.is_sign_negative() { -z } else { z }
}

/// Whether `x` takes `tanhf`'s common path (the one [`tanhf_common`] computes).
#[inline(always)]
fn common(x: f32) -> bool {
    let ix = x.to_bits() & 0x7fff_ffff;
    (0x2400_0000..0x41b0_0000).contains(&ix)
}

/// Whether the vectorised kernel reproduces this process's `f32::tanh` (the C library's
/// `tanhf`) on a fixed sweep of 65,536 inputs over its domain; checked once, then cached.
pub fn fast_tanh_matches_libm() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        (0u32..1 << 16).all(|i| {
            // Bit patterns spread over the common magnitudes by a multiplicative hash (so high
            // and low mantissa bits both vary), both signs.
            let lo = 0x2400_0000u32;
            let span = 0x41b0_0000u32 - lo;
            let mag = lo + (i.wrapping_mul(2_654_435_761) % span);
            // `black_box`: the reference must be the C library's `tanhf` at run time, never a
            // value the compiler folded with its own tanh.
            let x = std::hint::black_box(f32::from_bits(mag | ((i & 1) << 31)));
            // SAFETY: `mag` is a common magnitude by construction.
            unsafe { tanhf_common(x) }.to_bits() == x.tanh().to_bits()
        })
    })
}

/// `xs[i] = tanh(xs[i])` for every element, bit-identical to `f32::tanh`.
pub fn tanh_in_place(xs: &mut [f32]) {
    if !fast_tanh_matches_libm() {
        xs.iter_mut().for_each(|x| *x = x.tanh());
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { chunks_avx512(xs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { chunks_avx2(xs) };
        }
    }
    chunks(xs);
}

/// The kernel compiled for AVX-512 (16 lanes). Enabling a target feature changes instruction
/// selection only: Rust never fuses a multiply and an add, so every value is the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chunks_avx512(xs: &mut [f32]) {
    chunks(xs);
}

/// The kernel compiled for AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunks_avx2(xs: &mut [f32]) {
    chunks(xs);
}

/// Blocks whose values all take the common path run the branch-free kernel (one loop the compiler
/// vectorises); a block with a rare value goes value by value.
#[inline(always)]
fn chunks(xs: &mut [f32]) {
    for block in xs.chunks_mut(BLOCK) {
        if block.iter().fold(true, |all, &x| all & common(x)) {
            for x in block.iter_mut() {
                // SAFETY: every value of the block is common (checked just above).
                *x = unsafe { tanhf_common(*x) };
            }
        } else {
            for x in block.iter_mut() {
                *x = if common(*x) {
                    // SAFETY: `x` is common.
                    unsafe { tanhf_common(*x) }
                } else {
                    x.tanh()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sweeps every `stride`-th f32 bit pattern through `tanh_in_place` and counts the values
    /// whose bits differ from `f32::tanh` (NaNs compare as NaN).
    fn mismatches(stride: u64) -> u64 {
        let mut count = 0;
        let mut buf = Vec::with_capacity(1 << 16);
        let mut start = 0u64;
        while start < 1 << 32 {
            buf.clear();
            let mut i = start;
            while i < 1 << 32 && buf.len() < 1 << 16 {
                buf.push(f32::from_bits(i as u32));
                i += stride;
            }
            let want: Vec<f32> = buf.iter().map(|x| x.tanh()).collect();
            tanh_in_place(&mut buf);
            count += buf
                .iter()
                .zip(&want)
                .filter(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan()))
                .count() as u64;
            start = i;
        }
        count
    }

    #[test]
    fn tanh_in_place_equals_libm_on_every_257th_float() {
        assert_eq!(mismatches(257), 0);
    }

    #[test]
    fn rare_inputs_and_chunk_tails_go_to_libm() {
        let mut v = vec![
            0.0f32,
            -0.0,
            1e-20,
            -1e-20,
            22.0,
            -30.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            0.5,
            -0.5,
            1.0,
            -1.0,
            3.0,
            -3.0,
            21.9,
            -0.3,
            0.75,
        ];
        // Opaque inputs: LLVM would fold `tanhf` of a constant through the f64 `tanh`, which
        // rounds some values differently from the C library's `tanhf`.
        v = std::hint::black_box(v);
        let want: Vec<u32> = v.iter().map(|x| x.tanh().to_bits()).collect();
        tanh_in_place(&mut v);
        let got: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(got[..8], want[..8]);
        assert!(f32::from_bits(got[8]).is_nan());
        assert_eq!(got[9..], want[9..]);
        // Hand values: tanh(0.5) = 0.46211716, tanh(−3) = −0.9950548 (f32).
        assert_eq!(v[9], 0.462_117_16);
        assert_eq!(v[14], -0.995_054_8);
    }

    /// All 2³² inputs: about a minute on two cores. Run by hand (`cargo test --release -p
    /// activepref-model -- --ignored tanh`) on a new C library; the README records the result.
    #[test]
    #[ignore]
    fn tanh_in_place_equals_libm_on_every_float() {
        assert_eq!(mismatches(1), 0);
    }
}
