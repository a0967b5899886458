//! The limits, measured in the same run as the pipeline: decoding alone, through the same
//! GStreamer path with the same number of concurrent decoders, and each model alone, its
//! sessions in a tight loop on tensors made from the file's own frames, plate boxes, crops and
//! faces.

use crate::stats::{Latency, Samples};
use anyhow::{anyhow, Context, Result};
use image::RgbImage;
use passwatch_face_matcher::embed::fill_face_input;
use passwatch_models::preprocess::Normalise;
use passwatch_models::{Model, ModelCache, ModelManifest, Role, SessionOptions};
use passwatch_pipeline::engine::Models;
use passwatch_pipeline::ingest::{FrameSelection, Ingest, IngestMessage};
use passwatch_plate_reader::crop::{crop_bbox, rectify_for_reading};
use passwatch_plate_reader::detect::{
    dbnet_input_size, fill_dbnet_input, letterbox_input, DetectorKind, PlatedetCanvas,
};
use passwatch_plate_reader::reader::LINE_FINDER_SIDE;
use passwatch_plate_reader::recognise::{fill_batch, plan_batches, REC_BATCH};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Decode-only throughput.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecodeOnly {
    /// Concurrent decoders.
    pub streams: usize,
    /// Wall seconds measured.
    pub seconds: f64,
    /// Frames decoded, all decoders.
    pub frames: u64,
    /// Frames decoded per second, all decoders.
    pub fps: f64,
    /// Per decoder.
    pub per_stream_fps: Vec<f64>,
    /// CPU milliseconds per decoded frame (all threads of the process).
    pub cpu_ms_per_frame: f64,
}

/// Media-time rate of the frames the decode-only run converts: the decode thread only looks at
/// the clock when it hands a frame over, so one frame per 5 s of media is converted (under 1% of
/// the decoding work at 25 frames/s) to let it stop at the deadline.
const DECODE_ONLY_TICK_FPS: f64 = 0.2;

/// Decodes `input` with `streams` concurrent decoders (each looping the file) for `duration`:
/// the same `Ingest` path as the pipeline, without analysis or RGB conversion.
pub fn decode_only(input: &Path, streams: usize, duration: Duration) -> Result<DecodeOnly> {
    let streams = streams.max(1);
    let barrier = Arc::new(Barrier::new(streams));
    let cpu0 = crate::machine::process_cpu_seconds();
    let results: Vec<Result<(u64, Instant, Instant)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..streams)
            .map(|s| {
                let barrier = barrier.clone();
                std::thread::Builder::new()
                    .name(format!("bench-decode-{s}"))
                    .spawn_scoped(scope, move || decode_loop(input, duration, &barrier))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a decode thread panicked"))),
                Err(e) => Err(anyhow!("cannot start a decode thread: {e}")),
            })
            .collect()
    });
    // Opening and closing the decoders is in it too: a few ms per play, as in the pipeline.
    let cpu_s = crate::machine::process_cpu_seconds() - cpu0;
    let mut frames = 0;
    let mut per_stream_fps = Vec::new();
    let mut first = None::<Instant>;
    let mut last = None::<Instant>;
    for r in results {
        let (n, t0, t1) = r?;
        frames += n;
        per_stream_fps.push(n as f64 / t1.duration_since(t0).as_secs_f64().max(1e-9));
        first = Some(first.map_or(t0, |f| f.min(t0)));
        last = Some(last.map_or(t1, |l| l.max(t1)));
    }
    let seconds = match (first, last) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64().max(1e-9),
        _ => 1e-9,
    };
    Ok(DecodeOnly {
        streams,
        seconds,
        frames,
        fps: frames as f64 / seconds,
        per_stream_fps,
        cpu_ms_per_frame: cpu_s * 1e3 / frames.max(1) as f64,
    })
}

fn decode_loop(
    input: &Path,
    duration: Duration,
    barrier: &Barrier,
) -> Result<(u64, Instant, Instant)> {
    let open = || {
        Ingest::open_file(input, FrameSelection::Rate(DECODE_ONLY_TICK_FPS), 4)
            .with_context(|| format!("decode-only: cannot open {}", input.display()))
    };
    let first = open();
    barrier.wait();
    let mut ingest = Some(first?);
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let mut frames = 0u64;
    loop {
        let mut current = match ingest.take() {
            Some(i) => i,
            None => open()?,
        };
        let counters = current.counters.clone();
        let mut out_of_time = false;
        for msg in current.by_ref() {
            match msg {
                IngestMessage::Frame(_) => {
                    if Instant::now() >= deadline {
                        out_of_time = true;
                        break;
                    }
                }
                IngestMessage::End(r) => {
                    r.context("decode-only")?;
                    break;
                }
            }
        }
        frames += counters.decoded.load(Ordering::Relaxed);
        let now = Instant::now();
        drop(current);
        if out_of_time || now >= deadline {
            return Ok((frames, t0, now));
        }
    }
}

/// One input of a model: an NCHW tensor and how many items (frames, boxes, crops, faces) it
/// holds.
#[derive(Clone, Debug)]
pub struct ModelInput {
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
    /// Items in the batch.
    pub items: usize,
}

/// One model's inference-only measurement to make.
#[derive(Clone, Debug)]
pub struct ModelJob {
    /// The model's role in the pack.
    pub role: Role,
    /// The pipeline stage it runs in.
    pub stage: &'static str,
    /// What one item is: `frame`, `plate box`, `crop`, `face`.
    pub item: &'static str,
    /// Items per analysed frame in the pipeline.
    pub items_per_frame: f64,
    /// Tensors made from the file.
    pub inputs: Vec<ModelInput>,
    /// Time to make them, per item, ms (resizing, normalisation, layout).
    pub preprocess_ms_per_item: f64,
    /// The canvas of a YOLOv8 detector whose graph is cut to its boxes (and fitted to that
    /// canvas if it is not the exported one), as the pipeline runs it; `None` for the file as
    /// shipped.
    pub boxes_canvas: Option<(u32, u32)>,
}

/// One model's inference-only figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelFigures {
    /// Model id.
    pub model: String,
    /// The pipeline stage it runs in.
    pub stage: String,
    /// What one item is.
    pub item: String,
    /// Items per analysed frame in the pipeline run.
    pub items_per_frame: f64,
    /// Items in the inputs made from the file.
    pub sample_items: usize,
    /// Preprocessing per item, ms.
    pub preprocess_ms_per_item: f64,
    /// Latency of one session run.
    pub call: Latency,
    /// Items per second, all workers' sessions together, from the median time per item (a
    /// burst of other work on a shared machine moves the mean, not the median).
    pub items_per_s: f64,
    /// Items per second from the loops' totals (the mean), for comparison.
    pub items_per_s_mean: f64,
    /// Machine time per item, ms (1000 / `items_per_s`).
    pub ms_per_item: f64,
    /// Machine time per analysed frame, ms (`ms_per_item` × `items_per_frame`).
    pub ms_per_frame: f64,
    /// CPU milliseconds per item (all threads of the process, the loops' totals).
    pub cpu_ms_per_item: f64,
    /// Session runs timed.
    pub calls: u64,
    /// The provider the sessions ran on.
    pub provider: String,
}

/// Short side DBNet scales an image to when used as the plate detector (its default).
const DBNET_FRAME_SIDE: u32 = 736;
/// Longest side DBNet scales to.
const DBNET_MAX_SIDE: u32 = 2048;
/// Crops per recogniser run (`Recogniser::batch_size`'s default).
/// Padding around a plate box when looking for its lines (as the reader pads).
const LINE_PAD: f32 = 0.15;

/// What the inputs are made with: the pipeline's reader settings and its measured work.
pub struct InputPlan {
    /// The share of analysed frames the plate detector ran on (the others are read around
    /// tracked plates, with the line finder and the recogniser only).
    pub detector_share: f64,
    /// The plate detector in use.
    pub detector: DetectorKind,
    /// Whether lines inside plate boxes are read.
    pub refine: bool,
    /// platedet's canvas.
    pub platedet_canvas: PlatedetCanvas,
    /// Whether the face path runs.
    pub faces: bool,
    /// Crops read per analysed frame in the pipeline run.
    pub crops_per_frame: f64,
    /// Faces embedded per analysed frame in the pipeline run.
    pub faces_per_frame: f64,
}

/// Makes every model's inputs from the kept frames, with the first worker's models finding the
/// plate boxes, crops and faces the later models are fed (untimed; their preprocessing is timed
/// separately while the tensors are made).
pub fn prepare_inputs(
    frames: &[RgbImage],
    models: &mut Models,
    plan: &InputPlan,
) -> Result<Vec<ModelJob>> {
    let mut jobs = Vec::new();
    if frames.is_empty() {
        return Ok(jobs);
    }
    let n_frames = frames.len() as f64;
    if let Some(reader) = models.plates.as_mut() {
        // The detector, on whole frames.
        let mut job = match plan.detector {
            DetectorKind::Platedet => {
                let m = ModelManifest::builtin_for(Role::PlateDetector)?;
                let norm = Normalise::from_spec(&m.input);
                let exported = (
                    m.fixed_width().unwrap_or(640),
                    m.fixed_height().unwrap_or(640),
                );
                let pad = m.input.pad.unwrap_or(114);
                let canvas = plan.platedet_canvas;
                let mut job =
                    timed_inputs(Role::PlateDetector, "plate_detect", "frame", frames, |f| {
                        let (tw, th) = canvas.for_frame(f.width(), f.height(), exported);
                        let (data, _) = letterbox_input(f, (tw, th), &norm, pad);
                        vec![ModelInput::one(data, (tw, th))]
                    })?;
                if canvas != PlatedetCanvas::AsShipped {
                    job.boxes_canvas =
                        Some(canvas.for_frame(frames[0].width(), frames[0].height(), exported));
                }
                job
            }
            DetectorKind::TextLines => {
                let m = ModelManifest::builtin_for(Role::PlateTextDetector)?;
                let norm = Normalise::from_spec(&m.input);
                timed_inputs(
                    Role::PlateTextDetector,
                    "plate_detect",
                    "frame",
                    frames,
                    |f| vec![dbnet_input(f, DBNET_FRAME_SIDE, &norm)],
                )?
            }
        };
        job.items_per_frame = plan.detector_share;
        jobs.push(job);

        // Plate boxes and the crops read in them, found by the reader itself. Frames read around
        // tracks run the line finder on about as many regions as there are tracked plates, so
        // boxes per frame stands for both kinds of frame.
        let mut boxes: Vec<RgbImage> = Vec::new();
        let mut crops: Vec<RgbImage> = Vec::new();
        for f in frames {
            let candidates = reader.detect(f).context("finding plate boxes")?;
            for c in &candidates {
                if plan.detector == DetectorKind::Platedet && plan.refine {
                    boxes.push(crop_bbox(f, &c.quad_in_frame.bbox(), LINE_PAD));
                }
                crops.push(rectify_for_reading(f, &c.quad_in_frame));
            }
            for o in reader.read_frame(f).context("reading plates")? {
                crops.push(o.crop);
            }
        }
        if plan.detector == DetectorKind::Platedet && plan.refine && !boxes.is_empty() {
            let m = ModelManifest::builtin_for(Role::PlateTextDetector)?;
            let norm = Normalise::from_spec(&m.input);
            let mut job = timed_inputs(
                Role::PlateTextDetector,
                "plate_refine",
                "plate box",
                &boxes,
                |b| vec![dbnet_input(b, LINE_FINDER_SIDE, &norm)],
            )?;
            job.items_per_frame = boxes.len() as f64 / n_frames;
            jobs.push(job);
        }
        if !crops.is_empty() {
            let m = ModelManifest::builtin_for(Role::PlateOcr)?;
            let norm = Normalise::from_spec(&m.input);
            let t = Instant::now();
            let inputs = rec_batches(&crops, &norm);
            let mut job = ModelJob {
                role: Role::PlateOcr,
                stage: "plate_ocr",
                item: "crop",
                items_per_frame: plan.crops_per_frame,
                inputs,
                preprocess_ms_per_item: t.elapsed().as_secs_f64() * 1e3 / crops.len() as f64,
                boxes_canvas: None,
            };
            if job.items_per_frame <= 0.0 {
                job.items_per_frame = crops.len() as f64 / n_frames;
            }
            jobs.push(job);
        }
    }
    if plan.faces {
        if let Some(matcher) = models.faces.as_mut() {
            let detector = matcher.detector();
            let mut job = timed_inputs(Role::FaceDetector, "face_detect", "frame", frames, |f| {
                let (data, _) = detector.input(f);
                vec![ModelInput::one(data, detector.input_size())]
            })?;
            job.items_per_frame = 1.0;
            jobs.push(job);

            let mut faces: Vec<RgbImage> = Vec::new();
            for f in frames {
                for face in matcher.faces_in_frame(f).context("finding faces")? {
                    faces.push(face.aligned.image().clone());
                }
            }
            if !faces.is_empty() {
                let m = ModelManifest::builtin_for(Role::FaceEmbedder)?;
                let norm = Normalise::from_spec(&m.input);
                let side = m.fixed_width().unwrap_or(112);
                let mut job =
                    timed_inputs(Role::FaceEmbedder, "face_embed", "face", &faces, |face| {
                        let mut data = vec![0.0; 3 * (side * side) as usize];
                        fill_face_input(face, &mut data, &norm);
                        vec![ModelInput::one(data, (side, side))]
                    })?;
                job.items_per_frame = plan.faces_per_frame;
                jobs.push(job);
            }
        }
    }
    Ok(jobs)
}

/// Makes one input per source image, timing the making.
fn timed_inputs(
    role: Role,
    stage: &'static str,
    item: &'static str,
    sources: &[RgbImage],
    mut make: impl FnMut(&RgbImage) -> Vec<ModelInput>,
) -> Result<ModelJob> {
    let t = Instant::now();
    let inputs: Vec<ModelInput> = sources.iter().flat_map(&mut make).collect();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(ModelJob {
        role,
        stage,
        item,
        items_per_frame: 0.0,
        preprocess_ms_per_item: ms / sources.len().max(1) as f64,
        inputs,
        boxes_canvas: None,
    })
}

impl ModelInput {
    /// One item of `3 × h × w` values.
    fn one(data: Vec<f32>, (w, h): (u32, u32)) -> ModelInput {
        ModelInput {
            shape: vec![1, 3, h as usize, w as usize],
            data,
            items: 1,
        }
    }
}

/// DBNet's input for an image, made by the product's own code (`detect::fill_dbnet_input`).
fn dbnet_input(image: &RgbImage, limit_side: u32, norm: &Normalise) -> ModelInput {
    let size = dbnet_input_size(image.width(), image.height(), limit_side, DBNET_MAX_SIDE);
    let mut data = vec![0.0; 3 * (size.0 * size.1) as usize];
    fill_dbnet_input(image, &mut data, size, norm);
    ModelInput::one(data, size)
}

/// The recogniser's batches, made by the product's own batching (`recognise::plan_batches`,
/// `recognise::fill_batch`).
fn rec_batches(crops: &[RgbImage], norm: &Normalise) -> Vec<ModelInput> {
    plan_batches(crops, REC_BATCH)
        .iter()
        .map(|batch| {
            let shape = batch.shape();
            let mut data = vec![0.0; shape.iter().product()];
            fill_batch(crops, batch, norm, &mut data);
            ModelInput {
                shape: shape.to_vec(),
                data,
                items: batch.items.len(),
            }
        })
        .collect()
}

/// Runs each job's model alone: one session per worker (as many as the pipeline has), each in a
/// tight loop over the job's inputs for `budget`, all workers at once.
pub fn measure_models(
    jobs: &[ModelJob],
    workers: usize,
    options: &SessionOptions,
    budget: Duration,
) -> Result<Vec<ModelFigures>> {
    let cache = ModelCache::from_env();
    let mut out = Vec::new();
    for job in jobs {
        if job.inputs.is_empty() {
            continue;
        }
        let manifest = ModelManifest::builtin_for(job.role)?;
        let mut sessions = Vec::new();
        for _ in 0..workers.max(1) {
            let mut m = match job.boxes_canvas {
                Some(canvas) => Model::load_yolov8_boxes(&manifest, &cache, options, canvas),
                None => Model::load(&manifest, &cache, options),
            }
            .with_context(|| format!("loading {} for the inference-only loop", manifest.id))?;
            // The first run of a session pays for allocations and kernel choices: not timed.
            let first = &job.inputs[0];
            m.run_raw(&first.shape, &first.data)
                .with_context(|| format!("{}: warm-up run", manifest.id))?;
            sessions.push(m);
        }
        let provider = sessions[0].provider().to_string();
        let barrier = Barrier::new(sessions.len());
        let cpu0 = crate::machine::process_cpu_seconds();
        let results: Vec<Result<Loop>> = std::thread::scope(|scope| {
            let handles: Vec<_> = sessions
                .iter_mut()
                .enumerate()
                .map(|(w, model)| {
                    let barrier = &barrier;
                    let offset = w * job.inputs.len() / workers.max(1);
                    scope.spawn(move || tight_loop(model, &job.inputs, offset, budget, barrier))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("a model loop panicked")))
                })
                .collect()
        });
        let cpu_s = crate::machine::process_cpu_seconds() - cpu0;
        let mut calls = Samples::new();
        let mut per_item = Samples::new();
        let mut items = 0u64;
        let mut seconds: f64 = 0.0;
        for r in results {
            let l = r?;
            calls.extend(&l.calls);
            per_item.extend(&l.per_item);
            items += l.items;
            seconds = seconds.max(l.seconds);
        }
        let n_sessions = workers.max(1);
        let median_item_ms = per_item.latency().p50_ms.max(1e-9);
        let items_per_s = n_sessions as f64 * 1e3 / median_item_ms;
        let ms_per_item = 1e3 / items_per_s;
        out.push(ModelFigures {
            model: manifest.id.clone(),
            stage: job.stage.to_string(),
            item: job.item.to_string(),
            items_per_frame: job.items_per_frame,
            sample_items: job.inputs.iter().map(|i| i.items).sum(),
            preprocess_ms_per_item: job.preprocess_ms_per_item,
            call: calls.latency(),
            items_per_s,
            items_per_s_mean: items as f64 / seconds.max(1e-9),
            ms_per_item,
            ms_per_frame: ms_per_item * job.items_per_frame,
            cpu_ms_per_item: cpu_s * 1e3 / items.max(1) as f64,
            calls: calls.len() as u64,
            provider,
        });
    }
    Ok(out)
}

/// What one session's loop measured.
struct Loop {
    /// Milliseconds per call.
    calls: Samples,
    /// Milliseconds per item, call by call.
    per_item: Samples,
    /// Items done.
    items: u64,
    /// Seconds taken.
    seconds: f64,
}

/// Runs at least this many calls per session, however long they take: a median of fewer
/// means little.
const MIN_CALLS: usize = 8;

/// One session's loop: inputs in turn from `offset`, until `budget` has passed and at least
/// [`MIN_CALLS`] were made (a full pass over the inputs is not required: long runs cycle, short
/// ones sample).
fn tight_loop(
    model: &mut Model,
    inputs: &[ModelInput],
    offset: usize,
    budget: Duration,
    barrier: &Barrier,
) -> Result<Loop> {
    barrier.wait();
    let t0 = Instant::now();
    let mut calls = Samples::new();
    let mut per_item = Samples::new();
    let mut items = 0u64;
    let mut k = offset;
    while t0.elapsed() < budget || calls.len() < MIN_CALLS {
        let input = &inputs[k % inputs.len()];
        let t = Instant::now();
        model
            .run_raw(&input.shape, &input.data)
            .with_context(|| format!("{}: inference-only run", model.id()))?;
        let s = t.elapsed().as_secs_f64();
        calls.push_s(s);
        per_item.push_s(s / input.items.max(1) as f64);
        items += input.items as u64;
        k += 1;
    }
    Ok(Loop {
        calls,
        per_item,
        items,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbnet_sizes_are_multiples_of_32() {
        // A 1280×720 frame at the default 736: short side up to 736, long side 1308.4 → 1312.
        assert_eq!(dbnet_input_size(1280, 720, 736, 2048), (1312, 736));
        // A small plate box is scaled up to the line finder's 128.
        assert_eq!(dbnet_input_size(90, 40, 128, 2048), (288, 128));
        // A 4K frame is capped at the long side.
        let (w, h) = dbnet_input_size(3840, 2160, 736, 2048);
        assert_eq!((w, h), (2048, 1152));
        assert_eq!(dbnet_input_size(0, 0, 736, 2048).0 % 32, 0);
    }

    #[test]
    fn rec_batches_sort_pad_and_count() {
        let norm = Normalise::new(
            passwatch_models::manifest::ColourOrder::Bgr,
            1.0 / 255.0,
            [0.5; 3],
            [0.5; 3],
        );
        let crops: Vec<RgbImage> = (0..10u32).map(|i| RgbImage::new(40 + 30 * i, 20)).collect();
        let b = rec_batches(&crops, &norm);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].items, 8);
        assert_eq!(b[1].items, 2);
        // Widest of the first batch: 250×20 → 48·12.5 = 600.
        assert_eq!(b[0].shape, vec![8, 3, 48, 600]);
        assert_eq!(b[0].data.len(), 8 * 3 * 48 * 600);
        // Narrow batches are padded to 320.
        let small = rec_batches(&[RgbImage::new(20, 20)], &norm);
        assert_eq!(small[0].shape, vec![1, 3, 48, 320]);
    }
}
