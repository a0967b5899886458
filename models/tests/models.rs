//! Model tests on the real model pack (fetched by `scripts/setup`): every manifest matches its
//! model, outputs have the documented shapes, and a wrong manifest or file is refused.

use ndarray::Array4;
use passwatch_models::{Model, ModelCache, ModelError, ModelManifest, SessionOptions};

fn cache() -> ModelCache {
    ModelCache::from_env()
}

#[test]
fn every_builtin_model_loads_and_matches_its_manifest() {
    for m in ModelManifest::builtin_all() {
        let model = Model::load(&m, &cache(), &SessionOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", m.id));
        assert_eq!(model.id(), m.id);
    }
}

#[test]
fn outputs_have_the_documented_shapes() {
    let opts = SessionOptions::default();
    let mut det = Model::load(
        &ModelManifest::builtin("ppocrv4-det").unwrap(),
        &cache(),
        &opts,
    )
    .unwrap();
    let out = det
        .run(Array4::<f32>::zeros((1, 3, 64, 96)).into_dyn().view())
        .unwrap();
    assert_eq!(out[0].shape, vec![1, 1, 64, 96]);

    let mut rec = Model::load(
        &ModelManifest::builtin("ppocrv4-rec").unwrap(),
        &cache(),
        &opts,
    )
    .unwrap();
    let out = rec
        .run(Array4::<f32>::zeros((2, 3, 48, 160)).into_dyn().view())
        .unwrap();
    assert_eq!(out[0].shape[0], 2);
    assert_eq!(out[0].shape[2], 6625);
    // Each step is a softmax over the classes.
    let sum: f32 = out[0].data[..6625].iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "{sum}");
    let chars = rec
        .metadata("character")
        .unwrap()
        .expect("character list in metadata");
    assert_eq!(chars.lines().count(), 6623);

    let mut platedet = Model::load(
        &ModelManifest::builtin("platedet").unwrap(),
        &cache(),
        &opts,
    )
    .unwrap();
    let out = platedet
        .run(Array4::<f32>::zeros((1, 3, 640, 640)).into_dyn().view())
        .unwrap();
    assert_eq!(out[0].shape, vec![1, 37, 8400]);
}

#[test]
fn a_manifest_that_disagrees_with_the_model_is_refused() {
    let mut m = ModelManifest::builtin("platedet").unwrap();
    m.input.shape = vec![1, 3, 320, 320];
    let err = Model::load(&m, &cache(), &SessionOptions::default()).unwrap_err();
    assert!(matches!(err, ModelError::IoMismatch { .. }), "{err}");
    assert!(err.to_string().contains("images"), "{err}");

    let mut m = ModelManifest::builtin("ppocrv4-det").unwrap();
    m.input.name = "image".into();
    let err = Model::load(&m, &cache(), &SessionOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("\"x\""),
        "names the real inputs: {err}"
    );

    let mut m = ModelManifest::builtin("ppocrv4-det").unwrap();
    m.outputs[0].shape = vec![-1, 2, -1, -1];
    assert!(Model::load(&m, &cache(), &SessionOptions::default()).is_err());
}

#[test]
fn a_model_file_with_the_wrong_hash_is_refused_with_path_and_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let m = ModelManifest::builtin("ppocrv4-det").unwrap();
    let good = cache().verified_model(&m).unwrap();
    let bad_cache = ModelCache::new(dir.path());
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[1000] ^= 0xff;
    let path = dir.path().join("models").join(&m.file);
    std::fs::write(&path, &bytes).unwrap();
    let err = Model::load(&m, &bad_cache, &SessionOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::HashMismatch { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&m.sha256), "{msg}");
    let actual = passwatch_models::cache::sha256_file(&path).unwrap();
    assert!(msg.contains(&actual), "{msg}");
}

#[test]
fn a_gpu_provider_falls_back_to_the_cpu_or_fails_when_required() {
    use passwatch_models::ExecutionProvider;
    let m = ModelManifest::builtin("ppocrv4-det").unwrap();
    let lenient = SessionOptions {
        provider: ExecutionProvider::Cuda,
        ..Default::default()
    };
    let model = Model::load(&m, &cache(), &lenient).unwrap();
    let strict = SessionOptions {
        provider: ExecutionProvider::Cuda,
        require_provider: true,
        ..Default::default()
    };
    match Model::load(&m, &cache(), &strict) {
        // The CPU wheel has no CUDA provider: falling back is logged, requiring it fails.
        Err(e) => {
            assert_eq!(model.provider(), ExecutionProvider::Cpu);
            assert!(matches!(e, ModelError::ProviderUnavailable { .. }), "{e}");
        }
        Ok(gpu) => assert_eq!(gpu.provider(), ExecutionProvider::Cuda),
    }
}
