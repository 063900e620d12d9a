//! Validated configurations.
//!
//! Every method has a `Config` (serde, `Default` = the paper's recommended values) and a
//! `validate` that checks it before any work is done (Ceres' `Options::IsValid`, linfa's
//! `ParamGuard`). A [`Checked`] config can only be obtained through validation, so a method
//! never sees a negative step size or a NaN.

use crate::error::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};

/// A method's configuration.
pub trait MethodConfig: Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug {
    /// Check every field; the error names the offending field.
    fn validate(&self) -> Result<()>;

    /// Validate and wrap.
    fn check(self) -> Result<Checked<Self>> {
        self.validate()?;
        Ok(Checked(self))
    }
}

/// A configuration that passed [`MethodConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<C>(C);

impl<C> Checked<C> {
    /// The validated configuration.
    pub fn get(&self) -> &C {
        &self.0
    }

    /// Unwrap into the configuration.
    pub fn into_inner(self) -> C {
        self.0
    }
}

impl<C> std::ops::Deref for Checked<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

/// `value` must be finite and strictly positive.
pub fn positive(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::config(field, format!("must be finite, got {value}")));
    }
    if value <= 0.0 {
        return Err(Error::config(field, format!("must be > 0, got {value}")));
    }
    Ok(())
}

/// `value` must be finite and non-negative.
pub fn non_negative(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::config(field, format!("must be finite, got {value}")));
    }
    if value < 0.0 {
        return Err(Error::config(field, format!("must be >= 0, got {value}")));
    }
    Ok(())
}

/// `value` must lie in `[lo, hi)` (half-open, e.g. momentum coefficients).
pub fn in_unit_interval(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() || !(0.0..1.0).contains(&value) {
        return Err(Error::config(
            field,
            format!("must be in [0, 1), got {value}"),
        ));
    }
    Ok(())
}

/// `value` must be at least 1.
pub fn at_least_one(field: &str, value: u64) -> Result<()> {
    if value == 0 {
        return Err(Error::config(field, "must be >= 1, got 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_name_the_field() {
        let e = positive("lr", -1.0).unwrap_err().to_string();
        assert!(e.contains("`lr`") && e.contains("> 0"), "{e}");
        let e = positive("lr", f64::NAN).unwrap_err().to_string();
        assert!(e.contains("finite"), "{e}");
        assert!(non_negative("wd", 0.0).is_ok());
        assert!(non_negative("wd", -1e-9).is_err());
        assert!(in_unit_interval("beta1", 0.9).is_ok());
        assert!(in_unit_interval("beta1", 1.0).is_err());
        assert!(at_least_one("epochs", 0).is_err());
    }
}
