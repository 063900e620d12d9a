//! Nanoseconds per normal of the two counter-based Gaussian generators, interleaved in the
//! same run (the machine's speed drifts; compare the two within a round):
//!
//! ```sh
//! cargo run --release -p optlab-linalg --example normals_speed
//! ```
use std::time::Instant;

type Fill = fn(u64, u64, &mut [f64]);

fn main() {
    // 20,000 normals a call: one CBO iteration of 1000 particles in d = 20.
    let mut z = vec![0.0f64; 20_000];
    let calls = 2000u64;
    for round in 0..5 {
        let mut ns = [0.0; 2];
        for (slot, fill) in [
            optlab_linalg::fastmath::fill_normals as Fill,
            optlab_linalg::fastmath::fill_normals_f32,
        ]
        .into_iter()
        .enumerate()
        {
            let t = Instant::now();
            let mut acc = 0.0;
            for k in 0..calls {
                fill(k, 0, &mut z);
                acc += z[17];
            }
            ns[slot] = t.elapsed().as_secs_f64() * 1e9 / (calls as f64 * z.len() as f64);
            std::hint::black_box(acc);
        }
        println!(
            "round {round}: f64 {:.3} ns/normal, f32 {:.3} ns/normal, ratio {:.2}x",
            ns[0],
            ns[1],
            ns[0] / ns[1]
        );
    }
}
