//! The scalar types our fused kernels run on (f32 for training, f64 for golden tests).

/// `f32` or `f64`.
pub trait Real:
    num_traits::Float + num_traits::FromPrimitive + Send + Sync + std::fmt::Debug + 'static
{
    /// Branch-free `sign0`: `(x > 0) - (x < 0)`, so the compiler vectorizes the loops using it.
    fn sign0_fast(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn sign0_fast(self) -> f32 {
        f32::from(u8::from(self > 0.0)) - f32::from(u8::from(self < 0.0))
    }
}

impl Real for f64 {
    #[inline(always)]
    fn sign0_fast(self) -> f64 {
        f64::from(u8::from(self > 0.0)) - f64::from(u8::from(self < 0.0))
    }
}

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
        assert_eq!(
            0.0f32.signum(),
            1.0,
            "the std behaviour sign0 exists to avoid"
        );
        for x in [
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::INFINITY,
        ] {
            assert_eq!(x.sign0_fast(), sign0(x));
        }
        assert_eq!(f32::NAN.sign0_fast(), 0.0);
    }
}
