#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Derivative-free methods: the CBO consensus (prox identity, invariances), CBO runs
//! (determinism across thread counts, failed evaluations, resume), cDSM (positive spanning
//! poll, radius bookkeeping, bounds, barriers), attacks on a linear network (exact FGSM/PGD).

use optlab_classic::dfo::attack::{
    ClassMargin, OutputObjective, Surrogate, SurrogateProblem, attack,
};
use optlab_classic::dfo::{
    AttackKind, Barrier, Cbo, CboConfig, CboState, Dsm, DsmConfig, DsmMode, NetworkProblem, Noise,
    NormalPrecision, consensus, householder_poll,
};
use optlab_core::context::MemoryCheckpoints;
use optlab_core::record::MemoryRecorder;
use optlab_core::{Driver, MethodConfig, Result, RunContext, Status, Summary};
use optlab_problems::blackbox::functions::{Kind, TestFunction, protocol_start};
use optlab_problems::blackbox::{BlackBox, Bounds};
use rand::Rng as _;
use std::sync::Arc;

fn run_cbo(p: Box<dyn BlackBox>, cfg: CboConfig, ctx: &mut RunContext) -> (Summary, CboState) {
    let mut s = Cbo::new(cfg, p).unwrap();
    Driver::new(cfg.termination()).run(&mut s, ctx).unwrap()
}

fn normal(rng: &mut optlab_core::seed::Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// For f(x) = ½ x^T A x + b^T x, the Laplace mean of N(θ, σ² I) samples tends to
/// prox_{τ f}(θ) = (I + τ A)^{-1}(θ - τ b), τ = α σ² (numerical-optimizers.md §5.6).
#[test]
fn gaussian_consensus_is_the_proximal_step_on_a_quadratic() {
    let a = [[2.0, 0.5, 0.0], [0.5, 1.5, 0.3], [0.0, 0.3, 1.0]];
    let b = [0.4, -0.7, 0.2];
    let theta = [1.0, -0.5, 0.8];
    let (alpha, sigma) = (1.0, 0.3);
    let tau = alpha * sigma * sigma;
    let f = |x: &[f64]| -> f64 {
        let mut v = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                v += 0.5 * x[i] * a[i][j] * x[j];
            }
            v += b[i] * x[i];
        }
        v
    };
    // prox by solving (I + τA) p = θ - τ b (3x3 Cramer).
    let m: Vec<Vec<f64>> = (0..3)
        .map(|i| {
            (0..3)
                .map(|j| f64::from(u8::from(i == j)) + tau * a[i][j])
                .collect()
        })
        .collect();
    let rhs: Vec<f64> = (0..3).map(|i| theta[i] - tau * b[i]).collect();
    let det3 = |m: &Vec<Vec<f64>>| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det3(&m);
    let prox: Vec<f64> = (0..3)
        .map(|c| {
            let mut mc = m.clone();
            for r in 0..3 {
                mc[r][c] = rhs[r];
            }
            det3(&mc) / d
        })
        .collect();
    let n = 200_000;
    let mut rng = optlab_core::seed::stream(11, "prox-test");
    let pts: Vec<f64> = (0..n * 3)
        .map(|k| theta[k % 3] + sigma * normal(&mut rng))
        .collect();
    let vals: Vec<f64> = pts.chunks(3).map(f).collect();
    let (v, ess) = consensus(&pts, &vals, 3, alpha).unwrap();
    let err = v
        .iter()
        .zip(&prox)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let tol = 4.0 * sigma / ess.sqrt();
    assert!(
        err < tol,
        "error {err:.2e} vs tolerance {tol:.2e} (ESS {ess:.0})"
    );
    // The test can fail: the plain mean (θ) is far from the prox point.
    let moved = theta
        .iter()
        .zip(&prox)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(moved > 10.0 * tol, "{moved} vs {tol}");
}

#[test]
fn consensus_is_shift_invariant_and_tends_to_the_best_particle() {
    let pts = [0.0, 1.0, 2.0, 3.0, -1.0, 0.5];
    let vals = [3.0, 1.0, 2.0];
    let (v1, _) = consensus(&pts, &vals, 2, 2.0).unwrap();
    let shifted: Vec<f64> = vals.iter().map(|v| v + 1e3).collect();
    let (v2, _) = consensus(&pts, &shifted, 2, 2.0).unwrap();
    for (a, b) in v1.iter().zip(&v2) {
        assert!((a - b).abs() < 1e-12);
    }
    let (v3, ess) = consensus(&pts, &vals, 2, 1e6).unwrap();
    assert_eq!(v3, vec![2.0, 3.0]);
    assert!((ess - 1.0).abs() < 1e-12);
    // Failed evaluations get no weight; all failed: None.
    let (v4, _) = consensus(&pts, &[f64::NAN, 1.0, f64::INFINITY], 2, 1.0).unwrap();
    assert_eq!(v4, vec![2.0, 3.0]);
    assert!(consensus(&pts, &[f64::NAN; 3], 2, 1.0).is_none());
    // Huge α·f does not overflow.
    let (v5, _) = consensus(&pts, &[1e300, 2e300, 3e300], 2, 1e10).unwrap();
    assert_eq!(v5, vec![0.0, 1.0]);
}

/// The blocked, grouped consensus sum against the plain formula: several blocks, groups of
/// eight with some weights zero (failed evaluations at non-finite points, and weights that
/// underflow), a remainder, blocks with different smallest energies; the same bits on one
/// thread and on two.
#[test]
fn consensus_matches_the_formula_across_blocks_and_ignores_failed_points() {
    let (n, d, alpha) = (603, 7, 10.0); // n d >= 4096: the parallel path on two threads
    let pts: Vec<f64> = (0..n * d)
        .map(|i| ((i * 7919) % 1000) as f64 / 100.0 - 5.0)
        .collect();
    let mut vals: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 997) as f64 / 10.0)
        .collect();
    let mut bad = pts.clone();
    for i in (0..n).step_by(7) {
        vals[i] = f64::NAN;
        bad[i * d] = f64::INFINITY;
        bad[i * d + 1] = f64::NAN;
    }
    // The serial path (a 1-thread pool) here, the parallel one on two threads below.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (v, ess) = one.install(|| consensus(&bad, &vals, d, alpha)).unwrap();
    let fmin = vals
        .iter()
        .filter(|f| f.is_finite())
        .fold(f64::INFINITY, |a, &b| a.min(b));
    let w: Vec<f64> = vals
        .iter()
        .map(|&f| {
            if f.is_finite() {
                (-alpha * (f - fmin)).exp()
            } else {
                0.0
            }
        })
        .collect();
    // The blocks of 256 have different smallest energies, so their sums are rescaled when
    // combined.
    let block_min = |b: &[f64]| {
        b.iter()
            .filter(|f| f.is_finite())
            .fold(f64::INFINITY, |a, &x| a.min(x))
    };
    let mins: Vec<f64> = vals.chunks(256).map(block_min).collect();
    assert!(mins.iter().any(|&m| m > fmin), "block minima {mins:?}");
    let zeros = w.iter().filter(|&&x| x == 0.0).count();
    assert!(
        zeros > n / 7 + 50,
        "weights that underflow are exercised ({zeros})"
    );
    let (sw, sw2): (f64, f64) = (w.iter().sum(), w.iter().map(|x| x * x).sum());
    for j in 0..d {
        let want = (0..n)
            .filter(|&i| w[i] != 0.0)
            .map(|i| w[i] * pts[i * d + j])
            .sum::<f64>()
            / sw;
        assert!(
            (v[j] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "{j}: {} vs {want}",
            v[j]
        );
    }
    assert!((ess - sw * sw / sw2).abs() <= 1e-10 * ess, "ess {ess}");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (v2, ess2) = pool.install(|| consensus(&bad, &vals, d, alpha)).unwrap();
    assert_eq!((v, ess), (v2, ess2));
}

/// One CBO step by hand, for both noise models and with projection onto the bounds: the
/// consensus of the initial particles, then `x - λ dt (x - v) + σ √dt D(x - v) ξ` with `ξ` the
/// documented counter-based normals.
#[test]
fn one_cbo_step_matches_the_update_formula() {
    use optlab_core::Solver as _;
    for (noise, project, normals) in [
        (Noise::Anisotropic, false, NormalPrecision::Single),
        (Noise::Isotropic, false, NormalPrecision::Single),
        (Noise::Anisotropic, true, NormalPrecision::Single),
        (Noise::Anisotropic, false, NormalPrecision::Double),
        (Noise::Isotropic, true, NormalPrecision::Double),
    ] {
        let (n, d) = (70, 3); // 70 particles: two update chunks (64 + 6)
        let cfg = CboConfig {
            particles: n,
            noise,
            normals,
            sigma: 0.7,
            dt: 0.05,
            lambda: 1.3,
            project,
            init_low: -6.0,
            init_high: 6.0,
            max_iters: 1,
            ..Default::default()
        };
        let p = || Box::new(TestFunction::new(Kind::Rastrigin, d).unwrap());
        let s0 = Cbo::new(cfg, p())
            .unwrap()
            .init(&mut RunContext::new(4))
            .unwrap();
        let (_, s1) = run_cbo(p(), cfg, &mut RunContext::new(4));
        let f = p();
        let energies: Vec<f64> = s0.x.chunks(d).map(|x| f.value(x)).collect();
        let (v, _) = consensus(&s0.x, &energies, d, cfg.alpha).unwrap();
        assert_eq!(s1.consensus, v);
        let mut xi = vec![0.0; n * d];
        normals.fill(Cbo::noise_key(s0.seed, 0), 0, &mut xi);
        let (ldt, ns) = (cfg.lambda * cfg.dt, cfg.sigma * cfg.dt.sqrt());
        let mut spread: f64 = 0.0;
        let mut clamped = false;
        for i in 0..n {
            let x = &s0.x[i * d..(i + 1) * d];
            let norm = x
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            for j in 0..d {
                let diff = x[j] - v[j];
                let amp = match noise {
                    Noise::Anisotropic => ns * diff.abs(),
                    Noise::Isotropic => ns * norm,
                };
                let mut want = x[j] - ldt * diff + amp * xi[i * d + j];
                if project {
                    clamped |= want.abs() > 5.12;
                    want = want.clamp(-5.12, 5.12);
                }
                let got = s1.x[i * d + j];
                // Anisotropic: the same expression in the same order, so the same bits; the
                // isotropic norm is summed in another order in the solver.
                let tol = match noise {
                    Noise::Anisotropic => 0.0,
                    Noise::Isotropic => 1e-14 * (1.0 + want.abs()),
                };
                assert!(
                    (got - want).abs() <= tol,
                    "{noise:?} project={project} particle {i} coordinate {j}: {got} vs {want}"
                );
                spread = spread.max((want - v[j]).abs());
            }
        }
        assert!(
            (s1.spread - spread).abs() <= 1e-13,
            "{} vs {spread}",
            s1.spread
        );
        if project {
            assert!(clamped, "the projection was exercised");
        }
    }
}

/// A step that overflows stops the run with NumericalFailure and keeps the last finite state.
#[test]
fn overflowing_cbo_stops_with_numerical_failure() {
    let cfg = CboConfig {
        particles: 20,
        sigma: 1e200,
        max_iters: 50,
        ..Default::default()
    };
    // Ackley stays finite at |x| ~ 1e199 (its exponentials saturate), so the first step's
    // particles are evaluated and the second step's update overflows.
    let mut s = Cbo::new(cfg, Box::new(TestFunction::new(Kind::Ackley, 4).unwrap())).unwrap();
    let (summary, state) = Driver::new(cfg.termination())
        .run(&mut s, &mut RunContext::new(1))
        .unwrap();
    assert!(
        matches!(summary.status, Status::NumericalFailure { .. }),
        "{:?}",
        summary.status
    );
    assert_eq!(summary.iterations, 1);
    assert!(state.x.iter().all(|v| v.is_finite()));
    assert!(
        state.x.iter().any(|v| v.abs() > 1e100),
        "the kept state is step 1's"
    );
}

#[test]
fn anisotropic_cbo_solves_2d_rastrigin_and_is_thread_count_independent() {
    let cfg = CboConfig {
        particles: 100,
        max_iters: 400,
        ..Default::default()
    };
    let p = || Box::new(TestFunction::new(Kind::Rastrigin, 2).unwrap());
    let (_, s1) = run_cbo(p(), cfg, &mut RunContext::new(3));
    let dist = s1.consensus.iter().map(|v| v.abs()).fold(0.0, f64::max);
    assert!(dist < 0.25, "consensus {:?}", s1.consensus);
    // Same seed on a 2-thread pool: identical particles.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let big = CboConfig {
        particles: 300,
        max_iters: 30,
        ..Default::default()
    };
    let q = || Box::new(TestFunction::new(Kind::Rastrigin, 20).unwrap());
    // One thread (the sequential path) against two (the parallel one).
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (_, a) = one.install(|| run_cbo(q(), big, &mut RunContext::new(9)));
    let (_, b) = pool.install(|| run_cbo(q(), big, &mut RunContext::new(9).with_threads(2)));
    assert_eq!(a, b);
    let (_, c) = run_cbo(q(), big, &mut RunContext::new(10));
    assert_ne!(a.x, c.x);
}

/// Rastrigin that fails (NaN) on half of the plane.
struct HalfNan(TestFunction);

impl BlackBox for HalfNan {
    fn name(&self) -> &str {
        "half-nan"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn value(&self, x: &[f64]) -> f64 {
        if x[0] > 1.5 {
            f64::NAN
        } else {
            self.0.value(x)
        }
    }
    fn known_minimizer(&self) -> Option<Vec<f64>> {
        Some(vec![0.0; self.dim()])
    }
}

#[test]
fn failed_evaluations_are_counted_and_the_run_goes_on() {
    let cfg = CboConfig {
        particles: 80,
        max_iters: 300,
        ..Default::default()
    };
    let (sum, s) = run_cbo(
        Box::new(HalfNan(TestFunction::new(Kind::Rastrigin, 2).unwrap())),
        cfg,
        &mut RunContext::new(1),
    );
    assert!(s.failed > 0);
    assert_eq!(sum.counts.get("f_failed"), s.failed);
    assert_eq!(sum.counts.get("f"), 80 * 300);
    assert!(
        s.consensus.iter().all(|v| v.abs() < 0.25),
        "{:?}",
        s.consensus
    );
}

#[test]
fn cbo_resume_equals_no_resume_and_budget_is_respected() {
    let cfg = CboConfig {
        particles: 50,
        max_iters: 40,
        ..Default::default()
    };
    let p = || Box::new(TestFunction::new(Kind::Ackley, 5).unwrap());
    let (full, fs) = run_cbo(p(), cfg, &mut RunContext::new(4));
    let cps = MemoryCheckpoints::new();
    let (part, _) = run_cbo(
        p(),
        cfg,
        &mut RunContext::new(4)
            .with_checkpoints(cps.clone(), 0)
            .with_cancel_after(Some(13)),
    );
    assert_eq!(part.status, Status::Cancelled);
    let (_, bytes) = cps.latest().unwrap();
    let (res, rs) = run_cbo(p(), cfg, &mut RunContext::new(4).with_resume(bytes));
    assert_eq!(res.iterations, full.iterations);
    assert_eq!(rs, fs);
    let budget = CboConfig {
        particles: 50,
        max_iters: 1000,
        max_evals: 1000,
        ..Default::default()
    };
    let (sum, s) = run_cbo(p(), budget, &mut RunContext::new(4));
    assert_eq!(sum.status, Status::MaxEvaluations);
    assert_eq!(s.evals, 1000);
}

#[test]
fn bad_cbo_input_is_a_clear_error() {
    let e = CboConfig {
        particles: 0,
        ..Default::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.contains("`particles`"), "{e}");
    let e = CboConfig {
        particles: 10,
        max_evals: 5,
        ..Default::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`max_evals`") && e.contains("smaller than one iteration"),
        "{e}"
    );
    let e = CboConfig {
        init_low: 1.0,
        init_high: -1.0,
        ..Default::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = Bounds::new(vec![0.0, 1.0], vec![1.0, 0.5])
        .unwrap_err()
        .to_string();
    assert!(e.contains("bounds[1]") && e.contains("inverted"), "{e}");
    assert!(Bounds::new(vec![], vec![]).is_err());
    assert!(TestFunction::new(Kind::Branin, 3).is_err());
}

#[test]
fn poll_directions_positively_span() {
    let mut rng = optlab_core::seed::stream(2, "poll");
    for n in [1usize, 2, 5, 12] {
        let dirs = householder_poll(n, &mut rng);
        assert_eq!(dirs.len(), n + 1);
        for d in &dirs {
            let m = d.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            assert!((m - 1.0).abs() < 1e-12);
        }
        // Positive spanning: every vector has a positive inner product with some direction
        // (cosine measure > 0), checked on random and coordinate vectors.
        for t in 0..200 {
            let w: Vec<f64> = if t < 2 * n {
                (0..n)
                    .map(|i| {
                        if i == t / 2 {
                            if t % 2 == 0 { 1.0 } else { -1.0 }
                        } else {
                            0.0
                        }
                    })
                    .collect()
            } else {
                (0..n).map(|_| normal(&mut rng)).collect()
            };
            let best = dirs
                .iter()
                .map(|d| {
                    let dn = d.iter().map(|v| v * v).sum::<f64>().sqrt();
                    let wn = w.iter().map(|v| v * v).sum::<f64>().sqrt();
                    d.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / (dn * wn)
                })
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(best > 1e-3, "n = {n}: cosine {best}");
        }
    }
}

fn run_dsm(s: &mut Dsm, cfg: DsmConfig, ctx: &mut RunContext) -> Summary {
    Driver::new(cfg.termination()).run(s, ctx).unwrap().0
}

#[test]
fn cdsm_bookkeeping_bounds_and_progress() {
    let p = TestFunction::new(Kind::Branin, 2).unwrap();
    let x0 = protocol_start(p.bounds().unwrap(), 0);
    let cfg = DsmConfig {
        max_evals: 1500,
        ..Default::default()
    };
    let mut s = Dsm::new(cfg, Box::new(p.clone()), x0.clone()).unwrap();
    let rec = MemoryRecorder::default();
    let sum = run_dsm(
        &mut s,
        cfg,
        &mut RunContext::new(0).with_recorder(rec.clone()),
    );
    let rows = rec.rows();
    // Monotone best value; evaluations within the budget; radius doubles or halves.
    for w in rows.windows(2) {
        assert!(w[1].values["best_f"] <= w[0].values["best_f"]);
        let (r0, r1) = (w[0].values["r_dsm"], w[1].values["r_dsm"]);
        let succ = w[1].values["last_success"];
        if succ == 0.0 {
            assert!(
                (r1 - r0 / 2.0).abs() < 1e-12 * r0,
                "failure halves: {r0} -> {r1}"
            );
        } else if succ >= 3.0 {
            assert!(r1 >= r0, "success does not shrink: {r0} -> {r1}");
        }
    }
    assert!(sum.counts.get("f") <= 1500);
    let gap = rows.last().unwrap().values["gap"];
    assert!(gap < 1e-4, "branin gap {gap}");
    // Points outside the box are never evaluated: a function that panics outside would catch it.
    struct Strict(TestFunction);
    impl BlackBox for Strict {
        fn name(&self) -> &str {
            "strict"
        }
        fn dim(&self) -> usize {
            2
        }
        fn bounds(&self) -> Option<&Bounds> {
            self.0.bounds()
        }
        fn value(&self, x: &[f64]) -> f64 {
            if self.0.bounds().unwrap().contains(x) {
                self.0.value(x)
            } else {
                f64::NAN
            }
        }
    }
    let mut s = Dsm::new(cfg, Box::new(Strict(p)), vec![9.9, 14.9]).unwrap();
    let sum = run_dsm(&mut s, cfg, &mut RunContext::new(1));
    assert_eq!(sum.counts.get("f_failed"), 0);
}

/// `min x1 + x2` s.t. `x1² + x2² <= 1` (optimum -√2 at -(1,1)/√2), box [-2, 2]².
struct Disk(Bounds);

impl BlackBox for Disk {
    fn name(&self) -> &str {
        "disk"
    }
    fn dim(&self) -> usize {
        2
    }
    fn bounds(&self) -> Option<&Bounds> {
        Some(&self.0)
    }
    fn value(&self, x: &[f64]) -> f64 {
        x[0] + x[1]
    }
    fn n_constraints(&self) -> usize {
        1
    }
    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        vec![x[0] * x[0] + x[1] * x[1] - 1.0]
    }
}

#[test]
fn barriers_handle_constraints() {
    let b = Bounds::cube(2, -2.0, 2.0).unwrap();
    let cfg = DsmConfig {
        max_evals: 3000,
        ..Default::default()
    };
    // Direct search creeps along a curved boundary (no rate guarantee): within 1e-2 of the
    // optimum, strictly feasible.
    let mut s = Dsm::new(cfg, Box::new(Disk(b.clone())), vec![0.0, 0.0]).unwrap();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut s, &mut RunContext::new(0))
        .unwrap();
    let best = sum.best_value.unwrap();
    assert!((best + 2f64.sqrt()).abs() < 1e-2, "extreme barrier: {best}");
    assert!(st.x[0] * st.x[0] + st.x[1] * st.x[1] <= 1.0);
    // Infeasible start: extreme barrier refuses with a clear error, progressive recovers.
    let mut s = Dsm::new(cfg, Box::new(Disk(b.clone())), vec![1.5, 1.5]).unwrap();
    let e = Driver::new(cfg.termination())
        .run(&mut s, &mut RunContext::new(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("infeasible start"), "{e}");
    let pb = DsmConfig {
        barrier: Barrier::Progressive,
        ..cfg
    };
    let mut s = Dsm::new(pb, Box::new(Disk(b)), vec![1.5, 1.5]).unwrap();
    let sum = run_dsm(&mut s, pb, &mut RunContext::new(0));
    let best = sum.best_value.unwrap();
    assert!(
        (best + 2f64.sqrt()).abs() < 1e-2,
        "progressive barrier: {best}"
    );
}

/// Φ(x) = W x.
struct Linear {
    w: Vec<Vec<f64>>,
}

impl Surrogate for Linear {
    fn input_dim(&self) -> usize {
        self.w[0].len()
    }
    fn output_dim(&self) -> usize {
        self.w.len()
    }
    fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        Ok(self
            .w
            .iter()
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect())
    }
    fn vjp(&self, _x: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        Ok((0..self.input_dim())
            .map(|j| self.w.iter().zip(v).map(|(r, vi)| r[j] * vi).sum())
            .collect())
    }
}

/// f(y) = t^T y.
struct LinearObjective(Vec<f64>);

impl OutputObjective for LinearObjective {
    fn value(&self, y: &[f64]) -> f64 {
        self.0.iter().zip(y).map(|(a, b)| a * b).sum()
    }
    fn grad(&self, _y: &[f64]) -> Vec<f64> {
        self.0.clone()
    }
}

#[test]
fn attacks_are_exact_on_a_linear_network() {
    let w = vec![vec![1.0, -2.0, 0.5, 0.0], vec![0.3, 1.0, -1.0, 2.0]];
    let t = vec![2.0, -1.0];
    let p = NetworkProblem::new(
        "linear",
        Arc::new(Linear { w: w.clone() }),
        Arc::new(LinearObjective(t.clone())),
        Bounds::cube(4, -10.0, 10.0).unwrap(),
        None,
    )
    .unwrap();
    let x = vec![0.1, 0.2, -0.3, 0.4];
    let r = 0.05;
    // W^T t = (1.7, -5, 2, -2): FGSM = r sign(W^T t).
    let (d, calls) = attack(&p, &x, r, AttackKind::Fgsm, 1).unwrap();
    assert_eq!(d, vec![r, -r, r, -r]);
    assert_eq!(calls, 2);
    // PGD reaches the ℓ∞-box maximizer of the linear objective exactly.
    let (d, calls) = attack(&p, &x, r, AttackKind::Pgd, 10).unwrap();
    assert_eq!(d, vec![r, -r, r, -r]);
    assert_eq!(calls, 11);
    // Class margin: gradient matches finite differences.
    let f = ClassMargin { class: 1 };
    let y = [0.3, -0.2, 1.1, 0.5];
    let g = f.grad(&y);
    for j in 0..4 {
        let mut yp = y;
        let mut ym = y;
        yp[j] += 1e-6;
        ym[j] -= 1e-6;
        assert!(((f.value(&yp) - f.value(&ym)) / 2e-6 - g[j]).abs() < 1e-8);
    }
}

#[test]
fn hybrid_improves_on_a_linear_surrogate_and_counts_network_calls() {
    let w = vec![
        vec![1.0, -2.0, 0.5, 0.0, 1.0, 0.2],
        vec![0.3, 1.0, -1.0, 2.0, 0.0, -0.4],
    ];
    let p = NetworkProblem::new(
        "linear",
        Arc::new(Linear { w }),
        Arc::new(LinearObjective(vec![2.0, -1.0])),
        Bounds::cube(6, 0.0, 1.0).unwrap(),
        None,
    )
    .unwrap();
    let x0 = vec![0.5; 6];
    for mode in [DsmMode::Hybrid, DsmMode::AttackOnly, DsmMode::Cdsm] {
        let cfg = DsmConfig {
            mode,
            max_evals: 300,
            ..Default::default()
        };
        let mut s = Dsm::with_surrogate(cfg, Box::new(p.clone()), x0.clone()).unwrap();
        let (sum, st) = Driver::new(cfg.termination())
            .run(&mut s, &mut RunContext::new(0))
            .unwrap();
        // Maximum of t^T W x on the unit box: sum of positive entries of W^T t.
        let best = -sum.best_value.unwrap();
        println!(
            "{mode:?}: {best} after {} evals, {} vjps",
            st.evals, st.vjps
        );
        assert!(best > 0.95 * 6.5, "{mode:?}: {best}");
        if mode == DsmMode::Cdsm {
            assert_eq!(st.vjps, 0);
        } else {
            assert!(st.vjps > 0);
        }
    }
    let _ = SurrogateProblem::black_box(&p);
}

/// A nonconvex model is minimized over its box, not stepped along its gradient: for
/// `g = (1, 0.1)`, `H = diag(2, -2)` on `||z||_inf <= 1` the minimizer is `(-0.5, -1)` (the
/// convex coordinate at its stationary point, the concave one at the bound its gradient points
/// to).
#[test]
fn nonconvex_model_is_minimized_over_the_box() {
    use optlab_classic::dfo::dsm::{box_model_minimizer, quadratic_model_point};
    use optlab_linalg::faer::Mat;
    let h = Mat::from_fn(2, 2, |i, j| match (i, j) {
        (0, 0) => 2.0,
        (1, 1) => -2.0,
        _ => 0.0,
    });
    let z = box_model_minimizer(&[1.0, 0.1], &h, 1.0);
    assert!(
        (z[0] + 0.5).abs() < 1e-8 && (z[1] + 1.0).abs() < 1e-12,
        "{z:?}"
    );
    // Through the search: samples of the saddle f = (x-1)^2 - (y-0.3)^2 + 5 around (0, 0); the
    // model point lowers f (the Newton point of this model would be the saddle (1, 0.3)).
    let f = |x: &[f64]| (x[0] - 1.0).powi(2) - (x[1] - 0.3).powi(2) + 5.0;
    let mut rng = optlab_core::seed::stream(3, "model");
    let cache: Vec<(Vec<f64>, f64)> = (0..30)
        .map(|_| {
            let x = vec![rng.random_range(-0.5..0.5), rng.random_range(-0.5..0.5)];
            let v = f(&x);
            (x, v)
        })
        .collect();
    let y = quadratic_model_point(&cache, &[0.0, 0.0]).unwrap();
    assert!(f(&y) < f(&[0.0, 0.0]) - 1.0, "{y:?}: {}", f(&y));
    assert!(
        (y[1] - 0.3).abs() > 0.5,
        "moves along the concave direction: {y:?}"
    );
}

/// `normals` in a config: absent means the default single-precision generator (a run recorded
/// before the option existed resumes with it, as documented), `"double"` selects the `f64`
/// one, anything else is an error naming the field.
#[test]
fn cbo_normals_setting_parses_and_names_the_field_on_error() {
    let old: CboConfig = toml::from_str("particles = 10").unwrap();
    assert_eq!(old.normals, NormalPrecision::Single);
    let double: CboConfig = toml::from_str("normals = \"double\"").unwrap();
    assert_eq!(double.normals, NormalPrecision::Double);
    let err = toml::from_str::<CboConfig>("normals = \"half\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("normals") && err.contains("half"), "{err}");
}
