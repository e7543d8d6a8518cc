//! A right operand kept in the B tiles' layout from call to call ([`PackedRhs`]), and the writer
//! that rounds f32 values straight into that layout ([`PackedWriter`]).
//!
//! bf16 training's first layer (4,096 × 2,048 on the paper's shapes) is the right operand of
//! every forward GEMM and of nothing else (the backward never multiplies by it: the input
//! features take no gradient). [`super::matmul`] packs its right operand at every call, a 16 MB
//! read and write per member and step that a profile of the bf16 steps put at 14–15% of their
//! time, and again for every 4,096-row chunk of a validation pass. Kept packed, AdamW's pass
//! writes the bf16 rounding of the updated master weights into the panels directly (where it
//! wrote them row-major before), and the forward runs on them as they are. The panels hold the
//! bits [`super::pack_rhs`] would make of the row-major rounding, so every product is the same
//! (tested).

use super::{Kernel, Shared, TILE_COLS, TILE_K, run_blocks, with_spare, without_products};
use crate::bf16_slices::round_slice;
use crate::dense::Strided;
use half::bf16;
use rayon::prelude::*;

/// Values per rounding task of [`PackedRhs::rounded`] (64 rows of the paper's first layer).
const ROUND_CHUNK: usize = 1 << 17;

/// A `k × n` bf16 right operand in the B tiles' panels (module docs of [`super`]): panels of 16
/// columns, each `kp / 2` rows of 16 column pairs `(k = 2r, k = 2r + 1)`, one `u32` a pair (the
/// even `k`'s bits low), zero past `k` and past `n`.
pub(crate) struct PackedRhs {
    panels: Vec<u32>,
    k: usize,
    n: usize,
    kernel: Kernel,
}

impl std::fmt::Debug for PackedRhs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedRhs")
            .field("k", &self.k)
            .field("n", &self.n)
            .field("kernel", &self.kernel)
            .finish()
    }
}

impl Clone for PackedRhs {
    fn clone(&self) -> Self {
        Self {
            panels: self.panels.clone(),
            ..*self
        }
    }
}

impl PackedRhs {
    /// The bf16 rounding of `values` (`k × n`, row-major f32), packed for `kernel`; the rounding
    /// runs on the rayon pool.
    ///
    /// # Panics
    ///
    /// If `values` does not hold `k × n` elements.
    pub(crate) fn rounded(kernel: Kernel, values: &[f32], (k, n): (usize, usize)) -> Self {
        assert_eq!(values.len(), k * n, "k × n values");
        let kp = k.next_multiple_of(TILE_K);
        let mut packed = Self {
            panels: vec![0; n.div_ceil(TILE_COLS) * kp / 2 * TILE_COLS],
            k,
            n,
            kernel,
        };
        let writer = packed.writer();
        values
            .par_chunks(ROUND_CHUNK)
            .enumerate()
            // SAFETY: the chunks are disjoint element ranges.
            .for_each(|(i, chunk)| unsafe { writer.write_rounded(i * ROUND_CHUNK, chunk) });
        packed
    }

    /// A writer of the operand's elements, for tasks that each write their own ranges.
    pub(crate) fn writer(&mut self) -> PackedWriter<'_> {
        PackedWriter {
            dst: Shared(self.panels.as_mut_ptr()),
            k: self.k,
            n: self.n,
            panel_len: self.panel_len(),
            _panels: std::marker::PhantomData,
        }
    }

    /// Elements of a panel: `kp / 2` pair rows of 16.
    fn panel_len(&self) -> usize {
        self.k.next_multiple_of(TILE_K) / 2 * TILE_COLS
    }

    /// [`super::matmul`] with this operand as `rhs`: `out = round_bf16(lhs · rhs + [out])`,
    /// `lhs`: `m × k`, `out`: `m × n` row-major, the bracketed term when `accumulate`; the same
    /// bits as [`super::matmul`] on the row-major operand.
    ///
    /// # Panics
    ///
    /// If `out` is not `m × n` or `lhs` does not hold its `m × k` elements.
    pub(crate) fn matmul(
        &self,
        out: &mut [bf16],
        m: usize,
        lhs: &Strided<bf16>,
        (accumulate, parallel): (bool, bool),
    ) {
        let (k, n) = (self.k, self.n);
        if without_products(out, (m, n, k), lhs, accumulate) {
            return;
        }
        let kp = k.next_multiple_of(TILE_K);
        let flags = (accumulate, parallel);
        run_blocks(self.kernel, out, (m, n, k, kp), lhs, &self.panels, flags);
    }

    /// The operand row-major again (tests compare it with a rounding of the master weights).
    #[cfg(test)]
    pub(crate) fn unpacked(&self) -> Vec<bf16> {
        let panel_len = self.panel_len();
        let mut out = Vec::with_capacity(self.k * self.n);
        for kk in 0..self.k {
            for j in 0..self.n {
                let pair =
                    self.panels[j / TILE_COLS * panel_len + kk / 2 * TILE_COLS + j % TILE_COLS];
                let bits = if kk % 2 == 0 { pair } else { pair >> 16 };
                out.push(bf16::from_bits(bits as u16));
            }
        }
        out
    }
}

/// Writes bf16 roundings into a [`PackedRhs`]'s panels from several tasks at once, each task its
/// own range of row-major elements.
pub(crate) struct PackedWriter<'a> {
    dst: Shared<u32>,
    k: usize,
    n: usize,
    panel_len: usize,
    _panels: std::marker::PhantomData<&'a mut [u32]>,
}

thread_local! {
    static SPARE_ROUNDED: std::cell::Cell<Vec<bf16>> = const { std::cell::Cell::new(Vec::new()) };
}

impl PackedWriter<'_> {
    /// Elements of the operand (`k × n`).
    pub(crate) fn len(&self) -> usize {
        self.k * self.n
    }

    /// Writes `bf16(values[i])` (round to nearest even, as [`round_slice`]) as row-major element
    /// `start + i` of the operand. The pairs of rows the range covers in full (an even row and
    /// the next) are written as whole `u32`s, panel after panel (each panel's run of pair rows
    /// is contiguous: the writes go through memory in order, where row by row every 16 columns
    /// would land on another page); the rest element by element.
    ///
    /// # Safety
    ///
    /// No other call writes an overlapping element range at the same time (two ranges may share
    /// a `u32`, each writing its own half).
    ///
    /// # Panics
    ///
    /// If the range runs past `k × n`.
    pub(crate) unsafe fn write_rounded(&self, start: usize, values: &[f32]) {
        let (k, n) = (self.k, self.n);
        let end = start + values.len();
        assert!(
            end <= k * n,
            "elements {start}..{end} of a {k} × {n} operand"
        );
        if n == 0 {
            return;
        }
        with_spare(&SPARE_ROUNDED, |r| {
            r.resize(values.len(), bf16::ZERO);
            round_slice(values, r);
            // The pairs of rows inside the range, and the elements before and after them.
            let first_pair = start.div_ceil(2 * n);
            let pairs = (first_pair..(end / (2 * n)).min(k / 2)).len();
            let (lo, hi) = (first_pair * 2 * n, (first_pair + pairs) * 2 * n);
            let (lo, hi) = if pairs == 0 { (end, end) } else { (lo, hi) };
            for at in (start..lo).chain(hi..end) {
                // SAFETY: this element is this call's.
                unsafe { self.write_one((at / n, at % n), r[at - start]) };
            }
            if pairs > 0 {
                // SAFETY: these rows are this call's.
                unsafe { self.write_pairs(first_pair, &r[lo - start..hi - start]) };
            }
        });
    }

    /// Pair rows `first..first + rows.len() / (2n)` of every panel, from their rows' bf16 values
    /// (row-major, starting with row `2 · first`).
    ///
    /// # Safety
    ///
    /// As [`Self::write_rounded`], for these rows.
    unsafe fn write_pairs(&self, first: usize, rows: &[bf16]) {
        let n = self.n;
        let full = n / TILE_COLS;
        for p in 0..full {
            let j0 = p * TILE_COLS;
            for (r, two) in rows.chunks_exact(2 * n).enumerate() {
                // SAFETY: pair row `first + r` of panel `p`, 16 `u32`s inside the panels.
                let pairs = unsafe {
                    let at = p * self.panel_len + (first + r) * TILE_COLS;
                    std::slice::from_raw_parts_mut(self.dst.ptr().add(at), TILE_COLS)
                };
                let (e, o) = (&two[j0..j0 + TILE_COLS], &two[n + j0..n + j0 + TILE_COLS]);
                for c in 0..TILE_COLS {
                    pairs[c] = u32::from(e[c].to_bits()) | u32::from(o[c].to_bits()) << 16;
                }
            }
        }
        for (r, two) in rows.chunks_exact(2 * n).enumerate() {
            let kk = 2 * (first + r);
            for j in full * TILE_COLS..n {
                // SAFETY: the caller's.
                unsafe {
                    self.write_one((kk, j), two[j]);
                    self.write_one((kk + 1, j), two[n + j]);
                }
            }
        }
    }

    /// Element `(kk, j)`: its half of its pair's `u32`.
    ///
    /// # Safety
    ///
    /// As [`Self::write_rounded`], for this element.
    unsafe fn write_one(&self, (kk, j): (usize, usize), v: bf16) {
        let pair = j / TILE_COLS * self.panel_len + kk / 2 * TILE_COLS + j % TILE_COLS;
        // The even `k`'s bits are the pair's low half: its first `u16` in memory on a
        // little-endian CPU.
        let half = if cfg!(target_endian = "little") {
            kk % 2
        } else {
            1 - kk % 2
        };
        // SAFETY: inside the panels; another task may write the pair's other half, never this
        // one, and each half is its own `u16` in memory.
        unsafe { *self.dst.ptr().add(pair).cast::<u16>().add(half) = v.to_bits() };
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Kernel, matmul, pack_rhs};
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    /// Shapes with odd rows, partial panels, a lone row or column, and `k` past whole steps.
    const SHAPES: [(usize, usize); 7] = [
        (1, 1),
        (2, 16),
        (6, 5),
        (33, 40),
        (64, 48),
        (71, 100),
        (128, 2048),
    ];

    /// Written in ranges that cut rows and pairs anywhere, in any order, on the pool: the panels
    /// [`pack_rhs`] makes of the row-major rounding, bit for bit (padding included).
    #[test]
    fn written_ranges_equal_packing_the_rounding() {
        for &(k, n) in &SHAPES {
            let v = values(k * n, (k * 31 + n) as u32);
            let rounded: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            let mut want = Vec::new();
            let rhs = Strided::row_major(&rounded, n);
            pack_rhs(&mut want, &rhs, (k, n, k.next_multiple_of(TILE_K)), false);
            for cut in [1, 7, n, 2 * n, 3 * n + 5, ROUND_CHUNK] {
                let mut packed = PackedRhs {
                    panels: vec![0; want.len()],
                    k,
                    n,
                    kernel: Kernel::Emulated,
                };
                let writer = packed.writer();
                let ranges: Vec<(usize, &[f32])> = v
                    .chunks(cut)
                    .enumerate()
                    .map(|(i, c)| (i * cut, c))
                    .rev()
                    .collect();
                // SAFETY: disjoint ranges.
                ranges
                    .par_iter()
                    .for_each(|&(at, c)| unsafe { writer.write_rounded(at, c) });
                assert!(packed.panels == want, "{k} × {n}, ranges of {cut}");
                assert!(packed.unpacked() == rounded, "{k} × {n}: unpacked");
            }
            let whole = PackedRhs::rounded(Kernel::Emulated, &v, (k, n));
            assert!(whole.panels == want, "{k} × {n}: rounded");
        }
    }

    /// Products on the kept panels are [`matmul`]'s on the row-major operand, bit for bit.
    #[test]
    fn products_equal_packing_at_every_call() {
        for &(k, n) in &SHAPES[..6] {
            let w = values(k * n, 7);
            let packed = PackedRhs::rounded(Kernel::Emulated, &w, (k, n));
            let w16: Vec<bf16> = w.iter().map(|&x| bf16::from_f32(x)).collect();
            for m in [1, 16, 37] {
                let x: Vec<bf16> = values(m * k, 9)
                    .iter()
                    .map(|&x| bf16::from_f32(x))
                    .collect();
                let init: Vec<bf16> = values(m * n, 11)
                    .iter()
                    .map(|&x| bf16::from_f32(x))
                    .collect();
                for (accumulate, parallel) in [(false, false), (true, true)] {
                    let lhs = Strided::row_major(&x, k);
                    let (mut got, mut want) = (init.clone(), init.clone());
                    packed.matmul(&mut got, m, &lhs, (accumulate, parallel));
                    let rhs = Strided::row_major(&w16, n);
                    let dims = (m, n, k);
                    matmul(
                        Kernel::Emulated,
                        &mut want,
                        dims,
                        (&lhs, &rhs),
                        accumulate,
                        parallel,
                    );
                    let bits = |v: &[bf16]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let same = bits(&got) == bits(&want);
                    assert!(same, "{m} × {k} · {k} × {n}, accumulate {accumulate}");
                }
            }
        }
    }
}
