//! Evidence: the images that let a reviewer check an event, written only for events.
//!
//! For each event, [`write_evidence`] writes `evidence/<event_id>/crop.jpg` (the rectified plate
//! crop of the best read) and `evidence/<event_id>/frame.jpg` (the whole frame) under the output
//! folder, and returns their names relative to that folder with the SHA-256 of the bytes
//! written, which the event carries so that tampering or a lost file shows.
//!
//! The JPEG encoder is deterministic, so the same images give the same bytes and the same hashes:
//! a replay writes identical evidence, and a redelivered event rewrites identical files. Each
//! file is written to a temporary name, synced, then renamed, so a crash never leaves a
//! half-written image under the final name.
//!
//! Privacy: nothing here is called for a sighting that raises no event; images of those are
//! dropped in memory. Blurring the faces in a stored frame is the caller's job (the face path),
//! done before the frame is handed here.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::EventError;

/// JPEG quality of evidence images: high enough to read a plate, a quarter of the size of 100.
pub const JPEG_QUALITY: u8 = 90;

/// One evidence file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    /// Path relative to the output folder, `/`-separated.
    pub file: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

/// The evidence of one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The crop of the event's subject: the plate of the best read, or the matched face.
    pub crop: EvidenceFile,
    /// The whole frame of the best read.
    pub frame: EvidenceFile,
}

/// Whether `id` is safe as a folder name: 1–64 ASCII letters, digits, `-` or `_` (so an id can
/// never climb out of the evidence folder).
pub fn is_safe_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Encodes an image as JPEG at [`JPEG_QUALITY`].
pub fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).encode_image(image)?;
    Ok(bytes)
}

/// The evidence of event `event_id` encoded, not yet written: the JPEG bytes of the crop and the
/// frame, and the [`Evidence`] record (relative paths and SHA-256) that will name them.
pub struct EncodedEvidence {
    /// The record the event carries.
    pub evidence: Evidence,
    /// `crop.jpg`'s bytes.
    pub crop: Vec<u8>,
    /// `frame.jpg`'s bytes.
    pub frame: Vec<u8>,
}

/// Encodes the crop and the frame of event `event_id` (deterministic bytes) and names them
/// `evidence/<event_id>/{crop,frame}.jpg`, without writing anything.
pub fn encode_evidence(
    event_id: &str,
    crop: &RgbImage,
    frame: &RgbImage,
) -> Result<EncodedEvidence, EventError> {
    if !is_safe_event_id(event_id) {
        return Err(EventError::BadEventId(event_id.to_owned()));
    }
    let encode = |name: &str, image: &RgbImage| -> Result<(EvidenceFile, Vec<u8>), EventError> {
        let bytes = encode_jpeg(image).map_err(|source| EventError::Encode {
            event_id: event_id.to_owned(),
            what: name.to_owned(),
            source,
        })?;
        let file = EvidenceFile {
            file: format!("evidence/{event_id}/{name}"),
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        Ok((file, bytes))
    };
    let (crop_file, crop) = encode("crop.jpg", crop)?;
    let (frame_file, frame) = encode("frame.jpg", frame)?;
    Ok(EncodedEvidence {
        evidence: Evidence {
            crop: crop_file,
            frame: frame_file,
        },
        crop,
        frame,
    })
}

/// Writes encoded evidence under `out_dir`, each file through a synced temporary file and a
/// rename, and returns its record.
pub fn write_encoded(out_dir: &Path, encoded: EncodedEvidence) -> Result<Evidence, EventError> {
    let EncodedEvidence {
        evidence,
        crop,
        frame,
    } = encoded;
    for (file, bytes) in [(&evidence.crop, &crop), (&evidence.frame, &frame)] {
        let path = out_dir.join(&file.file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| EventError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
        write_atomically(&path, bytes)?;
    }
    Ok(evidence)
}

/// Writes the crop and the frame of event `event_id` under `out_dir` (see the module docs).
pub fn write_evidence(
    out_dir: &Path,
    event_id: &str,
    crop: &RgbImage,
    frame: &RgbImage,
) -> Result<Evidence, EventError> {
    write_encoded(out_dir, encode_evidence(event_id, crop, frame)?)
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EventError> {
    let tmp: PathBuf = path.with_extension("jpg.tmp");
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| EventError::Write { path, source }
    };
    let mut file = std::fs::File::create(&tmp).map_err(err(&tmp))?;
    file.write_all(bytes).map_err(err(&tmp))?;
    file.sync_all().map_err(err(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        })
    }

    #[test]
    fn writes_deterministic_files_with_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_evidence(dir.path(), "ev-1", &gradient(64, 20), &gradient(160, 90)).unwrap();
        assert_eq!(a.crop.file, "evidence/ev-1/crop.jpg");
        assert_eq!(a.frame.file, "evidence/ev-1/frame.jpg");
        let bytes = std::fs::read(dir.path().join(&a.crop.file)).unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        assert_eq!(a.crop.sha256, hex::encode(Sha256::digest(&bytes)));
        // Again, in another folder: the same bytes.
        let dir2 = tempfile::tempdir().unwrap();
        let b = write_evidence(dir2.path(), "ev-1", &gradient(64, 20), &gradient(160, 90)).unwrap();
        assert_eq!(a, b);
        // Rewriting in place leaves no temporary file.
        write_evidence(dir.path(), "ev-1", &gradient(64, 20), &gradient(160, 90)).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path().join("evidence/ev-1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn refuses_ids_that_could_escape() {
        let dir = tempfile::tempdir().unwrap();
        let img = gradient(8, 8);
        for id in ["", "../x", "a/b", "ev 1"] {
            assert!(matches!(
                write_evidence(dir.path(), id, &img, &img),
                Err(EventError::BadEventId(_))
            ));
        }
    }
}
