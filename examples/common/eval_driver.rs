//! Command line and data handling shared by `examples/eval.rs` and `examples/plot.rs`:
//! parses the options of the issue-6 contract, loads a data directory, chooses the public
//! parameters, and runs [`eval_core::eval_head`] on every selected head.
#![allow(dead_code)]

use crate::common::{Dataset, bundled, centred, mean_row};
use crate::eval_core::{self, HeadData, HeadReport, Summary, median, norm_percentile};
use dpxattn::mechanism::{Params, Plan};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "usage: eval --data DIR [--epsilon E] [--delta D] [--degree S | --kernel-rel-err X] \
[--radius-q R] [--radius-k R] [--radius-v R] [--clip C] [--layout flat|tree] [--block B] \
[--heads LIST] [--seed N] [--json] [--trials T] [--parts P] [--public DIR] \
[--center public|none] [--bound auto|default|B]";

/// Options of one evaluation run.
#[derive(Clone, Debug)]
pub struct Options {
    pub data: PathBuf,
    pub epsilon: f64,
    pub delta: f64,
    pub degree: Option<u32>,
    pub kernel_rel_err: Option<f64>,
    pub radius_q: Option<f64>,
    pub radius_k: Option<f64>,
    pub radius_v: Option<f64>,
    pub clip: Option<f64>,
    pub tree: bool,
    pub block: Option<u32>,
    /// Positions on the file's head axis (0-based); None = all.
    pub heads: Option<Vec<usize>>,
    pub seed: u64,
    pub json: bool,
    /// Independent releases per head (medians are over trials × heads × rows).
    pub trials: usize,
    /// `Params::parts`: 1 = (ε, δ) per head (default); H = (ε, δ) for H heads together.
    pub parts: u32,
    /// Where the public statistics (value radius, mean key) come from (default: see
    /// `public_reference`).
    pub public: Option<PathBuf>,
    /// Subtract the public mean key of each head from the keys (exact for softmax).
    pub center: bool,
    /// How the score bound B is chosen when no radius is given.
    pub bound: Bound,
}

/// The score bound B = τ·r_q·r_k.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// `Plan::suggested_score_bound` for direction-only inputs (r_q = r_k = 1, τ = B).
    Auto,
    /// `Params::new`'s radii with the model's τ (B = 1; the defaults before key centring).
    Default,
    /// This B, direction-only inputs.
    Fixed(f64),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data: PathBuf::new(),
            epsilon: 1.0,
            delta: 1e-5,
            degree: None,
            kernel_rel_err: None,
            radius_q: None,
            radius_k: None,
            radius_v: None,
            clip: None,
            tree: false,
            block: None,
            heads: None,
            seed: 1,
            json: false,
            trials: 1,
            parts: 1,
            public: None,
            center: true,
            bound: Bound::Auto,
        }
    }
}

fn parse_heads(s: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|x| !x.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (
                a.trim()
                    .parse()
                    .map_err(|_| format!("bad head range {part}"))?,
                b.trim()
                    .parse()
                    .map_err(|_| format!("bad head range {part}"))?,
            );
            if a > b {
                return Err(format!("bad head range {part}"));
            }
            v.extend(a..=b);
        } else {
            v.push(
                part.trim()
                    .parse()
                    .map_err(|_| format!("bad head {part}"))?,
            );
        }
    }
    if v.is_empty() {
        return Err("--heads: empty list".into());
    }
    Ok(v)
}

/// Parses the command line (without the program name). Unknown flags are errors.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut data = None;
    let mut layout: Option<String> = None;
    let mut bound_given = false;
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let mut val = || -> Result<&str, String> {
            i += 1;
            args.get(i)
                .map(String::as_str)
                .ok_or(format!("{flag} needs a value"))
        };
        fn num<T: std::str::FromStr>(flag: &str, s: &str) -> Result<T, String> {
            s.parse().map_err(|_| format!("{flag}: cannot parse {s:?}"))
        }
        match flag {
            "--data" => data = Some(PathBuf::from(val()?)),
            "--epsilon" => o.epsilon = num(flag, val()?)?,
            "--delta" => o.delta = num(flag, val()?)?,
            "--degree" => o.degree = Some(num(flag, val()?)?),
            "--kernel-rel-err" => o.kernel_rel_err = Some(num(flag, val()?)?),
            "--radius-q" => o.radius_q = Some(num(flag, val()?)?),
            "--radius-k" => o.radius_k = Some(num(flag, val()?)?),
            "--radius-v" => o.radius_v = Some(num(flag, val()?)?),
            "--clip" => o.clip = Some(num(flag, val()?)?),
            "--layout" => layout = Some(val()?.to_string()),
            "--block" => o.block = Some(num(flag, val()?)?),
            "--heads" => o.heads = Some(parse_heads(val()?)?),
            "--seed" => o.seed = num(flag, val()?)?,
            "--trials" => o.trials = num(flag, val()?)?,
            "--parts" => o.parts = num(flag, val()?)?,
            "--public" => o.public = Some(PathBuf::from(val()?)),
            "--center" => {
                o.center = match val()? {
                    "public" => true,
                    "none" => false,
                    x => return Err(format!("--center: public or none, not {x:?}")),
                }
            }
            "--bound" => {
                bound_given = true;
                o.bound = match val()? {
                    "auto" => Bound::Auto,
                    "default" => Bound::Default,
                    x => match x.parse::<f64>() {
                        Ok(b) if b > 0.0 && b.is_finite() => Bound::Fixed(b),
                        _ => return Err(format!("--bound: auto, default or a B > 0, not {x:?}")),
                    },
                }
            }
            "--json" => o.json = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
        i += 1;
    }
    o.data = data.ok_or(format!("--data DIR is required\n{USAGE}"))?;
    if o.degree.is_some() && o.kernel_rel_err.is_some() {
        return Err("give either --degree or --kernel-rel-err, not both".into());
    }
    match layout.as_deref() {
        None => o.tree = o.block.is_some(),
        Some("flat") => {
            if o.block.is_some() {
                return Err("--block needs --layout tree".into());
            }
        }
        Some("tree") => o.tree = true,
        Some(x) => return Err(format!("--layout: flat or tree, not {x:?}")),
    }
    if o.tree && o.block.is_none() {
        o.block = Some(DEFAULT_BLOCK);
    }
    if o.radius_q.is_some() || o.radius_k.is_some() {
        if bound_given && o.bound != Bound::Default {
            return Err(
                "--bound sets the radii: give it or --radius-q/--radius-k, not both".into(),
            );
        }
        // Explicit radii keep the model's τ (B = τ·r_q·r_k).
        o.bound = Bound::Default;
    }
    if o.trials == 0 || o.parts == 0 {
        return Err("--trials and --parts must be ≥ 1".into());
    }
    Ok(o)
}

/// Leaf block of `--layout tree` without `--block`.
pub const DEFAULT_BLOCK: u32 = 64;

// ---------------------------------------------------------------------------------------
// meta.json bits the common loader does not read.

fn json_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = &text[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

fn json_str(text: &str, key: &str) -> Option<String> {
    let rest = json_after(text, key)?.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn json_uint(text: &str, key: &str) -> Option<usize> {
    let rest = json_after(text, key)?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

fn json_uint_array(text: &str, key: &str) -> Option<Vec<usize>> {
    let rest = json_after(text, key)?.strip_prefix('[')?;
    rest[..rest.find(']')?]
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect()
}

/// What the evaluation needs from meta.json besides shapes.
pub struct Meta {
    /// "A" (minilm: Zen of Python + heapq) or "long_public" (minilm_long: stdlib docs).
    pub set: String,
    pub layer: usize,
    /// Model head id of each position on the head axis.
    pub head_ids: Vec<usize>,
}

pub fn read_meta(dir: &Path, heads: usize) -> Result<Meta, String> {
    let text = std::fs::read_to_string(dir.join("meta.json"))
        .map_err(|e| format!("{}: {e}", dir.join("meta.json").display()))?;
    Ok(Meta {
        set: json_str(&text, "set").unwrap_or_default(),
        layer: json_uint(&text, "layer").unwrap_or(usize::MAX),
        head_ids: json_uint_array(&text, "head_ids").unwrap_or_else(|| (0..heads).collect()),
    })
}

/// The public reference for the value radius: a data set of the **other** text at the
/// same layer (the minilm_long stdlib docs for a minilm prompt, the minilm Zen-of-Python
/// prompt for a minilm_long one), its largest n. Searched next to DIR
/// (`DIR/../../<other>/`), then in the bundled `examples/data/<other>/`; if no same-layer
/// set exists, the bundled layer-2 set (a coarser public statistic; a warning is printed).
/// Never DIR's own values: they are the private rows.
pub fn public_reference(dir: &Path, meta: &Meta) -> Result<(PathBuf, Option<String>), String> {
    let (other, n) = if meta.set == "A" {
        ("minilm_long", 4096)
    } else {
        ("minilm", 512)
    };
    let name = format!("n{n}_layer{}", meta.layer);
    let mut cands = Vec::new();
    if let Some(root) = dir.parent().and_then(Path::parent) {
        cands.push(root.join(other).join(&name));
    }
    cands.push(bundled(&format!("{other}/{name}")));
    for c in &cands {
        if c.join("meta.json").exists() {
            return Ok((c.clone(), None));
        }
    }
    let fallback = bundled(&format!("{other}/n{n}_layer2"));
    if fallback.join("meta.json").exists() {
        let warn = format!(
            "no public layer-{} set of the other text found; using {} (layer 2) for the value radius",
            meta.layer,
            fallback.display()
        );
        return Ok((fallback, Some(warn)));
    }
    Err("no public reference for the value radius: pass --radius-v or --public DIR".into())
}

/// The value radius of each selected head: `--radius-v` if given, else the 90th
/// percentile of the value norms of the same model head on the public reference text
/// (pooled over the reference's heads if it lacks that head).
pub struct RadiusV {
    pub per_head: Vec<f64>,
    pub source: String,
    pub warning: Option<String>,
}

/// The public reference data set (another text, same model and layer), loaded once.
pub struct Reference {
    pub dir: PathBuf,
    pub data: Dataset,
    pub meta: Meta,
    pub warning: Option<String>,
}

impl Reference {
    /// `--public DIR` or the default [`public_reference`]; d must match.
    pub fn load(o: &Options, data: &Dataset, meta: &Meta) -> Result<Reference, String> {
        let (dir, warning) = match &o.public {
            Some(p) => (p.clone(), None),
            None => public_reference(&data.dir, meta)?,
        };
        let rdata = Dataset::load(&dir)?;
        if rdata.d != data.d {
            return Err(format!(
                "public reference {} has d = {}, not {}",
                dir.display(),
                rdata.d,
                data.d
            ));
        }
        let rmeta = read_meta(&dir, rdata.heads)?;
        Ok(Reference {
            dir,
            data: rdata,
            meta: rmeta,
            warning,
        })
    }

    /// Position of model head `id` in the reference, if it has that head.
    fn head(&self, id: usize) -> Option<usize> {
        self.meta.head_ids.iter().position(|&x| x == id)
    }

    /// The mean key of model head `id` on the public text (pooled over its heads if it
    /// lacks that head).
    pub fn key_mean(&self, id: usize) -> Vec<f32> {
        let keys = match self.head(id) {
            Some(pos) => self.data.keys(pos),
            None => &self.data.k[..],
        };
        mean_row(keys, self.data.d)
    }
}

pub fn choose_radius_v(
    o: &Options,
    reference: Option<&Reference>,
    meta: &Meta,
    heads: &[usize],
) -> Result<RadiusV, String> {
    if let Some(r) = o.radius_v {
        return Ok(RadiusV {
            per_head: vec![r; heads.len()],
            source: "--radius-v".into(),
            warning: None,
        });
    }
    let reference = reference.ok_or("no public reference for the value radius")?;
    let mut per_head = Vec::new();
    let mut pooled = false;
    for &h in heads {
        let id = meta.head_ids.get(h).copied().unwrap_or(h);
        let r = match reference.head(id) {
            Some(pos) => norm_percentile(reference.data.values(pos), reference.data.d, 90.0),
            None => {
                pooled = true;
                norm_percentile(&reference.data.v, reference.data.d, 90.0)
            }
        };
        per_head.push(r);
    }
    Ok(RadiusV {
        per_head,
        source: format!(
            "p90 of value norms on public {}{}",
            reference.dir.display(),
            if pooled {
                " (pooled over heads for heads it lacks)"
            } else {
                ""
            }
        ),
        warning: reference.warning.clone(),
    })
}

/// Base parameters (before the per-head value radius): the library's recommended
/// defaults, `Params::new`, overridden by the options.
pub fn params_for(o: &Options, data: &Dataset) -> Params {
    let mut p = Params::new(data.d as u32, data.d as u32, data.n as u32);
    p.score_scale = data.scale;
    p.epsilon = o.epsilon;
    p.delta = o.delta;
    if let Some(s) = o.degree {
        p.degree = s;
    }
    if let Some(x) = o.kernel_rel_err {
        p.degree = 0;
        p.kernel_rel_err = x;
    }
    if let Some(r) = o.radius_q {
        p.radius_q = r;
    }
    if let Some(r) = o.radius_k {
        p.radius_k = r;
    }
    if let Some(c) = o.clip {
        p.clip = c;
    }
    if o.tree {
        p.block = o.block.unwrap_or(DEFAULT_BLOCK);
    }
    p.parts = o.parts;
    let b = match o.bound {
        Bound::Default => return p,
        Bound::Fixed(b) => b,
        // σ does not depend on B, so the plan of the defaults gives the noise level.
        Bound::Auto => match Plan::new(&p) {
            Ok(plan) => plan.suggested_score_bound(data.n as u32),
            Err(_) => return p, // the run reports the error when it plans for real
        },
    };
    p.radius_q = 1.0;
    p.radius_k = 1.0;
    p.score_scale = b;
    p
}

/// One complete run: per-head reports and the summary.
pub struct Run {
    pub data: Dataset,
    pub meta: Meta,
    pub params: Params,
    pub heads: Vec<usize>,
    pub radius_v: RadiusV,
    pub reports: Vec<HeadReport>,
    pub summary: Summary,
    /// The planner's signal measured on the public reference (see [`public_signal`]).
    pub public_signal: Option<f64>,
}

pub fn run(o: &Options) -> Result<Run, String> {
    let data = Dataset::load(&o.data)?;
    let meta = read_meta(&data.dir, data.heads)?;
    let heads: Vec<usize> = o.heads.clone().unwrap_or_else(|| (0..data.heads).collect());
    if let Some(&h) = heads.iter().find(|&&h| h >= data.heads) {
        return Err(format!("--heads: {h} ≥ {} heads in the data", data.heads));
    }
    let needs_reference = o.radius_v.is_none() || o.center;
    let reference = if needs_reference {
        Some(Reference::load(o, &data, &meta)?)
    } else {
        None
    };
    let radius_v = choose_radius_v(o, reference.as_ref(), &meta, &heads)?;
    let params = params_for(o, &data);
    let mut reports = Vec::new();
    for (&h, &rv) in heads.iter().zip(&radius_v.per_head) {
        let mut p = params;
        p.radius_v = rv;
        // Keys centred on the public mean key of the same model head: softmax(q·(k − μ))
        // = softmax(q·k), since q·μ is the same for every key.
        let centred_keys: Option<Vec<f32>> = reference.as_ref().filter(|_| o.center).map(|r| {
            centred(
                data.keys(h),
                &r.key_mean(meta.head_ids.get(h).copied().unwrap_or(h)),
            )
        });
        let hd = HeadData {
            n: data.n,
            m: data.m,
            d: data.d,
            dv: data.d,
            k: centred_keys.as_deref().unwrap_or(data.keys(h)),
            v: data.values(h),
            q: data.queries(h),
            o: data.outputs(h),
        };
        reports.push(
            eval_core::eval_head(&hd, &p, h, o.trials, o.seed)
                .map_err(|e| format!("head {h}: {e}"))?,
        );
    }
    let summary = Summary::new(data.n, &params, &reports);
    let public_signal = match &reference {
        Some(r) => Some(public_signal(o, r, &params, &radius_v, &meta, &heads)?),
        None => None,
    };
    Ok(Run {
        data,
        meta,
        params,
        heads,
        radius_v,
        reports,
        summary,
        public_signal,
    })
}

/// The planner's input measured on the public reference text with the same public
/// parameters: the median over its heads × query rows of the signal the noise-free
/// structure keeps (`HeadReport::signal`). Keys centred on the reference's own mean key,
/// as the private keys are. Never touches the evaluated (private) rows.
fn public_signal(
    o: &Options,
    r: &Reference,
    params: &Params,
    radius_v: &RadiusV,
    meta: &Meta,
    heads: &[usize],
) -> Result<f64, String> {
    let d = r.data.d;
    let mut all = Vec::new();
    for (&h, &rv) in heads.iter().zip(&radius_v.per_head) {
        let id = meta.head_ids.get(h).copied().unwrap_or(h);
        let Some(pos) = r.head(id) else { continue };
        let k = if o.center {
            centred(r.data.keys(pos), &r.key_mean(id))
        } else {
            r.data.keys(pos).to_vec()
        };
        let hd = HeadData {
            n: r.data.n,
            m: r.data.m,
            d,
            dv: d,
            k: &k,
            v: r.data.values(pos),
            q: r.data.queries(pos),
            o: r.data.outputs(pos),
        };
        let mut p = *params;
        p.radius_v = rv;
        p.n_max = r.data.n as u32;
        let rep = eval_core::eval_head(&hd, &p, h, 1, o.seed)
            .map_err(|e| format!("public reference, head {h}: {e}"))?;
        all.extend(rep.signal);
    }
    Ok(if all.is_empty() { 0.0 } else { median(&all) })
}
