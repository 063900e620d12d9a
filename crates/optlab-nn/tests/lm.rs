//! The tiny causal transformer LM: golden values from an independent jax implementation
//! (bench/peers/tiny_lm_jax.py --fixture), causality, sampling, data and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_nn::lm::{CharVocab, LmData, TinyLm, TinyLmConfig};
use optlab_nn::step::step;
use serde_json::Value;

mod common;
use common::{f32s, rel_err, u32s};

fn fixture() -> Value {
    common::fixture("tiny_lm_jax.json")
}

fn golden_model(f: &Value) -> (TinyLm, Vec<Vec<f32>>) {
    let cfg: TinyLmConfig = serde_json::from_value(f["config"].clone()).unwrap();
    let lm = TinyLm::new(cfg).unwrap();
    let names: Vec<&str> = f["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = lm.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ours, "parameter order differs from the jax peer");
    let params = f["params"].as_array().unwrap().iter().map(f32s).collect();
    (lm, params)
}

#[test]
fn logits_loss_and_gradients_match_jax() {
    let f = fixture();
    let (lm, params) = golden_model(&f);
    let batch = f["batch"].as_u64().unwrap() as usize;
    let x = u32s(&f["inputs"]);
    let y = u32s(&f["targets"]);
    let logits = lm.logits(&params, &x, batch).unwrap();
    let e = rel_err(&logits, &f32s(&f["logits"]));
    assert!(e < 1e-5, "logits rel err {e}");
    let (loss, grads) = lm.loss_and_grads(&params, &x, &y, batch).unwrap();
    let want = f["loss"].as_f64().unwrap();
    assert!(
        (f64::from(loss) - want).abs() < 1e-5 * want,
        "{loss} vs {want}"
    );
    let eval = lm.loss(&params, &x, &y, batch).unwrap();
    assert!((eval - want).abs() < 1e-5 * want);
    let gold = f["grads"].as_array().unwrap();
    for ((g, w), info) in grads.iter().zip(gold).zip(lm.params()) {
        let e = rel_err(g, &f32s(w));
        assert!(e < 1e-4, "gradient of {} rel err {e}", info.name);
    }
}

#[test]
fn attention_is_causal() {
    let f = fixture();
    let (lm, params) = golden_model(&f);
    let x: Vec<u32> = vec![1, 2, 3, 4, 5];
    let mut x2 = x.clone();
    x2[4] = 0;
    let v = lm.cfg.vocab;
    let a = lm.logits(&params, &x, 1).unwrap();
    let b = lm.logits(&params, &x2, 1).unwrap();
    assert_eq!(a[..4 * v], b[..4 * v], "earlier positions saw the future");
    assert_ne!(a[4 * v..], b[4 * v..]);
}

#[test]
fn training_steps_fit_a_batch_and_generation_is_seeded() {
    let data = LmData::from_text(
        &"to be or not to be, that is the question. ".repeat(40),
        0.2,
    )
    .unwrap();
    let cfg = TinyLmConfig {
        vocab: data.vocab.len(),
        ctx: 16,
        d_model: 16,
        n_head: 2,
        n_layer: 1,
        d_ff: 32,
    };
    let lm = TinyLm::new(cfg).unwrap();
    let mut params = lm.init(3);
    assert_eq!(params, lm.init(3));
    assert_ne!(params, lm.init(4));
    let mut rng = optlab_core::seed::stream(0, "b");
    let (x, y) = data.batch(&mut rng, 8, 16);
    let sizes = lm.param_sizes();
    let mut opt = common::adamw(1e-2, &sizes);
    let decay = lm.decay_mask();
    let first = lm.loss(&params, &x, &y, 8).unwrap();
    // log(vocab) at initialization (weights N(0, 0.02²): nearly uniform predictions).
    assert!(
        (first - (data.vocab.len() as f64).ln()).abs() < 0.05,
        "{first}"
    );
    for _ in 0..60 {
        let mut loss = |p: &[Vec<f32>]| lm.loss_and_grads(p, &x, &y, 8);
        step(&mut opt, 1e-2, &mut params, &decay, &mut loss).unwrap();
    }
    let last = lm.loss(&params, &x, &y, 8).unwrap();
    assert!(last < 0.5 * first, "{first} -> {last}");
    let prompt = data.vocab.encode("to be").unwrap();
    let a = lm.generate(&params, &prompt, 30, 1.0, 7).unwrap();
    assert_eq!(a, lm.generate(&params, &prompt, 30, 1.0, 7).unwrap());
    assert_eq!(a.len(), 35);
    assert_eq!(a[..5], prompt[..]);
    // Longer than the context: the window slides.
    let g = lm.generate(&params, &prompt, 40, 0.0, 0).unwrap();
    assert_eq!(g.len(), 45);
    assert!(data.vocab.decode(&g).starts_with("to be"));
}

#[test]
fn tiny_shakespeare_split_and_vocabulary() {
    let d = LmData::tiny_shakespeare().unwrap();
    assert_eq!(d.vocab.len(), 65);
    assert_eq!(d.train.len() + d.val.len(), 1_115_394);
    assert_eq!(d.train.len(), 1_003_855);
    assert_eq!(d.vocab.decode(&d.train[..14]), "First Citizen:");
    let (x, y) = d.val_windows(4, 32);
    assert_eq!((x.len(), y.len()), (128, 128));
    assert_eq!(x[1..32], y[..31]);
    assert_eq!(d.vocab.decode(&d.vocab.encode("ROMEO:").unwrap()), "ROMEO:");
}

#[test]
fn bad_input_is_named() {
    let v = CharVocab::from_text("abc").unwrap();
    let e = v.encode("abz").unwrap_err().to_string();
    assert!(e.contains("'z'") && e.contains("position 2"), "{e}");
    assert!(CharVocab::from_text("").is_err());
    let bad = TinyLmConfig {
        n_head: 3,
        ..Default::default()
    };
    let e = TinyLm::new(bad).unwrap_err().to_string();
    assert!(e.contains("n_head"), "{e}");
    let lm = TinyLm::new(TinyLmConfig {
        vocab: 5,
        ctx: 4,
        d_model: 8,
        n_head: 2,
        n_layer: 1,
        d_ff: 8,
    })
    .unwrap();
    let p = lm.init(0);
    let e = lm.logits(&p, &[0, 1, 2, 3, 4], 1).unwrap_err().to_string();
    assert!(e.contains("exceeds the context"), "{e}");
    let e = lm.logits(&p, &[0, 9], 1).unwrap_err().to_string();
    assert!(e.contains("token 9 at position 1"), "{e}");
    let e = lm.logits(&p, &[0, 1, 2], 2).unwrap_err().to_string();
    assert!(e.contains("rows of equal length"), "{e}");
    let mut short = p.clone();
    short[3].pop();
    let e = lm.logits(&short, &[0, 1], 1).unwrap_err().to_string();
    assert!(e.contains("blocks.0.ln1.b"), "{e}");
    let e = lm
        .loss_and_grads(&p, &[0, 1], &[1], 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("targets"), "{e}");
    assert!(lm.generate(&p, &[], 3, 1.0, 0).is_err());
    assert!(lm.generate(&p, &[0], 3, f64::NAN, 0).is_err());
    assert!(LmData::from_text("abc", 1.5).is_err());
}
