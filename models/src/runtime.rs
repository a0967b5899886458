//! ONNX Runtime through `ort`: one process-wide environment loaded from the cached library, and
//! [`Model`], a session checked against its manifest.
//!
//! `Session::run` takes `&mut self`, so each inference worker owns its own [`Model`]. Execution
//! providers are chosen by config ([`ExecutionProvider`]); CUDA and TensorRT fall back to the CPU
//! with a logged warning when they cannot be used, unless the caller asked for the provider to be
//! required (the GPU check must fail loudly rather than measure the CPU).

use crate::cache::ModelCache;
use crate::manifest::{ElementType, ModelManifest};
use crate::ModelError;
use ndarray::ArrayViewD;
use ort::ep::ExecutionProvider as _;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::{TensorElementType, TensorRef, ValueType};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Which hardware runs a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    /// The CPU (default).
    #[default]
    Cpu,
    /// NVIDIA CUDA on the given device.
    Cuda,
    /// NVIDIA TensorRT on the given device (CUDA behind it for unsupported nodes).
    TensorRt,
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::TensorRt => "tensorrt",
        })
    }
}

impl std::str::FromStr for ExecutionProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(ExecutionProvider::Cpu),
            "cuda" => Ok(ExecutionProvider::Cuda),
            "tensorrt" | "trt" => Ok(ExecutionProvider::TensorRt),
            other => Err(format!(
                "unknown execution provider {other:?} (cpu, cuda, tensorrt)"
            )),
        }
    }
}

/// How a session is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads inside one operator (ONNX Runtime's intra-op pool). Default: 1.
    pub intra_threads: usize,
    /// Execution provider. Default: CPU.
    pub provider: ExecutionProvider,
    /// GPU device id for CUDA/TensorRT. Default: 0.
    pub device_id: i32,
    /// Fail instead of falling back to the CPU when the provider is unavailable. Default: false.
    pub require_provider: bool,
    /// Let idle intra-op threads spin before sleeping. Default: false — a pipeline runs several
    /// sessions and a decoder on few cores, and spinning threads of one session steal the cores
    /// the next one needs.
    pub intra_spinning: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            intra_threads: 1,
            provider: ExecutionProvider::Cpu,
            device_id: 0,
            require_provider: false,
            intra_spinning: std::env::var("PASSWATCH_ORT_SPIN").is_ok_and(|v| v == "1"),
        }
    }
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library from the cache on first use.
pub fn environment(
    cache: &ModelCache,
) -> Result<&'static ort::environment::Environment, ModelError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let lib = cache.runtime_library().map_err(|e| e.to_string())?;
        init_environment(&lib).map_err(|e| format!("{}: {e}", lib.display()))
    });
    env.as_ref().map_err(|message| ModelError::Runtime {
        message: message.clone(),
    })
}

fn init_environment(lib: &Path) -> Result<ort::environment::Environment, String> {
    let builder = ort::init_from(lib).map_err(|e| format!("cannot load ONNX Runtime: {e}"))?;
    builder
        .with_name("passwatch")
        .build()
        .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))
}

/// Whether the loaded ONNX Runtime library was built with this provider.
pub fn provider_available(
    cache: &ModelCache,
    provider: ExecutionProvider,
) -> Result<bool, ModelError> {
    environment(cache)?;
    let r = match provider {
        ExecutionProvider::Cpu => Ok(true),
        ExecutionProvider::Cuda => ort::ep::CUDA::is_available(),
        ExecutionProvider::TensorRt => ort::ep::TensorRT::is_available(),
    };
    r.map_err(|e| ModelError::Runtime {
        message: e.to_string(),
    })
}

/// An output tensor copied out of a run, as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputTensor {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A loaded model: an ONNX Runtime session whose inputs and outputs match its manifest.
pub struct Model {
    manifest: ModelManifest,
    session: Session,
    provider: ExecutionProvider,
    path: PathBuf,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.manifest.id)
            .field("path", &self.path)
            .field("provider", &self.provider)
            .finish()
    }
}

impl Model {
    /// Loads a model from the cache: checks the file's SHA-256, builds the session, and checks
    /// the session's inputs and outputs against the manifest.
    pub fn load(
        manifest: &ModelManifest,
        cache: &ModelCache,
        options: &SessionOptions,
    ) -> Result<Model, ModelError> {
        let path = cache.verified_model(manifest)?;
        Self::load_verified(manifest, &path, cache, options)
    }

    /// Loads a model from a file the caller has already verified (or chosen to trust).
    pub fn load_verified(
        manifest: &ModelManifest,
        path: &Path,
        cache: &ModelCache,
        options: &SessionOptions,
    ) -> Result<Model, ModelError> {
        Self::load_from(manifest, path, GraphSource::File(path), cache, options)
    }

    /// Loads a YOLOv8 detector cut down to its boxes, on a `canvas` (width, height) of
    /// multiples of 32: the one it was exported for, or another it is fitted to (see
    /// [`crate::graph`]). The file's SHA-256 is checked as for
    /// [`Model::load`]; the edit is made in memory. The model's manifest then has the canvas
    /// as its input shape and `[1, -1, anchors]` as its output.
    pub fn load_yolov8_boxes(
        manifest: &ModelManifest,
        cache: &ModelCache,
        options: &SessionOptions,
        canvas: (u32, u32),
    ) -> Result<Model, ModelError> {
        let path = cache.verified_model(manifest)?;
        let prepare_err = |message: String| ModelError::Prepare {
            model: manifest.id.clone(),
            path: path.clone(),
            message,
        };
        let original = manifest
            .fixed_width()
            .zip(manifest.fixed_height())
            .ok_or_else(|| prepare_err("the manifest's input has no fixed canvas".into()))?;
        let output = manifest
            .outputs
            .first()
            .ok_or_else(|| prepare_err("the manifest names no output".into()))?;
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let prepared = crate::graph::yolov8_boxes(
            &bytes,
            &manifest.input.name,
            &output.name,
            original,
            canvas,
        )
        .map_err(prepare_err)?;
        drop(bytes);
        let mut fitted = manifest.clone();
        fitted.input.shape = vec![1, 3, i64::from(canvas.1), i64::from(canvas.0)];
        fitted.outputs = vec![crate::manifest::OutputSpec {
            name: output.name.clone(),
            shape: vec![1, -1, prepared.anchors as i64],
        }];
        tracing::debug!(model = %manifest.id, width = canvas.0, height = canvas.1,
            anchors = prepared.anchors, nodes_removed = prepared.nodes_removed,
            "detector fitted to its canvas");
        Self::load_from(
            &fitted,
            &path,
            GraphSource::Memory(&prepared.bytes),
            cache,
            options,
        )
    }

    fn load_from(
        manifest: &ModelManifest,
        path: &Path,
        source: GraphSource<'_>,
        cache: &ModelCache,
        options: &SessionOptions,
    ) -> Result<Model, ModelError> {
        let env = environment(cache)?;
        let session_err = |message: String| ModelError::Session {
            model: manifest.id.clone(),
            path: path.to_path_buf(),
            message,
        };
        let (session, provider) = match options.provider {
            ExecutionProvider::Cpu => (
                build_session(env, source, options, None).map_err(session_err)?,
                ExecutionProvider::Cpu,
            ),
            gpu => match build_session(env, source, options, Some(gpu)) {
                Ok(s) => (s, gpu),
                Err(e) if !options.require_provider => {
                    tracing::warn!(model = %manifest.id, provider = %gpu, error = %e,
                        "execution provider unavailable, falling back to the CPU");
                    (
                        build_session(env, source, options, None).map_err(session_err)?,
                        ExecutionProvider::Cpu,
                    )
                }
                Err(e) => {
                    return Err(ModelError::ProviderUnavailable {
                        model: manifest.id.clone(),
                        provider: gpu.to_string(),
                        message: e,
                    })
                }
            },
        };
        check_io(manifest, &session)?;
        Ok(Model {
            manifest: manifest.clone(),
            session,
            provider,
            path: path.to_path_buf(),
        })
    }

    /// The manifest the model was loaded with.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The model id (from the manifest).
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// The provider the session really runs on (after any fallback).
    pub fn provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// A custom metadata value stored in the model (e.g. the recogniser's `character` list).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, ModelError> {
        let meta = self.session.metadata().map_err(|e| self.inference_err(e))?;
        Ok(meta.custom(key))
    }

    /// Runs the model on one f32 NCHW input (converted to f16 if the model wants it) and copies
    /// out the manifest's outputs as f32, in manifest order.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<Vec<OutputTensor>, ModelError> {
        let name = self.manifest.input.name.clone();
        let outputs = match self.manifest.input.dtype {
            ElementType::F32 => {
                let tensor =
                    TensorRef::from_array_view(input).map_err(|e| self.inference_err(e))?;
                self.session
                    .run(ort::inputs![name.as_str() => tensor])
                    .map_err(|e| inference_err(&self.manifest.id, e))?
            }
            ElementType::F16 => {
                let half = input.mapv(half::f16::from_f32);
                let tensor =
                    TensorRef::from_array_view(&half).map_err(|e| self.inference_err(e))?;
                self.session
                    .run(ort::inputs![name.as_str() => tensor])
                    .map_err(|e| inference_err(&self.manifest.id, e))?
            }
        };
        let mut result = Vec::with_capacity(self.manifest.outputs.len());
        for spec in &self.manifest.outputs {
            let value = outputs
                .get(&spec.name)
                .ok_or_else(|| ModelError::Inference {
                    model: self.manifest.id.clone(),
                    message: format!("output {:?} missing from the run's results", spec.name),
                })?;
            let (shape, data) = if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
                (shape.clone(), data.to_vec())
            } else {
                let (shape, data) = value
                    .try_extract_tensor::<half::f16>()
                    .map_err(|e| inference_err(&self.manifest.id, e))?;
                (shape.clone(), data.iter().map(|v| v.to_f32()).collect())
            };
            result.push(OutputTensor {
                name: spec.name.clone(),
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data,
            });
        }
        Ok(result)
    }

    /// [`Model::run`] on an input given as its shape and row-major values, for callers that
    /// hold plain buffers rather than `ndarray` arrays (the inference-only loop of
    /// `passwatch bench`).
    pub fn run_raw(
        &mut self,
        shape: &[usize],
        data: &[f32],
    ) -> Result<Vec<OutputTensor>, ModelError> {
        let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), data).map_err(|e| {
            ModelError::Inference {
                model: self.manifest.id.clone(),
                message: format!("input of shape {shape:?} and {} values: {e}", data.len()),
            }
        })?;
        self.run(view)
    }

    fn inference_err(&self, e: impl std::fmt::Display) -> ModelError {
        inference_err(&self.manifest.id, e)
    }
}

fn inference_err(model: &str, e: impl std::fmt::Display) -> ModelError {
    ModelError::Inference {
        model: model.to_string(),
        message: e.to_string(),
    }
}

/// The builder chain in one function returning plain strings: ort's builder errors carry the
/// builder and are not `Send`.
fn build_session(
    env: &ort::environment::Environment,
    source: GraphSource<'_>,
    options: &SessionOptions,
    provider: Option<ExecutionProvider>,
) -> Result<Session, String> {
    let s = |e: ort::Error<_>| e.to_string();
    let mut builder = Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(s)?
        .with_intra_threads(options.intra_threads.max(1))
        .map_err(s)?
        .with_intra_op_spinning(options.intra_spinning)
        .map_err(s)?;
    if let Some(p) = provider {
        let ep = match p {
            ExecutionProvider::Cuda => ort::ep::CUDA::default()
                .with_device_id(options.device_id)
                .build(),
            ExecutionProvider::TensorRt => ort::ep::TensorRT::default()
                .with_device_id(options.device_id)
                .build(),
            ExecutionProvider::Cpu => unreachable!("the CPU needs no registration"),
        };
        builder = builder
            .with_execution_providers([ep.error_on_failure()])
            .map_err(s)?;
    }
    match source {
        GraphSource::File(path) => builder.commit_from_file(path),
        GraphSource::Memory(bytes) => builder.commit_from_memory(bytes),
    }
    .map_err(|e| e.to_string())
}

/// Where a session's graph comes from.
#[derive(Clone, Copy)]
enum GraphSource<'a> {
    /// The model file.
    File(&'a Path),
    /// An edited graph.
    Memory(&'a [u8]),
}

/// Compares the session's real inputs and outputs with the manifest.
fn check_io(manifest: &ModelManifest, session: &Session) -> Result<(), ModelError> {
    let mismatch = |what: String| ModelError::IoMismatch {
        model: manifest.id.clone(),
        what,
    };
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == manifest.input.name)
        .ok_or_else(|| {
            mismatch(format!(
                "input {:?} not found; the model's inputs are {:?}",
                manifest.input.name,
                session
                    .inputs()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
            ))
        })?;
    let want_ty = match manifest.input.dtype {
        ElementType::F32 => TensorElementType::Float32,
        ElementType::F16 => TensorElementType::Float16,
    };
    check_value(
        &manifest.input.name,
        input.dtype(),
        Some(want_ty),
        &manifest.input.shape,
    )
    .map_err(mismatch)?;
    for out in &manifest.outputs {
        let o = session
            .outputs()
            .iter()
            .find(|o| o.name() == out.name)
            .ok_or_else(|| {
                mismatch(format!(
                    "output {:?} not found; the model's outputs are {:?}",
                    out.name,
                    session
                        .outputs()
                        .iter()
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                ))
            })?;
        check_value(&out.name, o.dtype(), None, &out.shape).map_err(mismatch)?;
    }
    Ok(())
}

fn check_value(
    name: &str,
    ty: &ValueType,
    want_ty: Option<TensorElementType>,
    want_shape: &[i64],
) -> Result<(), String> {
    let ValueType::Tensor { ty, shape, .. } = ty else {
        return Err(format!("{name:?} is not a tensor ({ty:?})"));
    };
    if let Some(w) = want_ty {
        if *ty != w {
            return Err(format!(
                "{name:?} has element type {ty:?}, the manifest says {w:?}"
            ));
        }
    }
    let real: Vec<i64> = shape.iter().copied().collect();
    let compatible = real.len() == want_shape.len()
        && real
            .iter()
            .zip(want_shape)
            .all(|(&r, &w)| r == w || w == -1 || (r == -1 && w > 0));
    if !compatible {
        return Err(format!(
            "{name:?} has shape {real:?}, the manifest says {want_shape:?} (-1 = any)"
        ));
    }
    Ok(())
}
