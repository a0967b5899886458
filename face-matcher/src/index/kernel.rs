//! The exact inner-product scan behind [`crate::index::WatchlistIndex`]: a blocked matrix product
//! of a batch of queries against the whole database, one register tile at a time, with the
//! top-k selection applied to each tile as it is computed, so the full `queries × database` score
//! matrix never exists in memory.
//!
//! # Layout
//! The database is stored in **panels** of [`NR`] = 32 rows. A panel holds, for each dimension
//! `k` in turn, the 32 rows' values at `k` (`panel[k·32 + j] = row[j][k]`), 64-byte aligned, the
//! last panel padded with zero rows. One step of `k` in a micro-kernel is then two aligned
//! 16-float loads (AVX-512) feeding every query of the tile, and a whole scan reads the database
//! front to back exactly once per query block, in one sequential stream.
//!
//! Queries are packed per call into micro-panels of `MR` queries, `k`-major as well
//! (`a[k·MR + i] = query[i][k]`), so each step broadcasts `MR` scalars.
//!
//! # Kernels
//! Chosen once at run time from the CPU's features:
//! - AVX-512F: a 14 × 32 tile in 28 zmm accumulators (14 broadcasts and 2 loads per 28 FMAs);
//! - AVX2 + FMA: a 6 × 16 tile in 12 ymm accumulators, run on both halves of a panel (one or
//!   two queries: a 1–2 × 32 tile, so the panel streams through once);
//! - scalar: the same loop nest in plain Rust (any CPU, and the reference the others are tested
//!   against).
//!
//! Every kernel sums each dot product in `k` order from 0 with one fused multiply-add per term
//! (the scalar one with `mul_add`), so all three give bit-identical scores; they differ from a
//! naive sum only by float rounding. Nothing is quantised.
//!
//! # Blocking
//! Queries are handled in blocks of [`QUERY_BLOCK`] (256 × 512 floats = 512 KiB, which stays in
//! a 1 MiB L2 next to the current 64 KiB panel). For each panel, every micro-panel of the block
//! is multiplied with it; the panel is read from memory once and then from cache. A batch of one
//! query is bound by memory bandwidth (the 205 MB database streams through once), a batch of 256
//! by the FMA units.

use std::arch::is_x86_feature_detected;

/// Database rows per panel.
pub const NR: usize = 32;

/// Queries per block (see the module docs).
pub const QUERY_BLOCK: usize = 256;

/// One cache line of floats; the panel storage is a vector of these so every panel row starts
/// on a 64-byte boundary.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// The database in panel layout (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct Panels {
    dim: usize,
    rows: usize,
    lines: Vec<Line>,
}

impl Panels {
    /// An empty database of `dim`-dimensional rows.
    pub(crate) fn new(dim: usize) -> Self {
        Panels {
            dim,
            rows: 0,
            lines: Vec::new(),
        }
    }

    /// Number of panels (the last may be partly padding).
    pub(crate) fn panels(&self) -> usize {
        self.rows.div_ceil(NR)
    }

    fn floats(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]` with no padding (64 bytes, align 64), so
        // the vector's memory is `16 · len` initialised, properly aligned f32 values.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * 16)
        }
    }

    fn floats_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `floats`, and the borrow is unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * 16,
            )
        }
    }

    /// Panel `p`: `dim × NR` floats, k-major.
    pub(crate) fn panel(&self, p: usize) -> &[f32] {
        let len = self.dim * NR;
        &self.floats()[p * len..][..len]
    }

    /// Appends one row (`dim` values, checked by the caller).
    pub(crate) fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.dim);
        let (p, j) = (self.rows / NR, self.rows % NR);
        if j == 0 {
            // A new panel, zero-filled: the padding rows score 0 and are skipped by row count.
            self.lines
                .resize(self.lines.len() + self.dim * NR / 16, Line::default());
        }
        let dim = self.dim;
        let panel = &mut self.floats_mut()[p * dim * NR..][..dim * NR];
        for (k, &v) in row.iter().enumerate() {
            panel[k * NR + j] = v;
        }
        self.rows += 1;
    }

    /// Row `r`, gathered back from its panel.
    pub(crate) fn row(&self, r: usize) -> Vec<f32> {
        let panel = self.panel(r / NR);
        (0..self.dim).map(|k| panel[k * NR + r % NR]).collect()
    }
}

/// The instruction set a scan uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F (x86-64).
    Avx512,
    /// AVX2 with FMA (x86-64).
    Avx2,
    /// Plain Rust.
    Scalar,
}

impl Isa {
    /// The best instruction set this CPU has.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// Whether this CPU can run it.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Queries per micro-panel.
    fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 14,
            Isa::Avx2 => 6,
            Isa::Scalar => 4,
        }
    }
}

/// Where a scan's scores go: per query, a threshold under which scores are not wanted, and the
/// scores above it.
pub(crate) trait TileSink {
    /// Scores at or below this are not offered for query `q` (−∞ while it wants everything).
    fn threshold(&self, q: usize) -> f32;
    /// A score above the threshold for query `q` against database row `row`.
    fn offer(&mut self, q: usize, row: usize, score: f32);
}

/// Scores every query against panels `panels_range` of `db` and offers each score above its
/// query's threshold to `sink`. `queries` are row-major, `dim` floats each.
pub(crate) fn scan(
    isa: Isa,
    db: &Panels,
    panel_range: std::ops::Range<usize>,
    queries: &[f32],
    sink: &mut impl TileSink,
) {
    let dim = db.dim;
    if dim == 0 || queries.is_empty() {
        return;
    }
    let n_queries = queries.len() / dim;
    let mr = isa.mr();
    let mut packed = Vec::new();
    let mut tile = vec![0.0f32; mr * NR];
    let mut thr = vec![0.0f32; mr];
    for block_start in (0..n_queries).step_by(QUERY_BLOCK) {
        let block_len = QUERY_BLOCK.min(n_queries - block_start);
        let block = &queries[block_start * dim..][..block_len * dim];
        // Micro-panels of this block: (first query in the block, rows, offset in `packed`).
        let micro: Vec<(usize, usize, usize)> = (0..block_len)
            .step_by(mr)
            .map(|i| (i, mr.min(block_len - i), i * dim))
            .collect();
        pack_queries(block, dim, mr, &mut packed);
        for p in panel_range.clone() {
            let panel = db.panel(p);
            let row0 = p * NR;
            let valid = NR.min(db.rows - row0);
            for &(first, m, offset) in &micro {
                let a = &packed[offset..][..m * dim];
                for (i, t) in thr[..m].iter_mut().enumerate() {
                    *t = sink.threshold(block_start + first + i);
                }
                let hits = tile_scores(isa, m, a, panel, dim, &thr[..m], &mut tile);
                if hits == 0 {
                    continue;
                }
                for i in 0..m {
                    if hits & (1 << i) == 0 {
                        continue;
                    }
                    let q = block_start + first + i;
                    let mut t = thr[i];
                    for (j, &s) in tile[i * NR..][..valid].iter().enumerate() {
                        if s > t {
                            sink.offer(q, row0 + j, s);
                            t = sink.threshold(q);
                        }
                    }
                }
            }
        }
    }
}

/// Packs a block of row-major queries into `mr`-query micro-panels, k-major; the last one holds
/// only the remaining queries (its kernel is instantiated for that count).
fn pack_queries(block: &[f32], dim: usize, mr: usize, packed: &mut Vec<f32>) {
    let n = block.len() / dim;
    packed.clear();
    packed.resize(n * dim, 0.0);
    for start in (0..n).step_by(mr) {
        let m = mr.min(n - start);
        let dst = &mut packed[start * dim..][..m * dim];
        for i in 0..m {
            let q = &block[(start + i) * dim..][..dim];
            for (k, &v) in q.iter().enumerate() {
                dst[k * m + i] = v;
            }
        }
    }
}

/// The `m × NR` scores of one micro-panel against one panel into `tile` (row `i` at `i·NR`),
/// returning a bit mask of the rows with at least one score above `thr[i]`.
fn tile_scores(
    isa: Isa,
    m: usize,
    a: &[f32],
    panel: &[f32],
    dim: usize,
    thr: &[f32],
    tile: &mut [f32],
) -> u32 {
    debug_assert!(a.len() == m * dim && panel.len() == dim * NR && tile.len() >= m * NR);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only chosen when the CPU has AVX-512F (`Isa::detect`, or
        // `Isa::supported` checked by the index); slice lengths are checked above.
        Isa::Avx512 => unsafe { avx512::tile(m, a, panel, dim, thr, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 + FMA.
        Isa::Avx2 => unsafe { avx2::tile(m, a, panel, dim, thr, tile) },
        _ => scalar_tile(m, a, panel, dim, thr, tile),
    }
}

fn scalar_tile(
    m: usize,
    a: &[f32],
    panel: &[f32],
    dim: usize,
    thr: &[f32],
    tile: &mut [f32],
) -> u32 {
    let mut acc = [[0.0f32; NR]; 16];
    for k in 0..dim {
        let b = &panel[k * NR..][..NR];
        for i in 0..m {
            let ai = a[k * m + i];
            for j in 0..NR {
                acc[i][j] = ai.mul_add(b[j], acc[i][j]);
            }
        }
    }
    let mut hits = 0;
    for i in 0..m {
        tile[i * NR..][..NR].copy_from_slice(&acc[i]);
        if acc[i].iter().any(|&s| s > thr[i]) {
            hits |= 1 << i;
        }
    }
    hits
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::NR;
    use std::arch::x86_64::*;

    /// Dispatches the row count to a kernel compiled for it, so the accumulators of every
    /// instantiation are plain registers.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `a` holds `m · dim` floats, `panel` `dim · NR` (64-byte
    /// aligned), `tile` at least `m · NR`, `thr` at least `m`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile(
        m: usize,
        a: &[f32],
        panel: &[f32],
        dim: usize,
        thr: &[f32],
        tile: &mut [f32],
    ) -> u32 {
        let (a, b, t, o) = (a.as_ptr(), panel.as_ptr(), thr.as_ptr(), tile.as_mut_ptr());
        // SAFETY: forwarded from the caller.
        unsafe {
            match m {
                14 => kernel::<14>(a, b, dim, t, o),
                13 => kernel::<13>(a, b, dim, t, o),
                12 => kernel::<12>(a, b, dim, t, o),
                11 => kernel::<11>(a, b, dim, t, o),
                10 => kernel::<10>(a, b, dim, t, o),
                9 => kernel::<9>(a, b, dim, t, o),
                8 => kernel::<8>(a, b, dim, t, o),
                7 => kernel::<7>(a, b, dim, t, o),
                6 => kernel::<6>(a, b, dim, t, o),
                5 => kernel::<5>(a, b, dim, t, o),
                4 => kernel::<4>(a, b, dim, t, o),
                3 => kernel::<3>(a, b, dim, t, o),
                2 => kernel::<2>(a, b, dim, t, o),
                1 => kernel::<1>(a, b, dim, t, o),
                _ => 0,
            }
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const M: usize>(
        a: *const f32,
        b: *const f32,
        dim: usize,
        thr: *const f32,
        out: *mut f32,
    ) -> u32 {
        // SAFETY (whole body): pointer ranges as documented on `tile`; `b` is 64-byte aligned
        // and every offset a multiple of 16 floats, so the aligned loads are valid.
        unsafe {
            let mut lo = [_mm512_setzero_ps(); M];
            let mut hi = [_mm512_setzero_ps(); M];
            for k in 0..dim {
                let bk = b.add(k * NR);
                let b0 = _mm512_load_ps(bk);
                let b1 = _mm512_load_ps(bk.add(16));
                let ak = a.add(k * M);
                for i in 0..M {
                    let ai = _mm512_set1_ps(*ak.add(i));
                    lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
                    hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
                }
            }
            let mut hits = 0u32;
            for i in 0..M {
                _mm512_storeu_ps(out.add(i * NR), lo[i]);
                _mm512_storeu_ps(out.add(i * NR + 16), hi[i]);
                let t = _mm512_set1_ps(*thr.add(i));
                let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(lo[i], t)
                    | _mm512_cmp_ps_mask::<_CMP_GT_OQ>(hi[i], t);
                hits |= u32::from(above != 0) << i;
            }
            hits
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::NR;
    use std::arch::x86_64::*;

    /// Runs the 6 × 16 kernel on both halves of the panel.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; sizes as for the AVX-512 kernel.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile(
        m: usize,
        a: &[f32],
        panel: &[f32],
        dim: usize,
        thr: &[f32],
        tile: &mut [f32],
    ) -> u32 {
        let (a, b, t, o) = (a.as_ptr(), panel.as_ptr(), thr.as_ptr(), tile.as_mut_ptr());
        // One or two queries (the one-at-a-time case) are bound by memory: take the whole panel
        // width in one pass so the panel is streamed once, in order.
        match m {
            // SAFETY: forwarded from the caller.
            1 => return unsafe { narrow::<1>(a, b, dim, t, o) },
            // SAFETY: forwarded from the caller.
            2 => return unsafe { narrow::<2>(a, b, dim, t, o) },
            _ => {}
        }
        let mut hits = 0;
        for half in [0, 16] {
            // SAFETY: forwarded from the caller; `half` stays inside the panel's 32 columns.
            hits |= unsafe {
                match m {
                    6 => kernel::<6>(a, b.add(half), dim, t, o.add(half)),
                    5 => kernel::<5>(a, b.add(half), dim, t, o.add(half)),
                    4 => kernel::<4>(a, b.add(half), dim, t, o.add(half)),
                    3 => kernel::<3>(a, b.add(half), dim, t, o.add(half)),
                    2 => kernel::<2>(a, b.add(half), dim, t, o.add(half)),
                    1 => kernel::<1>(a, b.add(half), dim, t, o.add(half)),
                    _ => 0,
                }
            };
        }
        hits
    }

    /// `M` (1 or 2) queries against all 32 columns: 4·M accumulators.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow<const M: usize>(
        a: *const f32,
        b: *const f32,
        dim: usize,
        thr: *const f32,
        out: *mut f32,
    ) -> u32 {
        // SAFETY (whole body): as for `kernel`.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 4]; M];
            for k in 0..dim {
                let bk = b.add(k * NR);
                let bv = [
                    _mm256_load_ps(bk),
                    _mm256_load_ps(bk.add(8)),
                    _mm256_load_ps(bk.add(16)),
                    _mm256_load_ps(bk.add(24)),
                ];
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_broadcast_ss(&*a.add(k * M + i));
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = _mm256_fmadd_ps(ai, bv[c], *v);
                    }
                }
            }
            let mut hits = 0u32;
            for (i, row) in acc.iter().enumerate() {
                let t = _mm256_set1_ps(*thr.add(i));
                let mut above = 0;
                for (c, v) in row.iter().enumerate() {
                    _mm256_storeu_ps(out.add(i * NR + 8 * c), *v);
                    above |= _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(*v, t));
                }
                hits |= u32::from(above != 0) << i;
            }
            hits
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel<const M: usize>(
        a: *const f32,
        b: *const f32,
        dim: usize,
        thr: *const f32,
        out: *mut f32,
    ) -> u32 {
        // SAFETY (whole body): pointer ranges as documented on `tile`; 32-byte alignment holds
        // for every 8-float step of a 64-byte aligned panel.
        unsafe {
            let mut lo = [_mm256_setzero_ps(); M];
            let mut hi = [_mm256_setzero_ps(); M];
            for k in 0..dim {
                let bk = b.add(k * NR);
                let b0 = _mm256_load_ps(bk);
                let b1 = _mm256_load_ps(bk.add(8));
                let ak = a.add(k * M);
                for i in 0..M {
                    let ai = _mm256_broadcast_ss(&*ak.add(i));
                    lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
                    hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
                }
            }
            let mut hits = 0u32;
            for i in 0..M {
                _mm256_storeu_ps(out.add(i * NR), lo[i]);
                _mm256_storeu_ps(out.add(i * NR + 8), hi[i]);
                let t = _mm256_set1_ps(*thr.add(i));
                let above = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(lo[i], t))
                    | _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(hi[i], t));
                hits |= u32::from(above != 0) << i;
            }
            hits
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects every score above −∞ (so: all of them).
    struct All(Vec<Vec<f32>>);
    impl TileSink for All {
        fn threshold(&self, _q: usize) -> f32 {
            f32::NEG_INFINITY
        }
        fn offer(&mut self, q: usize, row: usize, score: f32) {
            self.0[q][row] = score;
        }
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    #[test]
    fn every_kernel_matches_a_plain_product() {
        let dim = 37;
        let mut seed = 7;
        let mut db = Panels::new(dim);
        let rows: Vec<Vec<f32>> = (0..75)
            .map(|_| (0..dim).map(|_| lcg(&mut seed)).collect())
            .collect();
        for r in &rows {
            db.push(r);
        }
        assert_eq!(db.panels(), 3);
        assert_eq!(db.row(40), rows[40]);
        for nq in [1, 2, 5, 8, 14, 29] {
            let queries: Vec<f32> = (0..nq * dim).map(|_| lcg(&mut seed)).collect();
            let mut reference: Option<Vec<Vec<f32>>> = None;
            for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
                if !isa.supported() {
                    continue;
                }
                let mut all = All(vec![vec![f32::NAN; rows.len()]; nq]);
                scan(isa, &db, 0..db.panels(), &queries, &mut all);
                for (q, got) in all.0.iter().enumerate() {
                    for (r, row) in rows.iter().enumerate() {
                        let want: f32 = row
                            .iter()
                            .zip(&queries[q * dim..][..dim])
                            .map(|(x, y)| x * y)
                            .sum();
                        assert!((got[r] - want).abs() < 1e-5, "{isa:?} q{q} r{r}");
                    }
                }
                // Same summation order in every kernel: bit-identical scores.
                match &reference {
                    None => reference = Some(all.0),
                    Some(r) => assert_eq!(r, &all.0, "{isa:?} differs from scalar"),
                }
            }
        }
    }
}
