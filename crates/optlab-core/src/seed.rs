//! Deterministic random streams.
//!
//! One ChaCha8 stream per purpose ("init", "data-order", "noise", ...), derived from the run
//! seed and the stream name, so that turning on one component's randomness never shifts
//! another's.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The seeded generator every optlab component uses.
pub type Rng = ChaCha8Rng;

/// SplitMix64 finaliser: a bijective mixer with good avalanche (one generator step from state
/// `z`: `mix64(z + γ)`).
pub fn splitmix64(z: u64) -> u64 {
    mix64(z.wrapping_add(SPLITMIX_GAMMA))
}

/// SplitMix64's state increment (the golden-ratio constant).
pub const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output mixer (Stafford's variant 13), without the state increment.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a stream name (FNV-1a; stable across platforms and releases).
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The 64-bit seed of stream `name` under run seed `seed`.
pub fn stream_seed(seed: u64, name: &str) -> u64 {
    splitmix64(seed ^ splitmix64(name_hash(name)))
}

/// A generator for stream `name` under run seed `seed`.
pub fn stream(seed: u64, name: &str) -> Rng {
    Rng::seed_from_u64(stream_seed(seed, name))
}

/// One standard normal draw by Box–Muller from `rng` (`u1` in (0, 1], so no `ln 0`).
pub fn normal(rng: &mut Rng) -> f64 {
    use rand::Rng as _;
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, "init"), |r, _| Some(r.random()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, "init"), |r, _| Some(r.random()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, "data-order"), |r, _| Some(r.random()))
            .collect();
        let d: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(8, "init"), |r, _| Some(r.random()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn name_hash_is_fnv1a() {
        // FNV-1a test vector: "a" -> 0xaf63dc4c8601ec8c.
        assert_eq!(name_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
