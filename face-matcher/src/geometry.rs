//! Points and boxes for faces, each value named by the space it lives in.
//!
//! Coordinates follow OpenCV's *pixel-index* convention, the one YuNet's decoder and the ArcFace
//! alignment template are defined in: the centre of pixel `(i, j)` is at `(i, j)`, x grows to the
//! right and y downwards. Moving a point from the detector's 640×640 input to the frame is then a
//! plain division by the letterbox scale, as in the Python reference the figures in MODELS.md
//! come from.

use serde::Serialize;

/// A point in some 2-D pixel space (see the module docs for the convention).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Point {
    /// Horizontal coordinate, growing to the right.
    pub x: f32,
    /// Vertical coordinate, growing downwards.
    pub y: f32,
}

impl Point {
    /// A point at `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// The point halfway to `other`.
    pub fn midpoint(self, other: Point) -> Point {
        Point::new(0.5 * (self.x + other.x), 0.5 * (self.y + other.y))
    }
}

/// An axis-aligned box: top-left corner plus size. A box with a non-positive width or height is
/// empty (area 0).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// A box with top-left corner `(x, y)` and size `w × h`.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        BBox { x, y, w, h }
    }

    /// Right edge (`x + w`).
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// Bottom edge (`y + h`).
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Area; 0 for an empty box.
    pub fn area(&self) -> f32 {
        if self.w > 0.0 && self.h > 0.0 {
            self.w * self.h
        } else {
            0.0
        }
    }

    /// Centre point.
    pub fn centre(&self) -> Point {
        Point::new(self.x + 0.5 * self.w, self.y + 0.5 * self.h)
    }

    /// Intersection over union, in `[0, 1]`; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = self.right().min(other.right()) - self.x.max(other.x);
        let ih = self.bottom().min(other.bottom()) - self.y.max(other.y);
        let inter = if iw > 0.0 && ih > 0.0 { iw * ih } else { 0.0 };
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Greedy non-maximum suppression: the indices of the boxes kept, best score first. A box is
/// dropped when its IoU with a kept, higher-scoring box is above `iou_threshold`. Ties in score
/// keep the earlier index first, so the result does not depend on the sort's stability.
pub fn nms(candidates: &[(BBox, f32)], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| candidates[b].1.total_cmp(&candidates[a].1).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        let bb = &candidates[i].0;
        if kept
            .iter()
            .all(|&k| candidates[k].0.iou(bb) <= iou_threshold)
        {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        let b = BBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 1.0, 1.0)), 0.0);
        assert_eq!(a.iou(&BBox::new(0.0, 0.0, 0.0, 5.0)), 0.0);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = [
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.8),
            (BBox::new(1.0, 1.0, 10.0, 10.0), 0.9),
            (BBox::new(50.0, 50.0, 10.0, 10.0), 0.7),
        ];
        assert_eq!(nms(&boxes, 0.3), vec![1, 2]);
        assert_eq!(nms(&boxes, 0.99), vec![1, 0, 2]);
    }
}
