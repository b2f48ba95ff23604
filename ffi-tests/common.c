#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_rng_seed(test_rng *r, uint64_t seed) {
    r->state = seed;
    r->used = 8;
    memset(r->buf, 0, sizeof r->buf);
}

static uint8_t test_rng_byte(test_rng *r) {
    if (r->used == 8) {
        uint64_t z;
        unsigned i;
        r->state += 0x9E3779B97F4A7C15ull;
        z = r->state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (i = 0; i < 8; i++) {
            r->buf[i] = (uint8_t)(z >> (8 * i));
        }
        r->used = 0;
    }
    return r->buf[r->used++];
}

int test_fill(void *ctx, uint8_t *buf, size_t len) {
    test_rng *r = (test_rng *)ctx;
    size_t i;
    for (i = 0; i < len; i++) {
        buf[i] = test_rng_byte(r);
    }
    return 0;
}

int failing_fill(void *ctx, uint8_t *buf, size_t len) {
    failing_rng *f = (failing_rng *)ctx;
    if (f->calls >= f->ok_calls) {
        return f->code;
    }
    f->calls++;
    return test_fill(&f->inner, buf, len);
}

void *test_alloc(size_t bytes) {
    /* calloc returns memory aligned for any object type: at least 8 on every host. */
    void *p = calloc(bytes / 8 + 1, 8);
    if (p == NULL || ((uintptr_t)p % DPX_ALIGN) != 0) {
        fprintf(stderr, "test_alloc(%lu) failed\n", (unsigned long)bytes);
        abort();
    }
    return p;
}

float *test_rows(uint64_t seed, size_t n, size_t dim, float scale) {
    float *v = (float *)test_alloc(n * dim * sizeof(float));
    uint64_t s = seed;
    size_t i;
    for (i = 0; i < n * dim; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = ((float)(s >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
    return v;
}

int all_zero(const void *p, size_t len) {
    const uint8_t *b = (const uint8_t *)p;
    size_t i;
    for (i = 0; i < len; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}
