//! Watchlist search speed: 100 000 references × 512 dimensions (random unit vectors, the setting
//! of STACK.md's table), one thread, query batches of 1 and 256. Criterion's throughput line is
//! in queries per second ("elem/s").
//!
//! `cargo bench -p passwatch-face-matcher --bench index`; `PASSWATCH_BENCH_REFS` changes the
//! database size, `PASSWATCH_BENCH_ISA` (`avx512`, `avx2`, `scalar`) forces a kernel.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use passwatch_face_matcher::embed::Embedding;
use passwatch_face_matcher::index::kernel::Isa;
use passwatch_face_matcher::index::WatchlistIndex;
use std::time::Duration;

const DIM: usize = 512;

/// SplitMix64: a fixed, dependency-free generator so every run measures the same data.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A standard normal value (Box–Muller), so normalised vectors are uniform on the sphere.
    fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
    fn unit(&mut self) -> Embedding {
        let v: Vec<f32> = (0..DIM).map(|_| self.normal()).collect();
        Embedding::from_raw("random", v).expect("a random normal vector is not zero")
    }
}

fn bench_search(c: &mut Criterion) {
    let refs: usize = std::env::var("PASSWATCH_BENCH_REFS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let isa = match std::env::var("PASSWATCH_BENCH_ISA").as_deref() {
        Ok("avx512") => Isa::Avx512,
        Ok("avx2") => Isa::Avx2,
        Ok("scalar") => Isa::Scalar,
        _ => Isa::detect(),
    };
    let mut rng = Rng(42);
    let mut index = WatchlistIndex::new("random", DIM)
        .with_threads(1)
        .with_isa(isa)
        .expect("instruction set supported");
    for i in 0..refs {
        index
            .add(&format!("s{i}"), &[rng.unit()])
            .expect("same model");
    }
    let queries: Vec<Embedding> = (0..256).map(|_| rng.unit()).collect();
    let mut group = c.benchmark_group(format!("search_{refs}x{DIM}_1thread_{isa:?}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    for batch in [1usize, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, &batch| {
            b.iter(|| index.search(&queries[..batch], 10).expect("same model"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
