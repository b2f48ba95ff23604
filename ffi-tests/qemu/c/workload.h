/* C view of the temporary `qw_*` ABI of ffi-tests/qemu/c-shim (0 ok, -1 NULL pointer,
 * -2 library error) over the real dpxattn mechanism. Each call mirrors a `dpx_*` call of
 * dpxattn's own C ABI (branch `ffi`): qw_params ~ struct dpx_params, qw_plan ~ dpx_plan,
 * qw_build ~ dpx_build (same fill callback), qw_open ~ dpx_open, qw_query_range ~
 * dpx_query_ex. When dpx_* lands on main, main.c includes dpxattn.h instead and this
 * header and c-shim go away. */
#ifndef QEMU_WORKLOAD_H
#define QEMU_WORKLOAD_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t d, dv, n_max, degree;
    double score_scale, radius_q, radius_k, radius_v, epsilon, delta;
    uint32_t mechanism; /* 0 Gaussian, 1 Laplace */
    uint32_t block;     /* 0 = flat */
    double clip;        /* 0 = off */
} qw_params;

/* Caller-owned storage for an opened image (c-shim's QwAttn). */
typedef struct {
    _Alignas(8) uint8_t opaque[512];
} qw_attn;

/* dpx_fill_fn: fill len bytes at buf with randomness, return 0 on success. */
typedef int (*qw_fill_fn)(void *ctx, uint8_t *buf, size_t len);

int32_t qw_plan(const qw_params *p, size_t *image_bytes, size_t *scratch_bytes,
                size_t *qscratch_bytes);
int32_t qw_build(const qw_params *p, const float *keys, const float *values, size_t n,
                 qw_fill_fn fill, void *fill_ctx, uint8_t *image, size_t image_len,
                 uint8_t *scratch, size_t scratch_len, size_t *written);
/* The image must stay valid and unchanged while `attn` is used. */
int32_t qw_open(const uint8_t *image, size_t image_len, qw_attn *attn);
int32_t qw_query_range(const qw_attn *attn, size_t begin, size_t end, const float *q, size_t d,
                       float *out, size_t dv, int32_t *floor_used, uint8_t *qscratch,
                       size_t qscratch_len);
size_t qw_blocks(const qw_attn *attn);
#endif
