//! `optlab bench --only lm`: the tiny causal transformer LM on Tiny Shakespeare — training
//! throughput against the same model in jax/optax, and GaLore / Natural GaLore vs AdamW at
//! equal steps (validation loss, optimizer-state bytes, time per step).

use crate::bench::{Report, mean_curve, mean_sd, median, read_peer};
use anyhow::Result;
use optlab_nn::adamw::{AdamWConfig, AdamWState};
use optlab_nn::galore::{GaLoreConfig, GaLoreState};
use optlab_nn::lm::{LmData, TinyLm, TinyLmConfig};
use optlab_nn::step::{GradientTransform, step};
use optlab_nn::train::{Schedule, scheduled_lr};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::MarkdownTable;
use std::time::Instant;

const BATCH: usize = 32;
const VAL_WINDOWS: usize = 64;

struct Arm {
    label: String,
    galore: Option<GaLoreConfig>,
    lr: f64,
}

struct Out {
    curve: Vec<(f64, f64)>,
    val_loss: f64,
    bytes: usize,
    ms_per_step: f64,
    grad_sq_over_damping: f64,
    params: Vec<Vec<f32>>,
}

enum Opt {
    Adam(Box<(AdamWConfig, AdamWState<f32>)>),
    GaLore(Box<(GaLoreConfig, GaLoreState)>),
}

impl Opt {
    fn new(lm: &TinyLm, arm: &Arm) -> Result<(Self, usize)> {
        let sizes = lm.param_sizes();
        Ok(match arm.galore {
            Some(c) => {
                let st = GaLoreState::new(&c, &sizes, &lm.projectable_shapes())?;
                let b = st.bytes(&c);
                (Opt::GaLore(Box::new((c, st))), b)
            }
            None => {
                let st = AdamWState::<f32>::new(&sizes);
                let b = st.bytes();
                let c = AdamWConfig {
                    lr: arm.lr,
                    weight_decay: 0.0,
                    ..Default::default()
                };
                (Opt::Adam(Box::new((c, st))), b)
            }
        })
    }

    fn transform(&mut self) -> &mut dyn GradientTransform {
        match self {
            Opt::Adam(t) => t.as_mut(),
            Opt::GaLore(t) => t.as_mut(),
        }
    }
}

fn train(
    lm: &TinyLm,
    data: &LmData,
    arm: &Arm,
    steps: usize,
    eval_every: usize,
    seed: u64,
) -> Result<Out> {
    let (mut opt, bytes) = Opt::new(lm, arm)?;
    let mut params = lm.init(seed);
    let decay = vec![false; params.len()];
    let ctx = lm.cfg.ctx;
    let (vx, vy) = data.val_windows(VAL_WINDOWS, ctx);
    let mut rng = optlab_core::seed::stream(seed, "lm-batches");
    let mut curve = vec![(0.0, lm.loss(&params, &vx, &vy, VAL_WINDOWS)?)];
    let mut train_s = 0.0;
    let mut gsq = Vec::new();
    let warm = (steps / 10).max(1) as u64;
    for k in 0..steps {
        let (x, y) = data.batch(&mut rng, BATCH, ctx);
        let lr = scheduled_lr(Schedule::Cosine, arm.lr, k as u64, steps as u64, warm);
        let start = Instant::now();
        let mut loss = |p: &[Vec<f32>]| lm.loss_and_grads(p, &x, &y, BATCH);
        step(opt.transform(), lr, &mut params, &decay, &mut loss)?;
        train_s += start.elapsed().as_secs_f64();
        if let Opt::GaLore(g) = &opt
            && g.0.natural
        {
            gsq.push(g.1.last_grad_sq_over_damping);
        }
        if (k + 1) % eval_every == 0 || k + 1 == steps {
            curve.push(((k + 1) as f64, lm.loss(&params, &vx, &vy, VAL_WINDOWS)?));
        }
    }
    let val_loss = curve.last().map_or(f64::NAN, |p| p.1);
    Ok(Out {
        curve,
        val_loss,
        bytes,
        ms_per_step: 1e3 * train_s / steps as f64,
        grad_sq_over_damping: if gsq.is_empty() {
            f64::NAN
        } else {
            median(gsq)
        },
        params,
    })
}

/// The LM section.
pub fn lm(r: &mut Report, full: bool, threads: usize, seeds: u64) -> Result<()> {
    let data = LmData::tiny_shakespeare()?;
    let cfg = TinyLmConfig {
        vocab: data.vocab.len(),
        ..Default::default()
    };
    let model = TinyLm::new(cfg)?;
    data.check_window(cfg.ctx)?;
    throughput(r, &model, &data, full)?;

    let seeds = if full { seeds.min(3) } else { seeds.min(2) };
    let steps = if full { 2000 } else { 400 };
    let eval_every = steps / 20;
    let galore = GaLoreConfig {
        rank: 16,
        update_gap: 200,
        alpha: 0.25,
        ..Default::default()
    };
    let arms = vec![
        Arm {
            label: "AdamW (full rank), lr 1e-3".into(),
            galore: None,
            lr: 1e-3,
        },
        Arm {
            label: "AdamW (full rank), lr 1e-2".into(),
            galore: None,
            lr: 1e-2,
        },
        Arm {
            label: "GaLore r = 16, lr 1e-2".into(),
            galore: Some(galore),
            lr: 1e-2,
        },
        Arm {
            label: "Natural GaLore r = 16 (s = 20, λ = 1e-3), lr 1e-2".into(),
            galore: Some(GaLoreConfig {
                natural: true,
                ..galore
            }),
            lr: 1e-2,
        },
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut t = MarkdownTable::new(&[
        "arm",
        "val loss (mean ± sd, nats/char)",
        "optimizer state (bytes)",
        "state vs AdamW",
        "ms / step",
        "median ‖r‖²/λ",
    ]);
    let mut series = Vec::new();
    let mut json = Vec::new();
    let mut adam_bytes = None;
    let mut sample = String::new();
    for arm in &arms {
        let mut outs = Vec::new();
        for seed in 0..seeds {
            eprintln!("  lm: {} seed {seed}", arm.label);
            outs.push(pool.install(|| train(&model, &data, arm, steps, eval_every, seed))?);
        }
        let finals: Vec<f64> = outs.iter().map(|o| o.val_loss).collect();
        let (m, sd) = mean_sd(&finals);
        let bytes = outs[0].bytes;
        let adam = *adam_bytes.get_or_insert(bytes);
        let ms = median(outs.iter().map(|o| o.ms_per_step).collect());
        t.row(&[
            arm.label.clone(),
            format!("{m:.4} ± {sd:.4}"),
            format!("{bytes}"),
            format!("{:.2}x", bytes as f64 / adam as f64),
            format!("{ms:.1}"),
            if outs[0].grad_sq_over_damping.is_nan() {
                "-".into()
            } else {
                format!("{:.3}", outs[0].grad_sq_over_damping)
            },
        ]);
        let curves: Vec<&[(f64, f64)]> = outs.iter().map(|o| o.curve.as_slice()).collect();
        let mut s = Series::new(arm.label.clone(), Vec::new());
        for (x, mean, lo, hi) in mean_curve(&curves) {
            s.points.push((x, mean));
            s.band.push((x, lo, hi));
        }
        series.push(s);
        json.push(
            serde_json::json!({"arm": arm.label, "val_loss": m, "val_loss_sd": sd,
            "state_bytes": bytes, "ms_per_step": ms, "finals": finals,
            "grad_sq_over_damping": outs[0].grad_sq_over_damping}),
        );
        if sample.is_empty() {
            let prompt = data.vocab.encode("ROMEO:\n")?;
            let ids = model.generate(&outs[0].params, &prompt, 200, 0.8, 0)?;
            sample = data.vocab.decode(&ids);
        }
    }
    r.section(
        "Tiny LM on Tiny Shakespeare: GaLore and Natural GaLore vs AdamW (equal steps)",
        &format!(
            "Character-level causal transformer (`optlab_nn::lm`, {} parameters: width 64, 4 heads, \
             2 blocks, MLP 256, context 64), batch {BATCH} x 64 characters, {steps} steps, 10% linear \
             warm-up then cosine decay, {seeds} seeds, {threads} thread(s). Validation loss on \
             {VAL_WINDOWS} fixed windows of the last 10% of the text. GaLore projects the 8 attention \
             and MLP matrices (refresh every 200 steps, α = 0.25, moments kept); embeddings, norms, \
             biases and the head use the same Adam unprojected, as in the reference scripts. State \
             bytes count projectors, moments and Natural GaLore's history (f32).\n\n{}\n\
             Sample from the first AdamW seed (prompt `ROMEO:`, temperature 0.8):\n\n```text\n{}\n```\n",
            model.numel(),
            t.render(),
            sample
        ),
    );
    r.plot(
        "lm_galore_val_loss",
        &LinePlot {
            title: "tiny LM: validation loss (mean, min-max over seeds)".into(),
            x_label: "step".into(),
            y_label: "validation loss (nats/char)".into(),
            log_x: false,
            log_y: false,
            series,
        },
    )?;
    r.json.insert("lm_galore".into(), json.into());
    Ok(())
}

/// Training tokens/s on one thread, AdamW, the peer's batch and model.
fn throughput(r: &mut Report, lm: &TinyLm, data: &LmData, full: bool) -> Result<()> {
    let steps = if full { 200 } else { 40 };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let arm = Arm {
        label: "AdamW".into(),
        galore: None,
        lr: 1e-3,
    };
    let mut times = Vec::new();
    pool.install(|| -> Result<()> {
        let (mut opt, _) = Opt::new(lm, &arm)?;
        let mut params = lm.init(0);
        let decay = vec![false; params.len()];
        let mut rng = optlab_core::seed::stream(0, "lm-throughput");
        for rep in 0..4 {
            let start = Instant::now();
            for _ in 0..steps {
                let (x, y) = data.batch(&mut rng, BATCH, lm.cfg.ctx);
                let mut loss = |p: &[Vec<f32>]| lm.loss_and_grads(p, &x, &y, BATCH);
                step(opt.transform(), 1e-3, &mut params, &decay, &mut loss)?;
            }
            // The first repeat is warm-up.
            if rep > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        Ok(())
    })?;
    let ms = 1e3 * median(times) / steps as f64;
    let tps = (BATCH * lm.cfg.ctx) as f64 / (ms / 1e3);
    let peer = read_peer("tiny_lm_jax.json");
    let peer_tps = peer.as_ref().and_then(|p| p["tokens_per_s"].as_f64());
    let mut t = MarkdownTable::new(&["implementation", "tokens/s", "ms / step", "ratio to jax"]);
    t.row(&[
        "optlab (burn flex autodiff + fused AdamW)".into(),
        format!("{tps:.0}"),
        format!("{ms:.1}"),
        peer_tps.map_or("-".into(), |p| format!("{:.2}x", tps / p)),
    ]);
    if let (Some(p), Some(peer)) = (peer_tps, &peer) {
        t.row(&[
            format!(
                "jax {} + optax {} (jit, CPU)",
                peer["versions"]["jax"].as_str().unwrap_or("?"),
                peer["versions"]["optax"].as_str().unwrap_or("?")
            ),
            format!("{p:.0}"),
            format!("{:.1}", peer["ms_per_step"].as_f64().unwrap_or(f64::NAN)),
            "1.00x".into(),
        ]);
    }
    let mut text = format!(
        "AdamW training steps, batch {BATCH} x {} characters, 1 thread, median of 3 repeats of \
         {steps} steps after one warm-up repeat; random windows drawn outside the model call.\n\n{}",
        lm.cfg.ctx,
        t.render()
    );
    if peer_tps.is_none() {
        text.push_str(
            "\nNo jax peer figures: run `bench/peers/run_all.sh` (or `bench/peers/tiny_lm_jax.py`) first.\n",
        );
    }
    r.json.insert(
        "lm_throughput".into(),
        serde_json::json!({"tokens_per_s": tps, "ms_per_step": ms, "peer_tokens_per_s": peer_tps}),
    );
    r.section("Tiny LM training throughput", &text);
    Ok(())
}
