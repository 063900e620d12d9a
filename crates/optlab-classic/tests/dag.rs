#![allow(clippy::unwrap_used, clippy::expect_used)]
//! DAG learning: score and acyclicity derivatives, the expm, TOPO's inner solver (per-node
//! least squares) and its incremental swap evaluation, monotone outer iterations, the
//! local-optimality certificate, the oracle start, brute force over all orders for small d,
//! NOTEARS end to end, resume = no resume, and bad configurations.

use optlab_classic::dag::acyclic::{expm, h_exp, h_logdet, path_matrix};
use optlab_classic::dag::score::{Score, ScoreKind, matmul};
use optlab_classic::dag::{
    CandidateRule, Notears, NotearsConfig, Topo, TopoConfig, TopoInit, order_from_weights,
};
use optlab_core::context::MemoryCheckpoints;
use optlab_core::driver::{Driver, Solver};
use optlab_core::{RunContext, Status};
use optlab_problems::dag::{DagProblem, GraphKind, Noise, SemSpec, is_dag, simulate, support};

fn sem(d: usize, n: usize, seed: u64) -> DagProblem {
    simulate(&SemSpec {
        d,
        n,
        seed,
        ..SemSpec::default()
    })
    .unwrap()
}

fn random_w(d: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = optlab_core::seed::stream(seed, "w");
    (0..d * d)
        .map(|k| {
            if k / d == k % d {
                0.0
            } else {
                scale * optlab_core::seed::normal(&mut rng)
            }
        })
        .collect()
}

fn fd_check(f: impl Fn(&[f64]) -> f64, g: &[f64], w: &[f64], tol: f64) {
    let eps = 1e-6;
    for k in 0..w.len() {
        let mut a = w.to_vec();
        let mut b = w.to_vec();
        a[k] += eps;
        b[k] -= eps;
        let fd = (f(&a) - f(&b)) / (2.0 * eps);
        assert!(
            (fd - g[k]).abs() <= tol * (1.0 + fd.abs()),
            "entry {k}: finite difference {fd} vs gradient {}",
            g[k]
        );
    }
}

#[test]
fn score_gradients_match_finite_differences() {
    let p = sem(6, 300, 1);
    let w = random_w(6, 2, 0.3);
    for kind in [
        ScoreKind::Ls,
        ScoreKind::LikelihoodEv,
        ScoreKind::LikelihoodNv,
    ] {
        let s = Score::new(kind, p.data.gram(), 6);
        let (_, g) = s.value_grad(&w).unwrap();
        fd_check(|w| s.value_grad(w).unwrap().0, &g, &w, 1e-6);
    }
    // LS equals 1/(2n) ||X - XW||^2 computed from the data.
    let s = Score::new(ScoreKind::Ls, p.data.gram(), 6);
    let (n, d) = (p.data.n, p.data.d);
    let mut direct = 0.0;
    for i in 0..n {
        let row = &p.data.x[i * d..(i + 1) * d];
        for j in 0..d {
            let pred: f64 = (0..d).map(|k| row[k] * w[k * d + j]).sum();
            direct += (row[j] - pred).powi(2);
        }
    }
    assert!((s.fit(&w).0 - 0.5 * direct / n as f64).abs() < 1e-10);
}

#[test]
fn expm_matches_its_series_and_h_gradients_match_finite_differences() {
    let d = 5;
    for scale in [0.2, 3.0] {
        // 3.0 needs scaling and squaring
        let a = random_w(d, 7, scale);
        let e = expm(&a, d).unwrap();
        // Taylor series with enough terms, on A / 2^8 then squared back.
        let k = 8;
        let small: Vec<f64> = a.iter().map(|v| v / f64::powi(2.0, k)).collect();
        let mut term: Vec<f64> = (0..d * d)
            .map(|i| f64::from(u8::from(i / d == i % d)))
            .collect();
        let mut sum = term.clone();
        for m in 1..30 {
            term = matmul(&term, &small, d)
                .iter()
                .map(|v| v / m as f64)
                .collect();
            sum.iter_mut().zip(&term).for_each(|(s, t)| *s += t);
        }
        for _ in 0..k {
            sum = matmul(&sum, &sum, d);
        }
        for (x, y) in e.iter().zip(&sum) {
            assert!((x - y).abs() <= 1e-10 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
    let w = random_w(d, 3, 0.4);
    let (h, g) = h_exp(&w, d).unwrap();
    assert!(h > 0.0);
    fd_check(|w| h_exp(w, d).unwrap().0, &g, &w, 1e-6);
    // log-det: G = (I - |W|)^{-T} is the gradient with respect to |W|.
    let w = random_w(d, 4, 0.1);
    // Evaluate at a strictly positive point (|.| is not differentiable at the zero diagonal).
    let abs: Vec<f64> = w.iter().map(|v| v.abs().max(0.05)).collect();
    let (_, g) = h_logdet(&abs, d, 1.0).unwrap();
    fd_check(|a| h_logdet(a, d, 1.0).unwrap().0, &g, &abs, 1e-6);
    assert!(h_logdet(&random_w(d, 4, 5.0), d, 1.0).is_err());
    // h vanishes on DAGs.
    let p = sem(8, 100, 0);
    let wt = p.w_true.unwrap();
    assert!(h_exp(&wt, 8).unwrap().0.abs() < 1e-12);
    assert!(h_logdet(&wt, 8, 1.0).unwrap().0.abs() < 1e-12);
}

#[test]
fn path_matrix_is_the_inverse_of_i_minus_abs_w() {
    let p = sem(9, 100, 5);
    let w = p.w_true.unwrap();
    let order = optlab_problems::dag::topological_order(&p.truth.unwrap(), 9).unwrap();
    let n = path_matrix(&w, 9, &order);
    let (_, g) = h_logdet(&w, 9, 1.0).unwrap();
    for i in 0..9 {
        for j in 0..9 {
            assert!((n[j * 9 + i] - g[i * 9 + j]).abs() < 1e-10);
        }
    }
}

/// Least squares of column `j` on columns `parents` by the normal equations (faer Cholesky).
fn ols(p: &DagProblem, j: usize, parents: &[usize]) -> Vec<f64> {
    let (n, d) = (p.data.n, p.data.d);
    let k = parents.len();
    let a = optlab_linalg::faer::Mat::from_fn(k, k, |r, c| {
        (0..n)
            .map(|i| p.data.x[i * d + parents[r]] * p.data.x[i * d + parents[c]])
            .sum::<f64>()
    });
    let b: Vec<f64> = (0..k)
        .map(|r| {
            (0..n)
                .map(|i| p.data.x[i * d + parents[r]] * p.data.x[i * d + j])
                .sum()
        })
        .collect();
    optlab_linalg::Cholesky::new(&a).unwrap().solve(&b)
}

#[test]
fn inner_solver_is_per_node_least_squares() {
    let p = sem(7, 400, 2);
    let order = vec![3, 0, 6, 1, 5, 2, 4];
    let mut topo = Topo::new(TopoConfig::default(), p.clone()).unwrap();
    let w = topo.raw_weights(&order).unwrap();
    for k in 0..7 {
        let j = order[k];
        let beta = ols(&p, j, &order[..k]);
        for (m, &i) in order[..k].iter().enumerate() {
            assert!((w[i * 7 + j] - beta[m]).abs() < 1e-9, "W[{i},{j}]");
        }
        for &i in &order[k..] {
            assert_eq!(w[i * 7 + j], 0.0, "edge {i}->{j} is against the order");
        }
    }
}

#[test]
fn refit_is_per_node_least_squares_on_the_kept_support_and_stationary_there() {
    let (d, p) = (7, sem(7, 400, 2));
    // A cyclic support: a random W thresholded at 0.3 (18 edges, 2-cycles among them).
    let w: Vec<f64> = random_w(d, 11, 0.4)
        .into_iter()
        .map(|v| if v.abs() < 0.3 { 0.0 } else { v })
        .collect();
    assert!(w.iter().filter(|v| **v != 0.0).count() >= 10);
    assert!(!is_dag(&support(&w, f64::MIN_POSITIVE), d));
    let s = Score::new(ScoreKind::Ls, p.data.gram(), d);
    let r = s.refit(&w).unwrap();
    for j in 0..d {
        let parents: Vec<usize> = (0..d).filter(|&i| w[i * d + j] != 0.0).collect();
        let beta = if parents.is_empty() {
            vec![]
        } else {
            ols(&p, j, &parents)
        };
        for i in 0..d {
            let want = parents
                .iter()
                .position(|&q| q == i)
                .map_or(0.0, |m| beta[m]);
            assert!(
                (r[i * d + j] - want).abs() < 1e-9 * (1.0 + want.abs()),
                "refit W[{i},{j}] = {} vs normal equations {want}",
                r[i * d + j]
            );
        }
    }
    // The LS gradient vanishes on the support, and the score is below the unrefit one's.
    let (f, g) = s.fit(&r);
    for k in 0..d * d {
        if w[k] != 0.0 {
            assert!(g[k].abs() < 1e-10, "gradient {} on kept entry {k}", g[k]);
        }
    }
    assert!(f < s.fit(&w).0);
    // On the full support of an order it is TOPO's inner solution.
    let order = vec![3, 0, 6, 1, 5, 2, 4];
    let mut topo = Topo::new(TopoConfig::default(), p.clone()).unwrap();
    let full = topo.raw_weights(&order).unwrap();
    let again = s.refit(&full).unwrap();
    for k in 0..d * d {
        assert!(
            (again[k] - full[k]).abs() < 1e-9 * (1.0 + full[k].abs()),
            "entry {k}"
        );
    }
}

#[test]
fn refit_names_the_variable_whose_kept_parents_are_collinear() {
    // Variables 0 and 1 are identical (S has equal rows); node 2 keeps both as parents.
    let s = Score::new(
        ScoreKind::Ls,
        vec![2.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 3.0],
        3,
    );
    let w = vec![0.0, 0.0, 0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0];
    let e = s.refit(&w).unwrap_err().to_string();
    assert!(e.contains("variable 2") && e.contains("parent 1"), "{e}");
    // One of them alone is fine.
    let w = vec![0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let r = s.refit(&w).unwrap();
    assert!((r[2] - 0.5).abs() < 1e-15);
}

#[test]
fn topo_refit_option_refits_the_thresholded_output() {
    let p = sem(10, 300, 5);
    let base = TopoConfig::default();
    let refit = TopoConfig {
        refit: true,
        ..base
    };
    let (_, st, _) = run_topo(base, p.clone(), 1);
    let (_, st_r, _) = run_topo(refit, p.clone(), 1);
    assert_eq!(st.order, st_r.order, "the option changes the output only");
    let mut a = Topo::new(base, p.clone()).unwrap();
    let mut b = Topo::new(refit, p.clone()).unwrap();
    let s = Score::new(ScoreKind::Ls, p.data.gram(), 10);
    let w = a.weights(&st.order).unwrap();
    let wr = b.weights(&st.order).unwrap();
    let nnz = |v: &[f64]| v.iter().filter(|x| **x != 0.0).count();
    assert!(
        nnz(&a.raw_weights(&st.order).unwrap()) > nnz(&w),
        "the threshold removes edges, so there is something to refit"
    );
    assert_eq!(wr, s.refit(&w).unwrap());
    assert_ne!(wr, w);
    for k in 0..100 {
        assert_eq!(wr[k] != 0.0, w[k] != 0.0, "support of entry {k}");
    }
    let (ra, rb) = (a.report(&st).unwrap(), b.report(&st_r).unwrap());
    assert_eq!(ra.ls_refit, Some(rb.ls));
    assert!(rb.ls < ra.ls);
    assert_eq!(rb.accuracy, ra.accuracy);
    assert_eq!(ra.score_raw, rb.score_raw);
}

#[test]
fn swap_evaluation_equals_refitting_the_swapped_order() {
    let p = sem(10, 300, 3);
    let cfg = TopoConfig {
        candidates: CandidateRule::Code,
        ..TopoConfig::default()
    };
    let mut topo = Topo::new(cfg, p.clone()).unwrap();
    let order: Vec<usize> = vec![9, 2, 4, 0, 7, 1, 8, 3, 6, 5];
    // best_swap evaluates every pair incrementally; compare a few against full refits.
    let s = Score::new(ScoreKind::Ls, p.data.gram(), 10);
    let base = s.fit(&topo.raw_weights(&order).unwrap()).0;
    let best = topo.best_swap(&order).unwrap();
    let mut best_full = (f64::INFINITY, 0, 0);
    for a in 0..10 {
        for b in a + 1..10 {
            let mut o = order.clone();
            o.swap(a, b);
            let f = s.fit(&topo.raw_weights(&o).unwrap()).0;
            if f < best_full.0 {
                best_full = (f, order[b], order[a]);
            }
        }
    }
    let (i, j, l) = best.expect("a random order is not swap-optimal");
    assert!(l < base);
    assert_eq!((i, j), (best_full.1, best_full.2));
    assert!((l - best_full.0).abs() < 1e-10 * base);
}

fn run_topo(
    cfg: TopoConfig,
    p: DagProblem,
    seed: u64,
) -> (Status, optlab_classic::dag::TopoState, Vec<f64>) {
    let mut solver = Topo::new(cfg, p).unwrap();
    let mut ctx = RunContext::new(seed);
    let mut losses = Vec::new();
    let mut s = solver.init(&mut ctx).unwrap();
    losses.push(s.loss);
    for _ in 0..1000 {
        let r = solver.step(&mut s, &mut ctx).unwrap();
        losses.push(s.loss);
        if let Some(st) = r.stop {
            return (st, s, losses);
        }
    }
    panic!("TOPO did not stop");
}

#[test]
fn outer_iterations_decrease_the_score_strictly_and_exit_at_a_swap_local_minimum() {
    for seed in 0..4 {
        let p = sem(15, 500, seed);
        let cfg = TopoConfig {
            candidates: CandidateRule::Code,
            size_large: 105,
            no_large_search: 1000,
            ..TopoConfig::default()
        };
        let (st, s, losses) = run_topo(cfg, p.clone(), seed);
        assert!(matches!(st, Status::Converged { .. }), "{st:?}");
        for w in losses.windows(2).take(losses.len() - 2) {
            assert!(
                w[1] < w[0],
                "score must drop at every accepted iteration: {losses:?}"
            );
        }
        assert_eq!(losses[losses.len() - 1], losses[losses.len() - 2]);
        // Certificate: with the large set = every pair and an unlimited large-search budget,
        // no single swap improves at exit.
        let mut t = Topo::new(cfg, p).unwrap();
        assert_eq!(t.best_swap(&s.order).unwrap(), None);
    }
}

#[test]
fn oracle_start_recovers_the_graph_and_makes_no_worsening_swap() {
    let p = sem(12, 20_000, 4);
    let cfg = TopoConfig {
        init: TopoInit::TrueOrder,
        ..TopoConfig::default()
    };
    let mut solver = Topo::new(cfg, p.clone()).unwrap();
    let mut ctx = RunContext::new(0);
    let s0 = solver.init(&mut ctx).unwrap();
    let (st, s, losses) = run_topo(cfg, p.clone(), 0);
    assert!(matches!(st, Status::Converged { .. }));
    assert!(losses.windows(2).all(|w| w[1] <= w[0]));
    assert!(s.loss <= s0.loss);
    let r = solver.report(&s).unwrap();
    assert_eq!(r.accuracy.unwrap().shd, 0, "{r:?}");
    // W on the true order is OLS on the true parents up to sampling noise.
    let w = solver.raw_weights(&s0.order).unwrap();
    let wt = p.w_true.unwrap();
    for (a, b) in w.iter().zip(&wt) {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
}

/// All permutations of 0..d (Heap's algorithm).
fn permutations(d: usize) -> Vec<Vec<usize>> {
    let mut a: Vec<usize> = (0..d).collect();
    let mut out = vec![a.clone()];
    let mut c = vec![0; d];
    let mut i = 0;
    while i < d {
        if c[i] < i {
            if i % 2 == 0 {
                a.swap(0, i);
            } else {
                a.swap(c[i], i);
            }
            out.push(a.clone());
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    out
}

#[test]
fn brute_force_over_all_orders_for_d6() {
    // TOPO's exit is a swap-local minimum; report how often it is the global one.
    let d = 6;
    let perms = permutations(d);
    assert_eq!(perms.len(), 720);
    let mut hits = 0;
    let trials = 6;
    for seed in 0..trials {
        let p = simulate(&SemSpec {
            d,
            n: 200,
            seed,
            edges_per_node: 1,
            noise: Noise::Gumbel,
            ..SemSpec::default()
        })
        .unwrap();
        let cfg = TopoConfig {
            candidates: CandidateRule::Code,
            no_large_search: 100,
            ..TopoConfig::default()
        };
        let s = Score::new(ScoreKind::Ls, p.data.gram(), d);
        let mut t = Topo::new(cfg, p.clone()).unwrap();
        let global = perms
            .iter()
            .map(|o| s.fit(&t.raw_weights(o).unwrap()).0)
            .fold(f64::INFINITY, f64::min);
        let (_, st, _) = run_topo(cfg, p, seed);
        assert!(st.loss >= global - 1e-12);
        assert_eq!(t.best_swap(&st.order).unwrap(), None);
        hits += usize::from(st.loss <= global + 1e-9 * global.abs());
    }
    eprintln!("TOPO reached the global minimum over all 720 orders in {hits}/{trials} cases");
    assert!(hits >= 1);
}

#[test]
fn notears_learns_a_dag_and_topo_post_processing_does_not_worsen_it() {
    let p = simulate(&SemSpec {
        d: 8,
        n: 1000,
        seed: 3,
        ..SemSpec::default()
    })
    .unwrap();
    let mut nt = Notears::new(NotearsConfig::default(), p.clone()).unwrap();
    let (sum, st) = Driver::new(NotearsConfig::default().termination())
        .run(&mut nt, &mut RunContext::new(0))
        .unwrap();
    assert!(
        matches!(sum.status, Status::Converged { .. }),
        "{:?}",
        sum.status
    );
    assert!(st.h <= 1e-8);
    let rep = nt.report(&st).unwrap();
    assert!(rep.is_dag);
    assert!(rep.accuracy.unwrap().shd <= 4, "{rep:?}");
    // Post-processing from NOTEARS' order: TOPO's raw score is never worse than the
    // least-squares refit on NOTEARS' order.
    let order = order_from_weights(&nt.weights(&st), 8, 0.3);
    let cfg = TopoConfig::default();
    let mut t = Topo::new(cfg, p.clone())
        .unwrap()
        .with_order(order.clone())
        .unwrap();
    let start = t.raw_weights(&order).unwrap();
    let s0 = Score::new(ScoreKind::Ls, p.data.gram(), 8).fit(&start).0;
    let (_, ts) = Driver::new(cfg.termination())
        .run(&mut t, &mut RunContext::new(0))
        .unwrap();
    assert!(ts.loss <= s0);
    assert!(t.report(&ts).unwrap().is_dag);
}

#[test]
fn resume_equals_no_resume() {
    let p = simulate(&SemSpec {
        d: 12,
        n: 300,
        seed: 9,
        graph: GraphKind::Sf,
        ..SemSpec::default()
    })
    .unwrap();
    let cfg = TopoConfig::default();
    let full = Driver::new(cfg.termination())
        .run(
            &mut Topo::new(cfg, p.clone()).unwrap(),
            &mut RunContext::new(4),
        )
        .unwrap();
    let cps = MemoryCheckpoints::new();
    let part = Driver::new(cfg.termination())
        .run(
            &mut Topo::new(cfg, p.clone()).unwrap(),
            &mut RunContext::new(4)
                .with_checkpoints(cps.clone(), 0)
                .with_cancel_after(Some(1)),
        )
        .unwrap();
    assert_eq!(part.0.status, Status::Cancelled);
    let (_, bytes) = cps.latest().unwrap();
    let rest = Driver::new(cfg.termination())
        .run(
            &mut Topo::new(cfg, p.clone()).unwrap(),
            &mut RunContext::new(4).with_resume(bytes),
        )
        .unwrap();
    assert_eq!(rest.1, full.1);
    assert_eq!(rest.0.iterations, full.0.iterations);

    let ncfg = NotearsConfig::default();
    let p = sem(6, 200, 1);
    let full = Driver::new(ncfg.termination())
        .run(
            &mut Notears::new(ncfg, p.clone()).unwrap(),
            &mut RunContext::new(0),
        )
        .unwrap();
    let cps = MemoryCheckpoints::new();
    Driver::new(ncfg.termination())
        .run(
            &mut Notears::new(ncfg, p.clone()).unwrap(),
            &mut RunContext::new(0)
                .with_checkpoints(cps.clone(), 0)
                .with_cancel_after(Some(3)),
        )
        .unwrap();
    let (_, bytes) = cps.latest().unwrap();
    let rest = Driver::new(ncfg.termination())
        .run(
            &mut Notears::new(ncfg, p).unwrap(),
            &mut RunContext::new(0).with_resume(bytes),
        )
        .unwrap();
    assert_eq!(rest.1, full.1);
}

#[test]
fn bad_configurations_are_named() {
    let p = sem(5, 100, 0);
    let e = Topo::new(
        TopoConfig {
            size_large: 11,
            ..TopoConfig::default()
        },
        p.clone(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("size_large") && e.contains("10 node pairs"),
        "{e}"
    );
    let e = Topo::new(TopoConfig::default(), p.clone())
        .unwrap()
        .with_order(vec![0, 1, 1, 2, 3])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("permutation"), "{e}");
    let e = Notears::new(
        NotearsConfig {
            lambda1: -1.0,
            ..NotearsConfig::default()
        },
        p,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("lambda1"), "{e}");
}
