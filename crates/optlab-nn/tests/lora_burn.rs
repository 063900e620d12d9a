//! burn 0.22.1's own LoRA (`Module::apply_lora`) put through the tests our `Lora` passes:
//! the adapted weight is `W0 + (α/r) A B` with `A` `[d_in, r]` and `B` `[r, d_out]` as in
//! `optlab_nn::lora`, `B` starts at zero, the adapter gradients are `s Gᵀ`-mapped exactly as
//! `Lora::lora_grads` maps them, the base (and the bias) never move, and three SGD steps taken
//! by burn's optimizer on a `Linear` module land on the weights our merge computes from the
//! same start. (burn's reparameterisation is correct; why optlab's models still use their own
//! is in docs/methods/lora.md.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::Tensor;
use burn::module::{Lora as BurnLora, Module};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, TensorData};
use optlab_nn::lora::{Lora, LoraTarget};

mod common;
use common::{rel_err, values};

const D_IN: usize = 6;
const D_OUT: usize = 4;
const RANK: usize = 2;
const ALPHA: f64 = 3.0;
const BATCH: usize = 5;
const LR: f64 = 0.05;

/// Batch `x` (`BATCH x D_IN`) and loss weights `c` (`BATCH x D_OUT`) of step `k`; the loss is
/// `L = Σ (x W' + b) ⊙ c`, so `∂L/∂W' = xᵀ c` and `∂L/∂b = Σ_rows c`.
fn batch(k: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..BATCH * D_IN)
        .map(|i| ((i * 7 + 3 * k) % 11) as f32 / 11.0 - 0.4)
        .collect();
    let c = (0..BATCH * D_OUT)
        .map(|i| ((i * 5 + k) % 7) as f32 / 7.0 - 0.5)
        .collect();
    (x, c)
}

fn xt_c(x: &[f32], c: &[f32]) -> Vec<f32> {
    let mut g = vec![0.0f32; D_IN * D_OUT];
    for r in 0..BATCH {
        for i in 0..D_IN {
            for j in 0..D_OUT {
                g[i * D_OUT + j] += x[r * D_IN + i] * c[r * D_OUT + j];
            }
        }
    }
    g
}

fn adapted() -> Linear {
    let device = Device::flex().autodiff();
    LinearConfig::new(D_IN, D_OUT)
        .init(&device)
        .apply_lora(BurnLora::new(RANK, ALPHA))
}

#[test]
fn burn_lora_has_our_layout_scale_and_zero_b() {
    let lin = adapted();
    let ad = lin.weight.adapter().expect("adapter attached");
    assert_eq!(ad.a.val().dims(), [D_IN, RANK]);
    assert_eq!(ad.b.val().dims(), [RANK, D_OUT]);
    assert_eq!(ad.scale, ALPHA / RANK as f64);
    assert!(values(ad.b.val()).iter().all(|&v| v == 0.0));
    // At init the adapted weight is the base.
    assert_eq!(values(lin.weight.val()), values(lin.weight.base()));
}

#[test]
fn burn_lora_steps_match_our_merge_and_gradient_map() {
    let device = Device::flex().autodiff();
    let mut lin = adapted();
    let w0 = values(lin.weight.base());
    let b0 = values(lin.bias.as_ref().unwrap().val());
    let ad = lin.weight.adapter().unwrap();
    let mut p = vec![values(ad.a.val()), values(ad.b.val())];
    let ours = Lora::new(
        vec![w0.clone(), b0.clone()],
        vec![LoraTarget {
            tensor: 0,
            rows: D_IN,
            cols: D_OUT,
        }],
        vec![],
        RANK,
        ALPHA,
    )
    .unwrap();
    let mut opt = SgdConfig::new().init();
    for k in 0..3 {
        let (x, c) = batch(k);
        let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [BATCH, D_IN]), &device);
        let ct = Tensor::<2>::from_data(TensorData::new(c.clone(), [BATCH, D_OUT]), &device);
        let grads = (lin.forward(xt) * ct).sum().backward();
        let ad = lin.weight.adapter().unwrap();
        let ga = values(ad.a.val().grad(&grads).expect("A has a gradient"));
        let gb = values(ad.b.val().grad(&grads).expect("B has a gradient"));
        assert!(
            lin.weight.base().grad(&grads).is_none(),
            "burn's LoRA base received a gradient"
        );
        // Our map of the full-weight gradient xᵀ c (and the bias gradient, frozen here).
        let gbias: Vec<f32> = (0..D_OUT)
            .map(|j| (0..BATCH).map(|r| c[r * D_OUT + j]).sum())
            .collect();
        let g = ours.lora_grads(&p, &[xt_c(&x, &c), gbias]).unwrap();
        assert_eq!(g.len(), 2, "only A and B are trained");
        assert!(
            rel_err(&ga, &g[0]) < 1e-5,
            "step {k}: dA {ga:?} vs {:?}",
            g[0]
        );
        if k == 0 {
            // B = 0, so dL/dA = s G Bᵀ = 0 exactly in both.
            assert!(ga.iter().chain(&g[0]).all(|&v| v == 0.0));
        }
        assert!(
            rel_err(&gb, &g[1]) < 1e-5,
            "step {k}: dB {gb:?} vs {:?}",
            g[1]
        );
        let gp = GradientsParams::from_grads(grads, &lin);
        lin = opt.step(LR, lin, gp);
        for (q, gq) in p.iter_mut().zip(&g) {
            q.iter_mut()
                .zip(gq)
                .for_each(|(v, d)| *v -= (LR as f32) * d);
        }
    }
    // The base and bias never moved; the adapted weight is our merge of the same factors.
    assert_eq!(values(lin.weight.base()), w0);
    assert_eq!(values(lin.bias.as_ref().unwrap().val()), b0);
    let ad = lin.weight.adapter().unwrap();
    assert!(rel_err(&values(ad.a.val()), &p[0]) < 1e-5);
    assert!(rel_err(&values(ad.b.val()), &p[1]) < 1e-5);
    assert!(values(ad.b.val()).iter().any(|&v| v != 0.0));
    let merged = ours.merge(&p).unwrap();
    let got = values(lin.weight.val());
    assert!(
        rel_err(&got, &merged[0]) < 1e-5,
        "burn {got:?} vs our merge {:?}",
        merged[0]
    );
    assert!(rel_err(&got, &w0) > 1e-4, "the adapters changed nothing");
}
