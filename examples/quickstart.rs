//! Quick start: make a real prompt's attention differentially private.
//!
//! Loads the keys, values and queries of 4 attention heads of all-MiniLM-L6-v2 on a
//! 4096-token chunked document (bundled in `examples/data/minilm_long`), builds one private
//! structure per head at a total budget of (ε, δ) for the whole prompt (the 4 heads compose
//! as one Gaussian mechanism), answers every query, and prints per head the error against
//! the model's exact attention output, next to the DP-uniform baseline (a DP mean of the
//! values, which ignores the query) and the library's a-priori bound.
//!
//! It uses the recommended public choices (README, *Accuracy on real data*): keys centred on
//! the mean key of the same head measured on *another* text, direction-only inputs, and the
//! score bound `Plan::suggested_score_bound`.
//!
//! Run: `cargo run --release --example quickstart [-- --epsilon E]`

mod common;

use common::{AlignedVec, Dataset, bundled, centred, dist, mean_row, norm_percentile, rms_norm};
use dpxattn::mechanism::{Attn, Params, Plan, build};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut epsilon = 4.0;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--epsilon") {
        epsilon = args.get(i + 1).ok_or("--epsilon needs a value")?.parse()?;
    }
    let data = Dataset::load(bundled("minilm_long/n4096_layer2"))?;
    // A public statistic for the value radius: the 90th percentile of value norms measured
    // on *another* text (the bundled Zen-of-Python prompt), never on the private rows.
    let public = Dataset::load(bundled("minilm/n512_layer2"))?;
    let (d, n, heads) = (data.d as u32, data.n as u32, data.heads as u32);

    let mut p = Params::new(d, d, n);
    p.epsilon = epsilon;
    p.delta = 1e-5;
    p.parts = heads; // (ε, δ) is the budget of all heads of this prompt together
    // Direction-only inputs and the suggested score bound B (from n and the noise level,
    // both public): the kernel then approximates softmax(B·cos(q, k − μ)).
    let b = Plan::new(&p)?.suggested_score_bound(n);
    p.radius_q = 1.0;
    p.radius_k = 1.0;
    p.score_scale = b;
    let plan_radius_v = |h: usize| norm_percentile(public.values(h), public.d, 90.0);
    println!(
        "dpxattn quickstart: n = {n} private rows, d = dv = {d}, {heads} heads, (ε, δ) = ({epsilon}, {:e}) for the whole prompt, B = {b:.2}",
        p.delta
    );
    println!("head | features | image KiB | σ (norm.) | dp err | uniform err | bound(β=0.05)");
    let mut rng = ChaCha20Rng::seed_from_u64(2024);
    for h in 0..data.heads {
        p.radius_v = plan_radius_v(h);
        let plan = Plan::new(&p)?;
        let mut image = AlignedVec::new(plan.image_bytes());
        let mut scratch = AlignedVec::new(plan.build_scratch_bytes());
        // Keys centred on the public mean key μ of this head: softmax(q·(k − μ)) =
        // softmax(q·k) because q·μ is the same for every key; μ comes from the other text.
        let keys = centred(data.keys(h), &mean_row(public.keys(h), public.d));
        build(
            &plan,
            image.bytes(),
            &keys,
            data.values(h),
            &mut rng,
            scratch.bytes(),
        )?;
        drop(scratch); // zeroised by the library; holds nothing now

        let attn = Attn::open(image.get())?;
        let mut qscratch = AlignedVec::new(attn.query_scratch_bytes());
        let dv = data.d;
        let rms = rms_norm(data.outputs(h), dv);
        let mut out = vec![0f32; dv];
        let (mut dp_err, mut uni_err) = (0.0, 0.0);
        let uniform = dp_uniform(&data, h, &p, &mut rng);
        for (q, o) in data
            .queries(h)
            .chunks_exact(d as usize)
            .zip(data.outputs(h).chunks_exact(dv))
        {
            attn.query(q, &mut out, qscratch.bytes())?;
            dp_err += dist(&out, o) / rms;
            uni_err += dist(&uniform, o) / rms;
        }
        let m = data.m as f64;
        let bound = attn.bound(0.05)?;
        println!(
            "{h:>4} | {:>8} | {:>9.0} | {:>9.4} | {:>6.3} | {:>11.3} | {:.3}",
            plan.features(),
            plan.image_bytes() as f64 / 1024.0,
            plan.sigma(),
            dp_err / m,
            uni_err / m,
            bound.single / rms,
        );
    }
    println!(
        "errors: mean over queries of ‖ô − o‖₂ / rms‖o‖ (o = the model's exact attention output)"
    );
    Ok(())
}

/// The DP-uniform baseline: the mean of the clipped values plus Gaussian noise at the same
/// budget (one Gaussian mechanism per head, composed like the structures). Computed here
/// with the library's own calibration and discrete Gaussian on a fine grid.
fn dp_uniform(data: &Dataset, h: usize, p: &Params, rng: &mut ChaCha20Rng) -> Vec<f32> {
    let dv = data.d;
    let mut mean = vec![0f64; dv];
    for v in data.values(h).chunks_exact(dv) {
        let nv = common::norm(v);
        let f = if nv > p.radius_v {
            p.radius_v / nv
        } else {
            1.0
        };
        for (m, &x) in mean.iter_mut().zip(v) {
            *m += x as f64 * f / data.n as f64;
        }
    }
    // Replace-one sensitivity of the mean of vectors in a ball of radius r: 2r/n.
    let l2 = 2.0 * p.radius_v / data.n as f64 * (p.parts as f64).sqrt();
    let sigma =
        dpxattn::privacy::analytic_gaussian_sigma(p.epsilon, p.delta, l2).expect("valid budget");
    let unit = 1e-6; // grid of the integer noise
    let g = dpxattn::samplers::DiscreteGaussian::new(dpxattn::samplers::Rational::integer(
        (sigma / unit).ceil() as u64,
    ))
    .expect("valid sigma");
    mean.iter()
        .map(|&m| (m + g.sample(rng).expect("rng") as f64 * unit) as f32)
        .collect()
}
