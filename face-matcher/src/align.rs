//! Face alignment: the similarity transform that puts a face's five landmarks onto the ArcFace
//! 112×112 template, and the warp that makes the aligned crop the embedder is fed.
//!
//! Coordinate spaces: `*_in_frame` is the frame's pixels, `*_in_aligned` the 112×112 crop's,
//! both in the pixel-index convention of [`crate::geometry`] (the one the template is defined
//! in). [`AlignedFace::aligned_from_frame`] maps the first to the second.

use crate::geometry::Point;
use image::{Rgb, RgbImage};

/// Side of the aligned face crop, in pixels.
pub const ALIGNED_SIZE: u32 = 112;

/// The ArcFace landmark template for a 112×112 crop (insightface's `arcface_dst`): image-left
/// eye, image-right eye, nose tip, image-left and image-right mouth corners.
pub const ARCFACE_TEMPLATE: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// A 2-D similarity transform (uniform scale, rotation, translation, no reflection):
/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    /// `scale · cos(angle)`.
    pub a: f32,
    /// `scale · sin(angle)`.
    pub b: f32,
    /// Horizontal translation.
    pub tx: f32,
    /// Vertical translation.
    pub ty: f32,
}

impl Similarity {
    /// The identity.
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// From a scale, a rotation angle in radians (positive turns +x towards +y, i.e. clockwise
    /// on screen) and a translation.
    pub fn new(scale: f32, angle: f32, tx: f32, ty: f32) -> Self {
        Similarity {
            a: scale * angle.cos(),
            b: scale * angle.sin(),
            tx,
            ty,
        }
    }

    /// The transformed point.
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x - self.b * p.y + self.tx,
            self.b * p.x + self.a * p.y + self.ty,
        )
    }

    /// Scale factor.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Rotation angle in radians.
    pub fn angle(&self) -> f32 {
        self.b.atan2(self.a)
    }

    /// The inverse transform; `None` for a degenerate (zero-scale) one.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        // Also refuses NaN: it fails `is_finite`.
        if !d.is_finite() || d <= 1e-12 {
            return None;
        }
        // The inverse of [[a, −b], [b, a]] is [[a, b], [−b, a]] / d.
        let (ia, ib) = (self.a / d, -self.b / d);
        Some(Similarity {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        })
    }

    /// The least-squares similarity taking `src` onto `dst` (Umeyama 1991), or `None` when the
    /// points are fewer than two, of different counts, not finite, or all at one place.
    ///
    /// Umeyama's solution is `R = U·S·Vᵀ` from the SVD `U·D·Vᵀ` of the cross-covariance, with
    /// `S = diag(1, −1)` when its determinant is negative so that `R` is a rotation and never a
    /// reflection, scale `tr(D·S)/σ²_src` and `t = μ_dst − c·R·μ_src`. In two dimensions that
    /// reduces exactly to a closed form: writing points as complex numbers, `c·R` is
    /// `Σ conj(s')·d' / Σ |s'|²` over the centred points (`tr(D·S)` equals the modulus of the
    /// numerator for either sign of the determinant), which is what is computed here, in f64.
    /// Mirrored landmarks therefore get the best *rotation*, as in skimage's
    /// `SimilarityTransform` that the reference alignment uses.
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Similarity> {
        if src.len() != dst.len() || src.len() < 2 {
            return None;
        }
        let n = src.len() as f64;
        let mean = |pts: &[Point]| {
            let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(x, y), p| {
                (x + p.x as f64, y + p.y as f64)
            });
            (sx / n, sy / n)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        let (mut re, mut im, mut var) = (0.0f64, 0.0f64, 0.0f64);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (s.x as f64 - msx, s.y as f64 - msy);
            let (dx, dy) = (d.x as f64 - mdx, d.y as f64 - mdy);
            // conj(s') · d'
            re += sx * dx + sy * dy;
            im += sx * dy - sy * dx;
            var += sx * sx + sy * sy;
        }
        if !var.is_finite() || var <= 1e-12 || !re.is_finite() || !im.is_finite() {
            return None;
        }
        let (a, b) = (re / var, im / var);
        let tx = mdx - (a * msx - b * msy);
        let ty = mdy - (b * msx + a * msy);
        Some(Similarity {
            a: a as f32,
            b: b as f32,
            tx: tx as f32,
            ty: ty as f32,
        })
    }
}

/// A face warped onto the ArcFace template: the 112×112 RGB crop the embedder is fed.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedFace {
    image: RgbImage,
    aligned_from_frame: Similarity,
}

impl AlignedFace {
    /// Aligns the face with these landmarks (image-left eye, other eye, nose, image-left and
    /// image-right mouth corners, in frame pixels). `None` if the landmarks are degenerate.
    pub fn from_frame(frame: &RgbImage, landmarks_in_frame: &[Point; 5]) -> Option<AlignedFace> {
        let aligned_from_frame = Similarity::estimate(landmarks_in_frame, &ARCFACE_TEMPLATE)?;
        let image = warp(frame, &aligned_from_frame, ALIGNED_SIZE, ALIGNED_SIZE)?;
        Some(AlignedFace {
            image,
            aligned_from_frame,
        })
    }

    /// Wraps a crop that is already aligned (e.g. a stored enrolment crop). `None` unless it is
    /// 112×112.
    pub fn from_aligned_image(image: RgbImage) -> Option<AlignedFace> {
        (image.width() == ALIGNED_SIZE && image.height() == ALIGNED_SIZE).then_some(AlignedFace {
            image,
            aligned_from_frame: Similarity::IDENTITY,
        })
    }

    /// The 112×112 RGB crop.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// The transform from frame pixels to crop pixels.
    pub fn aligned_from_frame(&self) -> Similarity {
        self.aligned_from_frame
    }

    /// Frame pixels per crop pixel (below 1 when a large face was shrunk, above 1 when a small
    /// one was blown up — then the crop holds less detail than its size suggests).
    pub fn frame_pixels_per_aligned_pixel(&self) -> f32 {
        1.0 / self.aligned_from_frame.scale().max(1e-6)
    }
}

/// Warps `src` into a `w × h` image: each output pixel is sampled bilinearly at the source
/// position the inverse of `dst_from_src` gives (inverse mapping, so every output pixel gets
/// exactly one value and there are no holes).
///
/// Border: samples outside the source count as black (0), as `cv2.warpAffine`'s default
/// constant border, which the embedder's reference alignment (insightface's `norm_crop`) uses —
/// so a face cut by the frame edge looks to the embedder as it did in the reference.
/// Replicating the edge would smear skin or background into the crop instead, which the model
/// never saw.
pub fn warp(src: &RgbImage, dst_from_src: &Similarity, w: u32, h: u32) -> Option<RgbImage> {
    let inv = dst_from_src.inverse()?;
    let (sw, sh) = (src.width() as i64, src.height() as i64);
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let tap = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            return [0.0; 3];
        }
        let o = y as usize * stride + x as usize * 3;
        [raw[o] as f32, raw[o + 1] as f32, raw[o + 2] as f32]
    };
    let mut out = RgbImage::new(w, h);
    for v in 0..h {
        for u in 0..w {
            let p = inv.apply(Point::new(u as f32, v as f32));
            if !p.x.is_finite() || !p.y.is_finite() {
                continue;
            }
            let (x0, y0) = (p.x.floor(), p.y.floor());
            let (fx, fy) = (p.x - x0, p.y - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let (t00, t10, t01, t11) = (
                tap(x0, y0),
                tap(x0 + 1, y0),
                tap(x0, y0 + 1),
                tap(x0 + 1, y0 + 1),
            );
            let mut px = [0u8; 3];
            for c in 0..3 {
                let top = t00[c] + (t10[c] - t00[c]) * fx;
                let bot = t01[c] + (t11[c] - t01[c]) * fx;
                px[c] = (top + (bot - top) * fy).round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(u, v, Rgb(px));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn aligning_the_template_is_the_identity() {
        let t = Similarity::estimate(&ARCFACE_TEMPLATE, &ARCFACE_TEMPLATE).unwrap();
        assert!(close(t.a, 1.0, 1e-5) && close(t.b, 0.0, 1e-5), "{t:?}");
        assert!(close(t.tx, 0.0, 1e-3) && close(t.ty, 0.0, 1e-3), "{t:?}");
        // The warp of an image already in template space gives the image back.
        let img = RgbImage::from_fn(112, 112, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
        let aligned = AlignedFace::from_frame(&img, &ARCFACE_TEMPLATE).unwrap();
        let diff = img
            .as_raw()
            .iter()
            .zip(aligned.image().as_raw())
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .max()
            .unwrap();
        assert!(diff <= 1, "max pixel difference {diff}");
    }

    #[test]
    fn recovers_a_known_similarity() {
        for &(scale, angle, tx, ty) in &[
            (2.5f32, 0.3f32, 100.0f32, -40.0f32),
            (0.4, -1.2, 10.0, 300.0),
            (1.0, 3.0, 0.0, 0.0),
        ] {
            let truth = Similarity::new(scale, angle, tx, ty);
            let src: Vec<Point> = ARCFACE_TEMPLATE.to_vec();
            let dst: Vec<Point> = src.iter().map(|&p| truth.apply(p)).collect();
            let est = Similarity::estimate(&src, &dst).unwrap();
            assert!(close(est.scale(), scale, 1e-4 * scale), "{est:?}");
            assert!(close(est.angle(), angle, 1e-4), "{est:?}");
            assert!(
                close(est.tx, tx, 1e-2) && close(est.ty, ty, 1e-2),
                "{est:?}"
            );
            let inv = est.inverse().unwrap();
            let back = inv.apply(est.apply(Point::new(3.0, 4.0)));
            assert!(close(back.x, 3.0, 1e-3) && close(back.y, 4.0, 1e-3));
        }
    }

    #[test]
    fn a_synthetic_face_moved_by_a_similarity_is_aligned_back() {
        // A face drawn in template space (dark eyes, nose, mouth corners on grey), placed into a
        // 400×300 frame by a known similarity, must come back where the template says.
        let face = RgbImage::from_fn(112, 112, |x, y| {
            let p = Point::new(x as f32, y as f32);
            if ARCFACE_TEMPLATE.iter().any(|&l| l.distance(p) < 4.0) {
                Rgb([20, 20, 20])
            } else {
                Rgb([200, 180, 160])
            }
        });
        let frame_from_template = Similarity::new(1.7, 0.4, 150.0, 60.0);
        let template_from_frame = frame_from_template.inverse().unwrap();
        let frame = warp(&face, &frame_from_template, 400, 300).unwrap();
        let landmarks = ARCFACE_TEMPLATE.map(|p| frame_from_template.apply(p));
        let aligned = AlignedFace::from_frame(&frame, &landmarks).unwrap();
        let t = aligned.aligned_from_frame();
        assert!(close(t.a, template_from_frame.a, 1e-4) && close(t.b, template_from_frame.b, 1e-4));
        let mean_abs = face
            .as_raw()
            .iter()
            .zip(aligned.image().as_raw())
            .map(|(&a, &b)| (a as f32 - b as f32).abs())
            .sum::<f32>()
            / face.as_raw().len() as f32;
        assert!(mean_abs < 6.0, "mean abs difference {mean_abs}");
        for l in ARCFACE_TEMPLATE {
            let px = aligned
                .image()
                .get_pixel(l.x.round() as u32, l.y.round() as u32);
            assert!(px[0] < 90, "landmark {l:?} is not dark: {px:?}");
        }
    }

    #[test]
    fn mirrored_landmarks_get_a_rotation_not_a_reflection() {
        let mirrored: Vec<Point> = ARCFACE_TEMPLATE
            .iter()
            .map(|p| Point::new(112.0 - p.x, p.y))
            .collect();
        let t = Similarity::estimate(&mirrored, &ARCFACE_TEMPLATE).unwrap();
        // A similarity of this form always has determinant a² + b² > 0; the point is that the
        // estimate is still the best *proper* fit and finite.
        assert!(t.a.is_finite() && t.b.is_finite() && t.scale() > 0.0);
        assert!(
            t.scale() < 1.0,
            "a mirror fits badly, so the scale shrinks: {t:?}"
        );
    }

    #[test]
    fn degenerate_landmarks_are_refused() {
        let same = [Point::new(5.0, 5.0); 5];
        assert!(Similarity::estimate(&same, &ARCFACE_TEMPLATE).is_none());
        assert!(Similarity::estimate(&same[..1], &ARCFACE_TEMPLATE[..1]).is_none());
        let img = RgbImage::new(10, 10);
        assert!(AlignedFace::from_frame(&img, &same).is_none());
        let nan = [Point::new(f32::NAN, 0.0); 5];
        assert!(Similarity::estimate(&nan, &ARCFACE_TEMPLATE).is_none());
    }
}
