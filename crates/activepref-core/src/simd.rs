//! The one run-time choice of x86-64 vector width that activepref's hand-vectorised element-wise
//! kernels share (tanh in `activepref-model`, the bf16 conversions, the encoder's GELU and its
//! softmax `exp`).
//!
//! Each of those kernels is plain Rust that the compiler vectorises. It is compiled ahead in
//! one copy per [`VectorIsa`] (by inlining it into a function built with that instruction set,
//! [`VectorIsa::run`]), and the widest copy the CPU runs is chosen at run time
//! ([`VectorIsa::widest`]). A target feature changes instruction selection only: Rust never
//! fuses a multiply and an add on its own, and `f32::mul_add` / `f64::mul_add` are correctly
//! rounded with or without FMA, so every copy computes the same bits (each kernel's tests run
//! every copy the CPU has, [`VectorIsa::available`]). The AVX2 copy is built with FMA too (the
//! softmax `exp` needs it), so a rare AVX2 CPU without FMA runs the `Plain` copy: the same
//! values, only slower.
//!
//! ```
//! use activepref_core::simd::VectorIsa;
//! let mut xs = vec![1.5f32; 100];
//! let isa = VectorIsa::widest();
//! // `#[inline(always)]` makes the loop part of the copy built for `isa`.
//! isa.run(
//!     #[inline(always)]
//!     || xs.iter_mut().for_each(|x| *x *= 2.0),
//! );
//! assert!(xs.iter().all(|&x| x == 3.0));
//! assert!(VectorIsa::available().contains(&isa));
//! ```

/// An x86-64 vector instruction set a kernel copy is compiled for, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VectorIsa {
    /// As built for the crate's target (SSE2 on the default x86-64 target; every other
    /// architecture runs only this).
    Plain,
    /// AVX2 with FMA (8 f32 lanes; x86-64-v3's vector set).
    Avx2,
    /// AVX-512F with FMA (16 f32 lanes; every AVX-512F CPU has FMA).
    Avx512,
}

impl VectorIsa {
    /// The widest set this CPU runs.
    pub fn widest() -> VectorIsa {
        if VectorIsa::Avx512.is_supported() {
            VectorIsa::Avx512
        } else if VectorIsa::Avx2.is_supported() {
            VectorIsa::Avx2
        } else {
            VectorIsa::Plain
        }
    }

    /// Every set this CPU runs, narrowest first (for tests that check each compiled copy).
    pub fn available() -> Vec<VectorIsa> {
        [VectorIsa::Plain, VectorIsa::Avx2, VectorIsa::Avx512]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Whether this CPU runs the set (`Plain` always; the others only on x86-64 CPUs that report
    /// the instructions). The check is a cached feature-bit read.
    pub fn is_supported(self) -> bool {
        match self {
            VectorIsa::Plain => true,
            #[cfg(target_arch = "x86_64")]
            VectorIsa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            VectorIsa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Runs `f` inside a function compiled for this set. Mark the closure `#[inline(always)]`
    /// (as is every function it calls in its loop) so that its body becomes part of that copy.
    ///
    /// # Panics
    /// If this CPU does not run the set ([`Self::is_supported`]); [`Self::widest`] and
    /// [`Self::available`] never hand out such a set.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        assert!(
            self.is_supported(),
            "{self:?} kernels on a CPU without those instructions"
        );
        match self {
            VectorIsa::Plain => f(),
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            #[cfg(target_arch = "x86_64")]
            VectorIsa::Avx2 => unsafe { on_avx2(f) },
            // SAFETY: the CPU has AVX-512F and FMA (checked just above).
            #[cfg(target_arch = "x86_64")]
            VectorIsa::Avx512 => unsafe { on_avx512(f) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only Plain is supported off x86-64"),
        }
    }
}

/// `f` inlined into a function compiled for AVX-512F.
///
/// # Safety
/// The CPU has AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn on_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f` inlined into a function compiled for AVX2 with FMA.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn on_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_is_the_last_available_and_plain_is_always_there() {
        let all = VectorIsa::available();
        assert_eq!(all.first(), Some(&VectorIsa::Plain));
        assert_eq!(all.last(), Some(&VectorIsa::widest()));
        assert!(all.windows(2).all(|w| w[0] < w[1]), "narrowest first");
    }

    #[test]
    fn every_available_set_runs_the_closure_and_returns_its_value() {
        for isa in VectorIsa::available() {
            let xs: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
            let sum = isa.run(
                #[inline(always)]
                || xs.iter().map(|&x| f64::from(x)).sum::<f64>(),
            );
            assert_eq!(sum, 0.25 * (36.0 * 37.0 / 2.0), "{isa:?}");
        }
    }
}
