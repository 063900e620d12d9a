//! Directional attacks on neural-network surrogates (Bouchet & Vidal, 2025): for
//! `max f(Φ(x))` with a trained network `Φ`, perturb `x` within an ∞-ball of radius `r` so
//! that `Φ(x + δ)` moves along `t = ∇f(Φ(x)) / ||∇f(Φ(x))||_∞`.
//!
//! Implemented natively on the network's vector–Jacobian product (the [`Surrogate`] trait,
//! which `optlab-nn` implements for its burn networks): FGSM `δ = r sign(J_Φ(x)^T t)` (the
//! ℓ∞ steepest-ascent step of the linearized objective `⟨t, Φ(x + δ)⟩`) or PGD (projected
//! sign-gradient ascent on `⟨t, Φ(x + δ)⟩` inside the box). The reference code's
//! cross-entropy-targeted torchattacks FGSM subtracts `mean(t)` from the target (zero
//! direction for scalar outputs); it is not reproduced.

use optlab_core::{Error, Result};
use optlab_problems::blackbox::{BlackBox, Bounds};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A differentiable map `Φ: R^n → R^m`.
pub trait Surrogate: Send + Sync {
    /// `n`.
    fn input_dim(&self) -> usize;
    /// `m`.
    fn output_dim(&self) -> usize;
    /// `Φ(x)`.
    fn forward(&self, x: &[f64]) -> Result<Vec<f64>>;
    /// `J_Φ(x)^T v`.
    fn vjp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>>;
}

/// A smooth objective on the network's output, to be **maximized**.
pub trait OutputObjective: Send + Sync {
    /// `f(y)`.
    fn value(&self, y: &[f64]) -> f64;
    /// `∇f(y)`.
    fn grad(&self, y: &[f64]) -> Vec<f64>;
}

/// A problem `max f(Φ(x))` over a box.
pub trait SurrogateProblem: Send + Sync {
    /// The network.
    fn surrogate(&self) -> &dyn Surrogate;
    /// The output objective.
    fn objective(&self) -> &dyn OutputObjective;
    /// The black box `x ↦ -f(Φ(x))` (one forward call per evaluation) that direct search
    /// minimizes.
    fn black_box(&self) -> Box<dyn BlackBox>;
}

/// Attack operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// One signed-gradient step.
    Fgsm,
    /// Projected signed-gradient ascent (`pgd_steps` steps of size `2.5 r / steps`).
    Pgd,
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The attack direction target `t = ∇f(y) / ||∇f(y)||_∞` at `x` (one forward call).
pub fn target(p: &dyn SurrogateProblem, x: &[f64]) -> Result<Vec<f64>> {
    let y = p.surrogate().forward(x)?;
    let g = p.objective().grad(&y);
    let m = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if !m.is_finite() {
        return Err(Error::Numerical(
            "attack target: non-finite output gradient".into(),
        ));
    }
    Ok(if m > 0.0 {
        g.iter().map(|v| v / m).collect()
    } else {
        g
    })
}

/// The attack perturbation `δ` (`||δ||_∞ <= r`) at `x` and the number of network calls used.
pub fn attack(
    p: &dyn SurrogateProblem,
    x: &[f64],
    r: f64,
    kind: AttackKind,
    steps: u32,
) -> Result<(Vec<f64>, u64)> {
    let t = target(p, x)?;
    let mut calls = 1u64;
    match kind {
        AttackKind::Fgsm => {
            let g = p.surrogate().vjp(x, &t)?;
            calls += 1;
            Ok((g.iter().map(|v| r * sign(*v)).collect(), calls))
        }
        AttackKind::Pgd => {
            let step = 2.5 * r / f64::from(steps.max(1));
            let mut delta = vec![0.0; x.len()];
            for _ in 0..steps {
                let xp: Vec<f64> = x.iter().zip(&delta).map(|(a, b)| a + b).collect();
                let g = p.surrogate().vjp(&xp, &t)?;
                calls += 1;
                for (d, gi) in delta.iter_mut().zip(&g) {
                    *d = (*d + step * sign(*gi)).clamp(-r, r);
                }
            }
            Ok((delta, calls))
        }
    }
}

/// Candidates `x + s δ` for `s ∈ {1.2, 1, 0.8}` (the reference code's radii) and the network
/// calls spent computing `δ`.
pub fn attack_step(
    p: &dyn SurrogateProblem,
    x: &[f64],
    r: f64,
    kind: AttackKind,
    steps: u32,
) -> Result<(Vec<Vec<f64>>, u64)> {
    let (delta, calls) = attack(p, x, r, kind, steps)?;
    let cands = [1.2, 1.0, 0.8]
        .iter()
        .map(|s| x.iter().zip(&delta).map(|(a, d)| a + s * d).collect())
        .collect();
    Ok((cands, calls))
}

/// `max f(Φ(x))` over a box, for a network `Φ` and an output objective `f`.
#[derive(Clone)]
pub struct NetworkProblem {
    name: String,
    net: Arc<dyn Surrogate>,
    objective: Arc<dyn OutputObjective>,
    bounds: Bounds,
    best: Option<f64>,
}

impl std::fmt::Debug for NetworkProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkProblem")
            .field("name", &self.name)
            .finish()
    }
}

impl NetworkProblem {
    /// Check dimensions and build. `best_known`: the best known value of `f(Φ(x))` (for gaps).
    pub fn new(
        name: &str,
        net: Arc<dyn Surrogate>,
        objective: Arc<dyn OutputObjective>,
        bounds: Bounds,
        best_known: Option<f64>,
    ) -> Result<Self> {
        if bounds.dim() != net.input_dim() {
            return Err(Error::config(
                "bounds",
                format!(
                    "{} entries for a network with {} inputs",
                    bounds.dim(),
                    net.input_dim()
                ),
            ));
        }
        Ok(NetworkProblem {
            name: name.into(),
            net,
            objective,
            bounds,
            best: best_known,
        })
    }
}

struct NegatedComposite(NetworkProblem);

impl BlackBox for NegatedComposite {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn dim(&self) -> usize {
        self.0.net.input_dim()
    }
    fn value(&self, x: &[f64]) -> f64 {
        match self.0.net.forward(x) {
            Ok(y) => -self.0.objective.value(&y),
            Err(_) => f64::NAN,
        }
    }
    fn bounds(&self) -> Option<&Bounds> {
        Some(&self.0.bounds)
    }
    fn known_minimum(&self) -> Option<f64> {
        self.0.best.map(|b| -b)
    }
}

impl SurrogateProblem for NetworkProblem {
    fn surrogate(&self) -> &dyn Surrogate {
        self.net.as_ref()
    }
    fn objective(&self) -> &dyn OutputObjective {
        self.objective.as_ref()
    }
    fn black_box(&self) -> Box<dyn BlackBox> {
        Box::new(NegatedComposite(self.clone()))
    }
}

/// `f(y) = y_k - logsumexp_{j ≠ k} y_j`: the margin of class `k` (counterfactual / class-score
/// maximization).
#[derive(Debug, Clone, Copy)]
pub struct ClassMargin {
    /// Target class.
    pub class: usize,
}

impl OutputObjective for ClassMargin {
    fn value(&self, y: &[f64]) -> f64 {
        let others = y
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != self.class)
            .map(|(_, v)| *v);
        let mx = others.clone().fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + others.map(|v| (v - mx).exp()).sum::<f64>().ln();
        y.get(self.class).copied().unwrap_or(f64::NAN) - lse
    }
    fn grad(&self, y: &[f64]) -> Vec<f64> {
        let mx = y
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != self.class)
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = y
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != self.class)
            .map(|(_, v)| (v - mx).exp())
            .sum();
        y.iter()
            .enumerate()
            .map(|(j, v)| {
                if j == self.class {
                    1.0
                } else {
                    -(v - mx).exp() / z
                }
            })
            .collect()
    }
}

/// `f(y) = -y_0`: minimize a scalar surrogate.
#[derive(Debug, Clone, Copy)]
pub struct NegFirst;

impl OutputObjective for NegFirst {
    fn value(&self, y: &[f64]) -> f64 {
        -y.first().copied().unwrap_or(f64::NAN)
    }
    fn grad(&self, y: &[f64]) -> Vec<f64> {
        let mut g = vec![0.0; y.len()];
        if let Some(g0) = g.first_mut() {
            *g0 = -1.0;
        }
        g
    }
}
