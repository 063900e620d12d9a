//! LoRA reparameterisation and LoRA-GGPO: hand-computed gradients, finite differences, the
//! noise law, σ = β = 0 equals plain LoRA bit for bit, the frozen base, evaluation counts and
//! bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_core::Result;
use optlab_nn::adamw::{AdamWConfig, AdamWState};
use optlab_nn::lora::{
    GgpoConfig, GgpoNoise, GgpoState, Lora, LoraTarget, column_norms, ggpo_step,
};
use optlab_nn::step::{sam_step, step};

mod common;
use common::Sgd;

/// L = ½ Σ c_k (W_k - T_k)² over tensor 0 (3 x 4) and tensor 1 (4 values), in f64.
fn quad(p: &[Vec<f32>]) -> Result<(f32, Vec<Vec<f32>>)> {
    let mut v = 0.0f64;
    let mut g = Vec::new();
    for (t, tensor) in p.iter().enumerate() {
        let mut gt = Vec::new();
        for (k, &w) in tensor.iter().enumerate() {
            let c = 1.0 + 0.25 * k as f64 + t as f64;
            let target = 0.1 * k as f64 - 0.3;
            let d = f64::from(w) - target;
            v += 0.5 * c * d * d;
            gt.push((c * d) as f32);
        }
        g.push(gt);
    }
    Ok((v as f32, g))
}

fn base() -> Vec<Vec<f32>> {
    vec![
        (0..12).map(|k| 0.05 * k as f32 - 0.2).collect(),
        vec![0.5, -0.5, 0.25, 1.0],
    ]
}

fn target() -> LoraTarget {
    LoraTarget {
        tensor: 0,
        rows: 3,
        cols: 4,
    }
}

#[test]
fn merge_and_gradients_by_hand() {
    // Rank 1, alpha 2: s = 2. A = (1, 2, -1)ᵀ, B = (0.5, 0, -1, 2).
    let lora = Lora::new(base(), vec![target()], vec![1], 1, 2.0).unwrap();
    assert_eq!(lora.param_sizes(), vec![3, 4, 4]);
    let init = lora.init(0);
    assert_eq!(
        lora.merge(&init).unwrap(),
        base(),
        "B = 0 starts at the base"
    );
    let a = [1.0f32, 2.0, -1.0];
    let b = [0.5f32, 0.0, -1.0, 2.0];
    let p = vec![a.to_vec(), b.to_vec(), vec![9.0, 8.0, 7.0, 6.0]];
    let full = lora.merge(&p).unwrap();
    for i in 0..3 {
        for j in 0..4 {
            let want = base()[0][i * 4 + j] + 2.0 * a[i] * b[j];
            assert!((full[0][i * 4 + j] - want).abs() < 1e-6);
        }
    }
    assert_eq!(
        full[1],
        vec![9.0, 8.0, 7.0, 6.0],
        "trained tensor replaces the base"
    );
    // dA_i = s Σ_j G_ij B_j, dB_j = s Σ_i A_i G_ij.
    let g: Vec<Vec<f32>> = vec![(0..12).map(|k| k as f32).collect(), vec![1.0; 4]];
    let lg = lora.lora_grads(&p, &g).unwrap();
    for i in 0..3 {
        let want: f32 = 2.0 * (0..4).map(|j| g[0][i * 4 + j] * b[j]).sum::<f32>();
        assert!((lg[0][i] - want).abs() < 1e-5, "{:?}", lg[0]);
    }
    for j in 0..4 {
        let want: f32 = 2.0 * (0..3).map(|i| a[i] * g[0][i * 4 + j]).sum::<f32>();
        assert!((lg[1][j] - want).abs() < 1e-5, "{:?}", lg[1]);
    }
    assert_eq!(lg[2], g[1]);
}

#[test]
fn closure_gradient_matches_central_differences() {
    let lora = Lora::new(base(), vec![target()], vec![], 2, 4.0).unwrap();
    let mut p = lora.init(1);
    p[1] = (0..8).map(|k| 0.1 * k as f32 - 0.35).collect();
    let mut model = quad;
    let mut f = lora.closure(&mut model);
    let (_, g) = optlab_nn::step::LossFn::loss_and_grads(&mut f, &p).unwrap();
    // L is quadratic in A for fixed B (and vice versa): central differences are exact up to
    // rounding.
    let h = 1e-2f32;
    for t in 0..2 {
        for k in 0..p[t].len() {
            let mut hi = p.clone();
            hi[t][k] += h;
            let mut lo = p.clone();
            lo[t][k] -= h;
            let fd = (f64::from(
                optlab_nn::step::LossFn::loss_and_grads(&mut f, &hi)
                    .unwrap()
                    .0,
            ) - f64::from(
                optlab_nn::step::LossFn::loss_and_grads(&mut f, &lo)
                    .unwrap()
                    .0,
            )) / (2.0 * f64::from(h));
            let e = (fd - f64::from(g[t][k])).abs();
            assert!(
                e < 2e-3 * (1.0 + fd.abs()),
                "tensor {t} entry {k}: {fd} vs {}",
                g[t][k]
            );
        }
    }
}

#[test]
fn ggpo_without_noise_is_plain_lora_and_base_stays_frozen() {
    let lora = Lora::new(base(), vec![target()], vec![1], 2, 2.0).unwrap();
    let sizes = lora.param_sizes();
    let decay = vec![false; sizes.len()];
    let mk = || common::adamw(1e-2, &sizes);
    let (mut t1, mut t2) = (mk(), mk());
    let mut p1 = lora.init(3);
    let mut p2 = p1.clone();
    let zero = GgpoConfig {
        sigma: 0.0,
        beta: 0.0,
        noise: GgpoNoise::SumOfSquares,
    };
    let mut st = GgpoState::new(0);
    let rng_before = st.rng.clone();
    for _ in 0..20 {
        let mut m = quad;
        step(&mut t1, 1e-2, &mut p1, &decay, &mut lora.closure(&mut m)).unwrap();
        let mut m = quad;
        ggpo_step(
            &mut t2, 1e-2, &lora, &mut p2, &decay, &zero, &mut st, &mut m,
        )
        .unwrap();
    }
    assert_eq!(p1, p2, "σ = β = 0 must equal plain LoRA bit for bit");
    assert_eq!(st.rng, rng_before, "no noise drawn");
    assert_eq!(lora.base(), &base()[..], "the base is never written");
    // With noise the base is still untouched and the merged evaluation has no noise in it.
    let cfg = GgpoConfig::default();
    let merged_before = lora.merge(&p2).unwrap();
    let mut m = quad;
    ggpo_step(&mut t2, 0.0, &lora, &mut p2, &decay, &cfg, &mut st, &mut m).unwrap();
    assert_eq!(lora.base(), &base()[..]);
    assert_eq!(
        lora.merge(&p2).unwrap(),
        merged_before,
        "lr 0: nothing leaks"
    );
}

#[test]
fn noise_law_per_output_unit_and_previous_gradient_norms() {
    // A tall 20000 x 2 target; the model records the perturbed weights and returns a fixed
    // gradient with known column norms.
    let rows = 20_000;
    let w0: Vec<f32> = (0..rows * 2)
        .map(|k| if k % 2 == 0 { 0.5 } else { -2.0 })
        .collect();
    let lora = Lora::new(
        vec![w0.clone()],
        vec![LoraTarget {
            tensor: 0,
            rows,
            cols: 2,
        }],
        vec![],
        1,
        1.0,
    )
    .unwrap();
    let gcol = [3.0f32, 0.0];
    for noise in [GgpoNoise::SumOfSquares, GgpoNoise::Kohya] {
        let cfg = GgpoConfig {
            sigma: 0.1,
            beta: 0.05,
            noise,
        };
        let mut st = GgpoState::new(11);
        let p0 = lora.init(0);
        let mut p = p0.clone();
        let mut seen: Vec<Vec<f32>> = Vec::new();
        let mut calls = 0;
        for _ in 0..2 {
            let mut m = |full: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
                calls += 1;
                seen.push(full[0].clone());
                let g: Vec<f32> = (0..rows * 2).map(|k| gcol[k % 2]).collect();
                Ok((0.0, vec![g]))
            };
            // lr 0 keeps W' = W0, so only the noise differs between the two steps.
            ggpo_step(
                &mut Sgd,
                0.0,
                &lora,
                &mut p,
                &[false, false],
                &cfg,
                &mut st,
                &mut m,
            )
            .unwrap();
        }
        assert_eq!(calls, 2, "one evaluation per step");
        assert_eq!(p, p0);
        let wn = column_norms(&w0, rows, 2);
        let qn = [3.0 * (rows as f64).sqrt(), 0.0];
        for (step, w) in seen.iter().enumerate() {
            for j in 0..2 {
                let e: Vec<f64> = (0..rows)
                    .map(|i| f64::from(w[i * 2 + j]) - f64::from(w0[i * 2 + j]))
                    .collect();
                let mean = e.iter().sum::<f64>() / rows as f64;
                let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / rows as f64).sqrt();
                // Step 0: weight term only; step 1: the previous step's gradient norms.
                let q = if step == 0 { 0.0 } else { qn[j] };
                let want = cfg.std(wn[j], q, rows, 2);
                assert!(
                    (sd / want - 1.0).abs() < 0.03,
                    "{noise:?} step {step} unit {j}: sd {sd} vs {want}"
                );
                assert!(mean.abs() < 5.0 * want / (rows as f64).sqrt(), "zero mean");
            }
        }
        assert_eq!(st.grad_norms.len(), 1);
        assert!((st.grad_norms[0][0] - qn[0]).abs() < 1e-6 * qn[0]);
    }
    // The two rules differ: linear sum / sqrt(n_out) vs root of squares / sqrt(n_in).
    let a = GgpoConfig {
        sigma: 0.1,
        beta: 0.2,
        noise: GgpoNoise::SumOfSquares,
    };
    let b = GgpoConfig {
        noise: GgpoNoise::Kohya,
        ..a
    };
    assert!((a.std(3.0, 4.0, 4, 9) - (0.09f64 + 0.64).sqrt() / 2.0).abs() < 1e-12);
    assert!((b.std(3.0, 4.0, 4, 9) - (0.3 + 0.8) / 3.0).abs() < 1e-12);
}

#[test]
fn sam_lora_costs_two_evaluations_and_ggpo_one() {
    let lora = Lora::new(base(), vec![target()], vec![], 2, 2.0).unwrap();
    let mut p = lora.init(0);
    p[1] = vec![0.1; 8];
    let decay = vec![false; 2];
    let mut calls = 0;
    let mut m = |x: &[Vec<f32>]| {
        calls += 1;
        quad(x)
    };
    sam_step(
        &mut Sgd,
        1e-2,
        0.05,
        &mut p,
        &decay,
        &mut lora.closure(&mut m),
    )
    .unwrap();
    assert_eq!(calls, 2);
    let mut calls = 0;
    let mut m = |x: &[Vec<f32>]| {
        calls += 1;
        quad(x)
    };
    let mut st = GgpoState::new(0);
    ggpo_step(
        &mut Sgd,
        1e-2,
        &lora,
        &mut p,
        &decay,
        &GgpoConfig::default(),
        &mut st,
        &mut m,
    )
    .unwrap();
    assert_eq!(calls, 1);
}

#[test]
fn bad_input_is_named() {
    let e = Lora::new(base(), vec![target()], vec![], 4, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank") && e.contains("min(m, n) = 3"), "{e}");
    let bad = LoraTarget {
        tensor: 0,
        rows: 4,
        cols: 4,
    };
    let e = Lora::new(base(), vec![bad], vec![], 1, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not 4 x 4"), "{e}");
    assert!(Lora::new(base(), vec![target(), target()], vec![], 1, 1.0).is_err());
    assert!(Lora::new(base(), vec![target()], vec![0], 1, 1.0).is_err());
    assert!(Lora::new(base(), vec![target()], vec![5], 1, 1.0).is_err());
    assert!(Lora::new(base(), vec![target()], vec![], 0, 1.0).is_err());
    assert!(Lora::new(base(), vec![target()], vec![], 1, f64::NAN).is_err());
    let lora = Lora::new(base(), vec![target()], vec![], 1, 1.0).unwrap();
    assert!(lora.merge(&[vec![0.0; 3]]).is_err());
    let neg = GgpoConfig {
        sigma: -1.0,
        ..Default::default()
    };
    let mut p = lora.init(0);
    let mut st = GgpoState::new(0);
    let mut m = quad;
    let e = ggpo_step(
        &mut Sgd,
        0.1,
        &lora,
        &mut p,
        &[false; 2],
        &neg,
        &mut st,
        &mut m,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sigma"), "{e}");
    // A NaN from the model leaves parameters and caches untouched.
    let before = p.clone();
    let mut nan = |_: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
        Ok((f32::NAN, vec![vec![0.0; 12], vec![0.0; 4]]))
    };
    assert!(
        ggpo_step(
            &mut Sgd,
            0.1,
            &lora,
            &mut p,
            &[false; 2],
            &GgpoConfig::default(),
            &mut st,
            &mut nan
        )
        .is_err()
    );
    assert_eq!(p, before);
    assert!(st.grad_norms.is_empty());
}

/// Conformance: GGPO's state (gradient-norm caches and noise stream) and AdamW's round-trip
/// through JSON bit for bit, and resuming from them gives the same numbers as not stopping.
#[test]
fn ggpo_resume_equals_no_resume() {
    let lora = Lora::new(base(), vec![target()], vec![1], 2, 2.0).unwrap();
    let sizes = lora.param_sizes();
    let decay = vec![false; sizes.len()];
    let cfg = GgpoConfig {
        sigma: 0.1,
        beta: 0.5,
        noise: GgpoNoise::SumOfSquares,
    };
    let new_opt = || common::adamw(1e-2, &sizes);
    let run = |p: &mut Vec<Vec<f32>>,
               opt: &mut (AdamWConfig, AdamWState<f32>),
               st: &mut GgpoState,
               n: usize| {
        for _ in 0..n {
            let mut m = quad;
            ggpo_step(opt, 1e-2, &lora, p, &decay, &cfg, st, &mut m).unwrap();
        }
    };
    let (mut p, mut opt, mut st) = (lora.init(5), new_opt(), GgpoState::new(5));
    run(&mut p, &mut opt, &mut st, 20);

    let (mut q, mut opt2, mut st2) = (lora.init(5), new_opt(), GgpoState::new(5));
    run(&mut q, &mut opt2, &mut st2, 10);
    let saved = serde_json::to_string(&(&q, &opt2.1, &st2)).unwrap();
    type Saved = (Vec<Vec<f32>>, AdamWState<f32>, GgpoState);
    let (mut q, s_opt, mut st2): Saved = serde_json::from_str(&saved).unwrap();
    assert_eq!(serde_json::to_string(&(&q, &s_opt, &st2)).unwrap(), saved);
    let mut opt2 = (opt2.0, s_opt);
    run(&mut q, &mut opt2, &mut st2, 10);
    assert_eq!(p, q, "resume = no resume");
    assert_eq!(st, st2);
}
