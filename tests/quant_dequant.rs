//! Our block decoders against `gguf.quants.dequantize` (fixtures written into models/fixtures/quant by
//! tests/fixtures/gen_quant.py, which setup runs):
//! random blocks of every supported type, and rows of real tensors read through our GGUF reader.

mod common;
use common::*;
use gguf_web::gguf::{ByteSource, FileSource, Gguf};
use gguf_web::quant::{dequantize, GgmlType};

fn assert_same(stem: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{stem}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Both sides do the same f32 operations; allow one rounding of difference for a*b - c orders.
        let tol = 1e-6 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{stem}: element {i}: got {g}, gguf-py says {w}");
    }
}

/// The fixtures setup writes; a missing folder fails with that instruction rather than skipping.
fn quant_fixtures() -> std::path::PathBuf {
    let dir = root().join("models/fixtures/quant");
    assert!(dir.join("manifest.json").exists(), "{} is missing: run scripts/setup.sh", dir.display());
    dir
}

#[test]
fn random_blocks_match_gguf_py() {
    let dir = quant_fixtures();
    let manifest = json(&dir.join("manifest.json"));
    let mut types = 0;
    for entry in manifest["random"].as_array().unwrap() {
        let ty = GgmlType::from_name(entry["type"].as_str().unwrap()).unwrap();
        let stem = format!("random-{ty}");
        let raw = std::fs::read(dir.join(format!("{stem}.bin"))).unwrap();
        let want = read_f32(&dir.join(format!("{stem}.f32")));
        let mut got = vec![0f32; want.len()];
        dequantize(ty, &raw, &mut got).unwrap();
        assert_same(&stem, &got, &want);
        types += 1;
    }
    let supported = GgmlType::all().filter(|t| t.is_supported()).count();
    assert_eq!(types, supported, "every supported type has a random-block fixture");
    println!("checked random blocks of {types} types");
}

#[test]
fn real_tensor_rows_match_gguf_py() {
    let dir = quant_fixtures();
    let manifest = json(&dir.join("manifest.json"));
    for entry in manifest["real"].as_array().unwrap() {
        let stem = entry["stem"].as_str().unwrap();
        let src = FileSource::open(model(entry["model"].as_str().unwrap())).unwrap();
        let gguf = Gguf::read(&src).unwrap();
        let t = gguf.tensor(entry["tensor"].as_str().unwrap()).unwrap();
        let want = read_f32(&dir.join(format!("{stem}.f32")));
        let n_bytes = t.ty.row_bytes(want.len() as u64).unwrap() as usize;
        let mut raw = vec![0u8; n_bytes];
        src.read_at(t.file_offset(gguf.data_offset), &mut raw).unwrap();
        let mut got = vec![0f32; want.len()];
        dequantize(t.ty, &raw, &mut got).unwrap();
        assert_same(stem, &got, &want);
    }
}

#[test]
fn size_mismatch_and_unsupported_are_errors() {
    let mut out = vec![0f32; 32];
    assert!(dequantize(GgmlType::Q4_0, &[0u8; 17], &mut out).is_err());
    assert!(dequantize(GgmlType::Q4_0, &[0u8; 18], &mut out[..31]).is_err());
    assert!(dequantize(GgmlType::IQ2_XXS, &[0u8; 66], &mut vec![0f32; 256]).is_err());
}
