//! Host golden data: the inputs the firmware is given and the outputs it must reproduce
//! bit for bit, written as little-endian binary files and a Rust source file (for the Rust
//! firmware) and as a C header (for the C firmware).
//!
//! Two sources of truth:
//! - the project's golden vectors, **read from** `ffi-tests/golden/vectors.txt` (the host
//!   rebuilds them with this crate's copy of the configurations and refuses to go on if its
//!   SHA-256 or output bits differ from the file, so the copy cannot drift);
//! - the harness cases ([`crate::Case`]), computed here with the mechanism itself.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use rand_core::Rng;
use sha2::{Digest, Sha256};

use crate::{
    Attn, Case, FLASH, FLASH16, GOLDEN, GOLDEN_D, GOLDEN_DV, GOLDEN_M, GOLDEN_N, GOLDEN_SEED,
    Params, Plan, TestRng, build, golden_key, golden_params, golden_query, golden_ranges,
    golden_value, params, profile,
};

/// The repository root (this crate is `ffi-tests/qemu/workload`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

// --- the project's golden vectors ------------------------------------------------------------

/// One `query` line of `vectors.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorQuery {
    /// First block of the range.
    pub begin: usize,
    /// End block of the range (exclusive).
    pub end: usize,
    /// Query index m (inputs `golden_query(m, ·)`).
    pub m: usize,
    /// `QueryInfo::floor_used`.
    pub floor: bool,
    /// Output bits (dv = 3).
    pub bits: Vec<u32>,
}

/// One `config` block of `vectors.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorConfig {
    /// `flat`, `tree` or `laplace`.
    pub name: String,
    /// Image length.
    pub image_bytes: usize,
    /// SHA-256 of the image.
    pub sha256: [u8; 32],
    /// The queries, in file order.
    pub queries: Vec<VectorQuery>,
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses `vectors.txt` (format written by the library's `mechanism::golden` test).
pub fn parse_vectors(text: &str) -> Result<Vec<VectorConfig>, String> {
    let mut out: Vec<VectorConfig> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let bad = || format!("vectors.txt:{}: cannot parse {line:?}", ln + 1);
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [] => {}
            [c, ..] if c.starts_with('#') => {}
            ["config", name] => out.push(VectorConfig {
                name: (*name).to_string(),
                image_bytes: 0,
                sha256: [0; 32],
                queries: Vec::new(),
            }),
            ["image_bytes", n] => {
                out.last_mut().ok_or_else(bad)?.image_bytes = n.parse().map_err(|_| bad())?
            }
            ["image_sha256", h] => {
                out.last_mut().ok_or_else(bad)?.sha256 = unhex32(h).ok_or_else(bad)?
            }
            ["query", a, b, m, f, bits @ ..] => {
                let num = |s: &str| s.parse::<usize>().map_err(|_| bad());
                let q = VectorQuery {
                    begin: num(a)?,
                    end: num(b)?,
                    m: num(m)?,
                    floor: num(f)? != 0,
                    bits: bits
                        .iter()
                        .map(|x| u32::from_str_radix(x, 16).map_err(|_| bad()))
                        .collect::<Result<_, _>>()?,
                };
                out.last_mut().ok_or_else(bad)?.queries.push(q);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// `ffi-tests/golden/vectors.txt`, parsed.
pub fn project_vectors() -> Result<Vec<VectorConfig>, String> {
    let path = repo_root().join("ffi-tests/golden/vectors.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_vectors(&text)
}

/// u64 storage keeps buffers 8-aligned, as the library requires of callers.
fn aligned(len: usize) -> Vec<u64> {
    vec![0u64; len.div_ceil(8)]
}

/// Builds golden configuration `name` on the host and renders it in `vectors.txt`'s
/// form, to check this crate's copy of the configurations against the file.
pub fn rebuild_vector(name: &str) -> VectorConfig {
    let keys: Vec<f32> = (0..GOLDEN_N * GOLDEN_D)
        .map(|x| golden_key(x / GOLDEN_D, x % GOLDEN_D))
        .collect();
    let values: Vec<f32> = (0..GOLDEN_N * GOLDEN_DV)
        .map(|x| golden_value(x / GOLDEN_DV, x % GOLDEN_DV))
        .collect();
    let plan = Plan::new(&golden_params(name)).expect("golden plan");
    let mut image_w = aligned(plan.image_bytes());
    let mut scratch_w = aligned(plan.build_scratch_bytes());
    let image = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut image_w)[..plan.image_bytes()];
    let len = build(
        &plan,
        image,
        &keys,
        &values,
        &mut TestRng::new(GOLDEN_SEED),
        bytemuck::cast_slice_mut(&mut scratch_w),
    )
    .expect("golden build");
    let attn = Attn::open(image).expect("golden open");
    let mut qs = aligned(attn.query_scratch_bytes());
    let mut queries = Vec::new();
    for &(a, b) in golden_ranges(name) {
        for m in 0..GOLDEN_M {
            let q: Vec<f32> = (0..GOLDEN_D).map(|j| golden_query(m, j)).collect();
            let mut out = [0f32; GOLDEN_DV];
            let info = attn
                .query_range(a, b, &q, &mut out, bytemuck::cast_slice_mut(&mut qs))
                .expect("golden query");
            queries.push(VectorQuery {
                begin: a,
                end: b,
                m,
                floor: info.floor_used,
                bits: out.iter().map(|o| o.to_bits()).collect(),
            });
        }
    }
    VectorConfig {
        name: name.to_string(),
        image_bytes: len,
        sha256: Sha256::digest(&*image).into(),
        queries,
    }
}

/// The project vectors, after checking that this crate reproduces them on the host.
pub fn checked_vectors() -> Result<Vec<VectorConfig>, String> {
    let file = project_vectors()?;
    let names: Vec<&str> = file.iter().map(|c| c.name.as_str()).collect();
    if names != GOLDEN {
        return Err(format!(
            "vectors.txt has configs {names:?}, expected {GOLDEN:?}"
        ));
    }
    for c in &file {
        let host = rebuild_vector(&c.name);
        if &host != c {
            return Err(format!(
                "config {}: the host rebuild differs from vectors.txt (the workload's copy of \
                 the golden configurations drifted from src/mechanism/golden.rs)\nhost: {host:?}\nfile: {c:?}",
                c.name
            ));
        }
    }
    Ok(file)
}

// --- harness cases ------------------------------------------------------------------------------

/// Everything one [`Case`] needs: inputs, the host-built image and the expected outputs.
#[derive(Debug, Clone)]
pub struct Golden {
    /// The case.
    pub case: Case,
    /// The parameters the image was built with.
    pub params: Params,
    /// Prompt keys, n × d.
    pub keys: Vec<f32>,
    /// Prompt values, n × dv.
    pub values: Vec<f32>,
    /// Queries, n_queries × d.
    pub queries: Vec<f32>,
    /// The image built on the host with `TestRng::new(case.seed)`.
    pub image: Vec<u8>,
    /// The serialised plan (`Plan::write_to`), for devices that build without planning.
    pub plan_bytes: Vec<u8>,
    /// Query outputs, n_queries × dv.
    pub expected: Vec<f32>,
}

/// Deterministic inputs in [-½, ½), exactly representable (24-bit grid): a separate
/// stream from the build RNG.
fn half_unit(rng: &mut TestRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        .collect()
}

/// A bundled MiniLM dataset (`examples/data/<dir>`): `[head][row][dim]` arrays and the
/// score scale from `meta.json`.
pub struct MiniLm {
    /// Prompt rows.
    pub n: usize,
    /// Query rows.
    pub m: usize,
    /// Score scale τ (`meta.json` `scale`).
    pub scale: f64,
    /// Keys, values, queries, exact outputs.
    pub k: Vec<f32>,
    /// Values.
    pub v: Vec<f32>,
    /// Queries.
    pub q: Vec<f32>,
    /// Exact attention outputs.
    pub o: Vec<f32>,
}

/// Head dimension of the bundled MiniLM data.
pub const MINILM_D: usize = 32;

fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl MiniLm {
    /// Loads `examples/data/<dir>` (4 heads, d = 32).
    pub fn load(dir: &str) -> MiniLm {
        let dir = repo_root().join("examples/data").join(dir);
        let meta = std::fs::read_to_string(dir.join("meta.json")).expect("meta.json");
        let num = |key: &str| -> f64 {
            let i = meta.find(&format!("\"{key}\"")).expect("meta key") + key.len() + 2;
            let rest = meta[i..].trim_start_matches([' ', ':']);
            let end = rest.find([',', '\n', '}']).expect("meta value");
            rest[..end].trim().parse().expect("meta number")
        };
        MiniLm {
            n: num("n") as usize,
            m: num("m") as usize,
            scale: num("scale"),
            k: read_f32(&dir.join("K.f32")),
            v: read_f32(&dir.join("V.f32")),
            q: read_f32(&dir.join("Q.f32")),
            o: read_f32(&dir.join("O.f32")),
        }
    }
    fn head<'a>(&self, x: &'a [f32], rows: usize, h: usize) -> &'a [f32] {
        &x[h * rows * MINILM_D..(h + 1) * rows * MINILM_D]
    }
    /// Keys of head `h` (n × 32).
    pub fn keys(&self, h: usize) -> &[f32] {
        self.head(&self.k, self.n, h)
    }
    /// Values of head `h`.
    pub fn values(&self, h: usize) -> &[f32] {
        self.head(&self.v, self.n, h)
    }
    /// Query row `i` of head `h`.
    pub fn query(&self, h: usize, i: usize) -> &[f32] {
        &self.head(&self.q, self.m, h)[i * MINILM_D..(i + 1) * MINILM_D]
    }
    /// Exact output row `i` of head `h`.
    pub fn output(&self, h: usize, i: usize) -> &[f32] {
        &self.head(&self.o, self.m, h)[i * MINILM_D..(i + 1) * MINILM_D]
    }
}

/// The p-th percentile of the L2 norms of `rows` (same rule as `examples/common`).
pub fn norm_percentile(rows: &[f32], dim: usize, p: f64) -> f64 {
    let mut n: Vec<f64> = rows
        .chunks_exact(dim)
        .map(|r| {
            r.iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    n.sort_by(|a, b| a.partial_cmp(b).expect("finite norms"));
    n[((p / 100.0) * (n.len() - 1) as f64).round() as usize]
}

/// The private prompt of [`FLASH`]: head 0 of `minilm/n512_layer2` (Zen of Python + heapq
/// docs, all-MiniLM-L6-v2 layer 2).
pub const MINILM_PRIVATE: &str = "minilm/n512_layer2";
/// The public text the value radius is measured on: head 0 of `minilm_long/n1024_layer2`
/// (CPython stdlib docstrings), a different text from the private prompt.
pub const MINILM_PUBLIC: &str = "minilm_long/n1024_layer2";
/// Query rows of the flash case: two content tokens of each query text (rows 0 and 15 /
/// 16 and 39 are the texts' `[CLS]` / `[SEP]`).
pub const MINILM_QUERY_ROWS: [usize; 4] = [1, 2, 17, 18];

/// The deliberate, public parameters of the MiniLM head (`FLASH`):
/// - τ = `meta.json` `scale` (1/√32, the model's own score scale);
/// - r_q = r_k = 32^¼ (the defaults: score bound B = τ·r_q·r_k = 1);
/// - r_v = the 90th percentile of value norms of head 0 on **another** text
///   ([`MINILM_PUBLIC`]), as in `examples/quickstart.rs`: never measured on the private rows;
/// - degree 2 (r = 561 features), ε = 1, δ = 10⁻⁵, Gaussian, flat layout, one part;
/// - n_max = 512, the prompt length (public).
pub fn minilm_params(private: &MiniLm, public: &MiniLm) -> Params {
    let mut p = Params::new(MINILM_D as u32, MINILM_D as u32, private.n as u32);
    p.degree = 2;
    p.score_scale = private.scale;
    p.radius_v = norm_percentile(public.values(0), MINILM_D, 90.0);
    p
}

/// Compute the golden data of a harness case on the host.
pub fn golden(case: &Case) -> Golden {
    let (p, keys, values, queries) = if case.name == FLASH.name {
        let private = MiniLm::load(MINILM_PRIVATE);
        let public = MiniLm::load(MINILM_PUBLIC);
        assert_eq!((private.n, case.d, case.dv), (case.n, MINILM_D, MINILM_D));
        let queries = MINILM_QUERY_ROWS
            .iter()
            .flat_map(|&i| private.query(0, i).to_vec())
            .collect();
        (
            minilm_params(&private, &public),
            private.keys(0).to_vec(),
            private.values(0).to_vec(),
            queries,
        )
    } else {
        let mut inputs = TestRng::new(case.seed ^ 0x1A5E_ED00_0000_0000);
        let k = half_unit(&mut inputs, case.n * case.d);
        let v = half_unit(&mut inputs, case.n * case.dv);
        let q = half_unit(&mut inputs, case.n_queries * case.d);
        (params(case), k, v, q)
    };
    let plan = Plan::new(&p).expect("plan");
    let mut image_w = aligned(plan.image_bytes());
    let mut scratch_w = aligned(plan.build_scratch_bytes());
    let len = build(
        &plan,
        bytemuck::cast_slice_mut(&mut image_w),
        &keys,
        &values,
        &mut TestRng::new(case.seed),
        bytemuck::cast_slice_mut(&mut scratch_w),
    )
    .expect("host build");
    let image_b: &[u8] = bytemuck::cast_slice(&image_w);
    let image = image_b[..len].to_vec();
    let mut plan_bytes = vec![0u8; dpxattn::mechanism::HEADER_BYTES];
    plan.write_to(&mut plan_bytes).expect("plan bytes");
    let mut expected = vec![0f32; case.n_queries * case.dv];
    let mut qscratch_w = aligned(plan.query_scratch_bytes());
    let attn = Attn::open(image_b).expect("host open");
    for (q, out) in queries
        .chunks_exact(case.d)
        .zip(expected.chunks_exact_mut(case.dv))
    {
        attn.query(q, out, bytemuck::cast_slice_mut(&mut qscratch_w))
            .expect("host query");
    }
    Golden {
        case: *case,
        params: p,
        keys,
        values,
        queries,
        image,
        plan_bytes,
        expected,
    }
}

/// The harness cases a machine's firmware carries: its device case, [`FLASH`], and
/// [`FLASH16`] where the profile asks for it.
pub fn cases(machine: &str) -> Vec<Case> {
    let prof = profile(machine);
    let mut v = vec![prof.device, FLASH];
    if prof.flash16 {
        v.push(FLASH16);
    }
    v
}

fn le_words(words: &[f32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The project golden vectors as Rust source (`golden_vectors.rs`, `include!`d by the
/// firmware): SHA-256 and length per configuration, and every query line.
pub fn rust_vectors(v: &[VectorConfig]) -> String {
    let mut s = String::from(
        "// Generated by qemu-workload from ffi-tests/golden/vectors.txt: do not edit.\n",
    );
    s += "/// Per configuration (`GOLDEN` order): image length and SHA-256.\n";
    let _ = writeln!(
        s,
        "pub const VECTOR_IMAGES: [(usize, [u8; 32]); {}] = [",
        v.len()
    );
    for c in v {
        let _ = writeln!(s, "    ({}, {:?}),", c.image_bytes, c.sha256);
    }
    s += "];\n/// (config index, begin, end, m, floor_used, output bits).\n";
    let n: usize = v.iter().map(|c| c.queries.len()).sum();
    let _ = writeln!(
        s,
        "pub const VECTOR_QUERIES: [(usize, usize, usize, usize, bool, [u32; {GOLDEN_DV}]); {n}] = ["
    );
    for (i, c) in v.iter().enumerate() {
        for q in &c.queries {
            let bits: Vec<String> = q.bits.iter().map(|b| format!("0x{b:08x}")).collect();
            let _ = writeln!(
                s,
                "    ({i}, {}, {}, {}, {}, [{}]),",
                q.begin,
                q.end,
                q.m,
                q.floor,
                bits.join(", ")
            );
        }
    }
    s += "];\n";
    s
}

/// Write, for `machine`: `<case>_{keys,values,queries,expected,image,plan}.bin` for each of
/// [`cases`] (empty files for the cases it does not carry, so `include_bytes!` always
/// resolves) and `golden_vectors.rs`.
pub fn write_bins(dir: &Path, machine: &str) -> Result<(), String> {
    let io = |e: io::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(io)?;
    let carried = cases(machine);
    for case in [profile(machine).device, FLASH, FLASH16] {
        let files: Vec<(&str, Vec<u8>)> = if carried.contains(&case) {
            let g = golden(&case);
            vec![
                ("keys", le_words(&g.keys)),
                ("values", le_words(&g.values)),
                ("queries", le_words(&g.queries)),
                ("expected", le_words(&g.expected)),
                ("image", g.image),
                ("plan", g.plan_bytes),
            ]
        } else {
            ["keys", "values", "queries", "expected", "image", "plan"]
                .iter()
                .map(|&w| (w, Vec::new()))
                .collect()
        };
        for (what, bytes) in &files {
            let path = dir.join(format!("{}_{what}.bin", case.name));
            std::fs::write(path, bytes).map_err(io)?;
        }
    }
    let v = checked_vectors()?;
    std::fs::write(dir.join("golden_vectors.rs"), rust_vectors(&v)).map_err(io)?;
    Ok(())
}

/// A C float array; Rust's `{:?}` prints the shortest decimal that round-trips, and C
/// parses an `f`-suffixed literal with correct rounding, so the values are bit-identical.
fn c_f32_array(out: &mut String, name: &str, xs: &[f32]) {
    let _ = writeln!(
        out,
        "static const float {name}[{}] __attribute__((aligned(8))) = {{",
        xs.len().max(1)
    );
    for chunk in xs.chunks(8) {
        let line: Vec<String> = chunk.iter().map(|x| format!("{x:?}f")).collect();
        let _ = writeln!(out, "    {},", line.join(", "));
    }
    out.push_str("};\n");
}

fn c_u8_array(out: &mut String, name: &str, bytes: &[u8]) {
    let _ = writeln!(
        out,
        "static const uint8_t {name}[{}] __attribute__((aligned(8))) = {{",
        bytes.len().max(1)
    );
    for chunk in bytes.chunks(16) {
        let line: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(out, "    {},", line.join(", "));
    }
    out.push_str("};\n");
}

/// A C `struct dpx_params` initialiser (`include/dpxattn.h`), every field named: Rust's
/// `{:?}` prints the shortest decimal that round-trips and C parses it with correct
/// rounding, so the doubles are the same bits.
fn c_params(out: &mut String, name: &str, p: &Params) {
    let mech = if p.mechanism == crate::NoiseKind::Laplace {
        "DPX_MECHANISM_LAPLACE"
    } else {
        "DPX_MECHANISM_GAUSSIAN"
    };
    let flags = if p.policy == dpxattn::mechanism::Policy::Reject {
        "DPX_FLAG_REJECT"
    } else {
        "0"
    };
    let _ = writeln!(
        out,
        "static const struct dpx_params {name} = {{.d = {}, .dv = {}, .n_max = {}, .degree = {}, \
         .kernel_rel_err = {:?}, .score_scale = {:?}, .radius_q = {:?}, .radius_k = {:?}, \
         .radius_v = {:?}, .epsilon = {:?}, .delta = {:?}, .mechanism = {mech}, .block = {}, \
         .flags = {flags}, .gamma = {:?}, .clip = {:?}, .parts = {}}};",
        p.d,
        p.dv,
        p.n_max,
        p.degree,
        p.kernel_rel_err,
        p.score_scale,
        p.radius_q,
        p.radius_k,
        p.radius_v,
        p.epsilon,
        p.delta,
        p.block,
        p.gamma,
        p.clip,
        p.parts
    );
}

/// The C header with the same data as [`write_bins`] (`golden.h`) for `machine`.
pub fn c_header(machine: &str) -> Result<String, String> {
    let prof = profile(machine);
    let mut s = String::new();
    s.push_str("/* Generated by `qemu-golden` (ffi-tests/qemu/workload): do not edit. */\n");
    s.push_str("#ifndef QEMU_GOLDEN_H\n#define QEMU_GOLDEN_H\n#include <stdint.h>\n\n#include \"dpxattn.h\"\n\n");
    let _ = writeln!(s, "#define WORKLOAD_NAME \"{}\"", crate::NAME);
    let _ = writeln!(s, "#define IMAGE_CAP {}", prof.image_cap);
    let _ = writeln!(s, "#define SCRATCH_CAP {}", prof.scratch_cap);
    let _ = writeln!(s, "#define QSCRATCH_CAP {}", prof.qscratch_cap);
    let _ = writeln!(s, "#define DV_MAX {}", crate::DV_MAX);
    let _ = writeln!(s, "#define HAVE_FLASH16 {}", u8::from(prof.flash16));
    for case in cases(machine) {
        let g = golden(&case);
        let up = case.name.to_uppercase();
        let n = case.name;
        let _ = writeln!(s, "\n#define {up}_D {}", case.d);
        let _ = writeln!(s, "#define {up}_DV {}", case.dv);
        let _ = writeln!(s, "#define {up}_N {}", case.n);
        let _ = writeln!(s, "#define {up}_NQ {}", case.n_queries);
        let _ = writeln!(s, "#define {up}_SEED {}ull", case.seed);
        let _ = writeln!(s, "#define {up}_IMAGE_LEN {}", g.image.len());
        c_params(&mut s, &format!("{n}_params"), &g.params);
        c_f32_array(&mut s, &format!("{n}_keys"), &g.keys);
        c_f32_array(&mut s, &format!("{n}_values"), &g.values);
        c_f32_array(&mut s, &format!("{n}_queries"), &g.queries);
        c_f32_array(&mut s, &format!("{n}_expected"), &g.expected);
        c_u8_array(&mut s, &format!("{n}_image"), &g.image);
    }
    // Project golden vectors.
    let v = checked_vectors()?;
    let _ = writeln!(s, "\n/* ffi-tests/golden/vectors.txt */");
    let _ = writeln!(
        s,
        "#define VEC_D {GOLDEN_D}\n#define VEC_DV {GOLDEN_DV}\n#define VEC_N {GOLDEN_N}"
    );
    let _ = writeln!(
        s,
        "#define VEC_M {GOLDEN_M}\n#define VEC_SEED {GOLDEN_SEED}ull\n#define VEC_CONFIGS {}",
        v.len()
    );
    for (i, name) in GOLDEN.iter().enumerate() {
        c_params(&mut s, &format!("vec_params_{i}"), &golden_params(name));
    }
    s += "static const struct dpx_params *const vec_params[] = {";
    for i in 0..GOLDEN.len() {
        let _ = write!(s, "&vec_params_{i}, ");
    }
    s += "};\n";
    s += "static const char *const vec_names[] = {";
    for name in GOLDEN {
        let _ = write!(s, "\"{name}\", ");
    }
    s += "};\n";
    s += "static const struct { uint32_t image_bytes; uint8_t sha256[32]; } vec_images[] = {\n";
    for c in &v {
        let h: Vec<String> = c.sha256.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(s, "    {{{}, {{{}}}}},", c.image_bytes, h.join(", "));
    }
    s += "};\n";
    s += "static const struct { uint8_t config, begin, end, m, floor_used; uint32_t bits[VEC_DV]; } vec_queries[] = {\n";
    let mut nq = 0;
    for (i, c) in v.iter().enumerate() {
        for q in &c.queries {
            let bits: Vec<String> = q.bits.iter().map(|b| format!("0x{b:08x}u")).collect();
            let _ = writeln!(
                s,
                "    {{{i}, {}, {}, {}, {}, {{{}}}}},",
                q.begin,
                q.end,
                q.m,
                u8::from(q.floor),
                bits.join(", ")
            );
            nq += 1;
        }
    }
    s += "};\n";
    let _ = writeln!(s, "#define VEC_QUERIES {nq}");
    s.push_str("\n#endif\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEVICE, LARGE, SMALL, plan};

    #[test]
    fn golden_is_deterministic_and_nontrivial() {
        let a = golden(&DEVICE);
        let b = golden(&DEVICE);
        assert_eq!(a.image, b.image);
        assert!(crate::same_bits(&a.expected, &b.expected));
        // Outputs are neither all zero nor saturated: the check on the device means something.
        assert!(a.expected.iter().any(|&x| x != 0.0));
        assert!(a.expected.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        // A different build seed changes the image (the RNG is on the build path).
        let mut other = DEVICE;
        other.seed ^= 1;
        assert_ne!(golden(&other).image, a.image);
    }

    #[test]
    fn project_vectors_are_reproduced_on_the_host() {
        let v = checked_vectors().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v.iter().map(|c| c.queries.len()).sum::<usize>(), 20);
        // The parser reads what the file says: the flat image length, and the first output
        // word of the first query line, read here straight from the text.
        assert_eq!(v[0].image_bytes, 560);
        let text =
            std::fs::read_to_string(repo_root().join("ffi-tests/golden/vectors.txt")).unwrap();
        let first = text.lines().find(|l| l.starts_with("query ")).unwrap();
        let word = first.split_whitespace().nth(5).unwrap();
        assert_eq!(
            v[0].queries[0].bits[0],
            u32::from_str_radix(word, 16).unwrap()
        );
    }

    #[test]
    fn parser_rejects_garbage() {
        assert!(parse_vectors("config flat\nimage_sha256 12\n").is_err());
        assert!(parse_vectors("query 0 1 0 1 3f02f891\n").is_err());
        assert!(parse_vectors("nonsense\n").is_err());
    }

    #[test]
    fn minilm_params_are_public_choices() {
        let private = MiniLm::load(MINILM_PRIVATE);
        let public = MiniLm::load(MINILM_PUBLIC);
        let p = minilm_params(&private, &public);
        assert_eq!(p.score_scale, 1.0 / 32f64.sqrt());
        assert!((Plan::new(&p).unwrap().score_bound() - 1.0).abs() < 1e-12);
        assert_eq!(Plan::new(&p).unwrap().features(), 561);
        // r_v comes from the public text, not from the private rows.
        let own = norm_percentile(private.values(0), MINILM_D, 90.0);
        assert_ne!(p.radius_v, own);
        assert!(p.radius_v > 0.1 && p.radius_v < 100.0);
    }

    #[test]
    fn flash_case_is_the_minilm_head() {
        let g = golden(&FLASH);
        assert_eq!(g.image.len(), 74_372);
        assert!(g.expected.iter().any(|&x| x != 0.0));
        assert!(g.expected.iter().all(|x| x.is_finite()));
        let private = MiniLm::load(MINILM_PRIVATE);
        assert_eq!(
            &g.queries[..MINILM_D],
            private.query(0, MINILM_QUERY_ROWS[0])
        );
    }

    #[test]
    fn test_rng_is_the_golden_byte_stream() {
        // Reference value of SplitMix64(seed 1), first output (ffi-tests/golden/README.md).
        let mut a = TestRng::new(1);
        assert_eq!(a.next_u64(), 0x910A_2DEC_8902_5CC1);
        let (mut b, mut c) = (TestRng::new(7), TestRng::new(7));
        let x = b.next_u64();
        let lo = c.next_u32();
        let hi = c.next_u32();
        assert_eq!(x, u64::from(lo) | (u64::from(hi) << 32));
    }

    #[test]
    fn sizes_fit_the_firmware_buffers() {
        for (prof, machine) in [(SMALL, "microbit"), (LARGE, "lm3s6965evb")] {
            for case in cases(machine) {
                let p = plan(&case).unwrap();
                assert!(case.dv <= crate::DV_MAX);
                assert!(p.query_scratch_bytes() <= prof.qscratch_cap, "{case:?}");
            }
            let mut builds = vec![plan(&prof.device).unwrap()];
            builds.extend(GOLDEN.iter().map(|n| Plan::new(&golden_params(n)).unwrap()));
            for p in builds {
                assert!(p.image_bytes() <= prof.image_cap, "{prof:?}");
                assert!(p.build_scratch_bytes() <= prof.scratch_cap, "{prof:?}");
                assert!(p.query_scratch_bytes() <= prof.qscratch_cap, "{prof:?}");
            }
        }
        assert_eq!(profile("microbit"), &SMALL);
        assert_eq!(profile("mps2-an386"), &LARGE);
    }

    #[test]
    fn open_rejects_garbage() {
        let g = golden(&DEVICE);
        let mut w = vec![0u64; g.image.len().div_ceil(8)];
        let b: &mut [u8] = bytemuck::cast_slice_mut(&mut w);
        b[..g.image.len()].copy_from_slice(&g.image);
        b[0] ^= 1;
        assert_eq!(Attn::open(b).err(), Some(dpxattn::Error::BadMagic));
        b[0] ^= 1;
        assert!(Attn::open(&b[..g.image.len() - 4]).is_err());
        assert!(Attn::open(b).is_ok());
    }
}
