//! burn 0.22.1's built-in Lion checked against the same golden values as ours
//! (dl-optimizers.md §1.7, verified with optax 0.2.8). burn runs in f32 with f32
//! hyperparameters, so the tolerance is f32-sized.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use burn::Tensor;
use burn::optim::{LionConfig, Optimizer};
use burn::tensor::{Device, TensorData};

const P0: [f32; 5] = [1.0, -2.0, 0.5, 0.0, 0.0];
const G: [[f32; 5]; 3] = [
    [0.3, -0.1, 0.0, 2.0, 10.0],
    [-0.2, 0.4, 0.0, -1.0, -0.85],
    [0.1, 0.1, 0.0, 0.5, 0.0],
];
const P3: [f64; 5] = [
    0.987012989,
    -2.004015988,
    0.4985014995,
    -0.00999001,
    -0.02997001,
];

#[test]
fn burn_lion_matches_the_golden_values_in_f32() {
    let device = Device::flex();
    let lion = LionConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.99)
        .with_weight_decay(0.1)
        .build();
    let mut p = Tensor::<1>::from_data(TensorData::new(P0.to_vec(), [5]), &device);
    let mut state = None;
    for g in &G {
        let gt = Tensor::<1>::from_data(TensorData::new(g.to_vec(), [5]), &device);
        let (next, s) = lion.step(1e-2, p, gt, state);
        p = next;
        state = s;
    }
    let got = p.into_data().try_to_vec::<f32>().unwrap();
    for (g, w) in got.iter().zip(P3) {
        assert!(
            (f64::from(*g) - w).abs() < 2e-6,
            "burn Lion {got:?} vs golden {P3:?}"
        );
    }
}

#[test]
fn ours_in_f32_matches_the_golden_values() {
    let mut p = P0.to_vec();
    let mut m = vec![0.0f32; 5];
    for g in &G {
        optlab_nn::lion::lion_step(&mut p, g, &mut m, 1e-2, 0.9, 0.99, 0.1);
    }
    for (g, w) in p.iter().zip(P3) {
        assert!((f64::from(*g) - w).abs() < 2e-6, "{p:?}");
    }
}
