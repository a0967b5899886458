//! From measurements to conclusions: the best the pipeline could do, what bounds it, and how
//! many streams it holds at real time. Pure functions, so they are tested without a machine.

use serde::Serialize;

/// The share of the analysis rate a stream must reach to count as held at real time.
pub const REALTIME_SHARE: f64 = 0.95;

/// The pipeline's ceiling, from the limits measured in the same run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Limit {
    /// Frames decoded per frame analysed (the file's frame rate over the analysis rate).
    pub decoded_per_analysed: f64,
    /// Decode-only time per analysed frame, ms: `decoded_per_analysed / decode_only_fps`.
    pub decode_ms_per_analysed: f64,
    /// Inference-only time per analysed frame, ms: the sum over the models of their time per
    /// call (sessions in a tight loop) times their calls per analysed frame.
    pub inference_ms_per_analysed: f64,
    /// Analysed frames/s if only decoding had to be done.
    pub decode_bound_fps: f64,
    /// Analysed frames/s if only inference had to be done.
    pub inference_bound_fps: f64,
    /// Whether decoding and inference share the same cores (CPU provider, software decoder):
    /// their times then add up; otherwise they overlap and the slower one bounds.
    pub shared_hardware: bool,
    /// The best the pipeline could do, analysed frames/s.
    pub limit_fps: f64,
}

/// The ceiling of a pipeline that must decode `decoded_per_analysed` frames (at
/// `decode_only_fps` when only decoding) and run `inference_ms` of models per analysed frame.
///
/// On shared hardware the two compete for the same cores, so at best their times add up
/// (`1 / (decode + inference)`); on separate hardware (a GPU running the models) they can
/// overlap fully and the slower bounds (`1 / max(decode, inference)`). Everything else the
/// pipeline does (colour conversion, pre- and post-processing, tracking, matching) is overhead
/// the ceiling leaves out: the achieved share of it says how much that overhead costs.
pub fn limit(
    decode_only_fps: f64,
    decoded_per_analysed: f64,
    inference_ms: f64,
    shared_hardware: bool,
) -> Limit {
    let decode_ms = if decode_only_fps > 0.0 {
        decoded_per_analysed.max(0.0) / decode_only_fps * 1e3
    } else {
        f64::INFINITY
    };
    let inference_ms = inference_ms.max(0.0);
    let per_frame_ms = if shared_hardware {
        decode_ms + inference_ms
    } else {
        decode_ms.max(inference_ms)
    };
    let fps = |ms: f64| {
        if ms > 0.0 && ms.is_finite() {
            1e3 / ms
        } else if ms == 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    Limit {
        decoded_per_analysed,
        decode_ms_per_analysed: decode_ms,
        inference_ms_per_analysed: inference_ms,
        decode_bound_fps: fps(decode_ms),
        inference_bound_fps: fps(inference_ms),
        shared_hardware,
        limit_fps: fps(per_frame_ms),
    }
}

/// Achieved analysed frames/s as a share of the limit (0 when there is no finite limit).
pub fn share(achieved: f64, limit_fps: f64) -> f64 {
    if limit_fps > 0.0 && limit_fps.is_finite() {
        achieved / limit_fps
    } else {
        0.0
    }
}

/// What bounds the pipeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// `decode` or `inference`.
    pub bound: String,
    /// The stage that costs most on the bounding side: `decode`, or the model's id.
    pub stage: String,
    /// That stage's share of the limit's time per analysed frame (0..1).
    pub stage_share: f64,
    /// One sentence for a person.
    pub text: String,
}

/// The verdict from the limit's parts: decode-bound when decoding takes more of the time per
/// analysed frame than all models together, else inference-bound by the costliest model.
/// `models` are (model id, ms per analysed frame).
pub fn verdict(limit: &Limit, models: &[(String, f64)]) -> Verdict {
    let total = if limit.shared_hardware {
        limit.decode_ms_per_analysed + limit.inference_ms_per_analysed
    } else {
        limit
            .decode_ms_per_analysed
            .max(limit.inference_ms_per_analysed)
    };
    let total = if total > 0.0 && total.is_finite() {
        total
    } else {
        1.0
    };
    let costliest = models
        .iter()
        .filter(|(_, ms)| ms.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if limit.decode_ms_per_analysed >= limit.inference_ms_per_analysed || costliest.is_none() {
        let s = (limit.decode_ms_per_analysed / total).min(1.0);
        return Verdict {
            bound: "decode".into(),
            stage: "decode".into(),
            stage_share: s,
            text: format!(
                "decode-bound: decoding the {:.1} frames behind each analysed frame takes {:.1} ms, \
                 more than all models together ({:.1} ms)",
                limit.decoded_per_analysed,
                limit.decode_ms_per_analysed,
                limit.inference_ms_per_analysed
            ),
        };
    }
    let (model, ms) = costliest.map_or(("?", 0.0), |(m, ms)| (m.as_str(), *ms));
    Verdict {
        bound: "inference".into(),
        stage: model.to_string(),
        stage_share: (ms / total).min(1.0),
        text: format!(
            "inference-bound by {model}: {ms:.1} ms per analysed frame, {:.0}% of the limit's \
             time (all models {:.1} ms, decoding {:.1} ms)",
            100.0 * ms / total,
            limit.inference_ms_per_analysed,
            limit.decode_ms_per_analysed
        ),
    }
}

/// One trial of the stream search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// Streams run.
    pub streams: usize,
    /// The slowest stream's analysed frames/s.
    pub min_stream_analysed_fps: f64,
    /// All streams' analysed frames/s.
    pub analysed_fps: f64,
    /// Whether every stream reached [`REALTIME_SHARE`] of the analysis rate.
    pub held: bool,
}

/// Whether a trial whose slowest stream analysed `min_stream_fps` holds the analysis rate.
pub fn holds(min_stream_fps: f64, analyse_fps: f64) -> bool {
    min_stream_fps >= REALTIME_SHARE * analyse_fps
}

/// The result of the search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaxStreams {
    /// The analysis rate the streams had to hold.
    pub analyse_fps: f64,
    /// The most streams held (0: not even one).
    pub streams: usize,
    /// Whether the search stopped at its upper bound while still holding.
    pub capped: bool,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
}

/// Searches the most streams held at real time: N = 1, 2, 4, … while `measure(N)` holds, then
/// bisects between the last N held and the first that was not. `measure` runs N streams and
/// returns the trial; `max` bounds the search (a machine cannot hold unbounded streams, and the
/// caller's patience is finite).
pub fn find_max_streams<E>(
    max: usize,
    mut measure: impl FnMut(usize) -> Result<Trial, E>,
) -> Result<(usize, bool, Vec<Trial>), E> {
    let max = max.max(1);
    let mut trials = Vec::new();
    let mut run = |n: usize, trials: &mut Vec<Trial>| -> Result<bool, E> {
        let t = measure(n)?;
        let held = t.held;
        trials.push(t);
        Ok(held)
    };
    if !run(1, &mut trials)? {
        return Ok((0, false, trials));
    }
    let mut lo = 1; // held
    let mut hi = None; // first not held
    while hi.is_none() {
        if lo == max {
            return Ok((lo, true, trials));
        }
        let n = (lo * 2).min(max);
        if run(n, &mut trials)? {
            lo = n;
        } else {
            hi = Some(n);
        }
    }
    let mut hi = hi.unwrap_or(lo + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if run(mid, &mut trials)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo, false, trials))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(n: usize, capacity: f64, rate: f64) -> Trial {
        // A machine that shares `capacity` analysed frames/s evenly among its streams.
        let per = capacity / n as f64;
        Trial {
            streams: n,
            min_stream_analysed_fps: per,
            analysed_fps: capacity,
            held: holds(per, rate),
        }
    }

    #[test]
    fn search_doubles_then_bisects() {
        // 21 frames/s at 2 per stream: 10 streams of 2.1, 11 of 1.91 (< 1.9 fails? 0.95·2 = 1.9).
        let mut asked = Vec::new();
        let (n, capped, trials) = find_max_streams::<()>(64, |n| {
            asked.push(n);
            Ok(trial(n, 21.0, 2.0))
        })
        .unwrap();
        assert_eq!(n, 11, "{asked:?}");
        assert!(!capped);
        assert_eq!(asked, vec![1, 2, 4, 8, 16, 12, 10, 11]);
        assert_eq!(trials.len(), asked.len());
    }

    #[test]
    fn search_edge_cases() {
        // Not even one stream.
        let (n, _, trials) = find_max_streams::<()>(64, |n| Ok(trial(n, 1.0, 2.0))).unwrap();
        assert_eq!((n, trials.len()), (0, 1));
        // Exactly one.
        let (n, _, _) = find_max_streams::<()>(64, |n| Ok(trial(n, 3.0, 2.0))).unwrap();
        assert_eq!(n, 1);
        // Capped: holds at the bound.
        let (n, capped, trials) = find_max_streams::<()>(5, |n| Ok(trial(n, 1000.0, 2.0))).unwrap();
        assert_eq!((n, capped), (5, true));
        assert_eq!(
            trials.iter().map(|t| t.streams).collect::<Vec<_>>(),
            vec![1, 2, 4, 5]
        );
        // Errors stop the search.
        let r = find_max_streams(8, |n| {
            if n < 4 {
                Ok(trial(n, 100.0, 2.0))
            } else {
                Err("boom")
            }
        });
        assert_eq!(r, Err("boom"));
    }

    #[test]
    fn limit_adds_on_shared_hardware_and_overlaps_otherwise() {
        // 250 frames/s decode, 5 decoded per analysed: 20 ms; models 80 ms.
        let l = limit(250.0, 5.0, 80.0, true);
        assert!((l.decode_ms_per_analysed - 20.0).abs() < 1e-9);
        assert!((l.limit_fps - 10.0).abs() < 1e-9);
        assert!((l.decode_bound_fps - 50.0).abs() < 1e-9);
        assert!((l.inference_bound_fps - 12.5).abs() < 1e-9);
        let g = limit(250.0, 5.0, 80.0, false);
        assert!((g.limit_fps - 12.5).abs() < 1e-9);
        assert!((share(9.0, l.limit_fps) - 0.9).abs() < 1e-9);
        assert_eq!(share(9.0, 0.0), 0.0);
        assert_eq!(share(9.0, f64::INFINITY), 0.0);
        // No decoder measurement: no ceiling, not a division by zero.
        assert_eq!(limit(0.0, 5.0, 80.0, true).limit_fps, 0.0);
    }

    #[test]
    fn verdict_names_the_bound_and_the_stage() {
        let models = vec![
            ("platedet".to_string(), 60.0),
            ("ppocrv4-rec".to_string(), 15.0),
            ("ppocrv4-det".to_string(), 5.0),
        ];
        let l = limit(250.0, 5.0, 80.0, true);
        let v = verdict(&l, &models);
        assert_eq!(
            (v.bound.as_str(), v.stage.as_str()),
            ("inference", "platedet")
        );
        assert!((v.stage_share - 0.6).abs() < 1e-9, "{v:?}");
        assert!(v.text.contains("platedet"), "{}", v.text);

        // A 4K file at a high analysis rate and light models: decode-bound.
        let d = limit(40.0, 6.0, 30.0, true);
        let v = verdict(&d, &[("platedet".to_string(), 30.0)]);
        assert_eq!((v.bound.as_str(), v.stage.as_str()), ("decode", "decode"));
        assert!((v.stage_share - 150.0 / 180.0).abs() < 1e-9);
        // No models at all: decoding is all there is.
        assert_eq!(verdict(&d, &[]).bound, "decode");
    }
}
