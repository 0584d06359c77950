/* splitmix64-seeded xoshiro256** (Blackman & Vigna). All state is in the caller's anet_rng. */
#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void anet_rng_seed(anet_rng *r, uint64_t seed) {
    /* splitmix64 never yields four zero words from one seed, so the state is never all zero. */
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

uint64_t anet_rng_u64(anet_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t anet_rng_below(anet_rng *r, uint64_t n) {
    if (n <= 1) return 0; /* n == 0 is a caller bug; answer something in range of "nothing" */
    /* Rejection: accept draws at or above 2^64 mod n so the kept range is a multiple of n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = anet_rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

float anet_rng_uniform(anet_rng *r) {
    /* Top 24 bits: every result is exactly representable and strictly below 1. */
    return (float)(anet_rng_u64(r) >> 40) * 0x1p-24f;
}

float anet_rng_normal(anet_rng *r) {
    /* Box-Muller in double; u1 in (0, 1] keeps log finite. The sine partner is dropped because
     * the state struct has no room to cache it. */
    double u1 = ((double)(anet_rng_u64(r) >> 11) + 1.0) * 0x1p-53;
    double u2 = (double)(anet_rng_u64(r) >> 11) * 0x1p-53;
    double rad = sqrt(-2.0 * log(u1));
    return (float)(rad * cos(6.283185307179586476925 * u2));
}

void anet_rng_shuffle(anet_rng *r, uint32_t *idx, uint32_t n) {
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)anet_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
