//! `optlab bench` section for AdAdaGrad: AdaGrad with adaptive batch sizes (norm test,
//! augmented inner-product test) against fixed-batch AdaGrad on digits softmax regression,
//! at equal samples; optimizer steps, test accuracy, batch size vs samples seen.

use crate::bench::{Report, mean_sd, median};
use anyhow::Result;
use optlab_core::record::MemoryRecorder;
use optlab_core::{Driver, RunContext, Termination};
use optlab_nn::adadagrad::{AdAdaGrad, AdAdaGradConfig, SoftmaxData, TestKind};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::{MarkdownTable, fmt_num};
use std::time::Instant;

struct Arm {
    label: String,
    cfg: AdAdaGradConfig,
}

struct Res {
    test_acc: Vec<f64>,
    train_loss: Vec<f64>,
    steps: Vec<f64>,
    final_batch: Vec<f64>,
    time_s: Vec<f64>,
    curve: Vec<(f64, f64)>,
}

fn run_arm(
    data: &SoftmaxData,
    cfg: AdAdaGradConfig,
    seeds: u64,
    record: bool,
    threads: usize,
) -> Result<Res> {
    let mut r = Res {
        test_acc: Vec::new(),
        train_loss: Vec::new(),
        steps: Vec::new(),
        final_batch: Vec::new(),
        time_s: Vec::new(),
        curve: Vec::new(),
    };
    for seed in 0..seeds {
        let mut t = AdAdaGrad::new(cfg, data.clone())?;
        let rec = MemoryRecorder::new();
        let mut ctx = RunContext::new(seed).with_threads(threads);
        if record && seed == 0 {
            ctx = ctx.with_recorder(rec.clone());
        }
        let start = Instant::now();
        let (sum, _) = Driver::new(Termination {
            max_iters: u64::MAX,
            max_time_s: None,
            fixed_length: true,
        })
        .run(&mut t, &mut ctx)?;
        r.time_s.push(start.elapsed().as_secs_f64());
        let g = |k: &str| sum.extra.get(k).copied().unwrap_or(f64::NAN);
        r.test_acc.push(g("test_acc"));
        r.train_loss.push(g("train_loss"));
        r.steps.push(g("steps"));
        r.final_batch.push(g("final_batch"));
        if record && seed == 0 {
            r.curve = rec
                .rows()
                .iter()
                .filter_map(|m| Some((*m.values.get("samples")?, *m.values.get("batch")?)))
                .collect();
        }
    }
    Ok(r)
}

/// The AdAdaGrad sections: softmax regression, a one-hidden-layer network, the MNIST-like set.
pub fn adadagrad(r: &mut Report, full: bool, threads: usize, seeds: u64) -> Result<()> {
    let seeds = if full { seeds } else { seeds.min(3) };
    let data = SoftmaxData::digits(0)?;
    section(r, &data, 150, seeds, threads, true)?;
    // The network: 64-32-10 tanh; a shorter budget and the main arms in the quick suite.
    section(
        r,
        &data.clone().with_hidden(32),
        if full { 150 } else { 50 },
        seeds,
        threads,
        full,
    )?;
    // The MNIST-like 16x16 set (3 distortions per image: 4311 train / 1080 test rows).
    let mnist = SoftmaxData::mnist_like(0, 3)?;
    section(r, &mnist, if full { 60 } else { 20 }, seeds, threads, full)
}

fn section(
    r: &mut Report,
    data: &SoftmaxData,
    epochs: u64,
    seeds: u64,
    threads: usize,
    all_arms: bool,
) -> Result<()> {
    let net = data.hidden > 0;
    let mnist = data.d == 256;
    let n = data.n();
    let budget = epochs * n as u64;
    let lrs = [0.03, 0.1, 0.3];
    let base = AdAdaGradConfig {
        max_samples: budget,
        eval_every_samples: budget,
        ..Default::default()
    };
    let mut arms = Vec::new();
    let batches: &[usize] = if all_arms {
        &[2, 8, 32, 128, n]
    } else {
        &[2, 32, n]
    };
    let etas: &[f64] = if all_arms {
        &[0.5, 1.0, 2.0, 4.0]
    } else {
        &[1.0, 2.0]
    };
    for &b in batches {
        arms.push(Arm {
            label: format!("constant b = {b}"),
            cfg: AdAdaGradConfig {
                test: TestKind::Constant,
                batch: b,
                ..base
            },
        });
    }
    for &eta in etas {
        arms.push(Arm {
            label: format!("norm test η = {eta} (b0 = 2)"),
            cfg: AdAdaGradConfig {
                test: TestKind::Norm,
                eta,
                batch: 2,
                ..base
            },
        });
    }
    arms.push(Arm {
        label: "augmented IP test θ = ν = 2 (b0 = 2)".into(),
        cfg: AdAdaGradConfig {
            test: TestKind::Augmented,
            theta: 2.0,
            nu: 2.0,
            batch: 2,
            ..base
        },
    });
    let mut t = MarkdownTable::new(&[
        "arm",
        "best lr",
        "optimizer steps",
        "steps vs b = 2",
        "test acc. (mean ± sd)",
        "vs b = 2",
        "train loss",
        "final batch",
        "time (s)",
    ]);
    let mut series = Vec::new();
    let mut json = Vec::new();
    let mut small_acc = f64::NAN;
    let mut small_steps = f64::NAN;
    let mut full_acc = f64::NAN;
    for arm in &arms {
        let adaptive = arm.cfg.test != TestKind::Constant;
        let mut best: Option<(f64, Res)> = None;
        for &lr in &lrs {
            let res = run_arm(
                data,
                AdAdaGradConfig { lr, ..arm.cfg },
                seeds,
                adaptive,
                threads,
            )?;
            let acc = mean_sd(&res.test_acc).0;
            if best
                .as_ref()
                .is_none_or(|(_, b)| acc > mean_sd(&b.test_acc).0)
            {
                best = Some((lr, res));
            }
        }
        let Some((lr, res)) = best else { continue };
        let (acc, sd) = mean_sd(&res.test_acc);
        let steps = median(res.steps.clone());
        if arm.cfg.test == TestKind::Constant && arm.cfg.batch == 2 {
            small_acc = acc;
            small_steps = steps;
        }
        t.row(&[
            arm.label.clone(),
            format!("{lr}"),
            fmt_num(steps),
            format!("{:.3}x", steps / small_steps),
            format!("{acc:.4} ± {sd:.4}"),
            format!("{:+.4}", acc - small_acc),
            fmt_num(median(res.train_loss.clone())),
            fmt_num(median(res.final_batch.clone())),
            format!("{:.2}", median(res.time_s.clone())),
        ]);
        if arm.cfg.test == TestKind::Constant && arm.cfg.batch == n {
            full_acc = acc;
        }
        if adaptive {
            series.push(Series::new(arm.label.clone(), res.curve.clone()));
        }
        json.push(
            serde_json::json!({"arm": arm.label, "lr": lr, "steps": steps,
            "test_acc": acc, "test_acc_sd": sd, "final_batch": median(res.final_batch.clone())}),
        );
    }
    let (title, model) = if mnist {
        (
            "AdAdaGrad on the MNIST-like set (16×16 distorted digits, softmax regression)",
            "Multinomial logistic regression on the generated MNIST-like set \
             (`optlab_problems::data::mnist_like`: each digits image upsampled to 16×16 under a \
             random rotation / scale / shift plus pixel noise, 3 copies per image, 256 features)"
                .to_string(),
        )
    } else if net {
        (
            "AdAdaGrad on a network (digits, 64-32-10 tanh MLP)",
            format!(
                "A one-hidden-layer tanh network ({} parameters, PyTorch-style init from the run \
                 seed; exact per-sample gradients in f64) on digits",
                data.dim()
            ),
        )
    } else {
        (
            "AdAdaGrad: adaptive batch sizes for AdaGrad (digits softmax regression)",
            "Multinomial logistic regression on digits (pixels / 16)".to_string(),
        )
    };
    r.section(
        title,
        &format!(
            "{model} ({n} train / {} test rows), \
             AdaGrad with torch conventions, budget {budget} samples ({epochs} epochs), {seeds} seeds; \
             each arm takes the best of lr ∈ {lrs:?} by mean test accuracy. Adaptive arms start \
             at b = 2 and grow the batch by their test after every step (never shrinking, capped \
             at {n}). Reference points: constant b = 2 reaches {} in {} steps; full batch \
             reaches {}. The papers file's η ∈ {{0.1, 0.25, 0.5}} send the batch to the cap \
             within a few steps on this problem (the per-sample gradient variance is large \
             relative to ||gB||² at the start), so the grid here is η ∈ {etas:?}.\n\n{}",
            data.n_test(),
            fmt_num(small_acc),
            fmt_num(small_steps),
            fmt_num(full_acc),
            t.render()
        ),
    );
    r.plot(
        if mnist {
            "adadagrad_mnist_like_batch_size"
        } else if net {
            "adadagrad_mlp_batch_size"
        } else {
            "adadagrad_batch_size"
        },
        &LinePlot {
            title: format!(
                "AdAdaGrad{}: batch size vs samples seen (seed 0, best lr)",
                if mnist {
                    " (MNIST-like)"
                } else if net {
                    " (MLP)"
                } else {
                    ""
                }
            ),
            x_label: "samples seen".into(),
            y_label: "batch size".into(),
            log_x: false,
            log_y: true,
            series,
        },
    )?;
    r.json.insert(
        if mnist {
            "adadagrad_mnist_like"
        } else if net {
            "adadagrad_mlp"
        } else {
            "adadagrad"
        }
        .into(),
        json.into(),
    );
    Ok(())
}
