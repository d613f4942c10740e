//! Helpers shared by the integration tests: paths to fixtures and the default models.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

pub const SMOLLM: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";

/// Path of a default model. The models are installed by `scripts/setup.sh`; a test that needs one
/// fails with that instruction rather than skipping, so CI cannot pass without them.
pub fn model(name: &str) -> PathBuf {
    let p = root().join("models").join(name);
    assert!(p.exists(), "{} is missing: run scripts/setup.sh", p.display());
    p
}

pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

pub fn json(path: &std::path::Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).unwrap()
}

/// The generated architectures under test (tests/fixtures/archs.json, the one list every harness
/// reads): each model's name and spec. `GGUF_WEB_ARCHS=a,b` keeps only those (scripts/gpu-check.sh).
pub fn generated_archs() -> Vec<(String, serde_json::Value)> {
    let v = json(&fixtures().join("archs.json"));
    let only = std::env::var("GGUF_WEB_ARCHS").ok();
    let keep = |k: &str| only.as_deref().is_none_or(|o| o.split(',').any(|n| n == k));
    let models = v["models"].as_object().expect("archs.json: models");
    models.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Runs `check` for every generated architecture, each to the end (a failure does not hide the
/// others'), then fails naming every architecture that failed.
pub fn for_each_arch(check: impl Fn(&str)) {
    let mut failed = Vec::new();
    for (name, _) in generated_archs() {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&name))).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failed for {failed:?} (their messages are above)");
}

pub mod batch;
pub mod golden;
pub mod layers;
pub mod tiny;
