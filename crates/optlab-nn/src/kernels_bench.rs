//! The Lion step benchmark: our fused pass vs burn's built-in Lion and AdamW, against the
//! memory-traffic bound measured in the same run.
//!
//! The bound: a Lion step must read p, g, m and write p, m (20 bytes per f32 parameter). The
//! bandwidth is that of a fused in-place triad-like pass (`a = a + s * c`: read a and c, write
//! a, 12 bytes per element, no write-allocate traffic since every written line was just read)
//! over buffers of the same size, measured here; `memcpy` under-measures streaming bandwidth.

use crate::adamw::{AdamWConfig, AdamWState};
use crate::lion::lion_step;
use burn::Tensor;
use burn::optim::{AdamWConfig as BurnAdamWConfig, LionConfig as BurnLionConfig, Optimizer};
use burn::tensor::{Device, TensorData};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Milliseconds per step (median over repetitions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelBench {
    /// Parameters.
    pub n: usize,
    /// Repetitions per measurement.
    pub reps: usize,
    /// Threads of the rayon pool the measurement ran in.
    pub threads: usize,
    /// Our fused Lion.
    pub ours_lion_ms: f64,
    /// Our fused AdamW.
    pub ours_adamw_ms: f64,
    /// Our AdaGrad (torch convention; the same 20 bytes/parameter as Lion).
    pub ours_adagrad_ms: f64,
    /// burn 0.22.1 `Lion` (chain of tensor ops).
    pub burn_lion_ms: f64,
    /// burn 0.22.1 `AdamW`.
    pub burn_adamw_ms: f64,
    /// The in-place triad pass `a += s * c`.
    pub triad_ms: f64,
    /// Bandwidth of the triad pass, GB/s.
    pub triad_gbs: f64,
    /// Lion's 20 bytes/parameter at that bandwidth.
    pub lion_bound_ms: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn triad(a: &mut [f32], c: &[f32], s: f32) {
    for (a, c) in a.iter_mut().zip(c) {
        *a += s * *c;
    }
}

/// Run the benchmark on `n` parameters with `reps` repetitions, on the current rayon pool.
pub fn lion_kernel_bench(n: usize, reps: usize) -> KernelBench {
    let g: Vec<f32> = (0..n).map(|i| ((i % 1013) as f32 - 506.0) * 1e-3).collect();
    let mut p: Vec<f32> = (0..n).map(|i| ((i % 997) as f32) * 1e-3).collect();
    let mut m = vec![0.0f32; n];
    let ours_lion_ms = time_ms(reps, || {
        lion_step(&mut p, &g, &mut m, 1e-4, 0.9, 0.99, 0.1);
    });
    std::hint::black_box(&p);

    let mut params = vec![p.clone()];
    let grads = vec![g.clone()];
    let mut st = AdamWState::<f32>::new(&[n]);
    let cfg = AdamWConfig::default();
    let ours_adamw_ms = time_ms(reps, || {
        let _ = st.step(&cfg, 1e-3, &mut params, &grads, &[true]);
    });
    drop(params);

    let mut acc = vec![0.0f32; n];
    let mut pa = p.clone();
    let ours_adagrad_ms = time_ms(reps, || {
        crate::adagrad::adagrad_step(
            &mut pa,
            &g,
            &mut acc,
            1e-4,
            crate::adagrad::AdaGradConvention::Torch,
        );
    });
    std::hint::black_box(&pa);
    drop((pa, acc));

    let mut a = g.clone();
    let c = m.clone();
    let triad_ms = time_ms(reps, || triad(&mut a, &c, 1e-7));
    std::hint::black_box(&a);
    let triad_gbs = 12.0 * n as f64 / (triad_ms * 1e-3) / 1e9;
    let lion_bound_ms = 20.0 * n as f64 / (triad_gbs * 1e9) * 1e3;
    drop(a);

    let device = Device::flex();
    let gt = Tensor::<1>::from_data(TensorData::new(g.clone(), [n]), &device);
    let lion = BurnLionConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.99)
        .with_weight_decay(0.1)
        .build();
    let mut pt = Tensor::<1>::from_data(TensorData::new(p.clone(), [n]), &device);
    let (next, mut state) = lion.step(1e-4, pt, gt.clone(), None);
    pt = next;
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let (next, s) = lion.step(1e-4, pt, gt.clone(), state);
        // Force completion of the lazy/async work, if any, before stopping the clock.
        let _ = next.clone().slice(0..1).into_data();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        pt = next;
        state = s;
    }
    let burn_lion_ms = median(times);
    drop((pt, state));

    let adamw = BurnAdamWConfig::new().with_weight_decay(1e-4).build();
    let mut pt = Tensor::<1>::from_data(TensorData::new(p, [n]), &device);
    let (next, mut state) = adamw.step(1e-3, pt, gt.clone(), None);
    pt = next;
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let (next, s) = adamw.step(1e-3, pt, gt.clone(), state);
        let _ = next.clone().slice(0..1).into_data();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        pt = next;
        state = s;
    }
    let burn_adamw_ms = median(times);

    KernelBench {
        n,
        reps,
        threads: rayon::current_num_threads(),
        ours_lion_ms,
        ours_adamw_ms,
        ours_adagrad_ms,
        burn_lion_ms,
        burn_adamw_ms,
        triad_ms,
        triad_gbs,
        lion_bound_ms,
    }
}

/// Training throughput of the digits MLP: optimizer steps only (no evaluation), fixed
/// pre-drawn batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpThroughput {
    /// Batch size.
    pub batch: usize,
    /// Steps timed.
    pub steps: usize,
    /// Samples per second (median of the repeats).
    pub samples_per_s: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Of which: forward + backward (burn) per step.
    pub grad_ms_per_step: f64,
}

/// `steps` batches of `batch` row indices drawn with replacement from `0..n` (stream `name`).
fn random_batches(n: usize, batch: usize, steps: usize, name: &str) -> Vec<Vec<usize>> {
    use rand::Rng as _;
    let mut rng = optlab_core::seed::stream(0, name);
    (0..steps)
        .map(|_| (0..batch).map(|_| rng.random_range(0..n)).collect())
        .collect()
}

/// Time `steps` Lion training steps of `mlp` on random batches of `data`, `repeats` times.
pub fn mlp_throughput(
    mlp: &crate::mlp::Mlp,
    data: &crate::mlp::Classification,
    batch: usize,
    steps: usize,
    repeats: usize,
) -> optlab_core::Result<MlpThroughput> {
    let batches = random_batches(data.len(), batch, steps, "throughput");
    let cfg = crate::lion::LionConfig {
        lr: 1e-3,
        weight_decay: 0.03,
        ..Default::default()
    };
    let decay = mlp.decay_mask();
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let mut totals = Vec::new();
    let mut grads_t = Vec::new();
    for _ in 0..repeats.max(1) + 1 {
        let mut params = mlp.init(&mut optlab_core::seed::stream(0, "init"));
        let mut st = crate::lion::LionState::<f32>::new(&mlp.param_sizes());
        let mut g_time = 0.0;
        let t = Instant::now();
        for idx in &batches {
            data.gather(idx, &mut xb, &mut yb);
            let tg = Instant::now();
            let (_, grads) = mlp.loss_and_grads(&params, &xb, &yb)?;
            g_time += tg.elapsed().as_secs_f64();
            st.step(&cfg, cfg.lr, &mut params, &grads, &decay)?;
        }
        totals.push(t.elapsed().as_secs_f64());
        grads_t.push(g_time);
    }
    totals.remove(0);
    grads_t.remove(0);
    let total = median(totals);
    let g = median(grads_t);
    Ok(MlpThroughput {
        batch,
        steps,
        samples_per_s: (batch * steps) as f64 / total,
        ms_per_step: 1e3 * total / steps as f64,
        grad_ms_per_step: 1e3 * g / steps as f64,
    })
}

/// SAM's cost relative to a plain step on the digits MLP: AdamW steps on fixed batches, plain
/// (one forward/backward) vs [`crate::step::sam_step`] (two, plus the perturbed copy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamOverhead {
    /// Batch size.
    pub batch: usize,
    /// Milliseconds per plain step (median of the repeats).
    pub plain_ms: f64,
    /// Milliseconds per SAM step.
    pub sam_ms: f64,
    /// `sam_ms / plain_ms`.
    pub ratio: f64,
}

/// Time `steps` plain and SAM steps (`rho = 0.05`) of `mlp`, `repeats` times each.
pub fn sam_overhead(
    mlp: &crate::mlp::Mlp,
    data: &crate::mlp::Classification,
    batch: usize,
    steps: usize,
    repeats: usize,
) -> optlab_core::Result<SamOverhead> {
    use crate::step::{GradientTransform, sam_step, step};
    let batches = random_batches(data.len(), batch, steps, "sam-overhead");
    let decay = mlp.decay_mask();
    let time = |sam: bool| -> optlab_core::Result<f64> {
        let mut totals = Vec::new();
        for _ in 0..repeats.max(1) + 1 {
            let mut params = mlp.init(&mut optlab_core::seed::stream(0, "init"));
            let mut t: Box<dyn GradientTransform> = Box::new((
                crate::adamw::AdamWConfig::default(),
                crate::adamw::AdamWState::<f32>::new(&mlp.param_sizes()),
            ));
            let (mut xb, mut yb) = (Vec::new(), Vec::new());
            let start = Instant::now();
            for idx in &batches {
                data.gather(idx, &mut xb, &mut yb);
                let mut loss = |p: &[Vec<f32>]| mlp.loss_and_grads(p, &xb, &yb);
                if sam {
                    sam_step(t.as_mut(), 1e-3, 0.05, &mut params, &decay, &mut loss)?;
                } else {
                    step(t.as_mut(), 1e-3, &mut params, &decay, &mut loss)?;
                }
            }
            totals.push(start.elapsed().as_secs_f64());
        }
        totals.remove(0);
        Ok(1e3 * median(totals) / steps as f64)
    };
    let plain_ms = time(false)?;
    let sam_ms = time(true)?;
    Ok(SamOverhead {
        batch,
        plain_ms,
        sam_ms,
        ratio: sam_ms / plain_ms,
    })
}

/// GaLore / Natural GaLore cost on one `m x n` weight matrix: a step that reuses the
/// projector, a step that recomputes it (SVD included), and their amortized mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GaLoreCost {
    /// Rows.
    pub m: usize,
    /// Columns.
    pub n: usize,
    /// Projection rank.
    pub rank: usize,
    /// Natural GaLore (history 20, damping 1e-3) instead of GaLore.
    pub natural: bool,
    /// Refresh period `T` the amortized figure uses.
    pub update_gap: u64,
    /// Milliseconds per step that reuses the projector (median).
    pub step_ms: f64,
    /// Milliseconds per step that refreshes it (median).
    pub refresh_ms: f64,
    /// `(refresh_ms - step_ms) / update_gap`: the refresh's share of every step.
    pub refresh_per_step_ms: f64,
    /// `step_ms + refresh_per_step_ms`.
    pub amortized_ms: f64,
    /// Our full-rank AdamW step on the same matrix (median), for scale.
    pub adamw_ms: f64,
}

/// Time GaLore (or Natural GaLore) on one seeded random `m x n` gradient, `reps` steps each,
/// after enough warm-up steps to fill Natural GaLore's history.
pub fn galore_cost(
    m: usize,
    n: usize,
    rank: usize,
    natural: bool,
    update_gap: u64,
    reps: usize,
) -> optlab_core::Result<GaLoreCost> {
    use crate::galore::{GaLoreConfig, GaLoreState};
    use crate::step::GradientTransform;
    let mut rng = optlab_core::seed::stream(0, "galore-cost");
    let g = vec![
        (0..m * n)
            .map(|_| optlab_core::seed::normal(&mut rng) as f32)
            .collect::<Vec<f32>>(),
    ];
    let decay = [false];
    // `warm` untimed steps (the last one is `time_ms`'s own warm-up), then `reps` timed ones.
    let time = |t: &mut dyn GradientTransform, warm: usize| -> optlab_core::Result<f64> {
        let mut p = vec![vec![0.0f32; m * n]];
        for _ in 1..warm {
            t.apply(1e-3, &mut p, &g, &decay)?;
        }
        let mut res = Ok(());
        let ms = time_ms(reps, || {
            if res.is_ok() {
                res = t.apply(1e-3, &mut p, &g, &decay);
            }
        });
        res.map(|()| ms)
    };
    let cfg = |gap: u64| GaLoreConfig {
        rank,
        update_gap: gap,
        natural,
        ..Default::default()
    };
    let warm = if natural { cfg(1).history + 1 } else { 2 };
    let galore = |gap: u64| -> optlab_core::Result<f64> {
        let c = cfg(gap);
        let st = GaLoreState::new(&c, &[m * n], &[Some((m, n))])?;
        time(&mut (c, st), warm)
    };
    // A gap beyond every step taken: only the first (warm-up) step computes an SVD.
    let step_ms = galore(u64::MAX)?;
    let refresh_ms = galore(1)?;
    let adamw_ms = time(
        &mut (AdamWConfig::default(), AdamWState::<f32>::new(&[m * n])),
        2,
    )?;
    let refresh_per_step_ms = (refresh_ms - step_ms) / update_gap as f64;
    Ok(GaLoreCost {
        m,
        n,
        rank,
        natural,
        update_gap,
        step_ms,
        refresh_ms,
        refresh_per_step_ms,
        amortized_ms: step_ms + refresh_per_step_ms,
        adamw_ms,
    })
}
