//! Golden vectors (see `ffi-tests/golden/README.md`): inputs, a byte-stream RNG and the
//! expected image hashes and outputs, checked bit-exactly on every platform.

use super::*;
use crate::testutil::Failed;
use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// SplitMix64 as a byte stream (insecure; test vectors only).
pub(crate) struct StreamRng {
    state: u64,
    buf: [u8; 8],
    pos: usize,
}

impl StreamRng {
    pub(crate) fn new(seed: u64) -> Self {
        StreamRng {
            state: seed,
            buf: [0; 8],
            pos: 8,
        }
    }
    fn byte(&mut self) -> u8 {
        if self.pos == 8 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            self.buf = z.to_le_bytes();
            self.pos = 0;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        b
    }
}

impl TryRng for StreamRng {
    type Error = Failed;
    fn try_next_u32(&mut self) -> Result<u32, Failed> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Failed> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Failed> {
        for x in dst.iter_mut() {
            *x = self.byte();
        }
        Ok(())
    }
}
impl TryCryptoRng for StreamRng {}

const D: usize = 4;
const DV: usize = 3;
const N: usize = 10;

fn inputs() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let k = (0..N * D)
        .map(|x| ((7 * (x / D) + 3 * (x % D) + 1) % 13) as f32 / 4.0 - 1.5)
        .collect();
    let v = (0..N * DV)
        .map(|x| ((5 * (x / DV) + 11 * (x % DV) + 2) % 9) as f32 / 4.0 - 1.0)
        .collect();
    let q = (0..4 * D)
        .map(|x| ((3 * (x / D) + 5 * (x % D)) % 7) as f32 / 2.0 - 1.5)
        .collect();
    (k, v, q)
}

fn config(name: &str) -> Params {
    let mut p = Params::new(D as u32, DV as u32, 16);
    p.score_scale = 0.5;
    p.radius_q = 2.0;
    p.radius_k = 1.5;
    p.radius_v = 1.25;
    match name {
        "tree" => p.block = 3,
        "laplace" => {
            p.mechanism = NoiseKind::Laplace;
            p.epsilon = 2.0;
            p.clip = 0.5;
        }
        _ => {}
    }
    p
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Renders the vectors file from a fresh computation.
fn render() -> String {
    let (k, v, q) = inputs();
    let mut s = String::from("# dpxattn golden vectors; see README.md. f32 outputs as hex bits.\n");
    for name in ["flat", "tree", "laplace"] {
        let plan = Plan::new(&config(name)).unwrap();
        let mut image = vec![0u64; plan.image_bytes().div_ceil(8)];
        let mut scratch = vec![0u64; plan.build_scratch_bytes().div_ceil(8)];
        let img = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut image)[..plan.image_bytes()];
        let scr =
            &mut bytemuck::cast_slice_mut::<u64, u8>(&mut scratch)[..plan.build_scratch_bytes()];
        build(&plan, img, &k, &v, &mut StreamRng::new(42), scr).unwrap();
        s += &format!("config {name}\n");
        s += &format!("image_bytes {}\n", plan.image_bytes());
        s += &format!("image_sha256 {}\n", hex(&Sha256::digest(&*img)));
        let attn = Attn::open(img).unwrap();
        let mut qs = vec![0u64; attn.query_scratch_bytes().div_ceil(8)];
        let qsb = bytemuck::cast_slice_mut::<u64, u8>(&mut qs);
        let ranges: &[(usize, usize)] = if name == "tree" {
            &[(0, 4), (1, 3), (2, 3)]
        } else {
            &[(0, 1)]
        };
        for &(a, b) in ranges {
            for (m, qq) in q.chunks(D).enumerate() {
                let mut out = [0f32; DV];
                let info = attn.query_range(a, b, qq, &mut out, qsb).unwrap();
                let bits: Vec<String> =
                    out.iter().map(|o| format!("{:08x}", o.to_bits())).collect();
                s += &format!(
                    "query {a} {b} {m} {} {}\n",
                    u8::from(info.floor_used),
                    bits.join(" ")
                );
            }
        }
    }
    s
}

#[test]
fn golden_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ffi-tests/golden/vectors.txt");
    let got = render();
    if std::env::var_os("DPX_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        got == want,
        "golden vectors changed; if intended, run `DPX_BLESS=1 cargo test golden` and review \
         the diff of {path}\n--- got ---\n{got}"
    );
}

#[test]
fn stream_rng_is_a_byte_stream() {
    let mut a = StreamRng::new(1);
    let mut b = StreamRng::new(1);
    let x = a.try_next_u64().unwrap();
    let lo = b.try_next_u32().unwrap();
    let hi = b.try_next_u32().unwrap();
    assert_eq!(x, u64::from(lo) | (u64::from(hi) << 32));
    // Reference value of SplitMix64(seed 1), first output.
    let mut c = StreamRng::new(1);
    assert_eq!(c.try_next_u64().unwrap(), 0x910A_2DEC_8902_5CC1);
}
