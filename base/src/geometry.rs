//! One box, one point and one non-maximum suppression for plates, faces and privacy.
//!
//! The types carry no pixel convention of their own; each detector documents its own, and
//! callers name the space a value lives in (`bbox_in_frame`, `quad_in_map`). The plate path uses
//! *continuous* coordinates (pixel `(i, j)` covers `[i, i+1] × [j, j+1]`); the face path uses
//! OpenCV's pixel-index convention (the centre of pixel `(i, j)` is at `(i, j)`), the one YuNet's
//! decoder and the ArcFace template are defined in. In both, y grows downwards, and scaling a
//! value from one space to another is a plain multiplication.

use serde::Serialize;

/// A point in some 2-D coordinate space (see the module docs for the pixel convention).
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
        Self { x, y }
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
        Self { x, y, w, h }
    }

    /// The box spanning two corners, in any order.
    pub fn from_corners(a: Point, b: Point) -> Self {
        let x0 = a.x.min(b.x);
        let y0 = a.y.min(b.y);
        Self::new(x0, y0, a.x.max(b.x) - x0, a.y.max(b.y) - y0)
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

    /// The overlap of two boxes, or `None` when they do not overlap with a positive area.
    pub fn intersection(&self, other: &BBox) -> Option<BBox> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.right().min(other.right());
        let y1 = self.bottom().min(other.bottom());
        (x1 > x0 && y1 > y0).then(|| BBox::new(x0, y0, x1 - x0, y1 - y0))
    }

    /// The smallest box holding both boxes.
    pub fn union(&self, other: &BBox) -> BBox {
        let x0 = self.x.min(other.x);
        let y0 = self.y.min(other.y);
        let x1 = self.right().max(other.right());
        let y1 = self.bottom().max(other.bottom());
        BBox::new(x0, y0, x1 - x0, y1 - y0)
    }

    /// Intersection over union, in `[0, 1]`; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other).map_or(0.0, |b| b.area());
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// The box with every coordinate multiplied (to move it to a space `sx` × `sy` as large).
    pub fn scaled(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x * sx, self.y * sy, self.w * sx, self.h * sy)
    }

    /// The box grown by `dx` on the left and right and `dy` on the top and bottom.
    pub fn padded(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(
            self.x - dx,
            self.y - dy,
            self.w + 2.0 * dx,
            self.h + 2.0 * dy,
        )
    }
}

/// Greedy non-maximum suppression: walks the candidates by descending score (ties: lower index
/// first) and keeps one unless it overlaps an already kept one with IoU above `iou_threshold`.
/// Returns the kept indices in that order. NaN scores sort last.
pub fn nms(candidates: &[(BBox, f32)], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (candidates[a].1, candidates[b].1);
        match (sa.is_nan(), sb.is_nan()) {
            (false, false) => sb.total_cmp(&sa).then(a.cmp(&b)),
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (true, true) => a.cmp(&b),
        }
    });
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
    fn nms_keeps_the_best_of_overlapping_boxes_and_puts_nan_last() {
        let c = [
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.5),
            (BBox::new(1.0, 0.0, 10.0, 10.0), 0.9),
            (BBox::new(50.0, 50.0, 10.0, 10.0), f32::NAN),
            (BBox::new(30.0, 0.0, 10.0, 10.0), 0.9),
        ];
        assert_eq!(nms(&c, 0.5), vec![1, 3, 2]);
    }

    #[test]
    fn midpoint_and_distance() {
        let (a, b) = (Point::new(0.0, 0.0), Point::new(6.0, 8.0));
        assert_eq!(a.distance(b), 10.0);
        assert_eq!(a.midpoint(b), Point::new(3.0, 4.0));
    }
}
