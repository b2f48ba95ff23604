// C++17 use of dpxattn.h: the header compiles as C++ (extern "C", no C-only constructs), its
// types are standard-layout, and the quick-start flow works with std::vector buffers.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.h"
#include "dpxattn.h"

static_assert(DPX_ALIGN == 8, "image and scratch alignment");
static_assert(DPX_VERSION_NUMBER ==
                  DPX_VERSION_MAJOR * 10000 + DPX_VERSION_MINOR * 100 + DPX_VERSION_PATCH,
              "packed version");
static_assert(std::is_standard_layout_v<struct dpx_params> && std::is_trivially_copyable_v<struct dpx_params>);
static_assert(std::is_standard_layout_v<struct dpx_plan> && std::is_standard_layout_v<struct dpx_bound>);
static_assert(std::is_same_v<dpx_status, std::int32_t>, "dpx_status is int32_t");
// Every entry point has C linkage and the documented signature.
static_assert(std::is_same_v<decltype(&dpx_query),
                             dpx_status (*)(const struct dpx_attn *, const float *, std::size_t, float *,
                                            std::size_t, void *, std::size_t)>);
static_assert(std::is_same_v<decltype(&dpx_query_range),
                             dpx_status (*)(const struct dpx_attn *, std::size_t, std::size_t,
                                            const float *, std::size_t, float *, std::size_t,
                                            void *, std::size_t)>);
static_assert(std::is_same_v<decltype(&dpx_build),
                             dpx_status (*)(const struct dpx_params *, void *, std::size_t,
                                            const float *, const float *, std::size_t,
                                            dpx_fill_fn, void *, void *, std::size_t)>);

namespace {

int failed = 0;
int passed = 0;

void check(bool ok, const char *what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "C++ CHECK failed: %s\n", what);
    }
}

// An 8-aligned byte buffer.
struct Buffer {
    explicit Buffer(std::size_t bytes) : words(bytes / 8 + 1), size(bytes) {}
    void *data() { return words.data(); }
    const void *data() const { return words.data(); }
    std::vector<std::uint64_t> words;
    std::size_t size;
};

}  // namespace

int main() {
    constexpr std::uint32_t d = 6, dv = 5, n = 30;
    struct dpx_params p{};
    dpx_params_init(&p, d, dv, 64);
    p.epsilon = 2.0;
    p.block = 4;
    struct dpx_plan plan{};
    check(dpx_plan_new(&p, &plan) == DPX_OK, "plan");
    check(plan.blocks == 16 && plan.levels == 5, "tree shape");

    std::vector<float> keys(n * d), values(n * dv);
    for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = std::sin(0.37f * float(i));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::cos(0.11f * float(i));

    Buffer image(plan.image_bytes), scratch(plan.scratch_bytes), qscratch(plan.query_scratch_bytes);
    test_rng rng;
    test_rng_seed(&rng, 99);
    dpx_status s = dpx_build(&p, image.data(), image.size, keys.data(), values.data(), n,
                             test_fill, &rng, scratch.data(), scratch.size);
    check(s == DPX_OK, dpx_status_str(s));

    const struct dpx_attn *a = nullptr;
    check(dpx_open(image.data(), image.size, &a) == DPX_OK, "open");
    struct dpx_attn_info info{};
    check(dpx_attn_info(a, &info) == DPX_OK && info.rows == n && info.blocks == 8, "info");

    std::vector<float> out(dv), out2(dv);
    check(dpx_query(a, keys.data(), d, out.data(), dv, qscratch.data(), qscratch.size) == DPX_OK,
          "query");
    check(dpx_query_range(a, 0, info.blocks, keys.data(), d, out2.data(), dv, qscratch.data(),
                          qscratch.size) == DPX_OK &&
              out == out2,
          "range over everything = query");
    struct dpx_query_info qi{};
    check(dpx_query_ex(a, 1, 3, keys.data(), d, out2.data(), dv, &qi, qscratch.data(),
                       qscratch.size) == DPX_OK &&
              qi.floor_used <= 1,
          "query_ex");
    struct dpx_bound b{};
    check(dpx_bound(a, 0.1, &b) == DPX_OK && b.single > 0.0, "bound");
    check(std::strcmp(dpx_status_str(DPX_ERR_OVERLAP), "ok") != 0, "status string");
    check(dpx_query(a, keys.data(), d, out.data(), dv, nullptr, 0) == DPX_ERR_BUFFER_TOO_SMALL,
          "missing scratch");

    std::printf("test_cpp: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
