//! Measures the DPTree family: sizes, noise scales, empirical errors against the stated
//! bounds, and build/query times.
//!
//! ```text
//! cargo run --release --example dptree
//! ```
use dpxattn::tree::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Instant;

fn aligned(len: usize) -> Vec<u64> {
    vec![0u64; len.div_ceil(8)]
}

fn bytes(v: &mut [u64], len: usize) -> &mut [u8] {
    &mut bytemuck::cast_slice_mut(v)[..len]
}

fn uniform(r: &mut ChaCha20Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * ((r.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q) as usize]
}

const TRIALS: u64 = 200;
const BETA: f64 = 0.05;

fn range_tree(noise: Noise) {
    let n = 1024;
    let params = DPTreeParams {
        n,
        value_bound: 1.0,
        noise,
        epsilon: 1.0,
        delta: 1e-6,
    };
    let plan = DPTreePlan::new(&params).unwrap();
    let mut data_rng = ChaCha20Rng::seed_from_u64(1);
    let v: Vec<f64> = (0..n).map(|_| uniform(&mut data_rng, -1.0, 1.0)).collect();
    let mut img = aligned(plan.image_bytes);
    let ranges = [(0usize, 1024usize), (100, 101), (37, 901), (512, 768)];
    let mut errs = vec![Vec::new(); ranges.len()];
    let mut within = 0;
    let mut build_s = 0.0;
    let mut bounds = [0.0; 4];
    for seed in 0..TRIALS {
        let mut rng = ChaCha20Rng::seed_from_u64(100 + seed);
        let t0 = Instant::now();
        let t = DPTree::build(&plan, bytes(&mut img, plan.image_bytes), &v, &mut rng).unwrap();
        build_s += t0.elapsed().as_secs_f64();
        for (k, &(a, b)) in ranges.iter().enumerate() {
            let e = (t.range_sum(a, b).unwrap() - v[a..b].iter().sum::<f64>()).abs();
            let bd = t.bound(a, b, BETA).unwrap();
            bounds[k] = bd.total;
            if e <= bd.total {
                within += 1;
            }
            errs[k].push(e);
        }
    }
    let t = DPTree::open(bytemuck::cast_slice(&img)).unwrap();
    let q0 = Instant::now();
    let mut acc = 0.0;
    for i in 0..100_000usize {
        acc += t.range_sum(i % 500, 500 + i % 500).unwrap();
    }
    let query_ns = q0.elapsed().as_secs_f64() / 100_000.0 * 1e9;
    std::hint::black_box(acc);
    println!(
        "DPTree {noise:?} n={n} Δ=1 ε=1 δ=1e-6: image {} B, state {} B, L={}, grid 2^-{}, scale {:.4} (value units)",
        plan.image_bytes,
        plan.state_bytes,
        plan.levels,
        plan.calibration.frac_bits,
        plan.calibration.scale_real()
    );
    for (k, &(a, b)) in ranges.iter().enumerate() {
        let med = quantile(&mut errs[k], 0.5);
        let q95 = quantile(&mut errs[k], 0.95);
        println!(
            "  [{a},{b}): |err| median {med:.3}, 95% {q95:.3}; bound(β=0.05) {:.3}",
            bounds[k]
        );
    }
    println!(
        "  coverage {}/{} (≥ {:.0}% required); build {:.1} µs, query {:.0} ns",
        within,
        TRIALS as usize * ranges.len(),
        100.0 * (1.0 - BETA),
        build_s / TRIALS as f64 * 1e6,
        query_ns
    );
}

fn distance(noise: Noise) {
    let n = 1000;
    let params = DistanceParams {
        cells: 256,
        radius: 1.0,
        weight_bound: 1.0,
        n_max: n,
        noise,
        epsilon: 1.0,
        delta: 1e-6,
    };
    let plan = DistancePlan::new(&params).unwrap();
    let mut r = ChaCha20Rng::seed_from_u64(2);
    let xs: Vec<f64> = (0..n).map(|_| uniform(&mut r, 0.0, 1.0).powi(2)).collect();
    let ws: Vec<f64> = (0..n).map(|_| uniform(&mut r, 0.0, 1.0)).collect();
    let ys = [0.0, 0.3, 0.5, 0.9];
    let mut img = aligned(plan.image_bytes);
    let mut rel = Vec::new();
    let mut within = 0;
    let mut bd_rel = 0.0f64;
    for seed in 0..TRIALS {
        let mut rng = ChaCha20Rng::seed_from_u64(300 + seed);
        let t = DPTreeDistance::build(&plan, bytes(&mut img, plan.image_bytes), &xs, &ws, &mut rng)
            .unwrap();
        for &y in &ys {
            let exact: f64 = xs.iter().zip(&ws).map(|(x, w)| w * (y - x).abs()).sum();
            let e = (t.evaluate(y).unwrap() - exact).abs();
            let bd = t.bound(y, BETA).unwrap();
            bd_rel = bd_rel.max(bd.total / exact);
            if e <= bd.total {
                within += 1;
            }
            rel.push(e / exact);
        }
    }
    println!(
        "DPTreeDistance {noise:?} n={n} G=256 R=R_w=1 ε=1: image {} B; relative error median {:.4}, 95% {:.4}; worst bound/exact {:.3}; coverage {}/{}",
        plan.image_bytes,
        quantile(&mut rel, 0.5),
        quantile(&mut rel, 0.95),
        bd_rel,
        within,
        TRIALS as usize * ys.len()
    );
}

fn high_dim() {
    let (n, d) = (1000, 8);
    let params = HighDimParams {
        dims: d,
        cells: 128,
        radius: 1.0,
        weight_bound: 1.0,
        n_max: n,
        noise: Noise::Gaussian,
        epsilon: 1.0,
        delta: 1e-6,
    };
    let plan = HighDimPlan::new(&params).unwrap();
    let mut r = ChaCha20Rng::seed_from_u64(3);
    let xs: Vec<f64> = (0..n * d).map(|_| uniform(&mut r, 0.0, 1.0)).collect();
    let ws: Vec<f64> = (0..n).map(|_| uniform(&mut r, 0.0, 1.0)).collect();
    let y: Vec<f64> = (0..d).map(|_| uniform(&mut r, 0.0, 1.0)).collect();
    let exact: f64 = (0..n)
        .map(|i| ws[i] * (0..d).map(|k| (y[k] - xs[i * d + k]).abs()).sum::<f64>())
        .sum();
    let mut img = aligned(plan.image_bytes);
    let mut rel = Vec::new();
    let mut bound = 0.0;
    for seed in 0..TRIALS / 4 {
        let mut rng = ChaCha20Rng::seed_from_u64(500 + seed);
        let t = DPTreeHighDim::build(&plan, bytes(&mut img, plan.image_bytes), &xs, &ws, &mut rng)
            .unwrap();
        rel.push((t.evaluate(&y).unwrap() - exact).abs() / exact);
        bound = t.bound(&y, BETA).unwrap().total / exact;
    }
    println!(
        "DPTreeHighDim d={d} n={n} G=128 ε=1 δ=1e-6: image {} B; relative error median {:.4}, max {:.4}; bound/exact {:.3}",
        plan.image_bytes,
        quantile(&mut rel, 0.5),
        quantile(&mut rel, 1.0),
        bound
    );
}

fn softmax() {
    let (n, d) = (512, 16);
    let params = SoftmaxParams {
        dims: d,
        degree: 0,
        kernel_rel_err: 1e-3,
        score_scale: 0.25,
        radius_x: 1.0,
        radius_y: 1.0,
        weight_bound: 1.0,
        n_max: n,
        block: 64,
        epsilon: 1.0,
        delta: 1e-6,
    };
    let plan = SoftmaxPlan::new(&params).unwrap();
    let mut r = ChaCha20Rng::seed_from_u64(4);
    let unit = |r: &mut ChaCha20Rng| {
        let v: Vec<f64> = (0..d).map(|_| uniform(r, -1.0, 1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.into_iter().map(|x| x / norm * 0.9).collect::<Vec<_>>()
    };
    let xs: Vec<f64> = (0..n).flat_map(|_| unit(&mut r)).collect();
    let ws: Vec<f64> = (0..n).map(|_| uniform(&mut r, 0.0, 1.0)).collect();
    let y = unit(&mut r);
    let exact: f64 = (0..n)
        .map(|i| ws[i] * (0.25 * (0..d).map(|k| xs[i * d + k] * y[k]).sum::<f64>()).exp())
        .sum();
    let mut img = aligned(plan.image_bytes);
    let mut scratch = aligned(plan.scratch_bytes);
    let mut rel = Vec::new();
    let mut bound = 0.0;
    let mut build_s = 0.0;
    for seed in 0..TRIALS / 4 {
        let mut rng = ChaCha20Rng::seed_from_u64(700 + seed);
        let t0 = Instant::now();
        let t = DPTreeSoftmax::build(
            &plan,
            bytes(&mut img, plan.image_bytes),
            &xs,
            &ws,
            bytes(&mut scratch, plan.scratch_bytes),
            &mut rng,
        )
        .unwrap();
        build_s += t0.elapsed().as_secs_f64();
        let got = t
            .evaluate(&y, 0, t.blocks(), bytes(&mut scratch, plan.scratch_bytes))
            .unwrap();
        rel.push((got - exact).abs() / exact);
        bound = t.bound(0, t.blocks(), BETA).unwrap().total / exact;
    }
    println!(
        "DPTreeSoftmax d={d} s={} r={} n={n} block=64 τ=0.25 ε=1 δ=1e-6: image {} B, E={:.2e}; relative error median {:.4}, max {:.4}; bound/exact {:.3}; build {:.1} ms",
        plan.params.degree,
        plan.features,
        plan.image_bytes,
        plan.feature_err,
        quantile(&mut rel, 0.5),
        quantile(&mut rel, 1.0),
        bound,
        build_s / (TRIALS / 4) as f64 * 1e3
    );
}

fn main() {
    range_tree(Noise::Gaussian);
    range_tree(Noise::Laplace);
    distance(Noise::Gaussian);
    distance(Noise::Laplace);
    high_dim();
    softmax();
}
