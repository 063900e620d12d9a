//! A tiny causal transformer language model at the character level, trained on Tiny
//! Shakespeare — the test bed for GaLore / Natural GaLore here and for the RL issues later.
//!
//! The architecture is GPT-2's pre-norm block: token and learned position embeddings, `n_layer`
//! blocks of `x + attn(ln1(x))`, `x + mlp(ln2(x))` (causal multi-head attention; MLP
//! `d → d_ff → d` with exact GELU), a final layer norm and an untied output head. The forward
//! pass is built from burn's functional blocks — `embedding`, `layer_norm`, `linear` and the
//! scaled dot-product `attention` with causal masking, the same ops burn's `nn` modules call —
//! on parameters that live in flat `Vec<f32>` buffers, as for the MLP: every optimizer in the
//! crate (Lion, AdamW, AdaGrad, GaLore, …) applies unchanged, checkpoints are plain vectors and
//! resuming is bit-exact.
//!
//! ```no_run
//! use optlab_nn::lm::{LmData, TinyLm, TinyLmConfig};
//! # fn main() -> optlab_core::Result<()> {
//! let data = LmData::tiny_shakespeare()?;
//! let lm = TinyLm::new(TinyLmConfig { vocab: data.vocab.len(), ..Default::default() })?;
//! let params = lm.init(0);
//! let mut rng = optlab_core::seed::stream(0, "batches");
//! let (x, y) = data.batch(&mut rng, 8, lm.cfg.ctx);
//! let (loss, grads) = lm.loss_and_grads(&params, &x, &y, 8)?;
//! let text = lm.generate(&params, &data.vocab.encode("ROMEO:")?, 100, 1.0, 0)?;
//! println!("{loss} {} {}", grads.len(), data.vocab.decode(&text));
//! # Ok(()) }
//! ```

use crate::flat::{ce_backward, leaves, to_vec};
use crate::mlp::softmax_cross_entropy_grad;
use burn::Tensor;
use burn::tensor::activation::gelu;
use burn::tensor::module::{attention, embedding, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, TensorData};
use optlab_core::{Error, Result};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Layer-norm epsilon (PyTorch's default).
pub const LN_EPS: f64 = 1e-5;

/// A character vocabulary: the sorted distinct characters of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct CharVocab {
    chars: Vec<char>,
    index: BTreeMap<char, u32>,
}

impl CharVocab {
    /// The sorted distinct characters of `text` (an error for an empty text).
    pub fn from_text(text: &str) -> Result<Self> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.is_empty() {
            return Err(Error::Other("lm: the text is empty".into()));
        }
        let index = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u32))
            .collect();
        Ok(CharVocab { chars, index })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Never true (a vocabulary has at least one symbol).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Token ids of `s`; an error naming the first character outside the vocabulary.
    pub fn encode(&self, s: &str) -> Result<Vec<u32>> {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                self.index.get(&c).copied().ok_or_else(|| {
                    Error::Other(format!(
                        "lm: character {c:?} at position {i} is not in the vocabulary"
                    ))
                })
            })
            .collect()
    }

    /// The text of token ids (ids outside the vocabulary become U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{FFFD}'))
            .collect()
    }
}

/// Shape of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TinyLmConfig {
    /// Vocabulary size (65 for Tiny Shakespeare).
    pub vocab: usize,
    /// Context length (maximum sequence length).
    pub ctx: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub n_head: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Hidden width of the MLP.
    pub d_ff: usize,
}

impl Default for TinyLmConfig {
    /// 65 symbols, context 64, width 64, 4 heads, 2 blocks, MLP 256: 109k parameters.
    fn default() -> Self {
        TinyLmConfig {
            vocab: 65,
            ctx: 64,
            d_model: 64,
            n_head: 4,
            n_layer: 2,
            d_ff: 256,
        }
    }
}

impl TinyLmConfig {
    /// Every size at least 1 and `n_head` dividing `d_model`.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("vocab", self.vocab),
            ("ctx", self.ctx),
            ("d_model", self.d_model),
            ("n_head", self.n_head),
            ("n_layer", self.n_layer),
            ("d_ff", self.d_ff),
        ] {
            if v == 0 {
                return Err(Error::config(field, "must be at least 1"));
            }
        }
        if !self.d_model.is_multiple_of(self.n_head) {
            return Err(Error::config(
                "n_head",
                format!(
                    "{} heads do not divide d_model = {}",
                    self.n_head, self.d_model
                ),
            ));
        }
        Ok(())
    }
}

/// One parameter tensor: its name, shape, whether it gets weight decay, and whether GaLore
/// projects it (the reference scripts project the Linear weights of attention and MLP blocks
/// only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// Dotted name, e.g. `blocks.0.attn.qkv.w`.
    pub name: String,
    /// Shape; weights of linear maps are `[d_in, d_out]` (row-major, `y = x W + b`).
    pub shape: Vec<usize>,
    /// Weight decay applies (matrices and embeddings, not biases or norms).
    pub decay: bool,
    /// An attention or MLP weight matrix (GaLore's targets).
    pub projectable: bool,
}

impl ParamInfo {
    fn new(name: String, shape: Vec<usize>, decay: bool, projectable: bool) -> Self {
        ParamInfo {
            name,
            shape,
            decay,
            projectable,
        }
    }

    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The model (its shape; parameters are passed to every call).
#[derive(Debug, Clone, PartialEq)]
pub struct TinyLm {
    /// Shape.
    pub cfg: TinyLmConfig,
    info: Vec<ParamInfo>,
}

/// Leaves of one block, in [`TinyLm::params`] order.
const PER_BLOCK: usize = 12;

impl TinyLm {
    /// A model of the given shape.
    pub fn new(cfg: TinyLmConfig) -> Result<Self> {
        cfg.validate()?;
        let (v, t, d, f) = (cfg.vocab, cfg.ctx, cfg.d_model, cfg.d_ff);
        let mut info = vec![
            ParamInfo::new("tok_emb".into(), vec![v, d], true, false),
            ParamInfo::new("pos_emb".into(), vec![t, d], true, false),
        ];
        for l in 0..cfg.n_layer {
            let p = |s: &str| format!("blocks.{l}.{s}");
            info.extend([
                ParamInfo::new(p("ln1.g"), vec![d], false, false),
                ParamInfo::new(p("ln1.b"), vec![d], false, false),
                ParamInfo::new(p("attn.qkv.w"), vec![d, 3 * d], true, true),
                ParamInfo::new(p("attn.qkv.b"), vec![3 * d], false, false),
                ParamInfo::new(p("attn.out.w"), vec![d, d], true, true),
                ParamInfo::new(p("attn.out.b"), vec![d], false, false),
                ParamInfo::new(p("ln2.g"), vec![d], false, false),
                ParamInfo::new(p("ln2.b"), vec![d], false, false),
                ParamInfo::new(p("mlp.up.w"), vec![d, f], true, true),
                ParamInfo::new(p("mlp.up.b"), vec![f], false, false),
                ParamInfo::new(p("mlp.down.w"), vec![f, d], true, true),
                ParamInfo::new(p("mlp.down.b"), vec![d], false, false),
            ]);
        }
        info.extend([
            ParamInfo::new("ln_f.g".into(), vec![d], false, false),
            ParamInfo::new("ln_f.b".into(), vec![d], false, false),
            ParamInfo::new("head.w".into(), vec![d, v], true, false),
        ]);
        Ok(TinyLm { cfg, info })
    }

    /// The parameter tensors, in the order every call expects them.
    pub fn params(&self) -> &[ParamInfo] {
        &self.info
    }

    /// Sizes of the parameter tensors.
    pub fn param_sizes(&self) -> Vec<usize> {
        self.info.iter().map(ParamInfo::numel).collect()
    }

    /// Weight-decay mask.
    pub fn decay_mask(&self) -> Vec<bool> {
        self.info.iter().map(|p| p.decay).collect()
    }

    /// `(rows, cols)` of the attention and MLP weight matrices, `None` elsewhere — the shape
    /// argument of [`crate::galore::GaLoreState::new`].
    pub fn projectable_shapes(&self) -> Vec<Option<(usize, usize)>> {
        self.info
            .iter()
            .map(|p| p.projectable.then(|| (p.shape[0], p.shape[1])))
            .collect()
    }

    /// Total parameters.
    pub fn numel(&self) -> usize {
        self.param_sizes().iter().sum()
    }

    /// GPT-2's initialization from `seed`: N(0, 0.02²) for embeddings and weights, the
    /// residual projections (`attn.out.w`, `mlp.down.w`) scaled by `1/sqrt(2 n_layer)`, biases
    /// 0, norm gains 1.
    pub fn init(&self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = optlab_core::seed::stream(seed, "lm-init");
        let resid = 0.02 / (2.0 * self.cfg.n_layer as f64).sqrt();
        self.info
            .iter()
            .map(|p| {
                let n = p.numel();
                if p.name.ends_with(".g") {
                    vec![1.0; n]
                } else if p.shape.len() == 1 {
                    vec![0.0; n]
                } else {
                    let sd = if p.name.ends_with("attn.out.w") || p.name.ends_with("mlp.down.w") {
                        resid
                    } else {
                        0.02
                    };
                    (0..n)
                        .map(|_| (sd * optlab_core::seed::normal(&mut rng)) as f32)
                        .collect()
                }
            })
            .collect()
    }

    fn check_params(&self, params: &[Vec<f32>]) -> Result<()> {
        if params.len() != self.info.len() {
            return Err(Error::Other(format!(
                "lm: {} parameter tensors given, the model has {}",
                params.len(),
                self.info.len()
            )));
        }
        for (p, i) in params.iter().zip(&self.info) {
            if p.len() != i.numel() {
                return Err(Error::Other(format!(
                    "lm: tensor {} has {} values, its shape {:?} needs {}",
                    i.name,
                    p.len(),
                    i.shape,
                    i.numel()
                )));
            }
        }
        Ok(())
    }

    /// Sequence length of a batch of `tokens.len()` ids in `batch` rows; errors for ragged
    /// batches, sequences longer than the context and ids outside the vocabulary.
    fn seq_len(&self, tokens: &[u32], batch: usize) -> Result<usize> {
        if batch == 0 || tokens.is_empty() || !tokens.len().is_multiple_of(batch) {
            return Err(Error::Other(format!(
                "lm: {} tokens are not {batch} rows of equal length",
                tokens.len()
            )));
        }
        let t = tokens.len() / batch;
        if t > self.cfg.ctx {
            return Err(Error::Other(format!(
                "lm: sequence length {t} exceeds the context {}",
                self.cfg.ctx
            )));
        }
        if let Some((i, &bad)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &v)| v as usize >= self.cfg.vocab)
        {
            return Err(Error::Other(format!(
                "lm: token {bad} at position {i} is outside the vocabulary of {}",
                self.cfg.vocab
            )));
        }
        Ok(t)
    }

    /// As many targets as inputs, each inside the vocabulary.
    fn check_targets(&self, inputs: &[u32], targets: &[u32], batch: usize) -> Result<()> {
        if targets.len() != inputs.len() {
            return Err(Error::Other(format!(
                "lm: {} targets for {} inputs",
                targets.len(),
                inputs.len()
            )));
        }
        self.seq_len(targets, batch).map(|_| ())
    }

    /// Logits `[batch * t, vocab]` for ids `[batch, t]`.
    fn forward(
        &self,
        p: &[Tensor<1>],
        ids: &[u32],
        batch: usize,
        t: usize,
        device: &Device,
    ) -> Tensor<2> {
        let c = self.cfg;
        let (d, h) = (c.d_model, c.n_head);
        let dh = d / h;
        let mat = |i: usize, r: usize, k: usize| p[i].clone().reshape([r, k]);
        let idx = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&v| i64::from(v)).collect(), [batch, t]),
            device,
        );
        let pos = mat(1, c.ctx, d).slice([0..t, 0..d]).unsqueeze::<3>();
        let mut x = embedding(mat(0, c.vocab, d), idx) + pos;
        let opts = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: true,
        };
        for l in 0..c.n_layer {
            let o = 2 + PER_BLOCK * l;
            let a = layer_norm(x.clone(), p[o].clone(), Some(p[o + 1].clone()), LN_EPS);
            let qkv = linear(a, mat(o + 2, d, 3 * d), Some(p[o + 3].clone()));
            let head = |j: usize| {
                qkv.clone()
                    .slice([0..batch, 0..t, j * d..(j + 1) * d])
                    .reshape([batch, t, h, dh])
                    .swap_dims(1, 2)
            };
            let att = attention(head(0), head(1), head(2), None, None, opts)
                .swap_dims(1, 2)
                .reshape([batch, t, d]);
            x = x + linear(att, mat(o + 4, d, d), Some(p[o + 5].clone()));
            let a = layer_norm(x.clone(), p[o + 6].clone(), Some(p[o + 7].clone()), LN_EPS);
            let up = gelu(linear(a, mat(o + 8, d, c.d_ff), Some(p[o + 9].clone())));
            x = x + linear(up, mat(o + 10, c.d_ff, d), Some(p[o + 11].clone()));
        }
        let f = 2 + PER_BLOCK * c.n_layer;
        let x = layer_norm(x, p[f].clone(), Some(p[f + 1].clone()), LN_EPS);
        linear(x, mat(f + 2, d, c.vocab), None).reshape([batch * t, c.vocab])
    }

    /// Mean next-token cross-entropy of `targets` given `inputs` (both `batch` rows of equal
    /// length ≤ `ctx`, row-major) and its gradient for every parameter tensor.
    ///
    /// As for the MLP, the loss and its gradient with respect to the logits are computed in
    /// f64 from the logits (entries below [`crate::mlp::GRAD_FLUSH`] flushed to zero) and burn
    /// back-propagates that gradient.
    pub fn loss_and_grads(
        &self,
        params: &[Vec<f32>],
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
    ) -> Result<(f32, Vec<Vec<f32>>)> {
        self.check_params(params)?;
        let t = self.seq_len(inputs, batch)?;
        self.check_targets(inputs, targets, batch)?;
        let device = Device::flex().autodiff();
        let leaves = leaves(params, &device, |_| true);
        let logits = self.forward(&leaves, inputs, batch, t, &device);
        let y: Vec<usize> = targets.iter().map(|&v| v as usize).collect();
        let (loss, grads) = ce_backward(logits, &y, self.cfg.vocab, "lm: logits")?;
        let mut out = Vec::with_capacity(leaves.len());
        for (leaf, info) in leaves.iter().zip(&self.info) {
            let g = leaf.grad(&grads).ok_or_else(|| {
                Error::Other(format!("lm: tensor {} received no gradient", info.name))
            })?;
            out.push(to_vec(g, "lm: gradient")?);
        }
        Ok((loss as f32, out))
    }

    /// Logits `[batch * t, vocab]` (row-major) for `inputs` (no gradients).
    pub fn logits(&self, params: &[Vec<f32>], inputs: &[u32], batch: usize) -> Result<Vec<f32>> {
        self.check_params(params)?;
        let t = self.seq_len(inputs, batch)?;
        let device = Device::flex();
        let leaves = leaves(params, &device, |_| false);
        to_vec(
            self.forward(&leaves, inputs, batch, t, &device),
            "lm: logits",
        )
    }

    /// Mean next-token cross-entropy (nats per character), no gradients.
    pub fn loss(
        &self,
        params: &[Vec<f32>],
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
    ) -> Result<f64> {
        self.check_targets(inputs, targets, batch)?;
        let z = self.logits(params, inputs, batch)?;
        let y: Vec<usize> = targets.iter().map(|&v| v as usize).collect();
        Ok(softmax_cross_entropy_grad(&z, &y, self.cfg.vocab).0)
    }

    /// Continue `prompt` by `n_new` sampled tokens (the last `ctx` tokens condition each one).
    /// `temperature` 0 takes the most likely token; otherwise softmax(logits / temperature) is
    /// sampled from a stream of `seed`. Returns prompt and continuation.
    pub fn generate(
        &self,
        params: &[Vec<f32>],
        prompt: &[u32],
        n_new: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(Error::Other("lm: the prompt is empty".into()));
        }
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(Error::config(
                "temperature",
                format!("must be finite and >= 0, got {temperature}"),
            ));
        }
        let mut rng = optlab_core::seed::stream(seed, "lm-sample");
        let mut out = prompt.to_vec();
        let v = self.cfg.vocab;
        for _ in 0..n_new {
            let window = &out[out.len().saturating_sub(self.cfg.ctx)..];
            let z = self.logits(params, window, 1)?;
            let last = &z[z.len() - v..];
            let next = if temperature == 0.0 {
                argmax(last)
            } else {
                let mx = last
                    .iter()
                    .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
                let w: Vec<f64> = last
                    .iter()
                    .map(|&l| ((f64::from(l) - mx) / temperature).exp())
                    .collect();
                let mut u = rng.random::<f64>() * w.iter().sum::<f64>();
                let mut pick = v - 1;
                for (i, wi) in w.iter().enumerate() {
                    if u < *wi {
                        pick = i;
                        break;
                    }
                    u -= wi;
                }
                pick
            };
            out.push(next as u32);
        }
        Ok(out)
    }
}

fn argmax(z: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = i;
        }
    }
    best
}

/// A tokenized corpus split into a training head and a validation tail.
#[derive(Debug, Clone, PartialEq)]
pub struct LmData {
    /// The vocabulary (of the whole text).
    pub vocab: CharVocab,
    /// Training tokens (the first `1 - val_fraction` of the text).
    pub train: Vec<u32>,
    /// Validation tokens (the rest).
    pub val: Vec<u32>,
}

impl LmData {
    /// Tokenize `text` and split it (nanoGPT's character-level split: first 90% / last 10%
    /// for `val_fraction = 0.1`).
    pub fn from_text(text: &str, val_fraction: f64) -> Result<Self> {
        if !(val_fraction > 0.0 && val_fraction < 1.0) {
            return Err(Error::config(
                "val_fraction",
                format!("must lie in (0, 1), got {val_fraction}"),
            ));
        }
        let vocab = CharVocab::from_text(text)?;
        let ids = vocab.encode(text)?;
        let cut = ((1.0 - val_fraction) * ids.len() as f64).round() as usize;
        let (train, val) = ids.split_at(cut);
        Ok(LmData {
            vocab,
            train: train.to_vec(),
            val: val.to_vec(),
        })
    }

    /// Tiny Shakespeare, 90% / 10% (1,003,855 / 111,539 characters, 65 symbols).
    pub fn tiny_shakespeare() -> Result<Self> {
        Self::from_text(optlab_problems::data::TINY_SHAKESPEARE, 0.1)
    }

    /// `batch` random training windows of length `t`: inputs and next-character targets,
    /// row-major. Panics never; windows are clamped to the corpus (`t` must be shorter than
    /// the training text, which [`Self::check_window`] verifies).
    pub fn batch(
        &self,
        rng: &mut optlab_core::seed::Rng,
        batch: usize,
        t: usize,
    ) -> (Vec<u32>, Vec<u32>) {
        let hi = self.train.len().saturating_sub(t + 1).max(1);
        let (mut x, mut y) = (Vec::with_capacity(batch * t), Vec::with_capacity(batch * t));
        for _ in 0..batch {
            let s = rng.random_range(0..hi);
            let w = &self.train[s..(s + t + 1).min(self.train.len())];
            x.extend_from_slice(&w[..w.len() - 1]);
            y.extend_from_slice(&w[1..]);
        }
        (x, y)
    }

    /// Errors unless both splits hold a window of `t + 1` tokens.
    pub fn check_window(&self, t: usize) -> Result<()> {
        if self.train.len() <= t + 1 || self.val.len() <= t + 1 {
            return Err(Error::Other(format!(
                "lm: the splits ({} / {} tokens) are too short for windows of {t}",
                self.train.len(),
                self.val.len()
            )));
        }
        Ok(())
    }

    /// `n` validation windows of length `t`, evenly spaced over the validation text
    /// (deterministic, so every run is scored on the same characters).
    pub fn val_windows(&self, n: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
        let span = self.val.len().saturating_sub(t + 1);
        let (mut x, mut y) = (Vec::with_capacity(n * t), Vec::with_capacity(n * t));
        for i in 0..n {
            let s = if n > 1 { i * span / (n - 1) } else { 0 };
            let w = &self.val[s..(s + t + 1).min(self.val.len())];
            x.extend_from_slice(&w[..w.len() - 1]);
            y.extend_from_slice(&w[1..]);
        }
        (x, y)
    }
}
