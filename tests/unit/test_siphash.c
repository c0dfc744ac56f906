/*
 * Unit tests: SipHash-2-4 (siphash.c) against the reference vectors: the
 * key 00 01 ... 0f, messages 00 01 ... of each length, as the algorithm's
 * paper and its reference implementation give them (the 15-byte one is
 * the paper's worked example), and one other key.
 */
#include "siphash.h"
#include "t.h"
#include "util.h"

#include <stdint.h>

static const struct {
    size_t len;
    uint64_t want;
} vectors[] = {
    {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},  {7, 0xab0200f58b01d137ULL},
    {8, 0x93f5f5799a932462ULL},  {15, 0xa129ca6149be45e5ULL}, {16, 0x3f2acc7f57c29bdbULL},
    {63, 0x958a324ceb064572ULL},
};

static void test_reference_vectors(void)
{
    uint8_t key[SIPHASH_KEY_LEN], msg[64];

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)i;
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        uint64_t got = siphash24(key, msg, vectors[i].len);
        if (got != vectors[i].want)
            T_FAIL("length %zu: got %016llx, want %016llx", vectors[i].len, (unsigned long long)got,
                   (unsigned long long)vectors[i].want);
    }
}

static void test_the_key_counts(void)
{
    /* Every key byte 0xff, the 15-byte message: another value altogether. */
    uint8_t key[SIPHASH_KEY_LEN], msg[15];

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = 0xff;
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)i;
    T_ASSERT(siphash24(key, msg, sizeof(msg)) == 0x2a7ff92db91c083eULL);
}

static const struct t_case cases[] = {
    T_CASE(test_reference_vectors),
    T_CASE(test_the_key_counts),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
