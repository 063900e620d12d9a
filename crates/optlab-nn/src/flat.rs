//! Glue between flat `Vec<f32>` parameters and burn tensors, shared by the models that build
//! their graph from our buffers (the tiny LM, the encoder).

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use optlab_core::{Error, Result};

/// One 1-D leaf per parameter tensor on `device`; tensor `i` requires a gradient when
/// `grad(i)`.
pub(crate) fn leaves(
    params: &[Vec<f32>],
    device: &Device,
    grad: impl Fn(usize) -> bool,
) -> Vec<Tensor<1>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = Tensor::<1>::from_data(TensorData::new(p.clone(), [p.len()]), device);
            if grad(i) { t.require_grad() } else { t }
        })
        .collect()
}

/// Softmax cross-entropy of `logits` (`[labels.len(), k]`) computed in f64 from their values
/// ([`crate::mlp::softmax_cross_entropy_grad`]), back-propagated by burn: the mean loss and
/// the gradients of every leaf. `what` names the logits in a read error.
pub(crate) fn ce_backward(
    logits: Tensor<2>,
    labels: &[usize],
    k: usize,
    what: &str,
) -> Result<(f64, burn::tensor::Gradients)> {
    let z = to_vec(logits.clone(), what)?;
    let (loss, g) = crate::mlp::softmax_cross_entropy_grad(&z, labels, k);
    let gt = Tensor::<2>::from_data(TensorData::new(g, [labels.len(), k]), &logits.device());
    Ok((loss, (logits * gt).sum().backward()))
}

/// The values of `t`; an error `"<what> data: …"` if they are not f32.
pub(crate) fn to_vec<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Other(format!("{what} data: {e:?}")))
}
