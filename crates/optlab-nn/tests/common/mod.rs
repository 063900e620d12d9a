//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use optlab_core::Result;
use optlab_nn::step::GradientTransform;
use serde_json::Value;

/// Plain SGD (`p -= lr g`, computed in f64), for hand-checkable steps.
pub struct Sgd;

impl GradientTransform for Sgd {
    fn apply(
        &mut self,
        lr: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        _decay: &[bool],
    ) -> Result<()> {
        for (p, g) in params.iter_mut().zip(grads) {
            p.iter_mut()
                .zip(g)
                .for_each(|(a, b)| *a = (f64::from(*a) - lr * f64::from(*b)) as f32);
        }
        Ok(())
    }
    fn state_numel(&self) -> usize {
        0
    }
}

/// The JSON fixture `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON array of numbers as f32.
pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A JSON array of arrays of numbers (one per tensor) as f64.
pub fn f64_tensors(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// A JSON array of token ids.
pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Max |a - b| over max |b|.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let diff = a.iter().zip(b).fold(0.0f64, |m, (&x, &y)| {
        m.max((f64::from(x) - f64::from(y)).abs())
    });
    diff / scale.max(1e-30)
}

/// AdamW at `lr` without weight decay, with zero moments for tensors of `sizes`.
pub fn adamw(
    lr: f64,
    sizes: &[usize],
) -> (
    optlab_nn::adamw::AdamWConfig,
    optlab_nn::adamw::AdamWState<f32>,
) {
    (
        optlab_nn::adamw::AdamWConfig {
            lr,
            weight_decay: 0.0,
            ..Default::default()
        },
        optlab_nn::adamw::AdamWState::<f32>::new(sizes),
    )
}

/// The f32 values of a burn tensor.
pub fn values<const D: usize>(t: burn::Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}
