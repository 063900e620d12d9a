//! `sam_step` against optax.contrib.sam (the drop-in SAM of optax's docstring: outer SGD,
//! adversarial normalized SGD, sync period 2), 4 steps on a smooth non-quadratic loss over two
//! tensors; golden trajectory from tests/fixtures/gen_sam.py (float64).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_core::Result;
use optlab_nn::step::sam_step;

mod common;
use common::{Sgd, f64_tensors};

#[test]
fn sam_step_matches_optax_contrib_sam() {
    let g = common::fixture("sam_optax.json");
    let a = f64_tensors(&g["a"]);
    let (lr, rho) = (g["lr"].as_f64().unwrap(), g["rho"].as_f64().unwrap());
    // f(p) = Σ 0.5 a p² + sin p + 0.1 p³, in f64 from the f32 parameters.
    let mut loss = |p: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
        let mut v = 0.0f64;
        let mut gr = Vec::new();
        for (t, ak) in p.iter().zip(&a) {
            let mut gt = Vec::new();
            for (x, ai) in t.iter().zip(ak) {
                let x = f64::from(*x);
                v += 0.5 * ai * x * x + x.sin() + 0.1 * x * x * x;
                gt.push((ai * x + x.cos() + 0.3 * x * x) as f32);
            }
            gr.push(gt);
        }
        Ok((v as f32, gr))
    };
    let mut p: Vec<Vec<f32>> = f64_tensors(&g["p0"])
        .iter()
        .map(|t| t.iter().map(|&x| x as f32).collect())
        .collect();
    for (k, want) in g["trajectory"].as_array().unwrap().iter().enumerate() {
        sam_step(&mut Sgd, lr, rho, &mut p, &[false, false], &mut loss).unwrap();
        for (t, w) in p.iter().zip(f64_tensors(want)) {
            for (x, y) in t.iter().zip(w) {
                assert!(
                    (f64::from(*x) - y).abs() < 2e-6 * (1.0 + y.abs()),
                    "step {k}: {x} vs {y}"
                );
            }
        }
    }
}
