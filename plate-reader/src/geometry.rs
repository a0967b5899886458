//! Plane geometry for plate detection: boxes, quads, rotated rectangles, connected components,
//! convex hulls, minimum-area rectangles, DBNet's box post-processing and NMS.
//!
//! Detectors hand back boxes in their own input space and every later stage works in another
//! (the frame, a crop, the DBNet probability map), so this module only holds the shapes and the
//! maths; callers say which space a value lives in through its name (`bbox_in_frame`,
//! `quad_in_map`). All coordinates are *continuous*: pixel `(i, j)` covers the square
//! `[i, i+1] × [j, j+1]`, its centre is `(i + 0.5, j + 0.5)`, and y grows downwards. With that
//! convention scaling a shape from one space to another is a plain multiplication, with no
//! half-pixel corrections.
//!
//! The DBNet helpers ([`binarize`], [`dilate_2x2`], [`connected_components`], [`min_area_rect`],
//! [`unclip`], [`mean_inside`]) follow PaddleOCR's `DBPostProcess`, except where noted: contours
//! come from connected components (so holes in a blob never become boxes of their own) and the
//! component outline is made of pixel corners rather than OpenCV's pixel-centre contour, so boxes
//! are one map pixel wider and taller than PaddleOCR's before unclipping.

pub use passwatch_base::geometry::{nms, BBox, Point};

/// The corners of a box as a [`Quad`].
pub trait BBoxQuad {
    /// The four corners as a quad (top-left, top-right, bottom-right, bottom-left).
    fn to_quad(&self) -> Quad;
}

impl BBoxQuad for BBox {
    fn to_quad(&self) -> Quad {
        Quad {
            pts: [
                Point::new(self.x, self.y),
                Point::new(self.right(), self.y),
                Point::new(self.right(), self.bottom()),
                Point::new(self.x, self.bottom()),
            ],
        }
    }
}

/// A quadrilateral with corners ordered top-left, top-right, bottom-right, bottom-left (as seen
/// on screen, y down): the top edge is `pts[0] → pts[1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quad {
    /// Corners: top-left, top-right, bottom-right, bottom-left.
    pub pts: [Point; 4],
}

impl Quad {
    /// Orders four corners given in any order. The corners are sorted around their centroid and
    /// the top edge is the edge whose direction is closest to +x, so the order survives any
    /// rotation up to ±45° and any convex perspective distortion, where PaddleOCR's
    /// sort-by-x rule breaks near 45°.
    pub fn from_unordered(points: [Point; 4]) -> Quad {
        let cx = points.iter().map(|p| p.x).sum::<f32>() / 4.0;
        let cy = points.iter().map(|p| p.y).sum::<f32>() / 4.0;
        let mut pts = points;
        // Increasing atan2 with y down walks the corners clockwise on screen, which is the
        // TL → TR → BR → BL direction.
        pts.sort_by(|a, b| {
            let aa = (a.y - cy).atan2(a.x - cx);
            let ab = (b.y - cy).atan2(b.x - cx);
            aa.total_cmp(&ab)
        });
        let mut best = 0;
        let mut best_cos = f32::NEG_INFINITY;
        for i in 0..4 {
            let a = pts[i];
            let b = pts[(i + 1) % 4];
            let len = a.distance(b);
            let cos = if len > 0.0 { (b.x - a.x) / len } else { -1.0 };
            if cos > best_cos {
                best_cos = cos;
                best = i;
            }
        }
        pts.rotate_left(best);
        Quad { pts }
    }

    /// The axis-aligned box around the corners.
    pub fn bbox(&self) -> BBox {
        let mut x0 = f32::INFINITY;
        let mut y0 = f32::INFINITY;
        let mut x1 = f32::NEG_INFINITY;
        let mut y1 = f32::NEG_INFINITY;
        for p in &self.pts {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        BBox::new(x0, y0, x1 - x0, y1 - y0)
    }

    /// Mean length of the top and bottom edges.
    pub fn width(&self) -> f32 {
        let [tl, tr, br, bl] = self.pts;
        0.5 * (tl.distance(tr) + bl.distance(br))
    }

    /// Mean length of the left and right edges.
    pub fn height(&self) -> f32 {
        let [tl, tr, br, bl] = self.pts;
        0.5 * (tl.distance(bl) + tr.distance(br))
    }

    /// The quad with every coordinate multiplied (to move it to a space `sx` × `sy` as large).
    pub fn scaled(&self, sx: f32, sy: f32) -> Quad {
        Quad {
            pts: self.pts.map(|p| Point::new(p.x * sx, p.y * sy)),
        }
    }

    /// The quad moved by `(dx, dy)`.
    pub fn translated(&self, dx: f32, dy: f32) -> Quad {
        Quad {
            pts: self.pts.map(|p| Point::new(p.x + dx, p.y + dy)),
        }
    }

    /// Reading direction in radians: the angle of the mean of the top and bottom edge vectors,
    /// positive when the text runs downwards to the right (y is down).
    pub fn angle(&self) -> f32 {
        let [tl, tr, br, bl] = self.pts;
        let dx = (tr.x - tl.x) + (br.x - bl.x);
        let dy = (tr.y - tl.y) + (br.y - bl.y);
        dy.atan2(dx)
    }

    /// Area by the shoelace formula (absolute value, so either winding works).
    pub fn area(&self) -> f32 {
        let mut twice = 0.0;
        for i in 0..4 {
            let a = self.pts[i];
            let b = self.pts[(i + 1) % 4];
            twice += a.x * b.y - b.x * a.y;
        }
        0.5 * twice.abs()
    }
}

/// A rectangle of any rotation: `width` runs along the direction `angle` (radians from +x, y
/// down, so a positive angle turns clockwise on screen) and `height` perpendicular to it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RotatedRect {
    /// Centre.
    pub centre: Point,
    /// Extent along the `angle` direction.
    pub width: f32,
    /// Extent perpendicular to the `angle` direction.
    pub height: f32,
    /// Direction of the `width` side, in radians.
    pub angle: f32,
}

impl RotatedRect {
    /// The same rectangle described with `angle` in `(-π/4, π/4]`, swapping `width` and
    /// `height` where that takes a quarter turn. The width side is then the one nearer to
    /// horizontal, which is what [`RotatedRect::corners`] relies on.
    pub fn normalised(&self) -> RotatedRect {
        use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};
        // A rectangle is symmetric under a half turn: reduce modulo π first.
        let mut angle = self.angle.rem_euclid(PI);
        if angle > FRAC_PI_2 {
            angle -= PI;
        }
        let (mut width, mut height) = (self.width, self.height);
        if angle > FRAC_PI_4 {
            angle -= FRAC_PI_2;
            std::mem::swap(&mut width, &mut height);
        } else if angle <= -FRAC_PI_4 {
            angle += FRAC_PI_2;
            std::mem::swap(&mut width, &mut height);
        }
        RotatedRect {
            centre: self.centre,
            width,
            height,
            angle,
        }
    }

    /// The corners, ordered top-left, top-right, bottom-right, bottom-left. The top and bottom
    /// edges are the sides nearer to horizontal, so a near-horizontal text line has its long
    /// sides on top and bottom whatever angle it was described with.
    pub fn corners(&self) -> Quad {
        let r = self.normalised();
        let (s, c) = r.angle.sin_cos();
        // Half extents along the width direction u = (c, s) and the height direction
        // v = (-s, c), which points down on screen for a small angle.
        let (hw, hh) = (0.5 * r.width, 0.5 * r.height);
        let (ux, uy) = (c * hw, s * hw);
        let (vx, vy) = (-s * hh, c * hh);
        let Point { x: cx, y: cy } = r.centre;
        Quad {
            pts: [
                Point::new(cx - ux - vx, cy - uy - vy),
                Point::new(cx + ux - vx, cy + uy - vy),
                Point::new(cx + ux + vx, cy + uy + vy),
                Point::new(cx - ux + vx, cy - uy + vy),
            ],
        }
    }

    /// The shorter side.
    pub fn short_side(&self) -> f32 {
        self.width.min(self.height)
    }

    /// The longer side.
    pub fn long_side(&self) -> f32 {
        self.width.max(self.height)
    }

    /// Area.
    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    /// Perimeter.
    pub fn perimeter(&self) -> f32 {
        2.0 * (self.width + self.height)
    }
}

/// One 8-connected blob of non-zero pixels found by [`connected_components`], in the pixel
/// space of the mask it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Number of pixels.
    pub area: usize,
    /// Leftmost pixel column (inclusive).
    pub x0: usize,
    /// Topmost pixel row (inclusive).
    pub y0: usize,
    /// Rightmost pixel column (inclusive).
    pub x1: usize,
    /// Bottommost pixel row (inclusive).
    pub y1: usize,
    /// For each row of the blob, the outer corners of its leftmost and rightmost pixels:
    /// `(xl, y)`, `(xl, y+1)`, `(xr+1, y)`, `(xr+1, y+1)`. Their convex hull is the convex hull
    /// of the blob's pixel squares, at 4 points per row instead of 4 per pixel.
    pub outline: Vec<Point>,
}

impl Component {
    /// The pixel bounding box in continuous coordinates (`x1 + 1` is the right edge).
    pub fn bbox(&self) -> BBox {
        BBox::new(
            self.x0 as f32,
            self.y0 as f32,
            (self.x1 + 1 - self.x0) as f32,
            (self.y1 + 1 - self.y0) as f32,
        )
    }
}

/// A horizontal run of non-zero pixels `[x0, x1]` on row `y`, labelled during the first pass.
#[derive(Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
    label: u32,
}

fn find_root(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        // Path halving keeps the trees flat without recursion.
        let grand = parent[parent[i as usize] as usize];
        parent[i as usize] = grand;
        i = grand;
    }
    i
}

fn union_labels(parent: &mut [u32], a: u32, b: u32) {
    let ra = find_root(parent, a);
    let rb = find_root(parent, b);
    // The smaller root wins so that component order (by first pixel in scan order) is stable.
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

/// Finds the 8-connected components of the non-zero pixels of a row-major `width × height` mask,
/// ordered by their first pixel in scan order. Works on horizontal runs with a union-find, so the
/// cost grows with the number of runs rather than pixels for the usual sparse text masks.
/// A mask shorter than `width × height` is read as far as it goes.
pub fn connected_components(mask: &[u8], width: usize, height: usize) -> Vec<Component> {
    if width == 0 {
        return Vec::new();
    }
    let height = height.min(mask.len() / width);
    let mut runs: Vec<Run> = Vec::new();
    let mut parent: Vec<u32> = Vec::new();
    // Runs of the previous row are runs[prev_start..row_start].
    let mut prev_start = 0;
    for y in 0..height {
        let row = &mask[y * width..(y + 1) * width];
        let row_start = runs.len();
        let mut x = 0;
        // Scan pointer into the previous row's runs; both rows are sorted by x.
        let mut p = prev_start;
        while x < width {
            if row[x] == 0 {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < width && row[x] != 0 {
                x += 1;
            }
            let x1 = x - 1;
            let label = parent.len() as u32;
            parent.push(label);
            // 8-connectivity: a previous run touches [x0, x1] if it overlaps [x0-1, x1+1].
            while p < row_start && (runs[p].x1 as usize) + 1 < x0 {
                p += 1;
            }
            let mut q = p;
            while q < row_start && (runs[q].x0 as usize) <= x1 + 1 {
                union_labels(&mut parent, label, runs[q].label);
                q += 1;
            }
            runs.push(Run {
                y: y as u32,
                x0: x0 as u32,
                x1: x1 as u32,
                label,
            });
        }
        prev_start = row_start;
    }

    // Second pass: one component per root, created in scan order of its first run.
    let mut slot_of_root: Vec<u32> = vec![u32::MAX; parent.len()];
    let mut components: Vec<Component> = Vec::new();
    // The last row written to each component's outline, to merge runs of one row.
    let mut last_row: Vec<u32> = Vec::new();
    for run in &runs {
        let root = find_root(&mut parent, run.label) as usize;
        let slot = if slot_of_root[root] == u32::MAX {
            slot_of_root[root] = components.len() as u32;
            components.push(Component {
                area: 0,
                x0: run.x0 as usize,
                y0: run.y as usize,
                x1: run.x1 as usize,
                y1: run.y as usize,
                outline: Vec::new(),
            });
            last_row.push(u32::MAX);
            components.len() - 1
        } else {
            slot_of_root[root] as usize
        };
        let c = &mut components[slot];
        c.area += (run.x1 - run.x0 + 1) as usize;
        c.x0 = c.x0.min(run.x0 as usize);
        c.x1 = c.x1.max(run.x1 as usize);
        c.y1 = c.y1.max(run.y as usize);
        let (top, bottom) = (run.y as f32, (run.y + 1) as f32);
        let (left, right) = (run.x0 as f32, (run.x1 + 1) as f32);
        if last_row[slot] == run.y {
            // Runs of a row arrive left to right: only the right end can move.
            let n = c.outline.len();
            c.outline[n - 2].x = right;
            c.outline[n - 1].x = right;
        } else {
            last_row[slot] = run.y;
            c.outline.extend_from_slice(&[
                Point::new(left, top),
                Point::new(left, bottom),
                Point::new(right, top),
                Point::new(right, bottom),
            ]);
        }
    }
    components
}

fn cross(o: Point, a: Point, b: Point) -> f32 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Convex hull by Andrew's monotone chain. The hull starts at the lowest-x (then lowest-y) point
/// and turns counter-clockwise in a y-up frame, which is clockwise on screen; collinear and
/// repeated points are dropped and non-finite points ignored. Fewer than three distinct points
/// come back as they are (deduplicated, sorted).
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len() + 1);
    for &p in &pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower_len = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower_len && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
        {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    hull
}

/// The minimum-area rectangle around `points`, by rotating calipers over their convex hull (one
/// of the rectangle's sides lies on a hull edge). The result is [`RotatedRect::normalised`].
/// Degenerate inputs: no points gives a zero rectangle at the origin, one point a zero
/// rectangle there, collinear points a zero-height rectangle along the segment.
pub fn min_area_rect(points: &[Point]) -> RotatedRect {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return RotatedRect::default(),
        1 => {
            return RotatedRect {
                centre: hull[0],
                ..RotatedRect::default()
            }
        }
        2 => {
            let (a, b) = (hull[0], hull[1]);
            return RotatedRect {
                centre: Point::new(0.5 * (a.x + b.x), 0.5 * (a.y + b.y)),
                width: a.distance(b),
                height: 0.0,
                angle: (b.y - a.y).atan2(b.x - a.x),
            }
            .normalised();
        }
        _ => {}
    }
    let n = hull.len();
    let dot = |p: Point, ux: f32, uy: f32| p.x * ux + p.y * uy;
    let mut best: Option<(f32, RotatedRect)> = None;
    // Caliper indices: farthest along the edge (max), opposite the edge (max along the normal)
    // and farthest back along the edge (min). Each only moves forward as the edge turns, so the
    // whole sweep is O(n).
    let (mut i_max, mut i_far, mut i_min) = (0usize, 0usize, 0usize);
    for i in 0..n {
        let a = hull[i];
        let b = hull[(i + 1) % n];
        let len = a.distance(b);
        if len <= 0.0 {
            continue;
        }
        let (ux, uy) = ((b.x - a.x) / len, (b.y - a.y) / len);
        // The hull turns with positive cross products, so the interior lies on the side of
        // v = (-uy, ux).
        let (vx, vy) = (-uy, ux);
        if best.is_none() {
            // Start past the edge itself: its two ends tie along the normal, and rounding could
            // otherwise stop the far caliper on the edge.
            i_max = (i + 1) % n;
            i_far = (i + 1) % n;
        }
        // Each advance is bounded by n so that ties or rounding can never spin forever.
        let mut steps = 0;
        while steps < n && dot(hull[(i_max + 1) % n], ux, uy) >= dot(hull[i_max], ux, uy) {
            i_max = (i_max + 1) % n;
            steps += 1;
        }
        steps = 0;
        while steps < n && dot(hull[(i_far + 1) % n], vx, vy) >= dot(hull[i_far], vx, vy) {
            i_far = (i_far + 1) % n;
            steps += 1;
        }
        if best.is_none() {
            i_min = i_far;
        }
        steps = 0;
        while steps < n && dot(hull[(i_min + 1) % n], ux, uy) <= dot(hull[i_min], ux, uy) {
            i_min = (i_min + 1) % n;
            steps += 1;
        }
        let lo = dot(hull[i_min], ux, uy);
        let hi = dot(hull[i_max], ux, uy);
        let base = dot(a, vx, vy);
        let far = dot(hull[i_far], vx, vy);
        let (w, h) = (hi - lo, far - base);
        let area = w * h;
        if best.as_ref().is_none_or(|(best_area, _)| area < *best_area) {
            let mid_u = 0.5 * (lo + hi);
            let mid_v = 0.5 * (base + far);
            let centre = Point::new(mid_u * ux + mid_v * vx, mid_u * uy + mid_v * vy);
            best = Some((
                area,
                RotatedRect {
                    centre,
                    width: w,
                    height: h,
                    angle: uy.atan2(ux),
                },
            ));
        }
    }
    best.map_or_else(RotatedRect::default, |(_, r)| r.normalised())
}

/// DBNet's unclip for a rectangle: the text kernel the network predicts is shrunk, so the box
/// is grown back by `d = area · ratio / perimeter` on every side, as pyclipper's rounded offset
/// followed by a minimum-area rectangle does (width + 2d, height + 2d). PaddleOCR's default
/// ratio is 1.5, RapidOCR's 1.6. A degenerate rectangle comes back unchanged.
pub fn unclip(rect: &RotatedRect, ratio: f32) -> RotatedRect {
    let perimeter = rect.perimeter();
    if perimeter <= 0.0 || !perimeter.is_finite() {
        return *rect;
    }
    let d = rect.area() * ratio / perimeter;
    RotatedRect {
        width: rect.width + 2.0 * d,
        height: rect.height + 2.0 * d,
        ..*rect
    }
}

/// Mean of a row-major `width × height` map over the pixels whose centres fall inside `quad`
/// (DBNet's box score), with the quad clipped to the map. When no pixel centre falls inside (a
/// quad thinner than a pixel) the value of the pixel under the quad's centroid is used, so tiny
/// boxes are scored rather than silently given 0. Returns 0 when the quad lies outside the map
/// or the map is shorter than `width × height`.
pub fn mean_inside(map: &[f32], width: usize, height: usize, quad: &Quad) -> f32 {
    if width == 0 || height == 0 || map.len() < width * height {
        return 0.0;
    }
    let bb = quad.bbox();
    if !(bb.x.is_finite() && bb.y.is_finite() && bb.w.is_finite() && bb.h.is_finite()) {
        return 0.0;
    }
    // Rows whose centre y + 0.5 lies in [top, bottom].
    let row0 = (bb.y - 0.5).ceil().max(0.0) as usize;
    let row1 = ((bb.bottom() - 0.5).floor() as isize).min(height as isize - 1);
    let pts = &quad.pts;
    let mut sum = 0.0f64;
    let mut count = 0usize;
    if row1 >= 0 {
        for y in row0..=row1 as usize {
            let cy = y as f32 + 0.5;
            // Scanline fill: the quad is convex, so its crossings with the row's centre line
            // give one interval [xl, xr].
            let mut xl = f32::INFINITY;
            let mut xr = f32::NEG_INFINITY;
            for i in 0..4 {
                let a = pts[i];
                let b = pts[(i + 1) % 4];
                let (lo, hi) = if a.y <= b.y { (a, b) } else { (b, a) };
                if cy < lo.y || cy > hi.y {
                    continue;
                }
                if hi.y == lo.y {
                    xl = xl.min(lo.x.min(hi.x));
                    xr = xr.max(lo.x.max(hi.x));
                } else {
                    let x = lo.x + (cy - lo.y) * (hi.x - lo.x) / (hi.y - lo.y);
                    xl = xl.min(x);
                    xr = xr.max(x);
                }
            }
            if xr < xl {
                continue;
            }
            // Columns whose centre x + 0.5 lies in [xl, xr].
            let col0 = (xl - 0.5).ceil().max(0.0) as usize;
            let col1 = ((xr - 0.5).floor() as isize).min(width as isize - 1);
            if col1 < col0 as isize {
                continue;
            }
            let row = &map[y * width..(y + 1) * width];
            let cells = &row[col0..=col1 as usize];
            sum += cells.iter().map(|&v| v as f64).sum::<f64>();
            count += cells.len();
        }
    }
    if count > 0 {
        return (sum / count as f64) as f32;
    }
    let c = Point::new(
        pts.iter().map(|p| p.x).sum::<f32>() / 4.0,
        pts.iter().map(|p| p.y).sum::<f32>() / 4.0,
    );
    if c.x < 0.0 || c.y < 0.0 || c.x >= width as f32 || c.y >= height as f32 {
        return 0.0;
    }
    map[c.y as usize * width + c.x as usize]
}

/// Thresholds a probability map into a 0/1 mask (`value > threshold`, strictly, as DBNet's
/// `pred > thresh`), reusing `mask`'s allocation across frames.
pub fn binarize(map: &[f32], threshold: f32, mask: &mut Vec<u8>) {
    mask.clear();
    mask.extend(map.iter().map(|&v| u8::from(v > threshold)));
}

/// Dilates a row-major `width × height` mask in place with PaddleOCR's 2×2 all-ones kernel, as
/// `cv2.dilate(mask, [[1,1],[1,1]])` does with its default anchor: each output pixel is the
/// maximum of itself and its left, upper and upper-left neighbours, so blobs grow by one pixel
/// to the right and downwards. The kernel is separable, so this is a vertical pass (bottom-up, so
/// each row still sees the original row above it) and then a horizontal pass per row, both over
/// whole rows so that they vectorise. A mask shorter than `width × height` is dilated as far as
/// it goes.
pub fn dilate_2x2(mask: &mut [u8], width: usize, height: usize) {
    if width == 0 {
        return;
    }
    let height = height.min(mask.len() / width);
    for y in (1..height).rev() {
        let (above, rest) = mask.split_at_mut(y * width);
        let up = &above[(y - 1) * width..];
        for (v, &u) in rest[..width].iter_mut().zip(up) {
            *v = (*v).max(u);
        }
    }
    // One row of scratch lets the horizontal pass read the original row while writing, which
    // the compiler vectorises; an in-place backward loop does not.
    let mut original = vec![0u8; width];
    for row in mask[..height * width].chunks_exact_mut(width) {
        original.copy_from_slice(row);
        for ((v, &here), &left) in row[1..].iter_mut().zip(&original[1..]).zip(&original) {
            *v = here.max(left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f32::consts::{FRAC_PI_2, FRAC_PI_4};

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    fn pt_close(a: Point, b: Point, tol: f32) -> bool {
        close(a.x, b.x, tol) && close(a.y, b.y, tol)
    }

    #[test]
    fn bbox_basics() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 5.0, 10.0, 10.0);
        assert_eq!(a.area(), 100.0);
        assert_eq!(a.intersection(&b), Some(BBox::new(5.0, 5.0, 5.0, 5.0)));
        assert!(close(a.iou(&b), 25.0 / 175.0, 1e-6));
        assert_eq!(a.union(&b), BBox::new(0.0, 0.0, 15.0, 15.0));
        assert_eq!(a.centre(), Point::new(5.0, 5.0));
        assert_eq!(a.scaled(2.0, 0.5), BBox::new(0.0, 0.0, 20.0, 5.0));
        let far = BBox::new(20.0, 20.0, 1.0, 1.0);
        assert_eq!(a.intersection(&far), None);
        assert_eq!(a.iou(&far), 0.0);
        assert_eq!(BBox::new(0.0, 0.0, -1.0, 3.0).area(), 0.0);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }

    #[test]
    fn quad_orders_shuffled_corners() {
        let want = [
            Point::new(10.0, 20.0),
            Point::new(50.0, 24.0),
            Point::new(49.0, 40.0),
            Point::new(9.0, 36.0),
        ];
        let shuffled = [want[2], want[0], want[3], want[1]];
        let q = Quad::from_unordered(shuffled);
        assert_eq!(q.pts, want);
        assert!(close(
            q.width(),
            0.5 * (want[0].distance(want[1]) + want[3].distance(want[2])),
            1e-5
        ));
        assert!(q.angle() > 0.0 && q.angle() < 0.2);
        let bb = q.bbox();
        assert_eq!(bb, BBox::new(9.0, 20.0, 41.0, 20.0));
    }

    #[test]
    fn quad_order_of_a_tilted_tall_box_keeps_the_top_edge_nearest_horizontal() {
        // A box tilted by 40°: PaddleOCR's sort-by-x would call a side corner the top-left.
        let r = RotatedRect {
            centre: Point::new(100.0, 100.0),
            width: 80.0,
            height: 20.0,
            angle: 40f32.to_radians(),
        };
        let q = r.corners();
        let shuffled = [q.pts[3], q.pts[1], q.pts[0], q.pts[2]];
        assert_eq!(Quad::from_unordered(shuffled).pts, q.pts);
    }

    #[test]
    fn rotated_rect_corners_put_long_side_on_top() {
        let r = RotatedRect {
            centre: Point::new(50.0, 20.0),
            width: 10.0,
            height: 60.0,
            angle: FRAC_PI_2,
        };
        let q = r.corners();
        assert!(close(q.width(), 60.0, 1e-4), "{q:?}");
        assert!(close(q.height(), 10.0, 1e-4));
        assert!(pt_close(q.pts[0], Point::new(20.0, 15.0), 1e-4), "{q:?}");
        assert!(pt_close(q.pts[2], Point::new(80.0, 25.0), 1e-4));
        assert_eq!(r.short_side(), 10.0);
        assert_eq!(r.long_side(), 60.0);
        assert_eq!(r.area(), 600.0);
    }

    #[test]
    fn components_split_and_join_by_8_connectivity() {
        #[rustfmt::skip]
        let mask = [
            1, 1, 0, 0, 0, 1,
            0, 0, 1, 0, 0, 1,
            0, 0, 0, 0, 0, 0,
            1, 0, 1, 1, 0, 0,
        ];
        let comps = connected_components(&mask, 6, 4);
        assert_eq!(comps.len(), 4);
        // The first blob joins (0,0),(1,0) to (2,1) diagonally.
        assert_eq!(comps[0].area, 3);
        assert_eq!(
            (comps[0].x0, comps[0].y0, comps[0].x1, comps[0].y1),
            (0, 0, 2, 1)
        );
        assert_eq!(comps[1].area, 2);
        assert_eq!((comps[1].x0, comps[1].x1), (5, 5));
        assert_eq!(comps[2].area, 1);
        assert_eq!(comps[3].area, 2);
        assert_eq!(comps[3].bbox(), BBox::new(2.0, 3.0, 2.0, 1.0));
        assert_eq!(
            comps[2].outline,
            vec![
                Point::new(0.0, 3.0),
                Point::new(0.0, 4.0),
                Point::new(1.0, 3.0),
                Point::new(1.0, 4.0)
            ]
        );
    }

    #[test]
    fn components_merge_a_u_shape_joined_late() {
        #[rustfmt::skip]
        let mask = [
            1, 0, 0, 1,
            1, 0, 0, 1,
            1, 1, 1, 1,
        ];
        let comps = connected_components(&mask, 4, 3);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].area, 8);
        // Two runs on the top rows merge into one outline row spanning both.
        assert_eq!(comps[0].outline.len(), 12);
        assert_eq!(comps[0].outline[2], Point::new(4.0, 0.0));
        let r = min_area_rect(&comps[0].outline);
        assert!(close(r.area(), 12.0, 1e-4), "{r:?}");
    }

    #[test]
    fn hull_and_min_rect_of_a_square_set() {
        let pts = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(2.0, 0.0),
            Point::new(2.0, 2.0),
            Point::new(0.0, 2.0),
            Point::new(1.0, 0.0),
        ];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        let r = min_area_rect(&pts);
        assert!(close(r.area(), 4.0, 1e-5));
        assert!(pt_close(r.centre, Point::new(1.0, 1.0), 1e-5));
    }

    #[test]
    fn min_area_rect_matches_opencv_on_a_rotated_box() {
        // cv2.minAreaRect([[0,0],[10,2],[9,7],[-1,5]]) = ((4.5, 3.5), (5.099, 10.198), -78.69°):
        // the same rectangle as width 10.198 along atan2(2, 10) = 11.31°.
        let pts = [
            Point::new(0.0, 0.0),
            Point::new(10.0, 2.0),
            Point::new(9.0, 7.0),
            Point::new(-1.0, 5.0),
        ];
        let r = min_area_rect(&pts);
        assert!(pt_close(r.centre, Point::new(4.5, 3.5), 1e-4), "{r:?}");
        assert!(close(r.width, 10.198_039, 1e-3));
        assert!(close(r.height, 5.099_019_5, 1e-3));
        assert!(close(r.angle.to_degrees(), 11.309_932, 1e-3));
    }

    #[test]
    fn min_area_rect_of_a_triangle_does_not_stop_on_its_first_edge() {
        // Found by proptest: rounding made the edge's own end look farther along the normal
        // than the opposite vertex, giving a zero-height rectangle.
        let pts = [
            Point::new(0.0, 0.0),
            Point::new(-36.807_228, 19.324_034),
            Point::new(0.0, -44.760_532),
        ];
        let r = min_area_rect(&pts);
        assert!(close(r.area(), brute_min_area(&pts), 1e-2), "{r:?}");
        assert!(r.short_side() > 20.0);
    }

    #[test]
    fn min_area_rect_degenerate_inputs() {
        assert_eq!(min_area_rect(&[]), RotatedRect::default());
        let one = min_area_rect(&[Point::new(3.0, 4.0)]);
        assert_eq!(one.centre, Point::new(3.0, 4.0));
        assert_eq!(one.area(), 0.0);
        let line = min_area_rect(&[
            Point::new(0.0, 0.0),
            Point::new(2.0, 2.0),
            Point::new(4.0, 4.0),
        ]);
        assert!(close(line.long_side(), 32f32.sqrt(), 1e-5));
        assert_eq!(line.short_side(), 0.0);
        let nan = min_area_rect(&[Point::new(f32::NAN, 0.0)]);
        assert_eq!(nan, RotatedRect::default());
    }

    #[test]
    fn unclip_matches_pyclipper() {
        // pyclipper offsets a 10×4 rectangle by d = 40·1.6/28 to an 8×14 minimum-area rectangle
        // after its integer rounding; unrounded, 4 + 2d by 10 + 2d.
        let r = RotatedRect {
            centre: Point::new(5.0, 2.0),
            width: 10.0,
            height: 4.0,
            angle: 0.0,
        };
        let u = unclip(&r, 1.6);
        let d = 40.0 * 1.6 / 28.0;
        assert!(close(u.width, 10.0 + 2.0 * d, 1e-5));
        assert!(close(u.height, 4.0 + 2.0 * d, 1e-5));
        assert_eq!(u.centre, r.centre);
        assert_eq!(unclip(&RotatedRect::default(), 1.6), RotatedRect::default());
    }

    #[test]
    fn mean_inside_uses_pixel_centres_and_clips() {
        let (w, h) = (4, 3);
        let map: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
        let whole = BBox::new(0.0, 0.0, 4.0, 3.0).to_quad();
        assert!(close(mean_inside(&map, w, h, &whole), 5.5, 1e-6));
        // Covers pixel centres (1.5, 0.5) and (2.5, 0.5): values 1 and 2.
        let q = BBox::new(1.0, 0.0, 2.0, 1.0).to_quad();
        assert!(close(mean_inside(&map, w, h, &q), 1.5, 1e-6));
        // Hanging off the map: only the inside pixels count.
        let off = BBox::new(2.0, 1.0, 10.0, 10.0).to_quad();
        let want = (6.0 + 7.0 + 10.0 + 11.0) / 4.0;
        assert!(close(mean_inside(&map, w, h, &off), want, 1e-6));
        // Thinner than a pixel: falls back to the pixel under the centroid.
        let thin = BBox::new(2.1, 1.1, 0.2, 0.2).to_quad();
        assert_eq!(mean_inside(&map, w, h, &thin), 6.0);
        let outside = BBox::new(10.0, 10.0, 2.0, 2.0).to_quad();
        assert_eq!(mean_inside(&map, w, h, &outside), 0.0);
        assert_eq!(mean_inside(&map[..3], w, h, &whole), 0.0);
    }

    #[test]
    fn dilate_matches_cv2() {
        // cv2.dilate(a, np.ones((2,2))) on this input, checked against OpenCV 5.
        #[rustfmt::skip]
        let mut a = vec![
            0, 0, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 0,
            0, 0, 1, 0, 0, 0,
            0, 0, 0, 0, 0, 0,
            1, 0, 0, 0, 0, 0,
        ];
        #[rustfmt::skip]
        let want = vec![
            0, 0, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 1,
            0, 0, 1, 1, 0, 0,
            0, 0, 1, 1, 0, 0,
            1, 1, 0, 0, 0, 0,
        ];
        dilate_2x2(&mut a, 6, 5);
        assert_eq!(a, want);
    }

    #[test]
    fn binarize_is_strict() {
        let mut m = Vec::new();
        binarize(&[0.3, 0.31, 0.0, 1.0], 0.3, &mut m);
        assert_eq!(m, vec![0, 1, 0, 1]);
    }

    #[test]
    fn nms_keeps_best_and_breaks_ties_by_index() {
        let c = [
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.5),
            (BBox::new(1.0, 1.0, 10.0, 10.0), 0.9),
            (BBox::new(50.0, 50.0, 10.0, 10.0), 0.9),
            (BBox::new(0.0, 0.0, 10.0, 10.0), f32::NAN),
        ];
        assert_eq!(nms(&c, 0.5), vec![1, 2]);
        assert_eq!(nms(&c, 1.0), vec![1, 2, 0, 3]);
        let tie = [
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.7),
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.7),
        ];
        assert_eq!(nms(&tie, 0.5), vec![0]);
    }

    /// Brute-force minimum-area rectangle over all hull edges, to check the calipers.
    fn brute_min_area(points: &[Point]) -> f32 {
        let hull = convex_hull(points);
        let n = hull.len();
        let mut best = f32::INFINITY;
        for i in 0..n {
            let a = hull[i];
            let b = hull[(i + 1) % n];
            let len = a.distance(b);
            let (ux, uy) = ((b.x - a.x) / len, (b.y - a.y) / len);
            let (mut lo, mut hi, mut vlo, mut vhi) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
            for p in &hull {
                let u = p.x * ux + p.y * uy;
                let v = -p.x * uy + p.y * ux;
                lo = lo.min(u);
                hi = hi.max(u);
                vlo = vlo.min(v);
                vhi = vhi.max(v);
            }
            best = best.min((hi - lo) * (vhi - vlo));
        }
        best
    }

    fn naive_components(mask: &[u8], w: usize, h: usize) -> Vec<usize> {
        let mut label = vec![usize::MAX; w * h];
        let mut areas = Vec::new();
        for start in 0..w * h {
            if mask[start] == 0 || label[start] != usize::MAX {
                continue;
            }
            let id = areas.len();
            let mut stack = vec![start];
            label[start] = id;
            let mut area = 0;
            while let Some(i) = stack.pop() {
                area += 1;
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                            continue;
                        }
                        let j = ny as usize * w + nx as usize;
                        if mask[j] != 0 && label[j] == usize::MAX {
                            label[j] = id;
                            stack.push(j);
                        }
                    }
                }
            }
            areas.push(area);
        }
        areas
    }

    proptest! {
        #[test]
        fn components_agree_with_flood_fill(w in 1usize..12, h in 1usize..12, seed in proptest::collection::vec(0u8..3, 144)) {
            let mask: Vec<u8> = seed[..w * h].iter().map(|&v| u8::from(v == 0)).collect();
            let comps = connected_components(&mask, w, h);
            let areas: Vec<usize> = comps.iter().map(|c| c.area).collect();
            prop_assert_eq!(areas, naive_components(&mask, w, h));
            for c in &comps {
                // The hull of the outline is the hull of the pixel squares: its area is at least
                // the pixel count, and its bounding box is the pixel bounding box.
                let r = min_area_rect(&c.outline);
                prop_assert!(r.area() + 1e-3 >= c.area as f32);
                let hull = convex_hull(&c.outline);
                let xs = hull.iter().map(|p| p.x);
                prop_assert_eq!(xs.clone().fold(f32::MAX, f32::min), c.x0 as f32);
                prop_assert_eq!(xs.fold(f32::MIN, f32::max), (c.x1 + 1) as f32);
            }
        }

        #[test]
        fn calipers_match_brute_force(pts in proptest::collection::vec((-50f32..50.0, -50f32..50.0), 3..40)) {
            let pts: Vec<Point> = pts.into_iter().map(|(x, y)| Point::new(x, y)).collect();
            let r = min_area_rect(&pts);
            let want = brute_min_area(&pts);
            prop_assert!((r.area() - want).abs() <= 1e-3 * want.max(1.0), "{} vs {}", r.area(), want);
            // Every point lies inside the rectangle.
            let (s, c) = r.angle.sin_cos();
            for p in &pts {
                let (dx, dy) = (p.x - r.centre.x, p.y - r.centre.y);
                let u = dx * c + dy * s;
                let v = -dx * s + dy * c;
                prop_assert!(u.abs() <= 0.5 * r.width + 1e-2);
                prop_assert!(v.abs() <= 0.5 * r.height + 1e-2);
            }
            prop_assert!(r.angle > -FRAC_PI_4 - 1e-6 && r.angle <= FRAC_PI_4 + 1e-6);
        }

        #[test]
        fn corners_round_trip_through_from_unordered(
            cx in -100f32..100.0, cy in -100f32..100.0,
            w in 1f32..100.0, h in 1f32..100.0, angle in -3.0f32..3.0, rot in 0usize..4,
        ) {
            let r = RotatedRect { centre: Point::new(cx, cy), width: w, height: h, angle };
            let q = r.corners();
            // The top edge runs rightwards within 45° of horizontal.
            let top = (q.pts[1].y - q.pts[0].y).atan2(q.pts[1].x - q.pts[0].x);
            prop_assert!(top.abs() <= FRAC_PI_4 + 1e-4);
            let mut pts = q.pts;
            pts.rotate_left(rot);
            let back = Quad::from_unordered(pts);
            let n = r.normalised();
            // Exactly at ±45° both orders are right; skip that knife edge.
            prop_assume!((n.angle.abs() - FRAC_PI_4).abs() > 1e-3);
            for i in 0..4 {
                prop_assert!(pt_close(back.pts[i], q.pts[i], 1e-3));
            }
            prop_assert!((q.area() - w * h).abs() <= 1e-2 * w * h);
        }

        #[test]
        fn dilation_is_monotone_and_local(w in 1usize..10, h in 1usize..10, seed in proptest::collection::vec(0u8..4, 100)) {
            let mask: Vec<u8> = seed[..w * h].iter().map(|&v| u8::from(v == 0)).collect();
            let mut d = mask.clone();
            dilate_2x2(&mut d, w, h);
            for y in 0..h {
                for x in 0..w {
                    let mut want = 0;
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        if x >= dx && y >= dy {
                            want = want.max(mask[(y - dy) * w + x - dx]);
                        }
                    }
                    prop_assert_eq!(d[y * w + x], want);
                }
            }
        }

        #[test]
        fn nms_output_has_no_heavy_overlaps(boxes in proptest::collection::vec((0f32..50.0, 0f32..50.0, 1f32..30.0, 1f32..30.0, 0f32..1.0), 0..20)) {
            let c: Vec<(BBox, f32)> = boxes.iter().map(|&(x, y, w, h, s)| (BBox::new(x, y, w, h), s)).collect();
            let kept = nms(&c, 0.4);
            for (i, &a) in kept.iter().enumerate() {
                for &b in &kept[i + 1..] {
                    prop_assert!(c[a].0.iou(&c[b].0) <= 0.4);
                    prop_assert!(c[a].1 >= c[b].1);
                }
            }
        }
    }
}
