//! Privacy in evidence: faces that are not the subject of an event are blurred beyond
//! recognition before a frame is written.
//!
//! The brief's default: "in stored frames, every face but the matched one is blurred". A plate
//! event has no matched face, so every face in its frame is blurred; a face event keeps its
//! subject's face only. Blurring is a coarse pixelation (blocks of a fifth of the face height,
//! at least 8 px) of the face box grown by a quarter on each side, followed by a box blur over
//! the blocks' edges: what remains carries no identity a person or a face model could recover
//! (an end-to-end test checks that the face detector finds only the matched face in a written
//! evidence frame, and that what it finds matches the subject and not the blurred neighbour).

use image::RgbImage;

use passwatch_base::BBox;

/// Blurs every box of `faces` in `frame` except the one at index `keep`.
pub fn blur_faces(frame: &mut RgbImage, faces: &[BBox], keep: Option<usize>) {
    for (i, f) in faces.iter().enumerate() {
        if Some(i) != keep {
            pixelate(frame, f);
        }
    }
}

fn pixelate(frame: &mut RgbImage, face: &BBox) {
    let (fw, fh) = (frame.width() as f32, frame.height() as f32);
    let grow_x = face.w * 0.25;
    let grow_y = face.h * 0.25;
    let x0 = (face.x - grow_x).floor().clamp(0.0, fw) as u32;
    let y0 = (face.y - grow_y).floor().clamp(0.0, fh) as u32;
    let x1 = (face.x + face.w + grow_x).ceil().clamp(0.0, fw) as u32;
    let y1 = (face.y + face.h + grow_y).ceil().clamp(0.0, fh) as u32;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let block = ((face.h / 5.0).round() as u32).max(8);
    let mut by = y0;
    while by < y1 {
        let bh = block.min(y1 - by);
        let mut bx = x0;
        while bx < x1 {
            let bw = block.min(x1 - bx);
            let mut sum = [0u64; 3];
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let p = frame.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += p[c] as u64;
                    }
                }
            }
            let n = (bw * bh) as u64;
            let mean = image::Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]);
            for y in by..by + bh {
                for x in bx..bx + bw {
                    frame.put_pixel(x, y, mean);
                }
            }
            bx += bw;
        }
        by += bh;
    }
    // Soften the block edges so no structure of the face's layout survives as a pattern.
    let region = image::imageops::crop_imm(frame, x0, y0, x1 - x0, y1 - y0).to_image();
    let blurred = image::imageops::blur(&region, block as f32 / 2.0);
    image::imageops::replace(frame, &blurred, x0 as i64, y0 as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kept_face_survives() {
        let mut frame = RgbImage::from_fn(200, 100, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 13 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let orig = frame.clone();
        let a = BBox {
            x: 20.0,
            y: 20.0,
            w: 40.0,
            h: 50.0,
        };
        let b = BBox {
            x: 120.0,
            y: 20.0,
            w: 40.0,
            h: 50.0,
        };
        blur_faces(&mut frame, &[a, b], Some(1));
        // The kept face is untouched, the other one changed everywhere inside.
        for y in 20..70 {
            for x in 120..160 {
                assert_eq!(frame.get_pixel(x, y), orig.get_pixel(x, y));
            }
        }
        let changed = (20..70)
            .flat_map(|y| (20..60).map(move |x| (x, y)))
            .filter(|&(x, y)| frame.get_pixel(x, y) != orig.get_pixel(x, y))
            .count();
        assert!(changed > 40 * 50 * 9 / 10, "{changed}");
    }

    #[test]
    fn boxes_outside_the_frame_are_clipped() {
        // A textured frame: blurring a flat one would change nothing and prove nothing.
        let orig = RgbImage::from_fn(50, 50, |x, y| {
            image::Rgb([
                (x * 37 % 256) as u8,
                (y * 53 % 256) as u8,
                ((x * y) % 256) as u8,
            ])
        });
        let mut frame = orig.clone();
        // Hangs over the left and bottom edges: in the frame, the box covers x 0..50, y 40..50,
        // and grown by a quarter it reaches up to y 15.
        blur_faces(
            &mut frame,
            &[BBox {
                x: -30.0,
                y: 40.0,
                w: 100.0,
                h: 100.0,
            }],
            None,
        );
        let changed = (40..50)
            .flat_map(|y| (0..50).map(move |x| (x, y)))
            .filter(|&(x, y)| frame.get_pixel(x, y) != orig.get_pixel(x, y))
            .count();
        assert!(
            changed > 50 * 10 * 9 / 10,
            "{changed} of 500 pixels changed"
        );
        for y in 0..15 {
            for x in 0..50 {
                assert_eq!(frame.get_pixel(x, y), orig.get_pixel(x, y), "({x}, {y})");
            }
        }
        // Wholly outside the frame: nothing to blur, nothing changes.
        let before = frame.clone();
        blur_faces(
            &mut frame,
            &[BBox {
                x: 60.0,
                y: 60.0,
                w: 10.0,
                h: 10.0,
            }],
            None,
        );
        assert!(frame == before, "a box outside the frame changed it");
    }
}
