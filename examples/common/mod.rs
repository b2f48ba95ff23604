//! Shared helpers for the host examples (std): loading the bundled real data, exact
//! attention in f64, a seeded ChaCha RNG, aligned buffers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One data directory in the `shared/data/minilm` layout.
pub struct Dataset {
    pub dir: PathBuf,
    pub heads: usize,
    pub n: usize,
    pub m: usize,
    pub d: usize,
    pub scale: f64,
    /// [head][row][dim] flattened.
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub q: Vec<f32>,
    pub o: Vec<f32>,
}

fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = &text[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))?;
    rest[..end].parse().ok()
}

fn json_shape(text: &str, file: &str) -> Option<Vec<usize>> {
    let at = text.find(&format!("\"{file}\""))?;
    let rest = &text[at..];
    let s = rest.find("\"shape\"")?;
    let rest = &rest[s..];
    let a = rest.find('[')?;
    let b = rest.find(']')?;
    rest[a + 1..b]
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect()
}

fn read_f32(path: &Path) -> std::io::Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl Dataset {
    pub fn load(dir: impl AsRef<Path>) -> Result<Dataset, String> {
        let dir = dir.as_ref().to_path_buf();
        let meta = std::fs::read_to_string(dir.join("meta.json"))
            .map_err(|e| format!("{}: {e}", dir.join("meta.json").display()))?;
        let ks = json_shape(&meta, "K.f32").ok_or("meta.json: no K shape")?;
        let qs = json_shape(&meta, "Q.f32").ok_or("meta.json: no Q shape")?;
        let scale = json_number(&meta, "scale").ok_or("meta.json: no scale")?;
        let load = |f: &str| read_f32(&dir.join(f)).map_err(|e| format!("{f}: {e}"));
        let (k, v, q, o) = (
            load("K.f32")?,
            load("V.f32")?,
            load("Q.f32")?,
            load("O.f32")?,
        );
        let (heads, n, d) = (ks[0], ks[1], ks[2]);
        let m = qs[1];
        if k.len() != heads * n * d
            || v.len() != heads * n * d
            || q.len() != heads * m * d
            || o.len() != heads * m * d
        {
            return Err(format!(
                "{}: file sizes do not match meta.json",
                dir.display()
            ));
        }
        Ok(Dataset {
            dir,
            heads,
            n,
            m,
            d,
            scale,
            k,
            v,
            q,
            o,
        })
    }
    pub fn keys(&self, h: usize) -> &[f32] {
        &self.k[h * self.n * self.d..(h + 1) * self.n * self.d]
    }
    pub fn values(&self, h: usize) -> &[f32] {
        &self.v[h * self.n * self.d..(h + 1) * self.n * self.d]
    }
    pub fn queries(&self, h: usize) -> &[f32] {
        &self.q[h * self.m * self.d..(h + 1) * self.m * self.d]
    }
    pub fn outputs(&self, h: usize) -> &[f32] {
        &self.o[h * self.m * self.d..(h + 1) * self.m * self.d]
    }
}

/// The bundled data folder (examples/data), wherever the example is run from.
pub fn bundled(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(rel)
}

pub fn norm(x: &[f32]) -> f64 {
    x.iter()
        .map(|&a| (a as f64) * (a as f64))
        .sum::<f64>()
        .sqrt()
}

/// The mean of the rows of a row-major matrix with `dim` columns.
pub fn mean_row(rows: &[f32], dim: usize) -> Vec<f32> {
    let n = (rows.len() / dim).max(1) as f64;
    let mut m = vec![0f64; dim];
    for r in rows.chunks_exact(dim) {
        m.iter_mut().zip(r).for_each(|(a, &x)| *a += f64::from(x));
    }
    m.iter().map(|a| (a / n) as f32).collect()
}

/// `rows` with `mu` subtracted from every row (keys centred on a public mean key: softmax
/// is unchanged, since q·μ is the same for every key).
pub fn centred(rows: &[f32], mu: &[f32]) -> Vec<f32> {
    let mut out = rows.to_vec();
    for row in out.chunks_exact_mut(mu.len().max(1)) {
        row.iter_mut().zip(mu).for_each(|(x, m)| *x -= m);
    }
    out
}

/// p-th percentile (0..=100) of the row norms of a row-major matrix.
pub fn norm_percentile(rows: &[f32], dim: usize, p: f64) -> f64 {
    let mut n: Vec<f64> = rows.chunks_exact(dim).map(norm).collect();
    n.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((p / 100.0) * (n.len() - 1) as f64).round() as usize;
    n[i]
}

/// Root-mean-square of the row norms.
pub fn rms_norm(rows: &[f32], dim: usize) -> f64 {
    let c = rows.len() / dim;
    (rows.chunks_exact(dim).map(|r| norm(r).powi(2)).sum::<f64>() / c as f64).sqrt()
}

pub fn dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// An 8-aligned, zeroed byte buffer on the heap (the library takes the caller's memory).
pub struct AlignedVec(Vec<u64>, usize);
impl AlignedVec {
    pub fn new(bytes: usize) -> Self {
        AlignedVec(vec![0u64; bytes.div_ceil(8)], bytes)
    }
    pub fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    pub fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}
