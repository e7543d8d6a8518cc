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
//! 2³² once, by hand: see docs/performance.md, "Model compute"), so scores stay identical to
//! burn's forward.

use activepref_core::simd::VectorIsa;
use std::sync::OnceLock;

/// Values per block: a block whose values all take `tanhf`'s common path runs vectorised.
const BLOCK: usize = 256;

/// fdlibm `expm1f` on the two argument ranges `tanhf` uses on its common path, with every branch
/// that can occur there computed and selected: `u = 2|x| ∈ [2, 44)` for 1 ≤ |x| < 22, and
/// `u = −2|x| ∈ (−2, 0)` for 2⁻⁵⁵ ≤ |x| < 1. On these ranges fdlibm's `k == 1` branch never
/// runs (a positive `u` is at least 2, so `k ≥ 3`), and its three branches that scale by `2^k`
/// (`k ≤ −2 || k > 56`, `k < 23`, the rest) share one scaling of the selected mantissa.
///
/// # Safety
/// `u` lies in one of the two ranges above: the argument reduction converts `u / ln 2` to `i32`
/// unchecked.
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
    // Argument reduction: k = 0 (|u| ≤ ln2/2), k = −1 (|u| < 1.5 ln2, only negative here),
    // else k = round(u/ln2).
    let reduce = hx > 0x3eb1_7218;
    let near = hx < 0x3f85_1592;
    // SAFETY: |u| < 44 (the caller's contract), so the value is far inside i32; C truncates
    // the same way.
    let k_far: i32 = unsafe { (INVLN2 * u + if negative { -0.5 } else { 0.5 }).to_int_unchecked() };
    let k = if !reduce {
        0
    } else if near {
        -1
    } else {
        k_far
    };
    let t_far = k_far as f32;
    let (hi, lo) = if near {
        (u + LN2_HI, -LN2_LO)
    } else {
        (u - t_far * LN2_HI, t_far * LN2_LO)
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
    // fdlibm's scaled branches: y = 1 − (e − x), then 2^k·y − 1 (k ≤ −2 or k > 56);
    // y = (1 − 2^−k) − (e − x) (k < 23); y = (x − (e + 2^−k)) + 1 (the rest); each times 2^k.
    let wide = k <= -2 || k > 56;
    let t_small = f32::from_bits((0x3f80_0000i32 - (0x0100_0000i32 >> k.clamp(0, 24))) as u32);
    let t_large = f32::from_bits(((0x7f - k.clamp(23, 56)) << 23) as u32);
    let y = if !wide && k >= 23 {
        (x - (e + t_large)) + 1.0
    } else {
        (if wide { 1.0 } else { t_small }) - (e - x)
    };
    let scaled = f32::from_bits((y.to_bits() as i32).wrapping_add(k << 23) as u32);
    let r = if k == 0 {
        k0
    } else if k == -1 {
        km1
    } else if wide {
        scaled - 1.0
    } else {
        scaled
    };
    if tiny { u } else { r }
}

/// fdlibm `tanhf` on its common path (2⁻⁵⁵ ≤ |x| < 22), branch-free: one `expm1f` and one
/// division per value (`2 / (t + 2)` for |x| ≥ 1, `−t / (t + 2)` below, the numerator selected
/// first), so a vector of mixed magnitudes computes each once.
///
/// # Safety
/// `common(x)` holds (then `u` is in the ranges [`expm1f_tanh_range`] needs).
#[inline(always)]
unsafe fn tanhf_common(x: f32) -> f32 {
    let a = x.abs();
    let big = a >= 1.0;
    // u = 2|x| for |x| ≥ 1, −2|x| below, by its sign bit (negating is exact). A select of
    // `2a` and `−2a` here let the compiler inline `expm1f` once per arm, twice per value.
    let u = f32::from_bits((2.0 * a).to_bits() | ((!big as u32) << 31));
    // SAFETY: 2⁻⁵⁵ ≤ |x| < 22 (the caller's contract), so u ∈ [2, 44) or u ∈ (−2, 0).
    let t = unsafe { expm1f_tanh_range(u) };
    let q = (if big { 2.0 } else { -t }) / (t + 2.0);
    let z = if big { 1.0 - q } else { q };
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
    chunks_on(VectorIsa::widest(), xs);
}

/// [`chunks`] in `isa`'s compiled copy (16 lanes on AVX-512, 8 on AVX2). A target feature changes
/// instruction selection only, so every value is the same ([`activepref_core::simd`]).
fn chunks_on(isa: VectorIsa, xs: &mut [f32]) {
    isa.run(
        #[inline(always)]
        || chunks(xs),
    );
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

    /// glibc's version as (major, minor), from `gnu_get_libc_version`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_version() -> Option<(u32, u32)> {
        unsafe extern "C" {
            fn gnu_get_libc_version() -> *const std::ffi::c_char;
        }
        // SAFETY: glibc returns a pointer to a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
        let mut parts = v.to_str().ok()?.split('.').map(|p| p.parse::<u32>().ok());
        Some((parts.next()??, parts.next()??))
    }

    /// On glibc up to 2.40 (fdlibm's `tanhf`; CI's Debian 12 has 2.36) the start-up sweep must
    /// switch the vector kernel on. Without this, a kernel that differs from `tanhf` would only
    /// be switched off by the sweep, and every other test here would compare `f32::tanh` with
    /// itself.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_vector_kernel_is_on_where_tanhf_is_fdlibms() {
        let version = glibc_version().expect("glibc's version");
        if version <= (2, 40) {
            assert!(
                fast_tanh_matches_libm(),
                "glibc {version:?}: the kernel disagrees with fdlibm's tanhf on the start-up sweep"
            );
        }
    }

    /// 512 bit patterns around each point where `tanhf` or `expm1f` changes branch, both signs,
    /// through every kernel: |x| = 1 (expm1f of 2|x| or of −2|x|), the argument-reduction bounds
    /// (2|x| = ln2/2 and 1.5·ln2 by fdlibm's bit patterns), `expm1f`'s tiny bound, the changes of
    /// k at 2|x| = 2.5·ln2, 22.5·ln2 and 56.5·ln2 (k −2 → −3, 22 → 23, 56 → 57) and the ends of
    /// the common path (2⁻⁵⁵, 22).
    #[test]
    fn every_kernel_equals_libm_around_each_branch_point() {
        let ln2 = std::f32::consts::LN_2;
        let points = [
            1.0,
            f32::from_bits(0x3eb1_7218) / 2.0,
            f32::from_bits(0x3f85_1592) / 2.0,
            f32::from_bits(0x3300_0000) / 2.0,
            1.25 * ln2,
            11.25 * ln2,
            28.25 * ln2,
            f32::from_bits(0x2400_0000),
            22.0,
        ];
        let xs: Vec<f32> = points
            .iter()
            .flat_map(|p| {
                (0..512u32).flat_map(move |i| {
                    let x = f32::from_bits(p.to_bits() - 256 + i);
                    [x, -x]
                })
            })
            .collect();
        let xs = std::hint::black_box(xs);
        // The reference: the C library's `tanhf` where it is fdlibm's (glibc ≤ 2.40, as here and
        // in CI); elsewhere the portable kernel, so the vector kernels are still checked against
        // the same transcription.
        let want: Vec<u32> = if fast_tanh_matches_libm() {
            xs.iter().map(|x| x.tanh().to_bits()).collect()
        } else {
            let mut v = xs.clone();
            chunks(&mut v);
            v.iter().map(|x| x.to_bits()).collect()
        };
        for isa in VectorIsa::available() {
            let mut got = xs.clone();
            chunks_on(isa, &mut got);
            let bad = got
                .iter()
                .zip(&want)
                .filter(|(g, w)| g.to_bits() != **w)
                .count();
            assert_eq!(bad, 0, "{isa:?}: {bad} of {} values differ", xs.len());
        }
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
    /// activepref-model -- --ignored tanh`) on a new C library; docs/performance.md records the
    /// result.
    #[test]
    #[ignore]
    fn tanh_in_place_equals_libm_on_every_float() {
        assert_eq!(mismatches(1), 0);
    }
}
