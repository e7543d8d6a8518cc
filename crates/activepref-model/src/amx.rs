//! bf16 GEMM on Intel AMX tiles (`tdpbf16ps`): the kernel `model.precision: bf16` runs where the
//! CPU has AMX-BF16 (Sapphire Rapids and later Xeons), in place of `gemmkit`'s AVX512-BF16 one.
//!
//! `out = round_bf16(lhs · rhs + [out])`, `lhs`: `m × k`, `rhs`: `k × n` (bf16, any strides),
//! `out`: `m × n` row-major bf16, the bracketed term when `accumulate` (a bias already written in
//! every row). Each output starts from its f32 initial value (the widened `out`, or zero) and
//! takes the products in blocks of 32 along `k`, each block as one `tdpbf16ps` adds it: the even
//! and the odd products of the block summed apart in f32, in order, then `acc + (even + odd)`
//! (measured on an Intel Xeon with AMX against every other order tried: 51,200 outputs of
//! random data, every bit, and tested against [`Kernel::Emulated`] wherever AMX runs). Then one
//! rounding to bf16. Each product is fused into its partial sum (one rounding), a subnormal
//! input (bf16, or the f32 initial value) reads as zero and every subnormal result is flushed to
//! a zero of its sign, as the emulation does (measured on subnormal data too: flushing or
//! rounding the product alone gives other bits).
//!
//! Work is split into blocks of rows and of columns only, never along `k`, so no bit depends on
//! the thread count or the blocking (tested), but the order differs from `gemmkit`'s, so a bf16
//! run on an AMX CPU differs in its last bits from one on a CPU without it (bf16 results already
//! depend on the CPU family; f32 never does). `ACTIVEPREF_AMX=0` (or `off`, `false`, `no`) in
//! the environment turns the kernel off, for a side-by-side measurement or to reproduce a run
//! made with `gemmkit`'s `vdpbf16ps` kernel (a CPU with AVX512-BF16 and without AMX).
//!
//! Layouts: `rhs` is packed once per call (or kept packed from call to call, [`PackedRhs`]) into panels of 16 columns in the pair-interleaved
//! ("VNNI") order the B tile reads, `[k/2][16][2]`; `lhs` is read in place when its rows are
//! contiguous, `k` is a multiple of 32 and a block's rows fill whole tiles, and packed into
//! zero-padded tiles otherwise. Outputs accumulate in f32 scratch tiles.

mod packed;

pub(crate) use packed::{PackedRhs, PackedWriter};

use crate::bf16_slices::{round_slice, widen_slice};
use crate::dense::Strided;
use half::bf16;
use rayon::prelude::*;

/// Rows of an A or C tile.
const TILE_ROWS: usize = 16;
/// `k` values per A-tile row (64 bytes of bf16): one `tdpbf16ps` step.
const TILE_K: usize = 32;
/// Columns of a B or C tile (16 f32 = 64 bytes).
const TILE_COLS: usize = 16;
/// Rows per task: a block's A tiles (128 × 4,096 bf16 = 1 MB on the paper's first layer) stay in
/// a core's L2 while every column panel passes over them.
const BLOCK_ROWS: usize = 128;

/// The tile multiplier a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// The CPU's AMX unit.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    Amx,
    /// The same arithmetic in plain Rust, element by element (for tests on any CPU).
    #[cfg(test)]
    Emulated,
}

/// Whether this process runs its bf16 GEMMs on AMX, and why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Availability {
    /// The CPU reports AMX-TILE and AMX-BF16 (CPUID leaf 7) and Linux granted the tile-data
    /// state (`arch_prctl(ARCH_REQ_XCOMP_PERM)`).
    Ready,
    /// `ACTIVEPREF_AMX` is `0`, `off`, `false` or `no`.
    TurnedOff,
    /// The CPU has AMX, but Linux refused the tile state (an older kernel, a seccomp filter).
    Refused,
    /// No AMX-BF16 on this CPU (or not x86-64 Linux).
    Absent,
}

/// This process's [`Availability`], decided once.
pub(crate) fn availability() -> Availability {
    static STATE: std::sync::OnceLock<Availability> = std::sync::OnceLock::new();
    *STATE.get_or_init(|| {
        let off = std::env::var("ACTIVEPREF_AMX").is_ok_and(|v| {
            ["0", "off", "false", "no"].contains(&v.trim().to_ascii_lowercase().as_str())
        });
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            if tiles::present() {
                return if off {
                    Availability::TurnedOff
                } else if tiles::permit() {
                    Availability::Ready
                } else {
                    Availability::Refused
                };
            }
        }
        let _ = off;
        Availability::Absent
    })
}

/// The AMX kernel when this process may run it ([`Availability::Ready`]).
pub(crate) fn hardware() -> Option<Kernel> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        if availability() == Availability::Ready {
            return Some(Kernel::Amx);
        }
    }
    None
}

/// One call of the tile kernel: a `tiles_m × tiles_n` grid (each 1 or 2) of 16 × 16 f32 output
/// tiles at `c` (row stride `c_stride` elements; tile `(i, j)` starts `16·i` rows and `16·j`
/// columns in), updated in place with the products of `tiles_m` A tiles (rows `16·i..` of `a`,
/// row stride `a_stride` elements, `steps × 32` columns) and `tiles_n` packed B panels.
#[derive(Clone, Copy)]
struct Micro {
    a: *const bf16,
    a_stride: usize,
    tiles_m: usize,
    b: [*const bf16; 2],
    tiles_n: usize,
    steps: usize,
    c: *mut f32,
    c_stride: usize,
}

impl Kernel {
    /// # Safety
    ///
    /// Every tile `job` names lies in live memory: A rows `16 · tiles_m` × `32 · steps`, the B
    /// panels `steps · 512` elements each, the C tiles; the C tiles are not otherwise borrowed.
    unsafe fn run(self, job: Micro) {
        match self {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Kernel::Amx => {
                // SAFETY: the caller's contract; `hardware` enabled the tiles for the process.
                unsafe { tiles::run(job) }
            }
            #[cfg(test)]
            Kernel::Emulated => {
                // SAFETY: the caller's contract.
                unsafe { emulate(job) }
            }
        }
    }
}

/// `tdpbf16ps`'s arithmetic, element by element (see the module docs).
///
/// # Safety
///
/// As [`Kernel::run`].
#[cfg(test)]
unsafe fn emulate(job: Micro) {
    for ti in 0..job.tiles_m {
        for (tj, &b) in job.b.iter().enumerate().take(job.tiles_n) {
            for r in 0..TILE_ROWS {
                for col in 0..TILE_COLS {
                    // SAFETY: inside the tiles the caller vouches for.
                    unsafe {
                        let c = job
                            .c
                            .add((ti * TILE_ROWS + r) * job.c_stride + tj * TILE_COLS + col);
                        let a = job.a.add((ti * TILE_ROWS + r) * job.a_stride);
                        let mut acc = flush(*c);
                        for s in 0..job.steps {
                            let (mut even, mut odd) = (0f32, 0f32);
                            for p in 0..TILE_K / 2 {
                                let x = a.add(s * TILE_K + 2 * p);
                                let y = b.add(s * TILE_K * TILE_COLS + p * 2 * TILE_COLS + 2 * col);
                                even = dot_step(even, (*x).to_f32(), (*y).to_f32());
                                odd = dot_step(odd, (*x.add(1)).to_f32(), (*y.add(1)).to_f32());
                            }
                            acc = flush(acc + flush(even + odd));
                        }
                        *c = acc;
                    }
                }
            }
        }
    }
}

/// `x` with a subnormal read as zero of its sign, as the tiles read and write f32 values.
#[cfg(test)]
fn flush(x: f32) -> f32 {
    if x.is_subnormal() {
        0f32.copysign(x)
    } else {
        x
    }
}

/// One fused step of a tile's dot product on two widened bf16 values: `acc + x · y` rounded
/// once, a subnormal input read as zero and a subnormal result flushed (measured on the hardware:
/// rounding the product first, or flushing it, gives other bits on subnormal data).
#[cfg(test)]
fn dot_step(acc: f32, x: f32, y: f32) -> f32 {
    flush(flush(x).mul_add(flush(y), acc))
}

/// A pointer shared by tasks that write disjoint parts of what it points to.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
impl<T> Shared<T> {
    /// The pointer (a method, so that a closure captures the whole `Shared`, not its field).
    fn ptr(self) -> *mut T {
        self.0
    }
}

// SAFETY: every task writes its own part only (see `matmul` and `pack_rhs`).
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

/// `out = round_bf16(lhs · rhs + [out])` on `kernel` (see the module docs); `(m, n, k)` are the
/// product's sizes, `parallel` puts the blocks on the rayon pool.
///
/// # Panics
///
/// If `out` is not `m × n` or an operand does not hold its `m × k` / `k × n` elements.
pub(crate) fn matmul(
    kernel: Kernel,
    out: &mut [bf16],
    (m, n, k): (usize, usize, usize),
    (lhs, rhs): (&Strided<bf16>, &Strided<bf16>),
    accumulate: bool,
    parallel: bool,
) {
    rhs.check(k, n);
    if without_products(out, (m, n, k), lhs, accumulate) {
        return;
    }
    let kp = k.next_multiple_of(TILE_K);
    with_spare(&SPARE_PACKED, |packed| {
        pack_rhs(packed, rhs, (k, n, kp), parallel);
        run_blocks(
            kernel,
            out,
            (m, n, k, kp),
            lhs,
            packed,
            (accumulate, parallel),
        );
    });
}

/// Checks `out` (`m × n`) and `lhs` (`m × k`), and finishes a product with no products to take
/// (`m`, `n` or `k` zero: `out` kept, or cleared for an empty `k` without `accumulate`);
/// true when it did.
///
/// # Panics
///
/// If `out` is not `m × n` or `lhs` does not hold its `m × k` elements.
fn without_products(
    out: &mut [bf16],
    (m, n, k): (usize, usize, usize),
    lhs: &Strided<bf16>,
    accumulate: bool,
) -> bool {
    assert_eq!(out.len(), m * n, "an m × n output");
    lhs.check(m, k);
    if k == 0 && !accumulate {
        out.fill(bf16::ZERO);
    }
    m == 0 || n == 0 || k == 0
}

/// [`matmul`]'s tasks on the packed `rhs`.
fn run_blocks(
    kernel: Kernel,
    out: &mut [bf16],
    (m, n, k, kp): (usize, usize, usize, usize),
    lhs: &Strided<bf16>,
    packed: &[u32],
    (accumulate, parallel): (bool, bool),
) {
    let panels = n.div_ceil(TILE_COLS);
    let panel_len = kp / 2 * TILE_COLS;
    // Tasks: blocks of rows, and of column-panel pairs where there are too few row blocks to
    // keep every thread busy.
    let threads = if parallel {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    let row_blocks = m.div_ceil(BLOCK_ROWS);
    let pairs = panels.div_ceil(2);
    let wanted = if row_blocks >= 2 * threads {
        1
    } else {
        (4 * threads).div_ceil(row_blocks)
    };
    let pairs_per = pairs.div_ceil(wanted.clamp(1, pairs));
    let col_blocks = pairs.div_ceil(pairs_per);
    let out_ptr = Shared(out.as_mut_ptr());
    let task = |t: usize| {
        let (rb, cb) = (t / col_blocks, t % col_blocks);
        let rows = (rb * BLOCK_ROWS, ((rb + 1) * BLOCK_ROWS).min(m));
        let panel_range = (cb * pairs_per * 2, ((cb + 1) * pairs_per * 2).min(panels));
        let block = Block {
            rows,
            panel_range,
            n,
            k,
            kp,
        };
        // SAFETY: tasks cover disjoint rows × columns blocks of `out`, which outlives them.
        unsafe { block.run(kernel, out_ptr, lhs, (packed, panel_len), accumulate) };
    };
    let tasks = row_blocks * col_blocks;
    if parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Panels per packing task of a strided `rhs`.
const PACK_PANELS: usize = 8;
/// Row pairs per packing task of a row-major `rhs`.
const PACK_PAIRS: usize = 64;

/// `rhs` (`k × n`) as B-tile panels of 16 columns, each `kp / 2` rows of 16 column pairs
/// `(k = 2r, k = 2r + 1)`, one `u32` a pair (the even `k`'s bf16 bits low, as the tile reads
/// them in memory), zero-padded to `kp` rows and whole panels, into `packed` (resized; every
/// element written, so a reused buffer needs no clearing).
///
/// A row-major `rhs` is read in memory order, row pair after row pair, each task a range of
/// pairs across every panel (a panel's 16 columns are 32 bytes of a row: read panel by panel,
/// every row would be a new page, which the hardware prefetcher does not follow). Other
/// layouts go panel by panel, each column in order.
fn pack_rhs(
    packed: &mut Vec<u32>,
    rhs: &Strided<bf16>,
    (k, n, kp): (usize, usize, usize),
    parallel: bool,
) {
    let (panels, half) = (n.div_ceil(TILE_COLS), kp / 2);
    let panel_len = half * TILE_COLS;
    packed.resize(panels * panel_len, 0);
    let pair = |kk: usize, j: usize| {
        let at = |kk: usize| {
            if kk < k && j < n {
                u32::from(rhs.data[kk * rhs.row + j * rhs.col].to_bits())
            } else {
                0
            }
        };
        at(kk) | at(kk + 1) << 16
    };
    if rhs.col == 1 {
        let dst = Shared(packed.as_mut_ptr());
        let fill = |t: usize| {
            for r in t * PACK_PAIRS..((t + 1) * PACK_PAIRS).min(half) {
                let (k0, k1) = (2 * r, 2 * r + 1);
                for p in 0..panels {
                    let j0 = p * TILE_COLS;
                    // SAFETY: pair `r` of panel `p` (16 values inside `packed`) belongs to
                    // this task's range of pairs alone.
                    let pairs = unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.ptr().add(p * panel_len + r * TILE_COLS),
                            TILE_COLS,
                        )
                    };
                    if k1 < k && j0 + TILE_COLS <= n {
                        let row0 = &rhs.data[k0 * rhs.row + j0..][..TILE_COLS];
                        let row1 = &rhs.data[k1 * rhs.row + j0..][..TILE_COLS];
                        for c in 0..TILE_COLS {
                            pairs[c] =
                                u32::from(row0[c].to_bits()) | u32::from(row1[c].to_bits()) << 16;
                        }
                    } else {
                        for (c, d) in pairs.iter_mut().enumerate() {
                            *d = pair(k0, j0 + c);
                        }
                    }
                }
            }
        };
        let tasks = half.div_ceil(PACK_PAIRS);
        if parallel {
            (0..tasks).into_par_iter().for_each(fill);
        } else {
            (0..tasks).for_each(fill);
        }
        return;
    }
    let fill = |(g, group): (usize, &mut [u32])| {
        for (p, panel) in group.chunks_mut(panel_len).enumerate() {
            let j0 = (g * PACK_PANELS + p) * TILE_COLS;
            for c in 0..TILE_COLS {
                let column = panel[c..].iter_mut().step_by(TILE_COLS);
                if rhs.row == 1 && j0 + c < n && k.is_multiple_of(2) {
                    // A transposed view: the column's `k` values are neighbours, in order.
                    let values = &rhs.data[(j0 + c) * rhs.col..][..k];
                    let mut pairs = values
                        .chunks_exact(2)
                        .map(|two| u32::from(two[0].to_bits()) | u32::from(two[1].to_bits()) << 16);
                    column.for_each(|d| *d = pairs.next().unwrap_or(0));
                } else {
                    column
                        .enumerate()
                        .for_each(|(r, d)| *d = pair(2 * r, j0 + c));
                }
            }
        }
    };
    let group = PACK_PANELS * panel_len;
    if parallel {
        packed.par_chunks_mut(group).enumerate().for_each(fill);
    } else {
        packed.chunks_mut(group).enumerate().for_each(fill);
    }
}

/// A buffer kept per thread from call to call (`take`n and put back, so a nested call on the
/// same thread, as rayon's work stealing allows, finds an empty one instead of a borrowed one).
/// Fresh buffers cost page faults and the kernel's page zeroing at every call.
fn with_spare<T, R>(
    spare: &'static std::thread::LocalKey<std::cell::Cell<Vec<T>>>,
    f: impl FnOnce(&mut Vec<T>) -> R,
) -> R {
    let mut buffer = spare.take();
    let result = f(&mut buffer);
    spare.set(buffer);
    result
}

thread_local! {
    static SPARE_PACKED: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
    static SPARE_TILES: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// One task: output rows `rows.0..rows.1` × column panels `panel_range` (16 columns each).
struct Block {
    rows: (usize, usize),
    panel_range: (usize, usize),
    n: usize,
    k: usize,
    kp: usize,
}

impl Block {
    /// # Safety
    ///
    /// `out` points to the live `m × n` output, and no other thread touches this block of it.
    unsafe fn run(
        &self,
        kernel: Kernel,
        out: Shared<bf16>,
        lhs: &Strided<bf16>,
        (packed, panel_len): (&[u32], usize),
        accumulate: bool,
    ) {
        let width = (self.panel_range.1 - self.panel_range.0) * TILE_COLS;
        let tiles_m = (self.rows.1 - self.rows.0).div_ceil(TILE_ROWS);
        with_spare(&SPARE_TILES, |c| {
            c.resize(c.len().max(tiles_m * TILE_ROWS * width), 0.0);
            // SAFETY: as this function's.
            unsafe { self.run_on(kernel, (out, lhs), (packed, panel_len), accumulate, c) }
        });
    }

    /// [`Self::run`] with `c` (at least `16 · tiles × width` f32) as the f32 output tiles.
    ///
    /// # Safety
    ///
    /// As [`Self::run`].
    unsafe fn run_on(
        &self,
        kernel: Kernel,
        (out, lhs): (Shared<bf16>, &Strided<bf16>),
        (packed, panel_len): (&[u32], usize),
        accumulate: bool,
        c: &mut [f32],
    ) {
        let (i0, i1) = self.rows;
        let (p0, p1) = self.panel_range;
        let (n, k, kp) = (self.n, self.k, self.kp);
        let rows = i1 - i0;
        let tiles_m = rows.div_ceil(TILE_ROWS);
        let j0 = p0 * TILE_COLS;
        let cols = (p1 * TILE_COLS).min(n) - j0;
        let width = (p1 - p0) * TILE_COLS;
        // In place when the rows are contiguous and fill whole tiles of whole 32-value steps.
        let in_place = lhs.col == 1 && k == kp && rows.is_multiple_of(TILE_ROWS);
        let own = (!in_place).then(|| pack_lhs(lhs, (i0, rows), (k, kp)));
        let (a, a_stride) = match &own {
            Some(packed) => (packed.as_ptr(), kp),
            None => (lhs.data[i0 * lhs.row..].as_ptr(), lhs.row),
        };
        // SAFETY (both row views): rows `i0..i1`, columns `j0..j0 + cols` are this task's alone.
        let row_of = |r: usize| unsafe {
            std::slice::from_raw_parts_mut(out.0.add((i0 + r) * n + j0), cols)
        };
        // Padding rows and columns may hold anything: no output reads another's tile lanes.
        for r in 0..rows {
            let dst = &mut c[r * width..r * width + cols];
            if accumulate {
                widen_slice(row_of(r), dst);
            } else {
                dst.fill(0.0);
            }
        }
        for p in (p0..p1).step_by(2) {
            let tiles_n = (p1 - p).min(2);
            let b = [
                packed[p * panel_len..].as_ptr().cast::<bf16>(),
                packed[(p + tiles_n - 1) * panel_len..]
                    .as_ptr()
                    .cast::<bf16>(),
            ];
            for ti in (0..tiles_m).step_by(2) {
                let job = Micro {
                    a: a.wrapping_add(ti * TILE_ROWS * a_stride),
                    a_stride,
                    tiles_m: (tiles_m - ti).min(2),
                    b,
                    tiles_n,
                    steps: kp / TILE_K,
                    c: c[ti * TILE_ROWS * width + (p - p0) * TILE_COLS..].as_mut_ptr(),
                    c_stride: width,
                };
                // SAFETY: A holds `tiles_m · 16` rows of `kp` (packed, or the caller's rows when
                // they fill whole tiles), each panel `kp · 16` elements, C `tiles_m · 16 × width`.
                unsafe { kernel.run(job) };
            }
        }
        for r in 0..rows {
            round_slice(&c[r * width..r * width + cols], row_of(r));
        }
    }
}

/// Rows `i0..i0 + rows` of `lhs` (`k` columns), zero-padded to whole tiles and `kp` columns,
/// row-major (row stride `kp`).
fn pack_lhs(lhs: &Strided<bf16>, (i0, rows): (usize, usize), (k, kp): (usize, usize)) -> Vec<bf16> {
    let mut packed = vec![bf16::ZERO; rows.div_ceil(TILE_ROWS) * TILE_ROWS * kp];
    if lhs.col == 1 {
        for (r, dst) in packed.chunks_mut(kp).take(rows).enumerate() {
            let src = (i0 + r) * lhs.row;
            dst[..k].copy_from_slice(&lhs.data[src..src + k]);
        }
    } else {
        // A transposed view (`row` = 1): read each column's run of rows in order.
        for kk in 0..k {
            for r in 0..rows {
                packed[r * kp + kk] = lhs.data[(i0 + r) * lhs.row + kk * lhs.col];
            }
        }
    }
    packed
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tiles {
    //! The AMX instructions, as inline assembly (Rust's AMX intrinsics are not stable).
    use super::Micro;
    use std::arch::asm;

    /// Linux's `arch_prctl` request for an extended state component, and AMX's tile data.
    const ARCH_REQ_XCOMP_PERM: libc::c_ulong = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_ulong = 18;

    /// Whether the CPU has AMX-TILE and AMX-BF16.
    pub(super) fn present() -> bool {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        leaf7.edx >> 22 & 1 == 1 && leaf7.edx >> 24 & 1 == 1
    }

    /// Asks Linux to let this process use the tile state; whether it agreed.
    pub(super) fn permit() -> bool {
        // SAFETY: a system call with integer arguments; it changes only this process's
        // permission to use the tile state.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    }

    /// Palette 1, all eight tiles 16 rows × 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    static CONFIG: TileConfig = {
        let mut c = [0u8; 64];
        c[0] = 1;
        let mut t = 0;
        while t < 8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
            t += 1;
        }
        TileConfig(c)
    };

    /// [`super::Kernel::run`] on the AMX unit: C tiles in tmm0–3, A in tmm4–5, B in tmm6–7.
    ///
    /// # Safety
    ///
    /// As [`super::Kernel::run`], and the process holds the tile-data permission.
    pub(super) unsafe fn run(job: Micro) {
        let (a_bytes, c_bytes) = (job.a_stride * 2, job.c_stride * 4);
        let a1 = job.a.wrapping_add(16 * job.a_stride);
        let c1 = job.c.wrapping_add(16 * job.c_stride);
        let cfg = CONFIG.0.as_ptr();
        // SAFETY: the caller's contract; every asm block configures the tiles first and releases
        // them last, so no tile state outlives it.
        unsafe {
            match (job.tiles_m, job.tiles_n) {
                (2, 2) => asm!(
                    "ldtilecfg [{cfg}]",
                    "tileloadd tmm0, [{c0} + {cs}*1]",
                    "tileloadd tmm1, [{c0} + {cs}*1 + 64]",
                    "tileloadd tmm2, [{c1} + {cs}*1]",
                    "tileloadd tmm3, [{c1} + {cs}*1 + 64]",
                    "2:",
                    "tileloadd tmm4, [{a0} + {as}*1]",
                    "tileloadd tmm5, [{a1} + {as}*1]",
                    "tileloadd tmm6, [{b0} + {bs}*1]",
                    "tileloadd tmm7, [{b1} + {bs}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    "add {a0}, 64",
                    "add {a1}, 64",
                    "add {b0}, 1024",
                    "add {b1}, 1024",
                    "dec {steps}",
                    "jnz 2b",
                    "tilestored [{c0} + {cs}*1], tmm0",
                    "tilestored [{c0} + {cs}*1 + 64], tmm1",
                    "tilestored [{c1} + {cs}*1], tmm2",
                    "tilestored [{c1} + {cs}*1 + 64], tmm3",
                    "tilerelease",
                    cfg = in(reg) cfg,
                    c0 = in(reg) job.c,
                    c1 = in(reg) c1,
                    cs = in(reg) c_bytes,
                    a0 = inout(reg) job.a => _,
                    a1 = inout(reg) a1 => _,
                    as = in(reg) a_bytes,
                    b0 = inout(reg) job.b[0] => _,
                    b1 = inout(reg) job.b[1] => _,
                    bs = in(reg) 64usize,
                    steps = inout(reg) job.steps => _,
                    options(nostack),
                ),
                (tiles_m, tiles_n) => {
                    for ti in 0..tiles_m {
                        for tj in 0..tiles_n {
                            asm!(
                                "ldtilecfg [{cfg}]",
                                "tileloadd tmm0, [{c0} + {cs}*1]",
                                "2:",
                                "tileloadd tmm4, [{a0} + {as}*1]",
                                "tileloadd tmm6, [{b0} + {bs}*1]",
                                "tdpbf16ps tmm0, tmm4, tmm6",
                                "add {a0}, 64",
                                "add {b0}, 1024",
                                "dec {steps}",
                                "jnz 2b",
                                "tilestored [{c0} + {cs}*1], tmm0",
                                "tilerelease",
                                cfg = in(reg) cfg,
                                c0 = in(reg) job.c.wrapping_add(ti * 16 * job.c_stride + tj * 16),
                                cs = in(reg) c_bytes,
                                a0 = inout(reg) job.a.wrapping_add(ti * 16 * job.a_stride) => _,
                                as = in(reg) a_bytes,
                                b0 = inout(reg) job.b[tj] => _,
                                bs = in(reg) 64usize,
                                steps = inout(reg) job.steps => _,
                                options(nostack),
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bf16 values in [−1, 1), one in eight scaled by 64, so that f32 sums round.
    fn values(len: usize, seed: u64) -> Vec<bf16> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                bf16::from_f32(if s.is_multiple_of(8) { 64.0 * u } else { u })
            })
            .collect()
    }

    /// The definition from the operands themselves (module docs): the initial value, then blocks
    /// of 32 along `k` (zero past `k`), each block's even and odd products summed apart.
    fn definition(
        (lhs, rhs): (&Strided<bf16>, &Strided<bf16>),
        (m, n, k): (usize, usize, usize),
        init: &[bf16],
        accumulate: bool,
    ) -> Vec<bf16> {
        let a = |i: usize, kk: usize| {
            if kk < k {
                lhs.data[i * lhs.row + kk * lhs.col].to_f32()
            } else {
                0.0
            }
        };
        let b = |kk: usize, j: usize| {
            if kk < k {
                rhs.data[kk * rhs.row + j * rhs.col].to_f32()
            } else {
                0.0
            }
        };
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc = if accumulate {
                    flush(init[i * n + j].to_f32())
                } else {
                    0.0
                };
                for s in 0..k.div_ceil(TILE_K) {
                    let (mut even, mut odd) = (0f32, 0f32);
                    for p in 0..TILE_K / 2 {
                        let kk = s * TILE_K + 2 * p;
                        even = dot_step(even, a(i, kk), b(kk, j));
                        odd = dot_step(odd, a(i, kk + 1), b(kk + 1, j));
                    }
                    acc = flush(acc + flush(even + odd));
                }
                out.push(bf16::from_f32(acc));
            }
        }
        out
    }

    /// Runs `kernel` on `lhs · rhs` from `init`; `lhs_t` / `rhs_t` store an operand transposed.
    fn product(
        kernel: Kernel,
        (m, n, k): (usize, usize, usize),
        (lhs_t, rhs_t): (bool, bool),
        accumulate: bool,
        parallel: bool,
    ) -> (Vec<bf16>, Vec<bf16>) {
        let (x, w, init) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
        let lhs = if lhs_t {
            Strided::transposed(&x, m)
        } else {
            Strided::row_major(&x, k)
        };
        let rhs = if rhs_t {
            Strided::transposed(&w, k)
        } else {
            Strided::row_major(&w, n)
        };
        let mut out = init.clone();
        matmul(
            kernel,
            &mut out,
            (m, n, k),
            (&lhs, &rhs),
            accumulate,
            parallel,
        );
        (out, definition((&lhs, &rhs), (m, n, k), &init, accumulate))
    }

    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (16, 16, 32),
        (17, 33, 31),
        (40, 50, 70),
        (64, 48, 64),
        (129, 20, 96),
        (130, 64, 33),
        (256, 96, 128),
        (3, 300, 200),
    ];

    /// Every shape and layout, one after another on the same threads, so each call also runs on
    /// the previous call's spare buffers (other sizes, stale values in the padding).
    #[test]
    fn blocks_padding_and_packing_follow_the_definition() {
        for &shape in &SHAPES {
            for layout in [(false, false), (true, false), (false, true), (true, true)] {
                for accumulate in [false, true] {
                    for parallel in [false, true] {
                        let (got, want) =
                            product(Kernel::Emulated, shape, layout, accumulate, parallel);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(g, w)| g.to_bits() == w.to_bits());
                        assert!(
                            same,
                            "{shape:?} {layout:?} accumulate {accumulate} parallel {parallel}"
                        );
                    }
                }
            }
        }
    }

    /// One kernel call on a `tiles_m × tiles_n` grid of tiles with a `32 · steps` inner
    /// dimension, from random f32 initial values; the f32 tiles before any rounding to bf16.
    fn tile_products(kernel: Kernel, grid: (usize, usize, usize)) -> Vec<f32> {
        tile_products_scaled(kernel, grid, (1.0, 1.0, 16.0))
    }

    fn tile_products_scaled(
        kernel: Kernel,
        (tiles_m, tiles_n, steps): (usize, usize, usize),
        (sa, sw, sc): (f32, f32, f32),
    ) -> Vec<f32> {
        let kp = steps * TILE_K;
        let (rows, cols) = (tiles_m * TILE_ROWS, tiles_n * TILE_COLS);
        let scale = |v: Vec<bf16>, s: f32| -> Vec<bf16> {
            v.iter().map(|x| bf16::from_f32(x.to_f32() * s)).collect()
        };
        let a = scale(values(rows * kp, 5), sa);
        let w = scale(values(kp * cols, 6), sw);
        let mut packed = Vec::new();
        pack_rhs(
            &mut packed,
            &Strided::row_major(&w, cols),
            (kp, cols, kp),
            false,
        );
        let mut c: Vec<f32> = values(rows * cols, 7)
            .iter()
            .map(|v| sc * v.to_f32())
            .collect();
        let panel = kp / 2 * TILE_COLS;
        let job = Micro {
            a: a.as_ptr(),
            a_stride: kp,
            tiles_m,
            b: [
                packed.as_ptr().cast::<bf16>(),
                packed[(tiles_n - 1) * panel..].as_ptr().cast::<bf16>(),
            ],
            tiles_n,
            steps,
            c: c.as_mut_ptr(),
            c_stride: cols,
        };
        // SAFETY: A is `rows × kp`, each panel `kp · 16`, C `rows × cols`, all live and unshared.
        unsafe { kernel.run(job) };
        c
    }

    /// The f32 sums themselves (before the rounding to bf16 that hides most orders): the
    /// emulation is not a plain sum in `k` order on this data, so a test comparing f32 tiles
    /// sees a change of order.
    #[test]
    fn the_test_data_tells_summation_orders_apart() {
        let c = tile_products(Kernel::Emulated, (1, 1, 3));
        let (kp, a, w) = (96, values(16 * 96, 5), values(96 * 16, 6));
        let init = values(256, 7);
        let differ = (0..256)
            .filter(|&e| {
                let (i, j) = (e / 16, e % 16);
                let plain = (0..kp).fold(16.0 * init[e].to_f32(), |acc, kk| {
                    acc + a[i * kp + kk].to_f32() * w[kk * 16 + j].to_f32()
                });
                plain.to_bits() != c[e].to_bits()
            })
            .count();
        assert!(differ > 0, "no output tells the orders apart");
    }

    #[test]
    fn an_empty_inner_dimension_keeps_or_clears_the_output() {
        let init = values(6, 4);
        for accumulate in [false, true] {
            let mut out = init.clone();
            let empty: [bf16; 0] = [];
            let (lhs, rhs) = (Strided::row_major(&empty, 0), Strided::row_major(&empty, 3));
            matmul(
                Kernel::Emulated,
                &mut out,
                (2, 3, 0),
                (&lhs, &rhs),
                accumulate,
                false,
            );
            let want = if accumulate {
                init.clone()
            } else {
                vec![bf16::ZERO; 6]
            };
            assert_eq!(out, want);
        }
    }

    #[test]
    fn no_bit_depends_on_the_thread_count() {
        let mut kernels = vec![Kernel::Emulated];
        kernels.extend(hardware());
        for kernel in kernels {
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| product(kernel, (200, 176, 96), (false, false), true, true).0)
            };
            let (one, three) = (run(1), run(3));
            assert!(
                one.iter()
                    .zip(&three)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kernel:?}"
            );
        }
    }

    /// Where the CPU has AMX: the hardware's f32 tiles equal the emulation's bit for bit (every
    /// grid the driver uses; up to 128 steps), and so do whole products, on the edge shapes and
    /// on the paper's first-layer width (a 4,096-long inner sum, 128 steps). On
    /// a CPU without AMX there is no hardware to compare, and the test says so on stderr.
    #[test]
    fn amx_tiles_equal_the_emulation_bit_for_bit() {
        let Some(kernel) = hardware() else {
            eprintln!("no AMX on this CPU (or ACTIVEPREF_AMX=0): nothing to compare");
            return;
        };
        for grid in [
            (2, 2, 1),
            (2, 2, 3),
            (2, 2, 128),
            (1, 2, 5),
            (2, 1, 5),
            (1, 1, 7),
        ] {
            // The test data, then data whose inputs, products or sums are subnormal (scales of
            // A, B and C): the tiles read subnormal inputs as zero and flush subnormal results.
            let two = |e: i32| 2f32.powi(e);
            for scales in [
                (1.0, 1.0, 16.0),
                (two(-64), two(-64), 0.0),
                (two(-60), two(-64), two(-120)),
                (two(-66), two(-66), two(-126)),
                (two(-130), 1.0, 0.0),
                (two(-128), two(2), two(-125)),
            ] {
                let (got, want) = (
                    tile_products_scaled(kernel, grid, scales),
                    tile_products_scaled(Kernel::Emulated, grid, scales),
                );
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(same, "f32 tiles differ on {grid:?}, scales {scales:?}");
            }
        }
        let mut shapes = SHAPES.to_vec();
        shapes.push((48, 80, 4096));
        for shape in shapes {
            for layout in [(false, false), (true, true)] {
                for accumulate in [false, true] {
                    let (got, want) = product(kernel, shape, layout, accumulate, true);
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits());
                    assert!(same, "{shape:?} {layout:?} accumulate {accumulate}");
                }
            }
        }
    }

    /// The emulation's subnormal handling (the hardware's, per the test above): subnormal inputs
    /// read as zero, each product fused into its sum, a subnormal result flushed to a signed zero.
    #[test]
    fn the_emulation_reads_and_flushes_subnormals_as_the_tiles_do() {
        let two = |e: i32| 2f32.powi(e);
        assert_eq!(
            dot_step(1.0, two(-130), 4.0),
            1.0,
            "a subnormal input is zero"
        );
        // 2⁻¹²⁸ is subnormal: flushed alone, kept where it is fused into a normal sum.
        assert_eq!(dot_step(0.0, two(-64), two(-64)).to_bits(), 0);
        assert_eq!(
            dot_step(-0.0, -two(-64), two(-64)).to_bits(),
            (-0f32).to_bits()
        );
        assert_eq!(
            dot_step(two(-125), two(-64), two(-64)),
            two(-125) + two(-128)
        );
        assert_eq!(flush(two(-127)), 0.0);
        assert_eq!(flush(two(-126)), two(-126));
    }
}
