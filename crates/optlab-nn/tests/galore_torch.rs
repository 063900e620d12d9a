//! GaLore against the reference code: galore-torch 1.0's `GaLoreAdamW` (PyTorch, CPU, f32),
//! 4 steps on two projected matrices (right and left projection) and a plain-Adam bias, with
//! weight decay; golden trajectory from tests/fixtures/gen_galore.py.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_nn::galore::{GaLoreConfig, GaLoreState};
use optlab_nn::step::GradientTransform;

mod common;
use common::f32s;

#[test]
fn galore_matches_galore_torch() {
    let g = common::fixture("galore_torch.json");
    let cfg = GaLoreConfig {
        rank: g["rank"].as_u64().unwrap() as usize,
        update_gap: g["update_proj_gap"].as_u64().unwrap(),
        alpha: g["scale"].as_f64().unwrap(),
        beta1: g["betas"][0].as_f64().unwrap(),
        beta2: g["betas"][1].as_f64().unwrap(),
        eps: g["eps"].as_f64().unwrap(),
        weight_decay: g["weight_decay"].as_f64().unwrap(),
        ..Default::default()
    };
    let lr = g["lr"].as_f64().unwrap();
    let mut params: Vec<Vec<f32>> = g["p0"].as_array().unwrap().iter().map(f32s).collect();
    let sizes: Vec<usize> = params.iter().map(Vec::len).collect();
    let shapes = [Some((16, 8)), Some((8, 16)), None];
    let mut t = (cfg, GaLoreState::new(&cfg, &sizes, &shapes).unwrap());
    let grads = g["grads"].as_array().unwrap();
    for (k, want) in g["trajectory"].as_array().unwrap().iter().enumerate() {
        let gk: Vec<Vec<f32>> = grads[k].as_array().unwrap().iter().map(f32s).collect();
        t.apply(lr, &mut params, &gk, &[true; 3]).unwrap();
        for (i, (p, w)) in params
            .iter()
            .zip(want.as_array().unwrap().iter().map(f32s))
            .enumerate()
        {
            for (j, (a, b)) in p.iter().zip(&w).enumerate() {
                assert!(
                    (a - b).abs() < 2e-6,
                    "step {k}, tensor {i}, entry {j}: {a} vs {b}"
                );
            }
        }
    }
    assert_eq!(t.1.svd_count, 2, "one SVD per projected matrix");
}
