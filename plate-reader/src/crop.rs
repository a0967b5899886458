//! Rectified crops: the pixels of a detected plate or text line, warped from its (rotated,
//! skewed, perspective-distorted) quad in the image to an upright rectangle the recogniser can
//! read.
//!
//! This is PaddleOCR's `get_rotate_crop_image` (a perspective warp of the box to its natural
//! size, then a quarter turn for boxes much taller than wide), with bilinear rather than bicubic
//! sampling: at plate sizes the difference is invisible to the recogniser and bilinear is several
//! times cheaper. Quads use the continuous pixel convention of [`crate::geometry`] (pixel `(i, j)`
//! covers `[i, i+1] × [j, j+1]`), so a quad equal to an image's full rectangle reproduces the
//! image exactly.

use image::RgbImage;

use crate::geometry::{BBox, Quad};

/// A crop at least this many times taller than wide is taken to hold vertical text and is turned
/// a quarter turn before reading, as PaddleOCR does.
pub const TALL_CROP_RATIO: f32 = 1.5;

/// A projective map from the unit square to a quad, `(u, v) ↦ ((a u + b v + c) / w,
/// (d u + e v + f) / w)` with `w = g u + h v + 1`, solved in closed form (Heckbert's
/// square-to-quad) in f64 so nearly affine quads stay accurate.
#[derive(Debug, Clone, Copy)]
struct Homography {
    m: [f64; 9],
}

impl Homography {
    /// The map sending (0,0), (1,0), (1,1), (0,1) to the quad's TL, TR, BR, BL.
    fn unit_square_to(quad: &Quad) -> Homography {
        let p = quad.pts.map(|p| (p.x as f64, p.y as f64));
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = p;
        let sx = x0 - x1 + x2 - x3;
        let sy = y0 - y1 + y2 - y3;
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let det = dx1 * dy2 - dx2 * dy1;
        let scale = (dx1.abs() + dx2.abs() + dy1.abs() + dy2.abs()).max(1e-12);
        let (g, h) = if (sx.abs() + sy.abs()) <= 1e-9 * scale || det.abs() <= 1e-12 * scale * scale
        {
            // A parallelogram is affine; a degenerate quad (three corners in a line) has no
            // projective solution, and the affine map through TL, TR and BL is the best guess.
            (0.0, 0.0)
        } else {
            ((sx * dy2 - dx2 * sy) / det, (dx1 * sy - sx * dy1) / det)
        };
        Homography {
            m: [
                x1 - x0 + g * x1,
                x3 - x0 + h * x3,
                x0,
                y1 - y0 + g * y1,
                y3 - y0 + h * y3,
                y0,
                g,
                h,
                1.0,
            ],
        }
    }
}

/// Warps the quad `quad_in_image` of `image` to an upright `out_w × out_h` image: TL → (0, 0),
/// TR → (out_w, 0), BR → (out_w, out_h), BL → (0, out_h). Each output pixel centre is mapped
/// through the homography and sampled bilinearly; outside the image the edge pixels are
/// replicated (OpenCV's `BORDER_REPLICATE`). The homography is evaluated incrementally along each
/// output row, so the cost is one division and one bilinear sample per pixel. An empty input
/// image gives a black output.
pub fn rectify(image: &RgbImage, quad_in_image: &Quad, out_w: u32, out_h: u32) -> RgbImage {
    let mut out = RgbImage::new(out_w, out_h);
    let (iw, ih) = (image.width() as usize, image.height() as usize);
    if iw == 0 || ih == 0 || out_w == 0 || out_h == 0 {
        return out;
    }
    let src: &[u8] = image.as_raw();
    let stride = iw * 3;
    let m = Homography::unit_square_to(quad_in_image).m;
    // Output pixel centre (i + 0.5, j + 0.5) is (u, v) = ((i + 0.5)/out_w, (j + 0.5)/out_h) on the
    // unit square; each step in i adds m[0]/out_w, m[3]/out_w, m[6]/out_w to the numerators.
    let (su, sv) = (1.0 / out_w as f64, 1.0 / out_h as f64);
    let (step_x, step_y, step_w) = (m[0] * su, m[3] * su, m[6] * su);
    let (max_x, max_y) = ((iw - 1) as f32, (ih - 1) as f32);
    let out_stride = out_w as usize * 3;
    let dst: &mut [u8] = &mut out;
    for (j, row) in dst.chunks_exact_mut(out_stride).enumerate() {
        let v = (j as f64 + 0.5) * sv;
        let u = 0.5 * su;
        // Row start in f64 (exact for any quad), then f32 steps: over a few hundred output
        // pixels the accumulated error stays far below a source pixel.
        let mut nx = (m[0] * u + m[1] * v + m[2]) as f32;
        let mut ny = (m[3] * u + m[4] * v + m[5]) as f32;
        let mut nw = (m[6] * u + m[7] * v + m[8]) as f32;
        let (sx, sy, sw) = (step_x as f32, step_y as f32, step_w as f32);
        for px in row.chunks_exact_mut(3) {
            let inv = 1.0 / nw;
            // Continuous coordinates to pixel-index space, where pixel centres are integers.
            let x = (nx * inv - 0.5).clamp(0.0, max_x);
            let y = (ny * inv - 0.5).clamp(0.0, max_y);
            // NaN (from a degenerate quad) clamps to NaN and casts to 0: a replicated edge.
            let (x0, y0) = (x as usize, y as usize);
            // Bilinear weights in 8-bit fixed point: integer blending is about twice as fast
            // as float here, and 1/256 of a pixel is far below what the recogniser can see.
            let fx = ((x - x0 as f32) * 256.0) as u32;
            let fy = ((y - y0 as f32) * 256.0) as u32;
            let dx = if x0 + 1 < iw { 3 } else { 0 };
            let y1 = (y0 + 1).min(ih - 1);
            let top = &src[y0 * stride + x0 * 3..][..dx + 3];
            let bottom = &src[y1 * stride + x0 * 3..][..dx + 3];
            for k in 0..3 {
                let t = top[k] as u32 * (256 - fx) + top[k + dx] as u32 * fx;
                let b = bottom[k] as u32 * (256 - fx) + bottom[k + dx] as u32 * fx;
                px[k] = ((t * (256 - fy) + b * fy + (1 << 15)) >> 16) as u8;
            }
            nx += sx;
            ny += sy;
            nw += sw;
        }
    }
    out
}

/// The output size that keeps a quad's resolution: the longer of its top and bottom edges by the
/// longer of its left and right edges (as PaddleOCR sizes its crops), rounded, at least 1×1.
pub fn natural_size(quad: &Quad) -> (u32, u32) {
    let [tl, tr, br, bl] = quad.pts;
    let w = tl.distance(tr).max(bl.distance(br));
    let h = tl.distance(bl).max(tr.distance(br));
    let side = |v: f32| {
        if v.is_finite() {
            v.round().clamp(1.0, u32::MAX as f32) as u32
        } else {
            1
        }
    };
    (side(w), side(h))
}

/// An axis-aligned crop of `bbox_in_image`, grown by `pad_frac` of its width on the left and right
/// and of its height on the top and bottom, then clipped to the image. Edges are rounded outwards
/// to whole pixels. A box entirely outside the image gives a 0×0 image.
pub fn crop_bbox(image: &RgbImage, bbox_in_image: &BBox, pad_frac: f32) -> RgbImage {
    let pad_frac = if pad_frac.is_finite() { pad_frac } else { 0.0 };
    let b = bbox_in_image.padded(bbox_in_image.w * pad_frac, bbox_in_image.h * pad_frac);
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    // Casts saturate, so NaN and out-of-range edges end up clipped to the image.
    let x0 = b.x.floor().clamp(0.0, iw) as u32;
    let y0 = b.y.floor().clamp(0.0, ih) as u32;
    let x1 = b.right().ceil().clamp(0.0, iw) as u32;
    let y1 = b.bottom().ceil().clamp(0.0, ih) as u32;
    if x1 <= x0 || y1 <= y0 {
        return RgbImage::new(0, 0);
    }
    image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// Whether a crop of this size holds vertical text and should be turned before reading
/// (`height ≥ TALL_CROP_RATIO × width`).
pub fn is_tall(width: u32, height: u32) -> bool {
    height as f32 >= TALL_CROP_RATIO * width as f32
}

/// Turns an image a quarter turn counter-clockwise (numpy's `rot90`, what PaddleOCR applies to
/// tall crops).
pub fn rotate90_ccw(image: &RgbImage) -> RgbImage {
    image::imageops::rotate270(image)
}

/// Turns an image a quarter turn clockwise.
pub fn rotate90_cw(image: &RgbImage) -> RgbImage {
    image::imageops::rotate90(image)
}

/// The crop the recogniser reads for a quad: [`rectify`] at the [`natural_size`], turned
/// counter-clockwise when [`is_tall`].
pub fn rectify_for_reading(image: &RgbImage, quad_in_image: &Quad) -> RgbImage {
    let (w, h) = natural_size(quad_in_image);
    let crop = rectify(image, quad_in_image, w, h);
    if is_tall(w, h) {
        rotate90_ccw(&crop)
    } else {
        crop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{BBoxQuad, Point, RotatedRect};
    use image::Rgb;
    use proptest::prelude::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 7 % 256) as u8,
                (y * 11 % 256) as u8,
                ((x + y) * 3 % 256) as u8,
            ])
        })
    }

    #[test]
    fn full_rectangle_is_identity() {
        let img = gradient(37, 23);
        let quad = BBox::new(0.0, 0.0, 37.0, 23.0).to_quad();
        let out = rectify(&img, &quad, 37, 23);
        assert_eq!(out, img);
    }

    #[test]
    fn axis_aligned_sub_box_is_a_plain_crop() {
        let img = gradient(40, 30);
        let quad = BBox::new(5.0, 7.0, 20.0, 10.0).to_quad();
        let out = rectify(&img, &quad, 20, 10);
        let want = image::imageops::crop_imm(&img, 5, 7, 20, 10).to_image();
        assert_eq!(out, want);
    }

    #[test]
    fn half_turned_quad_flips_the_image() {
        let img = gradient(16, 9);
        let q = BBox::new(0.0, 0.0, 16.0, 9.0).to_quad();
        let turned = Quad {
            pts: [q.pts[2], q.pts[3], q.pts[0], q.pts[1]],
        };
        let out = rectify(&img, &turned, 16, 9);
        assert_eq!(out, image::imageops::rotate180(&img));
    }

    #[test]
    fn perspective_quad_hits_its_corners() {
        // A single bright pixel at each corner of a trapezoid lands in the output corners.
        let mut img = RgbImage::new(100, 60);
        let corners = [(20u32, 10u32), (80, 14), (95, 50), (5, 45)];
        for &(x, y) in &corners {
            img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
        let quad = Quad {
            pts: corners.map(|(x, y)| Point::new(x as f32 + 0.5, y as f32 + 0.5)),
        };
        // Output pixel centres at the ends are half a pixel inside; a large output puts the
        // sampled points within a fraction of a source pixel of the corner pixels' centres.
        let out = rectify(&img, &quad, 400, 200);
        assert!(out.get_pixel(0, 0)[0] > 150);
        assert!(out.get_pixel(399, 0)[0] > 150);
        assert!(out.get_pixel(399, 199)[0] > 150);
        assert!(out.get_pixel(0, 199)[0] > 150);
        assert!(out.get_pixel(200, 100)[0] == 0);
    }

    #[test]
    fn outside_pixels_replicate_the_edge() {
        let img = gradient(10, 10);
        let quad = BBox::new(-5.0, -5.0, 2.0, 2.0).to_quad();
        let out = rectify(&img, &quad, 4, 4);
        assert!(out.pixels().all(|p| p == img.get_pixel(0, 0)));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let img = gradient(10, 10);
        let line = Quad {
            pts: [Point::new(1.0, 1.0); 4],
        };
        assert_eq!(rectify(&img, &line, 5, 3).dimensions(), (5, 3));
        let nan = Quad {
            pts: [Point::new(f32::NAN, 1.0); 4],
        };
        assert_eq!(rectify(&img, &nan, 5, 3).dimensions(), (5, 3));
        assert_eq!(
            rectify(&RgbImage::new(0, 0), &line, 5, 3).dimensions(),
            (5, 3)
        );
        assert_eq!(rectify(&img, &line, 0, 3).dimensions(), (0, 3));
        assert_eq!(natural_size(&nan), (1, 1));
        assert_eq!(natural_size(&line), (1, 1));
    }

    #[test]
    fn natural_size_of_a_rotated_rect() {
        let r = RotatedRect {
            centre: Point::new(50.0, 50.0),
            width: 80.0,
            height: 20.0,
            angle: 0.3,
        };
        assert_eq!(natural_size(&r.corners()), (80, 20));
    }

    #[test]
    fn crop_bbox_pads_and_clips() {
        let img = gradient(50, 40);
        let c = crop_bbox(&img, &BBox::new(10.0, 10.0, 20.0, 10.0), 0.1);
        assert_eq!(c.dimensions(), (24, 12));
        assert_eq!(c.get_pixel(0, 0), img.get_pixel(8, 9));
        let edge = crop_bbox(&img, &BBox::new(40.0, 30.0, 20.0, 20.0), 0.0);
        assert_eq!(edge.dimensions(), (10, 10));
        let outside = crop_bbox(&img, &BBox::new(100.0, 100.0, 5.0, 5.0), 0.0);
        assert_eq!(outside.dimensions(), (0, 0));
        let nan = crop_bbox(&img, &BBox::new(f32::NAN, 0.0, 5.0, 5.0), f32::NAN);
        assert!(nan.width() <= 50);
    }

    #[test]
    fn tall_crops_are_turned() {
        assert!(is_tall(10, 15));
        assert!(!is_tall(10, 14));
        let img = gradient(4, 8);
        let turned = rotate90_ccw(&img);
        assert_eq!(turned.dimensions(), (8, 4));
        // numpy's rot90: the top-right pixel becomes the top-left.
        assert_eq!(turned.get_pixel(0, 0), img.get_pixel(3, 0));
        assert_eq!(rotate90_cw(&turned), img);
        let quad = BBox::new(0.0, 0.0, 4.0, 8.0).to_quad();
        assert_eq!(rectify_for_reading(&img, &quad), turned);
    }

    proptest! {
        #[test]
        fn rectify_never_panics_and_has_the_asked_size(
            pts in proptest::array::uniform4((-1e4f32..1e4, -1e4f32..1e4)),
            w in 0u32..20, h in 0u32..20,
        ) {
            let img = gradient(13, 7);
            let quad = Quad { pts: pts.map(|(x, y)| Point::new(x, y)) };
            let out = rectify(&img, &quad, w, h);
            prop_assert_eq!(out.dimensions(), (w, h));
        }
    }
}
