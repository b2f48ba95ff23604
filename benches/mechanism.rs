//! `cargo bench`: build and query of the flat layout (d = dv = 32, s = 2, r = 561) at
//! n ∈ {256, 4096, 65536}. Query time must not depend on n (the image has a fixed size).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dpxattn::mechanism::{Attn, Params, Plan, build};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::hint::black_box;

struct Aligned(Vec<u64>, usize);
impl Aligned {
    fn new(n: usize) -> Self {
        Aligned(vec![0; n.div_ceil(8)], n)
    }
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        &mut bytemuck::cast_slice_mut(&mut self.0)[..n]
    }
    fn get(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
}

fn rows(seed: u64, n: usize, d: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n * d)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (d, dv) = (32usize, 32usize);
    let mut g = c.benchmark_group("flat_d32_dv32_s2");
    g.sample_size(10);
    for &n in &[256usize, 4096, 65536] {
        let p = Params::new(d as u32, dv as u32, n as u32);
        let plan = Plan::new(&p).unwrap();
        let keys = rows(1, n, d);
        let values = rows(2, n, dv);
        let mut image = Aligned::new(plan.image_bytes());
        let mut scratch = Aligned::new(plan.build_scratch_bytes());
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        g.bench_with_input(BenchmarkId::new("build", n), &n, |b, _| {
            b.iter(|| {
                build(
                    &plan,
                    image.bytes(),
                    &keys,
                    &values,
                    &mut rng,
                    scratch.bytes(),
                )
                .unwrap()
            })
        });
        let attn = Attn::open(image.get()).unwrap();
        let mut qs = Aligned::new(attn.query_scratch_bytes());
        let q = rows(3, 1, d);
        let mut out = vec![0f32; dv];
        g.bench_with_input(BenchmarkId::new("query", n), &n, |b, _| {
            b.iter(|| attn.query(black_box(&q), &mut out, qs.bytes()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
