//! Branch-free elementary functions and a counter-based Gaussian generator that vectorize.
//!
//! The kernels are written as plain lane arithmetic (IEEE `+ - * / sqrt`, fused multiply-add
//! in the polynomials, and integer bit operations), so the compiler vectorizes them. They give
//! the same bits under AVX-512, AVX2 and the scalar fallback wherever `f64::mul_add` is
//! correctly rounded (hardware FMA, and libm's `fma` on glibc, musl and macOS; some Windows
//! C runtimes' `fma` is not, and the scalar fallback, used only on CPUs without AVX2, would
//! differ there). They run under `pulp`'s runtime dispatch ([`dispatch`]); call the
//! `#[inline(always)]` kernels from inside one (outside, the FMAs are slow libm calls).
//!
//! - [`ln_unit`]: the natural logarithm of a normal positive double (fdlibm's `e_log.c`
//!   reduction and polynomial, taking its `i > 0` branch everywhere; within 1 ulp of libm on
//!   the tested ranges).
//! - [`exp_bounded`]: `e^x` on `[-745, 709]`, within 2 ulp of libm.
//! - [`sincos_quarter_turns`] / [`cos_2pi`]: `sin`/`cos` of `2πx` with the exact reduction
//!   `x - round(4x)/4` (no error from multiplying by `2π` first) and fdlibm's `__kernel_sin` /
//!   `__kernel_cos` on `[-π/4, π/4]`; [`sq_cos_2pi_sum`] sums `a x² + b cos 2πx`.
//! - [`normal_block`] / [`fill_normals`]: standard normals by Box–Muller from SplitMix64
//!   counters. Normal number `g` of a stream is a pure function of `(key, g)`, so any split of
//!   the index range over threads or chunks gives the same numbers. The uniforms carry 52
//!   random bits, so `|z| <= sqrt(2 · 52 ln 2) = 8.49` (the mass beyond is `2e-17`).

// The polynomial constants are fdlibm's, digit for digit, so they can be checked against it.
#![allow(clippy::excessive_precision)]

use std::f64::consts::FRAC_PI_2;

use optlab_core::seed::SPLITMIX_GAMMA as GAMMA;
/// Bits of 1.0.
const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;
/// `ln 2` in two parts (fdlibm's Cody–Waite split: `k · LN2_HI` is exact for `|k| < 2^11`).
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// Beyond `2^40` the fast `cos 2πx` is not used (its exact reduction needs `|4x| < 2^51`).
const COS_LIMIT: f64 = 1_099_511_627_776.0;
/// Adding 1.5 · 2^52 rounds a double with `|y| < 2^51` to the nearest integer (ties to even),
/// which then sits in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// The CPU's instruction set, detected once.
pub fn arch() -> pulp::Arch {
    static ARCH: std::sync::OnceLock<pulp::Arch> = std::sync::OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}

/// Whether every entry is finite (NaN-propagating lane sums of `v - v`: vectorizes, unlike
/// `all`).
#[allow(clippy::eq_op)] // `v - v` is 0 for finite v and NaN otherwise
pub fn all_finite(x: &[f64]) -> bool {
    crate::lanes(x, x, |a, b| a - b) == 0.0
}

/// A running maximum of non-negative values that sticks at NaN once a NaN or an infinity
/// arrives (`v - v` is NaN for both): `acc` is the maximum so far. Branch-free, so it
/// vectorizes.
#[inline(always)]
#[allow(clippy::eq_op)]
pub fn sticky_max(acc: f64, v: f64) -> f64 {
    (if v > acc { v } else { acc }) + (v - v)
}

/// Run `op` under the best instruction set of this CPU ([`arch`]); `op` must inline its
/// kernels (`#[inline(always)]`) for them to be compiled for that set.
#[inline]
pub fn dispatch<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    arch().dispatch(op)
}

pub use optlab_core::seed::mix64;
/// Re-exported so that callers implement [`pulp::WithSimd`] without their own dependency.
pub use pulp;

/// NaN-sticky maximum for non-negative values: `b` if it is larger or NaN, else `a` (a NaN
/// `a` stays).
#[inline(always)]
pub fn nan_max(a: f64, b: f64) -> f64 {
    if b > a || b.is_nan() { b } else { a }
}

/// Natural logarithm of a positive, normal, finite `x` (no checks: subnormals, zero,
/// negatives, inf and NaN give wrong values).
#[inline(always)]
pub fn ln_unit(x: f64) -> f64 {
    const LG1: f64 = 6.666_666_666_666_735_130e-1;
    const LG2: f64 = 3.999_999_999_940_941_908e-1;
    const LG3: f64 = 2.857_142_874_366_239_149e-1;
    const LG4: f64 = 2.222_219_843_214_978_396e-1;
    const LG5: f64 = 1.818_357_216_161_805_012e-1;
    const LG6: f64 = 1.531_383_769_920_937_332e-1;
    const LG7: f64 = 1.479_819_860_511_658_591e-1;
    let bits = x.to_bits();
    let mant = bits & 0x000F_FFFF_FFFF_FFFF;
    // fdlibm: put the mantissa in [sqrt(2)/2, sqrt(2)) and adjust the exponent.
    let i = (mant + (0x95f64u64 << 32)) & (1u64 << 52);
    let m = f64::from_bits(mant | (i ^ ONE_BITS));
    // k = exponent + (i >> 52), converted exactly through the 2^52 trick (|k| < 2^31).
    let k_biased = (bits >> 52) + (i >> 52); // = k + 1023
    let dk = f64::from_bits(0x4330_0000_0000_0000 | k_biased) - (4_503_599_627_370_496.0 + 1023.0);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(LG6, LG4), LG2);
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
}

/// `e^x` for `x` in `[-745, 709]` (below: 0 or the smallest subnormal; above: wrong; NaN:
/// wrong). Reduction `x = k ln 2 + r`, `|r| <= ln 2 / 2`, with Cody–Waite's two-part `ln 2`,
/// the degree-13 Taylor polynomial of `e^r` (truncation error below `5e-18`), and `2^k` applied
/// in two factors so that subnormal results need no branch. Within 2 ulp of libm on the
/// tested range.
#[inline(always)]
pub fn exp_bounded(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    let x = if x < -746.0 { -746.0 } else { x };
    let t = x * LOG2E + ROUND_MAGIC;
    let kf = t - ROUND_MAGIC;
    // t's 52 mantissa bits hold 2^51 + k, k in [-1077, 1024].
    let k = (t.to_bits() & 0x000F_FFFF_FFFF_FFFF) as i64 - (1i64 << 51);
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p: f64 = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p.mul_add(r, c);
    }
    let k1 = k >> 1;
    let k2 = k - k1;
    let s1 = f64::from_bits(((k1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((k2 + 1023) as u64) << 52);
    p * s1 * s2
}

/// `(sin θ, cos θ)` for `|θ| <= π/4` (fdlibm's kernels without the tail argument).
#[inline(always)]
fn sincos_kernel(x: f64) -> (f64, f64) {
    const S1: f64 = -1.666_666_666_666_663_243_48e-1;
    const S2: f64 = 8.333_333_333_322_489_461_24e-3;
    const S3: f64 = -1.984_126_982_985_794_931_34e-4;
    const S4: f64 = 2.755_731_370_707_006_767_89e-6;
    const S5: f64 = -2.505_076_025_340_686_341_95e-8;
    const S6: f64 = 1.589_690_995_211_550_102_21e-10;
    const C1: f64 = 4.166_666_666_666_660_190_37e-2;
    const C2: f64 = -1.388_888_888_887_410_957_49e-3;
    const C3: f64 = 2.480_158_728_947_672_941_78e-5;
    const C4: f64 = -2.755_731_435_139_066_330_35e-7;
    const C5: f64 = 2.087_572_321_298_174_827_90e-9;
    const C6: f64 = -1.135_964_755_778_819_482_65e-11;
    let z = x * x;
    let v = z * x;
    let rs = z.mul_add(z.mul_add(z.mul_add(z.mul_add(S6, S5), S4), S3), S2);
    let sin = v.mul_add(z.mul_add(rs, S1), x);
    let rc = z * z.mul_add(
        z.mul_add(z.mul_add(z.mul_add(z.mul_add(C6, C5), C4), C3), C2),
        C1,
    );
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let cos = w + (((1.0 - w) - hz) + z * rc);
    (sin, cos)
}

/// `(sin 2πx, cos 2πx)` for `|x| < 2^49` (larger arguments give wrong values). The reduction
/// `r = x - q/4`, `q = round(4x)`, is exact, so this is more accurate than `(2π x).sin()`.
#[inline(always)]
pub fn sincos_quarter_turns(x: f64) -> (f64, f64) {
    let y = 4.0 * x;
    let t = y + ROUND_MAGIC;
    let q = t.to_bits() & 3; // round(4x) mod 4 (two's complement low bits)
    let r = y - (t - ROUND_MAGIC); // in [-1/2, 1/2] quarter turns, exact
    let (s, c) = sincos_kernel(r * FRAC_PI_2);
    // Rotate by q quarter turns: (sin, cos) -> q=1: (c, -s), q=2: (-s, -c), q=3: (-c, s).
    let odd = q & 1;
    let (s0, c0) = (s.to_bits(), c.to_bits());
    let mask = odd.wrapping_neg(); // all ones when odd
    let sin_b = (s0 & !mask) | (c0 & mask);
    let cos_b = (c0 & !mask) | (s0 & mask);
    let sin_neg = (q >> 1) << 63;
    let cos_neg = (((q + 1) >> 1) & 1) << 63;
    (
        f64::from_bits(sin_b ^ sin_neg),
        f64::from_bits(cos_b ^ cos_neg),
    )
}

/// `cos 2πx` for `|x| < 2^49` (see [`sincos_quarter_turns`]).
#[inline(always)]
pub fn cos_2pi(x: f64) -> f64 {
    sincos_quarter_turns(x).1
}

/// Normals `16 b .. 16 b + 16` of stream `key`: Box–Muller on pairs `8 b .. 8 b + 8`, the
/// cosines first, then the sines.
#[inline(always)]
pub fn normal_block(key: u64, block: u64) -> [f64; 16] {
    let mut u1 = [0.0f64; 8];
    let mut u2 = [0.0f64; 8];
    let base = key.wrapping_add(block.wrapping_mul(16).wrapping_mul(GAMMA));
    for l in 0..8 {
        let c = base.wrapping_add((2 * l as u64 + 1).wrapping_mul(GAMMA));
        let b1 = mix64(c);
        let b2 = mix64(c.wrapping_add(GAMMA));
        // u1 in (0, 1], u2 in [0, 1), 52 random bits each.
        u1[l] = 2.0 - f64::from_bits((b1 >> 12) | ONE_BITS);
        u2[l] = f64::from_bits((b2 >> 12) | ONE_BITS) - 1.0;
    }
    let mut out = [0.0f64; 16];
    let (cosines, sines) = out.split_at_mut(8);
    for l in 0..8 {
        let rho = (-2.0 * ln_unit(u1[l])).sqrt();
        let (s, c) = sincos_quarter_turns(u2[l]);
        cosines[l] = rho * c;
        sines[l] = rho * s;
    }
    out
}

/// Fill `out` with normals `start .. start + out.len()` of stream `key` (see the module
/// docs): the values do not depend on how a range is split into calls.
pub fn fill_normals(key: u64, start: u64, out: &mut [f64]) {
    struct Fill<'a> {
        key: u64,
        start: u64,
        out: &'a mut [f64],
    }
    impl pulp::WithSimd for Fill<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            fill_normals_impl(self.key, self.start, self.out);
        }
    }
    dispatch(Fill { key, start, out });
}

/// [`fill_normals`]'s body: partial blocks at the ends through a copy, whole blocks in place.
#[inline(always)]
fn fill_normals_impl(key: u64, start: u64, out: &mut [f64]) {
    let off = (start % 16) as usize;
    let mut b = start / 16;
    let mut rest = out;
    if off != 0 {
        let take = (16 - off).min(rest.len());
        let z = normal_block(key, b);
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(&z[off..off + take]);
        rest = tail;
        b += 1;
    }
    let mut whole = rest.chunks_exact_mut(16);
    for o in whole.by_ref() {
        o.copy_from_slice(&normal_block(key, b));
        b += 1;
    }
    let tail = whole.into_remainder();
    if !tail.is_empty() {
        let n = tail.len();
        tail.copy_from_slice(&normal_block(key, b)[..n]);
    }
}

/// `Σ_j (a x_j^2 + b cos 2πx_j)` on eight independent partial sums (the tail as one more
/// masked vector); libm's `cos` for all when some `|x_j| >= 2^40` (or is NaN). Call it inside a
/// [`dispatch`] to have it vectorized.
#[inline(always)]
pub fn sq_cos_2pi_sum(x: &[f64], a: f64, b: f64) -> f64 {
    let term = |v: f64| a * v * v + b * cos_2pi(v);
    let mut acc = [0.0f64; 8];
    let mut small = [true; 8];
    let chunks = x.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += term(c[k]);
            small[k] &= c[k].abs() < COS_LIMIT;
        }
    }
    // The tail as one more (masked) vector, not a scalar loop.
    let mut pad = [0.0f64; 8];
    pad[..rem.len()].copy_from_slice(rem);
    for k in 0..8 {
        let t = term(pad[k]);
        acc[k] += if k < rem.len() { t } else { 0.0 };
        small[k] &= pad[k].abs() < COS_LIMIT;
    }
    if small.iter().all(|&s| s) {
        acc.iter().sum::<f64>()
    } else {
        x.iter()
            .map(|&v| a * v * v + b * (2.0 * std::f64::consts::PI * v).cos())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn ln_matches_libm_within_one_ulp() {
        let mut worst = 0;
        let mut state = 11u64;
        for e in -60..60 {
            for _ in 0..2000 {
                state = state.wrapping_add(GAMMA);
                let m = f64::from_bits((mix64(state) >> 12) | ONE_BITS); // [1, 2)
                let x = m * 2f64.powi(e);
                worst = worst.max(ulps(ln_unit(x), x.ln()));
            }
        }
        for x in [
            1.0,
            2.0,
            0.5,
            f64::MIN_POSITIVE,
            f64::MAX,
            1.0 - f64::EPSILON / 2.0,
        ] {
            worst = worst.max(ulps(ln_unit(x), x.ln()));
        }
        assert!(worst <= 1, "worst {worst} ulp");
        assert_eq!(ln_unit(1.0), 0.0);
    }

    #[test]
    fn sincos_quarter_turns_matches_libm() {
        // Exact points.
        for (x, s, c) in [
            (0.0, 0.0, 1.0),
            (0.25, 1.0, 0.0),
            (0.5, 0.0, -1.0),
            (0.75, -1.0, 0.0),
            (-0.25, -1.0, 0.0),
            (3.0, 0.0, 1.0),
        ] {
            let (gs, gc) = sincos_quarter_turns(x);
            assert!(gs == s && gc == c, "x = {x}: ({gs}, {gc})");
        }
        // Against libm on [-8, 8]: libm's error in 2πx is ~|2πx| ulp, ours has none, so the
        // comparison is in absolute terms.
        let mut state = 5u64;
        let mut worst: f64 = 0.0;
        for _ in 0..200_000 {
            state = state.wrapping_add(GAMMA);
            let x = (f64::from_bits((mix64(state) >> 12) | ONE_BITS) - 1.5) * 16.0;
            let (s, c) = sincos_quarter_turns(x);
            let t = 2.0 * std::f64::consts::PI * x;
            worst = worst.max((s - t.sin()).abs()).max((c - t.cos()).abs());
        }
        assert!(worst < 1e-14, "worst {worst:e}");
        // In [0, 1/8) (no rotation, no argument error) it is within 2 ulp of libm.
        for i in 0..1000 {
            let x = i as f64 / 8000.0;
            let t = 2.0 * std::f64::consts::PI * x;
            let (s, c) = sincos_quarter_turns(x);
            assert!(ulps(s, t.sin()) <= 2, "sin at {x}: {s} vs {}", t.sin());
            assert!(ulps(c, t.cos()) <= 2, "cos at {x}: {c} vs {}", t.cos());
        }
    }

    #[test]
    fn exp_matches_libm_within_two_ulp() {
        let mut worst = 0;
        let mut state = 17u64;
        for _ in 0..400_000 {
            state = state.wrapping_add(GAMMA);
            let u = f64::from_bits((mix64(state) >> 12) | ONE_BITS) - 1.0;
            for x in [-745.0 + 1454.0 * u, -40.0 + 41.0 * u, -1e-3 * u] {
                let (got, want) = (exp_bounded(x), x.exp());
                // Subnormal results carry fewer bits: compare them absolutely.
                if want < f64::MIN_POSITIVE {
                    assert!(
                        (got - want).abs() <= 2.0 * 4.9e-324,
                        "{x}: {got:e} vs {want:e}"
                    );
                } else {
                    worst = worst.max(ulps(got, want));
                }
            }
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp_bounded(0.0), 1.0);
        assert_eq!(exp_bounded(-800.0), 0.0);
        assert!(ulps(exp_bounded(1.0), std::f64::consts::E) <= 1);
    }

    /// The kernels give the same bits under the best instruction set and under pulp's scalar
    /// fallback (the module's determinism claim, on this machine's libm).
    #[test]
    fn dispatched_and_scalar_kernels_agree_bit_for_bit() {
        struct All(Vec<f64>);
        impl pulp::WithSimd for All {
            type Output = Vec<u64>;
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _simd: S) -> Vec<u64> {
                let x = self.0;
                let mut out = Vec::with_capacity(6 * x.len() + 64);
                for b in 0..4 {
                    out.extend(normal_block(99, b).iter().map(|v| v.to_bits()));
                }
                for &v in &x {
                    out.push(ln_unit(v.abs() + 1e-3).to_bits());
                    out.push(exp_bounded(-v.abs() * 50.0).to_bits());
                    let (s, c) = sincos_quarter_turns(v);
                    out.push(s.to_bits());
                    out.push(c.to_bits());
                }
                for w in x.chunks(13) {
                    out.push(sq_cos_2pi_sum(w, 1.0, -10.0).to_bits());
                }
                out
            }
        }
        let mut state = 23u64;
        let x: Vec<f64> = (0..4000)
            .map(|_| {
                state = state.wrapping_add(GAMMA);
                (f64::from_bits((mix64(state) >> 12) | ONE_BITS) - 1.5) * 20.0
            })
            .collect();
        let best = dispatch(All(x.clone()));
        let scalar = pulp::Simd::vectorize(pulp::Scalar::new(), All(x));
        assert_eq!(best.len(), scalar.len());
        let differ = best.iter().zip(&scalar).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{differ} values differ");
    }

    #[test]
    fn all_finite_sees_every_entry() {
        let mut x = vec![1.5; 19];
        assert!(all_finite(&x));
        assert!(all_finite(&[]));
        for i in [0, 7, 8, 15, 16, 18] {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                x[i] = bad;
                assert!(!all_finite(&x), "{bad} at {i}");
                x[i] = 1.5;
            }
        }
    }

    #[test]
    fn normals_are_split_invariant() {
        let mut whole = vec![0.0; 300];
        fill_normals(42, 5, &mut whole);
        let mut parts = vec![0.0; 300];
        let (a, b) = parts.split_at_mut(37);
        fill_normals(42, 5, a);
        fill_normals(42, 42, b);
        assert_eq!(whole, parts);
        let z = normal_block(42, 1);
        assert_eq!(whole[16 - 5..32 - 5], z[..]);
        let mut other = vec![0.0; 300];
        fill_normals(43, 5, &mut other);
        assert!(whole.iter().zip(&other).all(|(a, b)| a != b));
    }

    #[test]
    fn normals_have_the_right_moments_and_quantiles() {
        let n = 2_000_000;
        let mut z = vec![0.0; n];
        fill_normals(7, 0, &mut z);
        let nf = n as f64;
        let m1 = z.iter().sum::<f64>() / nf;
        let m2 = z.iter().map(|v| v * v).sum::<f64>() / nf;
        let m4 = z.iter().map(|v| v.powi(4)).sum::<f64>() / nf;
        assert!(m1.abs() < 4e-3, "mean {m1}");
        assert!((m2 - 1.0).abs() < 5e-3, "variance {m2}");
        assert!((m4 - 3.0).abs() < 3e-2, "fourth moment {m4}");
        // Φ(-1), Φ(0.5), Φ(2), and the tail P(|Z| > 3.5) = 4.65e-4.
        for (cut, want) in [(-1.0, 0.158_655), (0.5, 0.691_462), (2.0, 0.977_250)] {
            let p = z.iter().filter(|&&v| v < cut).count() as f64 / nf;
            assert!((p - want).abs() < 1.5e-3, "Φ({cut}) {p} vs {want}");
        }
        let tail = z.iter().filter(|v| v.abs() > 3.5).count() as f64 / nf;
        assert!((tail - 4.653e-4).abs() < 6e-5, "tail {tail}");
        // Consecutive draws (a cosine and its sine partner are independent for Box–Muller).
        let lag: f64 = z.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / nf;
        assert!(lag.abs() < 4e-3, "lag-1 correlation {lag}");
        let pair: f64 = z
            .chunks_exact(16)
            .map(|c| (0..8).map(|l| c[l] * c[l + 8]).sum::<f64>())
            .sum::<f64>()
            / (nf / 2.0);
        assert!(pair.abs() < 4e-3, "Box–Muller partner correlation {pair}");
    }

    #[test]
    fn sq_cos_sum_matches_the_plain_formula() {
        let x: Vec<f64> = (0..37).map(|i| -5.0 + 0.27 * i as f64).collect();
        let want: f64 = x
            .iter()
            .map(|v| v * v - 10.0 * (2.0 * std::f64::consts::PI * v).cos())
            .sum();
        let got = sq_cos_2pi_sum(&x, 1.0, -10.0);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        // Beyond 2^40 the libm formula is used as is.
        let big = [1e13, 0.5];
        let want: f64 = big
            .iter()
            .map(|v| v * v + (2.0 * std::f64::consts::PI * v).cos())
            .sum();
        assert_eq!(sq_cos_2pi_sum(&big, 1.0, 1.0), want);
    }
}
