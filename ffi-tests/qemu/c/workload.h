/* C view of the workload's entry points. Today: the placeholder `qw_*` ABI of
 * ffi-tests/qemu/c-shim (0 ok, -1 NULL pointer, -2 library error), shaped like the
 * mechanism (plan sizes, build, open, query; f32 in and out). When dpxattn's dpx_* C ABI
 * lands, main.c calls dpx_* (from dpxattn.h) instead and this header goes away. */
#ifndef QEMU_WORKLOAD_H
#define QEMU_WORKLOAD_H
#include <stddef.h>
#include <stdint.h>

/* Caller-owned storage for an opened image (c-shim's QwAttn). */
typedef struct {
    _Alignas(8) uint8_t opaque[512];
} qw_attn;

int32_t qw_plan(size_t d, size_t dv, size_t n_max, size_t *image_bytes, size_t *scratch_bytes,
                size_t *qscratch_bytes);
int32_t qw_build(size_t d, size_t dv, size_t n_max, const float *keys, const float *values,
                 size_t n, uint64_t seed, uint8_t *image, size_t image_len, uint8_t *scratch,
                 size_t scratch_len, size_t *written);
/* The image must stay valid and unchanged while `attn` is used. */
int32_t qw_open(const uint8_t *image, size_t image_len, qw_attn *attn);
int32_t qw_query(const qw_attn *attn, const float *q, size_t d, float *out, size_t dv,
                 uint8_t *qscratch, size_t qscratch_len);
#endif
