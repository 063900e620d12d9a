#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Golden values from the reference implementations (`fixtures/gen_dag.py`: numpy/scipy, the
//! released TOPO code and the reference `notears_linear`): scores, acyclicity functions and
//! their gradients at a fixed W; TOPO's candidate sets and its whole trajectory under the
//! released code's rule; NOTEARS' learned support.

use optlab_classic::dag::acyclic::{h_exp, h_logdet};
use optlab_classic::dag::score::{Score, ScoreKind, logdet_i_minus};
use optlab_classic::dag::{CandidateRule, Notears, NotearsConfig, Topo, TopoConfig};
use optlab_core::driver::{Driver, Solver};
use optlab_core::{RunContext, Status};
use optlab_problems::dag::{DagData, DagProblem};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/dag_golden.json")).unwrap()
}

fn mat(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect()
}

fn order(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn problem(f: &Value) -> DagProblem {
    let x = mat(&f["data"]["X"]);
    let d = f["data"]["d"].as_u64().unwrap() as usize;
    let n = f["data"]["n"].as_u64().unwrap() as usize;
    let mut truth = vec![false; d * d];
    for e in f["data"]["truth"].as_array().unwrap() {
        let e = order(e);
        truth[e[0] * d + e[1]] = true;
    }
    let names = (0..d).map(|j| format!("x{j}")).collect();
    DagProblem {
        name: "golden".into(),
        data: DagData::new("golden", x, n, d, names).unwrap(),
        truth: Some(truth),
        w_true: None,
    }
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{k}]: {x} vs {y}"
        );
    }
}

#[test]
fn scores_and_acyclicity_match_the_reference_at_a_fixed_w() {
    let f = fixture();
    let p = problem(&f);
    let d = p.data.d;
    let e = &f["W_eval"];
    let w = mat(&e["W"]);
    let s = Score::new(ScoreKind::Ls, p.data.gram(), d);
    let (v, g) = s.value_grad(&w).unwrap();
    close(&[v], &[e["ls"]["value"].as_f64().unwrap()], 1e-12, "ls");
    close(&g, &mat(&e["ls"]["grad"]), 1e-11, "ls grad");
    let (h, gh) = h_exp(&w, d).unwrap();
    close(
        &[h],
        &[e["h_exp"]["value"].as_f64().unwrap()],
        1e-12,
        "h_exp",
    );
    close(&gh, &mat(&e["h_exp"]["grad"]), 1e-12, "h_exp grad");
    let (h, gl) = h_logdet(&w, d, 1.0).unwrap();
    close(
        &[h],
        &[e["h_logdet"]["value"].as_f64().unwrap()],
        1e-12,
        "h_logdet",
    );
    close(&gl, &mat(&e["h_logdet"]["grad_abs"]), 1e-12, "h_logdet G");
    let (ld, _) = logdet_i_minus(&w, d).unwrap();
    close(
        &[ld],
        &[e["logdet_I_minus_W"]["log_abs_det"].as_f64().unwrap()],
        1e-12,
        "log det",
    );
    for (kind, key) in [
        (ScoreKind::LikelihoodNv, "lik_nv"),
        (ScoreKind::LikelihoodEv, "lik_ev"),
    ] {
        let s = Score::new(kind, p.data.gram(), d);
        let (fit, gfit) = s.fit(&w);
        close(&[fit], &[e[key]["fit"].as_f64().unwrap()], 1e-12, key);
        close(&gfit, &mat(&e[key]["grad_fit"]), 1e-10, key);
        let (full, gfull) = s.value_grad(&w).unwrap();
        close(&[full], &[e[key]["full"].as_f64().unwrap()], 1e-12, key);
        close(&gfull, &mat(&e[key]["grad_full"]), 1e-10, key);
    }
}

#[test]
fn topo_with_the_code_rule_follows_the_reference_trajectory() {
    let f = fixture();
    let p = problem(&f);
    let t = &f["topo_code"];
    let cfg = TopoConfig {
        candidates: CandidateRule::Code,
        size_small: 5,
        size_large: 15,
        no_large_search: 1,
        ..TopoConfig::default()
    };
    let init = order(&t["init_order"]);
    let mut topo = Topo::new(cfg, p).unwrap().with_order(init.clone()).unwrap();
    // The per-node least-squares start.
    close(
        &topo.raw_weights(&init).unwrap(),
        &mat(&t["W_ols_init"]),
        1e-9,
        "W*(init)",
    );
    // The initial candidate sets (the code's `find_idx_set_updated`; large minus small here).
    let (small, large) = topo.candidate_sets(&init).unwrap();
    let pairs = |v: &Value| -> Vec<(usize, usize)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().unwrap() as usize,
                    e[1].as_u64().unwrap() as usize,
                )
            })
            .collect()
    };
    let ref_small = pairs(&t["initial"]["small"]);
    assert_eq!(small, ref_small);
    let mut ref_large_minus: Vec<(usize, usize)> = pairs(&t["initial"]["large"])
        .into_iter()
        .filter(|e| !ref_small.contains(e))
        .collect();
    ref_large_minus.sort();
    let mut ours = large.clone();
    ours.sort();
    assert_eq!(ours, ref_large_minus);
    // The whole trajectory: order and loss after every outer iteration.
    let mut ctx = RunContext::new(0);
    let mut s = topo.init(&mut ctx).unwrap();
    let trace = t["trace"].as_array().unwrap();
    close(
        &[s.loss],
        &[trace[0]["loss"].as_f64().unwrap()],
        1e-10,
        "initial loss",
    );
    let mut stop = None;
    for step in &trace[1..] {
        let r = topo.step(&mut s, &mut ctx).unwrap();
        if step["phase"] == "stop" {
            stop = r.stop;
            break;
        }
        assert_eq!(
            s.order,
            order(&step["order"]),
            "iteration {}",
            step["iteration"]
        );
        close(&[s.loss], &[step["loss"].as_f64().unwrap()], 1e-10, "loss");
    }
    assert!(matches!(stop, Some(Status::Converged { .. })), "{stop:?}");
    assert_eq!(s.order, order(&t["order"]));
    close(
        &topo.raw_weights(&s.order).unwrap(),
        &mat(&t["W"]),
        1e-9,
        "final W",
    );
}

#[test]
fn notears_learns_the_reference_support() {
    let f = fixture();
    let p = problem(&f);
    let d = p.data.d;
    let r = &f["notears_ref"];
    let cfg = NotearsConfig::default();
    let mut nt = Notears::new(cfg, p).unwrap();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut nt, &mut RunContext::new(0))
        .unwrap();
    assert!(
        matches!(sum.status, Status::Converged { .. }),
        "{:?}",
        sum.status
    );
    let ours: Vec<(usize, usize)> = (0..d * d)
        .filter(|&k| nt.weights(&st)[k] != 0.0)
        .map(|k| (k / d, k % d))
        .collect();
    let mut refs: Vec<(usize, usize)> = r["support"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_u64().unwrap() as usize,
                e[1].as_u64().unwrap() as usize,
            )
        })
        .collect();
    refs.sort();
    assert_eq!(ours, refs);
    // Same problem, different quasi-Newton inner solver: the weights agree to ~1e-3.
    close(&nt.raw_weights(&st), &mat(&r["W_raw"]), 5e-3, "NOTEARS W");
}
