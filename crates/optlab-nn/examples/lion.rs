//! Lion vs AdamW on a digits MLP (64-256-256-10), 3 seeds, with the authors' rule: Lion's lr
//! 3x smaller and its decoupled weight decay 3x larger than AdamW's.
//!
//! `cargo run --release -p optlab-nn --example lion`

use optlab_core::RunContext;
use optlab_nn::methods::{AdamWRun, DigitsMlp, LionRun, train};

fn main() -> optlab_core::Result<()> {
    let problem = DigitsMlp::default();
    let lion = LionRun {
        lr: 1e-3,
        weight_decay: 0.03,
        epochs: 20,
        ..Default::default()
    };
    let adamw = AdamWRun {
        lr: 3e-3,
        weight_decay: 0.01,
        epochs: 20,
        ..Default::default()
    };
    for seed in 0..3 {
        for (name, (opt, looping)) in [("lion", lion.parts()), ("adamw", adamw.parts())] {
            let summary = train(opt, looping, &problem, &mut RunContext::new(seed))?;
            println!(
                "seed {seed} {name:>5}: test accuracy {:.3}, optimizer state {} floats",
                summary.extra["test_acc"], summary.extra["optimizer_state"]
            );
        }
    }
    Ok(())
}
