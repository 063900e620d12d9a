//! The baselines converge where they should and account their oracles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use optlab_classic::newton::{Baseline, GdConfig, NewtonLsConfig, SuperNewtonConfig};
use optlab_core::{Driver, RunContext, Status};
use optlab_problems::Counted;
use optlab_problems::smooth::{LogisticRegression, Quadratic, Rosenbrock};

fn solve(b: Baseline, iters: u64) -> (optlab_core::Summary, Vec<f64>) {
    let mut b = b;
    let t = optlab_core::Termination {
        max_iters: iters,
        max_time_s: None,
        fixed_length: false,
    };
    let (s, st) = Driver::new(t).run(&mut b, &mut RunContext::new(0)).unwrap();
    (s, st.x)
}

#[test]
fn all_baselines_solve_the_quadratic() {
    let q = || Counted::new(Box::new(Quadratic::new(6)));
    let xstar = Quadratic::new(6).minimizer();
    for (name, b) in [
        ("gd", Baseline::gd(GdConfig::default(), q()).unwrap()),
        (
            "super-newton",
            Baseline::super_newton(SuperNewtonConfig::default(), q()).unwrap(),
        ),
        (
            "newton-ls",
            Baseline::newton_ls(NewtonLsConfig::default(), q()).unwrap(),
        ),
    ] {
        let (s, x) = solve(b, 5000);
        assert!(
            matches!(s.status, Status::Converged { .. }),
            "{name}: {:?}",
            s.status
        );
        for (a, b) in x.iter().zip(&xstar) {
            assert!((a - b).abs() < 1e-8, "{name}");
        }
    }
}

#[test]
fn newton_line_search_takes_the_full_step_on_a_quadratic() {
    let (s, _) = solve(
        Baseline::newton_ls(
            NewtonLsConfig::default(),
            Counted::new(Box::new(Quadratic::new(8))),
        )
        .unwrap(),
        10,
    );
    assert_eq!(s.iterations, 1);
}

#[test]
fn second_order_baselines_handle_rosenbrock_and_logistic() {
    let (s, x) = solve(
        Baseline::newton_ls(
            NewtonLsConfig::default(),
            Counted::new(Box::new(Rosenbrock::new(2))),
        )
        .unwrap(),
        200,
    );
    assert!(
        matches!(s.status, Status::Converged { .. }) && (x[0] - 1.0).abs() < 1e-6,
        "{:?}",
        s.status
    );
    let lr = || Counted::new(Box::new(LogisticRegression::breast_cancer(1e-3).unwrap()));
    let (s, _) = solve(
        Baseline::super_newton(SuperNewtonConfig::default(), lr()).unwrap(),
        500,
    );
    assert!(
        matches!(s.status, Status::Converged { .. }),
        "{:?}",
        s.status
    );
    let (s, _) = solve(Baseline::gd(GdConfig::default(), lr()).unwrap(), 50);
    assert_eq!(
        s.status,
        Status::MaxIterations,
        "GD needs hundreds of iterations here"
    );
}
