//! Pixels to tensors: resizing, letterboxing and normalisation into NCHW.
//!
//! Coordinate spaces: a *source* image (a frame or a crop, RGB8, packed), and a *tensor* of
//! shape `[3, tensor_h, tensor_w]` (one image of the batch). Resizing uses OpenCV's
//! `INTER_LINEAR` convention (pixel centres at +0.5) so tensors match what the models were
//! trained and referenced with. Each value written is `(pixel · scale − mean[c]) / std[c]` with
//! the channels in the model's order (RGB or BGR) — see [`Normalise`].

use crate::manifest::{ColourOrder, InputSpec};
use image::RgbImage;

/// Per-channel normalisation and channel order of a model input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalise {
    /// Channel order written into the tensor.
    pub colour: ColourOrder,
    /// `1/std[c] · scale`, per tensor channel.
    mul: [f32; 3],
    /// `−mean[c]/std[c]`, per tensor channel.
    add: [f32; 3],
}

impl Normalise {
    /// From a manifest's input spec.
    pub fn from_spec(spec: &InputSpec) -> Self {
        Self::new(spec.colour, spec.scale, spec.mean, spec.std)
    }

    /// `value = (pixel · scale − mean[c]) / std[c]`, channels in `colour` order.
    pub fn new(colour: ColourOrder, scale: f32, mean: [f32; 3], std: [f32; 3]) -> Self {
        let mut mul = [0.0; 3];
        let mut add = [0.0; 3];
        for c in 0..3 {
            mul[c] = scale / std[c];
            add[c] = -mean[c] / std[c];
        }
        Normalise { colour, mul, add }
    }

    /// The tensor value of an RGB pixel, per tensor channel.
    #[inline]
    pub fn apply(&self, rgb: [f32; 3]) -> [f32; 3] {
        let ordered = match self.colour {
            ColourOrder::Rgb => rgb,
            ColourOrder::Bgr => [rgb[2], rgb[1], rgb[0]],
        };
        [
            ordered[0] * self.mul[0] + self.add[0],
            ordered[1] * self.mul[1] + self.add[1],
            ordered[2] * self.mul[2] + self.add[2],
        ]
    }
}

/// Bilinear taps along one axis: for each destination index, the two source indices and the
/// weight of the second.
fn taps(src_len: u32, dst_len: u32) -> Vec<(u32, u32, f32)> {
    let scale = src_len as f32 / dst_len as f32;
    let max = src_len.saturating_sub(1);
    (0..dst_len)
        .map(|d| {
            let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as u32).min(max);
            let i1 = (i0 + 1).min(max);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

/// Where a resized image goes inside a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Left edge of the resized image in the tensor.
    pub x: u32,
    /// Top edge of the resized image in the tensor.
    pub y: u32,
    /// Width of the resized image.
    pub w: u32,
    /// Height of the resized image.
    pub h: u32,
}

/// Resizes `src` (bilinear) to `place.w × place.h` and writes it, normalised, into one NCHW image
/// `tensor` of shape `[3, tensor_h, tensor_w]` at `(place.x, place.y)`. Pixels of the tensor
/// outside the placement are left as they are (fill them first with [`fill`]).
pub fn resize_into(
    src: &RgbImage,
    tensor: &mut [f32],
    tensor_w: u32,
    tensor_h: u32,
    place: Placement,
    norm: &Normalise,
) {
    let (tw, th) = (tensor_w as usize, tensor_h as usize);
    assert_eq!(
        tensor.len(),
        3 * tw * th,
        "tensor is not [3, tensor_h, tensor_w]"
    );
    assert!(
        place.x + place.w <= tensor_w && place.y + place.h <= tensor_h,
        "placement outside the tensor"
    );
    if place.w == 0 || place.h == 0 || src.width() == 0 || src.height() == 0 {
        return;
    }
    let xt = taps(src.width(), place.w);
    let yt = taps(src.height(), place.h);
    let stride = src.width() as usize * 3;
    let raw = src.as_raw();
    let plane = tw * th;
    let (c0, rest) = tensor.split_at_mut(plane);
    let (c1, c2) = rest.split_at_mut(plane);
    let mut row = vec![[0.0f32; 3]; place.w as usize];
    for (dy, &(y0, y1, wy)) in yt.iter().enumerate() {
        let r0 = &raw[y0 as usize * stride..][..stride];
        let r1 = &raw[y1 as usize * stride..][..stride];
        for (dx, &(x0, x1, wx)) in xt.iter().enumerate() {
            let (a, b) = (x0 as usize * 3, x1 as usize * 3);
            let mut px = [0.0f32; 3];
            for c in 0..3 {
                let top = r0[a + c] as f32 + (r0[b + c] as f32 - r0[a + c] as f32) * wx;
                let bot = r1[a + c] as f32 + (r1[b + c] as f32 - r1[a + c] as f32) * wx;
                px[c] = top + (bot - top) * wy;
            }
            row[dx] = norm.apply(px);
        }
        let base = (place.y as usize + dy) * tw + place.x as usize;
        for (dx, v) in row.iter().enumerate() {
            c0[base + dx] = v[0];
            c1[base + dx] = v[1];
            c2[base + dx] = v[2];
        }
    }
}

/// Fills one NCHW image with the normalised value of a grey level (letterbox padding).
pub fn fill(tensor: &mut [f32], norm: &Normalise, grey: u8) {
    let v = norm.apply([grey as f32; 3]);
    let plane = tensor.len() / 3;
    for c in 0..3 {
        tensor[c * plane..(c + 1) * plane].fill(v[c]);
    }
}

/// How a frame was fitted into a fixed-size model input, to map boxes back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Model-input pixels per source pixel.
    pub scale: f32,
    /// Left padding, in model-input pixels.
    pub pad_x: f32,
    /// Top padding, in model-input pixels.
    pub pad_y: f32,
}

impl Letterbox {
    /// The placement that fits `src_w × src_h` into `dst_w × dst_h` keeping the aspect ratio,
    /// centred or in the top-left corner.
    pub fn fit(
        src_w: u32,
        src_h: u32,
        dst_w: u32,
        dst_h: u32,
        centred: bool,
    ) -> (Letterbox, Placement) {
        let scale = (dst_w as f32 / src_w as f32).min(dst_h as f32 / src_h as f32);
        let w = ((src_w as f32 * scale).round() as u32).clamp(1, dst_w);
        let h = ((src_h as f32 * scale).round() as u32).clamp(1, dst_h);
        let (x, y) = if centred {
            ((dst_w - w) / 2, (dst_h - h) / 2)
        } else {
            (0, 0)
        };
        (
            Letterbox {
                scale,
                pad_x: x as f32,
                pad_y: y as f32,
            },
            Placement { x, y, w, h },
        )
    }

    /// A model-input x coordinate in source pixels.
    pub fn to_source_x(&self, x_in_input: f32) -> f32 {
        (x_in_input - self.pad_x) / self.scale
    }

    /// A model-input y coordinate in source pixels.
    pub fn to_source_y(&self, y_in_input: f32) -> f32 {
        (y_in_input - self.pad_y) / self.scale
    }
}

/// Resizes an RGB image (bilinear, OpenCV convention).
pub fn resize_rgb(src: &RgbImage, w: u32, h: u32) -> RgbImage {
    let mut out = RgbImage::new(w.max(1), h.max(1));
    if src.width() == 0 || src.height() == 0 {
        return out;
    }
    let xt = taps(src.width(), out.width());
    let yt = taps(src.height(), out.height());
    let stride = src.width() as usize * 3;
    let raw = src.as_raw();
    let ow = out.width() as usize;
    let buf: &mut [u8] = &mut out;
    for (dy, &(y0, y1, wy)) in yt.iter().enumerate() {
        let r0 = &raw[y0 as usize * stride..][..stride];
        let r1 = &raw[y1 as usize * stride..][..stride];
        let orow = &mut buf[dy * ow * 3..][..ow * 3];
        for (dx, &(x0, x1, wx)) in xt.iter().enumerate() {
            let (a, b) = (x0 as usize * 3, x1 as usize * 3);
            for c in 0..3 {
                let top = r0[a + c] as f32 + (r0[b + c] as f32 - r0[a + c] as f32) * wx;
                let bot = r1[a + c] as f32 + (r1[b + c] as f32 - r1[a + c] as f32) * wx;
                orow[dx * 3 + c] = (top + (bot - top) * wy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_in_model_channel_order() {
        let n = Normalise::new(ColourOrder::Bgr, 1.0 / 255.0, [0.5; 3], [0.5; 3]);
        let v = n.apply([255.0, 0.0, 127.5]);
        assert!((v[0] - 0.0).abs() < 1e-6); // blue 127.5 → 0
        assert!((v[1] + 1.0).abs() < 1e-6); // green 0 → −1
        assert!((v[2] - 1.0).abs() < 1e-6); // red 255 → 1
    }

    #[test]
    fn identity_resize_copies_pixels() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8 * 10, y as u8 * 20, 7]));
        assert_eq!(resize_rgb(&img, 5, 4), img);
        let n = Normalise::new(ColourOrder::Rgb, 1.0, [0.0; 3], [1.0; 3]);
        let mut t = vec![0.0; 3 * 4 * 5];
        resize_into(
            &img,
            &mut t,
            5,
            4,
            Placement {
                x: 0,
                y: 0,
                w: 5,
                h: 4,
            },
            &n,
        );
        assert_eq!(t[2 * 5 + 3], 30.0); // R plane, (x=3, y=2)
        assert_eq!(t[20 + 2 * 5 + 3], 40.0); // G plane
        assert_eq!(t[40], 7.0); // B plane
    }

    #[test]
    fn letterbox_maps_back() {
        let (lb, place) = Letterbox::fit(1280, 720, 640, 640, true);
        assert_eq!((place.w, place.h, place.x, place.y), (640, 360, 0, 140));
        assert!((lb.to_source_x(320.0) - 640.0).abs() < 1e-3);
        assert!((lb.to_source_y(140.0) - 0.0).abs() < 1e-3);
        let (_, tl) = Letterbox::fit(1280, 720, 640, 640, false);
        assert_eq!((tl.x, tl.y), (0, 0));
    }

    #[test]
    fn downscale_averages_neighbours() {
        let img = RgbImage::from_fn(4, 1, |x, _| {
            image::Rgb([if x % 2 == 0 { 0 } else { 200 }; 3])
        });
        let half = resize_rgb(&img, 2, 1);
        assert_eq!(half.get_pixel(0, 0)[0], 100);
    }
}
