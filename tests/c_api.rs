//! The C ABI from a real C and C++ compiler, run by `cargo test`.
//!
//! 1. `golden_vectors_are_current`: builds a few small images with the **Rust API** and
//!    writes everything (parameters, inputs, RNG seed, image bytes, query outputs as bit
//!    patterns) into `ffi-tests/golden.h`; fails if the committed file differs. Refresh it
//!    with `DPX_BLESS=1 cargo test --test c_api` (e.g. after a deliberate change of the
//!    noise calibration) and commit the result.
//! 2. `c_and_cpp_tests_pass`: builds the host static library (`cargo rustc --crate-type
//!    staticlib --features std`, debug, in this test's own target directory), compiles
//!    `ffi-tests/*.c` as C99 and `ffi-tests/test_cpp.cpp` as C++17 with `-Wall -Wextra
//!    -Wpedantic -Werror` under AddressSanitizer and UndefinedBehaviorSanitizer, and runs
//!    them: the API tests, the golden test (the C API must reproduce the Rust API's golden
//!    bytes exactly), the DPTree-family test (`test_tree.c`, whose printed answers must
//!    equal the Rust API's bit for bit, see `tree_expected`) and the `examples/c` program
//!    on the bundled real data. Skipped (with a
//!    message) only when no C compiler is found.
//!
//! The golden RNG is a SplitMix64 **byte stream** (8 little-endian bytes per step), so a
//! Rust `TryRng` and a C `dpx_fill_fn` reading it any number of bytes at a time see
//! exactly the same bytes.

use dpxattn::mechanism::{Attn, Builder, NoiseKind, Params, Plan, Policy, Rows, build_rows};
use rand_core::{TryCryptoRng, TryRng};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------
// Golden vectors
// ---------------------------------------------------------------------------------------

/// SplitMix64 as a byte stream (the same generator as `ffi-tests/common.c`).
struct StreamRng {
    state: u64,
    buf: [u8; 8],
    used: usize,
}

impl StreamRng {
    fn new(seed: u64) -> Self {
        StreamRng {
            state: seed,
            buf: [0; 8],
            used: 8,
        }
    }
    fn byte(&mut self) -> u8 {
        if self.used == 8 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            self.buf = (z ^ (z >> 31)).to_le_bytes();
            self.used = 0;
        }
        self.used += 1;
        self.buf[self.used - 1]
    }
}

impl TryRng for StreamRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for x in dst {
            *x = self.byte();
        }
        Ok(())
    }
}
impl TryCryptoRng for StreamRng {}

/// Deterministic test inputs (exact dyadic floats in [-scale, scale)).
fn lcg_f32(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
        })
        .collect()
}

fn lcg_i(seed: u64, len: usize) -> Vec<i64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 33) as i64
        })
        .collect()
}

enum Input {
    F32(Vec<f32>, Vec<f32>),
    I8(Vec<i8>, f32, Vec<i8>, f32),
    I16(Vec<i16>, f32, Vec<i16>, f32),
}

struct Case {
    name: &'static str,
    params: Params,
    n: usize,
    input: Input,
    /// Streaming pushes (empty = one `build` call).
    chunks: Vec<usize>,
    seed: u64,
    queries: Vec<f32>,
    ranges: Vec<(usize, usize)>,
}

impl Input {
    fn rows(&self, from: usize, to: usize, d: usize, dv: usize) -> (Rows<'_>, Rows<'_>) {
        match self {
            Input::F32(k, v) => (
                Rows::F32(&k[from * d..to * d]),
                Rows::F32(&v[from * dv..to * dv]),
            ),
            Input::I8(k, ks, v, vs) => (
                Rows::I8(&k[from * d..to * d], *ks),
                Rows::I8(&v[from * dv..to * dv], *vs),
            ),
            Input::I16(k, ks, v, vs) => (
                Rows::I16(&k[from * d..to * d], *ks),
                Rows::I16(&v[from * dv..to * dv], *vs),
            ),
        }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    let mut p = Params::new(4, 3, 16);
    p.radius_q = 1.5;
    p.radius_k = 1.2;
    p.radius_v = 2.0;
    p.score_scale = 0.7;
    out.push(Case {
        name: "flat_f32",
        params: p,
        n: 12,
        input: Input::F32(lcg_f32(1, 12 * 4, 0.8), lcg_f32(2, 12 * 3, 1.5)),
        chunks: vec![],
        seed: 11,
        queries: lcg_f32(3, 3 * 4, 1.0),
        ranges: vec![(0, 1)],
    });

    let mut p = Params::new(3, 2, 20);
    p.block = 4;
    p.degree = 0;
    p.kernel_rel_err = 0.05;
    p.epsilon = 3.0;
    out.push(Case {
        name: "tree_stream_f32",
        params: p,
        n: 14,
        input: Input::F32(lcg_f32(4, 14 * 3, 1.3), lcg_f32(5, 14 * 2, 1.0)),
        chunks: vec![5, 0, 9],
        seed: 12,
        queries: lcg_f32(6, 2 * 3, 1.3),
        ranges: vec![(0, 4), (0, 1), (1, 3), (3, 4)],
    });

    let mut p = Params::new(4, 2, 10);
    p.clip = 0.5;
    p.delta = 1e-6;
    let k: Vec<i8> = lcg_i(7, 10 * 4).iter().map(|&x| x as i8).collect();
    let v: Vec<i8> = lcg_i(8, 10 * 2).iter().map(|&x| x as i8).collect();
    out.push(Case {
        name: "i8_clip",
        params: p,
        n: 10,
        input: Input::I8(k, 0.01, v, 0.005),
        chunks: vec![],
        seed: 13,
        queries: lcg_f32(9, 2 * 4, 1.0),
        ranges: vec![(0, 1)],
    });

    let mut p = Params::new(2, 2, 8);
    p.block = 2;
    p.mechanism = NoiseKind::Laplace;
    p.policy = Policy::Reject;
    p.epsilon = 4.0;
    p.degree = 4;
    // |entry| < 2^11 and scale 2^-13: every row lies well inside the unit ball (radius 1.19).
    let k: Vec<i16> = lcg_i(10, 8 * 2)
        .iter()
        .map(|&x| (x % 2048) as i16)
        .collect();
    let v: Vec<i16> = lcg_i(11, 8 * 2)
        .iter()
        .map(|&x| (x % 2048) as i16)
        .collect();
    out.push(Case {
        name: "i16_laplace_reject_stream",
        params: p,
        n: 8,
        input: Input::I16(k, 1.0 / 8192.0, v, 1.0 / 4096.0),
        chunks: vec![3, 5],
        seed: 14,
        queries: lcg_f32(12, 2 * 2, 1.0),
        ranges: vec![(0, 4), (1, 2), (2, 4)],
    });
    // The mechanism's own golden vectors (src/mechanism/golden.rs, ffi-tests/golden/): same
    // inputs, parameters and RNG seed, so the C API is checked against them too
    // (`mechanism_vectors` below ties these cases to ffi-tests/golden/vectors.txt).
    let (d, dv, n) = (4usize, 3usize, 10usize);
    let keys: Vec<f32> = (0..n * d)
        .map(|x| ((7 * (x / d) + 3 * (x % d) + 1) % 13) as f32 / 4.0 - 1.5)
        .collect();
    let values: Vec<f32> = (0..n * dv)
        .map(|x| ((5 * (x / dv) + 11 * (x % dv) + 2) % 9) as f32 / 4.0 - 1.0)
        .collect();
    let queries: Vec<f32> = (0..4 * d)
        .map(|x| ((3 * (x / d) + 5 * (x % d)) % 7) as f32 / 2.0 - 1.5)
        .collect();
    for name in MECH_CASES {
        let mut p = Params::new(d as u32, dv as u32, 16);
        p.score_scale = 0.5;
        p.radius_q = 2.0;
        p.radius_k = 1.5;
        p.radius_v = 1.25;
        let mut ranges = vec![(0, 1)];
        match name {
            "mech_tree" => {
                p.block = 3;
                ranges = vec![(0, 4), (1, 3), (2, 3)];
            }
            "mech_laplace" => {
                p.mechanism = NoiseKind::Laplace;
                p.epsilon = 2.0;
                p.clip = 0.5;
            }
            _ => {}
        }
        out.push(Case {
            name,
            params: p,
            n,
            input: Input::F32(keys.clone(), values.clone()),
            chunks: vec![],
            seed: 42,
            queries: queries.clone(),
            ranges,
        });
    }
    out
}

/// The cases that reproduce `ffi-tests/golden/vectors.txt` (config names without `mech_`).
const MECH_CASES: [&str; 3] = ["mech_flat", "mech_tree", "mech_laplace"];

/// An 8-aligned buffer.
fn aligned(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes.div_ceil(8)]
}

fn as_bytes(v: &[u64], len: usize) -> &[u8] {
    &bytemuck::cast_slice::<u64, u8>(v)[..len]
}

fn as_bytes_mut(v: &mut [u64], len: usize) -> &mut [u8] {
    &mut bytemuck::cast_slice_mut::<u64, u8>(v)[..len]
}

fn c_array<T: std::fmt::Display>(out: &mut String, ty: &str, name: &str, items: &[T]) {
    writeln!(out, "static const {ty} {name}[{}] = {{", items.len().max(1)).unwrap();
    if items.is_empty() {
        out.push_str("    0,\n");
    }
    for chunk in items.chunks(8) {
        out.push_str("   ");
        for x in chunk {
            write!(out, " {x},").unwrap();
        }
        out.push('\n');
    }
    out.push_str("};\n");
}

fn hex32(x: &[f32]) -> Vec<String> {
    x.iter()
        .map(|v| format!("0x{:08x}u", v.to_bits()))
        .collect()
}

/// The golden file, computed with the Rust API, and the `vectors.txt` rendering of the
/// `MECH_CASES` (the format of `src/mechanism/golden.rs`).
fn golden_text() -> (String, String) {
    let mut vectors =
        String::from("# dpxattn golden vectors; see README.md. f32 outputs as hex bits.\n");
    let mut s = String::new();
    s.push_str(
        "/* GENERATED by tests/c_api.rs from the Rust API of dpxattn. DO NOT EDIT.\n \
         * Regenerate (after a deliberate change of images or outputs) with:\n \
         *     DPX_BLESS=1 cargo test --test c_api\n \
         * Doubles and floats are IEEE-754 bit patterns; the RNG is a SplitMix64 byte stream\n \
         * (ffi-tests/common.c). */\n\
         #ifndef DPX_GOLDEN_H\n#define DPX_GOLDEN_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
    );
    s.push_str(
        "typedef struct golden_case {\n\
         \x20   const char *name;\n\
         \x20   uint32_t d, dv, n_max, degree;\n\
         \x20   uint64_t kernel_rel_err, score_scale, radius_q, radius_k, radius_v, epsilon, delta;\n\
         \x20   uint32_t mechanism, block, flags;\n\
         \x20   uint64_t gamma, clip;\n\
         \x20   uint32_t parts;\n\
         \x20   uint32_t kind; /* 0 float rows, 1 int8 rows, 2 int16 rows */\n\
         \x20   size_t n;\n\
         \x20   const uint32_t *keys_f32, *values_f32;\n\
         \x20   const int8_t *keys_i8, *values_i8;\n\
         \x20   const int16_t *keys_i16, *values_i16;\n\
         \x20   uint32_t keys_scale, values_scale;\n\
         \x20   size_t n_chunks; const size_t *chunks; /* 0 chunks: one dpx_build* call */\n\
         \x20   uint64_t seed;\n\
         \x20   size_t image_bytes; const uint8_t *image;\n\
         \x20   uint64_t sigma, bound_single, bound_uniform; /* plan sigma, dpx_bound(0.05) */\n\
         \x20   size_t m; const uint32_t *queries; /* m x d */\n\
         \x20   size_t n_ranges; const size_t *ranges; /* [begin, end) pairs */\n\
         \x20   const uint32_t *outputs; /* n_ranges x m x dv */\n\
         \x20   const uint8_t *floor_used; /* n_ranges x m */\n\
         } golden_case;\n\n",
    );
    let mut table = String::new();
    for c in cases() {
        let p = &c.params;
        let plan = Plan::new(p).unwrap_or_else(|e| panic!("{}: plan: {e}", c.name));
        let (d, dv) = (p.d as usize, p.dv as usize);
        let mut image = aligned(plan.image_bytes());
        let mut scratch = aligned(plan.build_scratch_bytes());
        let len = plan.image_bytes();
        let slen = plan.build_scratch_bytes();
        let mut rng = StreamRng::new(c.seed);
        if c.chunks.is_empty() {
            let (k, v) = c.input.rows(0, c.n, d, dv);
            build_rows(
                &plan,
                as_bytes_mut(&mut image, len),
                k,
                v,
                &mut rng,
                as_bytes_mut(&mut scratch, slen),
            )
            .unwrap_or_else(|e| panic!("{}: build: {e}", c.name));
        } else {
            let mut b = Builder::begin(
                &plan,
                as_bytes_mut(&mut image, len),
                as_bytes_mut(&mut scratch, slen),
            )
            .unwrap();
            let mut at = 0;
            for &ch in &c.chunks {
                let (k, v) = c.input.rows(at, at + ch, d, dv);
                b.push(k, v, &mut rng)
                    .unwrap_or_else(|e| panic!("{}: push: {e}", c.name));
                at += ch;
            }
            assert_eq!(at, c.n);
            b.finish(&mut rng).unwrap();
        }
        let bytes = as_bytes(&image, len);
        let attn = Attn::open(bytes).unwrap();
        let mut qs = aligned(attn.query_scratch_bytes());
        let qlen = attn.query_scratch_bytes();
        let (mut outs, mut floors) = (Vec::new(), Vec::new());
        for &(b0, b1) in &c.ranges {
            for q in c.queries.chunks_exact(d) {
                let mut o = vec![0f32; dv];
                let info = attn
                    .query_range(b0, b1, q, &mut o, as_bytes_mut(&mut qs, qlen))
                    .unwrap();
                outs.extend(o);
                floors.push(u8::from(info.floor_used));
            }
        }
        let bound = attn.bound(0.05).unwrap();
        if let Some(config) = c.name.strip_prefix("mech_") {
            use sha2::Digest;
            let hash: String = sha2::Sha256::digest(bytes)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            writeln!(
                vectors,
                "config {config}\nimage_bytes {len}\nimage_sha256 {hash}"
            )
            .unwrap();
            let m = c.queries.len() / d;
            for (ri, &(a, b)) in c.ranges.iter().enumerate() {
                for q in 0..m {
                    let at = ri * m + q;
                    let bits: Vec<String> = outs[at * dv..(at + 1) * dv]
                        .iter()
                        .map(|o| format!("{:08x}", o.to_bits()))
                        .collect();
                    writeln!(
                        vectors,
                        "query {a} {b} {q} {} {}",
                        floors[at],
                        bits.join(" ")
                    )
                    .unwrap();
                }
            }
        }

        let id = c.name;
        let mut kind = 0;
        let (mut kf, mut vf, mut ki8, mut vi8, mut ki16, mut vi16) = ("0", "0", "0", "0", "0", "0");
        let (mut ks, mut vs) = (0f32, 0f32);
        let (kname, vname) = (format!("{id}_keys"), format!("{id}_values"));
        match &c.input {
            Input::F32(k, v) => {
                c_array(&mut s, "uint32_t", &kname, &hex32(k));
                c_array(&mut s, "uint32_t", &vname, &hex32(v));
                (kf, vf) = (&kname, &vname);
            }
            Input::I8(k, a, v, b) => {
                c_array(&mut s, "int8_t", &kname, k);
                c_array(&mut s, "int8_t", &vname, v);
                (ki8, vi8, ks, vs, kind) = (&kname, &vname, *a, *b, 1);
            }
            Input::I16(k, a, v, b) => {
                c_array(&mut s, "int16_t", &kname, k);
                c_array(&mut s, "int16_t", &vname, v);
                (ki16, vi16, ks, vs, kind) = (&kname, &vname, *a, *b, 2);
            }
        }
        c_array(&mut s, "size_t", &format!("{id}_chunks"), &c.chunks);
        let img: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
        c_array(&mut s, "uint8_t", &format!("{id}_image"), &img);
        c_array(
            &mut s,
            "uint32_t",
            &format!("{id}_queries"),
            &hex32(&c.queries),
        );
        let ranges: Vec<usize> = c.ranges.iter().flat_map(|&(a, b)| [a, b]).collect();
        c_array(&mut s, "size_t", &format!("{id}_ranges"), &ranges);
        c_array(&mut s, "uint32_t", &format!("{id}_outputs"), &hex32(&outs));
        c_array(&mut s, "uint8_t", &format!("{id}_floor_used"), &floors);
        s.push('\n');

        let f = |x: f64| format!("0x{:016x}u", x.to_bits());
        writeln!(
            table,
            "    {{\"{id}\", {}, {}, {}, {},\n     {}, {}, {}, {}, {}, {}, {},\n     {}, {}, {}, {}, {}, {},\n     \
             {kind}, {}, {kf}, {vf}, {ki8}, {vi8}, {ki16}, {vi16}, 0x{:08x}u, 0x{:08x}u,\n     \
             {}, {id}_chunks, {}u, {}, {id}_image, {}, {}, {},\n     \
             {}, {id}_queries, {}, {id}_ranges, {id}_outputs, {id}_floor_used}},",
            p.d,
            p.dv,
            p.n_max,
            p.degree,
            f(p.kernel_rel_err),
            f(p.score_scale),
            f(p.radius_q),
            f(p.radius_k),
            f(p.radius_v),
            f(p.epsilon),
            f(p.delta),
            p.mechanism as u32,
            p.block,
            u32::from(p.policy == Policy::Reject),
            f(p.gamma),
            f(p.clip),
            p.parts,
            c.n,
            ks.to_bits(),
            vs.to_bits(),
            c.chunks.len(),
            c.seed,
            len,
            f(plan.sigma()),
            f(bound.single),
            f(bound.uniform),
            c.queries.len() / d,
            c.ranges.len(),
        )
        .unwrap();
    }
    s.push_str("static const golden_case golden_cases[] = {\n");
    s.push_str(&table);
    s.push_str("};\n\n#define GOLDEN_CASES (sizeof golden_cases / sizeof golden_cases[0])\n\n#endif /* DPX_GOLDEN_H */\n");
    (s, vectors)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares (or, with `DPX_BLESS=1`, rewrites) the committed golden file.
fn check_golden() {
    let (want, vectors) = golden_text();
    // The mechanism cases must be the mechanism's own golden vectors, so that the C test
    // comparing against golden.h checks them bit for bit.
    let mech = std::fs::read_to_string(root().join("ffi-tests").join("golden").join("vectors.txt"))
        .expect("ffi-tests/golden/vectors.txt");
    assert!(
        mech == vectors,
        "the Rust API no longer reproduces ffi-tests/golden/vectors.txt (the mechanism's \
         golden vectors): bless them first (`DPX_BLESS=1 cargo test golden`), then \
         `DPX_BLESS=1 cargo test --test c_api`.\n--- rendered here ---\n{vectors}"
    );
    let path = root().join("ffi-tests").join("golden.h");
    if std::env::var_os("DPX_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write ffi-tests/golden.h");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or("the length".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "ffi-tests/golden.h differs from what the Rust API produces now (first at {line}).\n\
             If the change of images/outputs is intended (e.g. a new noise calibration), \
             refresh it with:\n    DPX_BLESS=1 cargo test --test c_api\nand commit the result."
        );
    }
}

#[test]
fn golden_vectors_are_current() {
    check_golden();
}

// ---------------------------------------------------------------------------------------
// The DPTree family: what `ffi-tests/test_tree.c` must print, from the Rust API
// ---------------------------------------------------------------------------------------

/// The inputs of `ffi-tests/test_tree.c` (same formulas: exact binary fractions).
fn tree_value(i: usize) -> f64 {
    ((i * 37 % 17) as f64 - 8.0) * 0.125
}
fn dist_point(i: usize) -> f64 {
    (i * 13 % 32) as f64 * 0.03125
}
fn dist_weight(i: usize) -> f64 {
    ((i * 7 % 11) as f64 - 5.0) * 0.25
}
fn hd_coord(i: usize, k: usize) -> f64 {
    ((i * 5 + k * 3) % 16) as f64 * 0.0625
}
fn sm_coord(i: usize, k: usize) -> f64 {
    (((i * 3 + k * 5) % 9) as f64 - 4.0) * 0.125
}
fn sm_weight(i: usize) -> f64 {
    ((i * 5 % 7) as f64 - 3.0) * 0.25
}

/// Every `VAL` line `test_tree.c` prints, computed with the Rust API (same seeds).
fn tree_expected() -> Vec<(&'static str, f64)> {
    use dpxattn::tree::*;
    let mut out = Vec::new();
    let values: Vec<f64> = (0..20).map(tree_value).collect();
    let tp = |n, noise| DPTreeParams {
        n,
        value_bound: 1.0,
        noise,
        epsilon: 1.0,
        delta: 1e-6,
    };
    // DPTree, Gaussian, n = 20, seed 11.
    let plan = DPTreePlan::new(&tp(20, Noise::Gaussian)).unwrap();
    out.push(("tree_plan_noise_scale", plan.calibration.scale_real()));
    let mut buf = aligned(plan.image_bytes);
    let img = as_bytes_mut(&mut buf, plan.image_bytes);
    let t = DPTree::build(&plan, img, &values, &mut StreamRng::new(11)).unwrap();
    out.push(("tree_g_0_20", t.range_sum(0, 20).unwrap()));
    out.push(("tree_g_3_17", t.range_sum(3, 17).unwrap()));
    out.push(("tree_g_5_6", t.range_sum(5, 6).unwrap()));
    out.push(("tree_g_bound_3_17", t.bound(3, 17, 0.05).unwrap().total));
    out.push(("tree_stream_3_17", t.range_sum(3, 17).unwrap()));
    // DPTree, Laplace, n = 13 built from 10 values, seed 12.
    let plan = DPTreePlan::new(&tp(13, Noise::Laplace)).unwrap();
    let mut buf = aligned(plan.image_bytes);
    let img = as_bytes_mut(&mut buf, plan.image_bytes);
    let t = DPTree::build(&plan, img, &values[..10], &mut StreamRng::new(12)).unwrap();
    out.push(("tree_l_2_9", t.range_sum(2, 9).unwrap()));
    out.push(("tree_l_bound_2_9", t.bound(2, 9, 0.1).unwrap().total));
    // DPTreeDistance, G = 16, R = 1, R_w = 2, 30 points.
    let x: Vec<f64> = (0..30).map(dist_point).collect();
    let w: Vec<f64> = (0..30).map(dist_weight).collect();
    for (noise, seed) in [(Noise::Gaussian, 21), (Noise::Laplace, 22)] {
        let plan = DistancePlan::new(&DistanceParams {
            cells: 16,
            radius: 1.0,
            weight_bound: 2.0,
            n_max: 30,
            noise,
            epsilon: 1.0,
            delta: 1e-6,
        })
        .unwrap();
        let mut buf = aligned(plan.image_bytes);
        let img = as_bytes_mut(&mut buf, plan.image_bytes);
        let d = DPTreeDistance::build(&plan, img, &x, &w, &mut StreamRng::new(seed)).unwrap();
        if noise == Noise::Gaussian {
            out.push(("dist_g_m05", d.evaluate(-0.5).unwrap()));
            out.push(("dist_g_03", d.evaluate(0.3).unwrap()));
            out.push(("dist_g_17", d.evaluate(1.7).unwrap()));
            out.push(("dist_g_bound_03", d.bound(0.3, 0.05).unwrap().total));
        } else {
            out.push(("dist_l_03", d.evaluate(0.3).unwrap()));
            out.push(("dist_l_bound_03", d.bound(0.3, 0.05).unwrap().total));
        }
    }
    // DPTreeHighDim, d = 3, G = 8, 12 points, seed 31.
    let x: Vec<f64> = (0..12)
        .flat_map(|i| (0..3).map(move |k| hd_coord(i, k)))
        .collect();
    let w: Vec<f64> = (0..12).map(dist_weight).collect();
    let plan = HighDimPlan::new(&HighDimParams {
        dims: 3,
        cells: 8,
        radius: 1.0,
        weight_bound: 2.0,
        n_max: 12,
        noise: Noise::Gaussian,
        epsilon: 2.0,
        delta: 1e-6,
    })
    .unwrap();
    let mut buf = aligned(plan.image_bytes);
    let img = as_bytes_mut(&mut buf, plan.image_bytes);
    let h = DPTreeHighDim::build(&plan, img, &x, &w, &mut StreamRng::new(31)).unwrap();
    let y = [0.1, 0.5, 0.9];
    out.push(("hd_g_y", h.evaluate(&y).unwrap()));
    out.push(("hd_g_bound_y", h.bound(&y, 0.05).unwrap().total));
    // DPTreeSoftmax, d = 3, s = 2, tau = 0.5, 16 points in blocks of 4, seed 41.
    let x: Vec<f64> = (0..16)
        .flat_map(|i| (0..3).map(move |k| sm_coord(i, k)))
        .collect();
    let w: Vec<f64> = (0..16).map(sm_weight).collect();
    let plan = SoftmaxPlan::new(&SoftmaxParams {
        dims: 3,
        degree: 2,
        kernel_rel_err: 0.0,
        score_scale: 0.5,
        radius_x: 1.0,
        radius_y: 1.0,
        weight_bound: 1.0,
        n_max: 16,
        block: 4,
        epsilon: 1.0,
        delta: 1e-5,
    })
    .unwrap();
    let mut buf = aligned(plan.image_bytes);
    let mut sbuf = aligned(plan.scratch_bytes);
    let img = as_bytes_mut(&mut buf, plan.image_bytes);
    let scr = as_bytes_mut(&mut sbuf, plan.scratch_bytes);
    let s = DPTreeSoftmax::build(&plan, img, &x, &w, scr, &mut StreamRng::new(41)).unwrap();
    let y = [0.25, -0.5, 0.125];
    out.push(("sm_0_4", s.evaluate(&y, 0, 4, scr).unwrap()));
    out.push(("sm_1_3", s.evaluate(&y, 1, 3, scr).unwrap()));
    out.push(("sm_bound_1_3", s.bound(1, 3, 0.05).unwrap().total));
    out
}

/// Checks that the `VAL name hex` lines of `test_tree`'s output are exactly
/// [`tree_expected`], bit for bit.
fn check_tree_values(text: &str) {
    let got: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("VAL "))
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("VAL name hex");
            let bits = u64::from_str_radix(hex.trim(), 16).expect("hex bits");
            (name.to_string(), bits)
        })
        .collect();
    let want = tree_expected();
    assert_eq!(got.len(), want.len(), "test_tree printed {got:?}");
    for (name, value) in want {
        let bits = got
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("test_tree did not print {name}"))
            .1;
        assert_eq!(
            bits,
            value.to_bits(),
            "{name}: C gave {} (0x{bits:016x}), Rust gives {value} (0x{:016x})",
            f64::from_bits(bits),
            value.to_bits()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Building and running the C and C++ tests
// ---------------------------------------------------------------------------------------

fn tool(var: &str, default: &str) -> Option<String> {
    let name = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let ok = Command::new(&name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(name)
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// Builds the host static library (debug, with std's panic handler) in a target
/// directory of its own, so it never waits on the lock of the outer `cargo test`.
fn build_staticlib(work: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let target_dir = work.join("target");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args([
            "rustc",
            "--quiet",
            "--lib",
            "--crate-type",
            "staticlib",
            "--features",
            "std",
            "--target-dir",
        ])
        .arg(&target_dir)
        // Not the outer build's flags (e.g. coverage instrumentation).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    run(&mut cmd, "cargo rustc --crate-type staticlib");
    let lib = target_dir.join("debug").join("libdpxattn.a");
    assert!(lib.exists(), "{} missing", lib.display());
    lib
}

/// Whether `cc` accepts ASan + UBSan here (links and runs a trivial program).
fn sanitizers_work(cc: &str, work: &Path) -> bool {
    let src = work.join("probe.c");
    let exe = work.join("probe");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    Command::new(cc)
        .args(["-fsanitize=address,undefined"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new(&exe)
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Every `dpx_*` function the header declares.
fn header_functions() -> Vec<String> {
    let h = std::fs::read_to_string(root().join("include").join("dpxattn.h")).unwrap();
    let mut names: Vec<String> = h
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('/'))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("dpx_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn c_and_cpp_tests_pass() {
    if cfg!(miri) {
        return; // Miri cannot spawn compilers
    }
    let Some(cc) = tool("CC", "cc") else {
        eprintln!("SKIPPED c_and_cpp_tests_pass: no C compiler (tried $CC, then `cc`)");
        return;
    };
    check_golden();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ffi-tests");
    std::fs::create_dir_all(&work).unwrap();
    let lib = build_staticlib(&work);

    // Every entry point of the header is exercised from C.
    let mut c_sources = String::new();
    for f in ["test_api.c", "test_golden.c", "test_tree.c", "test_cpp.cpp"] {
        c_sources += &std::fs::read_to_string(root().join("ffi-tests").join(f)).unwrap();
    }
    let fns = header_functions();
    assert!(fns.len() >= 20, "header parse found only {fns:?}");
    let missing: Vec<&String> = fns
        .iter()
        .filter(|f| !c_sources.contains(&format!("{f}(")))
        .collect();
    assert!(missing.is_empty(), "not called from ffi-tests: {missing:?}");

    let san = sanitizers_work(&cc, &work);
    if !san {
        eprintln!("note: ASan/UBSan unavailable with {cc}: building the C tests without them");
    }
    let mut flags: Vec<String> = ["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g", "-O1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if san {
        flags.extend(
            [
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer",
            ]
            .map(String::from),
        );
    }
    let inc = [
        format!("-I{}", root().join("include").display()),
        format!("-I{}", root().join("ffi-tests").display()),
    ];
    // What a std staticlib needs on top of libc on Linux and the BSDs (macOS: libSystem).
    let libs = ["-lpthread", "-ldl", "-lm"];
    let common = root().join("ffi-tests").join("common.c");
    let compile = |compiler: &str, std: &str, srcs: &[PathBuf], exe: &Path| {
        let mut cmd = Command::new(compiler);
        cmd.arg(std).args(&flags).args(&inc).args(srcs);
        cmd.arg(&lib).args(libs).arg("-o").arg(exe);
        run(&mut cmd, &format!("compiling {}", exe.display()));
    };
    let ffi = root().join("ffi-tests");
    let programs = [
        ("test_api", vec![ffi.join("test_api.c"), common.clone()]),
        (
            "test_golden",
            vec![ffi.join("test_golden.c"), common.clone()],
        ),
        ("test_tree", vec![ffi.join("test_tree.c"), common.clone()]),
        (
            "dpx_example",
            vec![root().join("examples").join("c").join("dpx_example.c")],
        ),
        (
            "quickstart",
            vec![root().join("examples").join("c").join("quickstart.c")],
        ),
    ];
    let t0 = std::time::Instant::now();
    let cxx = tool("CXX", "c++");
    // The compilers run in parallel (a few seconds in all).
    std::thread::scope(|scope| {
        for (name, srcs) in &programs {
            let (cc, compile, work) = (&cc, &compile, &work);
            scope.spawn(move || compile(cc, "-std=c99", srcs, &work.join(name)));
        }
        // C++17: the header and the API from C++ (common.c compiled as C, then linked).
        if let Some(cxx) = &cxx {
            let (flags, inc, common, compile) = (&flags, &inc, &common, &compile);
            let (cc, ffi, work) = (&cc, &ffi, &work);
            scope.spawn(move || {
                let obj = work.join("common.o");
                let mut cmd = Command::new(cc);
                cmd.arg("-std=c99")
                    .args(flags)
                    .args(inc)
                    .arg("-c")
                    .arg(common)
                    .arg("-o")
                    .arg(&obj);
                run(&mut cmd, "compiling common.c");
                compile(
                    cxx,
                    "-std=c++17",
                    &[ffi.join("test_cpp.cpp"), obj],
                    &work.join("test_cpp"),
                );
            });
        } else {
            eprintln!("note: no C++ compiler (tried $CXX, then `c++`): C++17 test skipped");
        }
    });
    eprintln!(
        "C/C++ tests compiled in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let env = [
        ("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1"),
        ("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"),
    ];
    let mut runs: Vec<(String, Vec<String>)> = vec![
        ("test_api".into(), vec![]),
        ("test_golden".into(), vec![]),
        ("test_tree".into(), vec![]),
        (
            "dpx_example".into(),
            vec![
                root()
                    .join("examples/data/minilm/n512_layer2")
                    .display()
                    .to_string(),
                work.join("head0.dpx").display().to_string(),
            ],
        ),
    ];
    runs.push(("quickstart".into(), vec![]));
    if cxx.is_some() {
        runs.push(("test_cpp".into(), vec![]));
    }
    for (name, args) in runs {
        let mut cmd = Command::new(work.join(&name));
        cmd.args(&args).current_dir(root()).envs(env);
        let text = run(&mut cmd, &name);
        if name == "test_tree" {
            check_tree_values(&text);
        }
        eprintln!("--- {name}\n{}", text.trim_end());
    }
}
