//! Central-difference derivative checkers, for tests and for users (`optlab check`).

use crate::oracle::{HessianKind, SmoothProblem};

/// Max relative error between `∇f(x)` and central differences with step `h`, measured as
/// `|fd - g| / max(1, |g|)` per coordinate.
pub fn gradient_error(p: &dyn SmoothProblem, x: &[f64], h: f64) -> f64 {
    let mut g = vec![0.0; x.len()];
    p.value_grad(x, &mut g);
    let mut xp = x.to_vec();
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        xp[i] = x[i] + h;
        let fp = p.value(&xp);
        xp[i] = x[i] - h;
        let fm = p.value(&xp);
        xp[i] = x[i];
        let fd = (fp - fm) / (2.0 * h);
        worst = worst.max((fd - g[i]).abs() / g[i].abs().max(1.0));
    }
    worst
}

/// Max relative error between the exact Hessian and central differences of the gradient.
pub fn hessian_error(p: &dyn SmoothProblem, x: &[f64], h: f64) -> Result<f64, optlab_core::Error> {
    let hm = p.hessian(x, HessianKind::Exact)?;
    let n = x.len();
    let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
    let mut xp = x.to_vec();
    let mut worst = 0.0f64;
    for j in 0..n {
        xp[j] = x[j] + h;
        p.value_grad(&xp, &mut gp);
        xp[j] = x[j] - h;
        p.value_grad(&xp, &mut gm);
        xp[j] = x[j];
        for i in 0..n {
            let fd = (gp[i] - gm[i]) / (2.0 * h);
            worst = worst.max((fd - hm[(i, j)]).abs() / hm[(i, j)].abs().max(1.0));
        }
    }
    Ok(worst)
}

/// Max asymmetry `|H_ij - H_ji|` and whether `H + 1e-10 I` admits a Cholesky factorization.
pub fn symmetric_psd(h: &optlab_linalg::faer::Mat<f64>) -> (f64, bool) {
    let n = h.nrows();
    let mut asym = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            asym = asym.max((h[(i, j)] - h[(j, i)]).abs());
        }
    }
    let mut s = h.clone();
    let scale = (0..n).map(|i| h[(i, i)].abs()).fold(1.0f64, f64::max);
    for i in 0..n {
        s[(i, i)] += 1e-10 * scale;
    }
    (asym, optlab_linalg::Cholesky::new(&s).is_ok())
}
