//! The ONNX protobuf reader and writer of `models/src/graph.rs`, through its pub entry point
//! `yolov8_boxes` (parse the model, cut the mask branch, refit the head to a canvas, re-encode).
//!
//! Input: one selector byte, then the model's bytes. The selector picks the
//! `(original, canvas)` pair from `CANVASES` (small canvases keep the anchor tables cheap; the
//! real 640×640 → 640×384 is there too, and canvases `yolov8_boxes` must refuse). Checks: no
//! panic; and an accepted edit is a fixed point: its output, edited again for the same canvas,
//! is accepted, cuts nothing and comes out byte for byte the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passwatch_models::graph::{anchor_count, yolov8_boxes};

const INPUT: &str = "images";
const OUTPUT: &str = "output0";

type Canvas = (u32, u32);
const CANVASES: [(Canvas, Canvas); 8] = [
    ((64, 64), (64, 32)),
    ((64, 64), (64, 64)),
    ((640, 640), (640, 384)),
    ((640, 640), (640, 640)),
    ((64, 32), (64, 64)),
    ((32, 32), (32, 32)),
    ((640, 640), (640, 380)),
    ((64, 64), (0, 64)),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, model)) = data.split_first() else {
        return;
    };
    let (original, canvas) = CANVASES[usize::from(selector) % CANVASES.len()];
    let Ok(prepared) = yolov8_boxes(model, INPUT, OUTPUT, original, canvas) else {
        return;
    };
    assert!(canvas.0 % 32 == 0 && canvas.1 % 32 == 0 && canvas.0 > 0 && canvas.1 > 0);
    assert_eq!(prepared.canvas, canvas);
    assert_eq!(prepared.anchors, anchor_count(canvas.0, canvas.1));
    let again = yolov8_boxes(&prepared.bytes, INPUT, OUTPUT, canvas, canvas)
        .unwrap_or_else(|e| panic!("the edited model is refused when edited again: {e}"));
    assert_eq!(again.nodes_removed, 0, "a second edit cut nodes");
    assert_eq!(again.nodes, prepared.nodes);
    assert!(
        again.bytes == prepared.bytes,
        "a second edit changed the bytes"
    );
});
