#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The burn surrogate: forward matches the classifier, the input VJP matches finite
//! differences, and the hybrid improves a counterfactual margin.

use optlab_classic::dfo::{Dsm, DsmConfig, DsmMode, Surrogate};
use optlab_core::{Driver, RunContext};
use optlab_nn::surrogate::{digits_classifier, digits_counterfactual};

#[test]
fn surrogate_vjp_matches_finite_differences_and_hybrid_improves() {
    let (net, test, acc) = digits_classifier(32, 15, 0).unwrap();
    assert!(acc > 0.8, "accuracy {acc}");
    let x: Vec<f64> = test.x[..64].iter().map(|&v| f64::from(v)).collect();
    let y = net.forward(&x).unwrap();
    assert_eq!(y.len(), 10);
    let v: Vec<f64> = (0..10).map(|j| (j as f64 * 0.7).sin()).collect();
    let g = net.vjp(&x, &v).unwrap();
    // Central differences in f32 arithmetic: compare on a few coordinates, loose but
    // meaningful (a wrong VJP is off by O(1)).
    for j in [3usize, 20, 37, 50] {
        let h = 1e-2;
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp[j] += h;
        xm[j] -= h;
        let fp: f64 = net
            .forward(&xp)
            .unwrap()
            .iter()
            .zip(&v)
            .map(|(a, b)| a * b)
            .sum();
        let fm: f64 = net
            .forward(&xm)
            .unwrap()
            .iter()
            .zip(&v)
            .map(|(a, b)| a * b)
            .sum();
        let fd = (fp - fm) / (2.0 * h);
        assert!(
            (fd - g[j]).abs() < 2e-2 * (1.0 + g[j].abs()),
            "coord {j}: fd {fd} vs vjp {}",
            g[j]
        );
    }
    assert!(net.vjp(&x[..10], &v).is_err());
    assert!(digits_counterfactual(&net, &test, 10_000, 3).is_err());
    let idx = (0..test.len()).find(|&i| test.y[i] != 3).unwrap();
    let (p, x0) = digits_counterfactual(&net, &test, idx, 3).unwrap();
    let cfg = DsmConfig {
        mode: DsmMode::Hybrid,
        max_evals: 200,
        r0: 0.05,
        r_cover: 0.05,
        r_atk: 0.05,
        ..Default::default()
    };
    let mut s = Dsm::with_surrogate(cfg, Box::new(p), x0).unwrap();
    let rec = optlab_core::record::MemoryRecorder::new();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut s, &mut RunContext::new(0).with_recorder(rec.clone()))
        .unwrap();
    let rows = rec.rows();
    let start = -rows[0].values["best_f"];
    let end = -sum.best_value.unwrap();
    assert!(end > start + 1.0, "margin {start} -> {end}");
    assert!(st.evals + st.vjps <= 200);
    assert!(st.x.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn regression_surrogate_fits_branin_and_its_vjp_is_scaled() {
    use optlab_problems::blackbox::BlackBox;
    use optlab_problems::blackbox::functions::{Kind, TestFunction};
    let f = TestFunction::new(Kind::Branin, 2).unwrap();
    // Branin's standard deviation over its box is about 51: a fit must do much better.
    let (sur, rmse) = optlab_nn::surrogate::fit_test_function(&f, 32, 400, 400, 0).unwrap();
    assert!(rmse < 15.0, "rmse {rmse}");
    let x = [0.3, 0.6];
    let g = sur.vjp(&x, &[1.0]).unwrap();
    for j in 0..2 {
        let mut xp = x;
        let mut xm = x;
        xp[j] += 1e-3;
        xm[j] -= 1e-3;
        let fd = (sur.forward(&xp).unwrap()[0] - sur.forward(&xm).unwrap()[0]) / 2e-3;
        assert!(
            (fd - g[j]).abs() < 0.05 * (1.0 + g[j].abs()),
            "{fd} vs {}",
            g[j]
        );
    }
    assert!(optlab_nn::surrogate::fit_test_function(&f, 0, 10, 10, 0).is_err());
    let _ = f.dim();
}
