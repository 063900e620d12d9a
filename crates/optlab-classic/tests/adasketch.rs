#![allow(clippy::unwrap_used, clippy::expect_used)]
//! AdaSketch-Newton end to end: the 19 Hock–Schittkowski problems, Poisson control against
//! its one-KKT-solve answer, the merit gradient against jax, the sketch solvers, honest
//! statuses, bad input, resume.

use optlab_classic::constrained::RowSampling;
use optlab_classic::constrained::{
    AdaSketch, AdaSketchConfig, EqState, InnerSolver, SketchKind, SketchSystem, merit_gradient,
    merit_value,
};
use optlab_core::context::MemoryCheckpoints;
use optlab_core::record::MemoryRecorder;
use optlab_core::{Driver, RunContext, Status, Summary};
use optlab_linalg::Csr;
use optlab_problems::constrained::poisson::PoissonControl;
use optlab_problems::constrained::{hs, logreg::LogRegEq};
use optlab_problems::{CountedEq, EqProblem};

fn solve_ctx(
    p: Box<dyn EqProblem>,
    cfg: AdaSketchConfig,
    ctx: &mut RunContext,
) -> (Summary, EqState) {
    let mut s = AdaSketch::new(cfg, CountedEq::new(p).unwrap()).unwrap();
    Driver::new(cfg.termination()).run(&mut s, ctx).unwrap()
}

fn solve(p: Box<dyn EqProblem>, cfg: AdaSketchConfig, seed: u64) -> (Summary, EqState) {
    solve_ctx(p, cfg, &mut RunContext::new(seed))
}

/// The problems whose KKT matrix is singular or nearly so at the solution (flat quartic and
/// sextic terms): sketches need far more than the official 1e5 inner steps to reach 1e-6 there.
const DEGENERATE: [&str; 4] = ["hs26", "hs46", "hs47", "hs49"];

fn check_all(solver: InnerSolver, kkt_tol: f64, skip: &[&str]) {
    check_all_with(
        AdaSketchConfig {
            solver,
            kkt_tol,
            ..Default::default()
        },
        skip,
    );
}

fn check_all_with(cfg: AdaSketchConfig, skip: &[&str]) {
    let (solver, kkt_tol) = (cfg.solver, cfg.kkt_tol);
    let mut bad = Vec::new();
    for p in hs::all() {
        let name = p.name().to_string();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let fs = p.known_minimum().unwrap();
        let (sum, st) = solve(Box::new(p), cfg, 1);
        let ferr = (st.f - fs).abs() / (fs.abs() + 1.0);
        let fstol = if kkt_tol <= 1e-6 { 1e-6 } else { 1e-4 };
        println!(
            "{solver:?} {name:5} {:?} kkt={:.2e} ferr={ferr:.2e} it={}",
            sum.status, st.kkt, sum.iterations
        );
        if !sum.status.is_success() || st.kkt > kkt_tol || ferr > fstol {
            bad.push(name);
        }
    }
    assert!(
        bad.is_empty(),
        "{solver:?} at {kkt_tol:e} failed on {bad:?}"
    );
}

#[test]
fn exact_dense_solves_all_19_hs_problems_to_1e_6() {
    check_all(InnerSolver::ExactDense, 1e-6, &[]);
}

#[test]
fn exact_sparse_solves_all_19_hs_problems_to_1e_6() {
    check_all(InnerSolver::ExactSparse, 1e-6, &[]);
}

#[test]
fn kaczmarz_solves_all_19_at_the_papers_tolerance_and_15_to_1e_6() {
    check_all(InnerSolver::Kaczmarz, 1e-4, &[]);
    check_all(InnerSolver::Kaczmarz, 1e-6, &DEGENERATE);
}

#[test]
fn gaussian_solves_all_19_at_the_papers_tolerance_and_15_to_1e_6() {
    check_all(InnerSolver::Gaussian, 1e-4, &[]);
    check_all(InnerSolver::Gaussian, 1e-6, &DEGENERATE);
}

#[test]
fn block_kaczmarz_solves_the_nondegenerate_set_to_1e_6() {
    check_all(InnerSolver::Block, 1e-6, &DEGENERATE);
}

/// Beyond the paper: warm-started sketch solves (least-squares fit over the last four
/// directions) take Kaczmarz to 1e-6 on all 19, the degenerate four included.
#[test]
fn warm_started_kaczmarz_solves_all_19_hs_problems_to_1e_6() {
    check_all_with(
        AdaSketchConfig {
            solver: InnerSolver::Kaczmarz,
            warm_start: 4,
            kkt_tol: 1e-6,
            max_iters: 300,
            ..Default::default()
        },
        &[],
    );
}

#[test]
fn warm_start_fits_the_span_of_the_last_directions() {
    let (k, b, x) = random_system(10, true, 4);
    let sys = SketchSystem::new(&k, &b, RowSampling::Uniform);
    let bn2: f64 = b.iter().map(|v| v * v).sum();
    // The solution in the span (with a dependent copy, which is skipped): r = 0 up to rounding.
    let mut y: Vec<f64> = (0..10).map(|i| (i as f64).cos()).collect();
    let twice: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
    let run = sys.start_along(&[y.clone(), twice, x.clone()]);
    assert!(run.r_norm_sq <= 1e-20 * bn2, "{}", run.r_norm_sq);
    for (a, c) in run.z.iter().zip(&x) {
        assert!((a - c).abs() < 1e-9);
    }
    // The residual it reports is K z - b.
    let kz = k.mul(&run.z);
    for ((r, a), c) in run.r.iter().zip(&kz).zip(&b) {
        assert!((r - (a - c)).abs() < 1e-9);
    }
    // One direction: the scalar least-squares fit a = (Kp . b) / (Kp . Kp).
    let kp = k.mul(&y);
    let a =
        kp.iter().zip(&b).map(|(p, q)| p * q).sum::<f64>() / kp.iter().map(|p| p * p).sum::<f64>();
    let one = sys.start_along(std::slice::from_ref(&y));
    for (z, v) in one.z.iter().zip(&y) {
        assert!((z - a * v).abs() < 1e-12 * (1.0 + a.abs()));
    }
    let want: f64 = kp.iter().zip(&b).map(|(p, q)| (a * p - q).powi(2)).sum();
    assert!((one.r_norm_sq - want).abs() <= 1e-12 * bn2);
    // A direction whose image is orthogonal to b: the fit is 0 up to rounding, and the start
    // is never worse than z = 0 (it is z = 0 unless rounding makes the fit strictly better).
    let kb = k.mul(&b);
    let proj = kb.iter().zip(&b).map(|(p, q)| p * q).sum::<f64>() / bn2;
    // K y' ⟂ b for y' = K^{-1}(K b - proj b) = b - proj K^{-1} b: use the LU solution.
    let kinv_b = k.sparse_lu_solve(&b).unwrap();
    y = b.iter().zip(&kinv_b).map(|(p, q)| p - proj * q).collect();
    let ortho = sys.start_along(&[y]);
    let zn: f64 = ortho.z.iter().map(|v| v * v).sum();
    assert!(zn.sqrt() <= 1e-12 * bn2.sqrt(), "{zn}");
    let zero = sys.start();
    if zn == 0.0 {
        assert_eq!(ortho.r, zero.r);
    } else {
        assert!(ortho.r_norm_sq < zero.r_norm_sq);
    }
    assert!(ortho.r_norm_sq >= (1.0 - 1e-12) * bn2);
    // Directions of the wrong length are ignored.
    assert_eq!(sys.start_along(&[vec![1.0; 3]]).z, vec![0.0; 10]);
}

#[test]
fn degenerate_problems_report_max_iterations_not_convergence() {
    let cfg = AdaSketchConfig {
        max_iters: 40,
        ..Default::default()
    };
    let (sum, st) = solve(Box::new(hs::by_name("hs49").unwrap()), cfg, 1);
    assert_eq!(sum.status, Status::MaxIterations);
    assert!(st.kkt > 1e-6);
    assert!(!st.inner_ok, "the inner cap was hit and is reported");
}

/// Local rate: with Kaczmarz sketches at the official inner cap, the KKT residual's ratio
/// `KKT_{k+1}/KKT_k` falls towards 0 in the last iterations — below 1e-3 at the end, where a
/// linearly convergent method would hold it near a constant — for both the superlinear
/// variant and the linear one: on these small problems the sketch solver overshoots the
/// accuracy condition, so the sharpening has nothing to add (docs/methods/adasketch.md). This
/// checks the local rate the iteration logs show, not the sharpening's own effect.
#[test]
fn local_convergence_is_superlinear_on_nondegenerate_problems() {
    for (name, superlinear) in ["hs6", "hs39", "hs56"]
        .into_iter()
        .flat_map(|n| [(n, true), (n, false)])
    {
        let p = hs::all().into_iter().find(|p| p.name() == name).unwrap();
        let rec = MemoryRecorder::default();
        let mut ctx = RunContext::new(1).with_recorder(rec.clone());
        let cfg = AdaSketchConfig {
            solver: InnerSolver::Kaczmarz,
            superlinear,
            kkt_tol: 1e-10,
            ..Default::default()
        };
        let (sum, _) = solve_ctx(Box::new(p), cfg, &mut ctx);
        assert!(sum.status.is_success(), "{name}: {:?}", sum.status);
        let kkt: Vec<f64> = rec.rows().iter().filter_map(|r| r.get("kkt")).collect();
        let ratios: Vec<f64> = kkt.windows(2).map(|w| w[1] / w[0]).collect();
        let tail = &ratios[ratios.len().saturating_sub(3)..];
        assert!(tail.len() == 3, "{name}: {kkt:?}");
        assert!(
            tail[2] < 1e-3 && tail[2] < tail[0],
            "{name}: last ratios {tail:?} (KKT {kkt:?})"
        );
    }
}

/// HS77 with Kaczmarz sketches and the superlinear forcing sequence reaches KKT ≈ 8e-9, where
/// the Armijo decrease on the merit (f* ≈ 0.24) is below double precision; asked for 1e-11, it
/// used to halve the step 28 times per iteration for 10,000 iterations. It now stops at once
/// with `Stalled`, naming the floating-point floor, and keeps the last iterate.
#[test]
fn a_tolerance_below_the_merits_resolution_stalls_honestly() {
    let p = hs::all().into_iter().find(|p| p.name() == "hs77").unwrap();
    let cfg = AdaSketchConfig {
        solver: InnerSolver::Kaczmarz,
        superlinear: true,
        kkt_tol: 1e-11,
        max_iters: 200,
        ..Default::default()
    };
    let (sum, st) = solve(Box::new(p), cfg, 0);
    match &sum.status {
        Status::Stalled { reason } => assert!(reason.contains("floating-point"), "{reason}"),
        other => panic!("{other:?} after {} iterations", sum.iterations),
    }
    assert!(sum.iterations < 200, "{}", sum.iterations);
    assert!(st.kkt < 1e-6 && st.kkt > 1e-11, "{}", st.kkt);
}

#[test]
fn descent_condition_holds_after_the_penalty_updates() {
    for solver in [InnerSolver::Kaczmarz, InnerSolver::ExactDense] {
        for p in hs::all() {
            let name = p.name().to_string();
            let rec = MemoryRecorder::default();
            let mut ctx = RunContext::new(3).with_recorder(rec.clone());
            let cfg = AdaSketchConfig {
                solver,
                max_iters: 30,
                ..Default::default()
            };
            solve_ctx(Box::new(p), cfg, &mut ctx);
            for r in rec.rows().iter().skip(1) {
                let eta1 = r.values["eta1"];
                let eta2 = r.values["eta2"];
                if eta1 > 1e8 || eta2 < 1e-8 {
                    continue; // the safety exit accepts the direction as is
                }
                assert!(
                    r.values["descent_gap"] <= 1e-12,
                    "{name} {solver:?} step {}: {}",
                    r.step,
                    r.values["descent_gap"]
                );
            }
        }
    }
}

#[test]
fn merit_gradient_matches_jax_autodiff_of_the_merit() {
    let fx: serde_json::Value = serde_json::from_str(include_str!(
        "../../optlab-problems/tests/fixtures/hs_derivatives.json"
    ))
    .unwrap();
    let vecf = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (eta1, eta2) = (fx["eta1"].as_f64().unwrap(), fx["eta2"].as_f64().unwrap());
    let mut nonlinear_differs = 0;
    for fp in fx["problems"].as_array().unwrap() {
        let p = hs::by_name(&fp["name"].as_str().unwrap().to_lowercase()).unwrap();
        for pt in fp["points"].as_array().unwrap() {
            let (x, lam) = (vecf(&pt["x"]), vecf(&pt["lambda"]));
            let jac = p.jacobian(&x);
            let c = p.constraints(&x);
            let gl: Vec<f64> = p
                .gradient(&x)
                .iter()
                .zip(jac.mul_t(&lam))
                .map(|(a, b)| a + b)
                .collect();
            let hess = p.lagrangian_hessian(&x, &lam);
            let g = merit_gradient(&gl, &hess, &jac, &c, eta1, eta2);
            let want: Vec<f64> = vecf(&pt["aug_lag"]["grad_x"])
                .into_iter()
                .chain(vecf(&pt["aug_lag"]["grad_lambda"]))
                .collect();
            for (a, b) in g.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-10 * b.abs().max(1.0),
                    "{}: {a} vs {b}",
                    p.name()
                );
            }
            let v = merit_value(p.value(&x), &c, &gl, &lam, eta1, eta2);
            let vw = pt["aug_lag"]["value"].as_f64().unwrap();
            assert!((v - vw).abs() <= 1e-11 * vw.abs().max(1.0));
            // The official code's objective-Hessian term differs as soon as a constraint is
            // nonlinear.
            let hf = p.lagrangian_hessian(&x, &vec![0.0; p.m()]);
            let go = merit_gradient(&gl, &hf, &jac, &c, eta1, eta2);
            if go
                .iter()
                .zip(&want)
                .any(|(a, b)| (a - b).abs() > 1e-8 * b.abs().max(1.0))
            {
                nonlinear_differs += 1;
            }
        }
    }
    // HS28, HS48–HS52 have linear constraints: both formulas agree there (6 problems x 2 points).
    assert_eq!(nonlinear_differs, (19 - 6) * 2);
}

fn random_system(dim: usize, indefinite: bool, seed: u64) -> (Csr, Vec<f64>, Vec<f64>) {
    let mut rng = optlab_core::seed::stream(seed, "test");
    use rand::Rng as _;
    let a: Vec<f64> = (0..dim * dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut t = Vec::new();
    for i in 0..dim {
        for j in 0..dim {
            // A A^T + I (SPD), or with a sign flip on half of the spectrum (indefinite).
            let mut v: f64 = (0..dim).map(|k| a[i * dim + k] * a[j * dim + k]).sum();
            if i == j {
                v += 1.0;
            }
            if indefinite && i >= dim / 2 && j >= dim / 2 {
                v = -v;
            }
            t.push((i, j, v));
        }
    }
    let k = Csr::from_triplets(dim, dim, &t).unwrap();
    let x: Vec<f64> = (0..dim).map(|i| (i as f64).sin()).collect();
    let b = k.mul(&x);
    (k, b, x)
}

#[test]
fn sketch_solvers_converge_to_the_lu_solution() {
    for indefinite in [false, true] {
        let (k, b, x) = random_system(12, indefinite, 9);
        let lu = k.sparse_lu_solve(&b).unwrap();
        for (a, c) in lu.iter().zip(&x) {
            assert!((a - c).abs() < 1e-9);
        }
        for kind in [
            SketchKind::Kaczmarz,
            SketchKind::Gaussian,
            SketchKind::Block,
        ] {
            for sampling in [RowSampling::Uniform, RowSampling::RowNorm] {
                let sys = SketchSystem::new(&k, &b, sampling);
                let mut run = sys.start();
                let mut rng = optlab_core::seed::stream(1, "sketch");
                // Geometric decrease: checkpoints at 1e-2, 1e-5, 1e-8 relative residual, each
                // reached within the cap, with a residual that matches K z - b exactly.
                let bn = optlab_linalg::norm2(&b);
                let mut last_iters = 0;
                for rel in [1e-2, 1e-5, 1e-8] {
                    assert!(
                        sys.solve(&mut run, kind, 4, &mut rng, rel * bn, 2_000_000),
                        "{kind:?} {indefinite} {rel}"
                    );
                    assert!(run.iters >= last_iters);
                    last_iters = run.iters;
                    let r = k.mul(&run.z);
                    let exact: f64 = r
                        .iter()
                        .zip(&b)
                        .map(|(a, c)| (a - c).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    assert!(
                        exact <= rel * bn * (1.0 + 1e-6),
                        "{kind:?}: {exact} vs {}",
                        rel * bn
                    );
                }
                for (a, c) in run.z.iter().zip(&x) {
                    assert!(
                        (a - c).abs() < 1e-4,
                        "{kind:?} {sampling:?} indefinite={indefinite}"
                    );
                }
            }
        }
    }
}

#[test]
fn poisson_control_converges_to_the_one_kkt_solve_answer() {
    let p = PoissonControl::new(3).unwrap();
    let (xs, _) = p.exact_solution().unwrap();
    for solver in [
        InnerSolver::ExactSparse,
        InnerSolver::ExactDense,
        InnerSolver::Kaczmarz,
    ] {
        let cfg = AdaSketchConfig {
            solver,
            kkt_tol: 1e-8,
            max_iters: 500,
            ..Default::default()
        };
        let (sum, st) = solve(Box::new(p.clone()), cfg, 2);
        assert!(sum.status.is_success(), "{solver:?}: {:?}", sum.status);
        let err =
            st.x.iter()
                .zip(&xs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
        assert!(err < 1e-6, "{solver:?}: x error {err:.2e}");
    }
}

#[test]
fn constrained_logistic_regression_reaches_a_kkt_point() {
    let cfg = AdaSketchConfig {
        solver: InnerSolver::ExactDense,
        ..Default::default()
    };
    for seed in 1..=3 {
        let p = LogRegEq::breast_cancer(seed).unwrap();
        let (sum, st) = solve(Box::new(p), cfg, 0);
        assert!(sum.status.is_success(), "seed {seed}: {:?}", sum.status);
        assert!(st.c.iter().all(|v| v.abs() < 1e-6));
        let wn: f64 = st.x.iter().map(|v| v * v).sum();
        assert!((wn - 1.0).abs() < 1e-6);
    }
    // Seed 0 draws constraints that become nearly dependent on the way: the official guard
    // (lambda_min(G G^T) < 1e-2) stops with Singular instead of pretending.
    let (sum, st) = solve(Box::new(LogRegEq::breast_cancer(0).unwrap()), cfg, 0);
    assert!(
        matches!(sum.status, Status::Singular { .. }),
        "{:?}",
        sum.status
    );
    assert!(st.kkt.is_finite());
}

#[test]
fn same_seed_same_numbers_and_resume_equals_no_resume() {
    let cfg = AdaSketchConfig::default();
    let make = || Box::new(hs::by_name("hs40").unwrap());
    let (fa, a) = solve(make(), cfg, 5);
    let (_, b) = solve(make(), cfg, 5);
    assert_eq!(a, b);
    let (_, c) = solve(make(), cfg, 6);
    assert_ne!(a.inner_total, c.inner_total, "the seed drives the sketches");
    let cps = MemoryCheckpoints::new();
    let (part, _) = solve_ctx(
        make(),
        cfg,
        &mut RunContext::new(5)
            .with_checkpoints(cps.clone(), 0)
            .with_cancel_after(Some(2)),
    );
    assert_eq!(part.status, Status::Cancelled);
    let (_, bytes) = cps.latest().unwrap();
    let (res, r) = solve_ctx(make(), cfg, &mut RunContext::new(5).with_resume(bytes));
    assert_eq!(res.iterations, fa.iterations);
    assert_eq!(r, a);
}

/// `min x1² + x2²` s.t. two copies of the same linear constraint: rank-deficient Jacobian.
struct Duplicated;

impl EqProblem for Duplicated {
    fn name(&self) -> &str {
        "duplicated"
    }
    fn n(&self) -> usize {
        2
    }
    fn m(&self) -> usize {
        2
    }
    fn x0(&self) -> Vec<f64> {
        vec![3.0, -1.0]
    }
    fn value(&self, x: &[f64]) -> f64 {
        x[0] * x[0] + x[1] * x[1]
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        vec![2.0 * x[0], 2.0 * x[1]]
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        vec![x[0] + x[1] - 1.0, 2.0 * x[0] + 2.0 * x[1] - 2.0]
    }
    fn jacobian(&self, _x: &[f64]) -> Csr {
        Csr::from_rows(2, &[vec![1.0, 1.0], vec![2.0, 2.0]]).unwrap()
    }
    fn lagrangian_hessian(&self, _x: &[f64], _l: &[f64]) -> Csr {
        Csr::diag(&[2.0, 2.0])
    }
}

/// HS6 whose Hessian turns NaN once x1 > 0.5 (a user callback failing mid-run).
struct NanLater;

impl EqProblem for NanLater {
    fn name(&self) -> &str {
        "nan-later"
    }
    fn n(&self) -> usize {
        2
    }
    fn m(&self) -> usize {
        1
    }
    fn x0(&self) -> Vec<f64> {
        vec![-1.2, 1.0]
    }
    fn value(&self, x: &[f64]) -> f64 {
        hs::by_name("hs6").unwrap().value(x)
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        hs::by_name("hs6").unwrap().gradient(x)
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        hs::by_name("hs6").unwrap().constraints(x)
    }
    fn jacobian(&self, x: &[f64]) -> Csr {
        hs::by_name("hs6").unwrap().jacobian(x)
    }
    fn lagrangian_hessian(&self, x: &[f64], l: &[f64]) -> Csr {
        if x[0] > 0.5 {
            Csr::diag(&[f64::NAN, 1.0])
        } else {
            hs::by_name("hs6").unwrap().lagrangian_hessian(x, l)
        }
    }
}

#[test]
fn honest_statuses_for_singular_and_failing_problems() {
    let (sum, st) = solve(Box::new(Duplicated), AdaSketchConfig::default(), 0);
    assert!(
        matches!(sum.status, Status::Singular { .. }),
        "{:?}",
        sum.status
    );
    assert_eq!(st.x, vec![3.0, -1.0], "the last iterate is kept");
    assert!(st.kkt > 0.0);

    let (sum, st) = solve(
        Box::new(NanLater),
        AdaSketchConfig {
            solver: InnerSolver::ExactDense,
            ..Default::default()
        },
        0,
    );
    assert!(
        matches!(sum.status, Status::NumericalFailure { .. }),
        "{:?}",
        sum.status
    );
    assert!(
        st.x[0] > 0.5 && st.kkt.is_finite(),
        "the last finite state is kept: {:?}",
        st.x
    );
}

#[test]
fn bad_configs_name_the_field() {
    use optlab_core::MethodConfig;
    for (cfg, field) in [
        (
            AdaSketchConfig {
                beta: 0.6,
                ..Default::default()
            },
            "`beta`",
        ),
        (
            AdaSketchConfig {
                nu: 1.0,
                ..Default::default()
            },
            "`nu`",
        ),
        (
            AdaSketchConfig {
                theta: 0.0,
                ..Default::default()
            },
            "`theta`",
        ),
        (
            AdaSketchConfig {
                max_inner: 0,
                ..Default::default()
            },
            "`max_inner`",
        ),
        (
            AdaSketchConfig {
                kkt_tol: f64::NAN,
                ..Default::default()
            },
            "`kkt_tol`",
        ),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
}

/// `min ½||x||²` s.t. `x1 + x2 = 1`, from `x0 = 0`, `λ0 = 0`.
struct TinyQp;

impl EqProblem for TinyQp {
    fn name(&self) -> &str {
        "tiny-qp"
    }
    fn n(&self) -> usize {
        2
    }
    fn m(&self) -> usize {
        1
    }
    fn x0(&self) -> Vec<f64> {
        vec![0.0, 0.0]
    }
    fn value(&self, x: &[f64]) -> f64 {
        0.5 * (x[0] * x[0] + x[1] * x[1])
    }
    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        x.to_vec()
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        vec![x[0] + x[1] - 1.0]
    }
    fn jacobian(&self, _x: &[f64]) -> Csr {
        Csr::from_rows(2, &[vec![1.0, 1.0]]).unwrap()
    }
    fn lagrangian_hessian(&self, _x: &[f64], _l: &[f64]) -> Csr {
        Csr::diag(&[1.0, 1.0])
    }
}

/// One step by hand: K = [[1,0,1],[0,1,1],[1,1,0]], b = -(∇f + G^T λ, c) = (0, 0, 1), so
/// (Δx, Δλ) = (0.5, 0.5, -0.5). Merit gradient at (x0, λ0) with η = (1, 0.1):
/// ∇_x L_η = ∇_x L + η2 H ∇_x L + η1 G^T c = (-1, -1), ∇_λ L_η = c + η2 G ∇_x L = -1, so
/// ∇L_η^T Δ = -0.5 <= -η2/2 ||b||² = -0.05 (no penalty update, descent gap -0.45).
/// L_η(x0) = 0.5, L_η(x0 + Δ) = 0.25 <= 0.5 + 0.1 (-0.5): the unit step is accepted and lands
/// on the solution x = (0.5, 0.5), λ = -0.5.
#[test]
fn one_step_by_hand_on_a_tiny_qp() {
    let cfg = AdaSketchConfig {
        solver: InnerSolver::ExactDense,
        max_iters: 1,
        ..Default::default()
    };
    let (_, s) = solve(Box::new(TinyQp), cfg, 0);
    assert!(
        (s.x[0] - 0.5).abs() < 1e-15 && (s.x[1] - 0.5).abs() < 1e-15,
        "{:?}",
        s.x
    );
    assert!((s.lambda[0] + 0.5).abs() < 1e-15);
    assert_eq!(s.alpha, 1.0);
    assert_eq!(s.eta_updates, 0);
    assert!((s.descent_gap + 0.45).abs() < 1e-15, "{}", s.descent_gap);
    assert!(s.kkt < 1e-15);
    // δ: Ψ = 20 max(||B||_F², 1) / (min(ξ_G, 1) min(ξ_B, 1)) = 20·2 / (1·0.1) = 400,
    // Υ = max(||G||_F, ||H||_F, 1) = √2, δ_trial = 0.4·0.1 / (2.1·2·400²) ≈ 5.95e-8 < floor.
    assert_eq!(s.delta, 1e-6);
    // A Kaczmarz step gets there only approximately, within its accuracy condition.
    let (_, k) = solve(
        Box::new(TinyQp),
        AdaSketchConfig {
            max_iters: 1,
            ..Default::default()
        },
        0,
    );
    assert!((k.x[0] - 0.5).abs() < 1e-6 && (k.x[1] - 0.5).abs() < 1e-6);
    assert!(k.inner_iters > 1);
}
