/*
 * siphash: SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed hash of
 * short inputs with a 128-bit key and a 64-bit result.  With a secret
 * random key nobody outside can find two inputs with the same value or
 * tell the input from the value, which is what the log needs to show a
 * client address as a stable pseudonym (log_ip = hash).
 *
 * Pure; no state.
 */
#ifndef USHER_SIPHASH_H
#define USHER_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of data[0..len) under `key`, the 8 output bytes read little-endian. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
