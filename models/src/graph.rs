//! Fitting a YOLOv8 graph to the run before ONNX Runtime loads it.
//!
//! The pack's plate detector (`platedet`) is a YOLOv8s-*seg* export for a 640×640 canvas. Two
//! things in it cost time and give passwatch nothing:
//!
//! - **the mask branch**: the prototype network (`output1`, 32 × 160 × 160) and the 32 mask
//!   coefficients per anchor in `output0`. Only the boxes and the plate score are read. ONNX
//!   Runtime computes every node of the graph whichever outputs a run asks for, so the branch
//!   has to be cut from the graph: 35 of 274 nodes, about a quarter of the run.
//! - **the square canvas**: a 16:9 frame letterboxed into 640×640 leaves 44% of the canvas grey.
//!   The network is convolutional; only the head's anchor tables and two reshape shapes are tied
//!   to the canvas. [`yolov8_boxes`] rewrites them for a canvas of multiples of 32 that holds the
//!   frame at the same scale (640×384 for 720p and 1080p), so the same pixels are seen at the
//!   same size and the padding is not computed.
//!
//! The edit is made on the protobuf bytes with the small reader and writer below (only the
//! fields it touches are interpreted; every other field is copied as it was), so no ONNX
//! library is needed and the file on disk, whose SHA-256 was checked, is left alone. It refuses
//! a graph whose head is not the one it knows (anchor tables that do not match the canvas),
//! rather than guessing.

use half::f16;

/// Protobuf wire values of one field.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(Vec<u8>),
    Fixed32([u8; 4]),
}

/// One field of a message, in file order.
#[derive(Clone, Debug, PartialEq)]
struct Field {
    num: u32,
    value: Value,
}

impl Field {
    fn bytes(num: u32, b: Vec<u8>) -> Field {
        Field {
            num,
            value: Value::Bytes(b),
        }
    }

    fn varint(num: u32, v: u64) -> Field {
        Field {
            num,
            value: Value::Varint(v),
        }
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The field as an embedded message's bytes: an error naming what was expected otherwise.
    fn message(&self, what: &str) -> Result<&[u8], String> {
        self.as_bytes()
            .ok_or_else(|| format!("{what} (field {}) is not a message", self.num))
    }

    fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| format!("varint runs past the end at byte {pos}"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(format!("varint longer than 10 bytes at byte {pos}"))
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn parse(buf: &[u8]) -> Result<Vec<Field>, String> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let num =
            u32::try_from(key >> 3).map_err(|_| format!("field number {} too large", key >> 3))?;
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
            let end = pos
                .checked_add(n)
                .filter(|&e| e <= buf.len())
                .ok_or_else(|| format!("field {num} runs past the end of its message"))?;
            let s = &buf[*pos..end];
            *pos = end;
            Ok(s)
        };
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 => Value::Fixed64(take(&mut pos, 8)?.try_into().expect("8 bytes")),
            2 => {
                let n = read_varint(buf, &mut pos)? as usize;
                Value::Bytes(take(&mut pos, n)?.to_vec())
            }
            5 => Value::Fixed32(take(&mut pos, 4)?.try_into().expect("4 bytes")),
            w => {
                return Err(format!(
                    "field {num} has wire type {w}, which ONNX does not use"
                ))
            }
        };
        fields.push(Field { num, value });
    }
    Ok(fields)
}

fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let key = u64::from(f.num) << 3;
        match &f.value {
            Value::Varint(v) => {
                write_varint(&mut out, key);
                write_varint(&mut out, *v);
            }
            Value::Fixed64(b) => {
                write_varint(&mut out, key | 1);
                out.extend_from_slice(b);
            }
            Value::Bytes(b) => {
                write_varint(&mut out, key | 2);
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Fixed32(b) => {
                write_varint(&mut out, key | 5);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn strings(fields: &[Field], num: u32) -> Vec<String> {
    fields
        .iter()
        .filter(|f| f.num == num)
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

fn string(fields: &[Field], num: u32) -> Option<String> {
    fields
        .iter()
        .find(|f| f.num == num)
        .and_then(|f| f.as_str().map(str::to_string))
}

/// Repeated integers, packed or not.
fn ints(fields: &[Field], num: u32) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.num == num) {
        match &f.value {
            Value::Varint(v) => out.push(*v as i64),
            Value::Bytes(b) => {
                let mut p = 0;
                while p < b.len() {
                    out.push(read_varint(b, &mut p)? as i64);
                }
            }
            _ => return Err(format!("field {num} is not an integer")),
        }
    }
    Ok(out)
}

fn packed(num: u32, values: &[i64]) -> Field {
    let mut b = Vec::new();
    for &v in values {
        write_varint(&mut b, v as u64);
    }
    Field::bytes(num, b)
}

// ONNX field numbers (onnx.proto3).
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
const GRAPH_VALUE_INFO: u32 = 13;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_OP_TYPE: u32 = 4;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_FLOAT_DATA: u32 = 4;
const TENSOR_INT32_DATA: u32 = 5;
const TENSOR_INT64_DATA: u32 = 7;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_TYPE_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_VALUE: u32 = 1;
const DIM_PARAM: u32 = 2;
const DT_FLOAT: i64 = 1;
const DT_INT64: i64 = 7;
const DT_FLOAT16: i64 = 10;

/// YOLOv8's strides, one anchor per grid cell of each.
const STRIDES: [u32; 3] = [8, 16, 32];

/// Anchors of a YOLOv8 head on a `w`×`h` canvas.
pub fn anchor_count(w: u32, h: u32) -> usize {
    STRIDES.iter().map(|s| ((w / s) * (h / s)) as usize).sum()
}

/// The head's anchor points (x row, then y row) and per-anchor strides, in the order the
/// export lays them out (stride by stride, row-major).
fn anchor_tables(w: u32, h: u32) -> (Vec<f32>, Vec<f32>) {
    let n = anchor_count(w, h);
    let (mut xs, mut ys, mut st) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in STRIDES {
        for row in 0..h / s {
            for col in 0..w / s {
                xs.push(col as f32 + 0.5);
                ys.push(row as f32 + 0.5);
                st.push(s as f32);
            }
        }
    }
    xs.extend(ys);
    (xs, st)
}

/// The canvas for a `frame_w`×`frame_h` frame: `side` on its long side and, on its short side,
/// the first of 3/5, 3/4 or all of `side` (in multiples of 32) that holds the frame scaled as a
/// `side`×`side` letterbox would scale it. 16:9 and 16:10 frames get 640×384 and 640×480, 4:3
/// 640×480; a few canvases, so photos of many shapes share a few sessions.
pub fn fitted_canvas(frame_w: u32, frame_h: u32, side: u32) -> (u32, u32) {
    let (long, short) = (frame_w.max(frame_h).max(1), frame_w.min(frame_h));
    let needed = (f64::from(short) * f64::from(side) / f64::from(long)).round() as u32;
    let short_side = [3 * side / 5, 3 * side / 4, side]
        .into_iter()
        .map(|v| v.div_ceil(32) * 32)
        .find(|&v| v >= needed)
        .unwrap_or(side.div_ceil(32) * 32);
    let side = side.div_ceil(32) * 32;
    if frame_w >= frame_h {
        (side, short_side)
    } else {
        (short_side, side)
    }
}

/// What [`yolov8_boxes`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The edited model.
    pub bytes: Vec<u8>,
    /// Canvas width and height.
    pub canvas: (u32, u32),
    /// Anchors of the new head.
    pub anchors: usize,
    /// Nodes cut (the mask branch).
    pub nodes_removed: usize,
    /// Nodes left.
    pub nodes: usize,
}

struct Node {
    fields: Vec<Field>,
    inputs: Vec<String>,
    outputs: Vec<String>,
    op: String,
}

/// Cuts a YOLOv8 export down to its boxes and fits it to a canvas.
///
/// `model` is the ONNX file; `input` and `output` the names of the image input and the boxes
/// output; `original` the canvas it was exported for and `canvas` the one wanted (both
/// multiples of 32). Graph outputs other than `output` go, and with them every node only they
/// needed; when `output` is a concatenation of three parts (boxes, class scores, mask
/// coefficients: a segmentation head) the third goes too, leaving `[1, 4 + classes, anchors]`.
pub fn yolov8_boxes(
    model: &[u8],
    input: &str,
    output: &str,
    original: (u32, u32),
    canvas: (u32, u32),
) -> Result<Prepared, String> {
    if !canvas.0.is_multiple_of(32)
        || !canvas.1.is_multiple_of(32)
        || canvas.0 == 0
        || canvas.1 == 0
    {
        return Err(format!(
            "canvas {}×{} is not made of multiples of 32",
            canvas.0, canvas.1
        ));
    }
    let mut top = parse(model).map_err(|e| format!("not an ONNX model: {e}"))?;
    let gi = top
        .iter()
        .position(|f| f.num == MODEL_GRAPH)
        .ok_or("the model has no graph")?;
    let graph = parse(
        top[gi]
            .as_bytes()
            .ok_or("the graph field is not a message")?,
    )
    .map_err(|e| format!("graph: {e}"))?;

    let mut nodes = Vec::new();
    for f in graph.iter().filter(|f| f.num == GRAPH_NODE) {
        let fields = parse(f.message("node")?).map_err(|e| format!("node: {e}"))?;
        nodes.push(Node {
            inputs: strings(&fields, NODE_INPUT),
            outputs: strings(&fields, NODE_OUTPUT),
            op: string(&fields, NODE_OP_TYPE).unwrap_or_default(),
            fields,
        });
    }
    let total = nodes.len();

    // The segmentation head's concatenation loses its mask coefficients.
    let head = nodes
        .iter_mut()
        .find(|n| n.outputs.iter().any(|o| o == output))
        .ok_or_else(|| format!("no node produces the output {output:?}"))?;
    if head.op == "Concat" && head.inputs.len() == 3 {
        head.inputs.pop();
        let keep = head.inputs.clone();
        head.fields.retain(|f| f.num != NODE_INPUT);
        let at = head
            .fields
            .iter()
            .position(|f| f.num > NODE_INPUT)
            .unwrap_or(head.fields.len());
        for (i, name) in keep.into_iter().enumerate() {
            head.fields
                .insert(at + i, Field::bytes(NODE_INPUT, name.into_bytes()));
        }
    }

    // Only what the output needs, walking back (nodes are in topological order).
    let mut needed: std::collections::HashSet<String> = [output.to_string()].into();
    let mut keep = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(n.inputs.iter().cloned());
        }
    }
    let kept = keep.iter().filter(|k| **k).count();

    // Anchor tables and the reshape shapes that carry the anchor count.
    let (a0, a1) = (
        anchor_count(original.0, original.1),
        anchor_count(canvas.0, canvas.1),
    );
    let (old_points, old_strides) = anchor_tables(original.0, original.1);
    let (new_points, new_strides) = anchor_tables(canvas.0, canvas.1);
    let mut tables = 0;
    let mut shapes = 0;
    let mut new_graph = Vec::with_capacity(graph.len());
    let mut node_iter = nodes.into_iter().zip(keep);
    for f in graph {
        match f.num {
            GRAPH_NODE => {
                let (n, k) = node_iter.next().expect("one node per node field");
                if k {
                    new_graph.push(Field::bytes(GRAPH_NODE, encode(&n.fields)));
                }
            }
            GRAPH_INITIALIZER => {
                let t =
                    parse(f.message("initializer")?).map_err(|e| format!("initializer: {e}"))?;
                let name = string(&t, TENSOR_NAME).unwrap_or_default();
                if !needed.contains(&name) {
                    continue;
                }
                let t = if a0 == a1 {
                    t
                } else {
                    refit_tensor(
                        t,
                        &name,
                        a0,
                        a1,
                        (&old_points, &old_strides),
                        (&new_points, &new_strides),
                        (&mut tables, &mut shapes),
                    )?
                };
                new_graph.push(Field::bytes(GRAPH_INITIALIZER, encode(&t)));
            }
            GRAPH_INPUT => {
                let v = parse(f.message("input")?).map_err(|e| format!("input: {e}"))?;
                let name = string(&v, VALUE_INFO_NAME).unwrap_or_default();
                if name == input {
                    let dims = [
                        Dim::Value(1),
                        Dim::Value(3),
                        Dim::Value(canvas.1 as i64),
                        Dim::Value(canvas.0 as i64),
                    ];
                    new_graph.push(Field::bytes(GRAPH_INPUT, encode(&with_dims(v, &dims)?)));
                } else if needed.contains(&name) {
                    new_graph.push(f);
                }
            }
            GRAPH_OUTPUT => {
                let v = parse(f.message("output")?).map_err(|e| format!("output: {e}"))?;
                if string(&v, VALUE_INFO_NAME).as_deref() == Some(output) {
                    let dims = [Dim::Value(1), Dim::Param("rows"), Dim::Value(a1 as i64)];
                    new_graph.push(Field::bytes(GRAPH_OUTPUT, encode(&with_dims(v, &dims)?)));
                }
            }
            // Shapes inside the graph are inferred again by ONNX Runtime.
            GRAPH_VALUE_INFO => {}
            _ => new_graph.push(f),
        }
    }
    if a0 != a1 && (tables != 2 || shapes == 0) {
        return Err(format!(
            "not the YOLOv8 head this preparation knows: found {tables} anchor tables (want 2: \
             points and strides) and {shapes} reshape shapes with {a0} anchors (want at least 1)"
        ));
    }
    top[gi] = Field::bytes(MODEL_GRAPH, encode(&new_graph));
    Ok(Prepared {
        bytes: encode(&top),
        canvas,
        anchors: a1,
        nodes_removed: total - kept,
        nodes: kept,
    })
}

enum Dim {
    Value(i64),
    Param(&'static str),
}

/// A value info with its tensor shape replaced (element type kept).
fn with_dims(v: Vec<Field>, dims: &[Dim]) -> Result<Vec<Field>, String> {
    let mut out = Vec::with_capacity(v.len());
    for f in v {
        if f.num != VALUE_INFO_TYPE {
            out.push(f);
            continue;
        }
        let ty = parse(f.message("type")?).map_err(|e| format!("type: {e}"))?;
        let mut new_ty = Vec::new();
        for tf in ty {
            if tf.num != TYPE_TENSOR {
                new_ty.push(tf);
                continue;
            }
            let tensor =
                parse(tf.message("tensor type")?).map_err(|e| format!("tensor type: {e}"))?;
            let mut new_tensor: Vec<Field> = tensor
                .into_iter()
                .filter(|x| x.num != TENSOR_TYPE_SHAPE)
                .collect();
            let shape: Vec<Field> = dims
                .iter()
                .map(|d| {
                    let dim = match d {
                        Dim::Value(v) => Field::varint(DIM_VALUE, *v as u64),
                        Dim::Param(p) => Field::bytes(DIM_PARAM, p.as_bytes().to_vec()),
                    };
                    Field::bytes(SHAPE_DIM, encode(&[dim]))
                })
                .collect();
            new_tensor.push(Field::bytes(TENSOR_TYPE_SHAPE, encode(&shape)));
            new_ty.push(Field::bytes(TYPE_TENSOR, encode(&new_tensor)));
        }
        out.push(Field::bytes(VALUE_INFO_TYPE, encode(&new_ty)));
    }
    Ok(out)
}

/// The values of a float or float16 tensor, wherever they are stored.
fn float_values(t: &[Field], dtype: i64) -> Result<Vec<f32>, String> {
    if let Some(raw) = t
        .iter()
        .find(|f| f.num == TENSOR_RAW_DATA)
        .and_then(Field::as_bytes)
    {
        return Ok(match dtype {
            DT_FLOAT16 => raw
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        });
    }
    match dtype {
        DT_FLOAT16 => Ok(ints(t, TENSOR_INT32_DATA)?
            .into_iter()
            .map(|b| f16::from_bits(b as u16).to_f32())
            .collect()),
        _ => {
            let mut out = Vec::new();
            for f in t.iter().filter(|f| f.num == TENSOR_FLOAT_DATA) {
                match &f.value {
                    Value::Fixed32(b) => out.push(f32::from_le_bytes(*b)),
                    Value::Bytes(b) => out.extend(
                        b.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    ),
                    _ => return Err("float_data of an unexpected wire type".into()),
                }
            }
            Ok(out)
        }
    }
}

fn int64_values(t: &[Field]) -> Result<Vec<i64>, String> {
    if let Some(raw) = t
        .iter()
        .find(|f| f.num == TENSOR_RAW_DATA)
        .and_then(Field::as_bytes)
    {
        return Ok(raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect());
    }
    ints(t, TENSOR_INT64_DATA)
}

/// A tensor with new dims and values (as raw data), everything else kept.
fn rebuilt(t: Vec<Field>, dims: &[i64], raw: Vec<u8>) -> Vec<Field> {
    let mut out: Vec<Field> = t
        .into_iter()
        .filter(|f| {
            !matches!(
                f.num,
                TENSOR_DIMS
                    | TENSOR_RAW_DATA
                    | TENSOR_FLOAT_DATA
                    | TENSOR_INT32_DATA
                    | TENSOR_INT64_DATA
            )
        })
        .collect();
    out.insert(0, packed(TENSOR_DIMS, dims));
    out.push(Field::bytes(TENSOR_RAW_DATA, raw));
    out
}

/// Whether an anchor table's values are the expected grid, to within 1e-3. A NaN matches
/// nothing (a plain `> 1e-3` test would let a table of NaN through).
fn matches_grid(values: &[f32], want: &[f32]) -> bool {
    values.len() == want.len() && values.iter().zip(want).all(|(v, w)| (v - w).abs() <= 1e-3)
}

/// Rewrites an initializer tied to the anchor count: a reshape shape holding it, or one of the
/// head's two anchor tables (checked against the original canvas before being replaced).
#[allow(clippy::too_many_arguments)]
fn refit_tensor(
    t: Vec<Field>,
    name: &str,
    a0: usize,
    a1: usize,
    old: (&[f32], &[f32]),
    new: (&[f32], &[f32]),
    counts: (&mut usize, &mut usize),
) -> Result<Vec<Field>, String> {
    let dims = ints(&t, TENSOR_DIMS)?;
    let dtype = ints(&t, TENSOR_DATA_TYPE)?.first().copied().unwrap_or(0);
    match dtype {
        DT_INT64 if dims.len() == 1 => {
            let values = int64_values(&t)?;
            if !values.contains(&(a0 as i64)) {
                return Ok(t);
            }
            *counts.1 += 1;
            let raw: Vec<u8> = values
                .iter()
                .map(|&v| if v == a0 as i64 { a1 as i64 } else { v })
                .flat_map(i64::to_le_bytes)
                .collect();
            Ok(rebuilt(t, &dims, raw))
        }
        DT_FLOAT | DT_FLOAT16 if dims.last() == Some(&(a0 as i64)) => {
            let values = float_values(&t, dtype)?;
            let (want, replacement) = if values.len() == old.0.len() {
                (old.0, new.0)
            } else if values.len() == old.1.len() {
                (old.1, new.1)
            } else {
                return Err(format!(
                    "initializer {name:?} has {} values over {a0} anchors: not an anchor table",
                    values.len()
                ));
            };
            if !matches_grid(&values, want) {
                return Err(format!(
                    "initializer {name:?} looks like an anchor table but its values are not the \
                     canvas's grid"
                ));
            }
            *counts.0 += 1;
            let mut new_dims = dims.clone();
            *new_dims.last_mut().expect("non-empty") = a1 as i64;
            let raw: Vec<u8> = if dtype == DT_FLOAT16 {
                replacement
                    .iter()
                    .flat_map(|v| f16::from_f32(*v).to_le_bytes())
                    .collect()
            } else {
                replacement.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            Ok(rebuilt(t, &new_dims, raw))
        }
        _ => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 8400, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }

    #[test]
    fn messages_round_trip_byte_for_byte() {
        let fields = vec![
            Field::varint(1, 7),
            Field::bytes(8, b"name".to_vec()),
            Field {
                num: 4,
                value: Value::Fixed32(1.5f32.to_le_bytes()),
            },
            Field {
                num: 3,
                value: Value::Fixed64(2.5f64.to_le_bytes()),
            },
            packed(1, &[1, 4, 16, 8400]),
        ];
        let bytes = encode(&fields);
        assert_eq!(parse(&bytes).unwrap(), fields);
        assert_eq!(encode(&parse(&bytes).unwrap()), bytes);
        assert_eq!(
            ints(&parse(&bytes).unwrap(), 1).unwrap(),
            vec![7, 1, 4, 16, 8400]
        );
    }

    #[test]
    fn truncated_messages_are_errors() {
        let bytes = encode(&[Field::bytes(2, vec![1; 40])]);
        let err = parse(&bytes[..20]).unwrap_err();
        assert!(err.contains("past the end"), "{err}");
        assert!(yolov8_boxes(b"\x0a\xff", "images", "output0", (640, 640), (640, 384)).is_err());
    }

    #[test]
    fn a_node_that_is_not_a_message_is_an_error_not_an_empty_node() {
        let graph = encode(&[Field::varint(GRAPH_NODE, 5)]);
        let model = encode(&[Field::bytes(MODEL_GRAPH, graph)]);
        let err = yolov8_boxes(&model, "images", "output0", (640, 640), (640, 384)).unwrap_err();
        assert!(err.contains("node (field 1) is not a message"), "{err}");
    }

    #[test]
    fn anchors_of_the_square_and_the_fitted_canvas() {
        assert_eq!(anchor_count(640, 640), 8400);
        assert_eq!(anchor_count(640, 384), 5040);
        let (points, strides) = anchor_tables(640, 384);
        assert_eq!(points.len(), 2 * 5040);
        assert_eq!(strides.len(), 5040);
        // Stride 8 first, row-major: the second anchor is one column right.
        assert_eq!((points[1], points[5040 + 1]), (1.5, 0.5));
        assert_eq!((points[80], points[5040 + 80]), (0.5, 1.5));
        assert_eq!(strides[80 * 48 - 1], 8.0);
        assert_eq!(strides[80 * 48], 16.0);
        assert_eq!(strides[5039], 32.0);
    }

    #[test]
    fn canvases_hold_the_frame_at_the_square_letterbox_scale() {
        assert_eq!(fitted_canvas(1280, 720, 640), (640, 384));
        assert_eq!(fitted_canvas(1920, 1080, 640), (640, 384));
        assert_eq!(fitted_canvas(1024, 640, 640), (640, 480));
        assert_eq!(fitted_canvas(640, 480, 640), (640, 480));
        assert_eq!(fitted_canvas(800, 640, 640), (640, 640));
        assert_eq!(fitted_canvas(720, 1280, 640), (384, 640));
        assert_eq!(fitted_canvas(500, 500, 640), (640, 640));
        assert_eq!(fitted_canvas(4000, 10, 640), (640, 384));
    }

    #[test]
    fn an_anchor_table_of_nan_is_not_the_grid() {
        let (want, _) = anchor_tables(64, 64);
        assert!(matches_grid(&want, &want));
        let nan = vec![f32::NAN; want.len()];
        assert!(
            !matches_grid(&nan, &want),
            "found by fuzzing the graph edit"
        );
        let mut off = want.clone();
        off[3] += 0.01;
        assert!(!matches_grid(&off, &want));
        assert!(!matches_grid(&want[1..], &want));
    }
}
