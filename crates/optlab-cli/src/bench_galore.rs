//! `optlab bench` section for GaLore / Natural GaLore vs AdamW on the digits MLP at equal
//! steps: test loss and accuracy, optimizer-state bytes and time per step. (The test
//! bed, the tiny transformer LM, is not built yet; this is the papers file's small-scale MLP
//! reproduction.)

use crate::bench::{Report, mean_sd, median};
use anyhow::Result;
use optlab_nn::adamw::{AdamWConfig, AdamWState};
use optlab_nn::galore::{GaLoreConfig, GaLoreState};
use optlab_nn::methods::DigitsMlp;
use optlab_nn::mlp::{Classification, Mlp};
use optlab_nn::step::{GradientTransform, step};
use optlab_report::table::MarkdownTable;
use rand::Rng as _;
use std::time::Instant;

struct Out {
    test_loss: f64,
    test_acc: f64,
    bytes: usize,
    ms_per_step: f64,
}

/// The digits MLP and its (train, test) sets.
type Task = (Mlp, Classification, Classification);

fn run(task: &Task, cfg: Option<GaLoreConfig>, lr: f64, steps: usize, seed: u64) -> Result<Out> {
    let (mlp, train, test) = task;
    let sizes = mlp.param_sizes();
    // W_0 (64 x 256) and W_1 (256 x 256) projected; the output layer and biases plain Adam.
    let layer = [64usize, 256, 256, 10];
    let shapes: Vec<Option<(usize, usize)>> = (0..sizes.len())
        .map(|i| (i % 2 == 0 && i / 2 < 2).then(|| (layer[i / 2], layer[i / 2 + 1])))
        .collect();
    let mut params = mlp.init(&mut optlab_core::seed::stream(seed, "init"));
    let decay = vec![false; sizes.len()];
    let (mut t, bytes): (Box<dyn GradientTransform>, usize) = match cfg {
        Some(c) => {
            let st = GaLoreState::new(&c, &sizes, &shapes)?;
            let b = st.bytes(&c);
            (Box::new((c, st)), b)
        }
        None => {
            let st = AdamWState::<f32>::new(&sizes);
            let b = st.bytes();
            (
                Box::new((
                    AdamWConfig {
                        lr,
                        weight_decay: 0.0,
                        ..Default::default()
                    },
                    st,
                )),
                b,
            )
        }
    };
    let mut rng = optlab_core::seed::stream(seed, "batches");
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for k in 0..steps {
        let idx: Vec<usize> = (0..64).map(|_| rng.random_range(0..train.len())).collect();
        train.gather(&idx, &mut xb, &mut yb);
        let mut loss = |p: &[Vec<f32>]| mlp.loss_and_grads(p, &xb, &yb);
        // 10% linear warm-up.
        let warm = (steps / 10).max(1);
        let lr_k = lr * ((k + 1) as f64 / warm as f64).min(1.0);
        step(t.as_mut(), lr_k, &mut params, &decay, &mut loss)?;
    }
    let ms_per_step = 1e3 * start.elapsed().as_secs_f64() / steps as f64;
    let (test_loss, test_acc) = mlp.evaluate(&params, test)?;
    Ok(Out {
        test_loss,
        test_acc,
        bytes,
        ms_per_step,
    })
}

/// The GaLore section.
pub fn galore(r: &mut Report, full: bool, seeds: u64) -> Result<()> {
    let seeds = if full { seeds } else { seeds.min(3) };
    let steps = if full { 3000 } else { 1000 };
    let task = DigitsMlp::default().build()?;
    let base = GaLoreConfig {
        update_gap: 200,
        alpha: 0.25,
        ..Default::default()
    };
    let mut arms: Vec<(String, Option<GaLoreConfig>, f64)> =
        vec![("AdamW (full rank)".into(), None, 1e-3)];
    for rank in [8usize, 32] {
        arms.push((
            format!("GaLore r = {rank}"),
            Some(GaLoreConfig { rank, ..base }),
            1e-2,
        ));
        arms.push((
            format!("Natural GaLore r = {rank} (s = 20, λ = 1e-3)"),
            Some(GaLoreConfig {
                rank,
                natural: true,
                ..base
            }),
            1e-2,
        ));
    }
    let mut t = MarkdownTable::new(&[
        "arm",
        "lr",
        "test loss (mean ± sd)",
        "test acc.",
        "optimizer state (bytes)",
        "ms / step",
    ]);
    let mut json = Vec::new();
    for (label, cfg, lr) in &arms {
        let mut outs = Vec::new();
        for seed in 0..seeds {
            eprintln!("  galore: {label} seed {seed}");
            outs.push(run(&task, *cfg, *lr, steps, seed)?);
        }
        let losses: Vec<f64> = outs.iter().map(|o| o.test_loss).collect();
        let (l, sd) = mean_sd(&losses);
        let acc = mean_sd(&outs.iter().map(|o| o.test_acc).collect::<Vec<_>>()).0;
        let ms = median(outs.iter().map(|o| o.ms_per_step).collect());
        t.row(&[
            label.clone(),
            format!("{lr}"),
            format!("{l:.4} ± {sd:.4}"),
            format!("{acc:.4}"),
            format!("{}", outs[0].bytes),
            format!("{ms:.3}"),
        ]);
        json.push(
            serde_json::json!({"arm": label, "test_loss": l, "test_loss_sd": sd,
            "test_acc": acc, "state_bytes": outs[0].bytes, "ms_per_step": ms}),
        );
    }
    r.section(
        "GaLore and Natural GaLore vs AdamW (digits MLP, equal steps)",
        &format!(
            "MLP 64-256-256-10 on digits (1437 train / 360 test), batch 64, {steps} steps with 10% \
             linear warm-up, {seeds} seeds. GaLore projects W_0 (64 x 256) and W_1 (256 x 256) \
             (refresh every 200 steps, α = 0.25, Adam in the projected space, moments kept across \
             refreshes); the output layer and the biases use the same Adam without projection. \
             Learning rates: the papers' (AdamW 1e-3, GaLore 1e-2). State bytes count projectors, \
             moments and Natural GaLore's gradient history (f32).\n\n{}",
            t.render()
        ),
    );
    r.json.insert("galore".into(), json.into());
    Ok(())
}
