//! The model and inference option groups every command shares, and the loaders they drive.
//!
//! `passwatch` (replay, run, eval) and `passwatch bench` flatten [`ModelArgs`] into their command
//! lines, so the two load the product's models the same way; this is the one place below the
//! application crates that knows clap.

use clap::Args;
use passwatch_models::{
    ExecutionProvider, ModelCache, ModelError, ModelManifest, Role, SessionOptions,
};
use passwatch_plate_reader::detect::{DetectorKind, PlatedetCanvas};
use passwatch_plate_reader::reader::{load_reader, PlateReader, ReaderConfig};
use passwatch_registry::site::Site;
use passwatch_rules::FaceThreshold;

/// Why the models a command asks for could not be loaded or configured.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plate models.
    #[error("cannot load the plate models")]
    Plates(#[source] passwatch_plate_reader::PlateError),
    /// The face models.
    #[error("cannot load the face models")]
    Faces(#[source] passwatch_face_matcher::FaceError),
    /// The embedder's manifest.
    #[error(transparent)]
    Manifest(#[from] ModelError),
    /// The site's face threshold cannot be had from the embedder's measurements.
    #[error("{0}")]
    Threshold(String),
}
use std::path::PathBuf;

/// Model and inference settings shared by the commands that read plates.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Plate detector: text-lines (PP-OCRv4 DBNet) or platedet (YOLOv8).
    #[arg(long, default_value = "platedet")]
    pub detector: DetectorKind,
    /// platedet's input canvas: square (its graph cut to the boxes, 640×640 as exported: the
    /// same boxes as the file, 26% cheaper), fit (also fitted to the frame's shape, 640×384 for
    /// 16:9: 58% cheaper, boxes move by fractions of a pixel and borderline reads change),
    /// as-shipped (the file as it is).
    #[arg(long, default_value = "square")]
    pub platedet_canvas: PlatedetCanvas,
    /// Do not read the text lines inside plate boxes (read whole boxes only).
    #[arg(long)]
    pub no_refine: bool,
    /// Plate regions to read with (comma-separated format ids). Default: the site's
    /// `plates.regions` for replay, us,eu,br otherwise.
    #[arg(long, value_delimiter = ',')]
    pub regions: Option<Vec<String>>,
    /// Threads per inference session.
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    /// Run the plate detector on one analysed frame in this many; read around the tracked
    /// plates on the others (see `plates::PlateSchedule`).
    #[arg(long, default_value_t = crate::plates::PlateSchedule::default().detect_every)]
    pub detect_every: u32,
    /// Execution provider: cpu, cuda, tensorrt (GPU ones fall back to the CPU with a warning).
    #[arg(long, default_value = "cpu")]
    pub provider: ExecutionProvider,
}

/// All cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ModelArgs {
    /// The plate detector schedule these settings ask for.
    pub fn plate_schedule(&self) -> crate::plates::PlateSchedule {
        crate::plates::PlateSchedule {
            detect_every: self.detect_every.max(1),
            ..Default::default()
        }
    }

    /// The session options these settings ask for.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            intra_threads: self.threads.max(1),
            provider: self.provider,
            ..SessionOptions::default()
        }
    }

    /// The plate reader these settings ask for (`min_len`: shortest plausible plate).
    pub fn reader(&self, min_len: usize) -> Result<PlateReader, LoadError> {
        let config = ReaderConfig {
            regions: self
                .regions
                .clone()
                .unwrap_or_else(|| ReaderConfig::default().regions),
            refine_lines: !self.no_refine,
            platedet_canvas: self.platedet_canvas,
            min_len,
            ..ReaderConfig::default()
        };
        load_reader(
            self.detector,
            &ModelCache::from_env(),
            &self.session_options(),
            config,
        )
        .map_err(LoadError::Plates)
    }
}

/// `$PASSWATCH_DATA/registry.db`, default `~/.local/share/passwatch/registry.db`.
pub fn default_registry() -> PathBuf {
    let base = std::env::var_os("PASSWATCH_DATA")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".local/share/passwatch")
        });
    base.join("registry.db")
}

/// Loads the face models of the default pack.
pub fn load_face_matcher(
    options: &SessionOptions,
) -> Result<passwatch_face_matcher::FaceMatcher, LoadError> {
    passwatch_face_matcher::FaceMatcher::load(&ModelCache::from_env(), options, Default::default())
        .map_err(LoadError::Faces)
}

/// The face threshold of a site: a cosine set by hand, or the embedder's measured threshold at
/// the site's false-accept rate.
pub fn face_threshold(site: &Site) -> Result<FaceThreshold, LoadError> {
    let settings = &site.faces;
    if let Some(cosine) = settings.threshold {
        return Ok(FaceThreshold {
            cosine,
            far: settings.far,
        });
    }
    let far = settings
        .far
        .unwrap_or(passwatch_registry::site::DEFAULT_FACE_FAR);
    let embedder = ModelManifest::builtin_for(Role::FaceEmbedder)?;
    let calibration = embedder.calibration.as_ref().ok_or_else(|| {
        LoadError::Threshold(format!(
            "model {} has no measured thresholds: set faces.threshold in the site config",
            embedder.id
        ))
    })?;
    let cosine = calibration.threshold_at(far).ok_or_else(|| {
        let (lo, hi) = calibration.range().unwrap_or((f64::NAN, f64::NAN));
        LoadError::Threshold(format!(
            "faces.far = {far}: model {} has measured thresholds only for rates {lo:e} to {hi:e}; \
             choose a rate there or set faces.threshold",
            embedder.id
        ))
    })?;
    Ok(FaceThreshold {
        cosine,
        far: Some(far),
    })
}
