/* SHA-256 (FIPS 180-4), to check images built on the device against
 * ffi-tests/golden/vectors.txt. */
#ifndef QEMU_SHA256_H
#define QEMU_SHA256_H
#include <stddef.h>
#include <stdint.h>
void sha256(const uint8_t *data, size_t len, uint8_t out[32]);
#endif
