//! Accuracy of private attention on real data, against exact attention and two baselines.
//!
//! ```text
//! cargo run --release --example eval -- --data DIR [--epsilon E] [--delta D]
//!     [--degree S | --kernel-rel-err X] [--radius-q R] [--radius-k R] [--radius-v R]
//!     [--clip C] [--layout flat|tree] [--block B] [--heads LIST] [--seed N] [--json]
//!     [--trials T] [--parts P] [--public DIR] [--center public|none] [--bound auto|default|B]
//! ```
//! DIR has the layout of `examples/data/minilm/n512_layer2` (K.f32, V.f32, Q.f32, O.f32 and
//! meta.json, which gives the shapes and the score scale). For every head and every query
//! row it reports ‖ô − o‖₂ / rms‖o‖ (rms over that head's query rows; o = O.f32, the
//! model's exact output) for five pipelines (see `common/eval_core.rs`):
//! `dp` (this library: real build and queries), `uniform` (DP mean of the clipped values at
//! the same budget, which ignores the query), `paper` (the same pipeline with the paper's
//! per-entry calibration and advanced composition), `kernel` (no noise: clipping +
//! polynomial kernel) and `clip` (exact softmax on the clipped inputs).
//!
//! # Defaults: the library's recommended *public* choices
//! - Keys centred on a public mean key: the mean key of the same model head on the public
//!   reference text (below) is subtracted from every key (`--center none` turns it off).
//!   Exact for softmax (q·μ is the same for every key), no privacy cost.
//! - Direction-only inputs (r_q = r_k = 1) with the score bound
//!   B = `Plan::suggested_score_bound(n)` (`--bound auto`); `--bound B` fixes B, and
//!   `--bound default` (or `--radius-q`/`--radius-k`) keeps `Params::new`'s radii with the
//!   model's τ from meta.json (r_q = r_k = d^¼, B = 1: the defaults before centring).
//! - `Params::new` otherwise: degree 2, γ = 1, flat layout, no contribution clipping,
//!   δ = 10⁻⁵, ε = 1.
//! - r_v (per head): the 90th percentile of the value norms of the same model head on a
//!   **different, public** text — the bundled minilm_long (stdlib docstrings) set when DIR is
//!   a minilm (Zen of Python) set, and vice versa, at the same layer. Never DIR's own K/V:
//!   they are the private rows, and a radius read from them would leak. `--radius-v` or
//!   `--public DIR2` override it.
//! - Budget: (ε, δ) is **per head** (each head's structure is one release; `Params::parts`
//!   = 1). The baselines are on the same footing: the uniform baseline spends (ε, δ) per
//!   head, and the paper's calibration splits (ε, δ) over the r·(dv+1) entries of one
//!   head. `--parts P` makes (ε, δ) the budget of P heads released together, for all three.
//!
//! # Output
//! Human-readable tables by default. With `--json`, one `{"kind":"head",…}` object per head,
//! then, as the last line, exactly
//! `{"kind":"summary","n":…,"heads":…,"epsilon":…,"delta":…,"dp_err":…,"uniform_err":…,"paper_err":…,"kernel_err":…,"clip_err":…}`
//! with medians over heads × query rows (× trials, if `--trials` > 1).

mod common;
#[path = "common/eval_core.rs"]
mod eval_core;
#[path = "common/eval_driver.rs"]
mod eval_driver;

use eval_core::{json_num, median};
use eval_driver::{Run, parse_args, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(r) => {
            if let Some(w) = &r.radius_v.warning {
                eprintln!("warning: {w}");
            }
            if opts.json {
                print_json(&r);
            } else {
                print_human(&r, opts.trials);
            }
        }
        Err(e) => {
            eprintln!("eval: {e}");
            std::process::exit(1);
        }
    }
}

fn print_json(r: &Run) {
    for (&h, rep) in r.heads.iter().zip(&r.reports) {
        let e = &rep.errors;
        println!(
            "{{\"kind\":\"head\",\"head\":{h},\"radius_v\":{},\"rms\":{},\"degree\":{},\"features\":{},\"image_bytes\":{},\"sigma\":{},\"dp_err\":{},\"uniform_err\":{},\"paper_err\":{},\"kernel_err\":{},\"clip_err\":{},\"dp_noise\":{},\"uniform_noise\":{},\"paper_noise\":{},\"pred_dp_noise\":{},\"pred_uniform_noise\":{},\"pred_kernel\":{},\"signal\":{},\"dp_floor_hits\":{},\"paper_floor_hits\":{},\"paper_noise_ratio\":{}}}",
            json_num(rep.radius_v),
            json_num(rep.rms),
            rep.degree,
            rep.features,
            rep.image_bytes,
            json_num(rep.sigma),
            json_num(median(&e.dp)),
            json_num(median(&e.uniform)),
            json_num(median(&e.paper)),
            json_num(median(&e.kernel)),
            json_num(median(&e.clip)),
            json_num(median(&rep.dp_noise)),
            json_num(median(&rep.uniform_noise)),
            json_num(median(&rep.paper_noise)),
            json_num(rep.prediction.dp_noise),
            json_num(rep.prediction.uniform_noise),
            json_num(rep.prediction.kernel),
            json_num(median(&rep.signal)),
            rep.dp_floor_hits,
            rep.paper_floor_hits,
            json_num(rep.paper_noise_ratio),
        );
    }
    println!("{}", r.summary.json());
}

fn print_human(r: &Run, trials: usize) {
    let p = &r.params;
    let first = &r.reports[0];
    println!(
        "dpxattn eval: {}  (n = {}, m = {} query rows, d = dv = {}, layer {})",
        r.data.dir.display(),
        r.data.n,
        r.data.m,
        r.data.d,
        r.meta.layer
    );
    println!(
        "  (ε, δ) = ({}, {:e}) per {}; degree {} ({} features), B = τ·r_q·r_k = {:.3}, layout {}{}{}",
        p.epsilon,
        p.delta,
        if p.parts == 1 {
            "head".to_string()
        } else {
            format!("{} heads together", p.parts)
        },
        first.degree,
        first.features,
        p.score_scale * p.radius_q * p.radius_k,
        if p.block == 0 {
            "flat".to_string()
        } else {
            format!("tree (block {})", p.block)
        },
        if p.clip > 0.0 {
            format!(", contribution clip C = {}", p.clip)
        } else {
            String::new()
        },
        if trials > 1 {
            format!(", {trials} trials")
        } else {
            String::new()
        },
    );
    println!("  r_v: {}", r.radius_v.source);
    println!();
    println!(
        "errors ‖ô − o‖₂ / rms‖o‖, median over query rows{}:",
        if trials > 1 { " × trials" } else { "" }
    );
    println!(
        "head |   r_v  | rms‖o‖ | image KiB |   σ     |   dp   | uniform |  paper  | kernel |  clip  | floor dp/paper | paper σ / ours"
    );
    for (&h, rep) in r.heads.iter().zip(&r.reports) {
        let e = &rep.errors;
        println!(
            "{h:>4} | {:>6.3} | {:>6.3} | {:>9.1} | {:>7.4} | {:>6.3} | {:>7.3} | {:>7.3} | {:>6.3} | {:>6.3} | {:>6} / {:<6} | {:>8.1}",
            rep.radius_v,
            rep.rms,
            rep.image_bytes as f64 / 1024.0,
            rep.sigma,
            median(&e.dp),
            median(&e.uniform),
            median(&e.paper),
            median(&e.kernel),
            median(&e.clip),
            rep.dp_floor_hits,
            rep.paper_floor_hits,
            rep.paper_noise_ratio,
        );
    }
    let s = &r.summary;
    println!(
        " all |        |        |           |         | {:>6.3} | {:>7.3} | {:>7.3} | {:>6.3} | {:>6.3} |",
        s.dp_err, s.uniform_err, s.paper_err, s.kernel_err, s.clip_err
    );
    println!(
        "paper_err / dp_err = {:.2};  dp {} uniform",
        s.paper_err / s.dp_err,
        if s.dp_err < s.uniform_err {
            "beats"
        } else {
            "does NOT beat"
        }
    );
    println!();
    println!("noise parts in units of r_v (median): measured vs Plan::predict (typical case)");
    println!(
        "head | dp noise meas | pred  | uniform noise meas | pred  | kernel meas* | pred  | bound(β=.05) | signal kept**"
    );
    for (&h, rep) in r.heads.iter().zip(&r.reports) {
        let pr = &rep.prediction;
        println!(
            "{h:>4} | {:>13.4} | {:>5.3} | {:>18.4} | {:>5.3} | {:>12.4} | {:>5.3} | {:>12.3} | {:>13.3}",
            median(&rep.dp_noise),
            pr.dp_noise,
            median(&rep.uniform_noise),
            pr.uniform_noise,
            median(&rep.kernel_vs_clip),
            pr.kernel,
            rep.bound_single,
            median(&rep.signal),
        );
    }
    println!(
        "* ‖kernel − clip‖ / r_v: the kernel's own error (polynomial instead of exp, same clipped inputs)."
    );
    println!(
        "** √(‖o − mean v‖² − ‖o − o_kernel‖²) / r_v: the attention signal the noise-free structure keeps; dp beats"
    );
    println!(
        "   uniform when it exceeds Prediction::break_even_signal (examples/plan.rs --signal)."
    );
    println!(
        "paper: k = {} scalar mechanisms per head, ε₀ = {:.3e} each (advanced composition, δ'' = δ/2)",
        first.paper_k, first.paper_eps0
    );
}
