//! The scalar types our fused kernels run on (f32 for training, f64 for golden tests).

/// `f32` or `f64`.
pub trait Real:
    num_traits::Float + num_traits::FromPrimitive + Send + Sync + std::fmt::Debug + 'static
{
}

impl Real for f32 {}
impl Real for f64 {}

/// Sign with `sign0(0) = 0` (and `sign0(-0) = 0`), as `jnp.sign` and `torch.sign`.
///
/// Rust's `f32::signum(0.0)` is `1.0`: using it in Lion makes every coordinate with a zero
/// gradient drift by `lr` per step (dl-optimizers.md §0.5).
#[inline(always)]
pub fn sign0<T: Real>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

/// Convert an f64 hyperparameter to `T`.
#[inline(always)]
pub fn cast<T: Real>(x: f64) -> T {
    T::from_f64(x).unwrap_or_else(T::nan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign0_maps_zero_to_zero() {
        assert_eq!(sign0(0.0f32), 0.0);
        assert_eq!(sign0(-0.0f32), 0.0);
        assert_eq!(sign0(3.0f64), 1.0);
        assert_eq!(sign0(-1e-300f64), -1.0);
        assert_eq!(0.0f32.signum(), 1.0, "the std behaviour sign0 exists to avoid");
    }
}
