//! `dpxattn-bench`: side-by-side benchmarks of dpxattn.
//!
//! ```text
//! cargo run --release -p dpxattn-bench -- [--json] [--quick] [--only samplers|attention]
//! ```
//!
//! - `sampler_vs_opendp`: our discrete Gaussian / discrete Laplace samplers against OpenDP's
//!   at σ = 10⁶, in the same process.
//! - `query_vs_exact`, `build`: the private attention mechanism against exact f32 softmax
//!   attention.
//!
//! `--json` prints exactly one JSON object per line (nothing else on stdout); `--quick`
//! shortens every run (for CI). The process exits non-zero if a benchmark fails or a
//! sampler's output fails its sanity check.
//!
//! This crate is a separate workspace member so that `opendp` (and its dependency tree)
//! never enters the library's or its tests' dependency graph.

mod attn_bench;
mod exact;
mod mech_subject;
mod report;
mod sampler_bench;
mod timing;

use std::process::ExitCode;
use std::time::Duration;

use report::Report;
use timing::Budget;

struct Options {
    json: bool,
    quick: bool,
    samplers: bool,
    attention: bool,
}

const USAGE: &str = "usage: dpxattn-bench [--json] [--quick] [--only samplers|attention]";

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        json: false,
        quick: false,
        samplers: true,
        attention: true,
    };
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => o.json = true,
            "--quick" => o.quick = true,
            "--only" => match args.next().as_deref() {
                Some("samplers") => o.attention = false,
                Some("attention") => o.samplers = false,
                other => return Err(format!("--only takes samplers|attention, got {other:?}")),
            },
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

fn run(o: &Options) -> Result<(), String> {
    let mut report = Report::new(o.json);
    if o.samplers {
        let budget = if o.quick {
            Budget {
                runs: 5,
                run_time: Duration::from_millis(200),
            }
        } else {
            Budget {
                runs: 5,
                run_time: Duration::from_secs(1),
            }
        };
        sampler_bench::run(budget, &mut report)?;
    }
    if o.attention {
        let budget = if o.quick {
            Budget {
                runs: 5,
                run_time: Duration::from_millis(40),
            }
        } else {
            Budget {
                runs: 9,
                run_time: Duration::from_millis(200),
            }
        };
        let mut mechanism = mech_subject::Mechanism::new(2)?;
        attn_bench::run(budget, Some(&mut mechanism), &mut report)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("dpxattn-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpxattn-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
