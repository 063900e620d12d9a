//! Solve one constrained problem with AdaSketch-Newton and print the iteration log.
//!
//! `cargo run --release -p optlab-classic --example adasketch -- hs40 kaczmarz`

use optlab_classic::constrained::{AdaSketch, AdaSketchConfig, InnerSolver};
use optlab_core::{Driver, MemoryRecorder, RunContext};
use optlab_problems::CountedEq;
use optlab_problems::constrained::catalog;

fn main() -> optlab_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("hs40", String::as_str);
    let solver = match args.get(2).map_or("kaczmarz", String::as_str) {
        "gaussian" => InnerSolver::Gaussian,
        "block" => InnerSolver::Block,
        "exact-dense" => InnerSolver::ExactDense,
        "exact-sparse" => InnerSolver::ExactSparse,
        _ => InnerSolver::Kaczmarz,
    };
    let max_iters: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut table = catalog::default_table(name)?;
    if let Some(v) = args.get(4).and_then(|s| s.parse::<i64>().ok()) {
        let key = if name.starts_with("logreg") {
            "seed"
        } else {
            "grid"
        };
        table.insert(key.into(), toml::Value::Integer(v));
    }
    let problem = CountedEq::new(catalog::build(&table)?)?;
    let row_sampling = if std::env::var("ROWNORM").is_ok() {
        optlab_classic::constrained::RowSampling::RowNorm
    } else {
        optlab_classic::constrained::RowSampling::Uniform
    };
    let cfg = AdaSketchConfig {
        solver,
        row_sampling,
        max_iters,
        max_inner: std::env::var("MAX_INNER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000),
        kkt_tol: std::env::var("KKT_TOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1e-6),
        ..Default::default()
    };
    let mut s = AdaSketch::new(cfg, problem)?;
    let rec = MemoryRecorder::default();
    let mut ctx = RunContext::new(1).with_recorder(rec.clone());
    let (summary, state) = Driver::new(cfg.termination()).run(&mut s, &mut ctx)?;
    for r in rec.rows() {
        let g = |k: &str| r.values.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "{:4} f={:+.8e} kkt={:.2e} alpha={:.2e} inner={:6} eta1={:.1e} eta2={:.1e} delta={:.1e} mod={} ok={}",
            r.step,
            g("f"),
            g("kkt"),
            g("alpha"),
            g("inner_iters"),
            g("eta1"),
            g("eta2"),
            g("delta"),
            g("modified"),
            g("inner_ok")
        );
    }
    println!(
        "{}: {} after {} iterations",
        name,
        summary.status.label(),
        summary.iterations
    );
    println!("x = {:?}", state.x);
    Ok(())
}
