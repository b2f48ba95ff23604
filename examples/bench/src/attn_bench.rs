//! Part B: the private mechanism's query against exact softmax attention, and its build
//! cost, on the same random prompt.
//!
//! The mechanism is reached through [`Subject`], so this harness (data, timing, rows) does
//! not depend on the mechanism's API; `main` passes the subject it has.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::exact::{exact_attention, exact_attention_portable};
use crate::report::{Report, json_num};
use crate::timing::{Budget, ns_per_call};

/// Key/query dimension of the benchmark rows.
pub const D: usize = 32;
/// Value dimension of the benchmark rows.
pub const DV: usize = 32;
/// Prompt lengths of the rows.
pub const NS: [usize; 5] = [256, 1024, 4096, 16384, 65536];
/// Distinct queries, cycled through by the timing loops (so no single query's cache
/// footprint or branch pattern is all that is measured).
pub const QUERIES: usize = 64;
/// Seed of the workload (fixed: every run times the same data).
pub const SEED: u64 = 0xA77E_2024;
/// Score scale τ used when there is no subject to take it from.
pub const DEFAULT_TAU: f32 = 1.0;

/// A prompt (keys, values) and a set of queries, all rows inside the unit ball.
pub struct Workload {
    /// Prompt length.
    pub n: usize,
    /// `n × D`, row-major.
    pub keys: Vec<f32>,
    /// `n × DV`, row-major.
    pub values: Vec<f32>,
    /// `QUERIES × D`, row-major.
    pub queries: Vec<f32>,
}

impl Workload {
    /// The fixed-seed workload of length `n`.
    pub fn new(n: usize) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ n as u64);
        Workload {
            n,
            keys: unit_ball_rows(&mut rng, n, D),
            values: unit_ball_rows(&mut rng, n, DV),
            queries: unit_ball_rows(&mut rng, QUERIES, D),
        }
    }

    /// Query `i mod QUERIES`.
    pub fn query(&self, i: usize) -> &[f32] {
        let i = i % QUERIES;
        &self.queries[i * D..(i + 1) * D]
    }
}

/// `rows` vectors of length `dim`: a direction from the uniform cube, normalised, times a
/// radius uniform in [0.5, 1). So every norm is < 1 (inside the unit ball the mechanism's
/// default radii assume) and no vector is near 0.
pub fn unit_ball_rows(rng: &mut ChaCha8Rng, rows: usize, dim: usize) -> Vec<f32> {
    let mut unif = || (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32; // [0, 1)
    let mut out = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        let start = out.len();
        out.extend((0..dim).map(|_| 2.0 * unif() - 1.0));
        let row = &mut out[start..];
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        let radius = 0.5 + 0.5 * unif();
        // radius/norm rounded down a hair so that f32 rounding cannot push a norm to 1.
        let scale = radius / norm * (1.0 - 1e-6);
        row.iter_mut().for_each(|x| *x *= scale);
    }
    out
}

/// Answers one query (`q`: d floats, `out`: dv floats).
pub type Querier<'a> = Box<dyn FnMut(&[f32], &mut [f32]) -> Result<(), String> + 'a>;

/// What the rows time: something that builds a summary of a prompt once and then answers
/// queries from it (the DP mechanism).
pub trait Subject {
    /// The polynomial degree reported in the rows.
    fn degree(&self) -> u32;
    /// The score scale τ it approximates `softmax(τ·q·Kᵀ)·V` at (the exact side uses it too).
    fn score_scale(&self) -> f32;
    /// Builds (or rebuilds) the summary of `w`'s prompt. Timed for the `build` row.
    fn build(&mut self, w: &Workload) -> Result<(), String>;
    /// Opens the last summary built for querying (untimed: a real caller opens once and
    /// queries many times) and returns the query function, which is timed for the
    /// `query_vs_exact` row.
    fn querier(&mut self) -> Result<Querier<'_>, String>;
}

/// Times every `n` in [`NS`] and writes the rows. With no subject only the exact side is
/// timed, and only the human report gets it: the JSON rows need both sides.
pub fn run(
    budget: Budget,
    mut subject: Option<&mut dyn Subject>,
    report: &mut Report,
) -> Result<(), String> {
    let tau = subject.as_ref().map_or(DEFAULT_TAU, |s| s.score_scale());
    report.human(format_args!(
        "query_vs_exact / build: d={D} dv={DV} τ={tau}, {QUERIES} queries cycled, median of {} runs × {:.2} s ({})",
        budget.runs,
        budget.run_time.as_secs_f64(),
        crate::timing::CLOCK
    ));
    report.human(format_args!(
        "  exact kernel: {}",
        crate::exact::kernel_name()
    ));
    report.human(format_args!("  dpxattn query: {}", ours_kernel_name()));
    match subject {
        Some(ref s) => report.human(format_args!(
            "  {:>6} {:>12} {:>14} {:>14} {:>9} {:>16} {:>19}",
            "n",
            "exact ns",
            "(portable ns)",
            format!("ours(deg {}) ns", s.degree()),
            "speedup",
            "build ns/token",
            "(ours portable ns)"
        )),
        None => report.human(format_args!(
            "  {:>6} {:>12} {:>14}   (no mechanism wired: exact side only, no JSON rows)",
            "n", "exact ns", "(portable ns)"
        )),
    }
    let mut out = vec![0.0f32; DV];
    for n in NS {
        let w = Workload::new(n);
        let mut i = 0usize;
        let exact_ns = ns_per_call::<f32, String>(budget, || {
            i += 1;
            exact_attention(w.query(i), &w.keys, &w.values, tau, &mut out);
            Ok(out[0])
        })?;
        // The portable kernel, for the human report only (it is the fallback off x86-64).
        let portable_ns = if report.is_json() {
            f64::NAN
        } else {
            ns_per_call::<f32, String>(budget, || {
                i += 1;
                exact_attention_portable(w.query(i), &w.keys, &w.values, tau, &mut out);
                Ok(out[0])
            })?
        };
        let Some(s) = subject.as_deref_mut() else {
            report.human(format_args!(
                "  {n:>6} {exact_ns:>12.0} {portable_ns:>14.0}"
            ));
            continue;
        };
        // A build costs ~n·(feature dim)·(dv+1) multiply-adds plus the noise: up to about a
        // second at the largest n, so fewer runs; the calibration run is one build too.
        let build_budget = Budget {
            runs: budget.runs.min(3),
            ..budget
        };
        let build_ns = ns_per_call(build_budget, || s.build(&w))?;
        let degree = s.degree();
        let mut query = s.querier()?;
        let mut i = 0usize;
        let ours_ns = ns_per_call::<f32, String>(budget, || {
            i += 1;
            query(w.query(i), &mut out)?;
            Ok(out[0])
        })?;
        // The library's portable path (what a CPU without AVX2 runs), human report only.
        let ours_portable_ns = if report.is_json() {
            f64::NAN
        } else {
            dpxattn::cpu::allow_simd(false);
            let t = ns_per_call::<f32, String>(budget, || {
                i += 1;
                query(w.query(i), &mut out)?;
                Ok(out[0])
            });
            dpxattn::cpu::allow_simd(true);
            t?
        };
        drop(query);
        let ns_per_token = build_ns / w.n as f64;
        report.human(format_args!(
            "  {n:>6} {exact_ns:>12.0} {portable_ns:>14.0} {ours_ns:>14.0} {:>8.2}× {ns_per_token:>16.1} {ours_portable_ns:>19.0}",
            exact_ns / ours_ns
        ));
        report.json(format_args!(
            "{{\"name\":\"query_vs_exact\",\"n\":{n},\"d\":{D},\"dv\":{DV},\"degree\":{degree},\"ours_ns\":{},\"exact_ns\":{},\"speedup\":{}}}",
            json_num(ours_ns, 1),
            json_num(exact_ns, 1),
            json_num(exact_ns / ours_ns, 3)
        ));
        report.json(format_args!(
            "{{\"name\":\"build\",\"n\":{n},\"d\":{D},\"dv\":{DV},\"degree\":{degree},\"ns_per_token\":{}}}",
            json_num(ns_per_token, 1)
        ));
    }
    Ok(())
}

/// Which inner loops the library picks on this machine (it detects AVX2 itself, in
/// `no_std`, with CPUID).
fn ours_kernel_name() -> &'static str {
    if dpxattn::cpu::simd_in_use() {
        "AVX2 (runtime-detected)"
    } else {
        "portable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_fixed_and_inside_the_unit_ball() {
        let a = Workload::new(300);
        let b = Workload::new(300);
        assert_eq!(a.keys, b.keys);
        assert_eq!(
            (a.keys.len(), a.values.len(), a.queries.len()),
            (300 * D, 300 * DV, QUERIES * D)
        );
        for (rows, dim) in [(&a.keys, D), (&a.values, DV), (&a.queries, D)] {
            for r in rows.chunks_exact(dim) {
                let norm = r.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
                assert!((0.49..1.0).contains(&norm), "{norm}");
            }
        }
        assert_ne!(Workload::new(301).keys[..D], a.keys[..D]);
    }

    /// The rows are produced end to end with a stand-in subject (exact attention itself),
    /// so the harness is exercised before the mechanism is wired.
    #[test]
    fn rows_with_a_stand_in_subject() {
        struct Exact(Option<(Vec<f32>, Vec<f32>)>, u32);
        impl Subject for Exact {
            fn degree(&self) -> u32 {
                0
            }
            fn score_scale(&self) -> f32 {
                1.0
            }
            fn build(&mut self, w: &Workload) -> Result<(), String> {
                self.0 = Some((w.keys.clone(), w.values.clone()));
                self.1 += 1;
                Ok(())
            }
            fn querier(&mut self) -> Result<Querier<'_>, String> {
                let (k, v) = self.0.as_ref().ok_or("query before build")?;
                Ok(Box::new(move |q, out| {
                    exact_attention(q, k, v, 1.0, out);
                    Ok(())
                }))
            }
        }
        let mut s = Exact(None, 0);
        let budget = Budget {
            runs: 1,
            run_time: std::time::Duration::from_micros(200),
        };
        run(budget, Some(&mut s), &mut Report::new(true)).unwrap();
        assert!(s.1 >= NS.len() as u32);
    }
}
