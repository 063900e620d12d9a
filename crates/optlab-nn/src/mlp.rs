//! A multilayer perceptron whose parameters live in flat `Vec<f32>` buffers.
//!
//! The forward and backward passes run on burn (flex CPU backend with autodiff); the
//! parameters stay ours, so optimizer steps are fused passes over plain slices, checkpoints
//! are plain vectors, and resuming is bit-exact.

use burn::Tensor;
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, TensorData};
use optlab_core::{Error, Result};
use rand::Rng as _;

/// Logit-gradient entries smaller than this in magnitude are flushed to zero (see
/// [`Mlp::loss_and_grads`]).
pub const GRAD_FLUSH: f64 = 1e-20;

/// Mean cross-entropy of row-major `logits` (`n x k`) and its gradient with respect to the
/// logits, `(softmax - onehot) / n`, with entries below [`GRAD_FLUSH`] set to 0.
pub fn softmax_cross_entropy_grad(logits: &[f32], y: &[usize], k: usize) -> (f64, Vec<f32>) {
    let n = y.len();
    let mut g = vec![0.0f32; n * k];
    let mut loss = 0.0f64;
    for (i, &c) in y.iter().enumerate() {
        let row = &logits[i * k..(i + 1) * k];
        let mx = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
        let s: f64 = row.iter().map(|&v| (f64::from(v) - mx).exp()).sum();
        let lse = mx + s.ln();
        loss += lse - f64::from(row[c]);
        for j in 0..k {
            let p = (f64::from(row[j]) - lse).exp();
            let v = (p - f64::from(u8::from(j == c))) / n as f64;
            g[i * k + j] = if v.abs() < GRAD_FLUSH { 0.0 } else { v as f32 };
        }
    }
    (loss / n as f64, g)
}

/// A dataset for classification: row-major features and labels in `0..n_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Row-major, `n * n_features`.
    pub x: Vec<f32>,
    /// Labels.
    pub y: Vec<usize>,
    /// Features per row.
    pub n_features: usize,
    /// Number of classes.
    pub n_classes: usize,
}

impl Classification {
    /// Rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Gather the rows `idx` into `(x, y)` buffers.
    pub fn gather(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<usize>) {
        x.clear();
        y.clear();
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.n_features..(i + 1) * self.n_features]);
            y.push(self.y[i]);
        }
    }
}

/// Layer sizes and parameters: `W_l` (fan_in x fan_out, row-major) then `b_l`, per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// `[inputs, hidden..., outputs]`.
    pub sizes: Vec<usize>,
}

impl Mlp {
    /// An MLP with these layer sizes (at least input and output).
    pub fn new(sizes: Vec<usize>) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::config(
                "hidden",
                format!("layer sizes must be >= 1 with an input and an output, got {sizes:?}"),
            ));
        }
        Ok(Mlp { sizes })
    }

    /// Sizes of the parameter tensors, in order `W_0, b_0, W_1, b_1, ...`.
    pub fn param_sizes(&self) -> Vec<usize> {
        self.sizes
            .windows(2)
            .flat_map(|w| [w[0] * w[1], w[1]])
            .collect()
    }

    /// Which tensors get weight decay (weights yes, biases no).
    pub fn decay_mask(&self) -> Vec<bool> {
        self.sizes.windows(2).flat_map(|_| [true, false]).collect()
    }

    /// Total parameters.
    pub fn numel(&self) -> usize {
        self.param_sizes().iter().sum()
    }

    /// PyTorch's default `nn.Linear` init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b.
    pub fn init(&self, rng: &mut optlab_core::seed::Rng) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for w in self.sizes.windows(2) {
            let bound = 1.0 / (w[0] as f32).sqrt();
            let mut draw = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            out.push(draw(w[0] * w[1]));
            out.push(draw(w[1]));
        }
        out
    }

    fn forward(&self, params: &[Tensor<2>], x: Tensor<2>) -> Tensor<2> {
        let layers = self.sizes.len() - 1;
        let mut h = x;
        for l in 0..layers {
            h = h.matmul(params[2 * l].clone()) + params[2 * l + 1].clone();
            if l + 1 < layers {
                h = relu(h);
            }
        }
        h
    }

    fn leaves(&self, params: &[Vec<f32>], device: &Device, grad: bool) -> Vec<Tensor<2>> {
        self.sizes
            .windows(2)
            .enumerate()
            .flat_map(|(l, w)| {
                let wt = Tensor::<2>::from_data(
                    TensorData::new(params[2 * l].clone(), [w[0], w[1]]),
                    device,
                );
                let bt = Tensor::<2>::from_data(
                    TensorData::new(params[2 * l + 1].clone(), [1, w[1]]),
                    device,
                );
                if grad {
                    [wt.require_grad(), bt.require_grad()]
                } else {
                    [wt, bt]
                }
            })
            .collect()
    }

    fn check(&self, params: &[Vec<f32>], x: &[f32], y: &[usize]) -> Result<usize> {
        let sizes = self.param_sizes();
        if params.len() != sizes.len() || params.iter().zip(&sizes).any(|(p, &n)| p.len() != n) {
            return Err(Error::Other(
                "mlp: parameter shapes do not match the layer sizes".into(),
            ));
        }
        let d = self.sizes[0];
        let k = *self.sizes.last().unwrap_or(&0);
        if y.is_empty() || x.len() != y.len() * d {
            return Err(Error::Other(format!(
                "mlp: batch of {} labels needs {} features, got {}",
                y.len(),
                y.len() * d,
                x.len()
            )));
        }
        if let Some(bad) = y.iter().find(|&&c| c >= k) {
            return Err(Error::Other(format!("mlp: label {bad} >= {k} classes")));
        }
        Ok(d)
    }

    /// Mean cross-entropy on the batch and its gradient for every parameter tensor.
    ///
    /// The loss and its gradient with respect to the logits, `(softmax - onehot) / batch`, are
    /// computed here in f64 from the logits; entries below [`GRAD_FLUSH`] in magnitude are set
    /// to 0; burn then back-propagates that gradient through the network (the backward pass of
    /// the surrogate `sum(logits * G)` with `G` constant). Without the flush, confident
    /// predictions produce subnormal gradients late in training and every matmul of the
    /// backward pass slows down about 4x on x86 (measured); XLA, the optax peer's compiler,
    /// flushes subnormals to zero on the CPU for the same reason. The change to the gradient is
    /// below 1e-20 per logit, far under f32 resolution.
    pub fn loss_and_grads(
        &self,
        params: &[Vec<f32>],
        x: &[f32],
        y: &[usize],
    ) -> Result<(f32, Vec<Vec<f32>>)> {
        let d = self.check(params, x, y)?;
        let k = *self.sizes.last().unwrap_or(&0);
        let device = Device::flex().autodiff();
        let leaves = self.leaves(params, &device, true);
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [y.len(), d]), &device);
        let logits = self.forward(&leaves, xt);
        let (loss, grads) = crate::flat::ce_backward(logits, y, k, "mlp: logits")?;
        let mut out = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let g = leaf
                .grad(&grads)
                .ok_or_else(|| Error::Other("mlp: a parameter received no gradient".into()))?;
            out.push(crate::flat::to_vec(g, "mlp: gradient")?);
        }
        Ok((loss as f32, out))
    }

    /// Half mean squared error `Σ ||Φ(x_i) - y_i||² / (2 n)` on a batch (row-major inputs `x`,
    /// targets `y` with `sizes.last()` columns) and its gradient for every parameter tensor.
    pub fn mse_and_grads(
        &self,
        params: &[Vec<f32>],
        x: &[f32],
        y: &[f32],
    ) -> Result<(f64, Vec<Vec<f32>>)> {
        let d = self.sizes[0];
        let k = *self.sizes.last().unwrap_or(&0);
        if x.is_empty() || !x.len().is_multiple_of(d) || y.len() != x.len() / d * k {
            return Err(Error::Other(format!(
                "mlp: {} inputs and {} targets do not form rows of {d} and {k}",
                x.len(),
                y.len()
            )));
        }
        let n = x.len() / d;
        let device = Device::flex().autodiff();
        let leaves = self.leaves(params, &device, true);
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), &device);
        let out = self.forward(&leaves, xt);
        let z = crate::flat::to_vec(out.clone(), "mlp: output")?;
        let mut loss = 0.0f64;
        let g: Vec<f32> = z
            .iter()
            .zip(y)
            .map(|(a, b)| {
                let r = f64::from(*a) - f64::from(*b);
                loss += r * r;
                (r / n as f64) as f32
            })
            .collect();
        let gt = Tensor::<2>::from_data(TensorData::new(g, [n, k]), &device);
        let grads = (out * gt).sum().backward();
        let mut outg = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let g = leaf
                .grad(&grads)
                .ok_or_else(|| Error::Other("mlp: a parameter received no gradient".into()))?;
            outg.push(crate::flat::to_vec(g, "mlp: gradient")?);
        }
        Ok((loss / (2.0 * n as f64), outg))
    }

    /// The outputs (logits) for the row-major inputs `x` (`rows x sizes[0]`).
    pub fn outputs(&self, params: &[Vec<f32>], x: &[f32]) -> Result<Vec<f32>> {
        let d = self.sizes[0];
        if x.is_empty() || !x.len().is_multiple_of(d) {
            return Err(Error::Other(format!(
                "mlp: {} input values are not a whole number of rows of {d}",
                x.len()
            )));
        }
        let sizes = self.param_sizes();
        if params.len() != sizes.len() || params.iter().zip(&sizes).any(|(p, &n)| p.len() != n) {
            return Err(Error::Other(
                "mlp: parameter shapes do not match the layer sizes".into(),
            ));
        }
        let device = Device::flex();
        let leaves = self.leaves(params, &device, false);
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [x.len() / d, d]), &device);
        self.forward(&leaves, xt)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Other(format!("mlp: output data: {e:?}")))
    }

    /// The input vector–Jacobian product `J(x)^T v` for one input `x` (burn autodiff with the
    /// input as the leaf; parameters are constants).
    pub fn input_vjp(&self, params: &[Vec<f32>], x: &[f32], v: &[f32]) -> Result<Vec<f32>> {
        let d = self.sizes[0];
        let k = *self.sizes.last().unwrap_or(&0);
        if x.len() != d || v.len() != k {
            return Err(Error::Other(format!(
                "mlp: VJP needs an input of {d} and a cotangent of {k}, got {} and {}",
                x.len(),
                v.len()
            )));
        }
        let device = Device::flex().autodiff();
        let leaves = self.leaves(params, &device, false);
        let xt =
            Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, d]), &device).require_grad();
        let vt = Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, k]), &device);
        let grads = (self.forward(&leaves, xt.clone()) * vt).sum().backward();
        let g = xt
            .grad(&grads)
            .ok_or_else(|| Error::Other("mlp: the input received no gradient".into()))?;
        g.into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Other(format!("mlp: input gradient data: {e:?}")))
    }

    /// Mean cross-entropy and accuracy (no gradients).
    pub fn evaluate(&self, params: &[Vec<f32>], data: &Classification) -> Result<(f64, f64)> {
        if data.is_empty() {
            return Err(Error::Other("mlp: empty evaluation set".into()));
        }
        let d = self.check(params, &data.x, &data.y)?;
        let k = *self.sizes.last().unwrap_or(&0);
        let device = Device::flex();
        let leaves = self.leaves(params, &device, false);
        let xt = Tensor::<2>::from_data(TensorData::new(data.x.clone(), [data.len(), d]), &device);
        let logp = crate::flat::to_vec(log_softmax(self.forward(&leaves, xt), 1), "mlp: output")?;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (i, &c) in data.y.iter().enumerate() {
            let row = &logp[i * k..(i + 1) * k];
            loss -= f64::from(row[c]);
            let mut best = 0;
            for j in 1..k {
                if row[j] > row[best] {
                    best = j;
                }
            }
            correct += usize::from(best == c);
        }
        let n = data.len() as f64;
        Ok((loss / n, correct as f64 / n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences on a tiny network in f64 arithmetic around f32 parameters.
    #[test]
    fn gradients_match_finite_differences() {
        let mlp = Mlp::new(vec![3, 4, 3]).unwrap();
        let mut rng = optlab_core::seed::stream(1, "init");
        let params = mlp.init(&mut rng);
        let x = vec![0.5, -1.0, 0.25, 1.5, 0.3, -0.7];
        let y = vec![2, 0];
        let (_, grads) = mlp.loss_and_grads(&params, &x, &y).unwrap();
        let h = 1e-2f32;
        let mut worst = 0.0f32;
        for t in 0..params.len() {
            for i in 0..params[t].len() {
                let mut p = params.clone();
                p[t][i] += h;
                let (fp, _) = mlp.loss_and_grads(&p, &x, &y).unwrap();
                p[t][i] -= 2.0 * h;
                let (fm, _) = mlp.loss_and_grads(&p, &x, &y).unwrap();
                let fd = (fp - fm) / (2.0 * h);
                worst = worst.max((fd - grads[t][i]).abs());
            }
        }
        assert!(worst < 2e-3, "max |fd - grad| = {worst}");
    }

    #[test]
    fn evaluate_matches_training_loss() {
        let mlp = Mlp::new(vec![2, 5, 3]).unwrap();
        let params = mlp.init(&mut optlab_core::seed::stream(4, "init"));
        let data = Classification {
            x: vec![0.1, 0.2, -0.3, 0.4, 1.0, -1.0],
            y: vec![0, 1, 2],
            n_features: 2,
            n_classes: 3,
        };
        let (l_train, _) = mlp.loss_and_grads(&params, &data.x, &data.y).unwrap();
        let (l_eval, acc) = mlp.evaluate(&params, &data).unwrap();
        assert!((f64::from(l_train) - l_eval).abs() < 1e-5);
        assert!((0.0..=1.0).contains(&acc));
    }

    /// By hand: logits (0, ln 3) for class 1: p = (1/4, 3/4), loss = ln(4/3),
    /// gradient (p - onehot) = (1/4, -1/4); a huge gap flushes the tiny entry to exactly 0.
    #[test]
    fn cross_entropy_gradient_by_hand_and_flush() {
        let (l, g) = softmax_cross_entropy_grad(&[0.0, 3f32.ln()], &[1], 2);
        assert!((l - (4.0f64 / 3.0).ln()).abs() < 1e-7);
        assert!((g[0] - 0.25).abs() < 1e-7 && (g[1] + 0.25).abs() < 1e-7);
        let (_, g) = softmax_cross_entropy_grad(&[0.0, 80.0], &[1], 2);
        assert_eq!(g[0], 0.0, "exp(-80) = 1.8e-35 < GRAD_FLUSH");
        let (_, g) = softmax_cross_entropy_grad(&[0.0, 30.0], &[1], 2);
        assert!(g[0] > 0.0, "exp(-30) = 9.4e-14 is kept");
    }

    #[test]
    fn bad_shapes_are_errors() {
        let mlp = Mlp::new(vec![2, 3]).unwrap();
        let params = mlp.init(&mut optlab_core::seed::stream(0, "init"));
        assert!(mlp.loss_and_grads(&params, &[1.0, 2.0, 3.0], &[0]).is_err());
        assert!(mlp.loss_and_grads(&params, &[1.0, 2.0], &[7]).is_err());
        assert!(Mlp::new(vec![3]).is_err());
    }
}
