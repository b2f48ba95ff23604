/* Minimal test harness for the dpxattn C tests (no framework dependency). */
#ifndef DPX_TEST_HARNESS_H
#define DPX_TEST_HARNESS_H

#include <stdio.h>

#include "dpxattn.h"

static int harness_passed;
static int harness_failed;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            harness_passed++;                                                          \
        } else {                                                                       \
            harness_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

/* Checks that `expr` returns the status `want`, naming both on failure. */
#define CHECK_STATUS(expr, want)                                                       \
    do {                                                                               \
        dpx_status got_ = (expr);                                                      \
        dpx_status want_ = (want);                                                     \
        if (got_ == want_) {                                                           \
            harness_passed++;                                                          \
        } else {                                                                       \
            harness_failed++;                                                          \
            fprintf(stderr, "%s:%d: %s\n    returned %d (%s), want %d (%s)\n",         \
                    __FILE__, __LINE__, #expr, (int)got_, dpx_status_str(got_),        \
                    (int)want_, dpx_status_str(want_));                                \
        }                                                                              \
    } while (0)

/* Prints the closing line ("NAME: N passed, N failed") and returns the exit code. */
static int harness_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, harness_passed, harness_failed);
    return harness_failed == 0 ? 0 : 1;
}

#endif /* DPX_TEST_HARNESS_H */
