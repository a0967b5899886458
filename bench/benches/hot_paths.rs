//! Micro-benchmarks of the hot paths, on synthetic inputs of the sizes the pipeline sees.
//!
//! `cargo bench -p passwatch-bench --bench hot_paths` (all), or a group by name, e.g.
//! `cargo bench -p passwatch-bench --bench hot_paths -- fuzzy`. Throughput lines are per item
//! (frames, crops, boxes, faces, queries: criterion's "elem/s").
//!
//! The watchlist search (100 000 × 512) has its own bench in the face-matcher crate
//! (`cargo bench -p passwatch-face-matcher --bench index`) and its comparison with faiss in
//! `bench/index_vs_faiss.py`; it is not repeated here.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use passwatch_bench::{inputs, registry};
use passwatch_face_matcher::align::{warp, AlignedFace, ARCFACE_TEMPLATE};
use passwatch_face_matcher::Point;
use passwatch_models::manifest::ColourOrder;
use passwatch_models::preprocess::{
    fill, resize_into, resize_rgb, Letterbox, Normalise, Placement,
};
use passwatch_plate_reader::crop::rectify_for_reading;
use passwatch_plate_reader::ctc::{decode_batch, greedy_decode};
use passwatch_plate_reader::geometry::{nms, BBox, BBoxQuad};
use std::hint::black_box;
use std::time::Duration;

/// A group with few samples: these functions run in microseconds, and the machine is shared.
fn short<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g
}

/// platedet's input: a frame letterboxed into 640×640, grey padding, normalised, NCHW; and a
/// plain RGB downscale.
fn letterbox(c: &mut Criterion) {
    let norm = Normalise::new(ColourOrder::Rgb, 1.0 / 255.0, [0.0; 3], [1.0; 3]);
    let mut g = short(c, "letterbox_640");
    g.throughput(Throughput::Elements(1));
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let frame = inputs::frame(w, h);
        let mut tensor = vec![0.0f32; 3 * 640 * 640];
        g.bench_function(BenchmarkId::new("frame", format!("{w}x{h}")), |b| {
            b.iter(|| {
                let (_, place) = Letterbox::fit(w, h, 640, 640, true);
                fill(&mut tensor, &norm, 114);
                resize_into(black_box(&frame), &mut tensor, 640, 640, place, &norm);
            })
        });
    }
    let frame = inputs::frame(1920, 1080);
    g.bench_function("resize_rgb_1920x1080_to_640x360", |b| {
        b.iter(|| resize_rgb(black_box(&frame), 640, 360))
    });
    g.finish();
}

/// Pixels to a normalised NCHW tensor at the same size (no resampling): the recogniser's
/// 48-pixel rows and the embedder's aligned face.
fn normalise(c: &mut Criterion) {
    let bgr = Normalise::new(ColourOrder::Bgr, 1.0 / 255.0, [0.5; 3], [0.5; 3]);
    let mut g = short(c, "nchw_normalise");
    for (w, h) in [(112u32, 112u32), (320, 48), (640, 640)] {
        let img = inputs::frame(w, h);
        let mut tensor = vec![0.0f32; 3 * (w * h) as usize];
        let place = Placement { x: 0, y: 0, w, h };
        g.throughput(Throughput::Elements((w * h) as u64));
        g.bench_function(BenchmarkId::new("pixels", format!("{w}x{h}")), |b| {
            b.iter(|| resize_into(black_box(&img), &mut tensor, w, h, place, &bgr))
        });
    }
    g.finish();
}

/// Greedy CTC restricted to the plate alphabet over PP-OCRv4's 6625 classes: one crop (40 steps,
/// a 320-pixel-wide input) and a batch of 8.
fn ctc(c: &mut Criterion) {
    let charset = inputs::ppocr_like_charset();
    let classes = charset.len();
    let allowed = charset.mask_for(('A'..='Z').chain('0'..='9'));
    let steps = 40;
    let one = inputs::ctc_probs(steps, classes, &charset, 1);
    let batch: Vec<f32> = (0..8)
        .flat_map(|k| inputs::ctc_probs(steps, classes, &charset, k))
        .collect();
    let mut g = short(c, "ctc_greedy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_crop_40x6625", |b| {
        b.iter(|| greedy_decode(black_box(&one), steps, classes, &charset, &allowed))
    });
    g.throughput(Throughput::Elements(8));
    g.bench_function("batch_8x40x6625", |b| {
        b.iter(|| {
            let view = ndarray::ArrayView3::from_shape((8, steps, classes), black_box(&batch[..]))
                .expect("shape");
            decode_batch(view, &charset, &allowed)
        })
    });
    g.finish();
}

/// Greedy NMS on detector output: a few plates with many overlapping boxes each.
fn nms_bench(c: &mut Criterion) {
    let mut g = short(c, "nms");
    for (objects, per) in [(4usize, 25usize), (20, 50)] {
        let boxes = inputs::nms_boxes(objects, per, 7);
        g.throughput(Throughput::Elements(boxes.len() as u64));
        g.bench_function(BenchmarkId::new("boxes", boxes.len()), |b| {
            b.iter(|| nms(black_box(&boxes), 0.4))
        });
    }
    g.finish();
}

/// The ArcFace alignment: similarity transform from five landmarks and the 112×112 warp out of
/// a 1080p frame; and the plate crop's perspective rectification, its counterpart on the plate
/// path.
fn align(c: &mut Criterion) {
    let frame = inputs::frame(1920, 1080);
    // A face about 120 pixels across, tilted.
    let landmarks: [Point; 5] = ARCFACE_TEMPLATE.map(|p| {
        let (x, y) = (p.x * 1.1, p.y * 1.1);
        let (s, co) = (0.2f32.sin(), 0.2f32.cos());
        Point::new(900.0 + x * co - y * s, 400.0 + x * s + y * co)
    });
    let mut g = short(c, "face_align");
    g.throughput(Throughput::Elements(1));
    g.bench_function("from_frame_112x112", |b| {
        b.iter(|| AlignedFace::from_frame(black_box(&frame), &landmarks))
    });
    let t = passwatch_face_matcher::align::Similarity::estimate(&landmarks, &ARCFACE_TEMPLATE)
        .expect("landmarks align");
    g.bench_function("warp_only_112x112", |b| {
        b.iter(|| warp(black_box(&frame), &t, 112, 112))
    });
    let quad = BBox::new(800.0, 600.0, 180.0, 60.0).to_quad();
    g.bench_function("plate_rectify_180x60", |b| {
        b.iter(|| rectify_for_reading(black_box(&frame), &quad))
    });
    g.finish();
}

/// Plate fuzzy matching (`PassSnapshot::fuzzy`) against 1 000 000 passes, every query a
/// different misread, at 0.75 (confusable swaps only), 1.0 (the enumeration path the default
/// 1.75 also takes) and 2.0. The snapshot's memory is printed
/// once (`registry_bench` writes it as JSON).
fn fuzzy(c: &mut Criterion) {
    let n = std::env::var("PASSWATCH_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (snap, bytes, secs) = registry::build_snapshot(n, 42);
    eprintln!(
        "fuzzy: snapshot of {n} passes: {:.0} MiB resident, built in {secs:.2} s",
        bytes as f64 / (1 << 20) as f64
    );
    let queries = registry::misread_queries(&snap, 4096, 43);
    let mut g = c.benchmark_group(format!("fuzzy_{n}_passes"));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    for cost in [0.75f32, 1.0, 2.0] {
        let mut k = 0usize;
        g.bench_function(BenchmarkId::new("max_cost", cost), |b| {
            b.iter(|| {
                k = (k + 1) % queries.len();
                snap.fuzzy(black_box(&queries[k]), cost).len()
            })
        });
    }
    g.finish();
    decision(c, &snap, &queries, n);
}

/// The plate decision with the benefit of the doubt (`rules::decide_plate`: candidates from the
/// index for every read's text, each weighed by the CTC forward probability over the reads) for a
/// sighting of 10 reads, every sighting a different misread, against the same snapshot; and the
/// lattice every read now keeps, from one 40 × 6625 recogniser output.
fn decision(
    c: &mut Criterion,
    snap: &passwatch_registry::PassSnapshot,
    queries: &[String],
    n: usize,
) {
    use passwatch_plate_reader::ctc::CtcChar;
    use passwatch_plate_reader::likelihood::{CtcLattice, LatticeLayout, LATIN_ALNUM};
    use passwatch_rules::sighting::{PlateRead, PlateSighting};
    let site = passwatch_registry::site::Site::one_camera(
        "cam",
        "zone",
        &["us".to_string(), "eu".to_string(), "br".to_string()],
        false,
        true,
    )
    .expect("site");
    let sightings: Vec<PlateSighting> = queries
        .iter()
        .take(512)
        .map(|q| {
            let chars: Vec<CtcChar> = q
                .chars()
                .map(|ch| CtcChar {
                    ch,
                    confidence: 0.9,
                    runner_up: Some((if ch == '8' { 'B' } else { '8' }, 0.08)),
                })
                .collect();
            let lattice = std::sync::Arc::new(CtcLattice::from_chars(&chars, LATIN_ALNUM));
            PlateSighting {
                camera_id: "cam".into(),
                source: "bench".into(),
                source_key: "bench".into(),
                track_id: 1,
                first_seen: Default::default(),
                last_seen: Default::default(),
                wall_time: "2026-04-10T12:00:00Z".parse().expect("time"),
                plate: q.clone(),
                region: None,
                confidence: 0.9,
                reads: (0..10)
                    .map(|i| PlateRead {
                        media_time: Default::default(),
                        text: q.clone(),
                        confidence: 0.9,
                        bbox_in_frame: BBox::new(0.0, 0.0, 100.0 + i as f32, 30.0),
                        weight: 1.0,
                        lattice: Some(lattice.clone()),
                    })
                    .collect(),
                images: None,
            }
        })
        .collect();
    let mut g = c.benchmark_group(format!("plate_decision_{n}_passes"));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("decide_plate_10_reads", |b| {
        b.iter(|| {
            k = (k + 1) % sightings.len();
            passwatch_rules::decide_plate(black_box(&sightings[k]), &site, snap)
        })
    });
    let charset = inputs::ppocr_like_charset();
    let classes = charset.len();
    let allowed = charset.mask_for(('A'..='Z').chain('0'..='9'));
    let probs = inputs::ctc_probs(40, classes, &charset, 1);
    let layout = LatticeLayout::new(&charset, &allowed);
    g.bench_function("lattice_of_one_read_40x6625", |b| {
        b.iter(|| layout.lattice(black_box(&probs), 40, classes))
    });
    g.finish();
}

criterion_group!(benches, letterbox, normalise, ctc, nms_bench, align, fuzzy);
criterion_main!(benches);
