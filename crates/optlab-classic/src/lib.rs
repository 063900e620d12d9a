//! Classic (f64) methods. (Being written.)

/// The classic methods for the CLI registry.
pub fn methods() -> Vec<optlab_core::MethodInfo> {
    Vec::new()
}
