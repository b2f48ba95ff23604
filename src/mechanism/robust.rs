//! Robustness: every public function of the mechanism with every class of bad input gives a
//! named error and leaves its outputs untouched (queries, refused chunks) or zeroised
//! (failed one-shot builds), as documented. Complements `tests.rs`.

use super::*;
use crate::checksum::Crc32c;
use crate::testutil::TestRng;
use crate::{ALIGN, Error};

/// An 8-aligned heap buffer viewed at byte offset `off`.
struct Buf {
    words: Vec<u64>,
    off: usize,
    len: usize,
}
impl Buf {
    fn new(len: usize) -> Self {
        Buf::at(len, 0)
    }
    fn at(len: usize, off: usize) -> Self {
        Buf {
            words: vec![0u64; (len + off).div_ceil(8) + 1],
            off,
            len,
        }
    }
    fn bytes(&mut self) -> &mut [u8] {
        let (o, n) = (self.off, self.len);
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[o..o + n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[self.off..self.off + self.len]
    }
}

fn params(d: u32, dv: u32, n_max: u32, block: u32) -> Params {
    let mut p = Params::new(d, dv, n_max);
    p.block = block;
    p.radius_v = 2.0;
    p
}

fn rows(n: usize, dim: usize, seed: u32) -> Vec<f32> {
    (0..n * dim)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

/// A finished image of `n` rows.
fn image(p: &Params, n: usize) -> (Plan, Buf) {
    let plan = Plan::new(p).unwrap();
    let mut img = Buf::new(plan.image_bytes());
    let mut scr = Buf::new(plan.build_scratch_bytes());
    let (d, dv) = (p.d as usize, p.dv as usize);
    build(
        &plan,
        img.bytes(),
        &rows(n, d, 1),
        &rows(n, dv, 2),
        &mut TestRng(7),
        scr.bytes(),
    )
    .unwrap();
    (plan, img)
}

/// Recomputes the checksum after a deliberate header edit (what a forger would do).
fn fix_crc(img: &mut [u8]) {
    let total = img.len();
    let mut c = Crc32c::new();
    c.update(&img[0..12]);
    c.update(&img[16..total]);
    let crc = c.finish();
    img[12..16].copy_from_slice(&crc.to_le_bytes());
}

const SENTINEL: f32 = -1234.5;

fn untouched(out: &[f32]) -> bool {
    out.iter().all(|&o| o == SENTINEL)
}

#[test]
fn query_range_refuses_every_bad_input_without_writing() {
    for block in [0u32, 2] {
        let p = params(3, 2, 16, block);
        let (_, img) = image(&p, 7);
        let attn = Attn::open(img.get()).unwrap();
        let blocks = attn.blocks();
        let mut qs = Buf::new(attn.query_scratch_bytes());
        let q = [0.1f32, -0.2, 0.3];
        let mut out = [SENTINEL; 2];
        let bad_ranges = [
            (0, 0),
            (1, 1),
            (2, 1),
            (0, blocks + 1),
            (blocks, blocks + 1),
            (usize::MAX, usize::MAX),
            (0, usize::MAX),
            (usize::MAX - 1, usize::MAX),
        ];
        for (a, b) in bad_ranges {
            assert_eq!(
                attn.query_range(a, b, &q, &mut out, qs.bytes()),
                Err(Error::InvalidRange),
                "[{a},{b}) of {blocks}"
            );
        }
        for bad_q in [&q[..2], &[0.0f32; 4][..], &[][..]] {
            assert_eq!(
                attn.query_range(0, blocks, bad_q, &mut out, qs.bytes()),
                Err(Error::WrongLength)
            );
        }
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let q = [0.1, x, 0.3];
            assert_eq!(
                attn.query_range(0, blocks, &q, &mut out, qs.bytes()),
                Err(Error::NonFiniteInput { row: 0 })
            );
        }
        let mut short = [SENTINEL; 1];
        let mut long = [SENTINEL; 3];
        assert_eq!(
            attn.query(&q, &mut short, qs.bytes()),
            Err(Error::WrongLength)
        );
        assert_eq!(
            attn.query(&q, &mut long, qs.bytes()),
            Err(Error::WrongLength)
        );
        let mut small = Buf::new(attn.query_scratch_bytes() - 1);
        assert_eq!(
            attn.query(&q, &mut out, small.bytes()),
            Err(Error::BufferTooSmall)
        );
        for off in 1..ALIGN {
            let mut mis = Buf::at(attn.query_scratch_bytes(), off);
            assert_eq!(
                attn.query(&q, &mut out, mis.bytes()),
                Err(Error::Misaligned),
                "offset {off}"
            );
        }
        assert!(untouched(&out) && untouched(&short) && untouched(&long));
        // Extreme but valid queries work and stay in the value ball.
        for q in [[0.0f32; 3], [f32::MAX; 3], [f32::MIN_POSITIVE / 4.0; 3]] {
            attn.query(&q, &mut out, qs.bytes()).unwrap();
            let n = (out[0] as f64).hypot(out[1] as f64);
            assert!(out.iter().all(|o| o.is_finite()) && n <= p.radius_v * (1.0 + 1e-6));
        }
    }
}

#[test]
fn query_batch_is_all_or_nothing() {
    let p = params(3, 2, 16, 0);
    let (_, img) = image(&p, 9);
    let attn = Attn::open(img.get()).unwrap();
    let mut qs = Buf::new(attn.query_scratch_bytes());
    let queries = rows(4, 3, 9);
    // Reference: one query at a time.
    let mut want = vec![0f32; 8];
    for (q, o) in queries.chunks(3).zip(want.chunks_mut(2)) {
        attn.query(q, o, qs.bytes()).unwrap();
    }
    let mut out = vec![SENTINEL; 8];
    let mut info = vec![QueryInfo { floor_used: true }; 4];
    attn.query_batch(&queries, &mut out, &mut info, qs.bytes())
        .unwrap();
    assert_eq!(out, want);

    let fresh = || (vec![SENTINEL; 8], vec![QueryInfo { floor_used: true }; 4]);
    let info_untouched = |i: &[QueryInfo]| i.iter().all(|x| x.floor_used);
    // A NaN in the third query: named by its index, nothing written.
    let mut bad = queries.clone();
    bad[2 * 3 + 1] = f32::NAN;
    let (mut out, mut info) = fresh();
    assert_eq!(
        attn.query_batch(&bad, &mut out, &mut info, qs.bytes()),
        Err(Error::NonFiniteInput { row: 2 })
    );
    assert!(untouched(&out) && info_untouched(&info));
    // Lengths.
    let (mut out, mut info) = fresh();
    assert_eq!(
        attn.query_batch(&queries[..11], &mut out, &mut info, qs.bytes()),
        Err(Error::WrongLength)
    );
    assert_eq!(
        attn.query_batch(&queries, &mut out[..7], &mut info, qs.bytes()),
        Err(Error::WrongLength)
    );
    assert_eq!(
        attn.query_batch(&queries, &mut out, &mut info[..3], qs.bytes()),
        Err(Error::WrongLength)
    );
    // Scratch.
    let mut small = Buf::new(attn.query_scratch_bytes() - 8);
    assert_eq!(
        attn.query_batch(&queries, &mut out, &mut info, small.bytes()),
        Err(Error::BufferTooSmall)
    );
    let mut mis = Buf::at(attn.query_scratch_bytes(), 4);
    assert_eq!(
        attn.query_batch(&queries, &mut out, &mut info, mis.bytes()),
        Err(Error::Misaligned)
    );
    assert!(untouched(&out) && info_untouched(&info));
    // An empty batch is fine and writes nothing.
    attn.query_batch(&[], &mut [], &mut [], qs.bytes()).unwrap();
}

#[test]
fn builds_of_zero_rows() {
    // Flat: the image opens and answers (the floor guards the pure-noise denominator).
    let p = params(2, 2, 8, 0);
    let (plan, img) = image(&p, 0);
    let attn = Attn::open(img.get()).unwrap();
    assert_eq!((attn.rows(), attn.blocks()), (0, 1));
    let mut qs = Buf::new(attn.query_scratch_bytes());
    let mut out = [SENTINEL; 2];
    attn.query(&[0.3, 0.4], &mut out, qs.bytes()).unwrap();
    assert!(out.iter().all(|o| o.is_finite()));
    assert!((out[0] as f64).hypot(out[1] as f64) <= p.radius_v * (1.0 + 1e-6));
    let b = plan.bound(0, 0.05).unwrap();
    assert!(b.single <= 2.0 * p.radius_v && b.uniform <= 2.0 * p.radius_v);
    // Tree: no block holds a row, so there is no range to query.
    let p = params(2, 2, 8, 2);
    let (_, img) = image(&p, 0);
    let attn = Attn::open(img.get()).unwrap();
    assert_eq!((attn.rows(), attn.blocks()), (0, 0));
    let mut out = [SENTINEL; 2];
    assert_eq!(
        attn.query(&[0.3, 0.4], &mut out, qs.bytes()),
        Err(Error::InvalidRange)
    );
    assert_eq!(
        attn.query_batch(
            &[0.3, 0.4],
            &mut out,
            &mut [QueryInfo::default()],
            qs.bytes()
        ),
        Err(Error::InvalidRange)
    );
    assert!(untouched(&out));
}

#[test]
fn zero_length_chunks_change_nothing() {
    let p = params(2, 3, 8, 2);
    let plan = Plan::new(&p).unwrap();
    let mut img = Buf::new(plan.image_bytes());
    let mut scr = Buf::new(plan.build_scratch_bytes());
    let mut rng = TestRng(1);
    build_begin(&plan, img.bytes(), scr.bytes()).unwrap();
    build_push(
        img.bytes(),
        scr.bytes(),
        Rows::F32(&[0.1, 0.2, 0.3, 0.4]),
        Rows::F32(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        &mut rng,
    )
    .unwrap();
    let before = (img.get().to_vec(), scr.get().to_vec());
    for (k, v) in [
        (Rows::F32(&[]), Rows::F32(&[])),
        (Rows::I8(&[], 1.0), Rows::I16(&[], f32::NAN)),
    ] {
        build_push(img.bytes(), scr.bytes(), k, v, &mut rng).unwrap();
        assert_eq!((img.get(), scr.get()), (&before.0[..], &before.1[..]));
    }
    // Zero keys but some values (or the reverse) is a length error, not an empty chunk.
    assert_eq!(
        build_push(
            img.bytes(),
            scr.bytes(),
            Rows::F32(&[]),
            Rows::F32(&[0.1, 0.2, 0.3]),
            &mut rng
        ),
        Err(Error::WrongLength)
    );
    assert_eq!(
        build_push(
            img.bytes(),
            scr.bytes(),
            Rows::F32(&[0.1, 0.2]),
            Rows::F32(&[]),
            &mut rng
        ),
        Err(Error::WrongLength)
    );
    assert_eq!((img.get(), scr.get()), (&before.0[..], &before.1[..]));
}

#[test]
fn quantised_rows_with_bad_scales_are_refused() {
    let mut p = params(2, 2, 16, 0);
    let plan = Plan::new(&p).unwrap();
    let mut img = Buf::new(plan.image_bytes());
    let mut scr = Buf::new(plan.build_scratch_bytes());
    let mut rng = TestRng(2);
    let mut b = Builder::begin(&plan, img.bytes(), scr.bytes()).unwrap();
    b.push_f32(&[0.1, 0.2], &[0.3, 0.4], &mut rng).unwrap();
    let k8 = [3i8, -4, 5, 6];
    let k16 = [300i16, -400, i16::MIN, i16::MAX];
    let vals = [0.1f32, 0.2, 0.3, 0.4];
    let cases: [(Rows<'_>, Error); 6] = [
        (Rows::I8(&k8, f32::NAN), Error::NonFiniteInput { row: 0 }),
        (Rows::I16(&k16, f32::NAN), Error::NonFiniteInput { row: 0 }),
        (
            Rows::I8(&k8, f32::INFINITY),
            Error::NonFiniteInput { row: 0 },
        ),
        (
            Rows::I16(&k16, f32::NEG_INFINITY),
            Error::NonFiniteInput { row: 0 },
        ),
        // 0 × ∞ is NaN: a zero row with an infinite scale is refused too.
        (
            Rows::I8(&[0, 0, 0, 0], f32::INFINITY),
            Error::NonFiniteInput { row: 0 },
        ),
        (Rows::I8(&[1, 2, 3], 1.0), Error::WrongLength),
    ];
    for (keys, want) in cases {
        assert_eq!(
            b.push(keys, Rows::F32(&vals), &mut rng),
            Err(want),
            "{keys:?}"
        );
        assert_eq!(
            b.push(Rows::F32(&vals), keys, &mut rng),
            Err(want),
            "{keys:?}"
        );
        assert_eq!(b.rows(), 1);
    }
    // Valid extremes: zero, negative, subnormal and huge scales (f32::MAX × i16::MIN
    // overflows f32 but not the f64 the rows are read in: finite, clipped onto the ball).
    for s in [0.0f32, -1.0, f32::MIN_POSITIVE / 8.0, f32::MAX] {
        b.push(Rows::I16(&k16, s), Rows::I8(&k8, s), &mut rng)
            .unwrap();
    }
    assert_eq!(b.rows(), 1 + 4 * 2);
    b.finish(&mut rng).unwrap();
    assert!(Attn::open(img.get()).is_ok());

    // Reject policy: a quantised row outside its ball names the row.
    p.policy = Policy::Reject;
    let plan = Plan::new(&p).unwrap();
    let mut b = Builder::begin(&plan, img.bytes(), scr.bytes()).unwrap();
    assert_eq!(
        b.push(Rows::I8(&[1, 1, 100, 0], 0.1), Rows::F32(&vals), &mut rng),
        Err(Error::OutOfBall { row: 1 })
    );
    assert_eq!(
        b.push(Rows::F32(&vals), Rows::I16(&[0, 0, 0, 300], 0.01), &mut rng),
        Err(Error::OutOfBall { row: 1 })
    );
    assert_eq!(b.rows(), 0);
}

#[test]
fn failed_one_shot_builds_zeroise_both_buffers() {
    let p = params(2, 2, 4, 0);
    let plan = Plan::new(&p).unwrap();
    let mut img = Buf::new(plan.image_bytes());
    let mut scr = Buf::new(plan.build_scratch_bytes());
    let cases: [(&[f32], &[f32], Error); 4] = [
        (
            &[0.1, f32::NAN],
            &[0.1, 0.2],
            Error::NonFiniteInput { row: 0 },
        ),
        (&[0.1, 0.2, 0.3], &[0.1, 0.2], Error::WrongLength),
        (&[], &[0.1, 0.2], Error::WrongLength),
        (&[0.0; 10], &[0.0; 10], Error::TooManyRows),
    ];
    for (k, v, want) in cases {
        img.bytes().fill(0x5A);
        scr.bytes().fill(0xA5);
        let r = build(&plan, img.bytes(), k, v, &mut TestRng(1), scr.bytes());
        assert_eq!(r, Err(want));
        assert!(img.get().iter().all(|&b| b == 0), "{want:?}");
        assert!(scr.get().iter().all(|&b| b == 0), "{want:?}");
        assert_eq!(Attn::open(img.get()).err(), Some(Error::BadMagic));
    }
}

#[test]
fn streaming_misuse_is_a_state_error_and_changes_nothing() {
    let pa = params(2, 2, 8, 0);
    let pb = params(2, 2, 9, 0);
    let plan_a = Plan::new(&pa).unwrap();
    let plan_b = Plan::new(&pb).unwrap();
    let (ka, va) = (rows(2, 2, 3), rows(2, 2, 4));
    let snapshot = |i: &Buf, s: &Buf| (i.get().to_vec(), s.get().to_vec());

    // Never begun (zeroed) or garbage buffers.
    for fill in [0u8, 0xAB] {
        let mut img = Buf::new(plan_a.image_bytes());
        let mut scr = Buf::new(plan_a.build_scratch_bytes());
        img.bytes().fill(fill);
        scr.bytes().fill(fill);
        let before = snapshot(&img, &scr);
        let r = build_push(
            img.bytes(),
            scr.bytes(),
            Rows::F32(&ka),
            Rows::F32(&va),
            &mut TestRng(1),
        );
        assert_eq!(r, Err(Error::BuildState));
        let r = build_finish(img.bytes(), scr.bytes(), &mut TestRng(1));
        assert_eq!(r, Err(Error::BuildState));
        assert_eq!(snapshot(&img, &scr), before);
    }

    // Image of one build with the scratch of another (different plan): refused.
    let mut img_a = Buf::new(plan_a.image_bytes());
    let mut scr_a = Buf::new(plan_a.build_scratch_bytes());
    let mut img_b = Buf::new(plan_b.image_bytes());
    let mut scr_b = Buf::new(plan_b.build_scratch_bytes());
    build_begin(&plan_a, img_a.bytes(), scr_a.bytes()).unwrap();
    build_begin(&plan_b, img_b.bytes(), scr_b.bytes()).unwrap();
    let before = (snapshot(&img_a, &scr_b), snapshot(&img_b, &scr_a));
    let r = build_push(
        img_a.bytes(),
        scr_b.bytes(),
        Rows::F32(&ka),
        Rows::F32(&va),
        &mut TestRng(1),
    );
    assert_eq!(r, Err(Error::BuildState));
    let r = build_finish(img_b.bytes(), scr_a.bytes(), &mut TestRng(1));
    assert_eq!(r, Err(Error::BuildState));
    assert_eq!((snapshot(&img_a, &scr_b), snapshot(&img_b, &scr_a)), before);

    // Truncated or shifted buffers after begin.
    let before = snapshot(&img_a, &scr_a);
    let ni = plan_a.image_bytes();
    let ns = plan_a.build_scratch_bytes();
    let r = build_push(
        &mut img_a.bytes()[..ni - 4],
        scr_a.bytes(),
        Rows::F32(&ka),
        Rows::F32(&va),
        &mut TestRng(1),
    );
    assert_eq!(r, Err(Error::BufferTooSmall));
    let r = build_push(
        img_a.bytes(),
        &mut scr_a.bytes()[..ns - 8],
        Rows::F32(&ka),
        Rows::F32(&va),
        &mut TestRng(1),
    );
    assert_eq!(r, Err(Error::BufferTooSmall));
    let r = build_finish(&mut img_a.bytes()[8..], scr_a.bytes(), &mut TestRng(1));
    assert_eq!(r, Err(Error::BuildState));
    let r = build_finish(img_a.bytes(), &mut scr_a.bytes()[..4], &mut TestRng(1));
    assert_eq!(r, Err(Error::BuildState));
    assert_eq!(snapshot(&img_a, &scr_a), before);

    // Finish twice: the second is a state error and leaves the image as it was.
    build_push(
        img_a.bytes(),
        scr_a.bytes(),
        Rows::F32(&ka),
        Rows::F32(&va),
        &mut TestRng(1),
    )
    .unwrap();
    build_finish(img_a.bytes(), scr_a.bytes(), &mut TestRng(1)).unwrap();
    let done = snapshot(&img_a, &scr_a);
    assert_eq!(
        build_finish(img_a.bytes(), scr_a.bytes(), &mut TestRng(1)),
        Err(Error::BuildState)
    );
    assert_eq!(snapshot(&img_a, &scr_a), done);
    assert_eq!(Attn::open(img_a.get()).unwrap().rows(), 2);

    // begin again restarts from zero rows.
    build_begin(&plan_a, img_a.bytes(), scr_a.bytes()).unwrap();
    assert_eq!(Attn::open(img_a.get()).err(), Some(Error::BadMagic));
    build_finish(img_a.bytes(), scr_a.bytes(), &mut TestRng(1)).unwrap();
    assert_eq!(Attn::open(img_a.get()).unwrap().rows(), 0);

    // Builder::begin refuses short or misaligned buffers without writing.
    let mut small = Buf::new(plan_a.image_bytes() - 1);
    small.bytes().fill(0x11);
    assert_eq!(
        Builder::begin(&plan_a, small.bytes(), scr_a.bytes())
            .err()
            .map(|_| ()),
        Some(())
    );
    assert!(small.get().iter().all(|&b| b == 0x11));
    for off in [1usize, 4] {
        let mut mis = Buf::at(plan_a.image_bytes(), off);
        mis.bytes().fill(0x22);
        let r = build_begin(&plan_a, mis.bytes(), scr_a.bytes());
        assert_eq!(r, Err(Error::Misaligned));
        assert!(mis.get().iter().all(|&b| b == 0x22));
        let mut mis = Buf::at(plan_a.build_scratch_bytes(), off);
        let r = build_begin(&plan_a, img_a.bytes(), mis.bytes());
        assert_eq!(r, Err(Error::Misaligned));
    }
}

#[test]
fn images_from_unaligned_slices() {
    let p = params(3, 2, 8, 2);
    let (_, img) = image(&p, 5);
    let good = img.get().to_vec();
    let q = [0.2f32, 0.1, -0.4];
    let mut reference = None;
    for off in 0..8 {
        let mut b = Buf::at(good.len(), off);
        b.bytes().copy_from_slice(&good);
        match Attn::open(b.get()) {
            Ok(attn) => {
                assert_eq!(off % 4, 0, "offset {off} opened");
                let mut qs = Buf::new(attn.query_scratch_bytes());
                let mut out = [0f32; 2];
                attn.query(&q, &mut out, qs.bytes()).unwrap();
                match reference {
                    None => reference = Some(out),
                    Some(r) => assert_eq!(r, out, "offset {off}"),
                }
            }
            Err(e) => {
                assert_ne!(off % 4, 0, "offset {off}: {e:?}");
                assert_eq!(e, Error::Misaligned);
            }
        }
    }
    assert!(reference.is_some());
}

#[test]
fn open_names_every_class_of_bad_image() {
    let p = params(2, 2, 8, 0);
    let (plan, img) = image(&p, 3);
    let good = img.get().to_vec();
    let open = |bytes: &[u8]| {
        let mut b = Buf::new(bytes.len());
        b.bytes().copy_from_slice(bytes);
        Attn::open(b.get()).err()
    };
    assert_eq!(open(&good), None);
    assert_eq!(open(&[]), Some(Error::BufferTooSmall));
    assert_eq!(open(&good[..3]), Some(Error::BufferTooSmall));
    assert_eq!(open(&good[..HEADER_BYTES - 1]), Some(Error::BufferTooSmall));
    assert_eq!(open(&good[..good.len() - 1]), Some(Error::BufferTooSmall));
    assert_eq!(open(&vec![0u8; good.len()]), Some(Error::BadMagic));
    let mut bad = good.clone();
    bad[HEADER_BYTES + 5] ^= 0x40;
    assert_eq!(open(&bad), Some(Error::ChecksumMismatch));
    // Trailing bytes after the image are ignored (images may sit in larger flash pages).
    let mut longer = good.clone();
    longer.extend_from_slice(&[0xFF; 13]);
    assert_eq!(open(&longer), None);

    // Forged headers with a recomputed checksum: each is refused by name, never used.
    type Edit = (usize, &'static [u8], Error);
    let f64_at = |i: usize| 160 + 8 * i;
    let edits: Vec<Edit> = vec![
        (4, &[2, 0, 0, 0], Error::UnsupportedVersion),
        (8, &[0, 2, 0, 0], Error::CorruptImage),
        (24, &[3, 0, 0, 0], Error::CorruptImage), // d: sizes no longer agree
        (32, &[99, 0, 0, 0], Error::CorruptImage), // more rows than n_max
        (40, &[4, 0, 0, 0], Error::CorruptImage), // degree
        (64, &[7, 0, 0, 0], Error::CorruptImage), // mechanism
        (68, &[9, 0, 0, 0], Error::CorruptImage), // policy
        (84, &[30, 0, 0, 0], Error::CorruptImage), // f_query: query sums could overflow
        (88, &[0, 0, 0, 0x40], Error::CorruptImage), // ψ₀ = 2³⁰
        (112, &[0, 0, 0, 0x40], Error::CorruptImage), // c₁ = 2³⁰: the feature map overflowed
        (92, &[1, 0, 0, 0], Error::CorruptImage), // g
        (f64_at(6) + 7, &[0x7F], Error::CorruptImage), // γ huge: outputs were NaN
        (f64_at(13), &[1, 0, 0, 0, 0, 0, 0, 0], Error::CorruptImage), // min kernel ≈ 0
        (f64_at(3) + 7, &[0x7F], Error::CorruptImage), // radius_v huge: ±Inf outputs
        (f64_at(9), &[9], Error::CorruptImage),   // B
    ];
    for (at, bytes, want) in edits {
        let mut bad = good.clone();
        bad[at..at + bytes.len()].copy_from_slice(bytes);
        assert_ne!(bad, good, "edit at {at} is a no-op");
        fix_crc(&mut bad);
        assert_eq!(open(&bad), Some(want), "edit at {at}");
    }
    let _ = plan;
}

#[test]
fn every_bit_flip_of_a_tree_image_is_detected() {
    let mut p = params(1, 1, 4, 1);
    p.radius_v = 1.0;
    let (_, img) = image(&p, 3);
    let good = img.get().to_vec();
    let mut b = Buf::new(good.len());
    for bit in 0..good.len() * 8 {
        b.bytes().copy_from_slice(&good);
        b.bytes()[bit / 8] ^= 1 << (bit % 8);
        assert!(Attn::open(b.get()).is_err(), "bit {bit} flip opened");
    }
}

#[test]
fn extreme_params_are_named_errors() {
    let base = params(4, 4, 16, 0);
    type Case = (fn(&mut Params), Option<Error>);
    let cases: [Case; 24] = [
        (|p| p.d = u32::MAX, Some(Error::InvalidDimension)),
        (|p| p.dv = u32::MAX, Some(Error::InvalidDimension)),
        (|p| p.n_max = u32::MAX, Some(Error::InvalidDimension)),
        (|p| p.d = 65_537, Some(Error::InvalidDimension)),
        (|p| p.degree = u32::MAX, Some(Error::InvalidDegree)),
        (|p| p.degree = 1, Some(Error::InvalidDegree)),
        (|p| p.parts = u32::MAX, Some(Error::InvalidParameter)),
        (|p| p.parts = 0, Some(Error::InvalidParameter)),
        (
            |p| {
                p.d = 65_536;
                p.degree = 12;
            },
            Some(Error::InvalidDimension),
        ),
        (
            |p| {
                p.d = 65_536;
                p.dv = 65_536;
            },
            Some(Error::SizeOverflow),
        ),
        (
            |p| {
                p.n_max = 1 << 30;
                p.block = 1;
            },
            Some(Error::SizeOverflow),
        ),
        (|p| p.block = u32::MAX, None), // one block holds everything
        (|p| p.epsilon = f64::INFINITY, Some(Error::InvalidEpsilon)),
        (|p| p.epsilon = -1.0, Some(Error::InvalidEpsilon)),
        (|p| p.delta = f64::NAN, Some(Error::InvalidDelta)),
        (|p| p.score_scale = f64::NAN, Some(Error::InvalidRadius)),
        (|p| p.radius_v = 1e31, Some(Error::InvalidRadius)),
        (|p| p.radius_k = 1e-31, Some(Error::InvalidRadius)),
        (
            |p| p.radius_q = f64::MIN_POSITIVE,
            Some(Error::InvalidRadius),
        ),
        (|p| p.gamma = 1e-7, Some(Error::InvalidRadius)),
        (|p| p.gamma = 1e7, Some(Error::InvalidRadius)),
        (|p| p.clip = f64::NAN, Some(Error::InvalidClip)),
        (|p| p.clip = 1e-7, Some(Error::InvalidClip)),
        (
            |p| {
                p.degree = 0;
                p.kernel_rel_err = f64::NAN;
            },
            Some(Error::InvalidDegree),
        ),
    ];
    for (edit, want) in cases {
        let mut p = base;
        edit(&mut p);
        let r = Plan::new(&p);
        match want {
            Some(e) => assert_eq!(r.err(), Some(e), "{p:?}"),
            None => assert!(r.is_ok(), "{p:?}: {r:?}"),
        }
    }
    // The extremes that are valid build images that open.
    for edit in [
        (|p: &mut Params| p.radius_v = 1e30) as fn(&mut Params),
        |p| p.radius_k = 1e-30,
        |p| p.gamma = 1e-6,
        |p| p.gamma = 1e6,
        |p| p.epsilon = 1e-3,
    ] {
        let mut p = base;
        edit(&mut p);
        let plan = match Plan::new(&p) {
            Ok(plan) => plan,
            // Too little ε for 32-bit words is a named refusal, not a failure here.
            Err(Error::PrecisionTooLow) => continue,
            Err(e) => panic!("{p:?}: {e:?}"),
        };
        let mut img = Buf::new(plan.image_bytes());
        let mut scr = Buf::new(plan.build_scratch_bytes());
        build(
            &plan,
            img.bytes(),
            &rows(3, 4, 5),
            &rows(3, 4, 6),
            &mut TestRng(3),
            scr.bytes(),
        )
        .unwrap();
        let attn = Attn::open(img.get()).unwrap();
        let mut qs = Buf::new(attn.query_scratch_bytes());
        let mut out = [0f32; 4];
        attn.query(&[0.5; 4], &mut out, qs.bytes()).unwrap();
        assert!(out.iter().all(|o| o.is_finite()), "{p:?}: {out:?}");
    }
}

#[test]
fn bounds_refuse_bad_beta() {
    let p = params(2, 2, 8, 0);
    let (plan, img) = image(&p, 3);
    let attn = Attn::open(img.get()).unwrap();
    for beta in [f64::NAN, 0.0, 1.0, -0.5, 2.0, f64::INFINITY] {
        assert_eq!(plan.bound(3, beta).err(), Some(Error::InvalidParameter));
        assert_eq!(attn.bound(beta).err(), Some(Error::InvalidParameter));
    }
    let b = attn.bound(1e-300).unwrap();
    assert!(b.single.is_finite() && b.uniform.is_finite());
    assert!(plan.bound(u32::MAX, 0.5).is_ok());
}
