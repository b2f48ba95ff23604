//! `Attn::open` on arbitrary bytes, then queries. Must never panic; every image that opens
//! must answer valid queries with finite outputs inside the value ball.
//!
//! The first input byte picks a mode:
//! - 0: the bytes as they are (at an arbitrary misalignment);
//! - 1: the bytes with the magic forced and the CRC recomputed, so the fuzzer reaches the
//!   header parser and the query code behind the checksum (a CRC is no defence against a
//!   forger, so nothing may rely on it for memory safety or panic freedom);
//! - 2: a valid image of one of a few configurations, overwritten by (offset, byte) patches
//!   from the input, CRC recomputed;
//! - 3: a valid image with a burst of ≤ 32 flipped bits: must never open (CRC-32C detects
//!   every burst of ≤ 32 bits).
#![no_main]

use dpxattn::Error;
use dpxattn::mechanism::{Attn, NoiseKind, Params, build};
use dpxattn_fuzz::{ABuf, FuzzRng, exercise_queries, fix_crc, small_plan};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn seed_images() -> &'static Vec<Vec<u8>> {
    static IMAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let mut out = Vec::new();
        for cfg in 0..4 {
            let mut p = Params::new(2, 2, 8);
            match cfg {
                1 => {
                    p.block = 2;
                    p.dv = 1;
                }
                2 => {
                    p.mechanism = NoiseKind::Laplace;
                    p.clip = 0.5;
                }
                3 => {
                    p.d = 3;
                    p.degree = 4;
                    p.block = 3;
                }
                _ => {}
            }
            let plan = small_plan(&p, 1 << 16).expect("seed config plans");
            let (d, dv) = (p.d as usize, p.dv as usize);
            let n = 7;
            let keys: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.37).sin()).collect();
            let values: Vec<f32> = (0..n * dv).map(|i| (i as f32 * 0.91).cos()).collect();
            let mut img = ABuf::new(plan.image_bytes(), 0);
            let mut scr = ABuf::new(plan.build_scratch_bytes(), 0);
            let mut rng = FuzzRng::new(cfg as u64, u64::MAX);
            build(
                &plan,
                img.bytes_mut(),
                &keys,
                &values,
                &mut rng,
                scr.bytes_mut(),
            )
            .expect("seed build");
            out.push(img.bytes().to_vec());
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let off = usize::from(mode >> 5) % 8;
    let mut buf = match mode % 4 {
        0 => ABuf::from(body, off),
        1 => {
            let mut b = ABuf::from(body, off);
            fix_crc(b.bytes_mut(), true);
            b
        }
        2 => {
            let imgs = seed_images();
            let mut img = imgs[usize::from(mode >> 2) % imgs.len()].clone();
            for p in body.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([p[0], p[1]])) % img.len();
                img[at] = p[2];
            }
            let mut b = ABuf::from(&img, 0);
            fix_crc(b.bytes_mut(), false);
            b
        }
        _ => {
            let imgs = seed_images();
            let img = &imgs[usize::from(mode >> 2) % imgs.len()];
            let mut b = ABuf::from(img, 0);
            if body.len() >= 6 {
                let bit =
                    usize::from(u16::from_le_bytes([body[0], body[1]])) % (img.len() * 8 - 32);
                let burst = u32::from_le_bytes([body[2], body[3], body[4], body[5]]);
                if burst != 0 {
                    let bytes = b.bytes_mut();
                    for k in 0..32 {
                        if burst >> k & 1 == 1 {
                            let at = bit + k;
                            bytes[at / 8] ^= 1 << (at % 8);
                        }
                    }
                    // A burst straddling the stored CRC field is not a burst of the
                    // codeword (message ++ CRC): only assert for the others.
                    let lo = bit + burst.trailing_zeros() as usize;
                    let hi = bit + 31 - burst.leading_zeros() as usize;
                    let straddles = lo < 128 && hi >= 96 && !(lo >= 96 && hi < 128);
                    let r = Attn::open(b.bytes());
                    assert!(
                        straddles || r.is_err(),
                        "a {burst:#x} burst at bit {bit} opened"
                    );
                    return;
                }
            }
            b
        }
    };
    match Attn::open(buf.bytes()) {
        Ok(attn) => {
            assert!(attn.rows() <= attn.plan().params().n_max);
            exercise_queries(&attn, 16);
        }
        Err(e) => {
            // Every refusal is one of the named image errors.
            assert!(
                matches!(
                    e,
                    Error::BufferTooSmall
                        | Error::BadMagic
                        | Error::UnsupportedVersion
                        | Error::ChecksumMismatch
                        | Error::CorruptImage
                        | Error::Misaligned
                ),
                "unexpected open error {e:?}"
            );
        }
    }
    // Opening never writes: the buffer is borrowed immutably; also try a truncated view.
    let len = buf.bytes().len();
    if len > 0 {
        let _ = Attn::open(&buf.bytes_mut()[..len - 1]);
    }
});
