//! AdaGrad / AdaGrad-Norm goldens (dl-optimizers.md §2.6, verified against torch and optax) and
//! AdAdaGrad's batch-size tests on the paper file's hand example, plus their invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_nn::adagrad::{
    AdaGradConfig, AdaGradConvention, AdaGradNormConfig, AdaGradNormState, AdaGradState,
};
use optlab_nn::batch_size::{BatchController, BatchRule, BatchStats, Moments, ceil_tol};

mod common;

const P0: [f64; 5] = [1.0, -2.0, 0.5, 0.0, 0.0];
const G: [[f64; 5]; 3] = [
    [0.3, -0.1, 0.0, 2.0, 10.0],
    [-0.2, 0.4, 0.0, -1.0, -0.85],
    [0.1, 0.1, 0.0, 0.5, 0.0],
];

fn run(convention: AdaGradConvention) -> Vec<f64> {
    let cfg = AdaGradConfig {
        lr: 0.1,
        convention,
    };
    let mut p = vec![P0.to_vec()];
    let mut st = AdaGradState::<f64>::new(&[5], convention);
    for g in &G {
        st.step(&cfg, cfg.lr, &mut p, &[g.to_vec()]).unwrap();
    }
    assert_eq!(st.count, 3);
    p.remove(0)
}

#[test]
fn adagrad_matches_torch_and_optax_goldens() {
    let torch = [0.92874390, -2.02058448, 0.5, -0.07710043, -0.09153054];
    let optax = [0.95246576, -2.06572712, 0.5, -0.07610910, -0.09148478];
    for (got, want) in [
        (run(AdaGradConvention::Torch), torch),
        (run(AdaGradConvention::Optax), optax),
    ] {
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 5e-9, "{got:?} vs {want:?}");
        }
    }
    // One step by hand, torch convention: s = 0.09, x = 1 - 0.1 * 0.3 / (0.3 + 1e-10).
    let mut p = vec![vec![1.0f64]];
    let mut st = AdaGradState::<f64>::new(&[1], AdaGradConvention::Torch);
    st.step(&AdaGradConfig::default(), 0.1, &mut p, &[vec![0.3]])
        .unwrap();
    assert!((p[0][0] - (1.0 - 0.1 * 0.3 / (0.3 + 1e-10))).abs() < 1e-15);
    assert_eq!(
        AdaGradState::<f32>::new(&[3, 4], AdaGradConvention::Torch).bytes(),
        28
    );
}

/// optax.adagrad (0.2.8, float64) on two tensors with exact zeros, 6 steps (fixture from
/// `tests/fixtures/gen_adagrad.py`).
#[test]
fn adagrad_optax_convention_matches_optax_step_by_step() {
    let f: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/adagrad_optax.json")).unwrap();
    let tensors = common::f64_tensors;
    let lr = f["lr"].as_f64().unwrap();
    let mut params = tensors(&f["p0"]);
    let sizes: Vec<usize> = params.iter().map(Vec::len).collect();
    let cfg = AdaGradConfig {
        lr,
        convention: AdaGradConvention::Optax,
    };
    let mut st = AdaGradState::<f64>::new(&sizes, AdaGradConvention::Optax);
    let grads = f["grads"].as_array().unwrap();
    let want = f["params_after_step"].as_array().unwrap();
    assert_eq!(grads.len(), 6);
    for (g, w) in grads.iter().zip(want) {
        st.step(&cfg, lr, &mut params, &tensors(g)).unwrap();
        for (a, b) in params.iter().flatten().zip(tensors(w).iter().flatten()) {
            assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
        }
    }
}

#[test]
fn adagrad_norm_matches_the_golden_and_rejects_bad_shapes() {
    let cfg = AdaGradNormConfig {
        lr: 0.1,
        b0_sq: 0.01,
    };
    let mut st = AdaGradNormState::new(&cfg).unwrap();
    let mut p = vec![vec![1.0f64, -2.0]];
    st.step(0.1, &mut p, &[vec![0.3, -0.4]]).unwrap();
    st.step(0.1, &mut p, &[vec![-0.1, 0.2]]).unwrap();
    assert!((st.b_sq - 0.31).abs() < 1e-15);
    assert!((p[0][0] - 0.95912569).abs() < 5e-9 && (p[0][1] + 1.95747461).abs() < 5e-9);
    // The accumulator is one scalar over all tensors.
    let mut st = AdaGradNormState::new(&cfg).unwrap();
    let mut p2 = vec![vec![0.0f32], vec![0.0f32]];
    st.step(0.1, &mut p2, &[vec![3.0], vec![4.0]]).unwrap();
    assert!((st.b_sq - 25.01).abs() < 1e-12);
    assert!(st.step(0.1, &mut p2, &[vec![1.0, 2.0], vec![1.0]]).is_err());
    assert!(st.step(0.1, &mut p2, &[vec![f32::NAN], vec![1.0]]).is_err());
    assert!(AdaGradNormState::new(&AdaGradNormConfig { b0_sq: 0.0, ..cfg }).is_err());
}

fn hand() -> Vec<Vec<f64>> {
    vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]]
}

#[test]
fn the_tests_reproduce_the_hand_example() {
    let s = BatchStats::from_samples(&hand()).unwrap();
    assert!((s.mean_sq - 8.0 / 9.0).abs() < 1e-15);
    assert!((s.var_sum - 2.0 / 3.0).abs() < 1e-15);
    assert!((s.ip_var - 4.0 / 27.0).abs() < 1e-15);
    assert!((s.orth_var_sum - 0.5).abs() < 1e-15);
    // Norm test, eta = 0.5: the ratio is 3.0000000000000004 in floating point; the tolerant
    // ceiling keeps 3 (a plain ceil would give 4). eta = 0.4: 4.6875 -> 5.
    let ratio = s.var_sum / (0.25 * s.mean_sq);
    assert!(ratio > 3.0 && ratio.ceil() == 4.0);
    assert_eq!(ceil_tol(ratio), 3);
    let c = |rule| BatchController::new(rule, 3, 100).unwrap();
    assert_eq!(c(BatchRule::Norm { eta: 0.5 }).next(3, &hand()).unwrap(), 3);
    assert_eq!(c(BatchRule::Norm { eta: 0.4 }).next(3, &hand()).unwrap(), 5);
    // Inner product 0.75 -> 1 and orthogonality 2.25 -> 3: the batch stays at 3.
    assert_eq!(c(BatchRule::InnerProduct { theta: 0.5 }).candidate(&s), 1);
    assert_eq!(c(BatchRule::Orthogonality { nu: 0.5 }).candidate(&s), 3);
    // nu = 0.3: 0.5 / (0.09 * 8/9) = 6.25 -> 7, alone and inside the augmented test.
    assert_eq!(
        c(BatchRule::Orthogonality { nu: 0.3 })
            .next(3, &hand())
            .unwrap(),
        7
    );
    assert_eq!(
        c(BatchRule::Augmented {
            theta: 0.5,
            nu: 0.3
        })
        .candidate(&s),
        7
    );
    assert_eq!(
        c(BatchRule::Augmented {
            theta: 0.5,
            nu: 0.5
        })
        .candidate(&s),
        3
    );
    assert_eq!(
        c(BatchRule::Augmented {
            theta: 0.5,
            nu: 0.5
        })
        .next(3, &hand())
        .unwrap(),
        3
    );
}

#[test]
fn batches_never_shrink_stop_at_the_cap_and_bad_input_is_an_error() {
    let norm = BatchController::new(BatchRule::Norm { eta: 0.1 }, 2, 6).unwrap();
    // Equal per-sample gradients: no variance, no growth.
    let same = vec![vec![0.5, -1.0]; 4];
    assert_eq!(norm.next(4, &same).unwrap(), 4);
    // A huge candidate is capped; at the cap no test runs (any input accepted).
    assert_eq!(norm.next(3, &hand()).unwrap(), 6);
    assert_eq!(norm.next(6, &[]).unwrap(), 6);
    // Zero mean gradient: infinite ratio, straight to the cap.
    let zero = vec![vec![1.0, -1.0], vec![-1.0, 1.0]];
    assert_eq!(norm.next(2, &zero).unwrap(), 6);
    // A tiny candidate never shrinks the batch.
    let loose = BatchController::new(BatchRule::Norm { eta: 100.0 }, 2, 6).unwrap();
    assert_eq!(loose.next(3, &hand()).unwrap(), 3);
    // Constant batches ignore the gradients.
    let constant = BatchController::new(BatchRule::Constant, 1, 6).unwrap();
    assert_eq!(constant.next(1, &[]).unwrap(), 1);
    // Errors name the problem.
    let err = BatchController::new(BatchRule::Norm { eta: 0.1 }, 8, 4).unwrap_err();
    assert!(err.to_string().contains("below the initial batch"), "{err}");
    assert!(BatchController::new(BatchRule::Norm { eta: 0.1 }, 1, 4).is_err());
    assert!(BatchController::new(BatchRule::Norm { eta: 0.0 }, 2, 4).is_err());
    assert!(norm.next(3, &hand()[..2]).is_err(), "batch size mismatch");
    assert!(BatchStats::from_samples(&[vec![1.0]]).is_err());
    assert!(BatchStats::from_samples(&[vec![1.0], vec![1.0, 2.0]]).is_err());
}

#[test]
fn merged_moments_equal_the_one_shot_statistics() {
    let mut rng = optlab_core::seed::stream(3, "moments");
    let xs: Vec<Vec<f64>> = (0..37)
        .map(|_| {
            (0..5)
                .map(|_| optlab_core::seed::normal(&mut rng))
                .collect()
        })
        .collect();
    let mut all = Moments::new(5);
    xs.iter().for_each(|x| all.push(x).unwrap());
    // Three micro-batches of unequal sizes, merged.
    let mut merged = Moments::new(5);
    for chunk in [&xs[..5], &xs[5..26], &xs[26..]] {
        let mut m = Moments::new(5);
        chunk.iter().for_each(|x| m.push(x).unwrap());
        merged.merge(&m).unwrap();
    }
    assert_eq!(merged.n, 37);
    assert!((merged.var_sum() - all.var_sum()).abs() < 1e-12);
    let one_shot = BatchStats::from_samples(&xs).unwrap();
    assert!((all.var_sum() - one_shot.var_sum).abs() < 1e-12);
    assert!(all.push(&[1.0]).is_err());
}

mod training {
    use optlab_core::context::MemoryCheckpoints;
    use optlab_core::driver::Driver;
    use optlab_core::record::MemoryRecorder;
    use optlab_core::{RunContext, Status, Termination};
    use optlab_nn::adadagrad::{
        AdAdaGrad, AdAdaGradConfig, AdAdaGradState, AdaOptimizer, SoftmaxData, TestKind,
    };

    fn data() -> SoftmaxData {
        SoftmaxData::digits(0).unwrap()
    }

    fn run(cfg: AdAdaGradConfig, ctx: &mut RunContext) -> (optlab_core::Summary, AdAdaGradState) {
        let mut t = AdAdaGrad::new(cfg, data()).unwrap();
        Driver::new(Termination {
            max_iters: u64::MAX,
            max_time_s: None,
            fixed_length: true,
        })
        .run(&mut t, ctx)
        .unwrap()
    }

    #[test]
    fn per_sample_gradients_match_finite_differences() {
        let d = data();
        let dim = d.c * (d.d + 1);
        let w: Vec<f64> = (0..dim)
            .map(|k| 0.01 * ((k * 7 % 13) as f64 - 6.0))
            .collect();
        let mut g = vec![0.0; dim];
        let ce = d.sample_grad(&w, 5, &mut g);
        let h = 1e-6;
        for k in [0, 3, 64, 65, 300, dim - 1] {
            let mut wp = w.clone();
            wp[k] += h;
            let mut wm = w.clone();
            wm[k] -= h;
            let mut tmp = vec![0.0; dim];
            let fd =
                (d.sample_grad(&wp, 5, &mut tmp) - d.sample_grad(&wm, 5, &mut tmp)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-7, "{k}: {fd} vs {}", g[k]);
        }
        assert!(ce > 0.0);
    }

    /// The one-hidden-layer network: every coordinate class (W1, its bias, W2, its bias)
    /// against central differences, a seeded init, and AdAdaGrad training it end to end.
    #[test]
    fn network_per_sample_gradients_and_training() {
        let d = data().with_hidden(5);
        let dim = d.dim();
        assert_eq!(dim, 5 * 65 + 10 * 6);
        let w = d.init(3);
        assert_eq!(w, d.init(3));
        assert_ne!(w, d.init(4));
        assert_eq!(w[64], 0.0, "biases start at 0");
        let mut g = vec![0.0; dim];
        d.sample_grad(&w, 11, &mut g);
        let h = 1e-6;
        for k in [0, 10, 64, 65, 5 * 65 - 1, 5 * 65, 5 * 65 + 5, dim - 1] {
            let mut wp = w.clone();
            wp[k] += h;
            let mut wm = w.clone();
            wm[k] -= h;
            let mut tmp = vec![0.0; dim];
            let fd =
                (d.sample_grad(&wp, 11, &mut tmp) - d.sample_grad(&wm, 11, &mut tmp)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-7, "{k}: {fd} vs {}", g[k]);
            // Biases and second-layer weights are never exactly 0 here (pixel weights can be:
            // some digits pixels are always 0).
            if k % 65 == 64 || k >= 5 * 65 {
                assert!(g[k] != 0.0, "coordinate {k} exercised");
            }
        }
        let cfg = AdAdaGradConfig {
            max_samples: 30 * 1437,
            eval_every_samples: 30 * 1437,
            lr: 0.1,
            ..Default::default()
        };
        let mut t = AdAdaGrad::new(cfg, data().with_hidden(16)).unwrap();
        let (sum, s) = Driver::new(Termination {
            max_iters: u64::MAX,
            max_time_s: None,
            fixed_length: true,
        })
        .run(&mut t, &mut RunContext::new(0))
        .unwrap();
        assert_eq!(sum.status, Status::Finished);
        assert!(sum.extra["test_acc"] > 0.85, "{:?}", sum.extra);
        assert!(s.batch > 2, "the norm test grew the batch");
    }

    #[test]
    fn batches_grow_monotonically_and_samples_are_accounted() {
        let rec = MemoryRecorder::new();
        let cfg = AdAdaGradConfig {
            max_samples: 20_000,
            ..Default::default()
        };
        let (sum, s) = run(cfg, &mut RunContext::new(1).with_recorder(rec.clone()));
        assert_eq!(sum.status, Status::Finished);
        let rows = rec.rows();
        let batches: Vec<f64> = rows.iter().map(|r| r.values["batch"]).collect();
        assert!(batches.windows(2).all(|w| w[1] >= w[0]), "never shrinks");
        assert!(batches.iter().all(|&b| (2.0..=1437.0).contains(&b)));
        assert!(
            *batches.last().unwrap() > 2.0,
            "the norm test grew the batch"
        );
        // Samples = the sum of the batch sizes used (row k's batch is the size used at step k+1).
        let used: f64 = batches[..batches.len() - 1].iter().sum();
        assert_eq!(used as u64, s.samples);
        assert!(s.samples >= 20_000 && s.samples < 20_000 + 1437);
        // Epoch bookkeeping: every epoch is one permutation of the 1437 rows.
        assert_eq!(s.epoch, s.samples / 1437 - u64::from(s.samples % 1437 == 0));
        let mut p = s.perm.clone();
        p.sort_unstable();
        assert!(p.iter().enumerate().all(|(i, &v)| i == v));
    }

    #[test]
    fn constant_batches_never_change_and_adagrad_norm_runs() {
        let cfg = AdAdaGradConfig {
            test: TestKind::Constant,
            batch: 100,
            max_samples: 3000,
            optimizer: AdaOptimizer::AdagradNorm,
            lr: 1.0,
            ..Default::default()
        };
        let (sum, s) = run(cfg, &mut RunContext::new(0));
        assert_eq!(s.batch, 100);
        assert_eq!(s.steps, 30);
        assert_eq!((s.epoch, s.pos), (2, 3000 - 2 * 1437));
        assert!(sum.extra["test_acc"] > 0.8, "{:?}", sum.extra);
        assert_eq!(sum.extra["optimizer_state_bytes"], 8.0);
    }

    #[test]
    fn adaptive_runs_resume_bit_identically() {
        let cfg = AdAdaGradConfig {
            max_samples: 6000,
            test: TestKind::Augmented,
            theta: 0.5,
            nu: 0.5,
            ..Default::default()
        };
        let (full, fs) = run(cfg, &mut RunContext::new(4));
        let cps = MemoryCheckpoints::new();
        let (part, _) = run(
            cfg,
            &mut RunContext::new(4)
                .with_checkpoints(cps.clone(), 0)
                .with_cancel_after(Some(full.iterations / 2)),
        );
        assert_eq!(part.status, Status::Cancelled);
        let (_, bytes) = cps.latest().unwrap();
        let (res, rs) = run(cfg, &mut RunContext::new(4).with_resume(bytes));
        assert_eq!(res.iterations, full.iterations);
        assert_eq!(rs, fs);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = AdAdaGrad::new(
            AdAdaGradConfig {
                max_batch: 5000,
                ..Default::default()
            },
            data(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("max_batch"), "{err}");
        let err = AdAdaGrad::new(
            AdAdaGradConfig {
                batch: 64,
                max_batch: 32,
                ..Default::default()
            },
            data(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("below the initial batch"), "{err}");
        let err = AdAdaGrad::new(
            AdAdaGradConfig {
                eta: -1.0,
                ..Default::default()
            },
            data(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("eta"), "{err}");
    }
}
