/*
 * dpx_example.c: private cross-attention over a real prompt, from C.
 *
 * Loads the keys, values and queries of one attention head of all-MiniLM-L6-v2 (the data
 * bundled in examples/data/minilm/n512_layer2: raw little-endian float32, row-major
 * [head][row][dim], shapes in meta.json), builds a differentially private image of the
 * prompt, saves it to a file, reopens it from the file and answers every query, printing
 * the error against the model's exact attention output.
 *
 * Build (see docs/notes/ffi.md, "Use from C"):
 *     LIB=$(ffi-tests/build-lib.sh | tail -n 1)
 *     cc -std=c99 -O2 -Iinclude examples/c/dpx_example.c "$LIB" -lpthread -ldl -lm -o dpx_example
 *     ./dpx_example examples/data/minilm/n512_layer2 /tmp/head0.dpx
 *
 * Copy freely: everything it needs is dpxattn.h, the static library and the C library.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpxattn.h"

/* ---- entropy ----------------------------------------------------------------------------
 * The privacy guarantee needs a cryptographically secure source. /dev/urandom on Unix;
 * use getrandom(2), arc4random_buf(3), BCryptGenRandom (Windows) or a hardware TRNG
 * elsewhere. Return 0 on success, non-zero on failure (the build then fails cleanly). */
static int fill_urandom(void *ctx, uint8_t *buf, size_t len) {
    FILE *f = (FILE *)ctx;
    return fread(buf, 1, len, f) == len ? 0 : -1;
}

/* ---- loading the bundled data -------------------------------------------------------- */

/* A number from meta.json ("key": value), or -1. Enough for this flat file. */
static double json_number(const char *text, const char *key) {
    char pattern[64];
    const char *at;
    sprintf(pattern, "\"%s\":", key);
    at = strstr(text, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : -1.0;
}

static char *read_file(const char *dir, const char *name, size_t *len) {
    char path[1024];
    FILE *f;
    char *buf;
    long size;
    sprintf(path, "%.1000s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf = (char *)malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Rows [head][row][dim] of a .f32 file, as host floats (the files are little-endian). */
static float *read_f32(const char *dir, const char *name, size_t want) {
    size_t len, i;
    unsigned char *raw = (unsigned char *)read_file(dir, name, &len);
    float *out = (float *)malloc(want * sizeof(float));
    if (len != want * 4 || out == NULL) {
        fprintf(stderr, "%s: %lu bytes, want %lu\n", name, (unsigned long)len,
                (unsigned long)(want * 4));
        exit(1);
    }
    for (i = 0; i < want; i++) {
        uint32_t bits = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                        (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        memcpy(&out[i], &bits, sizeof bits);
    }
    free(raw);
    return out;
}

/* A DPX_ALIGN-aligned buffer: malloc returns memory aligned for any type (>= 8). */
static void *alloc_aligned(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (p == NULL || (uintptr_t)p % DPX_ALIGN != 0) {
        fprintf(stderr, "allocation of %lu bytes failed\n", (unsigned long)bytes);
        exit(1);
    }
    return p;
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        dpx_status s_ = (call);                                                            \
        if (s_ != DPX_OK) {                                                                \
            fprintf(stderr, "%s failed: %s (%d)\n", #call, dpx_status_str(s_), (int)s_); \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "examples/data/minilm/n512_layer2";
    const char *image_path = argc > 2 ? argv[2] : "head0.dpx";
    const size_t head = 0;
    size_t meta_len, n, m, heads, d, i, j, image_len;
    char *meta;
    float *K, *V, *Q, *O, *out, *reload_out;
    double scale, err = 0.0, rms = 0.0;
    struct dpx_params p;
    struct dpx_plan plan;
    struct dpx_bound bound;
    const struct dpx_attn *attn = NULL;
    void *image, *scratch, *qscratch, *loaded;
    unsigned char header[DPX_HEADER_BYTES];
    FILE *urandom, *f;

    if (dpx_version() != DPX_VERSION_NUMBER) {
        fprintf(stderr, "dpxattn.h (%s) does not match the library\n", DPX_VERSION_STRING);
        return 1;
    }
    meta = read_file(dir, "meta.json", &meta_len);
    n = (size_t)json_number(meta, "n");
    m = (size_t)json_number(meta, "m");
    heads = (size_t)json_number(meta, "heads");
    d = (size_t)json_number(meta, "head_dim");
    scale = json_number(meta, "scale");
    free(meta);
    K = read_f32(dir, "K.f32", heads * n * d);
    V = read_f32(dir, "V.f32", heads * n * d);
    Q = read_f32(dir, "Q.f32", heads * m * d);
    O = read_f32(dir, "O.f32", heads * m * d);

    /* 1. Parameters: public knowledge only, never statistics of the private rows. */
    dpx_params_init(&p, (uint32_t)d, (uint32_t)d, (uint32_t)n);
    p.score_scale = scale; /* the model's 1/sqrt(d) */
    p.epsilon = 4.0;
    p.delta = 1e-5;
    /* 90th percentile of value norms measured on *public* text (the bundled
     * minilm_long prompt, head 0), not on these rows. */
    p.radius_v = 4.14;

    /* 2. Plan: the buffer sizes and the noise, before any data. */
    TRY(dpx_plan_new(&p, &plan));
    printf("n = %lu rows, d = dv = %lu, features r = %lu, image %lu bytes, scratch %lu bytes, "
           "sigma %.4g\n",
           (unsigned long)n, (unsigned long)d, (unsigned long)plan.features,
           (unsigned long)plan.image_bytes, (unsigned long)plan.scratch_bytes, plan.sigma);
    image = alloc_aligned(plan.image_bytes);
    scratch = alloc_aligned(plan.scratch_bytes);
    qscratch = alloc_aligned(plan.query_scratch_bytes);

    /* 3. Build: the only step that sees the private rows. */
    urandom = fopen("/dev/urandom", "rb");
    if (urandom == NULL) {
        fprintf(stderr, "no /dev/urandom\n");
        return 1;
    }
    TRY(dpx_build(&p, image, plan.image_bytes, K + head * n * d, V + head * n * d, n,
                  fill_urandom, urandom, scratch, plan.scratch_bytes));
    fclose(urandom);
    free(scratch); /* zeroised by the library */

    /* 4. The image is the serialised form: save it as is. */
    f = fopen(image_path, "wb");
    if (f == NULL || fwrite(image, 1, plan.image_bytes, f) != plan.image_bytes || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", image_path);
        return 1;
    }

    /* 5. Later (another process, another device): read the header, learn the size, read
     *    the rest, open (validates magic, version, header and checksum) and query. */
    f = fopen(image_path, "rb");
    if (f == NULL || fread(header, 1, sizeof header, f) != sizeof header) {
        fprintf(stderr, "cannot read %s\n", image_path);
        return 1;
    }
    TRY(dpx_image_size(header, sizeof header, &image_len));
    loaded = alloc_aligned(image_len);
    memcpy(loaded, header, sizeof header);
    if (fread((char *)loaded + sizeof header, 1, image_len - sizeof header, f) !=
        image_len - sizeof header) {
        fprintf(stderr, "%s is truncated\n", image_path);
        return 1;
    }
    fclose(f);
    TRY(dpx_open(loaded, image_len, &attn));

    out = (float *)malloc(d * sizeof(float));
    reload_out = (float *)malloc(d * sizeof(float));
    for (i = 0; i < m; i++) {
        const float *q = Q + (head * m + i) * d;
        const float *o = O + (head * m + i) * d;
        double e = 0.0, r = 0.0;
        const struct dpx_attn *in_memory = NULL;
        TRY(dpx_query(attn, q, d, reload_out, d, qscratch, plan.query_scratch_bytes));
        /* the reloaded image answers exactly like the one in memory */
        TRY(dpx_open(image, plan.image_bytes, &in_memory));
        TRY(dpx_query(in_memory, q, d, out, d, qscratch, plan.query_scratch_bytes));
        if (memcmp(out, reload_out, d * sizeof(float)) != 0) {
            fprintf(stderr, "query %lu: reloaded image answers differently\n", (unsigned long)i);
            return 1;
        }
        for (j = 0; j < d; j++) {
            e += (out[j] - o[j]) * (double)(out[j] - o[j]);
            r += o[j] * (double)o[j];
        }
        err += sqrt(e);
        rms += r;
    }
    rms = sqrt(rms / (double)m);
    TRY(dpx_bound(attn, 0.05, &bound));
    printf("mean |dp - exact| / rms|exact| over %lu queries: %.3f (a-priori bound, beta 0.05: "
           "%.3f)\n",
           (unsigned long)m, err / (double)m / rms, bound.single / rms);
    printf("image saved to %s and reopened: outputs identical\n", image_path);

    free(out);
    free(reload_out);
    free(loaded);
    free(image);
    free(qscratch);
    free(K);
    free(V);
    free(Q);
    free(O);
    return 0;
}
