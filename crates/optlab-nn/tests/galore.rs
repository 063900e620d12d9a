//! GaLore / Natural GaLore: refresh schedule, projection side and subspace, sign
//! canonicalization, keep/reset, Woodbury against a dense solve, memory formula, bad ranks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use optlab_nn::galore::{GaLoreConfig, GaLoreState, OnRefresh, Projection, woodbury_natural};
use optlab_nn::step::GradientTransform;

fn grad(m: usize, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = optlab_core::seed::stream(seed, "galore-test");
    (0..m * n)
        .map(|_| optlab_core::seed::normal(&mut rng) as f32)
        .collect()
}

fn transform(cfg: GaLoreConfig, m: usize, n: usize) -> (GaLoreConfig, GaLoreState) {
    let st = GaLoreState::new(&cfg, &[m * n, 3], &[Some((m, n)), None]).unwrap();
    (cfg, st)
}

/// One step; returns the change of the matrix parameter.
fn delta(t: &mut (GaLoreConfig, GaLoreState), m: usize, n: usize, g: &[f32]) -> Vec<f64> {
    let mut params = vec![vec![0.5f32; m * n], vec![0.0; 3]];
    let before = params[0].clone();
    t.apply(
        1e-2,
        &mut params,
        &[g.to_vec(), vec![0.1; 3]],
        &[true, false],
    )
    .unwrap();
    params[0]
        .iter()
        .zip(&before)
        .map(|(a, b)| f64::from(*a) - f64::from(*b))
        .collect()
}

#[test]
fn updates_lie_in_the_projected_subspace_for_both_sides() {
    for (m, n) in [(6usize, 10usize), (10, 6), (7, 7)] {
        let cfg = GaLoreConfig {
            rank: 3,
            ..Default::default()
        };
        let mut t = transform(cfg, m, n);
        let g = grad(m, n, 1);
        let d = delta(&mut t, m, n, &g);
        assert_eq!(d.len(), m * n);
        assert!(d.iter().any(|v| v.abs() > 1e-6));
        let p = &t.1.tensors[0].projector;
        let r = 3;
        // Residual of d outside the projector's span.
        let mut resid = 0.0f64;
        if m < n {
            // d = P N: (I - P Pᵀ) d = 0, P is m x r.
            for j in 0..n {
                let col: Vec<f64> = (0..m).map(|a| d[a * n + j]).collect();
                let coef: Vec<f64> = (0..r)
                    .map(|k| (0..m).map(|a| f64::from(p[a * r + k]) * col[a]).sum())
                    .collect();
                for a in 0..m {
                    let proj: f64 = (0..r).map(|k| f64::from(p[a * r + k]) * coef[k]).sum();
                    resid += (col[a] - proj).powi(2);
                }
            }
        } else {
            // d = N Q: d (I - Qᵀ Q) = 0, Q is r x n.
            for a in 0..m {
                let row: Vec<f64> = (0..n).map(|j| d[a * n + j]).collect();
                let coef: Vec<f64> = (0..r)
                    .map(|k| (0..n).map(|j| row[j] * f64::from(p[k * n + j])).sum())
                    .collect();
                for j in 0..n {
                    let proj: f64 = (0..r).map(|k| coef[k] * f64::from(p[k * n + j])).sum();
                    resid += (row[j] - proj).powi(2);
                }
            }
        }
        let norm: f64 = d.iter().map(|v| v * v).sum();
        assert!(resid.sqrt() < 1e-5 * norm.sqrt(), "({m}, {n}): {resid}");
        // Moments live in the projected space: max(m, n) x r.
        assert_eq!(t.1.tensors[0].m.len(), m.max(n) * r);
    }
}

#[test]
fn refresh_schedule_signs_and_keep_or_reset() {
    let cfg = GaLoreConfig {
        rank: 2,
        update_gap: 3,
        ..Default::default()
    };
    let mut t = transform(cfg, 5, 8);
    for k in 0..7 {
        delta(&mut t, 5, 8, &grad(5, 8, k));
    }
    assert_eq!(t.1.svd_count, 3, "SVDs at steps 0, 3, 6");
    // Sign canonicalization: G and -G give the same projector.
    let g = grad(5, 8, 11);
    let neg: Vec<f32> = g.iter().map(|v| -v).collect();
    let mut a = transform(cfg, 5, 8);
    let mut b = transform(cfg, 5, 8);
    delta(&mut a, 5, 8, &g);
    delta(&mut b, 5, 8, &neg);
    for (x, y) in a.1.tensors[0]
        .projector
        .iter()
        .zip(&b.1.tensors[0].projector)
    {
        assert!((x - y).abs() < 1e-5);
    }
    // keep: moments survive a refresh; reset: they restart from zero.
    let run = |on_refresh| {
        let c = GaLoreConfig {
            on_refresh,
            update_gap: 2,
            ..cfg
        };
        let mut t = transform(c, 5, 8);
        delta(&mut t, 5, 8, &grad(5, 8, 1));
        delta(&mut t, 5, 8, &grad(5, 8, 2));
        let before = t.1.tensors[0].m.clone();
        delta(&mut t, 5, 8, &grad(5, 8, 3)); // refresh here
        (before, t.1.tensors[0].m.clone())
    };
    let (kb, ka) = run(OnRefresh::Keep);
    let (_, ra) = run(OnRefresh::Reset);
    // With reset, m = (1 - b1) R exactly after the refresh step; with keep it also carries b1 m.
    let diff: f64 = ka
        .iter()
        .zip(&ra)
        .map(|(x, y)| f64::from(x - y).abs())
        .sum();
    let carried: f64 = kb.iter().map(|x| 0.9 * f64::from(*x).abs()).sum();
    assert!(diff > 0.1 * carried && carried > 0.0);
}

#[test]
fn woodbury_equals_the_dense_solve_including_repeated_columns() {
    let dim = 40;
    let mut rng = optlab_core::seed::stream(5, "woodbury");
    let mut cols: Vec<Vec<f64>> = (0..5)
        .map(|_| {
            (0..dim)
                .map(|_| optlab_core::seed::normal(&mut rng))
                .collect()
        })
        .collect();
    cols.push(cols[1].clone()); // rank-deficient G
    let g: Vec<f64> = (0..dim)
        .map(|_| optlab_core::seed::normal(&mut rng))
        .collect();
    for lambda in [1e-3, 1.0] {
        let w = woodbury_natural(&g, &cols, lambda).unwrap();
        // Check (λI + GGᵀ) w = g.
        let mut back: Vec<f64> = w.iter().map(|v| lambda * v).collect();
        for c in &cols {
            let cw: f64 = c.iter().zip(&w).map(|(a, b)| a * b).sum();
            back.iter_mut().zip(c).for_each(|(b, ci)| *b += ci * cw);
        }
        let err: f64 = back
            .iter()
            .zip(&g)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(err < 1e-9 * norm, "λ = {lambda}: {err}");
    }
    // Empty history: g / λ.
    assert_eq!(woodbury_natural(&[2.0], &[], 0.5).unwrap(), vec![4.0]);
}

#[test]
fn natural_galore_keeps_a_history_and_memory_is_accounted() {
    let cfg = GaLoreConfig {
        rank: 2,
        natural: true,
        history: 3,
        ..Default::default()
    };
    let mut t = transform(cfg, 5, 8);
    for k in 0..5 {
        delta(&mut t, 5, 8, &grad(5, 8, k));
    }
    assert_eq!(t.1.tensors[0].history.len(), 3);
    assert!(t.1.last_grad_sq_over_damping > 0.0);
    // Projector min(m,n) r + moments 2 max(m,n) r + history s max(m,n) r, plus Adam on the
    // 3-vector; f32. The history's s x s Gram matrix is f64 (two f32 each).
    let want = (5 * 2 + 2 * 8 * 2 + 3 * 8 * 2 + 2 * 3 * 3 + 2 * 3) * 4;
    assert_eq!(t.1.tensors[0].gram.len(), 3 * 3);
    assert_eq!(t.1.bytes(&cfg), want);
    let plain = GaLoreConfig {
        natural: false,
        ..cfg
    };
    assert_eq!(
        transform(plain, 5, 8).1.bytes(&plain),
        (5 * 2 + 2 * 8 * 2 + 2 * 3) * 4
    );
}

#[test]
fn bad_ranks_and_shapes_are_errors() {
    let cfg = GaLoreConfig {
        rank: 9,
        ..Default::default()
    };
    let err = GaLoreState::new(&cfg, &[40], &[Some((5, 8))]).unwrap_err();
    assert!(
        err.to_string().contains("rank") && err.to_string().contains("min(m, n)"),
        "{err}"
    );
    assert!(GaLoreState::new(&GaLoreConfig::default(), &[41], &[Some((5, 8))]).is_err());
    let mut t = transform(
        GaLoreConfig {
            rank: 2,
            ..Default::default()
        },
        5,
        8,
    );
    let mut params = vec![vec![0.0f32; 40]];
    assert!(
        t.apply(1e-2, &mut params, &[vec![0.0; 40]], &[true])
            .is_err()
    );
}

/// The reference code's two-sided (Tucker) projection: a rank-1 gradient `σ u vᵀ` at rank 1
/// gives the update `-lr α u vᵀ` on the first step (Adam's first normalized step is the sign,
/// the projector signs cancel), updates lie in both singular subspaces, the core and moments
/// are `r x r`, and the memory formula counts both projectors.
#[test]
fn two_sided_tucker_projection_by_hand() {
    let (m, n) = (5usize, 4usize);
    let u = [0.5f64, -0.5, 0.5, 0.5, 0.0];
    let v = [0.6f64, 0.0, -0.8, 0.0];
    let sigma = 3.0;
    let g: Vec<f32> = (0..m * n)
        .map(|k| (sigma * u[k / n] * v[k % n]) as f32)
        .collect();
    let cfg = GaLoreConfig {
        rank: 1,
        alpha: 0.25,
        eps: 1e-12,
        projection: Projection::TwoSidedTucker,
        ..Default::default()
    };
    let mut t = transform(cfg, m, n);
    assert_eq!(t.1.tensors[0].m.len(), 1, "r x r moments");
    let d = delta(&mut t, m, n, &g);
    for a in 0..m {
        for j in 0..n {
            let want = -1e-2 * 0.25 * u[a] * v[j];
            assert!(
                (d[a * n + j] - want).abs() < 1e-7,
                "{a},{j}: {} vs {want}",
                d[a * n + j]
            );
        }
    }
    // Memory: P (m x r) + Q (r x n) + two r x r moments, plus the plain tensor's moments.
    assert_eq!(t.1.bytes(&cfg), 4 * ((m + n) + 2 + 2 * 3));

    // General gradients at rank 2: D = P N Q lies in span(P) on the left and span(Qᵀ) on the
    // right, i.e. D = P Pᵀ D Qᵀ Q.
    let cfg2 = GaLoreConfig {
        rank: 2,
        projection: Projection::TwoSidedTucker,
        ..Default::default()
    };
    let (m, n) = (6usize, 9usize);
    let mut t = transform(cfg2, m, n);
    let g = grad(m, n, 3);
    let d = delta(&mut t, m, n, &g);
    let pq = &t.1.tensors[0].projector;
    assert_eq!(pq.len(), (m + n) * 2);
    let p = |a: usize, k: usize| f64::from(pq[a * 2 + k]);
    let q = |k: usize, j: usize| f64::from(pq[m * 2 + k * n + j]);
    // core = Pᵀ D Qᵀ (2 x 2), back = P core Q.
    let mut core = [[0.0f64; 2]; 2];
    for k in 0..2 {
        for l in 0..2 {
            core[k][l] = (0..m)
                .flat_map(|a| (0..n).map(move |j| (a, j)))
                .map(|(a, j)| p(a, k) * d[a * n + j] * q(l, j))
                .sum();
        }
    }
    let scale = d.iter().fold(0.0f64, |x, y| x.max(y.abs()));
    for a in 0..m {
        for j in 0..n {
            let back: f64 = (0..2)
                .flat_map(|k| (0..2).map(move |l| (k, l)))
                .map(|(k, l)| p(a, k) * core[k][l] * q(l, j))
                .sum();
            // d is a difference of f32 parameters near 0.5 (ulp 6e-8): 2.5 ulp, against
            // entries of size 1e-3.
            assert!(
                (back - d[a * n + j]).abs() < 1.5e-7,
                "{a},{j}: {back} vs {} (scale {scale})",
                d[a * n + j]
            );
        }
    }
}

/// Conformance: the state of every GaLore variant (one- and two-sided, Natural with its
/// history) round-trips through JSON bit for bit, across a refresh, and resuming from it
/// gives the same parameters as not stopping.
#[test]
fn state_round_trips_and_resume_equals_no_resume() {
    let (m, n) = (6usize, 9usize);
    for (natural, projection) in [
        (false, Projection::OneSided),
        (true, Projection::OneSided),
        (true, Projection::TwoSidedTucker),
    ] {
        let cfg = GaLoreConfig {
            rank: 2,
            update_gap: 4,
            natural,
            projection,
            history: 3,
            ..Default::default()
        };
        let grads: Vec<Vec<Vec<f32>>> = (0..10)
            .map(|k| vec![grad(m, n, 100 + k), vec![0.1 * k as f32; 3]])
            .collect();
        let run = |t: &mut (GaLoreConfig, GaLoreState),
                   p: &mut Vec<Vec<f32>>,
                   ks: std::ops::Range<usize>| {
            for k in ks {
                t.apply(1e-2, p, &grads[k], &[true, false]).unwrap();
            }
        };
        let p0 = vec![vec![0.5f32; m * n], vec![0.0; 3]];
        let mut a = transform(cfg, m, n);
        let mut pa = p0.clone();
        run(&mut a, &mut pa, 0..10);
        let mut b = transform(cfg, m, n);
        let mut pb = p0.clone();
        run(&mut b, &mut pb, 0..6);
        let saved = serde_json::to_string(&(&b.1, &pb)).unwrap();
        let (st, mut pb): (GaLoreState, Vec<Vec<f32>>) = serde_json::from_str(&saved).unwrap();
        assert_eq!(st, b.1, "round trip");
        let mut b = (cfg, st);
        run(&mut b, &mut pb, 6..10);
        assert_eq!(pa, pb, "resume = no resume ({natural}, {projection:?})");
        assert_eq!(a.1, b.1);
    }
}

/// Sizes are checked before anything changes: a gradient of the wrong size, or a state resumed
/// under another rank, is an error naming the tensor, and the state is left as it was.
#[test]
fn bad_sizes_are_errors_that_leave_the_state_alone() {
    let cfg = GaLoreConfig {
        rank: 2,
        natural: true,
        history: 3,
        ..Default::default()
    };
    let mut t = transform(cfg, 5, 8);
    delta(&mut t, 5, 8, &grad(5, 8, 1));
    let before = t.1.clone();
    // The matrix tensor with 39 entries (parameter and gradient alike).
    let mut params = vec![vec![0.5f32; 39], vec![0.0; 3]];
    let e = t
        .apply(
            1e-2,
            &mut params,
            &[vec![0.1; 39], vec![0.1; 3]],
            &[true, false],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor 0") && e.contains("5 x 8"), "{e}");
    assert_eq!(t.1, before);
    // The same state under rank 3: the stored projector and moments do not fit.
    t.0.rank = 3;
    let mut params = vec![vec![0.5f32; 40], vec![0.0; 3]];
    let e = t
        .apply(
            1e-2,
            &mut params,
            &[grad(5, 8, 2), vec![0.1; 3]],
            &[true, false],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor 0") && e.contains("projector"), "{e}");
    assert_eq!(t.1, before);
}
