//! Fault injection: an RNG failing at draw k, for **every** k up to the number of draws of a
//! small build (flat and tree), through all three build APIs (one-shot, `Builder`, the
//! resumable functions), and with a failure that is either permanent or transient.
//!
//! Each time the build must return [`Error::Rng`], leave image and scratch all zero, leave
//! an image that cannot be opened, and refuse to continue ([`Error::BuildState`]).

use super::*;
use crate::Error;
use crate::testutil::{Failed, TestRng};
use rand_core::{TryCryptoRng, TryRng};

/// SplitMix64 failing at draw `fail_at` (0-based): forever after it (`sticky`), or only
/// that once (a transient fault that a sampler must not retry around).
struct FaultRng {
    inner: TestRng,
    fail_at: u64,
    sticky: bool,
    draws: u64,
}

impl FaultRng {
    fn new(fail_at: u64, sticky: bool) -> Self {
        FaultRng {
            inner: TestRng(0xFA17),
            fail_at,
            sticky,
            draws: 0,
        }
    }
    fn tick(&mut self) -> Result<(), Failed> {
        let k = self.draws;
        self.draws += 1;
        if k == self.fail_at || (self.sticky && k > self.fail_at) {
            Err(Failed)
        } else {
            Ok(())
        }
    }
}

impl TryRng for FaultRng {
    type Error = Failed;
    fn try_next_u32(&mut self) -> Result<u32, Failed> {
        self.tick()?;
        Ok(self.inner.try_next_u32().unwrap_or(0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Failed> {
        self.tick()?;
        Ok(self.inner.try_next_u64().unwrap_or(0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Failed> {
        self.tick()?;
        let _ = self.inner.try_fill_bytes(dst);
        Ok(())
    }
}
impl TryCryptoRng for FaultRng {}

/// An 8-aligned heap buffer.
struct Buf(Vec<u64>, usize);
impl Buf {
    fn new(bytes: usize) -> Self {
        Buf(vec![0u64; bytes.div_ceil(8)], bytes)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0)[..self.1]
    }
    fn fill(&mut self, b: u8) {
        self.bytes().fill(b);
    }
}

#[derive(Clone, Copy, Debug)]
enum Api {
    OneShot,
    Builder,
    Resumable,
}

/// Tiny configurations: d = dv = 1, degree 2 (r = 3, 5 noised entries per node).
/// Flat: one node. Tree: block 2, n_max 8 → 4 + 2 + 1 = 7 nodes; 5 rows complete blocks 0
/// and 1 (three nodes noised inside `push`) and leave block 2 partial (noised in `finish`).
fn tiny(block: u32) -> (Plan, Vec<f32>, Vec<f32>) {
    let mut p = Params::new(1, 1, 8);
    p.block = block;
    let plan = Plan::new(&p).unwrap();
    let keys = vec![0.9, -0.4, 0.1, 1.0, -1.0];
    let values = vec![-0.2, 0.7, 1.0, -0.9, 0.3];
    (plan, keys, values)
}

fn run(
    api: Api,
    plan: &Plan,
    keys: &[f32],
    values: &[f32],
    image: &mut Buf,
    scratch: &mut Buf,
    rng: &mut FaultRng,
) -> crate::Result<usize> {
    // Start from garbage so that "all zero" proves the zeroisation.
    image.fill(0xC3);
    scratch.fill(0x3C);
    let (k1, k2) = keys.split_at(2);
    let (v1, v2) = values.split_at(2);
    match api {
        Api::OneShot => build(plan, image.bytes(), keys, values, rng, scratch.bytes()),
        Api::Builder => {
            let mut b = Builder::begin(plan, image.bytes(), scratch.bytes())?;
            b.push_f32(k1, v1, rng)?;
            b.push_f32(k2, v2, rng)?;
            b.finish(rng)
        }
        Api::Resumable => {
            build_begin(plan, image.bytes(), scratch.bytes())?;
            build_push(
                image.bytes(),
                scratch.bytes(),
                Rows::F32(k1),
                Rows::F32(v1),
                rng,
            )?;
            build_push(
                image.bytes(),
                scratch.bytes(),
                Rows::F32(k2),
                Rows::F32(v2),
                rng,
            )?;
            build_finish(image.bytes(), scratch.bytes(), rng)
        }
    }
}

fn every_k(block: u32) -> u64 {
    let (plan, keys, values) = tiny(block);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    let mut reference = None;
    let mut total = 0;
    for api in [Api::OneShot, Api::Builder, Api::Resumable] {
        // Count the draws of a successful build (no failure).
        let mut rng = FaultRng::new(u64::MAX, true);
        run(
            api,
            &plan,
            &keys,
            &values,
            &mut image,
            &mut scratch,
            &mut rng,
        )
        .unwrap();
        assert!(scratch.get().iter().all(|&b| b == 0));
        // Chunking and API do not change the RNG use or the image.
        let img = image.get().to_vec();
        match &reference {
            None => {
                reference = Some(img);
                total = rng.draws;
            }
            Some(r) => {
                assert_eq!(r, &img, "{api:?}");
                assert_eq!(rng.draws, total, "{api:?}");
            }
        }
        assert!(Attn::open(image.get()).is_ok());
        // Bounded test time: the tiny builds draw a few hundred words.
        assert!((10..20_000).contains(&total), "{total} draws");

        for sticky in [true, false] {
            for k in 0..total {
                let mut rng = FaultRng::new(k, sticky);
                let r = run(
                    api,
                    &plan,
                    &keys,
                    &values,
                    &mut image,
                    &mut scratch,
                    &mut rng,
                );
                let what = format!("{api:?} block {block} k {k} sticky {sticky}");
                assert_eq!(r, Err(Error::Rng), "{what}");
                // The failure stops the build at draw k: nothing is drawn after it.
                assert_eq!(rng.draws, k + 1, "{what}: draws after the failure");
                assert!(
                    image.get().iter().all(|&b| b == 0),
                    "{what}: image not zeroised"
                );
                assert!(
                    scratch.get().iter().all(|&b| b == 0),
                    "{what}: scratch not zeroised"
                );
                assert_eq!(
                    Attn::open(image.get()).err(),
                    Some(Error::BadMagic),
                    "{what}"
                );
                // The state is gone: the build cannot be continued or finished.
                let mut ok_rng = FaultRng::new(u64::MAX, true);
                assert_eq!(
                    build_push(
                        image.bytes(),
                        scratch.bytes(),
                        Rows::F32(&keys[..1]),
                        Rows::F32(&values[..1]),
                        &mut ok_rng
                    ),
                    Err(Error::BuildState),
                    "{what}"
                );
                assert_eq!(
                    build_finish(image.bytes(), scratch.bytes(), &mut ok_rng),
                    Err(Error::BuildState),
                    "{what}"
                );
                assert!(image.get().iter().all(|&b| b == 0), "{what}");
            }
        }
        // A failure scheduled after the last draw changes nothing.
        let mut rng = FaultRng::new(total, true);
        run(
            api,
            &plan,
            &keys,
            &values,
            &mut image,
            &mut scratch,
            &mut rng,
        )
        .unwrap();
        assert_eq!(Some(image.get().to_vec()), reference);
    }
    total
}

#[test]
fn rng_failure_at_every_draw_flat() {
    let total = every_k(0);
    eprintln!("flat: failure injected at each of {total} draws × 3 APIs × 2 modes");
    // 5 noised entries, ≈ 10 words per discrete Gaussian sample.
    assert!(total >= 5, "{total}");
}

#[test]
fn rng_failure_at_every_draw_tree() {
    let total = every_k(2);
    eprintln!("tree: failure injected at each of {total} draws × 3 APIs × 2 modes");
    // 7 nodes × 5 noised entries; nodes are noised inside push and inside finish.
    assert!(total >= 35, "{total}");
}

/// In the tree layout the RNG is used inside `push` (nodes are frozen when their last
/// block arrives): a failure there must end the build just like one in `finish`.
#[test]
fn tree_push_draws_and_fails() {
    let (plan, keys, values) = tiny(2);
    let mut image = Buf::new(plan.image_bytes());
    let mut scratch = Buf::new(plan.build_scratch_bytes());
    build_begin(&plan, image.bytes(), scratch.bytes()).unwrap();
    let mut rng = FaultRng::new(u64::MAX, true);
    build_push(
        image.bytes(),
        scratch.bytes(),
        Rows::F32(&keys[..2]),
        Rows::F32(&values[..2]),
        &mut rng,
    )
    .unwrap();
    let after_first_block = rng.draws;
    assert!(after_first_block > 0, "completing block 0 noises its leaf");
    let mut failing = FaultRng::new(0, true);
    let r = build_push(
        image.bytes(),
        scratch.bytes(),
        Rows::F32(&keys[2..4]),
        Rows::F32(&values[2..4]),
        &mut failing,
    );
    assert_eq!(r, Err(Error::Rng));
    assert!(image.get().iter().all(|&b| b == 0));
    assert!(scratch.get().iter().all(|&b| b == 0));
}
