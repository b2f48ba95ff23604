//! Planner: is DP attention worth it for my n and ε? Sizes, noise, bounds and predicted
//! errors for candidate degrees and score bounds, from public numbers only (no data).
//!
//! ```text
//! cargo run --example plan -- --d 32 --dv 32 --n 4096 --epsilon 1 [--delta 1e-5]
//!     [--tau T] [--parts P] [--block B] [--clip C] [--signal S]
//! ```
//! Every number comes from the library API (`Plan::new`, `Plan::bound`, `Plan::predict`),
//! which is `no_std` and heap-free, so a device can make the same decision. Errors are in
//! units of the value radius r_v. `dp` and `uniform` are typical-case predictions (not
//! bounds) of this structure and of the DP-uniform baseline (the DP mean of the values,
//! which ignores the query) at the same budget; `bound` is the a-priori single-query bound
//! (probability ≥ 0.95).
//!
//! The first row of each degree is the suggested score bound (`Plan::suggested_score_bound`,
//! marked `*`), meant for direction-only inputs and keys centred on a public mean key (see
//! its docs); the others are fixed alternatives.
//!
//! Whether the structure beats the baseline also depends on the data: the baseline misses
//! the attention signal ‖o − mean(v)‖, and the noise-free structure misses ‖o − o_kernel‖
//! (clipping and kernel). What counts is the signal the structure keeps,
//! √(‖o − mean v‖² − ‖o − o_kernel‖²)/r_v, which `examples/eval.rs` prints ("signal kept")
//! — run it on *public* text of your domain and pass it as `--signal`. Without `--signal`
//! the planner uses what eval measured on the bundled MiniLM layer-2 sets with centred
//! keys (`examples/plot.rs`, "public signal"): ≈ 0.055·B^0.45 (0.02 at B = 0.1, 0.055 at
//! B = 1, 0.14 at B = 8). DP attention is worth it when the signal exceeds the break-even
//! column; the verdict says "marginal" within a factor `VERDICT_MARGIN` (1.3, the measured
//! error of the noise prediction) of it.

use dpxattn::mechanism::{Params, Plan, VERDICT_MARGIN, Verdict};

fn main() {
    if let Err(e) = run() {
        eprintln!("plan: {e}");
        eprintln!(
            "usage: plan --d D --dv DV --n N --epsilon E [--delta D] [--tau T] [--parts P] [--block B] [--clip C] [--signal S]"
        );
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| -> Result<Option<f64>, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .ok_or(format!("{name} needs a value"))?
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{name}: not a number")),
        }
    };
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let known = [
            "--d",
            "--dv",
            "--n",
            "--epsilon",
            "--delta",
            "--tau",
            "--parts",
            "--block",
            "--clip",
            "--signal",
        ];
        if !known.contains(&a.as_str()) {
            return Err(format!("unknown argument {a}"));
        }
    }
    let need = |name: &str| get(name)?.ok_or(format!("{name} is required"));
    let d = need("--d")? as u32;
    let dv = need("--dv")? as u32;
    let n = need("--n")? as u32;
    let epsilon = need("--epsilon")?;
    let delta = get("--delta")?.unwrap_or(1e-5);
    let signal_arg = get("--signal")?;
    // Signal kept by the noise-free structure on the bundled MiniLM layer-2 sets with
    // centred keys (examples/plot.rs, public reference text), as a function of B.
    let signal_for = |b: f64| signal_arg.unwrap_or(0.055 * b.powf(0.45));

    let mut base = Params::new(d, dv, n);
    base.epsilon = epsilon;
    base.delta = delta;
    if let Some(t) = get("--tau")? {
        base.score_scale = t;
    }
    if let Some(p) = get("--parts")? {
        base.parts = p as u32;
    }
    if let Some(b) = get("--block")? {
        base.block = b as u32;
    }
    if let Some(c) = get("--clip")? {
        base.clip = c;
    }
    println!(
        "dpxattn plan: d = {d}, dv = {dv}, n = {n}, (ε, δ) = ({epsilon}, {delta:e}){}, τ = {:.4}, layout {}{}",
        if base.parts > 1 {
            format!(" for {} structures together", base.parts)
        } else {
            String::new()
        },
        base.score_scale,
        if base.block == 0 {
            "flat".to_string()
        } else {
            format!("tree (block {})", base.block)
        },
        if base.clip > 0.0 {
            format!(", contribution clip {}", base.clip)
        } else {
            String::new()
        }
    );
    println!(
        "errors in units of r_v; dp/uniform are typical-case predictions, bound is a guarantee"
    );
    println!();
    println!(
        "degree |   B   | r_q = r_k | features |  image KiB |    σ     | kernel ε_s | bound(β=.05) | pred dp (noise, kernel)  | pred uniform | break-even signal | signal | worth it?"
    );
    for degree in [2u32, 4] {
        let suggested = {
            let mut p = base;
            p.degree = degree;
            Plan::new(&p).map_or(1.0, |pl| pl.suggested_score_bound(n))
        };
        for (i, b) in [suggested, 0.5, 1.0, 2.0, 4.0].into_iter().enumerate() {
            let mut p = base;
            p.degree = degree;
            let r = (b / p.score_scale).sqrt();
            p.radius_q = r;
            p.radius_k = r;
            let plan = match Plan::new(&p) {
                Ok(pl) => pl,
                Err(e) => {
                    println!("{degree:>6} | {b:>5.2} | {r:>9.3} | plan error: {e:?}");
                    continue;
                }
            };
            let bound = plan.bound(n, 0.05).map_err(|e| format!("{e:?}"))?;
            let pr = plan.predict(n);
            println!(
                "{degree:>6} | {b:>4.2}{} | {r:>9.3} | {:>8} | {:>10.1} | {:>8.4} | {:>10.4} | {:>12.3} | {:>6.3} ({:>6.3}, {:>6.4}) | {:>12.4} | {:>17.3} | {:>6.3} | {}",
                if i == 0 { "*" } else { " " },
                plan.features(),
                plan.image_bytes() as f64 / 1024.0,
                plan.sigma(),
                plan.kernel_rel_err(),
                bound.single / p.radius_v,
                pr.dp,
                pr.dp_noise,
                pr.kernel,
                pr.uniform,
                pr.break_even_signal,
                signal_for(b),
                match pr.verdict(signal_for(b)) {
                    Verdict::DpWins => "yes",
                    Verdict::Marginal => "marginal",
                    Verdict::UniformWins => "no: use the DP mean",
                },
            );
        }
    }
    println!();
    println!(
        "signal: the attention signal the structure keeps (√(‖o − mean v‖² − ‖o − o_kernel‖²)/r_v, data-"
    );
    println!(
        "dependent: measure it with examples/eval.rs on public text; {}). \"marginal\": within ×{VERDICT_MARGIN}",
        if signal_arg.is_some() {
            "given by --signal"
        } else {
            "default: MiniLM layer 2, centred keys, bundled data"
        }
    );
    println!("of the break-even signal, inside the typical-case model's error.");
    Ok(())
}
