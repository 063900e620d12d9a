//! Multinomial logistic regression pieces shared by the bilevel data problems and optlab-nn's
//! AdAdaGrad trainer. Weights `W` are `c x (k + 1)` row-major: `k` feature weights then the
//! bias of each class.

/// Logits `W [a; 1]`.
pub fn logits(w: &[f64], c: usize, a: &[f64]) -> Vec<f64> {
    let k = a.len();
    (0..c)
        .map(|j| {
            let row = &w[j * (k + 1)..(j + 1) * (k + 1)];
            row[..k].iter().zip(a).map(|(u, v)| u * v).sum::<f64>() + row[k]
        })
        .collect()
}

/// Softmax probabilities and the cross-entropy of `label` (log-sum-exp stabilised).
pub fn probs_ce(z: &[f64], label: usize) -> (Vec<f64>, f64) {
    let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|v| v / s).collect();
    let ce = s.ln() + mx - z[label];
    (p, ce)
}

/// `p - e_label`: the gradient of the cross-entropy with respect to the logits.
pub fn residual(p: &[f64], label: usize) -> Vec<f64> {
    let mut r = p.to_vec();
    r[label] -= 1.0;
    r
}

/// `(diag(p) - p pᵀ) dz`: the cross-entropy's logit Hessian times `dz`.
pub fn hess_logits(p: &[f64], dz: &[f64]) -> Vec<f64> {
    let pd: f64 = p.iter().zip(dz).map(|(a, b)| a * b).sum();
    p.iter().zip(dz).map(|(a, b)| a * (b - pd)).collect()
}

/// `g += scale · r [a; 1]ᵀ` (an outer-product gradient contribution).
pub fn add_outer(g: &mut [f64], scale: f64, r: &[f64], a: &[f64]) {
    let k = a.len();
    for (j, rj) in r.iter().enumerate() {
        let row = &mut g[j * (k + 1)..(j + 1) * (k + 1)];
        let s = scale * rj;
        row[..k].iter_mut().zip(a).for_each(|(u, v)| *u += s * v);
        row[k] += s;
    }
}

/// `Wᵀ r` restricted to the feature columns (the gradient with respect to `a`).
pub fn back_features(w: &[f64], k: usize, r: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; k];
    for (j, rj) in r.iter().enumerate() {
        let row = &w[j * (k + 1)..j * (k + 1) + k];
        out.iter_mut().zip(row).for_each(|(o, u)| *o += rj * u);
    }
    out
}

/// Index of the largest logit.
pub fn argmax(z: &[f64]) -> usize {
    let mut best = 0;
    for (j, v) in z.iter().enumerate() {
        if *v > z[best] {
            best = j;
        }
    }
    best
}

/// The logistic function `1 / (1 + exp(-t))`.
pub fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}
