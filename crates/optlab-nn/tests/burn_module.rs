//! `FlatModule`: a burn module (derived `Module`, burn `Linear` layers) as flat buffers and a
//! loss closure. Its gradients equal burn's own autodiff on the module and central differences;
//! LoRA-GGPO and SAM-LoRA then train the module's 2-D weights through our closure-level LoRA,
//! with the module's base weights untouched; bad buffers are errors naming the parameter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, TensorData};
use optlab_core::Result;
use optlab_nn::lora::{GgpoConfig, GgpoNoise, GgpoState, Lora, ggpo_step};
use optlab_nn::module::FlatModule;
use optlab_nn::step::sam_step;

mod common;
use common::{rel_err, values};

#[derive(Module, Debug)]
struct Net {
    l1: Linear,
    l2: Linear,
}

const D_IN: usize = 5;
const HIDDEN: usize = 7;
const D_OUT: usize = 3;
const BATCH: usize = 8;

fn device() -> Device {
    Device::flex().autodiff()
}

fn net() -> Net {
    let d = device();
    Net {
        l1: LinearConfig::new(D_IN, HIDDEN).init(&d),
        l2: LinearConfig::new(HIDDEN, D_OUT).init(&d),
    }
}

fn data() -> (Vec<f32>, Vec<f32>) {
    let x = (0..BATCH * D_IN)
        .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
        .collect();
    let y = (0..BATCH * D_OUT)
        .map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.4)
        .collect();
    (x, y)
}

/// Mean squared error of `tanh(x W1 + b1) W2 + b2` against `y`.
fn mse(m: &Net, x: &[f32], y: &[f32]) -> Tensor<1> {
    let d = device();
    let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [BATCH, D_IN]), &d);
    let yt = Tensor::<2>::from_data(TensorData::new(y.to_vec(), [BATCH, D_OUT]), &d);
    let h = m.l1.forward(xt).tanh();
    let e = m.l2.forward(h) - yt;
    (e.clone() * e).mean().reshape([1])
}

#[test]
fn flat_gradients_equal_burns_autodiff_and_central_differences() {
    let n = net();
    let (x, y) = data();
    // burn directly on the module.
    let grads = mse(&n, &x, &y).backward();
    let direct = [
        values(n.l1.weight.val().grad(&grads).unwrap()),
        values(n.l1.bias.as_ref().unwrap().val().grad(&grads).unwrap()),
        values(n.l2.weight.val().grad(&grads).unwrap()),
        values(n.l2.bias.as_ref().unwrap().val().grad(&grads).unwrap()),
    ];
    let flat = FlatModule::new(n).unwrap();
    assert_eq!(
        flat.names(),
        ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
    );
    assert_eq!(flat.shapes()[0], [D_IN, HIDDEN]);
    let p = flat.params().unwrap();
    let (loss, g) = flat.loss_and_grads(&p, |m| Ok(mse(m, &x, &y))).unwrap();
    assert!(loss.is_finite());
    for (i, (a, b)) in g.iter().zip(&direct).enumerate() {
        assert!(
            b.iter().any(|v| v.abs() > 1e-4),
            "tensor {i}: zero gradient"
        );
        assert!(rel_err(a, b) < 1e-6, "tensor {i}: {a:?} vs {b:?}");
    }
    // Central differences on a few entries of every tensor (f32 buffers, h = 1e-2).
    let h = 1e-2f32;
    for (t, k) in [(0, 3), (1, 2), (2, 10), (3, 1)] {
        let mut plus = p.clone();
        plus[t][k] += h;
        let mut minus = p.clone();
        minus[t][k] -= h;
        let lp = flat
            .loss_and_grads(&plus, |m| Ok(mse(m, &x, &y)))
            .unwrap()
            .0;
        let lm = flat
            .loss_and_grads(&minus, |m| Ok(mse(m, &x, &y)))
            .unwrap()
            .0;
        let fd = f64::from(lp - lm) / (2.0 * f64::from(h));
        let an = f64::from(g[t][k]);
        assert!(
            (fd - an).abs() < 2e-3 * (1.0 + an.abs()),
            "tensor {t} entry {k}: fd {fd} vs {an}"
        );
    }
}

#[test]
fn lora_ggpo_and_sam_train_a_burn_module_and_leave_its_base_alone() {
    let n = net();
    let (x, y) = data();
    let flat = FlatModule::new(n).unwrap();
    let base = flat.params().unwrap();
    // Adapt both weight matrices at rank 2; train the biases in full.
    let biases = vec![
        flat.index("l1.bias").unwrap(),
        flat.index("l2.bias").unwrap(),
    ];
    let lora = Lora::new(base.clone(), flat.matrix_targets(), biases, 2, 4.0).unwrap();
    assert_eq!(lora.targets().len(), 2);
    let mut model = |q: &[Vec<f32>]| -> Result<(f32, Vec<Vec<f32>>)> {
        flat.loss_and_grads(q, |m| Ok(mse(m, &x, &y)))
    };
    let first = model(&base).unwrap().0;
    for sam in [false, true] {
        let mut p = lora.init(3);
        let sizes = lora.param_sizes();
        let mut opt = common::adamw(1e-2, &sizes);
        let decay = vec![false; sizes.len()];
        let mut gg = GgpoState::new(3);
        let cfg = GgpoConfig {
            sigma: 0.05,
            beta: 0.5,
            noise: GgpoNoise::SumOfSquares,
        };
        for _ in 0..60 {
            if sam {
                sam_step(
                    &mut opt,
                    1e-2,
                    0.05,
                    &mut p,
                    &decay,
                    &mut lora.closure(&mut model),
                )
                .unwrap();
            } else {
                ggpo_step(
                    &mut opt, 1e-2, &lora, &mut p, &decay, &cfg, &mut gg, &mut model,
                )
                .unwrap();
            }
        }
        let last = model(&lora.merge(&p).unwrap()).unwrap().0;
        assert!(last < 0.8 * first, "sam {sam}: loss {first} -> {last}");
        // The module's own weights and the LoRA base are untouched.
        assert_eq!(flat.params().unwrap(), base);
        assert_eq!(lora.base(), &base[..]);
    }
}

#[test]
fn bad_buffers_name_the_parameter() {
    let flat = FlatModule::new(net()).unwrap();
    let mut p = flat.params().unwrap();
    p[2].pop();
    let e = flat.load(&p).unwrap_err().to_string();
    assert!(e.contains("`l2.weight`"), "{e}");
    p.pop();
    let e = flat.load(&p).unwrap_err().to_string();
    assert!(e.contains("3 parameter buffers"), "{e}");
    // A loss that is not a scalar.
    let p = flat.params().unwrap();
    let e = flat
        .loss_and_grads(&p, |m| Ok(m.l2.bias.as_ref().unwrap().val()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 elements"), "{e}");
    // A loss that ignores the parameters, and a module without autodiff.
    let e = flat
        .loss_and_grads(&p, |_| {
            Ok(Tensor::<1>::from_data(
                TensorData::new(vec![1.0f32], [1]),
                &device(),
            ))
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not depend"), "{e}");
    let plain = Net {
        l1: LinearConfig::new(D_IN, HIDDEN).init(&Device::flex()),
        l2: LinearConfig::new(HIDDEN, D_OUT).init(&Device::flex()),
    };
    let e = FlatModule::new(plain).unwrap_err().to_string();
    assert!(e.contains("autodiff"), "{e}");
}
