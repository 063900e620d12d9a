//! Gradient-regularized Newton on regularized logistic regression (breast cancer), exact
//! Hessian vs the empirical-Fisher approximation.
//!
//! `cargo run -p optlab-classic --example grn`

use optlab_classic::newton::{Grn, GrnConfig};
use optlab_core::{Driver, MethodConfig, RunContext};
use optlab_problems::smooth::LogisticRegression;
use optlab_problems::{Counted, HessianKind};

fn main() -> optlab_core::Result<()> {
    for hessian in [HessianKind::Exact, HessianKind::Fisher] {
        let cfg = GrnConfig {
            hessian,
            ..Default::default()
        }
        .check()?;
        let problem = Counted::new(Box::new(LogisticRegression::breast_cancer(1e-3)?));
        let mut solver = Grn::new(*cfg, problem)?;
        let mut ctx = RunContext::new(0).with_threads(1);
        let (summary, state) =
            Driver::new(cfg.stopping().termination()).run(&mut solver, &mut ctx)?;
        println!(
            "{:>6}: {} after {} iterations, f = {:.12}, oracle calls {:?}, ||w|| = {:.4}",
            hessian.name(),
            summary.status.label(),
            summary.iterations,
            state.f,
            summary.counts.0,
            optlab_linalg::norm2(&state.x),
        );
    }
    Ok(())
}
