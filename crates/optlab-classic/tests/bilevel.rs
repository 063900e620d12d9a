//! Bilevel problems and methods: derivative checks of every oracle, closed-form
//! hypergradients, BO-REP's update rules (normalized step, momentum, schedule, `z` fixed
//! point), the baselines' linear-system solves, LV-HBA's value-function gradients and toy
//! solution, resume, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_classic::bilevel::LvHbaVariant;
use optlab_classic::bilevel::hypergrad::Scheme;
use optlab_classic::bilevel::{
    AidCgConfig, BoRepConfig, HypergradSolver, LvHba, LvHbaConfig, StocBioConfig,
};
use optlab_core::context::MemoryCheckpoints;
use optlab_core::driver::{Driver, Solver};
use optlab_core::{RunContext, Status};
use optlab_linalg::norm2;
use optlab_problems::bilevel::clean::{CleanSpec, HyperClean};
use optlab_problems::bilevel::rnn::{HyperRep, RnnSpec};
use optlab_problems::bilevel::svm::{SvmData, SvmHo, SvmSpec, project_polyhedron};
use optlab_problems::bilevel::toys::{Llc, LlcSpec, QuadCosh, QuadCoshSpec};
use optlab_problems::bilevel::{
    Bilevel, ConstraintKind, Sample, ValueGrad, build, check_derivatives, default_table,
};
use std::collections::BTreeMap;

fn quad(noise_sd: f64) -> QuadCosh {
    QuadCosh::new(&QuadCoshSpec {
        noise_sd,
        ..Default::default()
    })
    .unwrap()
}

fn small_clean() -> HyperClean {
    HyperClean::new(&CleanSpec {
        n_train: 60,
        n_val: 40,
        ..Default::default()
    })
    .unwrap()
}

fn small_rnn() -> HyperRep {
    HyperRep::new(&RnnSpec {
        hidden: 6,
        n_train: 30,
        n_val: 20,
        ..Default::default()
    })
    .unwrap()
}

fn diff(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(u, v)| u - v).collect();
    norm2(&d)
}

fn assert_derivatives(p: &dyn Bilevel, x: &[f64], y: &[f64], tol: f64) {
    let errs = check_derivatives(p, x, y, 1e-5, 3).unwrap();
    for (k, v) in &errs {
        assert!(*v < tol, "{}: {k} relative error {v:.2e}", p.name());
    }
    assert!(errs.len() >= 6);
}

#[test]
fn every_oracle_matches_finite_differences() {
    let toy = Llc::new(&LlcSpec {
        n: 4,
        ..Default::default()
    })
    .unwrap();
    let x = vec![0.3, -1.2, 0.7, 2.0];
    let y: Vec<f64> = (0..8).map(|i| 0.1 * i as f64 - 0.3).collect();
    assert_derivatives(&toy, &x, &y, 1e-8);
    assert_eq!(
        check_derivatives(&toy, &x, &y, 1e-5, 3).unwrap().len(),
        8,
        "the constraint Jacobians are checked too"
    );

    let q = quad(0.0);
    let x: Vec<f64> = (0..10).map(|i| 0.2 * i as f64 - 1.0).collect();
    let y: Vec<f64> = (0..10).map(|i| (i as f64).sin()).collect();
    assert_derivatives(&q, &x, &y, 1e-7);

    // Data problems at a non-trivial point (weights away from 0 so every term is active).
    let c = small_clean();
    let x: Vec<f64> = (0..c.dim_x()).map(|i| (i as f64 * 0.7).sin()).collect();
    let y: Vec<f64> = (0..c.dim_y())
        .map(|i| 0.05 * (i as f64 * 1.3).cos())
        .collect();
    assert_derivatives(&c, &x, &y, 1e-6);

    let r = small_rnn();
    let (x, _) = r.start();
    let y: Vec<f64> = (0..r.dim_y())
        .map(|i| 0.3 * (i as f64 * 0.9).cos())
        .collect();
    assert_derivatives(&r, &x, &y, 1e-6);
}

#[test]
fn stochastic_samples_are_mini_batch_objectives() {
    // A mini-batch oracle is the gradient of the mini-batch objective (so the FD identity
    // holds per sample) and the full batch equals the exact call.
    let c = small_clean();
    let x: Vec<f64> = (0..c.dim_x()).map(|i| (i as f64).cos()).collect();
    let y: Vec<f64> = (0..c.dim_y()).map(|i| 0.01 * i as f64).collect();
    let full = Sample::Draw {
        rows: None,
        seed: 1,
    };
    let (a, ax, ay) = c.lower(&x, &y, &Sample::Exact).unwrap();
    let (b, bx, by) = c.lower(&x, &y, &full).unwrap();
    assert_eq!((a, ax, ay), (b, bx, by));
    let batch = Sample::Draw {
        rows: Some(vec![0, 5, 7]),
        seed: 1,
    };
    let (_, gx, _) = c.lower(&x, &y, &batch).unwrap();
    assert_eq!(gx.iter().filter(|v| **v != 0.0).count(), 3);
    // Noise on the toy: exact calls are noise-free, draws differ by seed.
    let q = quad(0.5);
    let (x, y) = q.start();
    let e = q.upper(&x, &y, &Sample::Exact).unwrap();
    let d1 = q
        .upper(
            &x,
            &y,
            &Sample::Draw {
                rows: None,
                seed: 1,
            },
        )
        .unwrap();
    let d2 = q
        .upper(
            &x,
            &y,
            &Sample::Draw {
                rows: None,
                seed: 2,
            },
        )
        .unwrap();
    assert_eq!(e.0, d1.0);
    assert!(diff(&e.1, &d1.1) > 0.1 && diff(&d1.1, &d2.1) > 0.1);
}

#[test]
fn quad_cosh_hypergradient_matches_finite_differences_of_phi() {
    let q = quad(0.0);
    let x: Vec<f64> = (0..10).map(|i| 0.3 * i as f64 - 1.5).collect();
    let g = q.hypergradient(&x).unwrap().unwrap();
    for j in 0..10 {
        let h = 1e-6;
        let mut xp = x.clone();
        xp[j] += h;
        let mut xm = x.clone();
        xm[j] -= h;
        let fd = (q.phi(&xp) - q.phi(&xm)) / (2.0 * h);
        assert!(
            (fd - g[j]).abs() < 1e-6 * (1.0 + g[j].abs()),
            "{j}: {fd} vs {}",
            g[j]
        );
    }
}

fn run_scheme(
    scheme: Scheme,
    p: Box<dyn Bilevel>,
    ctx: &mut RunContext,
) -> (
    optlab_core::Summary,
    optlab_classic::bilevel::HypergradState,
) {
    let mut s = HypergradSolver::new(scheme, p).unwrap();
    Driver::new(scheme.termination()).run(&mut s, ctx).unwrap()
}

#[test]
fn bo_rep_steps_have_length_eta_and_follow_the_momentum_recursion() {
    let cfg = BoRepConfig {
        eta: 0.07,
        beta: 0.8,
        period: 3,
        lower_steps: 4,
        init_steps: 7,
        ..Default::default()
    };
    let mut solver = HypergradSolver::new(Scheme::BoRep(cfg), Box::new(quad(0.3))).unwrap();
    let mut ctx = RunContext::new(5);
    let mut s = solver.init(&mut ctx).unwrap();
    assert_eq!(s.calls.get("lower_grad"), 7, "initial refinement");
    let t_max = 10u64;
    for _ in 0..t_max {
        let before = s.clone();
        solver.step(&mut s, &mut ctx).unwrap();
        assert!((diff(&s.x, &before.x) - 0.07).abs() < 1e-12);
        for i in 0..s.m.len() {
            let want = 0.8 * before.m[i] + 0.2 * s.h[i];
            assert!((s.m[i] - want).abs() < 1e-14);
        }
        // The step is along -m.
        let dx: Vec<f64> = s.x.iter().zip(&before.x).map(|(a, b)| a - b).collect();
        let cos = -optlab_linalg::dot(&dx, &s.m) / (norm2(&dx) * norm2(&s.m));
        assert!((cos - 1.0).abs() < 1e-12);
    }
    // Schedule: refinement + N * ceil(T / I) lower-level calls; one of each other oracle.
    assert_eq!(s.calls.get("lower_grad"), 7 + 4 * t_max.div_ceil(3));
    assert_eq!(s.calls.get("upper_grad"), t_max);
    assert_eq!(s.calls.get("hvp"), t_max);
    assert_eq!(s.calls.get("jvp"), t_max);
}

#[test]
fn bo_rep_z_reaches_the_linear_fixed_point_and_h_the_hypergradient() {
    // Deterministic oracles, y refreshed to y*(x) and x essentially frozen (eta tiny): z must
    // converge to A⁻¹ ∇_y F and h to ∇Φ(x) exactly.
    let q = quad(0.0);
    let cfg = BoRepConfig {
        eta: 1e-14,
        gamma: 0.1,
        nu: 0.1,
        period: 1,
        lower_steps: 50,
        init_steps: 500,
        max_iter: 400,
        ..Default::default()
    };
    let (sum, s) = run_scheme(
        Scheme::BoRep(cfg),
        Box::new(q.clone()),
        &mut RunContext::new(1),
    );
    assert_eq!(sum.status, Status::MaxIterations);
    let ys = q.y_star(&s.x);
    assert!(diff(&s.y, &ys) < 1e-10);
    let g = q.hypergradient(&s.x).unwrap().unwrap();
    assert!(
        diff(&s.h, &g) < 1e-8 * norm2(&g),
        "{} vs {}",
        norm2(&s.h),
        norm2(&g)
    );
}

#[test]
fn baselines_solve_the_linear_system_they_claim_to() {
    let q = quad(0.0);
    // AID-CG with as many CG steps as unknowns: exact hypergradient once y = y*(x).
    let cfg = AidCgConfig {
        alpha: 1e-14,
        gamma: 0.1,
        lower_steps: 400,
        cg_steps: 10,
        max_iter: 2,
        ..Default::default()
    };
    let (_, s) = run_scheme(
        Scheme::AidCg(cfg),
        Box::new(q.clone()),
        &mut RunContext::new(1),
    );
    let g = q.hypergradient(&s.x).unwrap().unwrap();
    assert!(diff(&s.h, &g) < 1e-8 * norm2(&g));
    // StocBiO: the Neumann series with eta_n < 1/L converges to the same solve.
    let cfg = StocBioConfig {
        alpha: 1e-14,
        gamma: 0.1,
        lower_steps: 400,
        neumann_steps: 600,
        neumann_eta: 0.09,
        max_iter: 1,
        ..Default::default()
    };
    let (_, s) = run_scheme(
        Scheme::StocBio(cfg),
        Box::new(q.clone()),
        &mut RunContext::new(1),
    );
    assert!(diff(&s.h, &g) < 1e-8 * norm2(&g));
}

#[test]
fn normalization_is_what_saves_bo_rep_from_the_cosh_blow_up() {
    // Start far away (x0 = 5·1): at the same step size the unnormalized ablation leaves the
    // region where cosh is finite-curvature-friendly and fails, BO-REP converges.
    let cfg = BoRepConfig {
        eta: 1.0,
        gamma: 0.1,
        nu: 0.1,
        period: 1,
        lower_steps: 5,
        init_steps: 50,
        max_iter: 300,
        ..Default::default()
    };
    let (sum, s) = run_scheme(
        Scheme::BoRep(cfg),
        Box::new(quad(0.0)),
        &mut RunContext::new(1),
    );
    assert_eq!(sum.status, Status::MaxIterations);
    let q = quad(0.0);
    let g0 = norm2(&q.hypergradient(&q.start().0).unwrap().unwrap());
    let g = norm2(&q.hypergradient(&s.x).unwrap().unwrap());
    assert!(g < 0.05 * g0, "{g} vs {g0}");
    let plain = BoRepConfig {
        normalize: false,
        ..cfg
    };
    let (sum, _) = run_scheme(
        Scheme::BoRep(plain),
        Box::new(quad(0.0)),
        &mut RunContext::new(1),
    );
    assert!(
        matches!(sum.status, Status::NumericalFailure { .. }),
        "{:?}",
        sum.status
    );
}

#[test]
fn stochastic_runs_resume_bit_identically() {
    let cfg = BoRepConfig {
        batch_lower: 16,
        batch_upper: 16,
        max_iter: 12,
        init_steps: 5,
        lower_steps: 2,
        ..Default::default()
    };
    let p = || -> Box<dyn Bilevel> { Box::new(small_clean()) };
    let (full, fs) = run_scheme(Scheme::BoRep(cfg), p(), &mut RunContext::new(9));
    let cps = MemoryCheckpoints::new();
    let (part, _) = run_scheme(
        Scheme::BoRep(cfg),
        p(),
        &mut RunContext::new(9)
            .with_checkpoints(cps.clone(), 0)
            .with_cancel_after(Some(5)),
    );
    assert_eq!(part.status, Status::Cancelled);
    let (_, bytes) = cps.latest().unwrap();
    let (res, rs) = run_scheme(
        Scheme::BoRep(cfg),
        p(),
        &mut RunContext::new(9).with_resume(bytes),
    );
    assert_eq!(res.iterations, full.iterations);
    assert_eq!(rs, fs);
    // Every call touched one mini-batch of 16 rows.
    assert_eq!(fs.samples, 16 * fs.calls.total());
    // A different seed draws different batches.
    let (_, other) = run_scheme(Scheme::BoRep(cfg), p(), &mut RunContext::new(10));
    assert_ne!(other.x, fs.x);
}

#[test]
fn oracle_budget_stops_with_max_evaluations() {
    let cfg = StocBioConfig {
        max_oracle_calls: 200,
        max_iter: 10_000,
        ..Default::default()
    };
    let (sum, s) = run_scheme(
        Scheme::StocBio(cfg),
        Box::new(quad(0.1)),
        &mut RunContext::new(1),
    );
    assert_eq!(sum.status, Status::MaxEvaluations);
    assert!(s.calls.total() >= 200 && s.calls.total() < 200 + 25);
}

fn lvhba(cfg: LvHbaConfig, n: usize) -> LvHba {
    LvHba::new(
        cfg,
        Box::new(
            Llc::new(&LlcSpec {
                n,
                ..Default::default()
            })
            .unwrap(),
        ),
    )
    .unwrap()
}

#[test]
fn value_function_gradients_match_finite_differences() {
    let cfg = LvHbaConfig {
        gamma1: 2.0,
        gamma2: 3.0,
        ..Default::default()
    };
    let solver = lvhba(cfg, 3);
    let x = vec![0.2, -0.5, 1.0];
    let y = vec![0.3, 0.1, -0.2, 0.5, 0.4, -0.6];
    let z = vec![0.7];
    let v_at = |x: &[f64], y: &[f64], z: &[f64]| {
        let (t, l) = solver.solve_saddle(x, y, z, 20_000, 0.05).unwrap();
        solver.value_function(x, y, z, &t, &l).unwrap()
    };
    let (_, gx, gy, gz) = v_at(&x, &y, &z);
    let h = 1e-5;
    let fd = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
    for i in 0..3 {
        let d = fd(&|t| {
            let mut xp = x.clone();
            xp[i] += t;
            v_at(&xp, &y, &z).0
        });
        assert!((d - gx[i]).abs() < 1e-7, "x{i}: {d} vs {}", gx[i]);
    }
    for i in 0..6 {
        let d = fd(&|t| {
            let mut yp = y.clone();
            yp[i] += t;
            v_at(&x, &yp, &z).0
        });
        assert!((d - gy[i]).abs() < 1e-7, "y{i}: {d} vs {}", gy[i]);
    }
    let d = fd(&|t| v_at(&x, &y, &[z[0] + t]).0);
    assert!((d - gz[0]).abs() < 1e-7);
}

#[test]
fn projection_onto_the_coupled_constraint_is_exact_idempotent_and_nonexpansive() {
    let toy = Llc::new(&LlcSpec {
        n: 5,
        ..Default::default()
    })
    .unwrap();
    let mut rng = optlab_core::seed::stream(1, "t");
    let mut pts = Vec::new();
    for _ in 0..20 {
        let mut x: Vec<f64> = (0..5)
            .map(|_| optlab_core::seed::normal(&mut rng))
            .collect();
        let mut y: Vec<f64> = (0..10)
            .map(|_| optlab_core::seed::normal(&mut rng))
            .collect();
        let raw: Vec<f64> = x.iter().chain(&y).cloned().collect();
        toy.project_joint(&mut x, &mut y).unwrap();
        assert!(toy.constraints(&x, &y).unwrap()[0].abs() < 1e-12);
        let (mut x2, mut y2) = (x.clone(), y.clone());
        toy.project_joint(&mut x2, &mut y2).unwrap();
        assert!(diff(&x, &x2) + diff(&y, &y2) < 1e-14);
        pts.push((raw, x.iter().chain(&y).cloned().collect::<Vec<f64>>()));
    }
    for a in &pts {
        for b in &pts {
            assert!(diff(&a.1, &b.1) <= diff(&a.0, &b.0) + 1e-12);
        }
    }
    assert_eq!(toy.constraint_kind(), ConstraintKind::Equality);
}

fn golden() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/bilevel_golden.json")).unwrap()
}

fn golden_cfg(settings: &serde_json::Value) -> (LvHbaConfig, usize) {
    let f = |k: &str| settings[k].as_f64().unwrap();
    let cfg = LvHbaConfig {
        alpha: f("alpha"),
        beta: f("beta"),
        eta: f("eta"),
        gamma1: f("gamma1"),
        gamma2: f("gamma2"),
        r: f("r"),
        c0: f("c0"),
        p: f("p"),
        lambda0: f("lambda0"),
        z0: f("z0"),
        max_iter: f("iters") as u64,
        ..Default::default()
    };
    (cfg, settings["n"].as_u64().unwrap() as usize)
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * (1.0 + b.abs())
}

#[test]
fn lv_hba_follows_the_official_toy_trajectory() {
    // gen_bilevel.py re-implements the official LLC script operation for operation (checked
    // bitwise against it); optlab must produce the same iterates.
    let g = golden();
    let case = &g["llc_n10"];
    let (cfg, n) = golden_cfg(&case["settings"]);
    let mut solver = lvhba(cfg, n);
    let mut ctx = RunContext::new(0);
    let mut s = solver.init(&mut ctx).unwrap();
    let check = |s: &optlab_classic::bilevel::LvHbaState, snap: &serde_json::Value, tol: f64| {
        let vec = |k: &str| -> Vec<f64> {
            snap[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        for (name, got, want) in [
            ("x", &s.x, vec("x")),
            ("y", &s.y, vec("y")),
            ("theta", &s.theta, vec("theta")),
        ] {
            for (a, b) in got.iter().zip(&want) {
                assert!(close(*a, *b, tol), "k = {}: {name} {a} vs {b}", s.k);
            }
        }
        assert!(close(s.lam[0], snap["lambda"].as_f64().unwrap(), tol));
        assert!(close(s.z[0], snap["z"].as_f64().unwrap(), tol));
    };
    check(&s, &case["initial"], 1e-12);
    for k in 1..=1500u64 {
        solver.step(&mut s, &mut ctx).unwrap();
        if let Some(snap) = case["snapshots"].get(k.to_string()) {
            check(&s, snap, 1e-10);
        }
    }
    let m = solver.extra(&s);
    assert!(close(
        m["rel_error"],
        case["rel_error"].as_f64().unwrap(),
        1e-9
    ));
    // Converging setting (papers file §7.6): relative error < 0.05 after 1500 iterations;
    // z tends to the multiplier -1 (within 0.05 by 3000 iterations from the official start).
    assert!(m["rel_error"] < 0.05);
    for _ in 1500..3000 {
        solver.step(&mut s, &mut ctx).unwrap();
    }
    assert!((s.z[0] + 1.0).abs() < 0.05, "z = {}", s.z[0]);
    assert!(solver.extra(&s)["violation"] < 1e-9);
}

#[test]
fn lv_hba_official_defaults_do_not_converge_at_n_100_as_the_reference_shows() {
    let g = golden();
    let case = &g["llc_n100_official"];
    let (cfg, n) = golden_cfg(&case["settings"]);
    let mut solver = lvhba(cfg, n);
    let mut ctx = RunContext::new(0);
    let mut s = solver.init(&mut ctx).unwrap();
    for k in 1..=1500u64 {
        solver.step(&mut s, &mut ctx).unwrap();
        if let Some(want) = case["rel_error_at"].get(k.to_string()) {
            let got = solver.extra(&s)["rel_error"];
            assert!(
                close(got, want.as_f64().unwrap(), 1e-8),
                "k = {k}: {got} vs {want}"
            );
        }
    }
}

/// The toy with the upper level switched off.
struct LowerOnly(Llc);

impl Bilevel for LowerOnly {
    fn name(&self) -> String {
        "lower-only".into()
    }
    fn dim_x(&self) -> usize {
        self.0.dim_x()
    }
    fn dim_y(&self) -> usize {
        self.0.dim_y()
    }
    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        self.0.start()
    }
    fn upper(&self, x: &[f64], y: &[f64], _s: &Sample) -> optlab_core::Result<ValueGrad> {
        Ok((0.0, vec![0.0; x.len()], vec![0.0; y.len()]))
    }
    fn lower(&self, x: &[f64], y: &[f64], s: &Sample) -> optlab_core::Result<ValueGrad> {
        self.0.lower(x, y, s)
    }
    fn lower_hvp_yy(
        &self,
        x: &[f64],
        y: &[f64],
        v: &[f64],
        s: &Sample,
    ) -> optlab_core::Result<Vec<f64>> {
        self.0.lower_hvp_yy(x, y, v, s)
    }
    fn lower_jvp_xy(
        &self,
        x: &[f64],
        y: &[f64],
        v: &[f64],
        s: &Sample,
    ) -> optlab_core::Result<Vec<f64>> {
        self.0.lower_jvp_xy(x, y, v, s)
    }
    fn n_constraints(&self) -> usize {
        1
    }
    fn constraint_kind(&self) -> ConstraintKind {
        ConstraintKind::Equality
    }
    fn constraints(&self, x: &[f64], y: &[f64]) -> optlab_core::Result<Vec<f64>> {
        self.0.constraints(x, y)
    }
    fn constraint_vjp(
        &self,
        x: &[f64],
        y: &[f64],
        lam: &[f64],
    ) -> optlab_core::Result<(Vec<f64>, Vec<f64>)> {
        self.0.constraint_vjp(x, y, lam)
    }
    fn project_joint(&self, x: &mut [f64], y: &mut [f64]) -> optlab_core::Result<()> {
        self.0.project_joint(x, y)
    }
    fn evaluate(&self, _x: &[f64], _y: &[f64]) -> optlab_core::Result<BTreeMap<String, f64>> {
        Ok(BTreeMap::new())
    }
}

#[test]
fn without_an_upper_level_lv_hba_drives_the_lower_level_gap_to_zero() {
    let cfg = LvHbaConfig {
        c0: 1.0,
        max_iter: 3000,
        ..Default::default()
    };
    let toy = Llc::new(&LlcSpec {
        n: 5,
        ..Default::default()
    })
    .unwrap();
    let mut solver = LvHba::new(cfg, Box::new(LowerOnly(toy))).unwrap();
    let (sum, _) = Driver::new(cfg.termination())
        .run(&mut solver, &mut RunContext::new(0))
        .unwrap();
    let gap0 = 1.0; // the start (10·1 projected) is far from lower-level optimal
    let gap = sum.extra["ll_gap"];
    assert!(gap.abs() < 1e-3 * gap0, "f - v = {gap}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let q = quad(0.0);
    let err = q.upper(&[1.0; 3], &[0.0; 10], &Sample::Exact).unwrap_err();
    assert!(err.to_string().contains("upper-level variable x"), "{err}");
    let err = q.lower(&[1.0; 10], &[0.0; 4], &Sample::Exact).unwrap_err();
    assert!(err.to_string().contains("lower-level variable y"), "{err}");
    // Hypergradient methods refuse constrained lower levels.
    let toy = Llc::new(&LlcSpec::default()).unwrap();
    let err = HypergradSolver::new(Scheme::BoRep(BoRepConfig::default()), Box::new(toy))
        .err()
        .unwrap();
    assert!(err.to_string().contains("lv-hba"), "{err}");
    // Config and problem fields are named.
    let err = LvHba::new(
        LvHbaConfig {
            p: 0.7,
            ..Default::default()
        },
        Box::new(quad(0.0)),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("`p`"), "{err}");
    // The script variant freezes x after a joint projection: refused when C is not a
    // product set.
    let err = LvHba::new(
        LvHbaConfig {
            variant: LvHbaVariant::SvmScript,
            ..Default::default()
        },
        Box::new(Llc::new(&LlcSpec::default()).unwrap()),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("product set"), "{err}");
    // Mini-batch rows outside the data or empty.
    let c = small_clean();
    let (x, y) = c.start();
    for rows in [vec![0, 999], vec![]] {
        let s = Sample::Draw {
            rows: Some(rows),
            seed: 0,
        };
        assert!(c.lower(&x, &y, &s).is_err());
        assert!(c.lower_hvp_yy(&x, &y, &y, &s).is_err());
    }
    let mut t = default_table("quad-cosh").unwrap();
    t.insert("l".into(), toml::Value::Float(0.5));
    assert!(build(&t).err().unwrap().to_string().contains("problem.l"));
    let mut t = default_table("hyper-clean").unwrap();
    t.insert("n_train".into(), toml::Value::Integer(5000));
    assert!(build(&t).err().unwrap().to_string().contains("n_train"));
    let mut t = default_table("lvhba-toy").unwrap();
    t.insert("name".into(), toml::Value::String("nope".into()));
    assert!(
        build(&t)
            .err()
            .unwrap()
            .to_string()
            .contains("unknown bilevel")
    );
}

fn small_svm() -> SvmHo {
    SvmHo::new(&SvmSpec {
        data: SvmData::Fourclass,
        n_train: 40,
        n_val: 30,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn svm_oracles_and_projection_are_exact() {
    let p = small_svm();
    let (x, mut y) = p.start();
    y.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v += 0.1 * (i as f64).sin());
    assert_derivatives(&p, &x, &y, 1e-6);
    assert_eq!(check_derivatives(&p, &x, &y, 1e-5, 3).unwrap().len(), 8);
    // Projection: feasible, idempotent, nonexpansive, and x is only clipped to its box.
    let mut rng = optlab_core::seed::stream(2, "svm");
    let mut pts = Vec::new();
    for _ in 0..6 {
        let mut x2 = x.clone();
        let mut y2: Vec<f64> = y
            .iter()
            .map(|v| v + 2.0 * optlab_core::seed::normal(&mut rng))
            .collect();
        let raw = y2.clone();
        p.project_joint(&mut x2, &mut y2).unwrap();
        assert_eq!(x2, x);
        let viol = p
            .constraints(&x2, &y2)
            .unwrap()
            .into_iter()
            .fold(0.0, f64::max);
        assert!(viol < 1e-12, "violation {viol}");
        let mut y3 = y2.clone();
        p.project_joint(&mut x2, &mut y3).unwrap();
        assert!(diff(&y2, &y3) < 1e-12, "{}", diff(&y2, &y3));
        pts.push((raw, y2));
    }
    for a in &pts {
        for b in &pts {
            assert!(diff(&a.1, &b.1) <= diff(&a.0, &b.0) + 1e-12);
        }
    }
    // The exact lower-level solution satisfies the constraints and the stationarity of the
    // squared-hinge SVM: w = Σ λ_i t_i a_i with λ_i = exp(c_i) ξ_i >= 0.
    let ys = p.solve_lower(&x).unwrap();
    let viol = p
        .constraints(&x, &ys)
        .unwrap()
        .into_iter()
        .fold(0.0, f64::max);
    assert!(viol < 1e-8);
    let (_, _, gy) = p.lower(&x, &ys, &Sample::Exact).unwrap();
    let lam: Vec<f64> = gy[3..].to_vec();
    assert!(lam.iter().all(|l| *l > -1e-8));
    let (_, jy) = p.constraint_vjp(&x, &ys, &lam).unwrap();
    let kkt: Vec<f64> = gy.iter().zip(&jy).map(|(a, b)| a + b).collect();
    assert!(norm2(&kkt) < 1e-6 * (1.0 + norm2(&gy)), "{}", norm2(&kkt));
}

#[test]
fn empty_sets_are_clear_errors() {
    // x <= -1 and x >= 1.
    let rows = vec![vec![(0, 1.0)], vec![(0, -1.0)]];
    let err = project_polyhedron(&[0.0], &rows, &[-1.0, -1.0], 1e-10).unwrap_err();
    assert!(err.to_string().contains("empty set"), "{err}");
    let mut t = default_table("svm-ho").unwrap();
    t.insert("c_min".into(), toml::Value::Float(3.0));
    t.insert("c_max".into(), toml::Value::Float(1.0));
    let err = build(&t).err().unwrap();
    assert!(err.to_string().contains("problem.c_min") && err.to_string().contains("empty"));
}

#[test]
fn lv_hba_moves_the_hyper_parameters_the_official_svm_script_leaves_fixed() {
    let cfg = LvHbaConfig {
        alpha: 0.01,
        beta: 0.1,
        eta: 0.01,
        gamma1: 10.0,
        gamma2: 10.0,
        c0: 1.0,
        p: 0.5,
        z0: 1.0,
        max_iter: 20,
        ..Default::default()
    };
    let run = |variant| {
        let c = LvHbaConfig { variant, ..cfg };
        let mut solver = LvHba::new(c, Box::new(small_svm())).unwrap();
        Driver::new(c.termination())
            .run(&mut solver, &mut RunContext::new(0))
            .unwrap()
    };
    let x0 = small_svm().start().0;
    let (sum, paper) = run(LvHbaVariant::Paper);
    assert_eq!(sum.status, Status::MaxIterations);
    assert!(diff(&paper.x, &x0) > 1e-6);
    assert!(sum.extra["violation"] < 1e-7);
    let (_, script) = run(LvHbaVariant::SvmScript);
    assert_eq!(script.x, x0);
    assert!(script.z.iter().all(|z| *z == 1.0));
}
